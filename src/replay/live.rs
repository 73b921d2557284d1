//! Serving a replay: recorded files fed to the sequencer as a live source would be.
//!
//! Runs on its own thread (reading and decoding are CPU work, pacing is sleeping): the merged
//! ticks are released at their recorded pace ([`super::pace`]), stamped with the real ingest
//! time as `rx`, and sent in batches to the sequencer, which numbers them from `--seq-base`
//! (1 by default for a replay), so the same files and settings give the same events every run.
//! A full sequencer channel makes this thread wait: nothing is dropped, the pace just slips.
//! With `--wait-subscribers N` nothing is read until N streams are open, and the recording's
//! clock starts then.
//! Must never drop or reorder a tick, and never keep running after `stop`.

use std::sync::Arc;
use std::time::{Duration, Instant};

use tokio::sync::mpsc;
use tokio_util::sync::CancellationToken;

use super::ReplaySpec;
use super::pace::{Pacer, Speed};
use super::source::{Merger, ReplayError};
use crate::feed::sequencer::TickBatch;
use crate::metrics::Metrics;

/// Ticks sent to the sequencer in one batch when they are due together.
const BATCH_TICKS: usize = 1024;
/// Longest single sleep, so a stop request is noticed quickly.
const SLEEP_SLICE: Duration = Duration::from_millis(20);
/// How often `--wait-subscribers` looks at the number of open streams.
const WAIT_POLL: Duration = Duration::from_millis(5);
/// How often a waiting replay logs how many streams it has.
const WAIT_REPORT_EVERY: Duration = Duration::from_secs(5);

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
    if !wait_for_subscribers(spec.wait_subscribers, metrics, stop) {
        return;
    }
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

/// Waits until `wanted` streams are open (`--wait-subscribers`), saying every few seconds how
/// many there are; false if stopped meanwhile.
fn wait_for_subscribers(wanted: usize, metrics: &Metrics, stop: &CancellationToken) -> bool {
    if wanted == 0 {
        return true;
    }
    let wanted = i64::try_from(wanted).unwrap_or(i64::MAX);
    tracing::info!(wanted, "replay waits for its subscribers");
    let mut last_report = Instant::now();
    loop {
        let open = metrics.subscribers();
        if open >= wanted {
            tracing::info!(open, "replay starts");
            return true;
        }
        if stop.is_cancelled() {
            return false;
        }
        if last_report.elapsed() >= WAIT_REPORT_EVERY {
            tracing::info!(open, wanted, "replay still waiting for subscribers");
            last_report = Instant::now();
        }
        std::thread::sleep(WAIT_POLL);
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
