//! The sequencer: the single writer of the ring and the latest-price cache.
//!
//! Place in the flow: every source sends batches of decoded [`Tick`]s over one bounded channel
//! (a full channel pushes back on the sources, so nothing accepted is dropped); this thread
//! numbers each tick (global [`crate::tick::Seq`] and per-symbol count `n`), encodes its SSE
//! frame exactly once (into a [`FrameArena`]), pushes it to the ring, and at the end of the batch
//! stores each symbol's newest event in the cache (one `arc-swap` store per symbol per batch,
//! not per tick) and wakes every shard once.
//!
//! With a `--resume-window`, events sequenced longer ago than the window are dropped from the
//! ring even before it is full (checked after each batch; kept up to [`MARK_EVERY`] longer), so memory
//! follows the tick rate times the window instead of growing until the ring wraps, and a
//! client that comes back later gets a `reset` and fresh snapshots.
//!
//! The cache may trail the ring by at most one batch, and never by more than half the ring:
//! shards rebuild their latest prices from the cache after a lag ([`crate::cache`]), which is
//! only exact if every event the ring has already overwritten is reflected there.
//! It owns the symbol universe's growth: unknown symbols in a closed universe and symbols beyond
//! `--max-symbols` are rejected here.
//! Must never block on a subscriber or a shard: shards pull from the ring at their own pace.

use std::collections::{HashMap, VecDeque};
use std::sync::Arc;
use std::sync::atomic::Ordering;
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use tokio::sync::mpsc::error::TryRecvError;
use tokio::sync::{Notify, mpsc};

use super::RejectLog;
use crate::cache::{LatestPrices, UniverseKind};
use crate::frame::FrameArena;
use crate::metrics::Metrics;
use crate::ring::{Event, RingWriter};
use crate::tick::Reject;
use crate::tick::{Symbol, SymbolId, Tick};

/// Ticks decoded together from one read of a source.
pub type TickBatch = Vec<Tick>;

/// An event another node already numbered and encoded (an edge node's input, from the
/// cluster's broker): [`Sequencer::ingest_sequenced`] takes it as it is.
#[derive(Debug, Clone)]
pub struct Sequenced {
    /// The symbol (its id is this node's own).
    pub symbol: Symbol,
    /// The global sequence the feed node gave it.
    pub seq: crate::tick::Seq,
    /// Its per-symbol count.
    pub n: u64,
    /// When the feed node received the tick (ns since the Unix epoch).
    pub rx: u64,
    /// Its SSE frames, as the feed node encoded them.
    pub frame: crate::frame::Frame,
}

/// What [`Sequencer::ingest_sequenced`] did with an event.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Taken {
    /// The next sequence: pushed.
    Pushed,
    /// At or below the head: already held (or already skipped), dropped.
    Duplicate,
    /// Past the head + 1: not pushed; the caller fills the gap or skips to it.
    Gap,
}

/// Batches queued between the sources and the sequencer before sources wait.
pub const CHANNEL_BATCHES: usize = 1024;

/// Batches ingested between two wake-ups of the shards: bounds the delay a long burst adds
/// before the shards see its first ticks. (How often a shard then acts on the wake-ups is its
/// own coalescing window: [`crate::shard::coalesce`].)
const BATCHES_PER_WAKE: usize = 64;
/// Granularity of `--resume-window`: one time mark per this much time, however many batches.
pub const MARK_EVERY: Duration = Duration::from_millis(100);

/// The sequencer's state; runs on its own thread via [`Sequencer::spawn`].
pub struct Sequencer {
    ring: RingWriter,
    cache: Arc<LatestPrices>,
    metrics: Arc<Metrics>,
    shards: Vec<Arc<Notify>>,
    index: HashMap<Symbol, SymbolId>,
    counts: Vec<u64>,
    max_symbols: usize,
    log: RejectLog,
    arena: FrameArena,
    /// Per symbol id: its newest event not yet stored in the cache.
    unpublished: Vec<Option<Arc<Event>>>,
    /// The ids with an entry in `unpublished`, in first-touched order.
    touched: Vec<SymbolId>,
    /// Events sequenced since the cache was last brought up to date.
    since_publish: usize,
    /// Bring the cache up to date at least this often (half the ring).
    publish_every: usize,
    /// `--resume-window` (zero: events leave the ring only when overwritten).
    resume_window: Duration,
    /// `(last sequence, when)` after batches, at most one per [`MARK_EVERY`], oldest first.
    marks: VecDeque<(crate::tick::Seq, Instant)>,
}

impl Sequencer {
    /// A sequencer writing to `ring` (its one writer) and `cache`, waking `shards` after each
    /// batch.
    pub fn new(
        ring: RingWriter,
        cache: Arc<LatestPrices>,
        metrics: Arc<Metrics>,
        shards: Vec<Arc<Notify>>,
        max_symbols: usize,
    ) -> Self {
        let universe = cache.universe();
        let index = universe
            .names()
            .iter()
            .enumerate()
            .map(|(i, s)| (*s, SymbolId(i as u32)))
            .collect();
        metrics
            .symbols
            .store(universe.len() as u64, Ordering::Relaxed);
        Self {
            counts: vec![0; universe.len()],
            unpublished: vec![None; universe.len()],
            touched: Vec::new(),
            since_publish: 0,
            publish_every: (ring.capacity() / 2).max(1),
            resume_window: Duration::ZERO,
            marks: VecDeque::new(),
            arena: FrameArena::default(),
            ring,
            cache,
            metrics,
            shards,
            index,
            max_symbols,
            log: RejectLog::new("sequencer"),
        }
    }

    /// Drops events from the ring once they were sequenced more than `window` ago (zero: only
    /// when overwritten).
    pub fn resume_window(mut self, window: Duration) -> Self {
        self.resume_window = window;
        self
    }

    /// Starts the sequencer thread. It ends once every sender is dropped and the channel is
    /// drained, after a last wake-up of the shards.
    pub fn spawn(self) -> std::io::Result<(mpsc::Sender<TickBatch>, JoinHandle<()>)> {
        let (tx, rx) = mpsc::channel(CHANNEL_BATCHES);
        let handle = std::thread::Builder::new()
            .name("tickcast-sequencer".into())
            .spawn(move || self.run(rx))?;
        Ok((tx, handle))
    }

    fn run(mut self, mut rx: mpsc::Receiver<TickBatch>) {
        while let Some(batch) = rx.blocking_recv() {
            self.ingest(batch);
            // One round of what is queued, then wake.
            let mut open = true;
            for _ in 1..BATCHES_PER_WAKE {
                match rx.try_recv() {
                    Ok(batch) => self.ingest(batch),
                    Err(TryRecvError::Empty) => break,
                    Err(TryRecvError::Disconnected) => {
                        open = false;
                        break;
                    }
                }
            }
            self.wake_shards();
            if !open {
                break;
            }
        }
        self.wake_shards();
        tracing::debug!("sequencer stopped: all feeds closed");
    }

    /// Wakes every shard (and whoever else follows the ring) once.
    pub fn wake_shards(&self) {
        for shard in &self.shards {
            shard.notify_one();
        }
    }

    /// Numbers, encodes and publishes a batch.
    pub fn ingest(&mut self, batch: TickBatch) {
        let now = (!self.resume_window.is_zero()).then(Instant::now);
        self.ingest_at(batch, now);
    }

    /// [`Sequencer::ingest`] at `now` (taken only with a `--resume-window`).
    fn ingest_at(&mut self, batch: TickBatch, now: Option<Instant>) {
        // One epoch pin for the whole batch: the ring's pin per push is then only nested.
        let _pin = crossbeam::epoch::pin();
        let mut sequenced = 0u64;
        for tick in &batch {
            sequenced += u64::from(self.sequence(tick));
        }
        self.finish(sequenced, now);
    }

    /// After a batch of `sequenced` events: the cache, the resume window, the metrics.
    fn finish(&mut self, sequenced: u64, now: Option<Instant>) {
        // The cache first: it must reflect every event the ring no longer holds.
        self.publish_latest();
        if let Some(now) = now {
            self.expire(now, sequenced > 0);
        }
        if sequenced > 0 {
            let m = &self.metrics;
            m.frames_encoded.fetch_add(sequenced, Ordering::Relaxed);
            m.ticks_ingested.fetch_add(sequenced, Ordering::Relaxed);
            m.head_seq.store(self.ring.head(), Ordering::Relaxed);
            m.ring_oldest_seq
                .store(self.ring.oldest(), Ordering::Relaxed);
        }
    }

    /// Pushes an event the feed node already sequenced (edge nodes): it must be the ring's next
    /// sequence; anything else is reported, not pushed. Like a tick of [`Sequencer::ingest`],
    /// it reaches the cache by the end of the batch ([`Sequencer::end_batch`]).
    pub fn ingest_sequenced(&mut self, event: Sequenced) -> Taken {
        let next = self.ring.next_seq();
        if event.seq < next {
            return Taken::Duplicate;
        }
        if event.seq > next {
            return Taken::Gap;
        }
        let symbol_id = self.intern_sequenced(event.symbol);
        let count = &mut self.counts[symbol_id.index()];
        *count = (*count).max(event.n);
        self.push(Arc::new(Event {
            seq: event.seq,
            symbol_id,
            n: event.n,
            rx: event.rx,
            frame: event.frame,
        }));
        Taken::Pushed
    }

    /// Stores the cluster's newest event of a symbol in the cache when it is newer than the
    /// cached one (an edge refreshing its prices from the broker after a gap it cannot fill).
    pub fn refresh_latest(&mut self, event: Sequenced) {
        let symbol_id = self.intern_sequenced(event.symbol);
        let cached = self.cache.universe().latest(symbol_id).map(|e| e.seq);
        if cached.is_some_and(|seq| seq >= event.seq) {
            return;
        }
        self.cache.publish(Arc::new(Event {
            seq: event.seq,
            symbol_id,
            n: event.n,
            rx: event.rx,
            frame: event.frame,
        }));
    }

    /// Ends a batch of [`Sequencer::ingest_sequenced`]: the cache, the metrics and the
    /// resume window, as [`Sequencer::ingest`] does after its own batches. `pushed` is how
    /// many events it pushed.
    pub fn end_batch(&mut self, pushed: u64) {
        let now = (!self.resume_window.is_zero()).then(Instant::now);
        self.finish(pushed, now);
    }

    /// Continues the ring at `seq`, dropping what it holds (a gap the cluster cannot fill).
    /// A ring that never held an event, on a node that knows no price yet, just starts there:
    /// nothing was lost, so the shards' open streams go on (see [`crate::ring::RingWriter::start_at`]).
    pub fn skip_to(&mut self, seq: crate::tick::Seq) {
        self.publish_latest();
        let knows_nothing = self.index.is_empty();
        if !(knows_nothing && self.ring.start_at(seq)) {
            self.ring.skip_to(seq);
        }
        self.marks.clear();
        self.metrics
            .head_seq
            .store(self.ring.head(), Ordering::Relaxed);
        self.metrics
            .ring_oldest_seq
            .store(self.ring.oldest(), Ordering::Relaxed);
    }

    /// The last sequence pushed (or skipped to, less one).
    pub fn head(&self) -> crate::tick::Seq {
        self.ring.head()
    }

    /// Marks what was sequenced by `now` and drops from the ring what was sequenced more than
    /// the resume window before it.
    fn expire(&mut self, now: Instant, sequenced: bool) {
        if self.resume_window.is_zero() {
            return;
        }
        if sequenced {
            // A mark `(seq, at)` covers the events up to `seq`, sequenced by `at + MARK_EVERY`.
            let head = self.ring.head();
            match self.marks.back_mut() {
                Some((seq, at)) if now.saturating_duration_since(*at) < MARK_EVERY => *seq = head,
                _ => self.marks.push_back((head, now)),
            }
        }
        let keep = self.resume_window + MARK_EVERY;
        let mut expired = None;
        while let Some(&(seq, at)) = self.marks.front() {
            if now.saturating_duration_since(at) <= keep {
                break;
            }
            expired = Some(seq);
            self.marks.pop_front();
        }
        if let Some(seq) = expired {
            let released = self.ring.trim_before(seq + 1);
            self.metrics
                .ring_released_bytes
                .fetch_add(released as u64, Ordering::Relaxed);
        }
    }

    /// Numbers, encodes and pushes one tick to the ring; false when it was rejected.
    fn sequence(&mut self, tick: &Tick) -> bool {
        let Some(symbol_id) = self.symbol_id(tick.symbol) else {
            return false;
        };
        let count = &mut self.counts[symbol_id.index()];
        *count += 1;
        let n = *count;
        let seq = self.ring.next_seq();
        let event = Arc::new(Event {
            seq,
            symbol_id,
            n,
            rx: tick.rx,
            frame: self.arena.encode(seq, n, tick),
        });
        self.push(event);
        true
    }

    /// Pushes a numbered event to the ring, noting it as its symbol's newest for the cache.
    fn push(&mut self, event: Arc<Event>) {
        let symbol_id = event.symbol_id;
        let newest = &mut self.unpublished[symbol_id.index()];
        if newest.is_none() {
            self.touched.push(symbol_id);
        }
        *newest = Some(event.clone());
        self.ring.push(event);
        self.since_publish += 1;
        if self.since_publish >= self.publish_every {
            self.publish_latest();
        }
    }

    /// Stores each symbol's newest sequenced event in the cache.
    fn publish_latest(&mut self) {
        for id in self.touched.drain(..) {
            if let Some(event) = self.unpublished[id.index()].take() {
                self.cache.publish(event);
            }
        }
        self.since_publish = 0;
    }

    /// The id of a symbol the feed node already admitted. Its universe and `--max-symbols`
    /// were checked there: an edge refusing a symbol could only leave a hole in a sequence
    /// that must stay consecutive, so it takes every one (the broker's ACL guards who may
    /// publish).
    fn intern_sequenced(&mut self, symbol: Symbol) -> SymbolId {
        if let Some(id) = self.index.get(&symbol) {
            return *id;
        }
        self.intern(symbol)
    }

    /// Adds a new symbol to the universe and this sequencer's tables.
    fn intern(&mut self, symbol: Symbol) -> SymbolId {
        let id = self.cache.intern(symbol);
        self.index.insert(symbol, id);
        self.counts.push(0);
        self.unpublished.push(None);
        self.metrics
            .symbols
            .store(self.index.len() as u64, Ordering::Relaxed);
        id
    }

    fn symbol_id(&mut self, symbol: Symbol) -> Option<SymbolId> {
        if let Some(id) = self.index.get(&symbol) {
            return Some(*id);
        }
        let reason = if self.cache.kind() == UniverseKind::Closed {
            Reject::UnknownSymbol
        } else if self.index.len() >= self.max_symbols {
            Reject::SymbolLimit
        } else {
            return Some(self.intern(symbol));
        };
        self.metrics.reject(reason);
        self.log.reject(reason, 0, symbol.as_str().as_bytes());
        None
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::tick::Decimal;

    fn tick(sym: &str, px: i64) -> Tick {
        Tick::trade(
            Symbol::new(sym).unwrap(),
            Decimal::new(px, 2).unwrap(),
            None,
            1,
            2,
        )
    }

    fn setup(
        kind: UniverseKind,
        declared: &[&str],
        max: usize,
    ) -> (
        Sequencer,
        Arc<crate::ring::Ring>,
        Arc<LatestPrices>,
        Arc<Metrics>,
    ) {
        let (ring, writer) = crate::ring::Ring::with_writer(16, 100);
        let declared: Vec<_> = declared.iter().map(|s| Symbol::new(s).unwrap()).collect();
        let cache = Arc::new(LatestPrices::new(kind, &declared));
        let metrics = Arc::new(Metrics::new(1));
        let seq = Sequencer::new(writer, cache.clone(), metrics.clone(), vec![], max);
        (seq, ring, cache, metrics)
    }

    #[test]
    fn the_resume_window_drops_old_events_but_not_their_prices() {
        let (seq, ring, cache, _) = setup(UniverseKind::Open, &[], 10);
        let mut seq = seq.resume_window(Duration::from_secs(60));
        let t0 = Instant::now();
        let at = |s: u64| Some(t0 + Duration::from_secs(s));
        seq.ingest_at(vec![tick("A", 1), tick("B", 2)], at(0)); // 100, 101
        seq.ingest_at(vec![tick("A", 3)], at(30)); // 102
        assert_eq!(ring.oldest(), 100, "nothing is 60 s old yet");
        seq.ingest_at(vec![tick("A", 4)], at(61)); // 103
        assert_eq!(ring.oldest(), 102, "the ticks of t=0 left");
        assert!(matches!(
            ring.read(101),
            Err(crate::ring::ReadError::Lagged { oldest: 102 })
        ));
        assert_eq!(ring.read(102).unwrap().seq, 102);
        // B's only tick left the ring; its price did not leave the cache.
        let universe = cache.universe();
        let b = universe.id(&Symbol::new("B").unwrap()).unwrap();
        assert_eq!(universe.latest(b).unwrap().seq, 101);
        // Marks are at least MARK_EVERY apart: one batch 50 ms later shares t=61's mark.
        seq.ingest_at(vec![tick("A", 5)], Some(t0 + Duration::from_millis(61_050))); // 104
        seq.ingest_at(vec![tick("A", 6)], at(122)); // 105
        assert_eq!(
            ring.oldest(),
            105,
            "t=61's mark covers 103 and 104 (61.05 s)"
        );
        assert_eq!(ring.read(105).unwrap().seq, 105);
    }

    #[test]
    fn pages_emptied_by_the_resume_window_are_counted_as_given_back() {
        let page = crate::slot::page_size();
        let per_page = page / std::mem::size_of::<crate::slot::ArcSlot<Event>>();
        let (ring, writer) = crate::ring::Ring::with_writer(8 * per_page, 1);
        let cache = Arc::new(LatestPrices::new(UniverseKind::Open, &[]));
        let metrics = Arc::new(Metrics::new(1));
        let mut seq = Sequencer::new(writer, cache, metrics.clone(), vec![], 10)
            .resume_window(Duration::from_secs(60));
        let released = || metrics.ring_released_bytes.load(Ordering::Relaxed);
        let t0 = Instant::now();
        let old: TickBatch = (0..4 * per_page).map(|i| tick("A", i as i64)).collect();
        seq.ingest_at(old, Some(t0));
        assert_eq!(released(), 0, "nothing has expired yet");
        seq.ingest_at(vec![tick("A", 1)], Some(t0 + Duration::from_secs(61)));
        assert_eq!(ring.oldest(), 4 * per_page as u64 + 1, "the old batch left");
        // Four pages' worth of slots hold at least three whole pages, wherever the array starts;
        // the page that also holds the new tick's slot stays.
        if cfg!(target_os = "linux") {
            assert!(
                released() >= 3 * page as u64 && released() % page as u64 == 0,
                "released {} bytes, page {page}",
                released()
            );
        } else {
            assert_eq!(released(), 0, "pages are given back on Linux only");
        }
        let rendered = metrics.render();
        assert!(
            rendered.contains(&format!(
                "tickcast_ring_released_bytes_total {}",
                released()
            )),
            "{rendered}"
        );
    }

    #[test]
    fn without_a_resume_window_events_leave_only_when_overwritten() {
        let (mut seq, ring, _, _) = setup(UniverseKind::Open, &[], 10);
        let t0 = Instant::now();
        seq.ingest_at(vec![tick("A", 1)], Some(t0));
        seq.ingest_at(vec![tick("A", 2)], Some(t0 + Duration::from_secs(3600)));
        assert_eq!(ring.oldest(), 100);
    }

    #[test]
    fn numbers_ticks_and_counts_per_symbol() {
        let (mut seq, ring, cache, metrics) = setup(UniverseKind::Open, &[], 10);
        seq.ingest(vec![tick("A", 1), tick("B", 2), tick("A", 3)]);
        assert_eq!(ring.head(), 102);
        let third = ring.read(102).unwrap();
        assert_eq!((third.seq, third.n, third.symbol_id), (102, 2, SymbolId(0)));
        let universe = cache.universe();
        let a = universe.id(&Symbol::new("A").unwrap()).unwrap();
        assert_eq!(universe.latest(a).unwrap().seq, 102);
        assert_eq!(metrics.frames_encoded.load(Ordering::Relaxed), 3);
        assert_eq!(metrics.ticks_ingested.load(Ordering::Relaxed), 3);
    }

    #[test]
    fn cache_covers_everything_the_ring_has_overwritten() {
        // A shard rebuilding its latest prices after a lag takes, for every symbol, the cached
        // event if it is older than the ring's oldest (crate::shard::Shard::resync_latest). So at
        // every moment, for every symbol, the cache must hold at least its newest event that
        // the ring no longer has, even in the middle of a batch many rings long.
        let (mut seq, ring, cache, _) = setup(UniverseKind::Open, &[], 10);
        assert_eq!(ring.capacity(), 16);
        let names = ["A", "B", "C"];
        let mut sent: Vec<(u64, usize)> = Vec::new(); // (seq, symbol index)
        for i in 0..200usize {
            // A ticks rarely, B often, C in bursts.
            let which = if i % 50 == 0 {
                0
            } else if (i / 20) % 2 == 0 {
                1
            } else {
                2
            };
            assert!(seq.sequence(&tick(names[which], i as i64)));
            sent.push((ring.head(), which));
            let oldest = ring.oldest();
            let universe = cache.universe();
            for (k, name) in names.iter().enumerate() {
                let overwritten = sent
                    .iter()
                    .rev()
                    .find(|(s, w)| *w == k && *s < oldest)
                    .map(|(s, _)| *s);
                let cached = universe
                    .id(&Symbol::new(name).unwrap())
                    .and_then(|id| universe.latest(id))
                    .map(|e| e.seq);
                if let Some(overwritten) = overwritten {
                    assert!(
                        cached >= Some(overwritten),
                        "after tick {i}: {name} cached {cached:?}, ring lost {overwritten}"
                    );
                }
            }
        }
    }

    /// Events numbered by another node, as an edge receives them.
    fn sequenced(sym: &str, seq: u64, n: u64) -> Sequenced {
        let tick = tick(sym, seq as i64);
        Sequenced {
            symbol: tick.symbol,
            seq,
            n,
            rx: tick.rx,
            frame: crate::frame::Frame::encode(seq, n, &tick),
        }
    }

    #[test]
    fn an_edge_takes_events_in_order_only_and_keeps_their_ids_bytes_and_prices() {
        let (ring, writer) = crate::ring::Ring::with_writer(16, 1);
        let cache = Arc::new(LatestPrices::new(UniverseKind::Open, &[]));
        let metrics = Arc::new(Metrics::new(1));
        // A limit of one symbol: the feed node admitted them, the edge takes them all.
        let mut seq = Sequencer::new(writer, cache.clone(), metrics.clone(), vec![], 1);
        seq.skip_to(500);
        assert_eq!((ring.head(), ring.oldest()), (499, 500));
        assert_eq!(seq.ingest_sequenced(sequenced("A", 500, 7)), Taken::Pushed);
        assert_eq!(seq.ingest_sequenced(sequenced("B", 501, 1)), Taken::Pushed);
        assert_eq!(
            seq.ingest_sequenced(sequenced("A", 500, 7)),
            Taken::Duplicate
        );
        assert_eq!(seq.ingest_sequenced(sequenced("A", 503, 8)), Taken::Gap);
        seq.end_batch(2);
        let held = ring.read(500).unwrap();
        assert_eq!(held.n, 7);
        let original = crate::frame::Frame::encode(500, 7, &tick("A", 500));
        assert_eq!(held.frame.tick(), original.tick(), "the feed node's bytes");
        let universe = cache.universe();
        let b = universe.id(&Symbol::new("B").unwrap()).unwrap();
        assert_eq!(universe.latest(b).unwrap().seq, 501, "the cache follows");
        assert_eq!(metrics.ticks_ingested.load(Ordering::Relaxed), 2);
        // The hash's newer price replaces an older cached one, never a newer one.
        seq.refresh_latest(sequenced("B", 700, 9));
        seq.refresh_latest(sequenced("B", 650, 8));
        assert_eq!(cache.universe().latest(b).unwrap().seq, 700);
        // A gap nothing fills: the ring drops what it had and continues there.
        seq.skip_to(800);
        assert!(ring.read(501).is_err());
        assert_eq!(seq.ingest_sequenced(sequenced("A", 800, 9)), Taken::Pushed);
        assert_eq!(seq.head(), 800);
    }

    #[test]
    fn closed_universe_rejects_unknown_symbols() {
        let (mut seq, ring, _, metrics) = setup(UniverseKind::Closed, &["A"], 10);
        seq.ingest(vec![tick("B", 1), tick("A", 2)]);
        assert_eq!(ring.head(), 100);
        assert_eq!(metrics.rejects(Reject::UnknownSymbol), 1);
    }

    #[test]
    fn open_universe_is_bounded() {
        let (mut seq, ring, _, metrics) = setup(UniverseKind::Open, &[], 2);
        seq.ingest(vec![tick("A", 1), tick("B", 1), tick("C", 1), tick("A", 1)]);
        assert_eq!(ring.head(), 102);
        assert_eq!(metrics.rejects(Reject::SymbolLimit), 1);
    }
}
