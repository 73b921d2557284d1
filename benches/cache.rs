//! The latest-price cache (arc-swap slots behind an arc-swapped universe) against
//! `RwLock<HashMap<Symbol, Arc<Event>>>`: the sequencer storing the newest event of a symbol,
//! and readers looking symbols up, single-threaded and with a reader thread hammering.
//!
//! Run: `cargo bench --bench cache`. Results: BENCHMARKS.md ("latest-price cache").

use std::collections::HashMap;
use std::hint::black_box;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, RwLock};
use std::thread;

use criterion::{Criterion, Throughput, criterion_group, criterion_main};
use tickcast::cache::{LatestPrices, UniverseKind};
use tickcast::ring::Event;
use tickcast::shard::frame::Frame;
use tickcast::tick::{Decimal, Symbol, SymbolId, Tick, TickKind};

const SYMBOLS: u32 = 500;

fn event(id: u32, symbol: Symbol, seq: u64) -> Arc<Event> {
    let tick = Tick {
        symbol,
        kind: TickKind::Trade,
        px: Decimal::new(10_125, 2),
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
        symbol_id: SymbolId(id),
        n: seq,
        rx: tick.rx,
        frame: Frame::encode(seq, seq, &tick),
    })
}

fn bench(c: &mut Criterion) {
    let symbols: Vec<Symbol> = (0..SYMBOLS)
        .map(|i| Symbol::new(&format!("SYN{i:04}")).expect("symbol"))
        .collect();
    let events: Vec<Arc<Event>> = symbols
        .iter()
        .enumerate()
        .map(|(i, s)| event(i as u32, *s, i as u64 + 1))
        .collect();
    let cache = LatestPrices::new(UniverseKind::Closed, &symbols);
    let locked: RwLock<HashMap<Symbol, Arc<Event>>> = RwLock::new(HashMap::new());

    let mut group = c.benchmark_group("cache_update");
    group.throughput(Throughput::Elements(u64::from(SYMBOLS)));
    group.bench_function("arc_swap_latest_prices", |b| {
        b.iter(|| {
            for event in &events {
                cache.publish(event.clone());
            }
        })
    });
    group.bench_function("rwlock_hashmap", |b| {
        b.iter(|| {
            for event in &events {
                if let Ok(mut map) = locked.write() {
                    map.insert(symbols[event.symbol_id.index()], event.clone());
                }
            }
        })
    });
    group.finish();

    let mut group = c.benchmark_group("cache_read_with_concurrent_writer");
    group.throughput(Throughput::Elements(u64::from(SYMBOLS)));
    let cache = Arc::new(cache);
    let locked = Arc::new(locked);
    let stop = Arc::new(AtomicBool::new(false));
    let writer = {
        let (cache, locked, events, stop, symbols) = (
            cache.clone(),
            locked.clone(),
            events.clone(),
            stop.clone(),
            symbols.clone(),
        );
        thread::spawn(move || {
            while !stop.load(Ordering::Relaxed) {
                for event in &events {
                    cache.publish(event.clone());
                    if let Ok(mut map) = locked.write() {
                        map.insert(symbols[event.symbol_id.index()], event.clone());
                    }
                }
            }
        })
    };
    group.bench_function("arc_swap_latest_prices", |b| {
        b.iter(|| {
            let universe = cache.universe();
            for symbol in &symbols {
                if let Some(id) = universe.id(symbol) {
                    black_box(universe.latest(id));
                }
            }
        })
    });
    group.bench_function("rwlock_hashmap", |b| {
        b.iter(|| {
            for symbol in &symbols {
                if let Ok(map) = locked.read() {
                    black_box(map.get(symbol).cloned());
                }
            }
        })
    });
    group.finish();
    stop.store(true, Ordering::Relaxed);
    let _ = writer.join();
}

criterion_group!(benches, bench);
criterion_main!(benches);
