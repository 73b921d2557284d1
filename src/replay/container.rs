//! The container layer of recorded feed files: [`RecordReader`] turns a file's bytes into
//! [`Record`]s (line number, receive time, raw payload), whatever the venue's JSON inside.
//!
//! Place in the flow: the first stage of replay (see [`crate::replay`]). The reader runs on
//! whichever thread drives one file's replay; it is `Send`, not shared. Its records go to a
//! venue decoder; its counters go to the replay summary.
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

use std::fmt;
use std::fs::File;
use std::io::{self, BufRead, BufReader, Cursor, Read};
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};

use flate2::read::MultiGzDecoder;
use memchr::{memchr, memchr2};
use simd_json::prelude::*;
use simd_json::tape::Value;
use simd_json::{Buffers, INPUT_PADDING, Tape};

/// Default longest line, in bytes: 1 MiB, far above any real frame (Binance depth snapshots of
/// 5000 levels are ~300 KiB) yet small enough that a hostile line costs little memory.
pub const DEFAULT_MAX_LINE: usize = 1 << 20;

/// Size of each read buffer. 64 KiB holds hundreds of typical lines, so framing makes few
/// `fill_buf` calls and decompressors work on large blocks.
const READ_BUFFER: usize = 64 * 1024;

/// Non-blank lines tried before giving up on detecting the layout: enough to step over a few
/// garbage or over-long lines at the head of a file, few enough that a file of another kind
/// (CSV, binary) fails fast instead of producing a rejected line per line for gigabytes.
const DETECT_LINES: u64 = 100;

/// Largest zstd window accepted, as a power of two: 27 (128 MiB) is zstd's own default limit
/// and what its CLI writes at most (`--long`, `--ultra -22`). Set explicitly because the window
/// is the one allocation a file controls: a 4 KiB file can claim the whole of it, so the bound
/// is stated here rather than left to the library's default.
pub const ZSTD_WINDOW_LOG_MAX: u32 = 27;

/// Bytes read to detect the compression: the longest magic recognized (xz's 6 bytes).
const MAGIC_LEN: usize = 6;

/// The UTF-8 byte order mark, dropped when it opens a file.
const BOM: &[u8] = b"\xEF\xBB\xBF";

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

    /// The compression that `magic` (the file's first bytes, fewer for a short file) announces.
    fn detect(magic: &[u8]) -> Result<Self, ContainerError> {
        const UNSUPPORTED: [(&[u8], &str); 4] = [
            (b"\xFD7zXZ\x00", "xz"),
            (b"BZh", "bzip2"),
            (b"\x04\x22\x4D\x18", "lz4"),
            (b"PK\x03\x04", "zip"),
        ];
        if magic.starts_with(b"\x1F\x8B") {
            return Ok(Compression::Gzip);
        }
        // A zstd frame, or a skippable frame (magic 0x184D2A50..=0x184D2A5F, little-endian),
        // which the decoder steps over.
        if magic.starts_with(b"\x28\xB5\x2F\xFD")
            || (magic.len() >= 4 && magic[0] & 0xF0 == 0x50 && magic[1..4] == *b"\x2A\x4D\x18")
        {
            return Ok(Compression::Zstd);
        }
        for (prefix, format) in UNSUPPORTED {
            if magic.starts_with(prefix) {
                return Err(ContainerError::UnsupportedCompression { format });
            }
        }
        Ok(Compression::Plain)
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

// === impl RecordReader ===

/// Reads the records of one recorded file, streaming, in file order.
///
/// ```no_run
/// use tickcast::replay::container::{RecordError, RecordReader};
///
/// let mut reader = RecordReader::open("feeds/binance.gz")?;
/// while let Some(next) = reader.next_record() {
///     match next {
///         Ok(_record) => { /* decode _record.payload, paced by _record.rx */ }
///         Err(RecordError::Rejected { .. }) => { /* counted; go on */ }
///         Err(fatal) => return Err(fatal.into()),
///     }
/// }
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
pub struct RecordReader {
    /// The decompressed byte stream.
    input: Box<dyn BufRead + Send>,
    compression: Compression,
    /// `None` until detected (unless forced).
    layout: Option<Layout>,
    max_line: usize,
    /// Shared with the [`Counted`] wrapper at the bottom of `input`.
    progress: Arc<Progress>,
    total_bytes: Option<u64>,
    /// The current line, without terminator; at most `max_line + 1` bytes.
    line: Vec<u8>,
    /// Parses [`Layout::TickcastRecord`] lines and holds the last one's payload and source.
    record_parser: RecordParser,
    /// Lines read so far; the current line's number.
    line_no: u64,
    /// Non-blank lines seen while the layout was unknown.
    undetected: u64,
    records: u64,
    skipped: [u64; Skip::COUNT],
    rejected: [u64; LineReject::COUNT],
    /// End of stream or a fatal error was returned: only `None` from now on.
    finished: bool,
}

/// What framing one line gave.
enum Framed {
    Line,
    TooLong,
    Eof,
}

impl RecordReader {
    /// Opens a recorded file, detecting its compression and layout.
    pub fn open(path: impl AsRef<Path>) -> Result<Self, ContainerError> {
        Self::open_with(path, ReadOptions::default())
    }

    /// Opens a recorded file with `options`; the compression is always detected.
    pub fn open_with(path: impl AsRef<Path>, options: ReadOptions) -> Result<Self, ContainerError> {
        let path = path.as_ref();
        let open_error = |source| ContainerError::Open {
            path: path.to_path_buf(),
            source,
        };
        let file = File::open(path).map_err(open_error)?;
        let metadata = file.metadata().map_err(open_error)?;
        let mut reader = Self::from_reader(file, options)?;
        // A pipe or device has no meaningful size: no progress total then.
        reader.total_bytes = metadata.is_file().then_some(metadata.len());
        Ok(reader)
    }

    /// Reads a recorded stream from any reader (a `BufRead` too), detecting its compression
    /// from the first bytes. [`RecordReader::total_bytes`] is unknown.
    pub fn from_reader(
        reader: impl Read + Send + 'static,
        options: ReadOptions,
    ) -> Result<Self, ContainerError> {
        let progress = Arc::new(Progress::default());
        let mut counted = Counted {
            inner: reader,
            progress: progress.clone(),
        };
        let mut magic = [0; MAGIC_LEN];
        let magic_len = read_up_to(&mut counted, &mut magic)
            .map_err(|source| ContainerError::Read { source })?;
        let compression = Compression::detect(&magic[..magic_len])?;
        // Put the magic bytes back in front of the stream for the decompressor.
        let raw = Cursor::new(magic[..magic_len].to_vec()).chain(counted);
        let input: Box<dyn BufRead + Send> = match compression {
            Compression::Plain => Box::new(BufReader::with_capacity(READ_BUFFER, raw)),
            Compression::Gzip => Box::new(BufReader::with_capacity(
                READ_BUFFER,
                MultiGzDecoder::new(raw),
            )),
            Compression::Zstd => {
                let decompress_error = |source| ContainerError::Decompress {
                    compression,
                    source,
                };
                let mut decoder =
                    zstd::stream::read::Decoder::new(raw).map_err(decompress_error)?;
                decoder
                    .window_log_max(ZSTD_WINDOW_LOG_MAX)
                    .map_err(decompress_error)?;
                Box::new(BufReader::with_capacity(READ_BUFFER, decoder))
            }
        };
        Ok(Self {
            input,
            compression,
            layout: options.layout,
            max_line: options.max_line,
            progress,
            total_bytes: None,
            line: Vec::new(),
            record_parser: RecordParser::new(),
            line_no: 0,
            undetected: 0,
            records: 0,
            skipped: [0; Skip::COUNT],
            rejected: [0; LineReject::COUNT],
            finished: false,
        })
    }

    /// The next record, a rejected line (the reader goes on), a fatal error (the reader stops),
    /// or `None` at the end of the stream. The record borrows the reader until the next call.
    pub fn next_record(&mut self) -> Option<Result<Record<'_>, RecordError>> {
        if self.finished {
            return None;
        }
        loop {
            let framed = match self.read_line() {
                Ok(framed) => framed,
                Err(error) => return Some(Err(self.fail(self.read_error(error)))),
            };
            let start = match framed {
                Framed::Eof => {
                    self.finished = true;
                    return None;
                }
                Framed::TooLong => {
                    if self.layout.is_none()
                        && let Some(fatal) = self.count_undetected()
                    {
                        return Some(Err(fatal));
                    }
                    return Some(Err(self.reject(LineReject::TooLong)));
                }
                Framed::Line if self.line_no == 1 && self.line.starts_with(BOM) => BOM.len(),
                Framed::Line => 0,
            };
            let line = &self.line[start..];
            if is_blank(line) {
                self.skipped[Skip::Blank.index()] += 1;
                continue;
            }
            let layout = match self.layout {
                Some(layout) => layout,
                None => match Layout::detect(line) {
                    Some(layout) => {
                        self.layout = Some(layout);
                        layout
                    }
                    None => {
                        if let Some(fatal) = self.count_undetected() {
                            return Some(Err(fatal));
                        }
                        return Some(Err(self.reject(LineReject::Unrecognized)));
                    }
                },
            };
            let outcome = match layout {
                Layout::JsonLines => json_line(line),
                Layout::NanosPrefixed => nanos_line(line),
                Layout::CryptofeedText => cryptofeed_line(line),
                Layout::TickcastRecord => match self.record_parser.parse(line) {
                    Some(fields) => Outcome::Decoded(fields),
                    None => Outcome::Reject(LineReject::BadRecord),
                },
            };
            match outcome {
                Outcome::Skip(kind) => self.skipped[kind.index()] += 1,
                Outcome::Reject(reason) => return Some(Err(self.reject(reason))),
                Outcome::Record { rx, start: payload } => {
                    self.records += 1;
                    return Some(Ok(Record {
                        line_no: self.line_no,
                        rx,
                        source: None,
                        payload: &self.line[start + payload..],
                    }));
                }
                Outcome::Decoded(fields) => {
                    self.records += 1;
                    return Some(Ok(Record {
                        line_no: self.line_no,
                        rx: Some(fields.rx),
                        source: fields
                            .has_source
                            .then_some(self.record_parser.source.as_str()),
                        payload: &self.record_parser.payload,
                    }));
                }
            }
        }
    }

    /// The file's compression.
    pub fn compression(&self) -> Compression {
        self.compression
    }

    /// The file's layout: forced, or detected; `None` while no line has matched one.
    pub fn layout(&self) -> Option<Layout> {
        self.layout
    }

    /// Records delivered so far.
    pub fn records(&self) -> u64 {
        self.records
    }

    /// Lines read so far (records, skipped and rejected lines): the last line's number.
    pub fn lines(&self) -> u64 {
        self.line_no
    }

    /// Lines skipped so far as `kind`.
    pub fn skipped(&self, kind: Skip) -> u64 {
        self.skipped[kind.index()]
    }

    /// Lines rejected so far for `reason`.
    pub fn rejected(&self, reason: LineReject) -> u64 {
        self.rejected[reason.index()]
    }

    /// Bytes of the file (compressed, as stored) consumed so far: with
    /// [`RecordReader::total_bytes`], a progress bar. Runs ahead of the records delivered by
    /// at most a few read buffers.
    pub fn bytes_read(&self) -> u64 {
        self.progress.bytes.load(Ordering::Relaxed)
    }

    /// The file's size in bytes, when opened from a regular file.
    pub fn total_bytes(&self) -> Option<u64> {
        self.total_bytes
    }

    /// Reads the next line into `self.line`, without its terminator, dropping the bytes of a
    /// line longer than `max_line` as they stream past.
    fn read_line(&mut self) -> io::Result<Framed> {
        self.line.clear();
        // One byte of slack for the `\r` of a `\r\n`, which does not count toward the length.
        let limit = self.max_line.saturating_add(1);
        let mut seen_any = false;
        let mut too_long = false;
        loop {
            let chunk = match self.input.fill_buf() {
                Ok(chunk) => chunk,
                Err(error) if error.kind() == io::ErrorKind::Interrupted => continue,
                Err(error) => return Err(error),
            };
            if chunk.is_empty() {
                if !seen_any {
                    return Ok(Framed::Eof);
                }
                break; // a last line without `\n`
            }
            seen_any = true;
            let (take, used, complete) = match memchr(b'\n', chunk) {
                Some(newline) => (newline, newline + 1, true),
                None => (chunk.len(), chunk.len(), false),
            };
            if !too_long {
                if self.line.len() + take > limit {
                    too_long = true;
                    self.line.clear();
                } else {
                    self.line.extend_from_slice(&chunk[..take]);
                }
            }
            self.input.consume(used);
            if complete {
                break;
            }
        }
        self.line_no += 1;
        if self.line.last() == Some(&b'\r') {
            self.line.pop();
        }
        if too_long || self.line.len() > self.max_line {
            return Ok(Framed::TooLong);
        }
        Ok(Framed::Line)
    }

    /// Counts a rejected line and makes its error.
    fn reject(&mut self, reason: LineReject) -> RecordError {
        self.rejected[reason.index()] += 1;
        RecordError::Rejected {
            line_no: self.line_no,
            reason,
        }
    }

    /// Counts a non-blank line read while the layout is unknown; past [`DETECT_LINES`], gives
    /// up on the file.
    fn count_undetected(&mut self) -> Option<RecordError> {
        self.undetected += 1;
        if self.undetected < DETECT_LINES {
            return None;
        }
        Some(self.fail(ContainerError::UnknownLayout {
            lines: self.undetected,
        }))
    }

    /// Ends the stream with `source`.
    fn fail(&mut self, source: ContainerError) -> RecordError {
        self.finished = true;
        RecordError::Fatal {
            line_no: self.line_no,
            source,
        }
    }

    /// Tells an error of the file itself from one of the decompressor reading it.
    fn read_error(&self, source: io::Error) -> ContainerError {
        if self.compression == Compression::Plain || self.progress.failed.load(Ordering::Relaxed) {
            ContainerError::Read { source }
        } else {
            ContainerError::Decompress {
                compression: self.compression,
                source,
            }
        }
    }
}

impl fmt::Debug for RecordReader {
    // Counters only: the buffered bytes come from a file and may be huge or hostile.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("RecordReader")
            .field("compression", &self.compression)
            .field("layout", &self.layout)
            .field("line_no", &self.line_no)
            .field("records", &self.records)
            .field("bytes_read", &self.bytes_read())
            .field("total_bytes", &self.total_bytes)
            .finish_non_exhaustive()
    }
}

/// Bytes consumed from the underlying reader, and whether it (rather than a decompressor
/// above it) failed. Shared because the reader sits at the bottom of the decompressor's stack.
#[derive(Default)]
struct Progress {
    bytes: AtomicU64,
    failed: AtomicBool,
}

/// The file (or given reader), counted into [`Progress`].
struct Counted<R> {
    inner: R,
    progress: Arc<Progress>,
}

impl<R: Read> Read for Counted<R> {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        match self.inner.read(buf) {
            Ok(n) => {
                // Relaxed: a statistic read by the same thread, or by a progress bar that only
                // needs an eventually current value.
                self.progress.bytes.fetch_add(n as u64, Ordering::Relaxed);
                Ok(n)
            }
            Err(error) => {
                if error.kind() != io::ErrorKind::Interrupted {
                    self.progress.failed.store(true, Ordering::Relaxed);
                }
                Err(error)
            }
        }
    }
}

/// Fills `buf` as far as the stream allows: fewer bytes only at end of stream.
fn read_up_to(reader: &mut impl Read, buf: &mut [u8]) -> io::Result<usize> {
    let mut filled = 0;
    while filled < buf.len() {
        match reader.read(&mut buf[filled..]) {
            Ok(0) => break,
            Ok(n) => filled += n,
            Err(error) if error.kind() == io::ErrorKind::Interrupted => {}
            Err(error) => return Err(error),
        }
    }
    Ok(filled)
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

/// [`Layout::JsonLines`]: the whole line, which must open a JSON object or array.
fn json_line(line: &[u8]) -> Outcome {
    match first_non_blank(line) {
        Some(b'{' | b'[') => Outcome::Record { rx: None, start: 0 },
        _ => Outcome::Reject(LineReject::InvalidLine),
    }
}

/// [`Layout::NanosPrefixed`]: `<ns> <payload>`, separated by spaces or tabs.
fn nanos_line(line: &[u8]) -> Outcome {
    let end = memchr2(b' ', b'\t', line).unwrap_or(line.len());
    let Some(rx) = parse_nanos(&line[..end]) else {
        return Outcome::Reject(LineReject::BadTimestamp);
    };
    let start = skip_blanks(line, end);
    if start == line.len() {
        return Outcome::Reject(LineReject::InvalidLine);
    }
    Outcome::Record {
        rx: Some(rx),
        start,
    }
}

/// [`Layout::CryptofeedText`]: `<seconds>: <payload>`, or a header or sent frame to skip.
fn cryptofeed_line(line: &[u8]) -> Outcome {
    if line.starts_with(b"wss://") || line.starts_with(b"ws://") {
        // `<url> <-> <connect time>` or `<url> <- <time>: <sent frame>`; a URL has no spaces.
        let after_url = match memchr(b' ', line) {
            Some(space) => &line[space + 1..],
            None => return Outcome::Reject(LineReject::InvalidLine),
        };
        return if after_url.starts_with(b"<-> ") {
            Outcome::Skip(Skip::Header)
        } else if after_url.starts_with(b"<- ") {
            Outcome::Skip(Skip::SentFrame)
        } else {
            Outcome::Reject(LineReject::InvalidLine)
        };
    }
    let Some(colon) = memchr(b':', line) else {
        return Outcome::Reject(LineReject::BadTimestamp);
    };
    let Some(rx) = parse_seconds(&line[..colon]) else {
        return Outcome::Reject(LineReject::BadTimestamp);
    };
    let start = skip_blanks(line, colon + 1);
    if start == line.len() {
        return Outcome::Reject(LineReject::InvalidLine);
    }
    Outcome::Record {
        rx: Some(rx),
        start,
    }
}

/// An unsigned decimal integer: 1 or more ASCII digits, no sign, fitting a `u64`.
fn parse_nanos(digits: &[u8]) -> Option<u64> {
    if digits.is_empty() {
        return None;
    }
    digits.iter().try_fold(0u64, |acc, &b| {
        if !b.is_ascii_digit() {
            return None;
        }
        acc.checked_mul(10)?.checked_add(u64::from(b - b'0'))
    })
}

/// Seconds since the epoch as decimal text (`1618677817.061845`), to ns, exactly: the integer
/// and fraction digits are read as integers, never through a float, which would round
/// (`1618677817.061845` is `1618677817.0618450641...` as an f64). Digits beyond the ninth
/// decimal are below a nanosecond and truncated. A `.` needs at least one digit after it.
fn parse_seconds(text: &[u8]) -> Option<u64> {
    let (whole, fraction) = match memchr(b'.', text) {
        Some(dot) => (&text[..dot], Some(&text[dot + 1..])),
        None => (text, None),
    };
    let seconds = parse_nanos(whole)?;
    let mut nanos = 0u64;
    if let Some(fraction) = fraction {
        if fraction.is_empty() || !fraction.iter().all(u8::is_ascii_digit) {
            return None;
        }
        for i in 0..9 {
            let digit = fraction.get(i).map_or(0, |&b| u64::from(b - b'0'));
            nanos = nanos * 10 + digit;
        }
    }
    seconds.checked_mul(1_000_000_000)?.checked_add(nanos)
}

// === The tickcast record format ===

/// Appends one line of the tickcast record format (see the module docs) to `out`, `\n`
/// included: `rx` is the receive time in ns since the epoch, `source` the feed source's name,
/// `line` the raw line as received. [`RecordReader`] gives `line` back byte for byte.
pub fn write_record_line(out: &mut Vec<u8>, rx: u64, source: &str, line: &[u8]) {
    out.extend_from_slice(b"{\"rx\":");
    out.extend_from_slice(itoa::Buffer::new().format(rx).as_bytes());
    out.extend_from_slice(b",\"src\":");
    push_json_string(out, source.as_bytes());
    if std::str::from_utf8(line).is_ok() {
        out.extend_from_slice(b",\"line\":");
        push_json_string(out, line);
    } else {
        out.extend_from_slice(b",\"line_b64\":\"");
        push_base64(out, line);
        out.push(b'"');
    }
    out.extend_from_slice(b"}\n");
}

/// Appends `text` (valid UTF-8) as a JSON string: quotes, backslashes and control characters
/// escaped, everything else as is.
fn push_json_string(out: &mut Vec<u8>, text: &[u8]) {
    const HEX: &[u8; 16] = b"0123456789abcdef";
    out.push(b'"');
    let mut plain_from = 0;
    for (i, &b) in text.iter().enumerate() {
        let escape: &[u8] = match b {
            b'"' => b"\\\"",
            b'\\' => b"\\\\",
            b'\n' => b"\\n",
            b'\r' => b"\\r",
            b'\t' => b"\\t",
            0x08 => b"\\b",
            0x0C => b"\\f",
            0x00..=0x1F => b"",
            _ => continue,
        };
        out.extend_from_slice(&text[plain_from..i]);
        plain_from = i + 1;
        if escape.is_empty() {
            out.extend_from_slice(b"\\u00");
            out.push(HEX[usize::from(b >> 4)]);
            out.push(HEX[usize::from(b & 0xF)]);
        } else {
            out.extend_from_slice(escape);
        }
    }
    out.extend_from_slice(&text[plain_from..]);
    out.push(b'"');
}

const BASE64: &[u8; 64] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";

/// Appends standard, padded base64 of `bytes` (RFC 4648 section 4).
fn push_base64(out: &mut Vec<u8>, bytes: &[u8]) {
    for chunk in bytes.chunks(3) {
        let b = [
            chunk[0],
            chunk.get(1).copied().unwrap_or(0),
            chunk.get(2).copied().unwrap_or(0),
        ];
        let n = u32::from(b[0]) << 16 | u32::from(b[1]) << 8 | u32::from(b[2]);
        let sextet = |shift: u32| BASE64[((n >> shift) & 0x3F) as usize];
        out.push(sextet(18));
        out.push(sextet(12));
        out.push(if chunk.len() > 1 { sextet(6) } else { b'=' });
        out.push(if chunk.len() > 2 { sextet(0) } else { b'=' });
    }
}

/// Decodes standard, padded base64 into `out` (cleared first); `None` on any invalid byte,
/// a length not a multiple of 4, or padding anywhere but at the end.
fn decode_base64(text: &[u8], out: &mut Vec<u8>) -> Option<()> {
    fn value(c: u8) -> Option<u32> {
        let v = match c {
            b'A'..=b'Z' => c - b'A',
            b'a'..=b'z' => c - b'a' + 26,
            b'0'..=b'9' => c - b'0' + 52,
            b'+' => 62,
            b'/' => 63,
            _ => return None,
        };
        Some(u32::from(v))
    }
    out.clear();
    if !text.len().is_multiple_of(4) {
        return None;
    }
    let quads = text.len() / 4;
    for (i, quad) in text.chunks_exact(4).enumerate() {
        let padding = if i + 1 == quads {
            quad.iter().rev().take_while(|&&c| c == b'=').count()
        } else {
            0
        };
        if padding > 2 {
            return None;
        }
        let mut n = 0u32;
        for &c in &quad[..4 - padding] {
            n = n << 6 | value(c)?;
        }
        n <<= 6 * padding as u32;
        let bytes = [(n >> 16) as u8, (n >> 8) as u8, n as u8];
        out.extend_from_slice(&bytes[..3 - padding]);
    }
    Some(())
}

/// What a record line holds besides its payload.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
struct RecordFields {
    rx: u64,
    has_source: bool,
}

/// Parses tickcast record lines with simd-json into reused buffers: after the first lines,
/// parsing allocates nothing.
struct RecordParser {
    /// The line plus simd-json's padding; strings are unescaped in place here.
    scratch: Vec<u8>,
    /// simd-json's working buffers.
    buffers: Buffers,
    /// The tape's allocation, kept empty between lines. Its lifetime is `'static` only because
    /// it is empty: `Tape::reset` re-brands the emptied allocation after each line.
    tape: Tape<'static>,
    /// The last record's line (decoded from `line` or `line_b64`).
    payload: Vec<u8>,
    /// The last record's `src`.
    source: String,
}

impl RecordParser {
    fn new() -> Self {
        Self {
            scratch: Vec::new(),
            buffers: Buffers::default(),
            tape: Tape(Vec::new()),
            payload: Vec::new(),
            source: String::new(),
        }
    }

    /// Parses one record line into `self.payload` and `self.source`; `None` when it is not a
    /// valid record.
    fn parse(&mut self, line: &[u8]) -> Option<RecordFields> {
        self.scratch.clear();
        self.scratch.reserve(line.len() + INPUT_PADDING);
        self.scratch.extend_from_slice(line);
        self.scratch.resize(line.len() + INPUT_PADDING, 0);
        let mut tape = std::mem::replace(&mut self.tape, Tape(Vec::new()));
        let fields = match simd_json::fill_tape_padded(
            &mut self.scratch,
            line.len(),
            &mut self.buffers,
            &mut tape,
        ) {
            Ok(()) => read_record(tape.as_value(), &mut self.payload, &mut self.source),
            Err(_) => None,
        };
        // Empties the tape, ending its borrow of `scratch`, and keeps the allocation.
        self.tape = tape.reset();
        fields
    }
}

/// Reads a parsed record object: `rx` and the line are required, `src` optional, other keys
/// ignored; a repeated key, or both `line` and `line_b64`, is ambiguous and refused.
fn read_record(
    root: Value<'_, '_>,
    payload: &mut Vec<u8>,
    source: &mut String,
) -> Option<RecordFields> {
    let object = root.as_object()?;
    let mut rx = None;
    let mut has_source = false;
    let mut has_line = false;
    for (key, value) in object.iter() {
        match key {
            // A negative, fractional or exponent `rx` is not a `u64` on the tape.
            "rx" if rx.is_none() => rx = Some(value.as_u64()?),
            "src" if !has_source => {
                source.clear();
                source.push_str(value.into_string()?);
                has_source = true;
            }
            "line" if !has_line => {
                payload.clear();
                payload.extend_from_slice(value.into_string()?.as_bytes());
                has_line = true;
            }
            "line_b64" if !has_line => {
                decode_base64(value.into_string()?.as_bytes(), payload)?;
                has_line = true;
            }
            "rx" | "src" | "line" | "line_b64" => return None,
            _ => {}
        }
    }
    Some(RecordFields {
        rx: rx?,
        has_source,
    })
    .filter(|_| has_line)
}

#[cfg(test)]
mod tests {
    use std::io::Write;
    use std::sync::atomic::AtomicUsize;
    use std::time::Instant;

    use flate2::write::GzEncoder;

    use super::*;

    const BINANCE: &str = "/work/shared/feeds/binance-spot-btcusdt-20240808.hftbacktest.gz";
    const COINBASE: &str = "/work/shared/feeds/coinbase-exchange-20210417.cryptofeed.txt";

    /// A file in the temp dir, removed on drop (also when the test fails).
    struct TempFile(PathBuf);

    impl TempFile {
        fn with(name: &str, bytes: &[u8]) -> Self {
            static NEXT: AtomicUsize = AtomicUsize::new(0);
            let unique = NEXT.fetch_add(1, Ordering::Relaxed);
            let path = std::env::temp_dir().join(format!(
                "tickcast-replay-{}-{unique}-{name}",
                std::process::id()
            ));
            std::fs::write(&path, bytes).expect("write temp file");
            Self(path)
        }
    }

    impl Drop for TempFile {
        fn drop(&mut self) {
            let _ = std::fs::remove_file(&self.0);
        }
    }

    /// What came out of a reader, owned.
    #[derive(Debug, PartialEq, Eq)]
    enum Item {
        Record {
            line_no: u64,
            rx: Option<u64>,
            source: Option<String>,
            payload: Vec<u8>,
        },
        Rejected(u64, LineReject),
        Fatal(String),
    }

    fn drain(reader: &mut RecordReader) -> Vec<Item> {
        let mut items = Vec::new();
        while let Some(next) = reader.next_record() {
            items.push(match next {
                Ok(record) => Item::Record {
                    line_no: record.line_no,
                    rx: record.rx,
                    source: record.source.map(str::to_owned),
                    payload: record.payload.to_vec(),
                },
                Err(RecordError::Rejected { line_no, reason }) => Item::Rejected(line_no, reason),
                Err(fatal) => Item::Fatal(fatal.to_string()),
            });
        }
        assert!(reader.next_record().is_none(), "None is final");
        items
    }

    fn read_bytes(bytes: &[u8], options: ReadOptions) -> (Vec<Item>, RecordReader) {
        let mut reader =
            RecordReader::from_reader(Cursor::new(bytes.to_vec()), options).expect("reader");
        (drain(&mut reader), reader)
    }

    fn read(bytes: &[u8]) -> Vec<Item> {
        read_bytes(bytes, ReadOptions::default()).0
    }

    fn record(line_no: u64, rx: Option<u64>, payload: &str) -> Item {
        Item::Record {
            line_no,
            rx,
            source: None,
            payload: payload.as_bytes().to_vec(),
        }
    }

    fn gzip(bytes: &[u8]) -> Vec<u8> {
        let mut encoder = GzEncoder::new(Vec::new(), flate2::Compression::fast());
        encoder.write_all(bytes).expect("gzip");
        encoder.finish().expect("gzip")
    }

    fn zstd(bytes: &[u8]) -> Vec<u8> {
        zstd::encode_all(bytes, 1).expect("zstd")
    }

    fn binance_plain() -> Vec<u8> {
        let mut plain = Vec::new();
        MultiGzDecoder::new(File::open(BINANCE).expect("binance recording"))
            .read_to_end(&mut plain)
            .expect("gunzip");
        plain
    }

    /// Order-sensitive fingerprint of a whole stream of records (FNV-1a), so that two ~10 MB
    /// streams compare without holding both.
    fn fingerprint(reader: &mut RecordReader) -> (u64, u64) {
        let mut hash = 0xcbf2_9ce4_8422_2325u64;
        let mut mix = |bytes: &[u8]| {
            for &b in bytes {
                hash = (hash ^ u64::from(b)).wrapping_mul(0x100_0000_01b3);
            }
        };
        let mut count = 0;
        while let Some(next) = reader.next_record() {
            let record = next.expect("no bad line in the real recordings");
            mix(&record.line_no.to_le_bytes());
            mix(&record.rx.unwrap_or(u64::MAX).to_le_bytes());
            mix(record.payload);
            mix(b"\n");
            count += 1;
        }
        (count, hash)
    }

    #[test]
    fn real_binance_recording() {
        let started = Instant::now();
        let mut reader = RecordReader::open(BINANCE).expect("open");
        assert_eq!(reader.compression(), Compression::Gzip);
        let total = reader.total_bytes().expect("a regular file has a size");
        assert_eq!(total, std::fs::metadata(BINANCE).expect("metadata").len());

        let (mut count, mut first_rx, mut trades, mut book_tickers) = (0u64, None, 0, 0);
        let mut readme_example = None;
        while let Some(next) = reader.next_record() {
            let record = next.expect("no bad line in the Binance recording");
            let rx = record.rx.expect("every line has a receive time");
            first_rx.get_or_insert(rx);
            count += 1;
            assert_eq!(record.line_no, count);
            assert!(record.payload.starts_with(b"{\""), "line {count}");
            assert!(record.payload.ends_with(b"}"), "line {count}");
            if memchr::memmem::find(record.payload, b"\"stream\":\"btcusdt@trade\"").is_some() {
                trades += 1;
            }
            if record
                .payload
                .starts_with(b"{\"stream\":\"btcusdt@bookTicker\"")
            {
                book_tickers += 1;
            }
            if rx == 1_723_161_254_087_896_568 {
                readme_example = Some(record.payload.to_vec());
            }
        }
        assert_eq!(count, 41_249);
        assert_eq!((trades, book_tickers), (9_757, 28_040));
        assert_eq!(first_rx, Some(1_723_161_253_937_085_768));
        assert_eq!(
            readme_example.as_deref(),
            Some(&br#"{"stream":"btcusdt@trade","data":{"e":"trade","E":1723161255343,"s":"BTCUSDT","t":3735683259,"p":"61837.63000000","q":"0.02000000","T":1723161255342,"m":true,"M":true}}"#[..])
        );
        assert_eq!(reader.layout(), Some(Layout::NanosPrefixed));
        assert_eq!(reader.records(), 41_249);
        assert_eq!(reader.lines(), 41_249);
        assert!(LineReject::ALL.iter().all(|&r| reader.rejected(r) == 0));
        assert!(Skip::ALL.iter().all(|&s| reader.skipped(s) == 0));
        assert_eq!(reader.bytes_read(), total);
        eprintln!("binance gzip: {:?}", started.elapsed());
    }

    #[test]
    fn real_coinbase_capture() {
        let mut reader = RecordReader::open(COINBASE).expect("open");
        assert_eq!(reader.compression(), Compression::Plain);
        let items = drain(&mut reader);
        assert_eq!(reader.layout(), Some(Layout::CryptofeedText));
        assert_eq!(items.len(), 9_946);
        assert_eq!(reader.records(), 9_946);
        assert_eq!(reader.skipped(Skip::Header), 1);
        assert_eq!(reader.skipped(Skip::SentFrame), 3);
        assert_eq!(reader.skipped(Skip::Blank), 2);
        assert!(LineReject::ALL.iter().all(|&r| reader.rejected(r) == 0));
        assert_eq!(reader.lines(), 9_952);
        assert_eq!(reader.bytes_read(), reader.total_bytes().expect("size"));

        let Item::Record {
            line_no,
            rx,
            payload,
            ..
        } = &items[0]
        else {
            panic!("{:?}", items[0]);
        };
        // Lines 1-4 are the header and three sent frames: `1618677817.061845: {...}` is line 5.
        assert_eq!((*line_no, *rx), (5, Some(1_618_677_817_061_845_000)));
        assert!(payload.starts_with(br#"{"type":"subscriptions","channels":[{"name":"level2""#));
        // `1618677817.0618958`: seven decimals, exact (an f64 would give ...061895799).
        assert!(matches!(
            items[1],
            Item::Record {
                line_no: 6,
                rx: Some(1_618_677_817_061_895_800),
                ..
            }
        ));
        let Some(Item::Record {
            line_no, payload, ..
        }) = items.last()
        else {
            panic!("last item");
        };
        assert_eq!(*line_no, 9_950);
        assert!(payload.ends_with(br#""time":"2021-04-17T16:44:07.859760Z"}"#));
        let kinds = |kind: &[u8]| {
            items
                .iter()
                .filter(|item| {
                    matches!(item, Item::Record { payload, .. } if memchr::memmem::find(payload, kind).is_some())
                })
                .count()
        };
        assert_eq!(kinds(br#""type":"l2update""#), 9_719);
        assert_eq!(kinds(br#""type":"match""#), 97);
    }

    #[test]
    fn same_records_from_gzip_zstd_and_plain() {
        let plain = binance_plain();
        let expected = fingerprint(&mut RecordReader::open(BINANCE).expect("open"));
        assert_eq!(expected.0, 41_249);
        for (compression, bytes) in [
            (Compression::Plain, plain.clone()),
            (Compression::Zstd, zstd(&plain)),
        ] {
            let file = TempFile::with("binance", &bytes);
            let mut reader = RecordReader::open(&file.0).expect("open");
            assert_eq!(reader.compression(), compression);
            assert_eq!(fingerprint(&mut reader), expected, "{compression}");
            assert_eq!(reader.bytes_read(), bytes.len() as u64);
        }

        let capture = std::fs::read(COINBASE).expect("coinbase capture");
        let expected = fingerprint(&mut RecordReader::open(COINBASE).expect("open"));
        assert_eq!(expected.0, 9_946);
        for (compression, bytes) in [
            (Compression::Zstd, zstd(&capture)),
            (Compression::Gzip, gzip(&capture)),
        ] {
            let file = TempFile::with("coinbase", &bytes);
            let mut reader = RecordReader::open(&file.0).expect("open");
            assert_eq!(reader.compression(), compression);
            assert_eq!(fingerprint(&mut reader), expected, "{compression}");
        }
    }

    #[test]
    fn multi_member_gzip_and_multi_frame_zstd() {
        // The member boundary falls inside a line: it must come out whole.
        let parts: [&[u8]; 3] = [b"1 {\"a\":", b"1}\n2 {\"b\":2}\n", b"3 {\"c\":3}"];
        let expected = vec![
            record(1, Some(1), "{\"a\":1}"),
            record(2, Some(2), "{\"b\":2}"),
            record(3, Some(3), "{\"c\":3}"),
        ];
        let gz: Vec<u8> = parts.iter().flat_map(|part| gzip(part)).collect();
        assert_eq!(read(&gz), expected);
        let zst: Vec<u8> = parts.iter().flat_map(|part| zstd(part)).collect();
        assert_eq!(read(&zst), expected);
        // An empty member in the middle, and a zstd skippable frame first.
        let gz: Vec<u8> = [gzip(parts[0]), gzip(b""), gzip(parts[1]), gzip(parts[2])].concat();
        assert_eq!(read(&gz), expected);
        let mut skippable = b"\x50\x2A\x4D\x18\x03\x00\x00\x00abc".to_vec();
        skippable.extend_from_slice(&zst);
        assert_eq!(read(&skippable), expected);
    }

    #[test]
    fn zstd_window_is_bounded() {
        // The zstd window is the one allocation a file controls: a 4 KiB frame asking for a
        // 128 MiB window of repeated bytes costs 128 MiB, whatever `max_line` (measured while
        // fuzzing the container). Up to 2^ZSTD_WINDOW_LOG_MAX it is read, beyond refused,
        // whatever the zstd library's default.
        fn frame(window_log: u32, content: &[u8]) -> Vec<u8> {
            // Magic, frame header (no content size, not single-segment, no checksum), window
            // descriptor (exponent only), then one raw block, the last.
            let mut frame = b"\x28\xB5\x2F\xFD\x00".to_vec();
            frame.push(((window_log - 10) << 3) as u8);
            let header = (content.len() as u32) << 3 | 1;
            frame.extend_from_slice(&header.to_le_bytes()[..3]);
            frame.extend_from_slice(content);
            frame
        }
        assert_eq!(
            read(&frame(ZSTD_WINDOW_LOG_MAX, b"1 {}\n")),
            vec![record(1, Some(1), "{}")]
        );
        let items = read(&frame(ZSTD_WINDOW_LOG_MAX + 1, b"1 {}\n"));
        assert!(
            matches!(&items[..], [Item::Fatal(m)] if m.starts_with("after line 0: zstd stream")),
            "{items:?}"
        );
    }

    #[test]
    fn truncated_gzip_is_an_error_after_the_records_before_the_cut() {
        let whole = std::fs::read(BINANCE).expect("binance recording");
        let cut = &whole[..whole.len() / 3];
        let file = TempFile::with("truncated.gz", cut);
        let mut reader = RecordReader::open(&file.0).expect("open");
        let mut delivered = 0u64;
        let error = loop {
            match reader.next_record() {
                Some(Ok(record)) => {
                    delivered += 1;
                    assert_eq!(record.line_no, delivered);
                    assert!(record.payload.ends_with(b"}"), "no half line");
                }
                Some(Err(error)) => break error,
                None => panic!("a truncated gzip must end with an error"),
            }
        };
        assert!(error.is_fatal());
        assert_eq!(error.line_no(), delivered);
        let RecordError::Fatal {
            source: ContainerError::Decompress { compression, .. },
            ..
        } = error
        else {
            panic!("{error:?}");
        };
        assert_eq!(compression, Compression::Gzip);
        assert!(delivered > 10_000 && delivered < 41_249, "{delivered}");
        assert!(reader.next_record().is_none());

        // The same for zstd, and for a cut inside the gzip header.
        let zst = zstd(b"1 {\"a\":1}\n2 {\"b\":2}\n");
        let items = read(&zst[..zst.len() - 3]);
        assert!(
            matches!(items.last(), Some(Item::Fatal(m)) if m.contains("zstd")),
            "{items:?}"
        );
        let items = read(&gzip(b"1 {}\n")[..5]);
        assert!(matches!(items[..], [Item::Fatal(_)]), "{items:?}");
    }

    #[test]
    fn corrupt_gzip_is_a_decompression_error() {
        let mut gz = gzip(b"1 {\"a\":1}\n");
        let middle = gz.len() / 2;
        gz[middle] ^= 0xFF;
        gz.extend_from_slice(b"trailing garbage");
        let items = read(&gz);
        assert!(
            matches!(items.last(), Some(Item::Fatal(m)) if m.contains("gzip stream is corrupt")),
            "{items:?}"
        );
    }

    #[test]
    fn over_long_lines_are_skipped_unbuffered() {
        let options = ReadOptions {
            max_line: 16,
            ..ReadOptions::default()
        };
        let mut input = b"1 {\"a\":1}\n".to_vec();
        input.extend_from_slice(b"2 {\"");
        input.extend(std::iter::repeat_n(b'x', 100_000));
        input.extend_from_slice(b"\":1}\n3 {\"c\":3}\n");
        // Exactly at the limit (CRLF not counted), and one over.
        input.extend_from_slice(b"4 {\"d\":\"123456\"}\r\n5 {\"e\":\"1234567\"}\n");
        let (items, reader) = read_bytes(&input, options);
        assert_eq!(
            items,
            vec![
                record(1, Some(1), "{\"a\":1}"),
                Item::Rejected(2, LineReject::TooLong),
                record(3, Some(3), "{\"c\":3}"),
                record(4, Some(4), "{\"d\":\"123456\"}"),
                Item::Rejected(5, LineReject::TooLong),
            ]
        );
        assert_eq!(reader.rejected(LineReject::TooLong), 2);
        assert!(
            reader.line.capacity() <= 2 * (16 + 1),
            "{}",
            reader.line.capacity()
        );

        // The default 1 MiB limit, against a 5 MiB line.
        let mut input = b"1 {}\n".to_vec();
        input.extend(std::iter::repeat_n(b'7', 5 << 20));
        input.extend_from_slice(b" {}\n2 {}");
        let (items, reader) = read_bytes(&input, ReadOptions::default());
        assert_eq!(
            items,
            vec![
                record(1, Some(1), "{}"),
                Item::Rejected(2, LineReject::TooLong),
                record(3, Some(2), "{}"),
            ]
        );
        assert!(reader.line.capacity() <= 2 * (DEFAULT_MAX_LINE + 1));
    }

    #[test]
    fn crlf_missing_final_newline_blank_lines_and_bom() {
        assert_eq!(
            read(b"\xEF\xBB\xBF{\"a\":1}\r\n\r\n  \t\n{\"b\":2}\r\n[3]"),
            vec![
                record(1, None, "{\"a\":1}"),
                record(4, None, "{\"b\":2}"),
                record(5, None, "[3]"),
            ]
        );
        assert_eq!(
            read(b"10 {\"a\":1}\r\n20\t {\"b\":2}"),
            vec![
                record(1, Some(10), "{\"a\":1}"),
                record(2, Some(20), "{\"b\":2}")
            ]
        );
        assert_eq!(
            read(b"wss://x <-> 1\r\n1.5: {\"a\":1}\r\n\r\n2: {\"b\":2}\r"),
            vec![
                record(2, Some(1_500_000_000), "{\"a\":1}"),
                record(4, Some(2_000_000_000), "{\"b\":2}"),
            ]
        );
        // A lone `\r` inside a line is data.
        assert_eq!(
            read(b"{\"a\":\"x\ry\"}\n"),
            vec![record(1, None, "{\"a\":\"x\ry\"}")]
        );
        assert_eq!(read(b""), vec![]);
        assert_eq!(read(b"\n\n \n"), vec![]);
    }

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
    fn a_file_of_no_known_layout_fails_fast() {
        let csv = "time,price,qty\n".repeat(1_000);
        let (items, reader) = read_bytes(csv.as_bytes(), ReadOptions::default());
        assert_eq!(items.len(), DETECT_LINES as usize);
        assert!(
            matches!(items.last(), Some(Item::Fatal(m)) if m.contains("no known line layout")),
            "{:?}",
            items.last()
        );
        assert_eq!(reader.layout(), None);
        // The line that gave up is not counted as rejected: it ended the stream.
        assert_eq!(reader.rejected(LineReject::Unrecognized), DETECT_LINES - 1);
        // Binary garbage without a newline: one giant line, dropped as it streams past.
        let binary: Vec<u8> = (0..3_000_000u32)
            .map(|i| match (i.wrapping_mul(2_654_435_761) >> 13) as u8 {
                b'\n' => 0,
                b => b,
            })
            .collect();
        let (items, reader) = read_bytes(&binary, ReadOptions::default());
        assert_eq!(items, vec![Item::Rejected(1, LineReject::TooLong)]);
        assert!(reader.line.capacity() <= 2 * (DEFAULT_MAX_LINE + 1));
    }

    #[test]
    fn unsupported_compression_is_refused_at_open() {
        for (magic, format) in [
            (&b"\xFD7zXZ\x00rest"[..], "xz"),
            (b"BZh91AY&SY", "bzip2"),
            (b"\x04\x22\x4D\x18rest", "lz4"),
            (b"PK\x03\x04rest", "zip"),
        ] {
            let error =
                RecordReader::from_reader(Cursor::new(magic.to_vec()), ReadOptions::default())
                    .expect_err("unsupported");
            assert!(
                matches!(error, ContainerError::UnsupportedCompression { format: f } if f == format),
                "{error}"
            );
        }
        let error = RecordReader::open("/nonexistent/feed.gz").expect_err("missing file");
        assert!(
            error
                .to_string()
                .starts_with("cannot open /nonexistent/feed.gz"),
            "{error}"
        );
    }

    #[test]
    fn a_forced_layout_is_not_second_guessed() {
        let options = ReadOptions {
            layout: Some(Layout::NanosPrefixed),
            ..ReadOptions::default()
        };
        let (items, _) = read_bytes(b"{\"a\":1}\n5 {\"b\":2}\n", options);
        assert_eq!(
            items,
            vec![
                Item::Rejected(1, LineReject::BadTimestamp),
                record(2, Some(5), "{\"b\":2}")
            ]
        );
        let options = ReadOptions {
            layout: Some(Layout::JsonLines),
            ..ReadOptions::default()
        };
        let (items, _) = read_bytes(b"{\"rx\":1,\"line\":\"x\"}\n", options);
        assert_eq!(items, vec![record(1, None, "{\"rx\":1,\"line\":\"x\"}")]);
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
    fn seconds_convert_exactly() {
        let ns = |text: &str| parse_seconds(text.as_bytes());
        assert_eq!(ns("1618677817.061845"), Some(1_618_677_817_061_845_000));
        assert_eq!(ns("1618677816.8434298"), Some(1_618_677_816_843_429_800));
        assert_eq!(ns("1618677817"), Some(1_618_677_817_000_000_000));
        assert_eq!(ns("0.000000001"), Some(1));
        assert_eq!(ns("0.0000000009"), Some(0));
        assert_eq!(ns("18446744073.709551615"), Some(u64::MAX));
        for bad in [
            "",
            ".5",
            "1.",
            "1.5.",
            "+1",
            "-1",
            "1e9",
            "1.5e3",
            " 1",
            "1 ",
            "nan",
            "inf",
            "18446744074",
        ] {
            assert_eq!(ns(bad), None, "{bad:?}");
        }
        assert_eq!(parse_nanos(b"18446744073709551615"), Some(u64::MAX));
        assert_eq!(parse_nanos(b"18446744073709551616"), None);
        assert_eq!(parse_nanos(b"0"), Some(0));
        assert_eq!(parse_nanos(b""), None);
    }

    #[test]
    fn record_format_round_trips_any_bytes() {
        let lines: [&[u8]; 9] = [
            br#"{"stream":"btcusdt@trade","data":{"p":"61837.63000000"}}"#,
            b"",
            b"quotes \" backslash \\ slash / tab \t cr \r lf \n nul \x00 esc \x1B del \x7F",
            "unicode é 中 🦀 \u{2028}".as_bytes(),
            b"\xFF\xFE not UTF-8 \xC3\x28",
            b"\x80",
            b"ab",
            b"abc",
            &[0u8, 1, 2, 253, 254, 255, b'\n', b'\r'],
        ];
        let mut file = Vec::new();
        for (i, line) in lines.iter().enumerate() {
            write_record_line(&mut file, 1_000 + i as u64, "binance:ws\"1\"", line);
        }
        // Every written line is one JSON object on one line.
        assert_eq!(memchr::memchr_iter(b'\n', &file).count(), lines.len());
        for line in file.split(|&b| b == b'\n').filter(|l| !l.is_empty()) {
            serde_json::from_slice::<serde_json::Value>(line).expect("valid JSON");
            assert_eq!(Layout::detect(line), Some(Layout::TickcastRecord));
        }
        for bytes in [file.clone(), zstd(&file), gzip(&file)] {
            let (items, reader) = read_bytes(&bytes, ReadOptions::default());
            assert_eq!(reader.layout(), Some(Layout::TickcastRecord));
            let expected: Vec<Item> = lines
                .iter()
                .enumerate()
                .map(|(i, line)| Item::Record {
                    line_no: i as u64 + 1,
                    rx: Some(1_000 + i as u64),
                    source: Some("binance:ws\"1\"".to_owned()),
                    payload: line.to_vec(),
                })
                .collect();
            assert_eq!(items, expected);
        }
        assert!(file.windows(10).any(|w| w == b"\"line_b64\""));
    }

    #[test]
    fn real_lines_round_trip_through_the_record_format() {
        let capture = std::fs::read(COINBASE).expect("coinbase capture");
        let mut recording = Vec::new();
        let mut original = RecordReader::open(COINBASE).expect("open");
        while let Some(next) = original.next_record() {
            let record = next.expect("no bad line");
            write_record_line(
                &mut recording,
                record.rx.unwrap_or(0),
                "coinbase",
                record.payload,
            );
        }
        let file = TempFile::with("coinbase.jsonl.zst", &zstd(&recording));
        let mut replayed = RecordReader::open(&file.0).expect("open");
        let mut original = RecordReader::open(COINBASE).expect("open");
        let mut count = 0;
        while let Some(next) = original.next_record() {
            let want = next.expect("no bad line");
            let (rx, payload) = (want.rx, want.payload.to_vec());
            let got = replayed
                .next_record()
                .expect("as many records")
                .expect("no bad line");
            assert_eq!(
                (got.rx, got.source, got.payload),
                (rx, Some("coinbase"), &payload[..])
            );
            count += 1;
        }
        assert!(replayed.next_record().is_none());
        assert_eq!(count, 9_946);
        assert!(recording.len() > capture.len(), "escaping adds bytes");
    }

    #[test]
    fn bad_record_lines_are_rejected() {
        let input = concat!(
            "{\"rx\":1,\"src\":\"s\",\"line\":\"ok\"}\n",
            "{\"rx\":2,\"src\":\"s\"}\n",
            "{\"src\":\"s\",\"line\":\"no rx\"}\n",
            "{\"rx\":-3,\"line\":\"x\"}\n",
            "{\"rx\":4.5,\"line\":\"x\"}\n",
            "{\"rx\":5,\"rx\":5,\"line\":\"x\"}\n",
            "{\"rx\":6,\"line\":\"x\",\"line_b64\":\"eA==\"}\n",
            "{\"rx\":7,\"line_b64\":\"e===\"}\n",
            "{\"rx\":8,\"line_b64\":\"eA=\"}\n",
            "{\"rx\":9,\"line\":\"x\"} trailing\n",
            "{\"rx\":10,\"line\":\"x\"\n",
            "{\"rx\":11,\"line\":7}\n",
            "[1]\n",
            "{\"line\":\"any order\",\"future\":[1,{\"k\":null}],\"rx\":12}\n",
            "{\"rx\":13,\"line_b64\":\"\"}\n",
            "{\"rx\":18446744073709551616,\"line\":\"x\"}\n",
            "{\"rx\":1e3,\"line\":\"x\"}\n",
            "{\"rx\":\"17\",\"line\":\"x\"}\n",
            "{\"rx\":null,\"line\":\"x\"}\n",
            "{\"rx\":19,\"src\":5,\"line\":\"x\"}\n",
            "{\"rx\":20,\"line\":\"\\ud83e\\udd80 \\u00e9 \\/\"}\n",
            "{\"rx\":18446744073709551615,\"line\":\"x\\ty\"}\n",
        );
        let (items, reader) = read_bytes(input.as_bytes(), ReadOptions::default());
        let mut expected = vec![Item::Record {
            line_no: 1,
            rx: Some(1),
            source: Some("s".to_owned()),
            payload: b"ok".to_vec(),
        }];
        expected.extend((2..=13).map(|n| Item::Rejected(n, LineReject::BadRecord)));
        expected.push(record(14, Some(12), "any order"));
        expected.push(record(15, Some(13), ""));
        expected.extend((16..=20).map(|n| Item::Rejected(n, LineReject::BadRecord)));
        expected.push(record(21, Some(20), "🦀 é /"));
        expected.push(record(22, Some(u64::MAX), "x\ty"));
        assert_eq!(items, expected);
        assert_eq!(reader.rejected(LineReject::BadRecord), 17);
    }

    #[test]
    fn base64_vectors() {
        // RFC 4648 section 10.
        for (plain, encoded) in [
            ("", ""),
            ("f", "Zg=="),
            ("fo", "Zm8="),
            ("foo", "Zm9v"),
            ("foob", "Zm9vYg=="),
            ("fooba", "Zm9vYmE="),
            ("foobar", "Zm9vYmFy"),
        ] {
            let mut out = Vec::new();
            push_base64(&mut out, plain.as_bytes());
            assert_eq!(out, encoded.as_bytes());
            let mut back = Vec::new();
            assert_eq!(decode_base64(encoded.as_bytes(), &mut back), Some(()));
            assert_eq!(back, plain.as_bytes());
        }
        let all: Vec<u8> = (0..=255).collect();
        let mut encoded = Vec::new();
        push_base64(&mut encoded, &all);
        let mut back = Vec::new();
        assert_eq!(decode_base64(&encoded, &mut back), Some(()));
        assert_eq!(back, all);
        for bad in ["Zg=", "Z===", "Zg==Zg==", "Zm9v!A==", "Zm 9", "===="] {
            assert_eq!(decode_base64(bad.as_bytes(), &mut back), None, "{bad}");
        }
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

    #[test]
    fn the_reader_is_send() {
        fn send<T: Send>() {}
        send::<RecordReader>();
    }
}
