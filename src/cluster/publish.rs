//! The feed node's publisher: follows the ring and publishes every sequenced event to Redis.
//!
//! Place in the flow: a thread of its own (with a single-threaded runtime), woken by the
//! sequencer like a shard is (one more `Notify` in its wake list). Each wake-up it reads the
//! events past its cursor, at most [`wire::MAX_EVENTS`] at a time, and publishes each run as one
//! batch with one Lua script (`PUBLISH` below): check the lease, `XADD` to the stream (trimmed with
//! `MINID ~` to the ring's oldest sequence, so the stream keeps what the ring keeps:
//! `--resume-window` and `--ring-capacity`), `PUBLISH` on the live channel, `HSET` each symbol's
//! newest. A batch per wake-up, at most one publish per [`MIN_PUBLISH_INTERVAL`]: at high rates
//! batches grow, publishes do not multiply.
//!
//! Redis down: the cursor stays where it was and the ring keeps the events; once Redis is back
//! the publisher goes on from the cursor, so edges backfill every tick of the outage from the
//! stream, as long as the ring still holds them. Events the ring dropped first are counted in
//! `tickcast_cluster_publish_lagged_total` (edges see a gap and reset their clients).
//! Must never block the sequencer: it only reads the ring.

use std::collections::HashSet;
use std::sync::Arc;
use std::sync::atomic::Ordering;
use std::thread::JoinHandle;
use std::time::Duration;

use bytes::BytesMut;
use redis::Script;
use redis::aio::MultiplexedConnection;
use tokio::sync::Notify;
use tokio::time::Instant;
use tokio_util::sync::CancellationToken;

use super::{Backoff, ClusterError, Keys, bounded, lease, wire};
use crate::cache::LatestPrices;
use crate::metrics::Metrics;
use crate::ring::{Event, ReadError, Ring};

/// The fenced publish. KEYS: leader, stream, latest. ARGV: node, lease ms, channel, entry id,
/// MINID, batch, then symbol/event pairs for the latest hash. Returns the lease holder: this
/// node when it published. `XADD` comes first: a stale id (a node whose sequence fell behind
/// the stream's) fails the script before anything is published.
const PUBLISH: &str = r#"
local holder = redis.call('GET', KEYS[1])
if holder ~= ARGV[1] then
  if holder then return holder end
  redis.call('SET', KEYS[1], ARGV[1], 'PX', ARGV[2])
end
redis.call('PEXPIRE', KEYS[1], ARGV[2])
redis.call('XADD', KEYS[2], 'MINID', '~', ARGV[5], ARGV[4], 'b', ARGV[6])
redis.call('PUBLISH', ARGV[3], ARGV[6])
for i = 7, #ARGV, 2 do
  redis.call('HSET', KEYS[3], ARGV[i], ARGV[i + 1])
end
return ARGV[1]
"#;

/// The shortest time between the starts of two publishes. Without it a publish went out per
/// tick up to ~10k ticks/s (a loopback round trip is about as long as the gap between two
/// ticks), each costing the feed node ~20 µs and Redis ~24 µs of CPU (BENCHMARKS.md,
/// "Cluster"). With it a publish carries every tick of the last 250 µs: at most 4,000 publishes
/// a second whatever the rate, for at most 250 µs added to the hop; the first tick after a
/// quiet spell still goes out at once.
pub const MIN_PUBLISH_INTERVAL: Duration = Duration::from_micros(250);

/// How long a stopping publisher keeps trying to publish what is left.
const FINAL_FLUSH: Duration = Duration::from_secs(3);

/// What the publisher needs.
pub struct Publisher {
    /// The feed node's ring.
    pub ring: Arc<Ring>,
    /// Symbol names by id.
    pub cache: Arc<LatestPrices>,
    /// Counters.
    pub metrics: Arc<Metrics>,
    /// Notified by the sequencer after each round of batches.
    pub wake: Arc<Notify>,
    /// The Redis client.
    pub client: redis::Client,
    /// Key names.
    pub keys: Keys,
    /// This node's lease id.
    pub node: String,
    /// `--leader-lease`.
    pub lease: Duration,
    /// This run's epoch (its first sequence).
    pub epoch: u64,
    /// Whether this node serves a synthetic market (edges say so too).
    pub synthetic: bool,
}

impl Publisher {
    /// Starts the publisher thread. It returns once `stop` is cancelled and what the ring holds
    /// is published (or `FINAL_FLUSH` passed), with an error when the node lost its lease or
    /// its ids fell behind the cluster's; it cancels `failed` then, so the server stops.
    pub fn spawn(
        self,
        stop: CancellationToken,
        failed: CancellationToken,
    ) -> Result<JoinHandle<Result<(), ClusterError>>, ClusterError> {
        // Taken here, before the feeds start: what they send from now on is all published.
        let cursor = self.ring.head();
        std::thread::Builder::new()
            .name("tickcast-publisher".into())
            .spawn(move || {
                let runtime = tokio::runtime::Builder::new_current_thread()
                    .enable_all()
                    .build()
                    .map_err(|source| ClusterError::Spawn {
                        what: "publisher runtime",
                        source,
                    })?;
                let result = runtime.block_on(self.run(cursor, stop));
                if let Err(error) = &result {
                    tracing::error!(%error, "stopped publishing");
                    failed.cancel();
                }
                result
            })
            .map_err(|source| ClusterError::Spawn {
                what: "publisher",
                source,
            })
    }

    async fn run(self, mut cursor: u64, stop: CancellationToken) -> Result<(), ClusterError> {
        let script = Script::new(PUBLISH);
        let cluster = &self.metrics.cluster;
        let mut conn: Option<MultiplexedConnection> = None;
        let mut backoff = Backoff::default();
        let mut down = false;
        let mut renew_at = Instant::now() + self.lease / 3;
        let mut flush_until = None;
        let mut last_publish = None;
        loop {
            let stopping = stop.is_cancelled();
            if stopping && flush_until.is_none() {
                flush_until = Some(Instant::now() + FINAL_FLUSH);
            }
            if flush_until.is_some_and(|until| Instant::now() >= until) {
                tracing::warn!(
                    unpublished = self.ring.head().saturating_sub(cursor),
                    "stopping with events not published"
                );
                break;
            }
            let outcome = match conn.as_mut() {
                Some(conn) => {
                    let published = self
                        .publish_available(conn, &script, &mut cursor, &mut last_publish)
                        .await;
                    match published {
                        Ok(()) if !stopping && Instant::now() >= renew_at => {
                            renew_at = Instant::now() + self.lease / 3;
                            lease::renew(conn, &self.keys, &self.node, self.lease)
                                .await
                                .and_then(|holder| self.check_holder(holder))
                        }
                        other => other,
                    }
                }
                None => super::connect(&self.client).await.map(|c| {
                    conn = Some(c);
                }),
            };
            match outcome {
                Ok(()) => {
                    if down {
                        down = false;
                        tracing::info!("Redis is back; publishing from where the ring was left");
                    }
                    cluster.redis_up.store(1, Ordering::Relaxed);
                    backoff.reset();
                    if conn.is_none() {
                        continue;
                    }
                    if stopping {
                        if cursor >= self.ring.head() {
                            break;
                        }
                        continue;
                    }
                    tokio::select! {
                        _ = self.wake.notified() => {}
                        _ = tokio::time::sleep_until(renew_at) => {}
                        _ = stop.cancelled() => {}
                    }
                }
                Err(error @ (ClusterError::LeaseLost { .. } | ClusterError::Stale { .. })) => {
                    cluster.leader.store(0, Ordering::Relaxed);
                    return Err(error);
                }
                Err(error) => {
                    conn = None;
                    if !down {
                        down = true;
                        cluster.redis_up.store(0, Ordering::Relaxed);
                        cluster.redis_disconnects.fetch_add(1, Ordering::Relaxed);
                        tracing::warn!(%error, "lost Redis; the ring keeps what is not published, reconnecting");
                    }
                    tokio::select! {
                        _ = backoff.sleep() => {}
                        _ = stop.cancelled(), if !stopping => {}
                    }
                }
            }
        }
        if let Some(conn) = conn.as_mut()
            && let Err(error) = lease::release(conn, &self.keys, &self.node).await
        {
            tracing::warn!(%error, "could not give the publishing lease up; it expires by itself");
        }
        cluster.leader.store(0, Ordering::Relaxed);
        Ok(())
    }

    fn check_holder(&self, holder: String) -> Result<(), ClusterError> {
        if holder == self.node {
            Ok(())
        } else {
            Err(ClusterError::LeaseLost { holder })
        }
    }

    /// Publishes every event past `cursor`, a batch at a time, moving `cursor` along.
    async fn publish_available(
        &self,
        conn: &mut MultiplexedConnection,
        script: &Script,
        cursor: &mut u64,
        last_publish: &mut Option<std::time::Instant>,
    ) -> Result<(), ClusterError> {
        let cluster = &self.metrics.cluster;
        let mut batch = BytesMut::new();
        loop {
            if let Some(last) = *last_publish {
                let since = last.elapsed();
                if since < MIN_PUBLISH_INTERVAL && *cursor < self.ring.head() {
                    // A blocking sleep, on purpose: tokio's timer has a 1 ms resolution, and
                    // nothing else runs on this thread's runtime while no command is in flight.
                    std::thread::sleep(MIN_PUBLISH_INTERVAL - since);
                }
            }
            let events = self.read_batch(cursor);
            if events.is_empty() {
                return Ok(());
            }
            // Loaded after the events were read: the sequencer names a symbol before it pushes
            // its first event, so every event read has its name here.
            let universe = self.cache.universe();
            let named: Vec<_> = events
                .iter()
                .map_while(|e| universe.name(e.symbol_id).map(|name| (&**e, name)))
                .collect();
            let Some(&(last, _)) = named.last() else {
                return Ok(());
            };
            let last = last.seq;
            batch.clear();
            wire::encode(
                &mut batch,
                self.epoch,
                self.synthetic,
                named.iter().copied(),
            );
            let mut invocation = script.key(&self.keys.leader);
            invocation
                .key(&self.keys.stream)
                .key(&self.keys.latest)
                .arg(&self.node)
                .arg(lease::lease_ms(self.lease))
                .arg(&self.keys.live)
                .arg(format!("{last}-0"))
                .arg(format!("{}-0", self.ring.oldest()))
                .arg(&batch[..]);
            // Each symbol's newest event of the batch, for the latest hash.
            let mut seen = HashSet::new();
            for &(event, name) in named.iter().rev() {
                if seen.insert(event.symbol_id) {
                    let mut one = BytesMut::new();
                    wire::encode(
                        &mut one,
                        self.epoch,
                        self.synthetic,
                        std::iter::once((event, name)),
                    );
                    invocation.arg(name.as_str()).arg(&one[..]);
                }
            }
            *last_publish = Some(std::time::Instant::now());
            let holder: String = match bounded(invocation.invoke_async(conn)).await {
                Ok(holder) => holder,
                Err(ClusterError::Redis(error)) if is_stale_id(&error) => {
                    return Err(ClusterError::Stale { last });
                }
                Err(error) => return Err(error),
            };
            self.check_holder(holder)?;
            *cursor = last;
            cluster.leader.store(1, Ordering::Relaxed);
            cluster.published_batches.fetch_add(1, Ordering::Relaxed);
            cluster
                .published_events
                .fetch_add(named.len() as u64, Ordering::Relaxed);
        }
    }

    /// The events past `cursor`, consecutive, at most [`wire::MAX_EVENTS`]; skips (and counts)
    /// what the ring dropped before it was published.
    fn read_batch(&self, cursor: &mut u64) -> Vec<Arc<Event>> {
        let head = self.ring.head();
        let mut events = Vec::new();
        let reader = self.ring.reader();
        let mut seq = *cursor + 1;
        while seq <= head && events.len() < wire::MAX_EVENTS {
            match reader.read(seq) {
                Ok(event) => {
                    events.push(event);
                    seq += 1;
                }
                Err(ReadError::Lagged { oldest }) if events.is_empty() => {
                    self.metrics
                        .cluster
                        .publish_lagged
                        .fetch_add(oldest - seq, Ordering::Relaxed);
                    tracing::warn!(
                        lost = oldest - seq,
                        "the ring dropped events before they were published"
                    );
                    *cursor = oldest - 1;
                    seq = oldest;
                }
                Err(_) => break,
            }
        }
        events
    }
}

/// Whether Redis refused an `XADD` because the stream already holds a higher id.
fn is_stale_id(error: &redis::RedisError) -> bool {
    error.to_string().contains("equal or smaller")
}
