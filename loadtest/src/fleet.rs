//! The fleet of SSE clients: worker threads, one current-thread runtime each, no work stealing.
//!
//! Clients are dealt round-robin to the threads before anything connects; a client lives its
//! whole life (connects, reads, reconnects) on its thread, so per-client state and the
//! per-thread accounting ([`ThreadStats`]: histograms, integrity summaries) need no locks. The
//! runner talks to the fleet through [`Control`] (cancellation tokens and a few atomics) and
//! reads progress from [`ThreadCounters`]. Every client stops on [`Control::stop`]; the threads
//! then hand their stats back through their join handles.

use std::cell::RefCell;
use std::collections::{BTreeMap, HashMap};
use std::io;
use std::rc::Rc;
use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};
use std::sync::{Arc, OnceLock};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use tokio::sync::Semaphore;
use tokio_util::sync::CancellationToken;

use crate::client;
use crate::dial::Dialer;
use crate::latency::LatencyHistogram;
use crate::ledger::{Integrity, LedgerRules};
use crate::mix::{Class, ClientPlan, Role};
use crate::scenario::{LatencyFrom, Target};
use crate::schedule::Burst;
use crate::transport::{Http2Slot, Session, TlsClient};
use crate::universe::{Interner, Universe};

/// Size of each thread's read buffer: one `read()` takes at most this much.
const READ_BUFFER: usize = 64 * 1024;

/// The immutable settings every client reads.
#[derive(Debug)]
pub struct FleetConfig {
    /// The server kind (URLs, rules).
    pub target: Target,
    /// `Host` header value.
    pub host: String,
    /// Path prefix before the server's own paths (usually empty).
    pub path_prefix: String,
    /// The fed symbols.
    pub universe: Universe,
    /// Ticks per universe symbol the feeder will send (empty without a feed).
    pub expected: Vec<u32>,
    /// Integrity rules for firehose clients.
    pub firehose_rules: LedgerRules,
    /// Integrity rules for clients of a set of symbols.
    pub symbols_rules: LedgerRules,
    /// Which stamp latency is measured from.
    pub latency_from: LatencyFrom,
    /// The feed's bursts (to split latency inside and outside them).
    pub burst: Option<Burst>,
    /// Bytes per second of a slow client.
    pub slow_rate: u64,
    /// `SO_RCVBUF` of slow and paused clients.
    pub slow_rcvbuf: usize,
    /// Bound on connect plus response head.
    pub connect_timeout: Duration,
    /// Connections per second at most, over the fleet.
    pub connect_rate: Option<f64>,
    /// Connection attempts in flight at once, over the fleet.
    pub connect_concurrency: usize,
    /// `Last-Event-ID` of the first subscription.
    pub last_event_id: Option<String>,
    /// Extra query parameters of tickcast's stream URL.
    pub stream_query: Option<String>,
    /// Reconnect after a broken connection too, and measure every automatic resume.
    pub reconnect_on_error: bool,
    /// Where connections go.
    pub dialer: Dialer,
    /// TLS over each connection (`None`: plain TCP).
    pub tls: Option<TlsClient>,
    /// HTTP/2 (over `tls`) with this many SSE streams per connection; `None`: HTTP/1.1.
    pub http2_streams: Option<usize>,
}

impl FleetConfig {
    /// The connection a client's streams go over: its own (HTTP/1.1), or the one it shares
    /// with the clients of the same `index / streams` (HTTP/2).
    pub fn connection_of(&self, client: usize) -> usize {
        client / self.http2_streams.unwrap_or(1).max(1)
    }
}

/// What the runner and the clients share while the run goes on.
#[derive(Debug, Default)]
pub struct Control {
    /// Ends every client.
    pub stop: CancellationToken,
    /// Starts the reconnect storm.
    pub storm: CancellationToken,
    /// Wall-clock start of the feed, ns (0 until it starts).
    pub feed_start_ns: AtomicU64,
    /// Ticks per universe symbol the feeder actually sent; set before [`Control::stop`].
    pub sent: OnceLock<Vec<u32>>,
    /// Fast clients still waiting for ticks of the feed (see [`Control::complete_one`]).
    pub outstanding: AtomicUsize,
    /// Clients whose first connection attempt is over (succeeded or failed).
    pub settled: AtomicUsize,
    /// Clients whose first connection got a 200 head.
    pub connected: AtomicUsize,
    /// What the first successful TLS handshake agreed on (for the report).
    pub session: OnceLock<Session>,
}

impl Control {
    /// One fast client got everything it will get (or gave up): the drain waits for one less.
    pub fn complete_one(&self) {
        self.outstanding.fetch_sub(1, Ordering::AcqRel);
    }
}

/// Progress counters of one thread, read by the runner while the run goes on.
#[derive(Debug, Default)]
pub struct ThreadCounters {
    /// Live ticks delivered.
    pub events: AtomicU64,
    /// Bytes read.
    pub bytes: AtomicU64,
}

/// The report groups of clients.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub enum Group {
    /// Fast clients that stay connected.
    Steady,
    /// Fast clients that take part in the reconnect storm.
    Reconnecting,
    /// Slow readers.
    Slow,
    /// Clients that stop reading.
    Paused,
}

impl Group {
    /// All groups, in report order.
    pub const ALL: [Group; 4] = [
        Group::Steady,
        Group::Reconnecting,
        Group::Slow,
        Group::Paused,
    ];

    /// The group of a client.
    pub fn of(plan: &ClientPlan) -> Self {
        match (plan.role, plan.reconnects) {
            (Role::Fast, false) => Group::Steady,
            (Role::Fast, true) => Group::Reconnecting,
            (Role::Slow, _) => Group::Slow,
            (Role::Paused, _) => Group::Paused,
        }
    }

    /// The lowercase name.
    pub fn name(self) -> &'static str {
        match self {
            Group::Steady => "steady",
            Group::Reconnecting => "reconnecting",
            Group::Slow => "slow",
            Group::Paused => "paused",
        }
    }

    /// Whether the drain waits for these clients to get every tick.
    pub fn is_fast(self) -> bool {
        matches!(self, Group::Steady | Group::Reconnecting)
    }

    fn slot(self) -> usize {
        self as usize
    }
}

/// The end state of one client.
#[derive(Debug, Clone)]
pub struct ConnectionSummary {
    /// How it picked its symbols.
    pub class: Class,
    /// Whether its first connection got a 200 head.
    pub connected: bool,
    /// Whether it got every tick the feeder sent for its symbols.
    pub complete: bool,
    /// Its integrity counters.
    pub integrity: Integrity,
    /// Hash of its live tick sequence.
    pub digest: u64,
    /// Bytes it read.
    pub bytes: u64,
}

/// Histograms and summaries of one group on one thread.
#[derive(Debug, Default)]
pub struct GroupStats {
    /// Latency of every fresh live tick.
    pub latency: LatencyHistogram,
    /// Latency of ticks scheduled outside bursts (only with bursts).
    pub calm: LatencyHistogram,
    /// Latency of ticks scheduled inside bursts.
    pub burst: LatencyHistogram,
    /// One summary per client.
    pub connections: Vec<ConnectionSummary>,
}

impl GroupStats {
    fn merge(&mut self, other: GroupStats) {
        self.latency.merge(&other.latency);
        self.calm.merge(&other.calm);
        self.burst.merge(&other.burst);
        self.connections.extend(other.connections);
    }
}

/// Counts of reconnect attempts.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, serde::Serialize)]
pub struct Reconnects {
    /// Reconnects started (storm and after a server close).
    pub attempted: u64,
    /// Reconnects that got a 200 head.
    pub ok: u64,
    /// Reconnects that failed.
    pub failed: u64,
    /// Reconnects started after a broken connection or a failed reconnect
    /// (`--reconnect-on-error`).
    pub after_error: u64,
}

/// Everything one thread measured.
#[derive(Debug, Default)]
pub struct ThreadStats {
    /// Per [`Group`], in [`Group::ALL`] order.
    pub groups: [GroupStats; 4],
    /// Storm reconnects (and automatic ones with `--reconnect-on-error`): from the drop to
    /// the first tick on the new connection.
    pub resume_first: LatencyHistogram,
    /// The same reconnects: from the drop to the first tick scheduled after the drop (live
    /// again, everything missed replayed).
    pub resume_live: LatencyHistogram,
    /// Failed first connections, by reason.
    pub failures: BTreeMap<String, u64>,
    /// Reconnect attempts.
    pub reconnects: Reconnects,
    /// Failed reconnects, by reason.
    pub reconnect_failures: BTreeMap<String, u64>,
    /// Streams the server ended while the run was going on.
    pub server_closes: u64,
    /// Comment lines (heartbeats) received.
    pub comments: u64,
}

impl ThreadStats {
    /// The stats of `group`.
    pub fn group_mut(&mut self, group: Group) -> &mut GroupStats {
        &mut self.groups[group.slot()]
    }

    /// The stats of `group`.
    pub fn group(&self, group: Group) -> &GroupStats {
        &self.groups[group.slot()]
    }

    /// Adds another thread's stats.
    pub fn merge(&mut self, other: ThreadStats) {
        for (mine, theirs) in self.groups.iter_mut().zip(other.groups) {
            mine.merge(theirs);
        }
        self.resume_first.merge(&other.resume_first);
        self.resume_live.merge(&other.resume_live);
        for (reason, count) in other.failures {
            *self.failures.entry(reason).or_default() += count;
        }
        for (reason, count) in other.reconnect_failures {
            *self.reconnect_failures.entry(reason).or_default() += count;
        }
        self.reconnects.attempted += other.reconnects.attempted;
        self.reconnects.ok += other.reconnects.ok;
        self.reconnects.failed += other.reconnects.failed;
        self.reconnects.after_error += other.reconnects.after_error;
        self.server_closes += other.server_closes;
        self.comments += other.comments;
    }
}

/// Per-thread state shared by the clients of one thread.
#[derive(Debug)]
pub struct Local {
    /// The read buffer (borrowed for one synchronous read-and-parse, never across an await).
    pub buf: RefCell<Box<[u8]>>,
    /// The thread's accounting.
    pub stats: RefCell<ThreadStats>,
    /// Indices of symbols outside the universe.
    pub interner: RefCell<Interner>,
    /// Progress counters.
    pub counters: Arc<ThreadCounters>,
    /// Limits connection attempts in flight on this thread.
    pub gate: Semaphore,
    /// HTTP/2: the connections of this thread's clients, by [`FleetConfig::connection_of`].
    pub http2: RefCell<HashMap<usize, Rc<Http2Slot>>>,
}

impl Local {
    /// The HTTP/2 connection slot of `connection` (made empty on first use).
    pub fn http2_slot(&self, connection: usize) -> Rc<Http2Slot> {
        Rc::clone(self.http2.borrow_mut().entry(connection).or_default())
    }
}

/// The running fleet.
#[derive(Debug)]
pub struct Fleet {
    handles: Vec<JoinHandle<ThreadStats>>,
    counters: Vec<Arc<ThreadCounters>>,
}

impl Fleet {
    /// Starts `threads` client threads and deals `plans` to them; clients start connecting at
    /// once (paced by the connect rate and concurrency).
    pub fn launch(
        plans: Vec<ClientPlan>,
        config: Arc<FleetConfig>,
        control: Arc<Control>,
        threads: usize,
    ) -> io::Result<Fleet> {
        let connections = plans
            .len()
            .div_ceil(config.http2_streams.unwrap_or(1).max(1));
        let threads = threads.clamp(1, connections.max(1));
        let mut dealt: Vec<Vec<ClientPlan>> = (0..threads).map(|_| Vec::new()).collect();
        for plan in plans {
            // Round robin by connection: the streams of an HTTP/2 connection share a thread
            // (with HTTP/1.1, connection = client).
            dealt[config.connection_of(plan.index) % threads].push(plan);
        }
        let per_thread_gate = config.connect_concurrency.div_ceil(threads).max(1);
        let mut handles = Vec::with_capacity(threads);
        let mut counters = Vec::with_capacity(threads);
        for (t, plans) in dealt.into_iter().enumerate() {
            let thread_counters = Arc::new(ThreadCounters::default());
            counters.push(Arc::clone(&thread_counters));
            let config = Arc::clone(&config);
            let control = Arc::clone(&control);
            let runtime = tokio::runtime::Builder::new_current_thread()
                .enable_all()
                .build()?;
            let handle = std::thread::Builder::new()
                .name(format!("load-client-{t}"))
                .spawn(move || {
                    let local = Rc::new(Local {
                        buf: RefCell::new(vec![0u8; READ_BUFFER].into_boxed_slice()),
                        stats: RefCell::new(ThreadStats::default()),
                        interner: RefCell::new(Interner::new(&config.universe)),
                        counters: thread_counters,
                        gate: Semaphore::new(per_thread_gate),
                        http2: RefCell::new(HashMap::new()),
                    });
                    let tasks = tokio::task::LocalSet::new();
                    tasks.block_on(&runtime, async {
                        let start = Instant::now();
                        let mut handles = Vec::with_capacity(plans.len());
                        for (position, plan) in plans.into_iter().enumerate() {
                            // This thread's share of the fleet's connect rate.
                            let start_at = config.connect_rate.map(|rate| {
                                start
                                    + Duration::from_secs_f64(
                                        position as f64 * threads as f64 / rate,
                                    )
                            });
                            handles.push(tokio::task::spawn_local(client::run(
                                plan,
                                Arc::clone(&config),
                                Arc::clone(&control),
                                Rc::clone(&local),
                                start_at,
                            )));
                        }
                        for handle in handles {
                            let _ = handle.await;
                        }
                    });
                    drop(tasks);
                    match Rc::try_unwrap(local) {
                        Ok(local) => local.stats.into_inner(),
                        Err(local) => std::mem::take(&mut *local.stats.borrow_mut()),
                    }
                })?;
            handles.push(handle);
        }
        Ok(Fleet { handles, counters })
    }

    /// Live ticks delivered and bytes read so far, over all threads.
    pub fn totals(&self) -> (u64, u64) {
        self.counters.iter().fold((0, 0), |(events, bytes), c| {
            (
                events + c.events.load(Ordering::Relaxed),
                bytes + c.bytes.load(Ordering::Relaxed),
            )
        })
    }

    /// Number of client threads.
    pub fn threads(&self) -> usize {
        self.handles.len()
    }

    /// Waits (at most `timeout`) for the threads to end after [`Control::stop`], and merges
    /// their stats. Threads still running after the timeout are left behind (and reported).
    pub fn join(self, timeout: Duration) -> (ThreadStats, usize) {
        let deadline = Instant::now() + timeout;
        let mut merged = ThreadStats::default();
        let mut stuck = 0;
        for handle in self.handles {
            while !handle.is_finished() && Instant::now() < deadline {
                std::thread::sleep(Duration::from_millis(10));
            }
            if handle.is_finished() {
                if let Ok(stats) = handle.join() {
                    merged.merge(stats);
                }
            } else {
                stuck += 1;
            }
        }
        (merged, stuck)
    }
}
