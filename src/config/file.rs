//! The `--config` TOML file: every field optional and documented, unknown fields refused, merged
//! under the flags given on the command line.
//!
//! Place in the flow: [`super::parse`] merges the file into [`ServeArgs`] before validation, so a
//! setting comes from the command line if given there, else from the file, else its default.
//! Must never override a flag the command line set.

use std::net::SocketAddr;
use std::path::PathBuf;

use clap::ArgMatches;

use super::ConfigError;
use super::cli::ServeArgs;
use super::values::parse_coalesce;

/// The `--config` file: every field optional, unknown fields refused.
#[derive(Debug, Default, serde::Deserialize)]
#[serde(deny_unknown_fields)]
pub struct FileConfig {
    /// HTTP listen address, e.g. `"0.0.0.0:8080"`.
    pub listen: Option<SocketAddr>,
    /// TLS certificate chain (PEM), e.g. `"/etc/tickcast/cert.pem"`; with `tls_key`. A relative
    /// path is taken from the working directory. Re-read on SIGHUP.
    pub tls_cert: Option<PathBuf>,
    /// The private key of `tls_cert` (PEM). Re-read on SIGHUP.
    pub tls_key: Option<PathBuf>,
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
    /// Age after which ticks leave the ring, e.g. `"60s"` (`"0s"`: only when overwritten).
    pub resume_window: Option<String>,
    /// Heartbeat interval, e.g. `"15s"`.
    pub heartbeat: Option<String>,
    /// `retry:` hint, e.g. `"2s"`.
    pub retry: Option<String>,
    /// Events queued per subscriber before conflation.
    pub subscriber_buffer: Option<usize>,
    /// SO_SNDBUF of stream sockets (0 = kernel default).
    pub sndbuf: Option<usize>,
    /// TCP_NOTSENT_LOWAT of stream sockets (0 = off).
    pub notsent_lowat: Option<u32>,
    /// How often at most a shard hands new ticks to its streams: `"auto"` or e.g. `"5ms"`.
    pub coalesce: Option<String>,
    /// The widest window of `coalesce = "auto"`, e.g. `"16ms"`.
    pub coalesce_max: Option<String>,
    /// Bound on graceful shutdown, e.g. `"5s"`.
    pub drain_timeout: Option<String>,
    /// Longest feed line in bytes.
    pub max_line: Option<usize>,
    /// Most distinct symbols an open universe accepts.
    pub max_symbols: Option<usize>,
    /// Most symbols per request.
    pub max_symbols_per_request: Option<usize>,
    /// Open HTTP connections in total (default: the open-files limit less 512).
    pub max_connections: Option<usize>,
    /// Open connections per client IP (0: no limit).
    pub max_connections_per_ip: Option<usize>,
    /// Open streams per token subject (0: no limit).
    pub max_streams_per_sub: Option<usize>,
    /// New connections per second per IP (0: no limit).
    pub connect_rate_per_ip: Option<f64>,
    /// New connections one IP may open at once.
    pub connect_burst_per_ip: Option<u32>,
    /// Largest request header block in bytes.
    pub max_header_bytes: Option<usize>,
    /// Most headers per request.
    pub max_headers: Option<usize>,
    /// Longest request target in bytes.
    pub max_url_bytes: Option<usize>,
    /// Time to send a whole request head, e.g. `"10s"`.
    pub header_read_timeout: Option<String>,
    /// Time a new connection may send nothing, e.g. `"30s"`.
    pub idle_timeout: Option<String>,
    /// Origins allowed to read the API from a browser, e.g. `["https://app.example.com"]`.
    pub cors_origins: Option<Vec<String>>,
    /// `"none"` or `"jwt"`.
    pub auth: Option<String>,
    /// HS256 secret or RS256/ES256 public key file.
    pub jwt_key: Option<std::path::PathBuf>,
    /// JWKS file.
    pub jwks: Option<std::path::PathBuf>,
    /// Required `iss`.
    pub jwt_issuer: Option<String>,
    /// Required `aud`.
    pub jwt_audience: Option<String>,
    /// Clock skew on `exp`/`nbf`, e.g. `"30s"`.
    pub jwt_leeway: Option<String>,
    /// Cookie to read the token from.
    pub jwt_cookie: Option<String>,
    /// Private address of `/metrics` and `/healthz`, e.g. `"127.0.0.1:9100"`.
    pub metrics_listen: Option<SocketAddr>,
    /// First sequence number.
    pub seq_base: Option<u64>,
    /// Allow transparent huge pages (default false).
    pub transparent_huge_pages: Option<bool>,
    /// `"all"`, `"feed"` or `"edge"`.
    pub role: Option<String>,
    /// The cluster's Redis URL, e.g. `"redis://:secret@10.0.0.5:6379"`.
    pub redis: Option<String>,
    /// PEM root(s) of a `rediss://` Redis's certificate.
    pub redis_ca: Option<std::path::PathBuf>,
    /// Prefix of the cluster's Redis keys (default `"tickcast"`).
    pub redis_prefix: Option<String>,
    /// The feed node's publishing lease, e.g. `"5s"`.
    pub leader_lease: Option<String>,
}

impl ServeArgs {
    /// Merges the `--config` file (if any) under the flags found in `matches`: a setting comes
    /// from the command line if given there, else from the file, else its default.
    pub fn merge_file(&mut self, matches: &ArgMatches) -> Result<(), ConfigError> {
        let given =
            |id: &str| matches.value_source(id) == Some(clap::parser::ValueSource::CommandLine);
        let Some(path) = self.config.clone() else {
            return Ok(());
        };
        let text = std::fs::read_to_string(&path).map_err(|source| ConfigError::FileRead {
            path: path.display().to_string(),
            source,
        })?;
        let file: FileConfig = toml::from_str(&text).map_err(|error| ConfigError::FileParse {
            path: path.display().to_string(),
            message: error.to_string(),
        })?;
        self.merge(file, given)
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
        take!(tls_cert, some);
        take!(tls_key, some);
        take!(feeds);
        take!(synthetic_symbols);
        take!(synthetic_rate);
        take!(synthetic_seed);
        take!(universe, some);
        take!(shards, some);
        take!(ring_capacity);
        if let Some(text) = file.resume_window
            && !given("resume_window")
        {
            let window = humantime::parse_duration(&text).map_err(|e| ConfigError::FileValue {
                field: "resume_window",
                message: format!("{text:?}: {e}"),
            })?;
            self.resume_window = Some(window);
        }
        take!(heartbeat, duration);
        take!(retry, duration);
        take!(subscriber_buffer);
        take!(sndbuf);
        take!(notsent_lowat);
        if let Some(text) = file.coalesce
            && !given("coalesce")
        {
            self.coalesce = parse_coalesce(&text).map_err(|message| ConfigError::FileValue {
                field: "coalesce",
                message: format!("{text:?}: {message}"),
            })?;
        }
        take!(coalesce_max, duration);
        take!(drain_timeout, duration);
        take!(max_line);
        take!(max_symbols);
        take!(max_symbols_per_request);
        take!(max_connections, some);
        take!(max_connections_per_ip);
        take!(max_streams_per_sub);
        take!(connect_rate_per_ip);
        take!(connect_burst_per_ip);
        take!(max_header_bytes);
        take!(max_headers);
        take!(max_url_bytes);
        take!(header_read_timeout, duration);
        take!(idle_timeout, duration);
        take!(cors_origins);
        take!(auth);
        take!(jwt_key, some);
        take!(jwks, some);
        take!(jwt_issuer, some);
        take!(jwt_audience, some);
        take!(jwt_leeway, duration);
        take!(jwt_cookie, some);
        take!(metrics_listen, some);
        take!(seq_base, some);
        take!(transparent_huge_pages);
        if let Some(text) = file.role
            && !given("role")
        {
            self.role =
                super::values::parse_role(&text).map_err(|message| ConfigError::FileValue {
                    field: "role",
                    message,
                })?;
        }
        take!(redis, some);
        take!(redis_ca, some);
        take!(redis_prefix);
        take!(leader_lease, duration);
        Ok(())
    }
}
