//! Command-line settings, parsed once into typed, validated values.
//!
//! Place in the flow: `main` parses [`Cli`] and turns it into a [`Config`] with
//! [`Cli::into_config`]; everything else receives the `Config` (or the part it needs) as an
//! argument. Nothing outside this module reads flags or the environment.
//! Must never be consulted on the hot path: values are copied into the components at start-up.

use std::net::SocketAddr;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use clap::Parser;

use crate::tick::{Symbol, SymbolError};

/// tickcast: live market ticks to thousands of Server-Sent-Events subscribers.
#[derive(Debug, Clone, Parser)]
#[command(version, about, long_about = None)]
pub struct Cli {
    /// A TOML file of settings (same names as the flags, with `_` for `-`; see README).
    /// Flags given on the command line override it.
    #[arg(long)]
    pub config: Option<std::path::PathBuf>,

    /// Validate the settings (flags and `--config` file), print them, and exit.
    #[arg(long)]
    pub check_config: bool,

    /// HTTP listen address (port 0 picks a free port; the bound address is printed on stdout).
    #[arg(long, default_value = "127.0.0.1:8080")]
    pub listen: SocketAddr,

    /// A tick source; repeat for several. `synthetic` (a built-in synthetic market) or
    /// `tcp-listen://HOST:PORT` (newline-delimited native JSON from any number of feed clients).
    #[arg(long = "feed", default_value = "synthetic")]
    pub feeds: Vec<String>,

    /// Number of symbols of the synthetic market (named SYN0001, SYN0002, ...).
    #[arg(long, default_value_t = 500)]
    pub synthetic_symbols: usize,

    /// Ticks per second of the synthetic market, over all its symbols.
    #[arg(long, default_value_t = 2000.0)]
    pub synthetic_rate: f64,

    /// Seed of the synthetic market's random walk (same seed, same prices).
    #[arg(long, default_value_t = 1)]
    pub synthetic_seed: u64,

    /// Comma-separated list of the only symbols that exist. Clients asking for others get 400,
    /// feed lines for others are rejected. Without it, a TCP feed makes the universe open.
    #[arg(long, value_delimiter = ',')]
    pub universe: Option<Vec<String>>,

    /// Shards (threads, each with its own single-threaded runtime). Default: number of cores.
    #[arg(long)]
    pub shards: Option<usize>,

    /// Ticks kept for resume (rounded up to a power of two). The default holds 80 s at 100k
    /// ticks/s; each held tick costs about 400 bytes once the ring is full.
    #[arg(long, default_value_t = 1 << 23)]
    pub ring_capacity: usize,

    /// Interval of `: hb` comments on idle streams.
    #[arg(long, default_value = "15s", value_parser = humantime::parse_duration)]
    pub heartbeat: Duration,

    /// Reconnection delay suggested to clients in the `retry:` field.
    #[arg(long, default_value = "2s", value_parser = humantime::parse_duration)]
    pub retry: Duration,

    /// Events queued per subscriber before conflation (newest tick per symbol) takes over.
    #[arg(long, default_value_t = 1024)]
    pub subscriber_buffer: usize,

    /// SO_SNDBUF of stream sockets in bytes (0: the kernel's default and autotuning).
    #[arg(long, default_value_t = 0)]
    pub sndbuf: usize,

    /// Longest time a graceful shutdown may take before connections are cut.
    #[arg(long, default_value = "5s", value_parser = humantime::parse_duration)]
    pub drain_timeout: Duration,

    /// Longest accepted feed line in bytes; longer lines are rejected and skipped.
    #[arg(long, default_value_t = 1 << 20)]
    pub max_line: usize,

    /// Most distinct symbols accepted from feeds (an open universe cannot grow without bound).
    #[arg(long, default_value_t = 100_000)]
    pub max_symbols: usize,

    /// Most symbols one stream or snapshot request may name.
    #[arg(long, default_value_t = 1024)]
    pub max_symbols_per_request: usize,

    /// First sequence number. Default: the start time in microseconds since the epoch, so ids
    /// keep increasing across restarts and a client resuming from an earlier run is detected.
    #[arg(long)]
    pub seq_base: Option<u64>,
}

/// The `--config` file: every field optional, unknown fields refused.
#[derive(Debug, Default, serde::Deserialize)]
#[serde(deny_unknown_fields)]
pub struct FileConfig {
    /// HTTP listen address, e.g. `"0.0.0.0:8080"`.
    pub listen: Option<SocketAddr>,
    /// Tick sources, e.g. `["synthetic", "tcp-listen://127.0.0.1:9000"]`.
    pub feeds: Option<Vec<String>>,
    /// Symbols of the synthetic market.
    pub synthetic_symbols: Option<usize>,
    /// Synthetic ticks per second, in total.
    pub synthetic_rate: Option<f64>,
    /// Seed of the synthetic random walk.
    pub synthetic_seed: Option<u64>,
    /// The only symbols that exist (closes the universe).
    pub universe: Option<Vec<String>>,
    /// Shard threads.
    pub shards: Option<usize>,
    /// Ticks kept for resume.
    pub ring_capacity: Option<usize>,
    /// Heartbeat interval, e.g. `"15s"`.
    pub heartbeat: Option<String>,
    /// `retry:` hint, e.g. `"2s"`.
    pub retry: Option<String>,
    /// Events queued per subscriber before conflation.
    pub subscriber_buffer: Option<usize>,
    /// SO_SNDBUF of stream sockets (0 = kernel default).
    pub sndbuf: Option<usize>,
    /// Bound on graceful shutdown, e.g. `"5s"`.
    pub drain_timeout: Option<String>,
    /// Longest feed line in bytes.
    pub max_line: Option<usize>,
    /// Most distinct symbols an open universe accepts.
    pub max_symbols: Option<usize>,
    /// Most symbols per request.
    pub max_symbols_per_request: Option<usize>,
    /// First sequence number.
    pub seq_base: Option<u64>,
}

impl Cli {
    /// Parses the command line and merges the `--config` file under it: a setting comes from
    /// the command line if given there, else from the file, else its default.
    pub fn parse_with_file() -> Result<Self, ConfigError> {
        use clap::{CommandFactory, FromArgMatches};
        let matches = Self::command().get_matches();
        let mut cli = Self::from_arg_matches(&matches).map_err(|e| e.exit())?;
        let given =
            |id: &str| matches.value_source(id) == Some(clap::parser::ValueSource::CommandLine);
        let Some(path) = cli.config.clone() else {
            return Ok(cli);
        };
        let text = std::fs::read_to_string(&path).map_err(|source| ConfigError::FileRead {
            path: path.display().to_string(),
            source,
        })?;
        let file: FileConfig = toml::from_str(&text).map_err(|error| ConfigError::FileParse {
            path: path.display().to_string(),
            message: error.to_string(),
        })?;
        cli.merge(file, given)?;
        Ok(cli)
    }

    /// Takes each setting of `file` that `given` says the command line did not set.
    pub fn merge(
        &mut self,
        file: FileConfig,
        given: impl Fn(&str) -> bool,
    ) -> Result<(), ConfigError> {
        macro_rules! take {
            ($field:ident) => {
                if let Some(value) = file.$field {
                    if !given(stringify!($field)) {
                        self.$field = value;
                    }
                }
            };
            ($field:ident, some) => {
                if let Some(value) = file.$field {
                    if !given(stringify!($field)) {
                        self.$field = Some(value);
                    }
                }
            };
            ($field:ident, duration) => {
                if let Some(text) = file.$field {
                    if !given(stringify!($field)) {
                        self.$field = humantime::parse_duration(&text).map_err(|e| {
                            ConfigError::FileValue {
                                field: stringify!($field),
                                message: format!("{text:?}: {e}"),
                            }
                        })?;
                    }
                }
            };
        }
        take!(listen);
        take!(feeds);
        take!(synthetic_symbols);
        take!(synthetic_rate);
        take!(synthetic_seed);
        take!(universe, some);
        take!(shards, some);
        take!(ring_capacity);
        take!(heartbeat, duration);
        take!(retry, duration);
        take!(subscriber_buffer);
        take!(sndbuf);
        take!(drain_timeout, duration);
        take!(max_line);
        take!(max_symbols);
        take!(max_symbols_per_request);
        take!(seq_base, some);
        Ok(())
    }
}

/// Where ticks come from.
#[derive(Debug, Clone, PartialEq)]
pub enum FeedSource {
    /// The built-in synthetic market.
    Synthetic,
    /// Listen for native JSON-lines feed clients on this address.
    TcpListen(SocketAddr),
}

/// The synthetic market's settings.
#[derive(Debug, Clone)]
pub struct SyntheticConfig {
    /// Number of symbols.
    pub symbols: usize,
    /// Ticks per second in total.
    pub rate: f64,
    /// Random seed.
    pub seed: u64,
}

/// Validated settings of a server run.
#[derive(Debug, Clone)]
pub struct Config {
    /// HTTP listen address.
    pub listen: SocketAddr,
    /// Tick sources.
    pub feeds: Vec<FeedSource>,
    /// Synthetic market settings (used when `feeds` has `Synthetic`).
    pub synthetic: SyntheticConfig,
    /// Declared universe, if closed by `--universe`.
    pub universe: Option<Vec<Symbol>>,
    /// Number of shards.
    pub shards: usize,
    /// Ring capacity.
    pub ring_capacity: usize,
    /// Heartbeat interval.
    pub heartbeat: Duration,
    /// `retry:` hint.
    pub retry: Duration,
    /// Per-subscriber queue before conflation.
    pub subscriber_buffer: usize,
    /// SO_SNDBUF for streams (0 = default).
    pub sndbuf: usize,
    /// Graceful shutdown bound.
    pub drain_timeout: Duration,
    /// Feed line limit.
    pub max_line: usize,
    /// Distinct symbol limit.
    pub max_symbols: usize,
    /// Symbols per request limit.
    pub max_symbols_per_request: usize,
    /// First sequence number.
    pub seq_base: u64,
}

/// A setting that cannot be used.
#[derive(Debug, thiserror::Error)]
pub enum ConfigError {
    /// `--feed` names no known source.
    #[error("--feed {0:?}: expected `synthetic` or `tcp-listen://HOST:PORT`")]
    BadFeed(String),
    /// A `--universe` entry is not a valid symbol.
    #[error("--universe entry {name:?}: {source}")]
    BadUniverseSymbol {
        /// The entry.
        name: String,
        /// Why.
        source: SymbolError,
    },
    /// A numeric setting is out of range.
    #[error("{0}")]
    OutOfRange(&'static str),
    /// The `--config` file cannot be read.
    #[error("--config {path}: {source}")]
    FileRead {
        /// The file.
        path: String,
        /// The OS error.
        source: std::io::Error,
    },
    /// The `--config` file is not valid TOML for these settings (unknown key, wrong type...).
    #[error("--config {path}: {message}")]
    FileParse {
        /// The file.
        path: String,
        /// What the parser said, with line and column.
        message: String,
    },
    /// A value in the `--config` file is not usable.
    #[error("--config: {field}: {message}")]
    FileValue {
        /// The setting.
        field: &'static str,
        /// Why.
        message: String,
    },
}

impl Cli {
    /// Validates the flags.
    pub fn into_config(self) -> Result<Config, ConfigError> {
        let mut feeds = Vec::new();
        for feed in &self.feeds {
            feeds.push(parse_feed(feed)?);
        }
        let universe = match self.universe {
            None => None,
            Some(names) => Some(
                names
                    .iter()
                    .map(|name| {
                        Symbol::new(name.trim()).map_err(|source| ConfigError::BadUniverseSymbol {
                            name: name.clone(),
                            source,
                        })
                    })
                    .collect::<Result<Vec<_>, _>>()?,
            ),
        };
        if !(self.synthetic_rate.is_finite() && self.synthetic_rate > 0.0) {
            return Err(ConfigError::OutOfRange("--synthetic-rate must be > 0"));
        }
        if self.synthetic_symbols == 0 || self.synthetic_symbols > 9999 {
            return Err(ConfigError::OutOfRange(
                "--synthetic-symbols must be 1..=9999",
            ));
        }
        let shards = self
            .shards
            .unwrap_or_else(|| std::thread::available_parallelism().map_or(1, |n| n.get()));
        if shards == 0 || shards > 1024 {
            return Err(ConfigError::OutOfRange("--shards must be 1..=1024"));
        }
        if self.ring_capacity < 2 || self.ring_capacity > 1 << 30 {
            return Err(ConfigError::OutOfRange("--ring-capacity must be 2..=2^30"));
        }
        if self.subscriber_buffer == 0 {
            return Err(ConfigError::OutOfRange("--subscriber-buffer must be >= 1"));
        }
        if self.heartbeat.is_zero() {
            return Err(ConfigError::OutOfRange("--heartbeat must be > 0"));
        }
        if self.max_line < 64 {
            return Err(ConfigError::OutOfRange("--max-line must be >= 64"));
        }
        if self.max_symbols_per_request == 0 {
            return Err(ConfigError::OutOfRange(
                "--max-symbols-per-request must be >= 1",
            ));
        }
        let seq_base = self.seq_base.unwrap_or_else(|| {
            SystemTime::now()
                .duration_since(UNIX_EPOCH)
                .map_or(1, |d| d.as_micros() as u64)
        });
        if seq_base == 0 || seq_base > 1 << 62 {
            return Err(ConfigError::OutOfRange("--seq-base must be 1..=2^62"));
        }
        Ok(Config {
            listen: self.listen,
            feeds,
            synthetic: SyntheticConfig {
                symbols: self.synthetic_symbols,
                rate: self.synthetic_rate,
                seed: self.synthetic_seed,
            },
            universe,
            shards,
            ring_capacity: self.ring_capacity,
            heartbeat: self.heartbeat,
            retry: self.retry,
            subscriber_buffer: self.subscriber_buffer,
            sndbuf: self.sndbuf,
            drain_timeout: self.drain_timeout,
            max_line: self.max_line,
            max_symbols: self.max_symbols,
            max_symbols_per_request: self.max_symbols_per_request,
            seq_base,
        })
    }
}

fn parse_feed(text: &str) -> Result<FeedSource, ConfigError> {
    if text == "synthetic" {
        return Ok(FeedSource::Synthetic);
    }
    if let Some(addr) = text.strip_prefix("tcp-listen://") {
        return addr
            .parse()
            .map(FeedSource::TcpListen)
            .map_err(|_| ConfigError::BadFeed(text.to_owned()));
    }
    Err(ConfigError::BadFeed(text.to_owned()))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse(args: &[&str]) -> Result<Config, ConfigError> {
        let mut all = vec!["tickcast"];
        all.extend_from_slice(args);
        Cli::try_parse_from(all).unwrap().into_config()
    }

    #[test]
    fn defaults_need_no_flags() {
        let config = parse(&[]).unwrap();
        assert_eq!(config.feeds, vec![FeedSource::Synthetic]);
        assert!(config.shards >= 1);
        assert_eq!(config.heartbeat, Duration::from_secs(15));
        assert!(config.seq_base > 1_600_000_000_000_000);
    }

    #[test]
    fn feeds_and_universe() {
        let config = parse(&[
            "--feed",
            "tcp-listen://127.0.0.1:9000",
            "--feed",
            "synthetic",
            "--universe",
            "A,B",
        ])
        .unwrap();
        assert_eq!(
            config.feeds,
            vec![
                FeedSource::TcpListen("127.0.0.1:9000".parse().unwrap()),
                FeedSource::Synthetic
            ]
        );
        assert_eq!(config.universe.unwrap().len(), 2);
    }

    #[test]
    fn file_settings_apply_unless_given_on_the_command_line() {
        let file: FileConfig = toml::from_str(
            "listen = \"127.0.0.1:9999\"\nshards = 3\nheartbeat = \"250ms\"\nfeeds = [\"tcp-listen://127.0.0.1:0\"]\n",
        )
        .unwrap();
        let mut cli = Cli::try_parse_from(["tickcast", "--shards", "5"]).unwrap();
        cli.merge(file, |id| id == "shards").unwrap();
        let config = cli.into_config().unwrap();
        assert_eq!(config.listen, "127.0.0.1:9999".parse().unwrap());
        assert_eq!(config.shards, 5);
        assert_eq!(config.heartbeat, Duration::from_millis(250));
        assert_eq!(config.feeds.len(), 1);
    }

    #[test]
    fn file_errors_are_clear() {
        let unknown = toml::from_str::<FileConfig>("lisen = \"x\"")
            .unwrap_err()
            .to_string();
        assert!(unknown.contains("lisen"), "{unknown}");
        let wrong = toml::from_str::<FileConfig>("shards = \"two\"")
            .unwrap_err()
            .to_string();
        assert!(
            wrong.contains("shards") || wrong.contains("invalid type"),
            "{wrong}"
        );
        let file: FileConfig = toml::from_str("retry = \"soon\"").unwrap();
        let mut cli = Cli::try_parse_from(["tickcast"]).unwrap();
        assert!(matches!(
            cli.merge(file, |_| false),
            Err(ConfigError::FileValue { field: "retry", .. })
        ));
    }

    #[test]
    fn refuses_bad_values() {
        assert!(matches!(
            parse(&["--feed", "udp://x"]),
            Err(ConfigError::BadFeed(_))
        ));
        assert!(matches!(
            parse(&["--universe", "A,B C"]),
            Err(ConfigError::BadUniverseSymbol { .. })
        ));
        assert!(matches!(
            parse(&["--shards", "0"]),
            Err(ConfigError::OutOfRange(_))
        ));
        assert!(matches!(
            parse(&["--synthetic-rate", "NaN"]),
            Err(ConfigError::OutOfRange(_))
        ));
    }
}
