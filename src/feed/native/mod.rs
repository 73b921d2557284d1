//! The decoder of tickcast's native feed format: one JSON object per line, [`NativeDecoder`].
//!
//! ```text
//! {"sym":"BTCUSDT","px":61837.63000000,"qty":0.5,"ts":1723075200123456789}
//! {"sym":"BTCUSDT","bid":61837.62,"bid_qty":1.2,"ask":61837.63,"ask_qty":0.8,"ts":1723075200123456790}
//! ```
//!
//! The TCP feed task owns one decoder per connection and calls [`NativeDecoder::decode`] on
//! each line cut by [`super::lines::LineFramer`], passing the ingest time `rx`; the resulting
//! [`Tick`] goes to the sequencer, a [`Reject`] is counted there.
//!
//! Fields:
//! - `sym` (required): a string accepted by [`Symbol::new`].
//! - `px`: a trade price. When present the tick is a [`TickKind::Trade`]; otherwise `bid` or
//!   `ask` makes it a [`TickKind::Quote`]; neither is [`Reject::MissingPrice`].
//! - `px`, `bid`, `ask` are positive decimals; `qty`, `bid_qty`, `ask_qty` non-negative ones.
//!   Each may be a JSON number or a JSON string holding one (`"px":"101.25"`), and keeps the
//!   source's exact digits.
//! - `ts` (required): a JSON integer number of nanoseconds since the Unix epoch, in `1..2^63`.
//! - `null` is the same as an absent field; unknown fields, whatever their value, are ignored.
//! - A known field given twice is [`Reject::InvalidJson`]: which one a producer meant is
//!   ambiguous, and guessing a price is worse than dropping a line.
//!
//! When a line has several faults, the reject is the first check that fails in the order `sym`,
//! `px`, `qty`, `bid`, `bid_qty`, `ask`, `ask_qty`, missing price, `ts`, whatever the key order.
//!
//! The parsing half, `LineParser` (UTF-8 check, lossless number view, simd-json tape), is
//! shared with the exchange decoders of [`super::venue`], which read the same tape. This file
//! holds the native format itself (its keys, checks and their order); the parsing half lives
//! beside it:
//! - `parser.rs`: `LineParser`, one line at a time onto simd-json's tape, lent to a reader;
//! - `number_view.rs`: the lossless number view, which keeps every number's source text;
//! - `field.rs`: `Field`, one value off the tape read as a decimal, price, size, symbol or time.
//!
//! Decoding allocates nothing in the steady state: the scratch buffer, simd-json's buffers and
//! the tapes are reused from line to line. `benches/decode.rs` measures it (lines per second
//! on the Binance recording and as native lines, against serde_json; see `BENCHMARKS.md`).
//! This module must never round a number through `f64`, do I/O, log, or read the clock.
//!
//! [`Symbol::new`]: crate::tick::Symbol::new

mod field;
mod number_view;
mod parser;

pub(crate) use field::{Field, parse_timestamp};
pub(crate) use parser::LineParser;

use std::fmt;

use simd_json::tape::Value;

use crate::tick::Reject;
use crate::tick::{Tick, TickKind};

/// Decodes native feed lines into [`Tick`]s, reusing its buffers from line to line.
pub struct NativeDecoder {
    parser: LineParser,
}

impl Default for NativeDecoder {
    fn default() -> Self {
        Self::new()
    }
}

impl NativeDecoder {
    /// A decoder with small initial buffers; they grow to the longest line seen, then stay.
    pub fn new() -> Self {
        Self {
            parser: LineParser::new(),
        }
    }

    /// Decodes one line (without its `\n`; surrounding whitespace and a trailing `\r` are
    /// tolerated). `rx` is the ingest time in ns since the Unix epoch, copied to [`Tick::rx`].
    pub fn decode(&mut self, line: &[u8], rx: u64) -> Result<Tick, Reject> {
        self.parser.parse(line, |root| read_tick(root, rx))
    }
}

impl fmt::Debug for NativeDecoder {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("NativeDecoder")
            .field("parser", &self.parser)
            .finish()
    }
}

/// The known fields of one line, as found.
struct RawTick<'a> {
    sym: Field<'a>,
    px: Field<'a>,
    qty: Field<'a>,
    bid: Field<'a>,
    bid_qty: Field<'a>,
    ask: Field<'a>,
    ask_qty: Field<'a>,
    ts: Field<'a>,
}

/// Reads the tick from a parsed line: one pass over the object's pairs, then the checks in a
/// fixed order.
pub(crate) fn read_tick(root: Value<'_, '_>, rx: u64) -> Result<Tick, Reject> {
    let object = root.as_object().ok_or(Reject::NotAnObject)?;
    let mut raw = RawTick {
        sym: Field::Unset,
        px: Field::Unset,
        qty: Field::Unset,
        bid: Field::Unset,
        bid_qty: Field::Unset,
        ask: Field::Unset,
        ask_qty: Field::Unset,
        ts: Field::Unset,
    };
    for (key, value) in object.iter() {
        let slot = match key {
            "sym" => &mut raw.sym,
            "px" => &mut raw.px,
            "qty" => &mut raw.qty,
            "bid" => &mut raw.bid,
            "bid_qty" => &mut raw.bid_qty,
            "ask" => &mut raw.ask,
            "ask_qty" => &mut raw.ask_qty,
            "ts" => &mut raw.ts,
            _ => continue,
        };
        if !matches!(slot, Field::Unset) {
            return Err(Reject::InvalidJson);
        }
        *slot = Field::of(value);
    }

    let symbol = raw.sym.symbol()?;
    let px = raw.px.price()?;
    let qty = raw.qty.size()?;
    let bid = raw.bid.price()?;
    let bid_qty = raw.bid_qty.size()?;
    let ask = raw.ask.price()?;
    let ask_qty = raw.ask_qty.size()?;
    let kind = if px.is_some() {
        TickKind::Trade
    } else if qty.is_some() {
        // `qty` is the size of a trade: without its price the line is a trade missing `px`,
        // not a quote.
        return Err(Reject::MissingPrice);
    } else if bid.is_some() || ask.is_some() {
        TickKind::Quote
    } else {
        return Err(Reject::MissingPrice);
    };
    let ts = raw.ts.timestamp()?;
    Ok(Tick {
        symbol,
        kind,
        px,
        qty,
        bid,
        bid_qty,
        ask,
        ask_qty,
        ts,
        rx,
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::tick::Decimal;

    fn decode(line: &str) -> Result<Tick, Reject> {
        NativeDecoder::new().decode(line.as_bytes(), 7)
    }

    fn text(value: Option<Decimal>) -> Option<String> {
        value.map(|d| d.to_string())
    }

    #[test]
    fn decodes_a_trade_with_exact_digits() {
        let tick = decode(
            r#"{"sym":"BTCUSDT","px":61837.63000000,"qty":0.00000001,"ts":1723075200123456789}"#,
        )
        .unwrap();
        assert_eq!(tick.symbol.as_str(), "BTCUSDT");
        assert_eq!(tick.kind, TickKind::Trade);
        assert_eq!(text(tick.px).as_deref(), Some("61837.63000000"));
        assert_eq!(text(tick.qty).as_deref(), Some("0.00000001"));
        assert_eq!(tick.bid, None);
        assert_eq!(tick.ask, None);
        assert_eq!(tick.ts, 1_723_075_200_123_456_789);
        assert_eq!(tick.rx, 7);
    }

    #[test]
    fn keeps_digits_f64_would_lose() {
        for (source, expected) in [
            ("0.1", "0.1"),
            ("1e-8", "0.00000001"),
            ("1E-8", "0.00000001"),
            ("2.50E+1", "25.0"),
            ("100", "100"),
            ("101.250", "101.250"),
            // 19 significant digits: not representable in f64.
            ("1234567890.123456789", "1234567890.123456789"),
            ("9223372036854775807", "9223372036854775807"),
            ("0.000000000000000001", "0.000000000000000001"),
        ] {
            let line = format!(r#"{{"sym":"X","px":{source},"ts":5}}"#);
            let tick = decode(&line).unwrap_or_else(|r| panic!("{line}: {r:?}"));
            assert_eq!(text(tick.px).as_deref(), Some(expected), "{line}");
        }
    }

    #[test]
    fn numbers_as_strings_are_accepted_for_prices_and_sizes() {
        let tick = decode(
            r#"{"sym":"X","px":"61837.63000000","qty":"300","bid":"1.5","ask_qty":"0","ts":9}"#,
        )
        .unwrap();
        assert_eq!(text(tick.px).as_deref(), Some("61837.63000000"));
        assert_eq!(text(tick.qty).as_deref(), Some("300"));
        assert_eq!(text(tick.bid).as_deref(), Some("1.5"));
        assert_eq!(text(tick.ask_qty).as_deref(), Some("0"));
        // The documented blind spot of the lossless number view: a literal one-string array
        // reads as the number it holds.
        let tick = decode(r#"{"sym":"X","px":["1.5"],"ts":["5"]}"#).unwrap();
        assert_eq!((text(tick.px).as_deref(), tick.ts), (Some("1.5"), 5));
    }

    #[test]
    fn trade_versus_quote() {
        let quote = decode(
            r#"{"sym":"ETH-USD","bid":3000.10,"bid_qty":2,"ask":3000.20,"ask_qty":1.5,"ts":1}"#,
        )
        .unwrap();
        assert_eq!(quote.kind, TickKind::Quote);
        assert_eq!(quote.px, None);
        assert_eq!(text(quote.bid).as_deref(), Some("3000.10"));
        assert_eq!(text(quote.bid_qty).as_deref(), Some("2"));
        assert_eq!(text(quote.ask).as_deref(), Some("3000.20"));
        assert_eq!(text(quote.ask_qty).as_deref(), Some("1.5"));

        let one_sided = decode(r#"{"sym":"X","ask":5,"ts":1}"#).unwrap();
        assert_eq!(one_sided.kind, TickKind::Quote);
        assert_eq!(one_sided.bid, None);

        // A trade may carry the book too; `px` decides the kind.
        let trade = decode(r#"{"sym":"X","px":2,"bid":1,"ask":3,"ts":1}"#).unwrap();
        assert_eq!(trade.kind, TickKind::Trade);
        assert_eq!(text(trade.bid).as_deref(), Some("1"));

        // `null` is absent.
        let quote = decode(r#"{"sym":"X","px":null,"qty":null,"bid":1,"ts":1}"#).unwrap();
        assert_eq!(quote.kind, TickKind::Quote);
        assert_eq!(quote.qty, None);
    }

    #[test]
    fn every_decoder_reject_has_a_line() {
        let cases: &[(&[u8], Reject)] = &[
            (
                b"{\"sym\":\"X\xff\",\"px\":1,\"ts\":1}",
                Reject::InvalidUtf8,
            ),
            (
                b"{\"sym\":\"X\",\"px\":1,\"ts\":1,\"n\":\"\xc3\"}",
                Reject::InvalidUtf8,
            ),
            (b"\xfe{", Reject::InvalidUtf8),
            (br#"{"sym":"X","px":1,"ts":1"#, Reject::InvalidJson),
            (br#"{"sym":"X","px":1,"ts":1}}"#, Reject::InvalidJson),
            (br#"{"sym":"X","px":01,"ts":1}"#, Reject::InvalidJson),
            (br#"{"sym":"X","px":1.,"ts":1}"#, Reject::InvalidJson),
            (br#"{"sym":"X","px":-,"ts":1}"#, Reject::InvalidJson),
            (br#"{"sym":"X","px":1e,"ts":1}"#, Reject::InvalidJson),
            (br#"{"sym":"X","px":+1,"ts":1}"#, Reject::InvalidJson),
            (br#"{"sym":"X","px":NaN,"ts":1}"#, Reject::InvalidJson),
            (br#"{"sym":"X","px":1,"ts":1,7:8}"#, Reject::InvalidJson),
            (br#"{"sym":"X","px":1 2,"ts":1}"#, Reject::InvalidJson),
            (br#"{"sym":"X","px":1,"ts":1,"px":2}"#, Reject::InvalidJson),
            (
                br#"{"sym":"X","px":1,"ts":1,"sym":"X"}"#,
                Reject::InvalidJson,
            ),
            (br#"{"sym":"unterminated}"#, Reject::InvalidJson),
            (br#"{'sym':'X'}"#, Reject::InvalidJson),
            (b"", Reject::InvalidJson),
            (b"  \r", Reject::InvalidJson),
            (br#"[{"sym":"X","px":1,"ts":1}]"#, Reject::NotAnObject),
            (br#""sym""#, Reject::NotAnObject),
            (b"42", Reject::NotAnObject),
            (b"null", Reject::NotAnObject),
            (br#"{"px":1,"ts":1}"#, Reject::MissingSymbol),
            (br#"{"sym":null,"px":1,"ts":1}"#, Reject::MissingSymbol),
            (br#"{"sym":"","px":1,"ts":1}"#, Reject::BadSymbol),
            (br#"{"sym":"A B","px":1,"ts":1}"#, Reject::BadSymbol),
            (br#"{"sym":123,"px":1,"ts":1}"#, Reject::BadSymbol),
            (br#"{"sym":["X"],"px":1,"ts":1}"#, Reject::BadSymbol),
            (br#"{"sym":"X","ts":1}"#, Reject::MissingPrice),
            (
                br#"{"sym":"X","qty":3,"bid_qty":1,"ts":1}"#,
                Reject::MissingPrice,
            ),
            (
                br#"{"sym":"X","px":null,"bid":null,"ts":1}"#,
                Reject::MissingPrice,
            ),
            (br#"{"sym":"X","px":0,"ts":1}"#, Reject::BadPrice),
            (br#"{"sym":"X","px":0.000,"ts":1}"#, Reject::BadPrice),
            (br#"{"sym":"X","px":-1.5,"ts":1}"#, Reject::BadPrice),
            (br#"{"sym":"X","px":"abc","ts":1}"#, Reject::BadPrice),
            (br#"{"sym":"X","px":" 1","ts":1}"#, Reject::BadPrice),
            (br#"{"sym":"X","px":true,"ts":1}"#, Reject::BadPrice),
            (br#"{"sym":"X","px":{"v":1},"ts":1}"#, Reject::BadPrice),
            (br#"{"sym":"X","px":[1,2],"ts":1}"#, Reject::BadPrice),
            (br#"{"sym":"X","px":[],"ts":1}"#, Reject::BadPrice),
            (
                br#"{"sym":"X","px":12345678901234567890,"ts":1}"#,
                Reject::BadPrice,
            ),
            (br#"{"sym":"X","px":1e-19,"ts":1}"#, Reject::BadPrice),
            (br#"{"sym":"X","bid":0,"ts":1}"#, Reject::BadPrice),
            (br#"{"sym":"X","ask":"-2","ts":1}"#, Reject::BadPrice),
            (br#"{"sym":"X","px":1,"qty":-1,"ts":1}"#, Reject::BadSize),
            (br#"{"sym":"X","px":1,"qty":"x","ts":1}"#, Reject::BadSize),
            (br#"{"sym":"X","px":1,"qty":false,"ts":1}"#, Reject::BadSize),
            (
                br#"{"sym":"X","bid":1,"bid_qty":[],"ts":1}"#,
                Reject::BadSize,
            ),
            (
                br#"{"sym":"X","ask":1,"ask_qty":1e400,"ts":1}"#,
                Reject::BadSize,
            ),
            (br#"{"sym":"X","px":1}"#, Reject::MissingTimestamp),
            (br#"{"sym":"X","px":1,"ts":null}"#, Reject::MissingTimestamp),
            (br#"{"sym":"X","px":1,"ts":0}"#, Reject::BadTimestamp),
            (br#"{"sym":"X","px":1,"ts":-5}"#, Reject::BadTimestamp),
            (br#"{"sym":"X","px":1,"ts":1.5}"#, Reject::BadTimestamp),
            (br#"{"sym":"X","px":1,"ts":1.0}"#, Reject::BadTimestamp),
            (br#"{"sym":"X","px":1,"ts":1e9}"#, Reject::BadTimestamp),
            (br#"{"sym":"X","px":1,"ts":"123"}"#, Reject::BadTimestamp),
            (br#"{"sym":"X","px":1,"ts":true}"#, Reject::BadTimestamp),
            (br#"{"sym":"X","px":1,"ts":{}}"#, Reject::BadTimestamp),
            (
                br#"{"sym":"X","px":1,"ts":9223372036854775808}"#,
                Reject::BadTimestamp,
            ),
            (
                br#"{"sym":"X","px":1,"ts":99999999999999999999}"#,
                Reject::BadTimestamp,
            ),
        ];
        let mut decoder = NativeDecoder::new();
        for (line, expected) in cases {
            assert_eq!(
                decoder.decode(line, 0),
                Err(*expected),
                "{}",
                String::from_utf8_lossy(line)
            );
        }
        let max = decoder
            .decode(br#"{"sym":"X","px":1,"ts":9223372036854775807}"#, 0)
            .unwrap();
        assert_eq!(max.ts, 9_223_372_036_854_775_807);
    }

    #[test]
    fn checks_run_in_field_order_whatever_the_key_order() {
        // Bad ts and bad price: the price is reported, even though ts comes first.
        assert_eq!(
            decode(r#"{"ts":0,"px":0,"sym":"X"}"#),
            Err(Reject::BadPrice)
        );
        assert_eq!(decode(r#"{"ts":0,"px":0}"#), Err(Reject::MissingSymbol));
        assert_eq!(decode(r#"{"ts":0,"sym":"X"}"#), Err(Reject::MissingPrice));
    }

    #[test]
    fn unknown_fields_are_ignored_even_nested() {
        let tick = decode(
            r#"{"venue":"binance","seq":[1,2.5,{"x":-3e2}],"meta":{"a":{"b":[null,true,"7"]},"n":1},"sym":"X","px":4.20,"trade_id":12345678901234567890123,"ts":3}"#,
        )
        .unwrap();
        assert_eq!(text(tick.px).as_deref(), Some("4.20"));
        assert_eq!(tick.ts, 3);
    }

    #[test]
    fn strings_with_digits_and_escapes_are_not_mangled() {
        for line in [
            r#"{"note":"a \"12\" b","sym":"X","px":1,"ts":5}"#,
            r#"{"note":"ends in backslash \\","sym":"X","px":1,"ts":5}"#,
            r#"{"note":"\\\"1.5\\\"","sym":"X","px":1,"ts":5}"#,
            r#"{"note":"-1e5 0.1 [\"2\"]","sym":"X","px":1,"ts":5}"#,
            r#"{"n\"12":"x","sym":"X","px":1,"ts":5}"#,
            r#"{"note":"\u0031\u0032","sym":"X","px":1,"ts":5}"#,
        ] {
            let tick = decode(line).unwrap_or_else(|r| panic!("{line}: {r:?}"));
            assert_eq!(text(tick.px).as_deref(), Some("1"), "{line}");
            assert_eq!(tick.ts, 5, "{line}");
        }
        // Escapes in the symbol itself are decoded before validation.
        let tick = decode(r#"{"sym":"B\u0054C","px":1,"ts":5}"#).unwrap();
        assert_eq!(tick.symbol.as_str(), "BTC");
        // An escaped key is the same key.
        let tick = decode(r#"{"sym":"X","p\u0078":2,"ts":5}"#).unwrap();
        assert_eq!(text(tick.px).as_deref(), Some("2"));
    }

    #[test]
    fn accepts_non_ascii_utf8_in_strings() {
        let tick = decode(r#"{"note":"café ✓ 価格 \u00e9","sym":"X","px":1,"ts":5}"#).unwrap();
        assert_eq!(tick.ts, 5);
        // A non-ASCII symbol is a valid string but not a valid symbol name.
        assert_eq!(
            decode(r#"{"sym":"é","px":1,"ts":5}"#),
            Err(Reject::BadSymbol)
        );
    }

    #[test]
    fn tolerates_crlf_and_surrounding_whitespace() {
        for line in [
            "{\"sym\":\"X\",\"px\":1,\"ts\":5}\r",
            "  {\"sym\":\"X\",\"px\":1,\"ts\":5}  \r\n",
            "\t{ \"sym\" : \"X\" , \"px\" : 1 , \"ts\" : 5 }",
        ] {
            let tick = decode(line).unwrap_or_else(|r| panic!("{line:?}: {r:?}"));
            assert_eq!(tick.ts, 5);
        }
    }

    #[test]
    fn reuse_across_lines_leaks_nothing() {
        let mut decoder = NativeDecoder::new();
        let long = format!(
            r#"{{"sym":"LONGSYMBOL","px":123.456,"qty":7,"bid":123.45,"bid_qty":1,"ask":123.46,"ask_qty":2,"pad":"{}","ts":111}}"#,
            "z".repeat(5000)
        );
        let short = r#"{"sym":"S","bid":9,"ts":2}"#;
        for round in 0..50 {
            let tick = decoder.decode(long.as_bytes(), round).unwrap();
            assert_eq!(tick.symbol.as_str(), "LONGSYMBOL");
            assert_eq!(text(tick.ask_qty).as_deref(), Some("2"));
            let tick = decoder.decode(short.as_bytes(), round).unwrap();
            assert_eq!(tick.symbol.as_str(), "S");
            assert_eq!(tick.kind, TickKind::Quote);
            assert_eq!(
                (tick.px, tick.qty, tick.bid_qty, tick.ask, tick.ask_qty),
                (None, None, None, None, None)
            );
            assert_eq!(text(tick.bid).as_deref(), Some("9"));
            assert_eq!((tick.ts, tick.rx), (2, round));
            // A failing line in between leaves no state behind either.
            assert_eq!(
                decoder.decode(br#"{"sym":"S","px":1,"ts":1"#, 0),
                Err(Reject::InvalidJson)
            );
            assert_eq!(
                decoder.decode(br#"{"sym":"S"}"#, 0),
                Err(Reject::MissingPrice)
            );
        }
    }

    #[test]
    fn random_prices_round_trip_exactly() {
        // A small xorshift so the test is deterministic without a dependency.
        let mut state: u64 = 0x9E37_79B9_7F4A_7C15;
        let mut next = move || {
            state ^= state << 13;
            state ^= state >> 7;
            state ^= state << 17;
            state
        };
        let mut decoder = NativeDecoder::new();
        for _ in 0..500 {
            let digits = 1 + (next() % 18) as u32;
            let mantissa = 1 + next() % 10u64.pow(digits);
            let scale = (next() % 19) as usize;
            let raw = mantissa.to_string();
            let source = if scale == 0 {
                raw
            } else if raw.len() > scale {
                format!(
                    "{}.{}",
                    &raw[..raw.len() - scale],
                    &raw[raw.len() - scale..]
                )
            } else {
                format!("0.{}{raw}", "0".repeat(scale - raw.len()))
            };
            let quoted = next() % 4 == 0;
            let px = if quoted {
                format!("\"{source}\"")
            } else {
                source.clone()
            };
            let line = format!(r#"{{"sym":"R","qty":{source},"px":{px},"ts":1}}"#);
            let tick = decoder
                .decode(line.as_bytes(), 0)
                .unwrap_or_else(|r| panic!("{line}: {r:?}"));
            assert_eq!(text(tick.px), Some(source.clone()), "{line}");
            assert_eq!(text(tick.qty), Some(source), "{line}");
        }
    }
}

#[cfg(test)]
mod fuzz_regressions {
    //! Inputs the fuzzer found (tests/fuzz/regressions/native), pinned here.
    use super::*;

    #[test]
    fn a_size_without_a_price_is_not_a_quote() {
        let mut decoder = NativeDecoder::new();
        assert_eq!(
            decoder.decode(br#"{"sym":"X","qty":1,"bid":1,"ts":1}"#, 1),
            Err(Reject::MissingPrice)
        );
        assert!(
            decoder
                .decode(br#"{"sym":"X","bid":1,"bid_qty":1,"ts":1}"#, 1)
                .is_ok()
        );
    }

    #[test]
    fn negative_zero_sizes_are_refused() {
        let mut decoder = NativeDecoder::new();
        for line in [
            r#"{"sym":"X","px":1,"qty":-0,"ts":1}"#,
            r#"{"sym":"X","px":1,"qty":"-0.0","ts":1}"#,
            r#"{"sym":"X","bid":1,"bid_qty":-0,"ts":1}"#,
        ] {
            assert_eq!(
                decoder.decode(line.as_bytes(), 1),
                Err(Reject::BadSize),
                "{line}"
            );
        }
        assert!(
            decoder
                .decode(br#"{"sym":"X","px":1,"qty":0,"ts":1}"#, 1)
                .is_ok()
        );
    }
}
