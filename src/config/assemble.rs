//! From parsed flags (and the merged `--config` file) to validated settings: every range and
//! contradiction is checked here, and each stage's settings are filled.
//!
//! Place in the flow: [`super::parse`] calls [`invocation`] once at start-up. The result is a
//! plain value ([`Invocation`]); nothing after it re-reads flags, files or the environment.
//! Must never be consulted on the hot path.

use std::time::{Duration, SystemTime, UNIX_EPOCH};

use clap::{ArgMatches, FromArgMatches};

use super::cli::{Cli, Command, RecordArgs, ReplayArgs, ServeArgs};
use super::values::{parse_feed, parse_rotate, parse_time};
use super::{Config, ConfigError, DEFAULT_RESUME_WINDOW, FeedSource, Invocation};
use crate::feed::synthetic::SyntheticConfig;
use crate::feed::venue::Format;
use crate::http::tls::TlsSettings;
use crate::replay::ReplaySpec;
use crate::replay::export::{ExportConfig, ExportFormat};
use crate::replay::pace::Speed;
use crate::replay::record::{RecordConfig, RecordSource};
use crate::shard::coalesce::{self, Coalesce};
use crate::tick::Symbol;

/// Validates the parsed command line (with the `--config` file merged under the serve flags) into
/// what it asks for.
pub fn invocation(matches: &ArgMatches) -> Result<Invocation, ConfigError> {
    let cli = Cli::from_arg_matches(matches).map_err(|e| ConfigError::Usage(e.to_string()))?;
    match cli.command {
        None => {
            let mut serve = cli.serve;
            serve.merge_file(matches)?;
            let check_only = serve.check_config;
            Ok(Invocation::Serve {
                config: serve.into_config()?,
                check_only,
            })
        }
        Some(Command::Replay(args)) => {
            let args = *args;
            let sub = matches
                .subcommand_matches("replay")
                .ok_or_else(|| ConfigError::Usage("replay: no arguments".into()))?;
            replay_invocation(args, sub)
        }
        Some(Command::Record(args)) => Ok(Invocation::Record(record_config(args)?)),
    }
}

fn replay_invocation(args: ReplayArgs, matches: &ArgMatches) -> Result<Invocation, ConfigError> {
    let mut serve = args.serve;
    serve.merge_file(matches)?;
    let format: Format = args
        .format
        .parse()
        .map_err(|_| ConfigError::BadFormat(args.format.clone()))?;
    let speed: Speed = args
        .speed
        .parse()
        .map_err(|_| ConfigError::BadSpeed(args.speed.clone()))?;
    let from = args
        .from
        .as_deref()
        .map(|t| parse_time("--from", t))
        .transpose()?;
    let (export, to) = match args.to.as_deref() {
        Some("jsonl") => (Some(ExportFormat::Jsonl), None),
        Some("csv") => (Some(ExportFormat::Csv), None),
        Some(t) => (None, Some(parse_time("--to", t)?)),
        None => (None, None),
    };
    if let (Some(from), Some(to)) = (from, to)
        && from > to
    {
        return Err(ConfigError::OutOfRange("--from is after --to"));
    }
    let spec = ReplaySpec {
        files: args.files,
        format,
        speed,
        looping: args.looping,
        from,
        to,
        max_backstep: args.max_backstep.as_nanos().min(u128::from(u64::MAX)) as u64,
        max_line: serve.max_line,
        wait_subscribers: args.wait_subscribers,
    };
    if let Some(format) = export {
        if args.looping {
            return Err(ConfigError::OutOfRange(
                "--loop makes no sense with --to jsonl|csv",
            ));
        }
        if args.wait_subscribers > 0 {
            return Err(ConfigError::OutOfRange(
                "--wait-subscribers makes no sense with --to jsonl|csv",
            ));
        }
        return Ok(Invocation::Export(ExportConfig {
            spec,
            format,
            out: args.out,
            seq_base: serve.seq_base.unwrap_or(1),
        }));
    }
    if args.out.is_some() {
        return Err(ConfigError::OutOfRange("--out goes with --to jsonl|csv"));
    }
    if matches.value_source("feeds") == Some(clap::parser::ValueSource::CommandLine) {
        return Err(ConfigError::OutOfRange(
            "replay serves its FILES: --feed cannot be combined with it",
        ));
    }
    // Replays are numbered from 1 so the same files give the same ids every run, and keep
    // every tick the ring can hold, so `Last-Event-ID: 0` gets the whole recording.
    serve.seq_base = Some(serve.seq_base.unwrap_or(1));
    serve.resume_window = Some(serve.resume_window.unwrap_or(Duration::ZERO));
    let check_only = serve.check_config;
    let mut config = serve.into_config()?;
    config.feeds = vec![FeedSource::Replay(spec)];
    Ok(Invocation::Serve { config, check_only })
}

fn record_config(args: RecordArgs) -> Result<RecordConfig, ConfigError> {
    let source = match parse_feed(&args.feed)? {
        FeedSource::TcpListen { addr, .. } => RecordSource::TcpListen(addr),
        FeedSource::Synthetic => RecordSource::Synthetic(SyntheticConfig {
            symbols: args.synthetic_symbols,
            rate: args.synthetic_rate,
            seed: args.synthetic_seed,
        }),
        FeedSource::Replay(_) => return Err(ConfigError::BadFeed(args.feed)),
    };
    if let RecordSource::Synthetic(synthetic) = &source {
        validate_synthetic(synthetic)?;
    }
    let rotate = args.rotate.as_deref().map(parse_rotate).transpose()?;
    if args.max_line < 64 {
        return Err(ConfigError::OutOfRange("--max-line must be >= 64"));
    }
    Ok(RecordConfig {
        source,
        out: args.out,
        rotate,
        max_line: args.max_line,
    })
}

fn validate_synthetic(synthetic: &SyntheticConfig) -> Result<(), ConfigError> {
    if !(synthetic.rate.is_finite() && synthetic.rate > 0.0) {
        return Err(ConfigError::OutOfRange("--synthetic-rate must be > 0"));
    }
    if synthetic.symbols == 0 || synthetic.symbols > 9999 {
        return Err(ConfigError::OutOfRange(
            "--synthetic-symbols must be 1..=9999",
        ));
    }
    Ok(())
}

impl ServeArgs {
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
        let synthetic = SyntheticConfig {
            symbols: self.synthetic_symbols,
            rate: self.synthetic_rate,
            seed: self.synthetic_seed,
        };
        validate_synthetic(&synthetic)?;
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
        if let Coalesce::Fixed(window) = self.coalesce
            && window > coalesce::MAX_WINDOW
        {
            return Err(ConfigError::OutOfRange("--coalesce must be at most 1s"));
        }
        if self.coalesce_max.is_zero() || self.coalesce_max > coalesce::MAX_WINDOW {
            return Err(ConfigError::OutOfRange(
                "--coalesce-max must be more than 0s and at most 1s",
            ));
        }
        let coalesce = match self.coalesce {
            Coalesce::Auto { .. } => Coalesce::Auto {
                max: self.coalesce_max,
            },
            fixed => fixed,
        };
        if self.max_line < 64 {
            return Err(ConfigError::OutOfRange("--max-line must be >= 64"));
        }
        if self.max_symbols_per_request == 0 {
            return Err(ConfigError::OutOfRange(
                "--max-symbols-per-request must be >= 1",
            ));
        }
        // The files are read when the server starts (and on SIGHUP), not here.
        let tls = match (self.tls_cert, self.tls_key) {
            (Some(cert), Some(key)) => Some(TlsSettings { cert, key }),
            (None, None) => None,
            (Some(_), None) => {
                return Err(ConfigError::TlsHalf {
                    given: "--tls-cert",
                    missing: "--tls-key",
                });
            }
            (None, Some(_)) => {
                return Err(ConfigError::TlsHalf {
                    given: "--tls-key",
                    missing: "--tls-cert",
                });
            }
        };
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
            tls,
            feeds,
            synthetic,
            universe,
            shards,
            ring_capacity: self.ring_capacity,
            resume_window: self.resume_window.unwrap_or(DEFAULT_RESUME_WINDOW),
            heartbeat: self.heartbeat,
            retry: self.retry,
            subscriber_buffer: self.subscriber_buffer,
            sndbuf: self.sndbuf,
            notsent_lowat: self.notsent_lowat,
            coalesce,
            drain_timeout: self.drain_timeout,
            max_line: self.max_line,
            max_symbols: self.max_symbols,
            max_symbols_per_request: self.max_symbols_per_request,
            seq_base,
            transparent_huge_pages: self.transparent_huge_pages,
        })
    }
}
