//! The whole pipeline: `tickcast replay <Binance recording> --speed max --loop` to one firehose
//! SSE subscriber, in ticks per second delivered, with every tick checked to arrive in order.
//!
//! Not criterion: one long run against a real server process is the measurement. The bench
//! spawns the release binary that `cargo bench` builds next to it
//! (`$CARGO_TARGET_DIR/release/tickcast`; `TICKCAST_BIN` overrides) as
//! `replay FILE --speed max --loop --listen 127.0.0.1:0 --shards 1`, reads the bound address
//! from its `{"event":"listening",...}` line, and opens one `GET /v1/stream?symbols=*&complete=1` with the
//! hand-written HTTP/1.1 client below (std `TcpStream`, chunked decoding, SSE parsing). For
//! `PIPELINE_SECONDS` (default 10) it counts `event: tick` blocks and checks each `id:` is the
//! previous one plus one: a gap (ticks conflated away or lost) or a reorder is counted and the
//! first few are shown. It reports ticks/s, the server's CPU seconds per thread (from
//! `/proc/<pid>/task/*/stat`), the client's, and the server's own counters (ticks ingested,
//! events conflated) scraped from `/metrics` at the start and end of the window. Then it kills
//! the server it spawned, and only that.
//!
//! Settings (environment): `PIPELINE_SECONDS`, `PIPELINE_WARMUP` (seconds of stream read and
//! checked before the window opens, default 1), `PIPELINE_FILE` (default: the shared recording,
//! else the repository's sample), `PIPELINE_SERVER_CPUS` / `PIPELINE_CLIENT_CPUS` (`taskset -c`
//! lists: pin the server and this client), `PIPELINE_ARGS` (extra server flags, e.g.
//! `--subscriber-buffer 65536`).
//!
//! Run: `CARGO_TARGET_DIR=/work/target-bench cargo bench --bench pipeline`.
//!
//! Results, 2026-11-22, 2 vCPU AMD EPYC shared with other work (the server got about one core),
//! 10 s windows after 2 s of warm-up; BENCHMARKS.md has every run and the analysis:
//! - default flags: 572 ticks/s delivered of 253,696 ingested, 630 gaps of 4,095 ids: the shard
//!   dispatches 4,096 events per wake-up into a 1,024-event subscriber queue, which conflates to
//!   one event per symbol, and the recording has one symbol. Target missed.
//! - `--subscriber-buffer 1000000`: no gaps, 209-323k ticks/s: the default 8M-event ring is still
//!   filling, and fresh pages cost the sequencer 1.3-2.2 us per tick.
//! - `--subscriber-buffer 1000000 --ring-capacity 262144`: no gaps, 474-517k ticks/s (3 of 5 runs
//!   at 500k or more; 463-476k with the decoder before this change). Server CPU per tick: replay
//!   0.98 us, sequencer 0.6, shard 0.3.

use std::collections::BTreeMap;
use std::io::{BufRead, BufReader, Read, Write};
use std::net::TcpStream;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

/// The real recording, and the in-repo sample used when the shared file is absent.
const SHARED_RECORDING: &str = "../shared/feeds/binance-spot-btcusdt-20240808.hftbacktest.gz";
const SAMPLE_RECORDING: &str = "feeds/binance-spot-btcusdt-20240808.sample.gz";
/// Target of the issue: ticks per second to one firehose subscriber.
const TARGET_TICKS_PER_SEC: f64 = 500_000.0;
/// Gaps and reorders listed in the report.
const SHOWN: usize = 5;

fn main() {
    let seconds: f64 = env_or("PIPELINE_SECONDS", "10")
        .parse()
        .expect("PIPELINE_SECONDS");
    let warm_up: f64 = env_or("PIPELINE_WARMUP", "1")
        .parse()
        .expect("PIPELINE_WARMUP");
    let root = PathBuf::from(env!("CARGO_MANIFEST_DIR"));
    let file = std::env::var_os("PIPELINE_FILE")
        .map(PathBuf::from)
        .unwrap_or_else(|| {
            let shared = root.join(SHARED_RECORDING);
            if shared.exists() {
                shared
            } else {
                root.join(SAMPLE_RECORDING)
            }
        });
    let binary = server_binary();
    if let Ok(cpus) = std::env::var("PIPELINE_CLIENT_CPUS") {
        pin_self(&cpus);
    }

    let mut server = Server::spawn(&binary, &file);
    println!(
        "pipeline: {} replay {} --speed max --loop --shards 1 {}(pid {}, server cpus {}, client cpus {})",
        binary.display(),
        file.display(),
        server.extra_args,
        server.child.id(),
        std::env::var("PIPELINE_SERVER_CPUS").unwrap_or_else(|_| "any".into()),
        std::env::var("PIPELINE_CLIENT_CPUS").unwrap_or_else(|_| "any".into()),
    );

    let outcome = run(
        &server,
        Duration::from_secs_f64(warm_up),
        Duration::from_secs_f64(seconds),
    );
    server.stop();
    let report = outcome.unwrap_or_else(|error| panic!("pipeline bench failed: {error}"));
    report.print();
}

/// Everything measured in the window.
struct Report {
    window: Duration,
    stream: StreamCheck,
    server_cpu: BTreeMap<String, f64>,
    client_cpu: f64,
    metrics_before: BTreeMap<String, f64>,
    metrics_after: BTreeMap<String, f64>,
}

impl Report {
    fn print(&self) {
        let secs = self.window.as_secs_f64();
        let s = &self.stream;
        let rate = s.ticks as f64 / secs;
        let counter = |name: &str| {
            self.metrics_after.get(name).copied().unwrap_or(0.0)
                - self.metrics_before.get(name).copied().unwrap_or(0.0)
        };
        println!("window             {secs:.2} s");
        println!(
            "delivered          {} ticks, {:.0} ticks/s, {:.1} MB/s of SSE",
            s.ticks,
            rate,
            s.payload_bytes as f64 / secs / 1e6
        );
        println!(
            "ingested (server)  {:.0} ticks/s; conflated away {:.0}",
            counter("tickcast_ticks_ingested_total") / secs,
            counter("tickcast_conflated_total")
        );
        println!(
            "order              first id {}, last id {}, {} gaps ({} ids missing), {} reorders",
            s.first_id.map_or("-".into(), |id| id.to_string()),
            s.last_id.map_or("-".into(), |id| id.to_string()),
            s.gaps,
            s.missing,
            s.reorders
        );
        for line in &s.anomalies {
            println!("                   {line}");
        }
        let server_total: f64 = self.server_cpu.values().sum();
        println!(
            "server CPU         {server_total:.2} s ({:.0}% of one core)",
            server_total / secs * 100.0
        );
        // Server threads handle every ingested tick; the client only the delivered ones.
        let ingested = counter("tickcast_ticks_ingested_total").max(1.0);
        for (thread, cpu) in &self.server_cpu {
            if *cpu >= 0.01 {
                println!(
                    "  {thread:<16} {cpu:6.2} s ({:3.0}%, {:.2} us per tick ingested)",
                    cpu / secs * 100.0,
                    cpu / ingested * 1e6
                );
            }
        }
        println!(
            "client CPU         {:.2} s ({:.0}% of one core, {:.2} us per tick delivered)",
            self.client_cpu,
            self.client_cpu / secs * 100.0,
            self.client_cpu / s.ticks.max(1) as f64 * 1e6
        );
        let in_order = s.gaps == 0 && s.reorders == 0 && s.ticks > 0;
        println!(
            "target             >= {TARGET_TICKS_PER_SEC:.0} ticks/s, every tick in order: {}",
            if rate >= TARGET_TICKS_PER_SEC && in_order {
                "MET"
            } else {
                "MISSED"
            }
        );
    }
}

fn run(server: &Server, warm_up: Duration, window: Duration) -> Result<Report, String> {
    let mut stream = SseStream::open(&server.addr)?;
    // Let the stream get past its prelude (retry, snapshot) and the start-up transient before
    // the window opens; its order is checked all the same.
    let mut check = StreamCheck::default();
    let started = Instant::now();
    while check.ticks < 1000 || started.elapsed() < warm_up {
        if started.elapsed() > warm_up + Duration::from_secs(10) {
            return Err(format!("only {} ticks in the warm-up", check.ticks));
        }
        stream.read_some(&mut check)?;
    }
    if check.gaps + check.reorders > 0 {
        println!(
            "warm-up            {} ticks, {} gaps, {} reorders (not counted below)",
            check.ticks, check.gaps, check.reorders
        );
    }

    let metrics_before = scrape_metrics(&server.addr)?;
    let server_before = thread_cpu(server.child.id())?;
    let client_before = process_cpu("self")?;
    let mut check = StreamCheck {
        last_id: check.last_id,
        ..StreamCheck::default()
    };
    let start = Instant::now();
    while start.elapsed() < window {
        stream.read_some(&mut check)?;
    }
    let elapsed = start.elapsed();
    let server_after = thread_cpu(server.child.id())?;
    let client_after = process_cpu("self")?;
    let metrics_after = scrape_metrics(&server.addr)?;

    let mut server_cpu = BTreeMap::new();
    for (thread, after) in server_after {
        let before = server_before.get(&thread).copied().unwrap_or(0.0);
        *server_cpu.entry(thread).or_insert(0.0) += after - before;
    }
    Ok(Report {
        window: elapsed,
        stream: check,
        server_cpu,
        client_cpu: client_after - client_before,
        metrics_before,
        metrics_after,
    })
}

// === The server process ===

struct Server {
    child: Child,
    addr: String,
    extra_args: String,
}

impl Server {
    fn spawn(binary: &Path, file: &Path) -> Self {
        let extra_args = std::env::var("PIPELINE_ARGS").unwrap_or_default();
        let mut command = match std::env::var("PIPELINE_SERVER_CPUS") {
            Ok(cpus) => {
                let mut command = Command::new("taskset");
                command.arg("-c").arg(cpus).arg(binary);
                command
            }
            Err(_) => Command::new(binary),
        };
        command
            .arg("replay")
            .arg(file)
            .args([
                "--speed",
                "max",
                "--loop",
                "--listen",
                "127.0.0.1:0",
                "--shards",
                "1",
            ])
            .args(extra_args.split_whitespace())
            .env("RUST_LOG", "warn")
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::inherit());
        let mut child = command
            .spawn()
            .unwrap_or_else(|e| panic!("{}: {e}", binary.display()));
        // `taskset` execs the server, so the child's pid is the server's.
        let stdout = child.stdout.take().expect("piped stdout");
        let mut stdout = BufReader::new(stdout);
        let mut ready = String::new();
        stdout.read_line(&mut ready).expect("server stdout");
        // Keep the pipe open and drained: a closed pipe could kill the server with SIGPIPE, a
        // full one block it.
        std::thread::spawn(move || std::io::copy(&mut stdout, &mut std::io::sink()));
        let addr = ready
            .split("\"http\":\"")
            .nth(1)
            .and_then(|rest| rest.split('"').next())
            .unwrap_or_else(|| {
                let _ = child.kill();
                panic!("no listening line from the server, got {ready:?}")
            })
            .to_owned();
        let extra_args = if extra_args.is_empty() {
            String::new()
        } else {
            format!("{extra_args} ")
        };
        Self {
            child,
            addr,
            extra_args,
        }
    }

    /// Kills the server this bench spawned (by its pid, through `Child`) and reaps it.
    fn stop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

impl Drop for Server {
    fn drop(&mut self) {
        self.stop();
    }
}

/// `TICKCAST_BIN`, else the `tickcast` that `cargo bench` built into the same target
/// directory as this bench (`<target>/release/deps/pipeline-*` -> `<target>/release/tickcast`).
fn server_binary() -> PathBuf {
    if let Some(path) = std::env::var_os("TICKCAST_BIN") {
        return PathBuf::from(path);
    }
    let exe = std::env::current_exe().expect("current_exe");
    let release = exe
        .parent()
        .and_then(Path::parent)
        .expect("bench executable in <target>/release/deps");
    let binary = release.join("tickcast");
    assert!(
        binary.exists(),
        "{} not found: run through `cargo bench --bench pipeline` (which builds it), or set \
         TICKCAST_BIN",
        binary.display()
    );
    binary
}

fn pin_self(cpus: &str) {
    let status = Command::new("taskset")
        .args(["-a", "-p", "-c", cpus, &std::process::id().to_string()])
        .stdout(Stdio::null())
        .status()
        .expect("taskset");
    assert!(status.success(), "taskset -p -c {cpus} failed");
}

fn env_or(name: &str, default: &str) -> String {
    std::env::var(name).unwrap_or_else(|_| default.to_owned())
}

// === /proc ===

/// Clock ticks per second of `/proc/*/stat` times (`getconf CLK_TCK`, 100 on Linux).
fn clock_ticks() -> f64 {
    Command::new("getconf")
        .arg("CLK_TCK")
        .output()
        .ok()
        .and_then(|out| String::from_utf8(out.stdout).ok())
        .and_then(|text| text.trim().parse().ok())
        .unwrap_or(100.0)
}

/// User + system CPU seconds from a `stat` file's text.
fn stat_cpu(stat: &str) -> Option<f64> {
    // Fields after the `(comm)`, which may contain spaces: state is field 3, utime 14, stime 15.
    let after = stat.rsplit_once(')')?.1;
    let fields: Vec<&str> = after.split_whitespace().collect();
    let utime: f64 = fields.get(11)?.parse().ok()?;
    let stime: f64 = fields.get(12)?.parse().ok()?;
    Some((utime + stime) / clock_ticks())
}

fn process_cpu(pid: &str) -> Result<f64, String> {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).map_err(|e| e.to_string())?;
    stat_cpu(&stat).ok_or_else(|| "unreadable /proc stat".into())
}

/// CPU seconds per thread name of process `pid` (threads of one name summed).
fn thread_cpu(pid: u32) -> Result<BTreeMap<String, f64>, String> {
    let mut threads = BTreeMap::new();
    let tasks = std::fs::read_dir(format!("/proc/{pid}/task")).map_err(|e| e.to_string())?;
    for task in tasks.flatten() {
        let path = task.path();
        let (Ok(stat), Ok(comm)) = (
            std::fs::read_to_string(path.join("stat")),
            std::fs::read_to_string(path.join("comm")),
        ) else {
            continue;
        };
        if let Some(cpu) = stat_cpu(&stat) {
            *threads.entry(comm.trim().to_owned()).or_insert(0.0) += cpu;
        }
    }
    Ok(threads)
}

/// The server's counters (unlabelled lines, and labelled ones summed by name).
fn scrape_metrics(addr: &str) -> Result<BTreeMap<String, f64>, String> {
    let mut stream = TcpStream::connect(addr).map_err(|e| e.to_string())?;
    write!(
        stream,
        "GET /metrics HTTP/1.1\r\nHost: {addr}\r\nConnection: close\r\n\r\n"
    )
    .map_err(|e| e.to_string())?;
    let mut response = Vec::new();
    stream
        .read_to_end(&mut response)
        .map_err(|e| e.to_string())?;
    let text = String::from_utf8_lossy(&response);
    let mut metrics = BTreeMap::new();
    for line in text.lines() {
        if !line.starts_with("tickcast_") {
            continue;
        }
        let Some((name, value)) = line.rsplit_once(' ') else {
            continue;
        };
        let name = name.split('{').next().unwrap_or(name).to_owned();
        if let Ok(value) = value.parse::<f64>() {
            *metrics.entry(name).or_insert(0.0) += value;
        }
    }
    Ok(metrics)
}

// === The SSE client ===

/// Counts and order checks of the tick events seen.
#[derive(Default)]
struct StreamCheck {
    ticks: u64,
    payload_bytes: u64,
    first_id: Option<u64>,
    last_id: Option<u64>,
    gaps: u64,
    missing: u64,
    reorders: u64,
    anomalies: Vec<String>,
}

impl StreamCheck {
    fn tick(&mut self, id: u64) {
        self.ticks += 1;
        self.first_id.get_or_insert(id);
        match self.last_id {
            Some(last) if id == last + 1 => {}
            Some(last) if id > last => {
                self.gaps += 1;
                self.missing += id - last - 1;
                if self.anomalies.len() < SHOWN {
                    self.anomalies
                        .push(format!("gap: {last} then {id} ({} missing)", id - last - 1));
                }
            }
            Some(last) => {
                self.reorders += 1;
                if self.anomalies.len() < SHOWN {
                    self.anomalies.push(format!("reorder: {last} then {id}"));
                }
            }
            None => {}
        }
        self.last_id = Some(id);
    }

    /// A snapshot is the state at its id: ticks continue after it.
    fn snapshot(&mut self, id: u64) {
        if self.last_id.is_none_or(|last| id > last) {
            self.last_id = Some(id);
        }
    }
}

/// Where the chunked decoder is.
enum Chunked {
    /// Reading the hex size line (its bytes so far).
    Size(Vec<u8>),
    /// This many payload bytes left in the chunk.
    Data(usize),
    /// Skipping the CRLF after a chunk's payload (bytes left).
    DataEnd(usize),
    /// The zero-size chunk was seen.
    Done,
}

/// One `GET /v1/stream?symbols=*&complete=1` connection: HTTP/1.1 chunked body, SSE events.
struct SseStream {
    socket: TcpStream,
    buf: Vec<u8>,
    chunked: Chunked,
    /// The unfinished SSE line carried over from the previous read.
    line: Vec<u8>,
    /// The current event's `event:` and `id:`.
    event_is_tick: bool,
    event_is_snapshot: bool,
    event_id: Option<u64>,
}

impl SseStream {
    fn open(addr: &str) -> Result<Self, String> {
        // `complete=1` by default: the bench checks every tick arrives, which is what a quant
        // asks for (a plain firehose is conflated when it falls behind, by design).
        // PIPELINE_PATH overrides, e.g. `/v1/stream?symbols=*` to see the conflated stream.
        let path = std::env::var("PIPELINE_PATH")
            .unwrap_or_else(|_| "/v1/stream?symbols=*&complete=1".to_owned());
        let mut socket = TcpStream::connect(addr).map_err(|e| e.to_string())?;
        socket.set_nodelay(true).map_err(|e| e.to_string())?;
        write!(
            socket,
            "GET {path} HTTP/1.1\r\nHost: {addr}\r\nAccept: text/event-stream\r\n\r\n"
        )
        .map_err(|e| e.to_string())?;
        // The head, read byte-wise up to the blank line (the body must not be consumed here).
        let mut head = Vec::new();
        let mut byte = [0u8; 1];
        while !head.ends_with(b"\r\n\r\n") {
            if socket.read(&mut byte).map_err(|e| e.to_string())? == 0 {
                return Err("connection closed in the response head".into());
            }
            head.push(byte[0]);
        }
        let head = String::from_utf8_lossy(&head).to_ascii_lowercase();
        if !head.starts_with("http/1.1 200") {
            return Err(format!("unexpected response: {head}"));
        }
        if !head.contains("transfer-encoding: chunked") {
            return Err(format!("expected a chunked body: {head}"));
        }
        Ok(Self {
            socket,
            buf: vec![0; 1 << 20],
            chunked: Chunked::Size(Vec::new()),
            line: Vec::new(),
            event_is_tick: false,
            event_is_snapshot: false,
            event_id: None,
        })
    }

    /// One `read` from the socket, decoded into `check`.
    fn read_some(&mut self, check: &mut StreamCheck) -> Result<(), String> {
        let n = self.socket.read(&mut self.buf).map_err(|e| e.to_string())?;
        if n == 0 {
            return Err("the server closed the stream".into());
        }
        let mut buf = std::mem::take(&mut self.buf);
        let result = self.dechunk(&buf[..n], check);
        std::mem::swap(&mut self.buf, &mut buf);
        result
    }

    fn dechunk(&mut self, mut input: &[u8], check: &mut StreamCheck) -> Result<(), String> {
        while !input.is_empty() {
            match &mut self.chunked {
                Chunked::Size(size) => {
                    let Some(end) = memchr::memchr(b'\n', input) else {
                        size.extend_from_slice(input);
                        return Ok(());
                    };
                    size.extend_from_slice(&input[..end]);
                    input = &input[end + 1..];
                    let text = String::from_utf8_lossy(size);
                    let hex = text.trim().split(';').next().unwrap_or("");
                    let len = usize::from_str_radix(hex, 16)
                        .map_err(|_| format!("bad chunk size {text:?}"))?;
                    self.chunked = if len == 0 {
                        Chunked::Done
                    } else {
                        Chunked::Data(len)
                    };
                }
                Chunked::Data(left) => {
                    let take = (*left).min(input.len());
                    let (data, rest) = input.split_at(take);
                    *left -= take;
                    if *left == 0 {
                        self.chunked = Chunked::DataEnd(2);
                    }
                    input = rest;
                    check.payload_bytes += data.len() as u64;
                    self.sse(data, check)?;
                }
                Chunked::DataEnd(left) => {
                    let take = (*left).min(input.len());
                    input = &input[take..];
                    *left -= take;
                    if *left == 0 {
                        self.chunked = Chunked::Size(Vec::new());
                    }
                }
                Chunked::Done => return Err("the stream ended".into()),
            }
        }
        Ok(())
    }

    /// Feeds SSE bytes: lines, events ended by a blank line.
    fn sse(&mut self, mut data: &[u8], check: &mut StreamCheck) -> Result<(), String> {
        while let Some(end) = memchr::memchr(b'\n', data) {
            if self.line.is_empty() {
                self.sse_line(&data[..end], check)?;
            } else {
                let mut line = std::mem::take(&mut self.line);
                line.extend_from_slice(&data[..end]);
                self.sse_line(&line, check)?;
                line.clear();
                self.line = line;
            }
            data = &data[end + 1..];
        }
        self.line.extend_from_slice(data);
        Ok(())
    }

    fn sse_line(&mut self, line: &[u8], check: &mut StreamCheck) -> Result<(), String> {
        if line.is_empty() {
            if let Some(id) = self.event_id.take() {
                if self.event_is_tick {
                    check.tick(id);
                } else if self.event_is_snapshot {
                    check.snapshot(id);
                }
            }
            self.event_is_tick = false;
            self.event_is_snapshot = false;
        } else if let Some(id) = line.strip_prefix(b"id: ") {
            let id = std::str::from_utf8(id)
                .ok()
                .and_then(|id| id.parse().ok())
                .ok_or_else(|| format!("bad id line {:?}", String::from_utf8_lossy(line)))?;
            self.event_id = Some(id);
        } else if let Some(kind) = line.strip_prefix(b"event: ") {
            self.event_is_tick = kind == b"tick";
            self.event_is_snapshot = kind == b"snapshot";
        }
        Ok(())
    }
}
