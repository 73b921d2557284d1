//! The ring: the last `capacity` sequenced events, readable by every shard without locks.
//!
//! Place in the flow: the sequencer thread is the only writer ([`Ring::push`]); every shard's
//! dispatcher and every resuming subscriber read it ([`Ring::read`]) from their own thread.
//!
//! Invariants and orderings:
//! - Sequence numbers are consecutive: the event pushed after `s` is `s + 1`. Slot `s & mask`
//!   holds event `s` until event `s + capacity` replaces it.
//! - The writer stores the slot first, then publishes the new head with `Release`; a reader loads
//!   the head with `Acquire` ([`Ring::head`]), so every slot up to that head is visible to it.
//! - A reader that asks for a sequence the writer has already overwritten gets
//!   [`ReadError::Lagged`] (it fell behind by more than the capacity) and must resynchronise;
//!   it never receives a wrong event.
//!
//! Slots are `crossbeam::epoch::Atomic` pointers to an `Arc<Event>`: a reader, pinned to the
//! current epoch, loads the pointer and clones the `Arc` (so it keeps the event as long as it
//! wants); the writer swaps a new node in and hands the old one to the epoch collector, which
//! frees it once no pinned reader can still see it. This is the module's only `unsafe`, and it
//! is here because it measured better: the first version used `arc_swap::ArcSwapOption` slots
//! (no `unsafe`), whose store waits on readers' debts: with two reader threads it managed about
//! 0.3 M events/s against 1 M/s for a crossbeam `ArrayQueue` per reader (`benches/ring.rs`,
//! BENCHMARKS.md). Loom cannot model crossbeam-epoch and Miri needs a nightly toolchain we do
//! not have; the concurrent reader tests below and the integration suite exercise it.
//! Must never block, lock or allocate on the read path.

use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};

use crossbeam::epoch::{self, Atomic, Owned};
use crossbeam_utils::CachePadded;

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
    /// The encoded frames, see [`crate::shard::frame`].
    pub frame: crate::shard::frame::Frame,
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

/// A single-writer, many-reader ring of recent events.
pub struct Ring {
    slots: Box<[Atomic<Arc<Event>>]>,
    mask: u64,
    /// Sequence of the first event ever pushed.
    first: Seq,
    /// Last published sequence; `first - 1` while empty.
    head: CachePadded<AtomicU64>,
}

impl Ring {
    /// A ring holding at least `capacity` events (rounded up to a power of two), whose first event
    /// will have sequence `first` (must be >= 1).
    pub fn new(capacity: usize, first: Seq) -> Self {
        let capacity = capacity.max(2).next_power_of_two();
        let first = first.max(1);
        let slots = (0..capacity).map(|_| Atomic::null()).collect();
        Self {
            slots,
            mask: capacity as u64 - 1,
            first,
            head: CachePadded::new(AtomicU64::new(first - 1)),
        }
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
            .max(self.first)
    }

    /// Publishes `event`. Only the sequencer calls this, from one thread; `event.seq` must be
    /// [`Ring::next_seq`].
    pub fn push(&self, event: Arc<Event>) {
        let seq = event.seq;
        debug_assert_eq!(seq, self.next_seq(), "ring sequences must be consecutive");
        let guard = epoch::pin();
        let old = self.slots[(seq & self.mask) as usize].swap(
            Owned::new(event),
            Ordering::AcqRel,
            &guard,
        );
        if !old.is_null() {
            // SAFETY: `old` was unlinked from its slot by the swap above, and only the single
            // writer swaps, so no one else can retire it; readers that loaded it are pinned, and
            // the collector frees it only after every such pin is released.
            unsafe { guard.defer_destroy(old) };
        }
        self.head.store(seq, Ordering::Release);
    }

    /// The event with sequence `seq`, if still held.
    pub fn read(&self, seq: Seq) -> Result<Arc<Event>, ReadError> {
        let head = self.head();
        if seq > head {
            return Err(ReadError::NotYet);
        }
        if seq < self.first {
            return Err(ReadError::Lagged {
                oldest: self.oldest(),
            });
        }
        let guard = epoch::pin();
        let shared = self.slots[(seq & self.mask) as usize].load(Ordering::Acquire, &guard);
        // SAFETY: the pointer was loaded while pinned, so the node it points to (if any) cannot
        // be freed before `guard` is dropped; we only clone the `Arc` out of it.
        let found = unsafe { shared.as_ref() }.cloned();
        drop(guard);
        match found {
            Some(event) if event.seq == seq => Ok(event),
            // Overwritten by a newer lap. The writer may not have published that newer head
            // yet (slot first, head second), so derive the oldest held from the event itself.
            Some(newer) if newer.seq > seq => Err(ReadError::Lagged {
                oldest: self
                    .oldest()
                    .max((newer.seq + 1).saturating_sub(self.slots.len() as u64)),
            }),
            // Unreachable given the store/publish order; answering "lagged" is the safe side.
            _ => Err(ReadError::Lagged {
                oldest: self.oldest().max(seq + 1),
            }),
        }
    }
}

impl Drop for Ring {
    fn drop(&mut self) {
        for slot in self.slots.iter() {
            // SAFETY: `&mut self`: no reader or writer can reach the slots any more, so taking
            // each node back without a pin cannot race with anything.
            unsafe {
                let node = slot.load(Ordering::Relaxed, epoch::unprotected());
                if !node.is_null() {
                    drop(node.into_owned());
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::shard::frame::Frame;
    use crate::tick::{Decimal, Symbol, Tick, TickKind};

    fn event(seq: Seq) -> Arc<Event> {
        let tick = Tick {
            symbol: Symbol::new("A").unwrap(),
            kind: TickKind::Trade,
            px: Decimal::new(100, 0),
            qty: None,
            bid: None,
            bid_qty: None,
            ask: None,
            ask_qty: None,
            ts: 1,
            rx: 2,
        };
        Arc::new(Event {
            seq,
            symbol_id: SymbolId(0),
            n: seq,
            rx: tick.rx,
            frame: Frame::encode(seq, seq, &tick),
        })
    }

    #[test]
    fn reads_what_was_pushed_and_detects_lag() {
        let ring = Ring::new(4, 10);
        assert_eq!(ring.head(), 9);
        assert_eq!(ring.read(10).unwrap_err(), ReadError::NotYet);
        for seq in 10..=13 {
            ring.push(event(seq));
        }
        assert_eq!(ring.read(10).unwrap().seq, 10);
        assert_eq!(ring.read(13).unwrap().seq, 13);
        ring.push(event(14));
        assert_eq!(ring.oldest(), 11);
        assert_eq!(ring.read(10).unwrap_err(), ReadError::Lagged { oldest: 11 });
        assert_eq!(ring.read(9).unwrap_err(), ReadError::Lagged { oldest: 11 });
        assert_eq!(ring.read(14).unwrap().seq, 14);
        assert_eq!(ring.read(15).unwrap_err(), ReadError::NotYet);
    }

    #[test]
    fn capacity_rounds_up() {
        assert_eq!(Ring::new(1000, 1).capacity(), 1024);
    }

    #[test]
    fn concurrent_readers_see_consecutive_events_or_lag() {
        let ring = Arc::new(Ring::new(64, 1));
        let total = 20_000u64;
        let readers: Vec<_> = (0..2)
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
            .collect();
        for seq in 1..=total {
            ring.push(event(seq));
        }
        for reader in readers {
            reader.join().unwrap();
        }
    }
}
