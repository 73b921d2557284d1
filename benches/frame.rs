//! Frame encoding: the sequencer's one-per-tick SSE encoding with exact fixed-point prices,
//! against the same JSON built with `f64` prices formatted by `std::fmt` (shortest round-trip),
//! the obvious alternative that would also lose the source's digits.
//!
//! Run: `cargo bench --bench frame`. Results: BENCHMARKS.md ("frame encoding").

use std::fmt::Write as _;
use std::hint::black_box;

use criterion::{Criterion, Throughput, criterion_group, criterion_main};
use tickcast::frame::Frame;
use tickcast::tick::{Decimal, Symbol, Tick, TickKind};

fn tick() -> Tick {
    let d = |s: &str| Some(Decimal::parse(s.as_bytes()).expect("decimal"));
    Tick {
        symbol: Symbol::new("BINANCE:BTCUSDT").expect("symbol"),
        kind: TickKind::Quote,
        px: None,
        qty: None,
        bid: d("61837.63000000"),
        bid_qty: d("3.78826000"),
        ask: d("61837.64000000"),
        ask_qty: d("1.54698000"),
        ts: 1_723_161_254_087_896_568,
        rx: 1_723_161_254_087_900_000,
    }
}

/// The float baseline: same fields, prices as f64, formatted with `{}`.
fn encode_float(out: &mut String, seq: u64, n: u64, prices: &[(&str, f64)], ts: u64, rx: u64) {
    out.clear();
    let _ = write!(
        out,
        "id: {seq}\nevent: tick\ndata: {{\"sym\":\"BINANCE:BTCUSDT\",\"seq\":{seq},\"n\":{n},\"kind\":\"quote\""
    );
    for (name, value) in prices {
        let _ = write!(out, ",\"{name}\":{value}");
    }
    let _ = write!(out, ",\"ts\":{ts},\"rx\":{rx}}}\n\n");
}

fn bench(c: &mut Criterion) {
    let tick = tick();
    let mut group = c.benchmark_group("frame_encode");
    group.throughput(Throughput::Elements(1));
    let mut seq = 1_795_343_817_054_166u64;
    group.bench_function("fixed_point_decimal", |b| {
        b.iter(|| {
            seq += 1;
            black_box(Frame::encode(black_box(seq), 17, black_box(&tick)))
        })
    });
    let prices = [
        ("bid", 61837.63f64),
        ("bid_qty", 3.78826),
        ("ask", 61837.64),
        ("ask_qty", 1.54698),
    ];
    let mut out = String::with_capacity(320);
    group.bench_function("f64_std_fmt", |b| {
        b.iter(|| {
            seq += 1;
            encode_float(
                &mut out,
                black_box(seq),
                17,
                black_box(&prices),
                tick.ts,
                tick.rx,
            );
            black_box(bytes::Bytes::copy_from_slice(out.as_bytes()))
        })
    });
    group.finish();
}

criterion_group!(benches, bench);
criterion_main!(benches);
