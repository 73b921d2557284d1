//! Response bodies: a whole JSON/text body, or an SSE stream fed by the shard.
//!
//! [`Batch`] is the `Buf` hyper writes: a short list of shared `Bytes` (frames of many events)
//! exposed through `chunks_vectored`, so hyper sends a whole batch with one `writev` and never
//! copies a frame. The stream body asks its shard for the next batch on each poll and
//! unsubscribes when dropped (stream finished or client gone).
//! Must never copy or re-encode frame bytes.

use std::convert::Infallible;
use std::io::IoSlice;
use std::pin::Pin;
use std::rc::Rc;
use std::task::{Context, Poll};

use bytes::{Buf, Bytes};
use hyper::body::{Body, Frame, SizeHint};

use crate::shard::{Chunks, Fill, ShardState};

/// Frames handed to hyper in one piece.
#[derive(Debug, Default)]
pub struct Batch {
    chunks: Chunks,
    index: usize,
}

impl Batch {
    /// A batch of one chunk.
    pub fn single(bytes: Bytes) -> Self {
        let mut chunks = Chunks::new();
        chunks.push(bytes);
        Self { chunks, index: 0 }
    }

    fn from_chunks(mut chunks: Chunks) -> Self {
        // `Buf::chunk` must not be empty while bytes remain.
        chunks.retain(|c| !c.is_empty());
        Self { chunks, index: 0 }
    }
}

impl Buf for Batch {
    fn remaining(&self) -> usize {
        self.chunks[self.index..].iter().map(Bytes::len).sum()
    }

    fn chunk(&self) -> &[u8] {
        self.chunks.get(self.index).map_or(&[], |b| &b[..])
    }

    fn advance(&mut self, mut cnt: usize) {
        while cnt > 0 {
            let Some(current) = self.chunks.get_mut(self.index) else {
                return;
            };
            if cnt < current.len() {
                current.advance(cnt);
                return;
            }
            cnt -= current.len();
            self.index += 1;
        }
        while self.chunks.get(self.index).is_some_and(Bytes::is_empty) {
            self.index += 1;
        }
    }

    fn chunks_vectored<'a>(&'a self, dst: &mut [IoSlice<'a>]) -> usize {
        let mut n = 0;
        for chunk in &self.chunks[self.index..] {
            if n == dst.len() {
                break;
            }
            if !chunk.is_empty() {
                dst[n] = IoSlice::new(chunk);
                n += 1;
            }
        }
        n
    }
}

/// The body of every response.
pub enum ResponseBody {
    /// A complete body (JSON, text, HTML); `None` once sent.
    Full(Option<Bytes>),
    /// A live SSE stream.
    Stream(StreamBody),
}

impl ResponseBody {
    /// A complete body.
    pub fn full(bytes: impl Into<Bytes>) -> Self {
        ResponseBody::Full(Some(bytes.into()))
    }
}

impl Body for ResponseBody {
    type Data = Batch;
    type Error = Infallible;

    fn poll_frame(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
    ) -> Poll<Option<Result<Frame<Batch>, Infallible>>> {
        match self.get_mut() {
            ResponseBody::Full(bytes) => {
                Poll::Ready(bytes.take().map(|b| Ok(Frame::data(Batch::single(b)))))
            }
            ResponseBody::Stream(stream) => stream.poll_next(cx),
        }
    }

    fn is_end_stream(&self) -> bool {
        match self {
            ResponseBody::Full(bytes) => bytes.is_none(),
            ResponseBody::Stream(stream) => stream.done,
        }
    }

    fn size_hint(&self) -> SizeHint {
        match self {
            ResponseBody::Full(Some(bytes)) => SizeHint::with_exact(bytes.len() as u64),
            ResponseBody::Full(None) => SizeHint::with_exact(0),
            ResponseBody::Stream(_) => SizeHint::default(),
        }
    }
}

/// An SSE stream: subscriber `key` of `shard`.
pub struct StreamBody {
    shard: Rc<ShardState>,
    key: usize,
    done: bool,
}

impl StreamBody {
    /// The body of subscriber `key`.
    pub fn new(shard: Rc<ShardState>, key: usize) -> Self {
        Self {
            shard,
            key,
            done: false,
        }
    }

    fn poll_next(
        &mut self,
        cx: &mut Context<'_>,
    ) -> Poll<Option<Result<Frame<Batch>, Infallible>>> {
        if self.done {
            return Poll::Ready(None);
        }
        match self.shard.fill(self.key, cx.waker()) {
            Poll::Pending => Poll::Pending,
            Poll::Ready(Fill::Data(chunks)) => {
                Poll::Ready(Some(Ok(Frame::data(Batch::from_chunks(chunks)))))
            }
            Poll::Ready(Fill::End) => {
                self.done = true;
                Poll::Ready(None)
            }
        }
    }
}

impl Drop for StreamBody {
    fn drop(&mut self) {
        self.shard.unsubscribe(self.key);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn batch_is_a_vectored_buf() {
        let mut chunks = Chunks::new();
        for part in ["id: 1\n", "", "data: x\n\n", "id: 2\n"] {
            chunks.push(Bytes::from(part));
        }
        let mut batch = Batch::from_chunks(chunks);
        assert_eq!(batch.remaining(), 6 + 9 + 6);
        let mut slices = [IoSlice::new(&[]); 8];
        assert_eq!(batch.chunks_vectored(&mut slices), 3);
        batch.advance(4);
        assert_eq!(batch.chunk(), b"1\n");
        batch.advance(2 + 9);
        assert_eq!(batch.chunk(), b"id: 2\n");
        let rest = batch.copy_to_bytes(batch.remaining());
        assert_eq!(&rest[..], b"id: 2\n");
        assert_eq!(batch.remaining(), 0);
    }
}
