//! Newline framing of a feed byte stream, with a bound on line length: [`LineFramer`].
//!
//! The TCP feed task owns one framer per connection. It reads into [`LineFramer::buffer_mut`]
//! (with tokio's `AsyncReadExt::read_buf`), then drains [`LineFramer::next_line`] until `None`
//! and hands each line to a decoder; at end of stream it drains [`LineFramer::finish`]. Lines
//! are borrowed from the framer's buffer, so framing allocates nothing per line.
//!
//! Invariants: a line never includes its `\n` (nor a `\r` before it); empty lines are skipped;
//! a line longer than `max_len` bytes is reported once as [`Reject::LineTooLong`] and its bytes
//! are then dropped as they arrive, never buffered. The buffer's capacity therefore stays below
//! `2 * (max_len + READ_CHUNK)`, however long a hostile line is.
//!
//! This module must never do I/O, decode JSON or log: it only cuts bytes into lines.

use std::fmt;

use bytes::BytesMut;
use memchr::memchr;

use crate::tick::Reject;

/// Free space guaranteed for each read. 16 KiB takes about 150 typical 100-byte ticks per
/// `read` syscall, and bounds the lines a single wake-up decodes, without holding a large buffer
/// per connection.
pub const READ_CHUNK: usize = 16 * 1024;

/// Cuts a byte stream into lines of at most `max_len` bytes (terminators excluded).
pub struct LineFramer {
    /// Bytes read and not yet compacted away. `buf[consumed..]` is not yet framed.
    buf: BytesMut,
    /// Start of the first byte not yet returned as (or discarded with) a line. Lines are borrowed
    /// from `buf`, so consumed bytes are removed lazily, in `buffer_mut`, before the next read.
    consumed: usize,
    /// Bytes of `buf` before this index hold no `\n` in the pending line: not rescanned after
    /// a read that ended mid-line.
    scanned: usize,
    /// Inside an over-long line that was already reported: drop bytes up to the next `\n`.
    discarding: bool,
    /// Longest accepted line, in bytes, without its `\n` or `\r\n`.
    max_len: usize,
}

impl LineFramer {
    /// A framer for lines of at most `max_len` bytes.
    pub fn new(max_len: usize) -> Self {
        Self {
            buf: BytesMut::with_capacity(READ_CHUNK),
            consumed: 0,
            scanned: 0,
            discarding: false,
            max_len,
        }
    }

    /// The buffer to read into, with at least [`READ_CHUNK`] bytes free.
    ///
    /// Call it before every read, after draining [`LineFramer::next_line`] to `None`: it first
    /// removes the lines already returned, so the buffer holds at most one partial line.
    pub fn buffer_mut(&mut self) -> &mut BytesMut {
        if self.consumed > 0 {
            // Move the partial line (at most `max_len + 1` bytes once drained) to the front,
            // instead of `advance`, so the buffer stays at offset 0 and `reserve` below only
            // grows it when that partial line plus a read truly does not fit.
            let len = self.buf.len();
            self.buf.copy_within(self.consumed..len, 0);
            self.buf.truncate(len - self.consumed);
            self.scanned -= self.consumed;
            self.consumed = 0;
        }
        if self.buf.capacity() - self.buf.len() < READ_CHUNK {
            self.buf.reserve(READ_CHUNK);
        }
        &mut self.buf
    }

    /// The next complete line, `Err(LineTooLong)` once per over-long line, or `None` when more
    /// bytes are needed.
    pub fn next_line(&mut self) -> Option<Result<&[u8], Reject>> {
        self.frame(false)
    }

    /// Like [`LineFramer::next_line`] at end of stream: the last line may lack its `\n`. Drain
    /// it to `None` once the reader has returned 0.
    pub fn finish(&mut self) -> Option<Result<&[u8], Reject>> {
        self.frame(true)
    }

    /// Shared by `next_line` and `finish`: at end of stream, the bytes after the last `\n` are
    /// a line too.
    fn frame(&mut self, at_eof: bool) -> Option<Result<&[u8], Reject>> {
        loop {
            let newline = memchr(b'\n', &self.buf[self.scanned..]).map(|i| self.scanned + i);
            if self.discarding {
                match newline {
                    Some(nl) => {
                        self.discarding = false;
                        self.consumed = nl + 1;
                        self.scanned = nl + 1;
                        continue;
                    }
                    None => {
                        // Everything buffered belongs to the over-long line: drop it now so
                        // `buffer_mut` reclaims the space before the next read.
                        self.consumed = self.buf.len();
                        self.scanned = self.buf.len();
                        return None;
                    }
                }
            }

            let start = self.consumed;
            let end = match newline {
                Some(nl) => {
                    self.consumed = nl + 1;
                    self.scanned = nl + 1;
                    nl
                }
                None if at_eof => {
                    self.consumed = self.buf.len();
                    self.scanned = self.buf.len();
                    self.buf.len()
                }
                None => {
                    self.scanned = self.buf.len();
                    let pending = self.buf.len() - start;
                    // One byte of slack when the pending bytes end in `\r`: it may be the first
                    // half of a `\r\n`, which does not count toward the length.
                    let allowed = if self.buf.last() == Some(&b'\r') {
                        self.max_len + 1
                    } else {
                        self.max_len
                    };
                    if pending <= allowed {
                        return None;
                    }
                    self.discarding = true;
                    self.consumed = self.buf.len();
                    return Some(Err(Reject::LineTooLong));
                }
            };
            let end = if end > start && self.buf[end - 1] == b'\r' {
                end - 1
            } else {
                end
            };
            if end - start > self.max_len {
                return Some(Err(Reject::LineTooLong));
            }
            if end == start {
                if at_eof && newline.is_none() {
                    return None;
                }
                continue;
            }
            return Some(Ok(&self.buf[start..end]));
        }
    }
}

impl fmt::Debug for LineFramer {
    // Sizes only: the buffered bytes come from the network and may be huge or hostile.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("LineFramer")
            .field("buffered", &(self.buf.len() - self.consumed))
            .field("capacity", &self.buf.capacity())
            .field("discarding", &self.discarding)
            .field("max_len", &self.max_len)
            .finish()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Appends `data` as a socket read would: at most the free capacity per read.
    fn read_into(framer: &mut LineFramer, mut data: &[u8], out: &mut Vec<Result<Vec<u8>, Reject>>) {
        while !data.is_empty() {
            let buf = framer.buffer_mut();
            let n = (buf.capacity() - buf.len()).min(data.len());
            buf.extend_from_slice(&data[..n]);
            data = &data[n..];
            drain(framer, out);
        }
    }

    fn drain(framer: &mut LineFramer, out: &mut Vec<Result<Vec<u8>, Reject>>) {
        while let Some(line) = framer.next_line() {
            out.push(line.map(<[u8]>::to_vec));
        }
    }

    fn finish(framer: &mut LineFramer, out: &mut Vec<Result<Vec<u8>, Reject>>) {
        while let Some(line) = framer.finish() {
            out.push(line.map(<[u8]>::to_vec));
        }
    }

    fn frame_all(max_len: usize, reads: &[&[u8]]) -> Vec<Result<Vec<u8>, Reject>> {
        let mut framer = LineFramer::new(max_len);
        let mut out = Vec::new();
        for read in reads {
            read_into(&mut framer, read, &mut out);
        }
        finish(&mut framer, &mut out);
        out
    }

    fn ok(lines: &[&str]) -> Vec<Result<Vec<u8>, Reject>> {
        lines.iter().map(|l| Ok(l.as_bytes().to_vec())).collect()
    }

    #[test]
    fn splits_complete_lines() {
        assert_eq!(
            frame_all(64, &[b"one\ntwo\nthree\n"]),
            ok(&["one", "two", "three"])
        );
    }

    #[test]
    fn lines_split_across_reads_at_every_position() {
        let input = b"{\"a\":1}\r\nsecond line\n\nthird\r\n\r\nlast-unterminated";
        let expected = ok(&["{\"a\":1}", "second line", "third", "last-unterminated"]);
        for split in 0..=input.len() {
            let (a, b) = input.split_at(split);
            assert_eq!(frame_all(64, &[a, b]), expected, "split at {split}");
            for second in split..=input.len() {
                let (b1, b2) = b.split_at(second - split);
                assert_eq!(frame_all(64, &[a, b1, b2]), expected, "{split}/{second}");
            }
        }
        let bytes: Vec<&[u8]> = input.chunks(1).collect();
        assert_eq!(frame_all(64, &bytes), expected);
    }

    #[test]
    fn crlf_and_empty_lines() {
        assert_eq!(frame_all(64, &[b"\n\r\n\na\r\n\r\nb\n\n"]), ok(&["a", "b"]));
        // A lone `\r` inside a line is data, only the one before `\n` is a terminator.
        assert_eq!(frame_all(64, &[b"a\rb\r\n"]), ok(&["a\rb"]));
    }

    #[test]
    fn over_long_line_is_reported_once_and_skipped() {
        let long = vec![b'x'; 100];
        let mut input = b"good1\n".to_vec();
        input.extend_from_slice(&long);
        input.extend_from_slice(b"\ngood2\n");
        let expected = vec![
            Ok(b"good1".to_vec()),
            Err(Reject::LineTooLong),
            Ok(b"good2".to_vec()),
        ];
        // In one read (the whole line is buffered) and byte by byte (the line is dropped as it
        // arrives).
        assert_eq!(frame_all(10, &[&input]), expected);
        let bytes: Vec<&[u8]> = input.chunks(1).collect();
        assert_eq!(frame_all(10, &bytes), expected);
        for split in 0..=input.len() {
            let (a, b) = input.split_at(split);
            assert_eq!(frame_all(10, &[a, b]), expected, "split at {split}");
        }
    }

    #[test]
    fn length_limit_is_exact_and_ignores_terminators() {
        let max = ok(&["0123456789"]);
        assert_eq!(frame_all(10, &[b"0123456789\n"]), max);
        assert_eq!(frame_all(10, &[b"0123456789\r\n"]), max);
        assert_eq!(frame_all(10, &[b"0123456789\r", b"\n"]), max);
        assert_eq!(frame_all(10, &[b"0123456789"]), max);
        let bytes: Vec<&[u8]> = b"0123456789\r\n".chunks(1).collect();
        assert_eq!(frame_all(10, &bytes), max);
        let too_long = vec![Err(Reject::LineTooLong)];
        assert_eq!(frame_all(10, &[b"0123456789A\n"]), too_long);
        assert_eq!(frame_all(10, &[b"0123456789A"]), too_long);
        assert_eq!(frame_all(10, &[b"0123456789\rx\n"]), too_long);
        assert_eq!(frame_all(10, &[b"0123456789", b"\r", b"x"]), too_long);
    }

    #[test]
    fn giant_line_does_not_grow_the_buffer() {
        let max_len = 1000;
        let mut framer = LineFramer::new(max_len);
        let mut out = Vec::new();
        let chunk = vec![b'z'; 7919];
        for _ in 0..1000 {
            read_into(&mut framer, &chunk, &mut out);
            assert!(
                framer.buf.capacity() < 2 * (max_len + READ_CHUNK),
                "capacity {}",
                framer.buf.capacity()
            );
        }
        read_into(&mut framer, b"\nafter\n", &mut out);
        assert_eq!(out, vec![Err(Reject::LineTooLong), Ok(b"after".to_vec())]);
    }

    #[test]
    fn steady_state_does_not_reallocate() {
        let mut framer = LineFramer::new(512);
        let mut out = Vec::new();
        let line = b"{\"sym\":\"BTCUSDT\",\"px\":61837.63000000,\"qty\":0.5,\"ts\":1}\n";
        let stream: Vec<u8> = line
            .iter()
            .copied()
            .cycle()
            .take(line.len() * 5000)
            .collect();
        // Warm up: the first reads may grow the buffer once to fit a partial line plus a read.
        let warm_up = 3 * READ_CHUNK;
        read_into(&mut framer, &stream[..warm_up], &mut out);
        let capacity = framer.buf.capacity();
        read_into(&mut framer, &stream[warm_up..], &mut out);
        assert_eq!(framer.buf.capacity(), capacity);
        assert_eq!(out.len(), 5000);
        assert!(
            out.iter()
                .all(|l| l.as_deref() == Ok(&line[..line.len() - 1]))
        );
    }

    #[test]
    fn finish_yields_the_unterminated_last_line() {
        assert_eq!(frame_all(64, &[b"a\nb"]), ok(&["a", "b"]));
        assert_eq!(frame_all(64, &[b"a\nb\r"]), ok(&["a", "b"]));
        assert_eq!(frame_all(64, &[b"a\n"]), ok(&["a"]));
        assert_eq!(frame_all(64, &[b""]), ok(&[]));
        // Undrained complete lines come out of `finish` too, in order.
        let mut framer = LineFramer::new(64);
        framer.buffer_mut().extend_from_slice(b"x\ny\nz");
        let mut out = Vec::new();
        finish(&mut framer, &mut out);
        assert_eq!(out, ok(&["x", "y", "z"]));
        assert!(framer.finish().is_none());
    }

    #[test]
    fn finish_after_an_over_long_tail_stays_quiet() {
        assert_eq!(
            frame_all(4, &[b"ok\n0123456789"]),
            vec![Ok(b"ok".to_vec()), Err(Reject::LineTooLong)]
        );
    }

    #[tokio::test]
    async fn frames_a_real_async_reader() {
        use tokio::io::AsyncReadExt;

        let data = b"a\r\nbb\n\nccc".repeat(10_000);
        let mut reader: &[u8] = &data;
        let mut framer = LineFramer::new(16);
        let mut count = 0;
        loop {
            let n = reader
                .read_buf(framer.buffer_mut())
                .await
                .expect("reading a slice cannot fail");
            let eof = n == 0;
            loop {
                let line = if eof {
                    framer.finish()
                } else {
                    framer.next_line()
                };
                match line {
                    Some(Ok(line)) => {
                        assert!(matches!(line, b"a" | b"bb" | b"ccca" | b"ccc"), "{line:?}");
                        count += 1;
                    }
                    Some(Err(reject)) => panic!("{reject:?}"),
                    None => break,
                }
            }
            if eof {
                break;
            }
        }
        // "a", then "bb" and "ccca" (the `ccc` joins the next "a") per repeat, the last "ccc" at EOF.
        assert_eq!(count, 20_001);
    }
}
