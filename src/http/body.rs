//! Response bodies: a whole JSON/text body, or an SSE stream (handed off, or as data frames).
//!
//! [`Batch`] is a `Buf` over a short list of shared `Bytes` (frames of many events) exposed
//! through `chunks_vectored`, so a whole batch goes out with one `writev` and no frame is ever
//! copied. hyper writes whole bodies with it; the SSE writer ([`super::sse`]) writes stream
//! batches with it.
//!
//! How a stream's body ([`StreamBody`]) is delivered is the connection's choice, not the
//! route's: the connection task gives [`super::routes::route`] its [`Delivery`], which the route
//! passes on untouched.
//! - [`Delivery::Handoff`] (plain HTTP/1.x): the body yields no data. When hyper first polls it
//!   (the response head is queued), it puts its [`Handoff`] in the connection's slot, and the
//!   connection task takes the socket back from hyper once the head is flushed.
//! - [`Delivery::Frames`] (TLS, HTTP/2): there is no socket to take back (rustls or an HTTP/2
//!   stream sits between), so the body yields each batch the shard fills as one data frame of
//!   shared `Bytes` for hyper to write (TLS encryption then copies, as it must).
//!
//! The [`Subscription`] inside unsubscribes whenever it is dropped, whichever side holds it then
//! (the SSE writer, hyper after a client left or reset its HTTP/2 stream, a failed connection).
//! Must never copy or re-encode frame bytes.

use std::cell::RefCell;
use std::convert::Infallible;
use std::io::IoSlice;
use std::pin::Pin;
use std::rc::Rc;
use std::task::{Context, Poll, ready};

use bytes::{Buf, Bytes};
use hyper::body::{Body, Frame, SizeHint};

use super::limits::StreamPermit;
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

    /// A batch of these chunks (empty ones are dropped).
    pub fn from_chunks(mut chunks: Chunks) -> Self {
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
    /// An SSE stream, delivered as its connection's [`Delivery`] says.
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
            ResponseBody::Stream(stream) => stream.poll_data(cx).map(|b| b.map(Ok)),
        }
    }

    fn is_end_stream(&self) -> bool {
        match self {
            ResponseBody::Full(bytes) => bytes.is_none(),
            ResponseBody::Stream(stream) => stream.is_end(),
        }
    }

    fn size_hint(&self) -> SizeHint {
        match self {
            ResponseBody::Full(Some(bytes)) => SizeHint::with_exact(bytes.len() as u64),
            ResponseBody::Full(None) => SizeHint::with_exact(0),
            // Unknown length: hyper writes `Transfer-Encoding: chunked` (HTTP/1.1) or a body
            // delimited by the end of the connection (HTTP/1.0), as [`Framing`] expects; over
            // HTTP/2 the stream's end is the body's.
            ResponseBody::Stream(_) => SizeHint::default(),
        }
    }
}

/// How the SSE body is delimited on the wire, decided by the request's HTTP version exactly as
/// hyper decides it for a body of unknown length.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Framing {
    /// HTTP/1.1: chunked transfer coding, ended by the `0\r\n\r\n` terminator.
    Chunked,
    /// HTTP/1.0: raw bytes, ended by closing the connection.
    UntilClose,
}

/// A registered subscriber; unsubscribes when dropped (stream finished, client gone, or the
/// connection failed before the hand-off).
pub struct Subscription {
    /// The shard that owns the subscriber.
    pub shard: Rc<ShardState>,
    /// The subscriber's key on that shard.
    pub key: usize,
    /// The stream's place under its token subject's limit (given back with the stream).
    pub permit: Option<StreamPermit>,
}

impl Drop for Subscription {
    fn drop(&mut self) {
        self.shard.unsubscribe(self.key);
    }
}

/// A stream's subscriber and framing: what the SSE writer needs once hyper has written the
/// response head, or what a [`Delivery::Frames`] body drains.
pub struct Handoff {
    /// The subscriber to drain.
    pub subscription: Subscription,
    /// The body's framing (on the SSE writer's raw socket; hyper frames a frames body itself).
    pub framing: Framing,
}

/// The connection's hand-off slot, shared between the stream body and the connection task.
pub type HandoffSlot = Rc<RefCell<Option<Handoff>>>;

/// How a connection delivers the bodies of its streams; chosen per connection by its task.
#[derive(Clone)]
pub enum Delivery {
    /// Plain HTTP/1.x: hand the stream to the SSE writer through this slot.
    Handoff(HandoffSlot),
    /// TLS or HTTP/2: yield the stream's batches to hyper as data frames.
    Frames,
}

/// The body of a `/v1/stream` response.
pub struct StreamBody {
    /// `None` once handed over, or once a frames body has ended.
    handoff: Option<Handoff>,
    delivery: Delivery,
}

impl StreamBody {
    /// A stream body delivered as `delivery` says. With [`Delivery::Handoff`] it hands
    /// `handoff` to the slot when hyper first asks it for data, that is once the response head
    /// is queued for writing.
    pub fn new(handoff: Handoff, delivery: Delivery) -> Self {
        Self {
            handoff: Some(handoff),
            delivery,
        }
    }

    fn poll_data(&mut self, cx: &mut Context<'_>) -> Poll<Option<Frame<Batch>>> {
        let Delivery::Handoff(slot) = &self.delivery else {
            return self.poll_frames(cx);
        };
        if let Some(handoff) = self.handoff.take() {
            *slot.borrow_mut() = Some(handoff);
        }
        // No waker is kept: the connection's task checks the hand-off slot after every poll of
        // hyper, so it does not need hyper to poll this body again.
        Poll::Pending
    }

    /// The next batch from the shard as one data frame; the end of the body when the shard
    /// ends the stream (after its final `retry:`), which also unsubscribes.
    fn poll_frames(&mut self, cx: &mut Context<'_>) -> Poll<Option<Frame<Batch>>> {
        loop {
            let Some(Handoff { subscription, .. }) = &self.handoff else {
                return Poll::Ready(None);
            };
            match ready!(subscription.shard.fill(subscription.key, cx.waker())) {
                Fill::Data(chunks) => {
                    let batch = Batch::from_chunks(chunks);
                    // An empty data frame would be written for nothing (or end an HTTP/1.1
                    // chunked body early): ask again.
                    if batch.has_remaining() {
                        return Poll::Ready(Some(Frame::data(batch)));
                    }
                }
                Fill::End => self.handoff = None,
            }
        }
    }

    fn is_end(&self) -> bool {
        matches!(self.delivery, Delivery::Frames) && self.handoff.is_none()
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
