//! [`ArcSlot`]: an atomic `Option<Arc<T>>` whose writer never waits and whose readers never
//! lock: the ring's slots.
//!
//! A slot holds a pointer from `Arc::into_raw`, owning one strong reference. A reader, pinned to
//! the current crossbeam epoch, loads the pointer and takes its own reference
//! (`Arc::increment_strong_count`). Slots come in a [`Slots`] array with exactly one writer
//! ([`SlotWriter`], made once, not `Clone`, storing through `&mut self`): the ring's. Because
//! only it stores, a store is a plain load and store (no atomic swap), and the old pointer it
//! unlinks is its own to release, exactly once: replaced pointers are gathered and handed to the
//! epoch collector in one deferred closure per batch, which runs once no reader pinned before
//! the hand-over can still be looking at them (single-thread ring bench: 0.79x of `ArrayQueue`
//! with a swap and one closure per value, 0.90x now, in its harder steady-state form;
//! BENCHMARKS.md).
//!
//! Why hand-written: the crates that do this cost more where it matters here.
//! - `arc_swap::ArcSwapOption` (the ring's first version): a store pays the outstanding debts of
//!   readers. In `benches/ring.rs` the ring managed 0.3 M events/s with two reader threads
//!   against 1 M/s for crossbeam queues.
//! - `crossbeam::epoch::Atomic<Arc<T>>` (the second version): a heap node around the `Arc` per
//!   store, so one more allocation, free and pointer chase per event.
//!
//! [`SlotWriter::release_empty`] gives the memory pages of wholly empty slots back to the kernel
//! (`madvise(MADV_DONTNEED)`, Linux): the ring trimmed to its resume window holds a small part of
//! its slot array, and without this every page it ever touched stayed resident (the slow RSS
//! growth of S5, 8 bytes per tick until the whole 64 MiB array of an 8M-slot ring was touched).
//!
//! This module is the crate's only `unsafe`. Loom cannot model crossbeam-epoch and Miri needs a
//! nightly toolchain we do not have; the tests below count references under concurrent readers
//! and writers, and the ring's and cache's own tests and the integration suite use it.
//! Must never block, lock or allocate on the read path.

use std::marker::PhantomData;
use std::sync::Arc;
use std::sync::atomic::{AtomicPtr, Ordering};

use crossbeam::epoch::{self, Guard};

/// An atomically replaceable `Option<Arc<T>>`, see the module doc.
///
/// `Send` and `Sync` exactly when `Arc<T>` is (the `PhantomData` carries that). Transparent over
/// the pointer, so all-zero memory is an empty slot ([`ArcSlot::empty_slice`] relies on it).
#[repr(transparent)]
pub struct ArcSlot<T> {
    /// Null, or a pointer from `Arc::into_raw` owning one strong reference.
    ptr: AtomicPtr<T>,
    _owns: PhantomData<Arc<T>>,
}

impl<T: Send + Sync + 'static> ArcSlot<T> {
    /// `len` empty slots, from zeroed memory: the pages are the kernel's fresh zero pages, not
    /// written until a slot is first stored, so a ring of 8M slots (64 MB) costs no start-up
    /// time and no resident memory until it fills (filling it slot by slot took 70-560 ms and
    /// 64 MB of RSS at start-up, and tens of seconds on a starved CPU).
    pub fn empty_slice(len: usize) -> Box<[Self]> {
        let Ok(layout) = std::alloc::Layout::array::<Self>(len) else {
            panic!("{len} slots do not fit in memory");
        };
        if layout.size() == 0 {
            return Box::new([]);
        }
        // SAFETY: the layout has a non-zero size (checked above).
        let raw = unsafe { std::alloc::alloc_zeroed(layout) }.cast::<Self>();
        if raw.is_null() {
            std::alloc::handle_alloc_error(layout);
        }
        // SAFETY: `raw` is a fresh, zeroed allocation of exactly `len` `Self`s with the global
        // allocator and `Self`'s layout, which is what `Box<[Self]>` frees with. `Self` is
        // `repr(transparent)` over an `AtomicPtr<T>` (plus a zero-sized marker), whose all-zero
        // bit pattern is a null pointer: every element is a valid empty slot.
        unsafe { Box::from_raw(std::ptr::slice_from_raw_parts_mut(raw, len)) }
    }

    /// The current value, with a reference of its own (usable after `guard` is gone).
    pub fn load(&self, _pinned: &Guard) -> Option<Arc<T>> {
        let raw = self.ptr.load(Ordering::Acquire);
        if raw.is_null() {
            return None;
        }
        // SAFETY: a non-null pointer came from `Arc::into_raw`, and its reference is released
        // only by the collector after a writer unlinked it; we loaded it while pinned (`_pinned`),
        // so that release cannot have run yet: the strong count is at least one, and taking one
        // more reference is sound.
        Some(unsafe {
            Arc::increment_strong_count(raw);
            Arc::from_raw(raw)
        })
    }

    /// Replaces the value of a slot with one writer: a plain load and store, not an atomic
    /// swap, and the old value goes to `retired`, handed to the epoch collector later in bulk,
    /// not one deferred closure per value (`benches/ring.rs` measures the difference).
    ///
    /// # Safety
    /// No other thread may store into this slot during the call, and every earlier store must
    /// happen-before it ([`SlotWriter`] guarantees both: it is the only way to call this).
    /// Loads by other threads are fine.
    unsafe fn store_unshared(&self, value: Option<Arc<T>>, retired: &mut Retirements<T>) {
        let new = value.map_or(std::ptr::null_mut(), |v| Arc::into_raw(v).cast_mut());
        // Only this thread stores (the caller's contract), so this load sees the last store.
        let old = self.ptr.load(Ordering::Relaxed);
        self.ptr.store(new, Ordering::Release);
        if !old.is_null() {
            retired.list.push(Retired(old));
        }
    }

    /// [`ArcSlot::load`] with a pin of its own.
    pub fn get(&self) -> Option<Arc<T>> {
        self.load(&epoch::pin())
    }
}

impl<T> Drop for ArcSlot<T> {
    fn drop(&mut self) {
        let raw = *self.ptr.get_mut();
        if !raw.is_null() {
            // SAFETY: `&mut self`: no reader or writer can reach the slot any more, and a
            // non-null pointer owns one strong reference from `Arc::into_raw`.
            drop(unsafe { Arc::from_raw(raw) });
        }
    }
}

/// A fixed array of slots with exactly one writer ([`Slots::with_writer`]); anyone may load.
pub struct Slots<T: Send + Sync + 'static> {
    slots: Box<[ArcSlot<T>]>,
}

impl<T: Send + Sync + 'static> Slots<T> {
    /// `len` empty slots (zeroed memory, see [`ArcSlot::empty_slice`]) and their one writer.
    pub fn with_writer(len: usize) -> (Arc<Self>, SlotWriter<T>) {
        let slots = Arc::new(Self {
            slots: ArcSlot::empty_slice(len),
        });
        let writer = SlotWriter {
            slots: slots.clone(),
            retired: Retirements::new(),
        };
        (slots, writer)
    }

    /// Number of slots.
    pub fn len(&self) -> usize {
        self.slots.len()
    }

    /// True when there are none.
    pub fn is_empty(&self) -> bool {
        self.slots.is_empty()
    }

    /// Slot `index`, to load from.
    pub fn slot(&self, index: usize) -> &ArcSlot<T> {
        &self.slots[index]
    }

    /// Index of the first slot on the memory page that holds slot `index`.
    pub fn page_start(&self, index: usize) -> usize {
        let size = std::mem::size_of::<ArcSlot<T>>();
        let addr = self.slots.as_ptr() as usize + index * size;
        index.saturating_sub((addr % page_size()) / size)
    }
}

/// The size of a memory page.
pub(crate) fn page_size() -> usize {
    static PAGE: std::sync::OnceLock<usize> = std::sync::OnceLock::new();
    *PAGE.get_or_init(|| {
        // SAFETY: `sysconf` only reads a system constant; it has no preconditions.
        let page = unsafe { libc::sysconf(libc::_SC_PAGESIZE) };
        usize::try_from(page)
            .ok()
            .filter(|p| *p > 0)
            .unwrap_or(4096)
    })
}

/// The one writer of a [`Slots`]: not `Clone`, and it stores through `&mut self`, so its stores
/// never overlap; that is what lets a store be a plain load and store (`ArcSlot::store_unshared`).
/// Replaced values are handed to the epoch collector in bulk ([`SlotWriter::flush`], and on drop).
pub struct SlotWriter<T: Send + Sync + 'static> {
    slots: Arc<Slots<T>>,
    retired: Retirements<T>,
}

impl<T: Send + Sync + 'static> SlotWriter<T> {
    /// Replaces the value of slot `index`; the old value waits for the next flush.
    pub fn store(&mut self, index: usize, value: Option<Arc<T>>) {
        // SAFETY: this is the only writer of these slots (`with_writer` makes exactly one, and
        // it is not `Clone`); `&mut self` keeps its calls from overlapping; a writer that moved
        // to another thread got there through a happens-before edge, so every earlier store
        // (its own, or the zeroed start) happens-before this one.
        unsafe {
            self.slots.slots[index].store_unshared(value, &mut self.retired);
        }
    }

    /// Gives the kernel back the memory pages that lie wholly inside slots `range` and whose
    /// slots are all empty, so a ring whose recent events fill a small part of it does not keep
    /// every page it ever touched resident (8 bytes per slot: 64 MiB for 8M slots). A page
    /// read after that is zero, which is an empty slot: nothing changes for readers; the next
    /// store faults in a fresh page. Linux only (elsewhere `MADV_DONTNEED` need not zero the
    /// page); does nothing for ranges without a whole page. Returns the number of bytes given
    /// back.
    pub fn release_empty(&mut self, range: std::ops::Range<usize>) -> usize {
        let slots = &self.slots.slots[range];
        let size = std::mem::size_of::<ArcSlot<T>>();
        let page = page_size();
        let base = slots.as_ptr() as usize;
        let start = base.next_multiple_of(page);
        let end = (base + std::mem::size_of_val(slots)) / page * page;
        if !cfg!(target_os = "linux") || end <= start {
            return 0;
        }
        // Page by page, consecutive empty pages in one call. Only this writer stores into these
        // slots (`&mut self`), so none can fill up between the check and the release.
        let per_page = page / size;
        let first = (start - base) / size;
        let pages = (end - start) / page;
        let empty = |p: usize| {
            slots[first + p * per_page..first + (p + 1) * per_page]
                .iter()
                .all(|slot| slot.ptr.load(Ordering::Relaxed).is_null())
        };
        let mut released = 0;
        let mut p = 0;
        while p < pages {
            if !empty(p) {
                p += 1;
                continue;
            }
            let run = p;
            while p < pages && empty(p) {
                p += 1;
            }
            let (from, len) = (start + run * page, (p - run) * page);
            #[cfg(target_os = "linux")]
            // SAFETY: `[from, from + len)` is page aligned and lies inside this writer's own
            // live allocation (the slots); every slot in it is empty (checked just above, and no
            // other thread stores into them), i.e. all zero bytes, which is what Linux's
            // `MADV_DONTNEED` makes a private anonymous page read as afterwards. The values do
            // not change, so no load, by any thread, before or after, can observe a difference,
            // and no pointer is invalidated.
            let done =
                unsafe { libc::madvise(from as *mut libc::c_void, len, libc::MADV_DONTNEED) };
            #[cfg(not(target_os = "linux"))]
            let done = -1;
            if done == 0 {
                released += len;
            }
        }
        released
    }

    /// Replaced values not yet handed to the collector.
    pub fn retired(&self) -> usize {
        self.retired.len()
    }

    /// Hands the replaced values to the epoch collector.
    pub fn flush(&mut self) {
        self.retired.flush(&epoch::pin());
    }
}

/// A slot's reference, unlinked by a writer and released by the epoch collector.
struct Retired<T>(*mut T);

/// References unlinked by [`ArcSlot::store_unshared`], handed to the epoch collector together
/// ([`Retirements::flush`], and on drop): one deferred closure per batch instead of per value.
/// The only way out of here is through the collector, so nothing is released while a pinned
/// reader may still be loading it.
struct Retirements<T: Send + Sync + 'static> {
    list: Vec<Retired<T>>,
}

impl<T: Send + Sync + 'static> Retirements<T> {
    /// None yet.
    fn new() -> Self {
        Self { list: Vec::new() }
    }

    /// References waiting to be handed over.
    fn len(&self) -> usize {
        self.list.len()
    }

    /// Hands every waiting reference to the epoch collector, which releases them once no
    /// reader pinned before this call can still be loading them.
    fn flush(&mut self, guard: &Guard) {
        if self.list.is_empty() {
            return;
        }
        let batch = std::mem::take(&mut self.list);
        // SAFETY: every pointer in `batch` came from `Arc::into_raw` and was unlinked from its
        // slot by `store_unshared` before this call (so only readers pinned before now can have
        // loaded it); the collector runs the closure after all of them unpinned, and it runs
        // once, so each reference is released exactly once. `guard` cannot be `unprotected()`
        // (obtaining that is itself `unsafe`).
        unsafe {
            guard.defer_unchecked(move || {
                for retired in batch {
                    retired.release();
                }
            });
        }
    }
}

impl<T: Send + Sync + 'static> Drop for Retirements<T> {
    fn drop(&mut self) {
        self.flush(&epoch::pin());
    }
}

// SAFETY: the pointer stands for one strong reference of an `Arc<T>` with `T: Send + Sync`, so
// moving it to the collector's thread and releasing it there is what sending and dropping an
// `Arc<T>` would be.
unsafe impl<T: Send + Sync> Send for Retired<T> {}

impl<T> Retired<T> {
    fn release(self) {
        // SAFETY: see `Retirements::flush`: the pointer came from `Arc::into_raw`, no slot holds it,
        // no reader can still reach it, and this runs once.
        drop(unsafe { Arc::from_raw(self.0) });
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Lets the epoch collector run deferred releases, a bounded number of times.
    fn settle(done: impl Fn() -> bool) {
        for _ in 0..10_000 {
            if done() {
                return;
            }
            epoch::pin().flush();
        }
    }

    #[test]
    fn store_load_and_release() {
        let a = Arc::new(1u64);
        let b = Arc::new(2u64);
        let (slots, mut writer) = Slots::<u64>::with_writer(1);
        let slot = slots.slot(0);
        assert_eq!(slot.get(), None);
        writer.store(0, Some(a.clone()));
        let loaded = slot.get().unwrap();
        assert!(Arc::ptr_eq(&loaded, &a));
        assert_eq!(Arc::strong_count(&a), 3, "held, slot, loaded");
        drop(loaded);
        writer.store(0, Some(b.clone()));
        writer.flush();
        settle(|| Arc::strong_count(&a) == 1);
        assert_eq!(Arc::strong_count(&a), 1, "the replaced value is released");
        writer.store(0, None);
        writer.flush();
        assert_eq!(slot.get(), None);
        settle(|| Arc::strong_count(&b) == 1);
        assert_eq!(Arc::strong_count(&b), 1);
        writer.store(0, Some(b.clone()));
        drop(writer);
        drop(slots);
        assert_eq!(
            Arc::strong_count(&b),
            1,
            "dropping the slot releases its value"
        );
    }

    #[test]
    fn zeroed_slots_are_empty_and_usable() {
        let (slots, mut writer) = Slots::<u64>::with_writer(1000);
        assert_eq!(slots.len(), 1000);
        assert!((0..1000).all(|i| slots.slot(i).get().is_none()));
        let v = Arc::new(5u64);
        writer.store(999, Some(v.clone()));
        assert_eq!(slots.slot(999).get().as_deref(), Some(&5));
        drop(writer);
        drop(slots);
        assert_eq!(
            Arc::strong_count(&v),
            1,
            "dropping the slice releases stored values"
        );
        assert!(ArcSlot::<u64>::empty_slice(0).is_empty());
    }

    #[test]
    fn the_single_writer_releases_every_replaced_value_once() {
        // Slots of (generation, generation * 7); readers check every value they load is whole
        // and never older than one they saw before; the writer replaces values far more often
        // than it hands them to the collector (every 256), so releases are batched; at the end
        // every reference is back, including those still waiting when the writer is dropped.
        let values: Vec<Arc<(u64, u64)>> = (0..20_000u64).map(|g| Arc::new((g, g * 7))).collect();
        let (slots, mut writer) = Slots::<(u64, u64)>::with_writer(4);
        let readers: Vec<_> = (0..2)
            .map(|_| {
                let slots = slots.clone();
                std::thread::spawn(move || {
                    let mut last = [0u64; 4];
                    let mut seen = 0u64;
                    while last[3] < 19_999 {
                        let guard = epoch::pin();
                        for (i, last) in last.iter_mut().enumerate() {
                            if let Some(v) = slots.slot(i).load(&guard) {
                                assert_eq!(v.1, v.0 * 7);
                                assert!(v.0 >= *last, "went back from {last} to {}", v.0);
                                *last = v.0;
                                seen += 1;
                            }
                        }
                    }
                    seen
                })
            })
            .collect();
        for (g, v) in values.iter().enumerate() {
            writer.store(g % 4, Some(v.clone()));
            if writer.retired() >= 256 {
                writer.flush();
            }
        }
        for reader in readers {
            assert!(reader.join().unwrap() > 0);
        }
        assert!(
            writer.retired() > 0,
            "some replaced values still wait for a flush"
        );
        drop(writer);
        drop(slots);
        settle(|| values.iter().all(|v| Arc::strong_count(v) == 1));
        for v in &values {
            assert_eq!(Arc::strong_count(v), 1, "value {} leaked a reference", v.0);
        }
    }

    #[test]
    fn only_wholly_empty_pages_are_given_back() {
        let (slots, mut writer) = Slots::<u64>::with_writer(8192);
        let kept = Arc::new(7u64);
        writer.store(1000, Some(kept.clone()));
        let released = writer.release_empty(0..8192);
        let page = page_size();
        // Every whole page but the one holding slot 1000 (and the partial pages at the ends).
        assert!(released > 0 && released % page == 0, "{released}");
        assert!(released <= 8192 * 8 - page, "{released}");
        assert_eq!(
            slots.slot(1000).get().as_deref(),
            Some(&7),
            "the held value survives"
        );
        assert!(
            (0..8192)
                .filter(|i| *i != 1000)
                .all(|i| slots.slot(i).get().is_none())
        );
        // Released slots are ordinary empty slots again.
        writer.store(5000, Some(Arc::new(9)));
        assert_eq!(slots.slot(5000).get().as_deref(), Some(&9));
        assert_eq!(writer.release_empty(10..20), 0, "no whole page in 80 bytes");
        let start = slots.page_start(1000);
        assert!(start <= 1000 && 1000 - start < page / 8);
        drop(writer);
        drop(slots);
        settle(|| Arc::strong_count(&kept) == 1);
        assert_eq!(Arc::strong_count(&kept), 1);
    }

    #[test]
    fn concurrent_readers_never_see_a_released_value() {
        // Values are (generation, generation * 7); a reader checks each one it loads is whole
        // and that generations never go backwards; at the end every reference is back.
        let values: Vec<Arc<(u64, u64)>> = (0..5_000u64).map(|g| Arc::new((g, g * 7))).collect();
        let (slots, mut writer) = Slots::<(u64, u64)>::with_writer(1);
        let readers: Vec<_> = (0..2)
            .map(|_| {
                let slots = slots.clone();
                std::thread::spawn(move || {
                    let mut last = 0;
                    let mut seen = 0u64;
                    while last < 4_999 {
                        if let Some(v) = slots.slot(0).get() {
                            assert_eq!(v.1, v.0 * 7);
                            assert!(v.0 >= last, "went back from {last} to {}", v.0);
                            last = v.0;
                            seen += 1;
                        }
                    }
                    seen
                })
            })
            .collect();
        for chunk in values.chunks(64) {
            for v in chunk {
                writer.store(0, Some(v.clone()));
            }
            writer.flush();
        }
        for reader in readers {
            assert!(reader.join().unwrap() > 0);
        }
        drop(writer);
        drop(slots);
        settle(|| values.iter().all(|v| Arc::strong_count(v) == 1));
        for v in &values {
            assert_eq!(Arc::strong_count(v), 1, "value {} leaked a reference", v.0);
        }
    }
}
