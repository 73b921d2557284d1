//! The symbols a scenario feeds and subscribes: `<prefix><index, zero-padded>`.
//!
//! Generated names map back to their index by arithmetic, so the receive path looks a symbol up
//! without hashing. Symbols the scenario did not make up (a replayed recording, tickcast's
//! synthetic market) get indices past the universe from a per-thread [`Interner`].

use std::collections::HashMap;

/// Digits of the index in a generated name (`LT0001`..`LT9999`, then wider names use more).
const MIN_DIGITS: usize = 4;

/// The scenario's symbols: `count` names with a common prefix, numbered from 1.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Universe {
    prefix: String,
    count: u32,
    digits: usize,
}

impl Universe {
    /// `count` symbols named `prefix` followed by their 1-based number.
    pub fn new(prefix: &str, count: u32) -> Self {
        let digits = count.max(1).to_string().len().max(MIN_DIGITS);
        Self {
            prefix: prefix.to_owned(),
            count,
            digits,
        }
    }

    /// Number of symbols.
    pub fn len(&self) -> u32 {
        self.count
    }

    /// Whether there are no symbols.
    pub fn is_empty(&self) -> bool {
        self.count == 0
    }

    /// The name of symbol `index` (0-based).
    pub fn name(&self, index: u32) -> String {
        format!(
            "{}{:0width$}",
            self.prefix,
            u64::from(index) + 1,
            width = self.digits
        )
    }

    /// Appends the name of symbol `index` to `out` (no allocation once `out` has room).
    pub fn write_name(&self, index: u32, out: &mut Vec<u8>) {
        out.extend_from_slice(self.prefix.as_bytes());
        let mut number = itoa::Buffer::new();
        let number = number.format(u64::from(index) + 1);
        out.resize(out.len() + self.digits.saturating_sub(number.len()), b'0');
        out.extend_from_slice(number.as_bytes());
    }

    /// The index of a generated name, if `name` is one.
    pub fn index(&self, name: &[u8]) -> Option<u32> {
        let digits = name.strip_prefix(self.prefix.as_bytes())?;
        if digits.len() != self.digits {
            return None;
        }
        let number = crate::sse::head::parse_u64(digits)?;
        (1..=u64::from(self.count))
            .contains(&number)
            .then(|| (number - 1) as u32)
    }
}

/// Indices for symbols outside the universe, handed out on first sight (one per client thread,
/// so indices are consistent within a connection).
#[derive(Debug, Default)]
pub struct Interner {
    first: u32,
    names: HashMap<Box<[u8]>, u32>,
}

impl Interner {
    /// An interner whose indices start after `universe`.
    pub fn new(universe: &Universe) -> Self {
        Self {
            first: universe.len(),
            names: HashMap::new(),
        }
    }

    /// The index of `name`: its universe index, or a stable one past the universe.
    pub fn index(&mut self, universe: &Universe, name: &[u8]) -> u32 {
        if let Some(index) = universe.index(name) {
            return index;
        }
        if let Some(&index) = self.names.get(name) {
            return index;
        }
        let index = self.first + self.names.len() as u32;
        self.names.insert(name.into(), index);
        index
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_and_indices_round_trip() {
        let universe = Universe::new("LT", 500);
        assert_eq!(universe.name(0), "LT0001");
        assert_eq!(universe.name(499), "LT0500");
        let mut out = Vec::new();
        universe.write_name(41, &mut out);
        assert_eq!(out, b"LT0042");
        for i in 0..500 {
            assert_eq!(universe.index(universe.name(i).as_bytes()), Some(i));
        }
        assert_eq!(universe.index(b"LT0000"), None);
        assert_eq!(universe.index(b"LT0501"), None);
        assert_eq!(universe.index(b"LT42"), None);
        assert_eq!(universe.index(b"SYN0001"), None);
        let wide = Universe::new("S", 20_000);
        assert_eq!(wide.name(0), "S00001");
        assert_eq!(wide.index(b"S20000"), Some(19_999));
    }

    #[test]
    fn interner_numbers_foreign_symbols_after_the_universe() {
        let universe = Universe::new("LT", 10);
        let mut interner = Interner::new(&universe);
        assert_eq!(interner.index(&universe, b"LT0003"), 2);
        assert_eq!(interner.index(&universe, b"BINANCE:BTCUSDT"), 10);
        assert_eq!(interner.index(&universe, b"BINANCE:ETHUSDT"), 11);
        assert_eq!(interner.index(&universe, b"BINANCE:BTCUSDT"), 10);
    }
}
