//! Resuming after a disconnect: a `Last-Event-ID` header (or `lastEventId` query parameter)
//! replays exactly the missed ticks from the ring; when the ring cannot, the stream says so with
//! a `reset` event and starts over with fresh snapshots.
//!
//! Sequence numbers are checked against what was fed: one feed connection delivers in order, and
//! the sequencer numbers every accepted tick, one apart.

use serde_json::Value;

use crate::support::{
    EVENT_TIMEOUT, Event, Server, SseStream, TEST_TIMEOUT, assert_error,
    assert_strictly_increasing, head_seq, snapshot_tick, within,
};

/// (event type, symbol, raw px, n, seq) of an event.
type Seen = (String, String, String, u64, u64);

fn seen(event: &Event) -> Seen {
    assert_eq!(event.id(), event.seq(), "id equals seq: {event:?}");
    (
        event.event.clone(),
        event.sym(),
        event.raw("px"),
        event.n(),
        event.seq(),
    )
}

fn tick(symbol: &str, px: &str, n: u64, seq: u64) -> Seen {
    ("tick".into(), symbol.into(), px.into(), n, seq)
}

#[tokio::test]
async fn last_event_id_replays_exactly_the_missed_ticks() {
    within(TEST_TIMEOUT, async {
        let server = Server::tcp().await;
        let mut feed = server.feed().await;
        let mut first = server.stream("/v1/stream?symbols=A,B").await;
        feed.trades(&[("A", "1.1"), ("B", "2.1"), ("C", "3.1"), ("A", "1.2")])
            .await;
        let received = first.events(3, EVENT_TIMEOUT).await;
        let before: Vec<Seen> = received.iter().map(seen).collect();
        let s0 = before[0].4;
        assert_eq!(
            before,
            [
                tick("A", "1.1", 1, s0),
                tick("B", "2.1", 1, s0 + 1),
                tick("A", "1.2", 2, s0 + 3)
            ],
            "C's tick took seq {}",
            s0 + 2
        );
        // What a browser would send back: its last event id buffer.
        let last = received[2].last_event_id.clone();
        assert_eq!(last, (s0 + 3).to_string());
        drop(first);

        // Missed while disconnected.
        feed.trades(&[("A", "1.3"), ("C", "3.2"), ("B", "2.2"), ("A", "1.4")])
            .await;
        server
            .wait_for_counts(&[("A", 4), ("B", 2), ("C", 2)])
            .await;

        let mut by_header = server.resume("/v1/stream?symbols=A,B", &last).await;
        let mut by_query = server
            .stream(&format!("/v1/stream?symbols=A,B&lastEventId={last}"))
            .await;
        // Both given: the header wins (the query alone would mean "nothing missed").
        let mut header_wins = server
            .resume(
                &format!("/v1/stream?symbols=A,B&lastEventId={}", s0 + 7),
                &last,
            )
            .await;
        let mut streams: [(&str, &mut SseStream); 3] = [
            ("Last-Event-ID header", &mut by_header),
            ("lastEventId query", &mut by_query),
            ("header over query", &mut header_wins),
        ];

        let missed = [
            tick("A", "1.3", 3, s0 + 4),
            tick("B", "2.2", 2, s0 + 6),
            tick("A", "1.4", 4, s0 + 7),
        ];
        for (how, stream) in streams.iter_mut() {
            let replayed: Vec<Seen> = stream
                .events(3, EVENT_TIMEOUT)
                .await
                .iter()
                .map(seen)
                .collect();
            assert_eq!(
                replayed, missed,
                "{how}: the missed ticks, no snapshot, no gap, no dup"
            );
        }

        // Nothing else was queued: the next event is the next live tick.
        feed.trade("A", "1.5").await;
        for (how, stream) in streams.iter_mut() {
            let next = seen(&stream.next_event(EVENT_TIMEOUT).await);
            assert_eq!(next, tick("A", "1.5", 5, s0 + 8), "{how}: then live");
        }
    })
    .await;
}

#[tokio::test]
async fn resume_from_a_snapshot_id() {
    within(TEST_TIMEOUT, async {
        let server = Server::tcp().await;
        let mut feed = server.seeded_feed(&[("A", "1"), ("B", "2")]).await;

        let mut first = server.stream("/v1/stream?symbols=A,B").await;
        let snapshots: Vec<Seen> = first
            .events(2, EVENT_TIMEOUT)
            .await
            .iter()
            .map(seen)
            .collect();
        let s0 = snapshots[0].4;
        assert_eq!(
            snapshots,
            [
                ("snapshot".into(), "A".into(), "1".into(), 1, s0),
                ("snapshot".into(), "B".into(), "2".into(), 1, s0 + 1),
            ]
        );
        drop(first);

        feed.trades(&[("A", "3"), ("B", "4")]).await;
        server.wait_for_counts(&[("A", 2), ("B", 2)]).await;

        // Resuming from the last snapshot: the ticks since, no snapshot again.
        let mut resumed = server.resume("/v1/stream?symbols=A,B", s0 + 1).await;
        let replayed: Vec<Seen> = resumed
            .events(2, EVENT_TIMEOUT)
            .await
            .iter()
            .map(seen)
            .collect();
        assert_eq!(
            replayed,
            [tick("A", "3", 2, s0 + 2), tick("B", "4", 2, s0 + 3)]
        );

        // Resuming from the head: nothing missed, no snapshot, straight to live.
        let mut at_head = server.resume("/v1/stream?symbols=A,B", s0 + 3).await;

        feed.trade("B", "5").await;
        for stream in [&mut resumed, &mut at_head] {
            let next = seen(&stream.next_event(EVENT_TIMEOUT).await);
            assert_eq!(next, tick("B", "5", 3, s0 + 4));
        }
    })
    .await;
}

#[tokio::test]
async fn ring_overrun_sends_reset_then_fresh_snapshots() {
    within(TEST_TIMEOUT, async {
        let server = Server::tcp_with(&["--ring-capacity", "64"]).await;
        let mut feed = server.feed().await;
        let mut first = server.stream("/v1/stream?symbols=A,B").await;
        feed.trades(&[("A", "0.1"), ("B", "0.2")]).await;
        let last = first.events(2, EVENT_TIMEOUT).await[1].id();
        drop(first);

        // Far more than the ring holds.
        feed.burst((0..1000).map(|i| {
            let symbol = if i % 2 == 0 { "A" } else { "B" };
            (symbol, format!("{}.25", i + 1))
        }))
        .await;
        let snapshot = server.wait_for_counts(&[("A", 501), ("B", 501)]).await;
        let head = head_seq(&snapshot);

        let mut resumed = server.resume("/v1/stream?symbols=A,B", last).await;
        let reset = resumed.next_event(EVENT_TIMEOUT).await;
        assert_eq!(
            reset.event, "reset",
            "first event after an overrun: {reset:?}"
        );
        let data = reset.json();
        assert_eq!(data["reason"], "ring_overrun", "{data}");
        assert_eq!(data["last_event_id"], last, "{data}");
        assert_eq!(data["head_seq"], head, "{data}");
        let oldest = data["oldest_seq"].as_u64().expect("oldest_seq");
        assert!(
            oldest > last + 1 && oldest <= head,
            "oldest_seq {oldest} must lie after the missed tick {} and at most head {head}",
            last + 1
        );
        assert!(
            head - oldest < 64,
            "a ring of 64 holds at most 64 ticks: oldest {oldest}, head {head}"
        );

        let snapshots = resumed.events(2, EVENT_TIMEOUT).await;
        for (event, symbol) in snapshots.iter().zip(["A", "B"]) {
            assert_eq!(event.event, "snapshot", "{event:?}");
            assert_eq!(event.sym(), symbol, "snapshots in seq order: {event:?}");
            assert_eq!(
                &event.json(),
                snapshot_tick(&snapshot, symbol).expect("in /v1/snapshot"),
                "the latest price of {symbol}"
            );
        }
        assert!(
            reset.id() <= snapshots[0].id(),
            "reset id {} may equal, never exceed, the first snapshot's {}",
            reset.id(),
            snapshots[0].id()
        );

        feed.trade("A", "7777").await;
        let live = resumed.next_event(EVENT_TIMEOUT).await;
        assert_eq!((live.event.as_str(), live.n()), ("tick", 502), "{live:?}");
        assert_strictly_increasing(
            "after the reset",
            &[snapshots[0].id(), snapshots[1].id(), live.id()],
        );
        assert_eq!(
            server.metric("tickcast_resets_total", &[]).await,
            1.0,
            "the reset is counted"
        );
    })
    .await;
}

#[tokio::test]
async fn last_event_id_ahead_of_head_resets_and_garbage_is_refused() {
    within(TEST_TIMEOUT, async {
        let server = Server::tcp().await;
        let mut feed = server.feed().await;
        feed.trades(&[("A", "1"), ("B", "2")]).await;
        let head = head_seq(&server.wait_for_counts(&[("A", 1), ("B", 1)]).await);

        // An id from another server run, far ahead of this ring.
        let ahead = head + 1_000_000;
        let mut resumed = server.resume("/v1/stream?symbols=A", ahead).await;
        let reset = resumed.next_event(EVENT_TIMEOUT).await;
        assert_eq!(reset.event, "reset", "{reset:?}");
        let data: Value = reset.json();
        assert_eq!(data["reason"], "unknown_id", "{data}");
        assert_eq!(data["last_event_id"], ahead, "{data}");
        assert_eq!(data["head_seq"], head, "{data}");
        let fresh = resumed.next_event(EVENT_TIMEOUT).await;
        assert_eq!(
            (fresh.event.as_str(), fresh.sym(), fresh.raw("px")),
            ("snapshot", "A".to_owned(), "1".to_owned())
        );

        for (path, headers) in [
            (
                "/v1/stream?symbols=A",
                [("Last-Event-ID", "abc")].as_slice(),
            ),
            ("/v1/stream?symbols=A&lastEventId=abc", &[]),
        ] {
            let response = server.request("GET", path, headers).await;
            assert_error(&response, 400, "bad_last_event_id");
        }
    })
    .await;
}

#[tokio::test]
async fn ticks_older_than_the_resume_window_leave_the_ring() {
    within(TEST_TIMEOUT, async {
        let server = Server::tcp_with(&["--resume-window", "500ms"]).await;
        let mut feed = server.feed().await;
        let mut first = server.stream("/v1/stream?symbols=A").await;
        feed.trade("A", "1").await;
        let old = first.events(1, EVENT_TIMEOUT).await[0].id();
        drop(first);

        // Long past the window, later ticks expire the old one (the ring has room for all).
        tokio::time::sleep(std::time::Duration::from_millis(800)).await;
        feed.trade("A", "2").await;
        tokio::time::sleep(std::time::Duration::from_millis(150)).await;
        feed.trade("A", "3").await;
        let head = head_seq(&server.wait_for_counts(&[("A", 3)]).await);
        let oldest = server.metric("tickcast_ring_oldest_seq", &[]).await as u64;
        assert!(
            oldest > old && oldest <= head,
            "the first tick ({old}) left the ring: oldest {oldest}, head {head}"
        );

        let mut resumed = server.resume("/v1/stream?symbols=A", old - 1).await;
        let reset = resumed.next_event(EVENT_TIMEOUT).await;
        assert_eq!(reset.event, "reset", "{reset:?}");
        assert_eq!(reset.json()["reason"], "ring_overrun", "{reset:?}");
        let fresh = resumed.next_event(EVENT_TIMEOUT).await;
        assert_eq!(
            (fresh.event.as_str(), fresh.raw("px").as_str()),
            ("snapshot", "3"),
            "then the latest price: {fresh:?}"
        );

        // Within the window, a resume is still exact.
        let mut exact = server.resume("/v1/stream?symbols=A", head - 1).await;
        let next = exact.next_event(EVENT_TIMEOUT).await;
        assert_eq!((next.event.as_str(), next.id()), ("tick", head), "{next:?}");
    })
    .await;
}
