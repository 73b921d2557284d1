//! The wall clock, read only at the edges (feeder send, client read, report).
//!
//! Latency compares a receive time with a scheduled send time stamped into the tick, both wall
//! clock (ns since the epoch) because the stamp travels through the server and, for tickcast,
//! sits next to the server's own `rx` stamp. Both ends run on the same machine, so they share
//! the clock; a step of the clock during a run shows up as a latency outlier (negative values
//! count as 0).

use std::time::{Instant, SystemTime, UNIX_EPOCH};

/// Nanoseconds since the Unix epoch, now.
pub fn epoch_ns() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| d.as_nanos() as u64)
}

/// One instant read on both clocks: offsets measured on the monotonic clock map to wall-clock
/// stamps.
#[derive(Debug, Clone, Copy)]
pub struct Epoch {
    /// The monotonic reading.
    pub instant: Instant,
    /// The wall-clock reading, ns since the Unix epoch.
    pub ns: u64,
}

impl Epoch {
    /// Now.
    pub fn now() -> Self {
        Self {
            instant: Instant::now(),
            ns: epoch_ns(),
        }
    }

    /// Monotonic ns elapsed since this epoch.
    pub fn elapsed_ns(&self) -> u64 {
        self.instant.elapsed().as_nanos() as u64
    }
}
