//! SSE frame encoding: each tick becomes its frame bytes exactly once, in the sequencer.
//!
//! One run of bytes per tick holds, back to back, the head of a `snapshot` event and the whole
//! `tick` event; a [`Frame`] is that run plus two offsets, and hands out zero-copy [`Bytes`]
//! views of it. A live delivery sends [`Frame::tick`]; a snapshot sends
//! [`Frame::snapshot_head`] followed by [`Frame::data`] (the `data:` line and the blank line),
//! so a snapshot costs two reference-count increments, not a second encoding.
//!
//! The runs are cut from a [`FrameArena`]: chunks of [`FrameArena::CHUNK`] bytes, each shared by
//! the frames written into it, so the sequencer allocates once per ~70 ticks instead of twice per
//! tick, and consecutive frames sit in consecutive memory (benches/pipeline.rs: fresh pages
//! for every tick were the sequencer's main cost while the ring filled). A chunk is freed when
//! its last frame is dropped. The price of sharing: a symbol's latest event, kept by the cache
//! after the ring has moved on, keeps its whole chunk alive, so memory is bounded by the ring's
//! frames plus at most one chunk per symbol.
//!
//! Place in the flow: the sequencer ([`crate::feed::sequencer`]) encodes; the ring and the cache
//! hold the frames; shards hand out their bytes; replay exports reuse [`write_json`]. It sits
//! below all of them and imports only [`crate::tick`].
//! Prices are written from [`crate::tick::Decimal`] digits, never through `f64`.
//! Must never be called per subscriber: the `frames_encoded` metric counts every frame.

use bytes::{BufMut, Bytes, BytesMut};

use crate::tick::{Decimal, Seq, Tick};

/// Room kept free in the arena for one frame, in bytes. The longest possible frame (20-digit ids
/// and counts, a 32-byte symbol, six 21-character decimals, 20-digit timestamps) is 422 bytes,
/// as `encodes_the_longest_tick_within_bounds` checks; the rest is margin. Were a frame ever
/// longer, `BytesMut` would grow the buffer: slower, still correct.
pub const MAX_FRAME_LEN: usize = 640;

/// The encoded event bytes of one tick.
#[derive(Debug, Clone)]
pub struct Frame {
    /// `id: N\nevent: snapshot\n` then `id: N\nevent: tick\ndata: {...}\n\n`.
    bytes: Bytes,
    /// Where `id: N\nevent: tick` starts.
    tick_start: u16,
    /// Where `data: ` starts.
    data_start: u16,
}

impl Frame {
    /// Encodes the frames of the tick numbered `seq`, the `n`-th of its symbol, in a buffer of
    /// its own. The sequencer uses a [`FrameArena`] instead; this is for one-off frames.
    pub fn encode(seq: Seq, n: u64, tick: &Tick) -> Self {
        FrameArena::with_chunk(MAX_FRAME_LEN).encode(seq, n, tick)
    }

    /// `id: N\nevent: tick\ndata: {...}\n\n`: what a live subscriber receives.
    pub fn tick(&self) -> Bytes {
        self.bytes.slice(usize::from(self.tick_start)..)
    }

    /// `id: N\nevent: snapshot\n`: sent before [`Frame::data`] for a snapshot.
    pub fn snapshot_head(&self) -> Bytes {
        self.bytes.slice(..usize::from(self.tick_start))
    }

    /// `data: {...}\n\n`
    pub fn data(&self) -> Bytes {
        self.bytes.slice(usize::from(self.data_start)..)
    }

    /// Length of [`Frame::tick`], without making the view.
    pub fn tick_len(&self) -> usize {
        self.bytes.len() - usize::from(self.tick_start)
    }

    /// The JSON object of the event (what `/v1/snapshot` returns per symbol).
    pub fn json(&self) -> &[u8] {
        let data = &self.bytes[usize::from(self.data_start)..];
        // `data: ` prefix and `\n\n` suffix are always present (written by `encode`).
        data.get(6..data.len().saturating_sub(2)).unwrap_or(b"{}")
    }
}

/// Why bytes from another node are not a frame ([`Frame::from_wire`]).
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum FrameError {
    /// The offsets do not cut the bytes into snapshot head, tick head and data.
    #[error("frame offsets out of bounds")]
    Offsets,
    /// A part does not read as the one [`FrameArena::encode`] writes for this sequence.
    #[error("frame is not an encoded event of its sequence")]
    Malformed,
}

impl Frame {
    /// The frame another node encoded (`bytes` with its two offsets, from
    /// [`Frame::wire_parts`]), checked to be exactly what [`FrameArena::encode`] writes for
    /// sequence `seq`: both `id:` lines name `seq`, the event lines are `snapshot` and `tick`,
    /// and the data is one `data: {...}` line ended by a blank line. A frame that passes can
    /// be sent to a browser as it is: it cannot end the event early or smuggle another one in.
    pub fn from_wire(
        bytes: Bytes,
        tick_start: u16,
        data_start: u16,
        seq: Seq,
    ) -> Result<Frame, FrameError> {
        let (tick, data) = (usize::from(tick_start), usize::from(data_start));
        if tick > data || data > bytes.len() {
            return Err(FrameError::Offsets);
        }
        let mut num = itoa::Buffer::new();
        let id = num.format(seq).as_bytes();
        let head_is = |part: &[u8], event: &[u8]| {
            part.len() == 4 + id.len() + event.len()
                && part.starts_with(b"id: ")
                && &part[4..4 + id.len()] == id
                && part.ends_with(event)
        };
        let body = &bytes[data..];
        let json_ok = body.len() >= 10
            && body.starts_with(b"data: {")
            && body.ends_with(b"}\n\n")
            && !body[..body.len() - 2]
                .iter()
                .any(|&b| b == b'\n' || b == b'\r');
        if !head_is(&bytes[..tick], b"\nevent: snapshot\n")
            || !head_is(&bytes[tick..data], b"\nevent: tick\n")
            || !json_ok
        {
            return Err(FrameError::Malformed);
        }
        Ok(Frame {
            bytes,
            tick_start,
            data_start,
        })
    }

    /// The whole run of bytes and its two offsets, for [`Frame::from_wire`] on another node.
    pub fn wire_parts(&self) -> (&[u8], u16, u16) {
        (&self.bytes, self.tick_start, self.data_start)
    }
}

/// Where the sequencer writes frames: a chunk of memory cut into one run per frame.
pub struct FrameArena {
    buf: BytesMut,
    chunk: usize,
}

impl Default for FrameArena {
    fn default() -> Self {
        Self::with_chunk(Self::CHUNK)
    }
}

impl FrameArena {
    /// Bytes per chunk: about 70 frames of a typical 230-byte tick. Larger chunks allocate less
    /// often but let one long-lived latest event pin more memory (see the module doc).
    pub const CHUNK: usize = 16 * 1024;

    /// An arena allocating `chunk` bytes at a time (at least [`MAX_FRAME_LEN`]).
    pub fn with_chunk(chunk: usize) -> Self {
        Self {
            buf: BytesMut::new(),
            chunk: chunk.max(MAX_FRAME_LEN),
        }
    }

    /// Encodes the frames of the tick numbered `seq`, the `n`-th of its symbol.
    pub fn encode(&mut self, seq: Seq, n: u64, tick: &Tick) -> Frame {
        if self.buf.capacity() - self.buf.len() < MAX_FRAME_LEN {
            // The rest of the old chunk stays with the frames already cut from it.
            self.buf = BytesMut::with_capacity(self.chunk);
        }
        let buf = &mut self.buf;
        let mut num = itoa::Buffer::new();
        let id = num.format(seq).as_bytes();
        buf.put_slice(b"id: ");
        buf.put_slice(id);
        buf.put_slice(b"\nevent: snapshot\n");
        let tick_start = buf.len();
        buf.put_slice(b"id: ");
        buf.put_slice(id);
        buf.put_slice(b"\nevent: tick\n");
        let data_start = buf.len();
        buf.put_slice(b"data: ");
        write_json(buf, seq, n, tick);
        buf.put_slice(b"\n\n");
        debug_assert!(buf.len() <= MAX_FRAME_LEN);
        Frame {
            bytes: buf.split().freeze(),
            // Both offsets are below MAX_FRAME_LEN, far below u16::MAX.
            tick_start: tick_start as u16,
            data_start: data_start as u16,
        }
    }
}

/// Appends the JSON object of an event (the `data:` of SSE, a line of a JSONL export).
pub fn write_json<B: BufMut>(out: &mut B, seq: Seq, n: u64, tick: &Tick) {
    let mut num = itoa::Buffer::new();
    out.put_slice(b"{\"sym\":\"");
    // Symbols are restricted to JSON-safe ASCII (see `Symbol::new`): no escaping needed.
    out.put_slice(tick.symbol.as_str().as_bytes());
    out.put_slice(b"\",\"seq\":");
    out.put_slice(num.format(seq).as_bytes());
    out.put_slice(b",\"n\":");
    out.put_slice(num.format(n).as_bytes());
    out.put_slice(b",\"kind\":\"");
    out.put_slice(tick.kind.as_str().as_bytes());
    out.put_u8(b'"');
    decimal_field(out, b"px", tick.px);
    decimal_field(out, b"qty", tick.qty);
    decimal_field(out, b"bid", tick.bid);
    decimal_field(out, b"bid_qty", tick.bid_qty);
    decimal_field(out, b"ask", tick.ask);
    decimal_field(out, b"ask_qty", tick.ask_qty);
    out.put_slice(b",\"ts\":");
    out.put_slice(num.format(tick.ts).as_bytes());
    out.put_slice(b",\"rx\":");
    out.put_slice(num.format(tick.rx).as_bytes());
    out.put_u8(b'}');
}

fn decimal_field<B: BufMut>(out: &mut B, name: &[u8], value: Option<Decimal>) {
    if let Some(value) = value {
        out.put_slice(b",\"");
        out.put_slice(name);
        out.put_slice(b"\":");
        value.write_to(out);
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::tick::{Symbol, TickKind};

    fn dec(s: &str) -> Option<Decimal> {
        Some(Decimal::parse(s.as_bytes()).unwrap())
    }

    #[test]
    fn a_frame_crosses_the_wire_unchanged_and_forgeries_do_not() {
        let tick = Tick::trade(
            Symbol::new("BTCUSDT").unwrap(),
            Decimal::new(6_183_763, 2).unwrap(),
            None,
            1,
            2,
        );
        let frame = Frame::encode(42, 7, &tick);
        let (bytes, t, d) = frame.wire_parts();
        let copy = Frame::from_wire(Bytes::copy_from_slice(bytes), t, d, 42).unwrap();
        assert_eq!(copy.tick(), frame.tick());
        assert_eq!(copy.snapshot_head(), frame.snapshot_head());
        assert_eq!(copy.json(), frame.json());
        // Another sequence, swapped or out-of-range offsets, injected lines: all refused.
        let wire = |b: &[u8], t, d, seq| Frame::from_wire(Bytes::copy_from_slice(b), t, d, seq);
        assert_eq!(wire(bytes, t, d, 43).unwrap_err(), FrameError::Malformed);
        assert_eq!(wire(bytes, d, t, 42).unwrap_err(), FrameError::Offsets);
        assert_eq!(
            wire(bytes, t, bytes.len() as u16 + 1, 42).unwrap_err(),
            FrameError::Offsets
        );
        assert!(wire(bytes, t + 1, d, 42).is_err());
        let text = std::str::from_utf8(bytes).unwrap();
        let injected = text.replace("\"kind\"", "\"x\":1}\n\nevent: tick\ndata: {\"kind\"");
        assert_eq!(
            wire(injected.as_bytes(), t, d, 42).unwrap_err(),
            FrameError::Malformed
        );
        let unended = &bytes[..bytes.len() - 1];
        assert!(wire(unended, t, d, 42).is_err());
        assert!(wire(b"", 0, 0, 42).is_err());
    }

    #[test]
    fn encodes_spec_conformant_events() {
        let tick = Tick {
            symbol: Symbol::new("BTCUSDT").unwrap(),
            kind: TickKind::Trade,
            px: dec("61837.63000000"),
            qty: dec("0.02000000"),
            bid: None,
            bid_qty: None,
            ask: dec("61837.64"),
            ask_qty: dec("1.5"),
            ts: 1_723_161_255_342_000_000,
            rx: 1_723_161_254_087_896_568,
        };
        let frame = Frame::encode(42, 7, &tick);
        let json = r#"{"sym":"BTCUSDT","seq":42,"n":7,"kind":"trade","px":61837.63000000,"qty":0.02000000,"ask":61837.64,"ask_qty":1.5,"ts":1723161255342000000,"rx":1723161254087896568}"#;
        assert_eq!(
            std::str::from_utf8(&frame.tick()).unwrap(),
            format!("id: 42\nevent: tick\ndata: {json}\n\n")
        );
        assert_eq!(frame.tick_len(), frame.tick().len());
        let mut snapshot = frame.snapshot_head().to_vec();
        snapshot.extend_from_slice(&frame.data());
        assert_eq!(
            std::str::from_utf8(&snapshot).unwrap(),
            format!("id: 42\nevent: snapshot\ndata: {json}\n\n")
        );
        assert_eq!(frame.json(), json.as_bytes());
        let parsed: serde_json::Value = serde_json::from_slice(frame.json()).unwrap();
        assert_eq!(parsed["seq"], 42);
    }

    #[test]
    fn encodes_the_longest_tick_within_bounds() {
        let wide = Decimal::new(i64::MIN + 1, 18);
        let tick = Tick {
            symbol: Symbol::new(&"W".repeat(crate::tick::MAX_SYMBOL_LEN)).unwrap(),
            kind: TickKind::Quote,
            px: wide,
            qty: wide,
            bid: wide,
            bid_qty: wide,
            ask: wide,
            ask_qty: wide,
            ts: u64::MAX,
            rx: u64::MAX,
        };
        let frame = Frame::encode(u64::MAX, u64::MAX, &tick);
        let total = frame.snapshot_head().len() + frame.tick().len();
        assert!(total <= MAX_FRAME_LEN, "{total} bytes");
        assert_eq!(
            total, 422,
            "the longest frame changed: update MAX_FRAME_LEN's doc"
        );
        let json = std::str::from_utf8(frame.json()).unwrap();
        assert!(json.contains(r#""px":-9.223372036854775807,"#), "{json}");
        serde_json::from_str::<serde_json::Value>(json).unwrap();
    }

    #[test]
    fn arena_frames_are_independent_and_survive_their_chunk() {
        let mut arena = FrameArena::with_chunk(MAX_FRAME_LEN * 2);
        let tick = |px: i64| {
            Tick::trade(
                Symbol::new("A").unwrap(),
                Decimal::new(px, 1).unwrap(),
                None,
                1,
                2,
            )
        };
        // Several chunks' worth: each frame must keep its own bytes whatever follows it.
        let frames: Vec<Frame> = (1..=50)
            .map(|i| arena.encode(i, i, &tick(i as i64)))
            .collect();
        drop(arena);
        for (i, frame) in frames.iter().enumerate() {
            let i = i + 1;
            let expected = format!(
                "id: {i}\nevent: tick\ndata: {{\"sym\":\"A\",\"seq\":{i},\"n\":{i},\"kind\":\"trade\",\"px\":{}.{},\"ts\":1,\"rx\":2}}\n\n",
                i / 10,
                i % 10
            );
            assert_eq!(std::str::from_utf8(&frame.tick()).unwrap(), expected);
            assert_eq!(
                std::str::from_utf8(&frame.snapshot_head()).unwrap(),
                format!("id: {i}\nevent: snapshot\n")
            );
        }
    }
}
