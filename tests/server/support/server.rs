//! One `tickcast` child process per test, listening on port 0.
//!
//! The child is spawned from `CARGO_BIN_EXE_tickcast`; a thread reads its stdout (the first line
//! is the JSON ready line, anything after it is kept so a test can check there is none), another
//! collects stderr for failure messages. Dropping the [`Server`] kills that one child by its
//! handle and reaps it; if the test is failing, the child's stderr is printed.

use std::cell::RefCell;
use std::io::{BufRead, BufReader, Read};
use std::net::SocketAddr;
use std::process::{Child, Command, ExitStatus, Stdio};
use std::sync::{Arc, Mutex};
use std::thread::JoinHandle;
use std::time::Duration;

use serde_json::Value;
use tokio::sync::oneshot;
use tokio::time::Instant;

use super::http::{self, ReadError};
use super::{Feed, Metrics, Response, SETTLE_TIMEOUT, SseStream, eventually};

/// How long the child may take to print its ready line.
const READY_TIMEOUT: Duration = Duration::from_secs(15);
/// The ring capacity used unless a test sets its own: the default (8 Mi events) would make every
/// one of the parallel test servers reserve a large ring for a few hundred ticks.
const TEST_RING_CAPACITY: &str = "65536";
/// How much of the child's stderr a failure message shows.
const STDERR_TAIL: usize = 16 * 1024;

thread_local! {
    /// Stderr of servers dropped on this thread, for [`super::within`] to show on a timeout
    /// (the timed-out body, and with it the server, is gone by then).
    static DROPPED_STDERR: RefCell<String> = const { RefCell::new(String::new()) };
}

/// Returns (and forgets) the stderr of servers dropped on this thread.
pub(super) fn take_dropped_stderr() -> String {
    DROPPED_STDERR.with(|cell| std::mem::take(&mut *cell.borrow_mut()))
}

/// Flags for a server about to be spawned.
pub struct ServerBuilder {
    args: Vec<String>,
    subcommand: Vec<String>,
}

impl ServerBuilder {
    /// Adds `name value` to the command line.
    pub fn flag(mut self, name: &str, value: &str) -> Self {
        self.args.push(name.to_owned());
        self.args.push(value.to_owned());
        self
    }

    /// Adds a flag that takes no value.
    pub fn switch(mut self, name: &str) -> Self {
        self.args.push(name.to_owned());
        self
    }

    /// Runs a subcommand (`replay FILE...`) instead of plain serving; its words go first.
    pub fn subcommand(mut self, words: &[&str]) -> Self {
        self.subcommand = words.iter().map(|w| (*w).to_owned()).collect();
        self
    }

    /// Adds a TCP feed listener on a free port (`--feed tcp-listen://127.0.0.1:0`).
    pub fn tcp_feed(self) -> Self {
        self.flag("--feed", "tcp-listen://127.0.0.1:0")
    }

    /// Spawns the server and waits for its ready line.
    pub async fn spawn(self) -> Server {
        let mut command = Command::new(env!("CARGO_BIN_EXE_tickcast"));
        command.args(&self.subcommand);
        command.args(["--listen", "127.0.0.1:0"]);
        if !self.args.iter().any(|arg| arg == "--ring-capacity") {
            command.args(["--ring-capacity", TEST_RING_CAPACITY]);
        }
        command
            .args(&self.args)
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped());
        let mut child = command
            .spawn()
            .unwrap_or_else(|err| panic!("cannot spawn tickcast {:?}: {err}", self.args));

        let stderr = Arc::new(Mutex::new(Vec::new()));
        let mut child_stderr = child.stderr.take().expect("stderr is piped");
        let sink = Arc::clone(&stderr);
        std::thread::spawn(move || {
            let mut chunk = [0u8; 4096];
            while let Ok(n @ 1..) = child_stderr.read(&mut chunk) {
                sink.lock()
                    .expect("stderr lock")
                    .extend_from_slice(&chunk[..n]);
            }
        });

        let (ready_tx, ready_rx) = oneshot::channel();
        let child_stdout = child.stdout.take().expect("stdout is piped");
        let stdout_reader = std::thread::spawn(move || {
            let mut lines = BufReader::new(child_stdout).lines();
            let _ = ready_tx.send(lines.next().and_then(Result::ok));
            lines.map_while(Result::ok).collect::<Vec<_>>()
        });

        // From here on the process is owned by `process`, so a failed start still kills it.
        let mut process = Process {
            child,
            stderr,
            stdout_reader: Some(stdout_reader),
        };
        let line = match tokio::time::timeout(READY_TIMEOUT, ready_rx).await {
            Ok(Ok(Some(line))) => line,
            outcome => {
                let status = process.child.try_wait().ok().flatten();
                panic!(
                    "tickcast {:?} printed no ready line ({}; exit status {status:?})\nstderr:\n{}",
                    self.args,
                    if outcome.is_err() {
                        "timed out"
                    } else {
                        "stdout closed"
                    },
                    process.stderr_tail()
                );
            }
        };
        let ready: Value = serde_json::from_str(&line).unwrap_or_else(|err| {
            panic!(
                "ready line is not JSON ({err}): {line:?}\n{}",
                process.stderr_tail()
            )
        });
        assert_eq!(ready["event"], "listening", "ready line {line}");
        let http: SocketAddr = ready["http"]
            .as_str()
            .and_then(|addr| addr.parse().ok())
            .unwrap_or_else(|| panic!("ready line has no usable \"http\" address: {line}"));
        let feeds = ready["feeds"]
            .as_array()
            .unwrap_or_else(|| panic!("ready line has no \"feeds\" array: {line}"))
            .iter()
            .map(|feed| {
                feed.as_str()
                    .and_then(|feed| feed.strip_prefix("tcp-listen://"))
                    .and_then(|addr| addr.parse().ok())
                    .unwrap_or_else(|| panic!("feed {feed} is not tcp-listen://ADDR: {line}"))
            })
            .collect();
        Server {
            process,
            http,
            feeds,
        }
    }
}

/// The child process; kills and reaps it on drop.
struct Process {
    child: Child,
    stderr: Arc<Mutex<Vec<u8>>>,
    stdout_reader: Option<JoinHandle<Vec<String>>>,
}

impl Process {
    fn stderr_tail(&self) -> String {
        let bytes = self.stderr.lock().expect("stderr lock");
        let start = bytes.len().saturating_sub(STDERR_TAIL);
        String::from_utf8_lossy(&bytes[start..]).into_owned()
    }
}

impl Drop for Process {
    fn drop(&mut self) {
        if let Ok(None) = self.child.try_wait() {
            let _ = self.child.kill();
            let _ = self.child.wait();
        }
        let report = format!(
            "--- tickcast (pid {}) stderr ---\n{}\n--- end of stderr ---",
            self.child.id(),
            self.stderr_tail()
        );
        if std::thread::panicking() {
            eprintln!("{report}");
        } else {
            DROPPED_STDERR.with(|cell| cell.borrow_mut().push_str(&report));
        }
    }
}

/// A running `tickcast` and where to reach it.
pub struct Server {
    process: Process,
    /// The HTTP address from the ready line.
    pub http: SocketAddr,
    /// The bound `tcp-listen://` feed addresses from the ready line.
    pub feeds: Vec<SocketAddr>,
}

impl Server {
    /// A builder; add flags, then [`ServerBuilder::spawn`].
    pub fn builder() -> ServerBuilder {
        ServerBuilder {
            args: Vec::new(),
            subcommand: Vec::new(),
        }
    }

    /// A server whose only source is one TCP feed, with otherwise default flags.
    pub async fn tcp() -> Server {
        Server::builder().tcp_feed().spawn().await
    }

    /// Connects a new feed client to the first TCP feed.
    pub async fn feed(&self) -> Feed {
        let addr = *self
            .feeds
            .first()
            .expect("this server has no tcp-listen feed");
        Feed::connect(addr).await
    }

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
        http::request(self.http, method, path, headers, http::REQUEST_TIMEOUT).await
    }

    /// `GET path`.
    pub async fn get(&self, path: &str) -> Response {
        self.request("GET", path, &[]).await
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

    /// Opens an SSE stream that must answer 200.
    pub async fn stream(&self, path: &str) -> SseStream {
        self.stream_with(path, &[])
            .await
            .unwrap_or_else(|response| {
                panic!(
                    "GET {path} answered {} {}",
                    response.status(),
                    response.text()
                )
            })
    }

    /// Opens an SSE stream with extra request headers; a non-200 answer is returned as `Err`.
    pub async fn stream_with(
        &self,
        path: &str,
        headers: &[(&str, &str)],
    ) -> Result<SseStream, Response> {
        SseStream::open(self.http, path, headers).await
    }

    /// Scrapes `/metrics`.
    pub async fn metrics(&self) -> Metrics {
        let response = self.get("/metrics").await;
        assert_eq!(response.status(), 200, "/metrics: {}", response.text());
        Metrics::parse(&response.text())
    }

    /// Waits until `/v1/snapshot` shows each symbol with per-symbol count `n`: the ticks fed so
    /// far have been sequenced and are visible to new subscribers.
    pub async fn wait_for_counts(&self, counts: &[(&str, u64)]) -> Value {
        let symbols: Vec<&str> = counts.iter().map(|(symbol, _)| *symbol).collect();
        let path = format!("/v1/snapshot?symbols={}", symbols.join(","));
        let mut last = Value::Null;
        let found = tokio::time::timeout(SETTLE_TIMEOUT, async {
            loop {
                let response = self.get(&path).await;
                if response.status() == 200 {
                    last = response.json();
                    let all = counts.iter().all(|(symbol, n)| {
                        snapshot_tick(&last, symbol).is_some_and(|tick| tick["n"] == *n)
                    });
                    if all {
                        return last.clone();
                    }
                } else {
                    last = Value::String(format!("{} {}", response.status(), response.text()));
                }
                tokio::time::sleep(Duration::from_millis(20)).await;
            }
        })
        .await;
        found.unwrap_or_else(|_| {
            panic!("timed out waiting for {path} to show counts {counts:?}; last answer: {last}")
        })
    }

    /// Waits until the server has ingested at least `count` ticks, and returns the exact count.
    pub async fn wait_ingested(&self, count: u64) -> u64 {
        eventually(
            &format!("tickcast_ticks_ingested_total >= {count}"),
            SETTLE_TIMEOUT,
            async || {
                let ingested = self
                    .metrics()
                    .await
                    .try_sum("tickcast_ticks_ingested_total", &[])?;
                (ingested >= count as f64).then_some(ingested as u64)
            },
        )
        .await
    }

    /// Waits until `tickcast_subscribers`, summed over shards, is exactly `count`.
    pub async fn wait_subscribers(&self, count: u64) {
        eventually(
            &format!("tickcast_subscribers == {count}"),
            SETTLE_TIMEOUT,
            async || {
                let subscribers = self.metrics().await.try_sum("tickcast_subscribers", &[])?;
                (subscribers == count as f64).then_some(())
            },
        )
        .await;
    }

    /// The child's process id.
    pub fn pid(&self) -> u32 {
        self.process.child.id()
    }

    /// True while the child has not exited.
    pub fn is_running(&mut self) -> bool {
        matches!(self.process.child.try_wait(), Ok(None))
    }

    /// Sends SIGTERM to this child (and only to it, by its pid).
    pub fn terminate(&self) {
        let status = Command::new("kill")
            .arg("-TERM")
            .arg(self.pid().to_string())
            .status()
            .expect("run kill");
        assert!(status.success(), "kill -TERM {} failed", self.pid());
    }

    /// Waits for the child to exit, at most `limit`.
    pub async fn wait_exit(&mut self, limit: Duration) -> ExitStatus {
        let deadline = Instant::now() + limit;
        loop {
            if let Some(status) = self.process.child.try_wait().expect("try_wait") {
                return status;
            }
            assert!(
                Instant::now() < deadline,
                "tickcast did not exit within {limit:?}\nstderr:\n{}",
                self.stderr()
            );
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    }

    /// Lines the child printed on stdout after its ready line; only once it has exited.
    pub fn stdout_after_ready(&mut self) -> Vec<String> {
        assert!(!self.is_running(), "stdout is complete only after exit");
        self.process
            .stdout_reader
            .take()
            .map(|reader| reader.join().expect("stdout reader thread"))
            .unwrap_or_default()
    }

    /// The tail of what the child wrote to stderr so far.
    pub fn stderr(&self) -> String {
        self.process.stderr_tail()
    }
}

/// The tick object for `symbol` in a `/v1/snapshot` answer.
pub fn snapshot_tick<'a>(snapshot: &'a Value, symbol: &str) -> Option<&'a Value> {
    snapshot["ticks"]
        .as_array()?
        .iter()
        .find(|tick| tick["sym"] == symbol)
}

/// A path short enough for a failure message.
fn shorten(path: &str) -> String {
    if path.len() <= 200 {
        path.to_owned()
    } else {
        format!("{}... ({} bytes)", &path[..200], path.len())
    }
}
