//! The lossless number view: every JSON number of a line reaches the readers of the tape as
//! its source text, so `61837.63000000` keeps its digits.
//!
//! [`LineParser::parse`](super::LineParser::parse) uses it on every line, on the feed task's
//! thread: [`number_view`] on the tape of the direct parse, or, when that parse fails,
//! [`lossless_number_view`] on the text before the second parse. The readers then see each
//! number as a one-element array holding its text, which [`Field::of`](super::Field::of) reads
//! as a [`Field::Number`](super::Field::Number).
//!
//! simd-json parses every number on its tape to `f64`/`i64`/`u64` and has no raw-number mode
//! (serde_json's `arbitrary_precision`; see simd-lite/simd-json issue 297). Through `f64`,
//! `61837.63000000` loses its trailing zeros and values of 17+ significant digits change. So
//! before simd-json sees the line, this pass copies it and turns every number token outside a
//! string into a one-element array holding the token as a string: `"px":101.25` becomes
//! `"px":["101.25"]`. simd-json then only ever sees strings, and `Decimal::parse` reads the
//! exact digits.
//!
//! Why an array and not just quotes: a quoted number would be indistinguishable from a real
//! string, so `"ts":"123"` or `"sym":123` would pass as valid, and `{1:2}` (a number key,
//! invalid JSON) would become the valid `{"1":"2"}`. The array keeps "was a number" visible on
//! the tape, and simd-json itself still rejects a number in key position. The one input it
//! cannot tell apart is a literal one-string array (`"px":["1.5"]`), which no producer sends and
//! which is harmless to accept.
//!
//! The same tape, faster: the text pre-pass (a byte-by-byte copy that has to track strings and
//! escapes) cost about a third of decoding a Binance line. So `LineParser::parse` first lets
//! simd-json parse the line as it stands, then [`number_view`] rewrites the tape: each number
//! node becomes the `Array{len: 1}` + `String(token)` pair the pre-pass would have produced,
//! the token being read from the line itself at the offset simd-json's stage 1 recorded for it
//! (every number starts at a structural index), and the counts of the enclosing containers grow
//! to match. simd-json's `f64`/`u64` values are never used. When the direct parse fails, the
//! pre-pass path runs as before and gives the same reject as ever. The two paths accept the same
//! lines and produce equal tapes (tested below on both recordings and on hostile lines):
//! - a line valid as it stands stays valid with its numbers wrapped, and its number tokens are
//!   exactly its numbers, which simd-json validated with the pre-pass's grammar (no leading
//!   zero, digits around `.` and after `e`, a structural byte or whitespace after it);
//! - wrapping adds one nesting level at most, so the direct parse allows one level less than the
//!   pre-pass parse: anything that deep goes the pre-pass way and meets the same limit;
//! - an integer beyond `u64`/`i64` is an error for the direct parse, so it goes the pre-pass way
//!   too and stays text.
//!
//! Both passes reuse the buffers they are given. This module must never round a number through
//! `f64` (simd-json's own number values are never read), do I/O, log, or read the clock.

use simd_json::tape::Node;
use simd_json::{INPUT_PADDING, StaticNode};

use crate::tick::Reject;

/// Rewrites `raw`, the tape of `line` parsed as it stands, into `out`, the tape of its lossless
/// number view: every number node becomes a one-element array holding the number's source
/// text, found at the structural index of its first byte in `structurals` (simd-json's stage 1
/// output for `line`), and every container's node count grows by the nodes added inside it.
/// False when a number on the tape has no number start left in `line` to pair with (which a
/// successful parse rules out; the caller then takes the pre-pass path).
pub(super) fn number_view<'a>(
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
pub(super) fn lossless_number_view(line: &[u8], out: &mut Vec<u8>) -> Result<(), Reject> {
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

#[cfg(test)]
mod tests {
    use simd_json::{Buffers, Tape};

    use super::*;
    use crate::feed::native::NativeDecoder;

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
