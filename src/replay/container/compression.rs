//! Compression sniffing and opening: [`decompress`] reads a recorded file's first bytes, tells
//! the [`Compression`] from them, and stacks the decompressor that the reader frames lines from
//! (the rules are in the [module docs](super#compression)).
//!
//! Place in the flow: the bottom of one file's [`RecordReader`](super::RecordReader), on the
//! thread that drives its replay. The file sits under the decompressor inside [`Counted`], which
//! counts the bytes consumed for the progress bar ([`Progress`], relaxed: a statistic) and notes
//! whether the file itself, rather than the decompressor above it, failed.
//!
//! Must never tell the compression from the file name, read a file whole, read a format it
//! does not support as plain lines, or let a zstd frame claim a window beyond
//! 2^[`ZSTD_WINDOW_LOG_MAX`] bytes.

use std::io::{self, BufRead, BufReader, Cursor, Read};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};

use flate2::read::MultiGzDecoder;

use super::{Compression, ContainerError};

/// Largest zstd window accepted, as a power of two: 27 (128 MiB) is zstd's own default limit
/// and what its CLI writes at most (`--long`, `--ultra -22`). Set explicitly because the window
/// is the one allocation a file controls: a 4 KiB file can claim the whole of it, so the bound
/// is stated here rather than left to the library's default.
pub const ZSTD_WINDOW_LOG_MAX: u32 = 27;

/// Size of each read buffer. 64 KiB holds hundreds of typical lines, so framing makes few
/// `fill_buf` calls and decompressors work on large blocks.
const READ_BUFFER: usize = 64 * 1024;

/// Bytes read to detect the compression: the longest magic recognized (xz's 6 bytes).
const MAGIC_LEN: usize = 6;

impl Compression {
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

/// A recorded stream, decompressed: the bytes the reader frames into lines.
pub(super) struct Decompressed {
    /// The decompressed byte stream.
    pub(super) input: Box<dyn BufRead + Send>,
    /// The compression detected.
    pub(super) compression: Compression,
    /// Shared with the [`Counted`] wrapper at the bottom of `input`.
    pub(super) progress: Arc<Progress>,
}

/// Detects the compression of `reader` from its first bytes and stacks the decompressor over
/// it, the first bytes put back in front.
pub(super) fn decompress(
    reader: impl Read + Send + 'static,
) -> Result<Decompressed, ContainerError> {
    let progress = Arc::new(Progress::default());
    let mut counted = Counted {
        inner: reader,
        progress: progress.clone(),
    };
    let mut magic = [0; MAGIC_LEN];
    let magic_len =
        read_up_to(&mut counted, &mut magic).map_err(|source| ContainerError::Read { source })?;
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
            let mut decoder = zstd::stream::read::Decoder::new(raw).map_err(decompress_error)?;
            decoder
                .window_log_max(ZSTD_WINDOW_LOG_MAX)
                .map_err(decompress_error)?;
            Box::new(BufReader::with_capacity(READ_BUFFER, decoder))
        }
    };
    Ok(Decompressed {
        input,
        compression,
        progress,
    })
}

/// Bytes consumed from the underlying reader, and whether it (rather than a decompressor
/// above it) failed. Shared because the reader sits at the bottom of the decompressor's stack.
#[derive(Default)]
pub(super) struct Progress {
    pub(super) bytes: AtomicU64,
    pub(super) failed: AtomicBool,
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

#[cfg(test)]
mod tests {
    use super::*;
    use crate::replay::container::fixtures::{
        BINANCE, COINBASE, Item, TempFile, binance_plain, fingerprint, gzip, read, record, zstd,
    };
    use crate::replay::container::{ReadOptions, RecordError, RecordReader};

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
}
