//! The HTTP surface (hyper; HTTP/1.1, and HTTP/2 over TLS): the connection service a shard
//! runs, routes, request validation, SSE stream set-up, TLS.
//!
//! Place in the flow: `server` gives every shard an [`Http`], the shard's
//! [`crate::shard::Service`]; the shard hands it each connection it adopts and serves it on its
//! own thread. hyper reads the requests ([`routes`], inputs parsed by [`request`]);
//! `/v1/stream` registers a subscriber on that shard. On plain TCP, hyper writes the response
//! head, then the connection leaves hyper for the SSE writer ([`sse`]), which drains the
//! subscriber straight to the socket. With `--tls-cert` the listener speaks only TLS ([`tls`]:
//! handshake on the shard thread, ALPN `h2` or `http/1.1`); there hyper keeps the connection
//! and the stream's body yields the shard's batches as data frames ([`body::Delivery`]). The
//! other routes read the lock-free cache and metrics and answer at once.
//! Every request input (path, method, query, `Last-Event-ID`) is validated and a bad one gets
//! a status and a JSON error `{"error":{"code","message"}}`; nothing a client sends can panic
//! or stop the process.
//!
//! Imports: this stage sits on top of the shard (it subscribes through
//! [`ShardState`]'s public methods); the shard never imports it.
//! Must never block the shard thread, and never log a client hanging up as an error.

pub mod accept;
pub mod authorize;
pub mod body;
pub mod cors;
pub mod io;
pub mod limits;
pub mod ops;
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

use hyper::server::conn::{http1, http2};
use hyper_util::rt::{TokioIo, TokioTimer};
use tokio_util::sync::CancellationToken;

use crate::shard::{self, MAX_BATCH_BYTES, ShardState};
use authorize::Gate;
use body::{Delivery, Handoff, HandoffSlot};
use cors::Cors;
use limits::{Admission, LimitSettings, Limits, Refusal};
use tls::{Protocol, Tls, TlsError, TlsSettings};

/// hyper's read buffer, as a multiple of `--max-header-bytes` (plus the request line's
/// `--max-url-bytes`): a head a little over the limit still reaches [`routes`], which refuses it
/// with a JSON 431; only a head over this is cut off by hyper itself (a bare 431).
const HEAD_BUFFER_FACTOR: usize = 2;
/// Bytes of one HTTP/2 stream hyper buffers beyond what the client's window lets out (its
/// default is 400 KiB): a slow client's backlog stays in the subscriber's queue, where
/// conflation can replace stale ticks, as `--notsent-lowat` does for the kernel's buffer.
const H2_SEND_BUF_BYTES: usize = MAX_BATCH_BYTES;

/// The HTTP surface's settings; `config` fills them from the flags.
#[derive(Debug, Clone)]
pub struct HttpSettings {
    /// SO_SNDBUF of stream sockets in bytes (0: the kernel's default).
    pub sndbuf: usize,
    /// TCP_NOTSENT_LOWAT of stream sockets in bytes (0: off).
    pub notsent_lowat: u32,
    /// Most symbols one stream or snapshot request may name.
    pub max_symbols_per_request: usize,
    /// Serve TLS with this certificate and key (HTTP/2 or HTTP/1.1 by ALPN) instead of plain
    /// HTTP/1.1.
    pub tls: Option<TlsSettings>,
    /// Connection, rate and request limits.
    pub limits: LimitSettings,
    /// Origins allowed to read the API from a browser (`--cors-origin`).
    pub cors_origins: Vec<String>,
    /// `/metrics` is served on the `--metrics-listen` address only (404 on the public one).
    pub private_metrics: bool,
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
    /// Admission limits and their refusal counters.
    pub limits: Arc<Limits>,
    /// The CORS policy.
    pub cors: Cors,
    /// Who may read what (`--auth`).
    pub gate: Gate,
}

/// An accepted connection on its way to a shard, with the edge's decision about it.
#[derive(Debug)]
pub struct Connection {
    /// The socket.
    pub stream: std::net::TcpStream,
    /// Whether it is served or refused (and its place under the limits).
    pub admission: Admission,
}

/// The connection service every shard runs: plain HTTP/1.1 with the SSE hand-off, or TLS.
#[derive(Debug, Clone)]
pub struct Http {
    state: Arc<HttpState>,
    tls: Option<Tls>,
}

impl Http {
    /// The service for `settings` with `gate`'s authorization; `synthetic` and `shards` are
    /// reported by `/healthz`. With TLS settings it reads the certificate and key now (a
    /// start-up error names the file that is wrong).
    pub fn new(
        settings: HttpSettings,
        gate: Gate,
        synthetic: bool,
        shards: usize,
    ) -> Result<Self, TlsError> {
        let tls = settings.tls.clone().map(Tls::new).transpose()?;
        let limits = Limits::new(settings.limits.clone());
        let cors = Cors::new(&settings.cors_origins);
        Ok(Self {
            state: Arc::new(HttpState {
                settings,
                synthetic,
                shards,
                started: Instant::now(),
                limits,
                cors,
                gate,
            }),
            tls,
        })
    }

    /// The shared state of the routes (for the `--metrics-listen` listener).
    pub fn state(&self) -> &Arc<HttpState> {
        &self.state
    }

    /// The edge's limits (the acceptor admits through them).
    pub fn limits(&self) -> &Arc<Limits> {
        &self.state.limits
    }

    /// The served certificates (to reload them on SIGHUP), when TLS is on.
    pub fn certificates(&self) -> Option<Arc<tls::Certificates>> {
        self.tls.as_ref().map(|tls| tls.certificates().clone())
    }
}

impl shard::Service for Http {
    type Connection = Connection;

    fn serve(
        &self,
        shard: Rc<ShardState>,
        connection: Connection,
        stop: CancellationToken,
    ) -> impl Future<Output = ()> + 'static {
        serve(
            self.state.clone(),
            self.tls.clone(),
            shard,
            connection,
            stop,
        )
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
/// Plain TCP: hyper reads requests and writes every response head and every complete body. A
/// `/v1/stream` response hands the socket over once its head is flushed ([`body::Handoff`]);
/// from then on [`sse::write_stream`] writes the body and hyper's connection state, buffers
/// included, is gone. The hyper phase is boxed, so the task of a long-lived stream keeps only
/// the writer's small state. TLS: [`serve_tls`], boxed too, so a plain connection's task does
/// not carry the size of the TLS one.
async fn serve(
    http: Arc<HttpState>,
    tls: Option<Tls>,
    shard: Rc<ShardState>,
    connection: Connection,
    stop: CancellationToken,
) {
    let Connection { stream, admission } = connection;
    // The permit lives as long as this task: the connection's place under the limits.
    let (refusal, _permit) = match admission {
        Admission::Admitted(permit) => (None, permit),
        Admission::Refused(refusal, permit) => (Some(refusal), permit),
        Admission::Closed(_) => return,
    };
    let stream = match prepare(stream, &http.settings) {
        Ok(stream) => stream,
        Err(error) => {
            tracing::debug!(%error, "could not adopt a connection");
            return;
        }
    };
    // A connection that never sends a byte is let go after the idle timeout.
    let idle = http.settings.limits.idle_timeout;
    if tokio::time::timeout(idle, stream.readable()).await.is_err() {
        http.limits.count(Refusal::Idle);
        if tls.is_none() {
            answer_and_close(stream, Refusal::Idle).await;
        }
        return;
    }
    if let Some(tls) = tls {
        Box::pin(serve_tls(http, tls, shard, stream, stop, refusal)).await;
        return;
    }
    if let Some((socket, handoff)) = Box::pin(serve_http(http, shard, stream, stop, refusal)).await
    {
        sse::write_stream(socket, handoff).await;
    }
}

/// Writes `refusal` as a whole HTTP/1.1 response on a raw socket and closes it: for a client
/// hyper is not serving (it sent nothing, or not a whole head in time). Best effort, bounded.
async fn answer_and_close(mut stream: tokio::net::TcpStream, refusal: Refusal) {
    use tokio::io::AsyncWriteExt;
    let body = routes::refusal_body(refusal);
    let head = format!(
        "HTTP/1.1 {} {}\r\ncontent-type: application/json\r\ncontent-length: {}\r\nconnection: close\r\n\r\n",
        refusal.status().as_u16(),
        refusal.status().canonical_reason().unwrap_or(""),
        body.len()
    );
    let write = async {
        stream.write_all(head.as_bytes()).await?;
        stream.write_all(body.as_bytes()).await?;
        stream.shutdown().await
    };
    let _ = tokio::time::timeout(Duration::from_secs(1), write).await;
}

/// hyper's HTTP/1.1 settings, for plain and TLS connections alike.
fn http1_builder(limits: &LimitSettings) -> http1::Builder {
    let mut builder = http1::Builder::new();
    builder
        .timer(TokioTimer::new())
        .header_read_timeout(limits.header_read_timeout)
        .max_buf_size(head_buffer(limits))
        .max_headers(limits.max_headers * HEAD_BUFFER_FACTOR)
        .writev(true);
    builder
}

/// The request head hyper buffers (HTTP/2: the largest header list).
fn head_buffer(limits: &LimitSettings) -> usize {
    (limits.max_url_bytes + limits.max_header_bytes * HEAD_BUFFER_FACTOR).max(8192)
}

/// The answer to each request of a connection: its refusal, or its route.
fn respond(
    request: hyper::Request<hyper::body::Incoming>,
    http: &HttpState,
    shard: &Rc<ShardState>,
    delivery: &Delivery,
    refusal: Option<Refusal>,
) -> hyper::Response<body::ResponseBody> {
    match refusal {
        // A refused connection gets its answer to whatever it asks, then is closed.
        Some(refusal) => routes::refusal_response(refusal, true),
        None => routes::route(request, http, shard, delivery),
    }
}

/// hyper's part of a connection: until it closes, or until a stream's head is flushed, when the
/// socket and the stream's hand-off are returned.
async fn serve_http(
    http: Arc<HttpState>,
    shard: Rc<ShardState>,
    stream: tokio::net::TcpStream,
    stop: CancellationToken,
    refusal: Option<Refusal>,
) -> Option<(tokio::net::TcpStream, Handoff)> {
    let slot: HandoffSlot = Rc::default();
    let flushed = Rc::new(Cell::new(true));
    let service = {
        let delivery = Delivery::Handoff(slot.clone());
        let http = http.clone();
        hyper::service::service_fn(move |request| {
            let response = respond(request, &http, &shard, &delivery, refusal);
            async move { Ok::<_, Infallible>(response) }
        })
    };
    let io = TokioIo::new(io::FlushTracked::new(stream, flushed.clone()));
    let builder = http1_builder(&http.settings.limits);
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
        if error.is_timeout() {
            // The head did not arrive in time (slowloris): say so, then close.
            http.limits.count(Refusal::HeaderTimeout);
            if let Some(connection) = connection.take() {
                let socket = connection.into_parts().io.into_inner().into_inner();
                answer_and_close(socket, Refusal::HeaderTimeout).await;
            }
            return None;
        }
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

/// A TLS connection: the handshake (bounded by `--header-read-timeout`), then hyper's HTTP/2
/// or HTTP/1.1 as ALPN chose, until it closes or the drain ends it. hyper writes every body
/// here, streams included ([`Delivery::Frames`]): no socket to hand over.
async fn serve_tls(
    http: Arc<HttpState>,
    tls: Tls,
    shard: Rc<ShardState>,
    stream: tokio::net::TcpStream,
    stop: CancellationToken,
    refusal: Option<Refusal>,
) {
    let limits = http.settings.limits.clone();
    let handshake = limits.header_read_timeout;
    let Some((stream, protocol)) = tls.accept(stream, handshake, &stop).await else {
        return;
    };
    // A connection that completes its handshake and then asks nothing is let go after the idle
    // timeout (hyper's HTTP/2 server has no header-read timeout of its own).
    let idle = Idle {
        after: limits.idle_timeout,
        asked: Rc::new(Cell::new(false)),
        limits: http.limits.clone(),
    };
    let asked = idle.asked.clone();
    let service = hyper::service::service_fn(move |request| {
        asked.set(true);
        let response = respond(request, &http, &shard, &Delivery::Frames, refusal);
        async move { Ok::<_, Infallible>(response) }
    });
    let io = TokioIo::new(stream);
    let result = match protocol {
        Protocol::Http2 => {
            let mut builder = http2::Builder::new(LocalExec);
            builder
                .timer(TokioTimer::new())
                .max_header_list_size(head_buffer(&limits) as u32)
                .max_send_buf_size(H2_SEND_BUF_BYTES);
            let connection = builder.serve_connection(io, service);
            until_closed(connection, &stop, idle, |c| c.graceful_shutdown()).await
        }
        Protocol::Http1 => {
            let connection = http1_builder(&limits).serve_connection(io, service);
            until_closed(connection, &stop, idle, |c| c.graceful_shutdown()).await
        }
    };
    if let Err(error) = result {
        // Resets and broken pipes are clients leaving, not server faults.
        tracing::debug!(%error, "connection ended");
    }
}

/// The idle rule of a TLS connection: no request within `after` of the handshake ends it.
struct Idle {
    after: Duration,
    /// Set by the service on the first request.
    asked: Rc<Cell<bool>>,
    limits: Arc<Limits>,
}

/// Drives a hyper connection to its end; when `stop` fires first, or `idle.after` passes
/// without a request, begins its graceful shutdown (no new requests, HTTP/2 `GOAWAY`) and lets
/// the open streams end after their queues.
async fn until_closed<C>(
    connection: C,
    stop: &CancellationToken,
    idle: Idle,
    graceful_shutdown: impl FnOnce(Pin<&mut C>),
) -> hyper::Result<()>
where
    C: Future<Output = hyper::Result<()>>,
{
    let mut connection = std::pin::pin!(connection);
    let quiet = async {
        tokio::time::sleep(idle.after).await;
        if idle.asked.get() {
            // It asked: from now on only `stop` ends it early.
            std::future::pending::<()>().await;
        }
    };
    tokio::select! {
        result = connection.as_mut() => return result,
        _ = stop.cancelled() => graceful_shutdown(connection.as_mut()),
        _ = quiet => {
            idle.limits.count(Refusal::Idle);
            graceful_shutdown(connection.as_mut());
            // It has no stream to finish; an HTTP/2 peer that does not answer the GOAWAY's
            // ping would keep it open: drop it after a moment.
            return tokio::time::timeout(IDLE_GOAWAY_GRACE, connection)
                .await
                .unwrap_or(Ok(()));
        }
    }
    connection.await
}

/// How long an idle TLS connection may take to close after its GOAWAY.
const IDLE_GOAWAY_GRACE: Duration = Duration::from_secs(1);

/// Runs hyper's HTTP/2 stream tasks on the shard's `LocalSet`: their bodies hold the shard's
/// `Rc`, so they stay on its thread (and are not `Send`).
#[derive(Debug, Clone, Copy)]
struct LocalExec;

impl<F> hyper::rt::Executor<F> for LocalExec
where
    F: Future + 'static,
    F::Output: 'static,
{
    fn execute(&self, future: F) {
        tokio::task::spawn_local(future);
    }
}
