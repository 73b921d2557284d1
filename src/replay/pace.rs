//! Pacing: when each recorded message is due, from its recorded time and the replay speed.
//!
//! A plain state machine: the caller passes `now` (monotonic ns) and gets back the instant a
//! record stamped `t` is due. The first record fixes the origin; `speed` divides recorded
//! intervals. Recorded time never goes backwards here (the source clamps small backsteps), so
//! due instants never go backwards either. Must never read the clock or sleep.

use std::str::FromStr;

/// How fast to replay.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum Speed {
    /// `factor` times the recorded speed (1 = as recorded).
    Factor(f64),
    /// As fast as the pipeline goes.
    Max,
}

impl FromStr for Speed {
    type Err = ();

    fn from_str(text: &str) -> Result<Self, ()> {
        let text = text.trim();
        if text.eq_ignore_ascii_case("max") {
            return Ok(Speed::Max);
        }
        let text = text.strip_suffix('x').unwrap_or(text);
        match text.parse::<f64>() {
            Ok(factor) if factor.is_finite() && factor > 0.0 && factor <= 1e9 => {
                Ok(Speed::Factor(factor))
            }
            _ => Err(()),
        }
    }
}

/// The pacing state of one replay pass.
#[derive(Debug, Clone)]
pub struct Pacer {
    speed: Speed,
    /// (recorded time, wall time) of the first record.
    origin: Option<(u64, u64)>,
}

impl Pacer {
    /// A pacer at `speed`.
    pub fn new(speed: Speed) -> Self {
        Self {
            speed,
            origin: None,
        }
    }

    /// Forgets the origin (a new `--loop` pass starts now).
    pub fn reset(&mut self) {
        self.origin = None;
    }

    /// Monotonic wall time (ns) at which a record stamped `recorded` (ns) is due; `None` means
    /// at once (`max`, or the first record).
    pub fn due(&mut self, recorded: u64, now: u64) -> Option<u64> {
        let Speed::Factor(factor) = self.speed else {
            return None;
        };
        let (t0, w0) = *self.origin.get_or_insert((recorded, now));
        let elapsed = recorded.saturating_sub(t0);
        // f64 is fine here: this is a duration to sleep, not a price.
        let scaled = (elapsed as f64 / factor) as u64;
        let due = w0.saturating_add(scaled);
        (due > now).then_some(due)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn speeds_parse() {
        assert_eq!("1".parse::<Speed>(), Ok(Speed::Factor(1.0)));
        assert_eq!("10x".parse::<Speed>(), Ok(Speed::Factor(10.0)));
        assert_eq!("MAX".parse::<Speed>(), Ok(Speed::Max));
        for bad in ["0", "-1", "NaN", "inf", "fast", ""] {
            assert!(bad.parse::<Speed>().is_err(), "{bad}");
        }
    }

    #[test]
    fn recorded_intervals_are_divided_by_the_speed() {
        let mut pacer = Pacer::new(Speed::Factor(10.0));
        assert_eq!(pacer.due(1_000_000_000, 500), None);
        assert_eq!(pacer.due(2_000_000_000, 600), Some(500 + 100_000_000));
        // Already late: due at once.
        assert_eq!(pacer.due(2_000_000_000, 200_000_000), None);
        pacer.reset();
        assert_eq!(pacer.due(9_000_000_000, 7), None);
        assert_eq!(pacer.due(9_000_000_010, 7), Some(8));
    }

    #[test]
    fn max_never_waits() {
        let mut pacer = Pacer::new(Speed::Max);
        assert_eq!(pacer.due(0, 0), None);
        assert_eq!(pacer.due(u64::MAX, 0), None);
    }
}
