//! Setting values written as text (a flag, a TOML string) parsed into typed values: feed URLs,
//! time bounds, rotation sizes and durations, coalescing windows.
//!
//! Place in the flow: clap's value parsers and [`super::assemble`] call these while the
//! command line and the `--config` file are read, once at start-up.
//! Must never read the environment or the clock.

use std::net::SocketAddr;
use std::time::{Duration, UNIX_EPOCH};

use super::{ConfigError, FeedSource};
use crate::feed::venue::Format;
use crate::replay::record::Rotate;
use crate::shard::coalesce::Coalesce;

/// `--coalesce`: `auto` or a duration.
pub(super) fn parse_coalesce(text: &str) -> Result<Coalesce, String> {
    text.parse()
}

/// A time bound: RFC 3339 (`2024-08-08T23:55:00Z`, fractions allowed) or ns since the epoch.
pub fn parse_time(flag: &'static str, text: &str) -> Result<u64, ConfigError> {
    if !text.is_empty() && text.bytes().all(|b| b.is_ascii_digit()) {
        return text.parse().map_err(|_| ConfigError::BadTime {
            flag,
            text: text.to_owned(),
        });
    }
    humantime::parse_rfc3339_weak(text)
        .ok()
        .and_then(|t| t.duration_since(UNIX_EPOCH).ok())
        .map(|d| d.as_nanos().min(u128::from(u64::MAX)) as u64)
        .ok_or_else(|| ConfigError::BadTime {
            flag,
            text: text.to_owned(),
        })
}

/// `--rotate`: a duration (`15m`, `1h`) or a size (`512MiB`, `1GB`, `1000000`).
pub fn parse_rotate(text: &str) -> Result<Rotate, ConfigError> {
    let bad = || ConfigError::BadRotate(text.to_owned());
    let digits = text.bytes().take_while(u8::is_ascii_digit).count();
    let (number, unit) = text.split_at(digits);
    let size = number.parse::<u64>().ok().and_then(|n| {
        let factor: u64 = match unit.trim() {
            "" | "B" => 1,
            "KB" | "kB" => 1_000,
            "MB" => 1_000_000,
            "GB" => 1_000_000_000,
            "KiB" => 1 << 10,
            "MiB" => 1 << 20,
            "GiB" => 1 << 30,
            _ => return None,
        };
        n.checked_mul(factor)
    });
    if let Some(size) = size {
        return if size >= 4096 {
            Ok(Rotate::Size(size))
        } else {
            Err(bad())
        };
    }
    match humantime::parse_duration(text) {
        Ok(every) if every >= Duration::from_secs(1) => Ok(Rotate::Every(every)),
        _ => Err(bad()),
    }
}

/// Parses `synthetic` or `tcp-listen://HOST:PORT[?format=NAME]`.
pub(super) fn parse_feed(text: &str) -> Result<FeedSource, ConfigError> {
    if text == "synthetic" {
        return Ok(FeedSource::Synthetic);
    }
    let bad = || ConfigError::BadFeed(text.to_owned());
    let Some(rest) = text.strip_prefix("tcp-listen://") else {
        return Err(bad());
    };
    let (addr, query) = rest.split_once('?').unwrap_or((rest, ""));
    let addr: SocketAddr = addr.parse().map_err(|_| bad())?;
    let mut format = Format::Native;
    for pair in query.split('&').filter(|p| !p.is_empty()) {
        match pair.split_once('=') {
            Some(("format", name)) => {
                format = name
                    .parse()
                    .map_err(|_| ConfigError::BadFormat(name.to_owned()))?;
            }
            _ => return Err(bad()),
        }
    }
    Ok(FeedSource::TcpListen { addr, format })
}

/// `--role`: all, feed or edge.
pub fn parse_role(text: &str) -> Result<crate::cluster::Role, String> {
    text.parse()
}
