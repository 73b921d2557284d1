//! [`Field`]: one value of a parsed line as the tape shows it after the lossless number view,
//! and its reading as a decimal, a price, a size, a symbol or a timestamp.
//!
//! Read on the feed task's thread, from the tape a [`LineParser`](super::LineParser) lends: by
//! the native format ([`super::read_tick`]) and by every venue decoder
//! ([`crate::feed::venue`]), so a price, a size or a count of nanoseconds is held to the same
//! rules and gives the same [`Reject`] whatever the source. [`parse_timestamp`] is the native
//! `ts` rule, which the venues apply to their epoch counts before their own unit and window.
//! This module must never round a number through `f64`: decimals are read from the source
//! digits by [`Decimal::parse`].

use simd_json::prelude::*;
use simd_json::tape::Value;

use crate::tick::Reject;
use crate::tick::{Decimal, Symbol};

/// Largest accepted `ts`: timestamps are handed on as `i64`-compatible nanoseconds.
const MAX_TIMESTAMP: u64 = i64::MAX as u64;

/// A field's value as the tape shows it after the lossless number view.
#[derive(Clone, Copy)]
pub(crate) enum Field<'a> {
    /// The key did not appear.
    Unset,
    /// `null`.
    Null,
    /// A JSON number, as its source text.
    Number(&'a str),
    /// A JSON string, unescaped.
    Text(&'a str),
    /// Anything else: `true`, `false`, an object, an array.
    Other,
}

impl<'a> Field<'a> {
    pub(crate) fn of(value: Value<'_, 'a>) -> Self {
        if let Some(text) = value.into_string() {
            Field::Text(text)
        } else if value.as_null().is_some() {
            Field::Null
        } else if let Some(array) = value.as_array()
            && array.len() == 1
            && let Some(token) = array.get(0).and_then(|v| v.into_string())
        {
            Field::Number(token)
        } else {
            Field::Other
        }
    }

    /// The decimal in a number or a numeric string; `None` when absent; `bad` otherwise.
    pub(crate) fn decimal(self, bad: Reject) -> Result<Option<Decimal>, Reject> {
        match self {
            Field::Unset | Field::Null => Ok(None),
            Field::Number(text) | Field::Text(text) => {
                Decimal::parse(text.as_bytes()).map(Some).map_err(|_| bad)
            }
            Field::Other => Err(bad),
        }
    }

    pub(crate) fn price(self) -> Result<Option<Decimal>, Reject> {
        match self.decimal(Reject::BadPrice)? {
            Some(px) if !px.is_positive() => Err(Reject::BadPrice),
            px => Ok(px),
        }
    }

    pub(crate) fn size(self) -> Result<Option<Decimal>, Reject> {
        // A sign on a size is never right, even on zero (`-0` would print back as `0`).
        if let Field::Number(text) | Field::Text(text) = self
            && text.trim_start().starts_with('-')
        {
            return Err(Reject::BadSize);
        }
        match self.decimal(Reject::BadSize)? {
            Some(qty) if qty.is_negative() => Err(Reject::BadSize),
            qty => Ok(qty),
        }
    }

    pub(super) fn symbol(self) -> Result<Symbol, Reject> {
        match self {
            Field::Unset | Field::Null => Err(Reject::MissingSymbol),
            Field::Text(name) => Symbol::new(name).map_err(|_| Reject::BadSymbol),
            Field::Number(_) | Field::Other => Err(Reject::BadSymbol),
        }
    }

    pub(super) fn timestamp(self) -> Result<u64, Reject> {
        match self {
            Field::Unset | Field::Null => Err(Reject::MissingTimestamp),
            Field::Number(text) => parse_timestamp(text),
            Field::Text(_) | Field::Other => Err(Reject::BadTimestamp),
        }
    }
}

/// Parses a number token as integer nanoseconds in `1..=MAX_TIMESTAMP`. The token already
/// passed the JSON number grammar; a sign, a fraction or an exponent is refused here.
pub(crate) fn parse_timestamp(token: &str) -> Result<u64, Reject> {
    let mut ns: u64 = 0;
    for &b in token.as_bytes() {
        if !b.is_ascii_digit() {
            return Err(Reject::BadTimestamp);
        }
        ns = ns
            .checked_mul(10)
            .and_then(|ns| ns.checked_add(u64::from(b - b'0')))
            .ok_or(Reject::BadTimestamp)?;
    }
    if ns == 0 || ns > MAX_TIMESTAMP {
        return Err(Reject::BadTimestamp);
    }
    Ok(ns)
}
