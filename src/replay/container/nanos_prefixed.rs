//! [`Layout::NanosPrefixed`]: `<receive time, integer ns since the epoch> <payload>` lines, as
//! hftbacktest records Binance; and the strict integer parsing that cryptofeed's seconds build on.
//!
//! Place in the flow: called by the reader for each non-blank line of a file of this layout,
//! and by [`Layout::detect`] on lines of a file whose layout is not yet known.
//!
//! Must never accept a timestamp that is not plain digits fitting a `u64` (no sign, fraction
//! or exponent), or look into the payload.
//!
//! [`Layout::NanosPrefixed`]: super::Layout::NanosPrefixed
//! [`Layout::detect`]: super::Layout::detect

use memchr::memchr2;

use super::{LineReject, Outcome, skip_blanks};

/// [`Layout::NanosPrefixed`]: `<ns> <payload>`, separated by spaces or tabs.
///
/// [`Layout::NanosPrefixed`]: super::Layout::NanosPrefixed
pub(super) fn nanos_line(line: &[u8]) -> Outcome {
    let end = memchr2(b' ', b'\t', line).unwrap_or(line.len());
    let Some(rx) = parse_nanos(&line[..end]) else {
        return Outcome::Reject(LineReject::BadTimestamp);
    };
    let start = skip_blanks(line, end);
    if start == line.len() {
        return Outcome::Reject(LineReject::InvalidLine);
    }
    Outcome::Record {
        rx: Some(rx),
        start,
    }
}

/// An unsigned decimal integer: 1 or more ASCII digits, no sign, fitting a `u64`.
pub(super) fn parse_nanos(digits: &[u8]) -> Option<u64> {
    if digits.is_empty() {
        return None;
    }
    digits.iter().try_fold(0u64, |acc, &b| {
        if !b.is_ascii_digit() {
            return None;
        }
        acc.checked_mul(10)?.checked_add(u64::from(b - b'0'))
    })
}

#[cfg(test)]
mod tests {
    use std::time::Instant;

    use crate::replay::container::fixtures::BINANCE;
    use crate::replay::container::{Compression, Layout, LineReject, RecordReader, Skip};

    #[test]
    fn real_binance_recording() {
        let started = Instant::now();
        let mut reader = RecordReader::open(BINANCE).expect("open");
        assert_eq!(reader.compression(), Compression::Gzip);
        let total = reader.total_bytes().expect("a regular file has a size");
        assert_eq!(total, std::fs::metadata(BINANCE).expect("metadata").len());

        let (mut count, mut first_rx, mut trades, mut book_tickers) = (0u64, None, 0, 0);
        let mut readme_example = None;
        while let Some(next) = reader.next_record() {
            let record = next.expect("no bad line in the Binance recording");
            let rx = record.rx.expect("every line has a receive time");
            first_rx.get_or_insert(rx);
            count += 1;
            assert_eq!(record.line_no, count);
            assert!(record.payload.starts_with(b"{\""), "line {count}");
            assert!(record.payload.ends_with(b"}"), "line {count}");
            if memchr::memmem::find(record.payload, b"\"stream\":\"btcusdt@trade\"").is_some() {
                trades += 1;
            }
            if record
                .payload
                .starts_with(b"{\"stream\":\"btcusdt@bookTicker\"")
            {
                book_tickers += 1;
            }
            if rx == 1_723_161_254_087_896_568 {
                readme_example = Some(record.payload.to_vec());
            }
        }
        assert_eq!(count, 41_249);
        assert_eq!((trades, book_tickers), (9_757, 28_040));
        assert_eq!(first_rx, Some(1_723_161_253_937_085_768));
        assert_eq!(
            readme_example.as_deref(),
            Some(&br#"{"stream":"btcusdt@trade","data":{"e":"trade","E":1723161255343,"s":"BTCUSDT","t":3735683259,"p":"61837.63000000","q":"0.02000000","T":1723161255342,"m":true,"M":true}}"#[..])
        );
        assert_eq!(reader.layout(), Some(Layout::NanosPrefixed));
        assert_eq!(reader.records(), 41_249);
        assert_eq!(reader.lines(), 41_249);
        assert!(LineReject::ALL.iter().all(|&r| reader.rejected(r) == 0));
        assert!(Skip::ALL.iter().all(|&s| reader.skipped(s) == 0));
        assert_eq!(reader.bytes_read(), total);
        eprintln!("binance gzip: {:?}", started.elapsed());
    }
}
