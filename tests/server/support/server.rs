//! A `tickcast` server per test, listening on port 0, and the typed calls a test makes on it.
//!
//! [`Server::start`] and its shorthands spawn the binary with `--listen 127.0.0.1:0` (through
//! [`Process`]), learn the HTTP and feed addresses from its ready line, and from then on every
//! call is a real request on a real socket: streams, feeds, `/metrics` scrapes, snapshots. A
//! server started with [`Server::start_tls`] gets the same calls over TLS (HTTP/1.1). Every
//! wait here is bounded ([`SETTLE_TIMEOUT`], [`EVENT_TIMEOUT`]) and names what it waited for.

use std::fmt::Display;
use std::net::SocketAddr;
use std::process::ExitStatus;
use std::time::Duration;

use serde_json::Value;
use tokio::net::TcpSocket;
use tokio::time::Instant;

use super::auth;
use super::http::{self, Conn, ReadError, Transport};
use super::process::{self, Process};
use super::tls::TestCert;
use super::{EVENT_TIMEOUT, Feed, Metrics, Response, SETTLE_TIMEOUT, SseStream, eventually};

/// The flag that gives a server one TCP feed listener on a free port.
const TCP_FEED: [&str; 2] = ["--feed", "tcp-listen://127.0.0.1:0"];
/// The ring capacity used unless a test sets its own: the default (8 Mi events) would make every
/// one of the parallel test servers reserve a large ring for a few hundred ticks.
const TEST_RING_CAPACITY: &str = "65536";

/// A running `tickcast` and where to reach it; the child is killed when this is dropped.
pub struct Server {
    process: Process,
    /// The HTTP address from the ready line.
    pub http: SocketAddr,
    /// The bound `tcp-listen://` feed addresses from the ready line.
    pub feeds: Vec<SocketAddr>,
    /// The `--metrics-listen` address from the ready line, when given.
    pub metrics: Option<SocketAddr>,
    /// How the harness's requests reach it (TLS when started with [`Server::start_tls`]).
    transport: Transport,
}

impl Server {
    /// Spawns `tickcast args... --listen 127.0.0.1:0` (and a small `--ring-capacity` unless
    /// `args` sets one) and waits for its ready line.
    pub async fn start(args: &[&str]) -> Server {
        let mut words: Vec<String> = args.iter().map(|arg| (*arg).to_owned()).collect();
        words.extend(["--listen".to_owned(), "127.0.0.1:0".to_owned()]);
        if !args.contains(&"--ring-capacity") {
            words.extend(["--ring-capacity".to_owned(), TEST_RING_CAPACITY.to_owned()]);
        }
        let (process, ready) = Process::spawn(words, "listening").await;
        let http: SocketAddr = ready["http"]
            .as_str()
            .and_then(|addr| addr.parse().ok())
            .unwrap_or_else(|| panic!("ready line has no usable \"http\" address: {ready}"));
        let feeds = ready["feeds"]
            .as_array()
            .unwrap_or_else(|| panic!("ready line has no \"feeds\" array: {ready}"))
            .iter()
            .map(|feed| process::tcp_feed_addr(feed, &ready))
            .collect();
        let metrics = ready["metrics"].as_str().and_then(|addr| addr.parse().ok());
        Server {
            process,
            http,
            feeds,
            metrics,
            transport: Transport::Plain,
        }
    }

    /// Like [`Server::start`], serving TLS with `cert`'s files; the harness's requests and
    /// streams then go over TLS (HTTP/1.1), trusting `cert`.
    pub async fn start_tls(args: &[&str], cert: &TestCert) -> Server {
        let flags = cert.flags();
        let mut words: Vec<&str> = args.to_vec();
        words.extend(flags.iter().map(String::as_str));
        let mut server = Server::start(&words).await;
        server.transport = Transport::Tls(cert.trust());
        server
    }

    /// A server whose only source is one TCP feed, with otherwise default flags.
    pub async fn tcp() -> Server {
        Server::start(&TCP_FEED).await
    }

    /// A server whose only source is one TCP feed, with `flags` added.
    pub async fn tcp_with(flags: &[&str]) -> Server {
        Server::start(&[&TCP_FEED, flags].concat()).await
    }

    /// A server with one TCP feed that needs a token (`--auth jwt`) verified with the test key
    /// file `key` ([`super::auth`]), with `flags` added.
    pub async fn jwt(key: &str, flags: &[&str]) -> Server {
        let key = auth::key_file(key);
        Server::tcp_with(&[&["--auth", "jwt", "--jwt-key", &key], flags].concat()).await
    }

    /// `tickcast replay args...`: recorded files served as the feed.
    pub async fn replay(args: &[&str]) -> Server {
        Server::start(&[&["replay"], args].concat()).await
    }

    /// Connects a new feed client to the first TCP feed.
    pub async fn feed(&self) -> Feed {
        let addr = *self
            .feeds
            .first()
            .expect("this server has no tcp-listen feed");
        Feed::connect(addr).await
    }

    /// Connects a new feed client, sends `trades` (symbol, raw price) one line per write, and
    /// waits until `/v1/snapshot` counts them all: on a server with no earlier ticks of these
    /// symbols, they are then sequenced and are what a new subscriber gets as snapshots.
    pub async fn seeded_feed(&self, trades: &[(&str, &str)]) -> Feed {
        self.seeded_feed_with(trades, &[]).await
    }

    /// [`Server::seeded_feed`] on a server that needs a token: `token` must entitle the
    /// symbols, for the snapshots that tell when the ticks are in.
    pub async fn seeded_feed_as(&self, trades: &[(&str, &str)], token: &str) -> Feed {
        let bearer = auth::bearer(token);
        self.seeded_feed_with(trades, &[("Authorization", &bearer)])
            .await
    }

    async fn seeded_feed_with(&self, trades: &[(&str, &str)], headers: &[(&str, &str)]) -> Feed {
        let mut feed = self.feed().await;
        feed.trades(trades).await;
        let mut counts: Vec<(&str, u64)> = Vec::new();
        for (symbol, _) in trades {
            match counts.iter_mut().find(|(seen, _)| seen == symbol) {
                Some((_, n)) => *n += 1,
                None => counts.push((symbol, 1)),
            }
        }
        self.wait_for_counts_with(&counts, headers).await;
        feed
    }

    // === HTTP requests ===

    /// Sends a request and reads the whole response, failing the test if there is none.
    pub async fn request(&self, method: &str, path: &str, headers: &[(&str, &str)]) -> Response {
        self.try_request(method, path, headers)
            .await
            .unwrap_or_else(|err| {
                panic!(
                    "{method} {} got no response: {err}\nstderr:\n{}",
                    shorten(path),
                    self.stderr()
                )
            })
    }

    /// Like [`Server::request`], but returns the failure.
    pub async fn try_request(
        &self,
        method: &str,
        path: &str,
        headers: &[(&str, &str)],
    ) -> Result<Response, ReadError> {
        http::request_via(
            &self.transport,
            self.http,
            method,
            path,
            headers,
            http::REQUEST_TIMEOUT,
        )
        .await
    }

    /// `GET path`.
    pub async fn get(&self, path: &str) -> Response {
        self.request("GET", path, &[]).await
    }

    /// `GET path` with `Authorization: Bearer token`.
    pub async fn get_as(&self, path: &str, token: &str) -> Response {
        let bearer = auth::bearer(token);
        self.request("GET", path, &[("Authorization", &bearer)])
            .await
    }

    /// `GET path` that must answer 200 with a JSON body.
    pub async fn get_json(&self, path: &str) -> Value {
        let response = self.get(path).await;
        assert_eq!(
            response.status(),
            200,
            "GET {path}: body {}",
            response.text()
        );
        response.json()
    }

    /// A bare client connection to the HTTP listener, for requests written by hand.
    pub async fn connect(&self, deadline: Instant) -> Conn {
        self.transport
            .connect(self.http, deadline)
            .await
            .unwrap_or_else(|err| panic!("connect to {}: {err}", self.http))
    }

    // === Streams ===

    /// Opens an SSE stream that must answer 200.
    pub async fn stream(&self, path: &str) -> SseStream {
        self.stream_ok(path, &[]).await
    }

    /// Opens an SSE stream with `Authorization: Bearer token`; it must answer 200.
    pub async fn stream_as(&self, path: &str, token: &str) -> SseStream {
        let bearer = auth::bearer(token);
        self.stream_ok(path, &[("Authorization", &bearer)]).await
    }

    /// Opens an SSE stream that resumes after `last_event_id` (the `Last-Event-ID` header a
    /// browser sends when it reconnects); it must answer 200.
    pub async fn resume(&self, path: &str, last_event_id: impl Display) -> SseStream {
        let last_event_id = last_event_id.to_string();
        self.stream_ok(path, &[("Last-Event-ID", &last_event_id)])
            .await
    }

    /// Opens an SSE stream with extra request headers; a non-200 answer is returned as `Err`.
    pub async fn stream_with(
        &self,
        path: &str,
        headers: &[(&str, &str)],
    ) -> Result<SseStream, Response> {
        SseStream::open(&self.transport, self.http, path, headers).await
    }

    /// Opens an SSE stream (that must answer 200) on a socket whose receive buffer is set to
    /// `bytes`: a client that stops reading then stalls the server's writes early.
    pub async fn stream_with_recv_buffer(&self, path: &str, bytes: u32) -> SseStream {
        let socket = TcpSocket::new_v4().expect("socket");
        socket.set_recv_buffer_size(bytes).expect("SO_RCVBUF");
        let connected = tokio::time::timeout(EVENT_TIMEOUT, socket.connect(self.http))
            .await
            .unwrap_or_else(|_| panic!("connect to {} timed out", self.http))
            .unwrap_or_else(|err| panic!("connect to {}: {err}", self.http));
        SseStream::open_on(connected, path, &[])
            .await
            .unwrap_or_else(|response| panic!("GET {path} answered {}", describe(&response)))
    }

    async fn stream_ok(&self, path: &str, headers: &[(&str, &str)]) -> SseStream {
        self.stream_with(path, headers)
            .await
            .unwrap_or_else(|response| {
                panic!("GET {path} {headers:?} answered {}", describe(&response))
            })
    }

    // === Metrics and snapshots ===

    /// Scrapes `/metrics`.
    pub async fn metrics(&self) -> Metrics {
        let response = self.get("/metrics").await;
        assert_eq!(response.status(), 200, "/metrics: {}", response.text());
        Metrics::parse(&response.text())
    }

    /// One scrape's sum of the samples `name{labels}`; a missing metric fails the test.
    pub async fn metric(&self, name: &str, labels: &[(&str, &str)]) -> f64 {
        self.metrics().await.sum(name, labels)
    }

    /// Scrapes until the sum of `name{labels}` is present and `accept`ed, at most
    /// [`SETTLE_TIMEOUT`]; returns that value. `what` names the condition for the failure.
    pub async fn wait_metric(
        &self,
        what: &str,
        name: &str,
        labels: &[(&str, &str)],
        accept: impl Fn(f64) -> bool,
    ) -> f64 {
        eventually(
            &format!("{name}{labels:?}: {what}"),
            SETTLE_TIMEOUT,
            async || {
                let value = self.metrics().await.try_sum(name, labels)?;
                accept(value).then_some(value)
            },
        )
        .await
    }

    /// Waits until the server has ingested at least `count` ticks, and returns the exact count.
    pub async fn wait_ingested(&self, count: u64) -> u64 {
        let ingested = self
            .wait_metric(
                &format!(">= {count}"),
                "tickcast_ticks_ingested_total",
                &[],
                |ingested| ingested >= count as f64,
            )
            .await;
        ingested as u64
    }

    /// Waits until `tickcast_subscribers`, summed over shards, is exactly `count`.
    pub async fn wait_subscribers(&self, count: u64) {
        self.wait_metric(
            &format!("== {count}"),
            "tickcast_subscribers",
            &[],
            |subscribers| subscribers == count as f64,
        )
        .await;
    }

    /// Waits until `/v1/snapshot` shows each symbol with per-symbol count `n`: the ticks fed so
    /// far have been sequenced and are visible to new subscribers. Returns that snapshot.
    pub async fn wait_for_counts(&self, counts: &[(&str, u64)]) -> Value {
        self.wait_for_counts_with(counts, &[]).await
    }

    /// [`Server::wait_for_counts`] on a server that needs a token (one that entitles the
    /// symbols).
    pub async fn wait_for_counts_as(&self, counts: &[(&str, u64)], token: &str) -> Value {
        let bearer = auth::bearer(token);
        self.wait_for_counts_with(counts, &[("Authorization", &bearer)])
            .await
    }

    async fn wait_for_counts_with(
        &self,
        counts: &[(&str, u64)],
        headers: &[(&str, &str)],
    ) -> Value {
        let symbols: Vec<&str> = counts.iter().map(|(symbol, _)| *symbol).collect();
        let path = format!("/v1/snapshot?symbols={}", symbols.join(","));
        let mut last = Value::Null;
        let found = tokio::time::timeout(SETTLE_TIMEOUT, async {
            loop {
                let response = self.request("GET", &path, headers).await;
                if response.status() == 200 {
                    last = response.json();
                    let all = counts.iter().all(|(symbol, n)| {
                        snapshot_tick(&last, symbol).is_some_and(|tick| tick["n"] == *n)
                    });
                    if all {
                        return last.clone();
                    }
                } else {
                    last = Value::String(describe(&response));
                }
                tokio::time::sleep(Duration::from_millis(20)).await;
            }
        })
        .await;
        found.unwrap_or_else(|_| {
            panic!("timed out waiting for {path} to show counts {counts:?}; last answer: {last}")
        })
    }

    // === The process ===

    /// The child's process id.
    pub fn pid(&self) -> u32 {
        self.process.pid()
    }

    /// True while the child has not exited.
    pub fn is_running(&mut self) -> bool {
        self.process.is_running()
    }

    /// Sends SIGTERM to this child (and only to it, by its pid).
    pub fn terminate(&self) {
        self.process.terminate();
    }

    /// Sends SIGHUP to this child (and only to it, by its pid): reload.
    pub fn hangup(&self) {
        self.process.signal("HUP");
    }

    /// Sends signal `name` (`KILL`, `STOP`, `CONT`...) to this child, and only to it, by its pid.
    pub fn signal(&self, name: &str) {
        self.process.signal(name);
    }

    /// Waits for the child to exit, at most `limit`.
    pub async fn wait_exit(&mut self, limit: Duration) -> ExitStatus {
        self.process.wait_exit(limit).await
    }

    /// Lines the child printed on stdout after its ready line; only once it has exited.
    pub fn stdout_after_ready(&mut self) -> Vec<String> {
        self.process.stdout_after_ready()
    }

    /// The tail of what the child wrote to stderr so far.
    pub fn stderr(&self) -> String {
        self.process.stderr()
    }
}

/// The tick object for `symbol` in a `/v1/snapshot` answer.
pub fn snapshot_tick<'a>(snapshot: &'a Value, symbol: &str) -> Option<&'a Value> {
    snapshot["ticks"]
        .as_array()?
        .iter()
        .find(|tick| tick["sym"] == symbol)
}

/// `head_seq` of a `/v1/snapshot` answer: the seq of the last sequenced tick.
#[track_caller]
pub fn head_seq(snapshot: &Value) -> u64 {
    snapshot["head_seq"]
        .as_u64()
        .unwrap_or_else(|| panic!("snapshot has no integer head_seq: {snapshot}"))
}

/// Status and body of a response, for a failure message.
fn describe(response: &Response) -> String {
    format!("{} {}", response.status(), response.text())
}

/// A path short enough for a failure message.
fn shorten(path: &str) -> String {
    if path.len() <= 200 {
        path.to_owned()
    } else {
        format!("{}... ({} bytes)", &path[..200], path.len())
    }
}
