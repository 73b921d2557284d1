//! The SSE writer: serves a stream's body on the raw socket once hyper has written its head.
//!
//! Place in the flow: on a plain TCP connection, [`super::Http`] lets hyper read the request and
//! write the response head, then takes the socket back ([`super::body::Handoff`]) and runs
//! [`write_stream`] on the same task. (Over TLS and HTTP/2 hyper writes the body itself:
//! [`super::body::Delivery::Frames`].) hyper's per-connection buffers (8 KiB to read, 8 KiB for response heads) are freed at
//! that point: an open stream costs its socket, this small state and its subscriber, nothing
//! more.
//!
//! Each pass asks the shard for the next [`Batch`] of shared frames, frames it (one chunk of the
//! chunked coding per batch, or raw bytes for an HTTP/1.0 client) and writes it with one
//! `writev`, never copying a frame. While it waits, it watches the client side: the end of the
//! connection (or an error) ends the stream at once; anything else a client sends is read and
//! discarded. When the shard ends the stream (drain, lag) the writer sends the terminator and
//! shuts the connection down.
//! Must never block the shard thread, copy frame bytes, or log a client hanging up as an error.

use std::future::poll_fn;
use std::io::IoSlice;
use std::mem::MaybeUninit;
use std::pin::Pin;
use std::task::{Context, Poll};

use bytes::Buf;
use tokio::io::{AsyncRead, AsyncWrite, AsyncWriteExt, ReadBuf};
use tokio::net::TcpStream;

use super::body::{Batch, Framing, Handoff};
use crate::shard::{Fill, MAX_BATCH_CHUNKS};

/// Bytes read (and thrown away) from the client per read call while streaming.
const DISCARD_BUF: usize = 256;
/// The terminator of a chunked body.
const LAST_CHUNK: &[u8] = b"0\r\n\r\n";
/// What follows the data of every chunk.
const CHUNK_END: &[u8] = b"\r\n";

/// How a stream ended.
#[derive(Debug, PartialEq, Eq)]
pub enum Ended {
    /// The shard ended it and the terminator was written.
    Finished,
    /// The client closed its side or the socket failed.
    ClientGone,
}

/// Streams `handoff`'s subscriber to `socket` until the shard ends the stream or the client
/// goes away; then shuts the connection down.
pub async fn write_stream(mut socket: TcpStream, handoff: Handoff) -> Ended {
    let Handoff {
        subscription,
        framing,
    } = handoff;
    let mut out = Outgoing::empty();
    let mut finishing = false;
    let ended = poll_fn(|cx| {
        // Once per wake-up, not per write: a `Pending` read leaves the task registered for the
        // socket's next readability, so a client closing later wakes it again.
        if client_gone(&mut socket, cx) {
            return Poll::Ready(Ended::ClientGone);
        }
        loop {
            if out.has_remaining() {
                let mut slices = [IoSlice::new(&[]); MAX_BATCH_CHUNKS + 2];
                let count = out.chunks_vectored(&mut slices);
                match Pin::new(&mut socket).poll_write_vectored(cx, &slices[..count]) {
                    Poll::Ready(Ok(0)) | Poll::Ready(Err(_)) => {
                        return Poll::Ready(Ended::ClientGone);
                    }
                    Poll::Ready(Ok(written)) => {
                        out.advance(written);
                        continue;
                    }
                    Poll::Pending => return Poll::Pending,
                }
            }
            if finishing {
                return Poll::Ready(Ended::Finished);
            }
            match subscription.shard.fill(subscription.key, cx.waker()) {
                Poll::Pending => return Poll::Pending,
                Poll::Ready(Fill::Data(chunks)) => {
                    out = Outgoing::chunk(framing, Batch::from_chunks(chunks));
                }
                Poll::Ready(Fill::End) => {
                    out = Outgoing::end(framing);
                    finishing = true;
                }
            }
        }
    })
    .await;
    // Unsubscribe before the (possibly slow) shutdown.
    drop(subscription);
    if ended == Ended::Finished {
        // A FIN after the last byte, so the client sees a clean end; errors mean it left first.
        let _ = socket.shutdown().await;
    }
    ended
}

/// Reads and discards what the client sent; true once it closed its side or the socket failed.
/// Registers for readability when there is nothing to read.
fn client_gone(socket: &mut TcpStream, cx: &mut Context<'_>) -> bool {
    // Never initialised: the bytes are only written by the read and never looked at.
    let mut scratch = [MaybeUninit::<u8>::uninit(); DISCARD_BUF];
    loop {
        let mut buf = ReadBuf::uninit(&mut scratch);
        match Pin::new(&mut *socket).poll_read(cx, &mut buf) {
            Poll::Ready(Ok(())) if buf.filled().is_empty() => return true,
            Poll::Ready(Ok(())) => continue,
            Poll::Ready(Err(_)) => return true,
            Poll::Pending => return false,
        }
    }
}

/// The bytes of one write: a chunk-size line, a batch of frames, and what closes the chunk.
struct Outgoing {
    head: ChunkHead,
    body: Batch,
    tail: &'static [u8],
}

impl Outgoing {
    fn empty() -> Self {
        Self {
            head: ChunkHead::default(),
            body: Batch::default(),
            tail: &[],
        }
    }

    /// `body` framed as `framing` wants.
    fn chunk(framing: Framing, body: Batch) -> Self {
        match framing {
            Framing::Chunked if body.has_remaining() => Self {
                head: ChunkHead::for_len(body.remaining()),
                body,
                tail: CHUNK_END,
            },
            // An empty chunk would end the body: send nothing instead.
            Framing::Chunked | Framing::UntilClose => Self {
                head: ChunkHead::default(),
                body,
                tail: &[],
            },
        }
    }

    /// The end of the body.
    fn end(framing: Framing) -> Self {
        Self {
            tail: match framing {
                Framing::Chunked => LAST_CHUNK,
                Framing::UntilClose => &[],
            },
            ..Self::empty()
        }
    }
}

impl Buf for Outgoing {
    fn remaining(&self) -> usize {
        self.head.remaining() + self.body.remaining() + self.tail.len()
    }

    fn chunk(&self) -> &[u8] {
        if self.head.has_remaining() {
            self.head.chunk()
        } else if self.body.has_remaining() {
            self.body.chunk()
        } else {
            self.tail
        }
    }

    fn advance(&mut self, mut cnt: usize) {
        let head = cnt.min(self.head.remaining());
        self.head.advance(head);
        cnt -= head;
        let body = cnt.min(self.body.remaining());
        self.body.advance(body);
        cnt -= body;
        self.tail = &self.tail[cnt.min(self.tail.len())..];
    }

    fn chunks_vectored<'a>(&'a self, dst: &mut [IoSlice<'a>]) -> usize {
        let mut n = self.head.chunks_vectored(dst);
        n += self.body.chunks_vectored(&mut dst[n..]);
        if n < dst.len() && !self.tail.is_empty() {
            dst[n] = IoSlice::new(self.tail);
            n += 1;
        }
        n
    }
}

/// A chunk-size line (`1A2B\r\n`), kept inline.
#[derive(Default)]
struct ChunkHead {
    bytes: [u8; 18],
    start: u8,
    end: u8,
}

impl ChunkHead {
    fn for_len(len: usize) -> Self {
        const HEX: &[u8; 16] = b"0123456789ABCDEF";
        let mut head = Self::default();
        let mut digits = [0u8; 16];
        let mut count = 0;
        let mut rest = len;
        loop {
            digits[count] = HEX[rest & 0xF];
            count += 1;
            rest >>= 4;
            if rest == 0 {
                break;
            }
        }
        for (i, digit) in digits[..count].iter().rev().enumerate() {
            head.bytes[i] = *digit;
        }
        head.bytes[count] = b'\r';
        head.bytes[count + 1] = b'\n';
        head.end = (count + 2) as u8;
        head
    }
}

impl Buf for ChunkHead {
    fn remaining(&self) -> usize {
        usize::from(self.end - self.start)
    }

    fn chunk(&self) -> &[u8] {
        &self.bytes[usize::from(self.start)..usize::from(self.end)]
    }

    fn advance(&mut self, cnt: usize) {
        let cnt = cnt.min(self.remaining());
        self.start += cnt as u8;
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::shard::Chunks;
    use bytes::Bytes;

    fn batch(parts: &[&'static str]) -> Batch {
        let mut chunks = Chunks::new();
        for part in parts {
            chunks.push(Bytes::from_static(part.as_bytes()));
        }
        Batch::from_chunks(chunks)
    }

    fn wire(mut out: Outgoing, step: usize) -> Vec<u8> {
        // Writes in uneven steps, as short writes would, through the vectored view.
        let mut written = Vec::new();
        while out.has_remaining() {
            let mut slices = [IoSlice::new(&[]); 8];
            let count = out.chunks_vectored(&mut slices);
            let mut take = step;
            for slice in &slices[..count] {
                let n = take.min(slice.len());
                written.extend_from_slice(&slice[..n]);
                take -= n;
                if take == 0 {
                    break;
                }
            }
            out.advance(step.min(out.remaining()));
        }
        written
    }

    #[test]
    fn chunk_size_lines() {
        for (len, line) in [
            (0usize, "0\r\n"),
            (1, "1\r\n"),
            (15, "F\r\n"),
            (16, "10\r\n"),
            (0x1A2B, "1A2B\r\n"),
            (usize::MAX, "FFFFFFFFFFFFFFFF\r\n"),
        ] {
            assert_eq!(ChunkHead::for_len(len).chunk(), line.as_bytes(), "{len}");
        }
    }

    #[test]
    fn chunked_batches_survive_short_writes() {
        let parts = ["retry: 2000\n\n", "id: 1\nevent: tick\ndata: {}\n\n"];
        let expected = "29\r\nretry: 2000\n\nid: 1\nevent: tick\ndata: {}\n\n\r\n";
        for step in [1, 2, 3, 7, 100] {
            let out = Outgoing::chunk(Framing::Chunked, batch(&parts));
            assert_eq!(String::from_utf8(wire(out, step)).unwrap(), expected);
        }
        assert_eq!(wire(Outgoing::end(Framing::Chunked), 2), LAST_CHUNK);
    }

    #[test]
    fn empty_batches_never_end_a_chunked_body() {
        let out = Outgoing::chunk(Framing::Chunked, batch(&["", ""]));
        assert!(!out.has_remaining());
    }

    #[test]
    fn http10_bodies_are_raw_and_end_with_the_connection() {
        let out = Outgoing::chunk(Framing::UntilClose, batch(&["a", "bc"]));
        assert_eq!(wire(out, 1), b"abc");
        assert!(!Outgoing::end(Framing::UntilClose).has_remaining());
    }
}
