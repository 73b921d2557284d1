//! The connection hand-off: hyper answers requests and writes a stream's head, then the SSE
//! writer owns the socket. Nothing may be lost or mixed up at that point: an earlier response on
//! the same keep-alive connection, bytes the client sends after its stream request, an HTTP/1.0
//! client (no chunked coding), and the subscriber must be released when the client leaves.

use std::time::Duration;

use tokio::time::Instant;

use crate::support::http::Framing;
use crate::support::{
    EVENT_TIMEOUT, End, Item, Server, SseStream, TEST_TIMEOUT, assert_error, within,
};

/// Time for a request written by hand to be answered.
const ANSWER: Duration = Duration::from_secs(10);

#[tokio::test]
async fn a_stream_after_a_keep_alive_request_on_the_same_connection() {
    within(TEST_TIMEOUT, async {
        let server = Server::tcp().await;
        let mut feed = server.seeded_feed(&[("A", "1")]).await;

        let deadline = Instant::now() + ANSWER;
        let mut conn = server.connect(deadline).await;
        // Two plain requests first, on the same connection (keep-alive), one of them an error.
        let health = conn
            .exchange("GET", "/healthz", deadline)
            .await
            .expect("GET /healthz");
        assert_eq!(health.status(), 200);
        assert_eq!(health.json()["status"], "ok");
        let error = conn
            .exchange("GET", "/v1/stream?symbols=", deadline)
            .await
            .expect("GET a bad stream request");
        assert_error(&error, 400, "empty_symbols");

        // Then the stream, on the same connection.
        conn.send_request("GET", "/v1/stream?symbols=A", &[], deadline)
            .await
            .expect("send the stream request");
        let head = conn.read_head(deadline).await.expect("stream head");
        assert_eq!(head.framing("GET"), Framing::Chunked, "{:?}", head.headers);
        let mut stream = SseStream::start(conn, head, "/v1/stream?symbols=A")
            .await
            .unwrap_or_else(|response| panic!("stream answered {}", response.status()));
        server.wait_subscribers(1).await;
        assert!(matches!(
            stream.next_item(EVENT_TIMEOUT).await,
            Ok(Item::Retry(_))
        ));
        let snapshot = stream.next_event(EVENT_TIMEOUT).await;
        assert_eq!((snapshot.event.as_str(), snapshot.n()), ("snapshot", 1));

        // A pipelined request and stray bytes after the stream's request are not answered
        // inside the stream: the body stays a clean chunked event stream.
        stream
            .send_raw(b"GET /healthz HTTP/1.1\r\nHost: x\r\n\r\nnot http at all\r\n")
            .await;
        feed.trades(&[("A", "2"), ("A", "3")]).await;
        let ticks = stream.events(2, EVENT_TIMEOUT).await;
        let counts: Vec<(String, u64)> = ticks.iter().map(|t| (t.event.clone(), t.n())).collect();
        assert_eq!(counts, [("tick".to_owned(), 2), ("tick".to_owned(), 3)]);
        match stream.next_item(Duration::from_millis(300)).await {
            Err(End::Timeout) | Ok(Item::Comment(_)) => {}
            other => panic!("nothing else belongs in the stream: {other:?}"),
        }

        // The client leaves: its subscriber goes at once (not at the next heartbeat).
        drop(stream);
        server.wait_subscribers(0).await;
    })
    .await;
}

#[tokio::test]
async fn http10_streams_are_delimited_by_closing_the_connection() {
    within(TEST_TIMEOUT, async {
        let mut server = Server::tcp().await;
        let mut feed = server.seeded_feed(&[("A", "1")]).await;

        let deadline = Instant::now() + ANSWER;
        let mut conn = server.connect(deadline).await;
        conn.send_raw(b"GET /v1/stream?symbols=A HTTP/1.0\r\n\r\n", deadline)
            .await
            .expect("send");
        let head = conn.read_head(deadline).await.expect("head");
        assert_eq!(head.status, 200);
        assert_eq!(
            head.header("transfer-encoding"),
            None,
            "HTTP/1.0 has no chunked coding: {:?}",
            head.headers
        );
        assert_eq!(head.framing("GET"), Framing::UntilClose);
        let mut stream = SseStream::start(conn, head, "/v1/stream?symbols=A")
            .await
            .unwrap_or_else(|response| panic!("stream answered {}", response.status()));
        assert!(matches!(
            stream.next_item(EVENT_TIMEOUT).await,
            Ok(Item::Retry(_))
        ));
        assert!(stream.body_prefix.starts_with(b"retry: "));
        assert_eq!(stream.next_event(EVENT_TIMEOUT).await.event, "snapshot");
        feed.trade("A", "2").await;
        assert_eq!(stream.next_event(EVENT_TIMEOUT).await.n(), 2);

        // Shutdown: the body ends with a `retry:` hint and the end of the connection.
        server.terminate();
        stream.drained(EVENT_TIMEOUT).await;
        let status = server.wait_exit(EVENT_TIMEOUT).await;
        assert_eq!(status.code(), Some(0));
    })
    .await;
}
