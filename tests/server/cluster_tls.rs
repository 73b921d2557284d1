//! The cluster over `rediss://`: a feed node and an edge that trust the Redis server's
//! certificate through `--redis-ca`, and refuse one they cannot check.

use crate::support::{EVENT_TIMEOUT, RedisServer, Server, TEST_TIMEOUT, run, within};

#[tokio::test]
async fn feed_and_edge_speak_tls_to_redis_with_the_given_ca() {
    let Some((redis, ca)) = RedisServer::start_tls_or_skip().await else {
        return;
    };
    within(TEST_TIMEOUT, async {
        let ca = ca.display().to_string();
        let url = redis.tls_url();
        let tls = ["--redis", url.as_str(), "--redis-ca", ca.as_str()];
        let feed_node = Server::tcp_with(&[&["--role", "feed"][..], &tls].concat()).await;
        let edge = Server::start(&[&["--role", "edge"][..], &tls].concat()).await;
        let mut stream = edge.stream("/v1/stream?symbols=A").await;
        let mut feed = feed_node.feed().await;
        feed.trades(&[("A", "10.5"), ("A", "10.75")]).await;
        let events = stream.events(2, EVENT_TIMEOUT).await;
        let prices: Vec<_> = events.iter().map(|e| e.raw("px")).collect();
        assert_eq!(prices, ["10.5", "10.75"], "ticks crossed Redis over TLS");
        assert_eq!(events[1].id(), events[0].id() + 1);
        let health = edge.get_json("/healthz").await;
        assert_eq!(
            (health["status"].as_str(), health["redis"].as_str()),
            (Some("ok"), Some("up"))
        );

        // A CA file that is not there stops the start, naming the flag.
        let refused = run(
            &[
                "--role",
                "edge",
                "--redis",
                &url,
                "--redis-ca",
                "/nonexistent/ca.pem",
            ],
            std::time::Duration::from_secs(10),
        );
        assert_eq!(refused.status.code(), Some(2));
        let stderr = String::from_utf8_lossy(&refused.stderr);
        assert!(stderr.contains("--redis-ca"), "{stderr}");
    })
    .await;
}
