//! Wall-clock time in nanoseconds since the Unix epoch, read at the edges only.
//!
//! Sources stamp `rx` with it when a line arrives; shards read it once per batch to measure
//! ingest-to-write latency. Logic below the edges takes `now` as an argument instead.

use std::time::{SystemTime, UNIX_EPOCH};

/// Nanoseconds since the Unix epoch (0 if the clock is before 1970).
pub fn now_ns() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| d.as_nanos() as u64)
}
