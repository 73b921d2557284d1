//! [`Layout::CryptofeedText`]: cryptofeed's text capture, `<receive time, seconds as a
//! decimal>: <payload>`, with its connection headers and sent frames skipped.
//!
//! Place in the flow: called by the reader for each non-blank line of a file of this layout,
//! and by [`Layout::detect`] on lines of a file whose layout is not yet known.
//!
//! Must never read the seconds through a float (it would round), deliver a frame the client
//! sent, or look into the payload.
//!
//! [`Layout::CryptofeedText`]: super::Layout::CryptofeedText
//! [`Layout::detect`]: super::Layout::detect

use memchr::memchr;

use super::nanos_prefixed::parse_nanos;
use super::{LineReject, Outcome, Skip, skip_blanks};

/// [`Layout::CryptofeedText`]: `<seconds>: <payload>`, or a header or sent frame to skip.
///
/// [`Layout::CryptofeedText`]: super::Layout::CryptofeedText
pub(super) fn cryptofeed_line(line: &[u8]) -> Outcome {
    if line.starts_with(b"wss://") || line.starts_with(b"ws://") {
        // `<url> <-> <connect time>` or `<url> <- <time>: <sent frame>`; a URL has no spaces.
        let after_url = match memchr(b' ', line) {
            Some(space) => &line[space + 1..],
            None => return Outcome::Reject(LineReject::InvalidLine),
        };
        return if after_url.starts_with(b"<-> ") {
            Outcome::Skip(Skip::Header)
        } else if after_url.starts_with(b"<- ") {
            Outcome::Skip(Skip::SentFrame)
        } else {
            Outcome::Reject(LineReject::InvalidLine)
        };
    }
    let Some(colon) = memchr(b':', line) else {
        return Outcome::Reject(LineReject::BadTimestamp);
    };
    let Some(rx) = parse_seconds(&line[..colon]) else {
        return Outcome::Reject(LineReject::BadTimestamp);
    };
    let start = skip_blanks(line, colon + 1);
    if start == line.len() {
        return Outcome::Reject(LineReject::InvalidLine);
    }
    Outcome::Record {
        rx: Some(rx),
        start,
    }
}

/// Seconds since the epoch as decimal text (`1618677817.061845`), to ns, exactly: the integer
/// and fraction digits are read as integers, never through a float, which would round
/// (`1618677817.061845` is `1618677817.0618450641...` as an f64). Digits beyond the ninth
/// decimal are below a nanosecond and truncated. A `.` needs at least one digit after it.
fn parse_seconds(text: &[u8]) -> Option<u64> {
    let (whole, fraction) = match memchr(b'.', text) {
        Some(dot) => (&text[..dot], Some(&text[dot + 1..])),
        None => (text, None),
    };
    let seconds = parse_nanos(whole)?;
    let mut nanos = 0u64;
    if let Some(fraction) = fraction {
        if fraction.is_empty() || !fraction.iter().all(u8::is_ascii_digit) {
            return None;
        }
        for i in 0..9 {
            let digit = fraction.get(i).map_or(0, |&b| u64::from(b - b'0'));
            nanos = nanos * 10 + digit;
        }
    }
    seconds.checked_mul(1_000_000_000)?.checked_add(nanos)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::replay::container::fixtures::{COINBASE, Item, drain};
    use crate::replay::container::{Compression, Layout, LineReject, RecordReader};

    #[test]
    fn real_coinbase_capture() {
        let mut reader = RecordReader::open(COINBASE).expect("open");
        assert_eq!(reader.compression(), Compression::Plain);
        let items = drain(&mut reader);
        assert_eq!(reader.layout(), Some(Layout::CryptofeedText));
        assert_eq!(items.len(), 9_946);
        assert_eq!(reader.records(), 9_946);
        assert_eq!(reader.skipped(Skip::Header), 1);
        assert_eq!(reader.skipped(Skip::SentFrame), 3);
        assert_eq!(reader.skipped(Skip::Blank), 2);
        assert!(LineReject::ALL.iter().all(|&r| reader.rejected(r) == 0));
        assert_eq!(reader.lines(), 9_952);
        assert_eq!(reader.bytes_read(), reader.total_bytes().expect("size"));

        let Item::Record {
            line_no,
            rx,
            payload,
            ..
        } = &items[0]
        else {
            panic!("{:?}", items[0]);
        };
        // Lines 1-4 are the header and three sent frames: `1618677817.061845: {...}` is line 5.
        assert_eq!((*line_no, *rx), (5, Some(1_618_677_817_061_845_000)));
        assert!(payload.starts_with(br#"{"type":"subscriptions","channels":[{"name":"level2""#));
        // `1618677817.0618958`: seven decimals, exact (an f64 would give ...061895799).
        assert!(matches!(
            items[1],
            Item::Record {
                line_no: 6,
                rx: Some(1_618_677_817_061_895_800),
                ..
            }
        ));
        let Some(Item::Record {
            line_no, payload, ..
        }) = items.last()
        else {
            panic!("last item");
        };
        assert_eq!(*line_no, 9_950);
        assert!(payload.ends_with(br#""time":"2021-04-17T16:44:07.859760Z"}"#));
        let kinds = |kind: &[u8]| {
            items
                .iter()
                .filter(|item| {
                    matches!(item, Item::Record { payload, .. } if memchr::memmem::find(payload, kind).is_some())
                })
                .count()
        };
        assert_eq!(kinds(br#""type":"l2update""#), 9_719);
        assert_eq!(kinds(br#""type":"match""#), 97);
    }

    #[test]
    fn seconds_convert_exactly() {
        let ns = |text: &str| parse_seconds(text.as_bytes());
        assert_eq!(ns("1618677817.061845"), Some(1_618_677_817_061_845_000));
        assert_eq!(ns("1618677816.8434298"), Some(1_618_677_816_843_429_800));
        assert_eq!(ns("1618677817"), Some(1_618_677_817_000_000_000));
        assert_eq!(ns("0.000000001"), Some(1));
        assert_eq!(ns("0.0000000009"), Some(0));
        assert_eq!(ns("18446744073.709551615"), Some(u64::MAX));
        for bad in [
            "",
            ".5",
            "1.",
            "1.5.",
            "+1",
            "-1",
            "1e9",
            "1.5e3",
            " 1",
            "1 ",
            "nan",
            "inf",
            "18446744074",
        ] {
            assert_eq!(ns(bad), None, "{bad:?}");
        }
        assert_eq!(parse_nanos(b"18446744073709551615"), Some(u64::MAX));
        assert_eq!(parse_nanos(b"18446744073709551616"), None);
        assert_eq!(parse_nanos(b"0"), Some(0));
        assert_eq!(parse_nanos(b""), None);
    }
}
