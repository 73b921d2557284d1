//! SSE frame encoding: each tick becomes its frame bytes exactly once, in the sequencer.
//!
//! One buffer per tick holds, back to back, the head of a `snapshot` event and the whole `tick`
//! event; [`Frame`] keeps zero-copy slices of it. A live delivery sends `tick`; a snapshot sends
//! `snapshot_head` followed by `data` (the `data:` line and the blank line), so a snapshot costs
//! two reference-count increments, not a second encoding.
//!
//! Prices are written from [`crate::tick::Decimal`] digits, never through `f64`.
//! Must never be called per subscriber: the `frames_encoded` metric counts every call.

use bytes::Bytes;

use crate::tick::{Decimal, Seq, Tick};

/// The encoded event bytes of one tick.
#[derive(Debug, Clone)]
pub struct Frame {
    /// `id: N\nevent: tick\ndata: {...}\n\n`
    pub tick: Bytes,
    /// `id: N\nevent: snapshot\n`
    pub snapshot_head: Bytes,
    /// `data: {...}\n\n`
    pub data: Bytes,
}

impl Frame {
    /// Encodes the frames of the tick numbered `seq`, the `n`-th of its symbol.
    pub fn encode(seq: Seq, n: u64, tick: &Tick) -> Self {
        let mut buf = Vec::with_capacity(320);
        let mut num = itoa::Buffer::new();
        let id = num.format(seq).as_bytes();
        buf.extend_from_slice(b"id: ");
        buf.extend_from_slice(id);
        buf.extend_from_slice(b"\nevent: snapshot\n");
        let snapshot_head_end = buf.len();
        buf.extend_from_slice(b"id: ");
        buf.extend_from_slice(id);
        buf.extend_from_slice(b"\nevent: tick\n");
        let data_start = buf.len();
        buf.extend_from_slice(b"data: ");
        write_json(&mut buf, seq, n, tick);
        buf.extend_from_slice(b"\n\n");
        let all = Bytes::from(buf);
        Self {
            tick: all.slice(snapshot_head_end..),
            snapshot_head: all.slice(..snapshot_head_end),
            data: all.slice(data_start..),
        }
    }

    /// The JSON object of the event (what `/v1/snapshot` returns per symbol).
    pub fn json(&self) -> &[u8] {
        let data = &self.data[..];
        // `data: ` prefix and `\n\n` suffix are always present (written by `encode`).
        data.get(6..data.len().saturating_sub(2)).unwrap_or(b"{}")
    }
}

/// Appends the JSON object of an event (the `data:` of SSE, a line of a JSONL export).
pub fn write_json(out: &mut Vec<u8>, seq: Seq, n: u64, tick: &Tick) {
    let mut num = itoa::Buffer::new();
    out.extend_from_slice(b"{\"sym\":\"");
    // Symbols are restricted to JSON-safe ASCII (see `Symbol::new`): no escaping needed.
    out.extend_from_slice(tick.symbol.as_str().as_bytes());
    out.extend_from_slice(b"\",\"seq\":");
    out.extend_from_slice(num.format(seq).as_bytes());
    out.extend_from_slice(b",\"n\":");
    out.extend_from_slice(num.format(n).as_bytes());
    out.extend_from_slice(b",\"kind\":\"");
    out.extend_from_slice(tick.kind.as_str().as_bytes());
    out.push(b'"');
    decimal_field(out, b"px", tick.px);
    decimal_field(out, b"qty", tick.qty);
    decimal_field(out, b"bid", tick.bid);
    decimal_field(out, b"bid_qty", tick.bid_qty);
    decimal_field(out, b"ask", tick.ask);
    decimal_field(out, b"ask_qty", tick.ask_qty);
    out.extend_from_slice(b",\"ts\":");
    out.extend_from_slice(num.format(tick.ts).as_bytes());
    out.extend_from_slice(b",\"rx\":");
    out.extend_from_slice(num.format(tick.rx).as_bytes());
    out.push(b'}');
}

fn decimal_field(out: &mut Vec<u8>, name: &[u8], value: Option<Decimal>) {
    if let Some(value) = value {
        out.extend_from_slice(b",\"");
        out.extend_from_slice(name);
        out.extend_from_slice(b"\":");
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
            std::str::from_utf8(&frame.tick).unwrap(),
            format!("id: 42\nevent: tick\ndata: {json}\n\n")
        );
        let mut snapshot = frame.snapshot_head.to_vec();
        snapshot.extend_from_slice(&frame.data);
        assert_eq!(
            std::str::from_utf8(&snapshot).unwrap(),
            format!("id: 42\nevent: snapshot\ndata: {json}\n\n")
        );
        assert_eq!(frame.json(), json.as_bytes());
        let parsed: serde_json::Value = serde_json::from_slice(frame.json()).unwrap();
        assert_eq!(parsed["seq"], 42);
    }
}
