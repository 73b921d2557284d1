//! The delayed tier: a stream that gets every tick `delay` after it was received, from the ring,
//! in sequence order, with the same ids as everyone else; its snapshot is the price as of
//! `now - delay`.
//!
//! Place in the flow: a delayed subscriber is never in the shard's live index (the dispatcher
//! does not see it). Each time its stream asks for data, [`read_due`] reads the ring from its
//! next sequence and queues the events whose receive time is at least `delay` old, stopping at
//! the first one that is not (so order is kept even if receive times are not quite monotone:
//! a tick may then wait a little longer, never less). The shard's housekeeping wakes delayed
//! streams every [`DELAYED_WAKE_EVERY`] while it has any (the first delayed stream of an idle
//! shard may wait up to a second more for its first wake-up).
//!
//! What the ring must hold: everything received in the last `delay` plus the reconnect slack,
//! i.e. `--resume-window` (and `--ring-capacity` at the tick rate) at least the longest
//! `delay_s` issued. If it holds less, a delayed stream waits for ticks to become due instead of
//! being served early (a delayed token never sees a price before its time), its snapshot omits
//! symbols whose as-of price has left the ring, and a read that finds its next event gone ends
//! the stream (the client resumes and gets a `reset`).
//! Must never send an event before `rx + delay`, never reorder, never touch the live index.

use std::sync::Arc;
use std::time::Duration;

use super::MAX_BATCH_CHUNKS;
use super::subscriber::Subscriber;
use crate::cache::Universe;
use crate::ring::{Event, Ring};
use crate::tick::{Seq, SymbolId};

/// How often the shard wakes its delayed streams: the tier's delivery granularity.
pub const DELAYED_WAKE_EVERY: Duration = Duration::from_millis(100);
/// Ring entries scanned per read (bounds the work of one poll, as for a resume).
pub const SCAN_PER_READ: u64 = 16_384;
/// Ring entries scanned back from the cut to find the as-of prices of a delayed snapshot.
/// Symbols not found within it come from the cache when the cached price is older than the
/// cut; otherwise they are left out of the snapshot and arrive with their first due tick.
const SNAPSHOT_SCAN: u64 = 1 << 20;

/// The newest sequence received at or before `as_of` (ns, the clock of `rx`); `oldest - 1` when
/// the ring holds nothing that old. Binary search: receive times follow sequence order (the
/// sequencer numbers ticks in arrival order); where they do not, the result errs towards older.
pub fn cut(ring: &Ring, as_of: u64) -> Seq {
    let (mut lo, mut hi) = (ring.oldest(), ring.head());
    let reader = ring.reader();
    let mut found = lo.saturating_sub(1);
    while lo <= hi {
        let mid = lo + (hi - lo) / 2;
        match reader.read(mid) {
            Ok(event) if event.rx <= as_of => {
                found = mid;
                lo = mid + 1;
            }
            Ok(_) => {
                if mid == 0 {
                    break;
                }
                hi = mid - 1;
            }
            // Trimmed meanwhile: what is left is newer.
            Err(_) => lo = mid + 1,
        }
    }
    found
}

/// Each wanted symbol's newest event at or before sequence `cut`, by symbol index (`None`: no
/// price as of then is known). `wanted` says which symbol ids to look for.
pub fn as_of(
    ring: &Ring,
    universe: &Universe,
    cut: Seq,
    mut wanted: impl FnMut(SymbolId) -> bool,
) -> Vec<Option<Arc<Event>>> {
    let want: Vec<bool> = (0..universe.len())
        .map(|i| wanted(SymbolId(i as u32)))
        .collect();
    let mut latest: Vec<Option<Arc<Event>>> = vec![None; universe.len()];
    let mut missing = want.iter().filter(|w| **w).count();
    let stop = ring.oldest().max(cut.saturating_sub(SNAPSHOT_SCAN));
    let reader = ring.reader();
    let mut seq = cut;
    while missing > 0 && seq >= stop && seq > 0 {
        if let Ok(event) = reader.read(seq) {
            let index = event.symbol_id.index();
            if want.get(index) == Some(&true) && latest[index].is_none() {
                latest[index] = Some(event);
                missing -= 1;
            }
        }
        seq -= 1;
    }
    drop(reader);
    // Not found in the scanned stretch: the cached price is the as-of price if it is older.
    for (i, slot) in latest.iter_mut().enumerate() {
        if slot.is_none() && want[i] {
            *slot = universe.latest(SymbolId(i as u32)).filter(|e| e.seq <= cut);
        }
    }
    latest
}

/// Queues the snapshot of `sub`'s symbols as of sequence `cut`, in sequence order; sets
/// `covered` to the cut.
pub fn push_snapshot(sub: &mut Subscriber, ring: &Ring, universe: &Universe, cut: Seq) {
    let latest = as_of(ring, universe, cut, |id| sub.filter.matches(id, universe));
    let mut events: Vec<Arc<Event>> = latest.into_iter().flatten().collect();
    events.sort_unstable_by_key(|e| e.seq);
    for event in events {
        sub.push_prelude(event.frame.snapshot_head(), 0);
        sub.push_prelude(event.frame.data(), 1);
    }
    sub.covered = cut;
}

/// What [`read_due`] found.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Read {
    /// Read up to (not including) this sequence; more may become due later.
    Upto(Seq),
    /// The next event left the ring before it was due: the stream cannot go on without a gap.
    Gone,
}

/// Queues the events of `sub`'s symbols from `next` that are due at `now` (ns): at most
/// [`MAX_BATCH_CHUNKS`] of them, scanning at most [`SCAN_PER_READ`] entries.
pub fn read_due(
    sub: &mut Subscriber,
    ring: &Ring,
    universe: &Universe,
    mut next: Seq,
    now: u64,
) -> Read {
    let head = ring.head();
    let due_before = now.saturating_sub(sub.delay_ns);
    let scan_end = head.min(next + SCAN_PER_READ - 1);
    let reader = ring.reader();
    let mut found = 0;
    while next <= scan_end && found < MAX_BATCH_CHUNKS {
        match reader.read(next) {
            Ok(event) => {
                if event.rx > due_before {
                    break;
                }
                if sub.filter.matches(event.symbol_id, universe) {
                    sub.push_prelude(event.frame.tick(), 1);
                    found += 1;
                }
                sub.covered = next;
                next += 1;
            }
            Err(_) => return Read::Gone,
        }
    }
    Read::Upto(next)
}
