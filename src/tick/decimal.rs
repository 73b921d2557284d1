//! Exact decimal numbers for prices and sizes.
//!
//! A [`Decimal`] is the source's digits as an integer mantissa and a count of fractional digits,
//! so `61837.63000000` stays `61837.63000000` from the feed line to the SSE frame. Nothing here
//! ever converts through `f64`: binary floating point cannot hold `0.1`, and a market-data
//! server that prints `0.30000000000000004` for a price is wrong.
//!
//! Parsing is hand-written because the crates that parse decimals (`rust_decimal`, `bigdecimal`)
//! either normalise trailing zeros away or allocate; we need the exact source text back, cheaply.

use std::fmt;
use std::num::NonZeroU8;

use bytes::BufMut;

/// The largest number of fractional digits kept. 18 covers every venue we know (Binance uses 8,
/// crypto sizes up to 18 on some chains).
pub const MAX_SCALE: u8 = 18;

/// An exact decimal: `mantissa * 10^-scale`, printed with exactly `scale` fractional digits.
///
/// The scale is stored plus one in a `NonZeroU8`, so `Option<Decimal>` is 16 bytes, not 24: a
/// tick carries six of them and every byte of a tick is paid again in each ring slot.
#[derive(Clone, Copy, PartialEq, Eq, Hash)]
pub struct Decimal {
    mantissa: i64,
    scale_plus_one: NonZeroU8,
}

/// Why a decimal's text was refused.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum DecimalError {
    /// The text is not a JSON-style decimal number (`-?digits[.digits][e[+-]digits]`).
    #[error("not a decimal number")]
    Syntax,
    /// More significant digits, or a larger magnitude, than an `i64` mantissa holds.
    #[error("too many digits for an exact decimal")]
    Overflow,
}

impl Decimal {
    /// Builds a decimal from its parts. `scale` above 18 (`MAX_SCALE`) is refused.
    pub fn new(mantissa: i64, scale: u8) -> Option<Self> {
        if scale > MAX_SCALE {
            return None;
        }
        NonZeroU8::new(scale + 1).map(|scale_plus_one| Self {
            mantissa,
            scale_plus_one,
        })
    }

    /// The integer mantissa (`12345` for `123.45`).
    pub fn mantissa(self) -> i64 {
        self.mantissa
    }

    /// Number of fractional digits (`2` for `123.45`).
    pub fn scale(self) -> u8 {
        self.scale_plus_one.get() - 1
    }

    /// True when strictly greater than zero.
    pub fn is_positive(self) -> bool {
        self.mantissa > 0
    }

    /// True when below zero.
    pub fn is_negative(self) -> bool {
        self.mantissa < 0
    }

    /// Parses JSON number text exactly: `101.25`, `-3`, `1e-8`, `61837.63000000`.
    ///
    /// The digits are kept as written (trailing zeros too). An exponent moves the decimal
    /// point: `1.5e3` becomes `1500`, `15e-1` becomes `1.5`.
    pub fn parse(text: &[u8]) -> Result<Self, DecimalError> {
        let mut i = 0;
        let negative = text.first() == Some(&b'-');
        if negative {
            i += 1;
        }
        let int_start = i;
        while i < text.len() && text[i].is_ascii_digit() {
            i += 1;
        }
        let int_digits = &text[int_start..i];
        // JSON grammar: at least one integer digit, and no leading zero before another digit.
        if int_digits.is_empty() || (int_digits.len() > 1 && int_digits[0] == b'0') {
            return Err(DecimalError::Syntax);
        }
        let mut frac_digits: &[u8] = &[];
        if i < text.len() && text[i] == b'.' {
            i += 1;
            let start = i;
            while i < text.len() && text[i].is_ascii_digit() {
                i += 1;
            }
            frac_digits = &text[start..i];
            if frac_digits.is_empty() {
                return Err(DecimalError::Syntax);
            }
        }
        let mut exponent: i32 = 0;
        if i < text.len() && (text[i] == b'e' || text[i] == b'E') {
            i += 1;
            let exp_negative = match text.get(i) {
                Some(b'-') => {
                    i += 1;
                    true
                }
                Some(b'+') => {
                    i += 1;
                    false
                }
                _ => false,
            };
            let start = i;
            while i < text.len() && text[i].is_ascii_digit() {
                if exponent > 1000 {
                    return Err(DecimalError::Overflow);
                }
                exponent = exponent * 10 + i32::from(text[i] - b'0');
                i += 1;
            }
            if i == start {
                return Err(DecimalError::Syntax);
            }
            if exp_negative {
                exponent = -exponent;
            }
        }
        if i != text.len() {
            return Err(DecimalError::Syntax);
        }

        let mut mantissa: i64 = 0;
        for &d in int_digits.iter().chain(frac_digits) {
            mantissa = mantissa
                .checked_mul(10)
                .and_then(|m| m.checked_add(i64::from(d - b'0')))
                .ok_or(DecimalError::Overflow)?;
        }
        let mut scale = frac_digits.len() as i32 - exponent;
        while scale < 0 {
            mantissa = mantissa.checked_mul(10).ok_or(DecimalError::Overflow)?;
            scale += 1;
        }
        if scale > i32::from(MAX_SCALE) {
            return Err(DecimalError::Overflow);
        }
        if negative {
            mantissa = -mantissa;
        }
        // 0 <= scale <= MAX_SCALE here, so `new` cannot refuse it.
        Self::new(mantissa, scale as u8).ok_or(DecimalError::Overflow)
    }

    /// Appends the exact text (`-0.50`, `61837.63000000`) to `out`, without allocating beyond
    /// `out`'s growth.
    pub fn write_to<B: BufMut>(self, out: &mut B) {
        let mut buf = itoa::Buffer::new();
        let digits = buf.format(self.mantissa.unsigned_abs()).as_bytes();
        if self.mantissa < 0 {
            out.put_u8(b'-');
        }
        let scale = usize::from(self.scale());
        if scale == 0 {
            out.put_slice(digits);
        } else if digits.len() > scale {
            let split = digits.len() - scale;
            out.put_slice(&digits[..split]);
            out.put_u8(b'.');
            out.put_slice(&digits[split..]);
        } else {
            out.put_slice(b"0.");
            out.put_bytes(b'0', scale - digits.len());
            out.put_slice(digits);
        }
    }
}

impl fmt::Display for Decimal {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let mut out = Vec::with_capacity(24);
        self.write_to(&mut out);
        // write_to only emits ASCII digits, '-' and '.'.
        f.write_str(&String::from_utf8_lossy(&out))
    }
}

impl fmt::Debug for Decimal {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt::Display::fmt(self, f)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn roundtrip(s: &str) -> String {
        Decimal::parse(s.as_bytes()).unwrap().to_string()
    }

    #[test]
    fn keeps_the_source_digits() {
        assert_eq!(roundtrip("101.25"), "101.25");
        assert_eq!(roundtrip("61837.63000000"), "61837.63000000");
        assert_eq!(roundtrip("0.1"), "0.1");
        assert_eq!(roundtrip("0.00000001"), "0.00000001");
        assert_eq!(roundtrip("300"), "300");
        assert_eq!(roundtrip("-0.50"), "-0.50");
        assert_eq!(roundtrip("0"), "0");
        // 0.1 + 0.2 in f64 is 0.30000000000000004; the decimal never goes through f64.
        assert_eq!(roundtrip("0.3"), "0.3");
        assert_eq!(roundtrip("9223372036854775807"), "9223372036854775807");
    }

    #[test]
    fn exponents_move_the_point() {
        assert_eq!(roundtrip("1.5e3"), "1500");
        assert_eq!(roundtrip("15e-1"), "1.5");
        assert_eq!(roundtrip("1E-8"), "0.00000001");
        assert_eq!(roundtrip("2.50E+1"), "25.0");
    }

    #[test]
    fn refuses_what_is_not_a_json_number() {
        for bad in [
            "", "-", ".5", "5.", "01", "1.2.3", "1e", "1e+", "abc", "NaN", "Infinity", "1,5", " 1",
            "0x10", "+1",
        ] {
            assert_eq!(
                Decimal::parse(bad.as_bytes()),
                Err(DecimalError::Syntax),
                "{bad:?} must be refused"
            );
        }
    }

    #[test]
    fn refuses_what_does_not_fit() {
        assert_eq!(
            Decimal::parse(b"9223372036854775808"),
            Err(DecimalError::Overflow)
        );
        assert_eq!(Decimal::parse(b"1e400"), Err(DecimalError::Overflow));
        assert_eq!(
            Decimal::parse(b"0.0000000000000000001"),
            Err(DecimalError::Overflow)
        );
        assert_eq!(
            Decimal::parse(b"1e99999999999999"),
            Err(DecimalError::Overflow)
        );
    }

    #[test]
    fn option_costs_no_space_and_scale_round_trips() {
        assert_eq!(std::mem::size_of::<Option<Decimal>>(), 16);
        for scale in 0..=MAX_SCALE {
            assert_eq!(Decimal::new(5, scale).unwrap().scale(), scale);
        }
        assert_eq!(Decimal::new(5, MAX_SCALE + 1), None);
        assert_eq!(Decimal::new(5, u8::MAX), None);
    }

    #[test]
    fn sign_checks() {
        assert!(Decimal::parse(b"0.01").unwrap().is_positive());
        assert!(!Decimal::parse(b"0.00").unwrap().is_positive());
        assert!(Decimal::parse(b"-1").unwrap().is_negative());
    }
}
