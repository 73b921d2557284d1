//! Checks of [`LineFramer`]: a byte stream arrives in random reads, as from a socket, and the
//! lines framed must be exactly those of a simple model of the stream.
//!
//! Input: byte 0 picks `max_len` (0..=127 as is, else a multiple of 64 up to 8128), bytes 1..3
//! seed the read sizes, the rest is the stream. The model splits the stream at `\n`, drops
//! one `\r` before it, skips empty lines, and expects `Err(LineTooLong)` once for each line
//! longer than `max_len` and `Ok(line)` (the same bytes as the input slice) for every other.
//! After every `buffer_mut` the buffer's capacity must respect the framer's documented bound,
//! `2 * (max_len + READ_CHUNK)`, however long the lines are.

use tickcast::tick::Reject;
use tickcast::feed::lines::{LineFramer, READ_CHUNK};

use crate::Rng;

/// One framed line, owned.
type Framed = Result<Vec<u8>, Reject>;

/// Frames `data` (see the module docs) and checks it against the model.
pub fn check(data: &[u8]) {
    let [len_byte, seed_lo, seed_hi, ref stream @ ..] = *data else {
        return;
    };
    let max_len = match len_byte {
        0..=127 => usize::from(len_byte),
        _ => usize::from(len_byte - 127) * 64,
    };
    let mut rng = Rng::new(u64::from(u16::from_le_bytes([seed_lo, seed_hi])));

    let mut framer = LineFramer::new(max_len);
    let mut got: Vec<Framed> = Vec::new();
    let mut rest = stream;
    let bound = 2 * (max_len + READ_CHUNK);
    while !rest.is_empty() {
        let buf = framer.buffer_mut();
        assert!(
            buf.capacity() <= bound,
            "buffer capacity {} above the bound {bound} (max_len {max_len})",
            buf.capacity()
        );
        let free = buf.capacity() - buf.len();
        assert!(free >= READ_CHUNK, "buffer_mut left only {free} bytes free");
        // A socket read: any size from one byte to the free space.
        let n = rng.read_size(free).min(rest.len());
        buf.extend_from_slice(&rest[..n]);
        rest = &rest[n..];
        while let Some(line) = framer.next_line() {
            got.push(line.map(<[u8]>::to_vec));
        }
    }
    while let Some(line) = framer.finish() {
        got.push(line.map(<[u8]>::to_vec));
    }
    assert!(framer.finish().is_none(), "finish after None gave a line");

    let expected = model(stream, max_len);
    assert_eq!(
        got.len(),
        expected.len(),
        "framed {} lines, the model {} (max_len {max_len})",
        got.len(),
        expected.len()
    );
    for (i, (got, want)) in got.iter().zip(&expected).enumerate() {
        assert_eq!(got, want, "line {i} differs (max_len {max_len})");
        if let Ok(line) = got {
            assert!(line.len() <= max_len && !line.is_empty());
        }
    }
}

/// The lines a correct framer gives for `stream` with lines of at most `max_len` bytes.
fn model(stream: &[u8], max_len: usize) -> Vec<Framed> {
    let mut pieces: Vec<&[u8]> = stream.split(|&b| b == b'\n').collect();
    // The bytes after the last `\n` are a line at end of stream (none when it ends in `\n`).
    if pieces.last().is_some_and(|last| last.is_empty()) {
        pieces.pop();
    }
    pieces
        .into_iter()
        .map(|piece| piece.strip_suffix(b"\r").unwrap_or(piece))
        .filter(|line| !line.is_empty())
        .map(|line| {
            if line.len() > max_len {
                Err(Reject::LineTooLong)
            } else {
                Ok(line.to_vec())
            }
        })
        .collect()
}
