//! The normalized tick and its vocabulary: [`Symbol`], [`SymbolId`], [`Seq`], [`Tick`], and
//! what a feed line is when it is not a tick: a [`Reject`] (why it was refused) or a
//! [`skip::Kind`] (a valid message of another kind).
//!
//! Every source (synthetic market, TCP feed, the exchange decoders, replay) produces a
//! [`Tick`]; the sequencer gives it a [`Seq`] and a per-symbol count and turns it into a ring
//! event. These are plain values: `Copy`, no heap, cheap to move through a channel.
//! Imports: none; every stage imports this one (the metrics count rejects and skips by these
//! enums without knowing the feed). This module must never do I/O or read the clock.

mod decimal;
pub mod reject;
pub mod skip;

use std::fmt;

pub use decimal::{Decimal, DecimalError};
pub use reject::Reject;

/// Longest accepted symbol, in bytes. Long enough for venue-qualified names such as
/// `COINBASE:SKL-USD` or `KRAKEN:MATIC/USD`.
pub const MAX_SYMBOL_LEN: usize = 32;

/// A symbol name: 1 to [`MAX_SYMBOL_LEN`] bytes of `A-Z a-z 0-9 . _ - : /`, stored inline so a
/// tick never allocates for its name.
#[derive(Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct Symbol {
    len: u8,
    bytes: [u8; MAX_SYMBOL_LEN],
}

/// Why a symbol name was refused.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum SymbolError {
    /// The name is empty.
    #[error("empty symbol")]
    Empty,
    /// The name is longer than [`MAX_SYMBOL_LEN`] bytes.
    #[error("symbol longer than {MAX_SYMBOL_LEN} bytes")]
    TooLong,
    /// The name has a byte outside `A-Z a-z 0-9 . _ - : /`.
    #[error("symbol has a character outside A-Z a-z 0-9 . _ - : /")]
    BadCharacter,
}

impl Symbol {
    /// Validates and stores a symbol name.
    pub fn new(name: &str) -> Result<Self, SymbolError> {
        let raw = name.as_bytes();
        if raw.is_empty() {
            return Err(SymbolError::Empty);
        }
        if raw.len() > MAX_SYMBOL_LEN {
            return Err(SymbolError::TooLong);
        }
        if !raw
            .iter()
            .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'.' | b'_' | b'-' | b':' | b'/'))
        {
            return Err(SymbolError::BadCharacter);
        }
        let mut bytes = [0u8; MAX_SYMBOL_LEN];
        bytes[..raw.len()].copy_from_slice(raw);
        Ok(Self {
            len: raw.len() as u8,
            bytes,
        })
    }

    /// The name as text.
    pub fn as_str(&self) -> &str {
        // Only ASCII bytes are ever stored (checked in `new`), so this cannot fail; the fallback
        // keeps the function total without an `unwrap`.
        std::str::from_utf8(&self.bytes[..usize::from(self.len)]).unwrap_or("")
    }
}

impl fmt::Display for Symbol {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl fmt::Debug for Symbol {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "Symbol({})", self.as_str())
    }
}

/// Dense index of a symbol in the [`crate::cache::Universe`], assigned in order of first
/// appearance by the sequencer. Shards index their per-symbol tables with it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct SymbolId(pub u32);

impl SymbolId {
    /// The id as a `Vec` index.
    pub fn index(self) -> usize {
        self.0 as usize
    }
}

/// The global sequence number of a tick: strictly increasing by one per tick, the SSE `id:`.
pub type Seq = u64;

/// Whether a tick reports a trade or a top-of-book quote.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum TickKind {
    /// A trade: `px` and `qty` are the last trade.
    Trade,
    /// A quote: best bid and/or ask changed; `px` is absent.
    Quote,
}

impl TickKind {
    /// The name used on the wire (`"trade"` / `"quote"`).
    pub fn as_str(self) -> &'static str {
        match self {
            TickKind::Trade => "trade",
            TickKind::Quote => "quote",
        }
    }
}

/// A normalized tick as a source produced it, before the sequencer numbers it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Tick {
    /// The instrument.
    pub symbol: Symbol,
    /// Trade or quote.
    pub kind: TickKind,
    /// Last trade price (trades), exact source digits.
    pub px: Option<Decimal>,
    /// Last trade size (trades).
    pub qty: Option<Decimal>,
    /// Best bid price, when the source sent one.
    pub bid: Option<Decimal>,
    /// Size at the best bid.
    pub bid_qty: Option<Decimal>,
    /// Best ask price.
    pub ask: Option<Decimal>,
    /// Size at the best ask.
    pub ask_qty: Option<Decimal>,
    /// Source (exchange) timestamp, ns since the Unix epoch.
    pub ts: u64,
    /// Ingest timestamp: when tickcast received the line, ns since the Unix epoch.
    pub rx: u64,
}

impl Tick {
    /// A trade of `symbol` at `px` (for `qty`, when the source says), stamped `ts` by its
    /// source and `rx` on arrival.
    pub fn trade(symbol: Symbol, px: Decimal, qty: Option<Decimal>, ts: u64, rx: u64) -> Self {
        Self {
            symbol,
            kind: TickKind::Trade,
            px: Some(px),
            qty,
            bid: None,
            bid_qty: None,
            ask: None,
            ask_qty: None,
            ts,
            rx,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn symbol_grammar() {
        assert_eq!(Symbol::new("BTCUSDT").unwrap().as_str(), "BTCUSDT");
        assert_eq!(
            Symbol::new("KRAKEN:MATIC/USD").unwrap().as_str(),
            "KRAKEN:MATIC/USD"
        );
        assert_eq!(Symbol::new(""), Err(SymbolError::Empty));
        assert_eq!(Symbol::new(&"A".repeat(33)), Err(SymbolError::TooLong));
        assert!(Symbol::new(&"A".repeat(32)).is_ok());
        for bad in ["A B", "A,B", "<x>", "é", "A\"", "A\n"] {
            assert_eq!(Symbol::new(bad), Err(SymbolError::BadCharacter), "{bad:?}");
        }
    }
}
