//! The HTTP surface (hyper, HTTP/1.1): routes, request validation, SSE stream set-up.
//!
//! Place in the flow: each connection is served on the shard that adopted it. `/v1/stream`
//! registers a subscriber on that shard; hyper writes the response head, then the connection
//! leaves hyper for the SSE writer ([`sse`]), which drains the subscriber straight to the socket.
//! The other routes read the lock-free cache and metrics and answer at once.
//! Every request input (path, method, query, `Last-Event-ID`) is validated here and a bad one
//! gets a status and a JSON error `{"error":{"code","message"}}`; nothing a client sends can
//! panic or stop the process.
//! Must never block the shard thread, and never log a client hanging up as an error.

pub mod body;
pub mod io;
pub mod sse;

use std::cell::Cell;
use std::convert::Infallible;
use std::fmt::Write as _;
use std::future::{Future, poll_fn};
use std::pin::Pin;
use std::rc::Rc;
use std::sync::atomic::Ordering;
use std::task::Poll;
use std::time::Duration;

use bytes::Bytes;
use hyper::body::Incoming;
use hyper::header::{self, HeaderValue};
use hyper::{Method, Request, Response, StatusCode};
use hyper_util::rt::{TokioIo, TokioTimer};
use tokio_util::sync::CancellationToken;

use crate::cache::UniverseKind;
use crate::config::Config;
use crate::shard::subscriber::Filter;
use crate::shard::{ShardState, Start};
use crate::tick::{Seq, Symbol};
use body::{Framing, Handoff, HandoffSlot, ResponseBody, StreamBody, Subscription};

/// Time a client has to send its request head (slow-loris guard).
const HEADER_READ_TIMEOUT: Duration = Duration::from_secs(10);
/// Longest accepted query string: symbol lists longer than this are refused with 414.
const MAX_QUERY_LEN: usize = 64 * 1024;
/// Largest request head hyper buffers.
const MAX_HEAD_BYTES: usize = 96 * 1024;

const DASHBOARD: &str = include_str!("dashboard.html");

/// Sets socket options and moves an accepted connection onto the shard's runtime.
pub fn prepare(
    stream: std::net::TcpStream,
    config: &Config,
) -> std::io::Result<tokio::net::TcpStream> {
    stream.set_nonblocking(true)?;
    stream.set_nodelay(true)?;
    let socket = socket2::SockRef::from(&stream);
    if config.sndbuf > 0 {
        socket.set_send_buffer_size(config.sndbuf)?;
    }
    if config.notsent_lowat > 0 {
        socket.set_tcp_notsent_lowat(config.notsent_lowat)?;
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
pub async fn serve(shard: Rc<ShardState>, stream: tokio::net::TcpStream, stop: CancellationToken) {
    let metrics = shard.shared.metrics.clone();
    // Counted up by the acceptor when it picked this shard, counted down here when done.
    let shard_metrics = metrics.shard(shard.id);
    if let Some((socket, handoff)) = Box::pin(serve_http(shard.clone(), stream, stop)).await {
        sse::write_stream(socket, handoff).await;
    }
    shard_metrics.connections.fetch_sub(1, Ordering::Relaxed);
}

/// hyper's part of a connection: until it closes, or until a stream's head is flushed, when the
/// socket and the stream's hand-off are returned.
async fn serve_http(
    shard: Rc<ShardState>,
    stream: tokio::net::TcpStream,
    stop: CancellationToken,
) -> Option<(tokio::net::TcpStream, Handoff)> {
    let slot: HandoffSlot = Rc::default();
    let flushed = Rc::new(Cell::new(true));
    let service = {
        let slot = slot.clone();
        hyper::service::service_fn(move |request| {
            let response = route(request, &shard, &slot);
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

/// An error answer: status, stable code, human message.
#[derive(Debug)]
pub struct ApiError {
    status: StatusCode,
    code: &'static str,
    message: String,
}

impl ApiError {
    fn bad_request(code: &'static str, message: impl Into<String>) -> Self {
        Self {
            status: StatusCode::BAD_REQUEST,
            code,
            message: message.into(),
        }
    }

    fn into_response(self) -> Response<ResponseBody> {
        let body = serde_json::json!({"error": {"code": self.code, "message": self.message}});
        json_response(self.status, body.to_string())
    }
}

fn json_response(status: StatusCode, body: impl Into<Bytes>) -> Response<ResponseBody> {
    let mut response = Response::new(ResponseBody::full(body));
    *response.status_mut() = status;
    response.headers_mut().insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("application/json"),
    );
    response
        .headers_mut()
        .insert(header::CACHE_CONTROL, HeaderValue::from_static("no-cache"));
    response
}

fn route(
    request: Request<Incoming>,
    shard: &Rc<ShardState>,
    slot: &HandoffSlot,
) -> Response<ResponseBody> {
    let path = request.uri().path();
    let allowed = match path {
        "/v1/stream" | "/v1/snapshot" | "/v1/symbols" | "/healthz" | "/metrics" | "/" => "GET",
        _ => {
            return ApiError {
                status: StatusCode::NOT_FOUND,
                code: "not_found",
                message: format!("no route for {path}"),
            }
            .into_response();
        }
    };
    if request.method() != Method::GET {
        let mut response = ApiError {
            status: StatusCode::METHOD_NOT_ALLOWED,
            code: "method_not_allowed",
            message: format!("{} is not allowed on {path}; use GET", request.method()),
        }
        .into_response();
        response
            .headers_mut()
            .insert(header::ALLOW, HeaderValue::from_static(allowed));
        return response;
    }
    let query = request.uri().query().unwrap_or("");
    if query.len() > MAX_QUERY_LEN {
        return ApiError {
            status: StatusCode::URI_TOO_LONG,
            code: "query_too_long",
            message: format!("query string longer than {MAX_QUERY_LEN} bytes"),
        }
        .into_response();
    }
    let result = match path {
        "/v1/stream" => stream(&request, query, shard, slot),
        "/v1/snapshot" => snapshot(query, shard),
        "/v1/symbols" => Ok(symbols(shard)),
        "/healthz" => Ok(health(shard)),
        "/metrics" => Ok(metrics(shard)),
        _ => Ok(dashboard()),
    };
    result.unwrap_or_else(ApiError::into_response)
}

/// The symbols a request names.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Selection {
    /// `symbols=*`
    All,
    /// A deduplicated list, in request order.
    Symbols(Vec<Symbol>),
}

/// The value of query parameter `name` (percent-decoded), if present.
fn query_param(query: &str, name: &str) -> Option<String> {
    form_urlencoded::parse(query.as_bytes())
        .find(|(key, _)| key == name)
        .map(|(_, value)| value.into_owned())
}

/// Parses and validates `symbols=` against the limits and the universe.
pub fn parse_selection(
    query: &str,
    max: usize,
    known: impl Fn(&Symbol) -> bool,
    kind: UniverseKind,
) -> Result<Selection, ApiError> {
    let Some(list) = query_param(query, "symbols") else {
        return Err(ApiError::bad_request(
            "missing_symbols",
            "the symbols parameter is required: symbols=A,B,C or symbols=*",
        ));
    };
    if list == "*" {
        return Ok(Selection::All);
    }
    if list.trim().is_empty() {
        return Err(ApiError::bad_request(
            "empty_symbols",
            "the symbols list is empty",
        ));
    }
    let mut symbols: Vec<Symbol> = Vec::new();
    for (i, name) in list.split(',').enumerate() {
        if i >= max {
            return Err(ApiError::bad_request(
                "too_many_symbols",
                format!("at most {max} symbols per request"),
            ));
        }
        let name = name.trim();
        if name.is_empty() {
            return Err(ApiError::bad_request(
                "empty_symbols",
                format!("item {} of the symbols list is empty", i + 1),
            ));
        }
        let symbol = Symbol::new(name).map_err(|error| {
            let shown: String = name.chars().take(40).collect();
            ApiError::bad_request("bad_symbol", format!("symbol {shown:?}: {error}"))
        })?;
        if kind == UniverseKind::Closed && !known(&symbol) {
            return Err(ApiError::bad_request(
                "unknown_symbol",
                format!("unknown symbol {name:?}; see /v1/symbols"),
            ));
        }
        if !symbols.contains(&symbol) {
            symbols.push(symbol);
        }
    }
    Ok(Selection::Symbols(symbols))
}

fn selection(
    query: &str,
    shard: &ShardState,
) -> Result<(Selection, std::sync::Arc<crate::cache::Universe>), ApiError> {
    let cache = &shard.shared.cache;
    let universe = cache.universe();
    let selection = parse_selection(
        query,
        shard.shared.config.max_symbols_per_request,
        |s| universe.id(s).is_some(),
        cache.kind(),
    )?;
    Ok((selection, universe))
}

/// Parses a `Last-Event-ID` value: a decimal sequence number.
fn parse_last_event_id(text: &str) -> Result<Seq, ApiError> {
    let text = text.trim();
    if text.is_empty() || text.len() > 20 || !text.bytes().all(|b| b.is_ascii_digit()) {
        let shown: String = text.chars().take(40).collect();
        return Err(ApiError::bad_request(
            "bad_last_event_id",
            format!("Last-Event-ID {shown:?} is not an event id issued by tickcast"),
        ));
    }
    text.parse()
        .map_err(|_| ApiError::bad_request("bad_last_event_id", "Last-Event-ID is out of range"))
}

fn stream(
    request: &Request<Incoming>,
    query: &str,
    shard: &Rc<ShardState>,
    slot: &HandoffSlot,
) -> Result<Response<ResponseBody>, ApiError> {
    if shard.is_draining() {
        return Err(ApiError {
            status: StatusCode::SERVICE_UNAVAILABLE,
            code: "draining",
            message: "server is shutting down; reconnect to another instance".into(),
        });
    }
    let (selection, universe) = selection(query, shard)?;
    let header_id = request
        .headers()
        .get("last-event-id")
        .map(|v| v.to_str().unwrap_or("\u{fffd}").to_owned());
    let last = header_id.or_else(|| query_param(query, "lastEventId"));
    let start = match last {
        Some(text) => Start::After(parse_last_event_id(&text)?),
        None => Start::Fresh,
    };
    let filter = match &selection {
        Selection::All => Filter::all(),
        Selection::Symbols(symbols) => Filter::symbols(symbols, &universe),
    };
    let complete = match query_param(query, "complete").as_deref() {
        None | Some("0") | Some("false") => false,
        Some("1") | Some("true") => true,
        Some(other) => {
            let shown: String = other.chars().take(20).collect();
            return Err(ApiError::bad_request(
                "bad_complete",
                format!("complete={shown:?}: expected 1 or 0"),
            ));
        }
    };
    let key = shard.subscribe_with(filter, start, complete);
    let handoff = Handoff {
        subscription: Subscription {
            shard: shard.clone(),
            key,
        },
        // hyper answers an HTTP/1.0 request in HTTP/1.0, with the body ended by closing.
        framing: if request.version() == hyper::Version::HTTP_10 {
            Framing::UntilClose
        } else {
            Framing::Chunked
        },
    };
    let body = StreamBody::new(handoff, slot.clone());
    let mut response = Response::new(ResponseBody::Stream(body));
    let headers = response.headers_mut();
    headers.insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("text/event-stream"),
    );
    headers.insert(header::CACHE_CONTROL, HeaderValue::from_static("no-cache"));
    headers.insert("x-accel-buffering", HeaderValue::from_static("no"));
    Ok(response)
}

fn snapshot(query: &str, shard: &ShardState) -> Result<Response<ResponseBody>, ApiError> {
    let (selection, universe) = selection(query, shard)?;
    let head = shard.shared.ring.head();
    let mut names: Vec<Symbol> = match selection {
        Selection::All => universe.names().to_vec(),
        Selection::Symbols(symbols) => symbols,
    };
    if names.len() > 1 && universe.len() == names.len() {
        names.sort_unstable();
    }
    let mut body = Vec::with_capacity(64 + names.len() * 200);
    let _ = write!(ByteWriter(&mut body), "{{\"head_seq\":{head},\"ticks\":[");
    let mut missing = Vec::new();
    let mut first = true;
    for name in &names {
        match universe.id(name).and_then(|id| universe.latest(id)) {
            Some(event) => {
                if !first {
                    body.push(b',');
                }
                first = false;
                body.extend_from_slice(event.frame.json());
            }
            None => missing.push(name.as_str()),
        }
    }
    body.extend_from_slice(b"],\"missing\":");
    body.extend_from_slice(
        serde_json::to_string(&missing)
            .unwrap_or_else(|_| "[]".into())
            .as_bytes(),
    );
    body.push(b'}');
    Ok(json_response(StatusCode::OK, body))
}

fn symbols(shard: &ShardState) -> Response<ResponseBody> {
    let cache = &shard.shared.cache;
    let universe = cache.universe();
    let mut names: Vec<&str> = universe.names().iter().map(Symbol::as_str).collect();
    names.sort_unstable();
    let body = serde_json::json!({
        "universe": match cache.kind() { UniverseKind::Closed => "closed", UniverseKind::Open => "open" },
        "synthetic": shard.shared.synthetic,
        "symbols": names,
    });
    json_response(StatusCode::OK, body.to_string())
}

fn health(shard: &ShardState) -> Response<ResponseBody> {
    let shared = &shard.shared;
    if shard.is_draining() {
        return json_response(StatusCode::SERVICE_UNAVAILABLE, r#"{"status":"draining"}"#);
    }
    let body = serde_json::json!({
        "status": "ok",
        "synthetic": shared.synthetic,
        "shards": shared.config.shards,
        "head_seq": shared.ring.head(),
        "symbols": shared.cache.universe().len(),
        "uptime_s": shared.started.elapsed().as_secs(),
    });
    json_response(StatusCode::OK, body.to_string())
}

fn metrics(shard: &ShardState) -> Response<ResponseBody> {
    let mut response = Response::new(ResponseBody::full(shard.shared.metrics.render()));
    response.headers_mut().insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("text/plain; version=0.0.4"),
    );
    response
}

fn dashboard() -> Response<ResponseBody> {
    let mut response = Response::new(ResponseBody::full(Bytes::from_static(DASHBOARD.as_bytes())));
    response.headers_mut().insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("text/html; charset=utf-8"),
    );
    response
}

/// `fmt::Write` into a byte vector.
struct ByteWriter<'a>(&'a mut Vec<u8>);

impl std::fmt::Write for ByteWriter<'_> {
    fn write_str(&mut self, s: &str) -> std::fmt::Result {
        self.0.extend_from_slice(s.as_bytes());
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse(query: &str, kind: UniverseKind) -> Result<Selection, &'static str> {
        parse_selection(query, 3, |s| s.as_str().starts_with('K'), kind).map_err(|e| e.code)
    }

    #[test]
    fn symbol_lists() {
        use UniverseKind::*;
        assert_eq!(parse("symbols=*", Closed), Ok(Selection::All));
        assert_eq!(
            parse("symbols=KA,KB,KA", Closed),
            Ok(Selection::Symbols(vec![
                Symbol::new("KA").unwrap(),
                Symbol::new("KB").unwrap()
            ]))
        );
        assert_eq!(parse("symbols=KA%2CKB", Closed).map(|_| ()), Ok(()));
        assert_eq!(parse("", Closed), Err("missing_symbols"));
        assert_eq!(parse("symbols=", Closed), Err("empty_symbols"));
        assert_eq!(parse("symbols=KA,,KB", Closed), Err("empty_symbols"));
        assert_eq!(parse("symbols=K%20A", Closed), Err("bad_symbol"));
        assert_eq!(
            parse("symbols=KA,KB,KC,KD", Closed),
            Err("too_many_symbols")
        );
        assert_eq!(parse("symbols=ZZ", Closed), Err("unknown_symbol"));
        assert!(parse("symbols=ZZ", Open).is_ok());
    }

    #[test]
    fn last_event_ids() {
        assert_eq!(parse_last_event_id("42").unwrap(), 42);
        assert_eq!(parse_last_event_id(" 7 ").unwrap(), 7);
        for bad in [
            "",
            "abc",
            "-1",
            "1.5",
            "99999999999999999999999",
            "18446744073709551616",
        ] {
            assert_eq!(
                parse_last_event_id(bad).unwrap_err().code,
                "bad_last_event_id",
                "{bad}"
            );
        }
    }
}
