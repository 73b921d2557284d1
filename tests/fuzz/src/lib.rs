//! The checks behind tickcast's fuzz targets: each `fuzz_targets/*.rs` is a one-line call into
//! this crate, so the invariants live in one place and a reproducer can be replayed from a
//! plain test as well as from libFuzzer.
//!
//! - [`decode`]: one line through a venue [`tickcast::feed::venue::Decoder`] (or the native
//!   decoder): never a panic, `out` untouched on `Err`, every tick well formed, the same answer
//!   from a fresh decoder as from one that decoded other lines first, and for native lines the
//!   exact decimal text of the input.
//! - [`container`]: arbitrary bytes as a recorded file, plain or compressed, read through
//!   [`tickcast::replay::container::RecordReader`] against a line-by-line model of the file.
//! - [`framer`]: a byte stream cut into random reads through
//!   [`tickcast::feed::lines::LineFramer`], against the same kind of model.
//! - [`auth`]: access tokens through [`tickcast::auth`]: the lookup in a request's headers,
//!   query and cookies, [`tickcast::auth::Verifier::verify`] with an HS256 key on raw input
//!   and on signed arbitrary claims, and minting round trips.
//!
//! A failed check panics with what was expected and what came out; libFuzzer saves the input.

pub mod auth;
pub mod container;
pub mod decode;
pub mod framer;
pub mod query;

/// A small deterministic generator (xorshift64*), seeded from the input, for the choices a
/// target makes beyond the bytes themselves (read sizes). Deterministic so that a saved
/// reproducer replays the same way.
#[derive(Debug, Clone)]
pub struct Rng(u64);

impl Rng {
    /// A generator seeded from `seed` (any value, zero included).
    pub fn new(seed: u64) -> Self {
        Self(seed ^ 0x9E37_79B9_7F4A_7C15 | 1)
    }

    /// The next pseudo-random value.
    pub fn next_u64(&mut self) -> u64 {
        self.0 ^= self.0 >> 12;
        self.0 ^= self.0 << 25;
        self.0 ^= self.0 >> 27;
        self.0.wrapping_mul(0x2545_F491_4F6C_DD1D)
    }

    /// A value in `1..=max` (`max` at least 1), biased to small values half of the time so
    /// that one-byte and few-byte reads, where framing bugs hide, come up often.
    pub fn read_size(&mut self, max: usize) -> usize {
        let max = max.max(1);
        let bound = if self.next_u64() & 1 == 0 {
            max.min(8)
        } else {
            max
        };
        1 + (self.next_u64() % bound as u64) as usize
    }
}
