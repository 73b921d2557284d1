//! The edge node's follower: fills this node's ring and cache from what Redis carries.
//!
//! Place in the flow: a thread of its own (single-threaded runtime) that owns the node's
//! [`Sequencer`] in place of feeds: it hands it events the feed node already numbered and
//! encoded ([`Sequencer::ingest_sequenced`]), which pushes them to the ring, keeps the cache,
//! trims to `--resume-window` and wakes the shards exactly as for local ticks.
//!
//! On every (re)connection, in this order: subscribe to the live channel (so nothing published
//! from now on is missed), then read the stream from the ring's head on (what was missed while
//! away; on the first connection, everything the stream holds, after the latest-price hash), then
//! take live batches. The overlap between the two is skipped by id. A live batch that jumps past
//! the head is a gap: it is read from the stream; if the stream no longer has it (trimmed, a new
//! feed epoch), the ring is dropped and continues at what Redis has, prices are refreshed from
//! the hash, and the node's open streams end so their clients resume into a `reset`: never a
//! silent gap. The node accepts clients only once the first backfill is done ([`spawn`]'s ready
//! signal).
//!
//! Losing Redis: the pub/sub stream ends, or a 1 s `PING` fails or stalls; the node keeps serving
//! its ring and cache, `tickcast_cluster_redis_up` drops to 0, and it reconnects with
//! [`Backoff`]. Must never let a message from Redis panic it: a batch that does not decode is
//! counted and ignored.

use std::sync::Arc;
use std::sync::atomic::Ordering;
use std::thread::JoinHandle;
use std::time::Duration;

use bytes::Bytes;
use futures_util::StreamExt;
use redis::aio::{MultiplexedConnection, PubSubStream};
use tokio::sync::oneshot;
use tokio_util::sync::CancellationToken;

use super::wire::{self, Batch};
use super::{Backoff, ClusterError, Keys, bounded};
use crate::feed::sequencer::{Sequencer, Taken};
use crate::metrics::Metrics;
use crate::tick::Seq;

/// How often a quiet connection is checked with `PING`.
const PING_EVERY: Duration = Duration::from_secs(1);
/// Stream entries (batches) read per `XRANGE` page.
const PAGE: usize = 64;

/// Where an event came from (for the counters).
#[derive(Clone, Copy, PartialEq, Eq)]
enum Source {
    Live,
    Stream,
}

/// Starts the follower thread with `sequencer` (the node's ring writer). `ready` fires once the
/// first backfill is done; the thread returns when `stop` is cancelled.
pub fn spawn(
    sequencer: Sequencer,
    client: redis::Client,
    keys: Keys,
    metrics: Arc<Metrics>,
    stop: CancellationToken,
) -> Result<(JoinHandle<()>, oneshot::Receiver<()>), ClusterError> {
    let (ready_tx, ready_rx) = oneshot::channel();
    let follower = Follower {
        sequencer,
        client,
        keys,
        metrics,
        epoch: None,
        ready: Some(ready_tx),
    };
    let thread = std::thread::Builder::new()
        .name("tickcast-edge".into())
        .spawn(move || {
            match tokio::runtime::Builder::new_current_thread()
                .enable_all()
                .build()
            {
                Ok(runtime) => runtime.block_on(follower.run(stop)),
                Err(error) => tracing::error!(%error, "cannot start the edge follower's runtime"),
            }
        })
        .map_err(|source| ClusterError::Spawn {
            what: "edge follower",
            source,
        })?;
    Ok((thread, ready_rx))
}

/// A live connection: the subscription and a command connection.
struct Link {
    messages: PubSubStream,
    conn: MultiplexedConnection,
}

impl Link {
    async fn open(client: &redis::Client, keys: &Keys) -> Result<Link, ClusterError> {
        let mut pubsub = bounded(client.get_async_pubsub()).await?;
        bounded(pubsub.subscribe(&keys.live)).await?;
        let conn = super::connect(client).await?;
        Ok(Link {
            messages: pubsub.into_on_message(),
            conn,
        })
    }
}

struct Follower {
    sequencer: Sequencer,
    client: redis::Client,
    keys: Keys,
    metrics: Arc<Metrics>,
    /// The feed epoch of the last batch taken.
    epoch: Option<u64>,
    ready: Option<oneshot::Sender<()>>,
}

impl Follower {
    async fn run(mut self, stop: CancellationToken) {
        let mut backoff = Backoff::default();
        let mut down = false;
        loop {
            let session = async {
                let mut link = Link::open(&self.client, &self.keys).await?;
                self.catch_up(&mut link.conn).await?;
                Ok::<_, ClusterError>(link)
            };
            let outcome = tokio::select! {
                outcome = session => outcome,
                _ = stop.cancelled() => return,
            };
            let error = match outcome {
                Ok(mut link) => {
                    if down {
                        tracing::info!(head = self.sequencer.head(), "Redis is back; backfilled");
                    }
                    down = false;
                    backoff.reset();
                    self.metrics.cluster.redis_up.store(1, Ordering::Relaxed);
                    if let Some(ready) = self.ready.take() {
                        tracing::info!(head = self.sequencer.head(), "edge backfilled from Redis");
                        let _ = ready.send(());
                    }
                    tokio::select! {
                        error = self.follow(&mut link) => error,
                        _ = stop.cancelled() => return,
                    }
                }
                Err(error) => error,
            };
            if !down {
                down = true;
                self.metrics.cluster.redis_up.store(0, Ordering::Relaxed);
                self.metrics
                    .cluster
                    .redis_disconnects
                    .fetch_add(1, Ordering::Relaxed);
                tracing::warn!(%error, "Redis lost or unreachable; serving what this edge holds, reconnecting");
            }
            tokio::select! {
                _ = backoff.sleep() => {}
                _ = stop.cancelled() => return,
            }
        }
    }

    /// Takes live batches until the connection fails; returns why.
    async fn follow(&mut self, link: &mut Link) -> ClusterError {
        let mut ping = tokio::time::interval(PING_EVERY);
        ping.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        loop {
            tokio::select! {
                message = link.messages.next() => {
                    let Some(message) = message else {
                        return ClusterError::Redis(redis::RedisError::from((
                            redis::ErrorKind::Io,
                            "subscription closed",
                        )));
                    };
                    let bytes = Bytes::copy_from_slice(message.get_payload_bytes());
                    let Some(batch) = self.decode(&bytes) else { continue };
                    if let Err(error) = self.take_live(batch, &mut link.conn).await {
                        return error;
                    }
                }
                _ = ping.tick() => {
                    if let Err(error) = bounded(redis::cmd("PING").query_async::<String>(&mut link.conn)).await {
                        return error;
                    }
                }
            }
        }
    }

    fn decode(&self, bytes: &Bytes) -> Option<Batch> {
        match wire::decode(bytes) {
            Ok(batch) => Some(batch),
            Err(error) => {
                self.metrics
                    .cluster
                    .rejected_messages
                    .fetch_add(1, Ordering::Relaxed);
                tracing::warn!(%error, bytes = bytes.len(), "ignored a message from Redis");
                None
            }
        }
    }

    /// A live batch: taken, or its gap filled from the stream first (or skipped when the
    /// stream cannot fill it).
    async fn take_live(
        &mut self,
        batch: Batch,
        conn: &mut MultiplexedConnection,
    ) -> Result<(), ClusterError> {
        let now = crate::clock::now_ns();
        self.metrics
            .cluster
            .record_hop(batch.events.iter().map(|e| e.rx), now);
        if batch.first() > self.sequencer.head() + 1 {
            let want = batch.first();
            self.backfill(conn, want).await?;
            if self.sequencer.head() + 1 < want {
                self.skip(conn, want, batch.epoch).await?;
            }
        }
        self.take(batch, Source::Live);
        Ok(())
    }

    /// After (re)connecting: the latest prices (first time only) and the stream past the head.
    async fn catch_up(&mut self, conn: &mut MultiplexedConnection) -> Result<(), ClusterError> {
        let first_time = self.epoch.is_none();
        let newest = if first_time {
            self.refresh_latest(conn).await?
        } else {
            0
        };
        let upto = self.backfill(conn, Seq::MAX).await?;
        // Prices but no history (the stream was emptied): start the ring after the newest
        // price, so the shards take the prices as their snapshots before any client comes.
        if upto.is_none() && newest > 0 && self.epoch.is_none() {
            self.sequencer.skip_to(newest + 1);
            self.sequencer.wake_shards();
        }
        // The stream's history starts past what this node holds (trimmed, or a new epoch):
        // nothing can fill the hole. On the very first sync there is nothing to lose.
        if let Some((first, epoch)) = upto
            && first > self.sequencer.head() + 1
        {
            self.skip(conn, first, epoch).await?;
            self.backfill(conn, Seq::MAX).await?;
        }
        Ok(())
    }

    /// Reads the stream from the ring's next sequence and takes its batches, up to the one
    /// holding `until` (or the stream's end). Returns the first sequence (and the epoch) of the
    /// first batch that starts past the head, when the stream has such a gap (it is not taken).
    async fn backfill(
        &mut self,
        conn: &mut MultiplexedConnection,
        until: Seq,
    ) -> Result<Option<(Seq, u64)>, ClusterError> {
        let mut start = format!("{}-0", self.sequencer.head() + 1);
        loop {
            let page: Vec<(String, Vec<Vec<u8>>)> = bounded(
                redis::cmd("XRANGE")
                    .arg(&self.keys.stream)
                    .arg(&start)
                    .arg("+")
                    .arg("COUNT")
                    .arg(PAGE)
                    .query_async(conn),
            )
            .await?;
            let Some((last_id, _)) = page.last() else {
                return Ok(None);
            };
            start = format!("({last_id}");
            let full = page.len() == PAGE;
            for (_, fields) in page {
                // Fields come as name, value pairs: the batch is the value of `b`.
                let Some(bytes) = fields
                    .chunks(2)
                    .find(|pair| pair.first().is_some_and(|name| name == b"b"))
                    .and_then(|pair| pair.get(1))
                else {
                    self.metrics
                        .cluster
                        .rejected_messages
                        .fetch_add(1, Ordering::Relaxed);
                    continue;
                };
                let Some(batch) = self.decode(&Bytes::copy_from_slice(bytes)) else {
                    continue;
                };
                if batch.first() > self.sequencer.head() + 1 {
                    return Ok(Some((batch.first(), batch.epoch)));
                }
                let last = batch.last();
                self.take(batch, Source::Stream);
                if last >= until {
                    return Ok(None);
                }
            }
            if !full {
                return Ok(None);
            }
        }
    }

    /// A gap nothing can fill: drop the ring, continue at `seq` (a batch of `epoch`), refresh
    /// prices from the hash. Before the first batch ever taken this is just where the ring
    /// starts; at a new epoch the ids in between were never used (the feed node restarted:
    /// counted as an epoch change when the batch is taken); otherwise events were lost.
    async fn skip(
        &mut self,
        conn: &mut MultiplexedConnection,
        seq: Seq,
        epoch: u64,
    ) -> Result<(), ClusterError> {
        let Some(current) = self.epoch else {
            self.sequencer.skip_to(seq);
            self.sequencer.wake_shards();
            return Ok(());
        };
        let held = self.sequencer.head();
        if current == epoch {
            self.metrics.cluster.gaps.fetch_add(1, Ordering::Relaxed);
            tracing::warn!(
                held,
                next = seq,
                "Redis no longer has the events after this edge's head; its clients get a reset"
            );
        } else {
            tracing::info!(
                held,
                next = seq,
                "a new feed epoch: this edge's clients resume into a reset and fresh snapshots"
            );
        }
        self.refresh_latest(conn).await?;
        self.sequencer.skip_to(seq);
        self.sequencer.wake_shards();
        Ok(())
    }

    /// Stores the hash's newest event of every symbol in the cache where it is newer; returns
    /// the highest sequence among them (0: none).
    async fn refresh_latest(
        &mut self,
        conn: &mut MultiplexedConnection,
    ) -> Result<Seq, ClusterError> {
        let latest: Vec<(String, Vec<u8>)> = bounded(
            redis::cmd("HGETALL")
                .arg(&self.keys.latest)
                .query_async(conn),
        )
        .await?;
        let mut newest = 0;
        for (_, bytes) in latest {
            let Some(batch) = self.decode(&Bytes::from(bytes)) else {
                continue;
            };
            for event in batch.events {
                newest = newest.max(event.seq);
                self.sequencer.refresh_latest(event);
            }
        }
        self.sequencer.end_batch(0);
        Ok(newest)
    }

    /// Pushes a batch's events the ring does not hold yet (it never skips: a gap has been dealt
    /// with before), then wakes the shards.
    fn take(&mut self, batch: Batch, source: Source) {
        let cluster = &self.metrics.cluster;
        cluster
            .synthetic
            .store(u64::from(batch.synthetic), Ordering::Relaxed);
        if self.epoch != Some(batch.epoch) {
            if let Some(previous) = self.epoch {
                cluster.epoch_changes.fetch_add(1, Ordering::Relaxed);
                tracing::info!(
                    previous,
                    epoch = batch.epoch,
                    "the feed node started a new epoch"
                );
            }
            self.epoch = Some(batch.epoch);
            cluster.epoch.store(batch.epoch, Ordering::Relaxed);
        }
        let (mut pushed, mut duplicates) = (0u64, 0u64);
        for event in batch.events {
            match self.sequencer.ingest_sequenced(event) {
                Taken::Pushed => pushed += 1,
                Taken::Duplicate => duplicates += 1,
                Taken::Gap => break,
            }
        }
        self.sequencer.end_batch(pushed);
        self.sequencer.wake_shards();
        let counter = match source {
            Source::Live => &cluster.received_events,
            Source::Stream => &cluster.backfilled_events,
        };
        counter.fetch_add(pushed, Ordering::Relaxed);
        cluster.duplicates.fetch_add(duplicates, Ordering::Relaxed);
    }
}
