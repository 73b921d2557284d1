//! The latest-price cache (arc-swap slots behind an arc-swapped universe) against
//! `RwLock<HashMap<Symbol, Arc<Event>>>`: the sequencer storing the newest event of a symbol,
//! and readers looking symbols up: alone, reads while a writer thread updates, and the writer
//! while a reader thread reads (the sequencer must never wait on readers).
//!
//! Run: `cargo bench --bench cache`. Results: BENCHMARKS.md ("latest-price cache").

use std::collections::HashMap;
use std::hint::black_box;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, RwLock};
use std::thread;

use criterion::{Criterion, Throughput, criterion_group, criterion_main};
use tickcast::cache::{LatestPrices, UniverseKind};
use tickcast::frame::Frame;
use tickcast::ring::Event;
use tickcast::tick::{Decimal, Symbol, SymbolId, Tick};

const SYMBOLS: u32 = 500;

fn event(id: u32, symbol: Symbol, seq: u64) -> Arc<Event> {
    let tick = Tick::trade(symbol, Decimal::new(10_125, 2).expect("price"), None, 1, 2);
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

    // Each variant gets its own helper thread touching only that variant, started just before
    // and stopped just after its measurement.
    let cache = Arc::new(cache);
    let locked = Arc::new(locked);

    let mut group = c.benchmark_group("cache_read_with_concurrent_writer");
    group.throughput(Throughput::Elements(u64::from(SYMBOLS)));
    let writer = Background::start({
        let (cache, events) = (cache.clone(), events.clone());
        move || {
            for event in &events {
                cache.publish(event.clone());
            }
        }
    });
    group.bench_function("arc_swap_latest_prices", |b| {
        b.iter(|| read_all_cache(&cache, &symbols))
    });
    writer.stop();
    let writer = Background::start({
        let (locked, events, symbols) = (locked.clone(), events.clone(), symbols.clone());
        move || write_all_locked(&locked, &events, &symbols)
    });
    group.bench_function("rwlock_hashmap", |b| {
        b.iter(|| read_all_locked(&locked, &symbols))
    });
    writer.stop();
    group.finish();

    // The sequencer's side: it must never wait for readers. With a reader thread hammering the
    // structure, how fast does the single writer update it?
    let mut group = c.benchmark_group("cache_update_with_concurrent_reader");
    group.throughput(Throughput::Elements(u64::from(SYMBOLS)));
    let reader = Background::start({
        let (cache, symbols) = (cache.clone(), symbols.clone());
        move || read_all_cache(&cache, &symbols)
    });
    group.bench_function("arc_swap_latest_prices", |b| {
        b.iter(|| {
            for event in &events {
                cache.publish(event.clone());
            }
        })
    });
    reader.stop();
    let reader = Background::start({
        let (locked, symbols) = (locked.clone(), symbols.clone());
        move || read_all_locked(&locked, &symbols)
    });
    group.bench_function("rwlock_hashmap", |b| {
        b.iter(|| write_all_locked(&locked, &events, &symbols))
    });
    reader.stop();
    group.finish();
}

fn read_all_cache(cache: &LatestPrices, symbols: &[Symbol]) {
    let universe = cache.universe();
    for symbol in symbols {
        if let Some(id) = universe.id(symbol) {
            black_box(universe.latest(id));
        }
    }
}

fn read_all_locked(locked: &RwLock<HashMap<Symbol, Arc<Event>>>, symbols: &[Symbol]) {
    for symbol in symbols {
        if let Ok(map) = locked.read() {
            black_box(map.get(symbol).cloned());
        }
    }
}

fn write_all_locked(
    locked: &RwLock<HashMap<Symbol, Arc<Event>>>,
    events: &[Arc<Event>],
    symbols: &[Symbol],
) {
    for event in events {
        if let Ok(mut map) = locked.write() {
            map.insert(symbols[event.symbol_id.index()], event.clone());
        }
    }
}

/// A thread running `work` in a loop until stopped.
struct Background {
    stop: Arc<AtomicBool>,
    thread: thread::JoinHandle<()>,
}

impl Background {
    fn start(work: impl Fn() + Send + 'static) -> Self {
        let stop = Arc::new(AtomicBool::new(false));
        let thread = thread::spawn({
            let stop = stop.clone();
            move || {
                while !stop.load(Ordering::Relaxed) {
                    work();
                }
            }
        });
        Self { stop, thread }
    }

    fn stop(self) {
        self.stop.store(true, Ordering::Relaxed);
        let _ = self.thread.join();
    }
}

criterion_group!(benches, bench);
criterion_main!(benches);
