//! Serving a replay: recorded files fed to the sequencer as a live source would be.
//!
//! Runs on its own thread (reading and decoding are CPU work, pacing is sleeping): the merged
//! ticks are released at their recorded pace ([`super::pace`]), stamped with the real ingest
//! time as `rx`, and sent in batches to the sequencer, which numbers them from `--seq-base`
//! (1 by default for a replay), so the same files and settings give the same events every run.
//! A full sequencer channel makes this thread wait: nothing is dropped, the pace just slips.
//! Must never drop or reorder a tick, and never keep running after `stop`.

use std::sync::Arc;
use std::time::{Duration, Instant};

use tokio::sync::mpsc;
use tokio_util::sync::CancellationToken;

use super::pace::{Pacer, Speed};
use super::source::{Merger, ReplayError};
use crate::config::ReplaySpec;
use crate::feed::sequencer::TickBatch;
use crate::metrics::Metrics;

/// Ticks sent to the sequencer in one batch when they are due together.
const BATCH_TICKS: usize = 1024;
/// Longest single sleep, so a stop request is noticed quickly.
const SLEEP_SLICE: Duration = Duration::from_millis(20);

/// Checks the files can be opened (so a typo fails at start-up, not later in a thread).
pub fn check(spec: &ReplaySpec) -> Result<(), ReplayError> {
    Merger::open(spec).map(|_| ())
}

/// Replays `spec` into `tx` until the files end (or forever with `--loop`) or `stop`.
pub fn run(
    spec: &ReplaySpec,
    tx: &mpsc::Sender<TickBatch>,
    metrics: &Arc<Metrics>,
    stop: &CancellationToken,
) {
    let clock = Instant::now();
    let now = || clock.elapsed().as_nanos() as u64;
    let mut pacer = Pacer::new(spec.speed);
    let mut pass = 0u64;
    loop {
        pass += 1;
        let mut merger = match Merger::open(spec) {
            Ok(merger) => merger,
            Err(error) => {
                tracing::error!(%error, "replay cannot open its files");
                return;
            }
        };
        pacer.reset();
        let started = Instant::now();
        let mut batch: TickBatch = Vec::with_capacity(BATCH_TICKS);
        let mut staged = Vec::new();
        while let Some(time) = merger.next_into(&mut staged) {
            count(&mut merger, metrics);
            // At `max` there is nothing to wait for: skip the clock read (2% of this thread).
            let due = match spec.speed {
                Speed::Max => None,
                Speed::Factor(_) => pacer.due(time, now()),
            };
            if let Some(due) = due {
                if !send(tx, &mut batch) {
                    return;
                }
                while now() < due {
                    if stop.is_cancelled() {
                        return;
                    }
                    let left = Duration::from_nanos(due - now());
                    std::thread::sleep(left.min(SLEEP_SLICE));
                }
            }
            batch.append(&mut staged);
            if batch.len() >= BATCH_TICKS {
                if !send(tx, &mut batch) {
                    return;
                }
                // Checked per batch, not per record: at `max` that is every 1,024 ticks.
                if stop.is_cancelled() {
                    return;
                }
            }
        }
        count(&mut merger, metrics);
        if !send(tx, &mut batch) {
            return;
        }
        let summary = &merger.summary;
        tracing::info!(
            pass,
            ticks = summary.tick_count(),
            rejected = summary.rejected(),
            seconds = started.elapsed().as_secs_f64(),
            "replay pass finished\n{}",
            summary.render()
        );
        if !spec.looping || stop.is_cancelled() {
            return;
        }
    }
}

/// Moves the merger's reject and skip counts into the live metrics.
fn count(merger: &mut Merger, metrics: &Metrics) {
    for reason in merger.take_rejects() {
        metrics.reject(reason);
    }
    for kind in merger.take_skips() {
        metrics.skip(kind);
    }
}

/// Stamps the batch with the ingest time and hands it to the sequencer; false once the
/// sequencer is gone.
fn send(tx: &mpsc::Sender<TickBatch>, batch: &mut TickBatch) -> bool {
    if batch.is_empty() {
        return true;
    }
    let rx = crate::clock::now_ns();
    let mut out = std::mem::replace(batch, Vec::with_capacity(BATCH_TICKS));
    for tick in &mut out {
        tick.rx = rx;
    }
    tx.blocking_send(out).is_ok()
}
