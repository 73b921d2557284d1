//! The built-in synthetic market: a seeded random walk over `SYN0001`..`SYNnnnn`.
//!
//! It exists so that `tickcast` with no flags serves something real-shaped: trades and quotes
//! with exact two-decimal prices at a set rate. Its symbols are prefixed `SYN` and
//! `/v1/symbols` reports `"synthetic": true`, so nobody mistakes it for a market.
//! Place in the flow: a task on the control runtime, sending batches to the sequencer; the
//! random walk itself ([`Market`]) is a plain state machine that takes `now` as an argument.
//! Must never pretend to be a real venue.

use std::time::Duration;

use tokio::sync::mpsc;
use tokio_util::sync::CancellationToken;

use super::sequencer::TickBatch;

use crate::tick::{Decimal, Symbol, Tick, TickKind};

/// The synthetic market's settings.
#[derive(Debug, Clone)]
pub struct SyntheticConfig {
    /// Number of symbols.
    pub symbols: usize,
    /// Ticks per second in total.
    pub rate: f64,
    /// Random seed.
    pub seed: u64,
}

/// How often the pacing loop emits the ticks due since its last run.
const PACING_INTERVAL: Duration = Duration::from_millis(2);

/// The synthetic market's symbol names.
pub fn symbols(count: usize) -> Vec<Symbol> {
    (1..=count)
        .filter_map(|i| Symbol::new(&format!("SYN{i:04}")).ok())
        .collect()
}

/// The random walk: one mid price per symbol, in cents.
pub struct Market {
    symbols: Vec<Symbol>,
    mids: Vec<i64>,
    rng: fastrand::Rng,
}

impl Market {
    /// A market of `count` symbols seeded with `seed`.
    pub fn new(count: usize, seed: u64) -> Self {
        let mut rng = fastrand::Rng::with_seed(seed);
        let symbols = symbols(count);
        let mids = symbols.iter().map(|_| rng.i64(1_000..50_000)).collect();
        Self { symbols, mids, rng }
    }

    /// One quote per symbol: the opening book, so every symbol has a price at once.
    pub fn opening(&mut self, now_ns: u64) -> TickBatch {
        (0..self.symbols.len())
            .map(|i| self.quote(i, now_ns))
            .collect()
    }

    /// The next tick: a random symbol moves by up to 5 cents; 1 in 4 ticks is a trade.
    pub fn next_tick(&mut self, now_ns: u64) -> Tick {
        let i = self.rng.usize(..self.symbols.len());
        let step = self.rng.i64(-5..=5);
        self.mids[i] = (self.mids[i] + step).max(100);
        if self.rng.u8(..4) == 0 {
            let mid = self.mids[i];
            let px = if self.rng.bool() { mid + 1 } else { mid - 1 };
            Tick {
                kind: TickKind::Trade,
                px: Decimal::new(px, 2),
                qty: Decimal::new(self.rng.i64(1..=50) * 100, 0),
                ..self.quote(i, now_ns)
            }
        } else {
            self.quote(i, now_ns)
        }
    }

    fn quote(&mut self, i: usize, now_ns: u64) -> Tick {
        let mid = self.mids[i];
        Tick {
            symbol: self.symbols[i],
            kind: TickKind::Quote,
            px: None,
            qty: None,
            bid: Decimal::new(mid - 1, 2),
            bid_qty: Decimal::new(self.rng.i64(1..=20) * 100, 0),
            ask: Decimal::new(mid + 1, 2),
            ask_qty: Decimal::new(self.rng.i64(1..=20) * 100, 0),
            ts: now_ns,
            rx: now_ns,
        }
    }
}

/// Runs the synthetic market until `stop` is cancelled or the sequencer is gone.
pub async fn run(config: SyntheticConfig, tx: mpsc::Sender<TickBatch>, stop: CancellationToken) {
    tracing::warn!(
        symbols = config.symbols,
        rate = config.rate,
        "serving a SYNTHETIC market (symbols SYN0001..): not real prices"
    );
    let mut market = Market::new(config.symbols, config.seed);
    if tx
        .send(market.opening(crate::clock::now_ns()))
        .await
        .is_err()
    {
        return;
    }
    let mut interval = tokio::time::interval(PACING_INTERVAL);
    interval.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    let mut last = tokio::time::Instant::now();
    let mut due = 0.0f64;
    loop {
        tokio::select! {
            _ = stop.cancelled() => return,
            _ = interval.tick() => {}
        }
        let now = tokio::time::Instant::now();
        due += config.rate * now.duration_since(last).as_secs_f64();
        last = now;
        // Never emit more than one second's worth at once (after a stall, catch up slowly).
        due = due.min(config.rate.max(1.0));
        let count = due as usize;
        if count == 0 {
            continue;
        }
        due -= count as f64;
        let now_ns = crate::clock::now_ns();
        let batch: TickBatch = (0..count).map(|_| market.next_tick(now_ns)).collect();
        if tx.send(batch).await.is_err() {
            return;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn same_seed_same_market() {
        let mut a = Market::new(10, 7);
        let mut b = Market::new(10, 7);
        for _ in 0..1000 {
            assert_eq!(a.next_tick(5), b.next_tick(5));
        }
    }

    #[test]
    fn prices_are_positive_two_decimal_and_books_uncrossed() {
        let mut market = Market::new(5, 1);
        assert_eq!(market.opening(1).len(), 5);
        for _ in 0..10_000 {
            let tick = market.next_tick(1);
            assert!(tick.symbol.as_str().starts_with("SYN"));
            let (bid, ask) = (tick.bid.unwrap(), tick.ask.unwrap());
            assert!(bid.is_positive() && bid.mantissa() < ask.mantissa());
            assert_eq!(bid.scale(), 2);
            if tick.kind == TickKind::Trade {
                assert!(tick.px.unwrap().is_positive());
            }
        }
    }
}
