//! Which symbols exist: the synthetic market, an open universe (TCP feed only) and a closed
//! `--universe` list, as `/v1/symbols`, subscriptions and the feed see them.

use std::time::Duration;

use serde_json::{Value, json};

use crate::support::{
    EVENT_TIMEOUT, Server, TEST_TIMEOUT, assert_error, assert_strictly_increasing, within,
};

/// Generous wait for one synthetic tick of one symbol (about 10 per second are expected).
const SYNTHETIC_EVENT_TIMEOUT: Duration = Duration::from_secs(10);

/// The `symbols` of a `/v1/symbols` answer, sorted.
fn listed(symbols: &Value) -> Vec<String> {
    let mut listed: Vec<String> = symbols["symbols"]
        .as_array()
        .unwrap_or_else(|| panic!("no symbols array: {symbols}"))
        .iter()
        .map(|symbol| {
            symbol
                .as_str()
                .unwrap_or_else(|| panic!("symbol {symbol} is not a string: {symbols}"))
                .to_owned()
        })
        .collect();
    listed.sort();
    listed
}

#[tokio::test]
async fn synthetic_feed_is_a_closed_universe_of_syn_symbols() {
    within(TEST_TIMEOUT, async {
        let server = Server::start(&["--synthetic-symbols", "20", "--synthetic-rate", "200"]).await;
        assert!(
            server.feeds.is_empty(),
            "no tcp feed is listed for synthetic only"
        );

        let symbols = server.get_json("/v1/symbols").await;
        assert_eq!(symbols["universe"], "closed", "{symbols}");
        assert_eq!(symbols["synthetic"], true, "{symbols}");
        let expected: Vec<String> = (1..=20).map(|i| format!("SYN{i:04}")).collect();
        assert_eq!(listed(&symbols), expected);

        let mut stream = server.stream("/v1/stream?symbols=SYN0001").await;
        let mut events = Vec::new();
        for _ in 0..3 {
            events.push(stream.next_event(SYNTHETIC_EVENT_TIMEOUT).await);
        }
        for (index, event) in events.iter().enumerate() {
            assert_eq!(event.sym(), "SYN0001", "{event:?}");
            assert_eq!(event.id(), event.seq());
            let expected_type = if index == 0 {
                ["snapshot", "tick"].as_slice()
            } else {
                &["tick"]
            };
            assert!(expected_type.contains(&event.event.as_str()), "{event:?}");
            assert!(event.json().get("kind").is_some());
        }
        assert_strictly_increasing(
            "synthetic ids",
            &events.iter().map(|event| event.id()).collect::<Vec<_>>(),
        );
        assert_strictly_increasing(
            "per-symbol counts",
            &events.iter().map(|event| event.n()).collect::<Vec<_>>(),
        );

        for path in [
            "/v1/stream?symbols=NOPE",
            "/v1/stream?symbols=SYN0001,SYN0021",
            "/v1/snapshot?symbols=NOPE",
        ] {
            assert_error(&server.get(path).await, 400, "unknown_symbol");
        }
    })
    .await;
}

#[tokio::test]
async fn open_universe_accepts_unseen_symbols_and_delivers_them_later() {
    within(TEST_TIMEOUT, async {
        let server = Server::tcp().await;
        let symbols = server.get_json("/v1/symbols").await;
        assert_eq!(symbols["universe"], "open", "{symbols}");
        assert_eq!(symbols["synthetic"], false, "{symbols}");

        let mut stream = server.stream("/v1/stream?symbols=KRAKEN:MATIC/USD").await;
        let mut feed = server.feed().await;
        feed.trades(&[("OTHER", "1"), ("KRAKEN:MATIC/USD", "0.5123")])
            .await;
        let event = stream.next_event(EVENT_TIMEOUT).await;
        assert_eq!(event.event, "tick");
        assert_eq!(event.sym(), "KRAKEN:MATIC/USD");
        assert_eq!(event.n(), 1);
        assert_eq!(event.raw("px"), "0.5123");

        let symbols = server.get_json("/v1/symbols").await;
        let listed = symbols["symbols"].as_array().expect("symbols array");
        for symbol in ["OTHER", "KRAKEN:MATIC/USD"] {
            assert!(listed.contains(&json!(symbol)), "{symbol} in {symbols}");
        }
    })
    .await;
}

#[tokio::test]
async fn closed_universe_refuses_unknown_symbols_from_clients_and_feed() {
    within(TEST_TIMEOUT, async {
        let server = Server::tcp_with(&["--universe", "A,B"]).await;
        let symbols = server.get_json("/v1/symbols").await;
        assert_eq!(symbols["universe"], "closed", "{symbols}");
        assert_eq!(symbols["synthetic"], false, "{symbols}");
        assert_eq!(listed(&symbols), ["A", "B"]);

        for path in [
            "/v1/stream?symbols=C",
            "/v1/stream?symbols=A,C",
            "/v1/snapshot?symbols=C",
        ] {
            assert_error(&server.get(path).await, 400, "unknown_symbol");
        }

        let mut stream = server.stream("/v1/stream?symbols=*").await;
        let mut feed = server.feed().await;
        feed.trades(&[("C", "1"), ("A", "2")]).await;
        let event = stream.next_event(EVENT_TIMEOUT).await;
        assert_eq!(
            (event.sym(), event.n()),
            ("A".to_owned(), 1),
            "the line for C is dropped, the feed goes on"
        );
        server
            .wait_metric(
                "== 1",
                "tickcast_feed_rejects_total",
                &[("reason", "unknown_symbol")],
                |rejects| rejects == 1.0,
            )
            .await;
        assert_eq!(
            server.metric("tickcast_ticks_ingested_total", &[]).await,
            1.0
        );
        let snapshot = server.get_json("/v1/snapshot?symbols=A,B").await;
        assert_eq!(snapshot["missing"], json!(["B"]), "{snapshot}");
    })
    .await;
}
