//! Real-browser end-to-end test: headless Chromium, driven through ChromeDriver with the W3C
//! WebDriver protocol, against a real `tickcast` child process.
//!
//! It checks that the dashboard (`GET /?symbols=...`) renders a row per symbol with a price and
//! keeps receiving live ticks, and that a browser `EventSource` can resume a stream with the
//! `lastEventId` query parameter (browsers cannot set `Last-Event-ID` on a new `EventSource`):
//! the resumed stream starts with exactly the ticks missed while disconnected, with no snapshot.
//! Against a server with `--auth jwt`, an `EventSource` given its token in the `access_token`
//! query parameter (it cannot set `Authorization`) receives ticks, and one without a token is
//! refused and stays closed.
//!
//! Needs Debian's `chromium` and `chromium-driver` (`scripts/install-test-deps.sh`). Without
//! them the test fails, telling how to install them; `TICKCAST_SKIP_BROWSER=1` skips it.
//! `TICKCAST_BROWSER_SCREENSHOT=<path>` saves a PNG screenshot of the dashboard there.
//!
//! The WebDriver client is a minimal HTTP/1.1 JSON client over `std::net::TcpStream` (one
//! connection per request, `Connection: close`). Every child process is killed on drop.

use std::io::{BufRead, BufReader, Read, Write};
use std::net::{SocketAddr, TcpListener, TcpStream};
use std::os::unix::process::CommandExt;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::{Arc, Mutex, mpsc};
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use serde_json::{Value, json};
use tickcast::auth::MintRequest;

const CHROMIUM: &str = "/usr/bin/chromium";
const CHROMEDRIVER: &str = "/usr/bin/chromedriver";
const INSTALL_HINT: &str = "run `bash scripts/install-test-deps.sh` (as root) to install Debian's \
     chromium and chromium-driver, or set TICKCAST_SKIP_BROWSER=1 to skip this test";

/// How long the server and ChromeDriver may take to come up.
const START_TIMEOUT: Duration = Duration::from_secs(10);
/// How long the page may take to show prices and live ticks.
const PAGE_TIMEOUT: Duration = Duration::from_secs(15);
/// How long each step of the resume check may take.
const RESUME_TIMEOUT: Duration = Duration::from_secs(10);
/// Socket timeout of one HTTP request (a new session starts Chromium, so it is generous).
const REQUEST_TIMEOUT: Duration = Duration::from_secs(20);
/// Pause between two polls.
const POLL_INTERVAL: Duration = Duration::from_millis(100);
/// How much of a child's output a failure message shows.
const OUTPUT_TAIL: usize = 8 * 1024;

const PAGE_SYMBOLS: [&str; 2] = ["SYN0001", "SYN0002"];
/// The symbol of the `EventSource` checks (and the one whose seq the dashboard check follows).
const STREAM_SYMBOL: &str = "SYN0001";

#[test]
fn dashboard_in_chromium_shows_live_ticks_and_eventsource_resumes_with_last_event_id() {
    let started = Instant::now();
    if !browser_installed() {
        return;
    }

    // Declaration order matters: drops run in reverse, so the session is deleted first, then
    // ChromeDriver and the server are killed, then the profile directory is removed.
    let profile = TempDir::new("tickcast-chromium-profile");
    let server = Server::spawn(&[]);
    let driver = ChromeDriver::spawn();
    let mut session = Session::create(&driver, profile.path());
    eprintln!(
        "browser: server {}, chromedriver {}, session up after {:?}",
        server.addr,
        driver.addr,
        started.elapsed()
    );

    check_dashboard(&server, &session);
    check_resume_with_last_event_id(&server, &session);

    session.delete();
    eprintln!("browser: passed in {:?}", started.elapsed());
}

#[test]
fn eventsource_in_chromium_streams_with_its_token_in_the_access_token_parameter() {
    let started = Instant::now();
    if !browser_installed() {
        return;
    }
    let profile = TempDir::new("tickcast-chromium-profile");
    let fixtures = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/auth");
    let secret = fixtures.join("hs256-secret.txt");
    let secret_flag = secret.to_str().expect("a UTF-8 key path");
    let server = Server::spawn(&["--auth", "jwt", "--jwt-key", secret_flag]);
    let driver = ChromeDriver::spawn();
    let mut session = Session::create(&driver, profile.path());

    let request = MintRequest::new(
        "browser",
        vec![STREAM_SYMBOL.to_owned()],
        Duration::from_secs(3600),
    );
    let now = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| d.as_secs());
    let token = tickcast::auth::mint(&secret, &request, now).expect("mint a test token");
    // A page of the server's own origin, so the streams need no CORS.
    session.navigate(&format!("http://{}/healthz", server.addr));
    let stream = format!("/v1/stream?symbols={STREAM_SYMBOL}");
    session.execute(
        OPEN,
        json!([format!("{stream}&access_token={token}"), "token"]),
    );
    session.execute(OPEN, json!([stream, "anonymous"]));

    let read = |name: &str| session.execute(READ, json!([name, false]));
    let log = eventually(
        "the EventSource with a token gets a snapshot and 3 ticks",
        RESUME_TIMEOUT,
        || {
            let log = read("token");
            let ticks = parse_recorded(&log)
                .iter()
                .filter(|e| e.kind == "tick")
                .count();
            if ticks >= 3 {
                Ok(log)
            } else {
                Err(log.to_string())
            }
        },
    );
    let events = parse_recorded(&log);
    assert_eq!(
        events[0].kind, "snapshot",
        "a fresh stream starts with a snapshot: {log}"
    );
    assert_stream_order(&events, &log);
    assert_eq!(log["errors"], json!([]), "EventSource with a token: {log}");

    // Without a token: the 401 fails the EventSource for good (CLOSED, no reconnect).
    let log = eventually(
        "the EventSource without a token is closed",
        RESUME_TIMEOUT,
        || {
            let log = read("anonymous");
            let closed = log["errors"]
                .as_array()
                .is_some_and(|errors| errors.iter().any(|e| e == "error event, readyState 2"));
            if closed {
                Ok(log)
            } else {
                Err(log.to_string())
            }
        },
    );
    assert_eq!(log["events"], json!([]), "no events without a token: {log}");
    let metrics = http_request(server.addr, "GET", "/metrics", None).expect("GET /metrics");
    assert!(
        metrics.text().lines().any(|line| {
            line.strip_prefix(r#"tickcast_auth_denied_total{reason="token_missing"} "#)
                .is_some_and(|count| count != "0")
        }),
        "the refusal is counted as token_missing:\n{}",
        metrics.text()
    );

    session.delete();
    eprintln!(
        "browser: EventSource with access_token got {} events; passed in {:?}",
        events.len(),
        started.elapsed()
    );
}

/// Whether to run: false (a skip) with `TICKCAST_SKIP_BROWSER=1`; otherwise true, or a failure
/// when Chromium or ChromeDriver is missing.
fn browser_installed() -> bool {
    let missing: Vec<&str> = [CHROMIUM, CHROMEDRIVER]
        .into_iter()
        .filter(|path| !Path::new(path).exists())
        .collect();
    if std::env::var("TICKCAST_SKIP_BROWSER").as_deref() == Ok("1") {
        let why = if missing.is_empty() {
            String::new()
        } else {
            format!(" ({} missing)", missing.join(", "))
        };
        eprintln!("SKIPPED browser test: TICKCAST_SKIP_BROWSER=1{why}");
        return false;
    }
    if !missing.is_empty() {
        panic!(
            "browser test needs {}: {INSTALL_HINT}",
            missing.join(" and ")
        );
    }
    true
}

/// The dashboard shows both rows with a price, a live connection, and SYN0001's seq advancing.
fn check_dashboard(server: &Server, session: &Session) {
    let url = format!("http://{}/?symbols={}", server.addr, PAGE_SYMBOLS.join(","));
    session.navigate(&url);

    // Reads each row's cells (sym, px, bid, ask, n, seq, last update) and its data-seq.
    const READ_ROWS: &str = r#"
        const status = document.getElementById('status');
        const rows = {};
        for (const sym of arguments[0]) {
            const row = document.getElementById('row-' + sym);
            rows[sym] = row && {
                cells: Array.from(row.cells, (cell) => cell.textContent),
                seq: row.dataset.seq ?? null,
            };
        }
        return { status: status && status.textContent, rows };
    "#;
    let read_rows = || session.execute(READ_ROWS, json!([PAGE_SYMBOLS]));

    // Both rows exist and show a price and a seq (the snapshot, or a first tick).
    let first = eventually("both dashboard rows show a price", PAGE_TIMEOUT, || {
        let page = read_rows();
        let mut seqs = Vec::new();
        for sym in PAGE_SYMBOLS {
            let row = &page["rows"][sym];
            if row.is_null() {
                return Err(format!("no row-{sym} yet: {page}"));
            }
            let cells = row["cells"].as_array().cloned().unwrap_or_default();
            let cell = |i: usize| cells.get(i).and_then(Value::as_str).unwrap_or("");
            if cell(0) != sym {
                return Err(format!("row-{sym} names {:?}: {page}", cell(0)));
            }
            // px (last trade) or bid/ask (a quote): at least one positive price shown.
            if ![1, 2, 3].into_iter().any(|i| is_price(cell(i))) {
                return Err(format!("row-{sym} shows no price yet: {page}"));
            }
            let Some(seq) = row["seq"].as_str().and_then(|s| s.parse::<u64>().ok()) else {
                return Err(format!("row-{sym} has no numeric data-seq yet: {page}"));
            };
            if cell(5) != seq.to_string() {
                return Err(format!("row-{sym}: seq cell differs from data-seq: {page}"));
            }
            seqs.push(seq);
        }
        Ok((seqs[0], page))
    });
    let (first_seq, page) = first;
    eprintln!("browser: rows shown: {page}");

    // Live ticks keep arriving: SYN0001's seq advances past the first one seen.
    let page = eventually("SYN0001's seq advances (live ticks)", PAGE_TIMEOUT, || {
        let page = read_rows();
        let seq = page["rows"][STREAM_SYMBOL]["seq"]
            .as_str()
            .and_then(|s| s.parse::<u64>().ok());
        match seq {
            Some(seq) if seq > first_seq => Ok(page),
            _ => Err(format!("still at seq {first_seq}: {page}")),
        }
    });
    assert_eq!(
        page["status"], "connected",
        "the dashboard status line should say connected: {page}"
    );
    eprintln!("browser: live ticks: {page}");

    let png = session.screenshot();
    assert!(
        png.starts_with(b"\x89PNG\r\n\x1a\n"),
        "screenshot is not a PNG ({} bytes)",
        png.len()
    );
    if let Some(path) = std::env::var_os("TICKCAST_BROWSER_SCREENSHOT") {
        std::fs::write(&path, &png)
            .unwrap_or_else(|err| panic!("cannot write screenshot to {path:?}: {err}"));
        eprintln!("browser: screenshot saved to {path:?}");
    }
}

/// One event recorded in the page by the resume scripts.
#[derive(Debug)]
struct Recorded {
    kind: String,
    id: u64,
    sym: String,
    seq: u64,
    n: u64,
}

/// A second `EventSource` in the page records events, is closed, and a new one opened with
/// `?lastEventId=<last id seen>` receives exactly the missed ticks (no snapshot, no reset).
fn check_resume_with_last_event_id(server: &Server, session: &Session) {
    let stream = format!("/v1/stream?symbols={STREAM_SYMBOL}");
    let read = |name: &str, close: bool| -> (Vec<Recorded>, Value) {
        let log = session.execute(READ, json!([name, close]));
        (parse_recorded(&log), log)
    };

    // 1. A fresh stream: a snapshot, then live ticks.
    session.execute(OPEN, json!([stream, "first"]));
    eventually(
        "the first EventSource gets a snapshot and 3 ticks",
        RESUME_TIMEOUT,
        || {
            let (events, log) = read("first", false);
            let ticks = events.iter().filter(|e| e.kind == "tick").count();
            if ticks >= 3 {
                Ok(())
            } else {
                Err(log.to_string())
            }
        },
    );
    let (first, log) = read("first", true);
    assert_eq!(
        first[0].kind, "snapshot",
        "a fresh stream starts with a snapshot: {log}"
    );
    assert_stream_order(&first, &log);
    assert_eq!(log["errors"], json!([]), "first EventSource: {log}");
    let last = first.last().expect("events were recorded");
    eprintln!(
        "browser: first EventSource closed after id {} (n {})",
        last.id, last.n
    );

    // 2. While disconnected, SYN0001 ticks at least once more (seen on the server's snapshot).
    let missed = eventually("SYN0001 ticks while disconnected", RESUME_TIMEOUT, || {
        let path = format!("/v1/snapshot?symbols={STREAM_SYMBOL}");
        let response = http_request(server.addr, "GET", &path, None)
            .map_err(|err| format!("GET {path}: {err}"))?;
        let body: Value = serde_json::from_slice(&response.body)
            .map_err(|err| format!("GET {path}: {} {err}: {}", response.status, response.text()))?;
        match body["ticks"][0]["seq"].as_u64() {
            Some(seq) if seq > last.id => Ok(seq),
            _ => Err(body.to_string()),
        }
    });

    // 3. A new EventSource resuming after the last id seen.
    let resume = format!("{stream}&lastEventId={}", last.id);
    session.execute(OPEN, json!([resume, "second"]));
    eventually(
        "the resumed EventSource delivers the missed tick",
        RESUME_TIMEOUT,
        || {
            let (events, log) = read("second", false);
            if events.iter().any(|e| e.id >= missed) {
                Ok(())
            } else {
                Err(format!("waiting for id {missed}: {log}"))
            }
        },
    );
    let (second, log) = read("second", true);
    let head = &second[0];
    assert_eq!(
        head.kind, "tick",
        "a resumed stream starts with a tick: {log}"
    );
    assert!(
        head.id > last.id,
        "first resumed id {} <= last id {}: {log}",
        head.id,
        last.id
    );
    assert_eq!(
        head.n,
        last.n + 1,
        "the resumed stream must start with the first missed tick (n {} after n {}): {log}",
        head.n,
        last.n
    );
    assert!(
        second.iter().all(|e| e.kind == "tick"),
        "no snapshot or reset on a resume the ring covers: {log}"
    );
    assert_stream_order(&second, &log);
    assert_eq!(log["errors"], json!([]), "resumed EventSource: {log}");
    eprintln!(
        "browser: resumed after id {} with ids {}..{} ({} events, missed tick {missed} included)",
        last.id,
        head.id,
        second.last().map_or(0, |e| e.id),
        second.len()
    );
}

/// Opens an `EventSource` on arguments[0] and records its events (and errors) in
/// `window.__resume[arguments[1]]`.
const OPEN: &str = r#"
    const [url, name] = arguments;
    const state = (window.__resume ??= {});
    const log = (state[name] = { events: [], errors: [] });
    const es = new EventSource(url);
    state[name + 'Source'] = es;
    for (const type of ['snapshot', 'tick', 'reset']) {
        es.addEventListener(type, (e) => {
            let data = null;
            try { data = JSON.parse(e.data); } catch (_) {}
            log.events.push({
                type: e.type,
                id: e.lastEventId,
                sym: data && data.sym,
                seq: data && data.seq != null ? String(data.seq) : null,
                n: data && data.n,
            });
        });
    }
    es.onerror = () => log.errors.push('error event, readyState ' + es.readyState);
    return true;
"#;
/// Returns the log of arguments[0]; closes its `EventSource` first if arguments[1].
const READ: &str = r#"
    const [name, close] = arguments;
    const state = window.__resume;
    if (close) state[name + 'Source'].close();
    return state[name];
"#;

fn parse_recorded(log: &Value) -> Vec<Recorded> {
    let number = |v: &Value, what: &str| -> u64 {
        v.as_str()
            .and_then(|s| s.parse().ok())
            .or_else(|| v.as_u64())
            .unwrap_or_else(|| panic!("recorded event has no numeric {what}: {log}"))
    };
    log["events"]
        .as_array()
        .unwrap_or_else(|| panic!("no events array in {log}"))
        .iter()
        .map(|e| Recorded {
            kind: e["type"].as_str().unwrap_or_default().to_owned(),
            id: number(&e["id"], "id"),
            sym: e["sym"].as_str().unwrap_or_default().to_owned(),
            seq: number(&e["seq"], "seq"),
            n: number(&e["n"], "n"),
        })
        .collect()
}

/// Every event is SYN0001's, id equals seq, ids strictly increase and `n` counts up by one.
fn assert_stream_order(events: &[Recorded], log: &Value) {
    for event in events {
        assert_eq!(event.sym, STREAM_SYMBOL, "{event:?} in {log}");
        assert_eq!(event.id, event.seq, "id must equal seq: {event:?} in {log}");
    }
    for pair in events.windows(2) {
        assert!(
            pair[1].id > pair[0].id,
            "ids must increase: {pair:?} in {log}"
        );
        assert_eq!(
            pair[1].n,
            pair[0].n + 1,
            "n must count up by one (no gap): {pair:?} in {log}"
        );
    }
}

fn is_price(text: &str) -> bool {
    text.parse::<f64>().is_ok_and(|v| v.is_finite() && v > 0.0)
}

/// Polls `probe` until it returns `Ok`, or panics after `timeout` with its last `Err`.
fn eventually<T>(what: &str, timeout: Duration, mut probe: impl FnMut() -> Result<T, String>) -> T {
    let deadline = Instant::now() + timeout;
    loop {
        match probe() {
            Ok(value) => return value,
            Err(state) if Instant::now() >= deadline => {
                panic!("timed out after {timeout:?} waiting until {what}; last state: {state}")
            }
            Err(_) => std::thread::sleep(POLL_INTERVAL),
        }
    }
}

// ---------------------------------------------------------------------------------------------
// Child processes

/// A spawned child whose stdout/stderr are collected; killed (and reaped) on drop, and its
/// output shown if the test is failing.
struct Process {
    name: &'static str,
    child: Child,
    output: Arc<Mutex<Vec<u8>>>,
    /// Also kill the child's process group (ChromeDriver: the browsers it started).
    kill_group: bool,
}

impl Process {
    /// Spawns `command` with piped output. If `first_line` is given, stdout's first line is sent
    /// there instead of into the collected output.
    fn spawn(
        name: &'static str,
        command: &mut Command,
        first_line: Option<mpsc::Sender<String>>,
    ) -> Self {
        let mut child = command
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .unwrap_or_else(|err| panic!("cannot spawn {name}: {err}"));
        let output = Arc::new(Mutex::new(Vec::new()));

        let stdout = child.stdout.take().expect("stdout is piped");
        let sink = Arc::clone(&output);
        std::thread::spawn(move || {
            let mut lines = BufReader::new(stdout);
            if let Some(first_line) = first_line {
                let mut line = String::new();
                if lines.read_line(&mut line).is_ok() && !line.is_empty() {
                    let _ = first_line.send(line.trim_end().to_owned());
                }
            }
            copy_into(lines, &sink);
        });
        let stderr = child.stderr.take().expect("stderr is piped");
        let sink = Arc::clone(&output);
        std::thread::spawn(move || copy_into(stderr, &sink));

        Self {
            name,
            child,
            output,
            kill_group: false,
        }
    }

    fn output_tail(&self) -> String {
        let output = self.output.lock().expect("output lock");
        let tail = &output[output.len().saturating_sub(OUTPUT_TAIL)..];
        String::from_utf8_lossy(tail).into_owned()
    }

    fn exited(&mut self) -> Option<std::process::ExitStatus> {
        self.child.try_wait().ok().flatten()
    }
}

impl Drop for Process {
    fn drop(&mut self) {
        let pid = self.child.id();
        if self.kill_group {
            // The group was created for this child (process_group(0)), so its id is the child's
            // pid, and what is in it was started by the child (a browser a failed test left
            // open). Killed before the child is reaped, while that id cannot be reused.
            let _ = Command::new("kill")
                .args(["-KILL", "--", &format!("-{pid}")])
                .stdout(Stdio::null())
                .stderr(Stdio::null())
                .status();
        }
        let _ = self.child.kill();
        let _ = self.child.wait();
        if std::thread::panicking() {
            eprintln!(
                "---- {} (pid {pid}) output, last {OUTPUT_TAIL} bytes ----\n{}",
                self.name,
                self.output_tail()
            );
        }
    }
}

fn copy_into(mut from: impl Read, sink: &Mutex<Vec<u8>>) {
    let mut chunk = [0u8; 4096];
    while let Ok(n @ 1..) = from.read(&mut chunk) {
        sink.lock()
            .expect("output lock")
            .extend_from_slice(&chunk[..n]);
    }
}

/// The `tickcast` server under test.
struct Server {
    addr: SocketAddr,
    _process: Process,
}

impl Server {
    /// A server of 20 synthetic symbols, with `flags` added.
    fn spawn(flags: &[&str]) -> Self {
        let (line_tx, line_rx) = mpsc::channel();
        let mut command = Command::new(env!("CARGO_BIN_EXE_tickcast"));
        command
            .args([
                "--listen",
                "127.0.0.1:0",
                "--synthetic-symbols",
                "20",
                "--synthetic-rate",
                "200",
            ])
            .args(flags);
        let mut process = Process::spawn("tickcast", &mut command, Some(line_tx));
        let Ok(line) = line_rx.recv_timeout(START_TIMEOUT) else {
            panic!(
                "tickcast printed no ready line within {START_TIMEOUT:?} (exit status {:?})",
                process.exited()
            );
        };
        let ready: Value = serde_json::from_str(&line)
            .unwrap_or_else(|err| panic!("ready line is not JSON ({err}): {line:?}"));
        assert_eq!(ready["event"], "listening", "ready line: {line}");
        let addr = ready["http"]
            .as_str()
            .and_then(|addr| addr.parse().ok())
            .unwrap_or_else(|| panic!("ready line has no usable \"http\" address: {line}"));
        Self {
            addr,
            _process: process,
        }
    }
}

/// A ChromeDriver listening on a free loopback port.
struct ChromeDriver {
    addr: SocketAddr,
    process: Process,
}

impl ChromeDriver {
    fn spawn() -> Self {
        let deadline = Instant::now() + START_TIMEOUT;
        // The free port is found by binding port 0 and letting it go, so another process may
        // take it first: then ChromeDriver exits, and another port is tried.
        for _attempt in 0..3 {
            let port = TcpListener::bind("127.0.0.1:0")
                .and_then(|listener| listener.local_addr())
                .expect("find a free port")
                .port();
            let mut command = Command::new(CHROMEDRIVER);
            command.arg(format!("--port={port}")).process_group(0);
            let mut process = Process::spawn("chromedriver", &mut command, None);
            process.kill_group = true;
            let addr = SocketAddr::from(([127, 0, 0, 1], port));
            loop {
                let ready = http_request(addr, "GET", "/status", None)
                    .ok()
                    .and_then(|response| serde_json::from_slice::<Value>(&response.body).ok())
                    .is_some_and(|status| status["value"]["ready"] == true);
                if ready {
                    return Self { addr, process };
                }
                if process.exited().is_some() {
                    eprintln!(
                        "chromedriver on port {port} exited early:\n{}",
                        process.output_tail()
                    );
                    break;
                }
                if Instant::now() >= deadline {
                    panic!(
                        "chromedriver not ready on {addr} within {START_TIMEOUT:?}:\n{}",
                        process.output_tail()
                    );
                }
                std::thread::sleep(POLL_INTERVAL);
            }
        }
        panic!("chromedriver did not start (3 attempts)");
    }
}

/// A new, empty directory under the system temp dir, removed on drop.
struct TempDir(PathBuf);

impl TempDir {
    fn new(prefix: &str) -> Self {
        let nanos = SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .map_or(0, |d| d.as_nanos());
        let path = std::env::temp_dir().join(format!("{prefix}-{}-{nanos}", std::process::id()));
        std::fs::create_dir_all(&path)
            .unwrap_or_else(|err| panic!("cannot create {}: {err}", path.display()));
        Self(path)
    }

    fn path(&self) -> &Path {
        &self.0
    }
}

impl Drop for TempDir {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

// ---------------------------------------------------------------------------------------------
// WebDriver

/// A WebDriver session of headless Chromium; deleted on drop if the test did not delete it.
struct Session {
    driver: SocketAddr,
    id: String,
    deleted: bool,
}

impl Session {
    fn create(driver: &ChromeDriver, profile: &Path) -> Self {
        let capabilities = json!({
            "capabilities": {
                "alwaysMatch": {
                    "browserName": "chrome",
                    "goog:chromeOptions": {
                        "binary": CHROMIUM,
                        "args": [
                            "--headless",
                            "--no-sandbox",
                            "--disable-gpu",
                            "--disable-quic",
                            "--no-first-run",
                            "--disable-background-networking",
                            "--disable-component-update",
                            "--disable-sync",
                            format!("--user-data-dir={}", profile.display()),
                            "--window-size=1000,600",
                        ],
                    },
                },
            },
        });
        let value =
            webdriver(driver.addr, "POST", "/session", Some(&capabilities)).unwrap_or_else(|err| {
                panic!(
                    "cannot create a Chromium session: {err}\nchromedriver output:\n{}",
                    driver.process.output_tail()
                )
            });
        let id = value["sessionId"]
            .as_str()
            .unwrap_or_else(|| panic!("new session has no sessionId: {value}"))
            .to_owned();
        Self {
            driver: driver.addr,
            id,
            deleted: false,
        }
    }

    fn command(&self, method: &str, path: &str, body: Option<&Value>) -> Value {
        let path = format!("/session/{}{path}", self.id);
        webdriver(self.driver, method, &path, body)
            .unwrap_or_else(|err| panic!("WebDriver {method} {path}: {err}"))
    }

    fn navigate(&self, url: &str) {
        self.command("POST", "/url", Some(&json!({ "url": url })));
    }

    /// Runs `script` (a function body; `arguments` are `args`) and returns its result.
    fn execute(&self, script: &str, args: Value) -> Value {
        let body = json!({ "script": script, "args": args });
        self.command("POST", "/execute/sync", Some(&body))
    }

    fn screenshot(&self) -> Vec<u8> {
        let encoded = self.command("GET", "/screenshot", None);
        let encoded = encoded.as_str().expect("screenshot is a base64 string");
        base64_decode(encoded).expect("screenshot is valid base64")
    }

    fn delete(&mut self) {
        self.deleted = true;
        self.command("DELETE", "", None);
    }
}

impl Drop for Session {
    fn drop(&mut self) {
        if !self.deleted {
            let path = format!("/session/{}", self.id);
            let _ = webdriver(self.driver, "DELETE", &path, None);
        }
    }
}

/// One WebDriver command: returns the response's `value`, or the WebDriver error as text.
fn webdriver(
    driver: SocketAddr,
    method: &str,
    path: &str,
    body: Option<&Value>,
) -> Result<Value, String> {
    // W3C: a POST carries a JSON object, `{}` when the command has no parameters.
    let empty = json!({});
    let body = body.or((method == "POST").then_some(&empty));
    let response = http_request(driver, method, path, body).map_err(|err| err.to_string())?;
    let mut reply: Value = serde_json::from_slice(&response.body).map_err(|err| {
        format!(
            "HTTP {} with a non-JSON body ({err}): {}",
            response.status,
            response.text()
        )
    })?;
    let value = reply["value"].take();
    if response.status == 200 {
        Ok(value)
    } else {
        Err(format!(
            "HTTP {}: {}: {}",
            response.status,
            value["error"].as_str().unwrap_or("?"),
            value["message"].as_str().unwrap_or(&value.to_string())
        ))
    }
}

// ---------------------------------------------------------------------------------------------
// HTTP/1.1 client

struct HttpResponse {
    status: u16,
    body: Vec<u8>,
}

impl HttpResponse {
    fn text(&self) -> String {
        String::from_utf8_lossy(&self.body).into_owned()
    }
}

/// One request on a new connection (`Connection: close`); reads a `Content-Length`, chunked or
/// close-delimited body.
fn http_request(
    addr: SocketAddr,
    method: &str,
    path: &str,
    body: Option<&Value>,
) -> std::io::Result<HttpResponse> {
    let stream = TcpStream::connect_timeout(&addr, REQUEST_TIMEOUT)?;
    stream.set_read_timeout(Some(REQUEST_TIMEOUT))?;
    stream.set_write_timeout(Some(REQUEST_TIMEOUT))?;
    let body = body.map(Value::to_string).unwrap_or_default();
    let mut request = format!(
        "{method} {path} HTTP/1.1\r\nHost: {addr}\r\nConnection: close\r\nAccept: application/json\r\n"
    );
    if !body.is_empty() || method == "POST" {
        request.push_str("Content-Type: application/json; charset=utf-8\r\n");
        request.push_str(&format!("Content-Length: {}\r\n", body.len()));
    }
    request.push_str("\r\n");
    request.push_str(&body);
    (&stream).write_all(request.as_bytes())?;

    let mut reader = BufReader::new(stream);
    let status_line = read_line(&mut reader)?;
    let status = status_line
        .strip_prefix("HTTP/1.")
        .and_then(|rest| rest.get(2..5))
        .and_then(|code| code.parse().ok())
        .ok_or_else(|| invalid(format!("bad status line {status_line:?}")))?;
    let mut content_length = None;
    let mut chunked = false;
    loop {
        let line = read_line(&mut reader)?;
        if line.is_empty() {
            break;
        }
        let Some((name, value)) = line.split_once(':') else {
            return Err(invalid(format!("bad header line {line:?}")));
        };
        let value = value.trim();
        if name.eq_ignore_ascii_case("content-length") {
            content_length = Some(
                value
                    .parse::<usize>()
                    .map_err(|_| invalid(format!("bad {line:?}")))?,
            );
        } else if name.eq_ignore_ascii_case("transfer-encoding") {
            chunked = value.to_ascii_lowercase().contains("chunked");
        }
    }

    let mut body = Vec::new();
    if chunked {
        loop {
            let size_line = read_line(&mut reader)?;
            let size = size_line.split(';').next().unwrap_or("").trim();
            let size = usize::from_str_radix(size, 16)
                .map_err(|_| invalid(format!("bad chunk size {size_line:?}")))?;
            if size == 0 {
                break;
            }
            let start = body.len();
            body.resize(start + size, 0);
            reader.read_exact(&mut body[start..])?;
            read_line(&mut reader)?;
        }
    } else if let Some(length) = content_length {
        body.resize(length, 0);
        reader.read_exact(&mut body)?;
    } else {
        reader.read_to_end(&mut body)?;
    }
    Ok(HttpResponse { status, body })
}

/// Reads one CRLF- (or LF-) terminated line, without its terminator.
fn read_line(reader: &mut impl BufRead) -> std::io::Result<String> {
    let mut line = String::new();
    if reader.read_line(&mut line)? == 0 {
        return Err(std::io::Error::new(
            std::io::ErrorKind::UnexpectedEof,
            "connection closed mid-response",
        ));
    }
    Ok(line.trim_end_matches(['\r', '\n']).to_owned())
}

fn invalid(message: String) -> std::io::Error {
    std::io::Error::new(std::io::ErrorKind::InvalidData, message)
}

/// Decodes standard base64 (padding optional, whitespace ignored).
fn base64_decode(text: &str) -> Option<Vec<u8>> {
    let mut out = Vec::with_capacity(text.len() / 4 * 3);
    let mut buffer = 0u32;
    let mut bits = 0;
    for byte in text.bytes() {
        let sextet = match byte {
            b'A'..=b'Z' => byte - b'A',
            b'a'..=b'z' => byte - b'a' + 26,
            b'0'..=b'9' => byte - b'0' + 52,
            b'+' => 62,
            b'/' => 63,
            b'=' | b'\r' | b'\n' | b' ' => continue,
            _ => return None,
        };
        buffer = (buffer << 6) | u32::from(sextet);
        bits += 6;
        if bits >= 8 {
            bits -= 8;
            out.push((buffer >> bits) as u8);
            buffer &= (1 << bits) - 1;
        }
    }
    Some(out)
}
