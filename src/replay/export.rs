//! `tickcast replay FILE... --to jsonl|csv`: normalized ticks for pandas/polars, no server.
//!
//! The merged ticks are numbered like the live sequencer numbers them (`seq` from
//! `--seq-base`, default 1; `n` per symbol), so an export and a replayed stream of the same
//! files carry the same `sym`, `seq`, `px`, `qty`. `rx` is the recorded receive time. A JSON
//! line is exactly the `data:` object of the SSE event; CSV has one column per field, empty
//! when absent. A progress bar (on a terminal) and a summary go to standard error.
//! Must never write a partial record for a rejected line.

use std::collections::HashMap;
use std::io::{BufWriter, IsTerminal, Write};
use std::path::PathBuf;

use indicatif::{ProgressBar, ProgressDrawTarget, ProgressStyle};

use super::ReplaySpec;
use super::source::{Merger, ReplayError};
use crate::tick::{Decimal, Symbol, Tick};

/// `tickcast replay ... --to jsonl|csv`.
#[derive(Debug, Clone)]
pub struct ExportConfig {
    /// What to read.
    pub spec: ReplaySpec,
    /// Output format.
    pub format: ExportFormat,
    /// Output file (standard output when `None`).
    pub out: Option<PathBuf>,
    /// First sequence number.
    pub seq_base: u64,
}

/// Output format of an export.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ExportFormat {
    /// One JSON object per line (the SSE event data).
    Jsonl,
    /// Comma-separated values with a header row.
    Csv,
}

/// The CSV header row.
pub const CSV_HEADER: &str = "sym,seq,n,kind,px,qty,bid,bid_qty,ask,ask_qty,ts,rx\n";

/// Numbers ticks like the sequencer and writes them in one format.
pub struct Exporter<W: Write> {
    out: W,
    format: ExportFormat,
    next_seq: u64,
    counts: HashMap<Symbol, u64>,
    line: Vec<u8>,
}

impl<W: Write> Exporter<W> {
    /// An exporter writing to `out`, numbering from `seq_base`.
    pub fn new(mut out: W, format: ExportFormat, seq_base: u64) -> std::io::Result<Self> {
        if format == ExportFormat::Csv {
            out.write_all(CSV_HEADER.as_bytes())?;
        }
        Ok(Self {
            out,
            format,
            next_seq: seq_base,
            counts: HashMap::new(),
            line: Vec::with_capacity(256),
        })
    }

    /// Writes one tick.
    pub fn write(&mut self, tick: &Tick) -> std::io::Result<()> {
        let n = self.counts.entry(tick.symbol).or_default();
        *n += 1;
        let seq = self.next_seq;
        self.next_seq += 1;
        self.line.clear();
        match self.format {
            ExportFormat::Jsonl => crate::frame::write_json(&mut self.line, seq, *n, tick),
            ExportFormat::Csv => write_csv(&mut self.line, seq, *n, tick),
        }
        self.line.push(b'\n');
        self.out.write_all(&self.line)
    }

    /// Flushes and returns the writer.
    pub fn finish(mut self) -> std::io::Result<W> {
        self.out.flush()?;
        Ok(self.out)
    }
}

fn write_csv(out: &mut Vec<u8>, seq: u64, n: u64, tick: &Tick) {
    let mut num = itoa::Buffer::new();
    // Symbols never contain commas or quotes (see `Symbol::new`): no quoting needed.
    out.extend_from_slice(tick.symbol.as_str().as_bytes());
    out.push(b',');
    out.extend_from_slice(num.format(seq).as_bytes());
    out.push(b',');
    out.extend_from_slice(num.format(n).as_bytes());
    out.push(b',');
    out.extend_from_slice(tick.kind.as_str().as_bytes());
    for value in [
        tick.px,
        tick.qty,
        tick.bid,
        tick.bid_qty,
        tick.ask,
        tick.ask_qty,
    ] {
        out.push(b',');
        if let Some(value) = value {
            Decimal::write_to(value, out);
        }
    }
    out.push(b',');
    out.extend_from_slice(num.format(tick.ts).as_bytes());
    out.push(b',');
    out.extend_from_slice(num.format(tick.rx).as_bytes());
}

/// Runs an export; the summary goes to standard error.
pub fn run(config: &ExportConfig) -> Result<(), ReplayError> {
    let mut merger = Merger::open(&config.spec)?;
    let out_name = config
        .out
        .as_ref()
        .map_or_else(|| "standard output".to_owned(), |p| p.display().to_string());
    let write_error = |source| ReplayError::Write {
        path: out_name.clone(),
        source,
    };
    let sink: Box<dyn Write> = match &config.out {
        Some(path) => Box::new(std::fs::File::create(path).map_err(write_error)?),
        None => Box::new(std::io::stdout().lock()),
    };
    let mut exporter = Exporter::new(
        BufWriter::with_capacity(1 << 16, sink),
        config.format,
        config.seq_base,
    )
    .map_err(write_error)?;
    let progress = progress_bar(merger.total_bytes());
    let mut ticks = Vec::new();
    let mut records = 0u64;
    while merger.next_into(&mut ticks).is_some() {
        for tick in ticks.drain(..) {
            exporter.write(&tick).map_err(write_error)?;
        }
        records += 1;
        if records.is_multiple_of(4096) {
            progress.set_position(merger.bytes_read());
        }
    }
    exporter.finish().map_err(write_error)?;
    progress.finish_and_clear();
    let summary = &merger.summary;
    eprint!("{}", summary.render());
    if merger.container_skips() > 0 {
        eprintln!(
            "  container lines skipped (headers, sent frames, blank): {}",
            merger.container_skips()
        );
    }
    if summary.failed.is_empty() {
        Ok(())
    } else {
        Err(ReplayError::Incomplete(summary.failed.len()))
    }
}

fn progress_bar(total: Option<u64>) -> ProgressBar {
    if !std::io::stderr().is_terminal() {
        return ProgressBar::hidden();
    }
    let bar = ProgressBar::with_draw_target(total, ProgressDrawTarget::stderr());
    if let Ok(style) =
        ProgressStyle::with_template("{bar:40} {bytes}/{total_bytes} {bytes_per_sec} eta {eta}")
    {
        bar.set_style(style);
    }
    bar
}

#[cfg(test)]
mod tests {
    use super::*;

    fn tick(sym: &str, px: &str) -> Tick {
        let px = Decimal::parse(px.as_bytes()).unwrap();
        let qty = Decimal::parse(b"0.5").ok();
        Tick::trade(Symbol::new(sym).unwrap(), px, qty, 10, 11)
    }

    #[test]
    fn csv_and_jsonl_number_like_the_sequencer() {
        let mut csv = Exporter::new(Vec::new(), ExportFormat::Csv, 1).unwrap();
        csv.write(&tick("A", "61837.63000000")).unwrap();
        csv.write(&tick("B", "1")).unwrap();
        csv.write(&tick("A", "0.1")).unwrap();
        let text = String::from_utf8(csv.finish().unwrap()).unwrap();
        assert_eq!(
            text,
            format!(
                "{CSV_HEADER}A,1,1,trade,61837.63000000,0.5,,,,,10,11\nB,2,1,trade,1,0.5,,,,,10,11\nA,3,2,trade,0.1,0.5,,,,,10,11\n"
            )
        );
        let mut jsonl = Exporter::new(Vec::new(), ExportFormat::Jsonl, 7).unwrap();
        jsonl.write(&tick("A", "2.50")).unwrap();
        let text = String::from_utf8(jsonl.finish().unwrap()).unwrap();
        assert_eq!(
            text,
            "{\"sym\":\"A\",\"seq\":7,\"n\":1,\"kind\":\"trade\",\"px\":2.50,\"qty\":0.5,\"ts\":10,\"rx\":11}\n"
        );
    }
}
