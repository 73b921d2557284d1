//! A slow subscriber is conflated: its queue stays bounded, the feed is never blocked, and once
//! it reads again it converges on the latest price of every symbol, with ids still increasing
//! and jumps in `n` where ticks were conflated away.

use std::cell::Cell;
use std::collections::HashMap;
use std::time::Duration;

use tokio::time::Instant;

use crate::support::{EVENT_TIMEOUT, Server, TEST_TIMEOUT, trade_lines, within};

/// The subscribed symbols; tick `i` is for `SYMBOLS[i % 3]`.
const SYMBOLS: [&str; 3] = ["CA", "CB", "CC"];
/// `--subscriber-buffer`: events queued per subscriber before conflation starts.
const SUBSCRIBER_BUFFER: u64 = 8;
/// Allowed on top of the queue and one held (conflated) event per symbol in
/// `tickcast_pending_events`: the event being written to the socket, plus a little leeway for
/// where exactly the server counts an event as handed over.
const PENDING_SLACK: u64 = 4;
/// Ticks written per round; rounds continue until conflation shows (bounded by `MAX_TICKS`).
const ROUND: usize = 15_000;
/// Feed at least this much: enough to fill the kernel buffers and the HTTP layer's buffer many
/// times over, so conflation is in steady state when the pending bound is checked.
const MIN_TICKS: usize = 45_000;
/// Never feed more than this (bounded test time).
const MAX_TICKS: usize = 180_000;
/// Larger than `MAX_TICKS`, so the ring never overruns and the subscriber is never reset.
const RING_CAPACITY: &str = "262144";
/// Upper bound for reading the backlog back.
const DRAIN_TIMEOUT: Duration = Duration::from_secs(20);

/// The raw price of tick `i`: unique per tick, so an event tells which tick it carries.
fn px(i: usize) -> String {
    format!("{}.{:04}", i / 10_000 + 1, i % 10_000)
}

#[tokio::test]
async fn slow_subscriber_is_conflated_bounded_and_converges() {
    within(TEST_TIMEOUT * 2, async {
        let server = Server::tcp_with(&[
            "--subscriber-buffer",
            &SUBSCRIBER_BUFFER.to_string(),
            "--sndbuf",
            "4096",
            "--ring-capacity",
            RING_CAPACITY,
        ])
        .await;

        // A client with a small receive buffer that stops reading after the response head.
        let mut slow = server
            .stream_with_recv_buffer("/v1/stream?symbols=CA,CB,CC", 4096)
            .await;
        server.wait_subscribers(1).await;

        let pending_bound = (SUBSCRIBER_BUFFER + SYMBOLS.len() as u64 + PENDING_SLACK) as f64;
        let mut max_pending = 0.0_f64;
        let mut feed = server.feed().await;
        let mut fed = 0;
        loop {
            let lines = trade_lines((fed..fed + ROUND).map(|i| (SYMBOLS[i % 3], px(i))));
            // Write the round (failing if the feed blocks) while watching the pending count.
            let written = Cell::new(false);
            let write = async {
                feed.send(lines.as_bytes()).await;
                written.set(true);
            };
            let watch = async {
                while !written.get() {
                    let pending = server.metric("tickcast_pending_events", &[]).await;
                    max_pending = max_pending.max(pending);
                    tokio::time::sleep(Duration::from_millis(50)).await;
                }
            };
            tokio::join!(write, watch);
            fed += ROUND;
            let ingested = server.wait_ingested(fed as u64).await;
            assert_eq!(ingested, fed as u64, "every fed tick is ingested once");

            let metrics = server.metrics().await;
            max_pending = max_pending.max(metrics.sum("tickcast_pending_events", &[]));
            let conflated = metrics.sum("tickcast_conflated_total", &[]);
            if (fed >= MIN_TICKS && conflated > 0.0) || fed >= MAX_TICKS {
                break;
            }
        }
        server
            .wait_metric(
                "> 0 for the stalled subscriber",
                "tickcast_conflated_total",
                &[],
                |conflated| conflated > 0.0,
            )
            .await;
        max_pending = max_pending.max(server.metric("tickcast_pending_events", &[]).await);
        assert!(
            max_pending <= pending_bound,
            "tickcast_pending_events reached {max_pending}; a conflating subscriber holds at most \
             {SUBSCRIBER_BUFFER} queued + {} held + {PENDING_SLACK} slack",
            SYMBOLS.len()
        );

        // Read again: the backlog drains into the latest price of every symbol.
        let latest = server.get_json("/v1/snapshot?symbols=CA,CB,CC").await;
        let mut targets = HashMap::new();
        for tick in latest["ticks"].as_array().expect("ticks") {
            let symbol = tick["sym"].as_str().expect("sym").to_owned();
            let seq = tick["seq"].as_u64().expect("seq");
            let n = tick["n"].as_u64().expect("n");
            targets.insert(symbol, (seq, n));
        }
        assert_eq!(targets.len(), 3, "{latest}");

        let mut last: HashMap<String, (u64, u64)> = HashMap::new();
        let mut last_id = 0;
        let mut received = 0;
        let mut jumps = 0;
        let deadline = Instant::now() + DRAIN_TIMEOUT;
        while SYMBOLS
            .iter()
            .any(|symbol| last.get(*symbol) != targets.get(*symbol))
        {
            assert!(
                Instant::now() < deadline,
                "did not converge within {DRAIN_TIMEOUT:?}: last {last:?}, latest {targets:?}"
            );
            let event = slow.next_event(EVENT_TIMEOUT).await;
            received += 1;
            assert_eq!(event.event, "tick", "{event:?}");
            let (id, seq, n, symbol) = (event.id(), event.seq(), event.n(), event.sym());
            assert_eq!(id, seq, "{event:?}");
            assert!(id > last_id, "ids strictly increase: {id} after {last_id}");
            last_id = id;
            let k = SYMBOLS
                .iter()
                .position(|s| *s == symbol)
                .unwrap_or_else(|| panic!("unsubscribed symbol: {event:?}"));
            let (_, previous_n) = last.get(&symbol).copied().unwrap_or((0, 0));
            assert!(
                n > previous_n,
                "n of {symbol} goes back: {n} after {previous_n}"
            );
            if n > previous_n + 1 {
                jumps += 1;
            }
            let expected_px = px((n as usize - 1) * 3 + k);
            assert_eq!(
                event.raw("px"),
                expected_px,
                "{symbol} tick #{n} carries its own price: {event:?}"
            );
            last.insert(symbol, (seq, n));
            assert!(received <= fed, "more events than ticks fed");
        }
        assert!(jumps > 0, "a conflated subscriber sees jumps in n");
        assert!(
            received < fed,
            "conflation dropped superseded ticks: received {received} of {fed}"
        );
    })
    .await;
}

/// `complete=1` (quants, replays): a subscriber that falls behind reads the ring at its own
/// pace instead of being conflated, and still gets every tick in order.
#[tokio::test]
async fn complete_subscribers_get_every_tick_in_order() {
    within(TEST_TIMEOUT, async {
        let server = Server::tcp_with(&["--subscriber-buffer", "4"]).await;
        let mut complete = server.stream("/v1/stream?symbols=*&complete=1").await;
        let mut feed = server.feed().await;
        let total = 3_000u64;
        // One write: the shard dispatches far more than 4 events before the stream can write.
        feed.burst((1..=total).map(|i| ("A", format!("{i}.5"))))
            .await;
        server.wait_ingested(total).await;
        let events = complete.events(total as usize, EVENT_TIMEOUT).await;
        let ns: Vec<u64> = events.iter().map(|e| e.n()).collect();
        assert_eq!(
            ns,
            (1..=total).collect::<Vec<u64>>(),
            "every tick, in order"
        );
        assert_eq!(server.metric("tickcast_conflated_total", &[]).await, 0.0);
        assert!(
            server
                .get("/v1/stream?symbols=*&complete=yes")
                .await
                .status()
                == 400
        );
    })
    .await;
}
