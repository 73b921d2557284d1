//! Checks of the line decoders: one input is one or more lines (split at `\n`) decoded as one
//! [`Format`].
//!
//! What a user of a decoder relies on, checked for every line:
//! - no panic, whatever the bytes;
//! - on `Err`, `out` is exactly as it was (nothing half applied);
//! - on `Ok(Skipped(kind))`, nothing appended and `kind` is one of [`skip::ALL`];
//! - on `Ok(Ticks(n))`, exactly `n` ticks appended, each well formed: a valid symbol (for a
//!   venue `VENUE:name`, the venue matching the format), prices positive, sizes non-negative,
//!   a trade with its price (and its size, at a venue), a quote with a bid or an ask and no
//!   trade fields, decimals that print and parse back to themselves, `rx` as given, a venue
//!   time within 2000..2100 and a native `ts` within `1..2^63`;
//! - the same outcome from a fresh decoder as from one that decoded the previous lines (no
//!   state leaks between lines through the reused buffers), and twice in a row;
//! - `auto` gives exactly what one of the concrete formats gives;
//! - native lines: [`NativeDecoder`] and `Decoder::new(Format::Native)` agree, and every field
//!   reads back as the input's text (the decimal digits exactly as written, the symbol, `ts`),
//!   checked against serde_json as an independent parser.

use std::collections::BTreeMap;

use serde_json::value::RawValue;
use tickcast::tick::Reject;
use tickcast::feed::native::NativeDecoder;
use tickcast::feed::venue::{Decoded, Decoder, Format};
use tickcast::tick::skip;
use tickcast::tick::{Decimal, MAX_SYMBOL_LEN, Symbol, Tick, TickKind};

/// The receive time passed to every decode: a real one from the Binance recording, inside the
/// venue time window, so ticks that take `rx` as their time stay valid.
pub const RX: u64 = 1_723_161_254_087_891_268;

/// Lines decoded per input at most: the stateful comparison needs a few, not thousands.
const MAX_LINES: usize = 16;

/// 2000-01-01 and 2100-01-01 in ns: the venue time window (see `tickcast::feed::venue`).
const VENUE_TIME: std::ops::Range<u64> = 946_684_800_000_000_000..4_102_444_800_000_000_000;

/// The concrete formats `auto` chooses among.
const CONCRETE: [Format; 6] = [
    Format::Native,
    Format::Binance,
    Format::CoinbaseExchange,
    Format::CoinbaseAdvanced,
    Format::Kraken,
    Format::Bitstamp,
];

/// Decodes `data` as `format` and checks every invariant in the module docs.
pub fn check(format: Format, data: &[u8]) {
    // The whole input as one line (JSON may hold raw newlines as whitespace)...
    let whole = decode_fresh(format, data);
    check_outcome(format, data, &whole);
    // ...and, when it has several, line by line through one decoder, as a feed does.
    if memchr_newline(data) {
        let mut shared = Decoder::new(format);
        for line in data.split(|&b| b == b'\n').take(MAX_LINES) {
            let fresh = decode_fresh(format, line);
            check_outcome(format, line, &fresh);
            let reused = decode_with(&mut shared, line);
            assert_eq!(
                reused,
                fresh,
                "a decoder that decoded earlier lines disagrees with a fresh one on {:?}",
                String::from_utf8_lossy(line)
            );
        }
    }
}

fn memchr_newline(data: &[u8]) -> bool {
    data.contains(&b'\n')
}

/// The outcome of one decode and the whole `out` vector after it.
type Outcome = (Result<Decoded, Reject>, Vec<Tick>);

/// A tick that no decoder produces, placed in `out` before decoding to see that it survives.
fn sentinel() -> Tick {
    Tick {
        symbol: Symbol::new("SENTINEL:x").expect("valid symbol"),
        kind: TickKind::Trade,
        px: Decimal::new(1, 0),
        qty: Decimal::new(0, 0),
        bid: None,
        bid_qty: None,
        ask: None,
        ask_qty: None,
        ts: 1,
        rx: 2,
    }
}

/// Decodes `line` with a fresh decoder, twice in a row, and checks that both give the same.
fn decode_fresh(format: Format, line: &[u8]) -> Outcome {
    let mut decoder = Decoder::new(format);
    let first = decode_with(&mut decoder, line);
    let second = decode_with(&mut decoder, line);
    assert_eq!(first, second, "decoding the same line twice differs");
    first
}

fn decode_with(decoder: &mut Decoder, line: &[u8]) -> Outcome {
    let mut out = vec![sentinel()];
    let result = decoder.decode(line, RX, &mut out);
    (result, out)
}

/// The invariants of one decode (see the module docs).
fn check_outcome(format: Format, line: &[u8], (result, out): &Outcome) {
    assert_eq!(
        out.first(),
        Some(&sentinel()),
        "the tick already in `out` changed"
    );
    let context = || String::from_utf8_lossy(line).into_owned();
    match result {
        Err(reject) => {
            assert_eq!(
                out.len(),
                1,
                "Err({reject:?}) but ticks were appended: {}",
                context()
            );
            assert!(!reject.to_string().is_empty());
        }
        Ok(Decoded::Skipped(kind)) => {
            assert_eq!(out.len(), 1, "Skipped({kind}) but ticks were appended");
            assert!(skip::ALL.contains(kind), "unknown skip label {kind:?}");
        }
        Ok(Decoded::Ticks(n)) => {
            assert_eq!(
                out.len(),
                1 + n,
                "Ticks({n}) but {} appended",
                out.len() - 1
            );
            for tick in &out[1..] {
                check_tick(format, tick);
            }
        }
    }
    match format {
        Format::Native => check_native(line, result, out),
        Format::Auto => check_auto(line, result, out),
        _ => {}
    }
}

/// The venue prefix a format's symbols carry; `None` for native (any valid symbol).
fn venue_prefix(format: Format) -> Option<&'static str> {
    match format {
        Format::Native | Format::Auto => None,
        Format::Binance => Some("BINANCE:"),
        Format::CoinbaseExchange | Format::CoinbaseAdvanced => Some("COINBASE:"),
        Format::Kraken => Some("KRAKEN:"),
        Format::Bitstamp => Some("BITSTAMP:"),
    }
}

/// One appended tick is well formed for `format`.
fn check_tick(format: Format, tick: &Tick) {
    let name = tick.symbol.as_str();
    assert!(!name.is_empty(), "empty symbol in {tick:?}");
    assert!(name.len() <= MAX_SYMBOL_LEN);
    assert_eq!(
        Symbol::new(name),
        Ok(tick.symbol),
        "symbol does not revalidate"
    );
    if let Some(prefix) = venue_prefix(format) {
        let rest = name
            .strip_prefix(prefix)
            .unwrap_or_else(|| panic!("{format} symbol {name:?} lacks {prefix}"));
        assert!(
            !rest.is_empty() && !rest.contains(':'),
            "venue name {name:?}"
        );
    }
    match tick.kind {
        TickKind::Trade => {
            assert!(tick.px.is_some(), "trade without px: {tick:?}");
            if venue_prefix(format).is_some() {
                assert!(tick.qty.is_some(), "venue trade without qty: {tick:?}");
            }
        }
        TickKind::Quote => {
            // `qty` is the trade size (`Tick::qty`): a quote has neither it nor a price.
            assert!(
                tick.px.is_none() && tick.qty.is_none(),
                "quote with trade fields: {tick:?}"
            );
            assert!(
                tick.bid.is_some() || tick.ask.is_some(),
                "quote without bid or ask: {tick:?}"
            );
        }
    }
    for price in [tick.px, tick.bid, tick.ask].into_iter().flatten() {
        assert!(
            price.is_positive(),
            "price {price} not positive in {tick:?}"
        );
        check_decimal(price);
    }
    for size in [tick.qty, tick.bid_qty, tick.ask_qty].into_iter().flatten() {
        assert!(!size.is_negative(), "size {size} negative in {tick:?}");
        check_decimal(size);
    }
    assert_eq!(tick.rx, RX, "rx not passed through");
    if venue_prefix(format).is_some() {
        assert!(
            VENUE_TIME.contains(&tick.ts),
            "venue ts {} outside 2000..2100",
            tick.ts
        );
    } else {
        assert!(
            (1..=i64::MAX as u64).contains(&tick.ts),
            "ts {} out of range",
            tick.ts
        );
    }
}

/// A decimal prints as text that parses back to the same decimal.
fn check_decimal(value: Decimal) {
    // `tickcast::tick::decimal::MAX_SCALE`, which the crate does not export.
    assert!(value.scale() <= 18, "scale {} above 18", value.scale());
    let text = value.to_string();
    assert_eq!(
        Decimal::parse(text.as_bytes()),
        Ok(value),
        "{text} does not parse back"
    );
}

/// `auto` decodes a line exactly as one of the concrete formats does, unless it recognises
/// none (or the line is not a JSON object at all).
fn check_auto(line: &[u8], result: &Result<Decoded, Reject>, out: &[Tick]) {
    if matches!(result, Err(Reject::UnknownFormat)) {
        return;
    }
    let matched = CONCRETE.iter().copied().find(|&format| {
        let (concrete, concrete_out) = decode_fresh(format, line);
        concrete == *result && concrete_out == out
    });
    let Some(format) = matched else {
        panic!(
            "auto gave {result:?} {out:?}, which no concrete format gives, for {:?}",
            String::from_utf8_lossy(line)
        );
    };
    // The ticks meet the stricter rules of the format that produced them (venue prefix and
    // time window), not only the native ones checked under `Auto`.
    for tick in &out[1..] {
        check_tick(format, tick);
    }
}

/// Native lines: the two native entry points agree, and an accepted line's fields read back
/// as its text, against serde_json.
fn check_native(line: &[u8], result: &Result<Decoded, Reject>, out: &[Tick]) {
    let direct = NativeDecoder::new().decode(line, RX);
    match (&direct, result) {
        (Ok(tick), Ok(Decoded::Ticks(1))) => assert_eq!(Some(tick), out.get(1)),
        (Err(a), Err(b)) => assert_eq!(a, b, "NativeDecoder and Decoder(Native) disagree"),
        _ => panic!("NativeDecoder gave {direct:?}, Decoder(Native) {result:?}"),
    }
    let Ok(tick) = direct else { return };

    let text = std::str::from_utf8(line.trim_ascii()).expect("accepted lines are UTF-8");
    let fields: BTreeMap<String, &RawValue> = serde_json::from_str(text).unwrap_or_else(|e| {
        panic!("native accepted a line serde_json rejects ({e}): {text:?}");
    });
    let field = |key: &str| -> Option<Source> {
        let raw = fields.get(key)?.get();
        match raw.as_bytes()[0] {
            b'"' => Some(Source::Text(
                serde_json::from_str::<String>(raw).expect("a JSON string"),
            )),
            b'n' => None,
            b'-' | b'0'..=b'9' => Some(Source::Number(raw.to_owned())),
            // A one-string array reads as a number: the lossless number view's documented
            // blind spot (`"px":["1.5"]`), which no producer sends and which is harmless.
            b'[' => match serde_json::from_str::<Vec<String>>(raw) {
                Ok(mut one) if one.len() == 1 => one.pop().map(Source::Number),
                _ => Some(Source::Other),
            },
            _ => Some(Source::Other),
        }
    };

    match field("sym") {
        Some(Source::Text(sym)) => assert_eq!(tick.symbol.as_str(), sym, "symbol changed"),
        other => panic!("accepted a sym of {other:?}"),
    }
    let decimals = [
        ("px", tick.px),
        ("qty", tick.qty),
        ("bid", tick.bid),
        ("bid_qty", tick.bid_qty),
        ("ask", tick.ask),
        ("ask_qty", tick.ask_qty),
    ];
    for (key, value) in decimals {
        match (field(key), value) {
            (None, None) => {}
            (Some(Source::Number(text) | Source::Text(text)), Some(value)) => {
                // An exponent moves the point (`1.5e3` is `1500`): only exponent-free text
                // must come back verbatim.
                if !text.contains(['e', 'E']) {
                    assert_eq!(value.to_string(), text, "{key} does not print as its input");
                }
            }
            (source, value) => panic!("{key}: input {source:?}, tick {value:?}"),
        }
    }
    assert_eq!(tick.kind == TickKind::Trade, tick.px.is_some());
    match field("ts") {
        Some(Source::Number(text)) => {
            assert_eq!(
                text.parse::<u64>().ok(),
                Some(tick.ts),
                "ts is not its input"
            )
        }
        other => panic!("accepted a ts of {other:?}"),
    }
}

/// A field's value in the input, as serde_json sees it.
#[derive(Debug)]
enum Source {
    /// A JSON number's exact text.
    Number(String),
    /// A JSON string, unescaped.
    Text(String),
    /// `true`, `false`, an object or an array.
    Other,
}
