//! Bitstamp websocket v2: `trade` events on `live_trades_<pair>` into ticks, the order-book
//! channels and the `bts:` control events recognised and skipped.
//!
//! ```text
//! {"data":{"id":216000477,"timestamp":"1641343699","amount":0.0792,"amount_str":"0.07920000","price":3805.44,"price_str":"3805.44","type":0,"microtimestamp":"1641343699596000","buy_order_id":1443875737346049,"sell_order_id":1443875731320832},"channel":"live_trades_ethusd","event":"trade"}
//! ```
//!
//! Every message is `{event, channel, data}`. A trade's symbol is the channel's pair,
//! upper-cased (`live_trades_ethusd` is `BITSTAMP:ETHUSD`); its price and size are
//! `price_str`/`amount_str` (the venue's exact decimal text) when present, else the JSON
//! numbers `price`/`amount`, whose exact text the lossless number view keeps; its time is
//! `microtimestamp` (µs, a string), else `timestamp` (seconds). Trades on a `private-` channel
//! are the account's own fills: skipped as `account`.

use simd_json::tape::Value;

use super::Decoded;
use super::fields::{field, label, object_of, pick, present};
use super::ticks::{trade, venue_symbol};
use super::timestamp::{NANOS_PER_MICRO, NANOS_PER_SEC, epoch_time};
use crate::feed::native::Field;
use crate::tick::Reject;
use crate::tick::Tick;
use crate::tick::skip;

/// The symbol prefix of this venue.
const VENUE: &str = "BITSTAMP";

/// Decodes one parsed line.
pub(super) fn decode(root: Value<'_, '_>, rx: u64, out: &mut Vec<Tick>) -> Result<Decoded, Reject> {
    let object = root.as_object().ok_or(Reject::NotAnObject)?;
    let [event, channel, data] = pick(&object, ["event", "channel", "data"])?;
    let event = label(event)?.ok_or(Reject::MalformedMessage)?;
    let kind = match event {
        "trade" => {
            let pair = match field(channel) {
                Field::Text(name) if name.starts_with("private-") => {
                    return Ok(Decoded::Skipped(skip::ACCOUNT));
                }
                Field::Text(name) => {
                    Field::Text(name.strip_prefix("live_trades_").ok_or(Reject::BadSymbol)?)
                }
                other => other,
            };
            let symbol = venue_symbol(VENUE, pair, true)?;
            let [
                price,
                price_str,
                amount,
                amount_str,
                microtimestamp,
                timestamp,
            ] = pick(
                &object_of(data)?,
                [
                    "price",
                    "price_str",
                    "amount",
                    "amount_str",
                    "microtimestamp",
                    "timestamp",
                ],
            )?;
            let px = present(field(price_str)).unwrap_or(field(price));
            let qty = present(field(amount_str)).unwrap_or(field(amount));
            let ts = || match present(field(microtimestamp)) {
                Some(micros) => epoch_time(micros, NANOS_PER_MICRO),
                None => epoch_time(field(timestamp), NANOS_PER_SEC),
            };
            out.push(trade(symbol, px, qty, ts, rx)?);
            return Ok(Decoded::Ticks(1));
        }
        "data" => {
            let channel = label(channel)?.ok_or(Reject::MalformedMessage)?;
            if channel.starts_with("diff_order_book_") || channel.starts_with("full_order_book_") {
                skip::BOOK_UPDATE
            } else if channel.starts_with("order_book_")
                || channel.starts_with("detail_order_book_")
            {
                skip::BOOK_SNAPSHOT
            } else {
                return Err(Reject::UnknownMessage);
            }
        }
        "order_created" | "order_changed" | "order_deleted" => skip::BOOK_UPDATE,
        "bts:subscription_succeeded" | "bts:unsubscription_succeeded" => skip::SUBSCRIPTION,
        "bts:heartbeat" => skip::HEARTBEAT,
        "bts:request_reconnect" => skip::STATUS,
        "bts:error" => skip::ERROR,
        _ => return Err(Reject::UnknownMessage),
    };
    Ok(Decoded::Skipped(kind))
}

#[cfg(test)]
mod tests {
    use super::super::{Decoder, Format};
    use super::*;
    use crate::tick::{Decimal, TickKind};

    fn decode(line: &str) -> (Result<Decoded, Reject>, Vec<Tick>) {
        let mut out = Vec::new();
        let decoded = Decoder::new(Format::Bitstamp).decode(line.as_bytes(), 3, &mut out);
        (decoded, out)
    }

    fn one(line: &str) -> Tick {
        let (decoded, out) = decode(line);
        assert_eq!(decoded, Ok(Decoded::Ticks(1)), "{line}");
        out[0]
    }

    fn text(value: Option<Decimal>) -> Option<String> {
        value.map(|d| d.to_string())
    }

    // The example of issue 3.
    const TRADE: &str = r#"{"data":{"id":216000477,"timestamp":"1641343699","amount":0.0792,"amount_str":"0.07920000","price":3805.44,"price_str":"3805.44","type":0,"microtimestamp":"1641343699596000","buy_order_id":1443875737346049,"sell_order_id":1443875731320832},"channel":"live_trades_ethusd","event":"trade"}"#;

    #[test]
    fn decodes_the_documented_trade_from_its_strings() {
        let tick = one(TRADE);
        assert_eq!(tick.symbol.as_str(), "BITSTAMP:ETHUSD");
        assert_eq!(tick.kind, TickKind::Trade);
        assert_eq!(text(tick.px).as_deref(), Some("3805.44"));
        // `amount_str`, not the shorter number `0.0792`.
        assert_eq!(text(tick.qty).as_deref(), Some("0.07920000"));
        assert_eq!(tick.ts, 1_641_343_699_596_000_000);
        assert_eq!(tick.rx, 3);
    }

    #[test]
    fn falls_back_to_the_numbers_and_the_seconds() {
        let tick = one(
            r#"{"data":{"id":1,"timestamp":"1641343699","amount":0.0792,"price":3805.40,"type":1},"channel":"live_trades_btcusd","event":"trade"}"#,
        );
        assert_eq!(tick.symbol.as_str(), "BITSTAMP:BTCUSD");
        assert_eq!(text(tick.px).as_deref(), Some("3805.40"));
        assert_eq!(text(tick.qty).as_deref(), Some("0.0792"));
        assert_eq!(tick.ts, 1_641_343_699_000_000_000);
    }

    #[test]
    fn skips_what_is_not_a_tick() {
        for (line, kind) in [
            (
                r#"{"event":"bts:subscription_succeeded","channel":"live_trades_ethusd","data":{}}"#,
                skip::SUBSCRIPTION,
            ),
            (
                r#"{"event":"bts:heartbeat","channel":"","data":{"status":"success"}}"#,
                skip::HEARTBEAT,
            ),
            (
                r#"{"event":"bts:request_reconnect","channel":"","data":""}"#,
                skip::STATUS,
            ),
            (
                r#"{"event":"bts:error","channel":"","data":{"code":null,"message":"Incorrect JSON format."}}"#,
                skip::ERROR,
            ),
            (
                r#"{"data":{"timestamp":"1641343700","microtimestamp":"1641343700051237","bids":[["3805.37","0.52544000"]],"asks":[["3806.78","1.31330000"]]},"channel":"order_book_ethusd","event":"data"}"#,
                skip::BOOK_SNAPSHOT,
            ),
            (
                r#"{"data":{"timestamp":"1641343700","microtimestamp":"1641343700051237","bids":[["3805.37","0.00000000"]],"asks":[]},"channel":"diff_order_book_ethusd","event":"data"}"#,
                skip::BOOK_UPDATE,
            ),
            (
                r#"{"data":{"id":1443875737346049,"id_str":"1443875737346049","order_type":0,"datetime":"1641343699","microtimestamp":"1641343699596000","amount":0.0792,"amount_str":"0.07920000","price":3805.44,"price_str":"3805.44"},"channel":"live_orders_ethusd","event":"order_deleted"}"#,
                skip::BOOK_UPDATE,
            ),
            (
                r#"{"data":{"id":1,"amount":0.1,"price":1,"microtimestamp":"1641343699596000"},"channel":"private-my_trades_ethusd-123","event":"trade"}"#,
                skip::ACCOUNT,
            ),
        ] {
            let (decoded, out) = decode(line);
            assert_eq!(decoded, Ok(Decoded::Skipped(kind)), "{line}");
            assert!(out.is_empty());
        }
    }

    #[test]
    fn rejects_with_a_precise_reason() {
        let data =
            r#""data":{"price_str":"1","amount_str":"1","microtimestamp":"1641343699596000"}"#;
        for (line, reject) in [
            (r#"{"channel":"live_trades_ethusd","data":{}}"#.to_owned(), Reject::MalformedMessage),
            (r#"{"event":"bts:unknown","channel":"","data":{}}"#.to_owned(), Reject::UnknownMessage),
            (r#"{"event":"data","channel":"live_ticker_ethusd","data":{}}"#.to_owned(), Reject::UnknownMessage),
            (r#"{"event":"data","data":{}}"#.to_owned(), Reject::MalformedMessage),
            (format!(r#"{{"event":"trade",{data}}}"#), Reject::MissingSymbol),
            (format!(r#"{{"event":"trade","channel":"order_book_ethusd",{data}}}"#), Reject::BadSymbol),
            (format!(r#"{{"event":"trade","channel":"live_trades_",{data}}}"#), Reject::BadSymbol),
            (format!(r#"{{"event":"trade","channel":"live_trades_eth usd",{data}}}"#), Reject::BadSymbol),
            (r#"{"event":"trade","channel":"live_trades_ethusd"}"#.to_owned(), Reject::MalformedMessage),
            (r#"{"event":"trade","channel":"live_trades_ethusd","data":[]}"#.to_owned(), Reject::MalformedMessage),
            (r#"{"event":"trade","channel":"live_trades_ethusd","data":{"amount_str":"1","microtimestamp":"1641343699596000"}}"#.to_owned(), Reject::MissingPrice),
            (r#"{"event":"trade","channel":"live_trades_ethusd","data":{"price_str":"0.00","amount_str":"1","microtimestamp":"1641343699596000"}}"#.to_owned(), Reject::BadPrice),
            (r#"{"event":"trade","channel":"live_trades_ethusd","data":{"price_str":"1","microtimestamp":"1641343699596000"}}"#.to_owned(), Reject::MissingSize),
            (r#"{"event":"trade","channel":"live_trades_ethusd","data":{"price_str":"1","amount":-1,"microtimestamp":"1641343699596000"}}"#.to_owned(), Reject::BadSize),
            (r#"{"event":"trade","channel":"live_trades_ethusd","data":{"price_str":"1","amount_str":"1"}}"#.to_owned(), Reject::MissingTimestamp),
            // Milliseconds in the microsecond field: 1970.
            (r#"{"event":"trade","channel":"live_trades_ethusd","data":{"price_str":"1","amount_str":"1","microtimestamp":"1641343699596"}}"#.to_owned(), Reject::BadTimestamp),
            (r#"{"event":"trade","channel":"live_trades_ethusd","data":{"price_str":"1","amount_str":"1","microtimestamp":"16413436.99"}}"#.to_owned(), Reject::BadTimestamp),
        ] {
            let (decoded, out) = decode(&line);
            assert_eq!(decoded, Err(reject), "{line}");
            assert!(out.is_empty());
        }
    }
}
