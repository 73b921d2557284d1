//! Replay: the replay module owns reading recorded feed files, from a file's bytes to ticks in
//! the order and at the pace they were received.
//!
//! How the pieces fit, in the order a recorded line travels:
//!
//! 1. [`container`] (here): the *container* layer. [`RecordReader`] detects the compression
//!    (plain, gzip, zstd, by magic bytes) and the line layout (plain JSON lines,
//!    `<ns> <json>`, the cryptofeed text capture, or tickcast's own record format), and yields
//!    each [`Record`]: its line number, its receive time when the container has one, and the
//!    raw payload bytes, untouched. It knows nothing of any venue's JSON.
//! 2. The venue decoders (to come; the same ones a live TCP feed uses, chosen by `format=` or
//!    detected per line) turn a record's payload into [`crate::tick::Tick`]s, and count the valid
//!    messages that are not ticks (book diffs, acks, heartbeats) by kind.
//! 3. The replay sequencer (to come) merges several files in receive-time order (ties broken by
//!    file, then line, so the same files always give the same order), paces them by the recorded
//!    receive times at `--speed`, honours `--from`/`--to`/`--loop`, and hands the ticks to
//!    [`crate::feed::sequencer`] as a live source would, or to the `jsonl`/`csv` writers. Files
//!    without receive times (plain JSON lines) are paced by the ticks' exchange timestamps.
//!
//! Counts of skipped lines (by kind) and rejected lines (by reason, with line numbers) flow up
//! from every stage into the replay summary.
//!
//! This module must never load a whole file in memory, never panic or stop on a bad line (a bad
//! line is counted and skipped; only an unreadable or corrupt file ends a stream, with an error),
//! never reorder the lines of one file, never read the wall clock (pacing takes `now` from its
//! caller), and never write files: `tickcast record` writes, using the format defined in
//! [`container::write_record_line`] so that replay reads it back byte for byte.

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
