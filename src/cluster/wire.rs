//! The bytes of a batch of sequenced events between nodes: what the feed node publishes on the
//! live channel, appends to the stream, and keeps per symbol in the latest hash.
//!
//! A batch carries each event's frame exactly as the feed node encoded it (serialize once holds
//! across the cluster: an edge never re-encodes, so its bytes are the feed node's bytes), with
//! what the ring needs beside it (seq, per-symbol count, receive time, symbol). Decoding is
//! zero-copy: every frame is a slice of the one buffer the message arrived in, which then plays
//! the part of the sequencer's frame arena chunk.
//!
//! Layout (little-endian): magic `TCB1`, epoch u64, flags u8 (bit 0: the feed node serves a
//! synthetic market), count u32, then per event: seq u64, n u64,
//! rx u64, tick_start u16, data_start u16, frame_len u32, sym_len u8, the symbol, the frame.
//! Written by hand: the format must hand out slices of the received buffer and check every
//! field on the way, which a serde format (bincode, postcard) would do only by copying into owned
//! fields first; the whole codec is these two functions.
//!
//! Everything from Redis is checked: lengths against the buffer, the symbol's characters, the
//! frame against its sequence ([`Frame::from_wire`]), and sequences consecutive within a batch.
//! Must never panic or allocate beyond the event list on a hostile message.

use bytes::{BufMut, Bytes, BytesMut};

use crate::feed::sequencer::Sequenced;
use crate::frame::{Frame, FrameError};
use crate::ring::Event;
use crate::tick::{Seq, Symbol};

/// The first bytes of every batch (format version 1).
const MAGIC: &[u8; 4] = b"TCB1";
/// Bytes before the first event.
const HEAD_LEN: usize = 4 + 8 + 1 + 4;
/// Flag bit: the feed node serves a synthetic market (edges say so on `/healthz`).
const SYNTHETIC: u8 = 1;
/// Fixed bytes of an event before its symbol and frame.
const EVENT_FIXED: usize = 8 + 8 + 8 + 2 + 2 + 4 + 1;
/// Most events a batch may carry (the feed node publishes at most this many at once).
pub const MAX_EVENTS: usize = 4096;

/// Why a message is not a batch.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum WireError {
    /// It does not start with the magic bytes of this version.
    #[error("not a tickcast batch (bad magic)")]
    Magic,
    /// It ends inside a field.
    #[error("batch truncated")]
    Truncated,
    /// It has bytes after its last event.
    #[error("batch has trailing bytes")]
    Trailing,
    /// It claims no events, or more than [`MAX_EVENTS`].
    #[error("batch event count out of range")]
    Count,
    /// Its sequences are not consecutive.
    #[error("batch sequences are not consecutive")]
    Sequence,
    /// A symbol name is not a valid symbol.
    #[error("bad symbol in batch")]
    Symbol,
    /// A frame is not the encoded event of its sequence.
    #[error("bad frame in batch: {0}")]
    Frame(#[from] FrameError),
}

/// A decoded batch.
#[derive(Debug)]
pub struct Batch {
    /// The feed node's epoch (its first sequence number of that run).
    pub epoch: u64,
    /// Whether the feed node serves a synthetic market.
    pub synthetic: bool,
    /// The events, consecutive sequences, oldest first.
    pub events: Vec<Sequenced>,
}

impl Batch {
    /// The first sequence of the batch.
    pub fn first(&self) -> Seq {
        self.events.first().map_or(0, |e| e.seq)
    }

    /// The last sequence of the batch.
    pub fn last(&self) -> Seq {
        self.events.last().map_or(0, |e| e.seq)
    }
}

/// Appends the batch of `events` (consecutive, each with its symbol) of `epoch` to `out`.
pub fn encode<'a>(
    out: &mut BytesMut,
    epoch: u64,
    synthetic: bool,
    events: impl ExactSizeIterator<Item = (&'a Event, Symbol)>,
) {
    out.put_slice(MAGIC);
    out.put_u64_le(epoch);
    out.put_u8(if synthetic { SYNTHETIC } else { 0 });
    out.put_u32_le(events.len() as u32);
    for (event, symbol) in events {
        let (frame, tick_start, data_start) = event.frame.wire_parts();
        out.put_u64_le(event.seq);
        out.put_u64_le(event.n);
        out.put_u64_le(event.rx);
        out.put_u16_le(tick_start);
        out.put_u16_le(data_start);
        out.put_u32_le(frame.len() as u32);
        let name = symbol.as_str().as_bytes();
        out.put_u8(name.len() as u8);
        out.put_slice(name);
        out.put_slice(frame);
    }
}

/// Decodes a batch; the frames are slices of `bytes`.
pub fn decode(bytes: &Bytes) -> Result<Batch, WireError> {
    let mut at = Reader { bytes, at: 0 };
    if at.take(4)? != MAGIC {
        return Err(WireError::Magic);
    }
    let epoch = at.u64()?;
    let synthetic = at.take(1)?[0] & SYNTHETIC != 0;
    let count = at.u32()? as usize;
    if count == 0 || count > MAX_EVENTS {
        return Err(WireError::Count);
    }
    // A count the buffer cannot hold is refused before anything is allocated for it.
    if count > (bytes.len() - HEAD_LEN) / EVENT_FIXED {
        return Err(WireError::Truncated);
    }
    let mut events = Vec::with_capacity(count);
    for _ in 0..count {
        let seq = at.u64()?;
        let n = at.u64()?;
        let rx = at.u64()?;
        let tick_start = at.u16()?;
        let data_start = at.u16()?;
        let frame_len = at.u32()? as usize;
        let sym_len = usize::from(at.take(1)?[0]);
        let name = std::str::from_utf8(at.take(sym_len)?).map_err(|_| WireError::Symbol)?;
        let symbol = Symbol::new(name).map_err(|_| WireError::Symbol)?;
        let start = at.at;
        at.take(frame_len)?;
        let frame = Frame::from_wire(bytes.slice(start..at.at), tick_start, data_start, seq)?;
        if let Some(previous) = events.last().map(|e: &Sequenced| e.seq)
            && previous.checked_add(1) != Some(seq)
        {
            return Err(WireError::Sequence);
        }
        events.push(Sequenced {
            symbol,
            seq,
            n,
            rx,
            frame,
        });
    }
    if at.at != bytes.len() {
        return Err(WireError::Trailing);
    }
    Ok(Batch {
        epoch,
        synthetic,
        events,
    })
}

/// A bounds-checked cursor over a message.
struct Reader<'a> {
    bytes: &'a Bytes,
    at: usize,
}

impl<'a> Reader<'a> {
    fn take(&mut self, len: usize) -> Result<&'a [u8], WireError> {
        let end = self.at.checked_add(len).ok_or(WireError::Truncated)?;
        let part = self.bytes.get(self.at..end).ok_or(WireError::Truncated)?;
        self.at = end;
        Ok(part)
    }

    fn array<const N: usize>(&mut self) -> Result<[u8; N], WireError> {
        let mut out = [0u8; N];
        out.copy_from_slice(self.take(N)?);
        Ok(out)
    }

    fn u64(&mut self) -> Result<u64, WireError> {
        self.array().map(u64::from_le_bytes)
    }

    fn u32(&mut self) -> Result<u32, WireError> {
        self.array().map(u32::from_le_bytes)
    }

    fn u16(&mut self) -> Result<u16, WireError> {
        self.array().map(u16::from_le_bytes)
    }
}

#[cfg(test)]
mod tests {
    use std::sync::Arc;

    use super::*;
    use crate::tick::{Decimal, SymbolId, Tick};

    fn event(seq: Seq, sym: &str, px: i64) -> (Arc<Event>, Symbol) {
        let symbol = Symbol::new(sym).unwrap();
        let tick = Tick::trade(symbol, Decimal::new(px, 2).unwrap(), None, 11, 22);
        let event = Arc::new(Event {
            seq,
            symbol_id: SymbolId(0),
            n: seq - 99,
            rx: 1_000 + seq,
            frame: Frame::encode(seq, seq - 99, &tick),
        });
        (event, symbol)
    }

    fn batch(seqs: std::ops::RangeInclusive<Seq>) -> Bytes {
        let events: Vec<_> = seqs.map(|s| event(s, "BTC-USD", s as i64)).collect();
        let mut out = BytesMut::new();
        encode(&mut out, 7, false, events.iter().map(|(e, s)| (&**e, *s)));
        out.freeze()
    }

    #[test]
    fn a_batch_decodes_to_the_same_events_and_bytes() {
        let (a, sym_a) = event(100, "BTC-USD", 6_000_012);
        let (b, sym_b) = event(101, "KRAKEN:ETH/USD", 300_001);
        let mut out = BytesMut::new();
        encode(&mut out, 42, true, [(&*a, sym_a), (&*b, sym_b)].into_iter());
        let bytes = out.freeze();
        let batch = decode(&bytes).unwrap();
        assert_eq!((batch.epoch, batch.synthetic), (42, true));
        assert_eq!((batch.first(), batch.last()), (100, 101));
        for (got, (want, sym)) in batch.events.iter().zip([(&a, sym_a), (&b, sym_b)]) {
            assert_eq!(
                (got.seq, got.n, got.rx, got.symbol),
                (want.seq, want.n, want.rx, sym)
            );
            assert_eq!(got.frame.tick(), want.frame.tick());
            assert_eq!(got.frame.snapshot_head(), want.frame.snapshot_head());
        }
    }

    #[test]
    fn every_truncation_and_every_flipped_byte_is_refused_or_still_consistent() {
        let bytes = batch(100..=102);
        for len in 0..bytes.len() {
            assert!(decode(&bytes.slice(..len)).is_err(), "cut at {len}");
        }
        let mut longer = bytes.to_vec();
        longer.push(0);
        assert_eq!(
            decode(&Bytes::from(longer)).unwrap_err(),
            WireError::Trailing
        );
        // A flipped byte either fails to decode or still yields frames that match their ids
        // (a price digit, say): never a panic, never an event whose bytes lie about its id.
        for i in 0..bytes.len() {
            let mut bad = bytes.to_vec();
            bad[i] ^= 0x41;
            if let Ok(batch) = decode(&Bytes::from(bad)) {
                for e in &batch.events {
                    let head = format!("id: {}\nevent: tick\n", e.seq);
                    assert!(e.frame.tick().starts_with(head.as_bytes()), "byte {i}");
                }
            }
        }
    }

    #[test]
    fn counts_and_sequences_are_checked() {
        let bytes = batch(100..=101);
        let mut zero = bytes.to_vec();
        zero[13..17].copy_from_slice(&0u32.to_le_bytes());
        assert_eq!(decode(&Bytes::from(zero)).unwrap_err(), WireError::Count);
        let mut huge = bytes.to_vec();
        huge[13..17].copy_from_slice(&u32::MAX.to_le_bytes());
        assert_eq!(decode(&Bytes::from(huge)).unwrap_err(), WireError::Count);
        let mut many = bytes.to_vec();
        many[13..17].copy_from_slice(&4000u32.to_le_bytes());
        assert_eq!(
            decode(&Bytes::from(many)).unwrap_err(),
            WireError::Truncated
        );
        // Two batches glued with a gap between them: 100, 102.
        let (a, sa) = event(100, "A", 1);
        let (c, sc) = event(102, "A", 3);
        let mut out = BytesMut::new();
        encode(&mut out, 1, false, [(&*a, sa), (&*c, sc)].into_iter());
        assert_eq!(decode(&out.freeze()).unwrap_err(), WireError::Sequence);
        assert_eq!(
            decode(&Bytes::from_static(b"TCB0")).unwrap_err(),
            WireError::Magic
        );
        assert_eq!(
            decode(&Bytes::from_static(b"hello world, this is no batch")).unwrap_err(),
            WireError::Magic
        );
    }
}
