//! Replay, export and record: recorded files through the real binary.
//!
//! The same files with the same settings must give the same events every time, whether served
//! (`tickcast replay`) or converted (`--to jsonl|csv`); a recording made by `tickcast record`
//! must replay to exactly what was sent.

use std::path::{Path, PathBuf};
use std::process::Output;
use std::time::Duration;

use serde_json::Value;

use crate::support::{EVENT_TIMEOUT, Recorder, Server, TEST_TIMEOUT, run, within};

const BINANCE: &str = concat!(
    env!("CARGO_MANIFEST_DIR"),
    "/feeds/binance-spot-btcusdt-20240808.sample.gz"
);
const COINBASE: &str = concat!(
    env!("CARGO_MANIFEST_DIR"),
    "/feeds/coinbase-exchange-20210417.sample.txt"
);
/// bookTicker (1,515) + trade (297) frames of the Binance sample.
const BINANCE_TICKS: usize = 1_812;
/// Upper bound for an invocation that exits by itself (an export, a refused command line).
const RUN_TIMEOUT: Duration = Duration::from_secs(30);
/// Upper bound for `tickcast record` to finish its file and exit after SIGTERM.
const RECORD_STOP_TIMEOUT: Duration = Duration::from_secs(10);

/// What must be identical between runs: the event data text without `rx` (the ingest time of
/// a served replay is the real time; an export keeps the recorded one).
fn key(data: &str) -> String {
    match data.find(",\"rx\":") {
        Some(at) => data[..at].to_owned(),
        None => data.to_owned(),
    }
}

fn tickcast(args: &[&str]) -> Output {
    run(args, RUN_TIMEOUT)
}

fn temp_dir(name: &str) -> PathBuf {
    let dir = std::env::temp_dir().join(format!("tickcast-it-{name}-{}", std::process::id()));
    std::fs::create_dir_all(&dir).expect("temp dir");
    dir
}

/// A path as the command-line argument it becomes.
fn arg(path: &Path) -> &str {
    path.to_str()
        .unwrap_or_else(|| panic!("path {path:?} is not UTF-8"))
}

/// Exported lines (raw text, each checked to be JSON) and the summary.
fn export_jsonl(file: &str) -> (Vec<String>, String) {
    let out = tickcast(&["replay", file, "--to", "jsonl"]);
    let stderr = String::from_utf8_lossy(&out.stderr).into_owned();
    assert!(out.status.success(), "export failed: {stderr}");
    let lines: Vec<String> = String::from_utf8(out.stdout)
        .expect("utf-8 export")
        .lines()
        .map(str::to_owned)
        .collect();
    for line in &lines {
        serde_json::from_str::<Value>(line).expect("each line is JSON");
    }
    (lines, stderr)
}

async fn served_events(file: &str) -> Vec<String> {
    let server = Server::replay(&[file, "--speed", "max"]).await;
    server.wait_ingested(BINANCE_TICKS as u64).await;
    // Resuming from id 0 replays the whole ring: every event of the replay, in order.
    let mut stream = server.stream("/v1/stream?symbols=*&lastEventId=0").await;
    let events = stream.events(BINANCE_TICKS, EVENT_TIMEOUT).await;
    assert!(
        events.iter().all(|e| e.event == "tick"),
        "a resume from 0 sends ticks only"
    );
    events.iter().map(|e| key(&e.data)).collect()
}

#[tokio::test]
async fn replay_gives_the_same_events_every_run_and_matches_the_export() {
    within(TEST_TIMEOUT, async {
        let first = served_events(BINANCE).await;
        let second = served_events(BINANCE).await;
        assert_eq!(first.len(), BINANCE_TICKS);
        assert_eq!(first, second, "two replays of the same file differ");
        let seqs: Vec<u64> = first
            .iter()
            .map(|k| {
                let tick: Value = serde_json::from_str(&format!("{k}}}"))
                    .unwrap_or_else(|err| panic!("event data up to rx is not JSON ({err}): {k}"));
                tick["seq"]
                    .as_u64()
                    .unwrap_or_else(|| panic!("no integer seq: {k}"))
            })
            .collect();
        assert_eq!(
            seqs,
            (1..=BINANCE_TICKS as u64).collect::<Vec<_>>(),
            "replays number from 1"
        );

        let (exported, summary) = export_jsonl(BINANCE);
        let exported: Vec<String> = exported.iter().map(|line| key(line)).collect();
        assert_eq!(exported, first, "export and served replay differ");
        assert!(summary.contains("rejected 0"), "{summary}");
        // Exact decimal text from the recording.
        assert!(
            first.iter().any(|k| k.contains("61837.63000000")),
            "prices lost their digits"
        );
        assert!(
            first
                .iter()
                .all(|k| k.starts_with("{\"sym\":\"BINANCE:BTCUSDT\""))
        );
    })
    .await;
}

#[test]
fn csv_export_of_the_coinbase_capture() {
    let dir = temp_dir("csv");
    let out_path = dir.join("coinbase.csv");
    let out = tickcast(&["replay", COINBASE, "--to", "csv", "--out", arg(&out_path)]);
    let stderr = String::from_utf8_lossy(&out.stderr).into_owned();
    assert!(out.status.success(), "{stderr}");
    let text = std::fs::read_to_string(&out_path).expect("read the exported CSV");
    let mut lines = text.lines();
    assert_eq!(
        lines.next(),
        Some("sym,seq,n,kind,px,qty,bid,bid_qty,ask,ask_qty,ts,rx")
    );
    let rows: Vec<Vec<&str>> = lines.map(|l| l.split(',').collect()).collect();
    // 21 ticker + 11 match + 10 last_match frames.
    assert_eq!(rows.len(), 42, "{stderr}");
    assert!(
        rows.iter()
            .all(|r| r.len() == 12 && r[0].starts_with("COINBASE:"))
    );
    let seqs: Vec<u64> = rows
        .iter()
        .map(|r| {
            r[1].parse()
                .unwrap_or_else(|err| panic!("seq column {:?} ({err}): {r:?}", r[1]))
        })
        .collect();
    assert_eq!(seqs, (1..=42).collect::<Vec<u64>>());
    // The summary counts what was skipped, by kind.
    assert!(stderr.contains("book_update"), "{stderr}");
    assert!(stderr.contains("rejected 0"), "{stderr}");
    std::fs::remove_dir_all(&dir).expect("remove the temp dir");
}

#[test]
fn bad_replay_invocations_fail_clearly() {
    let missing = tickcast(&["replay", "/nonexistent/file.gz", "--to", "jsonl"]);
    assert!(!missing.status.success());
    assert!(String::from_utf8_lossy(&missing.stderr).contains("/nonexistent/file.gz"));
    let speed = tickcast(&["replay", BINANCE, "--speed", "fast"]);
    assert_eq!(speed.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&speed.stderr).contains("--speed"));
    let format = tickcast(&["replay", BINANCE, "--format", "ftx", "--to", "csv"]);
    assert_eq!(format.status.code(), Some(2));
    let serve_missing = tickcast(&["replay", "/nonexistent/x", "--listen", "127.0.0.1:0"]);
    assert!(
        !serve_missing.status.success(),
        "serving a missing file must fail at start"
    );
}

#[tokio::test]
async fn record_then_replay_gives_back_what_was_sent() {
    within(TEST_TIMEOUT, async {
        let dir = temp_dir("record");
        let out_path = dir.join("rec.jsonl.zst");
        let recorder = Recorder::start(&out_path).await;
        let sent = [
            r#"{"sym":"ABC","px":61837.63000000,"qty":0.5,"ts":1700000000000000001}"#,
            r#"{"sym":"ABC","px":oops}"#,
            r#"{"sym":"XYZ","bid":0.1,"ask":0.30,"ts":1700000000000000002}"#,
            r#"{"sym":"ABC","px":"61837.64","qty":1,"ts":1700000000000000003}"#,
        ];
        let mut feed = recorder.feed().await;
        for line in sent {
            feed.line(line).await;
        }
        drop(feed);
        // Let the recorder read the lines, then stop it cleanly.
        tokio::time::sleep(Duration::from_millis(300)).await;
        let status = recorder.stop(RECORD_STOP_TIMEOUT).await;
        assert!(
            status.success(),
            "record exit status after SIGTERM: {status:?}"
        );

        let (texts, summary) = export_jsonl(arg(&out_path));
        assert_eq!(texts.len(), 3, "{summary} {texts:?}");
        assert!(texts[0].contains("\"px\":61837.63000000"), "{}", texts[0]);
        assert!(texts[1].contains("\"ask\":0.30"), "{}", texts[1]);
        assert!(texts[2].contains("\"n\":2"), "{}", texts[2]);
        // The bad line was recorded as sent, and rejected (with its line number) on replay.
        assert!(summary.contains("rejected 1"), "{summary}");
        assert!(summary.contains("rec.jsonl.zst:2"), "{summary}");
        std::fs::remove_dir_all(&dir).expect("remove the temp dir");
    })
    .await;
}

#[tokio::test]
async fn looping_replays_continue_the_sequence() {
    within(TEST_TIMEOUT, async {
        // The ring has room for many seconds of looping before id 1 leaves it.
        let server = Server::replay(&[
            COINBASE,
            "--loop",
            "--speed",
            "max",
            "--ring-capacity",
            "4194304",
        ])
        .await;
        // 42 ticks per pass (2 of them YFI-BTC): three passes at least, numbered on without
        // a restart.
        server.wait_ingested(3 * 42).await;
        let mut stream = server
            .stream("/v1/stream?symbols=COINBASE:YFI-BTC&lastEventId=0")
            .await;
        let events = stream.events(6, EVENT_TIMEOUT).await;
        let ns: Vec<u64> = events.iter().map(|e| e.n()).collect();
        assert_eq!(
            ns,
            (1..=6).collect::<Vec<u64>>(),
            "per-symbol counts go on across passes"
        );
        let seqs: Vec<u64> = events.iter().map(|e| e.seq()).collect();
        assert!(
            seqs[2] > 42 && seqs[4] > 84,
            "later passes continue the sequence: {seqs:?}"
        );
    })
    .await;
}

#[tokio::test]
async fn a_replay_can_hold_its_first_tick_until_its_subscribers_are_connected() {
    within(TEST_TIMEOUT, async {
        let server = Server::replay(&[BINANCE, "--speed", "max", "--wait-subscribers", "2"]).await;
        // One stream of the two: the replay has not started.
        let mut first = server.stream("/v1/stream?symbols=*&complete=1").await;
        tokio::time::sleep(Duration::from_millis(300)).await;
        let ingested = server.metric("tickcast_ticks_ingested_total", &[]).await;
        assert_eq!(ingested, 0.0, "the replay started before its 2 subscribers");
        // The second starts it, and both get every tick live, from the first id, in order.
        let mut second = server.stream("/v1/stream?symbols=*&complete=1").await;
        for stream in [&mut first, &mut second] {
            let ids: Vec<u64> = stream
                .events(BINANCE_TICKS, EVENT_TIMEOUT)
                .await
                .iter()
                .map(|event| {
                    assert_eq!(event.event, "tick", "no snapshot: nothing existed yet");
                    event.id()
                })
                .collect();
            assert_eq!(ids, (1..=BINANCE_TICKS as u64).collect::<Vec<_>>());
        }
    })
    .await;
}
