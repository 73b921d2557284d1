//! A tickcast server spawned for the run: started with its ready line read, stopped by its pid.
//!
//! The child gets `--listen 127.0.0.1:0` and `--feed tcp-listen://127.0.0.1:0` (the load
//! tester's feed, or none at all for idle runs: never the synthetic market by surprise), unless
//! the extra arguments already say where to listen or what to serve (`--feed synthetic`, a
//! `replay` subcommand). Its first stdout line
//! (`{"event":"listening","http":..,"feeds":[..]}`) gives the bound addresses. Its stderr goes
//! to a file if asked, else its tail is kept for error messages. [`SpawnedServer::stop`] sends
//! SIGTERM to that one pid and waits for the drain; dropping it kills the child if it still
//! runs. Nothing else is ever signalled.

use std::collections::VecDeque;
use std::io::{BufRead, BufReader, Read};
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, ExitStatus, Stdio};
use std::sync::{Arc, Mutex, mpsc};
use std::time::{Duration, Instant};

/// How long the child may take to print its ready line.
const READY_TIMEOUT: Duration = Duration::from_secs(20);
/// How much of the child's stderr is kept for error messages.
const STDERR_TAIL: usize = 8 * 1024;

/// Why the server could not be started.
#[derive(Debug, thiserror::Error)]
pub enum SpawnError {
    /// The program could not be executed.
    #[error("cannot run {path}: {source}")]
    Exec {
        /// The program.
        path: PathBuf,
        /// The OS error.
        source: std::io::Error,
    },
    /// No usable ready line in time.
    #[error("{path} printed no ready line ({why}); stderr tail:\n{stderr}")]
    NotReady {
        /// The program.
        path: PathBuf,
        /// What went wrong.
        why: String,
        /// The end of its stderr.
        stderr: String,
    },
}

/// How to start the server.
#[derive(Debug, Clone)]
pub struct SpawnSpec {
    /// The tickcast binary.
    pub path: PathBuf,
    /// Extra arguments (a subcommand first, if any).
    pub args: Vec<String>,
    /// Where its stderr goes (none: kept in memory, tail shown on failure).
    pub log: Option<PathBuf>,
}

/// A running child server.
#[derive(Debug)]
pub struct SpawnedServer {
    child: Child,
    /// The HTTP address from the ready line.
    pub http: SocketAddr,
    /// The `tcp-listen://` feed addresses from the ready line.
    pub feeds: Vec<SocketAddr>,
    stderr: Arc<Mutex<VecDeque<u8>>>,
}

/// The command line the child gets: `args`, plus a listen address and a TCP feed when missing.
pub fn command_line(args: &[String]) -> Vec<String> {
    let mut line = args.to_vec();
    let has = |flag: &str| {
        args.iter()
            .any(|a| a == flag || a.starts_with(&format!("{flag}=")))
    };
    // `replay` may follow a wrapper such as `taskset -c 0 tickcast`.
    let serves_a_recording = args.iter().any(|a| a == "replay");
    if !has("--listen") {
        line.extend(["--listen".to_owned(), "127.0.0.1:0".to_owned()]);
    }
    if !has("--feed") && !serves_a_recording {
        line.extend(["--feed".to_owned(), "tcp-listen://127.0.0.1:0".to_owned()]);
    }
    line
}

/// Reads the addresses out of a ready line.
pub fn parse_ready_line(line: &str) -> Result<(SocketAddr, Vec<SocketAddr>), String> {
    let ready: serde_json::Value = serde_json::from_str(line)
        .map_err(|err| format!("ready line is not JSON ({err}): {line}"))?;
    if ready["event"] != "listening" {
        return Err(format!("unexpected first line: {line}"));
    }
    let http = ready["http"]
        .as_str()
        .and_then(|a| a.parse().ok())
        .ok_or_else(|| format!("no usable \"http\" address: {line}"))?;
    let feeds = ready["feeds"]
        .as_array()
        .map(|feeds| {
            feeds
                .iter()
                .filter_map(|f| f.as_str()?.strip_prefix("tcp-listen://")?.parse().ok())
                .collect()
        })
        .unwrap_or_default();
    Ok((http, feeds))
}

impl SpawnedServer {
    /// Starts the server and waits for its ready line.
    pub fn start(spec: &SpawnSpec) -> Result<SpawnedServer, SpawnError> {
        let args = command_line(&spec.args);
        let mut command = Command::new(&spec.path);
        command
            .args(&args)
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped());
        let mut child = command.spawn().map_err(|source| SpawnError::Exec {
            path: spec.path.clone(),
            source,
        })?;

        let stderr = Arc::new(Mutex::new(VecDeque::new()));
        if let Some(mut pipe) = child.stderr.take() {
            let sink = Arc::clone(&stderr);
            let mut file = spec
                .log
                .as_deref()
                .and_then(|p| std::fs::File::create(p).ok());
            std::thread::spawn(move || {
                let mut chunk = [0u8; 4096];
                while let Ok(n @ 1..) = pipe.read(&mut chunk) {
                    if let Some(file) = &mut file {
                        let _ = std::io::Write::write_all(file, &chunk[..n]);
                    }
                    let mut tail = sink.lock().unwrap_or_else(|e| e.into_inner());
                    tail.extend(&chunk[..n]);
                    let excess = tail.len().saturating_sub(STDERR_TAIL);
                    tail.drain(..excess);
                }
            });
        }
        let (ready_tx, ready_rx) = mpsc::channel();
        if let Some(pipe) = child.stdout.take() {
            std::thread::spawn(move || {
                let mut lines = BufReader::new(pipe).lines();
                let _ = ready_tx.send(lines.next().and_then(Result::ok));
                // Keep draining so the child never blocks on a full pipe.
                for _ in lines.map_while(Result::ok) {}
            });
        }
        let mut server = SpawnedServer {
            child,
            http: SocketAddr::from(([127, 0, 0, 1], 0)),
            feeds: Vec::new(),
            stderr,
        };
        let not_ready = |server: &mut SpawnedServer, why: String| SpawnError::NotReady {
            path: spec.path.clone(),
            why,
            stderr: server.stderr_tail(),
        };
        let line = match ready_rx.recv_timeout(READY_TIMEOUT) {
            Ok(Some(line)) => line,
            Ok(None) | Err(mpsc::RecvTimeoutError::Disconnected) => {
                // Give the stderr thread a moment to collect the reason.
                std::thread::sleep(Duration::from_millis(100));
                let status = server.child.try_wait().ok().flatten();
                return Err(not_ready(
                    &mut server,
                    format!("stdout closed, exit {status:?}"),
                ));
            }
            Err(mpsc::RecvTimeoutError::Timeout) => {
                return Err(not_ready(
                    &mut server,
                    format!("none within {READY_TIMEOUT:?}"),
                ));
            }
        };
        match parse_ready_line(&line) {
            Ok((http, feeds)) => {
                server.http = http;
                server.feeds = feeds;
                Ok(server)
            }
            Err(why) => Err(not_ready(&mut server, why)),
        }
    }

    /// The child's pid.
    pub fn pid(&self) -> u32 {
        self.child.id()
    }

    /// The end of the child's stderr.
    pub fn stderr_tail(&self) -> String {
        let tail = self.stderr.lock().unwrap_or_else(|e| e.into_inner());
        String::from_utf8_lossy(&tail.iter().copied().collect::<Vec<u8>>()).into_owned()
    }

    /// Stops the child: SIGTERM to its pid (a graceful drain), then SIGKILL after `grace`.
    pub fn stop(mut self, grace: Duration) -> Option<ExitStatus> {
        if let Ok(Some(status)) = self.child.try_wait() {
            return Some(status);
        }
        // std has no SIGTERM; kill(1) sends it to this one pid and nothing else.
        let _ = Command::new("kill")
            .args(["-TERM", &self.child.id().to_string()])
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .status();
        let deadline = Instant::now() + grace;
        while Instant::now() < deadline {
            if let Ok(Some(status)) = self.child.try_wait() {
                return Some(status);
            }
            std::thread::sleep(Duration::from_millis(20));
        }
        let _ = self.child.kill();
        self.child.wait().ok()
    }
}

impl Drop for SpawnedServer {
    fn drop(&mut self) {
        if let Ok(None) = self.child.try_wait() {
            let _ = self.child.kill();
            let _ = self.child.wait();
        }
    }
}

/// The tickcast binary next to a binary of this workspace (`target/<profile>/tickcast`), if
/// there is one: the default for `--spawn-tickcast` without a path.
pub fn sibling_binary(exe: &Path) -> Option<PathBuf> {
    let dir = exe.parent()?;
    [dir.join("tickcast"), dir.parent()?.join("tickcast")]
        .into_iter()
        .find(|p| p.is_file())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn strings(words: &[&str]) -> Vec<String> {
        words.iter().map(|w| (*w).to_owned()).collect()
    }

    #[test]
    fn command_line_adds_what_is_missing() {
        assert_eq!(
            command_line(&strings(&["--shards", "1"])),
            strings(&[
                "--shards",
                "1",
                "--listen",
                "127.0.0.1:0",
                "--feed",
                "tcp-listen://127.0.0.1:0"
            ])
        );
        assert_eq!(
            command_line(&strings(&[
                "--listen=127.0.0.1:9999",
                "--feed",
                "synthetic"
            ])),
            strings(&["--listen=127.0.0.1:9999", "--feed", "synthetic"])
        );
        assert_eq!(
            command_line(&strings(&["replay", "x.gz"])),
            strings(&["replay", "x.gz", "--listen", "127.0.0.1:0"])
        );
    }

    #[test]
    fn ready_line() {
        let (http, feeds) = parse_ready_line(
            r#"{"event":"listening","http":"127.0.0.1:4000","feeds":["tcp-listen://127.0.0.1:4001"]}"#,
        )
        .unwrap();
        assert_eq!(http, "127.0.0.1:4000".parse().unwrap());
        assert_eq!(feeds, vec!["127.0.0.1:4001".parse().unwrap()]);
        assert!(parse_ready_line("starting...").is_err());
        assert!(parse_ready_line(r#"{"event":"recording"}"#).is_err());
    }

    #[test]
    fn a_program_without_a_ready_line_is_reported() {
        let spec = SpawnSpec {
            path: "/bin/sh".into(),
            args: strings(&["-c", "echo broken >&2; exit 3"]),
            log: None,
        };
        // `sh -c` ignores the extra --listen arguments (they become $0.. of the script).
        match SpawnedServer::start(&spec) {
            Err(SpawnError::NotReady { why, stderr, .. }) => {
                assert!(why.contains("stdout closed"), "{why}");
                assert!(stderr.contains("broken"), "{stderr}");
            }
            other => panic!("{other:?}"),
        }
    }
}
