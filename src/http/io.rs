//! The socket as hyper sees it: a `TcpStream` that records whether hyper's writes are flushed.
//!
//! Place in the flow: [`super::Http`] gives hyper a [`FlushTracked`] socket on plain TCP (a TLS
//! connection is never handed over, so it needs none). hyper calls
//! `poll_flush` on its I/O only once its own write buffer is empty, so after a `poll_flush`
//! and before the next write, every byte hyper produced is in the kernel. The connection task
//! takes the socket back from hyper for an SSE stream only in that state, so no byte of an
//! earlier response (keep-alive) or of the stream's response head is left behind.
//! Must never buffer: every call goes straight to the socket.

use std::cell::Cell;
use std::io;
use std::pin::Pin;
use std::rc::Rc;
use std::task::{Context, Poll};

use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};
use tokio::net::TcpStream;

/// A `TcpStream` that tells whether everything written through it was flushed.
pub struct FlushTracked {
    stream: TcpStream,
    flushed: Rc<Cell<bool>>,
}

impl FlushTracked {
    /// Wraps `stream`; `flushed` turns false on every write and true on every flush.
    pub fn new(stream: TcpStream, flushed: Rc<Cell<bool>>) -> Self {
        Self { stream, flushed }
    }

    /// The socket.
    pub fn into_inner(self) -> TcpStream {
        self.stream
    }
}

impl AsyncRead for FlushTracked {
    fn poll_read(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<io::Result<()>> {
        Pin::new(&mut self.get_mut().stream).poll_read(cx, buf)
    }
}

impl AsyncWrite for FlushTracked {
    fn poll_write(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<io::Result<usize>> {
        let this = self.get_mut();
        this.flushed.set(false);
        Pin::new(&mut this.stream).poll_write(cx, buf)
    }

    fn poll_write_vectored(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        bufs: &[io::IoSlice<'_>],
    ) -> Poll<io::Result<usize>> {
        let this = self.get_mut();
        this.flushed.set(false);
        Pin::new(&mut this.stream).poll_write_vectored(cx, bufs)
    }

    fn is_write_vectored(&self) -> bool {
        self.stream.is_write_vectored()
    }

    fn poll_flush(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        let this = self.get_mut();
        let result = Pin::new(&mut this.stream).poll_flush(cx);
        if let Poll::Ready(Ok(())) = result {
            this.flushed.set(true);
        }
        result
    }

    fn poll_shutdown(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.get_mut().stream).poll_shutdown(cx)
    }
}
