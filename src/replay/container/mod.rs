//! The container layer of recorded feed files: [`RecordReader`] turns a file's bytes into
//! [`Record`]s (line number, receive time, raw payload), whatever the venue's JSON inside.
//!
//! Place in the flow: the first stage of replay (see [`crate::replay`]). The reader runs on
//! whichever thread drives one file's replay; it is `Send`, not shared. Its records go to a
//! venue decoder; its counters go to the replay summary.
//!
//! Where things are: the types every part shares are here. `compression.rs` sniffs the
//! compression and opens the decompressed byte stream; `reader.rs` is [`RecordReader`], which
//! frames that stream into lines, detects the layout and counts; each layout has its file,
//! `json_lines.rs`, `nanos_prefixed.rs`, `cryptofeed_text.rs` and `tickcast_record.rs` (which
//! also writes the format, for `tickcast record`).
//!
//! # Compression
//! Detected from the first bytes, never from the file name: gzip (`1f 8b`, every member of a
//! multi-member file, as `cat a.gz b.gz` makes), zstd (`28 b5 2f fd`, or a skippable frame; every
//! frame), else plain. xz, bzip2, lz4 and zip are recognized and refused with
//! [`ContainerError::UnsupportedCompression`] rather than read as garbage lines. Decompression
//! streams: memory stays at a few read buffers plus the longest accepted line, plus the
//! decompressor's window: 32 KiB for gzip; for zstd the window the frame asks for, at most
//! 2^[`ZSTD_WINDOW_LOG_MAX`] bytes (128 MiB, what `zstd --long` or `--ultra -22` write; default
//! levels use 8 MiB or less), which a frame asking for more is refused with rather than read.
//!
//! # Line layouts
//! Detected from the first line that matches one ([`Layout::detect`]), or forced with
//! [`ReadOptions::layout`]:
//!
//! | [`Layout`] | a line | receive time |
//! |---|---|---|
//! | [`Layout::JsonLines`] | `{...}` (or `[...]`) | none |
//! | [`Layout::NanosPrefixed`] | `1723161254087891268 {"stream":...}` | integer ns since the epoch |
//! | [`Layout::CryptofeedText`] | `1618677817.061845: {"type":...}` | seconds, converted exactly from the decimal text |
//! | [`Layout::TickcastRecord`] | `{"rx":1723161254087891268,"src":"binance","line":"{\"stream\":...}"}` | `rx`, ns |
//!
//! In the cryptofeed capture, `wss://<url> <-> <time>` (the connection header) and
//! `wss://<url> <- <time>: <json>` (a frame the client *sent*) are skipped and counted as
//! [`Skip::Header`] and [`Skip::SentFrame`]. In every layout blank lines are skipped
//! ([`Skip::Blank`]), a `\r` before the `\n` is not part of the line, the last line needs no
//! `\n`, and a UTF-8 byte order mark opening the file is dropped.
//!
//! The payload is the line after its container prefix (and the separating spaces), byte for byte.
//! Only [`Layout::JsonLines`] looks at it, to tell a JSON line (first non-blank byte `{` or `[`)
//! from a line of another layout; the others leave it to the venue decoder.
//!
//! # The tickcast record format
//! What `tickcast record` writes ([`write_record_line`]): one JSON object per line,
//! `{"rx":<receive time, ns since the epoch>,"src":"<feed source>","line":"<the raw line>"}`,
//! keys in that order. The raw line is a JSON string when it is valid UTF-8; otherwise (a feed
//! may send any bytes) it is `"line_b64":"<standard base64, padded>"` instead of `"line"`.
//! Either way replay gives back the exact bytes received. Detection needs the line to start with
//! `{"rx":`; reading accepts the keys in any order, ignores unknown keys (room for later fields),
//! and rejects duplicates, a missing `rx`, and neither or both of `line`/`line_b64`.
//!
//! # Errors
//! A bad line (too long, bad timestamp, not of the layout, bad record) is a
//! [`RecordError::Rejected`] with its line number and a [`LineReject`] reason, counted, and the
//! reader goes on. An over-long line is dropped as it streams past, never buffered whole. A file
//! that cannot be read or decompressed (a truncated gzip, a disk error) ends the stream with
//! [`RecordError::Fatal`], after every record before the failure was delivered; a partial last
//! line before the failure is dropped, never delivered half.
//!
//! This module must never interpret a venue's payload, load a file whole, allocate per line in
//! the steady state, or panic on any input.

mod compression;
mod cryptofeed_text;
#[cfg(test)]
mod fixtures;
mod json_lines;
mod nanos_prefixed;
mod reader;
mod tickcast_record;

pub use compression::ZSTD_WINDOW_LOG_MAX;
pub use reader::RecordReader;
pub use tickcast_record::write_record_line;

use std::fmt;
use std::io;
use std::path::PathBuf;

use cryptofeed_text::cryptofeed_line;
use nanos_prefixed::nanos_line;
use tickcast_record::{RecordFields, RecordParser};

/// Default longest line, in bytes: 1 MiB, far above any real frame (Binance depth snapshots of
/// 5000 levels are ~300 KiB) yet small enough that a hostile line costs little memory.
pub const DEFAULT_MAX_LINE: usize = 1 << 20;

// === Compression ===

/// How a recorded file is compressed, detected from its first bytes.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Compression {
    /// Not compressed.
    Plain,
    /// gzip, one member or several concatenated.
    Gzip,
    /// zstd, one frame or several concatenated.
    Zstd,
}

impl Compression {
    /// Lower-case name, for messages and summaries.
    pub fn as_str(self) -> &'static str {
        match self {
            Compression::Plain => "plain",
            Compression::Gzip => "gzip",
            Compression::Zstd => "zstd",
        }
    }
}

impl fmt::Display for Compression {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

// === Layout ===

/// How the lines of a recorded file are laid out around the payload.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Layout {
    /// One JSON document per line, no receive time: `{...}`.
    JsonLines,
    /// `<receive time, integer ns since the epoch> <payload>`, as hftbacktest records Binance.
    NanosPrefixed,
    /// cryptofeed's text capture: `<receive time, seconds as a decimal>: <payload>`, with
    /// `wss://<url> <-> <time>` header lines and `wss://<url> <- <time>: <json>` sent frames.
    CryptofeedText,
    /// tickcast's own record format, written by [`write_record_line`].
    TickcastRecord,
}

impl Layout {
    /// Every layout.
    pub const ALL: [Layout; 4] = [
        Layout::JsonLines,
        Layout::NanosPrefixed,
        Layout::CryptofeedText,
        Layout::TickcastRecord,
    ];

    /// `snake_case` name, for flags, messages and summaries.
    pub fn as_str(self) -> &'static str {
        match self {
            Layout::JsonLines => "json_lines",
            Layout::NanosPrefixed => "nanos_prefixed",
            Layout::CryptofeedText => "cryptofeed_text",
            Layout::TickcastRecord => "tickcast_record",
        }
    }

    /// The layout that `line` (one line, without its terminator) is unambiguously in, if any.
    ///
    /// The rules, tried in this order: a line starting with `{"rx":` that parses as a record is
    /// [`Layout::TickcastRecord`]; a line whose first non-blank byte is `{` or `[` is
    /// [`Layout::JsonLines`]; a cryptofeed header or sent frame, or `<seconds>: ` before a `{`
    /// or `[`, is [`Layout::CryptofeedText`]; `<integer> ` before a `{` or `[` is
    /// [`Layout::NanosPrefixed`]. Blank lines and anything else give `None`.
    pub fn detect(line: &[u8]) -> Option<Layout> {
        if line.starts_with(b"{\"rx\":") && RecordParser::new().parse(line).is_some() {
            return Some(Layout::TickcastRecord);
        }
        if matches!(first_non_blank(line), Some(b'{' | b'[')) {
            return Some(Layout::JsonLines);
        }
        let looks_json = |line: &[u8], outcome: Outcome| match outcome {
            Outcome::Record { start, .. } => matches!(line.get(start), Some(b'{' | b'[')),
            _ => false,
        };
        let cryptofeed = cryptofeed_line(line);
        if matches!(cryptofeed, Outcome::Skip(Skip::Header | Skip::SentFrame))
            || looks_json(line, cryptofeed)
        {
            return Some(Layout::CryptofeedText);
        }
        if looks_json(line, nanos_line(line)) {
            return Some(Layout::NanosPrefixed);
        }
        None
    }
}

impl fmt::Display for Layout {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

// === Skipped and rejected lines ===

/// A line that is valid in its layout but carries no record: skipped and counted, not an error.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Skip {
    /// An empty line, or only spaces and tabs.
    Blank,
    /// A cryptofeed connection header, `wss://<url> <-> <time>`.
    Header,
    /// A frame the recording client sent, `wss://<url> <- <time>: <json>` (cryptofeed).
    SentFrame,
}

impl Skip {
    /// Every kind, in [`Skip::index`] order.
    pub const ALL: [Skip; 3] = [Skip::Blank, Skip::Header, Skip::SentFrame];

    /// Number of kinds: the length of a per-kind counter array.
    pub const COUNT: usize = Self::ALL.len();

    /// Dense index in `0..Skip::COUNT`.
    pub fn index(self) -> usize {
        // Fieldless enum without explicit discriminants: declaration order, as `ALL`.
        self as usize
    }

    /// The `snake_case` label of the kind in summaries and metrics.
    pub fn as_str(self) -> &'static str {
        match self {
            Skip::Blank => "blank",
            Skip::Header => "header",
            Skip::SentFrame => "sent_frame",
        }
    }
}

/// Why a line was refused by the container layer. Each is counted; none stops the reader.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, thiserror::Error)]
pub enum LineReject {
    /// The line is longer than [`ReadOptions::max_line`]; its bytes were dropped unbuffered.
    #[error("line longer than the maximum line length")]
    TooLong,
    /// The receive-time prefix is not a timestamp of the layout: not digits (with one `.` and
    /// a fraction for cryptofeed seconds), signed, in exponent form, or beyond `u64` ns.
    #[error("receive time prefix is not a valid timestamp")]
    BadTimestamp,
    /// The line does not have the layout's shape: no payload after the timestamp, a
    /// `wss://` line that is neither header nor sent frame, a JSON-lines line not opening with
    /// `{` or `[`.
    #[error("line does not match the file's layout")]
    InvalidLine,
    /// A tickcast record line is not valid JSON, lacks `rx` or its line, has a duplicate key,
    /// both `line` and `line_b64`, an `rx` that is not a `u64`, or invalid base64.
    #[error("invalid tickcast record")]
    BadRecord,
    /// The file's layout is not yet known and this line matches none (see [`Layout::detect`]).
    #[error("line matches no known layout")]
    Unrecognized,
}

impl LineReject {
    /// Every reason, in [`LineReject::index`] order.
    pub const ALL: [LineReject; 5] = [
        LineReject::TooLong,
        LineReject::BadTimestamp,
        LineReject::InvalidLine,
        LineReject::BadRecord,
        LineReject::Unrecognized,
    ];

    /// Number of reasons: the length of a per-reason counter array.
    pub const COUNT: usize = Self::ALL.len();

    /// Dense index in `0..LineReject::COUNT`.
    pub fn index(self) -> usize {
        // Fieldless enum without explicit discriminants: declaration order, as `ALL`.
        self as usize
    }

    /// The `snake_case` label of the reason in summaries and metrics.
    pub fn as_str(self) -> &'static str {
        match self {
            LineReject::TooLong => "line_too_long",
            LineReject::BadTimestamp => "bad_timestamp",
            LineReject::InvalidLine => "invalid_line",
            LineReject::BadRecord => "bad_record",
            LineReject::Unrecognized => "unrecognized_layout",
        }
    }
}

// === Errors ===

/// Why a recorded file cannot be read (any further).
#[derive(Debug, thiserror::Error)]
pub enum ContainerError {
    /// The file could not be opened or its size read.
    #[error("cannot open {}: {source}", path.display())]
    Open {
        /// The file's path, as given.
        path: PathBuf,
        /// What the operating system said.
        source: io::Error,
    },
    /// Reading the file (or the reader given) failed.
    #[error("read failed: {source}")]
    Read {
        /// What the reader said.
        source: io::Error,
    },
    /// The compressed stream is corrupt or truncated (a gzip or zstd stream cut short, a bad
    /// checksum, garbage after a member).
    #[error("{compression} stream is corrupt or truncated: {source}")]
    Decompress {
        /// The file's compression.
        compression: Compression,
        /// What the decompressor said.
        source: io::Error,
    },
    /// The file starts with the magic bytes of a compression format this reader does not read.
    #[error("{format}-compressed files are not supported: recompress as gzip or zstd")]
    UnsupportedCompression {
        /// The format's name.
        format: &'static str,
    },
    /// No line matched a known layout among the first non-blank lines: not a recorded feed.
    #[error("no known line layout in the first {lines} non-blank lines")]
    UnknownLayout {
        /// Non-blank lines tried.
        lines: u64,
    },
}

/// What [`RecordReader::next_record`] returns instead of a record.
#[derive(Debug, thiserror::Error)]
pub enum RecordError {
    /// One line was refused, counted under its reason, and skipped: the next call goes on with
    /// the next line.
    #[error("line {line_no}: {reason}")]
    Rejected {
        /// 1-based line number in the decompressed file.
        line_no: u64,
        /// Why.
        reason: LineReject,
    },
    /// Reading stopped for good; every record before it was delivered, and every later call
    /// returns `None`.
    #[error("after line {line_no}: {source}")]
    Fatal {
        /// Number of the last complete line read before the failure (0: none).
        line_no: u64,
        /// Why reading stopped.
        source: ContainerError,
    },
}

impl RecordError {
    /// The line number the error is about (see each variant).
    pub fn line_no(&self) -> u64 {
        match self {
            RecordError::Rejected { line_no, .. } | RecordError::Fatal { line_no, .. } => *line_no,
        }
    }

    /// Whether reading stopped for good.
    pub fn is_fatal(&self) -> bool {
        matches!(self, RecordError::Fatal { .. })
    }
}

// === Options and records ===

/// How to read a recorded file.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ReadOptions {
    /// The line layout, or `None` to detect it from the first line that matches one
    /// ([`Layout::detect`]); lines before that are rejected as [`LineReject::Unrecognized`].
    pub layout: Option<Layout>,
    /// Longest accepted line in bytes, without its `\n` or `\r\n`. Longer lines are rejected
    /// as [`LineReject::TooLong`] and skipped without being buffered.
    pub max_line: usize,
}

impl Default for ReadOptions {
    fn default() -> Self {
        Self {
            layout: None,
            max_line: DEFAULT_MAX_LINE,
        }
    }
}

/// One received message of a recorded file, borrowed from the reader until the next call.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Record<'a> {
    /// 1-based line number in the decompressed file (blank and skipped lines count).
    pub line_no: u64,
    /// Receive time, ns since the Unix epoch, when the layout records one (all but
    /// [`Layout::JsonLines`]).
    pub rx: Option<u64>,
    /// The feed source the line came from, when the layout records it ([`Layout::TickcastRecord`]
    /// with a `src` key).
    pub source: Option<&'a str>,
    /// The message exactly as received, without the container's prefix or line terminator.
    pub payload: &'a [u8],
}

// === Line layouts ===

/// What one non-blank line of a known layout is.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Outcome {
    /// Nothing to deliver.
    Skip(Skip),
    /// A bad line.
    Reject(LineReject),
    /// A record whose payload is the line from byte `start` on.
    Record { rx: Option<u64>, start: usize },
    /// A record decoded into the reader's buffers ([`Layout::TickcastRecord`]).
    Decoded(RecordFields),
}

/// Whether a line holds nothing but spaces and tabs.
fn is_blank(line: &[u8]) -> bool {
    line.iter().all(|&b| b == b' ' || b == b'\t')
}

fn first_non_blank(line: &[u8]) -> Option<u8> {
    line.iter().copied().find(|&b| b != b' ' && b != b'\t')
}

/// Index of the first byte after `from` that is not a space or tab.
fn skip_blanks(line: &[u8], from: usize) -> usize {
    line[from..]
        .iter()
        .position(|&b| b != b' ' && b != b'\t')
        .map_or(line.len(), |i| from + i)
}

#[cfg(test)]
mod tests {
    use super::fixtures::{Item, read, read_bytes, record};
    use super::*;

    #[test]
    fn garbage_prefixes_are_rejected_per_line() {
        let input = b"garbage at the head\n\
            1723161253937085768 {\"a\":1}\n\
            x1723161253937085768 {\"b\":2}\n\
            -5 {\"c\":3}\n\
            99999999999999999999 {\"d\":4}\n\
            1723161253937085768\n\
            1.5 {\"e\":5}\n\
            \x00\xFF\xFE {\"f\":6}\n\
            18446744073709551615 {\"g\":7}\n";
        let (items, reader) = read_bytes(input, ReadOptions::default());
        assert_eq!(
            items,
            vec![
                Item::Rejected(1, LineReject::Unrecognized),
                record(2, Some(1_723_161_253_937_085_768), "{\"a\":1}"),
                Item::Rejected(3, LineReject::BadTimestamp),
                Item::Rejected(4, LineReject::BadTimestamp),
                Item::Rejected(5, LineReject::BadTimestamp),
                Item::Rejected(6, LineReject::InvalidLine),
                Item::Rejected(7, LineReject::BadTimestamp),
                Item::Rejected(8, LineReject::BadTimestamp),
                record(9, Some(u64::MAX), "{\"g\":7}"),
            ]
        );
        assert_eq!(reader.layout(), Some(Layout::NanosPrefixed));
        assert_eq!(reader.rejected(LineReject::BadTimestamp), 5);
        assert_eq!(reader.rejected(LineReject::Unrecognized), 1);

        let input = b"wss://feed <-> 1618677816.8434298\n\
            1618677817.061845: {\"a\":1}\n\
            wss://feed <- 1618677817.020616: {\"type\":\"subscribe\"}\n\
            wss://feed -> 1: {}\n\
            {\"type\":\"no time\"}\n\
            1e9: {\"b\":2}\n\
            1.2.3: {\"c\":3}\n\
            1.: {\"d\":4}\n\
            -1.5: {\"e\":5}\n\
            1618677817.5:\n\
            1618677817.0000000019: {\"f\":6}\n\
            18446744073.709551615: {\"g\":7}\n\
            18446744073.709551616: {\"h\":8}\n";
        let (items, reader) = read_bytes(input, ReadOptions::default());
        assert_eq!(
            items,
            vec![
                record(2, Some(1_618_677_817_061_845_000), "{\"a\":1}"),
                Item::Rejected(4, LineReject::InvalidLine),
                Item::Rejected(5, LineReject::BadTimestamp),
                Item::Rejected(6, LineReject::BadTimestamp),
                Item::Rejected(7, LineReject::BadTimestamp),
                Item::Rejected(8, LineReject::BadTimestamp),
                Item::Rejected(9, LineReject::BadTimestamp),
                Item::Rejected(10, LineReject::InvalidLine),
                // Below a nanosecond: truncated, never rounded.
                record(11, Some(1_618_677_817_000_000_001), "{\"f\":6}"),
                record(12, Some(u64::MAX), "{\"g\":7}"),
                Item::Rejected(13, LineReject::BadTimestamp),
            ]
        );
        assert_eq!(reader.skipped(Skip::Header), 1);
        assert_eq!(reader.skipped(Skip::SentFrame), 1);

        // JSON lines: anything else than an object or array is not of the layout.
        assert_eq!(
            read(b"{\"a\":1}\n123 {\"b\":2}\nnull\n  [1]\n"),
            vec![
                record(1, None, "{\"a\":1}"),
                Item::Rejected(2, LineReject::InvalidLine),
                Item::Rejected(3, LineReject::InvalidLine),
                record(4, None, "  [1]"),
            ]
        );
    }

    #[test]
    fn detection_rules() {
        let detect = |line: &str| Layout::detect(line.as_bytes());
        assert_eq!(detect("{\"a\":1}"), Some(Layout::JsonLines));
        assert_eq!(detect("  [1,2]"), Some(Layout::JsonLines));
        assert_eq!(
            detect("{\"rx\":1,\"src\":\"s\",\"line\":\"x\"}"),
            Some(Layout::TickcastRecord)
        );
        assert_eq!(detect("{\"rx\":1,\"other\":2}"), Some(Layout::JsonLines));
        assert_eq!(
            detect("1723161254087891268 {\"s\":1}"),
            Some(Layout::NanosPrefixed)
        );
        assert_eq!(detect("1723161254087891268 hello"), None);
        assert_eq!(
            detect("1618677817.061845: {\"t\":1}"),
            Some(Layout::CryptofeedText)
        );
        assert_eq!(detect("1618677817: [1]"), Some(Layout::CryptofeedText));
        assert_eq!(
            detect("wss://ws-feed.pro.coinbase.com <-> 1618677816.8434298"),
            Some(Layout::CryptofeedText)
        );
        assert_eq!(detect("wss://x <- 1.5: {}"), Some(Layout::CryptofeedText));
        assert_eq!(detect("wss://x"), None);
        assert_eq!(detect("1.5 {}"), None);
        assert_eq!(detect(""), None);
    }

    #[test]
    fn reasons_and_kinds_are_dense_and_labelled() {
        for (i, reason) in LineReject::ALL.iter().enumerate() {
            assert_eq!(reason.index(), i);
            assert!(!reason.to_string().is_empty());
        }
        for (i, kind) in Skip::ALL.iter().enumerate() {
            assert_eq!(kind.index(), i);
        }
        assert_eq!(Skip::SentFrame.as_str(), "sent_frame");
        let labels: std::collections::HashSet<&str> = LineReject::ALL
            .iter()
            .map(|r| r.as_str())
            .chain(Skip::ALL.iter().map(|s| s.as_str()))
            .collect();
        assert_eq!(labels.len(), LineReject::COUNT + Skip::COUNT);
        for layout in Layout::ALL {
            assert!(!layout.to_string().is_empty());
        }
    }
}
