//! The TCP feed: bad lines are counted under their reason and skipped, the connection stays up,
//! and lines split across writes or spread over several feed clients all arrive.

use std::collections::BTreeMap;
use std::time::Duration;

use crate::support::{
    EVENT_TIMEOUT, SETTLE_TIMEOUT, Server, TEST_TIMEOUT, eventually, trade_lines, within,
};

#[tokio::test]
async fn bad_feed_lines_are_counted_and_skipped() {
    within(TEST_TIMEOUT, async {
        let server = Server::tcp_with(&["--max-line", "1024"]).await;
        let mut stream = server.stream("/v1/stream?symbols=*").await;
        let mut feed = server.feed().await;

        let long_line = format!(
            r#"{{"sym":"A","px":1,"ts":1700000000000000000,"pad":"{}"}}"#,
            "x".repeat(2000)
        );
        let bad: Vec<(&str, Vec<u8>)> = vec![
            ("invalid_json", b"garbage".to_vec()),
            ("invalid_json", br#"{"sym":"A","px":1"#.to_vec()),
            ("not_an_object", b"[1,2,3]".to_vec()),
            (
                "missing_symbol",
                br#"{"px":1,"ts":1700000000000000000}"#.to_vec(),
            ),
            (
                "bad_symbol",
                br#"{"sym":"A B","px":1,"ts":1700000000000000000}"#.to_vec(),
            ),
            (
                "bad_symbol",
                format!(r#"{{"sym":"{}","px":1,"ts":1}}"#, "L".repeat(33)).into_bytes(),
            ),
            (
                "missing_price",
                br#"{"sym":"A","qty":1,"ts":1700000000000000000}"#.to_vec(),
            ),
            (
                "bad_price",
                br#"{"sym":"A","px":true,"ts":1700000000000000000}"#.to_vec(),
            ),
            (
                "bad_price",
                br#"{"sym":"A","px":-5,"ts":1700000000000000000}"#.to_vec(),
            ),
            (
                "bad_size",
                br#"{"sym":"A","px":1,"qty":"lots","ts":1700000000000000000}"#.to_vec(),
            ),
            ("missing_timestamp", br#"{"sym":"A","px":1}"#.to_vec()),
            (
                "bad_timestamp",
                br#"{"sym":"A","px":1,"ts":"soon"}"#.to_vec(),
            ),
            (
                "invalid_utf8",
                b"{\"sym\":\"A\xff\xfe\",\"px\":1,\"ts\":1}".to_vec(),
            ),
            ("line_too_long", long_line.into_bytes()),
        ];
        let mut expected: BTreeMap<&str, f64> = BTreeMap::new();
        for (reason, line) in &bad {
            *expected.entry(reason).or_default() += 1.0;
            let mut bytes = line.clone();
            bytes.push(b'\n');
            feed.send(&bytes).await;
        }

        // A good line after all that, on the same connection, split across two writes.
        let good = trade_lines([("A", "42.5")]);
        let (head, tail) = good.as_bytes().split_at(good.len() / 2);
        feed.send(head).await;
        tokio::time::sleep(Duration::from_millis(50)).await;
        feed.send(tail).await;
        let event = stream.next_event(EVENT_TIMEOUT).await;
        assert_eq!(
            (
                event.event.as_str(),
                event.sym(),
                event.raw("px"),
                event.n()
            ),
            ("tick", "A".to_owned(), "42.5".to_owned(), 1),
            "the good line is delivered and no bad line became a tick"
        );

        let counted = eventually(
            "every bad line counted under its reason",
            SETTLE_TIMEOUT,
            async || {
                let metrics = server.metrics().await;
                let counted: BTreeMap<&str, f64> = expected
                    .keys()
                    .map(|reason| {
                        let count = metrics
                            .try_sum("tickcast_feed_rejects_total", &[("reason", reason)])
                            .unwrap_or(0.0);
                        (*reason, count)
                    })
                    .collect();
                (counted == expected).then_some(counted)
            },
        )
        .await;
        let metrics = server.metrics().await;
        assert_eq!(
            metrics.sum("tickcast_feed_rejects_total", &[]),
            bad.len() as f64,
            "no other rejects: {counted:?}"
        );
        assert_eq!(metrics.sum("tickcast_ticks_ingested_total", &[]), 1.0);

        // The connection is still up and keeps delivering.
        feed.trade("A", "43").await;
        assert_eq!(stream.next_event(EVENT_TIMEOUT).await.n(), 2);
    })
    .await;
}

#[tokio::test]
async fn several_feed_clients_feed_one_sequence() {
    within(TEST_TIMEOUT, async {
        let server = Server::tcp().await;
        let mut stream = server.stream("/v1/stream?symbols=*").await;
        let mut feeds = Vec::new();
        for _ in 0..3 {
            feeds.push(server.feed().await);
        }
        for round in 0..5 {
            for (i, feed) in feeds.iter_mut().enumerate() {
                feed.trade(&format!("F{i}"), &format!("{}.{i}", round + 1))
                    .await;
            }
        }
        let events = stream.events(15, EVENT_TIMEOUT).await;
        let mut ids: Vec<u64> = events.iter().map(|event| event.id()).collect();
        let arrived = ids.clone();
        ids.sort_unstable();
        assert_eq!(ids, arrived, "ids increase on the stream");
        assert_eq!(
            ids.last().map(|last| last - ids[0]),
            Some(14),
            "15 ticks from 3 connections get 15 consecutive seqs"
        );
        for i in 0..3 {
            let mine: Vec<String> = events
                .iter()
                .filter(|event| event.sym() == format!("F{i}"))
                .map(|event| event.raw("px"))
                .collect();
            let fed: Vec<String> = (1..=5).map(|round| format!("{round}.{i}")).collect();
            assert_eq!(mine, fed, "one connection's lines keep their order");
        }
    })
    .await;
}

#[tokio::test]
async fn a_tcp_feed_can_speak_an_exchange_format() {
    within(TEST_TIMEOUT, async {
        let server = Server::start(&["--feed", "tcp-listen://127.0.0.1:0?format=binance"]).await;
        let mut stream = server.stream("/v1/stream?symbols=BINANCE:BTCUSDT").await;
        let mut feed = server.feed().await;
        // Real frames from the Binance recording: a depth diff (skipped), a trade.
        feed.line(r#"{"stream":"btcusdt@depth@100ms","data":{"e":"depthUpdate","E":1723161255308,"s":"BTCUSDT","U":50093239203,"u":50093239207,"b":[["55653.87000000","0.00000000"]],"a":[]}}"#).await;
        feed.line(r#"{"stream":"btcusdt@trade","data":{"e":"trade","E":1723161255343,"s":"BTCUSDT","t":3735683259,"p":"61837.63000000","q":"0.02000000","T":1723161255342,"m":true,"M":true}}"#).await;
        feed.line(r#"{"sym":"NATIVE","px":1,"ts":1}"#).await;
        let event = stream.next_event(EVENT_TIMEOUT).await;
        assert_eq!(event.event, "tick");
        assert_eq!(event.sym(), "BINANCE:BTCUSDT");
        assert_eq!(event.raw("px"), "61837.63000000");
        assert_eq!(event.raw("ts"), "1723161255342000000");
        eventually("the depth diff counted as skipped", SETTLE_TIMEOUT, async || {
            let metrics = server.metrics().await;
            (metrics.sum("tickcast_feed_skipped_total", &[("kind", "book_update")]) == 1.0
                && metrics.sum("tickcast_feed_rejects_total", &[]) == 1.0)
                .then_some(())
        })
        .await;
    })
    .await;
}
