//! The harness: a `tickcast` child process per test and the clients that talk to it, so a test
//! file says what it checks and not how to reach the server.
//!
//! - [`Server`] spawns the binary on port 0 ([`Server::tcp`], [`Server::tcp_with`] flags,
//!   [`Server::replay`] files, or [`Server::start`] with any command line), learns the HTTP and
//!   feed addresses from its ready line, and gives the typed calls a test makes: streams (fresh,
//!   resumed after an id, on a small receive buffer), requests, snapshots, `/metrics` reads and
//!   bounded waits for a metric, a per-symbol count, ingest or subscribers.
//! - [`Recorder`] is a `tickcast record` child; [`run`] runs an invocation that exits by itself,
//!   with a time limit. All three stand on one child-process type (`process`): ready line,
//!   captured stderr, killed on drop.
//! - [`Feed`] writes native JSON lines to a `tcp-listen://` feed, one per write or in a burst.
//! - [`http`] is a minimal HTTP/1.1 client (no extra crates; plain or over TLS), [`SseStream`]
//!   decodes a chunked `text/event-stream` body incrementally (or an HTTP/2 stream's data
//!   frames) and parses it per the WHATWG rules.
//! - [`auth`] holds the test keys and makes tokens (minted, by `tickcast token`, or forged) for
//!   servers started with [`Server::jwt`].
//! - [`tls`] makes test certificates (rcgen) and holds the TLS and HTTP/2 (hyper) clients.
//! - [`Metrics`] parses a `/metrics` scrape and sums samples by name and labels.
//! - [`RedisServer`] is a `redis-server` child on a free port for the cluster tests, with a
//!   tiny RESP client to look at and tamper with what it holds.
//!
//! Waiting is always bounded: [`eventually`] polls a condition until a deadline, and every test
//! body runs inside [`within`].

pub mod auth;
mod feed;
pub mod http;
mod metrics;
mod process;
mod record;
mod redis;
mod server;
mod sse;
pub mod tls;

use std::future::Future;
use std::time::Duration;

pub use feed::{Feed, trade_lines};
pub use http::Response;
pub use metrics::Metrics;
pub use process::{Process, run};
pub use record::Recorder;
pub use redis::RedisServer;
pub use server::{Server, head_seq, snapshot_tick};
pub use sse::{End, Event, Item, SseStream, raw_number};
pub use tls::{Http2Client, TestCert};

/// Upper bound for one whole test; the suite must never hang on a broken server.
pub const TEST_TIMEOUT: Duration = Duration::from_secs(45);
/// How long to wait for one expected event on a stream.
pub const EVENT_TIMEOUT: Duration = Duration::from_secs(5);
/// How long to wait for a condition that should become true "soon" (ingest, registration).
pub const SETTLE_TIMEOUT: Duration = Duration::from_secs(10);
/// Pause between two probes of [`eventually`].
const POLL_INTERVAL: Duration = Duration::from_millis(20);

/// Runs a test body with a hard time limit. On timeout the body (and so its [`Server`]) is
/// dropped first, then the test fails with the server's stderr.
pub async fn within<F: Future>(limit: Duration, body: F) -> F::Output {
    match tokio::time::timeout(limit, body).await {
        Ok(output) => output,
        Err(_) => panic!(
            "test did not finish within {limit:?}\n{}",
            process::take_dropped_stderr()
        ),
    }
}

/// Polls `probe` until it returns `Some`, at most for `limit`; panics naming `what` otherwise.
pub async fn eventually<T>(
    what: &str,
    limit: Duration,
    mut probe: impl AsyncFnMut() -> Option<T>,
) -> T {
    let deadline = tokio::time::Instant::now() + limit;
    loop {
        if let Some(value) = probe().await {
            return value;
        }
        if tokio::time::Instant::now() >= deadline {
            panic!("timed out after {limit:?} waiting for {what}");
        }
        tokio::time::sleep(POLL_INTERVAL).await;
    }
}

/// Asserts that `ids` strictly increase, naming the first offending pair.
pub fn assert_strictly_increasing(what: &str, ids: &[u64]) {
    if let Some(pair) = ids.windows(2).find(|pair| pair[0] >= pair[1]) {
        panic!(
            "{what}: ids must strictly increase, but {} is followed by {} (all: {ids:?})",
            pair[0], pair[1]
        );
    }
}

/// Checks a JSON error response: status, `error.code`, and a non-empty `error.message`.
/// Returns the message so callers can check what it names.
#[track_caller]
pub fn assert_error(response: &Response, status: u16, code: &str) -> String {
    assert_eq!(
        response.status(),
        status,
        "expected {status} {code}, got {} with body {}",
        response.status(),
        response.text()
    );
    let body = response.json();
    assert_eq!(
        body["error"]["code"], code,
        "error code for a {status} response, body {body}"
    );
    let message = body["error"]["message"]
        .as_str()
        .unwrap_or_else(|| panic!("error.message must be a string, body {body}"));
    assert!(!message.is_empty(), "error.message must not be empty");
    message.to_owned()
}
