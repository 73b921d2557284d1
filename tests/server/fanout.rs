//! Fan-out: many subscribers over several shards, each tick serialized once, connections and
//! subscribers accounted per shard and released when clients go away.

use std::collections::BTreeSet;
use std::time::Duration;

use crate::support::{
    EVENT_TIMEOUT, SETTLE_TIMEOUT, Server, SseStream, TEST_TIMEOUT, assert_strictly_increasing,
    eventually, within,
};

const SYMBOLS: [&str; 4] = ["A", "B", "C", "D"];

/// A subscriber and the symbols it asked for (`None`: the firehose).
struct Subscriber {
    symbols: Option<Vec<&'static str>>,
    stream: SseStream,
}

impl Subscriber {
    fn wants(&self, symbol: &str) -> bool {
        self.symbols
            .as_ref()
            .is_none_or(|symbols| symbols.contains(&symbol))
    }
}

#[tokio::test]
async fn each_tick_is_serialized_once_for_all_subscribers() {
    within(TEST_TIMEOUT, async {
        let server = Server::tcp_with(&["--shards", "2"]).await;
        let mut feed = server.feed().await;

        // One subscriber first, so every tick (also the ones before the others join) has
        // someone to be encoded for.
        let mut first = server.stream("/v1/stream?symbols=*").await;
        server.wait_subscribers(1).await;
        for symbol in SYMBOLS {
            feed.trade(symbol, "1").await;
        }
        let early = first.events(SYMBOLS.len(), EVENT_TIMEOUT).await;
        assert!(early.iter().all(|event| event.event == "tick"));

        // 31 more: firehoses and single- or two-symbol subscriptions, all getting snapshots.
        let mut subscribers = Vec::new();
        for _ in 0..9 {
            let stream = server.stream("/v1/stream?symbols=*").await;
            subscribers.push(Subscriber {
                symbols: None,
                stream,
            });
        }
        for j in 0..22 {
            let mut symbols = vec![SYMBOLS[j % 4]];
            if j % 2 == 1 {
                symbols.push(SYMBOLS[(j + 1) % 4]);
            }
            let stream = server
                .stream(&format!("/v1/stream?symbols={}", symbols.join(",")))
                .await;
            subscribers.push(Subscriber {
                symbols: Some(symbols),
                stream,
            });
        }
        server.wait_subscribers(32).await;
        for subscriber in &mut subscribers {
            let count = subscriber.symbols.as_ref().map_or(SYMBOLS.len(), Vec::len);
            for event in subscriber.stream.events(count, EVENT_TIMEOUT).await {
                assert_eq!(event.event, "snapshot", "{event:?}");
            }
        }

        const LIVE: usize = 196;
        let live_symbols: Vec<&str> = (0..LIVE).map(|i| SYMBOLS[(i * 7 + i / 5) % 4]).collect();
        feed.burst(
            live_symbols
                .iter()
                .enumerate()
                .map(|(i, symbol)| (symbol, format!("2.{i:03}"))),
        )
        .await;

        let fed = (SYMBOLS.len() + LIVE) as f64;
        let live = first.events(LIVE, EVENT_TIMEOUT).await;
        assert!(live.iter().all(|event| event.event == "tick"));
        for subscriber in &mut subscribers {
            let expected: Vec<&str> = live_symbols
                .iter()
                .copied()
                .filter(|symbol| subscriber.wants(symbol))
                .collect();
            let events = subscriber
                .stream
                .events(expected.len(), EVENT_TIMEOUT)
                .await;
            let symbols: Vec<String> = events.iter().map(|event| event.sym()).collect();
            assert_eq!(symbols, expected, "{:?}", subscriber.symbols);
            assert!(events.iter().all(|event| event.event == "tick"));
            assert_strictly_increasing(
                "ids",
                &events.iter().map(|event| event.id()).collect::<Vec<_>>(),
            );
        }

        let metrics = server.metrics().await;
        assert_eq!(metrics.sum("tickcast_ticks_ingested_total", &[]), fed);
        assert_eq!(
            metrics.sum("tickcast_frames_encoded_total", &[]),
            fed,
            "each tick is encoded once, whatever the number of subscribers and shards \
             (snapshots are not counted)"
        );

        // Deliveries show up in the ingest-to-write latency summary (merged about once a second).
        eventually(
            "tickcast_ingest_to_write_seconds quantiles after deliveries",
            SETTLE_TIMEOUT,
            async || {
                let metrics = server.metrics().await;
                let quantiles: Option<Vec<f64>> = ["0.5", "0.9", "0.99", "0.999"]
                    .iter()
                    .map(|q| {
                        metrics.try_sum("tickcast_ingest_to_write_seconds", &[("quantile", q)])
                    })
                    .collect();
                quantiles.filter(|values| values.iter().all(|&v| v > 0.0))
            },
        )
        .await;
    })
    .await;
}

#[tokio::test]
async fn connections_spread_over_shards_and_are_released() {
    within(TEST_TIMEOUT, async {
        let server = Server::tcp_with(&["--shards", "3", "--heartbeat", "200ms"]).await;
        let mut streams = Vec::new();
        for i in 0..30 {
            streams.push(
                server
                    .stream(&format!("/v1/stream?symbols=S{}", i % 5))
                    .await,
            );
        }
        server.wait_subscribers(30).await;

        let metrics = server.metrics().await;
        let subscribers = metrics.by_label("tickcast_subscribers", "shard");
        assert_eq!(
            subscribers
                .keys()
                .map(String::as_str)
                .collect::<BTreeSet<_>>()
                .len(),
            3,
            "one tickcast_subscribers sample per shard: {subscribers:?}"
        );
        assert!(
            subscribers.values().all(|&count| count >= 1.0),
            "30 connections land on all 3 shards: {subscribers:?}"
        );
        // The scrape's own connection is counted too, and a previous scrape's connection may
        // still be closing: wait for the count to settle at the streams plus this scrape.
        server
            .wait_metric(
                "summing to the 30 streams (+ the scrape)",
                "tickcast_connections",
                &[],
                |connections| (30.0..=31.0).contains(&connections),
            )
            .await;

        let mut feed = server.feed().await;
        for i in 0..5 {
            feed.trade(&format!("S{i}"), &format!("{i}.5")).await;
        }
        for (i, stream) in streams.iter_mut().enumerate() {
            let event = stream.next_event(EVENT_TIMEOUT).await;
            assert_eq!(
                (event.event.as_str(), event.sym(), event.n()),
                ("tick", format!("S{}", i % 5), 1)
            );
        }
        let sent = server
            .metrics()
            .await
            .by_label("tickcast_events_sent_total", "shard");
        assert!(
            sent.len() == 3 && sent.values().all(|&count| count >= 1.0),
            "ticks flow on every shard: {sent:?}"
        );

        // Clients go away: their subscribers and connections are released.
        drop(streams);
        let mut round = 0;
        eventually(
            "subscribers and connections released after clients hang up",
            SETTLE_TIMEOUT,
            async || {
                // Writes (ticks, heartbeats) are how a server notices a vanished client.
                round += 1;
                for i in 0..5 {
                    feed.trade(&format!("S{i}"), &format!("{round}.0")).await;
                }
                let metrics = server.metrics().await;
                let subscribers = metrics.sum("tickcast_subscribers", &[]);
                let connections = metrics.sum("tickcast_connections", &[]);
                tokio::time::sleep(Duration::from_millis(30)).await;
                (subscribers == 0.0 && connections <= 1.0).then_some(())
            },
        )
        .await;
    })
    .await;
}
