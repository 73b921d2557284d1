//! One run, start to end: the phases and their time bounds.
//!
//! 1. Check the scenario and the descriptor limit; start the server if asked (its ready line
//!    gives the addresses) or attach to the given one.
//! 2. Plan the clients and the ticks (deterministic from the seed).
//! 3. Connect: the fleet opens every connection (bounded by the connect timeout per wave of
//!    `connect_concurrency` attempts).
//! 4. Feed for `duration` (open loop) while the clients read; the reconnect storm hits at
//!    `reconnect_at`. Without a feed, the connections are simply held for `duration`.
//! 5. Drain: wait (at most `drain_timeout`) until every fast client has every tick.
//! 6. Stop the clients, read the server's CPU and memory, stop a spawned server, report.
//!
//! Every phase has a deadline, so a run always ends by itself. Server CPU and RSS are sampled
//! from `/proc` at the phase boundaries and about once a second.

use std::io::IsTerminal;
use std::net::{SocketAddr, ToSocketAddrs};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

use indicatif::{ProgressBar, ProgressDrawTarget, ProgressStyle};

use crate::clock::{Epoch, epoch_ns};
use crate::dial::Dialer;
use crate::feeder::{self, FeedOutcome, FeedTarget};
use crate::fleet::{Control, Fleet, FleetConfig, Group};
use crate::ledger::{LedgerRules, SeqCheck};
use crate::mix::{MixSettings, plan_clients};
use crate::procfs::{self, Processes, Usage};
use crate::report::{
    ConnectionsReport, DeliveryReport, FeedReport, LoadGeneratorReport, Report, ResumeReport,
    ServerReport, ServerSample, TargetReport, TlsReport, Verdict, group_reports,
};
use crate::scenario::{InvalidScenario, Scenario, Target};
use crate::schedule::{PlanSettings, TickPlan};
use crate::server::{SpawnError, SpawnSpec, SpawnedServer};
use crate::transport::{TlsClient, TlsError, TlsOptions, Trust};
use crate::universe::Universe;

/// How often the runner wakes to update progress and check deadlines.
const POLL: Duration = Duration::from_millis(10);
/// How often the server is sampled for the RSS series.
const SAMPLE_EVERY: Duration = Duration::from_secs(1);
/// Descriptors kept free for everything that is not a client connection (feeder, publishers,
/// runtimes, /proc reads, the spawned server's pipes).
const SPARE_DESCRIPTORS: usize = 64;
/// Bound on the client threads' exit after the stop.
const JOIN_TIMEOUT: Duration = Duration::from_secs(10);
/// Bound on a spawned server's graceful stop.
const SERVER_STOP_GRACE: Duration = Duration::from_secs(10);

/// Why a run could not happen.
#[derive(Debug, thiserror::Error)]
pub enum RunError {
    /// The scenario's settings contradict each other.
    #[error(transparent)]
    Scenario(#[from] InvalidScenario),
    /// The target URL is not `http[s]://HOST:PORT[/prefix]`.
    #[error("bad target URL {0:?}: expected http://HOST:PORT[/prefix] (https:// with --tls)")]
    Url(String),
    /// An `https://` target without `--tls`.
    #[error("target {0}: an https:// URL needs --tls (with --tls-ca or --tls-insecure)")]
    HttpsWithoutTls(String),
    /// An `http://` target with `--tls`.
    #[error("target {0}: with --tls, write the target as https://")]
    HttpWithTls(String),
    /// The TLS client cannot be set up (CA file, server name).
    #[error(transparent)]
    Tls(#[from] TlsError),
    /// The target is not on this machine and `--allow-remote` was not given.
    #[error("target {0} is not a loopback address (pass --allow-remote to load a remote server)")]
    Remote(SocketAddr),
    /// Feeding tickcast needs its feed address.
    #[error(
        "this scenario feeds ticks: give --feed HOST:PORT (tickcast's tcp-listen feed) or --spawn-tickcast"
    )]
    NoFeed,
    /// More connections than descriptors.
    #[error(
        "{needed} descriptors needed but the open-files limit is {limit}: lower --connections or raise `ulimit -n`"
    )]
    Descriptors {
        /// What the run needs.
        needed: usize,
        /// The soft limit.
        limit: usize,
    },
    /// The server could not be started.
    #[error(transparent)]
    Spawn(#[from] SpawnError),
    /// A thread, runtime or socket could not be set up.
    #[error("{0}")]
    Setup(#[from] std::io::Error),
}

/// Where the load goes and how the load tester runs (as opposed to what load: [`Scenario`]).
#[derive(Debug, Clone, Default)]
pub struct Options {
    /// Base URL of a running server (`http://127.0.0.1:8080`); ignored with `spawn`.
    pub url: Option<String>,
    /// tickcast's feed address of a running server.
    pub feed: Option<SocketAddr>,
    /// Pids of a running server (nchan: the master; its workers are found as children).
    pub server_pids: Vec<u32>,
    /// Also measure the children of `server_pids`.
    pub server_children: bool,
    /// Start tickcast for the run.
    pub spawn: Option<SpawnSpec>,
    /// Client threads (0: one per available CPU).
    pub threads: usize,
    /// Loopback source addresses (none: as many as the connection count needs).
    pub source_ips: Option<usize>,
    /// Show a progress bar on a terminal.
    pub progress: bool,
    /// Allow a non-loopback target.
    pub allow_remote: bool,
    /// Connect with TLS (`None`: plain TCP).
    pub tls: Option<TlsOptions>,
    /// With HTTP/2: SSE streams per connection (0 or 1: one each).
    pub streams_per_connection: usize,
}

/// The base URL of the target, split.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TargetUrl {
    /// The resolved address.
    pub addr: SocketAddr,
    /// `Host` header value (as written in the URL).
    pub host: String,
    /// Path prefix without a trailing slash (usually empty).
    pub path_prefix: String,
    /// `https://`.
    pub tls: bool,
}

/// Parses `http://HOST:PORT[/prefix]` or `https://...`.
pub fn parse_url(url: &str) -> Result<TargetUrl, RunError> {
    let bad = || RunError::Url(url.to_owned());
    let (tls, rest) = match (url.strip_prefix("http://"), url.strip_prefix("https://")) {
        (Some(rest), _) => (false, rest),
        (None, Some(rest)) => (true, rest),
        (None, None) => return Err(bad()),
    };
    let (authority, path) = match rest.find('/') {
        Some(slash) => (&rest[..slash], &rest[slash..]),
        None => (rest, ""),
    };
    if authority.is_empty() || !authority.contains(':') {
        return Err(bad());
    }
    let addr = authority
        .to_socket_addrs()
        .map_err(|_| bad())?
        .find(SocketAddr::is_ipv4)
        .ok_or_else(bad)?;
    Ok(TargetUrl {
        addr,
        host: authority.to_owned(),
        path_prefix: path.trim_end_matches('/').to_owned(),
        tls,
    })
}

/// The soft open-files limit of this process, from `/proc/self/limits`.
pub fn open_files_limit() -> Option<usize> {
    let limits = std::fs::read_to_string("/proc/self/limits").ok()?;
    let line = limits.lines().find(|l| l.starts_with("Max open files"))?;
    line["Max open files".len()..]
        .split_ascii_whitespace()
        .next()?
        .parse()
        .ok()
}

/// Runs a scenario to its end.
pub fn run(scenario: &Scenario, options: &Options) -> Result<Report, RunError> {
    scenario.validate()?;
    let started_unix_s = epoch_ns() as f64 / 1e9;
    let run_start = Instant::now();
    let needed = scenario.connections + scenario.publishers + SPARE_DESCRIPTORS;
    if let Some(limit) = open_files_limit()
        && needed > limit
    {
        return Err(RunError::Descriptors { needed, limit });
    }
    // Read the CA before a server is started for nothing.
    let tls = options.tls.as_ref().map(TlsClient::new).transpose()?;
    let scheme = if tls.is_some() { "https" } else { "http" };

    // === Server ===
    let feeds = scenario.feeds();
    let spawned = match &options.spawn {
        Some(spec) => Some(SpawnedServer::start(spec)?),
        None => None,
    };
    let url = match &spawned {
        Some(server) => format!("{scheme}://{}", server.http),
        None => options.url.clone().unwrap_or_else(|| {
            let port = match scenario.target {
                Target::Tickcast => 8080,
                Target::Nchan => 8090,
            };
            format!("{scheme}://127.0.0.1:{port}")
        }),
    };
    let target = parse_url(&url)?;
    match (target.tls, tls.is_some()) {
        (true, false) => return Err(RunError::HttpsWithoutTls(url)),
        (false, true) => return Err(RunError::HttpWithTls(url)),
        _ => {}
    }
    if !target.addr.ip().is_loopback() && !options.allow_remote {
        return Err(RunError::Remote(target.addr));
    }
    let feed_target = match (feeds, scenario.target) {
        (false, _) => None,
        (true, Target::Tickcast) => {
            let addr = options
                .feed
                .or_else(|| spawned.as_ref().and_then(|s| s.feeds.first().copied()))
                .ok_or(RunError::NoFeed)?;
            Some(FeedTarget::Tickcast { addr })
        }
        (true, Target::Nchan) => Some(FeedTarget::Nchan {
            addr: target.addr,
            host: target.host.clone(),
            path_prefix: target.path_prefix.clone(),
            publishers: scenario.publishers,
            per_symbol: scenario.mix.firehose < 1.0,
            firehose: scenario.mix.firehose > 0.0,
        }),
    };
    let mut pids = options.server_pids.clone();
    pids.extend(spawned.as_ref().map(SpawnedServer::pid));
    let processes = Processes::new(&pids, options.server_children);

    // === Plans ===
    let universe = Universe::new(&scenario.symbol_prefix, scenario.symbols);
    let plan = TickPlan::new(PlanSettings {
        rate: scenario.rate,
        burst: scenario.burst,
        duration: scenario.duration,
        symbols: scenario.symbols,
        tick_zipf: scenario.tick_zipf,
        seed: scenario.seed,
    });
    let expected = if feeds { plan.totals() } else { Vec::new() };
    let ticks_planned: u64 = expected.iter().map(|&c| u64::from(c)).sum();
    let clients = plan_clients(&MixSettings {
        connections: scenario.connections,
        mix: scenario.mix,
        k: scenario.k,
        symbols: scenario.symbols.max(1),
        zipf_s: scenario.zipf_s,
        slow: scenario.slow,
        paused: scenario.paused,
        reconnect: scenario.reconnect,
        seed: scenario.seed,
    });
    let fast = clients.iter().filter(|c| Group::of(c).is_fast()).count();
    let reconnecting = clients.iter().filter(|c| c.reconnects).count();
    let source_ips = options
        .source_ips
        .unwrap_or_else(|| Dialer::sources_for(scenario.connections + reconnecting))
        .max(1);
    let dialer = Dialer::new(target.addr, source_ips)?;
    let (firehose_rules, symbols_rules) = match scenario.target {
        Target::Tickcast => (
            LedgerRules {
                seq: SeqCheck::Contiguous,
                strict_first: true,
            },
            LedgerRules {
                seq: SeqCheck::Increasing,
                strict_first: true,
            },
        ),
        Target::Nchan => {
            let rules = LedgerRules {
                seq: SeqCheck::Off,
                strict_first: false,
            };
            (rules, rules)
        }
    };
    let config = Arc::new(FleetConfig {
        target: scenario.target,
        host: target.host.clone(),
        path_prefix: target.path_prefix.clone(),
        universe: universe.clone(),
        expected,
        firehose_rules,
        symbols_rules,
        latency_from: scenario.latency_from,
        burst: scenario.burst,
        slow_rate: scenario.slow_rate,
        slow_rcvbuf: scenario.slow_rcvbuf,
        connect_timeout: scenario.connect_timeout,
        connect_rate: scenario.connect_rate,
        connect_concurrency: scenario.connect_concurrency,
        last_event_id: scenario.last_event_id.clone(),
        stream_query: scenario.stream_query.clone(),
        reconnect_on_error: scenario.reconnect_on_error,
        dialer,
        http2_streams: options
            .tls
            .as_ref()
            .is_some_and(|tls| tls.http2)
            .then_some(options.streams_per_connection.max(1)),
        tls,
    });
    let control = Arc::new(Control::default());
    if feeds {
        control.outstanding.store(fast, Ordering::Relaxed);
    }
    let threads = if options.threads == 0 {
        std::thread::available_parallelism().map_or(1, |n| n.get())
    } else {
        options.threads
    };

    let progress = Progress::new(options.progress);
    let mut sampler = Sampler::new(&processes, run_start);

    // === Connect ===
    let before_connect = sampler.take();
    let connect_start = Instant::now();
    let fleet = Fleet::launch(clients, Arc::clone(&config), Arc::clone(&control), threads)?;
    let waves = scenario.connections.div_ceil(scenario.connect_concurrency) as u32;
    let pacing = scenario.connect_rate.map_or(Duration::ZERO, |r| {
        Duration::from_secs_f64(scenario.connections as f64 / r)
    });
    let connect_deadline = connect_start + pacing + scenario.connect_timeout * waves.max(1);
    progress.phase("connecting", scenario.connections as u64);
    while control.settled.load(Ordering::Relaxed) < scenario.connections
        && Instant::now() < connect_deadline
    {
        std::thread::sleep(POLL);
        progress.set(control.settled.load(Ordering::Relaxed) as u64, "");
        sampler.tick();
    }
    let connect_seconds = connect_start.elapsed().as_secs_f64();
    let connected = control.connected.load(Ordering::Relaxed);
    let after_connect = sampler.take();

    // === Feed (or hold) ===
    let window_start = Instant::now();
    let own_start = procfs::usage(std::process::id()).ok();
    let (events_start, bytes_start) = fleet.totals();
    let epoch = Epoch::now();
    control.feed_start_ns.store(epoch.ns, Ordering::Relaxed);
    let stop_feed = Arc::new(AtomicBool::new(false));
    let mut feeder = match feed_target.clone() {
        Some(target) => Some(feeder::spawn(
            target,
            plan,
            universe,
            epoch,
            Arc::clone(&stop_feed),
        )?),
        None => None,
    };
    let storm_at = (scenario.reconnect > 0.0).then(|| window_start + scenario.reconnect_at);
    let hold_until = window_start + scenario.duration;
    let feed_deadline = hold_until + scenario.drain_timeout;
    progress.phase("running", scenario.duration.as_millis() as u64);
    let mut last_rate = (Instant::now(), events_start);
    let mut rate_text = String::new();
    loop {
        let now = Instant::now();
        if let Some(at) = storm_at
            && now >= at
            && !control.storm.is_cancelled()
        {
            control.storm.cancel();
        }
        let done = match &feeder {
            Some(handle) => handle.is_finished() || now >= feed_deadline,
            None => now >= hold_until,
        };
        if done {
            break;
        }
        if now.duration_since(last_rate.0) >= Duration::from_millis(500) {
            let (events, _) = fleet.totals();
            let per_second =
                (events - last_rate.1) as f64 / now.duration_since(last_rate.0).as_secs_f64();
            rate_text = format!("{per_second:.0} events/s");
            last_rate = (now, events);
        }
        progress.set(
            now.duration_since(window_start).as_millis() as u64,
            &rate_text,
        );
        sampler.tick();
        std::thread::sleep(POLL);
    }
    if !control.storm.is_cancelled() && storm_at.is_some() {
        control.storm.cancel();
    }
    let mut outcome = FeedOutcome::default();
    let mut feed_seconds = 0.0;
    if let Some(handle) = feeder.take() {
        stop_feed.store(true, Ordering::Relaxed);
        outcome = handle.join().unwrap_or_else(|_| FeedOutcome {
            error: Some("the feeder thread panicked".into()),
            errors: 1,
            ..FeedOutcome::default()
        });
        feed_seconds = window_start.elapsed().as_secs_f64();
    }

    // === Drain ===
    let drain_start = Instant::now();
    let mut drained = true;
    if feeds {
        progress.phase("draining", 0);
        let _ = control.sent.set(outcome.sent.clone());
        let drain_deadline = drain_start + scenario.drain_timeout;
        while control.outstanding.load(Ordering::Relaxed) > 0 {
            if Instant::now() >= drain_deadline {
                drained = false;
                break;
            }
            std::thread::sleep(POLL);
            sampler.tick();
        }
    }
    let drain_seconds = drain_start.elapsed().as_secs_f64();
    let window_seconds = window_start.elapsed().as_secs_f64();
    let (events_end, bytes_end) = fleet.totals();
    let own_end = procfs::usage(std::process::id()).ok();
    let window_end = sampler.take();
    progress.finish();

    // === Stop ===
    control.stop.cancel();
    let client_threads = fleet.threads();
    let (stats, stuck) = fleet.join(JOIN_TIMEOUT);
    if let Some(server) = spawned {
        server.stop(SERVER_STOP_GRACE);
    }

    // === Report ===
    let events = events_end - events_start;
    let groups = group_reports(&stats, scenario.burst.is_some(), feeds);
    let fast_clean = groups
        .iter()
        .filter(|g| g.group == "steady" || g.group == "reconnecting")
        .all(|g| g.clean);
    let failed = scenario.connections - connected;
    let per_event = |cpu: f64| (events > 0).then(|| cpu * 1e6 / events as f64);
    let server = match (before_connect, after_connect, window_end) {
        (Some(before), Some(after), Some(end)) => {
            let window_cpu = end.cpu_seconds - after.cpu_seconds;
            Some(ServerReport {
                pids: processes.pids().to_vec(),
                cpu_seconds_connect: after.cpu_seconds - before.cpu_seconds,
                cpu_seconds: window_cpu,
                cpu_us_per_event: per_event(window_cpu),
                rss_before_connect: before.rss_bytes,
                rss_after_connect: after.rss_bytes,
                rss_end: end.rss_bytes,
                rss_max: sampler.rss_max,
                rss_per_connection_bytes: (connected > 0)
                    .then(|| after.rss_bytes.saturating_sub(before.rss_bytes) / connected as u64),
                samples: sampler.samples,
            })
        }
        _ => None,
    };
    let own_cpu = match (own_start, own_end) {
        (Some(start), Some(end)) => end.cpu_seconds - start.cpu_seconds,
        _ => 0.0,
    };
    let feed = feeds.then(|| {
        let ticks_sent: u64 = outcome.sent.iter().map(|&c| u64::from(c)).sum();
        FeedReport {
            ticks_planned,
            ticks_sent,
            seconds: feed_seconds,
            rate_per_second: if feed_seconds > 0.0 {
                ticks_sent as f64 / feed_seconds
            } else {
                0.0
            },
            behind_max_ms: outcome.lateness.max_ns as f64 / 1e6,
            behind_mean_ms: if outcome.lateness.sent > 0 {
                outcome.lateness.total_ns as f64 / outcome.lateness.sent as f64 / 1e6
            } else {
                0.0
            },
            errors: outcome.errors,
            error: outcome.error.clone(),
            complete: outcome.complete,
        }
    });
    let resume = (reconnecting > 0 || scenario.reconnect_on_error).then(|| ResumeReport {
        first_event_ms: stats.resume_first.summary(),
        live_ms: stats.resume_live.summary(),
    });

    let mut notes = Vec::new();
    if failed > 0 {
        notes.push(format!(
            "{failed} connections failed (see connections.failures)"
        ));
    }
    if let Some(feed) = &feed {
        if let Some(error) = &feed.error {
            notes.push(format!("feeder: {error}"));
        }
        if feed.behind_max_ms > 100.0 {
            notes.push(format!(
                "the feeder ran up to {:.0} ms behind its schedule (counted as latency)",
                feed.behind_max_ms
            ));
        }
    }
    if feeds && !drained {
        notes.push(format!(
            "{} fast clients still missed ticks {:.1} s after the feed ended",
            control.outstanding.load(Ordering::Relaxed),
            scenario.drain_timeout.as_secs_f64()
        ));
    }
    for g in &groups {
        if (g.group == "slow" || g.group == "paused") && g.integrity.lost() > 0 {
            notes.push(format!(
                "{} clients did not get {} ticks (conflated or still queued: expected for them)",
                g.group,
                g.integrity.lost()
            ));
        }
        if let Some(seq) = &g.sequences
            && seq.distinct > 1
        {
            notes.push(format!(
                "{} firehose clients of group {} saw {} different sequences",
                seq.connections, g.group, seq.distinct
            ));
        }
    }
    if stuck > 0 {
        notes.push(format!("{stuck} client threads did not stop in time"));
    }
    if processes.is_empty() {
        notes.push("no server pid: server CPU and RSS not measured (--server-pid)".into());
    }

    Ok(Report {
        tool: format!("tickcast-load {}", env!("CARGO_PKG_VERSION")),
        started_unix_s,
        scenario: scenario.clone(),
        target: TargetReport {
            kind: scenario.target,
            url,
            feed: feed_target.and_then(|t| match t {
                FeedTarget::Tickcast { addr } => Some(addr.to_string()),
                FeedTarget::Nchan { .. } => None,
            }),
            spawned: options.spawn.is_some(),
            tls: options.tls.as_ref().map(|tls| TlsReport {
                server_name: tls.server_name.clone(),
                verified: tls.trust != Trust::AnyCertificate,
                session: control.session.get().cloned(),
                streams_per_connection: config.http2_streams,
            }),
        },
        connections: ConnectionsReport {
            requested: scenario.connections,
            ok: connected,
            failed,
            failures: stats.failures.clone(),
            connect_seconds,
            connects_per_second: if connect_seconds > 0.0 {
                connected as f64 / connect_seconds
            } else {
                0.0
            },
            server_closes: stats.server_closes,
            reconnects: stats.reconnects,
            reconnect_failures: stats.reconnect_failures.clone(),
            source_ips,
            client_threads,
        },
        feed,
        delivery: DeliveryReport {
            window_seconds,
            events,
            events_per_second: events as f64 / window_seconds.max(1e-9),
            bytes: bytes_end - bytes_start,
            bytes_per_second: (bytes_end - bytes_start) as f64 / window_seconds.max(1e-9),
            comments: stats.comments,
            drain_seconds,
            drained,
        },
        groups,
        resume,
        server,
        load_generator: LoadGeneratorReport {
            cpu_seconds: own_cpu,
            cpu_us_per_event: per_event(own_cpu),
            threads: client_threads,
        },
        verdict: Verdict {
            all_connected: failed == 0,
            fast_clients_clean: fast_clean,
            notes,
        },
    })
}

/// Samples the server's usage: at phase boundaries ([`Sampler::take`]) and about once a
/// second ([`Sampler::tick`]).
struct Sampler<'a> {
    processes: &'a Processes,
    start: Instant,
    next: Instant,
    rss_max: u64,
    samples: Vec<ServerSample>,
}

impl<'a> Sampler<'a> {
    fn new(processes: &'a Processes, start: Instant) -> Self {
        Self {
            processes,
            start,
            next: Instant::now(),
            rss_max: 0,
            samples: Vec::new(),
        }
    }

    /// Reads now and records the reading in the series.
    fn take(&mut self) -> Option<Usage> {
        let usage = self.processes.usage()?;
        self.rss_max = self.rss_max.max(usage.rss_bytes);
        self.samples.push(ServerSample {
            t_s: self.start.elapsed().as_secs_f64(),
            rss_bytes: usage.rss_bytes,
            cpu_s: usage.cpu_seconds,
        });
        self.next = Instant::now() + SAMPLE_EVERY;
        Some(usage)
    }

    /// Reads if a second has passed since the last reading.
    fn tick(&mut self) {
        if Instant::now() >= self.next {
            self.take();
        }
    }
}

/// The progress bar (hidden unless asked for and stderr is a terminal).
struct Progress {
    bar: ProgressBar,
}

impl Progress {
    fn new(enabled: bool) -> Self {
        let target = if enabled && std::io::stderr().is_terminal() {
            ProgressDrawTarget::stderr()
        } else {
            ProgressDrawTarget::hidden()
        };
        Self {
            bar: ProgressBar::with_draw_target(None, target),
        }
    }

    fn phase(&self, name: &'static str, length: u64) {
        let template = if length > 0 {
            "{prefix:>10} [{bar:30}] {pos}/{len} {msg}"
        } else {
            "{prefix:>10} {spinner} {msg}"
        };
        if let Ok(style) = ProgressStyle::with_template(template) {
            self.bar.set_style(style.progress_chars("=> "));
        }
        self.bar.set_prefix(name);
        self.bar.set_length(length);
        self.bar.set_position(0);
        self.bar.set_message("");
    }

    fn set(&self, position: u64, message: &str) {
        self.bar.set_position(position);
        if !message.is_empty() {
            self.bar.set_message(message.to_owned());
        }
    }

    fn finish(&self) {
        self.bar.finish_and_clear();
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn urls() {
        let url = parse_url("http://127.0.0.1:8080").unwrap();
        assert_eq!(url.addr, "127.0.0.1:8080".parse().unwrap());
        assert_eq!(
            (url.host.as_str(), url.path_prefix.as_str()),
            ("127.0.0.1:8080", "")
        );
        assert!(!url.tls);
        let url = parse_url("http://localhost:8090/nchan/").unwrap();
        assert!(url.addr.ip().is_loopback());
        assert_eq!(url.path_prefix, "/nchan");
        let url = parse_url("https://127.0.0.1:8443").unwrap();
        assert!(url.tls);
        assert_eq!(url.host, "127.0.0.1:8443");
        for bad in [
            "127.0.0.1:80",
            "http://",
            "http://host",
            "https://127.0.0.1",
            "ftp://127.0.0.1:1",
        ] {
            assert!(parse_url(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn descriptor_limit_is_readable() {
        assert!(open_files_limit().is_some_and(|n| n > 0));
    }
}
