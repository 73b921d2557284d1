//! Settings, parsed once into typed, validated values: the command line, the `--config` file,
//! and the assembly of each stage's own settings from them.
//!
//! Place in the flow: `main` calls [`parse`], which reads the command line ([`cli`]) and the
//! `--config` file ([`file`](mod@file)), parses textual values ([`values`]) and validates everything
//! ([`assemble`]) into an [`Invocation`]: serve (live or replaying files), export, or record.
//! Each stage owns its settings type ([`crate::shard::ShardSettings`],
//! [`crate::http::HttpSettings`], [`crate::replay::ReplaySpec`], ...); this module only fills
//! them, so no stage imports `config`. Nothing outside this module reads flags or the
//! environment.
//!
//! Imports: this is the top of the library with [`crate::server`]: it may import every stage,
//! and no stage imports it.
//! Must never be consulted on the hot path: values are copied into the components at start-up.

pub mod assemble;
pub mod cli;
pub mod error;
pub mod file;
pub mod values;

use std::net::SocketAddr;
use std::time::Duration;

use clap::CommandFactory;

pub use cli::{Cli, ServeArgs};
pub use error::ConfigError;
pub use file::FileConfig;
pub use values::{parse_rotate, parse_time};

use std::path::PathBuf;

use crate::auth::{AuthSettings, MintRequest};
use crate::cluster::ClusterSettings;
use crate::feed::synthetic::SyntheticConfig;
use crate::feed::venue::Format;
use crate::http::HttpSettings;
use crate::http::limits::LimitSettings;
use crate::http::tls::TlsSettings;
use crate::replay::ReplaySpec;
use crate::replay::export::ExportConfig;
use crate::replay::record::RecordConfig;
use crate::shard::ShardSettings;
use crate::shard::coalesce::Coalesce;
use crate::tick::Symbol;

/// `--resume-window` when serving feeds and not set.
pub const DEFAULT_RESUME_WINDOW: Duration = Duration::from_secs(60);

/// Where ticks come from.
#[derive(Debug, Clone, PartialEq)]
pub enum FeedSource {
    /// The built-in synthetic market.
    Synthetic,
    /// Listen for JSON-lines feed clients on `addr`, decoding each line as `format`.
    TcpListen {
        /// Listen address.
        addr: SocketAddr,
        /// Message format (native by default; `auto` detects per line).
        format: Format,
    },
    /// Recorded files, replayed.
    Replay(ReplaySpec),
}

/// What the command line asks for.
#[derive(Debug, Clone)]
pub enum Invocation {
    /// Serve (live feeds, or a replay when `feeds` holds [`FeedSource::Replay`]).
    Serve {
        /// Validated settings.
        config: Box<Config>,
        /// `--check-config`: print and exit.
        check_only: bool,
    },
    /// Convert recorded files to normalized ticks.
    Export(ExportConfig),
    /// Record a live source.
    Record(RecordConfig),
    /// Mint a token with this key file.
    Token {
        /// The signing key.
        key: PathBuf,
        /// The token's claims.
        request: MintRequest,
    },
}

/// Parses the process's command line (exits with clap's message on a syntax error or `--help`).
pub fn parse() -> Result<Invocation, ConfigError> {
    let matches = Cli::command().get_matches();
    assemble::invocation(&matches)
}

/// Parses `args` (the first is the program name), for tests.
pub fn parse_from<I, T>(args: I) -> Result<Invocation, ConfigError>
where
    I: IntoIterator<Item = T>,
    T: Into<std::ffi::OsString> + Clone,
{
    let matches = Cli::command()
        .try_get_matches_from(args)
        .map_err(|e| ConfigError::Usage(e.to_string()))?;
    assemble::invocation(&matches)
}

/// Validated settings of a server run.
#[derive(Debug, Clone)]
pub struct Config {
    /// HTTP listen address.
    pub listen: SocketAddr,
    /// TLS certificate and key for the listener (`--tls-cert`, `--tls-key`); `None`: plain.
    pub tls: Option<TlsSettings>,
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
    /// Age after which ticks leave the ring (zero: only when overwritten).
    pub resume_window: Duration,
    /// Heartbeat interval.
    pub heartbeat: Duration,
    /// `retry:` hint.
    pub retry: Duration,
    /// Per-subscriber queue before conflation.
    pub subscriber_buffer: usize,
    /// SO_SNDBUF for streams (0 = default).
    pub sndbuf: usize,
    /// TCP_NOTSENT_LOWAT for streams (0 = off).
    pub notsent_lowat: u32,
    /// How often at most a shard hands new ticks to its streams.
    pub coalesce: Coalesce,
    /// Graceful shutdown bound.
    pub drain_timeout: Duration,
    /// Feed line limit.
    pub max_line: usize,
    /// Distinct symbol limit.
    pub max_symbols: usize,
    /// Symbols per request limit.
    pub max_symbols_per_request: usize,
    /// Connection, rate and request limits of the HTTP edge.
    pub limits: LimitSettings,
    /// Origins allowed to read the API from a browser.
    pub cors_origins: Vec<String>,
    /// `--auth jwt`: how tokens are verified (`None`: `--auth none`).
    pub auth: Option<AuthSettings>,
    /// `--jwt-cookie`.
    pub jwt_cookie: Option<String>,
    /// `--metrics-listen`: a private address for `/metrics` and `/healthz`.
    pub metrics_listen: Option<SocketAddr>,
    /// First sequence number.
    pub seq_base: u64,
    /// Whether the process may use transparent huge pages (`main` turns them off otherwise).
    pub transparent_huge_pages: bool,
    /// `--role feed|edge` with its Redis (`None`: `--role all`).
    pub cluster: Option<ClusterSettings>,
}

impl Config {
    /// The shards' part of the settings.
    pub fn shard_settings(&self) -> ShardSettings {
        ShardSettings {
            heartbeat: self.heartbeat,
            retry: self.retry,
            subscriber_buffer: self.subscriber_buffer,
            coalesce: self.coalesce,
        }
    }

    /// The HTTP surface's part of the settings.
    pub fn http_settings(&self) -> HttpSettings {
        HttpSettings {
            sndbuf: self.sndbuf,
            notsent_lowat: self.notsent_lowat,
            max_symbols_per_request: self.max_symbols_per_request,
            limits: self.limits.clone(),
            cors_origins: self.cors_origins.clone(),
            private_metrics: self.metrics_listen.is_some(),
            tls: self.tls.clone(),
        }
    }
}

#[cfg(test)]
mod tests;
