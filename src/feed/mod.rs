//! Feed handling: sources of ticks, their decoders, and the sequencer that numbers them.
//!
//! Sources ([`synthetic`], [`tcp`]) run on the control runtime, decode lines into
//! [`crate::tick::Tick`]s ([`native`]) and hand batches to the [`sequencer`], the one thread
//! that writes the ring and the latest-price cache. A bad line is a counted, rate-limited logged
//! [`Reject`]; it never closes the feed connection and never stops the process.
//! Nothing here may block a shard or touch a subscriber.

pub mod lines;
pub mod native;
pub mod sequencer;
pub mod synthetic;
pub mod tcp;
pub mod venue;

use std::time::{Duration, Instant};

use crate::tick::Reject;

/// Logs rejected lines at a bounded rate: the first [`RejectLog::BURST`] in each second, then a
/// count of what was suppressed. Every reject is still counted in the metrics.
pub(crate) struct RejectLog {
    source: String,
    window_start: Instant,
    logged: u32,
    suppressed: u64,
}

impl RejectLog {
    /// Lines logged per second before suppression.
    const BURST: u32 = 10;

    pub(crate) fn new(source: impl Into<String>) -> Self {
        Self {
            source: source.into(),
            window_start: Instant::now(),
            logged: 0,
            suppressed: 0,
        }
    }

    /// Logs (or counts as suppressed) one reject; `line_no` is 1-based within the connection.
    pub(crate) fn reject(&mut self, reason: Reject, line_no: u64, line: &[u8]) {
        let now = Instant::now();
        if now.duration_since(self.window_start) >= Duration::from_secs(1) {
            if self.suppressed > 0 {
                tracing::warn!(source = %self.source, suppressed = self.suppressed, "more feed lines rejected (not logged)");
            }
            self.window_start = now;
            self.logged = 0;
            self.suppressed = 0;
        }
        if self.logged < Self::BURST {
            self.logged += 1;
            let shown = &line[..line.len().min(200)];
            tracing::warn!(source = %self.source, line_no, reason = reason.as_str(), line = %String::from_utf8_lossy(shown), "feed line rejected: {reason}");
        } else {
            self.suppressed += 1;
        }
    }
}
