//! The HTTP surface (hyper, HTTP/1.1): the connection service a shard runs, routes, request
//! validation, SSE stream set-up.
//!
//! Place in the flow: `server` gives every shard an [`Http`], the shard's
//! [`crate::shard::Service`]; the shard hands it each connection it adopts and serves it on its
//! own thread. hyper reads the requests ([`routes`], inputs parsed by [`request`]);
//! `/v1/stream` registers a subscriber on that shard, hyper writes the response head, then the
//! connection leaves hyper for the SSE writer ([`sse`]), which drains the subscriber straight
//! to the socket. The other routes read the lock-free cache and metrics and answer at once.
//! Every request input (path, method, query, `Last-Event-ID`) is validated and a bad one gets
//! a status and a JSON error `{"error":{"code","message"}}`; nothing a client sends can panic
//! or stop the process.
//!
//! Imports: this stage sits on top of the shard (it subscribes through
//! [`ShardState`]'s public methods); the shard never imports it.
//! Must never block the shard thread, and never log a client hanging up as an error.

pub mod body;
pub mod io;
pub mod request;
pub mod routes;
pub mod sse;
pub mod tls;

use std::cell::Cell;
use std::convert::Infallible;
use std::future::{Future, poll_fn};
use std::pin::Pin;
use std::rc::Rc;
use std::sync::Arc;
use std::task::Poll;
use std::time::{Duration, Instant};

use hyper_util::rt::{TokioIo, TokioTimer};
use tokio_util::sync::CancellationToken;

use crate::shard::{self, ShardState};
use body::{Delivery, Handoff, HandoffSlot};

/// Time a client has to send its request head (slow-loris guard).
const HEADER_READ_TIMEOUT: Duration = Duration::from_secs(10);
/// Largest request head hyper buffers.
const MAX_HEAD_BYTES: usize = 96 * 1024;

/// The HTTP surface's settings; `config` fills them from the flags.
#[derive(Debug, Clone)]
pub struct HttpSettings {
    /// SO_SNDBUF of stream sockets in bytes (0: the kernel's default).
    pub sndbuf: usize,
    /// TCP_NOTSENT_LOWAT of stream sockets in bytes (0: off).
    pub notsent_lowat: u32,
    /// Most symbols one stream or snapshot request may name.
    pub max_symbols_per_request: usize,
}

/// What every connection's routes read besides the shard: settings and facts of the process.
#[derive(Debug)]
pub struct HttpState {
    /// The settings.
    pub settings: HttpSettings,
    /// Whether a synthetic feed is configured (`/v1/symbols`, `/healthz` say so).
    pub synthetic: bool,
    /// Number of shards (`/healthz`).
    pub shards: usize,
    /// Process start (uptime in `/healthz`).
    pub started: Instant,
}

/// The connection service every shard runs: HTTP/1.1 with the SSE hand-off.
#[derive(Debug, Clone)]
pub struct Http {
    state: Arc<HttpState>,
}

impl Http {
    /// The service for these settings and facts.
    pub fn new(state: HttpState) -> Self {
        Self {
            state: Arc::new(state),
        }
    }
}

impl shard::Service for Http {
    fn serve(
        &self,
        shard: Rc<ShardState>,
        stream: std::net::TcpStream,
        stop: CancellationToken,
    ) -> impl Future<Output = ()> + 'static {
        serve(self.state.clone(), shard, stream, stop)
    }
}

/// Sets socket options and moves an accepted connection onto the shard's runtime.
fn prepare(
    stream: std::net::TcpStream,
    settings: &HttpSettings,
) -> std::io::Result<tokio::net::TcpStream> {
    stream.set_nonblocking(true)?;
    stream.set_nodelay(true)?;
    let socket = socket2::SockRef::from(&stream);
    if settings.sndbuf > 0 {
        socket.set_send_buffer_size(settings.sndbuf)?;
    }
    if settings.notsent_lowat > 0 {
        socket.set_tcp_notsent_lowat(settings.notsent_lowat)?;
    }
    tokio::net::TcpStream::from_std(stream)
}

/// Serves one connection until it closes or the drain ends it.
///
/// hyper reads requests and writes every response head and every complete body. A
/// `/v1/stream` response hands the socket over once its head is flushed ([`body::Handoff`]);
/// from then on [`sse::write_stream`] writes the body and hyper's connection state, buffers
/// included, is gone. The hyper phase is boxed, so the task of a long-lived stream keeps only
/// the writer's small state.
async fn serve(
    http: Arc<HttpState>,
    shard: Rc<ShardState>,
    stream: std::net::TcpStream,
    stop: CancellationToken,
) {
    let stream = match prepare(stream, &http.settings) {
        Ok(stream) => stream,
        Err(error) => {
            tracing::debug!(%error, "could not adopt a connection");
            return;
        }
    };
    if let Some((socket, handoff)) = Box::pin(serve_http(http, shard, stream, stop)).await {
        sse::write_stream(socket, handoff).await;
    }
}

/// hyper's part of a connection: until it closes, or until a stream's head is flushed, when the
/// socket and the stream's hand-off are returned.
async fn serve_http(
    http: Arc<HttpState>,
    shard: Rc<ShardState>,
    stream: tokio::net::TcpStream,
    stop: CancellationToken,
) -> Option<(tokio::net::TcpStream, Handoff)> {
    let slot: HandoffSlot = Rc::default();
    let flushed = Rc::new(Cell::new(true));
    let service = {
        let delivery = Delivery::Handoff(slot.clone());
        hyper::service::service_fn(move |request| {
            let response = routes::route(request, &http, &shard, &delivery);
            async move { Ok::<_, Infallible>(response) }
        })
    };
    let mut builder = hyper::server::conn::http1::Builder::new();
    builder
        .timer(TokioTimer::new())
        .header_read_timeout(HEADER_READ_TIMEOUT)
        .max_buf_size(MAX_HEAD_BYTES)
        .writev(true);
    let io = TokioIo::new(io::FlushTracked::new(stream, flushed.clone()));
    let mut connection = Some(builder.serve_connection(io, service));
    let mut stopped = std::pin::pin!(stop.cancelled());
    let mut draining = false;
    let result = poll_fn(|cx| {
        let Some(conn) = connection.as_mut() else {
            return Poll::Ready(Ok(()));
        };
        if !draining && stopped.as_mut().poll(cx).is_ready() {
            draining = true;
            Pin::new(&mut *conn).graceful_shutdown();
        }
        if let Poll::Ready(result) = Pin::new(&mut *conn).poll(cx) {
            return Poll::Ready(result);
        }
        // The stream's head is written and nothing of hyper's is left unflushed: the socket
        // can change hands. Otherwise hyper is waiting for the socket and will be woken.
        if slot.borrow().is_some() && flushed.get() {
            return Poll::Ready(Ok(()));
        }
        Poll::Pending
    })
    .await;
    if let Err(error) = result {
        // Resets and broken pipes are clients leaving, not server faults.
        tracing::debug!(%error, "connection ended");
        return None;
    }
    let handoff = slot.borrow_mut().take()?;
    let parts = connection.take()?.into_parts();
    // Bytes the client sent after the stream's request (a pipelined request, a GET body) are
    // dropped: the stream never ends on its own, so nothing after it would be answered anyway.
    Some((parts.io.into_inner().into_inner(), handoff))
}
