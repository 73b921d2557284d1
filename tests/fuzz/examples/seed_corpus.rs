//! Writes the committed seed corpora, `corpus/<target>/`, from the real recordings.
//!
//! ```sh
//! cd tests/fuzz && cargo run --example seed_corpus [-- SHARED_FEEDS_DIR]
//! ```
//!
//! - Decoder targets: one seed per distinct message shape of the real recordings
//!   (`../shared/feeds`, by default next to the repository, and the repository's `feeds/`
//!   samples): the shortest message of each shape, where a shape is the JSON structure with
//!   values reduced to their types, except the keys that say what a message is (`type`, `e`,
//!   `channel`, `event`, `method`, the `stream` suffix), whose values are kept. Venues with no
//!   recording here (Coinbase Advanced, Kraken, Bitstamp) and the native format are seeded
//!   with the documented example messages of the decoders' tests (the `r#"..."#` literals of
//!   `src/feed/venue/<venue>.rs` and `src/feed/native/*.rs`), and native also with real
//!   Binance ticks written as native lines. `auto` gets all of them.
//! - `container`: the head of each recording in its own layout, and the same lines as JSON
//!   lines and in tickcast's record format, each plain, gzip- and zstd-compressed (by the
//!   target or as stored bytes), with a few header variations (see `tickcast_fuzz::container`
//!   for the four header bytes).
//! - `line_framer`: the head of each recording with a few `max_len` and read-size choices.
//! - `auth_token`: a few hand-written inputs per mode ([`AUTH_SEEDS`]).
//!
//! Existing seed files are replaced; names are content hashes, so rerunning is idempotent.

use std::collections::{BTreeMap, BTreeSet};
use std::fs;
use std::io::{Read, Write};
use std::path::{Path, PathBuf};

use serde_json::Value;
use tickcast::feed::venue::{Decoded, Decoder, Format};
use tickcast::replay::container::{RecordReader, write_record_line};
use tickcast::tick::{Tick, TickKind};

/// Seeds of the `auth_token` target, by mode: a request with a token in every place (and a
/// quoted cookie), one with a Basic header and encoded names; tokens that are complete but
/// not signed with the test key (a made-up signature, `alg: none`, a `crit` header); claims
/// that are valid, valid with every optional claim, invalid, not an object; mint requests.
/// No seed is a token signed with the test key: mode 1 checks that nothing verifies.
const AUTH_SEEDS: &[(u8, &str)] = &[
    (
        0,
        "Bearer eyJhbGciOiJIUzI1NiJ9.eyJzdWIiOiJhIn0.c2ln\n\
         symbols=*&access_token=eyJhbGciOiJIUzI1NiJ9.eyJzdWIiOiJhIn0.c2ln\n\
         a=b; tc=eyJhbGciOiJIUzI1NiJ9.eyJzdWIiOiJhIn0.c2ln\n\
         tc=\"eyJhbGciOiJIUzI1NiJ9.eyJzdWIiOiJhIn0.c2ln\"",
    ),
    (
        0,
        "Basic YWxpY2U6c2VjcmV0\naccess%5Ftoken=a%2Eb&access_token=a.c\ntc=\n",
    ),
    (
        1,
        "eyJhbGciOiJIUzI1NiIsInR5cCI6IkpXVCJ9.\
         eyJzdWIiOiJhbGljZSIsImV4cCI6MTc1MDAwMzYwMCwic3ltYm9scyI6WyJCSU5BTkNFOioiXX0.c2lnbmF0dXJl",
    ),
    (
        1,
        "eyJhbGciOiJub25lIn0.\
         eyJzdWIiOiJhbGljZSIsImV4cCI6MTc1MDAwMzYwMCwic3ltYm9scyI6WyJCSU5BTkNFOioiXX0.",
    ),
    (
        1,
        "eyJhbGciOiJIUzI1NiIsImtpZCI6ImsiLCJjcml0IjpbImV4cCJdfQ.\
         eyJzdWIiOiJhbGljZSIsImV4cCI6MTc1MDAwMzYwMCwic3ltYm9scyI6WyJCSU5BTkNFOioiXX0.c2ln",
    ),
    (
        2,
        r#"{"sub":"alice","exp":1750003600,"symbols":["BINANCE:*","COINBASE:BTC-USD"]}"#,
    ),
    (
        2,
        r#"{"sub":"bob","exp":1750003600,"nbf":1749999990,"iat":1749999990,"iss":"https://auth.example","aud":["tickcast"],"symbols":["*","KRAKEN:XBT/USD"],"tier":"delayed","delay_s":900,"max_conns":5}"#,
    ),
    (
        2,
        r#"{"sub":"carol","exp":1749999000,"symbols":["A*B"],"tier":"realtime"}"#,
    ),
    (2, "[1,2]"),
    (3, "alice\nBINANCE:*\nKRAKEN:XBT/USD"),
    (3, "bob\n*\nA**"),
];

/// Lines of each recording's head used for container and framer seeds: enough to hold every
/// layout feature (the cryptofeed header and sent frames come first), small enough to fuzz
/// fast.
const HEAD_LINES: usize = 12;

/// Longest message used as a decoder seed: longer ones slow every execution and add nothing
/// that a shorter message of the same shape lacks.
const MAX_SEED_LEN: usize = 4096;

fn main() {
    let fuzz_dir = Path::new(env!("CARGO_MANIFEST_DIR"));
    let repo = fuzz_dir.join("../..");
    let shared = std::env::args()
        .nth(1)
        .map(PathBuf::from)
        .unwrap_or_else(|| repo.join("../shared/feeds"));
    let recordings = [
        shared.join("binance-spot-btcusdt-20240808.hftbacktest.gz"),
        shared.join("coinbase-exchange-20210417.cryptofeed.txt"),
        repo.join("feeds/binance-spot-btcusdt-20240808.sample.gz"),
        repo.join("feeds/coinbase-exchange-20210417.sample.txt"),
    ];

    let mut seeds: BTreeMap<&str, BTreeSet<Vec<u8>>> = BTreeMap::new();
    // Real messages, one per shape, per venue.
    let mut shapes: BTreeMap<(&str, String), Vec<u8>> = BTreeMap::new();
    let mut native_ticks: BTreeMap<String, Tick> = BTreeMap::new();
    for path in &recordings {
        let venue = if path.to_string_lossy().contains("binance") {
            "binance"
        } else {
            "coinbase"
        };
        let format = if venue == "binance" {
            Format::Binance
        } else {
            Format::CoinbaseExchange
        };
        let mut decoder = Decoder::new(format);
        let mut reader =
            RecordReader::open(path).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
        while let Some(next) = reader.next_record() {
            let record = next.unwrap_or_else(|e| panic!("{}: {e}", path.display()));
            let payload = record.payload.to_vec();
            let Ok(value) = serde_json::from_slice::<Value>(&payload) else {
                continue;
            };
            let slot = shapes
                .entry((venue, shape(&value)))
                .or_insert(payload.clone());
            if payload.len() < slot.len() {
                *slot = payload.clone();
            }
            // A few real ticks of each kind, for native lines.
            let mut out = Vec::new();
            if let Ok(Decoded::Ticks(_)) = decoder.decode(&payload, 1, &mut out) {
                for tick in out {
                    let key = format!("{}-{:?}-{}", venue, tick.kind, native_ticks.len() % 3);
                    native_ticks.entry(key).or_insert(tick);
                }
            }
        }
    }
    // Cryptofeed's sent frames are skipped by the container, yet real Coinbase messages.
    let capture = fs::read(&recordings[1]).expect("coinbase capture");
    for line in capture.split(|&b| b == b'\n') {
        if line.starts_with(b"wss://")
            && let Some(at) = find(line, b": {")
        {
            let frame = &line[at + 2..];
            if let Ok(value) = serde_json::from_slice::<Value>(frame) {
                shapes
                    .entry(("coinbase", shape(&value)))
                    .or_insert(frame.to_vec());
            }
        }
    }
    for ((venue, _), message) in &shapes {
        if message.len() <= MAX_SEED_LEN {
            seeds.entry(venue).or_default().insert(message.clone());
        }
    }

    // Documented examples from the decoders' tests.
    for (target, file) in [
        ("binance", "src/feed/venue/binance.rs"),
        ("coinbase", "src/feed/venue/coinbase.rs"),
        ("coinbase_advanced", "src/feed/venue/coinbase_advanced.rs"),
        ("kraken", "src/feed/venue/kraken.rs"),
        ("bitstamp", "src/feed/venue/bitstamp.rs"),
        ("native", "src/feed/native/mod.rs"),
        ("native", "src/feed/native/parser.rs"),
        ("native", "src/feed/native/number_view.rs"),
        ("native", "src/feed/native/field.rs"),
        ("auto", "src/feed/venue/mod.rs"),
    ] {
        let source = fs::read_to_string(repo.join(file)).expect(file);
        for literal in raw_literals(&source) {
            seeds
                .entry(target)
                .or_default()
                .insert(literal.into_bytes());
        }
    }
    // Real ticks as native lines, numbers as JSON numbers and as strings.
    for tick in native_ticks.values() {
        for quoted in [false, true] {
            seeds
                .entry("native")
                .or_default()
                .insert(native_line(tick, quoted).into_bytes());
        }
    }
    let all: BTreeSet<Vec<u8>> = seeds.values().flatten().cloned().collect();
    seeds.insert("auto", all);

    // Container and framer seeds from the heads of the recordings.
    let heads: Vec<Vec<u8>> = recordings[..2].iter().map(|path| head(path)).collect();
    for head in &heads {
        let mut payloads = Vec::new();
        let mut records = Vec::new();
        let mut reader =
            RecordReader::from_reader(std::io::Cursor::new(head.clone()), <_>::default())
                .expect("reader");
        while let Some(Ok(record)) = reader.next_record() {
            payloads.extend_from_slice(record.payload);
            payloads.push(b'\n');
            write_record_line(&mut records, record.rx.unwrap_or(0), "seed", record.payload);
        }
        // A line that is not UTF-8 takes the `line_b64` form.
        write_record_line(&mut records, 1, "seed", b"\xFF\xFEnot UTF-8");
        let crlf_bom = [b"\xEF\xBB\xBF".as_slice(), &replace(head, b"\n", b"\r\n")].concat();
        for text in [head, &payloads, &records, &crlf_bom] {
            let container = seeds.entry("container").or_default();
            // Detected layout (bits 2-4 = 4), default max_line (byte 1 = 7), unlimited reads.
            for compression in 0..3u8 {
                container.insert([&[compression | 4 << 2, 7, 0, 0], &text[..]].concat());
            }
            // Stored compressed bytes, for the fuzzer to corrupt.
            container.insert([&[3 | 4 << 2, 7, 0, 0], &gzip(text)[..]].concat());
            container.insert([&[3 | 4 << 2, 7, 0, 0], &zstd(text)[..]].concat());
        }
        let container = seeds.entry("container").or_default();
        // Small lines, short reads with interruptions, a read error, a truncation.
        container.insert([&[4 << 2 | 0x20, 3, 7, 0], &head[..]].concat());
        container.insert([&[1 | 4 << 2, 4, 13, 90], &head[..]].concat());
        container.insert([&[2 | 4 << 2, 7, 0, 200], &head[..]].concat());
        let framer = seeds.entry("line_framer").or_default();
        for (max_len, seed) in [(255u8, [0u8, 0]), (40, [1, 0]), (0, [2, 0]), (130, [3, 0])] {
            framer.insert([&[max_len], &seed[..], &head[..]].concat());
        }
        framer.insert([&[200u8, 9, 9][..], &crlf_bom].concat());
    }

    // Access tokens: hand-written, byte 0 the mode (see `tickcast_fuzz::auth`).
    let auth = seeds.entry("auth_token").or_default();
    for (mode, body) in AUTH_SEEDS {
        auth.insert([&[*mode][..], body.as_bytes()].concat());
    }

    let corpus = fuzz_dir.join("corpus");
    for (target, inputs) in &seeds {
        let dir = corpus.join(target);
        let _ = fs::remove_dir_all(&dir);
        fs::create_dir_all(&dir).expect("create corpus dir");
        for input in inputs {
            fs::write(dir.join(format!("{:016x}", fnv(input))), input).expect("write seed");
        }
        println!("{target}: {} seeds", inputs.len());
    }
}

/// The structure of a message, values reduced to their types except the discriminating keys.
fn shape(value: &Value) -> String {
    match value {
        Value::Object(map) => {
            let fields: Vec<String> = map
                .iter()
                .map(|(key, value)| match (key.as_str(), value) {
                    ("type" | "e" | "channel" | "event" | "method", Value::String(s)) => {
                        format!("{key}={s}")
                    }
                    ("stream", Value::String(s)) => {
                        format!("stream=@{}", s.split_once('@').map_or("", |(_, kind)| kind))
                    }
                    _ => format!("{key}:{}", shape(value)),
                })
                .collect();
            format!("{{{}}}", fields.join(","))
        }
        Value::Array(items) => {
            let kinds: BTreeSet<String> = items.iter().map(shape).collect();
            format!("[{}]", kinds.into_iter().collect::<Vec<_>>().join("|"))
        }
        Value::String(_) => "s".into(),
        Value::Number(_) => "n".into(),
        Value::Bool(_) => "b".into(),
        Value::Null => "null".into(),
    }
}

/// The single-line `r#"..."#` literals of a source file, except `format!` templates.
fn raw_literals(source: &str) -> Vec<String> {
    let mut literals = Vec::new();
    for line in source.lines() {
        let mut rest = line;
        while let Some(start) = rest.find("r#\"") {
            let after = &rest[start + 3..];
            let Some(end) = after.find("\"#") else { break };
            let literal = &after[..end];
            if !literal.contains("{{") && !literal.is_empty() {
                literals.push(literal.to_owned());
            }
            rest = &after[end + 2..];
        }
    }
    literals
}

/// A tick as a native feed line, its decimals written exactly.
fn native_line(tick: &Tick, quoted: bool) -> String {
    let q = if quoted { "\"" } else { "" };
    let mut line = format!("{{\"sym\":\"{}\"", tick.symbol);
    let fields = [
        ("px", tick.px),
        ("qty", tick.qty),
        ("bid", tick.bid),
        ("bid_qty", tick.bid_qty),
        ("ask", tick.ask),
        ("ask_qty", tick.ask_qty),
    ];
    for (key, value) in fields {
        if let Some(value) = value {
            line.push_str(&format!(",\"{key}\":{q}{value}{q}"));
        }
    }
    debug_assert!(tick.kind == TickKind::Trade || tick.px.is_none());
    line.push_str(&format!(",\"ts\":{}}}", tick.ts));
    line
}

/// The first [`HEAD_LINES`] lines of a recording, decompressed.
fn head(path: &Path) -> Vec<u8> {
    let file = fs::File::open(path).expect("recording");
    let mut text = Vec::new();
    if path.extension().is_some_and(|e| e == "gz") {
        flate2::read::MultiGzDecoder::new(file)
            .take(1 << 20)
            .read_to_end(&mut text)
            .expect("gunzip");
    } else {
        file.take(1 << 20).read_to_end(&mut text).expect("read");
    }
    let mut lines: Vec<&[u8]> = text.split(|&b| b == b'\n').collect();
    // Keep the seed small: drop the recording's giant lines (depth snapshots).
    lines.retain(|line| line.len() <= 1024);
    lines.truncate(HEAD_LINES);
    let mut head = lines.join(&b'\n');
    head.push(b'\n');
    head
}

fn find(haystack: &[u8], needle: &[u8]) -> Option<usize> {
    haystack.windows(needle.len()).position(|w| w == needle)
}

fn replace(text: &[u8], from: &[u8], to: &[u8]) -> Vec<u8> {
    let mut out = Vec::with_capacity(text.len());
    let mut rest = text;
    while let Some(at) = find(rest, from) {
        out.extend_from_slice(&rest[..at]);
        out.extend_from_slice(to);
        rest = &rest[at + from.len()..];
    }
    out.extend_from_slice(rest);
    out
}

fn gzip(bytes: &[u8]) -> Vec<u8> {
    let mut encoder = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::default());
    encoder.write_all(bytes).expect("gzip");
    encoder.finish().expect("gzip")
}

fn zstd(bytes: &[u8]) -> Vec<u8> {
    zstd::encode_all(bytes, 3).expect("zstd")
}

/// FNV-1a: a stable content name for a seed file.
fn fnv(bytes: &[u8]) -> u64 {
    bytes.iter().fold(0xcbf2_9ce4_8422_2325, |hash, &b| {
        (hash ^ u64::from(b)).wrapping_mul(0x100_0000_01b3)
    })
}
