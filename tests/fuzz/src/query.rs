//! Request inputs as a client may send them: the query string of `/v1/stream` and
//! `/v1/snapshot` and a `Last-Event-ID` value, through the edge's parsers
//! (`tickcast::http::request`).
//!
//! Input: the bytes up to the first `\n` are the query string (lossy UTF-8), the rest a
//! `Last-Event-ID` value. Checked: nothing panics; a parsed symbol list is non-empty, has no
//! duplicate, holds at most the limit, and every name is a valid symbol that the closed
//! universe knows; `*` parses to `All` exactly when the `symbols` value is `*`; an id parses
//! exactly when it is 1 to 20 ASCII digits (trimmed) that fit a `u64`.

use tickcast::cache::UniverseKind;
use tickcast::http::request::{Selection, parse_last_event_id, parse_selection, query_param};
use tickcast::tick::Symbol;

/// The per-request symbol limit the target parses with.
const MAX: usize = 16;

/// One input: see the module doc.
pub fn check(data: &[u8]) {
    let cut = data.iter().position(|b| *b == b'\n').unwrap_or(data.len());
    let query = String::from_utf8_lossy(&data[..cut]);
    let id = String::from_utf8_lossy(data.get(cut + 1..).unwrap_or_default());
    let known = |s: &Symbol| s.as_str().len() % 2 == 1;
    for kind in [UniverseKind::Open, UniverseKind::Closed] {
        match parse_selection(&query, MAX, known, kind) {
            Ok(Selection::All) => {
                assert_eq!(query_param(&query, "symbols").as_deref(), Some("*"));
            }
            Ok(Selection::Symbols(symbols)) => {
                assert!(!symbols.is_empty() && symbols.len() <= MAX, "{symbols:?}");
                for (i, symbol) in symbols.iter().enumerate() {
                    assert!(!symbols[..i].contains(symbol), "duplicate {symbol:?}");
                    assert!(Symbol::new(symbol.as_str()).is_ok());
                    if kind == UniverseKind::Closed {
                        assert!(known(symbol), "unknown {symbol:?} accepted");
                    }
                }
            }
            Err(_) => {}
        }
    }
    let trimmed = id.trim();
    let digits = !trimmed.is_empty()
        && trimmed.len() <= 20
        && trimmed.bytes().all(|b| b.is_ascii_digit());
    match parse_last_event_id(&id) {
        Ok(seq) => assert!(digits && trimmed.parse::<u64>() == Ok(seq), "{id:?}"),
        Err(_) => assert!(!digits || trimmed.parse::<u64>().is_err(), "{id:?} refused"),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn seeds_hold() {
        for seed in [
            &b"symbols=*\n42"[..],
            b"symbols=ABC,ABC,DE\n 7 ",
            b"symbols=%2A\n18446744073709551616",
            b"symbols=,\n",
            b"x=1&symbols=A%20B\n-1",
        ] {
            check(seed);
        }
    }
}
