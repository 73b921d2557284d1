//! Checks of [`RecordReader`]: arbitrary bytes as a recorded file, read to the end.
//!
//! Input: four header bytes, then the body.
//! - byte 0, bits 0-1, the compression: 0 the body as is, 1 the body gzip-compressed here,
//!   2 zstd-compressed here, 3 the body is itself the file's bytes (compressed or not, as the
//!   fuzzer made them: corrupt streams, bombs). Bits 2-4: a forced [`Layout`] (0-3) or
//!   detection (4-7). Bit 5: the source returns `Interrupted` now and then, which must be
//!   retried, never surface.
//! - byte 1: `max_line`, from [`MAX_LINES`].
//! - byte 2: the largest read the source returns (0: unlimited), to cut lines, gzip members
//!   and zstd blocks at every possible place.
//! - byte 3: a fault. 0 none; 1-127 the source fails with an I/O error at that fraction of the
//!   file (in 128ths); 128-255 the file is truncated at that fraction.
//!
//! What must hold, for any input:
//! - no panic, and reading ends: at most one item per line (plus the final error), or a
//!   generous cap when the plain text is unknown (mode 3); `None` is final, so is a fatal error;
//! - memory stays bounded by `max_line`: the heap this crate's allocator sees grows by at most
//!   a constant plus a multiple of `max_line` while reading, however long the lines
//!   (decompression bombs included);
//! - every payload is at most `max_line` bytes, line numbers strictly increase, a record has a
//!   receive time exactly when its layout records one, counters match what was returned.
//!
//! When the plain text is known (modes 0-2), against a line-by-line model of it:
//! - every line longer than `max_line` is `Rejected(TooLong)`, every blank line is skipped,
//!   every other line gives exactly one item, skipped only as a cryptofeed header or sent
//!   frame;
//! - a record's payload is its line's tail after the layout's prefix (the whole line for JSON
//!   lines), its receive time the prefix's value; a tickcast record's fields are what
//!   serde_json reads from the same line;
//! - after an I/O error or a truncation, only complete (`\n`-terminated) lines were delivered,
//!   and the stream ends with a fatal error, never a clean end of file.

use std::alloc::{GlobalAlloc, Layout as AllocLayout, System};
use std::io::{self, Cursor, Read, Write};
use std::sync::atomic::{AtomicUsize, Ordering};

use tickcast::replay::container::{
    Compression, ContainerError, Layout, LineReject, ReadOptions, RecordError, RecordReader, Skip,
};

use crate::Rng;

/// The `max_line` values byte 1 picks from: tiny ones make most lines too long (the
/// streaming-drop path), the default keeps real lines.
pub const MAX_LINES: [usize; 8] = [0, 1, 8, 64, 200, 1024, 4096, 1 << 20];

/// Items read at most when the plain text is unknown: far above what any input libFuzzer
/// makes can hold, so reaching it means the reader does not end.
const UNKNOWN_CAP: u64 = 1 << 26;

/// Heap growth allowed while reading, besides `max_line`: the read buffer, the inflate state
/// and the small initial buffers of the record parser.
const FIXED_MEMORY: usize = 2 << 20;

/// Heap allowed per byte of `max_line`: the line, the record parser's copy, its tape and
/// structural indexes, the decoded payload.
const MEMORY_PER_LINE_BYTE: usize = 40;

// === Counting allocator ===

/// Live and peak heap bytes, kept by [`CountingAlloc`] when a target installs it.
static LIVE: AtomicUsize = AtomicUsize::new(0);
static PEAK: AtomicUsize = AtomicUsize::new(0);

/// The system allocator, counting live bytes and their peak, so the target can check that
/// reading stays within its memory bound. Only heap seen by Rust's allocator is counted:
/// zstd's C library allocates its own window (at most 128 MiB, zstd's default limit).
pub struct CountingAlloc;

// SAFETY: every method forwards to `System` with the caller's arguments unchanged, so
// `System`'s guarantees hold; the counters are plain atomics and never touch the memory.
unsafe impl GlobalAlloc for CountingAlloc {
    unsafe fn alloc(&self, layout: AllocLayout) -> *mut u8 {
        // SAFETY: forwarded as is; the caller upholds `GlobalAlloc::alloc`'s contract.
        let ptr = unsafe { System.alloc(layout) };
        if !ptr.is_null() {
            grow(layout.size());
        }
        ptr
    }

    unsafe fn alloc_zeroed(&self, layout: AllocLayout) -> *mut u8 {
        // SAFETY: as for `alloc`.
        let ptr = unsafe { System.alloc_zeroed(layout) };
        if !ptr.is_null() {
            grow(layout.size());
        }
        ptr
    }

    unsafe fn dealloc(&self, ptr: *mut u8, layout: AllocLayout) {
        LIVE.fetch_sub(layout.size(), Ordering::Relaxed);
        // SAFETY: `ptr` was allocated by `System` with `layout` (every allocation is).
        unsafe { System.dealloc(ptr, layout) }
    }

    unsafe fn realloc(&self, ptr: *mut u8, layout: AllocLayout, new_size: usize) -> *mut u8 {
        // SAFETY: as for `dealloc`, and the caller upholds `realloc`'s contract.
        let new = unsafe { System.realloc(ptr, layout, new_size) };
        if !new.is_null() {
            LIVE.fetch_sub(layout.size(), Ordering::Relaxed);
            grow(new_size);
        }
        new
    }
}

fn grow(size: usize) {
    // Relaxed: the fuzz targets are single-threaded; the peak is read on the same thread.
    let live = LIVE.fetch_add(size, Ordering::Relaxed) + size;
    PEAK.fetch_max(live, Ordering::Relaxed);
}

/// Starts a new peak measurement; returns the live bytes now.
fn reset_peak() -> usize {
    let live = LIVE.load(Ordering::Relaxed);
    PEAK.store(live, Ordering::Relaxed);
    live
}

// === The source ===

/// The file as a reader: bounded reads, optional `Interrupted`s, an optional I/O error.
struct Source {
    data: Cursor<Vec<u8>>,
    rng: Rng,
    max_read: usize,
    interrupt: bool,
    fail_at: Option<u64>,
}

impl Read for Source {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        if self.interrupt && self.rng.next_u64().is_multiple_of(4) {
            return Err(io::ErrorKind::Interrupted.into());
        }
        let pos = self.data.position();
        let mut limit = buf.len();
        if self.max_read > 0 {
            limit = limit.min(self.rng.read_size(self.max_read));
        }
        if let Some(fail_at) = self.fail_at {
            if pos >= fail_at {
                return Err(io::Error::other("injected read error"));
            }
            limit = limit.min((fail_at - pos) as usize);
        }
        self.data.read(&mut buf[..limit])
    }
}

/// What went wrong with the file, as the target set it up.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Fault {
    None,
    /// The source fails at this byte of the file.
    ErrorAt(usize),
    /// The file was cut to this many bytes.
    Truncated(usize),
}

// === The check ===

/// Reads `data` as a recorded file (see the module docs) and checks every invariant.
pub fn check(data: &[u8]) {
    let [mode, max_line_byte, max_read, fault_byte, ref body @ ..] = *data else {
        return;
    };
    // A body given as is (mode 0) that opens with a compression's magic bytes is not plain
    // text: read it, but without the model, as mode 3.
    let mut compression = match mode & 3 {
        0 if has_compression_magic(body) => 3,
        compression => compression,
    };
    let layout = match usize::from((mode >> 2) & 7) {
        forced @ 0..=3 => Some(Layout::ALL[forced]),
        _ => None,
    };
    let max_line = MAX_LINES[usize::from(max_line_byte) % MAX_LINES.len()];
    let mut file = match compression {
        1 => gzip(body),
        2 => zstd(body),
        _ => body.to_vec(),
    };
    let fault = match fault_byte {
        0 => Fault::None,
        1..=127 => Fault::ErrorAt(file.len() * usize::from(fault_byte) / 128),
        _ => Fault::Truncated(file.len() * usize::from(fault_byte - 128) / 128),
    };
    // The plain text the reader should see, when known. A truncated plain file is simply a
    // shorter one.
    let mut plain: Option<Vec<u8>> = (compression != 3).then(|| body.to_vec());
    if let Fault::Truncated(len) = fault {
        file.truncate(len);
        if compression == 0 {
            plain = Some(file.clone());
        }
    }
    let fault = match (fault, compression) {
        (Fault::Truncated(_), 0) => Fault::None,
        // Cut inside the magic bytes, the file is no longer recognisably compressed: it is
        // read as plain garbage, with no model to compare to.
        (Fault::Truncated(len), 1 | 2) if len < 4 => {
            plain = None;
            compression = 3;
            fault
        }
        (fault, _) => fault,
    };
    let file_len = file.len();
    let source = Source {
        data: Cursor::new(file),
        rng: Rng::new(u64::from(max_read) << 8 | u64::from(mode)),
        max_read: usize::from(max_read),
        interrupt: mode & 0x20 != 0,
        fail_at: match fault {
            Fault::ErrorAt(at) => Some(at as u64),
            _ => None,
        },
    };
    let options = ReadOptions { layout, max_line };

    let baseline = reset_peak();
    let mut reader = match RecordReader::from_reader(source, options) {
        Ok(reader) => reader,
        Err(error) => {
            check_open_error(&error, compression, fault);
            return;
        }
    };
    let cap = match &plain {
        Some(plain) => memchr_count(plain) + 2,
        None => UNKNOWN_CAP,
    };
    let mut items: Vec<Item> = Vec::new();
    let mut stored = 0usize;
    let mut last_line_no = 0u64;
    let mut counted = Counts::default();
    let mut fatal = None;
    while let Some(next) = reader.next_record() {
        counted.items += 1;
        assert!(
            counted.items <= cap,
            "reading does not end: {cap} items and counting"
        );
        let item = match next {
            Ok(record) => {
                assert!(
                    record.payload.len() <= max_line,
                    "payload of {} bytes, max_line {max_line}",
                    record.payload.len()
                );
                counted.records += 1;
                Item::Record {
                    line_no: record.line_no,
                    rx: record.rx,
                    source: record.source.map(str::to_owned),
                    // Kept only when the model will compare it.
                    payload: match plain {
                        Some(_) => record.payload.to_vec(),
                        None => Vec::new(),
                    },
                }
            }
            Err(RecordError::Rejected { line_no, reason }) => {
                counted.rejected[reason.index()] += 1;
                Item::Rejected { line_no, reason }
            }
            Err(RecordError::Fatal { line_no, source }) => {
                assert!(line_no >= last_line_no, "fatal error before the last line");
                assert!(reader.next_record().is_none(), "a fatal error is not final");
                fatal = Some((line_no, source));
                break;
            }
        };
        assert!(item.line_no() > last_line_no, "line numbers go back");
        last_line_no = item.line_no();
        if let Item::Record { rx, source, .. } = &item {
            let layout = reader.layout().expect("a record implies a layout");
            assert_eq!(rx.is_some(), layout != Layout::JsonLines, "rx in {layout}");
            assert!(
                source.is_none() || layout == Layout::TickcastRecord,
                "a source in {layout}"
            );
        }
        if plain.is_some() {
            if let Item::Record { payload, .. } = &item {
                stored += payload.len();
            }
            items.push(item);
        }
    }
    assert!(reader.next_record().is_none(), "None is not final");
    assert!(reader.next_record().is_none(), "None is not final");

    // Memory: the reader's buffers, not the lines' lengths.
    let peak = PEAK.load(Ordering::Relaxed).saturating_sub(baseline);
    let ours = stored + items.capacity() * std::mem::size_of::<Item>();
    let bound = FIXED_MEMORY + MEMORY_PER_LINE_BYTE * max_line + 2 * ours;
    assert!(
        peak <= bound,
        "heap grew by {peak} bytes while reading (bound {bound}, max_line {max_line})"
    );

    // Counters.
    assert_eq!(reader.records(), counted.records, "records counter");
    for reason in LineReject::ALL {
        assert_eq!(
            reader.rejected(reason),
            counted.rejected[reason.index()],
            "{reason:?} counter"
        );
    }
    assert!(reader.lines() >= last_line_no);
    assert!(reader.bytes_read() <= file_len as u64, "read past the end");
    match &fatal {
        Some((_, error)) => check_fatal(error, compression, fault),
        // A clean end means the whole file was consumed.
        None => assert_eq!(
            reader.bytes_read(),
            file_len as u64,
            "bytes_read at the end"
        ),
    }
    let expected_compression = match compression {
        1 => Some(Compression::Gzip),
        2 => Some(Compression::Zstd),
        0 => Some(Compression::Plain),
        _ => None,
    };
    if let Some(expected) = expected_compression {
        assert_eq!(reader.compression(), expected, "detected compression");
    }

    if let Some(plain) = plain {
        let model = Model {
            plain: &plain,
            max_line,
            layout: reader.layout(),
            fault,
            file_len,
        };
        model.check(&items, fatal.as_ref(), &reader);
    }
}

/// Counts of what the reader returned.
#[derive(Default)]
struct Counts {
    items: u64,
    records: u64,
    rejected: [u64; LineReject::COUNT],
}

/// What the reader returned, owned.
#[derive(Debug)]
enum Item {
    Record {
        line_no: u64,
        rx: Option<u64>,
        source: Option<String>,
        payload: Vec<u8>,
    },
    Rejected {
        line_no: u64,
        reason: LineReject,
    },
}

impl Item {
    fn line_no(&self) -> u64 {
        match self {
            Item::Record { line_no, .. } | Item::Rejected { line_no, .. } => *line_no,
        }
    }
}

/// `from_reader` refused the file: only for a reason the input explains.
fn check_open_error(error: &ContainerError, compression: u8, fault: Fault) {
    match error {
        // Read only where a read error was injected within the magic bytes.
        ContainerError::Read { .. } => {
            assert!(matches!(fault, Fault::ErrorAt(at) if at < 6), "{error}")
        }
        // Compressed here with gzip or zstd: never an unsupported format.
        ContainerError::UnsupportedCompression { .. } => {
            assert!(compression == 0 || compression == 3, "{error}")
        }
        ContainerError::Decompress { .. } => {}
        other => panic!("from_reader failed with {other}"),
    }
}

/// The fatal error that ended the stream: a read error only where one was injected.
fn check_fatal(error: &ContainerError, compression: u8, fault: Fault) {
    match error {
        ContainerError::Read { .. } => {
            assert!(matches!(fault, Fault::ErrorAt(_)), "unexpected {error}");
        }
        ContainerError::Decompress { .. } => {
            assert!(
                compression != 0,
                "a plain file failed to decompress: {error}"
            );
            if compression != 3 {
                assert!(fault != Fault::None, "a valid stream failed: {error}");
            }
        }
        ContainerError::UnknownLayout { .. } => {}
        other => panic!("unexpected fatal error {other}"),
    }
}

// === The model ===

/// The plain text's lines, and what the reader must have made of them.
struct Model<'a> {
    plain: &'a [u8],
    max_line: usize,
    /// The layout the reader ended with (forced or detected).
    layout: Option<Layout>,
    fault: Fault,
    file_len: usize,
}

impl Model<'_> {
    fn check(&self, items: &[Item], fatal: Option<&(u64, ContainerError)>, reader: &RecordReader) {
        let lines = split_lines(self.plain);
        // With a fault, the reader sees a prefix of the plain text: only lines ending in `\n`
        // may come out, and the stream must end in a fatal error.
        if self.fault != Fault::None {
            for item in items {
                let (_, terminated) = lines[item.line_no() as usize - 1];
                assert!(
                    terminated,
                    "line {} delivered though a fault cut its stream",
                    item.line_no()
                );
            }
            let plain_fault_past_end =
                matches!(self.fault, Fault::ErrorAt(at) if at >= self.file_len);
            assert!(
                fatal.is_some() || plain_fault_past_end,
                "the stream ended cleanly despite {:?} (file of {} bytes)",
                self.fault,
                self.file_len
            );
        }
        // The lines the reader got to: all of them, or up to its fatal error.
        let read_to = fatal.map_or(lines.len(), |(line_no, _)| *line_no as usize);
        // The line that exhausted layout detection ends the stream instead of giving an item.
        // (After an I/O or decompression error, the fatal error's line is the last one read
        // in full, which gave its item as usual.)
        let gave_up_at = fatal.and_then(|(line_no, error)| {
            matches!(error, ContainerError::UnknownLayout { .. }).then_some(*line_no)
        });
        let mut items = items.iter().peekable();
        let mut blank = 0;
        let mut cryptofeed_skips = 0;
        for (index, &(line, _)) in lines.iter().enumerate().take(read_to) {
            let line_no = index as u64 + 1;
            let item = items.next_if(|item| item.line_no() == line_no);
            let content = if line_no == 1 {
                line.strip_prefix(b"\xEF\xBB\xBF").unwrap_or(line)
            } else {
                line
            };
            if line.len() > self.max_line {
                let is_last_before_fatal = gave_up_at == Some(line_no) && item.is_none();
                assert!(
                    matches!(
                        item,
                        Some(Item::Rejected {
                            reason: LineReject::TooLong,
                            ..
                        })
                    ) || is_last_before_fatal,
                    "line {line_no} ({} bytes, max_line {}) gave {item:?}",
                    line.len(),
                    self.max_line
                );
                continue;
            }
            if content.iter().all(|&b| b == b' ' || b == b'\t') {
                assert!(item.is_none(), "blank line {line_no} gave {item:?}");
                blank += 1;
                continue;
            }
            match item {
                Some(Item::Record {
                    rx,
                    source,
                    payload,
                    ..
                }) => self.check_record(line_no, content, *rx, source.as_deref(), payload),
                Some(Item::Rejected { reason, .. }) => {
                    assert_ne!(
                        *reason,
                        LineReject::TooLong,
                        "line {line_no} is not too long"
                    )
                }
                None => {
                    let is_fatal_line = gave_up_at == Some(line_no);
                    let skipped = self.layout == Some(Layout::CryptofeedText)
                        && (content.starts_with(b"wss://") || content.starts_with(b"ws://"));
                    assert!(
                        skipped || is_fatal_line,
                        "line {line_no} {:?} gave nothing",
                        String::from_utf8_lossy(content)
                    );
                    if skipped && !is_fatal_line {
                        cryptofeed_skips += 1;
                    }
                }
            }
        }
        if let Some(extra) = items.next() {
            panic!("item for a line the model does not have: {extra:?}");
        }
        assert_eq!(reader.skipped(Skip::Blank), blank, "blank lines counted");
        assert_eq!(
            reader.skipped(Skip::Header) + reader.skipped(Skip::SentFrame),
            cryptofeed_skips,
            "cryptofeed lines skipped"
        );
        if fatal.is_none() {
            assert_eq!(reader.lines(), lines.len() as u64, "lines read to the end");
        }
    }

    fn check_record(
        &self,
        line_no: u64,
        line: &[u8],
        rx: Option<u64>,
        source: Option<&str>,
        payload: &[u8],
    ) {
        let layout = self.layout.expect("a record implies a layout");
        let show = || String::from_utf8_lossy(line).into_owned();
        if layout == Layout::TickcastRecord {
            check_tickcast_record(line, rx, source, payload);
            return;
        }
        assert!(source.is_none(), "only tickcast records have a source");
        assert!(
            line.ends_with(payload),
            "line {line_no}: payload is not the line's tail: {}",
            show()
        );
        let prefix = &line[..line.len() - payload.len()];
        match layout {
            Layout::JsonLines => {
                assert_eq!(rx, None);
                assert!(prefix.is_empty(), "a JSON line is delivered whole");
                assert!(matches!(
                    payload.iter().find(|&&b| b != b' ' && b != b'\t'),
                    Some(b'{' | b'[')
                ));
            }
            Layout::NanosPrefixed => {
                let digits = prefix.trim_ascii_end();
                assert!(prefix.len() > digits.len(), "no blank after the time");
                let text = std::str::from_utf8(digits).expect("digits");
                assert_eq!(text.parse::<u64>().ok(), rx, "line {line_no}: {}", show());
                assert!(digits.iter().all(u8::is_ascii_digit));
            }
            Layout::CryptofeedText => {
                let stamp = prefix.trim_ascii_end();
                let seconds = stamp.strip_suffix(b":").expect("`<seconds>:` prefix");
                assert_eq!(seconds_to_nanos(seconds), rx, "line {line_no}: {}", show());
            }
            Layout::TickcastRecord => unreachable!(),
        }
        if layout != Layout::JsonLines {
            assert!(!payload.is_empty(), "an empty payload");
            assert!(!matches!(payload[0], b' ' | b'\t'), "payload starts blank");
        }
    }
}

/// A tickcast record line, read by serde_json: the reader must agree on every field.
fn check_tickcast_record(line: &[u8], rx: Option<u64>, source: Option<&str>, payload: &[u8]) {
    let show = || String::from_utf8_lossy(line).into_owned();
    let value: serde_json::Value = serde_json::from_slice(line)
        .unwrap_or_else(|e| panic!("a record serde_json rejects ({e}): {}", show()));
    let object = value.as_object().expect("a record is an object");
    assert_eq!(
        object.get("rx").and_then(|v| v.as_u64()),
        rx,
        "rx: {}",
        show()
    );
    assert_eq!(
        object.get("src").and_then(|v| v.as_str()),
        source,
        "src: {}",
        show()
    );
    let expected = match (object.get("line"), object.get("line_b64")) {
        (Some(line), None) => line.as_str().expect("line is a string").as_bytes().to_vec(),
        (None, Some(b64)) => base64(b64.as_str().expect("line_b64 is a string"))
            .unwrap_or_else(|| panic!("invalid base64 accepted: {}", show())),
        _ => panic!("a record needs exactly one of line, line_b64: {}", show()),
    };
    assert_eq!(payload, &expected[..], "payload: {}", show());
}

/// The plain text's lines as the reader frames them: split at `\n`, one `\r` before it
/// dropped, no line after a final `\n`; with whether each ended in `\n`.
fn split_lines(plain: &[u8]) -> Vec<(&[u8], bool)> {
    let mut lines = Vec::new();
    let mut rest = plain;
    while !rest.is_empty() {
        let (line, terminated, next) = match rest.iter().position(|&b| b == b'\n') {
            Some(nl) => (&rest[..nl], true, &rest[nl + 1..]),
            None => (rest, false, &rest[rest.len()..]),
        };
        lines.push((line.strip_suffix(b"\r").unwrap_or(line), terminated));
        rest = next;
    }
    lines
}

/// Whether `bytes` open like a gzip or zstd stream (the reader then decompresses them).
fn has_compression_magic(bytes: &[u8]) -> bool {
    bytes.starts_with(b"\x1F\x8B")
        || bytes.starts_with(b"\x28\xB5\x2F\xFD")
        || (bytes.len() >= 4 && bytes[0] & 0xF0 == 0x50 && bytes[1..4] == *b"\x2A\x4D\x18")
}

fn memchr_count(plain: &[u8]) -> u64 {
    plain.iter().filter(|&&b| b == b'\n').count() as u64
}

/// `<digits>[.<digits>]` seconds to ns, truncating below a nanosecond; `None` if invalid or
/// beyond `u64`.
fn seconds_to_nanos(text: &[u8]) -> Option<u64> {
    let text = std::str::from_utf8(text).ok()?;
    let (whole, fraction) = text.split_once('.').unwrap_or((text, ""));
    if whole.is_empty() || !whole.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    if text.contains('.') && (fraction.is_empty() || !fraction.bytes().all(|b| b.is_ascii_digit()))
    {
        return None;
    }
    let mut nanos = String::from(fraction);
    nanos.truncate(9);
    while nanos.len() < 9 {
        nanos.push('0');
    }
    whole
        .parse::<u64>()
        .ok()?
        .checked_mul(1_000_000_000)?
        .checked_add(nanos.parse::<u64>().ok()?)
}

/// Standard padded base64, strictly (RFC 4648 section 4); `None` if invalid.
fn base64(text: &str) -> Option<Vec<u8>> {
    const ALPHABET: &[u8; 64] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
    let bytes = text.as_bytes();
    if !bytes.len().is_multiple_of(4) {
        return None;
    }
    let mut out = Vec::new();
    for (i, quad) in bytes.chunks(4).enumerate() {
        let last = i + 1 == bytes.len() / 4;
        let pad = quad.iter().rev().take_while(|&&b| b == b'=').count();
        if pad > 2 || (pad > 0 && !last) {
            return None;
        }
        let mut n = 0u32;
        for &c in &quad[..4 - pad] {
            n = n << 6 | ALPHABET.iter().position(|&a| a == c)? as u32;
        }
        n <<= 6 * pad as u32;
        out.extend_from_slice(&n.to_be_bytes()[1..4 - pad]);
    }
    Some(out)
}

fn gzip(bytes: &[u8]) -> Vec<u8> {
    let mut encoder = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::fast());
    encoder.write_all(bytes).expect("gzip to memory");
    encoder.finish().expect("gzip to memory")
}

fn zstd(bytes: &[u8]) -> Vec<u8> {
    zstd::encode_all(bytes, 1).expect("zstd to memory")
}
