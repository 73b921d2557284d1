//! The life of the process and of idle streams: heartbeats, health, the dashboard page, and the
//! graceful drain on SIGTERM.

use std::time::Duration;

use crate::support::{EVENT_TIMEOUT, End, Item, Server, TEST_TIMEOUT, http, within};

/// `--drain-timeout` of the drain test.
const DRAIN_TIMEOUT: Duration = Duration::from_secs(3);
/// How long the health probe during the drain may take (the listener may be closing).
const HEALTH_PROBE_TIMEOUT: Duration = Duration::from_secs(2);
/// Allowed beyond the drain timeout for the process to exit after it.
const EXIT_SLACK: Duration = Duration::from_secs(5);

#[tokio::test]
async fn idle_stream_gets_heartbeat_comments() {
    within(TEST_TIMEOUT, async {
        let server = Server::tcp_with(&["--heartbeat", "200ms"]).await;
        let mut stream = server.stream("/v1/stream?symbols=A").await;
        let mut heartbeats = 0;
        while heartbeats < 3 {
            match stream.next_item(EVENT_TIMEOUT).await {
                Ok(Item::Comment(text)) => {
                    assert_eq!(text, "hb", "heartbeat comment");
                    heartbeats += 1;
                }
                Ok(Item::Retry(_)) => {}
                Ok(Item::Event(event)) => panic!("an idle stream got an event: {event:?}"),
                Err(end) => {
                    panic!("expected `: hb` comments every 200ms, got {end:?} after {heartbeats}")
                }
            }
        }
    })
    .await;
}

#[tokio::test]
async fn health_and_dashboard_pages() {
    within(TEST_TIMEOUT, async {
        let server = Server::tcp().await;
        let health = server.get_json("/healthz").await;
        assert_eq!(health["status"], "ok", "{health}");

        let page = server.get("/?symbols=SYN0001,SYN0002").await;
        assert_eq!(page.status(), 200);
        let content_type = page.header("content-type").unwrap_or_default();
        assert!(content_type.starts_with("text/html"), "{content_type:?}");
        let html = page.text();
        assert!(
            html.contains("EventSource") && html.contains("/v1/stream"),
            "the dashboard opens an EventSource on /v1/stream"
        );
    })
    .await;
}

#[tokio::test]
async fn sigterm_drains_every_stream_and_exits_zero() {
    within(TEST_TIMEOUT, async {
        let drain_timeout = format!("{}s", DRAIN_TIMEOUT.as_secs());
        let mut server = Server::tcp_with(&["--drain-timeout", &drain_timeout]).await;
        let mut feed = server.seeded_feed(&[("A", "1")]).await;

        let mut streams = Vec::new();
        for path in [
            "/v1/stream?symbols=A",
            "/v1/stream?symbols=A,B",
            "/v1/stream?symbols=*",
        ] {
            let mut stream = server.stream(path).await;
            let snapshot = stream.next_event(EVENT_TIMEOUT).await;
            assert_eq!(snapshot.event, "snapshot");
            streams.push(stream);
        }
        feed.trade("A", "2").await;
        for stream in &mut streams {
            assert_eq!(stream.next_event(EVENT_TIMEOUT).await.n(), 2);
        }

        server.terminate();

        // Health may already say "draining" (or still "ok", or the listener may be gone):
        // only the shape of a 503 is checked.
        let probe = http::request(server.http, "GET", "/healthz", &[], HEALTH_PROBE_TIMEOUT);
        if let Ok(health) = probe.await
            && health.status() == 503
        {
            assert_eq!(health.json()["status"], "draining", "{}", health.text());
        }

        for (index, stream) in streams.iter_mut().enumerate() {
            let (tail, end) = stream.rest(DRAIN_TIMEOUT + EXIT_SLACK).await;
            assert_eq!(
                end,
                End::Finished,
                "stream {index}: the chunked body must end with its terminator; items {tail:?}"
            );
            let last = tail
                .iter()
                .rev()
                .find(|item| !matches!(item, Item::Comment(_)));
            assert!(
                matches!(last, Some(Item::Retry(_))),
                "stream {index}: the last thing before the end is a `retry:` hint; items {tail:?}"
            );
            stream
                .wait_closed(EVENT_TIMEOUT)
                .await
                .unwrap_or_else(|err| panic!("stream {index}: {err}"));
        }

        let status = server.wait_exit(DRAIN_TIMEOUT + EXIT_SLACK).await;
        assert_eq!(
            status.code(),
            Some(0),
            "exit status after SIGTERM: {status:?}"
        );
        let extra = server.stdout_after_ready();
        assert!(
            extra.is_empty(),
            "only the ready line goes to stdout: {extra:?}"
        );
    })
    .await;
}

/// `THP_enabled` of `/proc/PID/status`: 0 once the process turned transparent huge pages off.
#[cfg(target_os = "linux")]
fn thp_enabled(pid: u32) -> String {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).expect("status");
    status
        .lines()
        .find_map(|line| line.strip_prefix("THP_enabled:"))
        .map(|value| value.trim().to_owned())
        .unwrap_or_else(|| panic!("no THP_enabled line (kernel before 5.0?):\n{status}"))
}

#[cfg(target_os = "linux")]
#[tokio::test]
async fn transparent_huge_pages_are_off_unless_asked_for() {
    within(TEST_TIMEOUT, async {
        // Off by default, so the kernel's khugepaged cannot refill the heap's freed pages.
        let server = Server::tcp().await;
        assert_eq!(thp_enabled(server.pid()), "0", "default");
        // With the flag, they are left to the system setting.
        let server = Server::tcp_with(&["--transparent-huge-pages"]).await;
        assert_eq!(thp_enabled(server.pid()), "1", "--transparent-huge-pages");
    })
    .await;
}
