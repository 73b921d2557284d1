//! The ring: the last `capacity` sequenced events, readable by every shard without locks.
//!
//! Place in the flow: the sequencer thread is the only writer: it owns the ring's one
//! [`RingWriter`] ([`Ring::with_writer`]); every shard's dispatcher and every resuming subscriber
//! read it ([`Ring::read`]) from their own thread.
//!
//! Invariants and orderings:
//! - Sequence numbers are consecutive: the event pushed after `s` is `s + 1`. Slot `s & mask`
//!   holds event `s` until event `s + capacity` replaces it.
//! - The writer stores the slot first, then publishes the new head with `Release`; a reader loads
//!   the head with `Acquire` ([`Ring::head`]), so every slot up to that head is visible to it.
//! - A reader that asks for a sequence the writer has already overwritten gets
//!   [`ReadError::Lagged`] (it fell behind by more than the capacity) and must resynchronise;
//!   it never receives a wrong event.
//! - The writer may also drop the oldest events before the ring is full ([`RingWriter::trim_before`],
//!   the sequencer's `--resume-window`): it raises the floor with `Release` first and empties
//!   the slots second, so a reader that finds an emptied slot also sees the new floor and gets
//!   [`ReadError::Lagged`] as if the events had been overwritten.
//!
//! Slots are [`ArcSlot`](crate::slot::ArcSlot)s: a reader pinned to the current crossbeam epoch takes its own
//! reference to the event (so it keeps it as long as it wants); the writer stores the new event
//! and the epoch collector releases the old slot's reference once no pinned reader can still
//! be looking at it. Because there is exactly one writer (the type system says so: one
//! [`RingWriter`] per ring, pushing through `&mut self`), a store is a plain load and store, and
//! replaced events are handed to the collector [`RETIRE_BATCH`] at a time, not one by one.
//! Reading many events in a row ([`Ring::reader`]) pins once for all of them.
//! What this replaced and why is in [`crate::slot`]'s doc; `benches/ring.rs` compares it with a
//! crossbeam `ArrayQueue` per reader.
//! Must never block, lock or allocate on the read path.

use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};

use crossbeam::epoch::{self, Guard};
use crossbeam_utils::CachePadded;

use crate::slot::{SlotWriter, Slots};
use crate::tick::{Seq, SymbolId};

/// A sequenced tick with its SSE frame, encoded once and shared by every subscriber.
#[derive(Debug)]
pub struct Event {
    /// Global sequence number (the SSE `id:`).
    pub seq: Seq,
    /// The symbol's dense id.
    pub symbol_id: SymbolId,
    /// Per-symbol count: 1 for the first tick of the symbol, then +1 per tick.
    pub n: u64,
    /// When tickcast received the tick (ns since the Unix epoch), for latency metrics. The rest
    /// of the tick lives only in its frame: every byte here is paid again in each ring slot.
    pub rx: u64,
    /// The encoded frames, see [`crate::frame`].
    pub frame: crate::frame::Frame,
}

/// Why [`Ring::read`] returned no event.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ReadError {
    /// The sequence is not published yet.
    NotYet,
    /// The sequence was overwritten; `oldest` is the oldest sequence still held.
    Lagged {
        /// Oldest sequence still in the ring.
        oldest: Seq,
    },
}

/// Replaced events the writer gathers before handing them to the epoch collector together.
pub const RETIRE_BATCH: usize = 256;

/// A single-writer, many-reader ring of recent events.
pub struct Ring {
    slots: Arc<Slots<Event>>,
    mask: u64,
    /// Sequence of the first event ever pushed (moved only by [`RingWriter::start_at`], on a
    /// ring that never held an event).
    first: AtomicU64,
    /// Last published sequence; `first - 1` while empty.
    head: CachePadded<AtomicU64>,
    /// Oldest sequence not trimmed ([`Ring::trim_before`]); `first` until the first trim.
    floor: CachePadded<AtomicU64>,
}

impl Ring {
    /// A ring holding at least `capacity` events (rounded up to a power of two), whose first
    /// event will have sequence `first` (must be >= 1), and its one writer.
    pub fn with_writer(capacity: usize, first: Seq) -> (Arc<Ring>, RingWriter) {
        let capacity = capacity.max(2).next_power_of_two();
        let first = first.max(1);
        let (slots, slot_writer) = Slots::with_writer(capacity);
        let ring = Arc::new(Self {
            slots,
            mask: capacity as u64 - 1,
            first: AtomicU64::new(first),
            head: CachePadded::new(AtomicU64::new(first - 1)),
            floor: CachePadded::new(AtomicU64::new(first)),
        });
        let writer = RingWriter {
            ring: ring.clone(),
            slots: slot_writer,
        };
        (ring, writer)
    }

    /// The sequence the ring starts at: nothing before it was ever in it.
    pub fn first(&self) -> Seq {
        self.first.load(Ordering::Acquire)
    }

    /// Number of events held once full.
    pub fn capacity(&self) -> usize {
        self.slots.len()
    }

    /// Sequence the next pushed event must carry.
    pub fn next_seq(&self) -> Seq {
        self.head.load(Ordering::Relaxed) + 1
    }

    /// Last published sequence (`first - 1` when nothing was pushed yet).
    pub fn head(&self) -> Seq {
        self.head.load(Ordering::Acquire)
    }

    /// Oldest sequence still held (equals `head + 1` when empty).
    pub fn oldest(&self) -> Seq {
        let head = self.head();
        (head + 1)
            .saturating_sub(self.slots.len() as u64)
            .max(self.first())
            .max(self.floor.load(Ordering::Acquire))
    }

    /// The event with sequence `seq`, if still held.
    pub fn read(&self, seq: Seq) -> Result<Arc<Event>, ReadError> {
        self.reader().read(seq)
    }

    /// A reader pinned once for many [`RingReader::read`]s: a shard dispatching a run of events
    /// should use one per run. Hold it briefly: while it lives, events it could still see are
    /// not freed.
    pub fn reader(&self) -> RingReader<'_> {
        RingReader {
            ring: self,
            guard: epoch::pin(),
        }
    }
}

/// The ring's only writer (the sequencer's); see [`Ring::with_writer`]. Dereferences to the
/// ring for reading.
pub struct RingWriter {
    ring: Arc<Ring>,
    /// The slots' one writer.
    slots: SlotWriter<Event>,
}

impl RingWriter {
    /// Publishes `event`, whose `seq` must be [`Ring::next_seq`]. A writer pushing many events
    /// may hold an [`epoch::pin`] around them, which makes the pin of each hand-over to the
    /// collector (one per [`RETIRE_BATCH`] events) nested and cheap.
    pub fn push(&mut self, event: Arc<Event>) {
        let ring = &*self.ring;
        let seq = event.seq;
        debug_assert_eq!(seq, ring.next_seq(), "ring sequences must be consecutive");
        // The slot is stored first, the head published second (see the module doc).
        self.slots.store((seq & ring.mask) as usize, Some(event));
        ring.head.store(seq, Ordering::Release);
        if self.slots.retired() >= RETIRE_BATCH {
            self.slots.flush();
        }
    }

    /// Drops every held event before `seq` (at most up to the head): readers asking for them
    /// get [`ReadError::Lagged`], and their memory is released once no pinned reader can still
    /// be looking at it. It costs one slot store per dropped event, which the writer would
    /// otherwise pay when overwriting it. The memory pages of slots it leaves wholly empty go
    /// back to the kernel (a ring trimmed to a short window would otherwise keep every page of
    /// its slot array it ever touched: 8 bytes per slot). Returns the bytes of slot memory given
    /// back.
    pub fn trim_before(&mut self, seq: Seq) -> usize {
        let ring = &*self.ring;
        let from = ring.oldest();
        let upto = seq.min(ring.head.load(Ordering::Relaxed) + 1);
        if upto <= from {
            return 0;
        }
        // Floor first, slots second (see the module doc).
        ring.floor.store(upto, Ordering::Release);
        for dropped in from..upto {
            self.slots.store((dropped & ring.mask) as usize, None);
        }
        self.slots.flush();
        // From the start of the page holding `from`: its earlier slots were emptied before (a
        // page with any slot still holding an event is kept whole, see `release_empty`).
        let len = ring.slots.len();
        if upto - from >= len as u64 {
            return self.slots.release_empty(0..len);
        }
        let start = ring.slots.page_start((from & ring.mask) as usize);
        let end = (upto & ring.mask) as usize;
        if start < end {
            self.slots.release_empty(start..end)
        } else {
            self.slots.release_empty(start..len) + self.slots.release_empty(0..end)
        }
    }

    /// Starts a ring that never held an event at `seq` instead of the sequence it was made
    /// with, as if made with it (an edge node learning the cluster's ids from its first batch):
    /// nothing before `seq` ever existed here, so nothing is lost, and readers that follow
    /// from the old start move up to it ([`Ring::first`]) rather than report a lag. Returns
    /// false (and does nothing) once the ring has held an event or skipped.
    pub fn start_at(&mut self, seq: Seq) -> bool {
        let ring = &*self.ring;
        let first = ring.first();
        if ring.head.load(Ordering::Relaxed) + 1 != first
            || ring.floor.load(Ordering::Relaxed) != first
            || seq < first
        {
            return false;
        }
        // First and floor before the head, as in `skip_to`.
        ring.first.store(seq, Ordering::Release);
        ring.floor.store(seq, Ordering::Release);
        ring.head.store(seq - 1, Ordering::Release);
        true
    }

    /// Drops every held event and continues at `seq` (which must be past the head): the
    /// events in between are never pushed. An edge node does this when the cluster's stream
    /// cannot fill a gap ([`crate::cluster`]): readers asking for anything before `seq` get
    /// [`ReadError::Lagged`] (a shard ends its streams, a resume gets a `reset`), never a
    /// silent gap. Floor first, slots second, head last: a reader that sees the new head also
    /// sees the floor, and finds the skipped slots empty or holding older laps.
    pub fn skip_to(&mut self, seq: Seq) {
        let head = self.ring.head.load(Ordering::Relaxed);
        if seq <= head + 1 {
            return;
        }
        self.trim_before(head + 1);
        let ring = &*self.ring;
        ring.floor.store(seq, Ordering::Release);
        ring.head.store(seq - 1, Ordering::Release);
    }

    /// Hands the replaced events gathered so far to the epoch collector.
    pub fn flush(&mut self) {
        self.slots.flush();
    }
}

impl std::ops::Deref for RingWriter {
    type Target = Ring;

    fn deref(&self) -> &Ring {
        &self.ring
    }
}

/// A pinned view of a [`Ring`], see [`Ring::reader`].
pub struct RingReader<'a> {
    ring: &'a Ring,
    /// Keeps every event loaded through this reader from being released.
    guard: Guard,
}

impl RingReader<'_> {
    /// The event with sequence `seq`, if still held.
    pub fn read(&self, seq: Seq) -> Result<Arc<Event>, ReadError> {
        let ring = self.ring;
        let head = ring.head();
        if seq > head {
            return Err(ReadError::NotYet);
        }
        if seq < ring.first() {
            return Err(ReadError::Lagged {
                oldest: ring.oldest(),
            });
        }
        let found = ring
            .slots
            .slot((seq & ring.mask) as usize)
            .load(&self.guard);
        match found {
            Some(event) if event.seq == seq => Ok(event),
            // Overwritten by a newer lap. The writer may not have published that newer head
            // yet (slot first, head second), so derive the oldest held from the event itself.
            Some(newer) if newer.seq > seq => Err(ReadError::Lagged {
                oldest: ring
                    .oldest()
                    .max((newer.seq + 1).saturating_sub(ring.slots.len() as u64)),
            }),
            // Trimmed (the floor was raised before the slot was emptied), or unreachable
            // given the store/publish order; "lagged" is the safe side either way.
            _ => Err(ReadError::Lagged {
                oldest: ring.oldest().max(seq + 1),
            }),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::frame::Frame;
    use crate::tick::{Decimal, Symbol, Tick};

    fn event(seq: Seq) -> Arc<Event> {
        let px = Decimal::new(100, 0).unwrap();
        let tick = Tick::trade(Symbol::new("A").unwrap(), px, None, 1, 2);
        Arc::new(Event {
            seq,
            symbol_id: SymbolId(0),
            n: seq,
            rx: tick.rx,
            frame: Frame::encode(seq, seq, &tick),
        })
    }

    #[test]
    fn skipping_ahead_makes_every_older_read_lag_and_continues_at_the_new_sequence() {
        let (ring, mut writer) = Ring::with_writer(8, 1);
        for seq in 1..=5 {
            writer.push(event(seq));
        }
        writer.skip_to(3); // not past the head: nothing happens
        assert_eq!((ring.oldest(), ring.head()), (1, 5));
        writer.skip_to(100);
        assert_eq!(ring.head(), 99);
        assert_eq!(
            ring.oldest(),
            100,
            "nothing before the new sequence is held"
        );
        assert_eq!(ring.next_seq(), 100);
        for seq in [1, 5, 6, 50, 99] {
            assert!(
                matches!(ring.read(seq), Err(ReadError::Lagged { oldest }) if oldest >= 100),
                "seq {seq}: {:?}",
                ring.read(seq).map(|e| e.seq)
            );
        }
        assert_eq!(ring.read(100).unwrap_err(), ReadError::NotYet);
        writer.push(event(100));
        writer.push(event(101));
        assert_eq!(ring.read(100).unwrap().seq, 100);
        assert_eq!((ring.oldest(), ring.head()), (100, 101));
    }

    #[test]
    fn an_empty_ring_starts_anywhere_once_and_only_before_its_first_event() {
        let (ring, mut writer) = Ring::with_writer(8, 1);
        assert!(writer.start_at(1_000));
        assert_eq!(
            (ring.first(), ring.oldest(), ring.head()),
            (1_000, 1_000, 999)
        );
        assert!(matches!(
            ring.read(1),
            Err(ReadError::Lagged { oldest: 1_000 })
        ));
        assert!(writer.start_at(2_000), "still empty: it may move again");
        writer.push(event(2_000));
        assert!(!writer.start_at(3_000), "not once it held an event");
        assert_eq!(ring.read(2_000).unwrap().seq, 2_000);
        let (_, mut skipped) = Ring::with_writer(8, 1);
        skipped.skip_to(50);
        assert!(
            !skipped.start_at(60),
            "not after a skip: its floor is a loss"
        );
    }

    /// `count` reader threads following `ring` from sequence 1 to `total`: each asserts it gets
    /// every event it reads in order, and that a lag always moves it forward; returns their lags.
    fn follow(ring: &Arc<Ring>, total: u64, count: usize) -> Vec<std::thread::JoinHandle<u64>> {
        (0..count)
            .map(|_| {
                let ring = ring.clone();
                std::thread::spawn(move || {
                    let mut next = 1;
                    let mut lags = 0u64;
                    while next <= total {
                        match ring.read(next) {
                            Ok(event) => {
                                assert_eq!(event.seq, next);
                                next += 1;
                            }
                            Err(ReadError::NotYet) => std::thread::yield_now(),
                            Err(ReadError::Lagged { oldest }) => {
                                assert!(
                                    oldest > next,
                                    "oldest {oldest} next {next} head {}",
                                    ring.head()
                                );
                                lags += 1;
                                next = oldest;
                            }
                        }
                    }
                    lags
                })
            })
            .collect()
    }

    #[test]
    fn reads_what_was_pushed_and_detects_lag() {
        let (ring, mut writer) = Ring::with_writer(4, 10);
        assert_eq!(ring.head(), 9);
        assert_eq!(ring.read(10).unwrap_err(), ReadError::NotYet);
        for seq in 10..=13 {
            writer.push(event(seq));
        }
        assert_eq!(ring.read(10).unwrap().seq, 10);
        assert_eq!(ring.read(13).unwrap().seq, 13);
        writer.push(event(14));
        assert_eq!(ring.oldest(), 11);
        assert_eq!(ring.read(10).unwrap_err(), ReadError::Lagged { oldest: 11 });
        assert_eq!(ring.read(9).unwrap_err(), ReadError::Lagged { oldest: 11 });
        assert_eq!(ring.read(14).unwrap().seq, 14);
        assert_eq!(ring.read(15).unwrap_err(), ReadError::NotYet);
    }

    #[test]
    fn trimmed_events_read_as_lagged_and_are_released() {
        let events: Vec<Arc<Event>> = (1..=10).map(event).collect();
        let (ring, mut writer) = Ring::with_writer(16, 1);
        for e in &events {
            writer.push(e.clone());
        }
        assert_eq!(ring.oldest(), 1);
        writer.trim_before(7);
        assert_eq!(ring.oldest(), 7);
        for seq in 1..7 {
            assert_eq!(ring.read(seq).unwrap_err(), ReadError::Lagged { oldest: 7 });
        }
        assert_eq!(ring.read(7).unwrap().seq, 7);
        // Never beyond the head, never backwards.
        writer.trim_before(1_000);
        assert_eq!(ring.oldest(), 11);
        assert_eq!(ring.read(10).unwrap_err(), ReadError::Lagged { oldest: 11 });
        writer.trim_before(3);
        assert_eq!(ring.oldest(), 11);
        // The ring goes on from the head; a trimmed slot is simply reused.
        for seq in 11..=30 {
            writer.push(event(seq));
        }
        assert_eq!(ring.oldest(), 15);
        assert_eq!(ring.read(15).unwrap().seq, 15);
        assert_eq!(ring.read(14).unwrap_err(), ReadError::Lagged { oldest: 15 });
        // The trimmed events' references go back (after the epoch collector's delay).
        for _ in 0..10_000 {
            if events.iter().all(|e| Arc::strong_count(e) == 1) {
                break;
            }
            epoch::pin().flush();
        }
        for e in &events {
            assert_eq!(Arc::strong_count(e), 1, "event {} still held", e.seq);
        }
    }

    #[test]
    fn trimming_gives_wholly_emptied_slot_pages_back() {
        let (ring, mut writer) = Ring::with_writer(1 << 16, 1);
        for seq in 1..=40_000 {
            writer.push(event(seq));
        }
        // 30,000 slots (240 KB) emptied: all but the pages at the two ends go back.
        let released = writer.trim_before(30_001);
        assert!(
            (200 * 1024..=30_000 * 8).contains(&released),
            "released {released} bytes"
        );
        // Nothing held is lost, and released slots take new events.
        assert_eq!(ring.oldest(), 30_001);
        assert_eq!(ring.read(30_001).unwrap().seq, 30_001);
        assert_eq!(ring.read(40_000).unwrap().seq, 40_000);
        assert_eq!(writer.trim_before(30_001), 0, "nothing more to give back");
        for seq in 40_001..=(1 << 16) + 40_000 {
            writer.push(event(seq));
        }
        let head = ring.head();
        assert_eq!(ring.oldest(), head + 1 - (1 << 16));
        for seq in [ring.oldest(), 66_000, head] {
            assert_eq!(ring.read(seq).unwrap().seq, seq, "after the wrap");
        }
        // Small trims add up: the page of the first trimmed slot goes once the rest of it goes.
        let mut total = 0;
        let oldest = ring.oldest();
        for step in 1..=200 {
            total += writer.trim_before(oldest + step * 100);
        }
        assert!(
            total >= 150 * 1024,
            "released {total} bytes over 200 trims of 100 slots"
        );
        assert_eq!(ring.read(oldest + 20_000).unwrap().seq, oldest + 20_000);
    }

    #[test]
    fn readers_racing_a_trimming_writer_never_see_a_wrong_event() {
        let (ring, mut writer) = Ring::with_writer(1024, 1);
        let total = 50_000u64;
        let readers = follow(&ring, total, 2);
        for seq in 1..=total {
            writer.push(event(seq));
            // Keep only the last 8 events: far fewer than the capacity.
            writer.trim_before(seq.saturating_sub(7));
            assert!(ring.head() + 1 - ring.oldest() <= 8);
        }
        for reader in readers {
            reader.join().unwrap();
        }
    }

    #[test]
    fn capacity_rounds_up() {
        assert_eq!(Ring::with_writer(1000, 1).0.capacity(), 1024);
    }

    #[test]
    fn concurrent_readers_see_consecutive_events_or_lag() {
        let (ring, mut writer) = Ring::with_writer(64, 1);
        let total = 20_000u64;
        let readers = follow(&ring, total, 2);
        for seq in 1..=total {
            writer.push(event(seq));
        }
        for reader in readers {
            reader.join().unwrap();
        }
    }

    #[test]
    fn every_reference_is_released_exactly_once() {
        // Each event's strong count: 1 held here, +1 while a slot holds it, +1 per reader copy.
        let events: Vec<Arc<Event>> = (1..=40).map(event).collect();
        let (ring, mut writer) = Ring::with_writer(8, 1);
        let mut copies = Vec::new();
        {
            let reader = ring.reader();
            for e in &events {
                writer.push(e.clone());
                copies.push(reader.read(e.seq).unwrap());
            }
            assert_eq!(
                reader.read(1).unwrap_err(),
                ReadError::Lagged { oldest: 33 }
            );
        }
        for e in &events[32..] {
            assert_eq!(Arc::strong_count(e), 3, "held, slot, copy");
        }
        drop(copies);
        drop(writer);
        drop(ring);
        // Overwritten events are released by the epoch collector: give it a bounded chance.
        for _ in 0..10_000 {
            if events.iter().all(|e| Arc::strong_count(e) == 1) {
                break;
            }
            epoch::pin().flush();
        }
        for e in &events {
            assert_eq!(
                Arc::strong_count(e),
                1,
                "event {} leaked a reference",
                e.seq
            );
        }
    }
}
