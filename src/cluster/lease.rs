//! The publishing lease: at most one feed node publishes to a cluster at a time.
//!
//! A key `{prefix}:leader` holds the publishing node's id with a TTL (`--leader-lease`). A feed
//! node takes it with `SET NX PX` before it reads any feed ([`acquire`]); until then it waits as
//! a standby. The holder renews it ([`renew`]) every third of the lease and with every publish:
//! the publish itself is a Lua script that first checks the key still names this node
//! ([`super::publish`]), so a node that lost the lease (paused, cut off from Redis longer than
//! the lease, while a standby took over) can never publish again, even once: Redis refuses it
//! atomically, and the node exits so that its supervisor starts it again as a standby.
//!
//! What is supported: one active feed node plus any number of standbys. A standby reads no feed
//! while it waits, so the ticks that arrive between the holder's death and the standby's
//! take-over (up to one lease) are not in the cluster; edges see the new node's ids as a new
//! epoch and their clients get `reset` + snapshots. What is not: two nodes publishing the same
//! symbols at once (each numbers its own ticks; duplicates could not be matched by id).
//! Must never publish without checking the lease in the same script.

use std::time::Duration;

use redis::Script;
use redis::aio::MultiplexedConnection;

use super::{ClusterError, Keys, bounded};

/// Renews the lease when this node holds it, or takes it when nobody does (it expired while
/// Redis was away, or Redis restarted empty); returns the holder afterwards.
const RENEW: &str = r#"
local holder = redis.call('GET', KEYS[1])
if holder == ARGV[1] then
  redis.call('PEXPIRE', KEYS[1], ARGV[2])
  return ARGV[1]
end
if not holder then
  redis.call('SET', KEYS[1], ARGV[1], 'PX', ARGV[2])
  return ARGV[1]
end
return holder
"#;

/// Deletes the lease only if this node holds it.
const RELEASE: &str = r#"
if redis.call('GET', KEYS[1]) == ARGV[1] then
  return redis.call('DEL', KEYS[1])
end
return 0
"#;

/// Tries once to take the lease; `Ok(None)` when this node holds it now, `Ok(Some(holder))`
/// when another node does.
pub async fn try_acquire(
    conn: &mut MultiplexedConnection,
    keys: &Keys,
    node: &str,
    lease: Duration,
) -> Result<Option<String>, ClusterError> {
    let holder = renew(conn, keys, node, lease).await?;
    Ok((holder != node).then_some(holder))
}

/// Renews (or re-takes) the lease; returns who holds it now.
pub async fn renew(
    conn: &mut MultiplexedConnection,
    keys: &Keys,
    node: &str,
    lease: Duration,
) -> Result<String, ClusterError> {
    let script = Script::new(RENEW);
    let mut invocation = script.key(&keys.leader);
    invocation.arg(node).arg(lease_ms(lease));
    bounded(invocation.invoke_async(conn)).await
}

/// Gives the lease up (clean shutdown), so a standby takes over at once.
pub async fn release(
    conn: &mut MultiplexedConnection,
    keys: &Keys,
    node: &str,
) -> Result<(), ClusterError> {
    let script = Script::new(RELEASE);
    let mut invocation = script.key(&keys.leader);
    invocation.arg(node);
    bounded(invocation.invoke_async::<i64>(conn))
        .await
        .map(drop)
}

/// Waits until this node holds the lease: a standby while another node does, retrying every
/// third of the lease (and with [`super::Backoff`] while Redis cannot be reached). Returns the
/// connection it took the lease on.
pub async fn acquire(
    client: &redis::Client,
    keys: &Keys,
    node: &str,
    lease: Duration,
    metrics: &crate::metrics::ClusterMetrics,
) -> MultiplexedConnection {
    use std::sync::atomic::Ordering;
    let mut backoff = super::Backoff::default();
    let mut told = None::<String>;
    let mut down = false;
    loop {
        let attempt = async {
            let mut conn = super::connect(client).await?;
            let holder = try_acquire(&mut conn, keys, node, lease).await?;
            Ok::<_, ClusterError>((conn, holder))
        };
        match attempt.await {
            Ok((conn, holder)) => {
                down = false;
                backoff.reset();
                metrics.redis_up.store(1, Ordering::Relaxed);
                let Some(holder) = holder else {
                    metrics.leader.store(1, Ordering::Relaxed);
                    tracing::info!(node, "took the publishing lease");
                    return conn;
                };
                if told.as_ref() != Some(&holder) {
                    tracing::info!(
                        %holder,
                        lease = ?lease,
                        "standby: another feed node holds the publishing lease; waiting for it"
                    );
                    told = Some(holder);
                }
                tokio::time::sleep(lease / 3).await;
            }
            Err(error) => {
                if !down {
                    down = true;
                    metrics.redis_up.store(0, Ordering::Relaxed);
                    metrics.redis_disconnects.fetch_add(1, Ordering::Relaxed);
                    tracing::warn!(%error, "cannot reach Redis to take the publishing lease; retrying");
                }
                backoff.sleep().await;
            }
        }
    }
}

/// The lease in milliseconds, as Redis takes it (at least 1).
pub fn lease_ms(lease: Duration) -> u64 {
    (lease.as_millis() as u64).max(1)
}
