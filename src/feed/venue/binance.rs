//! Binance spot websocket streams: `trade`, `aggTrade`, `bookTicker`, `24hrTicker` into ticks,
//! the rest of the market streams recognised and skipped.
//!
//! ```text
//! {"stream":"btcusdt@trade","data":{"e":"trade","E":1723161255343,"s":"BTCUSDT","t":3735683259,"p":"61837.63000000","q":"0.02000000","T":1723161255342,"m":true,"M":true}}
//! {"u":50093239212,"s":"BTCUSDT","b":"61837.63000000","B":"3.78826000","a":"61837.64000000","A":"1.54698000"}
//! ```
//!
//! A line is either the combined-stream wrapper `{"stream":..,"data":..}` or a bare event; the
//! stream name is redundant with the event and is not read. Events are told apart by `e`, and
//! the ones without it by their keys: `lastUpdateId` (the REST depth snapshot, and partial-depth
//! streams), `result` (a subscribe reply), `code` (an error reply), `u` (a `bookTicker`). A
//! `data` array (`!ticker@arr`) decodes each element; when none gives a tick, the line is
//! skipped with the first element's kind.
//!
//! Fields: symbol `s`; trades `p`, `q`, time `T` (else `E`); tickers `b`, `B`, `a`, `A` and `E`;
//! `bookTicker` `T` or `E` when present (futures streams send them), else `rx`. Prices and
//! sizes are decimal strings; a JSON number is accepted too, with its exact digits.

use simd_json::tape::{Object, Value};

use super::Decoded;
use super::fields::{each_object, field, label, pick, present};
use super::ticks::{quote, trade, venue_symbol};
use super::timestamp::{NANOS_PER_MILLI, epoch_time};
use crate::feed::native::Field;
use crate::tick::Reject;
use crate::tick::Tick;
use crate::tick::skip;

/// The symbol prefix of this venue.
const VENUE: &str = "BINANCE";

/// Decodes one parsed line.
pub(super) fn decode(root: Value<'_, '_>, rx: u64, out: &mut Vec<Tick>) -> Result<Decoded, Reject> {
    let object = root.as_object().ok_or(Reject::NotAnObject)?;
    let [stream, data] = pick(&object, ["stream", "data"])?;
    if stream.is_none() {
        return event(&object, rx, out);
    }
    label(stream)?.ok_or(Reject::MalformedMessage)?;
    let data = data.ok_or(Reject::MalformedMessage)?;
    if let Some(object) = data.as_object() {
        return event(&object, rx, out);
    }
    let start = out.len();
    let mut first_skip = None;
    each_object(Some(data), |item| {
        if let Decoded::Skipped(kind) = event(&item, rx, out)? {
            first_skip.get_or_insert(kind);
        }
        Ok(())
    })?;
    Ok(match first_skip {
        Some(kind) if out.len() == start => Decoded::Skipped(kind),
        _ => Decoded::Ticks(out.len() - start),
    })
}

/// Decodes one bare event object.
fn event(object: &Object<'_, '_>, rx: u64, out: &mut Vec<Tick>) -> Result<Decoded, Reject> {
    let [
        e,
        s,
        p,
        q,
        b,
        b_qty,
        a,
        a_qty,
        trade_time,
        event_time,
        u,
        last_update_id,
        result,
        code,
    ] = pick(
        object,
        [
            "e",
            "s",
            "p",
            "q",
            "b",
            "B",
            "a",
            "A",
            "T",
            "E",
            "u",
            "lastUpdateId",
            "result",
            "code",
        ],
    )?;
    let book = [field(b), field(b_qty), field(a), field(a_qty)];
    let Some(kind) = label(e)? else {
        return if last_update_id.is_some() {
            Ok(Decoded::Skipped(skip::BOOK_SNAPSHOT))
        } else if result.is_some() {
            Ok(Decoded::Skipped(skip::SUBSCRIPTION))
        } else if code.is_some() {
            Ok(Decoded::Skipped(skip::ERROR))
        } else if u.is_some() {
            book_ticker(
                field(s),
                book,
                field(trade_time),
                field(event_time),
                rx,
                out,
            )
        } else {
            Err(Reject::UnknownMessage)
        };
    };
    match kind {
        "trade" | "aggTrade" => {
            let symbol = venue_symbol(VENUE, field(s), false)?;
            let time = present(field(trade_time)).unwrap_or(field(event_time));
            let ts = || epoch_time(time, NANOS_PER_MILLI);
            out.push(trade(symbol, field(p), field(q), ts, rx)?);
            Ok(Decoded::Ticks(1))
        }
        "24hrTicker" => {
            let symbol = venue_symbol(VENUE, field(s), false)?;
            let ts = || epoch_time(field(event_time), NANOS_PER_MILLI);
            out.push(quote(symbol, book, ts, rx)?);
            Ok(Decoded::Ticks(1))
        }
        // Futures name their book ticker; spot's carries no `e`.
        "bookTicker" => book_ticker(
            field(s),
            book,
            field(trade_time),
            field(event_time),
            rx,
            out,
        ),
        "depthUpdate" => Ok(Decoded::Skipped(skip::BOOK_UPDATE)),
        "kline" => Ok(Decoded::Skipped(skip::CANDLE)),
        "24hrMiniTicker" | "1hTicker" | "4hTicker" | "1dTicker" | "avgPrice" => {
            Ok(Decoded::Skipped(skip::STATS))
        }
        _ => Err(Reject::UnknownMessage),
    }
}

/// A `bookTicker` quote. Spot sends no time at all, so `rx` stands in; futures send the
/// transaction time `T` and the event time `E`, preferred in that order.
fn book_ticker(
    s: Field<'_>,
    book: [Field<'_>; 4],
    trade_time: Field<'_>,
    event_time: Field<'_>,
    rx: u64,
    out: &mut Vec<Tick>,
) -> Result<Decoded, Reject> {
    let symbol = venue_symbol(VENUE, s, false)?;
    let ts = || match present(trade_time).or(present(event_time)) {
        Some(time) => epoch_time(time, NANOS_PER_MILLI),
        None => Ok(rx),
    };
    out.push(quote(symbol, book, ts, rx)?);
    Ok(Decoded::Ticks(1))
}

#[cfg(test)]
mod tests {
    use super::super::{Decoder, Format};
    use super::*;
    use crate::tick::TickKind;

    fn decode(line: &str, rx: u64) -> (Result<Decoded, Reject>, Vec<Tick>) {
        let mut out = Vec::new();
        let decoded = Decoder::new(Format::Binance).decode(line.as_bytes(), rx, &mut out);
        (decoded, out)
    }

    fn one(line: &str, rx: u64) -> Tick {
        let (decoded, out) = decode(line, rx);
        assert_eq!(decoded, Ok(Decoded::Ticks(1)), "{line}");
        out[0]
    }

    fn text(value: Option<crate::tick::Decimal>) -> Option<String> {
        value.map(|d| d.to_string())
    }

    // Real frames from the hftbacktest recording (../shared/feeds), container prefix removed.
    const TRADE: &str = r#"{"stream":"btcusdt@trade","data":{"e":"trade","E":1723161255343,"s":"BTCUSDT","t":3735683259,"p":"61837.63000000","q":"0.02000000","T":1723161255342,"m":true,"M":true}}"#;
    const BOOK_TICKER: &str = r#"{"stream":"btcusdt@bookTicker","data":{"u":50093239212,"s":"BTCUSDT","b":"61837.63000000","B":"3.78826000","a":"61837.64000000","A":"1.54698000"}}"#;
    const DEPTH: &str = r#"{"stream":"btcusdt@depth@100ms","data":{"e":"depthUpdate","E":1723161255308,"s":"BTCUSDT","U":50093239203,"u":50093239207,"b":[["55653.87000000","0.00000000"]],"a":[["61838.04000000","0.32332000"],["61844.30000000","0.40163000"],["61862.50000000","0.05019000"],["61862.51000000","0.00000000"]]}}"#;
    const SNAPSHOT: &str = r#"{"lastUpdateId":50093239218,"bids":[["61837.63000000","3.78826000"],["61837.62000000","0.61700000"]],"asks":[["61837.64000000","1.92853000"],["61837.65000000","0.00810000"]]}"#;

    #[test]
    fn decodes_a_real_trade() {
        let tick = one(TRADE, 1_723_161_254_087_896_568);
        assert_eq!(tick.symbol.as_str(), "BINANCE:BTCUSDT");
        assert_eq!(tick.kind, TickKind::Trade);
        assert_eq!(text(tick.px).as_deref(), Some("61837.63000000"));
        assert_eq!(text(tick.qty).as_deref(), Some("0.02000000"));
        assert_eq!((tick.bid, tick.ask), (None, None));
        // The trade time `T`, not the event time `E`.
        assert_eq!(tick.ts, 1_723_161_255_342_000_000);
        assert_eq!(tick.rx, 1_723_161_254_087_896_568);
    }

    #[test]
    fn decodes_a_real_book_ticker_at_receive_time() {
        let tick = one(BOOK_TICKER, 1_723_161_254_087_891_268);
        assert_eq!(tick.symbol.as_str(), "BINANCE:BTCUSDT");
        assert_eq!(tick.kind, TickKind::Quote);
        assert_eq!(tick.px, None);
        assert_eq!(text(tick.bid).as_deref(), Some("61837.63000000"));
        assert_eq!(text(tick.bid_qty).as_deref(), Some("3.78826000"));
        assert_eq!(text(tick.ask).as_deref(), Some("61837.64000000"));
        assert_eq!(text(tick.ask_qty).as_deref(), Some("1.54698000"));
        assert_eq!(tick.ts, 1_723_161_254_087_891_268);
    }

    #[test]
    fn bare_events_decode_like_wrapped_ones() {
        let bare = one(
            r#"{"e":"trade","E":1723161255343,"s":"BTCUSDT","t":3735683259,"p":"61837.63000000","q":"0.02000000","T":1723161255342,"m":true,"M":true}"#,
            9,
        );
        assert_eq!(bare, one(TRADE, 9));
        let bare = one(
            r#"{"u":50093239212,"s":"BTCUSDT","b":"61837.63000000","B":"3.78826000","a":"61837.64000000","A":"1.54698000"}"#,
            9,
        );
        assert_eq!(bare, one(BOOK_TICKER, 9));
    }

    #[test]
    fn decodes_agg_trade_and_24hr_ticker_from_the_docs() {
        // Binance spot API docs examples (web-socket-streams.md), with real-looking values.
        let tick = one(
            r#"{"e":"aggTrade","E":1723161255343,"s":"BNBBTC","a":12345,"p":"0.00100000","q":"100","f":100,"l":105,"T":1723161255342,"m":true,"M":true}"#,
            0,
        );
        assert_eq!(tick.symbol.as_str(), "BINANCE:BNBBTC");
        assert_eq!(tick.kind, TickKind::Trade);
        assert_eq!(text(tick.px).as_deref(), Some("0.00100000"));
        assert_eq!(text(tick.qty).as_deref(), Some("100"));
        assert_eq!(tick.ts, 1_723_161_255_342_000_000);

        let tick = one(
            r#"{"stream":"bnbbtc@ticker","data":{"e":"24hrTicker","E":1723161255343,"s":"BNBBTC","p":"0.0015","P":"250.00","w":"0.0018","x":"0.0009","c":"0.0025","Q":"10","b":"0.0024","B":"10","a":"0.0026","A":"100","o":"0.0010","h":"0.0025","l":"0.0010","v":"10000","q":"18","O":0,"C":86400000,"F":0,"L":18150,"n":18151}}"#,
            0,
        );
        assert_eq!(tick.kind, TickKind::Quote);
        assert_eq!(tick.px, None, "the ticker's last price is not a trade");
        assert_eq!(text(tick.bid).as_deref(), Some("0.0024"));
        assert_eq!(text(tick.bid_qty).as_deref(), Some("10"));
        assert_eq!(text(tick.ask).as_deref(), Some("0.0026"));
        assert_eq!(text(tick.ask_qty).as_deref(), Some("100"));
        assert_eq!(tick.ts, 1_723_161_255_343_000_000);
    }

    #[test]
    fn futures_book_ticker_uses_its_transaction_time() {
        let tick = one(
            r#"{"e":"bookTicker","u":400900217,"E":1723161255343,"T":1723161255340,"s":"BNBUSDT","b":"25.35190000","B":"31.21000000","a":"25.36520000","A":"40.66000000"}"#,
            5,
        );
        // Futures streams name the event and carry both times; `T` wins.
        assert_eq!(tick.ts, 1_723_161_255_340_000_000);
    }

    #[test]
    fn skips_what_is_not_a_tick() {
        for (line, kind) in [
            (DEPTH, skip::BOOK_UPDATE),
            (SNAPSHOT, skip::BOOK_SNAPSHOT),
            (
                r#"{"stream":"btcusdt@depth5","data":{"lastUpdateId":160,"bids":[["0.0024","10"]],"asks":[["0.0026","100"]]}}"#,
                skip::BOOK_SNAPSHOT,
            ),
            (r#"{"result":null,"id":1}"#, skip::SUBSCRIPTION),
            (
                r#"{"code":2,"msg":"Invalid request: unknown variant","id":1}"#,
                skip::ERROR,
            ),
            (
                r#"{"e":"kline","E":1723161255343,"s":"BNBBTC","k":{"t":1723161240000,"T":1723161299999,"s":"BNBBTC","i":"1m","o":"0.0010","c":"0.0020","h":"0.0025","l":"0.0015","v":"1000","n":100,"x":false}}"#,
                skip::CANDLE,
            ),
            (
                r#"{"e":"24hrMiniTicker","E":1723161255343,"s":"BNBBTC","c":"0.0025","o":"0.0010","h":"0.0025","l":"0.0010","v":"10000","q":"18"}"#,
                skip::STATS,
            ),
            (
                r#"{"stream":"!miniTicker@arr","data":[{"e":"24hrMiniTicker","E":1723161255343,"s":"BNBBTC","c":"0.0025","o":"0.0010","h":"0.0025","l":"0.0010","v":"10000","q":"18"}]}"#,
                skip::STATS,
            ),
        ] {
            let (decoded, out) = decode(line, 0);
            assert_eq!(decoded, Ok(Decoded::Skipped(kind)), "{line}");
            assert!(out.is_empty());
        }
    }

    #[test]
    fn an_array_payload_gives_every_element() {
        let line = r#"{"stream":"!ticker@arr","data":[{"e":"24hrTicker","E":1723161255343,"s":"BNBBTC","b":"0.0024","B":"10","a":"0.0026","A":"100"},{"e":"24hrTicker","E":1723161255344,"s":"ETHBTC","b":"0.05","B":"1","a":"0.06","A":"2"}]}"#;
        let (decoded, out) = decode(line, 0);
        assert_eq!(decoded, Ok(Decoded::Ticks(2)));
        assert_eq!(out[1].symbol.as_str(), "BINANCE:ETHBTC");
        assert_eq!(text(out[1].ask_qty).as_deref(), Some("2"));
    }

    #[test]
    fn rejects_with_a_precise_reason() {
        let cases = [
            // Envelope.
            (r#"{"stream":"btcusdt@trade"}"#, Reject::MalformedMessage),
            (
                r#"{"stream":"btcusdt@trade","data":5}"#,
                Reject::MalformedMessage,
            ),
            (
                r#"{"stream":"btcusdt@trade","data":"x"}"#,
                Reject::MalformedMessage,
            ),
            (r#"{"stream":7,"data":{}}"#, Reject::MalformedMessage),
            (r#"{"stream":"x","data":[1]}"#, Reject::MalformedMessage),
            (r#"{"e":5,"s":"X"}"#, Reject::MalformedMessage),
            (
                r#"{"e":"outboundAccountPosition","E":1}"#,
                Reject::UnknownMessage,
            ),
            (r#"{"s":"BTCUSDT","p":"1"}"#, Reject::UnknownMessage),
            (r#"[1,2]"#, Reject::NotAnObject),
            // Trades.
            (
                r#"{"e":"trade","p":"1","q":"1","T":1723161255342}"#,
                Reject::MissingSymbol,
            ),
            (
                r#"{"e":"trade","s":7,"p":"1","q":"1","T":1723161255342}"#,
                Reject::BadSymbol,
            ),
            (
                r#"{"e":"trade","s":"BTC USDT","p":"1","q":"1","T":1723161255342}"#,
                Reject::BadSymbol,
            ),
            (
                r#"{"e":"trade","s":"BTC:USDT","p":"1","q":"1","T":1723161255342}"#,
                Reject::BadSymbol,
            ),
            (
                r#"{"e":"trade","s":"ABCDEFGHIJKLMNOPQRSTUVWXY","p":"1","q":"1","T":1723161255342}"#,
                Reject::BadSymbol,
            ),
            (
                r#"{"e":"trade","s":"X","q":"1","T":1723161255342}"#,
                Reject::MissingPrice,
            ),
            (
                r#"{"e":"trade","s":"X","p":"0.00000000","q":"1","T":1723161255342}"#,
                Reject::BadPrice,
            ),
            (
                r#"{"e":"trade","s":"X","p":"-1","q":"1","T":1723161255342}"#,
                Reject::BadPrice,
            ),
            (
                r#"{"e":"trade","s":"X","p":"NaN","q":"1","T":1723161255342}"#,
                Reject::BadPrice,
            ),
            (
                r#"{"e":"trade","s":"X","p":"Infinity","q":"1","T":1723161255342}"#,
                Reject::BadPrice,
            ),
            (
                r#"{"e":"trade","s":"X","p":true,"q":"1","T":1723161255342}"#,
                Reject::BadPrice,
            ),
            (
                r#"{"e":"trade","s":"X","p":"1","T":1723161255342}"#,
                Reject::MissingSize,
            ),
            (
                r#"{"e":"trade","s":"X","p":"1","q":"-0.1","T":1723161255342}"#,
                Reject::BadSize,
            ),
            (
                r#"{"e":"trade","s":"X","p":"1","q":"1"}"#,
                Reject::MissingTimestamp,
            ),
            (
                r#"{"e":"trade","s":"X","p":"1","q":"1","T":null,"E":null}"#,
                Reject::MissingTimestamp,
            ),
            (
                r#"{"e":"trade","s":"X","p":"1","q":"1","T":1.5}"#,
                Reject::BadTimestamp,
            ),
            (
                r#"{"e":"trade","s":"X","p":"1","q":"1","T":-1723161255342}"#,
                Reject::BadTimestamp,
            ),
            // Seconds read as ms: 1970. µs read as ms: after 2100.
            (
                r#"{"e":"trade","s":"X","p":"1","q":"1","T":1723161255}"#,
                Reject::BadTimestamp,
            ),
            (
                r#"{"e":"trade","s":"X","p":"1","q":"1","T":1723161255342000}"#,
                Reject::BadTimestamp,
            ),
            (
                r#"{"e":"trade","s":"X","p":"1","q":"1","T":99999999999999999999}"#,
                Reject::BadTimestamp,
            ),
            (
                r#"{"e":"trade","s":"X","p":"1","q":"1","T":1723161255342,"p":"2"}"#,
                Reject::InvalidJson,
            ),
            // Quotes.
            (r#"{"u":1,"s":"X","B":"1","A":"1"}"#, Reject::MissingPrice),
            (r#"{"u":1,"s":"X","b":"0","a":"1"}"#, Reject::BadPrice),
            (r#"{"u":1,"s":"X","b":"1","B":"x"}"#, Reject::BadSize),
            (r#"{"u":1,"s":"X","b":"1","E":1}"#, Reject::BadTimestamp),
            (
                r#"{"e":"24hrTicker","s":"X","b":"1","a":"2"}"#,
                Reject::MissingTimestamp,
            ),
            // One bad element spoils the whole array.
            (
                r#"{"stream":"!ticker@arr","data":[{"e":"24hrTicker","E":1723161255343,"s":"A","b":"1"},{"e":"24hrTicker","E":1723161255343,"s":"B","b":"-1"}]}"#,
                Reject::BadPrice,
            ),
        ];
        for (line, reject) in cases {
            let (decoded, out) = decode(line, 0);
            assert_eq!(decoded, Err(reject), "{line}");
            assert!(out.is_empty(), "{line}");
        }
    }

    #[test]
    fn numbers_in_place_of_strings_keep_their_digits() {
        let tick = one(
            r#"{"e":"trade","s":"X","p":61837.63000000,"q":1e-8,"T":"1723161255342"}"#,
            0,
        );
        assert_eq!(text(tick.px).as_deref(), Some("61837.63000000"));
        assert_eq!(text(tick.qty).as_deref(), Some("0.00000001"));
        assert_eq!(tick.ts, 1_723_161_255_342_000_000);
    }
}
