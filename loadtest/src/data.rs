//! The fields of an event's `data:` that the load tester checks, read without a JSON parser.
//!
//! tickcast's event data is a flat JSON object of strings and numbers
//! (`{"sym":"LT0001","seq":7,"n":3,"kind":"trade","px":100.25,"qty":3,"ts":..,"rx":..}`), and so
//! is what the nchan publisher posts. [`TickData::scan`] walks the keys once and picks out the
//! few it needs; it never allocates and never fails: a field it cannot read is
//! `None`, and the caller counts that. A full JSON parse per delivered event would make the load
//! generator, not the server, the bottleneck.

/// The checked fields of one event.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct TickData<'a> {
    /// `sym`: the symbol (empty if absent).
    pub sym: &'a [u8],
    /// `seq`: the server's global sequence number (tickcast) or the feeder's (nchan).
    pub seq: Option<u64>,
    /// `n`: the per-symbol count.
    pub n: Option<u64>,
    /// `qty`, when it is a whole number: the feeder's own per-symbol count (see
    /// [`crate::feeder`]), which tells how many ticks of a symbol were sent.
    pub qty: Option<u64>,
    /// `ts`: the source timestamp; the feeder puts the tick's *scheduled* send time here (ns).
    pub ts: Option<u64>,
    /// `rx`: tickcast's ingest time (ns).
    pub rx: Option<u64>,
}

impl<'a> TickData<'a> {
    /// Reads the fields of a flat JSON object.
    pub fn scan(data: &'a [u8]) -> Self {
        let mut out = Self::default();
        let mut at = 0;
        while let Some(open) = find(b'"', &data[at..]) {
            let key_start = at + open + 1;
            let Some(close) = find(b'"', &data[key_start..]) else {
                break;
            };
            let key = &data[key_start..key_start + close];
            let mut value_start = key_start + close + 1;
            while data
                .get(value_start)
                .is_some_and(|&b| b == b':' || b == b' ')
            {
                value_start += 1;
            }
            match data.get(value_start) {
                Some(b'"') => {
                    let start = value_start + 1;
                    let Some(len) = find(b'"', &data[start..]) else {
                        break;
                    };
                    if key == b"sym" {
                        out.sym = &data[start..start + len];
                    }
                    at = start + len + 1;
                }
                Some(b'{' | b'[') | None => break,
                Some(_) => {
                    let len =
                        find2(b',', b'}', &data[value_start..]).unwrap_or(data.len() - value_start);
                    let value = data[value_start..value_start + len].trim_ascii_end();
                    let slot = match key {
                        b"seq" => &mut out.seq,
                        b"n" => &mut out.n,
                        b"qty" => &mut out.qty,
                        b"ts" => &mut out.ts,
                        b"rx" => &mut out.rx,
                        _ => {
                            at = value_start + len;
                            continue;
                        }
                    };
                    *slot = whole_number(value);
                    at = value_start + len;
                }
            }
        }
        out
    }
}

/// Index of the first `byte` in `hay`. Every span searched here is a few bytes long (a key, a
/// value, the `,"` between two fields), where a plain loop beats `memchr`'s SIMD set-up and
/// indirect call per search: the load generator's CPU per event fell by a fifth at S4's rates
/// (BENCHMARKS.md, session 4).
#[inline]
fn find(byte: u8, hay: &[u8]) -> Option<usize> {
    hay.iter().position(|&b| b == byte)
}

/// Index of the first `a` or `b` in `hay` (see [`find`]).
#[inline]
fn find2(a: u8, b: u8, hay: &[u8]) -> Option<usize> {
    hay.iter().position(|&x| x == a || x == b)
}

/// A JSON number that is a non-negative integer (`3`, `3.0`, `3.00`), else `None`.
fn whole_number(text: &[u8]) -> Option<u64> {
    let (int, frac) = match find(b'.', text) {
        Some(dot) => (&text[..dot], &text[dot + 1..]),
        None => (text, &b""[..]),
    };
    if !frac.iter().all(|&b| b == b'0') {
        return None;
    }
    crate::sse::head::parse_u64(int)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tickcast_event_data() {
        let data = br#"{"sym":"LT0042","seq":1795343817054166,"n":2,"kind":"trade","px":331.90,"qty":17,"bid":331.88,"bid_qty":200,"ts":1795343817939068657,"rx":1795343817939068999}"#;
        assert_eq!(
            TickData::scan(data),
            TickData {
                sym: b"LT0042",
                seq: Some(1795343817054166),
                n: Some(2),
                qty: Some(17),
                ts: Some(1795343817939068657),
                rx: Some(1795343817939068999),
            }
        );
    }

    #[test]
    fn nchan_body_with_spaces_and_key_order() {
        let data = br#"{ "ts": 5, "n": 1 , "sym": "LT0001", "seq": 9, "qty": 1 }"#;
        let fields = TickData::scan(data);
        assert_eq!(fields.sym, b"LT0001");
        assert_eq!(
            (fields.seq, fields.n, fields.qty, fields.ts, fields.rx),
            (Some(9), Some(1), Some(1), Some(5), None)
        );
    }

    #[test]
    fn odd_values_are_none_not_errors() {
        let fields = TickData::scan(br#"{"sym":"X","qty":0.5,"n":-1,"seq":"7","ts":1e9}"#);
        assert_eq!(fields.sym, b"X");
        assert_eq!(
            (fields.qty, fields.n, fields.seq, fields.ts),
            (None, None, None, None)
        );
        assert_eq!(TickData::scan(br#"{"qty":3.000}"#).qty, Some(3));
        assert_eq!(TickData::scan(b"").sym, b"");
        assert_eq!(TickData::scan(br#"{"a":{"n":1},"n":2}"#).n, None);
        assert_eq!(TickData::scan(br#"{"sym":"unterminated"#).sym, b"");
        assert_eq!(TickData::scan(b"not json at all").n, None);
    }
}
