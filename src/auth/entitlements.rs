//! Which symbols a token allows: the `symbols` claim, parsed once into [`Entitlements`].
//!
//! A pattern is an exact symbol (`BINANCE:BTCUSDT`), a prefix ending in one `*`
//! (`BINANCE:*`: every symbol that starts with `BINANCE:`), or `*` alone (everything). The
//! part before the `*` follows [`Symbol`]'s grammar (`A-Z a-z 0-9 . _ - : /`, at most
//! [`crate::tick::MAX_SYMBOL_LEN`] bytes); matching is byte-exact, so case-sensitive.
//!
//! Parsed by the verifier when a token is checked, queried by the HTTP edge for each symbol a
//! subscription names (and [`Entitlements::is_everything`] for the firehose); never per tick.
//! The parsed form is canonical: `*` absorbs everything else, a prefix absorbs the longer
//! prefixes and the exact symbols it covers, so two lists that allow the same symbols
//! compare equal.

use std::collections::HashSet;

use crate::tick::{Symbol, SymbolError};

use super::Denied;

/// Most patterns one token may carry, a bound on the work of one lookup. The token's own
/// limit, [`super::MAX_TOKEN_LEN`], is usually the tighter one: about 300 patterns of 16
/// bytes fit in 8 KiB of base64url; a token that wants more symbols names prefixes.
pub const MAX_PATTERNS: usize = 1_024;

/// The symbols a token allows.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Entitlements {
    /// `*` was given: every symbol, and the two lists below are empty.
    everything: bool,
    /// Exact symbols not covered by a prefix.
    exact: HashSet<Symbol>,
    /// Prefixes (the text before the `*`), none a prefix of another, sorted.
    prefixes: Vec<Symbol>,
}

/// Why a `symbols` pattern list was refused.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum PatternError {
    /// More than [`MAX_PATTERNS`] patterns.
    #[error("{count} patterns, more than {MAX_PATTERNS}")]
    TooMany {
        /// How many were given.
        count: usize,
    },
    /// A `*` stands elsewhere than at the end, or twice.
    #[error("pattern {pattern:?}: a `*` may only end a pattern")]
    Star {
        /// The pattern.
        pattern: String,
    },
    /// The pattern (before its `*`) is not a valid symbol (prefix): empty, too long, or a
    /// character outside the grammar.
    #[error("pattern {pattern:?}: {source}")]
    Symbol {
        /// The pattern.
        pattern: String,
        /// What the symbol grammar says.
        source: SymbolError,
    },
}

impl Entitlements {
    /// Every symbol (the pattern `*`).
    pub fn everything() -> Self {
        Self {
            everything: true,
            exact: HashSet::new(),
            prefixes: Vec::new(),
        }
    }

    /// Parses a `symbols` claim; any bad pattern is [`Denied::BadClaims`]. See
    /// [`Entitlements::from_patterns`] for the reason in full.
    pub fn parse(patterns: &[String]) -> Result<Self, Denied> {
        Self::from_patterns(patterns).map_err(|_| Denied::BadClaims)
    }

    /// Parses a list of patterns (module docs), saying which one is wrong and why.
    pub fn from_patterns<S: AsRef<str>>(patterns: &[S]) -> Result<Self, PatternError> {
        if patterns.len() > MAX_PATTERNS {
            return Err(PatternError::TooMany {
                count: patterns.len(),
            });
        }
        let mut everything = false;
        let mut exact = HashSet::new();
        let mut prefixes = Vec::new();
        // Every pattern is checked, even after a `*`: a bad one refuses the whole list.
        for pattern in patterns {
            let pattern = pattern.as_ref();
            let (text, is_prefix) = match pattern.strip_suffix('*') {
                Some(text) => (text, true),
                None => (pattern, false),
            };
            if text.contains('*') {
                return Err(PatternError::Star {
                    pattern: pattern.to_owned(),
                });
            }
            if is_prefix && text.is_empty() {
                everything = true;
                continue;
            }
            let symbol = Symbol::new(text).map_err(|source| PatternError::Symbol {
                pattern: pattern.to_owned(),
                source,
            })?;
            if is_prefix {
                prefixes.push(symbol);
            } else {
                exact.insert(symbol);
            }
        }
        if everything {
            return Ok(Self::everything());
        }
        // Sorted as text (`Symbol`'s own order puts shorter names first), the prefixes a
        // prefix covers follow it directly.
        prefixes.sort_unstable_by(|a, b| a.as_str().cmp(b.as_str()));
        prefixes.dedup_by(|longer, shorter| longer.as_str().starts_with(shorter.as_str()));
        let covered = |symbol: &Symbol| {
            prefixes
                .iter()
                .any(|prefix| symbol.as_str().starts_with(prefix.as_str()))
        };
        exact.retain(|symbol| !covered(symbol));
        Ok(Self {
            everything: false,
            exact,
            prefixes,
        })
    }

    /// Whether `symbol` may be subscribed to.
    pub fn allows(&self, symbol: &Symbol) -> bool {
        self.everything
            || self.exact.contains(symbol)
            || self
                .prefixes
                .iter()
                .any(|prefix| symbol.as_str().starts_with(prefix.as_str()))
    }

    /// Whether every symbol is allowed (`*`): the only case where a firehose subscription
    /// (`symbols=*`) may be served.
    pub fn is_everything(&self) -> bool {
        self.everything
    }

    /// Whether no symbol at all is allowed (an empty `symbols` list).
    pub fn is_nothing(&self) -> bool {
        !self.everything && self.exact.is_empty() && self.prefixes.is_empty()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn sym(name: &str) -> Symbol {
        Symbol::new(name).expect("test symbol")
    }

    fn parse(patterns: &[&str]) -> Result<Entitlements, PatternError> {
        Entitlements::from_patterns(patterns)
    }

    /// Checks that `e` allows every symbol of `yes` and none of `no` (space-separated).
    fn check(e: &Entitlements, yes: &str, no: &str) {
        for name in yes.split(' ') {
            assert!(e.allows(&sym(name)), "{name} should be allowed");
        }
        for name in no.split(' ') {
            assert!(!e.allows(&sym(name)), "{name} should not be allowed");
        }
    }

    #[test]
    fn exact_patterns_allow_only_their_symbols() {
        let e = parse(&["BINANCE:BTCUSDT", "KRAKEN:XBT/USD"]).unwrap();
        let no = "BINANCE:BTCUSD BINANCE:BTCUSDTX binance:btcusdt BINANCE:";
        check(&e, "BINANCE:BTCUSDT KRAKEN:XBT/USD", no);
        assert!(!e.is_everything() && !e.is_nothing());
    }

    #[test]
    fn prefix_patterns_allow_what_starts_with_them() {
        let e = parse(&["BINANCE:*", "COINBASE:BTC-*"]).unwrap();
        let yes = "BINANCE:BTCUSDT BINANCE: COINBASE:BTC-USD COINBASE:BTC-";
        check(
            &e,
            yes,
            "BINANCE COINBASE:ETH-USD KRAKEN:XBT/USD XBINANCE:BTC",
        );
        assert!(!e.is_everything());
    }

    #[test]
    fn star_allows_everything() {
        let e = parse(&["BINANCE:BTCUSDT", "*"]).unwrap();
        assert!(e.is_everything());
        assert!(e.allows(&sym("ANYTHING")));
        assert_eq!(e, Entitlements::everything());
        assert_eq!(
            Entitlements::parse(&["*".to_owned()]),
            Ok(Entitlements::everything())
        );
    }

    #[test]
    fn an_empty_list_allows_nothing() {
        let e = parse(&[]).unwrap();
        assert!(e.is_nothing() && !e.is_everything());
        assert!(!e.allows(&sym("BINANCE:BTCUSDT")));
    }

    #[test]
    fn covered_patterns_collapse_into_a_canonical_form() {
        let wide = parse(&[
            "BINANCE:BTC*",
            "BINANCE:*",
            "BINANCE:ETHUSDT",
            "KRAKEN:XBT/USD",
            "B*",
            "BINANCE:*",
        ]);
        let narrow = parse(&["KRAKEN:XBT/USD", "B*", "KRAKEN:XBT/USD"]);
        assert_eq!(wide.unwrap(), narrow.unwrap());
    }

    #[test]
    fn bad_patterns_are_refused_with_the_reason() {
        for pattern in ["A*B", "*A", "**", "A**", "A*B*"] {
            assert_eq!(
                parse(&[pattern]),
                Err(PatternError::Star {
                    pattern: pattern.to_owned()
                }),
                "{pattern}"
            );
        }
        // A `*` does not excuse a bad pattern after it.
        assert!(parse(&["*", "A*B"]).is_err());
        let symbol = |pattern: &str, source| {
            Err(PatternError::Symbol {
                pattern: pattern.to_owned(),
                source,
            })
        };
        assert_eq!(parse(&[""]), symbol("", SymbolError::Empty));
        assert_eq!(parse(&["A B"]), symbol("A B", SymbolError::BadCharacter));
        assert_eq!(parse(&["É*"]), symbol("É*", SymbolError::BadCharacter));
        let long = "A".repeat(33);
        assert_eq!(parse(&[long.as_str()]), symbol(&long, SymbolError::TooLong));
        let long_prefix = format!("{long}*");
        assert_eq!(
            parse(&[long_prefix.as_str()]),
            symbol(&long_prefix, SymbolError::TooLong)
        );
        // The whole list is refused for one bad pattern, and the verifier's answer is the
        // one a client sees.
        assert_eq!(
            Entitlements::parse(&["BINANCE:*".to_owned(), "A*B".to_owned()]),
            Err(Denied::BadClaims)
        );
        assert_eq!(Denied::BadClaims.code(), "token_bad_claims");
    }

    #[test]
    fn too_many_patterns_are_refused() {
        let names: Vec<String> = (0..=MAX_PATTERNS).map(|i| format!("S{i}")).collect();
        assert!(Entitlements::from_patterns(&names[..MAX_PATTERNS]).is_ok());
        assert_eq!(
            Entitlements::from_patterns(&names),
            Err(PatternError::TooMany {
                count: MAX_PATTERNS + 1
            })
        );
        assert_eq!(Entitlements::parse(&names), Err(Denied::BadClaims));
    }
}
