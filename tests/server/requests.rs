//! Request validation: every bad request gets its status and JSON error code, nothing a client
//! sends can crash the server, and a normal stream still works afterwards.

use crate::support::{EVENT_TIMEOUT, Server, TEST_TIMEOUT, assert_error, within};

#[tokio::test]
async fn bad_requests_get_json_errors_and_the_server_survives() {
    within(TEST_TIMEOUT, async {
        let mut server = Server::tcp().await;
        let mut feed = server.seeded_feed(&[("A", "1")]).await;

        let long_symbol = "X".repeat(33);
        let too_many: Vec<String> = (0..1025).map(|i| format!("S{i}")).collect();
        let just_enough = too_many[..1024].join(",");
        let too_many = too_many.join(",");
        for endpoint in ["/v1/stream", "/v1/snapshot"] {
            let cases = [
                (endpoint.to_owned(), "missing_symbols", None),
                (format!("{endpoint}?other=1"), "missing_symbols", None),
                (format!("{endpoint}?symbols="), "empty_symbols", None),
                (format!("{endpoint}?symbols=A,,B"), "empty_symbols", None),
                (format!("{endpoint}?symbols=A,"), "empty_symbols", None),
                (
                    format!("{endpoint}?symbols=A%20B"),
                    "bad_symbol",
                    Some("A B"),
                ),
                (
                    format!("{endpoint}?symbols=A,%3Cx%3E"),
                    "bad_symbol",
                    Some("<x>"),
                ),
                (
                    format!("{endpoint}?symbols=A,{long_symbol}"),
                    "bad_symbol",
                    Some(long_symbol.as_str()),
                ),
                (
                    format!("{endpoint}?symbols={too_many}"),
                    "too_many_symbols",
                    None,
                ),
            ];
            for (path, code, named) in cases {
                let response = server.get(&path).await;
                let message = assert_error(&response, 400, code);
                if let Some(symbol) = named {
                    assert!(
                        message.contains(symbol),
                        "GET {}: message {message:?} should name {symbol:?}",
                        &path[..path.len().min(120)]
                    );
                }
            }
            // Boundaries that are fine: 32-byte symbols, 1024 symbols, the full grammar.
            let ok = [
                format!("{endpoint}?symbols={}", "Y".repeat(32)),
                format!("{endpoint}?symbols={just_enough}"),
                format!("{endpoint}?symbols=a.b_c-d:e/f,Z9"),
            ];
            for path in ok {
                let response = if endpoint == "/v1/stream" {
                    server
                        .stream_with(&path, &[])
                        .await
                        .map(|stream| stream.head.status)
                        .unwrap_or_else(|response| response.status())
                } else {
                    server.get(&path).await.status()
                };
                assert_eq!(response, 200, "GET {}", &path[..path.len().min(120)]);
            }
        }

        // A raw `<x>` in the request target is refused one way or another, never a crash.
        let raw = server
            .try_request("GET", "/v1/stream?symbols=<x>", &[])
            .await;
        if let Ok(response) = raw {
            assert_eq!(response.status(), 400, "{}", response.text());
        }

        // A 100 KB query string: a client error, not a crash or a hang.
        let huge = format!("/v1/stream?symbols={}", "A".repeat(100 * 1024));
        match server.try_request("GET", &huge, &[]).await {
            Ok(response) => assert!(
                (400..500).contains(&response.status()),
                "100 KB query: {} {}",
                response.status(),
                response.text()
            ),
            Err(err) => panic!("100 KB query got no response: {err}"),
        }

        assert_error(&server.get("/nope").await, 404, "not_found");
        assert_error(&server.get("/v1/streams?symbols=A").await, 404, "not_found");
        for path in ["/v1/stream?symbols=A", "/v1/snapshot?symbols=A"] {
            let response = server.request("POST", path, &[]).await;
            assert_error(&response, 405, "method_not_allowed");
            let allow = response.header("allow").unwrap_or_default();
            assert!(allow.contains("GET"), "POST {path}: Allow {allow:?}");
        }

        // Still alive and serving.
        assert!(server.is_running(), "tickcast exited:\n{}", server.stderr());
        let mut stream = server.stream("/v1/stream?symbols=A").await;
        let snapshot = stream.next_event(EVENT_TIMEOUT).await;
        assert_eq!(
            (snapshot.event.as_str(), snapshot.sym()),
            ("snapshot", "A".to_owned())
        );
        feed.trade("A", "2").await;
        assert_eq!(stream.next_event(EVENT_TIMEOUT).await.n(), 2);
    })
    .await;
}
