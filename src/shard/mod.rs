//! Per-core shards: each a thread with its own single-threaded runtime that owns a share of the
//! connections and fans every tick out to its subscribers.
//!
//! Place in the flow: the acceptor hands each new connection to the least-loaded shard. A
//! shard's dispatcher follows the ring (woken by the sequencer after each batch), keeps a
//! shard-local copy of every symbol's latest event (so a snapshot is consistent with the point
//! at which live delivery starts), and offers each event to the subscribers indexed under its
//! symbol plus the firehose ones. What is spoken on a connection is not the shard's business:
//! it runs each one through the [`Service`] it was given at [`spawn`] (`server` gives it
//! `http::Http`), and the protocol side drains its subscriber through the public
//! [`ShardState::subscribe`] / [`ShardState::fill`] / [`ShardState::unsubscribe`] methods.
//!
//! Imports: the ring, the cache, the metrics, frames and ticks, all below it; never `http`,
//! `feed` or `config` (its settings are [`ShardSettings`], filled by `config`).
//!
//! The state itself (subscribers, symbol index, latest events, cursor) and its invariants are
//! [`ShardState`]'s (`state.rs`); this file owns the thread, its tasks (dispatcher,
//! housekeeping, one per connection) and the seam. Work per wake-up is bounded
//! ([`DISPATCH_PER_YIELD`]) so streams keep being written during a burst.
//! Must never encode a frame, lock, or block; and never hold a `RefCell` borrow across `.await`.

pub mod coalesce;
pub mod delayed;
mod state;
pub mod subscriber;

use std::future::Future;
use std::rc::Rc;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

use bytes::Bytes;
use tokio::sync::{Notify, mpsc};
use tokio_util::sync::CancellationToken;
use tokio_util::task::TaskTracker;

use crate::cache::LatestPrices;
use crate::metrics::Metrics;
use crate::ring::Ring;
use coalesce::Coalesce;
pub use state::{CATCH_UP_SCAN, DISPATCH_PER_YIELD, Fill, ShardState, Start, StreamOptions};

/// Most chunks (frames, or halves of snapshot frames) in one batch, written with one `writev`
/// (plus the chunk-size line and its end): amortises the syscall, whose fixed cost (the
/// loopback TCP path included) dominates a write, and keeps far below the kernel's `IOV_MAX`.
pub const MAX_BATCH_CHUNKS: usize = 64;
/// Most bytes in one batch (the `--notsent-lowat` default).
pub const MAX_BATCH_BYTES: usize = 64 * 1024;
/// Chunks a batch holds without a heap allocation: a low-rate stream's batch (one or two
/// events) stays inline, a busy one spills once for many events.
pub const INLINE_CHUNKS: usize = 4;
/// The chunks of one batch.
pub type Chunks = smallvec::SmallVec<[Bytes; INLINE_CHUNKS]>;

/// A shard's settings; `config` fills them from the flags.
#[derive(Debug, Clone)]
pub struct ShardSettings {
    /// Interval of `: hb` comments on idle streams (`--heartbeat`).
    pub heartbeat: Duration,
    /// Reconnection delay suggested in the `retry:` field (`--retry`).
    pub retry: Duration,
    /// Events queued per subscriber before conflation (`--subscriber-buffer`).
    pub subscriber_buffer: usize,
    /// How often at most the shard hands new ticks to its streams (`--coalesce`).
    pub coalesce: Coalesce,
}

/// What every shard shares (read-only or atomic).
pub struct Shared {
    /// The shards' settings.
    pub settings: ShardSettings,
    /// The ring of recent events.
    pub ring: Arc<Ring>,
    /// Latest prices and the universe.
    pub cache: Arc<LatestPrices>,
    /// Metrics.
    pub metrics: Arc<Metrics>,
    /// True once shutdown began (health reports 503, new streams are refused).
    pub draining: AtomicBool,
}

/// What a shard thread does with each connection it adopts: the seam between the shard and the
/// protocol spoken on the connection. The shard owns the thread, the dispatcher and the
/// subscribers, and counts the connection until the future returns; it knows nothing of HTTP.
/// `server` wires in `http::Http`; tests and benches can give their own.
pub trait Service: Clone + Send + 'static {
    /// What the acceptor hands over for each connection (a socket, and whatever the protocol
    /// decided about it before it reached the shard).
    type Connection: Send + 'static;

    /// Serves `connection` on the shard's thread until it closes; `stop` begins its drain.
    fn serve(
        &self,
        shard: Rc<ShardState>,
        connection: Self::Connection,
        stop: CancellationToken,
    ) -> impl Future<Output = ()> + 'static;
}

/// The handle the acceptor and the sequencer keep for a shard.
pub struct ShardHandle<C> {
    /// Hands accepted connections to the shard.
    pub connections: mpsc::UnboundedSender<C>,
    /// Woken by the sequencer after each batch.
    pub notify: Arc<Notify>,
    /// The shard thread.
    pub thread: std::thread::JoinHandle<()>,
}

/// Starts shard `id`, serving the connections it is handed with `service`. `stop` begins its
/// drain.
pub fn spawn<S: Service>(
    id: usize,
    shared: Arc<Shared>,
    service: S,
    stop: CancellationToken,
) -> std::io::Result<ShardHandle<S::Connection>> {
    // The window's gauge is right from the start, before the thread runs.
    let window = coalesce::Window::new(shared.settings.coalesce).current();
    shared
        .metrics
        .shard(id)
        .coalesce_window_us
        .store(window.as_micros() as u64, Ordering::Relaxed);
    let (tx, rx) = mpsc::unbounded_channel();
    let notify = Arc::new(Notify::new());
    let wake = notify.clone();
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()?;
    let thread = std::thread::Builder::new()
        .name(format!("tickcast-shard-{id}"))
        .spawn(move || {
            let local = tokio::task::LocalSet::new();
            local.block_on(&runtime, run(id, shared, service, rx, wake, stop));
        })?;
    Ok(ShardHandle {
        connections: tx,
        notify,
        thread,
    })
}

async fn run<S: Service>(
    id: usize,
    shared: Arc<Shared>,
    service: S,
    mut incoming: mpsc::UnboundedReceiver<S::Connection>,
    notify: Arc<Notify>,
    stop: CancellationToken,
) {
    let shard = Rc::new(ShardState::new(id, shared));
    let connections = TaskTracker::new();
    tokio::task::spawn_local(dispatcher(shard.clone(), notify, stop.clone()));
    tokio::task::spawn_local(housekeeping(shard.clone(), stop.clone()));
    loop {
        let connection = tokio::select! {
            _ = stop.cancelled() => break,
            connection = incoming.recv() => connection,
        };
        let Some(connection) = connection else { break };
        let served = service.serve(shard.clone(), connection, stop.clone());
        let counted = shard.clone();
        connections.spawn_local(async move {
            served.await;
            // Counted up by the acceptor when it picked this shard.
            counted
                .metrics()
                .connections
                .fetch_sub(1, Ordering::Relaxed);
        });
    }
    // Drain: dispatch what the ring still holds, then end every stream after its queue.
    while shard.dispatch_available() {}
    shard.begin_drain();
    connections.close();
    connections.wait().await;
    shard.merge_latency();
}

/// Follows the ring and dispatches events until `stop`, at most one round per coalescing
/// window ([`coalesce`]).
async fn dispatcher(shard: Rc<ShardState>, notify: Arc<Notify>, stop: CancellationToken) {
    while shard.dispatch_available() {
        tokio::task::yield_now().await;
    }
    let mut round_started: Option<tokio::time::Instant> = None;
    loop {
        tokio::select! {
            _ = stop.cancelled() => return,
            _ = notify.notified() => {}
        }
        let window = shard.window.get();
        if let Some(started) = round_started.filter(|_| !window.is_zero()) {
            // Ticks arriving meanwhile wait in the ring and leave with this round.
            tokio::select! {
                _ = stop.cancelled() => return,
                _ = tokio::time::sleep_until(started + window) => {}
            }
        }
        round_started = Some(tokio::time::Instant::now());
        while shard.dispatch_available() {
            tokio::task::yield_now().await;
        }
    }
}

/// Heartbeats, the once-a-second latency merge, and the `auto` coalescing window.
async fn housekeeping(shard: Rc<ShardState>, stop: CancellationToken) {
    let heartbeat = shard.shared.settings.heartbeat;
    let mut beat = tokio::time::interval_at(tokio::time::Instant::now() + heartbeat, heartbeat);
    let mut merge = tokio::time::interval(Duration::from_secs(1));
    let mut delayed = tokio::time::interval(delayed::DELAYED_WAKE_EVERY);
    delayed.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    let mut sample = tokio::time::interval(coalesce::SAMPLE_EVERY);
    sample.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    let mut window = coalesce::Window::new(shard.shared.settings.coalesce);
    let mut clock = if window.is_auto() {
        let clock = coalesce::ThreadClock::start();
        if clock.is_none() {
            tracing::warn!(
                shard = shard.id,
                "--coalesce auto: this kernel does not report thread CPU time \
                 (/proc/thread-self/schedstat); the shard coalesces nothing"
            );
        }
        clock
    } else {
        None
    };
    loop {
        tokio::select! {
            _ = stop.cancelled() => return,
            _ = beat.tick() => shard.heartbeat(),
            _ = merge.tick() => {
                shard.merge_latency();
                // Authorizations end within a second of their `exp`.
                shard.expire_due(crate::clock::now_ns());
            }
            // Only while the shard has delayed streams: an idle shard is not woken ten times a
            // second for nothing (the branch is re-armed within the next second's merge).
            _ = delayed.tick(), if shard.has_delayed() => shard.wake_delayed(),
            _ = sample.tick(), if clock.is_some() => {
                if let Some(busy) = clock.as_mut().and_then(|c| c.busy()) {
                    shard.metrics().busy_permille.store((busy * 1000.0) as u64, Ordering::Relaxed);
                    // Decided on what all shards together cost (`coalesce`'s doc says why);
                    // the others' fractions are at most one sample (100 ms) old.
                    let all = shard.shared.metrics.shards_busy();
                    let now = window.observe(all);
                    shard.set_window(now);
                }
            }
        }
    }
}
