//! Start-up and shutdown: wires the feeds, the sequencer, the shards and the acceptor together.
//!
//! Shutdown order (one root token per stage, bounded by `--drain-timeout` overall):
//! 1. mark draining (health answers 503, new streams are refused) and stop the feeds;
//! 2. the sequencer ingests what the feeds already sent (nothing accepted is lost) and exits;
//! 3. stop accepting; each shard dispatches what the ring still holds, flushes every stream,
//!    ends it with a `retry:` hint and a clean end of body, and closes its connections;
//! 4. whatever is still open when the timeout expires is cut.
//!
//! SIGHUP re-reads what can change under a running server (`reload_on_sighup`): the TLS
//! certificate and key today. Each [`Reloadable`] keeps what it had when its new files are
//! broken; open connections are never touched.
//!
//! Must never leave a thread or task running past `run`'s return.

use std::io::Write as _;
use std::net::SocketAddr;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};

use tokio::net::TcpListener;
use tokio::signal::unix::{Signal, SignalKind, signal};
use tokio_util::sync::CancellationToken;
use tokio_util::task::TaskTracker;

use crate::auth::{AuthError, Verifier};
use crate::cache::{LatestPrices, UniverseKind};
use crate::cluster::{Role, lease};
use crate::config::{Config, FeedSource};
use crate::feed::sequencer::Sequencer;
use crate::feed::{synthetic, tcp};
use crate::http::authorize::Gate;
use crate::http::tls::TlsError;
use crate::http::{self, Http};
use crate::metrics::Metrics;
use crate::ring::Ring;
use crate::shard::{self, ShardHandle, Shared};

/// Why the server could not start.
#[derive(Debug, thiserror::Error)]
pub enum ServerError {
    /// A listen address could not be bound.
    #[error("cannot listen on {addr}: {source}")]
    Bind {
        /// The address.
        addr: SocketAddr,
        /// The OS error.
        source: std::io::Error,
    },
    /// The TLS certificate or key cannot be used.
    #[error("{0}")]
    Tls(#[from] TlsError),
    /// The JWT verification keys cannot be loaded.
    #[error("--auth jwt: {0}")]
    Auth(#[from] AuthError),
    /// A replay's files cannot be opened.
    #[error("replay: {0}")]
    Replay(#[from] crate::replay::source::ReplayError),
    /// The cluster part failed (`--role feed|edge`): a bad `--redis`, the lease lost.
    #[error("cluster: {0}")]
    Cluster(#[from] crate::cluster::ClusterError),
    /// A thread or runtime could not be created.
    #[error("cannot start {what}: {source}")]
    Spawn {
        /// Which part.
        what: &'static str,
        /// The OS error.
        source: std::io::Error,
    },
}

/// Runs the server until `shutdown` completes, then drains.
pub async fn run(
    config: Config,
    shutdown: impl std::future::Future<Output = ()>,
) -> Result<(), ServerError> {
    let synthetic = config.feeds.contains(&FeedSource::Synthetic);
    // Sources whose symbols are not known up front make an open universe (unless --universe).
    let open_source = config
        .feeds
        .iter()
        .any(|f| matches!(f, FeedSource::TcpListen { .. } | FeedSource::Replay(_)));
    let mut declared = config.universe.clone().unwrap_or_default();
    if synthetic {
        declared.extend(synthetic::symbols(config.synthetic.symbols));
    }
    let role = config.cluster.as_ref().map_or(Role::All, |c| c.role);
    // An edge's symbols are whatever its feed node sequenced.
    let kind = if (config.universe.is_none() && open_source) || role == Role::Edge {
        UniverseKind::Open
    } else {
        UniverseKind::Closed
    };
    let metrics = Arc::new(Metrics::new(config.shards));
    metrics.cluster.role.store(
        match role {
            Role::All => 0,
            Role::Feed => 1,
            Role::Edge => 2,
        },
        Ordering::Relaxed,
    );
    let mut shutdown = std::pin::pin!(shutdown);
    // A feed node waits for the publishing lease (a standby meanwhile) before it reads any
    // feed, and numbers after the cluster's last id.
    let mut seq_base = config.seq_base;
    let mut publishing = None;
    if let Some(cluster) = config.cluster.as_ref().filter(|c| c.role == Role::Feed) {
        let client = cluster.client()?;
        let keys = cluster.keys();
        let node = crate::cluster::node_id();
        let taken = lease::acquire(&client, &keys, &node, cluster.lease, &metrics.cluster);
        let mut conn = tokio::select! {
            conn = taken => conn,
            _ = &mut shutdown => return Ok(()),
        };
        let last = crate::cluster::stream_last(&mut conn, &keys).await?;
        seq_base = seq_base.max(last + 1);
        tracing::info!(seq_base, last, "numbering after the cluster's last id");
        publishing = Some((client, keys, node, cluster.lease));
    }
    // An edge's ring starts empty and skips to the cluster's ids at its first backfill.
    let first = if role == Role::Edge { 1 } else { seq_base };
    let (ring, ring_writer) = Ring::with_writer(config.ring_capacity, first);
    let cache = Arc::new(LatestPrices::new(kind, &declared));
    let shared = Arc::new(Shared {
        settings: config.shard_settings(),
        ring: ring.clone(),
        cache: cache.clone(),
        metrics: metrics.clone(),
        draining: AtomicBool::new(false),
    });
    // The connection service of every shard: the shard knows nothing of HTTP.
    let verifier = match &config.auth {
        Some(settings) => Some(Arc::new(Verifier::load(settings.clone())?)),
        None => None,
    };
    let gate = match &verifier {
        Some(verifier) => Gate::jwt(verifier.clone(), config.jwt_cookie.clone()),
        None => Gate::open(),
    };
    let http_settings = config.http_settings();
    let plain = http_settings.tls.is_none();
    let http = Http::new(http_settings, gate, synthetic, config.shards)?;
    // Installed before the ready line: from then on SIGHUP reloads instead of ending the
    // process (its default action).
    let hangups = signal(SignalKind::hangup()).map_err(|source| ServerError::Spawn {
        what: "the SIGHUP handler",
        source,
    })?;
    let mut reloadables = Vec::new();
    if let Some(certificates) = http.certificates() {
        reloadables.push(Reloadable {
            what: "TLS certificate",
            reload: Box::new(move || certificates.reload().map_err(Into::into)),
        });
    }
    if let Some(verifier) = verifier {
        reloadables.push(Reloadable {
            what: "JWT verification keys",
            reload: Box::new(move || verifier.reload().map_err(Into::into)),
        });
    }
    let reloader = tokio::spawn(reload_on_sighup(hangups, reloadables));

    let http_stop = CancellationToken::new();
    let mut shards: Vec<ShardHandle<http::Connection>> = Vec::with_capacity(config.shards);
    for id in 0..config.shards {
        let handle = shard::spawn(id, shared.clone(), http.clone(), http_stop.child_token())
            .map_err(|source| ServerError::Spawn {
                what: "shard",
                source,
            })?;
        shards.push(handle);
    }
    let mut wakes: Vec<_> = shards.iter().map(|s| s.notify.clone()).collect();
    let publisher_wake = Arc::new(tokio::sync::Notify::new());
    if publishing.is_some() {
        wakes.push(publisher_wake.clone());
    }
    let sequencer = Sequencer::new(
        ring_writer,
        cache.clone(),
        metrics.clone(),
        wakes,
        config.max_symbols,
    )
    .resume_window(config.resume_window);
    // The ring's writer: the sequencer thread fed by the feeds, or on an edge the follower
    // fed by Redis (which must backfill before the node accepts clients).
    let cluster_stop = CancellationToken::new();
    let cluster_failed = CancellationToken::new();
    let (tx, writer_thread) = match config.cluster.as_ref().filter(|c| c.role == Role::Edge) {
        Some(cluster) => {
            let (thread, ready) = crate::cluster::edge::spawn(
                sequencer,
                cluster.client()?,
                cluster.keys(),
                metrics.clone(),
                cluster_stop.clone(),
            )?;
            tracing::info!("edge: backfilling from Redis before accepting clients");
            let backfilled = tokio::select! {
                ready = ready => ready.is_ok(),
                _ = &mut shutdown => false,
            };
            if !backfilled {
                cluster_stop.cancel();
                http_stop.cancel();
                let threads = std::iter::once(thread).chain(shards.into_iter().map(|s| s.thread));
                let _ = join_all(threads.collect()).await;
                return Ok(());
            }
            (None, thread)
        }
        None => {
            let (tx, thread) = sequencer.spawn().map_err(|source| ServerError::Spawn {
                what: "sequencer",
                source,
            })?;
            (Some(tx), thread)
        }
    };
    let publisher = match publishing {
        Some((client, keys, node, lease)) => Some(
            crate::cluster::publish::Publisher {
                ring: ring.clone(),
                cache: cache.clone(),
                metrics: metrics.clone(),
                wake: publisher_wake,
                client,
                keys,
                node,
                lease,
                epoch: seq_base,
                synthetic,
            }
            .spawn(cluster_stop.clone(), cluster_failed.clone())?,
        ),
        None => None,
    };

    let listener = bind_http(config.listen).map_err(|source| ServerError::Bind {
        addr: config.listen,
        source,
    })?;
    let http_addr = listener.local_addr().map_err(|source| ServerError::Bind {
        addr: config.listen,
        source,
    })?;
    let ops_stop = CancellationToken::new();
    let mut metrics_addr = None;
    if let Some(addr) = config.metrics_listen {
        let bind_error = |source| ServerError::Bind { addr, source };
        let ops = bind_http(addr).map_err(bind_error)?;
        metrics_addr = Some(ops.local_addr().map_err(bind_error)?);
        tokio::spawn(http::ops::serve(
            ops,
            http.state().clone(),
            shared.clone(),
            ops_stop.clone(),
        ));
    }

    let feed_stop = CancellationToken::new();
    let feeds = TaskTracker::new();
    let mut feed_addrs = Vec::new();
    for feed in &config.feeds {
        // An edge has no feeds (config refuses them) and no sequencer channel.
        let Some(tx) = tx.as_ref() else { break };
        match feed {
            FeedSource::Synthetic => {
                feeds.spawn(synthetic::run(
                    config.synthetic.clone(),
                    tx.clone(),
                    feed_stop.clone(),
                ));
            }
            FeedSource::Replay(spec) => {
                // Fail at start-up on a missing or unreadable file, not later in a thread.
                crate::replay::live::check(spec)?;
                let (spec, tx, metrics, stop) =
                    (spec.clone(), tx.clone(), metrics.clone(), feed_stop.clone());
                feeds.spawn(async move {
                    let replay = tokio::task::spawn_blocking(move || {
                        crate::replay::live::run(&spec, &tx, &metrics, &stop)
                    });
                    if let Err(error) = replay.await {
                        tracing::error!(%error, "replay thread failed");
                    }
                });
            }
            FeedSource::TcpListen { addr, format } => {
                let feed_listener =
                    TcpListener::bind(addr)
                        .await
                        .map_err(|source| ServerError::Bind {
                            addr: *addr,
                            source,
                        })?;
                let bound = feed_listener
                    .local_addr()
                    .map_err(|source| ServerError::Bind {
                        addr: *addr,
                        source,
                    })?;
                feed_addrs.push(format!("tcp-listen://{bound}"));
                tracing::info!(%bound, %format, "feed listening (JSON lines)");
                feeds.spawn(tcp::run(
                    feed_listener,
                    *format,
                    tx.clone(),
                    metrics.clone(),
                    config.max_line,
                    feed_stop.clone(),
                ));
            }
        }
    }
    drop(tx);
    feeds.close();

    let mut ready = serde_json::json!({"event": "listening", "http": http_addr.to_string(), "feeds": feed_addrs, "role": role.as_str()});
    if let Some(addr) = metrics_addr {
        ready["metrics"] = serde_json::Value::String(addr.to_string());
    }
    {
        let mut stdout = std::io::stdout().lock();
        let _ = writeln!(stdout, "{ready}");
        let _ = stdout.flush();
    }
    tracing::info!(%http_addr, shards = config.shards, universe = ?kind, "tickcast serving");
    match &config.auth {
        None => tracing::warn!(
            "--auth none: the stream is open to anyone who reaches {http_addr} (see SECURITY.md)"
        ),
        Some(auth) => {
            tracing::info!(keys = %auth.keys.path().display(), "--auth jwt: every stream needs a token")
        }
    }
    if plain {
        tracing::info!("no --tls-cert: plain HTTP (terminate TLS in front, or give a certificate)");
    }

    let senders: Vec<_> = shards.iter().map(|s| s.connections.clone()).collect();
    let acceptor = tokio::spawn(http::accept::accept(
        listener,
        senders,
        metrics.clone(),
        http.limits().clone(),
        http_stop.clone(),
    ));

    let mut failure = None;
    tokio::select! {
        _ = &mut shutdown => {}
        _ = cluster_failed.cancelled() => {
            tracing::error!("the cluster publisher stopped; shutting down");
        }
    }
    reloader.abort();
    let _ = reloader.await;
    let deadline = tokio::time::Instant::now() + config.drain_timeout;
    tracing::info!(timeout = ?config.drain_timeout, "shutting down: draining");
    shared.draining.store(true, Ordering::Relaxed);
    feed_stop.cancel();
    if tokio::time::timeout_at(deadline, feeds.wait())
        .await
        .is_err()
    {
        tracing::warn!("feeds did not stop in time");
    }
    // The sequencer ends once the feeds are gone; an edge's follower when told to.
    if role == Role::Edge {
        cluster_stop.cancel();
    }
    let sequencer_done = tokio::task::spawn_blocking(move || writer_thread.join());
    if tokio::time::timeout_at(deadline, sequencer_done)
        .await
        .is_err()
    {
        tracing::warn!("sequencer did not finish in time");
    }
    // What the feeds sent is sequenced: publish the rest, give the lease up.
    cluster_stop.cancel();
    if let Some(publisher) = publisher {
        match tokio::time::timeout_at(
            deadline,
            tokio::task::spawn_blocking(move || publisher.join()),
        )
        .await
        {
            Ok(Ok(Ok(Err(error)))) => failure = Some(error),
            Ok(_) => {}
            Err(_) => tracing::warn!("publisher did not finish in time"),
        }
    }
    // Let every shard see the last ticks before it starts closing streams.
    for shard in &shards {
        shard.notify.notify_one();
    }
    http_stop.cancel();
    // Scrapes keep answering (503 on /healthz) until the streams are drained.
    let _ = acceptor.await;
    let joined = join_all(shards.into_iter().map(|s| s.thread).collect());
    match tokio::time::timeout_at(deadline, joined).await {
        Ok(_) => tracing::info!("drained; bye"),
        Err(_) => tracing::warn!("drain timeout: cutting the remaining connections"),
    }
    ops_stop.cancel();
    match failure {
        Some(error) => Err(error.into()),
        None => Ok(()),
    }
}

/// Joins `threads` (shards, the edge's follower) without blocking the runtime; each ends once
/// its stop token is cancelled.
fn join_all(threads: Vec<std::thread::JoinHandle<()>>) -> tokio::task::JoinHandle<()> {
    tokio::task::spawn_blocking(move || {
        for thread in threads {
            let _ = thread.join();
        }
    })
}

/// Something SIGHUP re-reads: its files, while the server runs.
pub struct Reloadable {
    /// What it is, for the log.
    pub what: &'static str,
    /// Re-reads it; an error means it kept what it had.
    pub reload: Box<dyn Fn() -> Result<(), Box<dyn std::error::Error + Send + Sync>> + Send + Sync>,
}

/// On every SIGHUP, reloads each of `reloadables` and logs the outcome; runs until aborted.
async fn reload_on_sighup(mut hangups: Signal, reloadables: Vec<Reloadable>) {
    while hangups.recv().await.is_some() {
        if reloadables.is_empty() {
            tracing::info!("SIGHUP received: nothing to reload");
        }
        for reloadable in &reloadables {
            match (reloadable.reload)() {
                Ok(()) => tracing::info!(what = reloadable.what, "SIGHUP received: reloaded"),
                Err(error) => tracing::error!(
                    what = reloadable.what,
                    %error,
                    "SIGHUP received: reload failed; still serving the previous one"
                ),
            }
        }
    }
}

/// Pending connections the kernel may queue before `accept`: a reconnect storm of thousands of
/// dashboards must not have its SYNs dropped (and retried a second later) because the default
/// backlog of 128 filled up. The kernel caps it at `net.core.somaxconn`.
const ACCEPT_BACKLOG: u32 = 4096;

fn bind_http(addr: SocketAddr) -> std::io::Result<TcpListener> {
    let socket = if addr.is_ipv4() {
        tokio::net::TcpSocket::new_v4()?
    } else {
        tokio::net::TcpSocket::new_v6()?
    };
    socket.set_reuseaddr(true)?;
    socket.bind(addr)?;
    socket.listen(ACCEPT_BACKLOG)
}
