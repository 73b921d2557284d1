//! TLS and HTTP/2: streams over TLS with HTTP/1.1 and with HTTP/2 (several on one connection),
//! a certificate reload on SIGHUP that leaves open streams alone, and what must fail cleanly:
//! plain HTTP on the TLS port, a client that never finishes its handshake, bad certificate
//! settings at start-up. Every certificate is made by the test (rcgen) in a directory of its own.

use std::process::Output;
use std::time::Duration;

use tokio::time::Instant;

use crate::support::http::{Conn, ReadError};
use crate::support::{
    EVENT_TIMEOUT, Event, Http2Client, Item, SETTLE_TIMEOUT, Server, SseStream, TEST_TIMEOUT,
    TestCert, eventually, run, within,
};

/// A server fed by one TCP feed on a free port.
const FEED: [&str; 2] = ["--feed", "tcp-listen://127.0.0.1:0"];
/// The server's fixed bound on a TLS handshake (the request-head timeout).
const HANDSHAKE_TIMEOUT: Duration = Duration::from_secs(10);
/// Limit for an invocation that must exit by itself (a refused start).
const RUN_LIMIT: Duration = Duration::from_secs(20);

/// `(event type, symbol, n)` of each event.
fn described(events: &[Event]) -> Vec<(String, String, u64)> {
    events
        .iter()
        .map(|event| (event.event.clone(), event.sym(), event.n()))
        .collect()
}

fn tick(symbol: &str, n: u64) -> (String, String, u64) {
    ("tick".to_owned(), symbol.to_owned(), n)
}

/// Reads the retry hint and the snapshots a fresh stream starts with.
async fn read_prelude(stream: &mut SseStream, snapshots: usize) -> Vec<Event> {
    match stream.next_item(EVENT_TIMEOUT).await {
        Ok(Item::Retry(_)) => {}
        other => panic!("a stream starts with its retry hint, got {other:?}"),
    }
    let events = stream.events(snapshots, EVENT_TIMEOUT).await;
    assert!(
        events.iter().all(|event| event.event == "snapshot"),
        "{events:?}"
    );
    events
}

#[tokio::test]
async fn a_stream_over_tls_and_http1_delivers_ticks_and_drains() {
    within(TEST_TIMEOUT, async {
        let cert = TestCert::new("h1");
        let mut server = Server::start_tls(&FEED, &cert).await;
        let mut feed = server.seeded_feed(&[("A", "1")]).await;

        let mut stream = server.stream("/v1/stream?symbols=A").await;
        assert_eq!(stream.head.header("transfer-encoding"), Some("chunked"));
        assert_eq!(
            stream.head.header("content-type"),
            Some("text/event-stream")
        );
        let snapshot = read_prelude(&mut stream, 1).await;
        assert_eq!(snapshot[0].n(), 1);
        feed.trades(&[("A", "2"), ("A", "3")]).await;
        let ticks = stream.events(2, EVENT_TIMEOUT).await;
        assert_eq!(described(&ticks), [tick("A", 2), tick("A", 3)]);

        // A client that goes away is unsubscribed at once, over TLS too.
        let other = server.stream("/v1/stream?symbols=A").await;
        server.wait_subscribers(2).await;
        drop(other);
        server.wait_subscribers(1).await;

        // Shutdown: the body ends cleanly (the chunked terminator) after a retry hint.
        server.terminate();
        stream.drained(EVENT_TIMEOUT).await;
        let status = server.wait_exit(EVENT_TIMEOUT).await;
        assert!(status.success(), "exit status {status:?}");
    })
    .await;
}

#[tokio::test]
async fn http2_carries_concurrent_streams_on_one_connection() {
    within(TEST_TIMEOUT, async {
        let cert = TestCert::new("h2");
        let server = Server::start_tls(&FEED, &cert).await;
        let mut feed = server.seeded_feed(&[("A", "1"), ("B", "1")]).await;

        let mut client = Http2Client::connect(server.http, &cert.trust()).await;
        let health = client.get("/healthz").await;
        assert_eq!(health.status(), 200);
        let mut a = client.stream("/v1/stream?symbols=A").await.expect("200");
        let mut b = client.stream("/v1/stream?symbols=B").await.expect("200");
        let mut both = client.stream("/v1/stream?symbols=A,B").await.expect("200");
        assert_eq!(a.head.header("content-type"), Some("text/event-stream"));
        server.wait_subscribers(3).await;
        assert_eq!(read_prelude(&mut a, 1).await[0].sym(), "A");
        assert_eq!(read_prelude(&mut b, 1).await[0].sym(), "B");
        read_prelude(&mut both, 2).await;

        feed.trades(&[("A", "2"), ("B", "2"), ("A", "3")]).await;
        assert_eq!(
            described(&a.events(2, EVENT_TIMEOUT).await),
            [tick("A", 2), tick("A", 3)]
        );
        assert_eq!(described(&b.events(1, EVENT_TIMEOUT).await), [tick("B", 2)]);
        assert_eq!(
            described(&both.events(3, EVENT_TIMEOUT).await),
            [tick("A", 2), tick("B", 2), tick("A", 3)]
        );
        let error = client.stream("/v1/stream?symbols=").await.err();
        assert_eq!(
            error.map(|e| e.status()),
            Some(400),
            "a bad request is a 400"
        );

        // One stream reset by the client (its body dropped): only its subscriber goes.
        drop(b);
        server.wait_subscribers(2).await;
        feed.trade("A", "4").await;
        assert_eq!(a.next_event(EVENT_TIMEOUT).await.n(), 4);
        assert_eq!(both.next_event(EVENT_TIMEOUT).await.n(), 4);

        // The whole connection goes: every stream on it is unsubscribed.
        drop(client);
        server.wait_subscribers(0).await;
    })
    .await;
}

#[tokio::test]
async fn http2_streams_drain_with_a_retry_hint() {
    within(TEST_TIMEOUT, async {
        let cert = TestCert::new("h2-drain");
        let mut server = Server::start_tls(&FEED, &cert).await;
        let mut feed = server.seeded_feed(&[("A", "1")]).await;
        let mut client = Http2Client::connect(server.http, &cert.trust()).await;
        let mut streams = Vec::new();
        for _ in 0..2 {
            let mut stream = client.stream("/v1/stream?symbols=A").await.expect("200");
            read_prelude(&mut stream, 1).await;
            streams.push(stream);
        }
        feed.trade("A", "2").await;
        for stream in &mut streams {
            assert_eq!(stream.next_event(EVENT_TIMEOUT).await.n(), 2);
        }

        server.terminate();
        for stream in &mut streams {
            stream.drained(EVENT_TIMEOUT).await;
        }
        let status = server.wait_exit(EVENT_TIMEOUT).await;
        assert!(status.success(), "exit status {status:?}");
    })
    .await;
}

/// `curl ARGS...` with a time limit, or `None` when curl (with HTTP/2) is not installed.
async fn curl(args: &[&str]) -> Option<Output> {
    let version = tokio::process::Command::new("curl")
        .arg("--version")
        .output()
        .await
        .ok()?;
    if !String::from_utf8_lossy(&version.stdout).contains("HTTP2") {
        return None;
    }
    let output = tokio::process::Command::new("curl")
        .args(args)
        .kill_on_drop(true)
        .output();
    let output = tokio::time::timeout(EVENT_TIMEOUT * 2, output)
        .await
        .expect("curl exits within its --max-time")
        .expect("run curl");
    Some(output)
}

#[tokio::test]
async fn curl_speaks_http2_to_the_server() {
    within(TEST_TIMEOUT, async {
        let cert = TestCert::new("curl");
        let server = Server::start_tls(&FEED, &cert).await;
        server.seeded_feed(&[("A", "1")]).await;
        let base = format!("https://127.0.0.1:{}", server.http.port());
        let health = format!("{base}/healthz");
        let Some(output) = curl(&["-sk", "--http2", "-w", "\n%{http_version}", &health]).await
        else {
            println!("skipped: curl with HTTP/2 is not installed");
            return;
        };
        let text = String::from_utf8_lossy(&output.stdout);
        assert!(output.status.success(), "curl {health}: {output:?}");
        assert!(text.ends_with("\n2"), "curl used HTTP/2: {text:?}");

        // A stream, cut by curl's own time limit (exit 28) once its events are in.
        let stream = format!("{base}/v1/stream?symbols=A");
        let output = curl(&["-skN", "--http2", "--max-time", "2", &stream])
            .await
            .expect("curl is there");
        let text = String::from_utf8_lossy(&output.stdout);
        assert!(
            text.starts_with("retry: ") && text.contains("event: snapshot"),
            "curl's stream: {text:?}"
        );
    })
    .await;
}

#[tokio::test]
async fn sighup_serves_a_new_certificate_to_new_connections_and_keeps_streams() {
    within(TEST_TIMEOUT, async {
        let mut cert = TestCert::new("reload");
        let first = cert.der().to_vec();
        let server = Server::start_tls(&FEED, &cert).await;
        let trust = cert.trust();
        assert_eq!(trust.peer_certificate(server.http).await, first);
        let mut feed = server.seeded_feed(&[("A", "1")]).await;
        let mut h1 = server.stream("/v1/stream?symbols=A").await;
        let mut client = Http2Client::connect(server.http, &trust).await;
        let mut h2 = client.stream("/v1/stream?symbols=A").await.expect("200");
        read_prelude(&mut h1, 1).await;
        read_prelude(&mut h2, 1).await;

        let second = cert.renew();
        assert_ne!(first, second);
        server.hangup();
        eventually(
            "new connections to get the new certificate",
            SETTLE_TIMEOUT,
            async || (trust.peer_certificate(server.http).await == second).then_some(()),
        )
        .await;
        // The streams opened under the old certificate go on.
        feed.trade("A", "2").await;
        assert_eq!(h1.next_event(EVENT_TIMEOUT).await.n(), 2);
        assert_eq!(h2.next_event(EVENT_TIMEOUT).await.n(), 2);

        // A broken file on the next SIGHUP: logged, naming the file; the last good pair stays.
        std::fs::write(
            &cert.cert,
            "-----BEGIN CERTIFICATE-----\n!!\n-----END CERTIFICATE-----\n",
        )
        .expect("break the certificate file");
        server.hangup();
        let cert_path = cert.cert.display().to_string();
        eventually("the failed reload in the log", SETTLE_TIMEOUT, async || {
            let stderr = server.stderr();
            (stderr.contains("reload failed") && stderr.contains(&cert_path)).then_some(())
        })
        .await;
        assert_eq!(trust.peer_certificate(server.http).await, second);
        feed.trade("A", "3").await;
        assert_eq!(h1.next_event(EVENT_TIMEOUT).await.n(), 3);
        assert_eq!(h2.next_event(EVENT_TIMEOUT).await.n(), 3);
        assert_eq!(server.get_json("/healthz").await["status"], "ok");
    })
    .await;
}

#[tokio::test]
async fn plain_http_on_the_tls_port_fails_cleanly() {
    within(TEST_TIMEOUT, async {
        let cert = TestCert::new("plain");
        let server = Server::start_tls(&FEED, &cert).await;
        let deadline = Instant::now() + EVENT_TIMEOUT;
        let mut conn = Conn::connect(server.http, deadline).await.expect("connect");
        conn.send_raw(b"GET /healthz HTTP/1.1\r\nHost: x\r\n\r\n", deadline)
            .await
            .expect("send a plain request");
        // The server closes (after a TLS alert at most), before the deadline.
        if let Err(error) = closed_by_server(&mut conn, deadline).await {
            panic!("the server must close the connection: {error}");
        }
        assert!(
            !conn.buf.starts_with(b"HTTP/"),
            "no plain HTTP answer on a TLS port: {:?}",
            String::from_utf8_lossy(&conn.buf)
        );
        assert_eq!(server.get_json("/healthz").await["status"], "ok");
    })
    .await;
}

#[tokio::test]
async fn a_client_that_never_handshakes_is_dropped_after_the_timeout() {
    within(TEST_TIMEOUT, async {
        let cert = TestCert::new("silent");
        // Silence before the first byte is the idle timeout's; set it to the handshake bound.
        let mut args = FEED.to_vec();
        args.extend(["--idle-timeout", "10s"]);
        let server = Server::start_tls(&args, &cert).await;
        let started = Instant::now();
        let deadline = started + HANDSHAKE_TIMEOUT + Duration::from_secs(5);
        let mut conn = Conn::connect(server.http, deadline).await.expect("connect");
        match closed_by_server(&mut conn, deadline).await {
            Ok(()) if conn.buf.is_empty() => {}
            Ok(()) => panic!(
                "the server sent something to a silent client: {:?}",
                conn.buf
            ),
            Err(error) => panic!("a silent client must be dropped within 15 s: {error}"),
        }
        let waited = started.elapsed();
        assert!(
            waited >= HANDSHAKE_TIMEOUT - Duration::from_secs(2),
            "dropped after {waited:?}, before the handshake timeout"
        );
        assert_eq!(server.get_json("/healthz").await["status"], "ok");
    })
    .await;
}

/// Reads from `conn` until the server closes it (EOF or reset); what it sent before is left in
/// `conn.buf`. Any other outcome (the deadline, most likely) is the error.
async fn closed_by_server(conn: &mut Conn, deadline: Instant) -> Result<(), ReadError> {
    loop {
        match conn.fill(deadline).await {
            Ok(0) | Err(ReadError::Io(_)) => return Ok(()),
            Ok(_) => {}
            Err(error) => return Err(error),
        }
    }
}

/// Runs `tickcast ARGS... --listen 127.0.0.1:0 --feed tcp-listen://127.0.0.1:0`, which must
/// refuse to start; returns its exit code and stderr.
fn refused(args: &[&str]) -> (Option<i32>, String) {
    let all = [args, &["--listen", "127.0.0.1:0"], &FEED[..]].concat();
    let output = run(&all, RUN_LIMIT);
    assert!(!output.status.success(), "tickcast {all:?} must not start");
    (
        output.status.code(),
        String::from_utf8_lossy(&output.stderr).into_owned(),
    )
}

#[test]
fn bad_tls_settings_stop_the_start_with_a_clear_error() {
    let cert = TestCert::new("bad");
    let other = TestCert::new("bad-other");
    let path = |p: &std::path::Path| p.to_str().expect("UTF-8 path").to_owned();
    let (cert_file, key_file) = (path(&cert.cert), path(&cert.key));

    let (code, stderr) = refused(&["--tls-cert", &cert_file]);
    assert_eq!(code, Some(2), "a config error: {stderr}");
    assert!(stderr.contains("--tls-key"), "{stderr}");

    let missing = path(&cert.cert.with_file_name("missing.pem"));
    let (_, stderr) = refused(&["--tls-cert", &missing, "--tls-key", &key_file]);
    assert!(stderr.contains("missing.pem"), "names the file: {stderr}");

    let (_, stderr) = refused(&["--tls-cert", &cert_file, "--tls-key", &path(&other.key)]);
    assert!(stderr.contains("does not match"), "{stderr}");

    let garbage = cert.cert.with_file_name("garbage.pem");
    std::fs::write(&garbage, "not PEM at all").expect("write");
    let (_, stderr) = refused(&["--tls-cert", &path(&garbage), "--tls-key", &key_file]);
    assert!(stderr.contains("garbage.pem"), "names the file: {stderr}");
}

#[tokio::test]
async fn an_http2_connection_that_never_asks_is_let_go_after_the_idle_timeout() {
    use tokio::io::AsyncReadExt;
    within(TEST_TIMEOUT, async {
        let cert = TestCert::new("idle-h2");
        let mut args = FEED.to_vec();
        args.extend(["--idle-timeout", "1s"]);
        let server = Server::start_tls(&args, &cert).await;
        let mut tls = cert.trust().connect(server.http, &[b"h2"]).await;
        let started = Instant::now();
        let mut buf = [0u8; 4096];
        // The server's SETTINGS, then GOAWAY and the end of the connection.
        let closed = tokio::time::timeout(Duration::from_secs(8), async {
            loop {
                match tls.read(&mut buf).await {
                    Ok(0) | Err(_) => return,
                    Ok(_) => {}
                }
            }
        })
        .await;
        assert!(closed.is_ok(), "an idle HTTP/2 connection stayed open");
        assert!(
            started.elapsed() >= Duration::from_millis(900),
            "{:?}",
            started.elapsed()
        );
        let idle = server
            .metric("tickcast_http_refusals_total", &[("reason", "idle")])
            .await;
        assert_eq!(idle, 1.0);
    })
    .await;
}
