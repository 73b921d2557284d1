//! Decoding throughput, in lines per second on one core, of the real Binance recording and of
//! the same ticks as native lines, with serde_json and sonic-rs baselines doing the equivalent work.
//!
//! Input: `../shared/feeds/binance-spot-btcusdt-20240808.hftbacktest.gz` (41,249 lines: 28,040
//! `bookTicker`, 9,757 `trade`, 3,451 `depthUpdate`, one REST snapshot), or the repository's
//! `feeds/binance-spot-btcusdt-20240808.sample.gz` when the shared file is missing. Every line
//! is loaded into memory first with its `<ns> ` receive-time prefix cut off, so only decoding is
//! timed. One iteration decodes every line once; criterion's throughput is lines/s.
//!
//! Groups and what each entry does per line:
//! - `decode_binance/tickcast_binance`: `venue::Decoder` with `Format::Binance`: exact decimals,
//!   full validation, 37,797 ticks, 3,452 counted skips.
//! - `decode_binance/tickcast_auto`: the same with `Format::Auto` (format detected per line).
//! - `decode_binance/serde_json_struct`: serde_json into borrowed structs (the combined-stream
//!   wrapper, then the event with `e s p q b B a A T E u` as `Option`s), then the same ticks:
//!   venue symbol, `Decimal::parse` of the price and size strings (so exact, as Binance sends
//!   strings), `T`/`E` read by serde as `u64`. It checks less than tickcast (no year window, no
//!   bare events, no `data` arrays) and is the baseline to beat.
//! - `decode_binance/serde_json_value`: `serde_json::Value` (allocating maps and strings, as
//!   most quick integrations do), then the same extraction.
//! - `decode_binance/sonic_rs_struct`, `decode_binance/sonic_rs_value`: the same two with
//!   sonic-rs (`sonic_rs::from_slice` into the same borrowed structs; `sonic_rs::Value`), the
//!   other SIMD JSON parser issue 4 names. Built as the project is (no `-C target-cpu=native`,
//!   which sonic-rs's README asks for to use its SIMD paths; BENCHMARKS.md has a run with it too).
//! - `decode_native/tickcast_native`: `NativeDecoder` on the recording's ticks written as native
//!   lines (`sym`, the prices and sizes as JSON numbers with their exact digits, `ts`; 121
//!   bytes on average against 248 for the Binance frames); every line is checked to decode back
//!   to its tick before timing.
//! - `decode_native/tickcast_format_native`: the same lines through `venue::Decoder` with
//!   `Format::Native`.
//! - `decode_native/serde_json_struct`: serde_json into a borrowed struct. Prices are JSON
//!   numbers here and serde_json (without `arbitrary_precision`) only has `f64` for them, so this
//!   baseline reads `f64`s: not exact (`61837.63000000` loses its zeros), cheaper than
//!   tickcast's exact decimals, and shown for scale only.
//! - `decode_native/sonic_rs_struct`: the same struct with sonic-rs (`f64` prices as well).
//! - `decode_native/sonic_rs_exact`: sonic-rs with the prices as `RawNumber` (their text) and
//!   `Decimal::parse`, checked to give the very ticks tickcast's decoder gives: the same work.
//! - `decode_native/tickcast_native_sse_json`: `NativeDecoder` on the same ticks as the JSON of
//!   their SSE events (`frame::write_json`, a superset of the native format: `seq`, `n`,
//!   `kind`, `rx` too; 183 bytes).
//!
//! Time is the bench thread's on-CPU time (`/proc/thread-self/schedstat`), so throughput is per
//! core even on a shared machine; `TICKCAST_BENCH_CLOCK=wall` switches to criterion's wall clock.
//!
//! Run: `CARGO_TARGET_DIR=/work/target-bench cargo bench --bench decode`; medians per entry are
//! in `$CARGO_TARGET_DIR/criterion/<group>/<entry>/new/estimates.json` (see BENCHMARKS.md).
//!
//! Results, 2026-11-22, 2 vCPU AMD EPYC (shared, load average 1.4-3.3), million lines/s of
//! on-CPU time, medians of 3 alternating runs of this bench built against the decoder before
//! (commit 014feb3) and after the direct parse with `number_view` (`src/feed/native/number_view.rs`):
//!
//! | entry | before | after | ratio |
//! |---|---|---|---|
//! | binance `tickcast_binance` | 1.563 (0.95x serde) | 2.052 (1.27x serde) | 1.31 |
//! | binance `tickcast_auto` | 1.534 (0.93x) | 1.935 (1.20x) | 1.26 |
//! | binance `serde_json_struct` | 1.647 | 1.611 | |
//! | binance `serde_json_value` | 0.699 | 0.720 | |
//! | native `tickcast_native` | 2.459 (0.58x serde) | 2.721 (0.63x serde) | 1.11 |
//! | native `tickcast_format_native` | 2.472 | 2.623 | 1.06 |
//! | native `serde_json_struct` (`f64`) | 4.238 | 4.329 | |
//! | native `tickcast_native_sse_json` | 1.726 | 1.981 | 1.15 |
//!
//! Target (issue 3): >= 1.5M Binance lines/s per core, native faster: met (worst single run
//! 1.96M/s). Left: simd-json 47%, `number_view` 9%, `Decimal::parse` 7% of the Binance time.

use std::borrow::Cow;
use std::fs::File;
use std::hint::black_box;
use std::io::{BufRead, BufReader};
use std::path::PathBuf;
use std::time::Duration;

use criterion::measurement::{Measurement, ValueFormatter, WallTime};
use criterion::{Criterion, Throughput};
use flate2::read::GzDecoder;
use serde::Deserialize;

use tickcast::feed::native::NativeDecoder;
use tickcast::feed::venue::{Decoded, Decoder, Format};
use tickcast::frame::write_json;
use tickcast::tick::{Decimal, Symbol, Tick, TickKind};

/// The real recording, and the in-repo sample used when the shared file is absent.
const SHARED_RECORDING: &str = "../shared/feeds/binance-spot-btcusdt-20240808.hftbacktest.gz";
const SAMPLE_RECORDING: &str = "feeds/binance-spot-btcusdt-20240808.sample.gz";

/// One recorded line: its receive time and the frame JSON.
struct Line {
    rx: u64,
    json: Vec<u8>,
}

fn recording() -> (PathBuf, Vec<Line>) {
    let root = PathBuf::from(env!("CARGO_MANIFEST_DIR"));
    let shared = root.join(SHARED_RECORDING);
    let path = if shared.exists() {
        shared
    } else {
        root.join(SAMPLE_RECORDING)
    };
    let file = File::open(&path).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
    let mut lines = Vec::new();
    for line in BufReader::new(GzDecoder::new(file)).split(b'\n') {
        let line = line.unwrap();
        if line.is_empty() {
            continue;
        }
        let space = line.iter().position(|&b| b == b' ').unwrap();
        let rx = std::str::from_utf8(&line[..space])
            .unwrap()
            .parse()
            .unwrap();
        lines.push(Line {
            rx,
            json: line[space + 1..].to_vec(),
        });
    }
    (path, lines)
}

/// Decodes every line with `decoder`; returns the tick count (checked by the caller).
fn tickcast_all(decoder: &mut Decoder, lines: &[Line], out: &mut Vec<Tick>) -> usize {
    let mut ticks = 0;
    for line in lines {
        out.clear();
        if let Ok(Decoded::Ticks(n)) = decoder.decode(&line.json, line.rx, out) {
            ticks += n;
            black_box(&out[..]);
        }
    }
    ticks
}

// === serde_json baselines, Binance ===

/// `"stream"` and `"data"` of the combined-stream wrapper.
#[derive(Deserialize)]
struct Envelope<'a> {
    #[serde(borrow)]
    stream: Option<Cow<'a, str>>,
    #[serde(borrow)]
    data: Option<Event<'a>>,
}

/// The fields tickcast reads from a Binance event. `b` and `a` are price strings in tickers but
/// arrays of levels in depth updates, hence [`Loose`].
#[derive(Deserialize)]
#[allow(non_snake_case)]
struct Event<'a> {
    #[serde(borrow)]
    e: Option<Cow<'a, str>>,
    #[serde(borrow)]
    s: Option<Cow<'a, str>>,
    #[serde(borrow)]
    p: Option<Cow<'a, str>>,
    #[serde(borrow)]
    q: Option<Cow<'a, str>>,
    #[serde(borrow)]
    b: Option<Loose<'a>>,
    #[serde(borrow)]
    B: Option<Loose<'a>>,
    #[serde(borrow)]
    a: Option<Loose<'a>>,
    #[serde(borrow)]
    A: Option<Loose<'a>>,
    T: Option<u64>,
    E: Option<u64>,
    u: Option<u64>,
}

/// A string, or any other JSON value (skipped without allocating).
enum Loose<'a> {
    Text(Cow<'a, str>),
    Other,
}

impl<'de: 'a, 'a> Deserialize<'de> for Loose<'a> {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct Visit;
        impl<'de> serde::de::Visitor<'de> for Visit {
            type Value = Loose<'de>;
            fn expecting(&self, f: &mut std::fmt::Formatter) -> std::fmt::Result {
                f.write_str("any JSON value")
            }
            fn visit_borrowed_str<E>(self, v: &'de str) -> Result<Self::Value, E> {
                Ok(Loose::Text(Cow::Borrowed(v)))
            }
            fn visit_str<E>(self, v: &str) -> Result<Self::Value, E> {
                Ok(Loose::Text(Cow::Owned(v.to_owned())))
            }
            fn visit_u64<E>(self, _: u64) -> Result<Self::Value, E> {
                Ok(Loose::Other)
            }
            fn visit_i64<E>(self, _: i64) -> Result<Self::Value, E> {
                Ok(Loose::Other)
            }
            fn visit_f64<E>(self, _: f64) -> Result<Self::Value, E> {
                Ok(Loose::Other)
            }
            fn visit_bool<E>(self, _: bool) -> Result<Self::Value, E> {
                Ok(Loose::Other)
            }
            fn visit_unit<E>(self) -> Result<Self::Value, E> {
                Ok(Loose::Other)
            }
            fn visit_seq<A: serde::de::SeqAccess<'de>>(
                self,
                mut seq: A,
            ) -> Result<Self::Value, A::Error> {
                while seq.next_element::<serde::de::IgnoredAny>()?.is_some() {}
                Ok(Loose::Other)
            }
            fn visit_map<A: serde::de::MapAccess<'de>>(
                self,
                mut map: A,
            ) -> Result<Self::Value, A::Error> {
                while map
                    .next_entry::<serde::de::IgnoredAny, serde::de::IgnoredAny>()?
                    .is_some()
                {}
                Ok(Loose::Other)
            }
        }
        d.deserialize_any(Visit)
    }
}

impl<'a> Loose<'a> {
    fn text(&self) -> Option<&str> {
        match self {
            Loose::Text(text) => Some(text),
            Loose::Other => None,
        }
    }
}

/// `BINANCE:<s>` built on the stack, as the venue decoder does.
fn binance_symbol(s: &str) -> Option<Symbol> {
    let mut buf = [0u8; 40];
    let len = 8 + s.len();
    buf.get_mut(..8)?.copy_from_slice(b"BINANCE:");
    buf.get_mut(8..len)?.copy_from_slice(s.as_bytes());
    Symbol::new(std::str::from_utf8(&buf[..len]).ok()?).ok()
}

fn price(text: Option<&str>) -> Option<Decimal> {
    Decimal::parse(text?.as_bytes())
        .ok()
        .filter(|d| d.is_positive())
}

fn size(text: Option<&str>) -> Option<Decimal> {
    Decimal::parse(text?.as_bytes())
        .ok()
        .filter(|d| !d.is_negative())
}

/// The tick of a trade or a book ticker from the fields serde found; `None` for anything else.
#[allow(clippy::too_many_arguments)]
fn binance_tick(
    e: Option<&str>,
    s: Option<&str>,
    p: Option<&str>,
    q: Option<&str>,
    book: [Option<&str>; 4],
    time: Option<u64>,
    u: bool,
    rx: u64,
) -> Option<Tick> {
    let symbol = binance_symbol(s?)?;
    match e {
        Some("trade") => Some(Tick {
            symbol,
            kind: TickKind::Trade,
            px: Some(price(p)?),
            qty: Some(size(q)?),
            bid: None,
            bid_qty: None,
            ask: None,
            ask_qty: None,
            ts: time?.checked_mul(1_000_000)?,
            rx,
        }),
        None if u => Some(Tick {
            symbol,
            kind: TickKind::Quote,
            px: None,
            qty: None,
            bid: price(book[0]),
            bid_qty: size(book[1]),
            ask: price(book[2]),
            ask_qty: size(book[3]),
            ts: rx,
            rx,
        }),
        _ => None,
    }
}

/// serde_json's, then sonic-rs's `from_slice` into the same borrowed structs.
fn serde_envelope(json: &[u8]) -> Option<Envelope<'_>> {
    serde_json::from_slice(json).ok()
}

fn sonic_envelope(json: &[u8]) -> Option<Envelope<'_>> {
    sonic_rs::from_slice(json).ok()
}

fn struct_all(
    lines: &[Line],
    out: &mut Vec<Tick>,
    parse: for<'a> fn(&'a [u8]) -> Option<Envelope<'a>>,
) -> usize {
    let mut ticks = 0;
    for line in lines {
        out.clear();
        let Some(envelope) = parse(&line.json) else {
            continue;
        };
        let (Some(_), Some(ev)) = (envelope.stream, envelope.data) else {
            continue;
        };
        let book = [
            ev.b.as_ref().and_then(Loose::text),
            ev.B.as_ref().and_then(Loose::text),
            ev.a.as_ref().and_then(Loose::text),
            ev.A.as_ref().and_then(Loose::text),
        ];
        if let Some(tick) = binance_tick(
            ev.e.as_deref(),
            ev.s.as_deref(),
            ev.p.as_deref(),
            ev.q.as_deref(),
            book,
            ev.T.or(ev.E),
            ev.u.is_some(),
            line.rx,
        ) {
            out.push(tick);
            ticks += 1;
            black_box(&out[..]);
        }
    }
    ticks
}

/// What [`value_all`] needs of a JSON DOM: serde_json's `Value` and sonic-rs's.
trait Dom: Sized {
    fn parse(json: &[u8]) -> Option<Self>;
    fn field(&self, key: &str) -> Option<&Self>;
    fn text(&self) -> Option<&str>;
    fn number(&self) -> Option<u64>;
}

impl Dom for serde_json::Value {
    fn parse(json: &[u8]) -> Option<Self> {
        serde_json::from_slice(json).ok()
    }
    fn field(&self, key: &str) -> Option<&Self> {
        self.get(key)
    }
    fn text(&self) -> Option<&str> {
        self.as_str()
    }
    fn number(&self) -> Option<u64> {
        self.as_u64()
    }
}

/// A DOM on sonic-rs's arena, strings borrowed or copied into it.
impl Dom for sonic_rs::Value {
    fn parse(json: &[u8]) -> Option<Self> {
        sonic_rs::from_slice(json).ok()
    }
    fn field(&self, key: &str) -> Option<&Self> {
        sonic_rs::JsonValueTrait::get(self, key)
    }
    fn text(&self) -> Option<&str> {
        sonic_rs::JsonValueTrait::as_str(self)
    }
    fn number(&self) -> Option<u64> {
        sonic_rs::JsonValueTrait::as_u64(self)
    }
}

/// A whole-document parse into a DOM (maps and strings allocated, as most quick integrations
/// do), then the same extraction.
fn value_all<V: Dom>(lines: &[Line], out: &mut Vec<Tick>) -> usize {
    let mut ticks = 0;
    for line in lines {
        out.clear();
        let Some(value) = V::parse(&line.json) else {
            continue;
        };
        let (Some(_), Some(ev)) = (value.field("stream"), value.field("data")) else {
            continue;
        };
        let text = |key: &str| ev.field(key).and_then(V::text);
        let book = [text("b"), text("B"), text("a"), text("A")];
        let time = ev.field("T").or_else(|| ev.field("E")).and_then(V::number);
        if let Some(tick) = binance_tick(
            text("e"),
            text("s"),
            text("p"),
            text("q"),
            book,
            time,
            ev.field("u").is_some(),
            line.rx,
        ) {
            out.push(tick);
            ticks += 1;
            black_box(&out[..]);
        }
    }
    ticks
}

// === serde_json baseline, native ===

/// The native fields; prices as `f64` (see the header: inexact, for scale only).
#[derive(Deserialize)]
struct NativeLine<'a> {
    #[serde(borrow)]
    sym: Cow<'a, str>,
    px: Option<f64>,
    qty: Option<f64>,
    bid: Option<f64>,
    bid_qty: Option<f64>,
    ask: Option<f64>,
    ask_qty: Option<f64>,
    ts: u64,
}

/// What the serde baseline produces per native line (a `Tick` cannot hold `f64`s).
#[derive(Clone, Copy)]
#[allow(dead_code)]
struct FloatTick {
    symbol: Symbol,
    trade: bool,
    prices: [Option<f64>; 6],
    ts: u64,
    rx: u64,
}

fn serde_native(json: &[u8]) -> Option<NativeLine<'_>> {
    serde_json::from_slice(json).ok()
}

fn sonic_native(json: &[u8]) -> Option<NativeLine<'_>> {
    sonic_rs::from_slice(json).ok()
}

fn native_struct_all(
    lines: &[Line],
    out: &mut Vec<FloatTick>,
    parse: for<'a> fn(&'a [u8]) -> Option<NativeLine<'a>>,
) -> usize {
    let mut ticks = 0;
    let positive = |v: Option<f64>| v.filter(|v| *v > 0.0);
    let non_negative = |v: Option<f64>| v.filter(|v| *v >= 0.0);
    for line in lines {
        out.clear();
        let Some(raw) = parse(&line.json) else {
            continue;
        };
        let Ok(symbol) = Symbol::new(&raw.sym) else {
            continue;
        };
        let prices = [
            positive(raw.px),
            non_negative(raw.qty),
            positive(raw.bid),
            non_negative(raw.bid_qty),
            positive(raw.ask),
            non_negative(raw.ask_qty),
        ];
        if prices[0].is_none() && prices[2].is_none() && prices[4].is_none() || raw.ts == 0 {
            continue;
        }
        out.push(FloatTick {
            symbol,
            trade: prices[0].is_some(),
            prices,
            ts: raw.ts,
            rx: line.rx,
        });
        ticks += 1;
        black_box(&out[..]);
    }
    ticks
}

/// The native fields with the prices as sonic-rs's `RawNumber` (the number's text), so the
/// prices can be exact: the same work as tickcast's native decoder, unlike the `f64` baselines.
#[derive(Deserialize)]
struct NativeExact<'a> {
    #[serde(borrow)]
    sym: Cow<'a, str>,
    px: Option<sonic_rs::RawNumber>,
    qty: Option<sonic_rs::RawNumber>,
    bid: Option<sonic_rs::RawNumber>,
    bid_qty: Option<sonic_rs::RawNumber>,
    ask: Option<sonic_rs::RawNumber>,
    ask_qty: Option<sonic_rs::RawNumber>,
    ts: u64,
}

fn sonic_native_exact_all(lines: &[Line], out: &mut Vec<Tick>) -> usize {
    let mut ticks = 0;
    fn text(n: &Option<sonic_rs::RawNumber>) -> Option<&str> {
        n.as_ref().map(sonic_rs::RawNumber::as_str)
    }
    for line in lines {
        out.clear();
        let Ok(raw) = sonic_rs::from_slice::<NativeExact>(&line.json) else {
            continue;
        };
        let Ok(symbol) = Symbol::new(&raw.sym) else {
            continue;
        };
        let px = price(text(&raw.px));
        let tick = Tick {
            symbol,
            kind: if px.is_some() {
                TickKind::Trade
            } else {
                TickKind::Quote
            },
            px,
            qty: size(text(&raw.qty)),
            bid: price(text(&raw.bid)),
            bid_qty: size(text(&raw.bid_qty)),
            ask: price(text(&raw.ask)),
            ask_qty: size(text(&raw.ask_qty)),
            ts: raw.ts,
            rx: line.rx,
        };
        if tick.px.is_none() && tick.bid.is_none() && tick.ask.is_none() || tick.ts == 0 {
            continue;
        }
        out.push(tick);
        ticks += 1;
        black_box(&out[..]);
    }
    ticks
}

fn native_all(decoder: &mut NativeDecoder, lines: &[Line], out: &mut Vec<Tick>) -> usize {
    let mut ticks = 0;
    for line in lines {
        out.clear();
        if let Ok(tick) = decoder.decode(&line.json, line.rx) {
            out.push(tick);
            ticks += 1;
            black_box(&out[..]);
        }
    }
    ticks
}

// === Benches ===

fn decode<M: Measurement>(c: &mut Criterion<M>) {
    let (path, lines) = recording();
    let mut out = Vec::with_capacity(16);

    // Every entry must see the same ticks, or the comparison is meaningless.
    let expected = tickcast_all(&mut Decoder::new(Format::Binance), &lines, &mut out);
    assert_eq!(
        tickcast_all(&mut Decoder::new(Format::Auto), &lines, &mut out),
        expected
    );
    assert_eq!(struct_all(&lines, &mut out, serde_envelope), expected);
    assert_eq!(value_all::<serde_json::Value>(&lines, &mut out), expected);
    assert_eq!(struct_all(&lines, &mut out, sonic_envelope), expected);
    assert_eq!(value_all::<sonic_rs::Value>(&lines, &mut out), expected);
    eprintln!(
        "decode: {} lines, {expected} ticks from {}",
        lines.len(),
        path.display()
    );

    let mut group = c.benchmark_group("decode_binance");
    group.throughput(Throughput::Elements(lines.len() as u64));
    group.sample_size(20);
    group.warm_up_time(Duration::from_secs(2));
    group.measurement_time(Duration::from_secs(6));
    let mut decoder = Decoder::new(Format::Binance);
    group.bench_function("tickcast_binance", |b| {
        b.iter(|| tickcast_all(&mut decoder, &lines, &mut out))
    });
    let mut decoder = Decoder::new(Format::Auto);
    group.bench_function("tickcast_auto", |b| {
        b.iter(|| tickcast_all(&mut decoder, &lines, &mut out))
    });
    group.bench_function("serde_json_struct", |b| {
        b.iter(|| struct_all(&lines, &mut out, serde_envelope))
    });
    group.bench_function("serde_json_value", |b| {
        b.iter(|| value_all::<serde_json::Value>(&lines, &mut out))
    });
    group.bench_function("sonic_rs_struct", |b| {
        b.iter(|| struct_all(&lines, &mut out, sonic_envelope))
    });
    group.bench_function("sonic_rs_value", |b| {
        b.iter(|| value_all::<sonic_rs::Value>(&lines, &mut out))
    });
    group.finish();

    // The same ticks as native lines, and as the JSON of their SSE events.
    let mut ticks = Vec::new();
    let mut decoder = Decoder::new(Format::Binance);
    for line in &lines {
        let _ = decoder.decode(&line.json, line.rx, &mut ticks);
    }
    let native: Vec<Line> = ticks
        .iter()
        .map(|tick| Line {
            rx: tick.rx,
            json: native_line(tick),
        })
        .collect();
    let sse_json: Vec<Line> = ticks
        .iter()
        .enumerate()
        .map(|(i, tick)| {
            let mut json = Vec::with_capacity(256);
            write_json(&mut json, i as u64 + 1, i as u64 + 1, tick);
            Line { rx: tick.rx, json }
        })
        .collect();
    let mut native_decoder = NativeDecoder::new();
    for (tick, line) in ticks.iter().zip(&native) {
        assert_eq!(
            native_decoder.decode(&line.json, line.rx).as_ref(),
            Ok(tick)
        );
    }
    assert_eq!(
        native_all(&mut native_decoder, &sse_json, &mut out),
        ticks.len()
    );
    let mut float_out = Vec::with_capacity(16);
    assert_eq!(
        native_struct_all(&native, &mut float_out, serde_native),
        native.len()
    );
    assert_eq!(
        native_struct_all(&native, &mut float_out, sonic_native),
        native.len()
    );
    assert_eq!(sonic_native_exact_all(&native, &mut out), native.len());
    for (tick, line) in ticks.iter().zip(&native) {
        sonic_native_exact_all(std::slice::from_ref(line), &mut out);
        assert_eq!(out.first(), Some(tick), "sonic-rs exact: same tick");
    }
    let mut decoder = Decoder::new(Format::Native);
    assert_eq!(tickcast_all(&mut decoder, &native, &mut out), native.len());
    let bytes = |lines: &[Line]| lines.iter().map(|l| l.json.len()).sum::<usize>() / lines.len();
    eprintln!(
        "decode: {} native lines of {} bytes on average ({} as SSE JSON; Binance frames {})",
        native.len(),
        bytes(&native),
        bytes(&sse_json),
        bytes(&lines)
    );

    let mut group = c.benchmark_group("decode_native");
    group.throughput(Throughput::Elements(native.len() as u64));
    group.sample_size(20);
    group.warm_up_time(Duration::from_secs(2));
    group.measurement_time(Duration::from_secs(6));
    group.bench_function("tickcast_native", |b| {
        b.iter(|| native_all(&mut native_decoder, &native, &mut out))
    });
    group.bench_function("tickcast_format_native", |b| {
        b.iter(|| tickcast_all(&mut decoder, &native, &mut out))
    });
    group.bench_function("serde_json_struct", |b| {
        b.iter(|| native_struct_all(&native, &mut float_out, serde_native))
    });
    group.bench_function("sonic_rs_struct", |b| {
        b.iter(|| native_struct_all(&native, &mut float_out, sonic_native))
    });
    group.bench_function("sonic_rs_exact", |b| {
        b.iter(|| sonic_native_exact_all(&native, &mut out))
    });
    group.bench_function("tickcast_native_sse_json", |b| {
        b.iter(|| native_all(&mut native_decoder, &sse_json, &mut out))
    });
    group.finish();
}

/// A tick as a native feed line: the fields of the native format only, prices as JSON numbers
/// with the exact digits.
fn native_line(tick: &Tick) -> Vec<u8> {
    let mut json = Vec::with_capacity(160);
    json.extend_from_slice(b"{\"sym\":\"");
    json.extend_from_slice(tick.symbol.as_str().as_bytes());
    json.push(b'"');
    for (name, value) in [
        ("px", tick.px),
        ("qty", tick.qty),
        ("bid", tick.bid),
        ("bid_qty", tick.bid_qty),
        ("ask", tick.ask),
        ("ask_qty", tick.ask_qty),
    ] {
        if let Some(value) = value {
            json.extend_from_slice(format!(",\"{name}\":").as_bytes());
            value.write_to(&mut json);
        }
    }
    json.extend_from_slice(format!(",\"ts\":{}}}", tick.ts).as_bytes());
    json
}

// === On-CPU time ===

/// The bench thread's time on a CPU, from the scheduler (`/proc/thread-self/schedstat`, ns):
/// unlike wall time, it leaves out the time other processes on a shared machine take the core
/// away, so throughput is per core of CPU actually used. Cache and memory-bandwidth contention
/// from neighbours still shows.
struct OnCpuTime;

/// Wall time's formatter: the values are durations either way.
static WALL_TIME: WallTime = WallTime;

fn on_cpu_ns() -> u64 {
    let stat = std::fs::read_to_string("/proc/thread-self/schedstat").unwrap();
    stat.split_whitespace().next().unwrap().parse().unwrap()
}

impl Measurement for OnCpuTime {
    type Intermediate = u64;
    type Value = Duration;

    fn start(&self) -> u64 {
        on_cpu_ns()
    }
    fn end(&self, start: u64) -> Duration {
        Duration::from_nanos(on_cpu_ns() - start)
    }
    fn add(&self, v1: &Duration, v2: &Duration) -> Duration {
        *v1 + *v2
    }
    fn zero(&self) -> Duration {
        Duration::ZERO
    }
    fn to_f64(&self, value: &Duration) -> f64 {
        value.as_nanos() as f64
    }
    fn formatter(&self) -> &dyn ValueFormatter {
        WALL_TIME.formatter()
    }
}

/// On-CPU time by default; `TICKCAST_BENCH_CLOCK=wall` for criterion's wall time.
fn main() {
    if std::env::var("TICKCAST_BENCH_CLOCK").as_deref() == Ok("wall") {
        let mut c = Criterion::default().configure_from_args();
        decode(&mut c);
        c.final_summary();
    } else {
        let mut c = Criterion::default()
            .with_measurement(OnCpuTime)
            .configure_from_args();
        decode(&mut c);
        c.final_summary();
    }
}
