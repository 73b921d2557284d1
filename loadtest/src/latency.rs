//! Latency accounting: end-to-end delay of each delivered tick, in an HdrHistogram.
//!
//! A delivery's latency is its receive time minus the tick's *scheduled* send time (see
//! [`crate::schedule`]), both wall-clock ns since the epoch, so a backlog anywhere between the
//! schedule and the client's read (feeder, server, kernel buffers) counts. Values are kept in
//! microseconds with three significant digits up to an hour; a negative value (a clock step)
//! counts as 0. Each client thread has its own histograms; the run merges them at the end.

use hdrhistogram::Histogram;

/// Highest trackable latency, µs (an hour: anything beyond is clamped, never dropped).
const MAX_US: u64 = 3_600_000_000;
/// Significant decimal digits kept.
const SIGFIGS: u8 = 3;

/// A histogram of latencies.
#[derive(Debug, Clone)]
pub struct LatencyHistogram {
    us: Histogram<u64>,
}

impl Default for LatencyHistogram {
    fn default() -> Self {
        Self::new()
    }
}

/// Percentiles of a [`LatencyHistogram`], in milliseconds.
#[derive(Debug, Clone, Copy, Default, PartialEq, serde::Serialize)]
pub struct LatencySummary {
    /// Number of values.
    pub count: u64,
    /// Mean.
    pub mean_ms: f64,
    /// Median.
    pub p50_ms: f64,
    /// 90th percentile.
    pub p90_ms: f64,
    /// 99th percentile.
    pub p99_ms: f64,
    /// 99.9th percentile.
    pub p999_ms: f64,
    /// Largest value.
    pub max_ms: f64,
}

impl LatencyHistogram {
    /// An empty histogram.
    pub fn new() -> Self {
        Self {
            us: Histogram::new_with_bounds(1, MAX_US, SIGFIGS)
                .expect("constant histogram bounds are valid"),
        }
    }

    /// Records a latency in ns (negative: 0).
    pub fn record_ns(&mut self, ns: i64) {
        let us = (ns.max(0) as u64) / 1_000;
        self.us.saturating_record(us.min(MAX_US));
    }

    /// Number of recorded values.
    pub fn count(&self) -> u64 {
        self.us.len()
    }

    /// Adds every value of `other`.
    pub fn merge(&mut self, other: &LatencyHistogram) {
        // Same bounds on both sides: adding cannot fail.
        let _ = self.us.add(&other.us);
    }

    /// The percentiles.
    pub fn summary(&self) -> LatencySummary {
        if self.us.is_empty() {
            return LatencySummary::default();
        }
        let ms = |us: u64| us as f64 / 1_000.0;
        LatencySummary {
            count: self.us.len(),
            mean_ms: self.us.mean() / 1_000.0,
            p50_ms: ms(self.us.value_at_quantile(0.50)),
            p90_ms: ms(self.us.value_at_quantile(0.90)),
            p99_ms: ms(self.us.value_at_quantile(0.99)),
            p999_ms: ms(self.us.value_at_quantile(0.999)),
            max_ms: ms(self.us.max()),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn percentiles_of_a_known_distribution() {
        let mut h = LatencyHistogram::new();
        // 1..=1000 ms, once each.
        for ms in 1..=1000i64 {
            h.record_ns(ms * 1_000_000);
        }
        let s = h.summary();
        assert_eq!(s.count, 1000);
        let close = |a: f64, b: f64| (a - b).abs() <= b * 0.002 + 0.001;
        assert!(close(s.p50_ms, 500.0), "{s:?}");
        assert!(close(s.p90_ms, 900.0), "{s:?}");
        assert!(close(s.p99_ms, 990.0), "{s:?}");
        assert!(close(s.p999_ms, 999.0), "{s:?}");
        assert!(close(s.max_ms, 1000.0), "{s:?}");
        assert!(close(s.mean_ms, 500.5), "{s:?}");
    }

    #[test]
    fn negative_zero_and_huge_values_are_kept() {
        let mut h = LatencyHistogram::new();
        h.record_ns(-5_000);
        h.record_ns(0);
        h.record_ns(i64::MAX);
        let s = h.summary();
        assert_eq!(s.count, 3);
        assert_eq!(s.p50_ms, 0.0);
        assert!(s.max_ms >= 3_600_000.0 * 0.999, "{s:?}");
    }

    #[test]
    fn merge_adds_counts() {
        let mut a = LatencyHistogram::new();
        let mut b = LatencyHistogram::new();
        a.record_ns(1_000_000);
        b.record_ns(3_000_000);
        b.record_ns(3_000_000);
        a.merge(&b);
        assert_eq!(a.count(), 3);
        assert!((a.summary().p50_ms - 3.0).abs() < 0.01);
        assert_eq!(LatencyHistogram::new().summary(), LatencySummary::default());
    }
}
