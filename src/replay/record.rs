//! `tickcast record`: writes what a live source sends, with receive times, for replay.
//!
//! Place in the flow: feed connections (or the synthetic market) hand raw lines to one writer
//! thread through a channel; the writer appends each as a line of the tickcast record format
//! ([`super::container::write_record_line`]: receive time, source, the raw bytes, even when they
//! are not valid JSON, so a replay meets the same rejects), compressing by the file's extension
//! (`.zst`, `.gz`) and starting a new numbered file on `--rotate`. The data is flushed once a
//! second and every file is finished properly on shutdown, so a replay reads it back exactly.
//! Must never alter a recorded line, and never lose one that was accepted before a clean stop.

use std::fs::File;
use std::io::{BufWriter, Write};
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::sync::mpsc as std_mpsc;
use std::time::{Duration, Instant};

use tokio::io::AsyncReadExt;
use tokio::net::TcpListener;
use tokio_util::sync::CancellationToken;
use tokio_util::task::TaskTracker;

use super::container::write_record_line;
use crate::feed::lines::LineFramer;
use crate::feed::synthetic::Market;
use crate::feed::synthetic::SyntheticConfig;
use crate::tick::Reject;

/// What `tickcast record` listens to.
#[derive(Debug, Clone)]
pub enum RecordSource {
    /// Feed clients on this address.
    TcpListen(SocketAddr),
    /// The synthetic market, as native JSON lines.
    Synthetic(SyntheticConfig),
}

/// When `tickcast record` starts a new file.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Rotate {
    /// After this many bytes of records (before compression).
    Size(u64),
    /// After this much time.
    Every(Duration),
}

/// `tickcast record`.
#[derive(Debug, Clone)]
pub struct RecordConfig {
    /// The live source.
    pub source: RecordSource,
    /// Output path (pattern, with rotation).
    pub out: PathBuf,
    /// Rotation, if any.
    pub rotate: Option<Rotate>,
    /// Longest accepted line.
    pub max_line: usize,
}

/// How often buffered records are pushed to the file (and the compressor's block closed).
const FLUSH_EVERY: Duration = Duration::from_secs(1);
/// Lines queued for the writer before sources wait.
const QUEUE_LINES: usize = 65_536;

/// Why recording failed.
#[derive(Debug, thiserror::Error)]
pub enum RecordError {
    /// The source address cannot be bound.
    #[error("cannot listen on {addr}: {source}")]
    Bind {
        /// The address.
        addr: SocketAddr,
        /// The OS error.
        source: std::io::Error,
    },
    /// An output file cannot be created or written.
    #[error("{path}: {source}")]
    Write {
        /// The file.
        path: String,
        /// The OS error.
        source: std::io::Error,
    },
}

/// One received line.
struct Line {
    rx: u64,
    source: Arc<str>,
    bytes: Vec<u8>,
}

enum Sink {
    Plain(BufWriter<File>),
    Gzip(flate2::write::GzEncoder<BufWriter<File>>),
    Zstd(zstd::Encoder<'static, BufWriter<File>>),
}

impl Sink {
    fn create(path: &Path) -> std::io::Result<Self> {
        let file = BufWriter::with_capacity(1 << 16, File::create(path)?);
        let name = path.to_string_lossy();
        Ok(if name.ends_with(".zst") {
            Sink::Zstd(zstd::Encoder::new(file, 3)?)
        } else if name.ends_with(".gz") {
            Sink::Gzip(flate2::write::GzEncoder::new(
                file,
                flate2::Compression::default(),
            ))
        } else {
            Sink::Plain(file)
        })
    }

    fn write_all(&mut self, bytes: &[u8]) -> std::io::Result<()> {
        match self {
            Sink::Plain(w) => w.write_all(bytes),
            Sink::Gzip(w) => w.write_all(bytes),
            Sink::Zstd(w) => w.write_all(bytes),
        }
    }

    fn flush(&mut self) -> std::io::Result<()> {
        match self {
            Sink::Plain(w) => w.flush(),
            Sink::Gzip(w) => w.flush(),
            Sink::Zstd(w) => w.flush(),
        }
    }

    /// Writes the compressor's end and flushes the file.
    fn finish(self) -> std::io::Result<()> {
        match self {
            Sink::Plain(mut w) => w.flush(),
            Sink::Gzip(w) => w.finish()?.flush(),
            Sink::Zstd(w) => w.finish()?.flush(),
        }
    }
}

/// The output file(s): numbering, rotation, compression.
pub struct RecordWriter {
    pattern: PathBuf,
    rotate: Option<Rotate>,
    index: u32,
    current: Option<(PathBuf, Sink)>,
    bytes_in_file: u64,
    opened_at: Instant,
    line: Vec<u8>,
    /// Files written so far.
    pub files: Vec<PathBuf>,
    /// Lines written so far.
    pub lines: u64,
}

impl RecordWriter {
    /// A writer for `pattern` (used as is without rotation).
    pub fn new(pattern: PathBuf, rotate: Option<Rotate>) -> Self {
        Self {
            pattern,
            rotate,
            index: 0,
            current: None,
            bytes_in_file: 0,
            opened_at: Instant::now(),
            line: Vec::with_capacity(512),
            files: Vec::new(),
            lines: 0,
        }
    }

    /// The path of file number `index` (1-based) with rotation: `ticks.jsonl.zst` becomes
    /// `ticks.000001.jsonl.zst`.
    pub fn numbered(pattern: &Path, index: u32) -> PathBuf {
        let name = pattern
            .file_name()
            .map(|n| n.to_string_lossy().into_owned())
            .unwrap_or_default();
        let (stem, rest) = match name.find('.') {
            Some(dot) if dot > 0 => name.split_at(dot),
            _ => (name.as_str(), ""),
        };
        pattern.with_file_name(format!("{stem}.{index:06}{rest}"))
    }

    fn open_next(&mut self) -> Result<(), RecordError> {
        self.finish_current()?;
        self.index += 1;
        let path = match self.rotate {
            Some(_) => Self::numbered(&self.pattern, self.index),
            None => self.pattern.clone(),
        };
        let sink = Sink::create(&path).map_err(|source| RecordError::Write {
            path: path.display().to_string(),
            source,
        })?;
        tracing::info!(file = %path.display(), "recording to a new file");
        self.files.push(path.clone());
        self.current = Some((path, sink));
        self.bytes_in_file = 0;
        self.opened_at = Instant::now();
        Ok(())
    }

    /// Appends one record, rotating first when due.
    pub fn write(&mut self, rx: u64, source: &str, bytes: &[u8]) -> Result<(), RecordError> {
        let rotate_now = match (self.rotate, &self.current) {
            (_, None) => true,
            (Some(Rotate::Size(limit)), Some(_)) => self.bytes_in_file >= limit,
            (Some(Rotate::Every(every)), Some(_)) => self.opened_at.elapsed() >= every,
            (None, Some(_)) => false,
        };
        if rotate_now {
            self.open_next()?;
        }
        self.line.clear();
        write_record_line(&mut self.line, rx, source, bytes);
        if let Some((path, sink)) = &mut self.current {
            sink.write_all(&self.line)
                .map_err(|source| RecordError::Write {
                    path: path.display().to_string(),
                    source,
                })?;
        }
        self.bytes_in_file += self.line.len() as u64;
        self.lines += 1;
        Ok(())
    }

    /// Pushes buffered records to the file.
    pub fn flush(&mut self) -> Result<(), RecordError> {
        if let Some((path, sink)) = &mut self.current {
            sink.flush().map_err(|source| RecordError::Write {
                path: path.display().to_string(),
                source,
            })?;
        }
        Ok(())
    }

    fn finish_current(&mut self) -> Result<(), RecordError> {
        if let Some((path, sink)) = self.current.take() {
            sink.finish().map_err(|source| RecordError::Write {
                path: path.display().to_string(),
                source,
            })?;
        }
        Ok(())
    }

    /// Finishes the last file.
    pub fn finish(mut self) -> Result<(Vec<PathBuf>, u64), RecordError> {
        self.finish_current()?;
        Ok((self.files, self.lines))
    }
}

/// Records until `shutdown` completes.
pub async fn run(
    config: RecordConfig,
    shutdown: impl std::future::Future<Output = ()>,
) -> Result<(), RecordError> {
    let (tx, rx) = std_mpsc::sync_channel::<Line>(QUEUE_LINES);
    let mut writer = RecordWriter::new(config.out.clone(), config.rotate);
    // Create the first file now, so a bad path fails at start.
    writer.open_next()?;
    let writer_thread = std::thread::spawn(move || write_loop(writer, rx));
    let stop = CancellationToken::new();
    let tasks = TaskTracker::new();
    let mut feeds = Vec::new();
    match config.source {
        RecordSource::TcpListen(addr) => {
            let listener = TcpListener::bind(addr)
                .await
                .map_err(|source| RecordError::Bind { addr, source })?;
            let bound = listener
                .local_addr()
                .map_err(|source| RecordError::Bind { addr, source })?;
            feeds.push(format!("tcp-listen://{bound}"));
            tasks.spawn(accept(listener, tx, config.max_line, stop.clone()));
        }
        RecordSource::Synthetic(synthetic) => {
            feeds.push("synthetic".to_owned());
            tasks.spawn(synthetic_lines(synthetic, tx, stop.clone()));
        }
    }
    tasks.close();
    let ready = serde_json::json!({"event": "recording", "feeds": feeds, "out": config.out.display().to_string()});
    println!("{ready}");
    shutdown.await;
    stop.cancel();
    tasks.wait().await;
    // Every sender is gone once the tasks ended: the writer drains the queue and finishes.
    let result = tokio::task::spawn_blocking(move || writer_thread.join())
        .await
        .ok()
        .and_then(Result::ok)
        .unwrap_or(Ok((Vec::new(), 0)));
    let (files, lines) = result?;
    let names: Vec<String> = files.iter().map(|p| p.display().to_string()).collect();
    tracing::info!(lines, files = ?names, "recording finished");
    Ok(())
}

fn write_loop(
    mut writer: RecordWriter,
    rx: std_mpsc::Receiver<Line>,
) -> Result<(Vec<PathBuf>, u64), RecordError> {
    let mut last_flush = Instant::now();
    loop {
        match rx.recv_timeout(FLUSH_EVERY) {
            Ok(line) => writer.write(line.rx, &line.source, &line.bytes)?,
            Err(std_mpsc::RecvTimeoutError::Timeout) => {}
            Err(std_mpsc::RecvTimeoutError::Disconnected) => break,
        }
        if last_flush.elapsed() >= FLUSH_EVERY {
            writer.flush()?;
            last_flush = Instant::now();
        }
    }
    writer.finish()
}

async fn accept(
    listener: TcpListener,
    tx: std_mpsc::SyncSender<Line>,
    max_line: usize,
    stop: CancellationToken,
) {
    let connection_stop = stop.clone();
    crate::feed::tcp::accept_each(listener, stop, move |stream, peer| {
        record_connection(stream, peer, tx.clone(), max_line, connection_stop.clone())
    })
    .await;
}

async fn record_connection(
    mut stream: tokio::net::TcpStream,
    peer: SocketAddr,
    tx: std_mpsc::SyncSender<Line>,
    max_line: usize,
    stop: CancellationToken,
) {
    let source: Arc<str> = Arc::from(format!("tcp:{peer}"));
    let mut framer = LineFramer::new(max_line);
    let mut too_long = 0u64;
    loop {
        let read = tokio::select! {
            _ = stop.cancelled() => break,
            read = stream.read_buf(framer.buffer_mut()) => read,
        };
        let eof = !matches!(read, Ok(n) if n > 0);
        let rx = crate::clock::now_ns();
        let mut lines = Vec::new();
        loop {
            let next = if eof {
                framer.finish()
            } else {
                framer.next_line()
            };
            match next {
                None => break,
                Some(Ok(bytes)) => lines.push(Line {
                    rx,
                    source: source.clone(),
                    bytes: bytes.to_vec(),
                }),
                Some(Err(Reject::LineTooLong)) | Some(Err(_)) => too_long += 1,
            }
        }
        // The writer thread may be busy compressing: wait off the runtime's threads.
        let sender = tx.clone();
        let sent = tokio::task::spawn_blocking(move || {
            lines.into_iter().all(|line| sender.send(line).is_ok())
        })
        .await;
        if !matches!(sent, Ok(true)) || eof {
            break;
        }
    }
    if too_long > 0 {
        tracing::warn!(%peer, lines = too_long, "over-long lines not recorded");
    }
}

async fn synthetic_lines(
    config: SyntheticConfig,
    tx: std_mpsc::SyncSender<Line>,
    stop: CancellationToken,
) {
    let source: Arc<str> = Arc::from("synthetic");
    let mut market = Market::new(config.symbols, config.seed);
    let mut interval = tokio::time::interval(Duration::from_millis(10));
    let mut due = 0.0f64;
    let mut last = tokio::time::Instant::now();
    let mut seq = 0u64;
    loop {
        tokio::select! {
            _ = stop.cancelled() => return,
            _ = interval.tick() => {}
        }
        let now = tokio::time::Instant::now();
        due =
            (due + config.rate * now.duration_since(last).as_secs_f64()).min(config.rate.max(1.0));
        last = now;
        let count = due as usize;
        due -= count as f64;
        let rx = crate::clock::now_ns();
        for _ in 0..count {
            seq += 1;
            let tick = market.next_tick(rx);
            let mut bytes = Vec::with_capacity(200);
            // The native format's fields are a subset of the event object; extra fields
            // (seq, n, kind, rx) are ignored by the native decoder.
            crate::frame::write_json(&mut bytes, seq, seq, &tick);
            if tx
                .send(Line {
                    rx,
                    source: source.clone(),
                    bytes,
                })
                .is_err()
            {
                return;
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::replay::container::RecordReader;

    #[test]
    fn numbered_paths_keep_the_extensions() {
        assert_eq!(
            RecordWriter::numbered(Path::new("/tmp/ticks.jsonl.zst"), 3),
            PathBuf::from("/tmp/ticks.000003.jsonl.zst")
        );
        assert_eq!(
            RecordWriter::numbered(Path::new("out"), 1),
            PathBuf::from("out.000001")
        );
    }

    #[test]
    fn records_read_back_exactly_across_rotations() {
        let dir = std::env::temp_dir().join(format!("tickcast-record-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let pattern = dir.join("rec.jsonl.zst");
        let mut writer = RecordWriter::new(pattern.clone(), Some(Rotate::Size(4096)));
        let mut sent = Vec::new();
        for i in 0..500u64 {
            let mut line = format!("{{\"sym\":\"A\",\"px\":{i}.50,\"ts\":{i}}}").into_bytes();
            if i % 97 == 0 {
                line.extend_from_slice(b"\xff\xfe not utf-8");
            }
            writer.write(1_000 + i, "tcp:test", &line).unwrap();
            sent.push((1_000 + i, line));
        }
        let (files, lines) = writer.finish().unwrap();
        assert_eq!(lines, 500);
        assert!(files.len() > 2, "rotated into {} files", files.len());
        let mut got = Vec::new();
        for file in &files {
            let mut reader = RecordReader::open(file).unwrap();
            while let Some(record) = reader.next_record() {
                let record = record.unwrap();
                assert_eq!(record.source, Some("tcp:test"));
                got.push((record.rx.unwrap(), record.payload.to_vec()));
            }
        }
        assert_eq!(got, sent);
        std::fs::remove_dir_all(&dir).unwrap();
    }
}
