//! Coalescing: how often at most a shard hands new ticks to its streams (`--coalesce`).
//!
//! Place in the flow: the shard's dispatcher asks [`Window::current`] after each wake-up by the
//! sequencer and, if the previous dispatch round started less than a window ago, waits out the
//! rest before dispatching. Ticks that arrive meanwhile wait in the ring, so each stream then
//! gets all of them in one write: at low per-stream rates (100 ticks/s per stream) every tick
//! would otherwise cost one socket write per stream, and the kernel's per-send cost dominates
//! (BENCHMARKS.md, "coalescing"). The first tick after a quiet window goes out at once.
//!
//! In `auto` mode each shard's housekeeping measures the fraction of wall time its thread
//! spent on a CPU or waiting for one over the last sample ([`ThreadClock`]), publishes it
//! (`ShardMetrics::busy_permille`) and feeds [`Window::observe`] the sum over all shards, in
//! CPUs: what sending costs the process, however it is split. Below [`LOW_BUSY`] the window
//! halves (to none), above [`HIGH_BUSY`] it doubles (from [`MIN_WINDOW`] up to the
//! `--coalesce-max` cap), in between it holds. The gap between the two is the hysteresis that
//! keeps it from flapping: widening the window lowers the busy fraction it reacts to.
//!
//! Why the sum and not each shard's own fraction: the same load split over more shards reads
//! lower on each (1k streams x 100 ticks/s: 0.35-0.42 on one shard, 0.30-0.36 on each of two),
//! so a per-shard rule made the window, and the CPU per event, depend on `--shards` and on the
//! machine's core count (issue 13: pinned to one CPU, one shard, window open; unpinned, two,
//! shut). A saturated shard still opens it: the sum is never below any one shard's fraction.
//! Must never block or sleep itself; it only computes the window.

use std::str::FromStr;
use std::time::Duration;

/// The longest coalescing window accepted (`--coalesce`, `--coalesce-max`).
pub const MAX_WINDOW: Duration = Duration::from_secs(1);
/// The widest window of `--coalesce auto` unless `--coalesce-max` says otherwise.
pub const DEFAULT_AUTO_MAX: Duration = Duration::from_millis(16);

/// How often at most a shard hands new ticks to its streams (`--coalesce`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Coalesce {
    /// Always this window (zero: every tick at once).
    Fixed(Duration),
    /// No window while the shard is lightly loaded, up to `max` as it gets busy.
    Auto {
        /// The widest window.
        max: Duration,
    },
}

impl FromStr for Coalesce {
    type Err = String;

    /// `auto` (up to [`DEFAULT_AUTO_MAX`]) or a duration (`5ms`, `0s`).
    fn from_str(text: &str) -> Result<Self, String> {
        if text.trim().eq_ignore_ascii_case("auto") {
            return Ok(Coalesce::Auto {
                max: DEFAULT_AUTO_MAX,
            });
        }
        humantime::parse_duration(text)
            .map(Coalesce::Fixed)
            .map_err(|e| format!("expected `auto` or a duration such as 5ms: {e}"))
    }
}

/// Summed busy fraction of all shards, in CPUs, above which `auto` widens the window: once
/// sending takes a quarter of a CPU, packing ticks saves a share of the machine worth a few
/// milliseconds of latency. At 1k streams x 100 ticks/s the shards sum to 0.35-0.7 of a CPU
/// with no window (one or two shards, 2 cores) and to 0.24-0.41 with a 16 ms one, well above
/// [`LOW_BUSY`] (issue 13,
/// BENCHMARKS.md "Session 6" and "Session 7"); 0.5 per shard, the first rule, left two
/// shards at 0.3 each unbatched.
pub const HIGH_BUSY: f64 = 0.25;
/// Summed busy fraction below which `auto` narrows the window: half of [`HIGH_BUSY`], so the drop a
/// 16 ms window brings (1.5-2 ticks per write) does not close it again.
pub const LOW_BUSY: f64 = 0.125;
/// The first step up from no window (tokio's timer has a 1 ms resolution).
pub const MIN_WINDOW: Duration = Duration::from_millis(1);
/// How often `auto` samples the shard's busy fraction.
pub const SAMPLE_EVERY: Duration = Duration::from_millis(100);

/// A shard's coalescing window.
#[derive(Debug, Clone)]
pub struct Window {
    mode: Coalesce,
    current: Duration,
}

impl Window {
    /// The window of `mode`, starting with none in `auto` mode.
    pub fn new(mode: Coalesce) -> Self {
        let current = match mode {
            Coalesce::Fixed(window) => window,
            Coalesce::Auto { .. } => Duration::ZERO,
        };
        Self { mode, current }
    }

    /// Whether the window follows the load.
    pub fn is_auto(&self) -> bool {
        matches!(self.mode, Coalesce::Auto { .. })
    }

    /// The window now.
    pub fn current(&self) -> Duration {
        self.current
    }

    /// Adapts an `auto` window to the shards' summed busy fraction over the last sample (in
    /// CPUs: 0 up to the shard count); a fixed window does not change.
    pub fn observe(&mut self, busy: f64) -> Duration {
        let Coalesce::Auto { max } = self.mode else {
            return self.current;
        };
        if busy > HIGH_BUSY {
            self.current = (self.current * 2).clamp(MIN_WINDOW.min(max), max);
        } else if busy < LOW_BUSY {
            self.current /= 2;
            if self.current < MIN_WINDOW {
                self.current = Duration::ZERO;
            }
        }
        self.current
    }
}

/// How much of the wall time the calling thread wanted a CPU, read from
/// `/proc/thread-self/schedstat`: nanoseconds on a CPU plus nanoseconds runnable but waiting in
/// a run queue. The wait counts because a shard that competes for its core (with the other
/// shards, the feeds, or a load generator on the same machine) delays its ticks by that much
/// already: packing them into fewer writes then costs no extra latency and gives the CPU back.
/// Counting only time on a CPU, two unpinned shards on two busy cores each looked 30% busy,
/// so `auto` never opened a window while the machine ran out of CPU (issue 13). A file read
/// rather than `clock_gettime(CLOCK_THREAD_CPUTIME_ID)` keeps the crate free of `unsafe` FFI;
/// it is read ten times a second per shard.
pub struct ThreadClock {
    last: Duration,
    last_wall: std::time::Instant,
}

impl ThreadClock {
    /// Starts measuring the calling thread; `None` if the kernel does not report it.
    pub fn start() -> Option<Self> {
        Some(Self {
            last: thread_demand()?,
            last_wall: std::time::Instant::now(),
        })
    }

    /// The fraction of wall time the calling thread spent on a CPU or waiting for one since
    /// the previous call (0..=1), or `None` if it can no longer be read.
    pub fn busy(&mut self) -> Option<f64> {
        let demand = thread_demand()?;
        let wall = std::time::Instant::now();
        let spent = demand.saturating_sub(self.last).as_secs_f64();
        let elapsed = wall.duration_since(self.last_wall).as_secs_f64();
        self.last = demand;
        self.last_wall = wall;
        if elapsed <= 0.0 {
            return None;
        }
        Some((spent / elapsed).clamp(0.0, 1.0))
    }
}

/// Time on a CPU plus time waiting for one, of the calling thread so far.
fn thread_demand() -> Option<Duration> {
    let text = std::fs::read_to_string("/proc/thread-self/schedstat").ok()?;
    parse_schedstat(&text)
}

/// The first two fields of a `schedstat` line: nanoseconds on a CPU and nanoseconds waiting in
/// a run queue, summed.
fn parse_schedstat(text: &str) -> Option<Duration> {
    let mut fields = text.split_ascii_whitespace();
    let on_cpu = fields.next()?.parse::<u64>().ok()?;
    let waiting = fields.next()?.parse::<u64>().ok()?;
    Some(Duration::from_nanos(on_cpu.saturating_add(waiting)))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ms(n: u64) -> Duration {
        Duration::from_millis(n)
    }

    fn auto(max: u64) -> Window {
        Window::new(Coalesce::Auto { max: ms(max) })
    }

    #[test]
    fn fixed_windows_never_move() {
        for window in [Duration::ZERO, ms(5)] {
            let mut w = Window::new(Coalesce::Fixed(window));
            assert!(!w.is_auto());
            for busy in [0.0, 0.4, 0.99, 1.0] {
                assert_eq!(w.observe(busy), window);
            }
        }
    }

    #[test]
    fn auto_opens_under_load_up_to_its_cap_and_closes_when_idle() {
        let mut w = auto(16);
        assert_eq!(w.current(), Duration::ZERO, "no window to start with");
        let opening: Vec<_> = (0..7).map(|_| w.observe(0.9)).collect();
        assert_eq!(
            opening,
            [ms(1), ms(2), ms(4), ms(8), ms(16), ms(16), ms(16)]
        );
        let closing: Vec<_> = (0..6).map(|_| w.observe(0.1)).collect();
        assert_eq!(
            closing,
            [ms(8), ms(4), ms(2), ms(1), Duration::ZERO, Duration::ZERO]
        );
    }

    #[test]
    fn auto_holds_between_the_thresholds() {
        let mut w = auto(16);
        w.observe(0.9);
        w.observe(0.9);
        for busy in [LOW_BUSY, 0.15, 0.2, HIGH_BUSY] {
            assert_eq!(w.observe(busy), ms(2), "busy {busy}");
        }
        // An idle shard never opens a window.
        let mut idle = auto(16);
        for busy in [0.0, 0.1, 0.24, 0.2] {
            assert_eq!(idle.observe(busy), Duration::ZERO);
        }
    }

    #[test]
    fn the_same_load_opens_the_window_however_many_shards_share_it() {
        use std::sync::atomic::Ordering;
        // 1k x 100 on 2 cores: one shard at 0.40, or four at 0.12 each (under the threshold
        // one by one), or two at 0.33: every split opens the window.
        for split in [&[400][..], &[120, 120, 120, 120], &[330, 330]] {
            let metrics = crate::metrics::Metrics::new(split.len());
            for (id, permille) in split.iter().enumerate() {
                metrics
                    .shard(id)
                    .busy_permille
                    .store(*permille, Ordering::Relaxed);
            }
            let mut w = auto(16);
            assert_eq!(w.observe(metrics.shards_busy()), ms(1), "{split:?}");
        }
        // A process that is quiet as a whole stays without a window, however split.
        let metrics = crate::metrics::Metrics::new(8);
        for id in 0..8 {
            metrics.shard(id).busy_permille.store(15, Ordering::Relaxed);
        }
        assert_eq!(auto(16).observe(metrics.shards_busy()), Duration::ZERO);
    }

    #[test]
    fn a_cap_below_the_first_step_is_respected() {
        let mut w = Window::new(Coalesce::Auto {
            max: Duration::from_micros(300),
        });
        assert_eq!(w.observe(1.0), Duration::from_micros(300));
        assert_eq!(w.observe(1.0), Duration::from_micros(300));
        assert_eq!(w.observe(0.0), Duration::ZERO);
    }

    #[test]
    fn schedstat_lines_parse() {
        assert_eq!(
            parse_schedstat("123456789 1000 42\n"),
            Some(Duration::from_nanos(123_457_789)),
            "on a CPU plus waiting for one"
        );
        assert_eq!(parse_schedstat(""), None);
        assert_eq!(parse_schedstat("5"), None);
        assert_eq!(parse_schedstat("x 1 2"), None);
    }

    #[test]
    fn the_thread_clock_sees_this_thread_work() {
        // Linux with schedstat, as CI and every supported host (without it `auto` keeps no
        // window, and the shard logs why).
        let mut clock = ThreadClock::start().expect("/proc/thread-self/schedstat");
        let until = std::time::Instant::now() + Duration::from_millis(30);
        let mut spin = 0u64;
        while std::time::Instant::now() < until {
            spin = std::hint::black_box(spin.wrapping_add(1));
        }
        let busy = clock.busy().expect("readable twice");
        assert!(busy > 0.0 && busy <= 1.0, "busy {busy}");
        std::thread::sleep(Duration::from_millis(60));
        let idle = clock.busy().expect("readable");
        assert!(idle < 0.5, "a sleeping thread is not busy: {idle}");
    }

    #[test]
    fn a_thread_that_waits_for_a_cpu_counts_as_busy() {
        // Three spinning threads pinned to the CPU this thread runs on: this thread is
        // runnable all the time but on the CPU about a quarter of it.
        let Ok(cpu) = nix::sched::sched_getcpu() else {
            return;
        };
        let mut set = nix::sched::CpuSet::new();
        if set.set(cpu).is_err() {
            return;
        }
        let pin = move || nix::sched::sched_setaffinity(nix::unistd::Pid::from_raw(0), &set);
        if pin().is_err() {
            return;
        }
        let stop = std::sync::Arc::new(std::sync::atomic::AtomicBool::new(false));
        let spinners: Vec<_> = (0..3)
            .map(|_| {
                let stop = stop.clone();
                std::thread::spawn(move || {
                    let _ = pin();
                    while !stop.load(std::sync::atomic::Ordering::Relaxed) {
                        std::hint::spin_loop();
                    }
                })
            })
            .collect();
        let mut clock = ThreadClock::start().expect("/proc/thread-self/schedstat");
        let until = std::time::Instant::now() + Duration::from_millis(200);
        while std::time::Instant::now() < until {
            std::hint::spin_loop();
        }
        let busy = clock.busy().expect("readable twice");
        stop.store(true, std::sync::atomic::Ordering::Relaxed);
        for spinner in spinners {
            let _ = spinner.join();
        }
        assert!(busy > HIGH_BUSY, "runnable the whole time: {busy}");
    }
}
