//! Routes: one handler per path, each answering from the shard it runs on.
//!
//! Place in the flow: hyper calls [`route`] for every request of a connection, on the shard
//! thread that adopted it. `/v1/stream` registers a subscriber on that shard and answers with a
//! stream body delivered as the connection's [`Delivery`] says (handed to the SSE writer, or as
//! data frames through hyper: [`super::body`], [`super::sse`]); it passes that choice on without
//! looking at it. The other routes read the lock-free cache, the ring's head and the metrics and
//! answer at once.
//! Every error is a status and a JSON body `{"error":{"code","message"}}`.
//! Must never block the shard thread.

use std::fmt::Write as _;
use std::rc::Rc;
use std::sync::Arc;

use bytes::Bytes;
use hyper::body::Incoming;
use hyper::header::{self, HeaderValue};
use hyper::{Method, Request, Response, StatusCode};

use super::HttpState;
use super::body::{Delivery, Framing, Handoff, ResponseBody, StreamBody, Subscription};
use super::cors::Allowed;
use super::limits::Refusal;
use super::request::{Selection, parse_last_event_id, parse_selection, query_param};
use crate::auth::Grant;
use crate::cache::{Universe, UniverseKind};
use crate::shard::delayed;
use crate::shard::subscriber::Admit;
use crate::shard::subscriber::Filter;
use crate::shard::{ShardState, Shared, Start, StreamOptions};
use crate::tick::{Symbol, SymbolId};

const DASHBOARD: &str = include_str!("dashboard.html");

/// An error answer: status, stable code, human message.
#[derive(Debug)]
pub struct ApiError {
    pub(super) status: StatusCode,
    pub(super) code: &'static str,
    pub(super) message: String,
}

impl ApiError {
    pub(super) fn bad_request(code: &'static str, message: impl Into<String>) -> Self {
        Self {
            status: StatusCode::BAD_REQUEST,
            code,
            message: message.into(),
        }
    }

    pub(super) fn into_response(self) -> Response<ResponseBody> {
        let body = serde_json::json!({"error": {"code": self.code, "message": self.message}});
        let mut response = json_response(self.status, body.to_string());
        if self.status == StatusCode::UNAUTHORIZED {
            response.headers_mut().insert(
                header::WWW_AUTHENTICATE,
                HeaderValue::from_static("Bearer realm=\"tickcast\""),
            );
        }
        response
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

/// The JSON body of a refusal by the edge's limits.
pub fn refusal_body(refusal: Refusal) -> String {
    serde_json::json!({"error": {"code": refusal.code(), "message": refusal.message()}}).to_string()
}

/// The answer to a request refused by the edge's limits: its status, JSON body and
/// `Retry-After` where waiting helps; `close` also ends the connection after it.
pub fn refusal_response(refusal: Refusal, close: bool) -> Response<ResponseBody> {
    let mut response = json_response(refusal.status(), refusal_body(refusal));
    let headers = response.headers_mut();
    if let Some(seconds) = refusal.retry_after() {
        headers.insert(header::RETRY_AFTER, HeaderValue::from(seconds));
    }
    if close {
        headers.insert(header::CONNECTION, HeaderValue::from_static("close"));
    }
    response
}

/// Bytes of a request's header lines as sent (`name: value\r\n` each).
fn header_bytes(request: &Request<Incoming>) -> usize {
    request
        .headers()
        .iter()
        .map(|(name, value)| name.as_str().len() + value.len() + 4)
        .sum()
}

/// Bytes of a request target as sent, without formatting it again.
fn target_len(uri: &hyper::Uri) -> usize {
    match uri.path_and_query() {
        Some(target) => target.as_str().len(),
        None => uri.to_string().len(),
    }
}

/// Answers one request: the route for its path, or a JSON error; CORS headers added for an
/// allowed origin.
pub fn route(
    request: Request<Incoming>,
    http: &HttpState,
    shard: &Rc<ShardState>,
    delivery: &Delivery,
) -> Response<ResponseBody> {
    let limits = http.limits.settings();
    let refused = if request.headers().len() > limits.max_headers
        || header_bytes(&request) > limits.max_header_bytes
    {
        Some(Refusal::HeadersTooLarge)
    } else if target_len(request.uri()) > limits.max_url_bytes {
        Some(Refusal::UrlTooLong)
    } else {
        None
    };
    if let Some(refusal) = refused {
        http.limits.count(refusal);
        return refusal_response(refusal, true);
    }
    let cors = if http.cors.is_off() {
        Allowed::NotCors
    } else {
        http.cors.allow(request.headers())
    };
    let mut response = if request.method() == Method::OPTIONS && !http.cors.is_off() {
        preflight(&request, http, &cors)
    } else {
        answer(request, http, shard, delivery)
    };
    if let Allowed::Yes(headers) = cors {
        response.headers_mut().extend(headers);
    }
    response
}

/// A CORS preflight: 204 with the allowed methods and headers for an allowed origin, 403
/// otherwise.
fn preflight(
    request: &Request<Incoming>,
    http: &HttpState,
    cors: &Allowed,
) -> Response<ResponseBody> {
    if !matches!(cors, Allowed::Yes(_)) {
        let shown: String = request
            .headers()
            .get(header::ORIGIN)
            .and_then(|o| o.to_str().ok())
            .unwrap_or("")
            .chars()
            .take(100)
            .collect();
        return ApiError {
            status: StatusCode::FORBIDDEN,
            code: "origin_not_allowed",
            message: format!("origin {shown:?} may not read this API (see --cors-origin)"),
        }
        .into_response();
    }
    let mut response = Response::new(ResponseBody::full(Bytes::new()));
    *response.status_mut() = StatusCode::NO_CONTENT;
    response.headers_mut().extend(http.cors.preflight());
    response
}

/// The route for the request's path.
fn answer(
    request: Request<Incoming>,
    http: &HttpState,
    shard: &Rc<ShardState>,
    delivery: &Delivery,
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
    let result = match path {
        "/v1/stream" => authorize(&request, query, http)
            .and_then(|grant| stream(&request, query, http, shard, delivery, grant)),
        "/v1/snapshot" => authorize(&request, query, http)
            .and_then(|grant| snapshot(query, http, shard, grant.as_ref())),
        "/v1/symbols" => {
            authorize(&request, query, http).map(|grant| symbols(http, shard, grant.as_ref()))
        }
        "/healthz" => Ok(health(http, &shard.shared)),
        "/metrics" if http.settings.private_metrics => Err(ApiError {
            status: StatusCode::NOT_FOUND,
            code: "not_found",
            message: "metrics are served on the --metrics-listen address".into(),
        }),
        "/metrics" => Ok(metrics(http, &shard.shared)),
        _ => Ok(dashboard()),
    };
    result.unwrap_or_else(ApiError::into_response)
}

/// The request's grant (`None` without `--auth`), or its 401.
fn authorize(
    request: &Request<Incoming>,
    query: &str,
    http: &HttpState,
) -> Result<Option<Grant>, ApiError> {
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_secs());
    http.gate
        .check(request.headers(), query, now)
        .map_err(|denied| ApiError {
            status: StatusCode::UNAUTHORIZED,
            code: denied.code(),
            message: denied.message().to_owned(),
        })
}

/// 403 naming the requested symbols that `grant` does not cover.
fn check_entitled(symbols: &[Symbol], grant: Option<&Grant>) -> Result<(), ApiError> {
    let Some(grant) = grant else { return Ok(()) };
    let refused: Vec<&str> = symbols
        .iter()
        .filter(|s| !grant.entitlements.allows(s))
        .map(Symbol::as_str)
        .collect();
    if refused.is_empty() {
        return Ok(());
    }
    Err(ApiError {
        status: StatusCode::FORBIDDEN,
        code: "not_entitled",
        message: format!(
            "the token does not entitle you to: {}",
            serde_json::to_string(&refused).unwrap_or_default()
        ),
    })
}

fn selection(
    query: &str,
    http: &HttpState,
    shard: &ShardState,
) -> Result<(Selection, Arc<Universe>), ApiError> {
    let cache = &shard.shared.cache;
    let universe = cache.universe();
    let selection = parse_selection(
        query,
        http.settings.max_symbols_per_request,
        |s| universe.id(s).is_some(),
        cache.kind(),
    )?;
    Ok((selection, universe))
}

fn stream(
    request: &Request<Incoming>,
    query: &str,
    http: &HttpState,
    shard: &Rc<ShardState>,
    delivery: &Delivery,
    grant: Option<Grant>,
) -> Result<Response<ResponseBody>, ApiError> {
    if shard.is_draining() {
        return Err(ApiError {
            status: StatusCode::SERVICE_UNAVAILABLE,
            code: "draining",
            message: "server is shutting down; reconnect to another instance".into(),
        });
    }
    let (selection, universe) = selection(query, http, shard)?;
    let header_id = request
        .headers()
        .get("last-event-id")
        .map(|v| v.to_str().unwrap_or("\u{fffd}").to_owned());
    let last = header_id.or_else(|| query_param(query, "lastEventId"));
    let start = match last {
        Some(text) => Start::After(parse_last_event_id(&text)?),
        None => Start::Fresh,
    };
    let filter = match (&selection, &grant) {
        (Selection::Symbols(symbols), _) => {
            check_entitled(symbols, grant.as_ref())?;
            Filter::symbols(symbols, &universe)
        }
        (Selection::All, Some(grant)) if !grant.entitlements.is_everything() => {
            // `*` is what the token allows, symbols that appear later included.
            let entitlements = grant.entitlements.clone();
            Filter::admitted(Admit::new(move |s| entitlements.allows(s)), &universe)
        }
        (Selection::All, _) => Filter::all(),
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
    let permit = match &grant {
        // A refusal by the limits, answered as the edge answers them (with `Retry-After`).
        Some(grant) => match http.limits.stream_permit(&grant.sub, grant.max_conns) {
            Ok(permit) => Some(permit),
            Err(refusal) => return Ok(refusal_response(refusal, false)),
        },
        None => None,
    };
    let options = StreamOptions {
        complete,
        expires_at: grant.as_ref().map(|g| g.exp.saturating_mul(1_000_000_000)),
        delay: grant
            .as_ref()
            .map(|g| g.tier.delay())
            .filter(|d| !d.is_zero()),
    };
    let key = shard.subscribe_with(filter, start, options);
    let handoff = Handoff {
        subscription: Subscription {
            shard: shard.clone(),
            key,
            permit,
        },
        // hyper answers an HTTP/1.0 request in HTTP/1.0, with the body ended by closing.
        framing: if request.version() == hyper::Version::HTTP_10 {
            Framing::UntilClose
        } else {
            Framing::Chunked
        },
    };
    let body = StreamBody::new(handoff, delivery.clone());
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

fn snapshot(
    query: &str,
    http: &HttpState,
    shard: &ShardState,
    grant: Option<&Grant>,
) -> Result<Response<ResponseBody>, ApiError> {
    let (selection, universe) = selection(query, http, shard)?;
    let head = shard.shared.ring.head();
    let mut names: Vec<Symbol> = match selection {
        Selection::All => universe
            .names()
            .iter()
            .filter(|s| grant.is_none_or(|g| g.entitlements.allows(s)))
            .copied()
            .collect(),
        Selection::Symbols(symbols) => {
            check_entitled(&symbols, grant)?;
            symbols
        }
    };
    // Delayed tier: the prices as of `now - delay`, from the ring.
    let delay = grant.map(|g| g.tier.delay()).filter(|d| !d.is_zero());
    let as_of = delay.map(|delay| {
        let now = crate::clock::now_ns();
        let ring = &shard.shared.ring;
        let cut = delayed::cut(ring, now.saturating_sub(delay.as_nanos() as u64));
        let wanted: std::collections::HashSet<SymbolId> =
            names.iter().filter_map(|n| universe.id(n)).collect();
        (
            cut,
            delayed::as_of(ring, &universe, cut, |id| wanted.contains(&id)),
        )
    });
    let head = as_of.as_ref().map_or(head, |(cut, _)| *cut);
    if names.len() > 1 && universe.len() == names.len() {
        names.sort_unstable();
    }
    let mut body = Vec::with_capacity(64 + names.len() * 200);
    let _ = write!(ByteWriter(&mut body), "{{\"head_seq\":{head},\"ticks\":[");
    let mut missing = Vec::new();
    let mut first = true;
    for name in &names {
        let latest = universe.id(name).and_then(|id| match &as_of {
            Some((_, prices)) => prices.get(id.index()).cloned().flatten(),
            None => universe.latest(id),
        });
        match latest {
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

fn symbols(http: &HttpState, shard: &ShardState, grant: Option<&Grant>) -> Response<ResponseBody> {
    let cache = &shard.shared.cache;
    let universe = cache.universe();
    let mut names: Vec<&str> = universe
        .names()
        .iter()
        .filter(|s| grant.is_none_or(|g| g.entitlements.allows(s)))
        .map(Symbol::as_str)
        .collect();
    names.sort_unstable();
    let body = serde_json::json!({
        "universe": match cache.kind() { UniverseKind::Closed => "closed", UniverseKind::Open => "open" },
        "synthetic": synthetic(http, &shard.shared),
        "symbols": names,
    });
    json_response(StatusCode::OK, body.to_string())
}

/// Whether the ticks served are a synthetic market: this node's feed, or (an edge) its feed
/// node's.
fn synthetic(http: &HttpState, shared: &Shared) -> bool {
    http.synthetic
        || shared
            .metrics
            .cluster
            .synthetic
            .load(std::sync::atomic::Ordering::Relaxed)
            == 1
}

/// `/healthz`: 200 with the process's facts, 503 while draining.
fn health(http: &HttpState, shared: &Shared) -> Response<ResponseBody> {
    let (status, body) = health_body(http, shared);
    json_response(status, body)
}

/// The status and JSON body of `/healthz` (also served by [`super::ops`]).
pub fn health_body(http: &HttpState, shared: &Shared) -> (StatusCode, String) {
    if shared.draining.load(std::sync::atomic::Ordering::Relaxed) {
        return (
            StatusCode::SERVICE_UNAVAILABLE,
            r#"{"status":"draining"}"#.to_owned(),
        );
    }
    let mut body = serde_json::json!({
        "status": "ok",
        "synthetic": synthetic(http, shared),
        "shards": http.shards,
        "head_seq": shared.ring.head(),
        "symbols": shared.cache.universe().len(),
        "uptime_s": http.started.elapsed().as_secs(),
    });
    // In a cluster: a node that lost Redis still serves what it holds (200), but says so.
    let cluster = &shared.metrics.cluster;
    let role = match cluster.role.load(std::sync::atomic::Ordering::Relaxed) {
        1 => Some("feed"),
        2 => Some("edge"),
        _ => None,
    };
    if let Some(role) = role {
        let up = cluster.redis_up.load(std::sync::atomic::Ordering::Relaxed) == 1;
        body["role"] = role.into();
        body["redis"] = if up { "up" } else { "down" }.into();
        if !up {
            body["status"] = "degraded".into();
        }
        if role == "edge" {
            body["epoch"] = cluster
                .epoch
                .load(std::sync::atomic::Ordering::Relaxed)
                .into();
        }
    }
    (StatusCode::OK, body.to_string())
}

/// `/metrics`: every counter in Prometheus text.
fn metrics(http: &HttpState, shared: &Shared) -> Response<ResponseBody> {
    let mut response = Response::new(ResponseBody::full(metrics_text(http, shared)));
    response.headers_mut().insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static(METRICS_CONTENT_TYPE),
    );
    response
}

/// The content type of Prometheus text.
pub const METRICS_CONTENT_TYPE: &str = "text/plain; version=0.0.4";

/// Every counter in Prometheus text (also served by [`super::ops`]).
pub fn metrics_text(http: &HttpState, shared: &Shared) -> String {
    let mut text = shared.metrics.render();
    http.limits.render(&mut text);
    http.gate.render(&mut text);
    text
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
