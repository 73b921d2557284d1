//! From parsed flags (and the merged `--config` file) to validated settings: every range and
//! contradiction is checked here, and each stage's settings are filled.
//!
//! Place in the flow: [`super::parse`] calls [`invocation`] once at start-up. The result is a
//! plain value ([`Invocation`]); nothing after it re-reads flags, files or the environment.
//! Must never be consulted on the hot path.

use std::path::PathBuf;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use clap::{ArgMatches, FromArgMatches};

use super::cli::{Cli, Command, MAX_URL_BYTES, RecordArgs, ReplayArgs, ServeArgs, TokenArgs};
use super::values::{parse_feed, parse_rotate, parse_time};
use super::{Config, ConfigError, DEFAULT_RESUME_WINDOW, FeedSource, Invocation};
use crate::auth::{AuthSettings, KeySource, MintRequest, Tier};
use crate::cluster::{ClusterSettings, Role};
use crate::feed::synthetic::SyntheticConfig;
use crate::feed::venue::Format;
use crate::http::limits::LimitSettings;
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
                config: Box::new(serve.into_config()?),
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
        Some(Command::Token(args)) => token_invocation(args),
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
    Ok(Invocation::Serve {
        config: Box::new(config),
        check_only,
    })
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
        let cluster = self.cluster_settings()?;
        let edge = self.role == Role::Edge;
        if edge && !self.feeds.is_empty() {
            return Err(ConfigError::OutOfRange(
                "--role edge takes its ticks from Redis: it reads no --feed",
            ));
        }
        let mut feeds = Vec::new();
        for feed in &self.feeds {
            feeds.push(parse_feed(feed)?);
        }
        if feeds.is_empty() && !edge {
            feeds.push(FeedSource::Synthetic);
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
        let limits = LimitSettings {
            max_connections: self.max_connections.unwrap_or_else(default_max_connections),
            max_connections_per_ip: self.max_connections_per_ip,
            max_streams_per_sub: self.max_streams_per_sub,
            connect_rate_per_ip: self.connect_rate_per_ip,
            connect_burst_per_ip: self.connect_burst_per_ip,
            max_header_bytes: self.max_header_bytes,
            max_headers: self.max_headers,
            max_url_bytes: self.max_url_bytes,
            header_read_timeout: self.header_read_timeout,
            idle_timeout: self.idle_timeout,
        };
        validate_limits(&limits)?;
        for origin in &self.cors_origins {
            validate_origin(origin)?;
        }
        let auth = auth_settings(
            &self.auth,
            self.jwt_key.clone(),
            self.jwks.clone(),
            self.jwt_issuer.clone(),
            self.jwt_audience.clone(),
            self.jwt_leeway,
            self.jwt_cookie.is_some(),
        )?;
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
            limits,
            cors_origins: self.cors_origins,
            auth,
            jwt_cookie: self.jwt_cookie,
            metrics_listen: self.metrics_listen,
            seq_base,
            transparent_huge_pages: self.transparent_huge_pages,
            cluster,
        })
    }

    /// `--role`, `--redis`, `--redis-prefix`, `--leader-lease`, checked together.
    fn cluster_settings(&self) -> Result<Option<ClusterSettings>, ConfigError> {
        let Some(url) = self.redis.clone() else {
            if self.role == Role::All {
                return Ok(None);
            }
            return Err(ConfigError::OutOfRange(
                "--role feed|edge needs --redis redis://HOST:PORT",
            ));
        };
        if self.role == Role::All {
            return Err(ConfigError::OutOfRange(
                "--redis needs --role feed or --role edge (--role all runs without Redis)",
            ));
        }
        let prefix = &self.redis_prefix;
        if prefix.is_empty()
            || prefix.len() > 64
            || !prefix
                .bytes()
                .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'-' | b'_' | b'.' | b':'))
        {
            return Err(ConfigError::OutOfRange(
                "--redis-prefix must be 1 to 64 of A-Z a-z 0-9 - _ . :",
            ));
        }
        if self.leader_lease < Duration::from_millis(300)
            || self.leader_lease > Duration::from_secs(600)
        {
            return Err(ConfigError::OutOfRange(
                "--leader-lease must be 300ms..=10m",
            ));
        }
        let settings = ClusterSettings {
            role: self.role,
            redis_url: url,
            prefix: prefix.clone(),
            lease: self.leader_lease,
            ca: self.redis_ca.clone(),
        };
        // The URL is checked now (scheme, host, port, credentials' syntax); nothing connects.
        settings
            .client()
            .map_err(|error| ConfigError::Cluster(error.to_string()))?;
        Ok(Some(settings))
    }
}

/// `--max-connections` when not given: the open-files limit less what feeds, files and the
/// listener need, so accepting never fails with EMFILE while everything else still can open.
fn default_max_connections() -> usize {
    const RESERVED: u64 = 512;
    #[cfg(target_os = "linux")]
    let soft = nix::sys::resource::getrlimit(nix::sys::resource::Resource::RLIMIT_NOFILE)
        .map_or(1024, |(soft, _)| soft);
    #[cfg(not(target_os = "linux"))]
    let soft: u64 = 1024;
    soft.saturating_sub(RESERVED).clamp(64, 1 << 24) as usize
}

fn validate_limits(limits: &LimitSettings) -> Result<(), ConfigError> {
    if limits.max_connections == 0 {
        return Err(ConfigError::OutOfRange("--max-connections must be >= 1"));
    }
    if !(limits.connect_rate_per_ip.is_finite() && limits.connect_rate_per_ip >= 0.0) {
        return Err(ConfigError::OutOfRange(
            "--connect-rate-per-ip must be a number >= 0",
        ));
    }
    if limits.connect_burst_per_ip == 0 {
        return Err(ConfigError::OutOfRange(
            "--connect-burst-per-ip must be >= 1",
        ));
    }
    if limits.max_header_bytes < 1024 || limits.max_header_bytes > 1 << 20 {
        return Err(ConfigError::OutOfRange(
            "--max-header-bytes must be 1024..=1048576",
        ));
    }
    if limits.max_headers < 8 || limits.max_headers > 10_000 {
        return Err(ConfigError::OutOfRange("--max-headers must be 8..=10000"));
    }
    if limits.max_url_bytes < 256 || limits.max_url_bytes > MAX_URL_BYTES {
        return Err(ConfigError::OutOfRange(
            "--max-url-bytes must be 256..=65534",
        ));
    }
    if limits.header_read_timeout.is_zero() || limits.idle_timeout.is_zero() {
        return Err(ConfigError::OutOfRange(
            "--header-read-timeout and --idle-timeout must be > 0s",
        ));
    }
    Ok(())
}

/// A `--cors-origin`: `*`, or `scheme://host[:port]` with nothing after it.
fn validate_origin(origin: &str) -> Result<(), ConfigError> {
    let valid = origin == "*"
        || origin.split_once("://").is_some_and(|(scheme, rest)| {
            matches!(scheme, "http" | "https")
                && !rest.trim_end_matches('/').is_empty()
                && !rest.trim_end_matches('/').contains(['/', '?', '#', ' '])
        });
    if valid {
        Ok(())
    } else {
        Err(ConfigError::BadOrigin(origin.to_owned()))
    }
}

/// `--auth` and its `--jwt-*` settings: `None` for `--auth none`.
fn auth_settings(
    mode: &str,
    key: Option<PathBuf>,
    jwks: Option<PathBuf>,
    issuer: Option<String>,
    audience: Option<String>,
    leeway: Duration,
    cookie: bool,
) -> Result<Option<AuthSettings>, ConfigError> {
    let any_jwt =
        key.is_some() || jwks.is_some() || issuer.is_some() || audience.is_some() || cookie;
    match mode {
        "none" if any_jwt => Err(ConfigError::OutOfRange(
            "--jwt-key, --jwks, --jwt-issuer, --jwt-audience and --jwt-cookie need --auth jwt",
        )),
        "none" => Ok(None),
        "jwt" => {
            let keys = match (key, jwks) {
                (Some(key), None) => KeySource::Key(key),
                (None, Some(jwks)) => KeySource::Jwks(jwks),
                _ => {
                    return Err(ConfigError::OutOfRange(
                        "--auth jwt needs exactly one of --jwt-key and --jwks",
                    ));
                }
            };
            if leeway > Duration::from_secs(600) {
                return Err(ConfigError::OutOfRange("--jwt-leeway must be at most 10m"));
            }
            Ok(Some(AuthSettings {
                keys,
                issuer,
                audience,
                leeway,
            }))
        }
        other => Err(ConfigError::BadAuth(other.to_owned())),
    }
}

fn token_invocation(args: TokenArgs) -> Result<Invocation, ConfigError> {
    let tier = match (args.tier.as_str(), args.delay) {
        ("realtime", None) => Tier::Realtime,
        ("realtime", Some(_)) => {
            return Err(ConfigError::OutOfRange("--delay goes with --tier delayed"));
        }
        ("delayed", Some(delay)) => Tier::Delayed { delay },
        ("delayed", None) => {
            return Err(ConfigError::OutOfRange("--tier delayed needs --delay"));
        }
        (other, _) => return Err(ConfigError::BadTier(other.to_owned())),
    };
    Ok(Invocation::Token {
        key: args.key,
        request: MintRequest {
            sub: args.sub,
            symbols: args.symbols,
            ttl: args.ttl,
            tier,
            max_conns: args.max_conns,
            issuer: args.issuer,
            audience: args.audience,
            kid: args.kid,
        },
    })
}
