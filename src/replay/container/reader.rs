//! [`RecordReader`]: one recorded file read as [`Record`]s, streaming, in file order. It frames
//! the decompressed bytes into lines, dropping an over-long one as it streams past, detects the
//! layout from the first line that matches one, hands each line to its layout's parser, and
//! counts records, skipped lines by kind and rejected lines by reason.
//!
//! Place in the flow: on the thread that drives one file's replay, between the decompressed
//! stream ([`decompress`]) and the layout parsers; its records go to a venue decoder, its
//! counters to the replay summary.
//!
//! Invariants: the line buffer holds at most `max_line + 1` bytes; once the stream has ended or
//! failed, only `None` comes out.
//!
//! Must never buffer a line longer than `max_line`, deliver a partial line, give up on a file
//! for a bad line (only a fatal error or [`DETECT_LINES`] unrecognized lines end it), or
//! allocate per line in the steady state.

use std::fmt;
use std::fs::File;
use std::io::{self, BufRead, Read};
use std::path::Path;
use std::sync::Arc;
use std::sync::atomic::Ordering;

use memchr::memchr;

use super::compression::{Decompressed, Progress, decompress};
use super::cryptofeed_text::cryptofeed_line;
use super::json_lines::json_line;
use super::nanos_prefixed::nanos_line;
use super::tickcast_record::RecordParser;
use super::{
    Compression, ContainerError, Layout, LineReject, Outcome, ReadOptions, Record, RecordError,
    Skip, is_blank,
};

/// Non-blank lines tried before giving up on detecting the layout: enough to step over a few
/// garbage or over-long lines at the head of a file, few enough that a file of another kind
/// (CSV, binary) fails fast instead of producing a rejected line per line for gigabytes.
const DETECT_LINES: u64 = 100;

/// The UTF-8 byte order mark, dropped when it opens a file.
const BOM: &[u8] = b"\xEF\xBB\xBF";

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
    /// Shared with the wrapper at the bottom of `input` that counts the file's bytes.
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
        let Decompressed {
            input,
            compression,
            progress,
        } = decompress(reader)?;
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

#[cfg(test)]
mod tests {
    use super::*;
    use crate::replay::container::DEFAULT_MAX_LINE;
    use crate::replay::container::fixtures::{Item, read, read_bytes, record};

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
    fn the_reader_is_send() {
        fn send<T: Send>() {}
        send::<RecordReader>();
    }
}
