//! Why a setting cannot be used: [`ConfigError`], reported by `main` with the flag or file
//! field it concerns, before anything starts.

use crate::tick::SymbolError;

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
    /// `--auth` names no known mode.
    #[error("--auth {0:?}: expected none or jwt")]
    BadAuth(String),
    /// `tickcast token --tier` names no known tier.
    #[error("--tier {0:?}: expected realtime or delayed")]
    BadTier(String),
    /// A `--cors-origin` is neither `*` nor `scheme://host[:port]`.
    #[error("--cors-origin {0:?}: expected * or an origin such as https://app.example.com")]
    BadOrigin(String),
    /// A numeric setting is out of range, or settings contradict each other.
    #[error("{0}")]
    OutOfRange(&'static str),
    /// Only one of `--tls-cert` and `--tls-key` is set.
    #[error("{given} needs {missing}: give both --tls-cert and --tls-key (or neither)")]
    TlsHalf {
        /// The one that is set.
        given: &'static str,
        /// The one that is missing.
        missing: &'static str,
    },
    /// A cluster setting cannot be used (`--redis`).
    #[error("{0}")]
    Cluster(String),
    /// The command line does not parse.
    #[error("{0}")]
    Usage(String),
    /// `--format` names no known message format.
    #[error(
        "--format {0:?}: expected auto, native, binance, coinbase, coinbase-advanced, kraken or bitstamp"
    )]
    BadFormat(String),
    /// `--speed` is neither a positive factor nor `max`.
    #[error("--speed {0:?}: expected a positive factor such as 1 or 10, or max")]
    BadSpeed(String),
    /// A time bound does not parse.
    #[error("{flag} {text:?}: expected RFC 3339 (2024-08-08T23:55:00Z) or ns since the epoch")]
    BadTime {
        /// The flag.
        flag: &'static str,
        /// The value.
        text: String,
    },
    /// `--rotate` is neither a size nor a duration.
    #[error(
        "--rotate {0:?}: expected a size (512MiB, 1GB; at least 4096 bytes) or a duration (15m, 1h)"
    )]
    BadRotate(String),
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
