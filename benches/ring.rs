//! The ring against crossbeam's `ArrayQueue`: one writer publishing events, readers following.
//!
//! Our ring is a broadcast structure (every reader sees every event, readers never remove), so
//! the baseline is given the same work: one queue per reader, the writer pushing each event
//! into every reader's queue. Measured: single-thread write-then-read of a batch (pure cost),
//! and one writer thread with two reader threads.
//!
//! Run: `cargo bench --bench ring`. Results: BENCHMARKS.md ("ring").

use std::hint::black_box;
use std::sync::Arc;
use std::thread;

use criterion::{Criterion, Throughput, criterion_group, criterion_main};
use crossbeam::queue::ArrayQueue;
use tickcast::frame::Frame;
use tickcast::ring::{Event, ReadError, Ring};
use tickcast::tick::{Decimal, Symbol, SymbolId, Tick};

const BATCH: u64 = 4096;
/// Reads per pin in the threaded bench.
const RUN: usize = 256;

fn tick() -> Tick {
    let symbol = Symbol::new("SYN0001").expect("symbol");
    let px = Decimal::new(10_125, 2).expect("price");
    Tick::trade(symbol, px, Decimal::new(300, 0), 1, 2)
}

/// Events with sequences `from..from + count`.
fn events(from: u64, count: u64) -> Vec<Arc<Event>> {
    let tick = tick();
    (from..from + count)
        .map(|seq| {
            Arc::new(Event {
                seq,
                symbol_id: SymbolId(0),
                n: seq,
                rx: tick.rx,
                frame: Frame::encode(seq, seq, &tick),
            })
        })
        .collect()
}

fn bench(c: &mut Criterion) {
    let prepared = events(1, BATCH);
    let second_lap = events(BATCH + 1, BATCH);
    let mut group = c.benchmark_group("ring_single_thread");
    group.throughput(Throughput::Elements(BATCH));
    // Steady state: the ring is full, so every push replaces an event that must be released
    // once no reader can see it, as every popped item of the queue is dropped. Both structures
    // are dropped after the timing.
    group.bench_function("tickcast_ring_write_read", |b| {
        b.iter_batched(
            || {
                let (ring, mut writer) = Ring::with_writer(BATCH as usize, 1);
                for event in prepared.iter().cloned() {
                    writer.push(event);
                }
                (ring, writer, second_lap.clone())
            },
            |(ring, mut writer, events)| {
                {
                    // The sequencer pins once per batch; a shard reads a run with one reader.
                    let _pin = crossbeam::epoch::pin();
                    for event in events {
                        writer.push(event);
                    }
                }
                {
                    let reader = ring.reader();
                    for seq in BATCH + 1..=2 * BATCH {
                        black_box(reader.read(seq).ok());
                    }
                }
                (ring, writer)
            },
            criterion::BatchSize::SmallInput,
        )
    });
    group.bench_function("crossbeam_arrayqueue_push_pop", |b| {
        b.iter_batched(
            || (ArrayQueue::new(BATCH as usize), prepared.clone()),
            |(queue, events)| {
                for event in events {
                    let _ = queue.push(event);
                }
                while let Some(event) = queue.pop() {
                    black_box(event);
                }
                queue
            },
            criterion::BatchSize::SmallInput,
        )
    });
    group.finish();

    let mut group = c.benchmark_group("ring_one_writer_two_readers");
    group.throughput(Throughput::Elements(BATCH));
    group.sample_size(30);
    group.bench_function("tickcast_ring", |b| {
        b.iter_batched(
            || prepared.clone(),
            |events| {
                let (ring, mut writer) = Ring::with_writer(BATCH as usize * 2, 1);
                let readers: Vec<_> = (0..2)
                    .map(|_| {
                        let ring = ring.clone();
                        thread::spawn(move || {
                            let mut next = 1;
                            while next <= BATCH {
                                // One pin per run of reads, as a shard's dispatcher does.
                                let reader = ring.reader();
                                for _ in 0..RUN {
                                    match reader.read(next) {
                                        Ok(event) => {
                                            black_box(event);
                                            next += 1;
                                        }
                                        Err(ReadError::NotYet) => {
                                            std::hint::spin_loop();
                                            break;
                                        }
                                        Err(ReadError::Lagged { oldest }) => next = oldest,
                                    }
                                    if next > BATCH {
                                        break;
                                    }
                                }
                            }
                        })
                    })
                    .collect();
                let mut events = events.into_iter().peekable();
                while events.peek().is_some() {
                    let _pin = crossbeam::epoch::pin();
                    for event in events.by_ref().take(1024) {
                        writer.push(event);
                    }
                }
                for reader in readers {
                    let _ = reader.join();
                }
            },
            criterion::BatchSize::SmallInput,
        )
    });
    group.bench_function("crossbeam_arrayqueue_per_reader", |b| {
        b.iter_batched(
            || prepared.clone(),
            |events| {
                let queues: Vec<Arc<ArrayQueue<Arc<Event>>>> = (0..2)
                    .map(|_| Arc::new(ArrayQueue::new(BATCH as usize * 2)))
                    .collect();
                let readers: Vec<_> = queues
                    .iter()
                    .map(|queue| {
                        let queue = queue.clone();
                        thread::spawn(move || {
                            let mut got = 0;
                            while got < BATCH {
                                match queue.pop() {
                                    Some(event) => {
                                        black_box(event);
                                        got += 1;
                                    }
                                    None => std::hint::spin_loop(),
                                }
                            }
                        })
                    })
                    .collect();
                for event in events {
                    for queue in &queues {
                        let _ = queue.push(event.clone());
                    }
                }
                for reader in readers {
                    let _ = reader.join();
                }
            },
            criterion::BatchSize::SmallInput,
        )
    });
    group.finish();
}

criterion_group!(benches, bench);
criterion_main!(benches);
