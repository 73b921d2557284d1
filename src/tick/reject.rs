//! Why a feed line was refused: the [`Reject`] reasons, their metric labels and counter indexes.
//!
//! The framer (`feed::lines`) and the decoders (`feed::native`, `feed::venue`) raise a reason for
//! each bad line on the feed task; the sequencer raises the universe-related ones on its thread. Every
//! reason is counted in an array of atomic counters indexed by [`Reject::index`] and exported
//! with [`Reject::as_str`] as the Prometheus label, so both are fixed for the life of the
//! process: indexes are dense `0..Reject::COUNT`, labels are unique `snake_case`.
//!
//! A `Reject` is a small `Copy` value: raising one must never allocate, log or carry the line's
//! bytes (which may be huge or hostile). Logging, rate limiting and counting happen where the
//! reject is handled, once.

/// Why a feed line was refused. Each is counted; none closes the feed connection.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, thiserror::Error)]
pub enum Reject {
    /// The line is longer than the configured maximum; its bytes were discarded unread.
    #[error("line longer than the maximum line length")]
    LineTooLong,
    /// The line is not valid UTF-8.
    #[error("line is not valid UTF-8")]
    InvalidUtf8,
    /// The line is not valid JSON (including a duplicated known field, which is ambiguous).
    #[error("line is not valid JSON")]
    InvalidJson,
    /// The line is valid JSON but its top level is not an object.
    #[error("line is not a JSON object")]
    NotAnObject,
    /// The symbol field (`sym`, or the venue's: `s`, `product_id`, `symbol`, the channel name)
    /// is absent or `null`.
    #[error("symbol missing")]
    MissingSymbol,
    /// The symbol field is not a string, or not a valid symbol name (venue-qualified names
    /// included).
    #[error("symbol is not a valid symbol name")]
    BadSymbol,
    /// Neither a trade price (`px`) nor a quote price (`bid` / `ask`) is present, or a venue
    /// trade lacks its price, or a venue ticker shows neither a best bid nor a best ask.
    #[error("no trade price and no bid or ask")]
    MissingPrice,
    /// A price (`px`, `bid`, `ask`, or a venue's price field) is not a decimal, has the wrong JSON type, is zero or
    /// negative, or has more digits than an exact decimal holds.
    #[error("price is not a positive exact decimal")]
    BadPrice,
    /// A size (`qty`, `bid_qty`, `ask_qty`, or a venue's size field) is not a decimal, has the wrong JSON type, is
    /// negative, or has more digits than an exact decimal holds.
    #[error("size is not a non-negative exact decimal")]
    BadSize,
    /// The timestamp (`ts`, or the venue's time field) is absent or `null`.
    #[error("timestamp missing")]
    MissingTimestamp,
    /// The timestamp is malformed or out of range: for `ts`, not an integer JSON number of
    /// nanoseconds in `1..2^63` (a fraction, an exponent, a sign, zero, too large, or another
    /// JSON type); for a venue, not the venue's epoch integer or RFC 3339 text, or outside
    /// the years 2000 to 2099.
    #[error("timestamp is malformed or out of range")]
    BadTimestamp,
    /// The symbol is outside the configured universe. Raised by the sequencer, not a decoder.
    #[error("symbol outside the configured universe")]
    UnknownSymbol,
    /// The line would add a symbol beyond the configured limit of distinct symbols. Raised by
    /// the sequencer, not a decoder.
    #[error("too many distinct symbols")]
    SymbolLimit,
    /// A venue trade has no size. (Native lines may omit `qty`; an exchange trade always has
    /// one, so its absence means the message is not what the decoder thinks it is.)
    #[error("trade size missing")]
    MissingSize,
    /// Auto-detection found no supported format with this message's shape.
    #[error("message matches no known feed format")]
    UnknownFormat,
    /// A well-formed message of the chosen venue whose type, event or channel the decoder does
    /// not know (neither a tick nor a known kind to skip).
    #[error("message type not recognised for this venue")]
    UnknownMessage,
    /// A message of the chosen venue whose envelope is missing or has the wrong shape: no
    /// type/channel/event field, a wrapper without its payload, `data`/`events`/`trades` not
    /// an array or object as the venue sends them.
    #[error("message does not have the venue's structure")]
    MalformedMessage,
    /// A recorded message whose receive time is further behind the previous one of its file
    /// than `--max-backstep`. Raised by replay, not a decoder.
    #[error("timestamp far out of order")]
    OutOfOrder,
}

impl Reject {
    /// Every reason, in [`Reject::index`] order.
    pub const ALL: [Reject; 18] = [
        Reject::LineTooLong,
        Reject::InvalidUtf8,
        Reject::InvalidJson,
        Reject::NotAnObject,
        Reject::MissingSymbol,
        Reject::BadSymbol,
        Reject::MissingPrice,
        Reject::BadPrice,
        Reject::BadSize,
        Reject::MissingTimestamp,
        Reject::BadTimestamp,
        Reject::UnknownSymbol,
        Reject::SymbolLimit,
        Reject::MissingSize,
        Reject::UnknownFormat,
        Reject::UnknownMessage,
        Reject::MalformedMessage,
        Reject::OutOfOrder,
    ];

    /// Number of reasons: the length of a per-reason counter array.
    pub const COUNT: usize = Self::ALL.len();

    /// Dense index in `0..Reject::COUNT`, for an array of counters.
    pub fn index(self) -> usize {
        // Fieldless enum without explicit discriminants: declaration order, 0-based, the same
        // order as `ALL` (checked by a test).
        self as usize
    }

    /// The `snake_case` label used as the Prometheus `reason` label value.
    pub fn as_str(self) -> &'static str {
        match self {
            Reject::LineTooLong => "line_too_long",
            Reject::InvalidUtf8 => "invalid_utf8",
            Reject::InvalidJson => "invalid_json",
            Reject::NotAnObject => "not_an_object",
            Reject::MissingSymbol => "missing_symbol",
            Reject::BadSymbol => "bad_symbol",
            Reject::MissingPrice => "missing_price",
            Reject::BadPrice => "bad_price",
            Reject::BadSize => "bad_size",
            Reject::MissingTimestamp => "missing_timestamp",
            Reject::BadTimestamp => "bad_timestamp",
            Reject::UnknownSymbol => "unknown_symbol",
            Reject::SymbolLimit => "symbol_limit",
            Reject::MissingSize => "missing_size",
            Reject::UnknownFormat => "unknown_format",
            Reject::UnknownMessage => "unknown_message",
            Reject::MalformedMessage => "malformed_message",
            Reject::OutOfOrder => "timestamp_out_of_order",
        }
    }
}

#[cfg(test)]
mod tests {
    use std::collections::HashSet;

    use super::*;

    #[test]
    fn indexes_are_dense_and_in_all_order() {
        for (i, reject) in Reject::ALL.iter().enumerate() {
            assert_eq!(reject.index(), i, "{reject:?}");
        }
        // The last declared variant closes `ALL`: a variant added without listing it fails here.
        assert_eq!(Reject::OutOfOrder.index(), Reject::COUNT - 1);
        let unique: HashSet<Reject> = Reject::ALL.into_iter().collect();
        assert_eq!(unique.len(), Reject::COUNT);
    }

    #[test]
    fn labels_are_unique_snake_case() {
        let mut seen = HashSet::new();
        for reject in Reject::ALL {
            let label = reject.as_str();
            assert!(seen.insert(label), "duplicate label {label}");
            assert!(!label.is_empty());
            assert!(
                label
                    .bytes()
                    .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'_'),
                "{label} is not snake_case"
            );
            assert!(!label.starts_with('_') && !label.ends_with('_') && !label.contains("__"));
        }
    }

    #[test]
    fn displays_a_sentence() {
        assert_eq!(
            Reject::LineTooLong.to_string(),
            "line longer than the maximum line length"
        );
        for reject in Reject::ALL {
            assert!(!reject.to_string().is_empty());
            let _: &dyn std::error::Error = &reject;
        }
    }
}
