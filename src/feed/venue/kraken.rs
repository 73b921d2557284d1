//! Kraken spot websocket v2: the `trade` and `ticker` channels into ticks, the other channels
//! and the request replies recognised and skipped.
//!
//! ```text
//! {"channel":"trade","type":"update","data":[{"symbol":"MATIC/USD","side":"sell","price":0.5117,"qty":40.0,"ord_type":"market","trade_id":4665906,"timestamp":"2023-09-25T07:49:37.708706Z"}]}
//! ```
//!
//! Channel data is `{channel, type: snapshot|update, data: [..]}`, each element of `data` a
//! tick. Replies to requests carry a `method` (`subscribe`, `unsubscribe`, `pong`) and, when
//! they failed, an `error`. A trade is `symbol`, `price`, `qty` at `timestamp` (RFC 3339); a
//! ticker is a quote from `bid`, `bid_qty`, `ask`, `ask_qty` at its `timestamp`, or at `rx`
//! where the ticker has none (the earlier schema, still in some docs). Prices and sizes are JSON numbers: the
//! lossless number view keeps their exact text (`40.0` stays `40.0`).

use simd_json::tape::Value;

use super::Decoded;
use super::fields::{each_object, field, label, pick, present};
use super::ticks::{oldest_first, quote, trade, venue_symbol};
use super::timestamp::rfc3339_time;
use crate::tick::Reject;
use crate::tick::Tick;
use crate::tick::skip;

/// The symbol prefix of this venue.
const VENUE: &str = "KRAKEN";

/// Decodes one parsed line.
pub(super) fn decode(root: Value<'_, '_>, rx: u64, out: &mut Vec<Tick>) -> Result<Decoded, Reject> {
    let object = root.as_object().ok_or(Reject::NotAnObject)?;
    let [channel, kind, data, method, error] =
        pick(&object, ["channel", "type", "data", "method", "error"])?;
    let method = label(method)?;
    let channel = label(channel)?;
    // A failed request: its reply has an `error`, usually with the `method` it answers.
    if error.is_some() && (method.is_some() || channel.is_none()) {
        return Ok(Decoded::Skipped(skip::ERROR));
    }
    if let Some(method) = method {
        return match method {
            "subscribe" | "unsubscribe" => Ok(Decoded::Skipped(skip::SUBSCRIPTION)),
            "pong" => Ok(Decoded::Skipped(skip::HEARTBEAT)),
            _ => Err(Reject::UnknownMessage),
        };
    }
    let channel = channel.ok_or(Reject::MalformedMessage)?;
    let snapshot = label(kind)? == Some("snapshot");
    let start = out.len();
    match channel {
        "trade" => {
            each_object(data, |item| {
                let [symbol, price, qty, timestamp] =
                    pick(&item, ["symbol", "price", "qty", "timestamp"])?;
                let symbol = venue_symbol(VENUE, field(symbol), false)?;
                let ts = || rfc3339_time(field(timestamp));
                out.push(trade(symbol, field(price), field(qty), ts, rx)?);
                Ok(())
            })?;
            // The snapshot on subscribing holds the last trades; keep them in time order.
            if snapshot {
                oldest_first(out, start);
            }
        }
        "ticker" => {
            each_object(data, |item| {
                let [symbol, bid, bid_qty, ask, ask_qty, timestamp] = pick(
                    &item,
                    ["symbol", "bid", "bid_qty", "ask", "ask_qty", "timestamp"],
                )?;
                let symbol = venue_symbol(VENUE, field(symbol), false)?;
                let book = [field(bid), field(bid_qty), field(ask), field(ask_qty)];
                let ts = || match present(field(timestamp)) {
                    Some(time) => rfc3339_time(time),
                    None => Ok(rx),
                };
                out.push(quote(symbol, book, ts, rx)?);
                Ok(())
            })?;
        }
        "book" | "level3" => {
            return Ok(Decoded::Skipped(if snapshot {
                skip::BOOK_SNAPSHOT
            } else {
                skip::BOOK_UPDATE
            }));
        }
        "ohlc" => return Ok(Decoded::Skipped(skip::CANDLE)),
        "heartbeat" => return Ok(Decoded::Skipped(skip::HEARTBEAT)),
        "status" => return Ok(Decoded::Skipped(skip::STATUS)),
        "instrument" => return Ok(Decoded::Skipped(skip::REFERENCE_DATA)),
        "executions" | "balances" => return Ok(Decoded::Skipped(skip::ACCOUNT)),
        _ => return Err(Reject::UnknownMessage),
    }
    Ok(Decoded::Ticks(out.len() - start))
}

#[cfg(test)]
mod tests {
    use super::super::{Decoder, Format};
    use super::*;
    use crate::tick::{Decimal, TickKind};

    fn decode(line: &str) -> (Result<Decoded, Reject>, Vec<Tick>) {
        let mut out = Vec::new();
        let decoded = Decoder::new(Format::Kraken).decode(line.as_bytes(), 99, &mut out);
        (decoded, out)
    }

    fn text(value: Option<Decimal>) -> Option<String> {
        value.map(|d| d.to_string())
    }

    // The example of issue 3, from Kraken's trade channel docs.
    const TRADE: &str = r#"{"channel":"trade","type":"update","data":[{"symbol":"MATIC/USD","side":"sell","price":0.5117,"qty":40.0,"ord_type":"market","trade_id":4665906,"timestamp":"2023-09-25T07:49:37.708706Z"}]}"#;

    #[test]
    fn decodes_the_documented_trade_with_exact_numbers() {
        let (decoded, out) = decode(TRADE);
        assert_eq!(decoded, Ok(Decoded::Ticks(1)));
        let tick = out[0];
        assert_eq!(tick.symbol.as_str(), "KRAKEN:MATIC/USD");
        assert_eq!(tick.kind, TickKind::Trade);
        assert_eq!(text(tick.px).as_deref(), Some("0.5117"));
        assert_eq!(text(tick.qty).as_deref(), Some("40.0"));
        assert_eq!(tick.ts, 1_695_628_177_708_706_000);
        assert_eq!(tick.rx, 99);
    }

    #[test]
    fn a_trade_snapshot_gives_every_trade_oldest_first() {
        // Kraken's trade snapshot example (docs), abridged to three trades.
        let line = r#"{"channel":"trade","type":"snapshot","data":[{"symbol":"MATIC/USD","side":"buy","price":0.5147,"qty":6423.46326,"ord_type":"limit","trade_id":4665846,"timestamp":"2023-09-25T07:48:36.925533Z"},{"symbol":"MATIC/USD","side":"buy","price":0.5147,"qty":1136.19677815,"ord_type":"limit","trade_id":4665847,"timestamp":"2023-09-25T07:49:36.925603Z"},{"symbol":"MATIC/USD","side":"sell","price":0.5146,"qty":20.0,"ord_type":"market","trade_id":4665848,"timestamp":"2023-09-25T07:49:18.313064Z"}]}"#;
        let (decoded, out) = decode(line);
        assert_eq!(decoded, Ok(Decoded::Ticks(3)));
        let sizes: Vec<_> = out
            .iter()
            .map(|t| text(t.qty).unwrap_or_default())
            .collect();
        assert_eq!(sizes, ["6423.46326", "20.0", "1136.19677815"]);
        assert!(out.windows(2).all(|w| w[0].ts <= w[1].ts));
    }

    #[test]
    fn a_ticker_is_a_quote() {
        // Kraken's ticker snapshot example (docs).
        let line = r#"{"channel":"ticker","type":"snapshot","data":[{"symbol":"ALGO/USD","bid":0.10025,"bid_qty":740.0,"ask":0.10036,"ask_qty":1361.44813783,"last":0.10035,"volume":997038.98383185,"vwap":0.10148,"low":0.09979,"high":0.10285,"change":-0.00017,"change_pct":-0.17,"timestamp":"2023-09-25T09:04:31.742648Z"}]}"#;
        let (decoded, out) = decode(line);
        assert_eq!(decoded, Ok(Decoded::Ticks(1)));
        let tick = out[0];
        assert_eq!(tick.symbol.as_str(), "KRAKEN:ALGO/USD");
        assert_eq!(tick.kind, TickKind::Quote);
        assert_eq!(tick.px, None);
        assert_eq!(text(tick.bid).as_deref(), Some("0.10025"));
        assert_eq!(text(tick.bid_qty).as_deref(), Some("740.0"));
        assert_eq!(text(tick.ask).as_deref(), Some("0.10036"));
        assert_eq!(text(tick.ask_qty).as_deref(), Some("1361.44813783"));
        assert_eq!(tick.ts, 1_695_632_671_742_648_000);

        // The earlier schema has no timestamp: the receive time stands in.
        let line = r#"{"channel":"ticker","type":"update","data":[{"symbol":"BTC/USD","bid":26500.1,"bid_qty":0.5,"ask":26500.2,"ask_qty":1.25,"last":26500.1,"volume":1000.0,"vwap":26400.0,"low":26000.0,"high":26800.0,"change":100.0,"change_pct":0.38}]}"#;
        let (decoded, out) = decode(line);
        assert_eq!(decoded, Ok(Decoded::Ticks(1)));
        assert_eq!(out[0].ts, 99);
        assert_eq!(text(out[0].bid).as_deref(), Some("26500.1"));
    }

    #[test]
    fn skips_the_other_channels_and_replies() {
        for (line, kind) in [
            (r#"{"channel":"heartbeat"}"#, skip::HEARTBEAT),
            (
                r#"{"channel":"status","type":"update","data":[{"version":"2.0.0","system":"online","api_version":"v2","connection_id":1,"system_time":"2023-09-25T09:04:31.742599Z"}]}"#,
                skip::STATUS,
            ),
            (
                r#"{"method":"subscribe","result":{"channel":"ticker","snapshot":true,"symbol":"ALGO/USD"},"success":true,"time_in":"2023-09-25T09:04:31.742599Z","time_out":"2023-09-25T09:04:31.742648Z"}"#,
                skip::SUBSCRIPTION,
            ),
            (
                r#"{"method":"pong","req_id":101,"time_in":"2023-09-24T14:10:23.799685Z","time_out":"2023-09-24T14:10:23.799703Z"}"#,
                skip::HEARTBEAT,
            ),
            (
                r#"{"error":"Currency pair not supported MATIC/XYZ","method":"subscribe","success":false,"symbol":"MATIC/XYZ","time_in":"2023-09-25T09:04:31.742599Z","time_out":"2023-09-25T09:04:31.742648Z"}"#,
                skip::ERROR,
            ),
            (
                r#"{"channel":"book","type":"snapshot","data":[{"symbol":"MATIC/USD","bids":[{"price":0.5666,"qty":4831.75496356}],"asks":[{"price":0.5668,"qty":4410.79769139}],"checksum":2439117997}]}"#,
                skip::BOOK_SNAPSHOT,
            ),
            (
                r#"{"channel":"book","type":"update","data":[{"symbol":"MATIC/USD","bids":[{"price":0.5657,"qty":1098.3947558}],"asks":[],"checksum":2114181697,"timestamp":"2023-10-06T17:35:55.440295Z"}]}"#,
                skip::BOOK_UPDATE,
            ),
            (
                r#"{"channel":"ohlc","type":"update","timestamp":"2023-10-04T16:26:30.524394914Z","data":[{"symbol":"MATIC/USD","open":0.5624,"high":0.5628,"low":0.5622,"close":0.5627,"trades":12,"volume":30927.68066226,"vwap":0.5626,"interval_begin":"2023-10-04T16:25:00.000000000Z","interval":5}]}"#,
                skip::CANDLE,
            ),
            (
                r#"{"channel":"instrument","type":"snapshot","data":{"assets":[],"pairs":[]}}"#,
                skip::REFERENCE_DATA,
            ),
        ] {
            let (decoded, out) = decode(line);
            assert_eq!(decoded, Ok(Decoded::Skipped(kind)), "{line}");
            assert!(out.is_empty());
        }
    }

    #[test]
    fn rejects_with_a_precise_reason() {
        let ts = r#""timestamp":"2023-09-25T07:49:37.708706Z""#;
        for (line, reject) in [
            (r#"{"type":"update","data":[]}"#.to_owned(), Reject::MalformedMessage),
            (r#"{"channel":"trade","type":"update"}"#.to_owned(), Reject::MalformedMessage),
            (r#"{"channel":"trade","data":{"symbol":"X"}}"#.to_owned(), Reject::MalformedMessage),
            (r#"{"channel":"trade","data":[0.5]}"#.to_owned(), Reject::MalformedMessage),
            (r#"{"channel":"spread","data":[]}"#.to_owned(), Reject::UnknownMessage),
            (r#"{"method":"add_order","success":true}"#.to_owned(), Reject::UnknownMessage),
            (format!(r#"{{"channel":"trade","data":[{{"price":1,"qty":1,{ts}}}]}}"#), Reject::MissingSymbol),
            (format!(r#"{{"channel":"trade","data":[{{"symbol":"MATIC/USD","qty":1,{ts}}}]}}"#), Reject::MissingPrice),
            (format!(r#"{{"channel":"trade","data":[{{"symbol":"MATIC/USD","price":0,"qty":1,{ts}}}]}}"#), Reject::BadPrice),
            (format!(r#"{{"channel":"trade","data":[{{"symbol":"MATIC/USD","price":-0.5,"qty":1,{ts}}}]}}"#), Reject::BadPrice),
            (format!(r#"{{"channel":"trade","data":[{{"symbol":"MATIC/USD","price":1e400,"qty":1,{ts}}}]}}"#), Reject::BadPrice),
            (format!(r#"{{"channel":"trade","data":[{{"symbol":"MATIC/USD","price":1,{ts}}}]}}"#), Reject::MissingSize),
            (format!(r#"{{"channel":"trade","data":[{{"symbol":"MATIC/USD","price":1,"qty":-40.0,{ts}}}]}}"#), Reject::BadSize),
            (r#"{"channel":"trade","data":[{"symbol":"MATIC/USD","price":1,"qty":1}]}"#.to_owned(), Reject::MissingTimestamp),
            (r#"{"channel":"trade","data":[{"symbol":"MATIC/USD","price":1,"qty":1,"timestamp":"2123-09-25T07:49:37Z"}]}"#.to_owned(), Reject::BadTimestamp),
            (r#"{"channel":"ticker","data":[{"symbol":"MATIC/USD","last":1}]}"#.to_owned(), Reject::MissingPrice),
            (r#"{"channel":"ticker","data":[{"symbol":"MATIC/USD","bid":1,"timestamp":17}]}"#.to_owned(), Reject::BadTimestamp),
            (format!(r#"{{"channel":"trade","data":[{{"symbol":"MATIC/USD","price":1,"price":2,"qty":1,{ts}}}]}}"#), Reject::InvalidJson),
            // NaN and infinities are not JSON: the lossless view refuses the line.
            (format!(r#"{{"channel":"trade","data":[{{"symbol":"MATIC/USD","price":NaN,"qty":1,{ts}}}]}}"#), Reject::InvalidJson),
            (format!(r#"{{"channel":"trade","data":[{{"symbol":"MATIC/USD","price":Infinity,"qty":1,{ts}}}]}}"#), Reject::InvalidJson),
        ] {
            let (decoded, out) = decode(&line);
            assert_eq!(decoded, Err(reject), "{line}");
            assert!(out.is_empty());
        }
    }
}
