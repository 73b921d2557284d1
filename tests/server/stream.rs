//! The shape of a stream: response headers, the `retry:` prelude, event framing, snapshots
//! first, exact decimals, per-symbol counts, the firehose, and `/v1/snapshot`.

use std::time::{Duration, SystemTime, UNIX_EPOCH};

use crate::support::{
    EVENT_TIMEOUT, Event, Item, Server, TEST_TIMEOUT, assert_strictly_increasing, head_seq,
    raw_number, snapshot_tick, within,
};

/// Keys every tick object carries, whatever its kind.
const TICK_KEYS: [&str; 6] = ["sym", "seq", "n", "kind", "ts", "rx"];

/// (event type, symbol, raw px, n) of each event.
fn summary(events: &[Event]) -> Vec<(String, String, String, u64)> {
    events
        .iter()
        .map(|event| (event.event.clone(), event.sym(), event.raw("px"), event.n()))
        .collect()
}

#[tokio::test]
async fn stream_headers_retry_prelude_and_event_framing() {
    within(TEST_TIMEOUT, async {
        let server = Server::tcp_with(&["--retry", "3s"]).await;
        let mut stream = server.stream("/v1/stream?symbols=A").await;
        let head = &stream.head;
        let content_type = head.header("content-type").unwrap_or_default();
        assert_eq!(
            content_type.split(';').next().map(str::trim),
            Some("text/event-stream"),
            "Content-Type {content_type:?}"
        );
        let cache_control = head.header("cache-control").unwrap_or_default();
        assert!(
            cache_control.contains("no-cache"),
            "Cache-Control {cache_control:?}"
        );
        assert_eq!(head.header("x-accel-buffering"), Some("no"));
        assert!(
            head.header("transfer-encoding")
                .is_some_and(|coding| coding.contains("chunked")),
            "streams are chunked: {:?}",
            head.headers
        );

        // The body opens with the reconnection hint, before any event.
        let first = stream.next_item(EVENT_TIMEOUT).await;
        assert!(
            matches!(first, Ok(Item::Retry(3000))),
            "first item must be `retry: 3000` (from --retry 3s), got {first:?}"
        );
        assert!(
            stream.body_prefix.starts_with(b"retry:"),
            "body must start with `retry:`: {:?}",
            String::from_utf8_lossy(&stream.body_prefix)
        );

        let mut feed = server.feed().await;
        feed.line(r#"{"sym":"A","px":101.25,"qty":300,"ts":1700000000000000001}"#)
            .await;
        feed.line(
            r#"{"sym":"A","bid":101.24,"bid_qty":5,"ask":101.26,"ask_qty":7,"ts":1700000000000000002}"#,
        )
        .await;
        feed.line(
            r#"{"sym":"A","px":101.27,"qty":1.5,"bid":101.26,"bid_qty":2,"ask":101.28,"ask_qty":3,"ts":1700000000000000003,"venue":"X"}"#,
        )
        .await;
        let events = stream.events(3, EVENT_TIMEOUT).await;

        let now = SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .expect("clock after 1970")
            .as_nanos() as u64;
        let hour = Duration::from_secs(3600).as_nanos() as u64;
        for (index, event) in events.iter().enumerate() {
            let mut names = event.field_names();
            names.sort_unstable();
            assert_eq!(
                names,
                ["data", "event", "id"],
                "one id, one event and one single-line data field per event: {event:?}"
            );
            assert_eq!(event.event, "tick");
            let data = event.json();
            assert_eq!(event.id(), event.seq(), "id equals data.seq: {event:?}");
            for key in TICK_KEYS {
                assert!(data.get(key).is_some(), "data lacks {key:?}: {}", event.data);
            }
            assert_eq!(data["sym"], "A");
            assert_eq!(event.n(), index as u64 + 1, "per-symbol count: {event:?}");
            assert_eq!(
                event.number("ts"),
                1_700_000_000_000_000_001 + index as u64,
                "ts is passed through"
            );
            let rx = event.number("rx");
            assert!(
                rx.abs_diff(now) < hour,
                "rx {rx} must be the ingest wall-clock time in ns (now {now})"
            );
        }
        assert_strictly_increasing(
            "tick ids",
            &events.iter().map(|event| event.id()).collect::<Vec<_>>(),
        );

        let trade = &events[0];
        assert_eq!(trade.json()["kind"], "trade");
        assert_eq!(trade.raw("px"), "101.25");
        assert_eq!(trade.raw("qty"), "300");
        for absent in ["bid", "bid_qty", "ask", "ask_qty"] {
            assert!(
                trade.json().get(absent).is_none(),
                "absent fields are omitted: {}",
                trade.data
            );
        }

        let quote = &events[1];
        assert_eq!(quote.json()["kind"], "quote", "no px but bid/ask: a quote");
        assert!(quote.json().get("px").is_none(), "{}", quote.data);
        assert!(quote.json().get("qty").is_none(), "{}", quote.data);
        assert_eq!(quote.raw("bid"), "101.24");
        assert_eq!(quote.raw("bid_qty"), "5");
        assert_eq!(quote.raw("ask"), "101.26");
        assert_eq!(quote.raw("ask_qty"), "7");

        let full = &events[2];
        assert_eq!(full.json()["kind"], "trade");
        for (field, raw) in [
            ("px", "101.27"),
            ("qty", "1.5"),
            ("bid", "101.26"),
            ("bid_qty", "2"),
            ("ask", "101.28"),
            ("ask_qty", "3"),
        ] {
            assert_eq!(full.raw(field), raw, "{field} in {}", full.data);
        }
        assert!(
            full.json().get("venue").is_none(),
            "unknown feed fields are not forwarded: {}",
            full.data
        );
    })
    .await;
}

#[tokio::test]
async fn fresh_subscription_gets_snapshots_first_then_live_ticks() {
    within(TEST_TIMEOUT, async {
        let server = Server::tcp().await;
        let mut feed = server
            .seeded_feed(&[("A", "1.5"), ("B", "2.5"), ("A", "3.5")])
            .await;

        let mut stream = server.stream("/v1/stream?symbols=A,B,C").await;
        let snapshots = stream.events(2, EVENT_TIMEOUT).await;
        // B's latest tick is older than A's, so B comes first; C has no price yet.
        assert_eq!(
            summary(&snapshots),
            [
                ("snapshot".to_owned(), "B".to_owned(), "2.5".to_owned(), 1),
                ("snapshot".to_owned(), "A".to_owned(), "3.5".to_owned(), 2),
            ],
            "snapshots of the latest prices in seq order"
        );
        for event in &snapshots {
            assert_eq!(event.id(), event.seq(), "{event:?}");
        }

        // D is not subscribed.
        feed.trades(&[("C", "4.5"), ("A", "5.5"), ("D", "6.5"), ("B", "7.5")])
            .await;
        let live = stream.events(3, EVENT_TIMEOUT).await;
        assert_eq!(
            summary(&live),
            [
                ("tick".to_owned(), "C".to_owned(), "4.5".to_owned(), 1),
                ("tick".to_owned(), "A".to_owned(), "5.5".to_owned(), 3),
                ("tick".to_owned(), "B".to_owned(), "7.5".to_owned(), 2),
            ],
            "then live ticks of the subscribed symbols only"
        );
        let ids: Vec<u64> = snapshots
            .iter()
            .chain(&live)
            .map(|event| event.id())
            .collect();
        assert_strictly_increasing("snapshot and tick ids on one connection", &ids);
        for event in &live {
            assert_eq!(event.id(), event.seq(), "{event:?}");
        }
    })
    .await;
}

#[tokio::test]
async fn prices_keep_their_exact_decimal_digits() {
    within(TEST_TIMEOUT, async {
        let server = Server::tcp().await;
        let mut stream = server.stream("/v1/stream?symbols=BTCUSDT,DEC").await;
        let mut feed = server.feed().await;
        feed.line(
            r#"{"sym":"BTCUSDT","px":61837.63000000,"qty":0.00010000,"ts":1700000000000000000}"#,
        )
        .await;
        feed.line(
            r#"{"sym":"DEC","px":0.1,"qty":0.2,"bid":0.30000000,"ask":100.000,"ts":1700000000000000000}"#,
        )
        .await;
        let expected = [
            ("BTCUSDT", vec![("px", "61837.63000000"), ("qty", "0.00010000")]),
            (
                "DEC",
                vec![("px", "0.1"), ("qty", "0.2"), ("bid", "0.30000000"), ("ask", "100.000")],
            ),
        ];

        // The raw SSE text, not a parsed f64 (which would print 61837.63 or 0.30000000000000004).
        let live = stream.events(2, EVENT_TIMEOUT).await;
        for (event, (symbol, fields)) in live.iter().zip(&expected) {
            assert_eq!(event.sym(), *symbol);
            for (field, raw) in fields {
                assert_eq!(event.raw(field), *raw, "{field} of {symbol}: {}", event.data);
            }
        }

        // The same digits in /v1/snapshot ...
        let snapshot = server.get("/v1/snapshot?symbols=BTCUSDT,DEC").await;
        assert_eq!(snapshot.status(), 200, "{}", snapshot.text());
        let text = snapshot.text();
        for (symbol, fields) in &expected {
            let object = object_of(&text, symbol);
            for (field, raw) in fields {
                assert_eq!(
                    raw_number(object, field),
                    Some(*raw),
                    "{field} of {symbol} in /v1/snapshot: {text}"
                );
            }
        }

        // ... and in the snapshot events of a new subscription.
        let mut fresh = server.stream("/v1/stream?symbols=BTCUSDT,DEC").await;
        for (event, (symbol, fields)) in fresh.events(2, EVENT_TIMEOUT).await.iter().zip(&expected)
        {
            assert_eq!(event.event, "snapshot");
            assert_eq!(event.sym(), *symbol);
            for (field, raw) in fields {
                assert_eq!(event.raw(field), *raw, "{field} of {symbol}: {}", event.data);
            }
        }
    })
    .await;
}

#[tokio::test]
async fn per_symbol_counts_and_the_firehose() {
    within(TEST_TIMEOUT, async {
        let server = Server::tcp().await;
        let mut firehose = server.stream("/v1/stream?symbols=*").await;
        let mut only_a = server.stream("/v1/stream?symbols=A").await;
        let mut feed = server.feed().await;
        let fed = [
            ("A", "1"),
            ("B", "2"),
            ("A", "3"),
            ("C", "4"),
            ("A", "5"),
            ("B", "6"),
        ];
        feed.trades(&fed).await;

        let all = firehose.events(fed.len(), EVENT_TIMEOUT).await;
        let summary: Vec<_> = all
            .iter()
            .map(|event| (event.sym(), event.raw("px"), event.n()))
            .collect();
        let expected: Vec<_> = [
            ("A", "1", 1),
            ("B", "2", 1),
            ("A", "3", 2),
            ("C", "4", 1),
            ("A", "5", 3),
            ("B", "6", 2),
        ]
        .iter()
        .map(|(symbol, px, n)| (symbol.to_string(), px.to_string(), *n))
        .collect();
        assert_eq!(
            summary, expected,
            "firehose gets every symbol, n counts per symbol"
        );
        assert!(all.iter().all(|event| event.event == "tick"));
        assert_strictly_increasing(
            "firehose ids",
            &all.iter().map(|event| event.id()).collect::<Vec<_>>(),
        );

        let a_events = only_a.events(3, EVENT_TIMEOUT).await;
        let firehose_a: Vec<_> = all.iter().filter(|event| event.sym() == "A").collect();
        for (event, same) in a_events.iter().zip(firehose_a) {
            assert_eq!(event.sym(), "A");
            assert_eq!(
                (event.id(), event.n(), event.data.as_str()),
                (same.id(), same.n(), same.data.as_str()),
                "the same tick has the same id, n and data on every stream"
            );
        }
    })
    .await;
}

#[tokio::test]
async fn snapshot_endpoint_lists_latest_ticks_and_missing_symbols() {
    within(TEST_TIMEOUT, async {
        let server = Server::tcp().await;
        let mut feed = server.feed().await;
        feed.trades(&[("A", "1"), ("B", "2")]).await;
        feed.line(
            r#"{"sym":"A","bid":2.5,"bid_qty":1,"ask":3.5,"ask_qty":2,"ts":1700000000000000000}"#,
        )
        .await;
        server.wait_for_counts(&[("A", 2), ("B", 1)]).await;

        let snapshot = server.get_json("/v1/snapshot?symbols=A,B,Z").await;
        let a = snapshot_tick(&snapshot, "A").expect("A in ticks");
        let b = snapshot_tick(&snapshot, "B").expect("B in ticks");
        assert_eq!(a["kind"], "quote");
        assert_eq!(a["n"], 2);
        assert_eq!(b["n"], 1);
        assert_eq!(
            snapshot["ticks"].as_array().map(Vec::len),
            Some(2),
            "{snapshot}"
        );
        assert_eq!(snapshot["missing"], serde_json::json!(["Z"]));
        let head = head_seq(&snapshot);
        assert_eq!(a["seq"], head, "A's quote is the last tick: {snapshot}");
        assert_eq!(b["seq"].as_u64().map(|seq| seq < head), Some(true));

        let everything = server.get_json("/v1/snapshot?symbols=*").await;
        let mut symbols: Vec<_> = everything["ticks"]
            .as_array()
            .expect("ticks")
            .iter()
            .map(|tick| tick["sym"].as_str().unwrap_or_default().to_owned())
            .collect();
        symbols.sort();
        assert_eq!(symbols, ["A", "B"], "{everything}");
        assert_eq!(everything["missing"], serde_json::json!([]));

        // The tick objects are the same objects a stream's snapshot events carry.
        let mut stream = server.stream("/v1/stream?symbols=A,B").await;
        for event in stream.events(2, EVENT_TIMEOUT).await {
            assert_eq!(event.event, "snapshot");
            let from_endpoint = snapshot_tick(&snapshot, &event.sym()).expect("in snapshot");
            assert_eq!(&event.json(), from_endpoint, "same object in both places");
        }

        let metrics = server.metrics().await;
        assert_eq!(
            metrics.sum("tickcast_ring_head_seq", &[]),
            head as f64,
            "tickcast_ring_head_seq is the snapshot's head_seq"
        );
        assert_eq!(metrics.sum("tickcast_symbols", &[]), 2.0);
    })
    .await;
}

/// The text of the flat JSON object in `text` whose `sym` is `symbol`.
fn object_of<'a>(text: &'a str, symbol: &str) -> &'a str {
    let value = format!("\"{symbol}\"");
    let at = text
        .match_indices("\"sym\"")
        .map(|(at, key)| at + key.len())
        .find(|&after| {
            text[after..]
                .trim_start()
                .strip_prefix(':')
                .is_some_and(|rest| rest.trim_start().starts_with(&value))
        })
        .unwrap_or_else(|| panic!("no object for {symbol} in {text}"));
    let start = text[..at].rfind('{').unwrap_or(0);
    let end = text[at..].find('}').map_or(text.len(), |end| at + end + 1);
    &text[start..end]
}
