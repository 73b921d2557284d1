//! Decoders for what real exchanges send: a [`Format`] per wire format, one [`Decoder`] per
//! connection or file, turning each line into zero or more [`Tick`]s or a counted skip.
//!
//! A feed task (TCP or a recorded file) owns one [`Decoder`] and calls [`Decoder::decode`] on
//! every line, passing the ingest time `rx`; it hands the appended ticks to the sequencer,
//! counts a [`Decoded::Skipped`] by its kind label and a [`Reject`] by reason. Parsing goes
//! through the native decoder's `LineParser`: simd-json's tape behind the lossless number
//! view, so a price like `61837.63000000` (a string at Binance, a JSON number at Kraken) keeps
//! its exact digits and never passes through `f64`.
//!
//! # Formats
//!
//! | [`Format`] | name | messages that give ticks |
//! |---|---|---|
//! | `Native` | `native` | tickcast's own lines ([`super::native`]) |
//! | `Binance` | `binance` | spot `trade`, `aggTrade`, `bookTicker`, `24hrTicker`, bare or in the combined-stream wrapper `{"stream":..,"data":..}` |
//! | `CoinbaseExchange` | `coinbase` | `match`, `last_match`, `ticker` |
//! | `CoinbaseAdvanced` | `coinbase-advanced` | `market_trades`, `ticker`, `ticker_batch` envelopes |
//! | `Kraken` | `kraken` | websocket v2 `trade`, `ticker` |
//! | `Bitstamp` | `bitstamp` | websocket v2 `trade` on `live_trades_<pair>` |
//! | `Auto` | `auto` | any of the above, chosen per line from the message's shape |
//!
//! `Auto` looks at the top-level keys of each line, in this order: `sym` is native; `stream`,
//! `e` or `lastUpdateId` is Binance; `channel` with `events` is Coinbase Advanced; `event` is
//! Bitstamp; `channel` or `method` is Kraken; `type` is Coinbase Exchange; `u` (a bare
//! `bookTicker`), `result` (a subscription reply) or `code` (an error) is Binance. Anything
//! else is [`Reject::UnknownFormat`]. A line is then decoded exactly as the detected format
//! would, so a file mixing venues decodes line by line as if each had its own decoder.
//!
//! # Symbols
//!
//! A venue's tick is named `VENUE:NAME`, so the same instrument from two venues never shares a
//! symbol: `BINANCE:BTCUSDT` (Binance's `s`), `COINBASE:BTC-USD` (`product_id`),
//! `KRAKEN:MATIC/USD` (`symbol`), `BITSTAMP:ETHUSD` (the pair of the `live_trades_<pair>`
//! channel, upper-cased). Coinbase Exchange and Coinbase Advanced Trade are two APIs onto one
//! matching engine with the same product ids, so both use `COINBASE:`: a BTC-USD trade is the
//! same trade whichever API reported it. The venue's own name is kept as sent (apart from
//! Bitstamp's case), must fit [`crate::tick::MAX_SYMBOL_LEN`] with its prefix, and may not
//! contain `:` so that the first `:` always ends the venue. Native symbols stay as given.
//!
//! # Trades and quotes
//!
//! A [`TickKind::Trade`] comes only from a message that reports one exchange trade (Binance
//! `trade`/`aggTrade`, Coinbase `match`/`last_match`, Advanced `market_trades`, Kraken and
//! Bitstamp `trade`), so counting trade ticks counts each exchange trade once whatever channels
//! are subscribed. Ticker messages (Binance `bookTicker`/`24hrTicker`, the Coinbase, Advanced
//! and Kraken `ticker`s) are [`TickKind::Quote`]s from their best bid and ask with sizes where
//! the venue sends them; the last price they repeat is not a new trade and is not carried. A
//! ticker with neither a bid nor an ask is [`Reject::MissingPrice`].
//!
//! # Timestamps
//!
//! [`Tick::ts`] is the exchange's time in ns: Binance trades use the trade time `T` (the event
//! time `E` when `T` is absent), tickers `E`; Coinbase, Advanced trades and Kraken use the
//! message's RFC 3339 `time`/`timestamp` (Advanced tickers the envelope's `timestamp`);
//! Bitstamp `microtimestamp` (else `timestamp`, seconds). Binance's spot `bookTicker` carries no
//! time at all, and older Kraken tickers none either: those ticks take `rx` as `ts`. Venue
//! times must fall in the years 2000 to 2099, else [`Reject::BadTimestamp`]: a decoder has no
//! clock, and anything outside is a unit or parsing mistake, not a market event. Snapshot
//! batches (the trades Advanced and Kraken send on subscribing) are appended oldest first.
//!
//! # Skipped kinds
//!
//! Valid messages that are not ticks come back as [`Decoded::Skipped`] with one of the
//! [`skip::ALL`] labels: `book_update`, `book_snapshot`, `candle`, `stats`, `heartbeat`,
//! `subscription`, `status`, `error` (the venue reported an error: logged by the caller, which
//! has the line), `account` (private order and balance channels), `reference_data`.
//!
//! # Faults
//!
//! Within a tick, checks run in the native format's order (symbol, price, size, bid, bid size,
//! ask, ask size, missing price, time); a venue trade without its size is
//! [`Reject::MissingSize`]. A venue message of unknown type is [`Reject::UnknownMessage`], one
//! with a broken envelope [`Reject::MalformedMessage`]. Native lines keep the native rules
//! (`ts` is any integer in `1..2^63`, no year window). A message that would give several ticks gives all or none: on any
//! fault the ticks appended so far are removed from `out`. A known field given twice is
//! [`Reject::InvalidJson`]: which one the venue meant is ambiguous.
//!
//! Decoding allocates nothing in the steady state beyond the growth of `out` (a snapshot batch
//! of more than 20 trades may allocate while sorting). This module must never round a number
//! through `f64`, do I/O, log, or read the clock.

mod binance;
mod bitstamp;
mod coinbase;
mod coinbase_advanced;
mod kraken;

use std::fmt;
use std::str::FromStr;

use simd_json::tape::{Object, Value};

use crate::feed::Reject;
use crate::feed::native::{self, Field, LineParser};
use crate::tick::{MAX_SYMBOL_LEN, Symbol, Tick, TickKind};

/// A feed's wire format, chosen per source (`format=` in configuration), or [`Format::Auto`]
/// to detect it per line.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Format {
    /// tickcast's own JSON lines ([`super::native`]).
    Native,
    /// Binance spot websocket streams, bare or combined.
    Binance,
    /// Coinbase Exchange websocket feed (`ws-feed.exchange.coinbase.com`).
    CoinbaseExchange,
    /// Coinbase Advanced Trade websocket (`advanced-trade-ws.coinbase.com`).
    CoinbaseAdvanced,
    /// Kraken spot websocket v2.
    Kraken,
    /// Bitstamp websocket v2.
    Bitstamp,
    /// Any of the above, detected per line from the message's shape.
    Auto,
}

impl Format {
    /// Every format, in declaration order.
    pub const ALL: [Format; 7] = [
        Format::Native,
        Format::Binance,
        Format::CoinbaseExchange,
        Format::CoinbaseAdvanced,
        Format::Kraken,
        Format::Bitstamp,
        Format::Auto,
    ];

    /// The name used in configuration and flags (`format=kraken`).
    pub fn as_str(self) -> &'static str {
        match self {
            Format::Native => "native",
            Format::Binance => "binance",
            Format::CoinbaseExchange => "coinbase",
            Format::CoinbaseAdvanced => "coinbase-advanced",
            Format::Kraken => "kraken",
            Format::Bitstamp => "bitstamp",
            Format::Auto => "auto",
        }
    }
}

impl fmt::Display for Format {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl FromStr for Format {
    type Err = UnknownFormatName;

    /// Parses a format name, ignoring ASCII case.
    fn from_str(name: &str) -> Result<Self, Self::Err> {
        Format::ALL
            .into_iter()
            .find(|format| format.as_str().eq_ignore_ascii_case(name))
            .ok_or_else(|| UnknownFormatName(name.to_owned()))
    }
}

/// A format name that is none of [`Format::ALL`]; the message lists the valid ones.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error(
    "unknown feed format {0:?}: expected one of native, binance, coinbase, coinbase-advanced, \
     kraken, bitstamp, auto"
)]
pub struct UnknownFormatName(String);

/// What one line gave.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Decoded {
    /// This many ticks were appended to `out` (zero for an empty batch, which venues do send).
    Ticks(usize),
    /// A valid message that is not a tick, by kind.
    Skipped(skip::Kind),
}

/// The kinds of [`Decoded::Skipped`], each with a stable `snake_case` label to count skipped
/// messages by (the `kind` label of `tickcast_feed_skipped_total`).
pub mod skip {
    /// A kind of valid feed message that is not a tick.
    #[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
    pub enum Kind {
        /// An incremental order-book change: Binance `depthUpdate`, Coinbase `l2update` and the
        /// full channel's order messages, Advanced `l2_data` updates, Kraken `book`/`level3`
        /// updates, Bitstamp `diff_order_book` and `live_orders`.
        BookUpdate,
        /// A whole (or top-N) order book: Binance's REST `lastUpdateId` snapshot and partial-depth
        /// streams, Coinbase `snapshot`, Advanced and Kraken book snapshots, Bitstamp `order_book`.
        BookSnapshot,
        /// OHLC candles: Binance `kline`, Advanced `candles`, Kraken `ohlc`.
        Candle,
        /// Rolling statistics without a book: Binance mini tickers, rolling-window tickers and
        /// `avgPrice`.
        Stats,
        /// Keep-alives and pongs.
        Heartbeat,
        /// Subscribe and unsubscribe acknowledgements.
        Subscription,
        /// Exchange or connection status: Coinbase and Advanced `status`, Kraken `status`,
        /// Bitstamp `bts:request_reconnect`.
        Status,
        /// An error the venue reported (bad subscription, rate limit); the caller logs the line.
        Error,
        /// Private account channels: orders, executions, balances.
        Account,
        /// Instrument definitions: Kraken `instrument`.
        ReferenceData,
    }

    impl Kind {
        /// The label (`book_update`, ...).
        pub fn as_str(self) -> &'static str {
            match self {
                Kind::BookUpdate => "book_update",
                Kind::BookSnapshot => "book_snapshot",
                Kind::Candle => "candle",
                Kind::Stats => "stats",
                Kind::Heartbeat => "heartbeat",
                Kind::Subscription => "subscription",
                Kind::Status => "status",
                Kind::Error => "error",
                Kind::Account => "account",
                Kind::ReferenceData => "reference_data",
            }
        }

        /// Position in [`ALL`]: a counter index, no string compare.
        pub fn index(self) -> usize {
            self as usize
        }
    }

    impl std::fmt::Display for Kind {
        fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
            f.write_str(self.as_str())
        }
    }

    /// [`Kind::BookUpdate`].
    pub const BOOK_UPDATE: Kind = Kind::BookUpdate;
    /// [`Kind::BookSnapshot`].
    pub const BOOK_SNAPSHOT: Kind = Kind::BookSnapshot;
    /// [`Kind::Candle`].
    pub const CANDLE: Kind = Kind::Candle;
    /// [`Kind::Stats`].
    pub const STATS: Kind = Kind::Stats;
    /// [`Kind::Heartbeat`].
    pub const HEARTBEAT: Kind = Kind::Heartbeat;
    /// [`Kind::Subscription`].
    pub const SUBSCRIPTION: Kind = Kind::Subscription;
    /// [`Kind::Status`].
    pub const STATUS: Kind = Kind::Status;
    /// [`Kind::Error`].
    pub const ERROR: Kind = Kind::Error;
    /// [`Kind::Account`].
    pub const ACCOUNT: Kind = Kind::Account;
    /// [`Kind::ReferenceData`].
    pub const REFERENCE_DATA: Kind = Kind::ReferenceData;

    /// Every kind, in [`Kind::index`] order, for registering counters up front.
    pub const ALL: [Kind; 10] = [
        BOOK_UPDATE,
        BOOK_SNAPSHOT,
        CANDLE,
        STATS,
        HEARTBEAT,
        SUBSCRIPTION,
        STATUS,
        ERROR,
        ACCOUNT,
        REFERENCE_DATA,
    ];
}

// === impl Decoder ===

/// Decodes lines of one [`Format`] into [`Tick`]s, reusing its buffers from line to line.
pub struct Decoder {
    format: Format,
    parser: LineParser,
}

impl Decoder {
    /// A decoder with small initial buffers; they grow to the longest line seen, then stay.
    pub fn new(format: Format) -> Self {
        Self {
            format,
            parser: LineParser::new(),
        }
    }

    /// The format this decoder reads.
    pub fn format(&self) -> Format {
        self.format
    }

    /// Decodes one line (without its `\n`; surrounding whitespace and a trailing `\r` are
    /// tolerated), appending its ticks to `out`. `rx` is the ingest time in ns since the Unix
    /// epoch, copied to [`Tick::rx`] (and used as [`Tick::ts`] where the venue sends no time).
    /// On `Err`, `out` is as it was.
    pub fn decode(&mut self, line: &[u8], rx: u64, out: &mut Vec<Tick>) -> Result<Decoded, Reject> {
        let start = out.len();
        let format = self.format;
        let decoded = self.parser.parse(line, |root| {
            let format = match format {
                Format::Auto => detect(root)?,
                format => format,
            };
            decode_as(format, root, rx, out)
        });
        if decoded.is_err() {
            out.truncate(start);
        }
        decoded
    }
}

impl fmt::Debug for Decoder {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Decoder")
            .field("format", &self.format)
            .field("parser", &self.parser)
            .finish()
    }
}

/// Decodes a parsed line as `format`, which is never `Auto`.
fn decode_as(
    format: Format,
    root: Value<'_, '_>,
    rx: u64,
    out: &mut Vec<Tick>,
) -> Result<Decoded, Reject> {
    match format {
        Format::Native => {
            out.push(native::read_tick(root, rx)?);
            Ok(Decoded::Ticks(1))
        }
        Format::Binance => binance::decode(root, rx, out),
        Format::CoinbaseExchange => coinbase::decode(root, rx, out),
        Format::CoinbaseAdvanced => coinbase_advanced::decode(root, rx, out),
        Format::Kraken => kraken::decode(root, rx, out),
        Format::Bitstamp => bitstamp::decode(root, rx, out),
        // `detect` never returns `Auto`; this arm only keeps the match total.
        Format::Auto => Err(Reject::UnknownFormat),
    }
}

/// Picks the format of one message from its top-level keys (the order is in the module docs).
fn detect(root: Value<'_, '_>) -> Result<Format, Reject> {
    let object = root.as_object().ok_or(Reject::NotAnObject)?;
    let [
        sym,
        stream,
        e,
        last_update_id,
        channel,
        events,
        event,
        method,
        kind,
        u,
        result,
        code,
    ] = keys_present(
        &object,
        [
            "sym",
            "stream",
            "e",
            "lastUpdateId",
            "channel",
            "events",
            "event",
            "method",
            "type",
            "u",
            "result",
            "code",
        ],
    );
    Ok(if sym {
        Format::Native
    } else if stream || e || last_update_id {
        Format::Binance
    } else if channel && events {
        Format::CoinbaseAdvanced
    } else if event {
        Format::Bitstamp
    } else if channel || method {
        Format::Kraken
    } else if kind {
        Format::CoinbaseExchange
    } else if u || result || code {
        Format::Binance
    } else {
        return Err(Reject::UnknownFormat);
    })
}

// === Shared reading helpers ===

/// Which of `keys` the object has, in one pass over its keys.
fn keys_present<const N: usize>(object: &Object<'_, '_>, keys: [&str; N]) -> [bool; N] {
    let mut present = [false; N];
    for key in object.keys() {
        if let Some(slot) = keys.iter().position(|k| same_key(k, key)) {
            present[slot] = true;
        }
    }
    present
}

/// The values of `keys` in one pass over the object's pairs; absent keys are `None`. A key
/// given twice is [`Reject::InvalidJson`], as in the native format.
fn pick<'t, 'i, const N: usize>(
    object: &Object<'t, 'i>,
    keys: [&str; N],
) -> Result<[Option<Value<'t, 'i>>; N], Reject> {
    let mut found = [None; N];
    for (key, value) in object.iter() {
        if let Some(slot) = keys.iter().position(|k| same_key(k, key)) {
            if found[slot].is_some() {
                return Err(Reject::InvalidJson);
            }
            found[slot] = Some(value);
        }
    }
    Ok(found)
}

/// `a == b`, with the length and the first byte compared before the bytes: most keys differ
/// there, and venue keys are short (Binance's are mostly one letter), where a `memcmp` call
/// costs more than the comparison.
#[inline]
fn same_key(a: &str, b: &str) -> bool {
    a.len() == b.len() && a.as_bytes().first() == b.as_bytes().first() && a == b
}

/// A picked value as a [`Field`] (absent is [`Field::Unset`]).
fn field<'i>(value: Option<Value<'_, 'i>>) -> Field<'i> {
    value.map_or(Field::Unset, Field::of)
}

/// A picked envelope value (`type`, `channel`, `event`, `method`) that must be a string when
/// present: `Ok(None)` when absent or `null`, [`Reject::MalformedMessage`] for another type.
fn label<'i>(value: Option<Value<'_, 'i>>) -> Result<Option<&'i str>, Reject> {
    match field(value) {
        Field::Unset | Field::Null => Ok(None),
        Field::Text(text) => Ok(Some(text)),
        Field::Number(_) | Field::Other => Err(Reject::MalformedMessage),
    }
}

/// A picked value that must be an object, else [`Reject::MalformedMessage`].
fn object_of<'t, 'i>(value: Option<Value<'t, 'i>>) -> Result<Object<'t, 'i>, Reject> {
    value
        .and_then(|v| v.as_object())
        .ok_or(Reject::MalformedMessage)
}

/// A picked value that must be an array of objects, visited in order; anything else is
/// [`Reject::MalformedMessage`]. (A JSON number reaches here as a one-string array from the
/// lossless number view, and fails the object check like any other non-object.)
fn each_object<'t, 'i>(
    value: Option<Value<'t, 'i>>,
    mut visit: impl FnMut(Object<'t, 'i>) -> Result<(), Reject>,
) -> Result<(), Reject> {
    let array = value
        .and_then(|v| v.as_array())
        .ok_or(Reject::MalformedMessage)?;
    for item in array.iter() {
        visit(item.as_object().ok_or(Reject::MalformedMessage)?)?;
    }
    Ok(())
}

/// `VENUE:name` as a [`Symbol`]; `uppercase` upper-cases the name (Bitstamp's channel names
/// are lower case). See the module docs for the scheme.
fn venue_symbol(venue: &str, name: Field<'_>, uppercase: bool) -> Result<Symbol, Reject> {
    let name = match name {
        Field::Unset | Field::Null => return Err(Reject::MissingSymbol),
        Field::Text(name) => name.as_bytes(),
        Field::Number(_) | Field::Other => return Err(Reject::BadSymbol),
    };
    let len = venue.len() + 1 + name.len();
    if name.is_empty() || len > MAX_SYMBOL_LEN || name.contains(&b':') {
        return Err(Reject::BadSymbol);
    }
    // Built on the stack: a symbol never allocates.
    let mut buf = [0u8; MAX_SYMBOL_LEN];
    buf[..venue.len()].copy_from_slice(venue.as_bytes());
    buf[venue.len()] = b':';
    let tail = &mut buf[venue.len() + 1..len];
    tail.copy_from_slice(name);
    if uppercase {
        tail.make_ascii_uppercase();
    }
    let text = std::str::from_utf8(&buf[..len]).map_err(|_| Reject::BadSymbol)?;
    Symbol::new(text).map_err(|_| Reject::BadSymbol)
}

/// The field unless it is absent or `null`.
fn present(value: Field<'_>) -> Option<Field<'_>> {
    match value {
        Field::Unset | Field::Null => None,
        value => Some(value),
    }
}

/// A trade tick: `px` and `qty` required, checked in that order, then the time.
fn trade(
    symbol: Symbol,
    px: Field<'_>,
    qty: Field<'_>,
    ts: impl FnOnce() -> Result<u64, Reject>,
    rx: u64,
) -> Result<Tick, Reject> {
    let px = px.price()?.ok_or(Reject::MissingPrice)?;
    let qty = qty.size()?.ok_or(Reject::MissingSize)?;
    Ok(Tick::trade(symbol, px, Some(qty), ts()?, rx))
}

/// A quote tick from `[bid, bid_qty, ask, ask_qty]`, each optional, at least one price
/// required; checked in that order, then the time.
fn quote(
    symbol: Symbol,
    [bid, bid_qty, ask, ask_qty]: [Field<'_>; 4],
    ts: impl FnOnce() -> Result<u64, Reject>,
    rx: u64,
) -> Result<Tick, Reject> {
    let bid = bid.price()?;
    let bid_qty = bid_qty.size()?;
    let ask = ask.price()?;
    let ask_qty = ask_qty.size()?;
    if bid.is_none() && ask.is_none() {
        return Err(Reject::MissingPrice);
    }
    Ok(Tick {
        symbol,
        kind: TickKind::Quote,
        px: None,
        qty: None,
        bid,
        bid_qty,
        ask,
        ask_qty,
        ts: ts()?,
        rx,
    })
}

/// Orders a snapshot batch (`out[start..]`) oldest first. Venues list snapshot trades newest
/// first or in no documented order; a stable sort keeps same-time trades as sent.
fn oldest_first(out: &mut [Tick], start: usize) {
    if let Some(batch) = out.get_mut(start..) {
        batch.sort_by_key(|tick| tick.ts);
    }
}

// === Timestamps ===

const NANOS_PER_SEC: u64 = 1_000_000_000;
/// ns per ms, for Binance's epoch milliseconds.
const NANOS_PER_MILLI: u64 = 1_000_000;
/// ns per µs, for Bitstamp's `microtimestamp`.
const NANOS_PER_MICRO: u64 = 1_000;
/// 2000-01-01T00:00:00Z: no venue we decode existed before; an earlier time is a unit mistake.
const MIN_TIMESTAMP: u64 = 946_684_800 * NANOS_PER_SEC;
/// 2100-01-01T00:00:00Z, exclusive: without a clock, the widest bound that still catches a
/// microsecond value read as milliseconds.
const MAX_TIMESTAMP: u64 = 4_102_444_800 * NANOS_PER_SEC;

/// `ns` when it lies in the accepted years, else [`Reject::BadTimestamp`].
fn plausible(ns: u64) -> Result<u64, Reject> {
    if (MIN_TIMESTAMP..MAX_TIMESTAMP).contains(&ns) {
        Ok(ns)
    } else {
        Err(Reject::BadTimestamp)
    }
}

/// An integer count of `unit_ns` since the epoch, as a JSON number or a string of digits
/// (Bitstamp quotes its times), converted to ns.
fn epoch_time(value: Field<'_>, unit_ns: u64) -> Result<u64, Reject> {
    match value {
        Field::Unset | Field::Null => Err(Reject::MissingTimestamp),
        Field::Number(text) | Field::Text(text) => {
            let count = native::parse_timestamp(text)?;
            plausible(count.checked_mul(unit_ns).ok_or(Reject::BadTimestamp)?)
        }
        Field::Other => Err(Reject::BadTimestamp),
    }
}

/// An RFC 3339 time string (`2021-04-17T16:43:30.244075Z`), converted to ns since the epoch.
fn rfc3339_time(value: Field<'_>) -> Result<u64, Reject> {
    match value {
        Field::Unset | Field::Null => Err(Reject::MissingTimestamp),
        Field::Text(text) => plausible(parse_rfc3339(text.as_bytes()).ok_or(Reject::BadTimestamp)?),
        Field::Number(_) | Field::Other => Err(Reject::BadTimestamp),
    }
}

/// Parses `YYYY-MM-DDTHH:MM:SS[.fraction](Z|±HH:MM)` into ns since the Unix epoch. Fraction
/// digits past the ninth are dropped (below a nanosecond); a leap second (`:60`) is refused,
/// as no venue we decode sends one. `None` for anything else or a time before 1970.
fn parse_rfc3339(text: &[u8]) -> Option<u64> {
    let number = |at: usize, len: usize| -> Option<u32> {
        let digits = text.get(at..at + len)?;
        digits.iter().try_fold(0u32, |n, &b| {
            b.is_ascii_digit().then(|| n * 10 + u32::from(b - b'0'))
        })
    };
    let byte = |at: usize| text.get(at).copied();

    let year = number(0, 4)?;
    let month = number(5, 2)?;
    let day = number(8, 2)?;
    let hour = number(11, 2)?;
    let minute = number(14, 2)?;
    let second = number(17, 2)?;
    if byte(4) != Some(b'-')
        || byte(7) != Some(b'-')
        || !matches!(byte(10), Some(b'T' | b't'))
        || byte(13) != Some(b':')
        || byte(16) != Some(b':')
    {
        return None;
    }
    if !(1..=12).contains(&month)
        || day == 0
        || day > days_in_month(year, month)
        || hour > 23
        || minute > 59
        || second > 59
    {
        return None;
    }

    let mut at = 19;
    let mut nanos: u64 = 0;
    if byte(at) == Some(b'.') {
        at += 1;
        let start = at;
        while let Some(b) = byte(at).filter(u8::is_ascii_digit) {
            if at - start < 9 {
                nanos = nanos * 10 + u64::from(b - b'0');
            }
            at += 1;
        }
        let digits = at - start;
        if digits == 0 {
            return None;
        }
        for _ in digits.min(9)..9 {
            nanos *= 10;
        }
    }
    // Seconds east of UTC: subtracted to get UTC.
    let offset: i64 = match byte(at) {
        Some(b'Z' | b'z') => {
            at += 1;
            0
        }
        Some(sign @ (b'+' | b'-')) => {
            let hours = number(at + 1, 2)?;
            let minutes = number(at + 4, 2)?;
            if byte(at + 3) != Some(b':') || hours > 23 || minutes > 59 {
                return None;
            }
            at += 6;
            let seconds = i64::from(hours * 3600 + minutes * 60);
            if sign == b'-' { -seconds } else { seconds }
        }
        _ => return None,
    };
    if at != text.len() {
        return None;
    }

    let days = days_from_civil(i64::from(year), month, day);
    let seconds = days * 86_400 + i64::from(hour * 3600 + minute * 60 + second) - offset;
    let seconds = u64::try_from(seconds).ok()?;
    seconds.checked_mul(NANOS_PER_SEC)?.checked_add(nanos)
}

fn days_in_month(year: u32, month: u32) -> u32 {
    match month {
        2 if year.is_multiple_of(4) && (!year.is_multiple_of(100) || year.is_multiple_of(400)) => {
            29
        }
        2 => 28,
        4 | 6 | 9 | 11 => 30,
        _ => 31,
    }
}

/// Days from 1970-01-01 to the given proleptic Gregorian date (Howard Hinnant's
/// `days_from_civil`), exact for every year this parser accepts.
fn days_from_civil(year: i64, month: u32, day: u32) -> i64 {
    let year = if month <= 2 { year - 1 } else { year };
    let era = year.div_euclid(400);
    let year_of_era = year - era * 400;
    let month_from_march = i64::from((month + 9) % 12);
    let day_of_year = (153 * month_from_march + 2) / 5 + i64::from(day) - 1;
    let day_of_era = year_of_era * 365 + year_of_era / 4 - year_of_era / 100 + day_of_year;
    era * 146_097 + day_of_era - 719_468
}

#[cfg(test)]
mod tests {
    use std::collections::BTreeMap;
    use std::fs::File;
    use std::io::{BufRead, BufReader};

    use flate2::read::GzDecoder;

    use super::*;
    use crate::feed::native::NativeDecoder;
    use crate::tick::Decimal;

    // === Formats, times, symbols ===

    #[test]
    fn format_names_round_trip() {
        for format in Format::ALL {
            assert_eq!(format.as_str().parse::<Format>(), Ok(format));
            assert_eq!(format.to_string(), format.as_str());
        }
        assert_eq!("Coinbase-Advanced".parse(), Ok(Format::CoinbaseAdvanced));
        assert_eq!("KRAKEN".parse(), Ok(Format::Kraken));
        let error = "coinbase_advanced".parse::<Format>().unwrap_err();
        assert_eq!(
            error.to_string(),
            "unknown feed format \"coinbase_advanced\": expected one of native, binance, \
             coinbase, coinbase-advanced, kraken, bitstamp, auto"
        );
        assert!("".parse::<Format>().is_err());
    }

    #[test]
    fn skip_labels_are_unique_snake_case() {
        let mut seen = std::collections::HashSet::new();
        for (i, kind) in skip::ALL.into_iter().enumerate() {
            assert_eq!(kind.index(), i, "ALL is in index order");
            let label = kind.as_str();
            assert!(seen.insert(label), "duplicate {label}");
            assert!(
                label.bytes().all(|b| b.is_ascii_lowercase() || b == b'_'),
                "{label}"
            );
        }
    }

    #[test]
    fn rfc3339_times() {
        let z = 1_618_677_810_244_075_000;
        for (text, ns) in [
            ("2021-04-17T16:43:30.244075Z", z),
            ("2021-04-17t16:43:30.244075z", z),
            ("2021-04-17T18:43:30.244075+02:00", z),
            ("2021-04-17T13:13:30.244075-03:30", z),
            ("2021-04-17T16:43:30.244075000Z", z),
            // Digits below a nanosecond are dropped, not rounded.
            ("2021-04-17T16:43:30.244075000999Z", z),
            ("2021-04-17T16:43:30.2Z", 1_618_677_810_200_000_000),
            ("2021-04-17T16:43:30Z", 1_618_677_810_000_000_000),
            ("2023-02-09T20:30:37.167359596Z", 1_675_974_637_167_359_596),
            ("2024-02-29T12:00:00Z", 1_709_208_000_000_000_000),
            ("1970-01-01T00:00:00Z", 0),
            ("2000-03-01T00:00:00Z", 11_017 * 86_400 * NANOS_PER_SEC),
        ] {
            assert_eq!(parse_rfc3339(text.as_bytes()), Some(ns), "{text}");
        }
        for text in [
            "",
            "2021-04-17",
            "2021-04-17T16:43:30",
            "2021-04-17 16:43:30Z",
            "2021-04-17T16:43:30.Z",
            "2021-04-17T16:43:30ZZ",
            "2021-04-17T16:43:30+0200",
            "2021-04-17T16:43:30+24:00",
            "2021-04-17T16:43:30 Z",
            "21-04-17T16:43:30Z",
            "2021-4-17T16:43:30Z",
            "2021-00-17T16:43:30Z",
            "2021-13-17T16:43:30Z",
            "2021-04-31T16:43:30Z",
            "2023-02-29T16:43:30Z",
            "2100-02-29T16:43:30Z",
            "2021-04-17T24:00:00Z",
            "2021-04-17T16:60:30Z",
            "2021-04-17T16:43:60Z",
            "2021-04-17T16:43:3aZ",
            "+021-04-17T16:43:30Z",
            "1969-12-31T23:59:59Z",
            "1970-01-01T00:00:00+00:01",
        ] {
            assert_eq!(parse_rfc3339(text.as_bytes()), None, "{text}");
        }
    }

    #[test]
    fn venue_times_must_fall_in_this_century() {
        let rfc = |text| rfc3339_time(Field::Text(text));
        assert_eq!(
            rfc("1999-12-31T23:59:59.999999999Z"),
            Err(Reject::BadTimestamp)
        );
        assert_eq!(rfc("2000-01-01T00:00:00Z"), Ok(MIN_TIMESTAMP));
        assert_eq!(rfc("2099-12-31T23:59:59.999999999Z"), Ok(MAX_TIMESTAMP - 1));
        assert_eq!(rfc("2100-01-01T00:00:00Z"), Err(Reject::BadTimestamp));
        assert_eq!(rfc3339_time(Field::Unset), Err(Reject::MissingTimestamp));
        assert_eq!(rfc3339_time(Field::Null), Err(Reject::MissingTimestamp));
        assert_eq!(rfc3339_time(Field::Number("1")), Err(Reject::BadTimestamp));

        let ms = |text| epoch_time(Field::Number(text), NANOS_PER_MILLI);
        assert_eq!(ms("946684800000"), Ok(MIN_TIMESTAMP));
        assert_eq!(ms("946684799999"), Err(Reject::BadTimestamp));
        assert_eq!(ms("4102444799999"), Ok(MAX_TIMESTAMP - NANOS_PER_MILLI));
        assert_eq!(ms("4102444800000"), Err(Reject::BadTimestamp));
        assert_eq!(ms("0"), Err(Reject::BadTimestamp));
        assert_eq!(ms("18446744073709551615"), Err(Reject::BadTimestamp));
        assert_eq!(
            epoch_time(Field::Text("1641343699596000"), NANOS_PER_MICRO),
            Ok(1_641_343_699_596_000_000)
        );
        assert_eq!(
            epoch_time(Field::Text(" 1641343699"), NANOS_PER_SEC),
            Err(Reject::BadTimestamp)
        );
        assert_eq!(
            epoch_time(Field::Other, NANOS_PER_SEC),
            Err(Reject::BadTimestamp)
        );
    }

    #[test]
    fn venue_symbols() {
        let symbol = |name, uppercase| {
            venue_symbol("KRAKEN", Field::Text(name), uppercase).map(|s| s.as_str().to_owned())
        };
        assert_eq!(
            symbol("MATIC/USD", false).as_deref(),
            Ok("KRAKEN:MATIC/USD")
        );
        assert_eq!(symbol("ethusd", true).as_deref(), Ok("KRAKEN:ETHUSD"));
        assert_eq!(symbol("ethusd", false).as_deref(), Ok("KRAKEN:ethusd"));
        // 6 + 1 + 25 = 32 bytes fits; one more does not.
        assert!(symbol("ABCDEFGHIJKLMNOPQRSTUVWXY", false).is_ok());
        assert_eq!(
            symbol("ABCDEFGHIJKLMNOPQRSTUVWXYZ", false),
            Err(Reject::BadSymbol)
        );
        assert_eq!(symbol("", false), Err(Reject::BadSymbol));
        assert_eq!(symbol("A:B", false), Err(Reject::BadSymbol));
        assert_eq!(symbol("A B", false), Err(Reject::BadSymbol));
        assert_eq!(symbol("é", true), Err(Reject::BadSymbol));
        assert_eq!(
            venue_symbol("KRAKEN", Field::Null, false),
            Err(Reject::MissingSymbol)
        );
        assert_eq!(
            venue_symbol("KRAKEN", Field::Number("1"), false),
            Err(Reject::BadSymbol)
        );
    }

    // === Decoder ===

    fn decode_with(decoder: &mut Decoder, line: &str) -> (Result<Decoded, Reject>, Vec<Tick>) {
        let mut out = Vec::new();
        let decoded = decoder.decode(line.as_bytes(), 5, &mut out);
        (decoded, out)
    }

    /// One message of every format, as given in the venue modules' tests.
    const SAMPLES: [(Format, &str); 12] = [
        (
            Format::Native,
            r#"{"sym":"BTCUSDT","px":61837.63000000,"qty":0.5,"ts":1723075200123456789}"#,
        ),
        (
            Format::Binance,
            r#"{"stream":"btcusdt@trade","data":{"e":"trade","E":1723161255343,"s":"BTCUSDT","t":3735683259,"p":"61837.63000000","q":"0.02000000","T":1723161255342,"m":true,"M":true}}"#,
        ),
        (
            Format::Binance,
            r#"{"u":50093239212,"s":"BTCUSDT","b":"61837.63000000","B":"3.78826000","a":"61837.64000000","A":"1.54698000"}"#,
        ),
        (
            Format::Binance,
            r#"{"lastUpdateId":50093239218,"bids":[["61837.63000000","3.78826000"]],"asks":[]}"#,
        ),
        (Format::Binance, r#"{"result":null,"id":1}"#),
        (
            Format::CoinbaseExchange,
            r#"{"type":"match","trade_id":280232,"maker_order_id":"2a0da34e-61f7-4c36-88e5-c9dd15927b16","taker_order_id":"3c82abaa-c01e-4608-be59-6a1e69742891","side":"sell","size":"985","price":"0.00001305","product_id":"SKL-BTC","sequence":177100030,"time":"2021-04-17T16:43:37.089723Z"}"#,
        ),
        (
            Format::CoinbaseExchange,
            r#"{"type":"l2update","product_id":"SKL-BTC","changes":[["sell","0.00001306","660.5"]],"time":"2021-04-17T16:43:37.075687Z"}"#,
        ),
        (
            Format::CoinbaseAdvanced,
            r#"{"channel":"market_trades","client_id":"","timestamp":"2023-02-09T20:19:35.39625135Z","sequence_num":0,"events":[{"type":"snapshot","trades":[{"trade_id":"000000000","product_id":"ETH-USD","price":"1260.01","size":"0.3","side":"BUY","time":"2019-08-14T20:42:27.265Z"}]}]}"#,
        ),
        (
            Format::Kraken,
            r#"{"channel":"trade","type":"update","data":[{"symbol":"MATIC/USD","side":"sell","price":0.5117,"qty":40.0,"ord_type":"market","trade_id":4665906,"timestamp":"2023-09-25T07:49:37.708706Z"}]}"#,
        ),
        (
            Format::Kraken,
            r#"{"method":"pong","req_id":101,"time_in":"2023-09-24T14:10:23.799685Z","time_out":"2023-09-24T14:10:23.799703Z"}"#,
        ),
        (
            Format::Bitstamp,
            r#"{"data":{"id":216000477,"timestamp":"1641343699","amount":0.0792,"amount_str":"0.07920000","price":3805.44,"price_str":"3805.44","type":0,"microtimestamp":"1641343699596000","buy_order_id":1443875737346049,"sell_order_id":1443875731320832},"channel":"live_trades_ethusd","event":"trade"}"#,
        ),
        (
            Format::Bitstamp,
            r#"{"event":"bts:heartbeat","channel":"","data":{"status":"success"}}"#,
        ),
    ];

    #[test]
    fn auto_detects_every_format_per_line() {
        let mut auto = Decoder::new(Format::Auto);
        for (format, line) in SAMPLES {
            let expected = decode_with(&mut Decoder::new(format), line);
            assert!(expected.0.is_ok(), "{line}: {expected:?}");
            assert_eq!(decode_with(&mut auto, line), expected, "{line}");
            // And every other explicit format refuses it or reads something else.
            for other in Format::ALL {
                if other != format && other != Format::Auto {
                    assert_ne!(
                        decode_with(&mut Decoder::new(other), line),
                        expected,
                        "{other} on {line}"
                    );
                }
            }
        }
    }

    #[test]
    fn auto_refuses_what_matches_no_format() {
        let mut auto = Decoder::new(Format::Auto);
        for (line, reject) in [
            ("{}", Reject::UnknownFormat),
            (r#"{"price":"1","symbol":"X"}"#, Reject::UnknownFormat),
            (
                r#"[0,{"a":["5525.40000",1,"1.000"]},"ticker","XBT/USD"]"#,
                Reject::NotAnObject,
            ),
            ("42", Reject::NotAnObject),
            (r#"{"sym":"X","#, Reject::InvalidJson),
            ("", Reject::InvalidJson),
        ] {
            assert_eq!(decode_with(&mut auto, line).0, Err(reject), "{line}");
        }
    }

    #[test]
    fn native_is_the_native_decoder() {
        let mut native = NativeDecoder::new();
        let mut decoder = Decoder::new(Format::Native);
        for line in [
            r#"{"sym":"BTCUSDT","px":61837.63000000,"qty":0.5,"ts":1723075200123456789}"#,
            r#"{"sym":"X","bid":1,"ask":2,"ts":1}"#,
            r#"{"sym":"X","ts":1}"#,
            r#"{"sym":"X","px":-1,"ts":1}"#,
            r#"{"px":1,"ts":1}"#,
            r#"{"sym":"X","px":1,"ts":1,"px":2}"#,
            "[]",
            "{",
        ] {
            let (decoded, out) = decode_with(&mut decoder, line);
            match native.decode(line.as_bytes(), 5) {
                Ok(tick) => {
                    assert_eq!(decoded, Ok(Decoded::Ticks(1)), "{line}");
                    assert_eq!(out, [tick], "{line}");
                }
                Err(reject) => {
                    assert_eq!(decoded, Err(reject), "{line}");
                    assert!(out.is_empty());
                }
            }
        }
    }

    #[test]
    fn appends_without_touching_earlier_ticks() {
        let mut decoder = Decoder::new(Format::Auto);
        let mut out = Vec::new();
        for (_, line) in SAMPLES {
            decoder.decode(line.as_bytes(), 1, &mut out).ok();
        }
        let before = out.clone();
        assert_eq!(before.len(), 7);
        // A two-trade message whose second trade is bad leaves `out` exactly as it was.
        let bad = r#"{"channel":"trade","type":"update","data":[{"symbol":"A/B","price":1,"qty":1,"timestamp":"2023-09-25T07:49:37Z"},{"symbol":"A/B","price":1,"qty":1,"timestamp":"2023-09-25T07:49:37"}]}"#;
        assert_eq!(
            decoder.decode(bad.as_bytes(), 1, &mut out),
            Err(Reject::BadTimestamp)
        );
        assert_eq!(out, before);
    }

    #[test]
    fn steady_state_keeps_its_allocations() {
        let mut decoder = Decoder::new(Format::Auto);
        let mut out = Vec::with_capacity(16);
        let run = |decoder: &mut Decoder, out: &mut Vec<Tick>| {
            for (_, line) in SAMPLES {
                out.clear();
                decoder.decode(line.as_bytes(), 1, out).ok();
            }
        };
        run(&mut decoder, &mut out);
        let allocations = decoder.parser.allocations();
        let out_buffer = (out.as_ptr(), out.capacity());
        for _ in 0..200 {
            run(&mut decoder, &mut out);
        }
        assert_eq!(decoder.parser.allocations(), allocations);
        assert_eq!((out.as_ptr(), out.capacity()), out_buffer);
    }

    // === The real recordings ===
    //
    // `../shared/feeds` (next to the repository) holds the recordings with their provenance
    // and licences; its README gives the per-kind counts checked here.

    const FEEDS: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/../shared/feeds/");

    /// `(receive time ns, frame)` per line of the hftbacktest container: `<ns> <json>`.
    fn binance_recording() -> Vec<(u64, String)> {
        let path = format!("{FEEDS}binance-spot-btcusdt-20240808.hftbacktest.gz");
        let file = File::open(&path).unwrap_or_else(|e| panic!("{path}: {e}"));
        BufReader::new(GzDecoder::new(file))
            .lines()
            .map(|line| {
                let line = line.expect("gzip text");
                let (ns, frame) = line.split_once(' ').expect("<ns> <json>");
                (ns.parse().expect("ns"), frame.to_owned())
            })
            .collect()
    }

    /// `(receive time ns, frame)` per received frame of the cryptofeed capture:
    /// `<seconds>: <json>`, skipping the `wss://` lines (connect, sent frames) and blank ones.
    fn coinbase_recording() -> Vec<(u64, String)> {
        let path = format!("{FEEDS}coinbase-exchange-20210417.cryptofeed.txt");
        let text = std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("{path}: {e}"));
        text.lines()
            .filter(|line| !line.is_empty() && !line.starts_with("wss://"))
            .map(|line| {
                let (seconds, frame) = line.split_once(": ").expect("<seconds>: <json>");
                let (whole, fraction) = seconds.split_once('.').unwrap_or((seconds, ""));
                let ns = format!("{whole}{fraction:0<9}");
                (ns.parse().expect("seconds"), frame.to_owned())
            })
            .collect()
    }

    /// What a whole recording decoded to.
    #[derive(Debug, PartialEq)]
    struct Decoding {
        /// Per line, the outcome.
        outcomes: Vec<Result<Decoded, Reject>>,
        /// Every tick, in order.
        ticks: Vec<Tick>,
    }

    impl Decoding {
        fn of(format: Format, lines: &[(u64, String)]) -> Self {
            let mut decoder = Decoder::new(format);
            let mut ticks = Vec::new();
            let outcomes = lines
                .iter()
                .map(|(rx, frame)| decoder.decode(frame.as_bytes(), *rx, &mut ticks))
                .collect();
            Self { outcomes, ticks }
        }

        /// Lines per outcome: `trade`/`quote` by the kind of the ticks they gave, skipped
        /// messages by label, rejects by reason.
        fn counts(&self) -> BTreeMap<&'static str, usize> {
            let mut counts = BTreeMap::new();
            let mut next = 0;
            for outcome in &self.outcomes {
                let label = match *outcome {
                    Ok(Decoded::Ticks(n)) => {
                        next += n;
                        self.ticks[next - 1].kind.as_str()
                    }
                    Ok(Decoded::Skipped(kind)) => kind.as_str(),
                    Err(reject) => reject.as_str(),
                };
                *counts.entry(label).or_default() += 1;
            }
            counts
        }
    }

    fn decimal_text(value: Option<Decimal>) -> String {
        value.map(|d| d.to_string()).unwrap_or_default()
    }

    /// A frame's string field, for checks made with serde_json, independent of simd-json.
    fn string_of<'v>(value: &'v serde_json::Value, key: &str) -> &'v str {
        value[key]
            .as_str()
            .unwrap_or_else(|| panic!("{key} in {value}"))
    }

    #[test]
    fn decodes_every_line_of_the_binance_recording() {
        let lines = binance_recording();
        assert_eq!(lines.len(), 41_249);
        let decoding = Decoding::of(Format::Binance, &lines);
        let counts = decoding.counts();
        assert_eq!(
            counts,
            BTreeMap::from([
                ("quote", 28_040),
                ("trade", 9_757),
                (skip::BOOK_UPDATE.as_str(), 3_451),
                (skip::BOOK_SNAPSHOT.as_str(), 1),
            ])
        );
        assert_eq!(decoding.ticks.len(), 28_040 + 9_757);

        // Every tick against the frame it came from, read by serde_json: exact text of every
        // price and size, the symbol, the time.
        let mut ticks = decoding.ticks.iter();
        for ((rx, frame), outcome) in lines.iter().zip(&decoding.outcomes) {
            if !matches!(outcome, Ok(Decoded::Ticks(_))) {
                continue;
            }
            let tick = ticks.next().expect("one tick per tick line");
            let json: serde_json::Value = serde_json::from_str(frame).expect("frame");
            let data = &json["data"];
            assert_eq!(tick.symbol.as_str(), "BINANCE:BTCUSDT");
            assert_eq!(tick.rx, *rx);
            match string_of(&json, "stream") {
                "btcusdt@bookTicker" => {
                    assert_eq!(tick.kind, TickKind::Quote);
                    assert_eq!(decimal_text(tick.bid), string_of(data, "b"), "{frame}");
                    assert_eq!(decimal_text(tick.bid_qty), string_of(data, "B"), "{frame}");
                    assert_eq!(decimal_text(tick.ask), string_of(data, "a"), "{frame}");
                    assert_eq!(decimal_text(tick.ask_qty), string_of(data, "A"), "{frame}");
                    assert_eq!(tick.ts, *rx, "bookTicker has no time: rx stands in");
                }
                "btcusdt@trade" => {
                    assert_eq!(tick.kind, TickKind::Trade);
                    assert_eq!(decimal_text(tick.px), string_of(data, "p"), "{frame}");
                    assert_eq!(decimal_text(tick.qty), string_of(data, "q"), "{frame}");
                    let trade_time = data["T"].as_u64().expect("T");
                    assert_eq!(tick.ts, trade_time * 1_000_000, "{frame}");
                }
                stream => panic!("ticks from {stream}"),
            }
        }
        assert!(ticks.next().is_none());
        // The README's example, digits and all.
        assert_eq!(decimal_text(decoding.ticks[1].px), "61837.63000000");
    }

    #[test]
    fn decodes_every_line_of_the_coinbase_recording() {
        let lines = coinbase_recording();
        assert_eq!(lines.len(), 9_946);
        let decoding = Decoding::of(Format::CoinbaseExchange, &lines);
        assert_eq!(
            decoding.counts(),
            BTreeMap::from([
                ("quote", 107),
                ("trade", 97 + 10),
                (skip::BOOK_UPDATE.as_str(), 9_719),
                (skip::BOOK_SNAPSHOT.as_str(), 10),
                (skip::SUBSCRIPTION.as_str(), 3),
            ])
        );

        // 2021-04-17T00:00:00Z: every frame of the capture is from that afternoon.
        const MIDNIGHT: u64 = 1_618_617_600;
        let mut by_type = BTreeMap::<String, usize>::new();
        let mut ticks = decoding.ticks.iter();
        for ((rx, frame), outcome) in lines.iter().zip(&decoding.outcomes) {
            if !matches!(outcome, Ok(Decoded::Ticks(_))) {
                continue;
            }
            let tick = ticks.next().expect("one tick per tick line");
            let json: serde_json::Value = serde_json::from_str(frame).expect("frame");
            let kind = string_of(&json, "type");
            *by_type.entry(kind.to_owned()).or_default() += 1;
            assert_eq!(
                tick.symbol.as_str(),
                format!("COINBASE:{}", string_of(&json, "product_id"))
            );
            assert_eq!(tick.rx, *rx);
            if kind == "ticker" {
                assert_eq!(tick.kind, TickKind::Quote);
                assert_eq!(decimal_text(tick.bid), string_of(&json, "best_bid"));
                assert_eq!(decimal_text(tick.ask), string_of(&json, "best_ask"));
            } else {
                assert_eq!(tick.kind, TickKind::Trade);
                assert_eq!(decimal_text(tick.px), string_of(&json, "price"));
                assert_eq!(decimal_text(tick.qty), string_of(&json, "size"));
            }
            // `HH:MM:SS.ffffff` read by hand, independent of the decoder's parser.
            let time = string_of(&json, "time");
            let clock: Vec<u64> = time[11..19]
                .split(':')
                .map(|n| n.parse().expect("clock"))
                .collect();
            let micros: u64 = time[20..26].parse().expect("micros");
            assert_eq!(&time[..11], "2021-04-17T");
            assert_eq!(
                tick.ts,
                (MIDNIGHT + clock[0] * 3600 + clock[1] * 60 + clock[2]) * NANOS_PER_SEC
                    + micros * 1000,
                "{time}"
            );
        }
        assert!(ticks.next().is_none());
        assert_eq!(
            by_type,
            BTreeMap::from([
                ("last_match".to_owned(), 10),
                ("match".to_owned(), 97),
                ("ticker".to_owned(), 107)
            ])
        );
    }

    #[test]
    fn auto_detection_reads_both_recordings_the_same() {
        for lines in [binance_recording(), coinbase_recording()] {
            let explicit = Decoding::of(
                if lines[0].1.contains("\"stream\"") {
                    Format::Binance
                } else {
                    Format::CoinbaseExchange
                },
                &lines,
            );
            assert_eq!(Decoding::of(Format::Auto, &lines), explicit);
        }
        // Interleaved in one stream, each line still decodes as its own venue's.
        let binance = binance_recording();
        let coinbase = coinbase_recording();
        let mixed: Vec<_> = binance
            .iter()
            .take(5_000)
            .zip(coinbase.iter().take(5_000))
            .flat_map(|(b, c)| [b.clone(), c.clone()])
            .collect();
        let auto = Decoding::of(Format::Auto, &mixed);
        let mut expected = Vec::new();
        let (mut b, mut c) = (
            Decoder::new(Format::Binance),
            Decoder::new(Format::CoinbaseExchange),
        );
        for (i, (rx, frame)) in mixed.iter().enumerate() {
            let decoder = if i % 2 == 0 { &mut b } else { &mut c };
            decoder.decode(frame.as_bytes(), *rx, &mut expected).ok();
        }
        assert_eq!(auto.ticks, expected);
        assert!(auto.outcomes.iter().all(Result::is_ok));
    }
}
