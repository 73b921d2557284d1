//! The TCP feed: JSON lines (native, or any venue's format) from any number of feed clients.
//!
//! Place in the flow: a listener task on the control runtime accepts feed clients; each
//! connection task frames lines ([`super::lines`]), decodes them ([`super::venue`]), stamps
//! them with the receive time, and sends one batch per socket read to the sequencer. When the
//! sequencer's channel is full the task waits, so TCP flow control slows the feed client down
//! instead of anything accepted being dropped.
//! A bad line is counted and logged (rate-limited) and skipped; the connection stays up.
//! Must never parse on a shard thread, and never close a feed connection over a bad line.

use std::net::SocketAddr;
use std::sync::Arc;
use std::sync::atomic::Ordering;

use tokio::io::AsyncReadExt;
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::mpsc;
use tokio_util::sync::CancellationToken;
use tokio_util::task::TaskTracker;

use super::RejectLog;
use super::lines::LineFramer;
use super::sequencer::TickBatch;
use super::venue::{Decoded, Decoder, Format};
use crate::metrics::Metrics;

/// Accepts feed clients on `listener` until `stop` is cancelled.
pub async fn run(
    listener: TcpListener,
    format: Format,
    tx: mpsc::Sender<TickBatch>,
    metrics: Arc<Metrics>,
    max_line: usize,
    stop: CancellationToken,
) {
    let serve_stop = stop.clone();
    accept_each(listener, stop, move |stream, peer| {
        serve(
            stream,
            peer,
            format,
            tx.clone(),
            metrics.clone(),
            max_line,
            serve_stop.clone(),
        )
    })
    .await;
}

/// Accepts connections until `stop`, running `serve` for each on its own task, then waits for
/// those tasks to end. Shared by the feed and by `tickcast record`.
pub(crate) async fn accept_each<F, Fut>(
    listener: TcpListener,
    stop: CancellationToken,
    mut serve: F,
) where
    F: FnMut(TcpStream, SocketAddr) -> Fut,
    Fut: std::future::Future<Output = ()> + Send + 'static,
{
    let connections = TaskTracker::new();
    loop {
        let accepted = tokio::select! {
            _ = stop.cancelled() => break,
            accepted = listener.accept() => accepted,
        };
        match accepted {
            Ok((stream, peer)) => {
                connections.spawn(serve(stream, peer));
            }
            Err(error) => {
                // Typically EMFILE: wait a little rather than spin.
                tracing::warn!(%error, "accept failed");
                tokio::time::sleep(std::time::Duration::from_millis(50)).await;
            }
        }
    }
    connections.close();
    connections.wait().await;
}

async fn serve(
    mut stream: TcpStream,
    peer: SocketAddr,
    format: Format,
    tx: mpsc::Sender<TickBatch>,
    metrics: Arc<Metrics>,
    max_line: usize,
    stop: CancellationToken,
) {
    tracing::info!(%peer, "feed client connected");
    metrics.feed_connections.fetch_add(1, Ordering::Relaxed);
    let mut framer = LineFramer::new(max_line);
    let mut decoder = Decoder::new(format);
    let mut log = RejectLog::new(format!("tcp feed {peer}"));
    let mut line_no = 0u64;
    loop {
        let read = tokio::select! {
            _ = stop.cancelled() => break,
            read = stream.read_buf(framer.buffer_mut()) => read,
        };
        let eof = match read {
            Ok(0) => true,
            Ok(_) => false,
            Err(error) => {
                tracing::debug!(%peer, %error, "feed read failed");
                true
            }
        };
        let rx = crate::clock::now_ns();
        let mut batch = TickBatch::new();
        loop {
            let line = if eof {
                framer.finish()
            } else {
                framer.next_line()
            };
            let Some(line) = line else { break };
            line_no += 1;
            match line {
                Ok(line) => match decoder.decode(line, rx, &mut batch) {
                    Ok(Decoded::Ticks(_)) => {}
                    Ok(Decoded::Skipped(kind)) => metrics.skip(kind),
                    Err(reason) => {
                        metrics.reject(reason);
                        log.reject(reason, line_no, line);
                    }
                },
                Err(reason) => {
                    metrics.reject(reason);
                    log.reject(reason, line_no, b"(over-long line skipped)");
                }
            }
        }
        if !batch.is_empty() && tx.send(batch).await.is_err() {
            break;
        }
        if eof {
            break;
        }
    }
    metrics.feed_connections.fetch_sub(1, Ordering::Relaxed);
    tracing::info!(%peer, lines = line_no, "feed client disconnected");
}
