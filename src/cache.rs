//! The latest-price cache and the symbol universe, published through `arc-swap`.
//!
//! Place in the flow: the sequencer thread is the only writer: it interns new symbols
//! ([`LatestPrices::intern`]) and stores each symbol's newest event ([`LatestPrices::publish`])
//! at the end of each batch it pushed to the ring, and at least every half ring: the cache may
//! trail the ring by one batch, but always reflects every event the ring has overwritten.
//! Any thread reads without locks: HTTP handlers for `/v1/snapshot`, `/v1/symbols` and
//! subscription checks, shards when they resynchronise.
//!
//! Invariants: a [`Universe`] is immutable once published; adding a symbol publishes a new one
//! that shares every existing slot (`Arc<ArcSwapOption<Event>>`), so a price stored through any
//! version is visible through all.
//! Cost: an arc-swap store pays the debts of readers holding the old value, so it is the slow
//! side (`benches/cache.rs`, with a reader thread hammering: a few hundred ns per store). The
//! sequencer therefore stores once per symbol per batch, not per tick. The ring's
//! [`crate::slot::ArcSlot`] would make stores cheaper; arc-swap stays here by design choice.
//! Symbol ids are dense and never reused. The universe is published before the first event of
//! a new symbol enters the ring, so a reader that sees an event always finds its symbol.
//! Must never block readers, and never be written by anyone but the sequencer.

use std::collections::HashMap;
use std::sync::Arc;

use arc_swap::{ArcSwap, ArcSwapOption};

use crate::ring::Event;
use crate::tick::{Symbol, SymbolId};

/// Every symbol known so far, with its latest event.
#[derive(Default)]
pub struct Universe {
    names: Vec<Symbol>,
    index: HashMap<Symbol, SymbolId>,
    slots: Vec<Arc<ArcSwapOption<Event>>>,
}

impl Universe {
    /// Id of a known symbol.
    pub fn id(&self, symbol: &Symbol) -> Option<SymbolId> {
        self.index.get(symbol).copied()
    }

    /// Name of a symbol id.
    pub fn name(&self, id: SymbolId) -> Option<Symbol> {
        self.names.get(id.index()).copied()
    }

    /// All known symbols, in id order.
    pub fn names(&self) -> &[Symbol] {
        &self.names
    }

    /// Number of known symbols.
    pub fn len(&self) -> usize {
        self.names.len()
    }

    /// True when no symbol is known.
    pub fn is_empty(&self) -> bool {
        self.names.is_empty()
    }

    /// The newest event of a symbol, if it has one.
    pub fn latest(&self, id: SymbolId) -> Option<Arc<Event>> {
        self.slots.get(id.index()).and_then(|slot| slot.load_full())
    }
}

/// Whether clients (and feeds) may use symbols nobody declared up front.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum UniverseKind {
    /// Only the declared symbols exist (synthetic market, or `--universe`).
    Closed,
    /// Any well-formed symbol is accepted; it gets ticks once a feed sends them.
    Open,
}

/// The cache: the current [`Universe`] and the latest event per symbol.
pub struct LatestPrices {
    universe: ArcSwap<Universe>,
    kind: UniverseKind,
}

impl LatestPrices {
    /// A cache pre-loaded with `declared` symbols.
    pub fn new(kind: UniverseKind, declared: &[Symbol]) -> Self {
        let cache = Self {
            universe: ArcSwap::from_pointee(Universe::default()),
            kind,
        };
        for symbol in declared {
            cache.intern(*symbol);
        }
        cache
    }

    /// Open or closed universe.
    pub fn kind(&self) -> UniverseKind {
        self.kind
    }

    /// The current universe (lock-free snapshot).
    pub fn universe(&self) -> Arc<Universe> {
        self.universe.load_full()
    }

    /// Id of `symbol`, adding it when new. Sequencer only.
    pub fn intern(&self, symbol: Symbol) -> SymbolId {
        let current = self.universe.load();
        if let Some(id) = current.id(&symbol) {
            return id;
        }
        // Copy-on-write: O(symbols) per new symbol, which is rare and bounded by --max-symbols.
        let id = SymbolId(current.names.len() as u32);
        let mut names = current.names.clone();
        names.push(symbol);
        let mut index = current.index.clone();
        index.insert(symbol, id);
        let mut slots = current.slots.clone();
        slots.push(Arc::new(ArcSwapOption::empty()));
        self.universe.store(Arc::new(Universe {
            names,
            index,
            slots,
        }));
        id
    }

    /// Stores `event` as its symbol's latest. Sequencer only, after the ring push (see the
    /// module doc for how far behind the ring it may be).
    pub fn publish(&self, event: Arc<Event>) {
        let universe = self.universe.load();
        if let Some(slot) = universe.slots.get(event.symbol_id.index()) {
            slot.store(Some(event));
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn interning_is_stable_and_old_versions_stay_valid() {
        let a = Symbol::new("A").unwrap();
        let b = Symbol::new("B").unwrap();
        let cache = LatestPrices::new(UniverseKind::Open, &[a]);
        let before = cache.universe();
        assert_eq!(cache.intern(a), SymbolId(0));
        assert_eq!(cache.intern(b), SymbolId(1));
        assert_eq!(cache.intern(b), SymbolId(1));
        assert_eq!(before.len(), 1);
        let after = cache.universe();
        assert_eq!(after.names(), &[a, b]);
        assert_eq!(after.id(&b), Some(SymbolId(1)));
        assert_eq!(after.name(SymbolId(1)), Some(b));
    }
}
