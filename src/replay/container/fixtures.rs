//! What the container tests share: the real recordings, temp files, gzip and zstd encoders,
//! and a reader drained into owned [`Item`]s.
//!
//! Test-only. Must never write outside the temp dir, or leave a file behind (see [`TempFile`]).

use std::fs::File;
use std::io::{Cursor, Read, Write};
use std::path::PathBuf;
use std::sync::atomic::{AtomicUsize, Ordering};

use flate2::read::MultiGzDecoder;
use flate2::write::GzEncoder;

use super::{LineReject, ReadOptions, RecordError, RecordReader};

pub(super) const BINANCE: &str = "/work/shared/feeds/binance-spot-btcusdt-20240808.hftbacktest.gz";
pub(super) const COINBASE: &str = "/work/shared/feeds/coinbase-exchange-20210417.cryptofeed.txt";

/// A file in the temp dir, removed on drop (also when the test fails).
pub(super) struct TempFile(pub(super) PathBuf);

impl TempFile {
    pub(super) fn with(name: &str, bytes: &[u8]) -> Self {
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
pub(super) enum Item {
    Record {
        line_no: u64,
        rx: Option<u64>,
        source: Option<String>,
        payload: Vec<u8>,
    },
    Rejected(u64, LineReject),
    Fatal(String),
}

pub(super) fn drain(reader: &mut RecordReader) -> Vec<Item> {
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

pub(super) fn read_bytes(bytes: &[u8], options: ReadOptions) -> (Vec<Item>, RecordReader) {
    let mut reader =
        RecordReader::from_reader(Cursor::new(bytes.to_vec()), options).expect("reader");
    (drain(&mut reader), reader)
}

pub(super) fn read(bytes: &[u8]) -> Vec<Item> {
    read_bytes(bytes, ReadOptions::default()).0
}

pub(super) fn record(line_no: u64, rx: Option<u64>, payload: &str) -> Item {
    Item::Record {
        line_no,
        rx,
        source: None,
        payload: payload.as_bytes().to_vec(),
    }
}

pub(super) fn gzip(bytes: &[u8]) -> Vec<u8> {
    let mut encoder = GzEncoder::new(Vec::new(), flate2::Compression::fast());
    encoder.write_all(bytes).expect("gzip");
    encoder.finish().expect("gzip")
}

pub(super) fn zstd(bytes: &[u8]) -> Vec<u8> {
    zstd::encode_all(bytes, 1).expect("zstd")
}

pub(super) fn binance_plain() -> Vec<u8> {
    let mut plain = Vec::new();
    MultiGzDecoder::new(File::open(BINANCE).expect("binance recording"))
        .read_to_end(&mut plain)
        .expect("gunzip");
    plain
}

/// Order-sensitive fingerprint of a whole stream of records (FNV-1a), so that two ~10 MB
/// streams compare without holding both.
pub(super) fn fingerprint(reader: &mut RecordReader) -> (u64, u64) {
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
