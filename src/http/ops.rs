//! The private operations listener (`--metrics-listen ADDR`): `/metrics` and `/healthz` on an
//! address of their own, so scrapes and probes need not be exposed with the stream.
//!
//! Place in the flow: one task on the control runtime (`server` spawns it), serving plain
//! HTTP/1.1 with hyper, one small task per connection; it reads the same counters and state the
//! public routes read ([`super::routes::metrics_text`], [`super::routes::health_body`]). When it is on,
//! the public listener answers `/metrics` with 404.
//! Must never serve the stream, a snapshot or anything that needs a token; never block.

use std::convert::Infallible;
use std::sync::Arc;
use std::time::Duration;

use bytes::Bytes;
use http_body_util::Full;
use hyper::header::{self, HeaderValue};
use hyper::{Method, Request, Response, StatusCode};
use hyper_util::rt::{TokioIo, TokioTimer};
use tokio::net::TcpListener;
use tokio_util::sync::CancellationToken;
use tokio_util::task::TaskTracker;

use super::HttpState;
use super::routes::{self, METRICS_CONTENT_TYPE};
use crate::shard::Shared;

/// Time an operations client has to send its request head.
const HEADER_READ_TIMEOUT: Duration = Duration::from_secs(5);

/// Serves `/metrics` and `/healthz` on `listener` until `stop`.
pub async fn serve(
    listener: TcpListener,
    http: Arc<HttpState>,
    shared: Arc<Shared>,
    stop: CancellationToken,
) {
    let connections = TaskTracker::new();
    loop {
        let accepted = tokio::select! {
            _ = stop.cancelled() => break,
            accepted = listener.accept() => accepted,
        };
        let Ok((stream, _)) = accepted else {
            tokio::time::sleep(Duration::from_millis(20)).await;
            continue;
        };
        let (http, shared) = (http.clone(), shared.clone());
        connections.spawn(async move {
            let service = hyper::service::service_fn(move |request| {
                let response = answer(&request, &http, &shared);
                async move { Ok::<_, Infallible>(response) }
            });
            let mut builder = hyper::server::conn::http1::Builder::new();
            builder
                .timer(TokioTimer::new())
                .header_read_timeout(HEADER_READ_TIMEOUT);
            if let Err(error) = builder
                .serve_connection(TokioIo::new(stream), service)
                .await
            {
                tracing::debug!(%error, "metrics connection ended");
            }
        });
    }
    connections.close();
    let _ = tokio::time::timeout(Duration::from_secs(1), connections.wait()).await;
}

fn answer<B>(request: &Request<B>, http: &HttpState, shared: &Shared) -> Response<Full<Bytes>> {
    let path = request.uri().path();
    let (status, content_type, body) = match (request.method(), path) {
        (&Method::GET, "/metrics") => (
            StatusCode::OK,
            METRICS_CONTENT_TYPE,
            routes::metrics_text(http, shared),
        ),
        (&Method::GET, "/healthz") => {
            let (status, body) = routes::health_body(http, shared);
            (status, "application/json", body)
        }
        (&Method::GET, _) => (
            StatusCode::NOT_FOUND,
            "application/json",
            error("not_found", "only /metrics and /healthz are served here"),
        ),
        _ => (
            StatusCode::METHOD_NOT_ALLOWED,
            "application/json",
            error("method_not_allowed", "use GET"),
        ),
    };
    let mut response = Response::new(Full::new(Bytes::from(body)));
    *response.status_mut() = status;
    response
        .headers_mut()
        .insert(header::CONTENT_TYPE, HeaderValue::from_static(content_type));
    response
}

fn error(code: &str, message: &str) -> String {
    serde_json::json!({"error": {"code": code, "message": message}}).to_string()
}
