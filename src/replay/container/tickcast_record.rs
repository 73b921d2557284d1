//! [`Layout::TickcastRecord`], both ways: [`write_record_line`] writes a line of tickcast's own
//! record format, [`RecordParser`] reads one back, with simd-json into reused buffers, as the
//! exact bytes received (the format is in the [module docs](super#the-tickcast-record-format)).
//! With them, the JSON-string escaping and the base64 the format needs.
//!
//! Place in the flow: `tickcast record` ([`crate::replay::record`]) writes each received line
//! with [`write_record_line`]; the reader parses each line of a file of this layout, and
//! [`Layout::detect`] tries lines starting with `{"rx":`.
//!
//! Must never change a byte of the line it carries, accept an ambiguous record (a repeated
//! key, both `line` and `line_b64`), or allocate per line once its buffers have grown.
//!
//! [`Layout::TickcastRecord`]: super::Layout::TickcastRecord
//! [`Layout::detect`]: super::Layout::detect

use simd_json::prelude::*;
use simd_json::tape::Value;
use simd_json::{Buffers, INPUT_PADDING, Tape};

/// Appends one line of the tickcast record format (see the
/// [module docs](super#the-tickcast-record-format)) to `out`, `\n` included: `rx` is the receive
/// time in ns since the epoch, `source` the feed source's name, `line` the raw line as received.
/// [`RecordReader`](super::RecordReader) gives `line` back byte for byte.
pub fn write_record_line(out: &mut Vec<u8>, rx: u64, source: &str, line: &[u8]) {
    out.extend_from_slice(b"{\"rx\":");
    out.extend_from_slice(itoa::Buffer::new().format(rx).as_bytes());
    out.extend_from_slice(b",\"src\":");
    push_json_string(out, source.as_bytes());
    if std::str::from_utf8(line).is_ok() {
        out.extend_from_slice(b",\"line\":");
        push_json_string(out, line);
    } else {
        out.extend_from_slice(b",\"line_b64\":\"");
        push_base64(out, line);
        out.push(b'"');
    }
    out.extend_from_slice(b"}\n");
}

/// Appends `text` (valid UTF-8) as a JSON string: quotes, backslashes and control characters
/// escaped, everything else as is.
fn push_json_string(out: &mut Vec<u8>, text: &[u8]) {
    const HEX: &[u8; 16] = b"0123456789abcdef";
    out.push(b'"');
    let mut plain_from = 0;
    for (i, &b) in text.iter().enumerate() {
        let escape: &[u8] = match b {
            b'"' => b"\\\"",
            b'\\' => b"\\\\",
            b'\n' => b"\\n",
            b'\r' => b"\\r",
            b'\t' => b"\\t",
            0x08 => b"\\b",
            0x0C => b"\\f",
            0x00..=0x1F => b"",
            _ => continue,
        };
        out.extend_from_slice(&text[plain_from..i]);
        plain_from = i + 1;
        if escape.is_empty() {
            out.extend_from_slice(b"\\u00");
            out.push(HEX[usize::from(b >> 4)]);
            out.push(HEX[usize::from(b & 0xF)]);
        } else {
            out.extend_from_slice(escape);
        }
    }
    out.extend_from_slice(&text[plain_from..]);
    out.push(b'"');
}

const BASE64: &[u8; 64] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";

/// Appends standard, padded base64 of `bytes` (RFC 4648 section 4).
fn push_base64(out: &mut Vec<u8>, bytes: &[u8]) {
    for chunk in bytes.chunks(3) {
        let b = [
            chunk[0],
            chunk.get(1).copied().unwrap_or(0),
            chunk.get(2).copied().unwrap_or(0),
        ];
        let n = u32::from(b[0]) << 16 | u32::from(b[1]) << 8 | u32::from(b[2]);
        let sextet = |shift: u32| BASE64[((n >> shift) & 0x3F) as usize];
        out.push(sextet(18));
        out.push(sextet(12));
        out.push(if chunk.len() > 1 { sextet(6) } else { b'=' });
        out.push(if chunk.len() > 2 { sextet(0) } else { b'=' });
    }
}

/// Decodes standard, padded base64 into `out` (cleared first); `None` on any invalid byte,
/// a length not a multiple of 4, or padding anywhere but at the end.
fn decode_base64(text: &[u8], out: &mut Vec<u8>) -> Option<()> {
    fn value(c: u8) -> Option<u32> {
        let v = match c {
            b'A'..=b'Z' => c - b'A',
            b'a'..=b'z' => c - b'a' + 26,
            b'0'..=b'9' => c - b'0' + 52,
            b'+' => 62,
            b'/' => 63,
            _ => return None,
        };
        Some(u32::from(v))
    }
    out.clear();
    if !text.len().is_multiple_of(4) {
        return None;
    }
    let quads = text.len() / 4;
    for (i, quad) in text.chunks_exact(4).enumerate() {
        let padding = if i + 1 == quads {
            quad.iter().rev().take_while(|&&c| c == b'=').count()
        } else {
            0
        };
        if padding > 2 {
            return None;
        }
        let mut n = 0u32;
        for &c in &quad[..4 - padding] {
            n = n << 6 | value(c)?;
        }
        n <<= 6 * padding as u32;
        let bytes = [(n >> 16) as u8, (n >> 8) as u8, n as u8];
        out.extend_from_slice(&bytes[..3 - padding]);
    }
    Some(())
}

/// What a record line holds besides its payload.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) struct RecordFields {
    pub(super) rx: u64,
    pub(super) has_source: bool,
}

/// Parses tickcast record lines with simd-json into reused buffers: after the first lines,
/// parsing allocates nothing.
pub(super) struct RecordParser {
    /// The line plus simd-json's padding; strings are unescaped in place here.
    scratch: Vec<u8>,
    /// simd-json's working buffers.
    buffers: Buffers,
    /// The tape's allocation, kept empty between lines. Its lifetime is `'static` only because
    /// it is empty: `Tape::reset` re-brands the emptied allocation after each line.
    tape: Tape<'static>,
    /// The last record's line (decoded from `line` or `line_b64`).
    pub(super) payload: Vec<u8>,
    /// The last record's `src`.
    pub(super) source: String,
}

impl RecordParser {
    pub(super) fn new() -> Self {
        Self {
            scratch: Vec::new(),
            buffers: Buffers::default(),
            tape: Tape(Vec::new()),
            payload: Vec::new(),
            source: String::new(),
        }
    }

    /// Parses one record line into `self.payload` and `self.source`; `None` when it is not a
    /// valid record.
    pub(super) fn parse(&mut self, line: &[u8]) -> Option<RecordFields> {
        self.scratch.clear();
        self.scratch.reserve(line.len() + INPUT_PADDING);
        self.scratch.extend_from_slice(line);
        self.scratch.resize(line.len() + INPUT_PADDING, 0);
        let mut tape = std::mem::replace(&mut self.tape, Tape(Vec::new()));
        let fields = match simd_json::fill_tape_padded(
            &mut self.scratch,
            line.len(),
            &mut self.buffers,
            &mut tape,
        ) {
            Ok(()) => read_record(tape.as_value(), &mut self.payload, &mut self.source),
            Err(_) => None,
        };
        // Empties the tape, ending its borrow of `scratch`, and keeps the allocation.
        self.tape = tape.reset();
        fields
    }
}

/// Reads a parsed record object: `rx` and the line are required, `src` optional, other keys
/// ignored; a repeated key, or both `line` and `line_b64`, is ambiguous and refused.
fn read_record(
    root: Value<'_, '_>,
    payload: &mut Vec<u8>,
    source: &mut String,
) -> Option<RecordFields> {
    let object = root.as_object()?;
    let mut rx = None;
    let mut has_source = false;
    let mut has_line = false;
    for (key, value) in object.iter() {
        match key {
            // A negative, fractional or exponent `rx` is not a `u64` on the tape.
            "rx" if rx.is_none() => rx = Some(value.as_u64()?),
            "src" if !has_source => {
                source.clear();
                source.push_str(value.into_string()?);
                has_source = true;
            }
            "line" if !has_line => {
                payload.clear();
                payload.extend_from_slice(value.into_string()?.as_bytes());
                has_line = true;
            }
            "line_b64" if !has_line => {
                decode_base64(value.into_string()?.as_bytes(), payload)?;
                has_line = true;
            }
            "rx" | "src" | "line" | "line_b64" => return None,
            _ => {}
        }
    }
    Some(RecordFields {
        rx: rx?,
        has_source,
    })
    .filter(|_| has_line)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::replay::container::fixtures::{
        COINBASE, Item, TempFile, gzip, read_bytes, record, zstd,
    };
    use crate::replay::container::{Layout, LineReject, ReadOptions, RecordReader};

    #[test]
    fn record_format_round_trips_any_bytes() {
        let lines: [&[u8]; 9] = [
            br#"{"stream":"btcusdt@trade","data":{"p":"61837.63000000"}}"#,
            b"",
            b"quotes \" backslash \\ slash / tab \t cr \r lf \n nul \x00 esc \x1B del \x7F",
            "unicode é 中 🦀 \u{2028}".as_bytes(),
            b"\xFF\xFE not UTF-8 \xC3\x28",
            b"\x80",
            b"ab",
            b"abc",
            &[0u8, 1, 2, 253, 254, 255, b'\n', b'\r'],
        ];
        let mut file = Vec::new();
        for (i, line) in lines.iter().enumerate() {
            write_record_line(&mut file, 1_000 + i as u64, "binance:ws\"1\"", line);
        }
        // Every written line is one JSON object on one line.
        assert_eq!(memchr::memchr_iter(b'\n', &file).count(), lines.len());
        for line in file.split(|&b| b == b'\n').filter(|l| !l.is_empty()) {
            serde_json::from_slice::<serde_json::Value>(line).expect("valid JSON");
            assert_eq!(Layout::detect(line), Some(Layout::TickcastRecord));
        }
        for bytes in [file.clone(), zstd(&file), gzip(&file)] {
            let (items, reader) = read_bytes(&bytes, ReadOptions::default());
            assert_eq!(reader.layout(), Some(Layout::TickcastRecord));
            let expected: Vec<Item> = lines
                .iter()
                .enumerate()
                .map(|(i, line)| Item::Record {
                    line_no: i as u64 + 1,
                    rx: Some(1_000 + i as u64),
                    source: Some("binance:ws\"1\"".to_owned()),
                    payload: line.to_vec(),
                })
                .collect();
            assert_eq!(items, expected);
        }
        assert!(file.windows(10).any(|w| w == b"\"line_b64\""));
    }

    #[test]
    fn real_lines_round_trip_through_the_record_format() {
        let capture = std::fs::read(COINBASE).expect("coinbase capture");
        let mut recording = Vec::new();
        let mut original = RecordReader::open(COINBASE).expect("open");
        while let Some(next) = original.next_record() {
            let record = next.expect("no bad line");
            write_record_line(
                &mut recording,
                record.rx.unwrap_or(0),
                "coinbase",
                record.payload,
            );
        }
        let file = TempFile::with("coinbase.jsonl.zst", &zstd(&recording));
        let mut replayed = RecordReader::open(&file.0).expect("open");
        let mut original = RecordReader::open(COINBASE).expect("open");
        let mut count = 0;
        while let Some(next) = original.next_record() {
            let want = next.expect("no bad line");
            let (rx, payload) = (want.rx, want.payload.to_vec());
            let got = replayed
                .next_record()
                .expect("as many records")
                .expect("no bad line");
            assert_eq!(
                (got.rx, got.source, got.payload),
                (rx, Some("coinbase"), &payload[..])
            );
            count += 1;
        }
        assert!(replayed.next_record().is_none());
        assert_eq!(count, 9_946);
        assert!(recording.len() > capture.len(), "escaping adds bytes");
    }

    #[test]
    fn bad_record_lines_are_rejected() {
        let input = concat!(
            "{\"rx\":1,\"src\":\"s\",\"line\":\"ok\"}\n",
            "{\"rx\":2,\"src\":\"s\"}\n",
            "{\"src\":\"s\",\"line\":\"no rx\"}\n",
            "{\"rx\":-3,\"line\":\"x\"}\n",
            "{\"rx\":4.5,\"line\":\"x\"}\n",
            "{\"rx\":5,\"rx\":5,\"line\":\"x\"}\n",
            "{\"rx\":6,\"line\":\"x\",\"line_b64\":\"eA==\"}\n",
            "{\"rx\":7,\"line_b64\":\"e===\"}\n",
            "{\"rx\":8,\"line_b64\":\"eA=\"}\n",
            "{\"rx\":9,\"line\":\"x\"} trailing\n",
            "{\"rx\":10,\"line\":\"x\"\n",
            "{\"rx\":11,\"line\":7}\n",
            "[1]\n",
            "{\"line\":\"any order\",\"future\":[1,{\"k\":null}],\"rx\":12}\n",
            "{\"rx\":13,\"line_b64\":\"\"}\n",
            "{\"rx\":18446744073709551616,\"line\":\"x\"}\n",
            "{\"rx\":1e3,\"line\":\"x\"}\n",
            "{\"rx\":\"17\",\"line\":\"x\"}\n",
            "{\"rx\":null,\"line\":\"x\"}\n",
            "{\"rx\":19,\"src\":5,\"line\":\"x\"}\n",
            "{\"rx\":20,\"line\":\"\\ud83e\\udd80 \\u00e9 \\/\"}\n",
            "{\"rx\":18446744073709551615,\"line\":\"x\\ty\"}\n",
        );
        let (items, reader) = read_bytes(input.as_bytes(), ReadOptions::default());
        let mut expected = vec![Item::Record {
            line_no: 1,
            rx: Some(1),
            source: Some("s".to_owned()),
            payload: b"ok".to_vec(),
        }];
        expected.extend((2..=13).map(|n| Item::Rejected(n, LineReject::BadRecord)));
        expected.push(record(14, Some(12), "any order"));
        expected.push(record(15, Some(13), ""));
        expected.extend((16..=20).map(|n| Item::Rejected(n, LineReject::BadRecord)));
        expected.push(record(21, Some(20), "🦀 é /"));
        expected.push(record(22, Some(u64::MAX), "x\ty"));
        assert_eq!(items, expected);
        assert_eq!(reader.rejected(LineReject::BadRecord), 17);
    }

    #[test]
    fn base64_vectors() {
        // RFC 4648 section 10.
        for (plain, encoded) in [
            ("", ""),
            ("f", "Zg=="),
            ("fo", "Zm8="),
            ("foo", "Zm9v"),
            ("foob", "Zm9vYg=="),
            ("fooba", "Zm9vYmE="),
            ("foobar", "Zm9vYmFy"),
        ] {
            let mut out = Vec::new();
            push_base64(&mut out, plain.as_bytes());
            assert_eq!(out, encoded.as_bytes());
            let mut back = Vec::new();
            assert_eq!(decode_base64(encoded.as_bytes(), &mut back), Some(()));
            assert_eq!(back, plain.as_bytes());
        }
        let all: Vec<u8> = (0..=255).collect();
        let mut encoded = Vec::new();
        push_base64(&mut encoded, &all);
        let mut back = Vec::new();
        assert_eq!(decode_base64(&encoded, &mut back), Some(()));
        assert_eq!(back, all);
        for bad in ["Zg=", "Z===", "Zg==Zg==", "Zm9v!A==", "Zm 9", "===="] {
            assert_eq!(decode_base64(bad.as_bytes(), &mut back), None, "{bad}");
        }
    }
}
