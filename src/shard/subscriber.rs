//! One SSE subscriber's outgoing state: what it wants, what is queued for it, and conflation.
//!
//! Place in the flow: owned by its shard (single thread, no locks). The shard's dispatcher
//! [`Subscriber::push_live`]es each matching event; the stream body drains it into batches
//! ([`Subscriber::drain_into`]) when hyper asks for more.
//!
//! Conflation: live events wait in a FIFO of at most `capacity` events. When a push finds the
//! FIFO full, the subscriber switches to *conflating*: from then on it keeps at most one unsent
//! event per symbol, the newest (older ones become tombstones that are skipped and compacted),
//! still in sequence order. Conflation ends when the queue drains. So the memory of a stalled
//! subscriber is bounded by `max(capacity, symbols)` events whatever the tick rate, a reader
//! that resumes converges to the latest prices, and ids never go backwards.
//! Must never allocate per event in the steady state (the queue reuses its buffer; a buffer that
//! grew past `KEEP_CAPACITY` (64) entries is freed once drained, so a snapshot or a burst is not
//! charged to a stream for its whole life) and never encode anything: it only moves shared
//! `Bytes`.

use std::collections::{HashMap, HashSet, VecDeque};
use std::fmt;
use std::sync::Arc;
use std::task::Waker;

use bytes::Bytes;

use crate::cache::Universe;
use crate::ring::Event;
use crate::tick::{Seq, Symbol, SymbolId};

/// Tombstones tolerated beyond the number of live events before the queue is compacted.
const COMPACT_SLACK: usize = 64;

/// Whether a stream may see a symbol: decided once per symbol and stream (when the stream
/// starts, or when the symbol first appears), never per tick. The HTTP edge builds it from a
/// token's entitlements; the shard knows nothing of tokens.
#[derive(Clone)]
pub struct Admit(Arc<dyn Fn(&Symbol) -> bool + Send + Sync>);

impl Admit {
    /// Admits the symbols `rule` says yes to.
    pub fn new(rule: impl Fn(&Symbol) -> bool + Send + Sync + 'static) -> Self {
        Self(Arc::new(rule))
    }

    /// Whether `symbol` is admitted.
    pub fn allows(&self, symbol: &Symbol) -> bool {
        (self.0)(symbol)
    }
}

impl fmt::Debug for Admit {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("Admit(..)")
    }
}

/// Which symbols a subscriber wants.
#[derive(Debug, Clone)]
pub struct Filter {
    all: bool,
    ids: HashSet<SymbolId>,
    /// Requested names that had no id yet (open universe); resolved as they appear.
    unresolved: Vec<Symbol>,
    /// `symbols=*` limited to what a rule admits: symbols that appear later are offered to
    /// the rule once each ([`Filter::consider`]).
    admit: Option<Admit>,
    /// Ids the rule said no to (so a catch-up read asks once per symbol, not per tick).
    refused: HashSet<SymbolId>,
}

impl Filter {
    /// Every symbol (`symbols=*`).
    pub fn all() -> Self {
        Self {
            all: true,
            ..Self::none()
        }
    }

    fn none() -> Self {
        Self {
            all: false,
            ids: HashSet::new(),
            unresolved: Vec::new(),
            admit: None,
            refused: HashSet::new(),
        }
    }

    /// Every symbol `admit` allows (`symbols=*` for a token entitled to patterns): those in
    /// `universe` now, and each later one the rule allows when it appears.
    pub fn admitted(admit: Admit, universe: &Universe) -> Self {
        let mut filter = Self::none();
        for (i, name) in universe.names().iter().enumerate() {
            let id = SymbolId(i as u32);
            if admit.allows(name) {
                filter.ids.insert(id);
            } else {
                filter.refused.insert(id);
            }
        }
        filter.admit = Some(admit);
        filter
    }

    /// The named symbols, resolved against `universe` where possible.
    pub fn symbols(names: &[Symbol], universe: &Universe) -> Self {
        let mut filter = Self::none();
        for name in names {
            match universe.id(name) {
                Some(id) => {
                    filter.ids.insert(id);
                }
                None => filter.unresolved.push(*name),
            }
        }
        filter
    }

    /// True for `symbols=*`.
    pub fn is_all(&self) -> bool {
        self.all
    }

    /// Resolved symbol ids.
    pub fn ids(&self) -> impl Iterator<Item = SymbolId> + '_ {
        self.ids.iter().copied()
    }

    /// Names still waiting for an id.
    pub fn unresolved(&self) -> &[Symbol] {
        &self.unresolved
    }

    /// True when later symbols are offered to a rule ([`Filter::admitted`]).
    pub fn watches_new_symbols(&self) -> bool {
        self.admit.is_some()
    }

    /// Offers a newly seen symbol to the rule of an [`Filter::admitted`] filter; true (and the
    /// id is wanted from now on) if it is allowed. Asks once per id.
    pub fn consider(&mut self, name: &Symbol, id: SymbolId) -> bool {
        let Some(admit) = &self.admit else {
            return false;
        };
        if self.ids.contains(&id) {
            return true;
        }
        if self.refused.contains(&id) {
            return false;
        }
        if admit.allows(name) {
            self.ids.insert(id);
            true
        } else {
            self.refused.insert(id);
            false
        }
    }

    /// Whether `id` is wanted; resolves a pending name if `id` is its new id.
    pub fn matches(&mut self, id: SymbolId, universe: &Universe) -> bool {
        if self.all || self.ids.contains(&id) {
            return true;
        }
        if self.admit.is_some() {
            return match universe.name(id) {
                Some(name) => self.consider(&name, id),
                None => false,
            };
        }
        if self.unresolved.is_empty() {
            return false;
        }
        let Some(name) = universe.name(id) else {
            return false;
        };
        if let Some(pos) = self.unresolved.iter().position(|n| *n == name) {
            self.unresolved.swap_remove(pos);
            self.ids.insert(id);
            return true;
        }
        false
    }

    /// Records that `name` now has `id` (the shard resolved it for the live index).
    pub fn resolve(&mut self, name: &Symbol, id: SymbolId) {
        if let Some(pos) = self.unresolved.iter().position(|n| n == name) {
            self.unresolved.swap_remove(pos);
            self.ids.insert(id);
        }
    }
}

/// A live event waiting to be written.
#[derive(Debug, Clone)]
pub struct Queued {
    /// Its sequence (the SSE id).
    pub seq: Seq,
    /// Its symbol.
    pub symbol_id: SymbolId,
    /// Ingest time, for the latency histogram.
    pub rx: u64,
    /// The shared `tick` frame.
    pub frame: Bytes,
}

impl Queued {
    /// The queue entry for `event`.
    pub fn of(event: &Event) -> Self {
        Self {
            seq: event.seq,
            symbol_id: event.symbol_id,
            rx: event.rx,
            frame: event.frame.tick(),
        }
    }
}

/// Where the subscriber is in its life.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Mode {
    /// Resuming: reading the ring from `next` until it meets the shard's dispatch cursor.
    CatchUp {
        /// Next sequence to read.
        next: Seq,
    },
    /// Registered with the shard's index; receives live events.
    Live,
    /// Delayed tier: reads the ring from `next`, each event only once it is `delay` old (by its
    /// receive time). Never in the live index.
    Delayed {
        /// Next sequence to read.
        next: Seq,
    },
}

/// Why the stream is ending.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Ending {
    /// Server shutting down: flush what is queued, then the final `retry:`.
    Drain,
    /// The shard or this resume fell a whole ring behind: drop the queue, send the final
    /// `retry:` so the client reconnects with its last id and gets a `reset`.
    Lagged,
    /// The stream's authorization ran out (the token's `exp`): flush what is queued (it was
    /// taken while authorized), then an `event: reauth` naming the last id, and end.
    Reauth,
}

/// What [`Subscriber::push_live`] did, for the metrics.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Pushed {
    /// Change in the number of held events.
    pub pending_delta: i64,
    /// Older events of the same symbol replaced by this push.
    pub conflated: u64,
    /// A complete-delivery subscriber just left live delivery for the ring: the shard must
    /// take it out of its live index.
    pub detached: bool,
}

/// Items written before live events: `retry:`, snapshots, `reset`, catch-up ticks, heartbeats.
#[derive(Debug, Clone)]
pub struct PreludeItem {
    /// Bytes to write.
    pub bytes: Bytes,
    /// Events this item completes (0 for comments and snapshot heads).
    pub events: u32,
}

/// One subscriber's state.
pub struct Subscriber {
    /// What it wants.
    pub filter: Filter,
    /// Life stage.
    pub mode: Mode,
    /// Highest sequence already sent or covered (snapshot cut); live events at or below it are
    /// skipped, so nothing is sent twice.
    pub covered: Seq,
    /// Set when the stream must end.
    pub ending: Option<Ending>,
    /// The final `retry:` was handed to the writer.
    pub final_sent: bool,
    /// Something was written since the last heartbeat check.
    pub active: bool,
    /// The body's waker while it waits for events.
    pub waker: Option<Waker>,
    prelude: VecDeque<PreludeItem>,
    queue: VecDeque<Option<Queued>>,
    live: usize,
    capacity: usize,
    conflating: bool,
    /// Complete delivery (`complete=1`): instead of conflating, a full queue switches the
    /// subscriber to reading the ring at its own pace.
    pub complete: bool,
    /// Wall-clock ns (the clock of `rx`) at which the stream ends with [`Ending::Reauth`].
    pub expires_at: Option<u64>,
    /// Delayed tier: how long after its receive time an event may be sent, in ns.
    pub delay_ns: u64,
    /// Absolute index of `queue[0]`, so positions survive pops.
    head_abs: u64,
    /// Where each symbol's unsent tick is, while conflating.
    positions: Positions,
}

/// Symbol id -> absolute queue index. foldhash, not the standard SipHash: ids are small dense
/// integers the sequencer assigns (nothing a client chooses), and SipHash was 45% of a conflating
/// push (`benches/fanout.rs`, BENCHMARKS.md session 4).
type Positions = HashMap<SymbolId, u64, foldhash::fast::RandomState>;

impl Subscriber {
    /// A subscriber that conflates once more than `capacity` live events are unsent.
    pub fn new(filter: Filter, capacity: usize, mode: Mode, covered: Seq) -> Self {
        Self {
            filter,
            mode,
            covered,
            ending: None,
            final_sent: false,
            active: false,
            waker: None,
            prelude: VecDeque::new(),
            queue: VecDeque::new(),
            live: 0,
            capacity: capacity.max(1),
            conflating: false,
            complete: false,
            expires_at: None,
            delay_ns: 0,
            head_abs: 0,
            positions: Positions::default(),
        }
    }

    /// Queues bytes that go before live events.
    pub fn push_prelude(&mut self, bytes: Bytes, events: u32) {
        self.prelude.push_back(PreludeItem { bytes, events });
    }

    /// Prelude items waiting.
    pub fn prelude_len(&self) -> usize {
        self.prelude.len()
    }

    /// Live events held (queued or conflated).
    pub fn pending(&self) -> usize {
        self.live
    }

    /// True while keeping only the newest event per symbol.
    pub fn is_conflating(&self) -> bool {
        self.conflating
    }

    /// Offers a live event. Events at or below `covered` were already sent (or are reflected
    /// in the snapshot) and are ignored.
    pub fn push_live(&mut self, event: Queued) -> Pushed {
        let mut pushed = Pushed {
            pending_delta: 0,
            conflated: 0,
            detached: false,
        };
        if event.seq <= self.covered || self.ending.is_some() || self.mode != Mode::Live {
            return pushed;
        }
        if self.complete && self.live >= self.capacity {
            // Everything up to `covered` is queued; the rest is read from the ring later.
            self.mode = Mode::CatchUp { next: event.seq };
            pushed.detached = true;
            return pushed;
        }
        self.covered = event.seq;
        if !self.conflating && self.live < self.capacity {
            self.queue.push_back(Some(event));
            self.live += 1;
            pushed.pending_delta = 1;
            return pushed;
        }
        if !self.conflating {
            pushed.conflated += self.start_conflating();
        }
        if let Some(&old) = self.positions.get(&event.symbol_id) {
            let index = (old - self.head_abs) as usize;
            if let Some(slot) = self.queue.get_mut(index)
                && slot.take().is_some()
            {
                self.live -= 1;
                pushed.conflated += 1;
            }
        }
        let abs = self.head_abs + self.queue.len() as u64;
        self.positions.insert(event.symbol_id, abs);
        self.queue.push_back(Some(event));
        self.live += 1;
        if self.queue.len() > 2 * self.live + COMPACT_SLACK {
            self.compact();
        }
        pushed.pending_delta = 1 - pushed.conflated as i64;
        pushed
    }

    /// Conflates the backlog already queued: keeps the newest event per symbol.
    fn start_conflating(&mut self) -> u64 {
        self.conflating = true;
        self.positions.clear();
        let mut replaced = 0;
        for i in 0..self.queue.len() {
            let Some(symbol_id) = self.queue[i].as_ref().map(|q| q.symbol_id) else {
                continue;
            };
            let abs = self.head_abs + i as u64;
            if let Some(old) = self.positions.insert(symbol_id, abs) {
                let index = (old - self.head_abs) as usize;
                if self.queue[index].take().is_some() {
                    self.live -= 1;
                    replaced += 1;
                }
            }
        }
        self.compact();
        replaced
    }

    /// Drops tombstones and renumbers positions. A conflating queue never holds more than
    /// `2 * live + COMPACT_SLACK` entries, so a buffer that grew far beyond that (the FIFO
    /// filling up to `capacity` before conflation began) is given back: a stalled client costs
    /// its symbols, not its `--subscriber-buffer`, for as long as it stays stalled.
    fn compact(&mut self) {
        self.queue.retain(Option::is_some);
        self.head_abs = 0;
        self.positions.clear();
        for (i, q) in self.queue.iter().enumerate() {
            if let Some(q) = q {
                self.positions.insert(q.symbol_id, i as u64);
            }
        }
        let bound = 2 * self.live + COMPACT_SLACK + 1;
        if self.queue.capacity() > 2 * bound.max(KEEP_CAPACITY) {
            self.queue.shrink_to(bound);
        }
    }

    /// Removes every held live event (the stream is being cut); returns how many.
    pub fn clear(&mut self) -> usize {
        let dropped = self.live;
        self.queue.clear();
        self.positions.clear();
        self.live = 0;
        self.conflating = false;
        self.prelude.clear();
        dropped
    }

    /// Moves up to `max_chunks` chunks (prelude first, then live events in sequence order) into
    /// `out`, stopping early once `max_bytes` is reached, and calls `on_live(rx)` for each live
    /// event. Returns (events completed, bytes, live events).
    pub fn drain_into(
        &mut self,
        out: &mut impl Extend<Bytes>,
        max_chunks: usize,
        max_bytes: usize,
        mut on_live: impl FnMut(u64),
    ) -> (usize, usize, usize) {
        let (mut events, mut bytes, mut live) = (0usize, 0usize, 0usize);
        let mut chunks = 0usize;
        while chunks < max_chunks && bytes < max_bytes {
            let Some(item) = self.prelude.pop_front() else {
                break;
            };
            bytes += item.bytes.len();
            events += item.events as usize;
            chunks += 1;
            out.extend(std::iter::once(item.bytes));
        }
        while chunks < max_chunks && bytes < max_bytes {
            let Some(slot) = self.queue.pop_front() else {
                break;
            };
            let abs = self.head_abs;
            self.head_abs += 1;
            let Some(q) = slot else { continue };
            self.live -= 1;
            if self.conflating && self.positions.get(&q.symbol_id) == Some(&abs) {
                self.positions.remove(&q.symbol_id);
            }
            on_live(q.rx);
            bytes += q.frame.len();
            events += 1;
            live += 1;
            chunks += 1;
            out.extend(std::iter::once(q.frame));
        }
        if self.prelude.is_empty() {
            release_if_large(&mut self.prelude);
        }
        if self.queue.is_empty() {
            self.conflating = false;
            self.positions.clear();
            self.head_abs = 0;
            release_if_large(&mut self.queue);
            if self.positions.capacity() > KEEP_CAPACITY {
                self.positions = Positions::default();
            }
        }
        (events, bytes, live)
    }
}

/// Entries an emptied queue or index may keep allocated. Beyond it, the memory goes back: a
/// snapshot of hundreds of symbols, a burst, or a bout of conflation must not stay charged to
/// a stream for its whole life (idle streams are most of a big server's streams).
const KEEP_CAPACITY: usize = 64;

/// Frees an empty queue's buffer when it grew past [`KEEP_CAPACITY`].
fn release_if_large<T>(queue: &mut VecDeque<T>) {
    if queue.is_empty() && queue.capacity() > KEEP_CAPACITY {
        *queue = VecDeque::new();
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn q(seq: Seq, sym: u32) -> Queued {
        Queued {
            seq,
            symbol_id: SymbolId(sym),
            rx: seq,
            frame: Bytes::from(format!("{seq}/{sym};")),
        }
    }

    fn drain_all(sub: &mut Subscriber) -> Vec<String> {
        let mut out: Vec<Bytes> = Vec::new();
        while sub.drain_into(&mut out, 7, usize::MAX, |_| {}).0 > 0 {}
        out.iter()
            .map(|b| String::from_utf8(b.to_vec()).unwrap())
            .collect()
    }

    #[test]
    fn fast_subscriber_gets_everything_in_order() {
        let mut sub = Subscriber::new(Filter::all(), 4, Mode::Live, 0);
        for seq in 1..=4 {
            assert_eq!(sub.push_live(q(seq, 0)).conflated, 0);
        }
        assert_eq!(drain_all(&mut sub), ["1/0;", "2/0;", "3/0;", "4/0;"]);
        assert!(!sub.is_conflating());
    }

    #[test]
    fn stalled_subscriber_is_bounded_by_symbols_and_converges() {
        let mut sub = Subscriber::new(Filter::all(), 8, Mode::Live, 0);
        let mut conflated = 0;
        for seq in 1..=100_000u64 {
            conflated += sub.push_live(q(seq, (seq % 3) as u32)).conflated;
            assert!(sub.pending() <= 8, "held {} events", sub.pending());
            assert!(sub.queue.len() <= 2 * 8 + COMPACT_SLACK + 1);
        }
        assert!(sub.is_conflating());
        assert_eq!(sub.pending(), 3);
        assert_eq!(conflated, 100_000 - 3);
        // The newest tick of each symbol, in sequence order.
        assert_eq!(drain_all(&mut sub), ["99998/2;", "99999/0;", "100000/1;"]);
        assert!(!sub.is_conflating());
        assert_eq!(sub.pending(), 0);
    }

    #[test]
    fn a_stalled_subscriber_holds_its_symbols_not_its_buffer() {
        // The S5 shape: a 1,024-event buffer, 200 symbols, a client that stops reading.
        let symbols = 200u32;
        let mut sub = Subscriber::new(Filter::all(), 1024, Mode::Live, 0);
        let bound = 2 * (2 * symbols as usize + COMPACT_SLACK + 1);
        let mut most = 0;
        for seq in 1..=50_000u64 {
            sub.push_live(q(seq, (seq % u64::from(symbols)) as u32));
            if seq > 1024 {
                most = most.max(sub.queue.capacity());
            }
        }
        assert!(sub.is_conflating());
        assert_eq!(sub.pending(), symbols as usize);
        assert!(
            most <= bound,
            "queue buffer of {most} entries while conflating 200 symbols (bound {bound})"
        );
        let held = most * std::mem::size_of::<Option<Queued>>();
        assert!(held <= 32 * 1024, "{held} bytes of queue");
        assert_eq!(drain_all(&mut sub).len(), symbols as usize);
    }

    #[test]
    fn conflation_keeps_sequence_order_across_partial_drains() {
        let mut sub = Subscriber::new(Filter::all(), 2, Mode::Live, 0);
        let mut sent = Vec::new();
        let mut seq = 0;
        for round in 0..50 {
            for _ in 0..(round % 7) + 1 {
                seq += 1;
                sub.push_live(q(seq, (seq * 7 % 5) as u32));
            }
            let mut out: Vec<Bytes> = Vec::new();
            sub.drain_into(&mut out, 2, usize::MAX, |_| {});
            sent.extend(out);
        }
        let mut out: Vec<Bytes> = Vec::new();
        while sub.drain_into(&mut out, 3, usize::MAX, |_| {}).0 > 0 {}
        sent.extend(out);
        let seqs: Vec<u64> = sent
            .iter()
            .map(|b| {
                let s = std::str::from_utf8(b).unwrap();
                s.split('/').next().unwrap().parse().unwrap()
            })
            .collect();
        assert!(seqs.windows(2).all(|w| w[0] < w[1]), "{seqs:?}");
        // The last event of every symbol is always delivered.
        for sym in 0..5u64 {
            let last = (1..=seq).rev().find(|s| s * 7 % 5 == sym).unwrap();
            assert!(
                seqs.contains(&last),
                "symbol {sym} missed its last tick {last}"
            );
        }
    }

    #[test]
    fn complete_subscriber_leaves_for_the_ring_instead_of_conflating() {
        let mut sub = Subscriber::new(Filter::all(), 2, Mode::Live, 0);
        sub.complete = true;
        assert!(!sub.push_live(q(1, 0)).detached);
        assert!(!sub.push_live(q(2, 0)).detached);
        let third = sub.push_live(q(3, 0));
        assert!(third.detached);
        assert_eq!(third.conflated, 0);
        assert_eq!(sub.mode, Mode::CatchUp { next: 3 });
        // Later events are the ring's business now; nothing is queued or conflated.
        assert_eq!(
            sub.push_live(q(4, 0)),
            Pushed {
                pending_delta: 0,
                conflated: 0,
                detached: false
            }
        );
        assert_eq!(drain_all(&mut sub), ["1/0;", "2/0;"]);
        assert_eq!(sub.covered, 2);
    }

    #[test]
    fn covered_events_are_not_sent_twice() {
        let mut sub = Subscriber::new(Filter::all(), 8, Mode::Live, 10);
        sub.push_live(q(9, 0));
        sub.push_live(q(10, 0));
        sub.push_live(q(11, 0));
        sub.push_live(q(11, 0));
        assert_eq!(drain_all(&mut sub), ["11/0;"]);
    }

    #[test]
    fn drained_queues_give_their_memory_back() {
        let mut sub = Subscriber::new(Filter::all(), 8, Mode::Live, 0);
        // A snapshot of 500 symbols, then a backlog that conflates over 300 symbols.
        for i in 0..1000 {
            sub.push_prelude(Bytes::from_static(b"snap;"), i % 2);
        }
        for seq in 1..=3000u64 {
            sub.push_live(q(seq, (seq % 300) as u32));
        }
        assert!(sub.is_conflating());
        assert!(sub.prelude.capacity() >= 1000);
        assert!(sub.queue.capacity() > KEEP_CAPACITY);
        assert!(sub.positions.capacity() >= 300);
        let sent = drain_all(&mut sub);
        assert_eq!(sent.len(), 1000 + 300);
        assert!(sub.prelude.capacity() <= KEEP_CAPACITY);
        assert!(sub.queue.capacity() <= KEEP_CAPACITY);
        assert!(sub.positions.capacity() <= KEEP_CAPACITY);
        // A small steady queue keeps its buffer (no allocation per event).
        sub.push_live(q(3001, 0));
        let kept = sub.queue.capacity();
        assert!(kept > 0);
        drain_all(&mut sub);
        assert_eq!(sub.queue.capacity(), kept);
    }

    #[test]
    fn prelude_goes_first() {
        let mut sub = Subscriber::new(Filter::all(), 8, Mode::Live, 0);
        sub.push_live(q(5, 0));
        sub.push_prelude(Bytes::from_static(b"snap;"), 1);
        assert_eq!(drain_all(&mut sub), ["snap;", "5/0;"]);
    }
}
