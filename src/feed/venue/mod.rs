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
//! This file holds the [`Format`]s, the [`Decoder`] and its per-line format detection. Each
//! venue's messages are read in its own file (`binance.rs`, `coinbase.rs`,
//! `coinbase_advanced.rs`, `kraken.rs`, `bitstamp.rs`), with what they share beside them:
//! `fields.rs` picks a message's fields and reads its envelope, `ticks.rs` builds the symbols,
//! trades and quotes described below, `timestamp.rs` reads venue times and holds them to their
//! window, and [`skip`] names the kinds of skipped message.
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
//!
//! [`TickKind::Trade`]: crate::tick::TickKind::Trade
//! [`TickKind::Quote`]: crate::tick::TickKind::Quote

mod binance;
mod bitstamp;
mod coinbase;
mod coinbase_advanced;
mod kraken;

mod fields;
mod ticks;
mod timestamp;

use std::fmt;
use std::str::FromStr;

use simd_json::tape::Value;

use crate::feed::native::{self, LineParser};
use crate::tick::Reject;
use crate::tick::Tick;
use crate::tick::skip;
use fields::keys_present;

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

#[cfg(test)]
mod tests {
    use std::collections::BTreeMap;
    use std::fs::File;
    use std::io::{BufRead, BufReader};

    use flate2::read::GzDecoder;

    use super::timestamp::NANOS_PER_SEC;
    use super::*;
    use crate::feed::native::NativeDecoder;
    use crate::tick::{Decimal, TickKind};

    // === Formats ===

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
