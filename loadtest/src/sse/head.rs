//! The head of an HTTP/1.1 response: status line and the headers that decide how to read on.
//!
//! Sans-IO: [`HeadParser::feed`] takes whatever bytes arrived and says how many of them belonged
//! to the head once the blank line is in. Heads are small and read once per connection, so the
//! parser copies them into its own buffer (bounded by [`MAX_HEAD`]); nothing after the head is
//! copied.

use memchr::memmem;

/// Largest response head accepted. A longer one is a broken or hostile server, not something to
/// keep buffering.
pub const MAX_HEAD: usize = 16 * 1024;

/// Why a response head could not be read.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum HeadError {
    /// No blank line within [`MAX_HEAD`] bytes.
    #[error("response head longer than {MAX_HEAD} bytes")]
    TooLong,
    /// The status line is not `HTTP/1.x NNN ...`.
    #[error("malformed status line")]
    StatusLine,
    /// A header line has no colon, or `Content-Length` is not a number.
    #[error("malformed header line")]
    Header,
}

/// How the body after a head is delimited (RFC 9112 section 6.3, for responses to `GET`/`POST`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Framing {
    /// `Transfer-Encoding: chunked` (tickcast).
    Chunked,
    /// `Content-Length` bytes (nchan's publish answers).
    Length(u64),
    /// Until the server closes the connection (nchan's event streams).
    UntilClose,
}

/// What the load tester needs from a response head.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Head {
    /// Status code.
    pub status: u16,
    /// How the body is delimited.
    pub framing: Framing,
    /// Whether the server will close the connection after this response (`Connection: close`
    /// or HTTP/1.0 without keep-alive).
    pub close: bool,
}

/// Accumulates bytes until the blank line that ends a response head.
#[derive(Debug, Default)]
pub struct HeadParser {
    buf: Vec<u8>,
}

impl HeadParser {
    /// A parser waiting for the first byte.
    pub fn new() -> Self {
        Self::default()
    }

    /// Takes the next bytes of the response. Returns the head and how many bytes of `input` it
    /// used once the head is complete (the rest of `input` is body), or `None` when more bytes
    /// are needed.
    pub fn feed(&mut self, input: &[u8]) -> Result<Option<(Head, usize)>, HeadError> {
        let before = self.buf.len();
        // The terminator may straddle the previous input and this one.
        let search_from = before.saturating_sub(3);
        let take = input.len().min((MAX_HEAD + 4).saturating_sub(before));
        self.buf.extend_from_slice(&input[..take]);
        match memmem::find(&self.buf[search_from..], b"\r\n\r\n") {
            Some(at) => {
                let end = search_from + at + 4;
                let head = parse(&self.buf[..end - 4])?;
                self.buf.clear();
                Ok(Some((head, end - before)))
            }
            None if self.buf.len() > MAX_HEAD => Err(HeadError::TooLong),
            None => Ok(None),
        }
    }
}

/// Parses the status line and headers (without the final blank line).
fn parse(head: &[u8]) -> Result<Head, HeadError> {
    let mut lines = head.split(|&b| b == b'\n').map(trim_cr);
    let status_line = lines.next().ok_or(HeadError::StatusLine)?;
    let (version, status) = status_line
        .strip_prefix(b"HTTP/1.")
        .and_then(|rest| Some((*rest.first()?, rest.get(2..5)?)))
        .ok_or(HeadError::StatusLine)?;
    let status = parse_u64(status)
        .and_then(|code| u16::try_from(code).ok())
        .ok_or(HeadError::StatusLine)?;
    let mut chunked = false;
    let mut length = None;
    let mut close = version == b'0';
    for line in lines {
        let colon = memchr::memchr(b':', line).ok_or(HeadError::Header)?;
        let name = &line[..colon];
        let value = line[colon + 1..].trim_ascii();
        if name.eq_ignore_ascii_case(b"transfer-encoding") {
            chunked = contains_token(value, b"chunked");
        } else if name.eq_ignore_ascii_case(b"content-length") {
            length = Some(parse_u64(value).ok_or(HeadError::Header)?);
        } else if name.eq_ignore_ascii_case(b"connection") {
            if contains_token(value, b"close") {
                close = true;
            } else if contains_token(value, b"keep-alive") {
                close = false;
            }
        }
    }
    let framing = match (chunked, length) {
        (true, _) => Framing::Chunked,
        (false, Some(length)) => Framing::Length(length),
        (false, None) => Framing::UntilClose,
    };
    Ok(Head {
        status,
        framing,
        close,
    })
}

fn trim_cr(line: &[u8]) -> &[u8] {
    line.strip_suffix(b"\r").unwrap_or(line)
}

/// Whether a comma-separated header value lists `token` (case-insensitive).
fn contains_token(value: &[u8], token: &[u8]) -> bool {
    value
        .split(|&b| b == b',')
        .any(|item| item.trim_ascii().eq_ignore_ascii_case(token))
}

/// A non-empty run of ASCII digits as a number (no sign, no overflow).
pub(crate) fn parse_u64(digits: &[u8]) -> Option<u64> {
    if digits.is_empty() || digits.len() > 19 {
        return None;
    }
    digits.iter().try_fold(0u64, |acc, &b| {
        b.is_ascii_digit().then(|| acc * 10 + u64::from(b - b'0'))
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    const TICKCAST: &[u8] = b"HTTP/1.1 200 OK\r\ncontent-type: text/event-stream\r\n\
        cache-control: no-cache\r\ntransfer-encoding: chunked\r\n\r\nc\r\nretry: 2000\n\r\n";

    #[test]
    fn whole_head_in_one_piece() {
        let mut parser = HeadParser::new();
        let (head, used) = parser.feed(TICKCAST).unwrap().unwrap();
        assert_eq!(head.status, 200);
        assert_eq!(head.framing, Framing::Chunked);
        assert!(!head.close);
        assert_eq!(&TICKCAST[used..], b"c\r\nretry: 2000\n\r\n");
    }

    #[test]
    fn head_split_at_every_byte() {
        for split in 1..TICKCAST.len() {
            let mut parser = HeadParser::new();
            let (first, second) = TICKCAST.split_at(split);
            let (head, rest) = match parser.feed(first).unwrap() {
                Some((head, used)) => (head, [&first[used..], second].concat()),
                None => {
                    let (head, used) = parser.feed(second).unwrap().expect("complete");
                    (head, second[used..].to_vec())
                }
            };
            assert_eq!(head.framing, Framing::Chunked, "split at {split}");
            assert_eq!(rest, b"c\r\nretry: 2000\n\r\n", "split at {split}");
        }
    }

    #[test]
    fn nchan_stream_runs_until_close_and_publish_answer_has_a_length() {
        let stream =
            b"HTTP/1.1 200 OK\r\nServer: nginx/1.22.1\r\nContent-Type: text/event-stream; \
            charset=utf-8\r\nConnection: keep-alive\r\nCache-Control: no-cache\r\n\r\n";
        let (head, _) = HeadParser::new().feed(stream).unwrap().unwrap();
        assert_eq!(head.framing, Framing::UntilClose);
        let publish = b"HTTP/1.1 202 Accepted\r\nContent-Length: 100\r\n\r\n";
        let (head, _) = HeadParser::new().feed(publish).unwrap().unwrap();
        assert_eq!((head.status, head.framing), (202, Framing::Length(100)));
    }

    #[test]
    fn errors() {
        assert_eq!(
            HeadParser::new().feed(b"SSH-2.0\r\n\r\n"),
            Err(HeadError::StatusLine)
        );
        assert_eq!(
            HeadParser::new().feed(b"HTTP/1.1 200 OK\r\nno colon\r\n\r\n"),
            Err(HeadError::Header)
        );
        let mut parser = HeadParser::new();
        let junk = vec![b'a'; 4096];
        let mut outcome = Ok(None);
        for _ in 0..5 {
            outcome = parser.feed(&junk);
        }
        assert_eq!(outcome, Err(HeadError::TooLong));
        let (head, _) = HeadParser::new()
            .feed(b"HTTP/1.0 400 Bad Request\r\nContent-Length: 2\r\n\r\n{}")
            .unwrap()
            .unwrap();
        assert_eq!(head.status, 400);
        assert!(head.close);
    }
}
