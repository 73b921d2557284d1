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
//! shared with the exchange decoders of [`super::venue`], which read the same tape.
//!
//! Decoding allocates nothing in the steady state: the scratch buffer, simd-json's buffers and
//! the tape are reused from line to line. This module must never round a number through `f64`,
//! do I/O, log, or read the clock.

use std::fmt;

use simd_json::prelude::*;
use simd_json::tape::Value;
use simd_json::{Buffers, ErrorType, INPUT_PADDING, Tape};

use crate::feed::Reject;
use crate::tick::{Decimal, Symbol, Tick, TickKind};

/// Largest accepted `ts`: timestamps are handed on as `i64`-compatible nanoseconds.
const MAX_TIMESTAMP: u64 = i64::MAX as u64;

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

// === impl LineParser ===

/// Parses one JSON line at a time into simd-json's tape, behind the lossless number view, and
/// lends the parsed root to a reader. Shared by [`NativeDecoder`] and the venue decoders
/// ([`super::venue`]), so every format gets the same exact numbers, the same syntax checks and
/// the same buffer reuse.
pub(crate) struct LineParser {
    /// The line rewritten by [`lossless_number_view`], plus simd-json's padding.
    scratch: Vec<u8>,
    /// simd-json's working buffers (structural indexes, unescaped strings).
    buffers: Buffers,
    /// The tape's allocation, kept empty between lines. Its lifetime is `'static` only because
    /// it is empty: `Tape::reset` re-brands the emptied allocation after each line.
    tape: Tape<'static>,
}

impl LineParser {
    /// A parser with small initial buffers; they grow to the longest line seen, then stay.
    pub(crate) fn new() -> Self {
        Self {
            scratch: Vec::new(),
            buffers: Buffers::default(),
            tape: Tape(Vec::new()),
        }
    }

    /// Parses one line (surrounding whitespace and a trailing `\r` tolerated) and hands its
    /// root value to `read`. Numbers appear on the tape as one-element arrays holding their
    /// source text (see the lossless number view below), so [`Field::of`] reads them.
    pub(crate) fn parse<R>(
        &mut self,
        line: &[u8],
        read: impl FnOnce(Value<'_, '_>) -> Result<R, Reject>,
    ) -> Result<R, Reject> {
        let line = line.trim_ascii();
        // Checked up front so a bad byte is reported as such wherever it is, rather than as
        // whatever syntax error the pre-pass or simd-json trips on first. ASCII lines, the
        // normal case, cost one fast scan.
        if !line.is_ascii() && std::str::from_utf8(line).is_err() {
            return Err(Reject::InvalidUtf8);
        }
        if line.is_empty() {
            return Err(Reject::InvalidJson);
        }
        lossless_number_view(line, &mut self.scratch)?;
        let len = self.scratch.len();
        // Capacity for the padding was reserved by the pre-pass: no allocation here.
        self.scratch.resize(len + INPUT_PADDING, 0);

        let mut tape = std::mem::replace(&mut self.tape, Tape(Vec::new()));
        let outcome =
            match simd_json::fill_tape_padded(&mut self.scratch, len, &mut self.buffers, &mut tape)
            {
                Ok(()) => read(tape.as_value()),
                Err(error) => Err(match error.error() {
                    ErrorType::InvalidUtf8 => Reject::InvalidUtf8,
                    _ => Reject::InvalidJson,
                }),
            };
        // Empties the tape, ending its borrow of `scratch`, and keeps the allocation.
        self.tape = tape.reset();
        outcome
    }

    /// Where the buffers live and how big they are, for tests that check nothing is
    /// reallocated in the steady state.
    #[cfg(test)]
    pub(crate) fn allocations(&self) -> [usize; 4] {
        [
            self.scratch.as_ptr() as usize,
            self.scratch.capacity(),
            self.tape.0.as_ptr() as usize,
            self.tape.0.capacity(),
        ]
    }
}

impl fmt::Debug for LineParser {
    // Capacities only: the scratch buffer holds the last line, which may be hostile.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("LineParser")
            .field("scratch_capacity", &self.scratch.capacity())
            .field("tape_capacity", &self.tape.0.capacity())
            .finish_non_exhaustive()
    }
}

// === Lossless number view ===
//
// simd-json parses every number on its tape to `f64`/`i64`/`u64` and has no raw-number mode
// (serde_json's `arbitrary_precision`; see simd-lite/simd-json issue 297). Through `f64`,
// `61837.63000000` loses its trailing zeros and values of 17+ significant digits change. So
// before simd-json sees the line, this pass copies it and turns every number token outside a
// string into a one-element array holding the token as a string: `"px":101.25` becomes
// `"px":["101.25"]`. simd-json then only ever sees strings, and `Decimal::parse` reads the
// exact digits.
//
// Why an array and not just quotes: a quoted number would be indistinguishable from a real
// string, so `"ts":"123"` or `"sym":123` would pass as valid, and `{1:2}` (a number key,
// invalid JSON) would become the valid `{"1":"2"}`. The array keeps "was a number" visible on
// the tape, and simd-json itself still rejects a number in key position. The one input it
// cannot tell apart is a literal one-string array (`"px":["1.5"]`), which no producer sends and
// which is harmless to accept.

/// Writes `line` to `out` with every number token outside a string wrapped as `["<token>"]`,
/// validating each token against the JSON number grammar. Strings, escapes included, are
/// copied untouched. Reserves room for simd-json's padding as well.
fn lossless_number_view(line: &[u8], out: &mut Vec<u8>) -> Result<(), Reject> {
    out.clear();
    // Worst case `1,1,1`: each one-byte number grows by four bytes, so three times the line.
    out.reserve(line.len() * 3 + INPUT_PADDING);
    let mut i = 0;
    while i < line.len() {
        match line[i] {
            b'"' => {
                let end = string_end(line, i + 1).ok_or(Reject::InvalidJson)?;
                out.extend_from_slice(&line[i..end]);
                i = end;
            }
            b'-' | b'0'..=b'9' => {
                let start = i;
                // The longest run of number bytes: in valid JSON a number is always followed
                // by whitespace or a structural byte, so this is exactly the token.
                while i < line.len()
                    && matches!(line[i], b'0'..=b'9' | b'-' | b'+' | b'.' | b'e' | b'E')
                {
                    i += 1;
                }
                let token = &line[start..i];
                if !is_json_number(token) {
                    return Err(Reject::InvalidJson);
                }
                out.extend_from_slice(b"[\"");
                out.extend_from_slice(token);
                out.extend_from_slice(b"\"]");
            }
            _ => {
                // Structure, whitespace and literals: copied as a run, simd-json judges them.
                let start = i;
                while i < line.len() && !matches!(line[i], b'"' | b'-' | b'0'..=b'9') {
                    i += 1;
                }
                out.extend_from_slice(&line[start..i]);
            }
        }
    }
    Ok(())
}

/// The index just past the closing quote of a string whose content starts at `from`, or `None`
/// when the string is not terminated. A backslash always escapes the next byte, so `\"` and
/// `\\` are handled without decoding the escape.
fn string_end(line: &[u8], from: usize) -> Option<usize> {
    let mut i = from;
    loop {
        let at = i + memchr::memchr2(b'"', b'\\', line.get(i..)?)?;
        if line[at] == b'"' {
            return Some(at + 1);
        }
        i = at + 2;
    }
}

/// True when `token` is exactly a JSON number: `-?(0|[1-9][0-9]*)(\.[0-9]+)?([eE][+-]?[0-9]+)?`.
fn is_json_number(token: &[u8]) -> bool {
    let digits_from = |mut i: usize| {
        while token.get(i).is_some_and(u8::is_ascii_digit) {
            i += 1;
        }
        i
    };
    let mut i = usize::from(token.first() == Some(&b'-'));
    i = match token.get(i) {
        Some(b'0') => i + 1,
        Some(b'1'..=b'9') => digits_from(i + 1),
        _ => return false,
    };
    if token.get(i) == Some(&b'.') {
        let end = digits_from(i + 1);
        if end == i + 1 {
            return false;
        }
        i = end;
    }
    if matches!(token.get(i), Some(b'e' | b'E')) {
        i += 1;
        if matches!(token.get(i), Some(b'+' | b'-')) {
            i += 1;
        }
        let end = digits_from(i);
        if end == i {
            return false;
        }
        i = end;
    }
    i == token.len()
}

// === Fields ===

/// A field's value as the tape shows it after the lossless number view.
#[derive(Clone, Copy)]
pub(crate) enum Field<'a> {
    /// The key did not appear.
    Unset,
    /// `null`.
    Null,
    /// A JSON number, as its source text.
    Number(&'a str),
    /// A JSON string, unescaped.
    Text(&'a str),
    /// Anything else: `true`, `false`, an object, an array.
    Other,
}

impl<'a> Field<'a> {
    pub(crate) fn of(value: Value<'_, 'a>) -> Self {
        if let Some(text) = value.into_string() {
            Field::Text(text)
        } else if value.as_null().is_some() {
            Field::Null
        } else if let Some(array) = value.as_array()
            && array.len() == 1
            && let Some(token) = array.get(0).and_then(|v| v.into_string())
        {
            Field::Number(token)
        } else {
            Field::Other
        }
    }

    /// The decimal in a number or a numeric string; `None` when absent; `bad` otherwise.
    pub(crate) fn decimal(self, bad: Reject) -> Result<Option<Decimal>, Reject> {
        match self {
            Field::Unset | Field::Null => Ok(None),
            Field::Number(text) | Field::Text(text) => {
                Decimal::parse(text.as_bytes()).map(Some).map_err(|_| bad)
            }
            Field::Other => Err(bad),
        }
    }

    pub(crate) fn price(self) -> Result<Option<Decimal>, Reject> {
        match self.decimal(Reject::BadPrice)? {
            Some(px) if !px.is_positive() => Err(Reject::BadPrice),
            px => Ok(px),
        }
    }

    pub(crate) fn size(self) -> Result<Option<Decimal>, Reject> {
        match self.decimal(Reject::BadSize)? {
            Some(qty) if qty.is_negative() => Err(Reject::BadSize),
            qty => Ok(qty),
        }
    }

    fn symbol(self) -> Result<Symbol, Reject> {
        match self {
            Field::Unset | Field::Null => Err(Reject::MissingSymbol),
            Field::Text(name) => Symbol::new(name).map_err(|_| Reject::BadSymbol),
            Field::Number(_) | Field::Other => Err(Reject::BadSymbol),
        }
    }

    fn timestamp(self) -> Result<u64, Reject> {
        match self {
            Field::Unset | Field::Null => Err(Reject::MissingTimestamp),
            Field::Number(text) => parse_timestamp(text),
            Field::Text(_) | Field::Other => Err(Reject::BadTimestamp),
        }
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

/// Parses a number token as integer nanoseconds in `1..=MAX_TIMESTAMP`. The token already
/// passed the JSON number grammar; a sign, a fraction or an exponent is refused here.
pub(crate) fn parse_timestamp(token: &str) -> Result<u64, Reject> {
    let mut ns: u64 = 0;
    for &b in token.as_bytes() {
        if !b.is_ascii_digit() {
            return Err(Reject::BadTimestamp);
        }
        ns = ns
            .checked_mul(10)
            .and_then(|ns| ns.checked_add(u64::from(b - b'0')))
            .ok_or(Reject::BadTimestamp)?;
    }
    if ns == 0 || ns > MAX_TIMESTAMP {
        return Err(Reject::BadTimestamp);
    }
    Ok(ns)
}

#[cfg(test)]
mod tests {
    use super::*;

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
    fn steady_state_keeps_its_allocations() {
        let mut decoder = NativeDecoder::new();
        let line = br#"{"sym":"BTCUSDT","px":61837.63000000,"qty":0.5,"bid":61837.62,"ask":61837.63,"ts":1723075200123456789}"#;
        decoder.decode(line, 0).unwrap();
        let scratch = (
            decoder.parser.scratch.as_ptr(),
            decoder.parser.scratch.capacity(),
        );
        let tape = (
            decoder.parser.tape.0.as_ptr(),
            decoder.parser.tape.0.capacity(),
        );
        for rx in 0..1000 {
            decoder.decode(line, rx).unwrap();
            decoder
                .decode(br#"{"sym":"X","bid":1,"ts":1}"#, rx)
                .unwrap();
        }
        assert_eq!(
            (
                decoder.parser.scratch.as_ptr(),
                decoder.parser.scratch.capacity()
            ),
            scratch
        );
        assert_eq!(
            (
                decoder.parser.tape.0.as_ptr(),
                decoder.parser.tape.0.capacity()
            ),
            tape
        );
    }

    #[test]
    fn number_grammar() {
        for good in [
            "0", "-0", "1", "-1", "10", "1.5", "0.0", "1e5", "1E+5", "1e-05", "-0.5e-3",
        ] {
            assert!(is_json_number(good.as_bytes()), "{good}");
        }
        for bad in [
            "", "-", "01", "-01", "1.", ".5", "1e", "1e+", "1.e5", "+1", "1-", "1.2.3", "1e5e5",
            "--1", "1..2", "1e5.5",
        ] {
            assert!(!is_json_number(bad.as_bytes()), "{bad}");
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
