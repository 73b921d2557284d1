//! Smoke scenarios against the real tickcast binary: a few hundred connections for a few
//! seconds, asserting delivery and integrity (nothing lost, duplicated or reordered), never
//! speed. Both builds are debug builds on a shared CI box, so rates are modest and deadlines
//! generous.
//!
//! The `tickcast` binary is the workspace's other package, which Cargo cannot hand to this
//! package's tests (`CARGO_BIN_EXE_*` covers the package's own binaries only). It is found,
//! in order: `$TICKCAST_BIN`; next to this test's profile directory (`target/debug/tickcast`,
//! which `cargo test --workspace` builds for tickcast's own integration tests); else it is
//! built with `cargo build -p tickcast` into a separate target directory
//! (`target/smoke-tickcast`), because the outer `cargo test` holds the lock of the normal one
//! for as long as the tests run.

use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};
use std::sync::OnceLock;
use std::time::{Duration, Instant};

use serde_json::Value;
use tickcast_load::server::{SpawnSpec, SpawnedServer};

/// Bound on one load-tester run (its own phases are bounded far below this).
const RUN_TIMEOUT: Duration = Duration::from_secs(90);

/// The tickcast binary to test against.
fn tickcast() -> &'static Path {
    static BIN: OnceLock<PathBuf> = OnceLock::new();
    BIN.get_or_init(|| {
        if let Some(path) = std::env::var_os("TICKCAST_BIN") {
            return PathBuf::from(path);
        }
        // target/<profile>/deps/smoke-<hash> -> target/<profile>/tickcast
        let exe = std::env::current_exe().expect("test executable path");
        let profile_dir = exe
            .parent()
            .and_then(Path::parent)
            .expect("target/<profile>");
        let sibling = profile_dir.join("tickcast");
        if sibling.is_file() {
            warn_if_stale(&sibling);
            return sibling;
        }
        build_separately(profile_dir)
    })
}

/// Builds tickcast into `target/smoke-tickcast` (see the module docs for why not `target/`).
fn build_separately(profile_dir: &Path) -> PathBuf {
    let target_dir = profile_dir
        .parent()
        .expect("target directory")
        .join("smoke-tickcast");
    let cargo = std::env::var_os("CARGO").unwrap_or_else(|| "cargo".into());
    eprintln!(
        "smoke: no tickcast binary next to the tests; building one into {}",
        target_dir.display()
    );
    let status = Command::new(cargo)
        .args([
            "build",
            "--quiet",
            "-p",
            "tickcast",
            "--bin",
            "tickcast",
            "--target-dir",
        ])
        .arg(&target_dir)
        .current_dir(env!("CARGO_MANIFEST_DIR"))
        .status()
        .expect("run cargo build -p tickcast");
    assert!(status.success(), "cargo build -p tickcast failed");
    target_dir.join("debug").join("tickcast")
}

/// A binary older than the server's sources was built before the last edit (it happens with
/// `cargo test -p tickcast-load`, which does not rebuild tickcast): say so.
fn warn_if_stale(binary: &Path) {
    let Ok(built) = binary.metadata().and_then(|m| m.modified()) else {
        return;
    };
    let sources = Path::new(env!("CARGO_MANIFEST_DIR")).join("../src");
    let mut stack = vec![sources];
    while let Some(dir) = stack.pop() {
        let Ok(entries) = std::fs::read_dir(&dir) else {
            continue;
        };
        for entry in entries.flatten() {
            let path = entry.path();
            if path.is_dir() {
                stack.push(path);
            } else if entry
                .metadata()
                .and_then(|m| m.modified())
                .is_ok_and(|modified| modified > built)
            {
                eprintln!(
                    "smoke: WARNING {} is older than {}; `cargo build -p tickcast` to test \
                     the current server",
                    binary.display(),
                    path.display()
                );
                return;
            }
        }
    }
}

/// Runs `tickcast-load` with `args` and the JSON report on stdout; returns the report and the
/// process output.
fn load(args: &[&str]) -> (Value, Output) {
    let mut child = Command::new(env!("CARGO_BIN_EXE_tickcast-load"))
        .args(["--json", "-", "--no-progress", "--expect-clean"])
        .args(args)
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("spawn tickcast-load");
    let deadline = Instant::now() + RUN_TIMEOUT;
    while child.try_wait().expect("wait").is_none() {
        if Instant::now() > deadline {
            let _ = child.kill();
            let output = child.wait_with_output().expect("collect output");
            panic!(
                "tickcast-load ran past {RUN_TIMEOUT:?}\nstderr:\n{}",
                String::from_utf8_lossy(&output.stderr)
            );
        }
        std::thread::sleep(Duration::from_millis(50));
    }
    let output = child.wait_with_output().expect("collect output");
    let report = serde_json::from_slice(&output.stdout).unwrap_or_else(|err| {
        panic!(
            "no JSON report ({err}); status {}\nstdout:\n{}\nstderr:\n{}",
            output.status,
            String::from_utf8_lossy(&output.stdout),
            String::from_utf8_lossy(&output.stderr)
        )
    });
    (report, output)
}

fn group<'a>(report: &'a Value, name: &str) -> &'a Value {
    report["groups"]
        .as_array()
        .and_then(|groups| groups.iter().find(|g| g["group"] == name))
        .unwrap_or_else(|| panic!("no group {name} in {report:#}"))
}

/// The checks every clean run passes.
fn assert_clean(report: &Value, output: &Output, connections: u64) {
    let context = || {
        format!(
            "status {}\ntable:\n{}",
            output.status,
            String::from_utf8_lossy(&output.stderr)
        )
    };
    assert!(output.status.success(), "{}", context());
    assert_eq!(report["connections"]["ok"], connections, "{}", context());
    assert_eq!(report["connections"]["failed"], 0, "{}", context());
    let feed = &report["feed"];
    assert_eq!(feed["complete"], true, "{}", context());
    assert_eq!(feed["ticks_sent"], feed["ticks_planned"], "{}", context());
    assert!(feed["ticks_sent"].as_u64().unwrap() > 0);
    assert_eq!(report["delivery"]["drained"], true, "{}", context());
    assert!(report["delivery"]["events"].as_u64().unwrap() > 0);
    assert_eq!(
        report["verdict"]["fast_clients_clean"],
        true,
        "{}",
        context()
    );
    let steady = group(report, "steady");
    assert_eq!(steady["complete"], steady["connections"], "{}", context());
    let integrity = &steady["integrity"];
    for counter in [
        "gaps",
        "missing",
        "tail_missing",
        "never_seen",
        "duplicates",
        "reorders",
        "seq_gaps",
        "resets",
        "unreadable",
        "unexpected",
    ] {
        assert_eq!(integrity[counter], 0, "steady.{counter}\n{}", context());
    }
    assert!(steady["latency"]["count"].as_u64().unwrap() > 0);
    let server = &report["server"];
    assert!(server["cpu_seconds"].as_f64().unwrap() >= 0.0);
    assert!(server["rss_end"].as_u64().unwrap() > 0);
}

#[test]
fn mixed_subscribers_get_every_tick_of_a_spawned_server() {
    let binary = tickcast();
    let (report, output) = load(&[
        "--spawn-tickcast",
        binary.to_str().expect("UTF-8 path"),
        "--connections",
        "300",
        "--mix",
        "firehose=0.3,uniform=0.4,zipf=0.3",
        "--symbols",
        "100",
        "-k",
        "5",
        "--rate",
        "200",
        "--duration",
        "2s",
        "--drain-timeout",
        "20s",
        "--threads",
        "2",
        "--",
        "--ring-capacity",
        "65536",
    ]);
    assert_clean(&report, &output, 300);
    assert_eq!(report["target"]["spawned"], true);
    // Every firehose client got every tick (the fairness spread is zero).
    let planned = report["feed"]["ticks_planned"].as_u64().unwrap();
    let fairness = group(&report, "steady")["fairness"].as_array().unwrap();
    let firehose = fairness
        .iter()
        .find(|f| f["class"] == "firehose")
        .expect("firehose clients");
    assert_eq!(firehose["connections"], 90);
    assert_eq!(
        (firehose["min"].as_u64(), firehose["max"].as_u64()),
        (Some(planned), Some(planned))
    );
    assert!(fairness.iter().any(|f| f["class"] == "zipf"));
    // They all saw the very same sequence.
    assert_eq!(group(&report, "steady")["sequences"]["distinct"], 1);
}

#[test]
fn a_reconnect_storm_resumes_without_gaps_or_duplicates() {
    // The test owns this server (killed on drop); the load tester attaches to it.
    let server = SpawnedServer::start(&SpawnSpec {
        path: tickcast().to_path_buf(),
        args: vec!["--ring-capacity".into(), "65536".into()],
        log: None,
    })
    .expect("start tickcast");
    let target = format!("http://{}", server.http);
    let feed = server.feeds[0].to_string();
    let pid = server.pid().to_string();
    let (report, output) = load(&[
        "--target",
        &target,
        "--feed",
        &feed,
        "--server-pid",
        &pid,
        "--connections",
        "200",
        "--mix",
        "uniform=0.5,firehose=0.5",
        "--symbols",
        "50",
        "-k",
        "5",
        "--rate",
        "200",
        // Ticks keep coming for 4 s after the storm: a client thread running late on a busy
        // machine still drops before the last tick, so every resume sees a live tick after it.
        "--duration",
        "5s",
        "--reconnect",
        "0.5",
        "--reconnect-at",
        "1s",
        "--drain-timeout",
        "20s",
        "--threads",
        "1",
    ]);
    assert_clean(&report, &output, 200);
    assert_eq!(report["target"]["spawned"], false);
    assert_eq!(report["server"]["pids"][0], server.pid());
    let reconnects = &report["connections"]["reconnects"];
    assert_eq!(
        (reconnects["attempted"].as_u64(), reconnects["ok"].as_u64()),
        (Some(100), Some(100))
    );
    let reconnecting = group(&report, "reconnecting");
    assert_eq!(reconnecting["clean"], true, "{reconnecting:#}");
    assert_eq!(reconnecting["complete"], 100);
    assert_eq!(report["resume"]["live_ms"]["count"], 100);
    drop(server);
}

/// A self-signed certificate for `localhost` and `127.0.0.1` in its own directory, removed on
/// drop; the certificate is also the root the clients trust.
struct TestCert {
    dir: PathBuf,
    cert: PathBuf,
    key: PathBuf,
}

impl TestCert {
    fn new(name: &str) -> TestCert {
        let dir =
            std::env::temp_dir().join(format!("tickcast-load-smoke-{name}-{}", std::process::id()));
        std::fs::create_dir_all(&dir).expect("certificate directory");
        let made = rcgen::generate_simple_self_signed(vec![
            "localhost".to_owned(),
            "127.0.0.1".to_owned(),
        ])
        .expect("rcgen makes a self-signed certificate");
        let cert = dir.join("cert.pem");
        let key = dir.join("key.pem");
        std::fs::write(&cert, made.cert.pem()).expect("write the certificate");
        std::fs::write(&key, made.signing_key.serialize_pem()).expect("write the key");
        TestCert { dir, cert, key }
    }

    fn path(path: &Path) -> &str {
        path.to_str().expect("a UTF-8 temp path")
    }
}

impl Drop for TestCert {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}

#[test]
fn a_tls_firehose_gets_every_tick_of_a_spawned_tls_server() {
    let cert = TestCert::new("tls");
    let started = Instant::now();
    let (report, output) = load(&[
        "--spawn-tickcast",
        tickcast().to_str().expect("UTF-8 path"),
        "--tls",
        "--tls-ca",
        TestCert::path(&cert.cert),
        "--connections",
        "110",
        "--mix",
        "firehose",
        // Slow and paused clients over TLS too (budgeted reads, a reader that stops); only the
        // fast ones must be clean.
        "--slow",
        "0.05",
        "--paused",
        "0.05",
        "--symbols",
        "20",
        "--rate",
        "200",
        "--duration",
        "2s",
        "--drain-timeout",
        "10s",
        "--threads",
        "2",
        "--",
        "--tls-cert",
        TestCert::path(&cert.cert),
        "--tls-key",
        TestCert::path(&cert.key),
        "--ring-capacity",
        "65536",
    ]);
    assert_clean(&report, &output, 110);
    let tls = &report["target"]["tls"];
    assert_eq!(tls["verified"], true, "{tls:#}");
    assert_eq!(tls["session"]["alpn"], "http/1.1", "{tls:#}");
    assert!(
        report["target"]["url"]
            .as_str()
            .is_some_and(|url| url.starts_with("https://127.0.0.1:")),
        "{:#}",
        report["target"]
    );
    let planned = report["feed"]["ticks_planned"].as_u64().unwrap();
    let fairness = &group(&report, "steady")["fairness"][0];
    assert_eq!(
        (fairness["min"].as_u64(), fairness["max"].as_u64()),
        (Some(planned), Some(planned)),
        "{fairness:#}"
    );
    assert_eq!(group(&report, "steady")["sequences"]["distinct"], 1);
    assert!(group(&report, "slow")["connections"].as_u64().unwrap() > 0);
    assert!(group(&report, "paused")["connections"].as_u64().unwrap() > 0);
    assert!(
        started.elapsed() < Duration::from_secs(15),
        "the TLS run took {:?}",
        started.elapsed()
    );
}

#[test]
fn http2_streams_share_connections_and_resume_without_gaps() {
    let cert = TestCert::new("h2");
    let started = Instant::now();
    let (report, output) = load(&[
        "--spawn-tickcast",
        tickcast().to_str().expect("UTF-8 path"),
        "--tls",
        "--tls-ca",
        TestCert::path(&cert.cert),
        "--http2",
        "--streams-per-connection",
        "10",
        "--connections",
        "100",
        "--mix",
        "firehose=0.5,uniform=0.5",
        "-k",
        "5",
        "--paused",
        "0.05",
        "--symbols",
        "20",
        "--rate",
        "200",
        // The storm drops streams (RST_STREAM), not connections; they resume on new streams.
        "--reconnect",
        "0.3",
        "--reconnect-at",
        "1s",
        "--duration",
        "4s",
        "--drain-timeout",
        "10s",
        "--threads",
        "2",
        "--",
        "--tls-cert",
        TestCert::path(&cert.cert),
        "--tls-key",
        TestCert::path(&cert.key),
        "--ring-capacity",
        "65536",
    ]);
    assert_clean(&report, &output, 100);
    let tls = &report["target"]["tls"];
    assert_eq!(tls["session"]["alpn"], "h2", "{tls:#}");
    assert_eq!(tls["streams_per_connection"], 10, "{tls:#}");
    let reconnects = &report["connections"]["reconnects"];
    assert_eq!(reconnects["attempted"], reconnects["ok"], "{reconnects:#}");
    assert!(reconnects["ok"].as_u64().unwrap() > 0, "{reconnects:#}");
    let reconnecting = group(&report, "reconnecting");
    assert_eq!(reconnecting["clean"], true, "{reconnecting:#}");
    assert_eq!(group(&report, "steady")["sequences"]["distinct"], 1);
    assert!(
        started.elapsed() < Duration::from_secs(15),
        "the HTTP/2 run took {:?}",
        started.elapsed()
    );
}

#[test]
fn tls_that_cannot_work_is_refused_or_reported() {
    let cert = TestCert::new("refused");
    let other = TestCert::new("stranger");
    // --tls without saying what to trust: a flag error, before anything starts.
    let output = Command::new(env!("CARGO_BIN_EXE_tickcast-load"))
        .args(["--tls", "--target", "https://127.0.0.1:9"])
        .output()
        .expect("run tickcast-load");
    assert_eq!(output.status.code(), Some(2));
    assert!(
        String::from_utf8_lossy(&output.stderr).contains("--tls-ca"),
        "{}",
        String::from_utf8_lossy(&output.stderr)
    );
    // A server whose certificate is not the trusted one: every connection fails, by name.
    let mut child = Command::new(env!("CARGO_BIN_EXE_tickcast-load"))
        .args(["--json", "-", "--no-progress", "--spawn-tickcast"])
        .arg(tickcast())
        .args(["--tls", "--tls-ca", TestCert::path(&other.cert)])
        .args([
            "-c",
            "5",
            "--rate",
            "0",
            "-d",
            "0.2",
            "--connect-timeout",
            "5s",
        ])
        .args(["--", "--tls-cert", TestCert::path(&cert.cert)])
        .args(["--tls-key", TestCert::path(&cert.key)])
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("spawn tickcast-load");
    let deadline = Instant::now() + RUN_TIMEOUT;
    while child.try_wait().expect("wait").is_none() {
        assert!(
            Instant::now() < deadline,
            "tickcast-load ran past {RUN_TIMEOUT:?}"
        );
        std::thread::sleep(Duration::from_millis(50));
    }
    let output = child.wait_with_output().expect("collect output");
    let report: Value = serde_json::from_slice(&output.stdout).unwrap_or_else(|err| {
        panic!(
            "no JSON report ({err})\nstderr:\n{}",
            String::from_utf8_lossy(&output.stderr)
        )
    });
    assert_eq!(
        report["connections"]["failed"], 5,
        "{:#}",
        report["connections"]
    );
    let failures = report["connections"]["failures"].as_object().unwrap();
    assert!(
        failures
            .keys()
            .all(|reason| reason.starts_with("tls: invalid peer certificate")),
        "{failures:#?}"
    );
    assert_eq!(report["target"]["tls"]["session"], Value::Null);
}

#[test]
fn a_contradictory_scenario_is_refused_before_anything_starts() {
    let output = Command::new(env!("CARGO_BIN_EXE_tickcast-load"))
        .args([
            "--reconnect",
            "0.5",
            "--reconnect-at",
            "20s",
            "--duration",
            "2s",
        ])
        .output()
        .expect("run tickcast-load");
    assert_eq!(output.status.code(), Some(1));
    assert!(
        String::from_utf8_lossy(&output.stderr).contains("--reconnect-at"),
        "{}",
        String::from_utf8_lossy(&output.stderr)
    );
    let output = Command::new(env!("CARGO_BIN_EXE_tickcast-load"))
        .args(["--scenario", "market", "--print-scenario"])
        .output()
        .expect("run tickcast-load");
    assert!(output.status.success());
    let scenario: Value = serde_json::from_slice(&output.stdout).expect("scenario JSON");
    assert_eq!(scenario["connections"], 10_000);
    assert_eq!(scenario["burst"]["factor"], 10.0);
}

#[test]
fn the_broadcast_baseline_delivers_every_tick_in_order() {
    // The S2 baseline (`tickcast-baseline`), measured by the same scenario code as tickcast.
    let (report, output) = load(&[
        "--spawn-tickcast",
        env!("CARGO_BIN_EXE_tickcast-baseline"),
        "--connections",
        "200",
        "--mix",
        "firehose=0.5,uniform=0.5",
        "--symbols",
        "50",
        "-k",
        "5",
        "--rate",
        "200",
        "--duration",
        "2s",
        "--drain-timeout",
        "20s",
        "--threads",
        "2",
    ]);
    assert_clean(&report, &output, 200);
    assert_eq!(group(&report, "steady")["sequences"]["distinct"], 1);
}
