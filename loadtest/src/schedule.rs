//! Open-loop timing: when each tick *should* be sent, decided before the run, never by how the
//! server keeps up.
//!
//! A closed-loop generator (send, wait, send) slows down with the server and hides the backlog
//! it causes: coordinated omission. Here every tick has a scheduled offset from the start of
//! the feed, fixed by the rate (and the bursts), and the feeder stamps that *scheduled* time
//! into the tick (`ts`). If the feeder falls behind (the server stops reading its feed, the
//! feeder thread is descheduled), the ticks go out late but keep their scheduled stamps, so the
//! receivers see the delay as latency. [`TickPlan`] is the schedule plus the symbol of each
//! tick; it is deterministic, so the totals per symbol are known before the first tick.

use std::time::Duration;

use crate::mix::{Rng, Zipf};

/// Periodic bursts of a higher rate.
#[derive(Debug, Clone, Copy, PartialEq, serde::Serialize)]
pub struct Burst {
    /// The rate during a burst, as a multiple of the base rate.
    pub factor: f64,
    /// A burst starts at every multiple of this (not at 0).
    #[serde(with = "crate::report::seconds")]
    pub every: Duration,
    /// How long each burst lasts.
    #[serde(with = "crate::report::seconds")]
    pub length: Duration,
}

impl Burst {
    /// Whether the offset `at_ns` from the start of the feed is inside a burst.
    pub fn contains(&self, at_ns: u64) -> bool {
        let every = self.every.as_nanos() as u64;
        every > 0 && at_ns >= every && at_ns % every < self.length.as_nanos() as u64
    }
}

/// How ticks are spread over symbols.
#[derive(Debug, Clone)]
enum Spread {
    /// Symbol `i mod n` for the `i`-th tick: every symbol at the same rate, evenly spaced.
    RoundRobin,
    /// Drawn from a Zipf distribution (popular symbols tick more).
    Zipf(Zipf, Rng),
}

/// One tick of the plan.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct PlannedTick {
    /// 0-based position in the whole plan.
    pub index: u64,
    /// The symbol's index in the universe.
    pub symbol: u32,
    /// 1-based count of this symbol's ticks (what the feeder puts in `qty`).
    pub count: u32,
    /// Scheduled send time, ns after the start of the feed.
    pub at_ns: u64,
}

/// The settings of a [`TickPlan`].
#[derive(Debug, Clone)]
pub struct PlanSettings {
    /// Ticks per second outside bursts (over all symbols).
    pub rate: f64,
    /// Bursts, if any.
    pub burst: Option<Burst>,
    /// How long the feed runs; ticks are scheduled in `[0, duration)`.
    pub duration: Duration,
    /// Symbols in the universe.
    pub symbols: u32,
    /// Zipf exponent of the symbol of each tick; 0 is round robin.
    pub tick_zipf: f64,
    /// Seed for the Zipf draws.
    pub seed: u64,
}

/// Every tick of a feed, in scheduled order.
#[derive(Debug, Clone)]
pub struct TickPlan {
    settings: PlanSettings,
    spread: Spread,
    next_index: u64,
    /// Scheduled time of the next tick, fractional ns (a rate need not divide 1e9).
    next_at: f64,
    counts: Vec<u32>,
}

impl TickPlan {
    /// The plan for `settings`.
    pub fn new(settings: PlanSettings) -> Self {
        let spread = if settings.tick_zipf > 0.0 {
            Spread::Zipf(
                Zipf::new(settings.symbols.max(1), settings.tick_zipf),
                Rng::new(settings.seed ^ 0x7469_636b),
            )
        } else {
            Spread::RoundRobin
        };
        let counts = vec![0; settings.symbols as usize];
        Self {
            settings,
            spread,
            next_index: 0,
            next_at: 0.0,
            counts,
        }
    }

    /// Whether the plan sends anything at all.
    pub fn is_empty(&self) -> bool {
        self.settings.rate <= 0.0 || self.settings.symbols == 0 || self.settings.duration.is_zero()
    }

    /// Scheduled time of the next tick (ns after the start), or `None` when the plan is done.
    pub fn peek_at(&self) -> Option<u64> {
        let at = self.next_at as u64;
        (!self.is_empty() && at < self.settings.duration.as_nanos() as u64).then_some(at)
    }

    /// The next tick if it is due at `now_ns` (ns after the start).
    pub fn next_due(&mut self, now_ns: u64) -> Option<PlannedTick> {
        match self.peek_at() {
            Some(at) if at <= now_ns => self.next(),
            _ => None,
        }
    }

    /// How many ticks of each symbol the whole plan sends.
    pub fn totals(&self) -> Vec<u32> {
        let mut plan = self.clone();
        while plan.next().is_some() {}
        plan.counts
    }

    /// How many ticks of each symbol were handed out so far.
    pub fn counts(&self) -> &[u32] {
        &self.counts
    }

    /// The rate at scheduled time `at_ns`.
    fn rate_at(&self, at_ns: u64) -> f64 {
        match self.settings.burst {
            Some(burst) if burst.contains(at_ns) => self.settings.rate * burst.factor,
            _ => self.settings.rate,
        }
    }
}

impl Iterator for TickPlan {
    type Item = PlannedTick;

    fn next(&mut self) -> Option<PlannedTick> {
        let at_ns = self.peek_at()?;
        let symbol = match &mut self.spread {
            Spread::RoundRobin => (self.next_index % u64::from(self.settings.symbols)) as u32,
            Spread::Zipf(zipf, rng) => zipf.sample(rng),
        };
        let count = &mut self.counts[symbol as usize];
        *count += 1;
        let tick = PlannedTick {
            index: self.next_index,
            symbol,
            count: *count,
            at_ns,
        };
        self.next_index += 1;
        self.next_at += 1e9 / self.rate_at(at_ns);
        Some(tick)
    }
}

/// How far behind its schedule a sender ran.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Lateness {
    /// Ticks sent.
    pub sent: u64,
    /// The largest `sent time - scheduled time`, ns.
    pub max_ns: u64,
    /// Sum of `sent time - scheduled time`, ns (for the mean).
    pub total_ns: u64,
}

impl Lateness {
    /// Notes one tick scheduled at `at_ns` going out at `now_ns`.
    pub fn record(&mut self, at_ns: u64, now_ns: u64) {
        let late = now_ns.saturating_sub(at_ns);
        self.sent += 1;
        self.max_ns = self.max_ns.max(late);
        self.total_ns += late;
    }

    /// Adds another sender's figures.
    pub fn merge(&mut self, other: &Lateness) {
        self.sent += other.sent;
        self.max_ns = self.max_ns.max(other.max_ns);
        self.total_ns += other.total_ns;
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::latency::LatencyHistogram;

    fn plan(rate: f64, seconds: u64, symbols: u32) -> TickPlan {
        TickPlan::new(PlanSettings {
            rate,
            burst: None,
            duration: Duration::from_secs(seconds),
            symbols,
            tick_zipf: 0.0,
            seed: 1,
        })
    }

    #[test]
    fn evenly_spaced_round_robin() {
        let ticks: Vec<_> = plan(100.0, 2, 3).collect();
        assert_eq!(ticks.len(), 200);
        assert_eq!(ticks[1].at_ns, 10_000_000);
        assert_eq!(ticks[199].at_ns, 1_990_000_000);
        assert_eq!(
            ticks[..4]
                .iter()
                .map(|t| (t.symbol, t.count))
                .collect::<Vec<_>>(),
            vec![(0, 1), (1, 1), (2, 1), (0, 2)]
        );
        assert_eq!(plan(100.0, 2, 3).totals(), vec![67, 67, 66]);
        assert!(plan(0.0, 2, 3).next().is_none());
    }

    #[test]
    fn bursts_multiply_the_rate_inside_their_windows() {
        let burst = Burst {
            factor: 10.0,
            every: Duration::from_secs(2),
            length: Duration::from_millis(500),
        };
        assert!(!burst.contains(0) && !burst.contains(1_999_999_999));
        assert!(burst.contains(2_000_000_000) && burst.contains(4_499_999_999));
        assert!(!burst.contains(2_500_000_000));
        let plan = TickPlan::new(PlanSettings {
            rate: 100.0,
            burst: Some(burst),
            duration: Duration::from_secs(5),
            symbols: 10,
            tick_zipf: 0.0,
            seed: 1,
        });
        let ticks: Vec<_> = plan.collect();
        let in_bursts = ticks.iter().filter(|t| burst.contains(t.at_ns)).count();
        // 4 s at 100/s + 2 x 0.5 s at 1000/s.
        assert_eq!(ticks.len() - in_bursts, 400);
        assert_eq!(in_bursts, 1000);
    }

    #[test]
    fn zipf_spread_is_deterministic_and_skewed() {
        let make = || {
            TickPlan::new(PlanSettings {
                rate: 10_000.0,
                burst: None,
                duration: Duration::from_secs(1),
                symbols: 100,
                tick_zipf: 1.0,
                seed: 5,
            })
        };
        let totals = make().totals();
        assert_eq!(totals, make().totals());
        assert_eq!(totals.iter().sum::<u32>(), 10_000);
        assert!(totals[0] > totals[9] && totals[9] > totals[99]);
        let mut counts = vec![0u32; 100];
        for tick in make() {
            counts[tick.symbol as usize] += 1;
            assert_eq!(tick.count, counts[tick.symbol as usize]);
        }
    }

    /// Simulates a sender that stalls: it wakes at `wakes` (ms) and sends what is due. Each
    /// delivery is received 1 ms after it is sent. Returns the open-loop latencies (receive -
    /// scheduled, what the load tester reports) and the closed-loop ones (receive - sent).
    fn simulate(wakes: &[u64]) -> (LatencyHistogram, LatencyHistogram, Lateness) {
        let ms = 1_000_000;
        let mut plan = plan(1000.0, 1, 1);
        let mut open = LatencyHistogram::new();
        let mut closed = LatencyHistogram::new();
        let mut lateness = Lateness::default();
        for &wake in wakes {
            let now = wake * ms;
            while let Some(tick) = plan.next_due(now) {
                lateness.record(tick.at_ns, now);
                let received = now + ms;
                open.record_ns(received as i64 - tick.at_ns as i64);
                closed.record_ns((received - now) as i64);
            }
        }
        (open, closed, lateness)
    }

    #[test]
    fn a_stalled_sender_shows_up_as_latency() {
        // On time: a wake-up every ms for one second.
        let steady: Vec<u64> = (0..1000).collect();
        let (open, closed, lateness) = simulate(&steady);
        assert_eq!(open.count(), 1000);
        assert_eq!(open.summary().max_ms, closed.summary().max_ms);
        assert_eq!(lateness.max_ns, 0);

        // Stalled for 500 ms in the middle: ticks 250..750 go out at once, late.
        let stalled: Vec<u64> = (0..250).chain(750..1000).collect();
        let (open, closed, lateness) = simulate(&stalled);
        assert_eq!(open.count(), 1000, "nothing is skipped, only delayed");
        assert_eq!(lateness.max_ns, 500_000_000);
        // Closed loop sees 1 ms everywhere: the stall is invisible (coordinated omission).
        let closed = closed.summary();
        assert!((closed.p99_ms - 1.0).abs() < 0.01, "{closed:?}");
        // Open loop sees it: half the ticks waited, up to 501 ms; the mean is 126.25 ms.
        let open = open.summary();
        assert!((open.max_ms - 501.0).abs() < 1.0, "{open:?}");
        assert!(open.p90_ms > 300.0, "{open:?}");
        assert!(open.p50_ms < 2.0, "{open:?}");
        assert!((open.mean_ms - 126.25).abs() < 1.0, "{open:?}");
    }
}
