//! Building a venue's ticks: the `VENUE:NAME` symbol, and trade and quote ticks from the fields
//! a decoder picked, checked in the native format's order.
//!
//! Called by the per-venue files, on the feed task's thread, once they know what a message is;
//! their ticks end up in the `out` of [`Decoder::decode`](super::Decoder::decode). The rules are
//! "Symbols" and "Trades and quotes" in the [`super`] docs: a trade needs its price and size, a
//! quote a bid or an ask. This module must never round a number through `f64`, and never
//! allocate: a symbol is built on the stack (a snapshot batch of more than 20 trades may
//! allocate while it is sorted oldest first).

use crate::feed::native::Field;
use crate::tick::Reject;
use crate::tick::{MAX_SYMBOL_LEN, Symbol, Tick, TickKind};

/// `VENUE:name` as a [`Symbol`]; `uppercase` upper-cases the name (Bitstamp's channel names
/// are lower case). See the [`super`] docs for the scheme.
pub(super) fn venue_symbol(
    venue: &str,
    name: Field<'_>,
    uppercase: bool,
) -> Result<Symbol, Reject> {
    let name = match name {
        Field::Unset | Field::Null => return Err(Reject::MissingSymbol),
        Field::Text(name) => name.as_bytes(),
        Field::Number(_) | Field::Other => return Err(Reject::BadSymbol),
    };
    let len = venue.len() + 1 + name.len();
    if name.is_empty() || len > MAX_SYMBOL_LEN || name.contains(&b':') {
        return Err(Reject::BadSymbol);
    }
    // Built on the stack: a symbol never allocates.
    let mut buf = [0u8; MAX_SYMBOL_LEN];
    buf[..venue.len()].copy_from_slice(venue.as_bytes());
    buf[venue.len()] = b':';
    let tail = &mut buf[venue.len() + 1..len];
    tail.copy_from_slice(name);
    if uppercase {
        tail.make_ascii_uppercase();
    }
    let text = std::str::from_utf8(&buf[..len]).map_err(|_| Reject::BadSymbol)?;
    Symbol::new(text).map_err(|_| Reject::BadSymbol)
}

/// A trade tick: `px` and `qty` required, checked in that order, then the time.
pub(super) fn trade(
    symbol: Symbol,
    px: Field<'_>,
    qty: Field<'_>,
    ts: impl FnOnce() -> Result<u64, Reject>,
    rx: u64,
) -> Result<Tick, Reject> {
    let px = px.price()?.ok_or(Reject::MissingPrice)?;
    let qty = qty.size()?.ok_or(Reject::MissingSize)?;
    Ok(Tick::trade(symbol, px, Some(qty), ts()?, rx))
}

/// A quote tick from `[bid, bid_qty, ask, ask_qty]`, each optional, at least one price
/// required; checked in that order, then the time.
pub(super) fn quote(
    symbol: Symbol,
    [bid, bid_qty, ask, ask_qty]: [Field<'_>; 4],
    ts: impl FnOnce() -> Result<u64, Reject>,
    rx: u64,
) -> Result<Tick, Reject> {
    let bid = bid.price()?;
    let bid_qty = bid_qty.size()?;
    let ask = ask.price()?;
    let ask_qty = ask_qty.size()?;
    if bid.is_none() && ask.is_none() {
        return Err(Reject::MissingPrice);
    }
    Ok(Tick {
        symbol,
        kind: TickKind::Quote,
        px: None,
        qty: None,
        bid,
        bid_qty,
        ask,
        ask_qty,
        ts: ts()?,
        rx,
    })
}

/// Orders a snapshot batch (`out[start..]`) oldest first. Venues list snapshot trades newest
/// first or in no documented order; a stable sort keeps same-time trades as sent.
pub(super) fn oldest_first(out: &mut [Tick], start: usize) {
    if let Some(batch) = out.get_mut(start..) {
        batch.sort_by_key(|tick| tick.ts);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn venue_symbols() {
        let symbol = |name, uppercase| {
            venue_symbol("KRAKEN", Field::Text(name), uppercase).map(|s| s.as_str().to_owned())
        };
        assert_eq!(
            symbol("MATIC/USD", false).as_deref(),
            Ok("KRAKEN:MATIC/USD")
        );
        assert_eq!(symbol("ethusd", true).as_deref(), Ok("KRAKEN:ETHUSD"));
        assert_eq!(symbol("ethusd", false).as_deref(), Ok("KRAKEN:ethusd"));
        // 6 + 1 + 25 = 32 bytes fits; one more does not.
        assert!(symbol("ABCDEFGHIJKLMNOPQRSTUVWXY", false).is_ok());
        assert_eq!(
            symbol("ABCDEFGHIJKLMNOPQRSTUVWXYZ", false),
            Err(Reject::BadSymbol)
        );
        assert_eq!(symbol("", false), Err(Reject::BadSymbol));
        assert_eq!(symbol("A:B", false), Err(Reject::BadSymbol));
        assert_eq!(symbol("A B", false), Err(Reject::BadSymbol));
        assert_eq!(symbol("é", true), Err(Reject::BadSymbol));
        assert_eq!(
            venue_symbol("KRAKEN", Field::Null, false),
            Err(Reject::MissingSymbol)
        );
        assert_eq!(
            venue_symbol("KRAKEN", Field::Number("1"), false),
            Err(Reject::BadSymbol)
        );
    }
}
