//! A real `redis-server` per test (Debian's `/usr/bin/redis-server`) on a free loopback port, for
//! the cluster tests, and a tiny RESP client to look at and tamper with what it holds.
//!
//! [`RedisServer::start_or_skip`] starts one (no persistence, its own temp dir, its log kept
//! there) and waits until it answers `PING`; a test whose machine has no `redis-server` is
//! skipped with a message saying how to install it. [`RedisServer::kill`] and
//! [`RedisServer::restart`] make the outage a test needs: SIGKILL to that one child, then a
//! new, empty server on the same port. [`RedisServer::command`] sends one command and decodes
//! its [`Reply`] (RESP2) over a plain TCP connection, so a test can `PUBLISH` garbage, `XTRIM`
//! the stream or read a hash without a Redis client crate.

use std::fs::OpenOptions;
use std::net::{SocketAddr, TcpListener};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;
use tokio::time::Instant;

/// Where Debian's `redis-server` package puts the binary.
const REDIS_SERVER: &str = "/usr/bin/redis-server";
/// How long a started server may take to answer `PING`.
const START_TIMEOUT: Duration = Duration::from_secs(10);
/// How long one command (connect, write, read the reply) may take.
const COMMAND_TIMEOUT: Duration = Duration::from_secs(5);
/// Free ports tried before giving up: another process may take the one picked before the
/// server binds it.
const PORT_ATTEMPTS: usize = 5;
/// Pause between two `PING`s while the server starts.
const PING_INTERVAL: Duration = Duration::from_millis(20);
/// How much of the server's log a failure message shows.
const LOG_TAIL: usize = 4 * 1024;

/// Numbers the temp dirs of the servers of this test process.
static NEXT_ID: AtomicU64 = AtomicU64::new(0);

/// A `redis-server` child on `127.0.0.1:port`; killed (SIGKILL) and its dir removed on drop.
pub struct RedisServer {
    port: u16,
    dir: PathBuf,
    child: Option<Child>,
    /// With [`RedisServer::start_tls_or_skip`]: the TLS port (the plain one stays for the
    /// harness's own commands).
    tls_port: Option<u16>,
}

impl RedisServer {
    /// Starts a server, or returns `None` (saying so on stderr) when `redis-server` is not
    /// installed: the calling test then returns at once.
    pub async fn start_or_skip() -> Option<RedisServer> {
        if !Path::new(REDIS_SERVER).exists() {
            eprintln!(
                "SKIPPED: redis-server not installed (scripts/install-test-deps.sh installs it)"
            );
            return None;
        }
        Some(RedisServer::start().await)
    }

    /// Like [`RedisServer::start_or_skip`], also serving TLS on a second port with a
    /// certificate for `127.0.0.1` issued by a test CA; returns the server and the CA's PEM
    /// file (what `--redis-ca` is given).
    pub async fn start_tls_or_skip() -> Option<(RedisServer, PathBuf)> {
        let mut server = RedisServer::start_or_skip().await?;
        let ca = server.dir.join("ca.pem");
        let (cert, key) = (server.dir.join("cert.pem"), server.dir.join("key.pem"));
        let ca_key = rcgen::KeyPair::generate().expect("CA key");
        let mut ca_params = rcgen::CertificateParams::new(Vec::<String>::new()).expect("CA");
        ca_params.is_ca = rcgen::IsCa::Ca(rcgen::BasicConstraints::Unconstrained);
        let issuer = rcgen::CertifiedIssuer::self_signed(ca_params, ca_key).expect("CA cert");
        let leaf_key = rcgen::KeyPair::generate().expect("leaf key");
        let leaf = rcgen::CertificateParams::new(vec!["127.0.0.1".to_owned()])
            .expect("leaf params")
            .signed_by(&leaf_key, &issuer)
            .expect("leaf cert");
        std::fs::write(&ca, issuer.pem()).expect("write the CA");
        std::fs::write(&cert, leaf.pem()).expect("write the certificate");
        std::fs::write(&key, leaf_key.serialize_pem()).expect("write the key");
        server.tls_port = Some(free_port());
        server.restart().await;
        Some((server, ca))
    }

    /// `rediss://127.0.0.1:TLS_PORT` (with [`RedisServer::start_tls_or_skip`]).
    pub fn tls_url(&self) -> String {
        let port = self.tls_port.expect("a server started with TLS");
        format!("rediss://127.0.0.1:{port}")
    }

    /// Starts a server on a free port and waits until it answers `PING`.
    async fn start() -> RedisServer {
        let id = NEXT_ID.fetch_add(1, Ordering::Relaxed);
        let dir =
            std::env::temp_dir().join(format!("tickcast-it-redis-{}-{id}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap_or_else(|err| panic!("{}: {err}", dir.display()));
        let mut server = RedisServer {
            port: 0,
            dir,
            child: None,
            tls_port: None,
        };
        for _ in 0..PORT_ATTEMPTS {
            server.port = free_port();
            match server.spawn().await {
                Ok(()) => return server,
                // Most likely the port was taken meanwhile: try another one.
                Err(why) => eprintln!("redis-server on port {}: {why}", server.port),
            }
        }
        panic!(
            "redis-server did not start in {PORT_ATTEMPTS} attempts\nlog:\n{}",
            server.log()
        );
    }

    /// `redis://127.0.0.1:PORT`, for `--redis`.
    pub fn url(&self) -> String {
        format!("redis://127.0.0.1:{}", self.port)
    }

    /// SIGKILLs the server (that one child, by its pid) and reaps it: every connection to it
    /// drops at once, and what it held is gone (it saves nothing).
    pub fn kill(&mut self) {
        if let Some(mut child) = self.child.take() {
            // `Child::kill` sends SIGKILL to the child's pid.
            let _ = child.kill();
            let _ = child.wait();
        }
    }

    /// Starts a new, empty server on the same port (after [`RedisServer::kill`]) and waits
    /// until it answers `PING`.
    pub async fn restart(&mut self) {
        self.kill();
        if let Err(why) = self.spawn().await {
            panic!(
                "redis-server did not restart on port {}: {why}\nlog:\n{}",
                self.port,
                self.log()
            );
        }
    }

    /// Sends one command (each argument a bulk string) and returns its reply; fails the test
    /// if the server does not answer.
    pub async fn command(&self, args: &[&[u8]]) -> Reply {
        self.try_command(args).await.unwrap_or_else(|why| {
            panic!(
                "redis {:?}: {why}\nlog:\n{}",
                args.iter()
                    .map(|arg| String::from_utf8_lossy(arg))
                    .collect::<Vec<_>>(),
                self.log()
            )
        })
    }

    /// Like [`RedisServer::command`], returning the failure.
    async fn try_command(&self, args: &[&[u8]]) -> Result<Reply, String> {
        let addr = SocketAddr::from(([127, 0, 0, 1], self.port));
        let exchange = async {
            let mut conn = TcpStream::connect(addr)
                .await
                .map_err(|err| format!("connect to {addr}: {err}"))?;
            conn.write_all(&encode(args))
                .await
                .map_err(|err| format!("write: {err}"))?;
            let mut buf = Vec::new();
            loop {
                if let Some((reply, _)) = Reply::parse(&buf)? {
                    return Ok(reply);
                }
                let mut chunk = [0u8; 4096];
                match conn.read(&mut chunk).await {
                    Ok(0) => return Err("connection closed before the reply".to_owned()),
                    Ok(n) => buf.extend_from_slice(&chunk[..n]),
                    Err(err) => return Err(format!("read: {err}")),
                }
            }
        };
        tokio::time::timeout(COMMAND_TIMEOUT, exchange)
            .await
            .unwrap_or_else(|_| Err(format!("no reply within {COMMAND_TIMEOUT:?}")))
    }

    /// Spawns `redis-server` on `self.port` and waits until it answers `PING`; on failure the
    /// child is killed and the reason returned.
    async fn spawn(&mut self) -> Result<(), String> {
        let log = OpenOptions::new()
            .create(true)
            .append(true)
            .open(self.log_path())
            .map_err(|err| format!("open {}: {err}", self.log_path().display()))?;
        let stderr = log
            .try_clone()
            .map_err(|err| format!("clone the log file: {err}"))?;
        let port = self.port.to_string();
        let mut command = Command::new(REDIS_SERVER);
        command
            .args(["--port", &port, "--bind", "127.0.0.1"])
            .args(["--save", "", "--appendonly", "no", "--daemonize", "no"])
            .arg("--dir")
            .arg(&self.dir);
        if let Some(tls_port) = self.tls_port {
            command
                .args([
                    "--tls-port",
                    &tls_port.to_string(),
                    "--tls-auth-clients",
                    "no",
                ])
                .arg("--tls-cert-file")
                .arg(self.dir.join("cert.pem"))
                .arg("--tls-key-file")
                .arg(self.dir.join("key.pem"));
        }
        let child = command
            .stdin(Stdio::null())
            .stdout(log)
            .stderr(stderr)
            .spawn()
            .map_err(|err| format!("spawn {REDIS_SERVER}: {err}"))?;
        self.child = Some(child);
        match self.wait_ready().await {
            Ok(()) => Ok(()),
            Err(why) => {
                self.kill();
                Err(why)
            }
        }
    }

    /// Pings until `+PONG`, at most [`START_TIMEOUT`]; fails early if the child exits.
    async fn wait_ready(&mut self) -> Result<(), String> {
        let deadline = Instant::now() + START_TIMEOUT;
        loop {
            let child = self.child.as_mut().expect("a spawned child");
            if let Ok(Some(status)) = child.try_wait() {
                return Err(format!("exited with {status}"));
            }
            let last = match self.try_command(&[b"PING"]).await {
                Ok(Reply::Status(pong)) if pong == "PONG" => return Ok(()),
                Ok(other) => format!("PING answered {other:?}"),
                Err(why) => why,
            };
            if Instant::now() >= deadline {
                return Err(format!("no PONG within {START_TIMEOUT:?} (last: {last})"));
            }
            tokio::time::sleep(PING_INTERVAL).await;
        }
    }

    fn log_path(&self) -> PathBuf {
        self.dir.join("redis.log")
    }

    /// The tail of the server's log (both runs, when restarted).
    pub fn log(&self) -> String {
        let bytes = std::fs::read(self.log_path()).unwrap_or_default();
        let start = bytes.len().saturating_sub(LOG_TAIL);
        String::from_utf8_lossy(&bytes[start..]).into_owned()
    }
}

impl Drop for RedisServer {
    fn drop(&mut self) {
        self.kill();
        if std::thread::panicking() {
            eprintln!(
                "--- redis-server (port {}) log ---\n{}\n--- end of log ---",
                self.port,
                self.log()
            );
        }
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}

/// A port no one listens on right now (the OS's pick for port 0, released at once).
fn free_port() -> u16 {
    TcpListener::bind("127.0.0.1:0")
        .and_then(|listener| listener.local_addr())
        .map(|addr| addr.port())
        .unwrap_or_else(|err| panic!("bind 127.0.0.1:0: {err}"))
}

/// A command as a RESP array of bulk strings.
fn encode(args: &[&[u8]]) -> Vec<u8> {
    let mut out = format!("*{}\r\n", args.len()).into_bytes();
    for arg in args {
        out.extend_from_slice(format!("${}\r\n", arg.len()).as_bytes());
        out.extend_from_slice(arg);
        out.extend_from_slice(b"\r\n");
    }
    out
}

/// One RESP2 reply.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Reply {
    /// `+OK`, `+PONG`.
    Status(String),
    /// `-ERR ...`.
    Error(String),
    /// `:42`.
    Integer(i64),
    /// `$n` with its bytes.
    Bulk(Vec<u8>),
    /// `$-1` or `*-1`.
    Nil,
    /// `*n` with its elements.
    Array(Vec<Reply>),
}

impl Reply {
    /// The value of an integer reply; fails the test otherwise.
    #[track_caller]
    pub fn integer(&self) -> i64 {
        match self {
            Reply::Integer(value) => *value,
            other => panic!("expected an integer reply, got {other:?}"),
        }
    }

    /// The text of a bulk or status reply; fails the test otherwise.
    #[track_caller]
    pub fn text(&self) -> String {
        match self {
            Reply::Bulk(bytes) => String::from_utf8_lossy(bytes).into_owned(),
            Reply::Status(text) => text.clone(),
            other => panic!("expected a string reply, got {other:?}"),
        }
    }

    /// Decodes the reply at the start of `buf`: `Ok(None)` when it is not complete yet,
    /// otherwise the reply and how many bytes it took.
    fn parse(buf: &[u8]) -> Result<Option<(Reply, usize)>, String> {
        let Some(line_end) = buf.windows(2).position(|pair| pair == b"\r\n") else {
            return Ok(None);
        };
        let line = std::str::from_utf8(&buf[1..line_end])
            .map_err(|_| format!("reply line is not UTF-8: {:?}", &buf[..line_end]))?;
        let after_line = line_end + 2;
        let number = || {
            line.parse::<i64>()
                .map_err(|_| format!("bad length or integer {line:?}"))
        };
        let parsed = match buf[0] {
            b'+' => (Reply::Status(line.to_owned()), after_line),
            b'-' => (Reply::Error(line.to_owned()), after_line),
            b':' => (Reply::Integer(number()?), after_line),
            b'$' => {
                let Ok(len) = usize::try_from(number()?) else {
                    return Ok(Some((Reply::Nil, after_line)));
                };
                if buf.len() < after_line + len + 2 {
                    return Ok(None);
                }
                let bytes = buf[after_line..after_line + len].to_vec();
                (Reply::Bulk(bytes), after_line + len + 2)
            }
            b'*' => {
                let Ok(count) = usize::try_from(number()?) else {
                    return Ok(Some((Reply::Nil, after_line)));
                };
                let mut items = Vec::with_capacity(count);
                let mut at = after_line;
                for _ in 0..count {
                    let Some((item, used)) = Reply::parse(&buf[at..])? else {
                        return Ok(None);
                    };
                    items.push(item);
                    at += used;
                }
                (Reply::Array(items), at)
            }
            other => return Err(format!("unknown reply type byte {other:#04x}")),
        };
        Ok(Some(parsed))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn replies_decode_incrementally() {
        let wire = b"*4\r\n+OK\r\n:-3\r\n$5\r\nhe\r\no\r\n*2\r\n$-1\r\n-ERR no\r\n";
        for cut in 0..wire.len() {
            assert_eq!(Reply::parse(&wire[..cut]), Ok(None), "cut at {cut}");
        }
        let (reply, used) = Reply::parse(wire).expect("valid").expect("complete");
        assert_eq!(used, wire.len());
        assert_eq!(
            reply,
            Reply::Array(vec![
                Reply::Status("OK".into()),
                Reply::Integer(-3),
                Reply::Bulk(b"he\r\no".to_vec()),
                Reply::Array(vec![Reply::Nil, Reply::Error("ERR no".into())]),
            ])
        );
        assert_eq!(encode(&[b"GET", b"k"]), b"*2\r\n$3\r\nGET\r\n$1\r\nk\r\n");
    }
}
