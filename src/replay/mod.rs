//! Replay: recorded feed files, from a file's bytes to ticks in the order and at the pace they
//! were received; and `tickcast record`, which writes such files.
//!
//! How the pieces fit, in the order a recorded line travels:
//!
//! 1. [`container`]: the *container* layer. [`RecordReader`] detects the compression (plain,
//!    gzip, zstd, by magic bytes) and the line layout (plain JSON lines, `<ns> <json>`, the
//!    cryptofeed text capture, or tickcast's own record format), and yields each [`Record`]: its
//!    line number, its receive time when the container has one, and the raw payload bytes,
//!    untouched. It knows nothing of any venue's JSON.
//! 2. [`source`]: the venue decoders of [`crate::feed::venue`] (the same ones a live TCP feed
//!    uses, chosen by `--format` or detected per line) turn each payload into
//!    [`crate::tick::Tick`]s, and the [`source::Merger`] merges several files in receive-time
//!    order (ties broken by file, then line, so the same files always give the same order),
//!    honouring `--from`/`--to`/`--loop`. Files without receive times are ordered by the ticks'
//!    exchange timestamps.
//! 3. [`pace`] paces them by the recorded times at `--speed` (a plain state machine that takes
//!    `now` from its caller); [`live`] hands them to [`crate::feed::sequencer`] as a live source
//!    would, or [`export`] writes them as `jsonl`/`csv`.
//! 4. [`record`] is the other direction: it writes what a live source sends, in the format
//!    [`container::write_record_line`] defines, so that replay reads it back byte for byte.
//!
//! Counts of skipped lines (by kind) and rejected lines (by reason, with line numbers) flow up
//! from every stage into the replay summary. The settings of each part are its own types
//! ([`ReplaySpec`], [`export::ExportConfig`], [`record::RecordConfig`]); `config` only fills them.
//!
//! Imports: this stage sits above [`crate::feed`] (decoders, the sequencer's batches, the TCP
//! acceptor) and [`crate::frame`]; it never imports the shard, HTTP or config layers.
//! It must never load a whole file in memory, never panic or stop on a bad line (a bad line is
//! counted and skipped; only an unreadable or corrupt file ends a stream, with an error), never
//! reorder the lines of one file, and never read the wall clock in its pacing logic.

pub mod container;
pub mod export;
pub mod live;
pub mod pace;
pub mod record;
pub mod source;

pub use container::{
    Compression, ContainerError, Layout, LineReject, ReadOptions, Record, RecordError,
    RecordReader, Skip,
};

use std::path::PathBuf;

use crate::feed::venue::Format;
use pace::Speed;

/// Which recorded files to replay, and how.
#[derive(Debug, Clone, PartialEq)]
pub struct ReplaySpec {
    /// The files, merged in timestamp order.
    pub files: Vec<PathBuf>,
    /// Message format (or per-line detection).
    pub format: Format,
    /// Pace.
    pub speed: Speed,
    /// Start again after the end.
    pub looping: bool,
    /// Skip records before this time (ns since the epoch).
    pub from: Option<u64>,
    /// Stop after this time (ns since the epoch).
    pub to: Option<u64>,
    /// Largest tolerated backwards step of time inside one file, in ns.
    pub max_backstep: u64,
    /// Longest accepted line.
    pub max_line: usize,
    /// Streams to wait for before the first tick (0: none).
    pub wait_subscribers: usize,
}
