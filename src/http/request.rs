//! Request inputs: the query parameters and headers a client sends, parsed into typed values.
//!
//! Place in the flow: [`super::routes`] calls these on the shard thread for every request,
//! before anything is registered. Every input is bounded and validated here; a bad one becomes
//! an [`ApiError`] (a status and a stable JSON error code), never a panic.
//! Must never touch the shard, the ring or the cache: plain functions of text, so they can be
//! tested (and fuzzed) alone.

use crate::cache::UniverseKind;
use crate::tick::{Seq, Symbol};

use super::routes::ApiError;

/// The symbols a request names.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Selection {
    /// `symbols=*`
    All,
    /// A deduplicated list, in request order.
    Symbols(Vec<Symbol>),
}

/// The value of query parameter `name` (percent-decoded), if present.
pub fn query_param(query: &str, name: &str) -> Option<String> {
    form_urlencoded::parse(query.as_bytes())
        .find(|(key, _)| key == name)
        .map(|(_, value)| value.into_owned())
}

/// Parses and validates `symbols=` against the limits and the universe.
pub fn parse_selection(
    query: &str,
    max: usize,
    known: impl Fn(&Symbol) -> bool,
    kind: UniverseKind,
) -> Result<Selection, ApiError> {
    let Some(list) = query_param(query, "symbols") else {
        return Err(ApiError::bad_request(
            "missing_symbols",
            "the symbols parameter is required: symbols=A,B,C or symbols=*",
        ));
    };
    if list == "*" {
        return Ok(Selection::All);
    }
    if list.trim().is_empty() {
        return Err(ApiError::bad_request(
            "empty_symbols",
            "the symbols list is empty",
        ));
    }
    let mut symbols: Vec<Symbol> = Vec::new();
    for (i, name) in list.split(',').enumerate() {
        if i >= max {
            return Err(ApiError::bad_request(
                "too_many_symbols",
                format!("at most {max} symbols per request"),
            ));
        }
        let name = name.trim();
        if name.is_empty() {
            return Err(ApiError::bad_request(
                "empty_symbols",
                format!("item {} of the symbols list is empty", i + 1),
            ));
        }
        let symbol = Symbol::new(name).map_err(|error| {
            let shown: String = name.chars().take(40).collect();
            ApiError::bad_request("bad_symbol", format!("symbol {shown:?}: {error}"))
        })?;
        if kind == UniverseKind::Closed && !known(&symbol) {
            return Err(ApiError::bad_request(
                "unknown_symbol",
                format!("unknown symbol {name:?}; see /v1/symbols"),
            ));
        }
        if !symbols.contains(&symbol) {
            symbols.push(symbol);
        }
    }
    Ok(Selection::Symbols(symbols))
}

/// Parses a `Last-Event-ID` value: a decimal sequence number.
pub fn parse_last_event_id(text: &str) -> Result<Seq, ApiError> {
    let text = text.trim();
    if text.is_empty() || text.len() > 20 || !text.bytes().all(|b| b.is_ascii_digit()) {
        let shown: String = text.chars().take(40).collect();
        return Err(ApiError::bad_request(
            "bad_last_event_id",
            format!("Last-Event-ID {shown:?} is not an event id issued by tickcast"),
        ));
    }
    text.parse()
        .map_err(|_| ApiError::bad_request("bad_last_event_id", "Last-Event-ID is out of range"))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse(query: &str, kind: UniverseKind) -> Result<Selection, &'static str> {
        parse_selection(query, 3, |s| s.as_str().starts_with('K'), kind).map_err(|e| e.code)
    }

    #[test]
    fn symbol_lists() {
        use UniverseKind::*;
        assert_eq!(parse("symbols=*", Closed), Ok(Selection::All));
        assert_eq!(
            parse("symbols=KA,KB,KA", Closed),
            Ok(Selection::Symbols(vec![
                Symbol::new("KA").unwrap(),
                Symbol::new("KB").unwrap()
            ]))
        );
        assert_eq!(parse("symbols=KA%2CKB", Closed).map(|_| ()), Ok(()));
        assert_eq!(parse("", Closed), Err("missing_symbols"));
        assert_eq!(parse("symbols=", Closed), Err("empty_symbols"));
        assert_eq!(parse("symbols=KA,,KB", Closed), Err("empty_symbols"));
        assert_eq!(parse("symbols=K%20A", Closed), Err("bad_symbol"));
        assert_eq!(
            parse("symbols=KA,KB,KC,KD", Closed),
            Err("too_many_symbols")
        );
        assert_eq!(parse("symbols=ZZ", Closed), Err("unknown_symbol"));
        assert!(parse("symbols=ZZ", Open).is_ok());
    }

    #[test]
    fn last_event_ids() {
        assert_eq!(parse_last_event_id("42").unwrap(), 42);
        assert_eq!(parse_last_event_id(" 7 ").unwrap(), 7);
        for bad in [
            "",
            "abc",
            "-1",
            "1.5",
            "99999999999999999999999",
            "18446744073709551616",
        ] {
            assert_eq!(
                parse_last_event_id(bad).unwrap_err().code,
                "bad_last_event_id",
                "{bad}"
            );
        }
    }
}
