//! The cluster: one feed node, many edge nodes, joined by Redis (`--role feed|edge`).
//!
//! Place in the flow: on a feed node ([`publish`]) a publisher thread follows the ring like a
//! shard does and publishes each run of already-sequenced events as one batch ([`wire`]): on the
//! live pub/sub channel, appended to a capped Redis Stream (history), and each symbol's newest
//! in a hash (latest prices), all in one Lua script that first checks the node still holds the
//! publishing lease ([`lease`]), so two feed nodes never both publish. On an edge node
//! ([`edge`]) a follower thread is the ring's one writer in place of the sequencer's feeds: it
//! backfills ring and cache from the stream and the hash before the node accepts clients, then
//! takes the live batches, filling any gap from the stream. The shards, HTTP and everything
//! downstream are the same code as `--role all`: an edge's events carry the feed node's ids and
//! bytes, so `Last-Event-ID` resumes on any node.
//!
//! Redis layout (`{prefix}` is `--redis-prefix`):
//! - `{prefix}:live`: pub/sub channel, one message per batch. One channel, not one per symbol
//!   group: an edge's ring is the one global sequence (that is what makes any id resumable on
//!   any edge), so every edge takes every batch anyway.
//! - `{prefix}:stream`: one entry per batch, id `{last seq}-0`, field `b` = the batch; trimmed
//!   (`MINID ~`) to the feed node's `--resume-window` and ring capacity.
//! - `{prefix}:latest`: hash, symbol → a one-event batch of its newest event.
//! - `{prefix}:leader`: the publishing lease (node id, with a TTL).
//!
//! Faults: a node that loses Redis keeps serving what it holds (`/healthz` says `degraded`,
//! `tickcast_cluster_redis_up` is 0) and reconnects with [`Backoff`]; the feed node's ring
//! keeps what it could not publish, and an edge backfills what it missed. A gap nothing can
//! fill becomes a `reset` for the clients, never a silent hole.
//!
//! Imports: above `feed` (the sequencer an edge drives), `ring`, `cache`, `frame`, `metrics`;
//! `config` and `server` import it. Must never block a shard or the sequencer on Redis: both
//! only ever meet the cluster through the ring.

pub mod edge;
pub mod lease;
pub mod publish;
pub mod wire;

use std::time::Duration;

/// What a node does in the cluster (`--role`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Role {
    /// Feeds, sequencer and clients in one process; no Redis.
    #[default]
    All,
    /// Reads feeds, sequences, publishes to Redis (and serves clients like `All`).
    Feed,
    /// Serves clients from what Redis carries; reads no feed.
    Edge,
}

impl Role {
    /// The name on the command line and in the ready line.
    pub fn as_str(self) -> &'static str {
        match self {
            Role::All => "all",
            Role::Feed => "feed",
            Role::Edge => "edge",
        }
    }
}

impl std::str::FromStr for Role {
    type Err = String;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        match s {
            "all" => Ok(Role::All),
            "feed" => Ok(Role::Feed),
            "edge" => Ok(Role::Edge),
            other => Err(format!("unknown role {other:?} (all, feed or edge)")),
        }
    }
}

/// How a feed or edge node reaches the cluster.
#[derive(Clone)]
pub struct ClusterSettings {
    /// `--role feed` or `--role edge`.
    pub role: Role,
    /// `--redis`: the Redis URL (credentials included, never logged).
    pub redis_url: String,
    /// `--redis-prefix`: prefix of every key and channel.
    pub prefix: String,
    /// `--leader-lease`: how long a feed node's lease lasts without renewal.
    pub lease: Duration,
    /// `--redis-ca`: the PEM root(s) a `rediss://` server's certificate must chain to, instead
    /// of the system's trust store.
    pub ca: Option<std::path::PathBuf>,
}

/// `--check-config` prints the settings: the URL's password must not be in that output.
impl std::fmt::Debug for ClusterSettings {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ClusterSettings")
            .field("role", &self.role)
            .field("redis_url", &redacted(&self.redis_url))
            .field("prefix", &self.prefix)
            .field("lease", &self.lease)
            .field("ca", &self.ca)
            .finish()
    }
}

/// The URL with any password replaced by `***`.
pub fn redacted(url: &str) -> String {
    let Some((scheme, rest)) = url.split_once("://") else {
        return url.to_owned();
    };
    match rest.rsplit_once('@') {
        Some((userinfo, host)) => {
            let user = userinfo.split_once(':').map_or(userinfo, |(user, _)| user);
            format!("{scheme}://{user}:***@{host}")
        }
        None => url.to_owned(),
    }
}

impl ClusterSettings {
    /// The key and channel names.
    pub fn keys(&self) -> Keys {
        Keys {
            live: format!("{}:live", self.prefix),
            stream: format!("{}:stream", self.prefix),
            latest: format!("{}:latest", self.prefix),
            leader: format!("{}:leader", self.prefix),
        }
    }

    /// The Redis client (the URL and the `--redis-ca` file are checked, no connection is made).
    pub fn client(&self) -> Result<redis::Client, ClusterError> {
        let url = |e: redis::RedisError| ClusterError::Url(e.to_string());
        let Some(ca) = &self.ca else {
            return redis::Client::open(self.redis_url.as_str()).map_err(url);
        };
        if !self.redis_url.starts_with("rediss://") {
            return Err(ClusterError::Url(
                "--redis-ca goes with a rediss:// URL".into(),
            ));
        }
        let root = std::fs::read(ca)
            .map_err(|e| ClusterError::Url(format!("--redis-ca {}: {e}", ca.display())))?;
        let certificates = redis::TlsCertificates {
            client_tls: None,
            root_cert: Some(root),
        };
        redis::Client::build_with_tls(self.redis_url.as_str(), certificates).map_err(url)
    }
}

/// The names of the cluster's keys and channel (see the module doc).
#[derive(Debug, Clone)]
pub struct Keys {
    /// Pub/sub channel of live batches.
    pub live: String,
    /// Stream of recent batches.
    pub stream: String,
    /// Hash of each symbol's newest event.
    pub latest: String,
    /// The publishing lease.
    pub leader: String,
}

/// Why the cluster part of a node failed.
#[derive(Debug, thiserror::Error)]
pub enum ClusterError {
    /// `--redis` is not a usable URL.
    #[error("--redis: {0}")]
    Url(String),
    /// A Redis command failed (connection lost, timeout, error reply).
    #[error("redis: {0}")]
    Redis(#[from] redis::RedisError),
    /// A Redis command took longer than its bound.
    #[error("redis: no answer within {0:?}")]
    Timeout(Duration),
    /// Another feed node holds the publishing lease.
    #[error("another feed node ({holder}) holds the publishing lease")]
    LeaseLost {
        /// The node that holds it.
        holder: String,
    },
    /// The stream already holds ids at or past this node's: another node published after it.
    #[error("the cluster's stream is past this node's ids (last {last}); restart to renumber")]
    Stale {
        /// The last sequence of the refused batch.
        last: u64,
    },
    /// A thread could not be started.
    #[error("cannot start the {what} thread: {source}")]
    Spawn {
        /// Which.
        what: &'static str,
        /// The OS error.
        source: std::io::Error,
    },
}

/// Bound on connecting to Redis and on one command: past it the connection counts as lost.
pub const COMMAND_TIMEOUT: Duration = Duration::from_secs(2);

/// Runs `work` with [`COMMAND_TIMEOUT`].
pub async fn bounded<T>(
    work: impl Future<Output = Result<T, redis::RedisError>>,
) -> Result<T, ClusterError> {
    match tokio::time::timeout(COMMAND_TIMEOUT, work).await {
        Ok(result) => result.map_err(ClusterError::from),
        Err(_) => Err(ClusterError::Timeout(COMMAND_TIMEOUT)),
    }
}

/// A multiplexed command connection with the cluster's timeouts.
pub async fn connect(
    client: &redis::Client,
) -> Result<redis::aio::MultiplexedConnection, ClusterError> {
    let config = redis::AsyncConnectionConfig::new()
        .set_connection_timeout(Some(COMMAND_TIMEOUT))
        .set_response_timeout(Some(COMMAND_TIMEOUT));
    bounded(client.get_multiplexed_async_connection_with_config(&config)).await
}

/// The last sequence the cluster's stream holds (0 when it is empty): a feed node numbers
/// after it, so ids keep increasing across feed nodes and restarts.
pub async fn stream_last(
    conn: &mut redis::aio::MultiplexedConnection,
    keys: &Keys,
) -> Result<u64, ClusterError> {
    let newest: Vec<(String, Vec<Vec<u8>>)> = bounded(
        redis::cmd("XREVRANGE")
            .arg(&keys.stream)
            .arg("+")
            .arg("-")
            .arg("COUNT")
            .arg(1)
            .query_async(conn),
    )
    .await?;
    // Entry ids are `{last seq of the batch}-0`.
    Ok(newest
        .first()
        .and_then(|(id, _)| id.split('-').next())
        .and_then(|ms| ms.parse().ok())
        .unwrap_or(0))
}

/// Reconnection delays: exponential from [`Backoff::FIRST`] to [`Backoff::MAX`], each with up to
/// half again of random jitter, so a fleet of edges that lost the same Redis does not come back
/// in lock-step.
#[derive(Debug, Clone)]
pub struct Backoff {
    next: Duration,
}

impl Default for Backoff {
    fn default() -> Self {
        Self { next: Self::FIRST }
    }
}

impl Backoff {
    /// The first delay.
    pub const FIRST: Duration = Duration::from_millis(50);
    /// The longest delay.
    pub const MAX: Duration = Duration::from_secs(2);

    /// The delay before the next attempt (`jitter` in `0.0..1.0`).
    pub fn delay(&mut self, jitter: f64) -> Duration {
        let base = self.next;
        self.next = (self.next * 2).min(Self::MAX);
        base + base.mul_f64(jitter.clamp(0.0, 1.0) / 2.0)
    }

    /// After a success: the next failure starts from the first delay again.
    pub fn reset(&mut self) {
        self.next = Self::FIRST;
    }

    /// Sleeps the next delay (with fresh jitter).
    pub async fn sleep(&mut self) {
        tokio::time::sleep(self.delay(fastrand::f64())).await;
    }
}

/// The id a feed node's lease names: unique per process run.
pub fn node_id() -> String {
    format!("{}-{:016x}", std::process::id(), fastrand::u64(..))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn backoff_doubles_to_its_cap_with_bounded_jitter_and_resets() {
        let mut backoff = Backoff::default();
        let plain: Vec<_> = (0..8).map(|_| backoff.delay(0.0)).collect();
        assert_eq!(plain[0], Duration::from_millis(50));
        assert_eq!(plain[1], Duration::from_millis(100));
        assert_eq!(plain[5], Duration::from_millis(1600));
        assert_eq!(plain[6], Backoff::MAX);
        assert_eq!(plain[7], Backoff::MAX);
        assert_eq!(backoff.delay(1.0), Backoff::MAX.mul_f64(1.5));
        backoff.reset();
        let jittered = backoff.delay(0.5);
        assert_eq!(jittered, Duration::from_millis(50).mul_f64(1.25));
    }

    #[test]
    fn roles_parse_and_a_bad_url_is_refused_before_connecting() {
        assert_eq!("edge".parse::<Role>(), Ok(Role::Edge));
        assert!("leader".parse::<Role>().is_err());
        let settings = ClusterSettings {
            role: Role::Edge,
            redis_url: "http://127.0.0.1:6379".into(),
            prefix: "t".into(),
            lease: Duration::from_secs(5),
            ca: None,
        };
        assert!(matches!(settings.client(), Err(ClusterError::Url(_))));
        let shown = format!(
            "{:?}",
            ClusterSettings {
                redis_url: "redis://app:s3cret@10.0.0.5:6379/2".into(),
                ..settings.clone()
            }
        );
        assert!(
            shown.contains("redis://app:***@10.0.0.5:6379/2") && !shown.contains("s3cret"),
            "{shown}"
        );
        assert_eq!(redacted("redis://:pw@h:1"), "redis://:***@h:1");
        assert_eq!(redacted("redis://h:1"), "redis://h:1");
        assert_eq!(settings.keys().stream, "t:stream");
    }
}
