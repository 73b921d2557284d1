//! The chunked transfer coding (RFC 9112 section 7.1), decoded incrementally without copying.
//!
//! tickcast writes each batch of frames as one chunk; a read from the socket may end anywhere in
//! a chunk-size line, in the data or in the CRLF after it. [`ChunkedDecoder::feed`] keeps just
//! enough state (a `State`) to resume at any byte, and hands out the data as sub-slices of the
//! input.

/// Most hex digits accepted in a chunk size (2^64 - 1 has 16).
const MAX_SIZE_DIGITS: u8 = 16;

/// Why a chunked body is malformed.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum ChunkedError {
    /// A chunk-size line that does not start with hex digits, or has too many.
    #[error("bad chunk size")]
    Size,
    /// Chunk data not followed by CRLF.
    #[error("chunk data not followed by CRLF")]
    MissingCrlf,
}

/// Where the decoder stands between two inputs.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum State {
    /// In a chunk-size line: the digits so far, whether an extension (`;...`) or whitespace
    /// has started, and the digit count.
    Size { value: u64, digits: u8, tail: bool },
    /// After the CR of a chunk-size line.
    SizeLf { value: u64, digits: u8 },
    /// Inside chunk data, this many bytes to go.
    Data(u64),
    /// After chunk data, expecting CR.
    DataCr,
    /// After chunk data and CR, expecting LF.
    DataLf,
    /// In the trailer section; `empty` while the current line has no bytes yet.
    Trailer { empty: bool },
    /// The last chunk and the trailer are through: the body is complete.
    Done,
}

/// Decodes a chunked body incrementally.
#[derive(Debug, Clone)]
pub struct ChunkedDecoder {
    state: State,
}

impl Default for ChunkedDecoder {
    fn default() -> Self {
        Self::new()
    }
}

impl ChunkedDecoder {
    /// A decoder at the start of a body.
    pub fn new() -> Self {
        Self {
            state: State::Size {
                value: 0,
                digits: 0,
                tail: false,
            },
        }
    }

    /// Whether the terminating zero-size chunk (and trailer) has been read.
    pub fn is_done(&self) -> bool {
        self.state == State::Done
    }

    /// Decodes `input`, passing each run of body data to `data`. Returns how many bytes of
    /// `input` belonged to the body (all of them unless the body ended inside `input`).
    pub fn feed(
        &mut self,
        input: &[u8],
        data: &mut impl FnMut(&[u8]),
    ) -> Result<usize, ChunkedError> {
        let mut at = 0;
        while at < input.len() {
            match self.state {
                State::Data(remaining) => {
                    let available = (input.len() - at) as u64;
                    let take = remaining.min(available) as usize;
                    data(&input[at..at + take]);
                    at += take;
                    let remaining = remaining - take as u64;
                    self.state = if remaining == 0 {
                        State::DataCr
                    } else {
                        State::Data(remaining)
                    };
                }
                State::Done => return Ok(at),
                state => {
                    self.state = step(state, input[at])?;
                    at += 1;
                }
            }
        }
        Ok(at)
    }
}

/// One byte of framing (everything except chunk data).
fn step(state: State, byte: u8) -> Result<State, ChunkedError> {
    Ok(match state {
        State::Size {
            value,
            digits,
            tail,
        } => match byte {
            b'\r' => State::SizeLf { value, digits },
            b'\n' => size_done(value, digits)?,
            _ if tail => state,
            b';' | b' ' | b'\t' if digits > 0 => State::Size {
                value,
                digits,
                tail: true,
            },
            _ => {
                let digit = (byte as char).to_digit(16).ok_or(ChunkedError::Size)?;
                if digits == MAX_SIZE_DIGITS {
                    return Err(ChunkedError::Size);
                }
                State::Size {
                    value: value << 4 | u64::from(digit),
                    digits: digits + 1,
                    tail: false,
                }
            }
        },
        State::SizeLf { value, digits } => match byte {
            b'\n' => size_done(value, digits)?,
            _ => return Err(ChunkedError::Size),
        },
        State::DataCr => match byte {
            b'\r' => State::DataLf,
            // Tolerate a bare LF, as most clients do.
            b'\n' => State::Size {
                value: 0,
                digits: 0,
                tail: false,
            },
            _ => return Err(ChunkedError::MissingCrlf),
        },
        State::DataLf => match byte {
            b'\n' => State::Size {
                value: 0,
                digits: 0,
                tail: false,
            },
            _ => return Err(ChunkedError::MissingCrlf),
        },
        State::Trailer { empty } => match byte {
            b'\n' if empty => State::Done,
            b'\n' => State::Trailer { empty: true },
            b'\r' => State::Trailer { empty },
            _ => State::Trailer { empty: false },
        },
        State::Data(_) | State::Done => state,
    })
}

/// The chunk-size line is complete.
fn size_done(value: u64, digits: u8) -> Result<State, ChunkedError> {
    if digits == 0 {
        Err(ChunkedError::Size)
    } else if value == 0 {
        Ok(State::Trailer { empty: true })
    } else {
        Ok(State::Data(value))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn decode_in_pieces(body: &[u8], split: &[usize]) -> Result<(Vec<u8>, bool), ChunkedError> {
        let mut decoder = ChunkedDecoder::new();
        let mut out = Vec::new();
        let mut start = 0;
        for &end in split.iter().chain(std::iter::once(&body.len())) {
            decoder.feed(&body[start..end], &mut |d| out.extend_from_slice(d))?;
            start = end;
        }
        Ok((out, decoder.is_done()))
    }

    const BODY: &[u8] =
        b"c\r\nretry: 2000\n\r\n1c;ext=1\r\nid: 7\nevent: tick\ndata: {}\n\n\r\n0\r\nX-T: 1\r\n\r\n";

    #[test]
    fn decodes_at_every_split_point() {
        let expected = b"retry: 2000\nid: 7\nevent: tick\ndata: {}\n\n".to_vec();
        for a in 0..=BODY.len() {
            for b in a..=BODY.len() {
                let (out, done) = decode_in_pieces(BODY, &[a, b]).unwrap();
                assert_eq!(out, expected, "split at {a}, {b}");
                assert!(done);
            }
        }
    }

    #[test]
    fn reports_where_the_body_ends() {
        let mut decoder = ChunkedDecoder::new();
        let input = b"3\r\nabc\r\n0\r\n\r\nHTTP/1.1 ...";
        let used = decoder.feed(input, &mut |_| {}).unwrap();
        assert_eq!(&input[used..], b"HTTP/1.1 ...");
    }

    #[test]
    fn large_chunk_sizes_and_errors() {
        let mut decoder = ChunkedDecoder::new();
        let mut total = 0;
        decoder.feed(b"FFFF\r\n", &mut |_| {}).unwrap();
        decoder
            .feed(&vec![b'x'; 70_000], &mut |d| total += d.len())
            .unwrap_err();
        assert_eq!(total, 0xFFFF);
        assert_eq!(
            ChunkedDecoder::new().feed(b"zz\r\n", &mut |_| {}),
            Err(ChunkedError::Size)
        );
        assert_eq!(
            ChunkedDecoder::new().feed(b"\r\n", &mut |_| {}),
            Err(ChunkedError::Size)
        );
        assert_eq!(
            ChunkedDecoder::new().feed(b"11111111111111111\r\n", &mut |_| {}),
            Err(ChunkedError::Size)
        );
        assert_eq!(
            ChunkedDecoder::new().feed(b"1\r\nab", &mut |_| {}),
            Err(ChunkedError::MissingCrlf)
        );
    }
}
