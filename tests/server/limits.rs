//! The edge's limits and CORS, as a hostile or careless client meets them: connection caps per
//! IP and in total, a connect-rate bucket spread over many 127.0.0.x addresses, slowloris and
//! idle connections, oversized heads; each answered with its status and JSON body while the
//! server keeps serving the others.

use std::net::{IpAddr, Ipv4Addr, SocketAddr};
use std::time::Duration;

use tokio::net::TcpSocket;
use tokio::time::Instant;

use crate::support::http::{Conn, Response};
use crate::support::{EVENT_TIMEOUT, Server, TEST_TIMEOUT, assert_error, within};

/// A connection to `server` from the loopback address `127.0.0.<last>`.
async fn connect_from(server: &Server, last: u8) -> Conn {
    let socket = TcpSocket::new_v4().expect("socket");
    let local = SocketAddr::new(IpAddr::V4(Ipv4Addr::new(127, 0, 0, last)), 0);
    socket.bind(local).expect("bind a loopback source address");
    let stream = tokio::time::timeout(EVENT_TIMEOUT, socket.connect(server.http))
        .await
        .expect("connect in time")
        .expect("connect");
    Conn::new(stream)
}

/// One `GET path` from `127.0.0.<last>` with `headers`; the whole response.
async fn get_from(server: &Server, last: u8, path: &str, headers: &[(&str, &str)]) -> Response {
    let deadline = Instant::now() + EVENT_TIMEOUT;
    let mut conn = connect_from(server, last).await;
    let mut all = headers.to_vec();
    all.push(("Connection", "close"));
    conn.send_request("GET", path, &all, deadline)
        .await
        .expect("send the request");
    read_response(&mut conn, "GET", deadline).await
}

async fn read_response(conn: &mut Conn, method: &str, deadline: Instant) -> Response {
    let head = conn.read_head(deadline).await.expect("a response head");
    let body = conn
        .read_body(head.framing(method), deadline)
        .await
        .expect("a response body");
    Response { head, body }
}

/// True once the server has closed `conn` (reads return EOF) within `limit`.
async fn closed_within(conn: &mut Conn, limit: Duration) -> bool {
    let deadline = Instant::now() + limit;
    loop {
        match conn.fill(deadline).await {
            Ok(0) => return true,
            Ok(_) => continue,
            Err(_) => return false,
        }
    }
}

#[tokio::test]
async fn connections_per_ip_are_capped_and_places_come_back() {
    within(TEST_TIMEOUT, async {
        let server = Server::tcp_with(&["--max-connections-per-ip", "2"]).await;
        let _feed = server.seeded_feed(&[("A", "1")]).await;
        let first = server.stream("/v1/stream?symbols=A").await;
        let _second = server.stream("/v1/stream?symbols=A").await;

        let refused = get_from(&server, 1, "/v1/symbols", &[]).await;
        assert_error(&refused, 429, "too_many_connections_from_ip");
        assert_eq!(refused.header("retry-after"), Some("10"));
        // Another address is not affected.
        let other = get_from(&server, 2, "/v1/symbols", &[]).await;
        assert_eq!(other.status(), 200, "{}", other.text());

        drop(first);
        crate::support::eventually("a place to come back", EVENT_TIMEOUT, || async {
            (get_from(&server, 1, "/healthz", &[]).await.status() == 200).then_some(())
        })
        .await;
        let refusals = server
            .metric(
                "tickcast_http_refusals_total",
                &[("reason", "too_many_connections_from_ip")],
            )
            .await;
        assert!(refusals >= 1.0, "{refusals}");
    })
    .await;
}

#[tokio::test]
async fn a_connection_flood_from_many_addresses_is_refused_and_the_rest_keeps_flowing() {
    within(TEST_TIMEOUT, async {
        let server = Server::tcp_with(&[
            "--max-connections",
            "60",
            "--connect-rate-per-ip",
            "2",
            "--connect-burst-per-ip",
            "5",
        ])
        .await;
        let mut feed = server.seeded_feed(&[("A", "1")]).await;
        let mut stream = server.stream("/v1/stream?symbols=A").await;
        let _ = stream.next_event(EVENT_TIMEOUT).await;

        // 20 addresses x 10 connections held open at once, each asking for /healthz slowly
        // (the request is sent only after all are connected).
        let mut conns = Vec::new();
        for last in 10..30u8 {
            for _ in 0..10 {
                conns.push(connect_from(&server, last).await);
            }
        }
        let deadline = Instant::now() + Duration::from_secs(20);
        let (mut ok, mut rate, mut full) = (0, 0, 0);
        for conn in &mut conns {
            conn.send_request("GET", "/healthz", &[], deadline)
                .await
                .expect("send");
        }
        for conn in &mut conns {
            let response = read_response(conn, "GET", deadline).await;
            match response.status() {
                200 => ok += 1,
                429 => {
                    assert_error(&response, 429, "connect_rate");
                    assert_eq!(response.header("retry-after"), Some("1"));
                    rate += 1;
                }
                503 => {
                    assert_error(&response, 503, "server_full");
                    full += 1;
                }
                other => panic!("unexpected {other}: {}", response.text()),
            }
        }
        // Each address gets its burst of 5; 100 such connections exceed the total of 60 (two
        // of which the feed's stream and this test's stream hold).
        assert_eq!(rate, 100, "ok {ok}, rate {rate}, full {full}");
        assert_eq!(ok + full, 100, "ok {ok}, rate {rate}, full {full}");
        assert!(full >= 40, "ok {ok}, rate {rate}, full {full}");
        drop(conns);

        // The stream opened before the flood still gets every tick.
        feed.trades(&[("A", "2"), ("A", "3")]).await;
        let prices: Vec<String> = stream
            .events(2, EVENT_TIMEOUT)
            .await
            .iter()
            .map(|e| e.raw("px"))
            .collect();
        assert_eq!(prices, ["2", "3"]);
        let health = get_from(&server, 200, "/healthz", &[]).await;
        assert_eq!(health.status(), 200, "{}", health.text());
    })
    .await;
}

#[tokio::test]
async fn a_slowloris_client_is_answered_408_and_dropped() {
    within(TEST_TIMEOUT, async {
        let server = Server::tcp_with(&["--header-read-timeout", "1s"]).await;
        let mut conn = server.connect(Instant::now() + EVENT_TIMEOUT).await;
        let started = Instant::now();
        let mut answered = None;
        for byte in b"GET /v1/stream?symbols=A HTTP/1.1\r\nHost: x\r\n"
            .iter()
            .cycle()
            .take(40)
        {
            if conn
                .send_raw(&[*byte], Instant::now() + EVENT_TIMEOUT)
                .await
                .is_err()
            {
                break;
            }
            tokio::time::sleep(Duration::from_millis(250)).await;
            if let Ok(head) = conn
                .read_head(Instant::now() + Duration::from_millis(1))
                .await
            {
                answered = Some(head);
                break;
            }
        }
        let head = match answered {
            Some(head) => head,
            None => conn
                .read_head(Instant::now() + EVENT_TIMEOUT)
                .await
                .expect("a 408 answer"),
        };
        assert_eq!(head.status, 408);
        assert!(
            started.elapsed() < Duration::from_secs(8),
            "{:?}",
            started.elapsed()
        );
        assert!(closed_within(&mut conn, EVENT_TIMEOUT).await);
        let refusals = server
            .metric(
                "tickcast_http_refusals_total",
                &[("reason", "header_timeout")],
            )
            .await;
        assert_eq!(refusals, 1.0);
        assert_eq!(server.get("/healthz").await.status(), 200);
    })
    .await;
}

#[tokio::test]
async fn a_connection_that_never_asks_is_answered_408_and_dropped() {
    within(TEST_TIMEOUT, async {
        let server = Server::tcp_with(&["--idle-timeout", "1s"]).await;
        let mut conn = server.connect(Instant::now() + EVENT_TIMEOUT).await;
        let head = conn
            .read_head(Instant::now() + EVENT_TIMEOUT)
            .await
            .expect("a 408 answer");
        assert_eq!(head.status, 408);
        assert!(closed_within(&mut conn, EVENT_TIMEOUT).await);
        let refusals = server
            .metric("tickcast_http_refusals_total", &[("reason", "idle")])
            .await;
        assert_eq!(refusals, 1.0);
    })
    .await;
}

#[tokio::test]
async fn oversized_heads_and_targets_get_431_and_414() {
    within(TEST_TIMEOUT, async {
        let server = Server::tcp_with(&[
            "--max-header-bytes",
            "4096",
            "--max-headers",
            "20",
            "--max-url-bytes",
            "1024",
        ])
        .await;
        let big = "x".repeat(5000);
        assert_error(
            &server.request("GET", "/healthz", &[("X-Big", &big)]).await,
            431,
            "headers_too_large",
        );
        let names: Vec<String> = (0..30).map(|i| format!("X-H{i}")).collect();
        let many: Vec<(&str, &str)> = names.iter().map(|n| (n.as_str(), "1")).collect();
        assert_error(
            &server.request("GET", "/healthz", &many).await,
            431,
            "headers_too_large",
        );
        let long = format!("/v1/snapshot?symbols={}", "A,".repeat(600));
        assert_error(&server.get(&long).await, 414, "url_too_long");
        assert_eq!(server.get("/healthz").await.status(), 200);
    })
    .await;
}

#[tokio::test]
async fn cors_answers_listed_origins_with_credentials_and_star_without() {
    within(TEST_TIMEOUT, async {
        let server = Server::tcp_with(&["--cors-origin", "https://app.example.com"]).await;
        let listed = server
            .request(
                "GET",
                "/v1/symbols",
                &[("Origin", "https://app.example.com")],
            )
            .await;
        assert_eq!(listed.status(), 200);
        assert_eq!(
            listed.header("access-control-allow-origin"),
            Some("https://app.example.com")
        );
        assert_eq!(
            listed.header("access-control-allow-credentials"),
            Some("true")
        );
        assert_eq!(listed.header("vary"), Some("Origin"));
        let other = server
            .request("GET", "/v1/symbols", &[("Origin", "https://evil.example")])
            .await;
        assert_eq!(other.header("access-control-allow-origin"), None);

        let preflight = server
            .request(
                "OPTIONS",
                "/v1/stream?symbols=A",
                &[
                    ("Origin", "https://app.example.com"),
                    ("Access-Control-Request-Method", "GET"),
                    (
                        "Access-Control-Request-Headers",
                        "authorization, last-event-id",
                    ),
                ],
            )
            .await;
        assert_eq!(preflight.status(), 204, "{}", preflight.text());
        let methods = preflight
            .header("access-control-allow-methods")
            .unwrap_or("");
        assert!(methods.contains("GET"), "{methods}");
        let headers = preflight
            .header("access-control-allow-headers")
            .unwrap_or("");
        assert!(headers.contains("authorization") && headers.contains("last-event-id"));
        let refused = server
            .request(
                "OPTIONS",
                "/v1/stream?symbols=A",
                &[
                    ("Origin", "https://evil.example"),
                    ("Access-Control-Request-Method", "GET"),
                ],
            )
            .await;
        assert_error(&refused, 403, "origin_not_allowed");

        let any = Server::tcp_with(&["--cors-origin", "*"]).await;
        let response = any
            .request(
                "GET",
                "/v1/symbols",
                &[("Origin", "https://anywhere.example")],
            )
            .await;
        assert_eq!(response.header("access-control-allow-origin"), Some("*"));
        assert_eq!(response.header("access-control-allow-credentials"), None);
    })
    .await;
}

#[tokio::test]
async fn metrics_can_move_to_a_private_listener() {
    within(TEST_TIMEOUT, async {
        let server = Server::tcp_with(&["--metrics-listen", "127.0.0.1:0"]).await;
        let private = server
            .metrics
            .expect("the ready line names the metrics address");
        assert_ne!(private, server.http);
        let scrape = crate::support::http::request(private, "GET", "/metrics", &[], EVENT_TIMEOUT)
            .await
            .expect("scrape the private listener");
        assert_eq!(scrape.status(), 200);
        assert!(scrape.text().contains("tickcast_http_refusals_total"));
        let health = crate::support::http::request(private, "GET", "/healthz", &[], EVENT_TIMEOUT)
            .await
            .expect("probe the private listener");
        assert_eq!(health.json()["status"], "ok");
        let other =
            crate::support::http::request(private, "GET", "/v1/symbols", &[], EVENT_TIMEOUT)
                .await
                .expect("ask the private listener for something else");
        assert_error(&other, 404, "not_found");
        // The public listener no longer shows them, but still answers health probes.
        assert_error(&server.get("/metrics").await, 404, "not_found");
        assert_eq!(server.get("/healthz").await.status(), 200);
    })
    .await;
}
