//! A shard's state: its subscribers, the index of who wants which symbol, the latest event per
//! symbol, and the cursor it has dispatched up to; subscribing, dispatching and filling batches.
//!
//! Place in the flow: owned by the shard's thread ([`super::spawn`]); the dispatcher calls
//! [`ShardState::dispatch_available`] after each wake-up, the protocol side (HTTP's SSE writer)
//! calls [`ShardState::subscribe_with`], [`ShardState::fill`] and [`ShardState::unsubscribe`].
//!
//! Invariants: everything here runs on the shard's one thread (`Rc`/`RefCell`, no locks);
//! `cursor` is the last dispatched sequence; a subscriber registered while the cursor is `c`
//! gets its snapshot cut at `c` and live events from `c + 1`. Work per call is bounded
//! ([`DISPATCH_PER_YIELD`] events per dispatch, [`CATCH_UP_SCAN`] ring entries per resume step).
//! Must never encode a frame, lock, or block; and never hold a `RefCell` borrow across `.await`.

use std::cell::{Cell, RefCell};
use std::collections::HashMap;
use std::sync::Arc;
use std::sync::atomic::Ordering;
use std::task::{Poll, Waker};
use std::time::Duration;

use bytes::Bytes;
use hdrhistogram::Histogram;
use slab::Slab;

use super::delayed;
use super::subscriber::{Ending, Filter, Mode, Queued, Subscriber};
use super::{Chunks, MAX_BATCH_BYTES, MAX_BATCH_CHUNKS, Shared, coalesce};
use crate::metrics::ShardMetrics;
use crate::ring::{Event, ReadError};
use crate::tick::{Seq, Symbol, SymbolId};

/// Ring events dispatched before the dispatcher yields to let bodies write.
pub const DISPATCH_PER_YIELD: u64 = 4096;

/// Ring entries a resuming subscriber scans per poll.
pub const CATCH_UP_SCAN: u64 = 16_384;

/// How a new stream starts.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Start {
    /// Snapshots, then live.
    Fresh,
    /// Resume after this id (from `Last-Event-ID`).
    After(Seq),
}

/// How a stream is served beyond its symbols: what the request and its token ask for.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct StreamOptions {
    /// Complete delivery (`complete=1`): a subscriber that falls `--subscriber-buffer` events
    /// behind reads the ring at its own pace instead of being conflated.
    pub complete: bool,
    /// Wall-clock ns (the clock of a tick's `rx`) at which the stream ends with an
    /// `event: reauth` (a token's `exp`): a stream never outlives its authorization.
    pub expires_at: Option<u64>,
    /// Delayed tier: every tick this long after it was received, snapshots as of `now - delay`
    /// ([`super::delayed`]).
    pub delay: Option<Duration>,
}

/// What the body gets when it asks for data.
pub enum Fill {
    /// Chunks to write.
    Data(Chunks),
    /// The stream is over.
    End,
}

/// A shard's state, owned by its thread.
pub struct ShardState {
    /// Shard number.
    pub id: usize,
    /// Shared components.
    pub shared: Arc<Shared>,
    subs: RefCell<Slab<Subscriber>>,
    by_symbol: RefCell<Vec<Vec<usize>>>,
    firehose: RefCell<Vec<usize>>,
    unresolved: RefCell<HashMap<Symbol, Vec<usize>>>,
    latest: RefCell<Vec<Option<Arc<Event>>>>,
    cursor: Cell<Seq>,
    latency: RefCell<Histogram<u64>>,
    to_wake: RefCell<Vec<Waker>>,
    /// Complete-delivery streams that left live delivery during the current dispatch pass.
    to_detach: RefCell<Vec<usize>>,
    /// Streams whose filter offers new symbols to a rule ([`Filter::admitted`]).
    watchers: RefCell<Vec<usize>>,
    /// Delayed-tier streams, woken by housekeeping.
    delayed: RefCell<Vec<usize>>,
    /// Symbol ids below this were offered to the unresolved names and the watchers.
    learned: Cell<usize>,
    retry_line: Bytes,
    /// The coalescing window now (`--coalesce`; moved by housekeeping in `auto` mode).
    pub(super) window: Cell<Duration>,
}

impl ShardState {
    /// A shard starting at the ring's current head.
    pub fn new(id: usize, shared: Arc<Shared>) -> Self {
        // Start before the oldest event still held: events sequenced before this thread got
        // here are replayed by the dispatcher, not skipped.
        let cursor = shared.ring.oldest() - 1;
        let retry_line = Bytes::from(format!("retry: {}\n\n", shared.settings.retry.as_millis()));
        let shard = Self {
            id,
            subs: RefCell::new(Slab::new()),
            by_symbol: RefCell::new(Vec::new()),
            firehose: RefCell::new(Vec::new()),
            unresolved: RefCell::new(HashMap::new()),
            latest: RefCell::new(Vec::new()),
            cursor: Cell::new(cursor),
            latency: RefCell::new(crate::metrics::latency_histogram()),
            to_wake: RefCell::new(Vec::new()),
            to_detach: RefCell::new(Vec::new()),
            watchers: RefCell::new(Vec::new()),
            delayed: RefCell::new(Vec::new()),
            learned: Cell::new(0),
            retry_line,
            window: Cell::new(coalesce::Window::new(shared.settings.coalesce).current()),
            shared,
        };
        shard.set_window(shard.window.get());
        // Events already in the ring before the shard started: their latest per symbol.
        shard.resync_latest(shard.shared.ring.oldest());
        shard
    }

    pub(super) fn metrics(&self) -> &ShardMetrics {
        self.shared.metrics.shard(self.id)
    }

    /// Sets the coalescing window (and its gauge).
    pub(super) fn set_window(&self, window: Duration) {
        self.window.set(window);
        self.metrics()
            .coalesce_window_us
            .store(window.as_micros() as u64, Ordering::Relaxed);
    }

    /// Last dispatched sequence.
    pub fn cursor(&self) -> Seq {
        self.cursor.get()
    }

    // === subscriptions ===

    /// Registers a stream and queues its opening bytes; returns its key.
    pub fn subscribe(&self, filter: Filter, start: Start) -> usize {
        self.subscribe_with(filter, start, StreamOptions::default())
    }

    /// [`ShardState::subscribe`] with [`StreamOptions`]: complete delivery, an end of
    /// authorization, the delayed tier.
    pub fn subscribe_with(&self, filter: Filter, start: Start, options: StreamOptions) -> usize {
        // Catch up with the ring first, so the snapshot includes every tick already sequenced
        // (a symbol priced anywhere gets a `snapshot`, not a first `tick`). Only up to the head
        // seen now: a writer faster than this shard must not keep the request waiting.
        let target = self.shared.ring.head();
        while self.cursor.get() < target && self.dispatch_available() {}
        let capacity = self.shared.settings.subscriber_buffer;
        let cursor = self.cursor.get();
        let ring = &self.shared.ring;
        let mut sub = Subscriber::new(filter, capacity, Mode::Live, cursor);
        sub.complete = options.complete;
        sub.expires_at = options.expires_at;
        sub.push_prelude(self.retry_line.clone(), 0);
        if let Some(delay) = options.delay {
            return self.subscribe_delayed(sub, start, delay);
        }
        let mut live = true;
        match start {
            Start::Fresh => self.push_snapshot(&mut sub, None),
            Start::After(last) => {
                let head = ring.head();
                let oldest = ring.oldest();
                if last > head {
                    self.push_snapshot(&mut sub, Some(("unknown_id", last, oldest, head)));
                } else if last + 1 < oldest {
                    self.push_snapshot(&mut sub, Some(("ring_overrun", last, oldest, head)));
                } else if last >= cursor {
                    // The sequencer is ahead of this shard: live events up to `last` were
                    // already sent on the previous connection.
                    sub.covered = last;
                } else {
                    sub.mode = Mode::CatchUp { next: last + 1 };
                    sub.covered = last;
                    live = false;
                }
            }
        }
        let key = self.subs.borrow_mut().insert(sub);
        if live {
            self.register_live(key);
        }
        self.metrics().subscribers.fetch_add(1, Ordering::Relaxed);
        key
    }

    /// A delayed-tier stream: snapshot as of `now - delay` (or a resume after its id), then the
    /// ring at `delay` behind.
    fn subscribe_delayed(&self, mut sub: Subscriber, start: Start, delay: Duration) -> usize {
        let ring = &self.shared.ring;
        let universe = self.shared.cache.universe();
        let now = crate::clock::now_ns();
        sub.delay_ns = delay.as_nanos().min(u128::from(u64::MAX)) as u64;
        let as_of = delayed::cut(ring, now.saturating_sub(sub.delay_ns));
        let (head, oldest) = (ring.head(), ring.oldest());
        let next = match start {
            Start::After(last) if last <= as_of && last + 1 >= oldest => {
                sub.covered = last;
                last + 1
            }
            Start::After(last) => {
                // Ahead of what this tier may see yet, unknown, or gone from the ring.
                let reason = if last > head {
                    "unknown_id"
                } else if last > as_of {
                    "ahead_of_delay"
                } else {
                    "ring_overrun"
                };
                let frame = self.reset_frame(as_of, reason, last, as_of.max(oldest), head);
                sub.push_prelude(frame, 1);
                delayed::push_snapshot(&mut sub, ring, &universe, as_of);
                as_of + 1
            }
            Start::Fresh => {
                delayed::push_snapshot(&mut sub, ring, &universe, as_of);
                as_of + 1
            }
        };
        sub.mode = Mode::Delayed { next };
        let key = self.subs.borrow_mut().insert(sub);
        self.delayed.borrow_mut().push(key);
        self.metrics().subscribers.fetch_add(1, Ordering::Relaxed);
        key
    }

    /// The `event: reset` frame with id `id` (a resume from it continues after the snapshot
    /// that follows); counts it.
    fn reset_frame(&self, id: Seq, reason: &str, last: Seq, oldest: Seq, head: Seq) -> Bytes {
        self.metrics().resets.fetch_add(1, Ordering::Relaxed);
        Bytes::from(format!(
            "id: {id}\nevent: reset\ndata: {{\"reason\":\"{reason}\",\"last_event_id\":{last},\"oldest_seq\":{oldest},\"head_seq\":{head}}}\n\n"
        ))
    }

    /// Queues one snapshot per wanted symbol that has a price, in sequence order, optionally
    /// preceded by a `reset` event; the cut is the current cursor.
    fn push_snapshot(&self, sub: &mut Subscriber, reset: Option<(&str, Seq, Seq, Seq)>) {
        let cursor = self.cursor.get();
        let latest = self.latest.borrow();
        let mut events: Vec<Arc<Event>> = if sub.filter.is_all() {
            latest.iter().flatten().cloned().collect()
        } else {
            // Names unresolved at subscription time have no event yet: ids are enough.
            sub.filter
                .ids()
                .filter_map(|id| latest.get(id.index()).cloned().flatten())
                .collect()
        };
        drop(latest);
        events.sort_unstable_by_key(|e| e.seq);
        if let Some((reason, last, oldest, head)) = reset {
            let id = events.first().map_or(cursor, |e| e.seq);
            sub.push_prelude(self.reset_frame(id, reason, last, oldest, head), 1);
        }
        for event in events {
            sub.push_prelude(event.frame.snapshot_head(), 0);
            sub.push_prelude(event.frame.data(), 1);
        }
        sub.covered = cursor;
    }

    fn register_live(&self, key: usize) {
        let mut subs = self.subs.borrow_mut();
        let Some(sub) = subs.get_mut(key) else { return };
        sub.mode = Mode::Live;
        if sub.filter.is_all() {
            self.firehose.borrow_mut().push(key);
            return;
        }
        let mut by_symbol = self.by_symbol.borrow_mut();
        for id in sub.filter.ids() {
            if by_symbol.len() <= id.index() {
                by_symbol.resize_with(id.index() + 1, Vec::new);
            }
            by_symbol[id.index()].push(key);
        }
        let mut unresolved = self.unresolved.borrow_mut();
        for name in sub.filter.unresolved() {
            unresolved.entry(*name).or_default().push(key);
        }
        if sub.filter.watches_new_symbols() {
            self.watchers.borrow_mut().push(key);
        }
    }

    /// Forgets a stream (its body was dropped: finished or client gone).
    pub fn unsubscribe(&self, key: usize) {
        let Some(mut sub) = self.subs.borrow_mut().try_remove(key) else {
            return;
        };
        let dropped = sub.clear();
        self.metrics()
            .pending_events
            .fetch_sub(dropped as i64, Ordering::Relaxed);
        self.metrics().subscribers.fetch_sub(1, Ordering::Relaxed);
        match sub.mode {
            Mode::Live => self.unregister_live(key, &sub.filter),
            Mode::Delayed { .. } => remove_key(&mut self.delayed.borrow_mut(), key),
            Mode::CatchUp { .. } => {}
        }
    }

    /// Takes stream `key` out of the live index (it unsubscribed, or left for the ring).
    fn unregister_live(&self, key: usize, filter: &Filter) {
        let remove = |list: &mut Vec<usize>| remove_key(list, key);
        if filter.watches_new_symbols() {
            remove(&mut self.watchers.borrow_mut());
        }
        if filter.is_all() {
            remove(&mut self.firehose.borrow_mut());
            return;
        }
        let mut by_symbol = self.by_symbol.borrow_mut();
        for id in filter.ids() {
            if let Some(list) = by_symbol.get_mut(id.index()) {
                remove(list);
            }
        }
        let mut unresolved = self.unresolved.borrow_mut();
        for name in filter.unresolved() {
            if let Some(list) = unresolved.get_mut(name) {
                remove(list);
                if list.is_empty() {
                    unresolved.remove(name);
                }
            }
        }
    }

    // === dispatch ===

    /// Dispatches up to [`DISPATCH_PER_YIELD`] published events; true if more are waiting.
    pub fn dispatch_available(&self) -> bool {
        let ring = &self.shared.ring;
        let head = ring.head();
        let mut cursor = self.cursor.get();
        // A ring that started past this shard's cursor (an edge learning the cluster's ids,
        // `RingWriter::start_at`): the sequences between never existed, nothing was missed.
        let first = ring.first();
        if cursor + 1 < first {
            cursor = first - 1;
            self.cursor.set(cursor);
        }
        if cursor >= head {
            self.metrics().ring_lag.store(0, Ordering::Relaxed);
            return false;
        }
        let upto = head.min(cursor + DISPATCH_PER_YIELD);
        let mut seq = cursor + 1;
        // One epoch pin for the whole run of reads (see `Ring::reader`).
        let reader = ring.reader();
        while seq <= upto {
            match reader.read(seq) {
                Ok(event) => {
                    self.dispatch(event);
                    self.cursor.set(seq);
                    seq += 1;
                }
                Err(ReadError::Lagged { oldest }) => {
                    self.on_lag(oldest);
                    break;
                }
                Err(ReadError::NotYet) => break,
            }
        }
        drop(reader);
        self.detach_pending();
        self.wake_all();
        self.metrics()
            .ring_lag
            .store(head.saturating_sub(self.cursor.get()), Ordering::Relaxed);
        self.cursor.get() < ring.head()
    }

    fn dispatch(&self, event: Arc<Event>) {
        let index = event.symbol_id.index();
        self.offer(&event, index);
        // Moved, not cloned: the ring read's reference becomes the shard's latest.
        let mut latest = self.latest.borrow_mut();
        if latest.len() <= index {
            latest.resize(index + 1, None);
        }
        latest[index] = Some(event);
    }

    /// Offers `event` (of symbol `index`) to every live subscriber that wants it.
    fn offer(&self, event: &Event, index: usize) {
        if self.learned.get() <= index {
            self.learn_symbols(index);
        }
        let by_symbol = self.by_symbol.borrow();
        let firehose = self.firehose.borrow();
        let mut subs = self.subs.borrow_mut();
        let mut to_wake = self.to_wake.borrow_mut();
        let metrics = self.metrics();
        let (mut pending, mut conflated) = (0i64, 0u64);
        for &key in by_symbol[index].iter().chain(firehose.iter()) {
            let Some(sub) = subs.get_mut(key) else {
                continue;
            };
            let pushed = sub.push_live(Queued::of(event));
            pending += pushed.pending_delta;
            conflated += pushed.conflated;
            if pushed.detached {
                self.to_detach.borrow_mut().push(key);
            }
            if let Some(waker) = sub.waker.take() {
                to_wake.push(waker);
            }
        }
        if pending != 0 {
            metrics.pending_events.fetch_add(pending, Ordering::Relaxed);
        }
        if conflated != 0 {
            metrics.conflated.fetch_add(conflated, Ordering::Relaxed);
        }
    }

    /// Grows the per-symbol index to cover id `index`, moving streams waiting for newly named
    /// symbols (open universe) into it, and offering each new symbol to the streams whose
    /// filter has a rule ([`Filter::admitted`]): once per symbol and stream, never per tick.
    fn learn_symbols(&self, index: usize) {
        let first_new = self.learned.get();
        self.learned.set(index + 1);
        let mut by_symbol = self.by_symbol.borrow_mut();
        if by_symbol.len() <= index {
            by_symbol.resize_with(index + 1, Vec::new);
        }
        let mut unresolved = self.unresolved.borrow_mut();
        let watchers = self.watchers.borrow();
        if unresolved.is_empty() && watchers.is_empty() {
            return;
        }
        let universe = self.shared.cache.universe();
        let mut subs = self.subs.borrow_mut();
        for i in first_new..=index {
            let id = SymbolId(i as u32);
            let Some(name) = universe.name(id) else {
                continue;
            };
            if let Some(keys) = unresolved.remove(&name) {
                for key in &keys {
                    if let Some(sub) = subs.get_mut(*key) {
                        sub.filter.resolve(&name, id);
                    }
                }
                by_symbol[i].extend(keys);
            }
            for &key in watchers.iter() {
                // A watcher created after this symbol was known already has its answer.
                if let Some(sub) = subs.get_mut(key)
                    && !by_symbol[i].contains(&key)
                    && sub.filter.consider(&name, id)
                {
                    by_symbol[i].push(key);
                }
            }
        }
    }

    /// Takes the complete-delivery streams that switched to ring reading out of the index.
    fn detach_pending(&self) {
        let keys: Vec<usize> = std::mem::take(&mut *self.to_detach.borrow_mut());
        for key in keys {
            let filter = self.subs.borrow().get(key).map(|sub| sub.filter.clone());
            if let Some(filter) = filter {
                self.unregister_live(key, &filter);
            }
        }
    }

    fn wake_all(&self) {
        let wakers: Vec<Waker> = std::mem::take(&mut *self.to_wake.borrow_mut());
        for waker in wakers {
            waker.wake();
        }
    }

    /// The shard fell a whole ring behind the sequencer: the ticks it missed are gone, so no
    /// stream of this shard can continue without a gap. End each with a `retry:` hint (the
    /// client resumes with its last id and gets a `reset`), and rebuild the latest prices.
    fn on_lag(&self, oldest: Seq) {
        let mut subs = self.subs.borrow_mut();
        let metrics = self.metrics();
        // With no stream open there is nothing to close (an edge's ring skipping to the
        // cluster's ids before it accepts clients).
        if !subs.is_empty() {
            tracing::warn!(
                shard = self.id,
                streams = subs.len(),
                "shard fell a whole ring behind; closing its streams"
            );
        }
        for (_, sub) in subs.iter_mut() {
            if sub.ending.is_none() {
                let dropped = sub.clear();
                metrics
                    .pending_events
                    .fetch_sub(dropped as i64, Ordering::Relaxed);
                sub.ending = Some(Ending::Lagged);
                metrics.lag_disconnects.fetch_add(1, Ordering::Relaxed);
                if let Some(waker) = sub.waker.take() {
                    self.to_wake.borrow_mut().push(waker);
                }
            }
        }
        drop(subs);
        self.resync_latest(oldest);
        self.cursor.set(oldest - 1);
    }

    /// Rebuilds the latest-event table as of `oldest - 1` from the cache: a symbol whose cached
    /// event is older than `oldest` has exactly that as its latest; one with a newer event gets
    /// it back from the ring as the dispatcher replays from `oldest`.
    fn resync_latest(&self, oldest: Seq) {
        let universe = self.shared.cache.universe();
        let mut latest = self.latest.borrow_mut();
        latest.clear();
        for i in 0..universe.len() {
            let event = universe
                .latest(SymbolId(i as u32))
                .filter(|e| e.seq < oldest);
            latest.push(event);
        }
    }

    // === writing ===

    /// Fills the next batch for stream `key`; `Pending` (after storing `waker`) when there is
    /// nothing to send yet.
    pub fn fill(&self, key: usize, waker: &Waker) -> Poll<Fill> {
        let mut subs = self.subs.borrow_mut();
        let Some(sub) = subs.get_mut(key) else {
            return Poll::Ready(Fill::End);
        };
        let mut register = false;
        if let Mode::CatchUp { next } = sub.mode
            && sub.ending.is_none()
            && sub.prelude_len() == 0
            && sub.pending() == 0
        {
            register = self.catch_up(sub, next);
        }
        if let Mode::Delayed { next } = sub.mode
            && sub.ending.is_none()
            && sub.prelude_len() == 0
        {
            let universe = self.shared.cache.universe();
            let now = crate::clock::now_ns();
            match delayed::read_due(sub, &self.shared.ring, &universe, next, now) {
                delayed::Read::Upto(next) => sub.mode = Mode::Delayed { next },
                delayed::Read::Gone => {
                    sub.ending = Some(Ending::Lagged);
                    self.metrics()
                        .lag_disconnects
                        .fetch_add(1, Ordering::Relaxed);
                }
            }
        }
        if register {
            drop(subs);
            self.register_live(key);
            subs = self.subs.borrow_mut();
        }
        let Some(sub) = subs.get_mut(key) else {
            return Poll::Ready(Fill::End);
        };
        let mut batch = Chunks::new();
        let mut now = None;
        let mut latency = self.latency.borrow_mut();
        let (events, bytes, live) =
            sub.drain_into(&mut batch, MAX_BATCH_CHUNKS, MAX_BATCH_BYTES, |rx| {
                // One clock read per batch, only when it has live events. Saturating: a feed's
                // clock may be ahead of ours.
                let now = *now.get_or_insert_with(crate::clock::now_ns);
                let _ = latency.record(now.saturating_sub(rx).max(1));
            });
        let metrics = self.metrics();
        if !batch.is_empty() {
            sub.active = true;
            metrics
                .events_sent
                .fetch_add(events as u64, Ordering::Relaxed);
            metrics
                .bytes_sent
                .fetch_add(bytes as u64, Ordering::Relaxed);
            if live > 0 {
                metrics
                    .pending_events
                    .fetch_sub(live as i64, Ordering::Relaxed);
            }
            if matches!(sub.mode, Mode::CatchUp { .. } | Mode::Delayed { .. }) {
                // More of the ring to read after this batch is written.
                waker.wake_by_ref();
            }
            return Poll::Ready(Fill::Data(batch));
        }
        if sub.ending.is_some() {
            if sub.final_sent {
                return Poll::Ready(Fill::End);
            }
            sub.final_sent = true;
            batch.push(match sub.ending {
                Some(Ending::Reauth) => reauth_frame(sub.covered),
                _ => self.retry_line.clone(),
            });
            return Poll::Ready(Fill::Data(batch));
        }
        if matches!(sub.mode, Mode::CatchUp { .. }) {
            // Scanned a stretch of the ring without a match: continue on the next poll.
            waker.wake_by_ref();
            return Poll::Pending;
        }
        match &sub.waker {
            Some(w) if w.will_wake(waker) => {}
            _ => sub.waker = Some(waker.clone()),
        }
        Poll::Pending
    }

    /// Reads the ring for a resuming stream, from `next` towards the cursor; returns true when
    /// it has caught up and must be registered for live events.
    fn catch_up(&self, sub: &mut Subscriber, mut next: Seq) -> bool {
        let ring = &self.shared.ring;
        let target = self.cursor.get();
        let universe = self.shared.cache.universe();
        let scan_end = target.min(next + CATCH_UP_SCAN - 1);
        let mut found = 0;
        let reader = ring.reader();
        while next <= scan_end && found < MAX_BATCH_CHUNKS {
            match reader.read(next) {
                Ok(event) => {
                    if sub.filter.matches(event.symbol_id, &universe) {
                        sub.push_prelude(event.frame.tick(), 1);
                        found += 1;
                    }
                    next += 1;
                }
                Err(_) => {
                    // Overwritten while we were catching up: cannot continue without a gap.
                    sub.ending = Some(Ending::Lagged);
                    self.metrics()
                        .lag_disconnects
                        .fetch_add(1, Ordering::Relaxed);
                    return false;
                }
            }
        }
        sub.covered = next - 1;
        if next > target {
            sub.mode = Mode::Live;
            true
        } else {
            sub.mode = Mode::CatchUp { next };
            false
        }
    }

    /// Queues a `: hb` comment on every stream that wrote nothing since the last beat.
    pub(super) fn heartbeat(&self) {
        static HEARTBEAT: Bytes = Bytes::from_static(b": hb\n\n");
        let mut subs = self.subs.borrow_mut();
        for (_, sub) in subs.iter_mut() {
            // Only into an empty queue: a stream whose client stopped reading has bytes waiting
            // already, and must not pile up a heartbeat every interval for as long as it stays.
            if !sub.active && sub.ending.is_none() && sub.prelude_len() == 0 && sub.pending() == 0 {
                sub.push_prelude(HEARTBEAT.clone(), 0);
                if let Some(waker) = sub.waker.take() {
                    waker.wake();
                }
            }
            sub.active = false;
        }
    }

    /// Ends, after their queue, the streams whose authorization ran out by `now` (wall-clock
    /// ns): they stop taking events at once and finish with an `event: reauth`.
    pub(super) fn expire_due(&self, now: u64) {
        // An ending stream takes no more live events (`Subscriber::push_live`) and reads no
        // more of the ring; it stays indexed until its body goes.
        let mut subs = self.subs.borrow_mut();
        for (_, sub) in subs.iter_mut() {
            if sub.ending.is_none() && sub.expires_at.is_some_and(|at| at <= now) {
                sub.ending = Some(Ending::Reauth);
                if let Some(waker) = sub.waker.take() {
                    waker.wake();
                }
            }
        }
    }

    /// True while the shard has delayed-tier streams (housekeeping then wakes them).
    pub(super) fn has_delayed(&self) -> bool {
        !self.delayed.borrow().is_empty()
    }

    /// Wakes every delayed-tier stream to send what has become due.
    pub(super) fn wake_delayed(&self) {
        let delayed = self.delayed.borrow();
        let mut subs = self.subs.borrow_mut();
        for &key in delayed.iter() {
            if let Some(waker) = subs.get_mut(key).and_then(|sub| sub.waker.take()) {
                waker.wake();
            }
        }
    }

    /// Marks every stream to end after its queue (shutdown).
    pub fn begin_drain(&self) {
        let mut subs = self.subs.borrow_mut();
        for (_, sub) in subs.iter_mut() {
            if sub.ending.is_none() {
                sub.ending = Some(Ending::Drain);
            }
            if let Some(waker) = sub.waker.take() {
                waker.wake();
            }
        }
    }

    /// True once shutdown began.
    pub fn is_draining(&self) -> bool {
        self.shared.draining.load(Ordering::Relaxed)
    }

    pub(super) fn merge_latency(&self) {
        self.shared
            .metrics
            .merge_latency(self.id, &mut self.latency.borrow_mut());
    }
}

/// The `event: reauth` that ends a stream whose authorization ran out; `last` is the last id it
/// carried, for the resume with a fresh token (`Last-Event-ID`).
fn reauth_frame(last: Seq) -> Bytes {
    Bytes::from(format!(
        "event: reauth\ndata: {{\"reason\":\"token_expired\",\"last_event_id\":{last}}}\n\n"
    ))
}

/// Takes `key` out of an index list (order does not matter).
fn remove_key(list: &mut Vec<usize>, key: usize) {
    if let Some(pos) = list.iter().position(|k| *k == key) {
        list.swap_remove(pos);
    }
}

#[cfg(test)]
mod tests;
