//! The sequencer: the single writer of the ring and the latest-price cache.
//!
//! Place in the flow: every source sends batches of decoded [`Tick`]s over one bounded channel
//! (a full channel pushes back on the sources, so nothing accepted is dropped); this thread
//! numbers each tick (global [`crate::tick::Seq`] and per-symbol count `n`), encodes its SSE
//! frame exactly once, pushes it to the ring, stores it as its symbol's latest, and after each
//! batch wakes every shard once.
//! It owns the symbol universe's growth: unknown symbols in a closed universe and symbols beyond
//! `--max-symbols` are rejected here.
//! Must never block on a subscriber or a shard: shards pull from the ring at their own pace.

use std::collections::HashMap;
use std::sync::Arc;
use std::sync::atomic::Ordering;
use std::thread::JoinHandle;

use tokio::sync::{Notify, mpsc};

use super::{Reject, RejectLog};
use crate::cache::{LatestPrices, UniverseKind};
use crate::metrics::Metrics;
use crate::ring::{Event, Ring};
use crate::shard::frame::Frame;
use crate::tick::{Symbol, SymbolId, Tick};

/// Ticks decoded together from one read of a source.
pub type TickBatch = Vec<Tick>;

/// Batches queued between the sources and the sequencer before sources wait.
pub const CHANNEL_BATCHES: usize = 1024;

/// Batches ingested between two wake-ups of the shards: bounds the delay a long burst adds
/// before the shards see its first ticks.
const BATCHES_PER_WAKE: usize = 64;

/// The sequencer's state; runs on its own thread via [`Sequencer::spawn`].
pub struct Sequencer {
    ring: Arc<Ring>,
    cache: Arc<LatestPrices>,
    metrics: Arc<Metrics>,
    shards: Vec<Arc<Notify>>,
    index: HashMap<Symbol, SymbolId>,
    counts: Vec<u64>,
    max_symbols: usize,
    log: RejectLog,
}

impl Sequencer {
    /// A sequencer writing to `ring` and `cache`, waking `shards` after each batch.
    pub fn new(
        ring: Arc<Ring>,
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
            ring,
            cache,
            metrics,
            shards,
            index,
            max_symbols,
            log: RejectLog::new("sequencer"),
        }
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
            for _ in 1..BATCHES_PER_WAKE {
                match rx.try_recv() {
                    Ok(batch) => self.ingest(batch),
                    Err(_) => break,
                }
            }
            self.wake_shards();
        }
        self.wake_shards();
        tracing::debug!("sequencer stopped: all feeds closed");
    }

    fn wake_shards(&self) {
        for shard in &self.shards {
            shard.notify_one();
        }
    }

    /// Numbers, encodes and publishes a batch.
    pub fn ingest(&mut self, batch: TickBatch) {
        for tick in batch {
            let Some(symbol_id) = self.symbol_id(&tick) else {
                continue;
            };
            let count = &mut self.counts[symbol_id.index()];
            *count += 1;
            let n = *count;
            let seq = self.ring.next_seq();
            let frame = Frame::encode(seq, n, &tick);
            self.metrics.frames_encoded.fetch_add(1, Ordering::Relaxed);
            let event = Arc::new(Event {
                seq,
                symbol_id,
                n,
                tick,
                frame,
            });
            self.ring.push(event.clone());
            self.cache.publish(event);
            self.metrics.ticks_ingested.fetch_add(1, Ordering::Relaxed);
            self.metrics.head_seq.store(seq, Ordering::Relaxed);
        }
    }

    fn symbol_id(&mut self, tick: &Tick) -> Option<SymbolId> {
        if let Some(id) = self.index.get(&tick.symbol) {
            return Some(*id);
        }
        let reason = if self.cache.kind() == UniverseKind::Closed {
            Reject::UnknownSymbol
        } else if self.index.len() >= self.max_symbols {
            Reject::SymbolLimit
        } else {
            let id = self.cache.intern(tick.symbol);
            self.index.insert(tick.symbol, id);
            self.counts.push(0);
            self.metrics
                .symbols
                .store(self.index.len() as u64, Ordering::Relaxed);
            return Some(id);
        };
        self.metrics.reject(reason);
        self.log.reject(reason, 0, tick.symbol.as_str().as_bytes());
        None
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::tick::{Decimal, TickKind};

    fn tick(sym: &str, px: i64) -> Tick {
        Tick {
            symbol: Symbol::new(sym).unwrap(),
            kind: TickKind::Trade,
            px: Decimal::new(px, 2),
            qty: None,
            bid: None,
            bid_qty: None,
            ask: None,
            ask_qty: None,
            ts: 1,
            rx: 2,
        }
    }

    fn setup(
        kind: UniverseKind,
        declared: &[&str],
        max: usize,
    ) -> (Sequencer, Arc<Ring>, Arc<LatestPrices>, Arc<Metrics>) {
        let ring = Arc::new(Ring::new(16, 100));
        let declared: Vec<_> = declared.iter().map(|s| Symbol::new(s).unwrap()).collect();
        let cache = Arc::new(LatestPrices::new(kind, &declared));
        let metrics = Arc::new(Metrics::new(1));
        let seq = Sequencer::new(ring.clone(), cache.clone(), metrics.clone(), vec![], max);
        (seq, ring, cache, metrics)
    }

    #[test]
    fn numbers_ticks_and_counts_per_symbol() {
        let (mut seq, ring, cache, metrics) = setup(UniverseKind::Open, &[], 10);
        seq.ingest(vec![tick("A", 1), tick("B", 2), tick("A", 3)]);
        assert_eq!(ring.head(), 102);
        let third = ring.read(102).unwrap();
        assert_eq!(
            (third.seq, third.n, third.tick.symbol.as_str()),
            (102, 2, "A")
        );
        let universe = cache.universe();
        let a = universe.id(&Symbol::new("A").unwrap()).unwrap();
        assert_eq!(universe.latest(a).unwrap().seq, 102);
        assert_eq!(metrics.frames_encoded.load(Ordering::Relaxed), 3);
        assert_eq!(metrics.ticks_ingested.load(Ordering::Relaxed), 3);
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
