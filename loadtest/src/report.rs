//! The outcome of a run: a [`Report`] serialized as JSON, and rendered as a human table.
//!
//! The JSON shape is stable for scripts (`scripts/bench.sh` reads it): every top-level section
//! is always present (`feed`, `resume` and `server` may be `null`), latencies are in ms,
//! durations in seconds, sizes in bytes, CPU in seconds. Figures are built from the merged
//! [`ThreadStats`] of the fleet by [`group_reports`].

use std::collections::{BTreeMap, HashMap};
use std::fmt::Write as _;

use crate::fleet::{Group, Reconnects, ThreadStats};
use crate::latency::LatencySummary;
use crate::ledger::Integrity;
use crate::mix::Class;
use crate::scenario::{Scenario, Target};
use crate::transport::Session;

/// Durations as seconds (f64) in JSON.
pub mod seconds {
    use std::time::Duration;

    /// Serializes a duration as fractional seconds.
    pub fn serialize<S: serde::Serializer>(d: &Duration, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_f64(d.as_secs_f64())
    }
}

/// Everything a run measured.
#[derive(Debug, Clone, serde::Serialize)]
pub struct Report {
    /// `tickcast-load <version>`.
    pub tool: String,
    /// When the run started, Unix seconds.
    pub started_unix_s: f64,
    /// The offered load.
    pub scenario: Scenario,
    /// The server under test.
    pub target: TargetReport,
    /// Connection setup.
    pub connections: ConnectionsReport,
    /// What the feeder sent (`null` when the load tester did not feed).
    pub feed: Option<FeedReport>,
    /// Deliveries in the measurement window.
    pub delivery: DeliveryReport,
    /// Latency, integrity and fairness per client group (only groups with clients).
    pub groups: Vec<GroupReport>,
    /// Reconnect storm: time to resume (`null` without a storm).
    pub resume: Option<ResumeReport>,
    /// The server's CPU and memory (`null` without a pid).
    pub server: Option<ServerReport>,
    /// The load generator's own CPU.
    pub load_generator: LoadGeneratorReport,
    /// The pass/fail view of integrity.
    pub verdict: Verdict,
}

/// The server under test.
#[derive(Debug, Clone, serde::Serialize)]
pub struct TargetReport {
    /// tickcast or nchan.
    pub kind: Target,
    /// The base URL the clients used.
    pub url: String,
    /// The feed address (tickcast), if fed.
    pub feed: Option<String>,
    /// Whether the load tester started the server itself.
    pub spawned: bool,
    /// The clients' TLS (`null`: plain TCP).
    pub tls: Option<TlsReport>,
}

/// TLS as the clients spoke it.
#[derive(Debug, Clone, serde::Serialize)]
pub struct TlsReport {
    /// SNI and the name the certificate was checked for.
    pub server_name: String,
    /// Whether the certificate was checked (`false`: `--tls-insecure`).
    pub verified: bool,
    /// What the first connection's handshake agreed on (`null`: no handshake succeeded).
    pub session: Option<Session>,
    /// HTTP/2: SSE streams per connection (`null`: HTTP/1.1, one stream per connection).
    pub streams_per_connection: Option<usize>,
}

/// Connection setup.
#[derive(Debug, Clone, serde::Serialize)]
pub struct ConnectionsReport {
    /// Clients planned.
    pub requested: usize,
    /// First connections that got a 200 head.
    pub ok: usize,
    /// First connections that failed.
    pub failed: usize,
    /// Failures by reason.
    pub failures: BTreeMap<String, u64>,
    /// From the first connect to the last first connection settled.
    pub connect_seconds: f64,
    /// `ok / connect_seconds`.
    pub connects_per_second: f64,
    /// Streams the server ended during the run.
    pub server_closes: u64,
    /// Reconnects (storm and after server closes).
    pub reconnects: Reconnects,
    /// Failed reconnects by reason.
    pub reconnect_failures: BTreeMap<String, u64>,
    /// Loopback source addresses used.
    pub source_ips: usize,
    /// Client threads.
    pub client_threads: usize,
}

/// What the feeder sent.
#[derive(Debug, Clone, serde::Serialize)]
pub struct FeedReport {
    /// Ticks in the plan.
    pub ticks_planned: u64,
    /// Ticks written (tickcast) or accepted (nchan).
    pub ticks_sent: u64,
    /// From the start of the feed to the feeder's end.
    pub seconds: f64,
    /// `ticks_sent / seconds`.
    pub rate_per_second: f64,
    /// Worst lateness of a send against its schedule.
    pub behind_max_ms: f64,
    /// Mean lateness.
    pub behind_mean_ms: f64,
    /// Failed writes or publishes.
    pub errors: u64,
    /// The first error.
    pub error: Option<String>,
    /// Whether the whole plan went out.
    pub complete: bool,
}

/// Deliveries in the measurement window (feed start to drain end, or the held duration).
#[derive(Debug, Clone, serde::Serialize)]
pub struct DeliveryReport {
    /// Length of the window.
    pub window_seconds: f64,
    /// Live ticks delivered to all clients in the window.
    pub events: u64,
    /// `events / window_seconds`.
    pub events_per_second: f64,
    /// Bytes read by all clients in the window.
    pub bytes: u64,
    /// `bytes / window_seconds`.
    pub bytes_per_second: f64,
    /// Comment lines (heartbeats) over the whole run.
    pub comments: u64,
    /// From the end of the feed until every fast client had every tick (or the drain
    /// timeout).
    pub drain_seconds: f64,
    /// Whether every fast client got every tick within the drain timeout.
    pub drained: bool,
}

/// Deliveries per connection among the connected clients of one class.
#[derive(Debug, Clone, serde::Serialize)]
pub struct Fairness {
    /// The subscription class.
    pub class: Class,
    /// Connected clients of that class.
    pub connections: usize,
    /// Fewest deliveries.
    pub min: u64,
    /// Median deliveries.
    pub median: u64,
    /// Most deliveries.
    pub max: u64,
}

/// Whether firehose clients saw the very same sequence.
#[derive(Debug, Clone, serde::Serialize)]
pub struct Sequences {
    /// Firehose clients compared (connected and complete, or all connected without a feed).
    pub connections: usize,
    /// Distinct sequence digests among them (1: all identical).
    pub distinct: usize,
    /// The most common digest, hex (compare across runs: replays must match).
    pub digest: String,
}

/// One client group.
#[derive(Debug, Clone, serde::Serialize)]
pub struct GroupReport {
    /// `steady`, `reconnecting`, `slow` or `paused`.
    pub group: String,
    /// Clients in the group.
    pub connections: usize,
    /// Those whose first connection succeeded.
    pub connected: usize,
    /// Those that got every tick the feeder sent for their symbols.
    pub complete: usize,
    /// Live ticks delivered over the whole run.
    pub events: u64,
    /// Bytes read over the whole run.
    pub bytes: u64,
    /// End-to-end latency of fresh live ticks.
    pub latency: LatencySummary,
    /// Latency of ticks scheduled outside bursts (`null` without bursts).
    pub latency_calm: Option<LatencySummary>,
    /// Latency of ticks scheduled inside bursts (`null` without bursts).
    pub latency_burst: Option<LatencySummary>,
    /// Integrity counters summed over the group.
    pub integrity: Integrity,
    /// Nothing lost, repeated, reordered or reset.
    pub clean: bool,
    /// Deliveries per connection, per subscription class.
    pub fairness: Vec<Fairness>,
    /// Sequence agreement of firehose clients (`null` without any).
    pub sequences: Option<Sequences>,
}

/// Reconnect storm resume times.
#[derive(Debug, Clone, serde::Serialize)]
pub struct ResumeReport {
    /// From the drop to the first tick on the new connection.
    pub first_event_ms: LatencySummary,
    /// From the drop to the first tick scheduled after it (caught up).
    pub live_ms: LatencySummary,
}

/// One reading of the server over time.
#[derive(Debug, Clone, Copy, serde::Serialize)]
pub struct ServerSample {
    /// Seconds since the run started.
    pub t_s: f64,
    /// Resident memory.
    pub rss_bytes: u64,
    /// CPU seconds so far.
    pub cpu_s: f64,
}

/// The server's resources (summed over its processes).
#[derive(Debug, Clone, serde::Serialize)]
pub struct ServerReport {
    /// The measured pids.
    pub pids: Vec<u32>,
    /// CPU spent while the clients connected.
    pub cpu_seconds_connect: f64,
    /// CPU spent in the measurement window.
    pub cpu_seconds: f64,
    /// `cpu_seconds` per delivered event, µs (`null` without events).
    pub cpu_us_per_event: Option<f64>,
    /// RSS before the first connect.
    pub rss_before_connect: u64,
    /// RSS once every client connected.
    pub rss_after_connect: u64,
    /// RSS at the end of the window.
    pub rss_end: u64,
    /// Largest RSS sampled.
    pub rss_max: u64,
    /// `(rss_after_connect - rss_before_connect) / connected clients`.
    pub rss_per_connection_bytes: Option<u64>,
    /// Samples about once a second.
    pub samples: Vec<ServerSample>,
}

/// The load generator's own cost.
#[derive(Debug, Clone, serde::Serialize)]
pub struct LoadGeneratorReport {
    /// CPU of this process over the window.
    pub cpu_seconds: f64,
    /// Per delivered event, µs.
    pub cpu_us_per_event: Option<f64>,
    /// Client threads.
    pub threads: usize,
}

/// The pass/fail view.
#[derive(Debug, Clone, serde::Serialize)]
pub struct Verdict {
    /// Every client connected.
    pub all_connected: bool,
    /// Fast clients (steady and reconnecting): nothing lost, repeated, reordered or reset.
    pub fast_clients_clean: bool,
    /// What to look at.
    pub notes: Vec<String>,
}

/// Per-group figures from the merged stats. `bursts` says whether to report calm/burst
/// latency; `fed` whether completeness means anything.
pub fn group_reports(stats: &ThreadStats, bursts: bool, fed: bool) -> Vec<GroupReport> {
    Group::ALL
        .iter()
        .filter_map(|&group| {
            let g = stats.group(group);
            if g.connections.is_empty() {
                return None;
            }
            let mut integrity = Integrity::default();
            let mut bytes = 0;
            for c in &g.connections {
                integrity.add(&c.integrity);
                bytes += c.bytes;
            }
            let fairness = Class::ALL
                .iter()
                .filter_map(|&class| {
                    let mut deliveries: Vec<u64> = g
                        .connections
                        .iter()
                        .filter(|c| c.class == class && c.connected)
                        .map(|c| c.integrity.events)
                        .collect();
                    if deliveries.is_empty() {
                        return None;
                    }
                    deliveries.sort_unstable();
                    Some(Fairness {
                        class,
                        connections: deliveries.len(),
                        min: deliveries[0],
                        median: deliveries[deliveries.len() / 2],
                        max: deliveries[deliveries.len() - 1],
                    })
                })
                .collect();
            let mut digests: HashMap<u64, usize> = HashMap::new();
            for c in &g.connections {
                if c.class == Class::Firehose && c.connected && (c.complete || !fed) {
                    *digests.entry(c.digest).or_default() += 1;
                }
            }
            let sequences = digests
                .iter()
                .max_by_key(|&(digest, count)| (*count, *digest))
                .map(|(digest, _)| Sequences {
                    connections: digests.values().sum(),
                    distinct: digests.len(),
                    digest: format!("{digest:016x}"),
                });
            Some(GroupReport {
                group: group.name().to_owned(),
                connections: g.connections.len(),
                connected: g.connections.iter().filter(|c| c.connected).count(),
                complete: g.connections.iter().filter(|c| c.complete).count(),
                events: integrity.events,
                bytes,
                latency: g.latency.summary(),
                latency_calm: bursts.then(|| g.calm.summary()),
                latency_burst: bursts.then(|| g.burst.summary()),
                clean: integrity.is_clean(),
                integrity,
                fairness,
                sequences,
            })
        })
        .collect()
}

impl Report {
    /// The report as pretty JSON.
    pub fn to_json(&self) -> String {
        serde_json::to_string_pretty(self).expect("a report always serializes")
    }

    /// The human table.
    pub fn render(&self) -> String {
        let mut out = String::new();
        let s = &self.scenario;
        let _ = writeln!(
            out,
            "tickcast-load: scenario {} against {} at {}{}",
            s.name,
            self.target.kind.name(),
            self.target.url,
            match (&self.server, self.target.spawned) {
                (Some(server), true) => format!(" (spawned, pid {})", join(&server.pids)),
                (Some(server), false) => format!(" (pid {})", join(&server.pids)),
                (None, _) => String::new(),
            }
        );
        if let Some(tls) = &self.target.tls {
            let session = match &tls.session {
                Some(session) => format!(
                    "{}, {}, ALPN {}",
                    session.version,
                    session.cipher_suite,
                    session.alpn.as_deref().unwrap_or("none")
                ),
                None => "no handshake succeeded".to_owned(),
            };
            let _ = writeln!(
                out,
                "tls          {session}{}; server name {}{}",
                match tls.streams_per_connection {
                    None => String::new(),
                    Some(1) => ", 1 stream per connection".to_owned(),
                    Some(n) => format!(", {n} streams per connection"),
                },
                tls.server_name,
                if tls.verified {
                    ""
                } else {
                    " (certificate NOT verified: --tls-insecure)"
                }
            );
        }
        let _ = writeln!(
            out,
            "load         {} connections, mix {}, k {}, {} symbols, {} ticks/s{}, {:.0} s",
            s.connections,
            s.mix,
            s.k,
            s.symbols,
            s.rate,
            s.burst
                .map(|b| format!(
                    " (x{} for {:.1} s every {:.0} s)",
                    b.factor,
                    b.length.as_secs_f64(),
                    b.every.as_secs_f64()
                ))
                .unwrap_or_default(),
            s.duration.as_secs_f64()
        );
        let c = &self.connections;
        let _ = writeln!(
            out,
            "connections  {} ok, {} failed in {:.2} s ({:.0}/s); {} client threads, {} source address{}",
            c.ok,
            c.failed,
            c.connect_seconds,
            c.connects_per_second,
            c.client_threads,
            c.source_ips,
            if c.source_ips == 1 { "" } else { "es" }
        );
        for (reason, count) in &c.failures {
            let _ = writeln!(out, "             {count} x {reason}");
        }
        if c.reconnects.attempted > 0 || c.server_closes > 0 {
            let _ = writeln!(
                out,
                "             reconnects {} ({} ok, {} failed, {} after an error); streams ended by the server {}",
                c.reconnects.attempted,
                c.reconnects.ok,
                c.reconnects.failed,
                c.reconnects.after_error,
                c.server_closes
            );
            for (reason, count) in &c.reconnect_failures {
                let _ = writeln!(out, "             {count} reconnects x {reason}");
            }
        }
        if let Some(feed) = &self.feed {
            let _ = writeln!(
                out,
                "feed         {} of {} ticks sent in {:.2} s ({:.1}/s), behind schedule max {:.2} ms, mean {:.3} ms{}",
                feed.ticks_sent,
                feed.ticks_planned,
                feed.seconds,
                feed.rate_per_second,
                feed.behind_max_ms,
                feed.behind_mean_ms,
                feed.error
                    .as_ref()
                    .map(|e| format!("; {} errors: {e}", feed.errors))
                    .unwrap_or_default()
            );
        }
        let d = &self.delivery;
        let _ = writeln!(
            out,
            "delivery     {} events in {:.2} s: {:.0} events/s, {}/s; {}",
            d.events,
            d.window_seconds,
            d.events_per_second,
            bytes(d.bytes_per_second as u64),
            if self.feed.is_none() {
                format!("{} comments (heartbeats)", d.comments)
            } else if d.drained {
                format!(
                    "all fast clients complete {:.2} s after the feed",
                    d.drain_seconds
                )
            } else {
                format!(
                    "fast clients NOT complete {:.2} s after the feed",
                    d.drain_seconds
                )
            }
        );
        let _ = writeln!(
            out,
            "latency ms   {:<13} {:>9} {:>9} {:>9} {:>9} {:>9} {:>9}",
            "group", "count", "p50", "p90", "p99", "p99.9", "max"
        );
        let mut latency_row = |name: &str, l: &LatencySummary| {
            let _ = writeln!(
                out,
                "             {:<13} {:>9} {:>9.3} {:>9.3} {:>9.3} {:>9.3} {:>9.3}",
                name, l.count, l.p50_ms, l.p90_ms, l.p99_ms, l.p999_ms, l.max_ms
            );
        };
        for g in &self.groups {
            latency_row(&g.group, &g.latency);
            if let Some(calm) = &g.latency_calm {
                latency_row(&format!("{} calm", g.group), calm);
            }
            if let Some(burst) = &g.latency_burst {
                latency_row(&format!("{} burst", g.group), burst);
            }
        }
        if let Some(resume) = &self.resume {
            latency_row("resume first", &resume.first_event_ms);
            latency_row("resume live", &resume.live_ms);
        }
        let _ = writeln!(
            out,
            "integrity    {:<13} {:>9} {:>9} {:>9} {:>9} {:>9} {:>9} {:>6}",
            "group", "lost", "gaps", "dups", "reorders", "seq gaps", "resets", "clean"
        );
        for g in &self.groups {
            let i = &g.integrity;
            let _ = writeln!(
                out,
                "             {:<13} {:>9} {:>9} {:>9} {:>9} {:>9} {:>9} {:>6}",
                g.group,
                i.lost(),
                i.gaps,
                i.duplicates,
                i.reorders,
                i.seq_gaps,
                i.resets,
                if g.clean { "yes" } else { "NO" }
            );
        }
        let _ = writeln!(
            out,
            "fairness     {:<13} {:<9} {:>6} {:>9} {:>9} {:>9}",
            "group", "class", "conns", "min", "median", "max"
        );
        for g in &self.groups {
            for f in &g.fairness {
                let _ = writeln!(
                    out,
                    "             {:<13} {:<9} {:>6} {:>9} {:>9} {:>9}",
                    g.group,
                    f.class.name(),
                    f.connections,
                    f.min,
                    f.median,
                    f.max
                );
            }
            if let Some(seq) = &g.sequences {
                let _ = writeln!(
                    out,
                    "             {:<13} sequence digest {} ({})",
                    g.group,
                    seq.digest,
                    if seq.distinct == 1 {
                        format!("all {} firehose clients identical", seq.connections)
                    } else {
                        format!(
                            "{} firehose clients saw {} different sequences",
                            seq.connections, seq.distinct
                        )
                    }
                );
            }
        }
        if let Some(server) = &self.server {
            let _ = writeln!(
                out,
                "server       cpu {:.2} s in the window{}, {:.2} s while connecting",
                server.cpu_seconds,
                server
                    .cpu_us_per_event
                    .map(|us| format!(" ({us:.2} µs/event)"))
                    .unwrap_or_default(),
                server.cpu_seconds_connect
            );
            let _ = writeln!(
                out,
                "             rss {} before connecting, {} connected{}, {} at the end, max {}",
                bytes(server.rss_before_connect),
                bytes(server.rss_after_connect),
                server
                    .rss_per_connection_bytes
                    .map(|b| format!(" ({}/connection)", bytes(b)))
                    .unwrap_or_default(),
                bytes(server.rss_end),
                bytes(server.rss_max)
            );
        }
        let l = &self.load_generator;
        let _ = writeln!(
            out,
            "load gen     cpu {:.2} s{} on {} client threads",
            l.cpu_seconds,
            l.cpu_us_per_event
                .map(|us| format!(" ({us:.2} µs/event)"))
                .unwrap_or_default(),
            l.threads
        );
        let v = &self.verdict;
        let _ = writeln!(
            out,
            "verdict      {}{}",
            if v.fast_clients_clean {
                "fast clients: nothing lost, duplicated, reordered or reset"
            } else {
                "fast clients: NOT clean"
            },
            if v.all_connected {
                ""
            } else {
                "; not every client connected"
            }
        );
        for note in &v.notes {
            let _ = writeln!(out, "             {note}");
        }
        out
    }
}

fn join(pids: &[u32]) -> String {
    pids.iter()
        .map(u32::to_string)
        .collect::<Vec<_>>()
        .join("+")
}

/// Bytes in binary units.
fn bytes(n: u64) -> String {
    const UNITS: [&str; 5] = ["B", "KiB", "MiB", "GiB", "TiB"];
    let mut value = n as f64;
    let mut unit = 0;
    while value >= 1024.0 && unit + 1 < UNITS.len() {
        value /= 1024.0;
        unit += 1;
    }
    if unit == 0 {
        format!("{n} B")
    } else {
        format!("{value:.1} {}", UNITS[unit])
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::fleet::ConnectionSummary;
    use crate::scenario::Preset;

    fn sample_stats() -> ThreadStats {
        let mut stats = ThreadStats::default();
        let steady = stats.group_mut(Group::Steady);
        for events in [10, 12, 11] {
            steady.connections.push(ConnectionSummary {
                class: Class::Firehose,
                connected: true,
                complete: true,
                integrity: Integrity {
                    events,
                    ..Integrity::default()
                },
                digest: 7,
                bytes: events * 100,
            });
            steady.latency.record_ns(2_000_000);
        }
        let slow = stats.group_mut(Group::Slow);
        slow.connections.push(ConnectionSummary {
            class: Class::Zipf,
            connected: true,
            complete: false,
            integrity: Integrity {
                events: 3,
                gaps: 2,
                missing: 5,
                ..Integrity::default()
            },
            digest: 9,
            bytes: 300,
        });
        stats
    }

    fn sample_report() -> Report {
        let stats = sample_stats();
        let groups = group_reports(&stats, false, true);
        Report {
            tool: "tickcast-load test".into(),
            started_unix_s: 1.0,
            scenario: Preset::Firehose.scenario(),
            target: TargetReport {
                kind: Target::Tickcast,
                url: "http://127.0.0.1:1".into(),
                feed: Some("127.0.0.1:2".into()),
                spawned: true,
                tls: None,
            },
            connections: ConnectionsReport {
                requested: 4,
                ok: 4,
                failed: 0,
                failures: BTreeMap::new(),
                connect_seconds: 0.5,
                connects_per_second: 8.0,
                server_closes: 0,
                reconnects: Reconnects::default(),
                reconnect_failures: BTreeMap::new(),
                source_ips: 1,
                client_threads: 2,
            },
            feed: Some(FeedReport {
                ticks_planned: 10,
                ticks_sent: 10,
                seconds: 1.0,
                rate_per_second: 10.0,
                behind_max_ms: 0.1,
                behind_mean_ms: 0.01,
                errors: 0,
                error: None,
                complete: true,
            }),
            delivery: DeliveryReport {
                window_seconds: 1.0,
                events: 36,
                events_per_second: 36.0,
                bytes: 3600,
                bytes_per_second: 3600.0,
                comments: 0,
                drain_seconds: 0.01,
                drained: true,
            },
            groups,
            resume: None,
            server: Some(ServerReport {
                pids: vec![42],
                cpu_seconds_connect: 0.1,
                cpu_seconds: 0.2,
                cpu_us_per_event: Some(5.5),
                rss_before_connect: 1 << 20,
                rss_after_connect: 2 << 20,
                rss_end: 2 << 20,
                rss_max: 3 << 20,
                rss_per_connection_bytes: Some(262_144),
                samples: vec![],
            }),
            load_generator: LoadGeneratorReport {
                cpu_seconds: 0.1,
                cpu_us_per_event: Some(2.0),
                threads: 2,
            },
            verdict: Verdict {
                all_connected: true,
                fast_clients_clean: true,
                notes: vec![],
            },
        }
    }

    #[test]
    fn groups_fairness_and_sequences() {
        let groups = group_reports(&sample_stats(), false, true);
        assert_eq!(groups.len(), 2, "empty groups are left out");
        let steady = &groups[0];
        assert_eq!(steady.group, "steady");
        assert_eq!(
            (steady.connections, steady.events, steady.bytes),
            (3, 33, 3300)
        );
        assert!(steady.clean);
        assert_eq!(steady.fairness.len(), 1);
        let f = &steady.fairness[0];
        assert_eq!((f.min, f.median, f.max), (10, 11, 12));
        let seq = steady.sequences.as_ref().unwrap();
        assert_eq!((seq.connections, seq.distinct), (3, 1));
        assert_eq!(seq.digest, "0000000000000007");
        let slow = &groups[1];
        assert!(!slow.clean);
        assert_eq!(slow.integrity.missing, 5);
        assert!(slow.sequences.is_none());
    }

    #[test]
    fn json_shape() {
        let json: serde_json::Value = serde_json::from_str(&sample_report().to_json()).unwrap();
        for key in [
            "tool",
            "started_unix_s",
            "scenario",
            "target",
            "connections",
            "feed",
            "delivery",
            "groups",
            "resume",
            "server",
            "load_generator",
            "verdict",
        ] {
            assert!(json.get(key).is_some(), "missing {key}");
        }
        assert_eq!(json["scenario"]["name"], "firehose");
        assert_eq!(json["scenario"]["target"], "tickcast");
        assert_eq!(json["scenario"]["duration"], 10.0);
        assert_eq!(json["scenario"]["mix"]["firehose"], 1.0);
        assert_eq!(json["connections"]["ok"], 4);
        assert_eq!(json["delivery"]["events_per_second"], 36.0);
        let steady = &json["groups"][0];
        assert_eq!(steady["group"], "steady");
        for key in [
            "count", "mean_ms", "p50_ms", "p90_ms", "p99_ms", "p999_ms", "max_ms",
        ] {
            assert!(steady["latency"].get(key).is_some(), "latency.{key}");
        }
        assert_eq!(steady["latency"]["count"], 3);
        assert!(steady["latency_calm"].is_null());
        for key in [
            "events",
            "gaps",
            "missing",
            "duplicates",
            "reorders",
            "seq_gaps",
            "tail_missing",
            "never_seen",
            "resets",
        ] {
            assert!(steady["integrity"].get(key).is_some(), "integrity.{key}");
        }
        assert_eq!(steady["fairness"][0]["class"], "firehose");
        assert_eq!(json["server"]["cpu_us_per_event"], 5.5);
        assert!(json["resume"].is_null());
        assert_eq!(json["verdict"]["fast_clients_clean"], true);
    }

    #[test]
    fn human_table_mentions_the_essentials() {
        let text = sample_report().render();
        for needle in [
            "scenario firehose against tickcast",
            "4 ok, 0 failed",
            "36 events/s",
            "steady",
            "p99.9",
            "5.50 µs/event",
            "256.0 KiB/connection",
            "nothing lost",
        ] {
            assert!(text.contains(needle), "{needle:?} not in\n{text}");
        }
        assert_eq!(bytes(512), "512 B");
        assert_eq!(bytes(1536), "1.5 KiB");
    }
}
