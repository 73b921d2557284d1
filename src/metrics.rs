//! Counters, gauges and latency histograms, and their Prometheus text rendering.
//!
//! Place in the flow: the sequencer bumps the ingest counters, each shard its own cache-padded
//! [`ShardMetrics`] (written only from that shard's thread, so `Relaxed` adds never contend),
//! the feeds their reject counters. Latency is recorded into a shard-local histogram and merged
//! into the shared per-shard histograms once a second, so the hot path never takes a lock; `/metrics`
//! reads everything with relaxed loads (a scrape is a snapshot, not a transaction).
//! Must never allocate or lock per tick.

use std::fmt::Write as _;
use std::sync::Mutex;
use std::sync::atomic::{AtomicI64, AtomicU64, Ordering};

use crossbeam_utils::CachePadded;
use hdrhistogram::Histogram;

use crate::tick::Reject;
use crate::tick::skip;

/// Per-shard counters and gauges.
#[derive(Default)]
pub struct ShardMetrics {
    /// Open HTTP connections on the shard.
    pub connections: AtomicI64,
    /// Open SSE streams on the shard.
    pub subscribers: AtomicI64,
    /// Events (snapshot, tick, reset) handed to the socket writer.
    pub events_sent: AtomicU64,
    /// Body bytes handed to the socket writer.
    pub bytes_sent: AtomicU64,
    /// Ticks replaced in a slow subscriber's queue by a newer tick of the same symbol.
    pub conflated: AtomicU64,
    /// Events queued or held for conflation, over all the shard's subscribers.
    pub pending_events: AtomicI64,
    /// `reset` events sent (resume too old or from an unknown id).
    pub resets: AtomicU64,
    /// Streams closed because the shard itself fell a whole ring behind.
    pub lag_disconnects: AtomicU64,
    /// Sequences published but not yet dispatched by this shard.
    pub ring_lag: AtomicU64,
    /// The shard's coalescing window now, in microseconds.
    pub coalesce_window_us: AtomicU64,
    /// Thousandths of the last sample's wall time the shard thread spent on a CPU or waiting
    /// for one (`--coalesce auto` only).
    pub busy_permille: AtomicU64,
}

/// The cluster's counters (`--role feed|edge`, [`crate::cluster`]); rendered only in a cluster.
#[derive(Default)]
pub struct ClusterMetrics {
    /// 0: `--role all` (nothing rendered), 1: feed, 2: edge. Set once at start-up.
    pub role: AtomicU64,
    /// 1 while the node's Redis connections work, 0 while it reconnects.
    pub redis_up: AtomicU64,
    /// Redis connections lost (or never made) since start.
    pub redis_disconnects: AtomicU64,
    /// Feed: batches published.
    pub published_batches: AtomicU64,
    /// Feed: events published.
    pub published_events: AtomicU64,
    /// Feed: events the ring dropped before they could be published (Redis down too long).
    pub publish_lagged: AtomicU64,
    /// Feed: 1 while this node holds the publishing lease.
    pub leader: AtomicU64,
    /// Edge: events taken from live messages.
    pub received_events: AtomicU64,
    /// Edge: events taken from the stream (start-up, reconnects, gaps).
    pub backfilled_events: AtomicU64,
    /// Edge: events it already had, skipped.
    pub duplicates: AtomicU64,
    /// Edge: gaps the stream could not fill (its ring was dropped; clients get `reset`).
    pub gaps: AtomicU64,
    /// Edge: new feed epochs seen.
    pub epoch_changes: AtomicU64,
    /// Edge: messages that did not decode, ignored.
    pub rejected_messages: AtomicU64,
    /// Edge: the feed epoch it follows.
    pub epoch: AtomicU64,
    /// Edge: 1 when its feed node serves a synthetic market (`/healthz`, `/v1/symbols`).
    pub synthetic: AtomicU64,
    /// Edge: from the feed node receiving a tick to the edge holding it in its ring, per event.
    pub hop: Mutex<Option<Histogram<u64>>>,
}

impl ClusterMetrics {
    /// Records the hop latency of `count` events received at `rx` (ns), seen at `now` (ns).
    pub fn record_hop(&self, rx: impl Iterator<Item = u64>, now: u64) {
        if let Ok(mut hop) = self.hop.lock() {
            let hop = hop.get_or_insert_with(latency_histogram);
            for rx in rx {
                let _ = hop.record(now.saturating_sub(rx).max(1));
            }
        }
    }

    fn render(&self, out: &mut String) {
        let role = self.role.load(Ordering::Relaxed);
        if role == 0 {
            return;
        }
        let load = |a: &AtomicU64| a.load(Ordering::Relaxed);
        gauge(
            out,
            "tickcast_cluster_redis_up",
            "1 while the node's Redis connections work, 0 while it reconnects.",
            load(&self.redis_up) as i64,
        );
        counter(
            out,
            "tickcast_cluster_redis_disconnects_total",
            "Redis connections lost (or not made) since start.",
            load(&self.redis_disconnects),
        );
        if role == 1 {
            gauge(
                out,
                "tickcast_cluster_leader",
                "1 while this feed node holds the publishing lease.",
                load(&self.leader) as i64,
            );
            let feed: [(&str, &str, &AtomicU64); 3] = [
                (
                    "tickcast_cluster_published_batches_total",
                    "Batches published to Redis.",
                    &self.published_batches,
                ),
                (
                    "tickcast_cluster_published_events_total",
                    "Events published to Redis.",
                    &self.published_events,
                ),
                (
                    "tickcast_cluster_publish_lagged_total",
                    "Events the ring dropped before they could be published.",
                    &self.publish_lagged,
                ),
            ];
            for (name, help, value) in feed {
                counter(out, name, help, load(value));
            }
            return;
        }
        gauge(
            out,
            "tickcast_cluster_epoch",
            "The feed epoch this edge follows.",
            load(&self.epoch) as i64,
        );
        let edge: [(&str, &str, &AtomicU64); 6] = [
            (
                "tickcast_cluster_received_events_total",
                "Events taken from live messages.",
                &self.received_events,
            ),
            (
                "tickcast_cluster_backfilled_events_total",
                "Events taken from the Redis stream (start-up, reconnects, gaps).",
                &self.backfilled_events,
            ),
            (
                "tickcast_cluster_duplicates_total",
                "Events already held, skipped.",
                &self.duplicates,
            ),
            (
                "tickcast_cluster_gaps_total",
                "Gaps the Redis stream could not fill (ring dropped, clients reset).",
                &self.gaps,
            ),
            (
                "tickcast_cluster_epoch_changes_total",
                "New feed epochs seen (feed node restarts or fail-overs).",
                &self.epoch_changes,
            ),
            (
                "tickcast_cluster_rejected_messages_total",
                "Messages from Redis that did not decode, ignored.",
                &self.rejected_messages,
            ),
        ];
        for (name, help, value) in edge {
            counter(out, name, help, load(value));
        }
        if let Ok(hop) = self.hop.lock() {
            let hop = hop.clone().unwrap_or_else(latency_histogram);
            header(
                out,
                "tickcast_cluster_hop_seconds",
                "From the feed node receiving a tick to this edge holding it (two clocks: includes their skew across machines).",
                "summary",
            );
            for q in [0.5, 0.9, 0.99, 0.999] {
                let _ = writeln!(
                    out,
                    "tickcast_cluster_hop_seconds{{quantile=\"{q}\"}} {:.9}",
                    hop.value_at_quantile(q) as f64 / 1e9
                );
            }
            let _ = writeln!(out, "tickcast_cluster_hop_seconds_count {}", hop.len());
        }
    }
}

/// Every metric of the process.
pub struct Metrics {
    /// Ticks accepted by the sequencer.
    pub ticks_ingested: AtomicU64,
    /// Tick frames encoded (one per ingested tick, whatever the number of subscribers).
    pub frames_encoded: AtomicU64,
    /// Last published sequence.
    pub head_seq: AtomicU64,
    /// Oldest sequence the ring still holds (resumable ids start here).
    pub ring_oldest_seq: AtomicU64,
    /// Bytes of the ring's slot array given back to the kernel after `--resume-window` trims.
    pub ring_released_bytes: AtomicU64,
    /// Known symbols.
    pub symbols: AtomicU64,
    /// Open feed connections.
    pub feed_connections: AtomicI64,
    /// The cluster's counters (`--role feed|edge`).
    pub cluster: ClusterMetrics,
    rejects: [AtomicU64; Reject::COUNT],
    skipped: [AtomicU64; skip::ALL.len()],
    shards: Box<[CachePadded<ShardMetrics>]>,
    latency: Box<[Mutex<Histogram<u64>>]>,
}

/// A new empty latency histogram: 1 ns to 1 hour, 3 significant digits.
pub fn latency_histogram() -> Histogram<u64> {
    // The bounds are constants that `new_with_bounds` accepts; the fallback is never taken.
    Histogram::new_with_bounds(1, 3_600_000_000_000, 3)
        .unwrap_or_else(|_| Histogram::new(3).unwrap_or_else(|_| unreachable!()))
}

impl Metrics {
    /// Metrics for `shards` shards.
    pub fn new(shards: usize) -> Self {
        Self {
            ticks_ingested: AtomicU64::new(0),
            frames_encoded: AtomicU64::new(0),
            head_seq: AtomicU64::new(0),
            ring_oldest_seq: AtomicU64::new(0),
            ring_released_bytes: AtomicU64::new(0),
            symbols: AtomicU64::new(0),
            feed_connections: AtomicI64::new(0),
            cluster: ClusterMetrics::default(),
            rejects: std::array::from_fn(|_| AtomicU64::new(0)),
            skipped: std::array::from_fn(|_| AtomicU64::new(0)),
            shards: (0..shards)
                .map(|_| CachePadded::new(ShardMetrics::default()))
                .collect(),
            latency: (0..shards)
                .map(|_| Mutex::new(latency_histogram()))
                .collect(),
        }
    }

    /// The sum of the shards' last busy fractions (`--coalesce auto`; 0 for a shard that
    /// does not measure).
    pub fn shards_busy(&self) -> f64 {
        self.shards
            .iter()
            .map(|m| m.busy_permille.load(Ordering::Relaxed))
            .sum::<u64>() as f64
            / 1e3
    }

    /// Open SSE streams over all shards.
    pub fn subscribers(&self) -> i64 {
        self.shards
            .iter()
            .map(|shard| shard.subscribers.load(Ordering::Relaxed))
            .sum()
    }

    /// Counts one rejected feed line.
    pub fn reject(&self, reason: Reject) {
        self.rejects[reason.index()].fetch_add(1, Ordering::Relaxed);
    }

    /// Counts one valid feed message that is not a tick.
    pub fn skip(&self, kind: skip::Kind) {
        self.skipped[kind.index()].fetch_add(1, Ordering::Relaxed);
    }

    /// Rejected feed lines so far for `reason`.
    pub fn rejects(&self, reason: Reject) -> u64 {
        self.rejects[reason.index()].load(Ordering::Relaxed)
    }

    /// The metrics of shard `id`.
    pub fn shard(&self, id: usize) -> &ShardMetrics {
        &self.shards[id]
    }

    /// Adds a shard's locally recorded latencies (shard thread, once a second).
    pub fn merge_latency(&self, shard: usize, local: &mut Histogram<u64>) {
        if local.is_empty() {
            return;
        }
        if let Ok(mut total) = self.latency[shard].lock() {
            // Both histograms have the same bounds, so `add` cannot fail on range.
            let _ = total.add(&*local);
        }
        local.reset();
    }

    /// Prometheus text exposition format.
    pub fn render(&self) -> String {
        let mut out = String::with_capacity(4096);
        let load = |a: &AtomicU64| a.load(Ordering::Relaxed);
        counter(
            &mut out,
            "tickcast_ticks_ingested_total",
            "Ticks accepted by the sequencer.",
            load(&self.ticks_ingested),
        );
        counter(
            &mut out,
            "tickcast_frames_encoded_total",
            "Tick frames encoded (once per tick).",
            load(&self.frames_encoded),
        );
        gauge(
            &mut out,
            "tickcast_ring_head_seq",
            "Last published sequence.",
            load(&self.head_seq) as i64,
        );
        gauge(
            &mut out,
            "tickcast_ring_oldest_seq",
            "Oldest sequence the ring still holds (--ring-capacity, --resume-window).",
            load(&self.ring_oldest_seq) as i64,
        );
        counter(
            &mut out,
            "tickcast_ring_released_bytes_total",
            "Bytes of the ring's slot array given back to the kernel after --resume-window trims.",
            load(&self.ring_released_bytes),
        );
        gauge(
            &mut out,
            "tickcast_symbols",
            "Known symbols.",
            load(&self.symbols) as i64,
        );
        gauge(
            &mut out,
            "tickcast_feed_connections",
            "Open feed connections.",
            self.feed_connections.load(Ordering::Relaxed),
        );

        header(
            &mut out,
            "tickcast_feed_rejects_total",
            "Feed lines rejected, by reason.",
            "counter",
        );
        for reason in Reject::ALL {
            let _ = writeln!(
                out,
                "tickcast_feed_rejects_total{{reason=\"{}\"}} {}",
                reason.as_str(),
                self.rejects(reason)
            );
        }
        header(
            &mut out,
            "tickcast_feed_skipped_total",
            "Valid feed messages that are not ticks (book updates, heartbeats, acks...), by kind.",
            "counter",
        );
        for (kind, count) in skip::ALL.iter().zip(&self.skipped) {
            let _ = writeln!(
                out,
                "tickcast_feed_skipped_total{{kind=\"{kind}\"}} {}",
                count.load(Ordering::Relaxed)
            );
        }

        type Field = fn(&ShardMetrics) -> i64;
        let per_shard: [(&str, &str, &str, Field); 9] = [
            (
                "tickcast_connections",
                "Open HTTP connections.",
                "gauge",
                |m| m.connections.load(Ordering::Relaxed),
            ),
            ("tickcast_subscribers", "Open SSE streams.", "gauge", |m| {
                m.subscribers.load(Ordering::Relaxed)
            }),
            (
                "tickcast_events_sent_total",
                "Events handed to the socket writer.",
                "counter",
                |m| m.events_sent.load(Ordering::Relaxed) as i64,
            ),
            (
                "tickcast_bytes_sent_total",
                "Body bytes handed to the socket writer.",
                "counter",
                |m| m.bytes_sent.load(Ordering::Relaxed) as i64,
            ),
            (
                "tickcast_conflated_total",
                "Ticks replaced by a newer tick of the same symbol for a slow subscriber.",
                "counter",
                |m| m.conflated.load(Ordering::Relaxed) as i64,
            ),
            (
                "tickcast_pending_events",
                "Events queued or held for conflation.",
                "gauge",
                |m| m.pending_events.load(Ordering::Relaxed),
            ),
            (
                "tickcast_resets_total",
                "Reset events sent to resuming clients.",
                "counter",
                |m| m.resets.load(Ordering::Relaxed) as i64,
            ),
            (
                "tickcast_lag_disconnects_total",
                "Streams closed because their shard fell a whole ring behind.",
                "counter",
                |m| m.lag_disconnects.load(Ordering::Relaxed) as i64,
            ),
            (
                "tickcast_ring_lag",
                "Sequences published but not yet dispatched by the shard.",
                "gauge",
                |m| m.ring_lag.load(Ordering::Relaxed) as i64,
            ),
        ];
        for (name, help, kind, field) in per_shard {
            header(&mut out, name, help, kind);
            for (id, shard) in self.shards.iter().enumerate() {
                let _ = writeln!(out, "{name}{{shard=\"{id}\"}} {}", field(shard));
            }
        }
        type Ratio = fn(&ShardMetrics) -> f64;
        let per_shard_ratio: [(&str, &str, Ratio); 2] = [
            (
                "tickcast_coalesce_window_seconds",
                "How often at most the shard hands new ticks to its streams (--coalesce).",
                |m| m.coalesce_window_us.load(Ordering::Relaxed) as f64 / 1e6,
            ),
            (
                "tickcast_shard_busy_ratio",
                "Fraction of the last 100 ms the shard thread spent on a CPU or waiting for one; --coalesce auto follows the sum over the shards.",
                |m| m.busy_permille.load(Ordering::Relaxed) as f64 / 1e3,
            ),
        ];
        for (name, help, field) in per_shard_ratio {
            header(&mut out, name, help, "gauge");
            for (id, shard) in self.shards.iter().enumerate() {
                let _ = writeln!(out, "{name}{{shard=\"{id}\"}} {}", field(shard));
            }
        }

        let mut all = latency_histogram();
        for shard in self.latency.iter() {
            if let Ok(h) = shard.lock() {
                let _ = all.add(&*h);
            }
        }
        header(
            &mut out,
            "tickcast_ingest_to_write_seconds",
            "From receiving a tick to handing its frame to a subscriber's socket writer.",
            "summary",
        );
        for q in [0.5, 0.9, 0.99, 0.999] {
            let _ = writeln!(
                out,
                "tickcast_ingest_to_write_seconds{{quantile=\"{q}\"}} {:.9}",
                all.value_at_quantile(q) as f64 / 1e9
            );
        }
        let _ = writeln!(out, "tickcast_ingest_to_write_seconds_count {}", all.len());
        self.cluster.render(&mut out);
        out
    }
}

fn header(out: &mut String, name: &str, help: &str, kind: &str) {
    let _ = writeln!(out, "# HELP {name} {help}\n# TYPE {name} {kind}");
}

/// Renders a counter family broken down by one label: `name{label="value"} count` per entry.
/// For the stages whose counters live with them (the HTTP edge's refusals and denials).
pub fn render_labelled<'a>(
    out: &mut String,
    name: &str,
    help: &str,
    label: &str,
    values: impl IntoIterator<Item = (&'a str, u64)>,
) {
    header(out, name, help, "counter");
    for (value, count) in values {
        let _ = writeln!(out, "{name}{{{label}=\"{value}\"}} {count}");
    }
}

fn counter(out: &mut String, name: &str, help: &str, value: u64) {
    header(out, name, help, "counter");
    let _ = writeln!(out, "{name} {value}");
}

fn gauge(out: &mut String, name: &str, help: &str, value: i64) {
    header(out, name, help, "gauge");
    let _ = writeln!(out, "{name} {value}");
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn renders_every_family_with_labels() {
        let metrics = Metrics::new(2);
        metrics.ticks_ingested.fetch_add(3, Ordering::Relaxed);
        metrics.reject(Reject::InvalidJson);
        metrics.shard(1).events_sent.fetch_add(5, Ordering::Relaxed);
        let mut local = latency_histogram();
        local.record(2_000_000).unwrap();
        metrics.merge_latency(0, &mut local);
        let text = metrics.render();
        assert!(text.contains("tickcast_ticks_ingested_total 3\n"));
        assert!(text.contains("tickcast_feed_rejects_total{reason=\"invalid_json\"} 1\n"));
        assert!(text.contains("tickcast_events_sent_total{shard=\"1\"} 5\n"));
        assert!(text.contains("tickcast_events_sent_total{shard=\"0\"} 0\n"));
        assert!(text.contains("tickcast_ingest_to_write_seconds{quantile=\"0.5\"} 0.002"));
        assert!(text.contains("tickcast_ingest_to_write_seconds_count 1\n"));
    }
}
