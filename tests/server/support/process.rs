//! One `tickcast` child process: spawned from `CARGO_BIN_EXE_tickcast`, its one ready line read
//! from stdout, its stderr kept for failure messages, killed and reaped on drop.
//!
//! [`Process::spawn`] serves [`super::Server`] and [`super::Recorder`];
//! [`Process::spawn_unready`] a child that must not become ready; [`run`] is the bounded
//! one-shot form for invocations that exit by themselves (`replay --to`, bad flags).
//!
//! A thread reads the child's stdout (the first line is the JSON ready line, anything after it is
//! kept so a test can check there is none), another collects stderr. Dropping a [`Process`] kills
//! that one child by its handle; if the test is failing, the child's stderr is printed.

use std::cell::RefCell;
use std::io::{BufRead, BufReader, Read};
use std::net::SocketAddr;
use std::process::{Child, Command, ExitStatus, Output, Stdio};
use std::sync::{Arc, Mutex};
use std::thread::JoinHandle;
use std::time::Duration;

use serde_json::Value;
use tokio::sync::oneshot;
use tokio::time::Instant;

/// How long the child may take to print its ready line.
const READY_TIMEOUT: Duration = Duration::from_secs(15);
/// How much of the child's stderr a failure message shows.
const STDERR_TAIL: usize = 16 * 1024;
/// Pause between two checks of whether the child has exited.
const EXIT_POLL: Duration = Duration::from_millis(20);

thread_local! {
    /// Stderr of processes dropped on this thread, for [`super::within`] to show on a timeout
    /// (the timed-out body, and with it the process, is gone by then).
    static DROPPED_STDERR: RefCell<String> = const { RefCell::new(String::new()) };
}

/// Returns (and forgets) the stderr of processes dropped on this thread.
pub(super) fn take_dropped_stderr() -> String {
    DROPPED_STDERR.with(|cell| std::mem::take(&mut *cell.borrow_mut()))
}

/// A running child; kills and reaps it on drop.
pub struct Process {
    child: Child,
    args: Vec<String>,
    stderr: Arc<Mutex<Vec<u8>>>,
    stdout_reader: Option<JoinHandle<Vec<String>>>,
}

impl Process {
    /// Spawns `tickcast args...` and waits for its ready line, which must be a JSON object whose
    /// `event` is `ready_event`; returns the process and that object.
    pub async fn spawn(args: Vec<String>, ready_event: &str) -> (Process, Value) {
        let mut child = tickcast(&args)
            .stdout(Stdio::piped())
            .spawn()
            .unwrap_or_else(|err| panic!("cannot spawn tickcast {args:?}: {err}"));
        let (stderr, _) = collect_stderr(&mut child);

        let (ready_tx, ready_rx) = oneshot::channel();
        let child_stdout = child.stdout.take().expect("stdout is piped");
        let stdout_reader = std::thread::spawn(move || {
            let mut lines = BufReader::new(child_stdout).lines();
            let _ = ready_tx.send(lines.next().and_then(Result::ok));
            lines.map_while(Result::ok).collect::<Vec<_>>()
        });

        // From here on the child is owned by `process`, so a failed start still kills it.
        let mut process = Process {
            child,
            args,
            stderr,
            stdout_reader: Some(stdout_reader),
        };
        let line = match tokio::time::timeout(READY_TIMEOUT, ready_rx).await {
            Ok(Ok(Some(line))) => line,
            outcome => {
                let status = process.child.try_wait().ok().flatten();
                panic!(
                    "tickcast {:?} printed no ready line ({}; exit status {status:?})\nstderr:\n{}",
                    process.args,
                    if outcome.is_err() {
                        "timed out"
                    } else {
                        "stdout closed"
                    },
                    process.stderr()
                );
            }
        };
        let ready: Value = serde_json::from_str(&line).unwrap_or_else(|err| {
            panic!(
                "ready line is not JSON ({err}): {line:?}\n{}",
                process.stderr()
            )
        });
        assert_eq!(ready["event"], ready_event, "ready line {line}");
        (process, ready)
    }

    /// Spawns `tickcast args...` for a child that is not expected to print its ready line (an
    /// edge that cannot reach Redis); everything it prints on stdout is kept for
    /// [`Process::stdout_after_ready`].
    pub fn spawn_unready(args: Vec<String>) -> Process {
        let mut child = tickcast(&args)
            .stdout(Stdio::piped())
            .spawn()
            .unwrap_or_else(|err| panic!("cannot spawn tickcast {args:?}: {err}"));
        let (stderr, _) = collect_stderr(&mut child);
        let child_stdout = child.stdout.take().expect("stdout is piped");
        let stdout_reader = std::thread::spawn(move || {
            BufReader::new(child_stdout)
                .lines()
                .map_while(Result::ok)
                .collect::<Vec<_>>()
        });
        Process {
            child,
            args,
            stderr,
            stdout_reader: Some(stdout_reader),
        }
    }

    /// The child's process id.
    pub fn pid(&self) -> u32 {
        self.child.id()
    }

    /// True while the child has not exited.
    pub fn is_running(&mut self) -> bool {
        matches!(self.child.try_wait(), Ok(None))
    }

    /// Sends SIGTERM to this child (and only to it, by its pid).
    pub fn terminate(&self) {
        self.signal("TERM");
    }

    /// Sends signal `name` (`TERM`, `HUP`) to this child, and only to it, by its pid.
    pub fn signal(&self, name: &str) {
        let status = Command::new("kill")
            .arg(format!("-{name}"))
            .arg(self.pid().to_string())
            .status()
            .expect("run kill");
        assert!(status.success(), "kill -{name} {} failed", self.pid());
    }

    /// Waits for the child to exit, at most `limit`.
    pub async fn wait_exit(&mut self, limit: Duration) -> ExitStatus {
        let deadline = Instant::now() + limit;
        loop {
            if let Some(status) = self.child.try_wait().expect("try_wait on tickcast") {
                return status;
            }
            assert!(
                Instant::now() < deadline,
                "tickcast {:?} did not exit within {limit:?}\nstderr:\n{}",
                self.args,
                self.stderr()
            );
            tokio::time::sleep(EXIT_POLL).await;
        }
    }

    /// Lines the child printed on stdout after its ready line; only once it has exited.
    pub fn stdout_after_ready(&mut self) -> Vec<String> {
        assert!(!self.is_running(), "stdout is complete only after exit");
        self.stdout_reader
            .take()
            .map(|reader| reader.join().expect("stdout reader thread"))
            .unwrap_or_default()
    }

    /// The tail of what the child wrote to stderr so far.
    pub fn stderr(&self) -> String {
        tail(&self.stderr)
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
            self.stderr()
        );
        if std::thread::panicking() {
            eprintln!("{report}");
        } else {
            DROPPED_STDERR.with(|cell| cell.borrow_mut().push_str(&report));
        }
    }
}

/// Runs `tickcast args...` to completion, at most `limit` (then it is killed and the test
/// fails), and returns its status and complete output.
pub fn run(args: &[&str], limit: Duration) -> Output {
    let mut child = tickcast(args)
        .stdout(Stdio::piped())
        .spawn()
        .unwrap_or_else(|err| panic!("cannot spawn tickcast {args:?}: {err}"));
    let (stderr, stderr_reader) = collect_stderr(&mut child);
    let mut child_stdout = child.stdout.take().expect("stdout is piped");
    let stdout_reader = std::thread::spawn(move || {
        let mut bytes = Vec::new();
        let _ = child_stdout.read_to_end(&mut bytes);
        bytes
    });
    let deadline = std::time::Instant::now() + limit;
    let status = loop {
        if let Some(status) = child.try_wait().expect("try_wait on tickcast") {
            break status;
        }
        if std::time::Instant::now() >= deadline {
            let _ = child.kill();
            let _ = child.wait();
            panic!(
                "tickcast {args:?} did not exit within {limit:?}\nstderr:\n{}",
                tail(&stderr)
            );
        }
        std::thread::sleep(EXIT_POLL);
    };
    // The child has exited, so both pipes are closed and the readers finish.
    let stdout = stdout_reader.join().expect("stdout reader thread");
    stderr_reader.join().expect("stderr reader thread");
    let stderr = std::mem::take(&mut *stderr.lock().expect("stderr lock"));
    Output {
        status,
        stdout,
        stderr,
    }
}

/// The address of a `tcp-listen://ADDR` feed in a ready line's `feeds` array.
pub fn tcp_feed_addr(feed: &Value, line: &Value) -> SocketAddr {
    feed.as_str()
        .and_then(|feed| feed.strip_prefix("tcp-listen://"))
        .and_then(|addr| addr.parse().ok())
        .unwrap_or_else(|| panic!("feed {feed} is not tcp-listen://ADDR: {line}"))
}

/// The command for `tickcast args...`, stdin closed and stderr piped.
fn tickcast<S: AsRef<str>>(args: &[S]) -> Command {
    let mut command = Command::new(env!("CARGO_BIN_EXE_tickcast"));
    command
        .args(args.iter().map(AsRef::as_ref))
        .stdin(Stdio::null())
        .stderr(Stdio::piped());
    command
}

/// Starts a thread that appends the child's stderr to the returned buffer until it closes.
fn collect_stderr(child: &mut Child) -> (Arc<Mutex<Vec<u8>>>, JoinHandle<()>) {
    let stderr = Arc::new(Mutex::new(Vec::new()));
    let mut child_stderr = child.stderr.take().expect("stderr is piped");
    let sink = Arc::clone(&stderr);
    let reader = std::thread::spawn(move || {
        let mut chunk = [0u8; 4096];
        while let Ok(n @ 1..) = child_stderr.read(&mut chunk) {
            sink.lock()
                .expect("stderr lock")
                .extend_from_slice(&chunk[..n]);
        }
    });
    (stderr, reader)
}

/// The last [`STDERR_TAIL`] bytes of `stderr`, as text.
fn tail(stderr: &Mutex<Vec<u8>>) -> String {
    let bytes = stderr.lock().expect("stderr lock");
    let start = bytes.len().saturating_sub(STDERR_TAIL);
    String::from_utf8_lossy(&bytes[start..]).into_owned()
}
