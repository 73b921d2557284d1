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
//! the tapes are reused from line to line. `benches/decode.rs` measures it (lines per second
//! on the Binance recording and as native lines, against serde_json; see `BENCHMARKS.md`).
//! This module must never round a number through `f64`, do I/O, log, or read the clock.

use std::fmt;

use simd_json::prelude::*;
use simd_json::tape::{Node, Value};
use simd_json::{Buffers, ErrorType, INPUT_PADDING, StaticNode, Tape};

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
///
/// Two ways to the same tape (see "Lossless number view" below): the direct parse of the line,
/// with every number node then rewritten from its source text, and, when that parse fails, the
/// text pre-pass followed by a second parse, which settles the reject exactly as before.
pub(crate) struct LineParser {
    /// The line (direct parse) or its lossless number view (pre-pass), plus simd-json's padding.
    scratch: Vec<u8>,
    /// simd-json's working buffers for the direct parse, one nesting level shallower than
    /// `buffers` (see [`number_view`]).
    direct_buffers: Buffers,
    /// simd-json's working buffers for the pre-pass parse (structural indexes, strings).
    buffers: Buffers,
    /// The tape's allocation, kept empty between lines. Its lifetime is `'static` only because
    /// it is empty: `Tape::reset` re-brands the emptied allocation after each line.
    tape: Tape<'static>,
    /// The direct parse's tape rewritten by [`number_view`]; empty between lines, like `tape`.
    view: Tape<'static>,
    /// Containers [`number_view`] is inside of, reused from line to line.
    open: Vec<(usize, usize)>,
}

impl LineParser {
    /// A parser with small initial buffers; they grow to the longest line seen, then stay.
    pub(crate) fn new() -> Self {
        Self {
            scratch: Vec::new(),
            direct_buffers: Buffers::with_max_depth(128, simd_json::DEFAULT_MAX_DEPTH - 1),
            buffers: Buffers::default(),
            tape: Tape(Vec::new()),
            view: Tape(Vec::new()),
            open: Vec::new(),
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
        if line.is_empty() {
            return Err(Reject::InvalidJson);
        }

        // The direct parse: a plain copy of the line, no pre-pass. simd-json validates UTF-8
        // as it goes, so a line it accepts is valid UTF-8.
        self.scratch.clear();
        self.scratch.reserve(line.len() + INPUT_PADDING);
        self.scratch.extend_from_slice(line);
        self.scratch.resize(line.len() + INPUT_PADDING, 0);
        let mut tape = std::mem::replace(&mut self.tape, Tape(Vec::new()));
        let mut view = std::mem::replace(&mut self.view, Tape(Vec::new())).reset();
        let direct = simd_json::fill_tape_padded(
            &mut self.scratch,
            line.len(),
            &mut self.direct_buffers,
            &mut tape,
        )
        .is_ok()
            && number_view(
                &tape.0,
                line,
                self.direct_buffers.structural_indexes(),
                &mut self.open,
                &mut view.0,
            );
        if direct {
            let outcome = read(view.as_value());
            self.view = view.reset();
            self.tape = tape.reset();
            return outcome;
        }
        self.view = view.reset();
        let mut tape = tape.reset();

        // Not valid JSON as it stands (or too deep, or a number simd-json cannot hold): the
        // pre-pass and simd-json decide, exactly as for every line before the direct parse.
        // UTF-8 is checked first so a bad byte is reported as such wherever it is, rather than
        // as whatever syntax error the pre-pass or simd-json trips on first.
        if !line.is_ascii() && std::str::from_utf8(line).is_err() {
            return Err(Reject::InvalidUtf8);
        }
        lossless_number_view(line, &mut self.scratch)?;
        let len = self.scratch.len();
        // Capacity for the padding was reserved by the pre-pass: no allocation here.
        self.scratch.resize(len + INPUT_PADDING, 0);
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
    pub(crate) fn allocations(&self) -> [usize; 8] {
        [
            self.scratch.as_ptr() as usize,
            self.scratch.capacity(),
            self.tape.0.as_ptr() as usize,
            self.tape.0.capacity(),
            self.view.0.as_ptr() as usize,
            self.view.0.capacity(),
            self.open.as_ptr() as usize,
            self.open.capacity(),
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
//
// The same tape, faster: the text pre-pass (a byte-by-byte copy that has to track strings and
// escapes) cost about a third of decoding a Binance line. So `LineParser::parse` first lets
// simd-json parse the line as it stands, then [`number_view`] rewrites the tape: each number
// node becomes the `Array{len: 1}` + `String(token)` pair the pre-pass would have produced,
// the token being read from the line itself at the offset simd-json's stage 1 recorded for it
// (every number starts at a structural index), and the counts of the enclosing containers grow
// to match. simd-json's `f64`/`u64` values are never used. When the direct parse fails, the
// pre-pass path runs as before and gives the same reject as ever. The two paths accept the same
// lines and produce equal tapes (tested below on both recordings and on hostile lines):
// - a line valid as it stands stays valid with its numbers wrapped, and its number tokens are
//   exactly its numbers, which simd-json validated with the pre-pass's grammar (no leading
//   zero, digits around `.` and after `e`, a structural byte or whitespace after it);
// - wrapping adds one nesting level at most, so the direct parse allows one level less than the
//   pre-pass parse: anything that deep goes the pre-pass way and meets the same limit;
// - an integer beyond `u64`/`i64` is an error for the direct parse, so it goes the pre-pass way
//   too and stays text.

/// Rewrites `raw`, the tape of `line` parsed as it stands, into `out`, the tape of its lossless
/// number view: every number node becomes a one-element array holding the number's source
/// text, found at the structural index of its first byte in `structurals` (simd-json's stage 1
/// output for `line`), and every container's node count grows by the nodes added inside it.
/// False when a number on the tape has no number start left in `line` to pair with (which a
/// successful parse rules out; the caller then takes the pre-pass path).
fn number_view<'a>(
    raw: &[Node<'a>],
    line: &'a [u8],
    structurals: &[u32],
    open: &mut Vec<(usize, usize)>,
    out: &mut Vec<Node<'a>>,
) -> bool {
    out.clear();
    open.clear();
    // `raw[..copied]` is in `out`, where each node sits `shift` places later than in `raw`
    // (one more per number rewritten so far). Strings, `null`s and booleans are copied in runs.
    let mut copied = 0;
    let mut shift = 0;
    // The next structural to look at for a number start. Outside strings, only a number starts
    // with `-` or a digit; the structural after it (`,` `]` `}`, maybe after whitespace) ends
    // it, or the end of the line does. Scanned lazily, so the structurals after the last number
    // (a depth update's levels) are never looked at.
    let mut next = 0;
    for (at, node) in raw.iter().enumerate() {
        let count = match *node {
            Node::String(_) | Node::Static(StaticNode::Null | StaticNode::Bool(_)) => continue,
            Node::Object { count, .. } | Node::Array { count, .. } => Some(count),
            Node::Static(_) => None,
        };
        close_ended(open, out, at, shift);
        out.extend_from_slice(&raw[copied..at]);
        copied = at + 1;
        if let Some(count) = count {
            // (index in `raw` of the container's last node, its own index in `out`)
            open.push((at + count, out.len()));
            out.push(*node);
            continue;
        }
        let Some(skipped) = structurals.get(next..).and_then(|rest| {
            rest.iter()
                .position(|&at| matches!(line.get(at as usize), Some(b'-' | b'0'..=b'9')))
        }) else {
            return false;
        };
        next += skipped + 1;
        let start = structurals[next - 1] as usize;
        let end = structurals
            .get(next)
            .map_or(line.len(), |&end| end as usize);
        // Number bytes are ASCII, and the structural after the number is at most whitespace
        // away, so this only fails on a tape and an index that do not belong together.
        let Some(token) = line
            .get(start..end)
            .and_then(|token| std::str::from_utf8(token.trim_ascii_end()).ok())
        else {
            return false;
        };
        out.push(Node::Array { len: 1, count: 1 });
        out.push(Node::String(token));
        shift += 1;
    }
    out.extend_from_slice(&raw[copied..]);
    close_ended(open, out, usize::MAX, shift);
    debug_assert!(
        !structurals[next.min(structurals.len())..]
            .iter()
            .any(|&at| matches!(line.get(at as usize), Some(b'-' | b'0'..=b'9'))),
        "more numbers in the line than on the tape"
    );
    true
}

/// Sets the node count of each open container whose last node in `raw` comes before `at`: the
/// nodes in `out` from just after the container to that last node, which is `shift` places
/// later in `out` than in `raw` (the nodes after it, up to `at`, hold no rewritten number).
fn close_ended(open: &mut Vec<(usize, usize)>, out: &mut [Node<'_>], at: usize, shift: usize) {
    while let Some(&(last, to)) = open.last()
        && last < at
    {
        if let Some(Node::Object { count, .. } | Node::Array { count, .. }) = out.get_mut(to) {
            *count = last + shift - to;
        }
        open.pop();
    }
}

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
        // A sign on a size is never right, even on zero (`-0` would print back as `0`).
        if let Field::Number(text) | Field::Text(text) = self
            && text.trim_start().starts_with('-')
        {
            return Err(Reject::BadSize);
        }
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

    // === The direct parse gives the pre-pass tape ===

    /// Parses `line` both ways. When the direct parse succeeds, the pre-pass parse must succeed
    /// too and [`number_view`] must give its tape node for node; returns whether it succeeded.
    fn same_tape_both_ways(line: &[u8]) -> bool {
        let line = line.trim_ascii();
        let mut scratch = line.to_vec();
        scratch.resize(line.len() + INPUT_PADDING, 0);
        let mut buffers = Buffers::with_max_depth(128, simd_json::DEFAULT_MAX_DEPTH - 1);
        let mut raw = Tape(Vec::new());
        if simd_json::fill_tape_padded(&mut scratch, line.len(), &mut buffers, &mut raw).is_err() {
            return false;
        }
        let (mut view, mut open) = (Vec::new(), Vec::new());
        let shown = String::from_utf8_lossy(line);
        assert!(
            number_view(
                &raw.0,
                line,
                buffers.structural_indexes(),
                &mut open,
                &mut view
            ),
            "{shown}"
        );

        let mut wrapped = Vec::new();
        assert_eq!(lossless_number_view(line, &mut wrapped), Ok(()), "{shown}");
        let len = wrapped.len();
        wrapped.resize(len + INPUT_PADDING, 0);
        let mut tape = Tape(Vec::new());
        let parsed =
            simd_json::fill_tape_padded(&mut wrapped, len, &mut Buffers::default(), &mut tape);
        assert!(parsed.is_ok(), "{shown}: {parsed:?}");
        assert_eq!(view, tape.0, "{shown}");
        true
    }

    /// The frames of the repository's samples of both recordings (prefixes cut off).
    fn sample_frames() -> Vec<Vec<u8>> {
        use std::io::{BufRead, BufReader, Read};
        let root = env!("CARGO_MANIFEST_DIR");
        let mut text = String::new();
        flate2::read::GzDecoder::new(
            std::fs::File::open(format!(
                "{root}/feeds/binance-spot-btcusdt-20240808.sample.gz"
            ))
            .unwrap(),
        )
        .read_to_string(&mut text)
        .unwrap();
        let mut frames: Vec<Vec<u8>> = text
            .lines()
            .map(|line| line.split_once(' ').unwrap().1.as_bytes().to_vec())
            .collect();
        let coinbase = std::fs::File::open(format!(
            "{root}/feeds/coinbase-exchange-20210417.sample.txt"
        ))
        .unwrap();
        for line in BufReader::new(coinbase).lines() {
            let line = line.unwrap();
            if let Some((_, frame)) = line.split_once(": ")
                && !line.starts_with("wss://")
            {
                frames.push(frame.as_bytes().to_vec());
            }
        }
        frames
    }

    #[test]
    fn invalid_utf8_is_rejected_as_such_on_the_direct_path_too() {
        // simd-json validates UTF-8 in its first stage: a line it accepts needs no second check.
        for bad in [
            &b"\xff"[..],
            b"\xc3",
            b"\xc0\x80",
            b"\xed\xa0\x80",
            b"\xf4\x90\x80\x80",
            b"\xe2\x82",
            b"\x80",
        ] {
            let mut line = br#"{"sym":"X","note":""#.to_vec();
            line.extend_from_slice(bad);
            line.extend_from_slice(br#"","px":1,"ts":1}"#);
            assert_eq!(
                NativeDecoder::new().decode(&line, 0),
                Err(Reject::InvalidUtf8),
                "{bad:?}"
            );
            assert!(!same_tape_both_ways(&line), "{bad:?}");
        }
    }

    #[test]
    fn direct_parse_gives_the_pre_pass_tape_on_real_frames() {
        let frames = sample_frames();
        assert!(frames.len() > 2500);
        for frame in &frames {
            assert!(
                same_tape_both_ways(frame),
                "{}",
                String::from_utf8_lossy(frame)
            );
        }
        // The same ticks as native lines, numbers as JSON numbers.
        let mut decoder = crate::feed::venue::Decoder::new(crate::feed::venue::Format::Auto);
        let mut ticks = Vec::new();
        for frame in &frames {
            let _ = decoder.decode(frame, 1_723_161_254_087_896_568, &mut ticks);
        }
        assert!(ticks.len() > 1500);
        for (n, tick) in ticks.iter().enumerate() {
            let mut line = Vec::new();
            crate::frame::write_json(&mut line, n as u64 + 1, 1, tick);
            assert!(same_tape_both_ways(&line));
            assert_eq!(NativeDecoder::new().decode(&line, tick.rx), Ok(*tick));
        }
    }

    #[test]
    fn direct_parse_gives_the_pre_pass_tape_on_hostile_lines() {
        let mut lines: Vec<String> = [
            "42",
            "-0",
            "[]",
            "[1,-2,3.5e-7,[4,[5]],{\"a\":[6,{\"b\":7}]},8]",
            r#"{"a":{"b":{"c":[1,{"d":2}]}},"e":3}"#,
            r#"{"sym":"X","px":1E+5,"qty":-0.0,"ts":18446744073709551615}"#,
            r#"{"sym":"X","px":12345678901234567890,"ts":1}"#,
            r#"{"sym":"X","px":1e400,"ts":1}"#,
            r#"{"sym":"X","px":-9223372036854775808,"ts":-9223372036854775809}"#,
            r#"{"n":"1","m":"-2","s":"a\"3\\","t":["4"],"u":[],"v":{},"w":null,"x":true}"#,
            r#"{"sym":"X","px":01,"ts":1}"#,
            r#"{"sym":"X","px":1.,"ts":1}"#,
            r#"{"sym":"X","px":-,"ts":1}"#,
            r#"{"sym":"X","px":1e,"ts":1}"#,
            r#"{"sym":"X","px":+1,"ts":1}"#,
            r#"{"sym":"X","px":1-2,"ts":1}"#,
            r#"{"sym":"X","px":1x,"ts":1}"#,
            r#"{"sym":"X","px":1,"ts":1,7:8}"#,
            r#"{"sym":"X","px":1 2,"ts":1}"#,
            r#"{"sym":"X","px":1,"ts":1}}"#,
            r#"{"sym":"X","px":[1,2],"ts":{"a":[3]}}"#,
        ]
        .iter()
        .map(|line| line.to_string())
        .collect();
        // Around simd-json's nesting limit, with and without a number at the bottom.
        for depth in simd_json::DEFAULT_MAX_DEPTH - 3..simd_json::DEFAULT_MAX_DEPTH + 2 {
            for bottom in ["1", "\"s\"", "[]", ""] {
                lines.push(format!(
                    "{}{bottom}{}",
                    "[".repeat(depth),
                    "]".repeat(depth)
                ));
                lines.push(format!(
                    "{}{bottom}{}",
                    r#"{"a":["#.repeat(depth / 2),
                    "]}".repeat(depth / 2)
                ));
            }
        }
        // Mutations of real frames: bytes changed, inserted and removed around numbers,
        // strings, escapes and structure.
        let alphabet = b"0123456789-+.eE\"\\[]{},: a";
        let frames = sample_frames();
        let mut state: u64 = 0x2545_F491_4F6C_DD1D;
        let mut next = move || {
            state ^= state << 13;
            state ^= state >> 7;
            state ^= state << 17;
            state
        };
        for _ in 0..20_000 {
            let mut line = frames[(next() % frames.len() as u64) as usize].clone();
            for _ in 0..1 + next() % 3 {
                let at = (next() % line.len() as u64) as usize;
                let byte = alphabet[(next() % alphabet.len() as u64) as usize];
                match next() % 3 {
                    0 => line[at] = byte,
                    1 => line.insert(at, byte),
                    _ => {
                        line.remove(at);
                    }
                }
                if line.is_empty() {
                    break;
                }
            }
            lines.push(String::from_utf8(line).unwrap());
        }
        let direct = lines
            .iter()
            .filter(|line| same_tape_both_ways(line.as_bytes()))
            .count();
        // Both paths are exercised.
        assert!(direct > 1000 && direct < lines.len() - 1000, "{direct}");
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
