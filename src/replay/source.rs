//! Recorded files as one merged, time-ordered stream of ticks, and the replay summary.
//!
//! Place in the flow: [`Merger`] owns one [`FileSource`] per file (container reader + venue
//! decoder); each source keeps its next record decoded, and the merger hands out the record
//! with the smallest (time, file index), so the order depends only on the files. The time of a
//! record is its receive time when the container has one, else its first tick's exchange time.
//! Inside one file, time is clamped so it never goes backwards; a record more than
//! `max_backstep` behind its predecessor is rejected (`timestamp_out_of_order`).
//! Every rejected or skipped line is counted in the [`Summary`] with where it was.
//! Must never reorder one file's records, read the clock, or sleep.

use std::collections::BTreeMap;
use std::fmt::Write as _;
use std::path::{Path, PathBuf};

use super::ReplaySpec;
use super::container::{ContainerError, ReadOptions, RecordError, RecordReader, Skip};
use crate::feed::venue::{Decoded, Decoder};
use crate::tick::Reject;
use crate::tick::skip;
use crate::tick::{Tick, TickKind};

/// Where a rejected line was, for the summary.
const LOCATIONS_KEPT: usize = 5;

/// Why a replay could not run (a bad line is not one of these: it is counted and skipped).
#[derive(Debug, thiserror::Error)]
pub enum ReplayError {
    /// A file cannot be opened or is not a recorded feed.
    #[error("{path}: {source}")]
    Open {
        /// The file.
        path: String,
        /// Why.
        source: ContainerError,
    },
    /// Writing the output failed.
    #[error("{path}: {source}")]
    Write {
        /// The output.
        path: String,
        /// The OS error.
        source: std::io::Error,
    },
    /// One or more files ended early on a read or decompression error (their records before
    /// it were used); see the summary.
    #[error("{0} file(s) could not be read to the end")]
    Incomplete(usize),
}

/// Counts of one replay pass.
#[derive(Debug, Default, Clone)]
pub struct Summary {
    /// Records (received messages) read.
    pub records: u64,
    /// Ticks produced, by kind (`trade`, `quote`).
    pub ticks: BTreeMap<&'static str, u64>,
    /// Valid messages that are not ticks, by kind.
    pub skipped: BTreeMap<&'static str, u64>,
    /// Rejected lines by reason, with the first few locations (`file:line`).
    pub rejects: BTreeMap<&'static str, (u64, Vec<String>)>,
    /// Records outside `--from`/`--to`.
    pub filtered: u64,
    /// Files that ended early, with the error.
    pub failed: Vec<String>,
    /// Time of the first and last record used.
    pub span: Option<(u64, u64)>,
}

impl Summary {
    fn reject(&mut self, reason: &'static str, file: &str, line: u64) {
        let entry = self.rejects.entry(reason).or_default();
        entry.0 += 1;
        if entry.1.len() < LOCATIONS_KEPT {
            entry.1.push(format!("{file}:{line}"));
        }
    }

    /// Total rejected lines.
    pub fn rejected(&self) -> u64 {
        self.rejects.values().map(|(n, _)| n).sum()
    }

    /// Total ticks.
    pub fn tick_count(&self) -> u64 {
        self.ticks.values().sum()
    }

    /// A human-readable report.
    pub fn render(&self) -> String {
        let mut out = String::new();
        let _ = writeln!(
            out,
            "records {}  ticks {}  skipped {}  rejected {}  outside --from/--to {}",
            self.records,
            self.tick_count(),
            self.skipped.values().sum::<u64>(),
            self.rejected(),
            self.filtered
        );
        for (kind, n) in &self.ticks {
            let _ = writeln!(out, "  ticks    {kind:<24} {n}");
        }
        for (kind, n) in &self.skipped {
            let _ = writeln!(out, "  skipped  {kind:<24} {n}");
        }
        for (reason, (n, at)) in &self.rejects {
            let _ = writeln!(
                out,
                "  rejected {reason:<24} {n}  first at {}",
                at.join(", ")
            );
        }
        for failure in &self.failed {
            let _ = writeln!(out, "  FAILED   {failure}");
        }
        out
    }
}

/// One file: its reader, its decoder, and its next decoded record.
pub struct FileSource {
    name: String,
    reader: RecordReader,
    decoder: Decoder,
    /// Ticks of the next record, not yet handed out.
    pending: Vec<Tick>,
    pending_time: u64,
    pending_line: u64,
    last_time: Option<u64>,
    done: bool,
}

impl FileSource {
    /// Opens `path` for `spec`.
    pub fn open(path: &Path, spec: &ReplaySpec) -> Result<Self, ReplayError> {
        let name = path.display().to_string();
        let options = ReadOptions {
            layout: None,
            max_line: spec.max_line,
        };
        let reader =
            RecordReader::open_with(path, options).map_err(|source| ReplayError::Open {
                path: name.clone(),
                source,
            })?;
        Ok(Self {
            name,
            reader,
            decoder: Decoder::new(spec.format),
            pending: Vec::new(),
            pending_time: 0,
            pending_line: 0,
            last_time: None,
            done: false,
        })
    }

    /// Decodes records until one yields ticks inside the time range; false at the end.
    fn advance(
        &mut self,
        spec: &ReplaySpec,
        summary: &mut Summary,
        rejects: &mut Vec<Reject>,
        skips: &mut Vec<skip::Kind>,
    ) -> bool {
        self.pending.clear();
        while !self.done {
            let record = match self.reader.next_record() {
                None => {
                    self.done = true;
                    break;
                }
                Some(Err(RecordError::Rejected { line_no, reason })) => {
                    summary.reject(reason.as_str(), &self.name, line_no);
                    rejects.push(container_reject(reason));
                    continue;
                }
                Some(Err(fatal)) => {
                    tracing::error!(file = %self.name, error = %fatal, "recorded file ends early");
                    summary.failed.push(format!("{}: {fatal}", self.name));
                    self.done = true;
                    break;
                }
                Some(Ok(record)) => record,
            };
            summary.records += 1;
            let line_no = record.line_no;
            let rx = record.rx;
            match self
                .decoder
                .decode(record.payload, rx.unwrap_or(0), &mut self.pending)
            {
                Err(reason) => {
                    summary.reject(reason.as_str(), &self.name, line_no);
                    rejects.push(reason);
                    continue;
                }
                Ok(Decoded::Skipped(kind)) => {
                    *summary.skipped.entry(kind.as_str()).or_default() += 1;
                    skips.push(kind);
                    continue;
                }
                Ok(Decoded::Ticks(0)) => continue,
                Ok(Decoded::Ticks(_)) => {}
            }
            // A venue message without a time of its own (Binance bookTicker) takes the receive
            // time; a container without receive times leaves it with none at all.
            if rx.is_none() && self.pending.iter().any(|t| t.ts == 0) {
                summary.reject(Reject::MissingTimestamp.as_str(), &self.name, line_no);
                rejects.push(Reject::MissingTimestamp);
                self.pending.clear();
                continue;
            }
            let time = rx.unwrap_or_else(|| self.pending.first().map_or(0, |t| t.ts));
            if let Some(last) = self.last_time
                && time.saturating_add(spec.max_backstep) < last
            {
                summary.reject(Reject::OutOfOrder.as_str(), &self.name, line_no);
                rejects.push(Reject::OutOfOrder);
                self.pending.clear();
                continue;
            }
            let time = self.last_time.map_or(time, |last| time.max(last));
            self.last_time = Some(time);
            if spec.from.is_some_and(|from| time < from) {
                summary.filtered += 1;
                self.pending.clear();
                continue;
            }
            if spec.to.is_some_and(|to| time > to) {
                summary.filtered += 1;
                self.pending.clear();
                self.done = true;
                break;
            }
            self.pending_time = time;
            self.pending_line = line_no;
            return true;
        }
        false
    }

    /// Compressed bytes consumed so far, for progress.
    pub fn bytes_read(&self) -> u64 {
        self.reader.bytes_read()
    }

    /// Size of the file, when known.
    pub fn total_bytes(&self) -> Option<u64> {
        self.reader.total_bytes()
    }

    /// Lines skipped by the container (headers, sent frames, blanks).
    pub fn container_skips(&self) -> u64 {
        Skip::ALL.iter().map(|s| self.reader.skipped(*s)).sum()
    }
}

fn container_reject(reason: super::container::LineReject) -> Reject {
    use super::container::LineReject;
    match reason {
        LineReject::TooLong => Reject::LineTooLong,
        LineReject::BadTimestamp => Reject::BadTimestamp,
        _ => Reject::MalformedMessage,
    }
}

/// Several files merged by (time, file index).
pub struct Merger {
    spec: ReplaySpec,
    sources: Vec<FileSource>,
    /// Whether `sources[i]` holds a pending record.
    ready: Vec<bool>,
    /// Counts of this pass.
    pub summary: Summary,
    /// Rejects since the last [`Merger::take_rejects`] (for the live metrics).
    rejects: Vec<Reject>,
    /// Skipped kinds since the last [`Merger::take_skips`].
    skips: Vec<skip::Kind>,
}

impl Merger {
    /// Opens every file of `spec`; fails on the first that cannot be opened.
    pub fn open(spec: &ReplaySpec) -> Result<Self, ReplayError> {
        let sources = spec
            .files
            .iter()
            .map(|path: &PathBuf| FileSource::open(path, spec))
            .collect::<Result<Vec<_>, _>>()?;
        let mut merger = Self {
            spec: spec.clone(),
            ready: vec![false; sources.len()],
            sources,
            summary: Summary::default(),
            rejects: Vec::new(),
            skips: Vec::new(),
        };
        for i in 0..merger.sources.len() {
            merger.ready[i] = merger.sources[i].advance(
                &merger.spec,
                &mut merger.summary,
                &mut merger.rejects,
                &mut merger.skips,
            );
        }
        Ok(merger)
    }

    /// Appends the ticks of the next record in merged order to `out`; returns its time, or
    /// `None` when every file is exhausted.
    pub fn next_into(&mut self, out: &mut Vec<Tick>) -> Option<u64> {
        let mut best: Option<usize> = None;
        for (i, source) in self.sources.iter().enumerate() {
            if !self.ready[i] {
                continue;
            }
            if best.is_none_or(|b| source.pending_time < self.sources[b].pending_time) {
                best = Some(i);
            }
        }
        let i = best?;
        let source = &mut self.sources[i];
        let time = source.pending_time;
        for tick in &source.pending {
            let kind = match tick.kind {
                TickKind::Trade => "trade",
                TickKind::Quote => "quote",
            };
            *self.summary.ticks.entry(kind).or_default() += 1;
        }
        out.append(&mut source.pending);
        self.summary.span = Some(match self.summary.span {
            None => (time, time),
            Some((first, _)) => (first, time),
        });
        self.ready[i] = source.advance(
            &self.spec,
            &mut self.summary,
            &mut self.rejects,
            &mut self.skips,
        );
        Some(time)
    }

    /// Rejects counted since the last call.
    pub fn take_rejects(&mut self) -> std::vec::Drain<'_, Reject> {
        self.rejects.drain(..)
    }

    /// Skipped message kinds counted since the last call.
    pub fn take_skips(&mut self) -> std::vec::Drain<'_, skip::Kind> {
        self.skips.drain(..)
    }

    /// Compressed bytes consumed over all files.
    pub fn bytes_read(&self) -> u64 {
        self.sources.iter().map(FileSource::bytes_read).sum()
    }

    /// Total size of all files, when known.
    pub fn total_bytes(&self) -> Option<u64> {
        self.sources.iter().map(FileSource::total_bytes).sum()
    }

    /// Lines the containers skipped (headers, sent frames, blank lines).
    pub fn container_skips(&self) -> u64 {
        self.sources.iter().map(FileSource::container_skips).sum()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::feed::venue::Format;
    use crate::replay::pace::Speed;

    fn spec(files: Vec<PathBuf>) -> ReplaySpec {
        ReplaySpec {
            files,
            format: Format::Auto,
            speed: Speed::Max,
            looping: false,
            from: None,
            to: None,
            max_backstep: 1_000,
            max_line: 1 << 20,
            wait_subscribers: 0,
        }
    }

    fn write(name: &str, lines: &[String]) -> PathBuf {
        let path =
            std::env::temp_dir().join(format!("tickcast-source-{}-{name}", std::process::id()));
        std::fs::write(&path, lines.join("\n")).unwrap();
        path
    }

    fn native(rx: u64, sym: &str) -> String {
        format!("{rx} {{\"sym\":\"{sym}\",\"px\":1,\"ts\":{rx}}}")
    }

    fn drain(merger: &mut Merger) -> Vec<(u64, String)> {
        let mut out = Vec::new();
        let mut ticks = Vec::new();
        while let Some(time) = merger.next_into(&mut ticks) {
            for tick in ticks.drain(..) {
                out.push((time, tick.symbol.as_str().to_owned()));
            }
        }
        out
    }

    #[test]
    fn files_merge_by_time_then_file_order() {
        let a = write("a", &[native(10, "A1"), native(30, "A2"), native(30, "A3")]);
        let b = write("b", &[native(5, "B1"), native(30, "B2"), native(40, "B3")]);
        let mut merger = Merger::open(&spec(vec![a.clone(), b.clone()])).unwrap();
        let got = drain(&mut merger);
        let names: Vec<&str> = got.iter().map(|(_, s)| s.as_str()).collect();
        assert_eq!(names, ["B1", "A1", "A2", "A3", "B2", "B3"]);
        assert_eq!(merger.summary.tick_count(), 6);
        std::fs::remove_file(a).unwrap();
        std::fs::remove_file(b).unwrap();
    }

    #[test]
    fn far_out_of_order_is_rejected_near_is_clamped_and_ranges_apply() {
        let a = write(
            "order",
            &[
                native(5_000, "A"),
                native(4_500, "B"),
                native(1_000, "C"),
                native(6_000, "D"),
                native(9_000, "E"),
            ],
        );
        let mut range = spec(vec![a.clone()]);
        range.from = Some(4_800);
        range.to = Some(7_000);
        let mut merger = Merger::open(&range).unwrap();
        let got = drain(&mut merger);
        // B is 500 ns behind A (tolerated, clamped to A's time); C is 4 µs behind: rejected;
        // E is after --to.
        assert_eq!(
            got,
            [
                (5_000, "A".into()),
                (5_000, "B".into()),
                (6_000, "D".into())
            ]
        );
        assert_eq!(merger.summary.rejects["timestamp_out_of_order"].0, 1);
        assert_eq!(
            merger.summary.rejects["timestamp_out_of_order"].1[0],
            format!("{}:3", a.display())
        );
        assert_eq!(merger.summary.filtered, 1);
        std::fs::remove_file(a).unwrap();
    }

    #[test]
    fn a_quote_without_any_time_is_rejected() {
        let a = write(
            "notime",
            &[r#"{"u":1,"s":"BTCUSDT","b":"1.0","B":"1","a":"1.1","A":"1"}"#.to_owned()],
        );
        let mut merger = Merger::open(&spec(vec![a.clone()])).unwrap();
        assert!(drain(&mut merger).is_empty());
        assert_eq!(merger.summary.rejects["missing_timestamp"].0, 1);
        std::fs::remove_file(a).unwrap();
    }
}
