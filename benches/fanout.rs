//! One shard fanning one tick out to 10,000 in-memory subscribers, and conflation under a
//! stalled subscriber.
//!
//! `fanout`: an iteration publishes one event to the ring, lets the shard dispatch it to 10,000
//! subscribers of its symbol (shared `Bytes`, no encoding), and drains every subscriber's batch
//! as its stream body would. Baselines: `tokio::sync::broadcast` with 10,000 receivers (send,
//! then every receiver receives), and encoding the frame per subscriber (what a naive server
//! does).
//! `conflation`: pushing live events of 200 symbols into a subscriber that never reads
//! (conflating, bounded) against an unbounded `VecDeque` that keeps them all.
//!
//! Run: `cargo bench --bench fanout`. Results: BENCHMARKS.md ("fan-out", "conflation").

use std::collections::VecDeque;
use std::hint::black_box;
use std::sync::Arc;
use std::sync::atomic::AtomicBool;
use std::task::{Poll, Waker};
use std::time::Duration;

use bytes::Bytes;
use criterion::{Criterion, Throughput, criterion_group, criterion_main};
use tickcast::cache::{LatestPrices, UniverseKind};
use tickcast::frame::Frame;
use tickcast::metrics::Metrics;
use tickcast::ring::{Event, Ring};
use tickcast::shard::coalesce::{self, Coalesce};
use tickcast::shard::subscriber::{Filter, Mode, Queued, Subscriber};
use tickcast::shard::{Fill, ShardSettings, ShardState, Shared, Start};
use tickcast::tick::{Decimal, Symbol, SymbolId, Tick};

const SUBSCRIBERS: usize = 10_000;

fn tick(symbol: Symbol) -> Tick {
    let px = Decimal::new(10_125, 2).expect("price");
    Tick::trade(symbol, px, Decimal::new(300, 0), 1, 2)
}

fn fanout(c: &mut Criterion) {
    let settings = ShardSettings {
        heartbeat: Duration::from_secs(15),
        retry: Duration::from_secs(2),
        subscriber_buffer: 64,
        coalesce: Coalesce::Auto {
            max: coalesce::DEFAULT_AUTO_MAX,
        },
    };
    let symbol = Symbol::new("SYN0001").expect("symbol");
    let (ring, mut writer) = Ring::with_writer(1 << 16, 1);
    let cache = Arc::new(LatestPrices::new(UniverseKind::Closed, &[symbol]));
    let shared = Arc::new(Shared {
        settings,
        ring,
        cache: cache.clone(),
        metrics: Arc::new(Metrics::new(1)),
        draining: AtomicBool::new(false),
    });
    let shard = ShardState::new(0, shared);
    let universe = cache.universe();
    let keys: Vec<usize> = (0..SUBSCRIBERS)
        .map(|_| shard.subscribe(Filter::symbols(&[symbol], &universe), Start::Fresh))
        .collect();
    let waker = Waker::noop();
    let drain_all = |shard: &ShardState| {
        for &key in &keys {
            while let Poll::Ready(Fill::Data(batch)) = shard.fill(key, waker) {
                black_box(batch);
            }
        }
    };
    drain_all(&shard);
    let tick = tick(symbol);
    let mut seq = 0u64;

    let mut group = c.benchmark_group("fanout_one_tick_to_10k");
    group.throughput(Throughput::Elements(SUBSCRIBERS as u64));
    group.sample_size(30);
    group.bench_function("tickcast_shard", |b| {
        b.iter(|| {
            seq += 1;
            let event = Arc::new(Event {
                seq,
                symbol_id: SymbolId(0),
                n: seq,
                rx: tick.rx,
                frame: Frame::encode(seq, seq, &tick),
            });
            writer.push(event);
            shard.dispatch_available();
            drain_all(&shard);
        })
    });

    let (tx, mut receivers): (tokio::sync::broadcast::Sender<Bytes>, Vec<_>) = {
        let (tx, rx) = tokio::sync::broadcast::channel(1024);
        let receivers = (0..SUBSCRIBERS).map(|_| tx.subscribe()).collect();
        drop(rx);
        (tx, receivers)
    };
    group.bench_function("tokio_broadcast", |b| {
        b.iter(|| {
            seq += 1;
            let frame = Frame::encode(seq, seq, &tick);
            let _ = tx.send(frame.tick());
            for rx in &mut receivers {
                black_box(rx.try_recv().ok());
            }
        })
    });
    group.bench_function("encode_per_subscriber", |b| {
        b.iter(|| {
            seq += 1;
            for _ in 0..SUBSCRIBERS {
                black_box(Frame::encode(seq, seq, &tick));
            }
        })
    });
    group.finish();
}

fn conflation(c: &mut Criterion) {
    let symbols = 200u32;
    let frame = Bytes::from_static(b"id: 1\nevent: tick\ndata: {}\n\n");
    let mut group = c.benchmark_group("stalled_subscriber_10k_pushes");
    group.throughput(Throughput::Elements(10_000));
    group.bench_function("tickcast_conflating_subscriber", |b| {
        let mut sub = Subscriber::new(Filter::all(), 64, Mode::Live, 0);
        let mut seq = 0u64;
        b.iter(|| {
            for _ in 0..10_000 {
                seq += 1;
                black_box(sub.push_live(Queued {
                    seq,
                    symbol_id: SymbolId((seq % u64::from(symbols)) as u32),
                    rx: seq,
                    frame: frame.clone(),
                }));
            }
        });
        assert!(sub.pending() <= 200);
    });
    group.bench_function("unbounded_vecdeque", |b| {
        let mut seq = 0u64;
        // A fresh queue per batch: the baseline's memory grows with every push by design, so
        // it is dropped outside the measurement instead of growing for the whole run.
        b.iter_batched(
            VecDeque::new,
            |mut queue| {
                for _ in 0..10_000 {
                    seq += 1;
                    queue.push_back(Queued {
                        seq,
                        symbol_id: SymbolId((seq % u64::from(symbols)) as u32),
                        rx: seq,
                        frame: frame.clone(),
                    });
                }
                queue
            },
            criterion::BatchSize::LargeInput,
        );
    });
    group.finish();
}

criterion_group!(benches, fanout, conflation);
criterion_main!(benches);
