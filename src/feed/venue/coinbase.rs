//! Coinbase Exchange websocket feed: `match`, `last_match` and `ticker` into ticks, the other
//! message types of the public channels recognised and skipped.
//!
//! ```text
//! {"type":"match","trade_id":280232,"maker_order_id":"..","taker_order_id":"..","side":"sell","size":"985","price":"0.00001305","product_id":"SKL-BTC","sequence":177100030,"time":"2021-04-17T16:43:37.089723Z"}
//! {"type":"ticker","sequence":177100030,"product_id":"SKL-BTC","price":"0.00001305",..,"best_bid":"0.00001303","best_ask":"0.00001305","side":"buy","time":"2021-04-17T16:43:37.089723Z","trade_id":280232,"last_size":"985"}
//! ```
//!
//! Every message has a `type`. `match` (each trade) and `last_match` (the latest trade, sent
//! once on subscribing) are trades: `product_id`, `price`, `size`, `time`. A `ticker` is a
//! quote from `best_bid`, `best_bid_size`, `best_ask`, `best_ask_size` (the sizes are absent
//! from older feeds, such as the 2021 recording, and optional here) at `time`. Prices and sizes are decimal strings;
//! `time` is RFC 3339 with microseconds.

use simd_json::tape::Value;

use super::Decoded;
use super::fields::{field, label, pick};
use super::ticks::{quote, trade, venue_symbol};
use super::timestamp::rfc3339_time;
use crate::tick::Reject;
use crate::tick::Tick;
use crate::tick::skip;

/// The symbol prefix of this venue, shared with Coinbase Advanced Trade.
pub(super) const VENUE: &str = "COINBASE";

/// Decodes one parsed line.
pub(super) fn decode(root: Value<'_, '_>, rx: u64, out: &mut Vec<Tick>) -> Result<Decoded, Reject> {
    let object = root.as_object().ok_or(Reject::NotAnObject)?;
    let [
        kind,
        product_id,
        price,
        size,
        best_bid,
        best_bid_size,
        best_ask,
        best_ask_size,
        time,
    ] = pick(
        &object,
        [
            "type",
            "product_id",
            "price",
            "size",
            "best_bid",
            "best_bid_size",
            "best_ask",
            "best_ask_size",
            "time",
        ],
    )?;
    let kind = label(kind)?.ok_or(Reject::MalformedMessage)?;
    let ts = || rfc3339_time(field(time));
    match kind {
        "match" | "last_match" => {
            let symbol = venue_symbol(VENUE, field(product_id), false)?;
            out.push(trade(symbol, field(price), field(size), ts, rx)?);
        }
        "ticker" => {
            let symbol = venue_symbol(VENUE, field(product_id), false)?;
            let book = [
                field(best_bid),
                field(best_bid_size),
                field(best_ask),
                field(best_ask_size),
            ];
            out.push(quote(symbol, book, ts, rx)?);
        }
        // The full channel's order messages are book changes at order level.
        "l2update" | "received" | "open" | "done" | "change" | "activate" => {
            return Ok(Decoded::Skipped(skip::BOOK_UPDATE));
        }
        "snapshot" => return Ok(Decoded::Skipped(skip::BOOK_SNAPSHOT)),
        "subscriptions" => return Ok(Decoded::Skipped(skip::SUBSCRIPTION)),
        "heartbeat" => return Ok(Decoded::Skipped(skip::HEARTBEAT)),
        "status" => return Ok(Decoded::Skipped(skip::STATUS)),
        "error" => return Ok(Decoded::Skipped(skip::ERROR)),
        _ => return Err(Reject::UnknownMessage),
    }
    Ok(Decoded::Ticks(1))
}

#[cfg(test)]
mod tests {
    use super::super::{Decoder, Format};
    use super::*;
    use crate::tick::{Decimal, TickKind};

    fn decode(line: &str) -> (Result<Decoded, Reject>, Vec<Tick>) {
        let mut out = Vec::new();
        let decoded = Decoder::new(Format::CoinbaseExchange).decode(line.as_bytes(), 42, &mut out);
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

    // Real frames from the cryptofeed capture (../shared/feeds), receive-time prefix removed.
    const MATCH: &str = r#"{"type":"match","trade_id":280232,"maker_order_id":"2a0da34e-61f7-4c36-88e5-c9dd15927b16","taker_order_id":"3c82abaa-c01e-4608-be59-6a1e69742891","side":"sell","size":"985","price":"0.00001305","product_id":"SKL-BTC","sequence":177100030,"time":"2021-04-17T16:43:37.089723Z"}"#;
    const LAST_MATCH: &str = r#"{"type":"last_match","trade_id":889760,"maker_order_id":"fc850f11-c268-4f38-8412-065bea96957d","taker_order_id":"5e123235-943a-4afc-94f4-5641e12e09ff","side":"buy","size":"0.000007","price":"0.82601","product_id":"YFI-BTC","sequence":451724584,"time":"2021-04-17T16:43:15.270101Z"}"#;
    const TICKER: &str = r#"{"type":"ticker","sequence":177100030,"product_id":"SKL-BTC","price":"0.00001305","open_24h":"0.00001144","volume_24h":"7367714.40000000","low_24h":"0.00001122","high_24h":"0.00001337","volume_30d":"137081296.50000000","best_bid":"0.00001303","best_ask":"0.00001305","side":"buy","time":"2021-04-17T16:43:37.089723Z","trade_id":280232,"last_size":"985"}"#;
    const L2UPDATE: &str = r#"{"type":"l2update","product_id":"SKL-BTC","changes":[["sell","0.00001306","660.5"]],"time":"2021-04-17T16:43:37.075687Z"}"#;
    const SUBSCRIPTIONS: &str = r#"{"type":"subscriptions","channels":[{"name":"level2","product_ids":["BAND-GBP","BAND-BTC","YFI-BTC","NU-GBP","CRV-EUR","SKL-GBP","SKL-USD","SKL-BTC","NMR-EUR","DASH-BTC"]}]}"#;
    // A real snapshot frame with its 50-level sides cut to two levels each.
    const SNAPSHOT: &str = r#"{"type":"snapshot","product_id":"BAND-GBP","asks":[["14.8024","12.77"],["14.8069","12.49"]],"bids":[["14.7693","27.51"],["14.7659","12.48"]]}"#;

    #[test]
    fn decodes_real_matches() {
        let tick = one(MATCH);
        assert_eq!(tick.symbol.as_str(), "COINBASE:SKL-BTC");
        assert_eq!(tick.kind, TickKind::Trade);
        assert_eq!(text(tick.px).as_deref(), Some("0.00001305"));
        assert_eq!(text(tick.qty).as_deref(), Some("985"));
        assert_eq!(tick.ts, 1_618_677_817_089_723_000);
        assert_eq!(tick.rx, 42);

        let tick = one(LAST_MATCH);
        assert_eq!(tick.symbol.as_str(), "COINBASE:YFI-BTC");
        assert_eq!(tick.kind, TickKind::Trade);
        assert_eq!(text(tick.px).as_deref(), Some("0.82601"));
        assert_eq!(text(tick.qty).as_deref(), Some("0.000007"));
        assert_eq!(tick.ts, 1_618_677_795_270_101_000);
    }

    #[test]
    fn a_real_ticker_is_a_quote_without_sizes() {
        let tick = one(TICKER);
        assert_eq!(tick.symbol.as_str(), "COINBASE:SKL-BTC");
        assert_eq!(tick.kind, TickKind::Quote);
        assert_eq!((tick.px, tick.qty), (None, None));
        assert_eq!(text(tick.bid).as_deref(), Some("0.00001303"));
        assert_eq!(text(tick.ask).as_deref(), Some("0.00001305"));
        // 2021 tickers have no best_bid_size / best_ask_size.
        assert_eq!((tick.bid_qty, tick.ask_qty), (None, None));
        assert_eq!(tick.ts, 1_618_677_817_089_723_000);
    }

    #[test]
    fn a_current_ticker_carries_the_sizes() {
        // Coinbase Exchange docs, ticker channel (2022 onwards).
        let tick = one(
            r#"{"type":"ticker","sequence":37475248783,"product_id":"ETH-USD","price":"1285.22","open_24h":"1310.79","volume_24h":"245532.79269678","low_24h":"1280.52","high_24h":"1313.8","volume_30d":"9788783.60117027","best_bid":"1285.04","best_bid_size":"0.46688654","best_ask":"1285.27","best_ask_size":"1.56637040","side":"buy","time":"2022-10-19T23:28:22.061769Z","trade_id":370843401,"last_size":"11.4396987"}"#,
        );
        assert_eq!(text(tick.bid_qty).as_deref(), Some("0.46688654"));
        assert_eq!(text(tick.ask_qty).as_deref(), Some("1.56637040"));
    }

    #[test]
    fn skips_what_is_not_a_tick() {
        for (line, kind) in [
            (L2UPDATE, skip::BOOK_UPDATE),
            (SNAPSHOT, skip::BOOK_SNAPSHOT),
            (SUBSCRIPTIONS, skip::SUBSCRIPTION),
            (
                r#"{"type":"heartbeat","sequence":90,"last_trade_id":20,"product_id":"BTC-USD","time":"2014-11-07T08:19:28.464459Z"}"#,
                skip::HEARTBEAT,
            ),
            (
                r#"{"type":"error","message":"Failed to subscribe","reason":"ETH-XYZ is not a valid product"}"#,
                skip::ERROR,
            ),
            (
                r#"{"type":"status","products":[],"currencies":[]}"#,
                skip::STATUS,
            ),
            (
                r#"{"type":"done","time":"2014-11-07T08:19:27.028459Z","product_id":"BTC-USD","sequence":10,"price":"200.2","order_id":"d50ec984-77a8-460a-b958-66f114b0de9b","reason":"filled","side":"sell","remaining_size":"0"}"#,
                skip::BOOK_UPDATE,
            ),
        ] {
            let (decoded, out) = decode(line);
            assert_eq!(decoded, Ok(Decoded::Skipped(kind)), "{line}");
            assert!(out.is_empty());
        }
    }

    #[test]
    fn rejects_with_a_precise_reason() {
        let time = r#""time":"2021-04-17T16:43:37.089723Z""#;
        for (line, reject) in [
            (r#"{"product_id":"X"}"#.to_owned(), Reject::MalformedMessage),
            (r#"{"type":3}"#.to_owned(), Reject::MalformedMessage),
            (r#"{"type":"rfq_match"}"#.to_owned(), Reject::UnknownMessage),
            (format!(r#"{{"type":"match","price":"1","size":"1",{time}}}"#), Reject::MissingSymbol),
            (format!(r#"{{"type":"match","product_id":"","price":"1","size":"1",{time}}}"#), Reject::BadSymbol),
            (format!(r#"{{"type":"match","product_id":"X","size":"1",{time}}}"#), Reject::MissingPrice),
            (format!(r#"{{"type":"match","product_id":"X","price":"0","size":"1",{time}}}"#), Reject::BadPrice),
            (format!(r#"{{"type":"match","product_id":"X","price":"1",{time}}}"#), Reject::MissingSize),
            (format!(r#"{{"type":"match","product_id":"X","price":"1","size":"-5",{time}}}"#), Reject::BadSize),
            (r#"{"type":"match","product_id":"X","price":"1","size":"1"}"#.to_owned(), Reject::MissingTimestamp),
            (r#"{"type":"match","product_id":"X","price":"1","size":"1","time":1618677817}"#.to_owned(), Reject::BadTimestamp),
            (r#"{"type":"match","product_id":"X","price":"1","size":"1","time":"2021-04-17 16:43:37Z"}"#.to_owned(), Reject::BadTimestamp),
            (r#"{"type":"match","product_id":"X","price":"1","size":"1","time":"1999-12-31T23:59:59.999999Z"}"#.to_owned(), Reject::BadTimestamp),
            (format!(r#"{{"type":"ticker","product_id":"X","price":"1",{time}}}"#), Reject::MissingPrice),
            (format!(r#"{{"type":"ticker","product_id":"X","best_bid":"1","best_bid_size":"-1",{time}}}"#), Reject::BadSize),
            (format!(r#"{{"type":"match","type":"match","product_id":"X","price":"1","size":"1",{time}}}"#), Reject::InvalidJson),
        ] {
            let (decoded, out) = decode(&line);
            assert_eq!(decoded, Err(reject), "{line}");
            assert!(out.is_empty());
        }
    }
}
