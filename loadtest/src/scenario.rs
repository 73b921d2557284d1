//! What a run does: the typed settings of a scenario, and the presets S1-S6 of issue 4.
//!
//! A [`Scenario`] is decided once, before anything connects: the flags pick a [`Preset`] and
//! override any of its fields (see `crate::cli`). It only says *what* load to offer; where to
//! send it (target URL, spawned server, threads) is [`crate::run::Options`].

use std::fmt;
use std::str::FromStr;
use std::time::Duration;

use crate::mix::Mix;
use crate::schedule::Burst;

/// The server under test.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize, clap::ValueEnum)]
#[serde(rename_all = "lowercase")]
pub enum Target {
    /// tickcast: `GET /v1/stream?symbols=..`, native TCP feed.
    Tickcast,
    /// nginx + nchan: `GET /sub/a,b,c`, `POST /pub/<chan>`.
    Nchan,
}

impl Target {
    /// The lowercase name.
    pub fn name(self) -> &'static str {
        match self {
            Target::Tickcast => "tickcast",
            Target::Nchan => "nchan",
        }
    }

    /// The most symbols one subscription may name.
    pub fn max_symbols_per_request(self) -> u32 {
        match self {
            // tickcast's default `--max-symbols-per-request`.
            Target::Tickcast => 1024,
            // nchan's multiplexed subscriptions.
            Target::Nchan => 255,
        }
    }
}

/// Which timestamp in the event data a delivery's latency is measured from.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize, clap::ValueEnum)]
#[serde(rename_all = "lowercase")]
pub enum LatencyFrom {
    /// `ts`: the scheduled send time the feeder stamped (end to end, open loop).
    Ts,
    /// `rx`: tickcast's ingest time (server-side only; for replays, whose `ts` is historic).
    Rx,
}

/// Every setting of the offered load.
#[derive(Debug, Clone, PartialEq, serde::Serialize)]
pub struct Scenario {
    /// The preset this started from (`custom` for none).
    pub name: String,
    /// The server kind, which decides URLs, feeding and the integrity rules.
    pub target: Target,
    /// SSE connections to open.
    pub connections: usize,
    /// Shares of firehose / uniform / Zipf subscribers.
    pub mix: Mix,
    /// Symbols per non-firehose subscriber.
    pub k: u32,
    /// Zipf exponent of the Zipf subscribers' symbol choice.
    pub zipf_s: f64,
    /// Symbols fed (the universe).
    pub symbols: u32,
    /// Prefix of the generated symbol names (`LT` gives `LT0001`...).
    pub symbol_prefix: String,
    /// Ticks per second over all symbols, outside bursts; 0 feeds nothing (the server has its
    /// own source: synthetic market, replay).
    pub rate: f64,
    /// Zipf exponent of which symbol each tick is for; 0 is round robin.
    pub tick_zipf: f64,
    /// Periodic bursts of the tick rate.
    pub burst: Option<Burst>,
    /// How long ticks are fed (or, without a feed, how long the connections are held).
    #[serde(with = "crate::report::seconds")]
    pub duration: Duration,
    /// Share of slow clients.
    pub slow: f64,
    /// Bytes per second a slow client reads.
    pub slow_rate: u64,
    /// `SO_RCVBUF` of slow and paused clients (small, so the server sees them stall soon).
    pub slow_rcvbuf: usize,
    /// Share of paused clients (read the head, then nothing).
    pub paused: f64,
    /// Share of clients that drop and resume with `Last-Event-ID` at once.
    pub reconnect: f64,
    /// When the reconnect storm hits, after the feed starts.
    #[serde(with = "crate::report::seconds")]
    pub reconnect_at: Duration,
    /// Reconnect like a browser's `EventSource` after a broken connection too (a reset, an
    /// error, a failed reconnect), not only after the server ended the stream; every such
    /// reconnect's resume time is measured. Off: a broken connection ends the client.
    pub reconnect_on_error: bool,
    /// Which timestamp latency is measured from.
    pub latency_from: LatencyFrom,
    /// `Last-Event-ID` sent on the first subscription (e.g. `0` for a whole replay).
    pub last_event_id: Option<String>,
    /// Extra query parameters of tickcast's stream URL (`complete=1`); none by default.
    pub stream_query: Option<String>,
    /// Connection attempts in flight at once (over all client threads).
    pub connect_concurrency: usize,
    /// New connections per second at most (none: as fast as the concurrency allows).
    pub connect_rate: Option<f64>,
    /// Bound on connecting and reading the response head.
    #[serde(with = "crate::report::seconds")]
    pub connect_timeout: Duration,
    /// After the feed ends, how long to wait for the last ticks to arrive.
    #[serde(with = "crate::report::seconds")]
    pub drain_timeout: Duration,
    /// nchan: publisher connections (keep-alive, one POST at a time each).
    pub publishers: usize,
    /// Seed of every random choice (mix, symbols, tick spread).
    pub seed: u64,
}

/// Connection attempts in flight by default: below the listen backlog most servers get by
/// default (128 with tokio/mio and Rust's std), because a full accept queue drops SYNs and the
/// client retries only after a second, which would measure the retransmit timer, not the server.
pub const DEFAULT_CONNECT_CONCURRENCY: usize = 100;

/// A scenario that cannot run.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{0}")]
pub struct InvalidScenario(String);

impl Scenario {
    /// Checks the settings against each other and the target's limits.
    pub fn validate(&self) -> Result<(), InvalidScenario> {
        let fail = |msg: String| Err(InvalidScenario(msg));
        if self.connections == 0 {
            return fail("--connections must be >= 1".into());
        }
        let share = |x: f64| x.is_finite() && (0.0..=1.0).contains(&x);
        if !share(self.slow) || !share(self.paused) || !share(self.reconnect) {
            return fail("--slow, --paused and --reconnect are shares between 0 and 1".into());
        }
        if self.slow + self.paused > 1.0 + 1e-9 {
            return fail("--slow plus --paused exceeds 1".into());
        }
        if self.reconnect > 1.0 - self.slow - self.paused + 1e-9 {
            return fail("--reconnect exceeds the share of fast clients".into());
        }
        if !(self.rate.is_finite() && self.rate >= 0.0) {
            return fail("--rate must be >= 0".into());
        }
        if self.rate > 0.0 && self.symbols == 0 {
            return fail("feeding needs --symbols >= 1".into());
        }
        if self.duration.is_zero() || self.duration > Duration::from_secs(24 * 3600) {
            return fail("--duration must be between 0 and 24 h".into());
        }
        if self.mix.firehose < 1.0 && self.k == 0 {
            return fail("--symbols-per-client must be >= 1 for non-firehose clients".into());
        }
        if self.k > self.target.max_symbols_per_request() && self.mix.firehose < 1.0 {
            return fail(format!(
                "--symbols-per-client {} exceeds what one {} subscription may name ({})",
                self.k,
                self.target.name(),
                self.target.max_symbols_per_request()
            ));
        }
        let exponent = |s: f64| s.is_finite() && s >= 0.0;
        if !exponent(self.zipf_s) || !exponent(self.tick_zipf) {
            return fail("Zipf exponents must be >= 0".into());
        }
        if let Some(burst) = self.burst
            && (!(burst.factor.is_finite() && burst.factor > 0.0)
                || burst.every.is_zero()
                || burst.length > burst.every)
        {
            return fail("a burst needs factor > 0 and 0 < length <= every".into());
        }
        if self.slow > 0.0 && self.slow_rate == 0 {
            return fail("--slow-rate must be >= 1 byte/s".into());
        }
        if self.reconnect > 0.0 && self.reconnect_at >= self.duration {
            return fail("--reconnect-at must fall inside --duration".into());
        }
        if self.connect_concurrency == 0 || self.publishers == 0 {
            return fail("--connect-concurrency and --publishers must be >= 1".into());
        }
        if self
            .connect_rate
            .is_some_and(|r| !(r.is_finite() && r > 0.0))
        {
            return fail("--connect-rate must be > 0".into());
        }
        if !self
            .symbol_prefix
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'_')
        {
            return fail("--symbol-prefix may use A-Z a-z 0-9 _ only (nchan channel ids)".into());
        }
        Ok(())
    }

    /// Whether the load tester feeds ticks itself.
    pub fn feeds(&self) -> bool {
        self.rate > 0.0 && self.symbols > 0
    }
}

/// The standard scenarios (issue 4, S1-S6), and `custom` for plain defaults.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum Preset {
    /// S1 idle capacity: connections held open, no ticks, heartbeats only.
    Idle,
    /// S2 firehose: every client on `symbols=*`, N x rate deliveries per second.
    Firehose,
    /// S3 market-like: 10k clients, 500 symbols, 20 Zipf-chosen each, 10k ticks/s with a 10x
    /// burst for 1 s every 30 s.
    Market,
    /// S4 replay: 1k firehose clients measuring a server that replays a recording (no feed;
    /// latency from `rx`; `Last-Event-ID: 0` to get the whole replay).
    Replay,
    /// S5 slow clients: 1k fast + 100 slow (1 KiB/s), 200 symbols, 2k ticks/s, 10 minutes.
    Slow,
    /// S6 reconnect storm: 5k of 10k clients drop at once and resume with `Last-Event-ID`.
    Reconnect,
    /// 100 firehose clients, 100 ticks/s, 10 s: a starting point for custom flags.
    Custom,
}

impl Preset {
    /// The lowercase name.
    pub fn name(self) -> &'static str {
        match self {
            Preset::Idle => "idle",
            Preset::Firehose => "firehose",
            Preset::Market => "market",
            Preset::Replay => "replay",
            Preset::Slow => "slow",
            Preset::Reconnect => "reconnect",
            Preset::Custom => "custom",
        }
    }

    /// The preset's settings.
    pub fn scenario(self) -> Scenario {
        let base = Scenario {
            name: self.name().to_owned(),
            target: Target::Tickcast,
            connections: 100,
            mix: Mix::FIREHOSE,
            k: 10,
            zipf_s: 1.0,
            symbols: 100,
            symbol_prefix: "LT".to_owned(),
            rate: 100.0,
            tick_zipf: 0.0,
            burst: None,
            duration: Duration::from_secs(10),
            slow: 0.0,
            slow_rate: 1024,
            slow_rcvbuf: 4096,
            paused: 0.0,
            reconnect: 0.0,
            reconnect_at: Duration::from_secs(5),
            reconnect_on_error: false,
            latency_from: LatencyFrom::Ts,
            last_event_id: None,
            stream_query: None,
            connect_concurrency: DEFAULT_CONNECT_CONCURRENCY,
            connect_rate: None,
            connect_timeout: Duration::from_secs(10),
            drain_timeout: Duration::from_secs(5),
            publishers: 4,
            seed: 1,
        };
        match self {
            Preset::Custom => base,
            Preset::Idle => Scenario {
                connections: 1000,
                mix: Mix::UNIFORM,
                k: 1,
                symbols: 1,
                rate: 0.0,
                ..base
            },
            Preset::Firehose => Scenario {
                connections: 1000,
                ..base
            },
            Preset::Market => Scenario {
                connections: 10_000,
                mix: Mix::ZIPF,
                k: 20,
                zipf_s: 1.0,
                symbols: 500,
                rate: 10_000.0,
                burst: Some(Burst {
                    factor: 10.0,
                    every: Duration::from_secs(30),
                    length: Duration::from_secs(1),
                }),
                duration: Duration::from_secs(65),
                ..base
            },
            Preset::Replay => Scenario {
                connections: 1000,
                symbols: 0,
                rate: 0.0,
                duration: Duration::from_secs(30),
                latency_from: LatencyFrom::Rx,
                last_event_id: Some("0".to_owned()),
                ..base
            },
            Preset::Slow => Scenario {
                connections: 1100,
                mix: Mix::UNIFORM,
                k: 20,
                symbols: 200,
                rate: 2000.0,
                slow: 100.0 / 1100.0,
                duration: Duration::from_secs(600),
                ..base
            },
            Preset::Reconnect => Scenario {
                connections: 10_000,
                mix: Mix::UNIFORM,
                k: 10,
                symbols: 500,
                rate: 1000.0,
                reconnect: 0.5,
                reconnect_at: Duration::from_secs(10),
                duration: Duration::from_secs(20),
                ..base
            },
        }
    }
}

impl fmt::Display for Preset {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

impl FromStr for Preset {
    type Err = String;

    fn from_str(text: &str) -> Result<Self, String> {
        <Preset as clap::ValueEnum>::from_str(text, true)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_preset_is_valid() {
        for preset in <Preset as clap::ValueEnum>::value_variants() {
            let scenario = preset.scenario();
            assert_eq!(scenario.name, preset.name());
            scenario
                .validate()
                .unwrap_or_else(|e| panic!("{preset}: {e}"));
        }
    }

    #[test]
    fn presets_match_the_issue_table() {
        let s5 = Preset::Slow.scenario();
        let slow = (s5.connections as f64 * s5.slow).round();
        assert_eq!((s5.connections as f64 - slow, slow), (1000.0, 100.0));
        let s3 = Preset::Market.scenario();
        assert_eq!(
            (s3.connections, s3.symbols, s3.k, s3.rate),
            (10_000, 500, 20, 10_000.0)
        );
        assert_eq!(s3.burst.unwrap().factor, 10.0);
        let s6 = Preset::Reconnect.scenario();
        assert_eq!((s6.connections as f64 * s6.reconnect) as usize, 5000);
        assert!(!Preset::Idle.scenario().feeds());
        assert!(!Preset::Replay.scenario().feeds());
        assert_eq!("market".parse::<Preset>(), Ok(Preset::Market));
    }

    #[test]
    fn invalid_combinations_are_refused() {
        let base = Preset::Custom.scenario();
        let bad = [
            Scenario {
                slow: 0.7,
                paused: 0.5,
                ..base.clone()
            },
            Scenario {
                reconnect: 0.9,
                slow: 0.5,
                ..base.clone()
            },
            Scenario {
                target: Target::Nchan,
                mix: Mix::UNIFORM,
                k: 300,
                ..base.clone()
            },
            Scenario {
                reconnect: 0.5,
                reconnect_at: Duration::from_secs(60),
                ..base.clone()
            },
            Scenario {
                symbol_prefix: "A:B".into(),
                ..base.clone()
            },
            Scenario {
                duration: Duration::ZERO,
                ..base.clone()
            },
            Scenario {
                connections: 0,
                ..base.clone()
            },
        ];
        for scenario in bad {
            assert!(scenario.validate().is_err(), "{scenario:?}");
        }
    }
}
