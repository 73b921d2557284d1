//! The acceptor: takes each TCP connection, asks the edge's [`Limits`] about it, and hands it
//! to the shard with the fewest connections.
//!
//! Place in the flow: one task on the control runtime (`server` spawns it). It never reads from
//! a socket: a refused connection goes to a shard like any other, with its refusal, and is
//! answered there (so the answer can be a proper HTTP response, over TLS too), unless too many
//! refusals are in flight, when it is closed at once.
//! Must never block, and never stop on an accept error (EMFILE and friends back off).

use std::sync::Arc;
use std::sync::atomic::Ordering;
use std::time::{Duration, Instant};

use tokio::net::TcpListener;
use tokio::sync::mpsc::UnboundedSender;
use tokio_util::sync::CancellationToken;

use super::Connection;
use super::limits::{Admission, Limits};
use crate::metrics::Metrics;

/// Accepts connections until `stop`, handing each to the shard with the fewest.
pub async fn accept(
    listener: TcpListener,
    shards: Vec<UnboundedSender<Connection>>,
    metrics: Arc<Metrics>,
    limits: Arc<Limits>,
    stop: CancellationToken,
) {
    loop {
        let accepted = tokio::select! {
            _ = stop.cancelled() => return,
            accepted = listener.accept() => accepted,
        };
        let (stream, peer) = match accepted {
            Ok(accepted) => accepted,
            Err(error) => {
                // EMFILE and friends: back off instead of spinning; established streams go on.
                tracing::warn!(%error, "accept failed");
                tokio::time::sleep(Duration::from_millis(20)).await;
                continue;
            }
        };
        let admission = limits.admit(peer.ip(), Instant::now());
        if let Admission::Closed(refusal) = admission {
            tracing::debug!(%peer, reason = refusal.code(), "connection closed unanswered");
            continue;
        }
        let Ok(stream) = stream.into_std() else {
            continue;
        };
        let target = (0..shards.len())
            .min_by_key(|&i| metrics.shard(i).connections.load(Ordering::Relaxed))
            .unwrap_or(0);
        // The shard counts a connection only once it adopts it; count it now so a burst of
        // accepts spreads instead of piling onto one shard.
        metrics
            .shard(target)
            .connections
            .fetch_add(1, Ordering::Relaxed);
        if shards[target]
            .send(Connection { stream, admission })
            .is_err()
        {
            metrics
                .shard(target)
                .connections
                .fetch_sub(1, Ordering::Relaxed);
            return;
        }
    }
}
