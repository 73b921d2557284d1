//! The kinds of valid feed messages that are not ticks (`feed::venue::Decoded::Skipped`), each
//! with a stable `snake_case` label to count skipped messages by (the `kind` label of
//! `tickcast_feed_skipped_total`).
//!
//! A venue decoder gives a [`Kind`] for each valid message that is not a tick; the feed task
//! counts it by [`Kind::index`] in counters registered from [`ALL`] up front (`metrics`), a
//! replay also by its label. A label must never change once released:
//! it names a metric series.

/// A kind of valid feed message that is not a tick.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Kind {
    /// An incremental order-book change: Binance `depthUpdate`, Coinbase `l2update` and the
    /// full channel's order messages, Advanced `l2_data` updates, Kraken `book`/`level3`
    /// updates, Bitstamp `diff_order_book` and `live_orders`.
    BookUpdate,
    /// A whole (or top-N) order book: Binance's REST `lastUpdateId` snapshot and partial-depth
    /// streams, Coinbase `snapshot`, Advanced and Kraken book snapshots, Bitstamp `order_book`.
    BookSnapshot,
    /// OHLC candles: Binance `kline`, Advanced `candles`, Kraken `ohlc`.
    Candle,
    /// Rolling statistics without a book: Binance mini tickers, rolling-window tickers and
    /// `avgPrice`.
    Stats,
    /// Keep-alives and pongs.
    Heartbeat,
    /// Subscribe and unsubscribe acknowledgements.
    Subscription,
    /// Exchange or connection status: Coinbase and Advanced `status`, Kraken `status`,
    /// Bitstamp `bts:request_reconnect`.
    Status,
    /// An error the venue reported (bad subscription, rate limit); the caller logs the line.
    Error,
    /// Private account channels: orders, executions, balances.
    Account,
    /// Instrument definitions: Kraken `instrument`.
    ReferenceData,
}

impl Kind {
    /// The label (`book_update`, ...).
    pub fn as_str(self) -> &'static str {
        match self {
            Kind::BookUpdate => "book_update",
            Kind::BookSnapshot => "book_snapshot",
            Kind::Candle => "candle",
            Kind::Stats => "stats",
            Kind::Heartbeat => "heartbeat",
            Kind::Subscription => "subscription",
            Kind::Status => "status",
            Kind::Error => "error",
            Kind::Account => "account",
            Kind::ReferenceData => "reference_data",
        }
    }

    /// Position in [`ALL`]: a counter index, no string compare.
    pub fn index(self) -> usize {
        self as usize
    }
}

impl std::fmt::Display for Kind {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

/// [`Kind::BookUpdate`].
pub const BOOK_UPDATE: Kind = Kind::BookUpdate;
/// [`Kind::BookSnapshot`].
pub const BOOK_SNAPSHOT: Kind = Kind::BookSnapshot;
/// [`Kind::Candle`].
pub const CANDLE: Kind = Kind::Candle;
/// [`Kind::Stats`].
pub const STATS: Kind = Kind::Stats;
/// [`Kind::Heartbeat`].
pub const HEARTBEAT: Kind = Kind::Heartbeat;
/// [`Kind::Subscription`].
pub const SUBSCRIPTION: Kind = Kind::Subscription;
/// [`Kind::Status`].
pub const STATUS: Kind = Kind::Status;
/// [`Kind::Error`].
pub const ERROR: Kind = Kind::Error;
/// [`Kind::Account`].
pub const ACCOUNT: Kind = Kind::Account;
/// [`Kind::ReferenceData`].
pub const REFERENCE_DATA: Kind = Kind::ReferenceData;

/// Every kind, in [`Kind::index`] order, for registering counters up front.
pub const ALL: [Kind; 10] = [
    BOOK_UPDATE,
    BOOK_SNAPSHOT,
    CANDLE,
    STATS,
    HEARTBEAT,
    SUBSCRIPTION,
    STATUS,
    ERROR,
    ACCOUNT,
    REFERENCE_DATA,
];

#[cfg(test)]
mod tests {
    use crate::tick::skip;

    #[test]
    fn skip_labels_are_unique_snake_case() {
        let mut seen = std::collections::HashSet::new();
        for (i, kind) in skip::ALL.into_iter().enumerate() {
            assert_eq!(kind.index(), i, "ALL is in index order");
            let label = kind.as_str();
            assert!(seen.insert(label), "duplicate {label}");
            assert!(
                label.bytes().all(|b| b.is_ascii_lowercase() || b == b'_'),
                "{label}"
            );
        }
    }
}
