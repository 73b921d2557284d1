//! Scale-out through Redis (`--role feed|edge`): a feed node that sequences and publishes, edge
//! nodes that serve clients from what Redis carries, and a real `redis-server` per test
//! ([`RedisServer`], skipped with a message when it is not installed).
//!
//! What a client must notice, whichever node it lands on: the same events with the same ids
//! and bytes as the feed node's own streams; a resume on another node with no gap and no
//! duplicate; an explicit `reset` (never a silent gap) when Redis cannot fill one; a node that
//! keeps serving while Redis is away and catches up when it returns. Plus the feed's lease (hot
//! standby, restart) and what the edges do with garbage on the live channel.
//!
//! Each test has its own Redis (tests run in parallel) and its own `--redis-prefix`.

use std::time::{Duration, Instant};

use serde_json::Value;

use crate::support::{
    EVENT_TIMEOUT, End, Event, Item, Process, RedisServer, SETTLE_TIMEOUT, Server, TEST_TIMEOUT,
    assert_strictly_increasing, eventually, head_seq, run, snapshot_tick, within,
};

/// The feed node's lease: short, so a standby or a restarted feed takes over within a second.
const LEASE: &str = "1s";
/// Time limit of an invocation that must refuse to start.
const RUN_LIMIT: Duration = Duration::from_secs(10);
/// The stream the tests open: two of the three symbols they feed.
const AB: &str = "/v1/stream?symbols=A,B";

/// What a client sees of an event: its type, its id and its data, byte for byte.
type Seen = (String, u64, String);

fn seen(events: &[Event]) -> Vec<Seen> {
    events
        .iter()
        .map(|event| (event.event.clone(), event.id(), event.data.clone()))
        .collect()
}

/// (event type, symbol, raw price) of each event: what a dashboard shows.
fn prices(events: &[Event]) -> Vec<(String, String, String)> {
    events
        .iter()
        .map(|event| (event.event.clone(), event.sym(), event.raw("px")))
        .collect()
}

fn tick(symbol: &str, px: &str) -> (String, String, String) {
    ("tick".into(), symbol.into(), px.into())
}

fn snapshot(symbol: &str, px: &str) -> (String, String, String) {
    ("snapshot".into(), symbol.into(), px.into())
}

/// `--role feed` with one TCP feed, publishing under `prefix`.
async fn feed_node(redis: &RedisServer, prefix: &str) -> Server {
    let flags = feed_flags(redis, prefix);
    Server::tcp_with(&flags.iter().map(String::as_str).collect::<Vec<_>>()).await
}

fn feed_flags(redis: &RedisServer, prefix: &str) -> Vec<String> {
    [
        "--role",
        "feed",
        "--redis",
        &redis.url(),
        "--redis-prefix",
        prefix,
        "--leader-lease",
        LEASE,
    ]
    .map(str::to_owned)
    .to_vec()
}

/// `--role edge` reading `prefix`.
async fn edge_node(redis: &RedisServer, prefix: &str) -> Server {
    Server::start(&[
        "--role",
        "edge",
        "--redis",
        &redis.url(),
        "--redis-prefix",
        prefix,
    ])
    .await
}

/// SIGKILLs a node (no goodbye to Redis, the lease left to expire) and waits until it is gone.
async fn sigkill(server: &mut Server) {
    server.signal("KILL");
    server.wait_exit(SETTLE_TIMEOUT).await;
}

/// Cuts every subscriber's connection (`CLIENT KILL ID` for each client with a subscription),
/// as a network blip would; returns how many.
async fn cut_subscribers(redis: &RedisServer) -> usize {
    let clients = redis.command(&[b"CLIENT", b"LIST"]).await.text();
    let subscribed: Vec<&str> = clients
        .lines()
        .filter(|line| {
            line.split(' ').any(|field| {
                matches!(field.split_once('='), Some(("sub" | "psub" | "ssub", n)) if n != "0")
            })
        })
        .filter_map(|line| line.split(' ').find_map(|field| field.strip_prefix("id=")))
        .collect();
    for id in &subscribed {
        redis
            .command(&[b"CLIENT", b"KILL", b"ID", id.as_bytes()])
            .await;
    }
    subscribed.len()
}

/// Polls `/healthz` until it answers 200 with `status` and `redis` as given; returns the body.
async fn wait_health(server: &Server, status: &str, redis: &str) -> Value {
    eventually(
        &format!("/healthz with status {status:?} and redis {redis:?}"),
        SETTLE_TIMEOUT,
        async || {
            let response = server.get("/healthz").await;
            let body = (response.status() == 200).then(|| response.json())?;
            (body["status"] == status && body["redis"] == redis).then_some(body)
        },
    )
    .await
}

/// Waits until the feed node has published at least `count` events to Redis.
async fn wait_published(feed_node: &Server, count: u64) {
    feed_node
        .wait_metric(
            &format!(">= {count}"),
            "tickcast_cluster_published_events_total",
            &[],
            |published| published >= count as f64,
        )
        .await;
}

#[tokio::test]
async fn two_edges_serve_the_feed_nodes_events_with_the_same_ids_and_bytes() {
    let Some(redis) = RedisServer::start_or_skip().await else {
        return;
    };
    within(TEST_TIMEOUT, async {
        let feed_node = feed_node(&redis, "same").await;
        let edge_a = edge_node(&redis, "same").await;
        let edge_b = edge_node(&redis, "same").await;
        let health = wait_health(&edge_a, "ok", "up").await;
        assert_eq!(health["role"], "edge", "{health}");

        let mut streams = [
            ("feed node", feed_node.stream(AB).await),
            ("edge A", edge_a.stream(AB).await),
            ("edge B", edge_b.stream(AB).await),
        ];
        let mut feed = feed_node.feed().await;
        feed.trades(&[("A", "1.1"), ("B", "2.1"), ("C", "3.1"), ("A", "1.2")])
            .await;
        // One write of many lines: batches of many events through Redis.
        let burst: Vec<(&str, String)> = (0..300)
            .map(|i| (["A", "B", "C"][i % 3], format!("{i}.25")))
            .collect();
        feed.burst(burst.iter().map(|(symbol, px)| (*symbol, px.as_str())))
            .await;
        let expected = 3 + 200;

        let mut received = Vec::new();
        for (who, stream) in &mut streams {
            let events = stream.events(expected, EVENT_TIMEOUT).await;
            assert_strictly_increasing(who, &events.iter().map(Event::id).collect::<Vec<_>>());
            received.push((*who, events));
        }
        let (_, on_feed_node) = &received[0];
        let mut wanted = vec![tick("A", "1.1"), tick("B", "2.1"), tick("A", "1.2")];
        wanted.extend(
            burst
                .iter()
                .filter(|(symbol, _)| *symbol != "C")
                .map(|(symbol, px)| tick(symbol, px)),
        );
        assert_eq!(prices(on_feed_node), wanted, "every A and B tick, in order");
        for (who, events) in &received[1..] {
            assert_eq!(
                seen(events),
                seen(on_feed_node),
                "{who}: the feed node's events, same ids, same bytes"
            );
        }

        // Nothing queued twice (pub/sub and backfill overlapping): next is the next live tick.
        feed.trade("B", "9.75").await;
        let mut next = Vec::new();
        for (who, stream) in &mut streams {
            let event = stream.next_event(EVENT_TIMEOUT).await;
            assert_eq!(
                prices(std::slice::from_ref(&event)),
                [tick("B", "9.75")],
                "{who}"
            );
            next.push(seen(&[event]));
        }
        assert!(next.windows(2).all(|pair| pair[0] == pair[1]), "{next:?}");

        // The edges' caches agree with the feed node's, C included.
        let path = "/v1/snapshot?symbols=A,B,C";
        let reference = feed_node.get_json(path).await;
        for edge in [&edge_a, &edge_b] {
            let answer = edge.get_json(path).await;
            assert_eq!(head_seq(&answer), head_seq(&reference), "{answer}");
            for symbol in ["A", "B", "C"] {
                assert_eq!(
                    snapshot_tick(&answer, symbol),
                    snapshot_tick(&reference, symbol),
                    "{symbol} on an edge and on the feed node"
                );
            }
        }
    })
    .await;
}

#[tokio::test]
async fn a_client_moved_to_another_edge_resumes_with_no_gap_and_no_duplicate() {
    let Some(redis) = RedisServer::start_or_skip().await else {
        return;
    };
    within(TEST_TIMEOUT, async {
        let feed_node = feed_node(&redis, "moved").await;
        let mut edge_a = edge_node(&redis, "moved").await;
        let edge_b = edge_node(&redis, "moved").await;
        // A client that stays on the feed node: what the moved client must end up with.
        let mut reference = feed_node.stream(AB).await;
        let mut on_a = edge_a.stream(AB).await;

        let mut feed = feed_node.feed().await;
        feed.trades(&[("A", "1"), ("C", "3"), ("B", "2"), ("A", "1.5")])
            .await;
        let before = on_a.events(3, EVENT_TIMEOUT).await;
        assert_eq!(
            seen(&before),
            seen(&reference.events(3, EVENT_TIMEOUT).await)
        );
        let last = before[2].last_event_id.clone();

        // Edge A dies; its client reconnects (through the load balancer) to edge B.
        sigkill(&mut edge_a).await;
        match on_a.try_next_event(EVENT_TIMEOUT).await {
            Err(End::Eof | End::Error(_)) => {}
            other => panic!("the dead edge's stream must be cut, got {other:?}"),
        }
        feed.trades(&[("B", "2.5"), ("C", "3.5"), ("A", "1.75")])
            .await;
        feed.burst((0..100).map(|i| (["A", "B"][i % 2], format!("{i}.5"))))
            .await;
        let missed = reference.events(2 + 100, EVENT_TIMEOUT).await;
        edge_b.wait_for_counts(&[("A", 53), ("B", 52)]).await;

        let mut on_b = edge_b.resume(AB, &last).await;
        let replayed = on_b.events(missed.len(), EVENT_TIMEOUT).await;
        assert_eq!(
            seen(&replayed),
            seen(&missed),
            "exactly the ticks sent while away, in order, same ids"
        );

        // Then live, exactly once.
        feed.trade("A", "7.5").await;
        let live = reference.next_event(EVENT_TIMEOUT).await;
        assert_eq!(prices(std::slice::from_ref(&live)), [tick("A", "7.5")]);
        assert_eq!(seen(&[on_b.next_event(EVENT_TIMEOUT).await]), seen(&[live]));
    })
    .await;
}

#[tokio::test]
async fn an_edge_started_late_backfills_its_ring_and_latest_prices_before_it_listens() {
    let Some(redis) = RedisServer::start_or_skip().await else {
        return;
    };
    within(TEST_TIMEOUT, async {
        let feed_node = feed_node(&redis, "late").await;
        let mut reference = feed_node.stream(AB).await;
        let mut feed = feed_node.feed().await;
        feed.trades(&[("A", "1"), ("B", "2"), ("C", "3"), ("A", "4")])
            .await;
        let burst: Vec<(&str, String)> = (0..50)
            .map(|i| (["B", "C", "A"][i % 3], format!("1{i}.125")))
            .collect();
        feed.burst(burst.iter().map(|(symbol, px)| (*symbol, px.as_str())))
            .await;
        let sent = reference.events(3 + 33, EVENT_TIMEOUT).await;
        let counts = [("A", 2 + 16), ("B", 1 + 17), ("C", 1 + 17)];
        let on_feed_node = feed_node.wait_for_counts(&counts).await;
        wait_published(&feed_node, 4 + 50).await;

        // No edge existed while these were published. It backfills before its ready line, so
        // its first answers are already complete.
        let edge = edge_node(&redis, "late").await;
        let on_edge = edge.get_json("/v1/snapshot?symbols=A,B,C").await;
        assert_eq!(head_seq(&on_edge), head_seq(&on_feed_node), "{on_edge}");
        for (symbol, _) in counts {
            assert_eq!(
                snapshot_tick(&on_edge, symbol),
                snapshot_tick(&on_feed_node, symbol),
                "latest {symbol} on the late edge"
            );
        }

        // A new client: the latest prices, as the feed node gives them.
        let mut fresh = edge.stream(AB).await;
        let snapshots = fresh.events(2, EVENT_TIMEOUT).await;
        let mut fresh_on_feed_node = feed_node.stream(AB).await;
        assert_eq!(
            seen(&snapshots),
            seen(&fresh_on_feed_node.events(2, EVENT_TIMEOUT).await),
            "snapshots on the late edge and on the feed node"
        );
        let latest = |wanted: &str| {
            let (_, px) = burst
                .iter()
                .rev()
                .find(|(symbol, _)| *symbol == wanted)
                .expect("in the burst");
            px.clone()
        };
        assert_eq!(
            prices(&snapshots),
            [snapshot("A", &latest("A")), snapshot("B", &latest("B"))]
        );

        // A client that saw only the first tick (on another node): exactly the rest.
        let mut resumed = edge.resume(AB, sent[0].id()).await;
        let replayed = resumed.events(sent.len() - 1, EVENT_TIMEOUT).await;
        assert_eq!(seen(&replayed), seen(&sent[1..]), "backfilled from Redis");

        feed.trade("B", "99").await;
        let live = seen(&[reference.next_event(EVENT_TIMEOUT).await]);
        assert_eq!(seen(&[resumed.next_event(EVENT_TIMEOUT).await]), live);
        assert_eq!(seen(&[fresh.next_event(EVENT_TIMEOUT).await]), live);
    })
    .await;
}

#[tokio::test]
async fn an_edge_keeps_serving_while_redis_is_down_and_catches_up_when_it_returns() {
    let Some(mut redis) = RedisServer::start_or_skip().await else {
        return;
    };
    within(TEST_TIMEOUT, async {
        let feed_node = feed_node(&redis, "outage").await;
        let edge = edge_node(&redis, "outage").await;
        let mut open = edge.stream("/v1/stream?symbols=A").await;
        let mut feed = feed_node.feed().await;
        feed.trade("A", "1").await;
        let first = open.next_event(EVENT_TIMEOUT).await;
        assert_eq!(prices(std::slice::from_ref(&first)), [tick("A", "1")]);
        assert_eq!(edge.metric("tickcast_cluster_redis_up", &[]).await, 1.0);

        redis.kill();
        let health = wait_health(&edge, "degraded", "down").await;
        assert_eq!(health["role"], "edge", "{health}");
        let metrics = edge.metrics().await;
        assert_eq!(metrics.sum("tickcast_cluster_redis_up", &[]), 0.0);
        assert!(
            metrics.sum("tickcast_cluster_redis_disconnects_total", &[]) >= 1.0,
            "the loss is counted"
        );

        // Still serving: its cache to a new client, its open stream stays open.
        let mut fresh = edge.stream("/v1/stream?symbols=A").await;
        let snapshots = fresh.events(1, EVENT_TIMEOUT).await;
        assert_eq!(prices(&snapshots), [snapshot("A", "1")]);
        assert_eq!(snapshots[0].id(), first.id());

        // The feed node takes ticks meanwhile (its own ring keeps them).
        feed.trades(&[("A", "2"), ("A", "3")]).await;
        feed_node.wait_for_counts(&[("A", 3)]).await;
        match open.try_next_event(Duration::from_millis(500)).await {
            Err(End::Timeout) => {}
            other => panic!("the open stream must stay open and quiet, got {other:?}"),
        }

        redis.restart().await;
        let health = wait_health(&edge, "ok", "up").await;
        assert_eq!(health["role"], "edge", "{health}");
        edge.wait_metric("== 1", "tickcast_cluster_redis_up", &[], |up| up == 1.0)
            .await;
        feed.trade("A", "4").await;

        // Both streams: the ticks fed during the outage and after, each once, no gap.
        for (who, stream) in [("open stream", &mut open), ("new stream", &mut fresh)] {
            let events = stream.events(3, EVENT_TIMEOUT).await;
            assert_eq!(
                prices(&events),
                [tick("A", "2"), tick("A", "3"), tick("A", "4")],
                "{who}"
            );
            let ids: Vec<u64> = events.iter().map(Event::id).collect();
            assert_eq!(
                ids,
                [first.id() + 1, first.id() + 2, first.id() + 3],
                "{who}: consecutive after the last one before the outage"
            );
        }
        feed.trade("A", "5").await;
        for stream in [&mut open, &mut fresh] {
            let next = stream.next_event(EVENT_TIMEOUT).await;
            assert_eq!((next.id(), next.raw("px")), (first.id() + 4, "5".into()));
        }
    })
    .await;
}

#[tokio::test]
async fn a_resume_from_an_id_trimmed_from_the_stream_gets_a_reset_on_a_late_edge() {
    let Some(redis) = RedisServer::start_or_skip().await else {
        return;
    };
    within(TEST_TIMEOUT, async {
        let feed_node = feed_node(&redis, "trimmed").await;
        let edge_a = edge_node(&redis, "trimmed").await;
        let mut on_a = edge_a.stream(AB).await;
        let mut feed = feed_node.feed().await;
        feed.trades(&[("A", "1"), ("B", "2")]).await;
        let old = on_a.events(2, EVENT_TIMEOUT).await;
        wait_published(&feed_node, 2).await;

        redis
            .command(&[b"XTRIM", b"trimmed:stream", b"MAXLEN", b"0"])
            .await
            .integer();
        assert_eq!(
            redis.command(&[b"XLEN", b"trimmed:stream"]).await.integer(),
            0
        );
        feed.trades(&[("A", "3"), ("B", "4")]).await;
        let newer = on_a.events(2, EVENT_TIMEOUT).await;

        // An edge that starts now finds only the last two in Redis: a client that last saw
        // the first tick cannot be served exactly there.
        let edge_b = edge_node(&redis, "trimmed").await;
        let mut resumed = edge_b.resume(AB, old[0].id()).await;
        let reset = resumed.next_event(EVENT_TIMEOUT).await;
        assert_eq!(reset.event, "reset", "never a silent gap: {reset:?}");
        assert_eq!(reset.json()["last_event_id"], old[0].id(), "{reset:?}");
        let snapshots = resumed.events(2, EVENT_TIMEOUT).await;
        assert_eq!(prices(&snapshots), [snapshot("A", "3"), snapshot("B", "4")]);
        assert_eq!(
            snapshots.iter().map(Event::id).collect::<Vec<_>>(),
            newer.iter().map(Event::id).collect::<Vec<_>>(),
            "the latest ticks, with their ids"
        );

        // Edge A kept them in its ring: the same resume is exact there.
        let mut exact = edge_a.resume(AB, old[0].id()).await;
        let replayed = exact.events(3, EVENT_TIMEOUT).await;
        let mut expected = old[1..].to_vec();
        expected.extend(newer);
        assert_eq!(seen(&replayed), seen(&expected));
    })
    .await;
}

#[tokio::test]
async fn an_edge_that_missed_ticks_trimmed_from_the_stream_resets_its_clients() {
    let Some(redis) = RedisServer::start_or_skip().await else {
        return;
    };
    within(TEST_TIMEOUT, async {
        let feed_node = feed_node(&redis, "gap").await;
        let edge = edge_node(&redis, "gap").await;
        let mut open = edge.stream(AB).await;
        let mut feed = feed_node.feed().await;
        feed.trades(&[("A", "1"), ("B", "2")]).await;
        let old = open.events(2, EVENT_TIMEOUT).await;

        // The edge is frozen and its subscription cut: it misses what comes next, and Redis
        // trims it away before the edge can backfill it.
        edge.signal("STOP");
        let thawed = async {
            let cut = cut_subscribers(&redis).await;
            assert!(cut >= 1, "the edge's subscription was cut");
            feed.trades(&[("A", "3"), ("B", "4")]).await;
            wait_published(&feed_node, 4).await;
            redis
                .command(&[b"XTRIM", b"gap:stream", b"MAXLEN", b"0"])
                .await
                .integer();
            feed.trade("A", "5").await;
            wait_published(&feed_node, 5).await;
        };
        // Resumed even when the steps above time out (a panic leaves it to the drop, whose
        // SIGKILL ends a stopped process too).
        let outcome = tokio::time::timeout(SETTLE_TIMEOUT, thawed).await;
        edge.signal("CONT");
        outcome.expect("the steps while the edge was stopped");

        // The gap cannot be filled: counted, the open stream told to reconnect.
        edge.wait_metric(">= 1", "tickcast_cluster_gaps_total", &[], |gaps| {
            gaps >= 1.0
        })
        .await;
        let tail = open.drained(EVENT_TIMEOUT).await;
        let ids: Vec<u64> = tail
            .iter()
            .filter_map(|item| match item {
                Item::Event(event) => Some(event.id()),
                _ => None,
            })
            .collect();
        let consecutive: Vec<u64> = (1..=ids.len() as u64).map(|i| old[1].id() + i).collect();
        assert_eq!(
            ids, consecutive,
            "before it ends, it skips nothing: {tail:?}"
        );

        // Its reconnect gets the explicit reset, then the latest prices.
        let mut resumed = edge.resume(AB, old[1].id()).await;
        let reset = resumed.next_event(EVENT_TIMEOUT).await;
        assert_eq!(reset.event, "reset", "never a silent gap: {reset:?}");
        assert_eq!(reset.json()["last_event_id"], old[1].id(), "{reset:?}");
        let snapshots = resumed.events(2, EVENT_TIMEOUT).await;
        // In seq order: B's latest is the older one.
        assert_eq!(prices(&snapshots), [snapshot("B", "4"), snapshot("A", "5")]);
        assert_eq!(wait_health(&edge, "ok", "up").await["role"], "edge");

        feed.trade("B", "6").await;
        let live = resumed.next_event(EVENT_TIMEOUT).await;
        assert_eq!(prices(std::slice::from_ref(&live)), [tick("B", "6")]);
    })
    .await;
}

#[tokio::test]
async fn a_restarted_feed_numbers_past_the_old_ids_and_the_edges_notice() {
    let Some(redis) = RedisServer::start_or_skip().await else {
        return;
    };
    within(TEST_TIMEOUT, async {
        let mut first_feed = feed_node(&redis, "restart").await;
        let edge = edge_node(&redis, "restart").await;
        let mut open = edge.stream("/v1/stream?symbols=A").await;
        let mut feed = first_feed.feed().await;
        feed.trades(&[("A", "1"), ("A", "2")]).await;
        let before = open.events(2, EVENT_TIMEOUT).await;
        let last = before[1].id();
        wait_published(&first_feed, 2).await;

        sigkill(&mut first_feed).await;
        // The same node again: it waits for the dead one's lease to expire, then takes over.
        let second_feed = feed_node(&redis, "restart").await;
        let mut feed = second_feed.feed().await;
        feed.trades(&[("A", "3"), ("A", "4")]).await;
        let head = head_seq(&second_feed.wait_for_counts(&[("A", 2)]).await);
        assert!(
            head > last + 1,
            "the new feed's ids ({head} for its second tick) must exceed the old ones ({last})"
        );
        edge.wait_metric(
            ">= 1",
            "tickcast_cluster_epoch_changes_total",
            &[],
            |changes| changes >= 1.0,
        )
        .await;

        // The open stream either ends (its client reconnects, as below) or carries on with
        // exactly the new ticks; it never skips one.
        let mut carried = Vec::new();
        while carried.len() < 2 {
            match open.try_next_event(EVENT_TIMEOUT).await {
                Ok(event) => carried.push(event),
                Err(End::Finished) => break,
                Err(end) => panic!(
                    "the open stream neither ended cleanly nor continued: {end:?} after {carried:?}"
                ),
            }
        }
        let new_ticks = [tick("A", "3"), tick("A", "4")];
        assert_eq!(prices(&carried), new_ticks[..carried.len()], "open stream");
        let mut ids = vec![last];
        ids.extend(carried.iter().map(Event::id));
        assert_strictly_increasing("open stream", &ids);

        // A client resuming from an old id: a reset, or exactly the new ticks; never a skip.
        let mut resumed = edge.resume("/v1/stream?symbols=A", last).await;
        let first = resumed.next_event(EVENT_TIMEOUT).await;
        if first.event == "reset" {
            let snapshots = resumed.events(1, EVENT_TIMEOUT).await;
            assert_eq!(prices(&snapshots), [snapshot("A", "4")]);
            assert_eq!(snapshots[0].id(), head);
        } else {
            let mut events = vec![first];
            events.extend(resumed.events(1, EVENT_TIMEOUT).await);
            assert_eq!(prices(&events), [tick("A", "3"), tick("A", "4")]);
            assert_eq!(events[1].id(), head);
        }
        feed.trade("A", "5").await;
        let live = resumed.next_event(EVENT_TIMEOUT).await;
        assert_eq!((live.id(), live.raw("px")), (head + 1, "5".into()));
    })
    .await;
}

#[tokio::test]
async fn a_hot_standby_takes_over_when_the_leader_dies() {
    let Some(redis) = RedisServer::start_or_skip().await else {
        return;
    };
    within(TEST_TIMEOUT, async {
        let mut leader = feed_node(&redis, "standby").await;
        let edge = edge_node(&redis, "standby").await;
        let holder = redis.command(&[b"GET", b"standby:leader"]).await.text();
        assert_eq!(leader.metric("tickcast_cluster_leader", &[]).await, 1.0);

        // The standby: same prefix, no ready line while the leader lives.
        let flags = feed_flags(&redis, "standby");
        let mut standby = tokio::spawn(async move {
            let flags: Vec<&str> = flags.iter().map(String::as_str).collect();
            Server::tcp_with(&flags).await
        });
        let mut stream = edge.stream("/v1/stream?symbols=A").await;
        let mut feed = leader.feed().await;
        feed.trade("A", "1").await;
        let from_leader = stream.next_event(EVENT_TIMEOUT).await;
        assert_eq!(prices(std::slice::from_ref(&from_leader)), [tick("A", "1")]);
        // Three leases: the standby keeps waiting as long as the leader renews.
        let early = tokio::time::timeout(Duration::from_secs(3), &mut standby).await;
        assert!(
            early.is_err(),
            "the standby must not start while the leader lives"
        );
        assert_eq!(
            redis.command(&[b"GET", b"standby:leader"]).await.text(),
            holder,
            "the leader keeps its lease"
        );

        let killed = Instant::now();
        sigkill(&mut leader).await;
        let standby = standby.await.expect("the standby's start");
        let took = killed.elapsed();
        assert!(
            took < Duration::from_secs(5),
            "the standby took over {took:?} after the leader died (lease {LEASE})"
        );
        let stderr = standby.stderr();
        assert!(stderr.contains("standby"), "it said it waited: {stderr}");
        let new_holder = redis.command(&[b"GET", b"standby:leader"]).await.text();
        assert_ne!(new_holder, holder, "the lease changed hands");
        assert_eq!(standby.metric("tickcast_cluster_leader", &[]).await, 1.0);

        // Its ticks reach the edge.
        let mut feed = standby.feed().await;
        feed.trade("B", "2.5").await;
        let on_edge = eventually(
            "B from the new leader on the edge",
            SETTLE_TIMEOUT,
            async || {
                let answer = edge.get_json("/v1/snapshot?symbols=B").await;
                snapshot_tick(&answer, "B").cloned()
            },
        )
        .await;
        assert_eq!(on_edge["px"].as_f64(), Some(2.5), "{on_edge}");
        let mut after = edge.stream("/v1/stream?symbols=B").await;
        feed.trade("B", "2.75").await;
        let events = after.events(2, EVENT_TIMEOUT).await;
        assert_eq!(prices(&events), [snapshot("B", "2.5"), tick("B", "2.75")]);
        assert!(
            events[0].id() > from_leader.id(),
            "the new leader numbers past the old one's ids"
        );
    })
    .await;
}

#[tokio::test]
async fn garbage_on_the_live_channel_is_counted_and_the_edge_carries_on() {
    let Some(redis) = RedisServer::start_or_skip().await else {
        return;
    };
    within(TEST_TIMEOUT, async {
        let feed_node = feed_node(&redis, "hostile").await;
        let edge = edge_node(&redis, "hostile").await;
        let mut stream = edge.stream("/v1/stream?symbols=A").await;
        let mut feed = feed_node.feed().await;
        feed.trade("A", "1").await;
        let first = stream.next_event(EVENT_TIMEOUT).await;
        let epoch = edge.metric("tickcast_cluster_epoch", &[]).await as u64;

        let messages = garbage(epoch, first.id() + 1);
        for message in &messages {
            let receivers = redis
                .command(&[b"PUBLISH", b"hostile:live", message])
                .await
                .integer();
            assert!(receivers >= 1, "the edge listens on hostile:live");
        }
        edge.wait_metric(
            &format!(">= {}", messages.len()),
            "tickcast_cluster_rejected_messages_total",
            &[],
            |rejected| rejected >= messages.len() as f64,
        )
        .await;
        assert_eq!(
            edge.metric("tickcast_cluster_rejected_messages_total", &[])
                .await,
            messages.len() as f64,
            "each bad message counted once"
        );

        // Still serving, and the next real tick is the next event: nothing was taken from
        // the garbage, and the garbage took no id.
        let health = wait_health(&edge, "ok", "up").await;
        assert_eq!(health["role"], "edge", "{health}");
        feed.trade("A", "2").await;
        let next = stream.next_event(EVENT_TIMEOUT).await;
        assert_eq!(prices(std::slice::from_ref(&next)), [tick("A", "2")]);
        assert_eq!(next.id(), first.id() + 1);
        let mut fresh = edge.stream("/v1/stream?symbols=A").await;
        let latest = fresh.next_event(EVENT_TIMEOUT).await;
        assert_eq!(
            seen(&[latest]),
            [("snapshot".into(), next.id(), next.data.clone())]
        );
    })
    .await;
}

/// Messages that are not batches (`src/cluster/wire.rs`), each in its own way; the ones that
/// look like batches carry `epoch` and `seq`, the next id the edge expects.
fn garbage(epoch: u64, seq: u64) -> Vec<Vec<u8>> {
    let header = |count: u32| {
        let mut bytes = b"TCB1".to_vec();
        bytes.extend_from_slice(&epoch.to_le_bytes());
        bytes.push(0); // flags
        bytes.extend_from_slice(&count.to_le_bytes());
        bytes
    };
    // One event whose fields say what the arguments say, whatever the frame really holds.
    let event = |tick_start: u16, data_start: u16, frame_len: u32, frame: &[u8]| {
        let mut bytes = Vec::new();
        bytes.extend_from_slice(&seq.to_le_bytes());
        bytes.extend_from_slice(&1u64.to_le_bytes());
        bytes.extend_from_slice(&0u64.to_le_bytes());
        bytes.extend_from_slice(&tick_start.to_le_bytes());
        bytes.extend_from_slice(&data_start.to_le_bytes());
        bytes.extend_from_slice(&frame_len.to_le_bytes());
        bytes.push(1);
        bytes.push(b'A');
        bytes.extend_from_slice(frame);
        bytes
    };
    let frame = b"id: 1\ndata: {}\n\n";
    let len = frame.len() as u32;
    vec![
        b"not a batch at all".to_vec(),
        Vec::new(),
        b"TCB1\x01\x02".to_vec(),
        // Claims four billion events, has none.
        header(u32::MAX),
        // Claims a megabyte of frame, has a few bytes.
        [header(1), event(0, 0, 1 << 20, frame)].concat(),
        // Offsets past the end of its frame.
        [header(1), event(200, 300, len, frame)].concat(),
        // Another magic.
        [
            b"TCB9".to_vec(),
            header(1)[4..].to_vec(),
            event(0, 0, len, frame),
        ]
        .concat(),
    ]
}

/// An edge that cannot reach Redis has nothing to serve: it never listens (a balancer sends
/// its clients elsewhere), says why, and still stops at once and cleanly on SIGTERM.
#[tokio::test]
async fn an_edge_that_cannot_reach_redis_never_listens_and_stops_on_sigterm() {
    within(TEST_TIMEOUT, async {
        let args = [
            "--role",
            "edge",
            "--redis",
            "redis://127.0.0.1:1",
            "--listen",
            "127.0.0.1:0",
        ];
        let mut edge = Process::spawn_unready(args.map(str::to_owned).to_vec());
        eventually(
            "the edge to say Redis is unreachable",
            SETTLE_TIMEOUT,
            async || {
                edge.stderr()
                    .contains("Redis lost or unreachable")
                    .then_some(())
            },
        )
        .await;
        assert!(
            edge.is_running(),
            "the edge waits for Redis:\n{}",
            edge.stderr()
        );
        assert!(
            edge.stderr()
                .contains("backfilling from Redis before accepting clients"),
            "{}",
            edge.stderr()
        );
        edge.terminate();
        let status = edge.wait_exit(SETTLE_TIMEOUT).await;
        assert!(
            status.success(),
            "SIGTERM before the first backfill: {status}"
        );
        let stdout = edge.stdout_after_ready();
        assert!(stdout.is_empty(), "an edge without data printed {stdout:?}");
    })
    .await;
}

#[test]
fn cluster_flags_that_cannot_work_stop_the_start() {
    let unused = "redis://127.0.0.1:1";
    let feed = ["--feed", "tcp-listen://127.0.0.1:0"];
    let cases: [(&str, Vec<&str>, &str); 6] = [
        ("an edge without Redis", vec!["--role", "edge"], "--redis"),
        (
            "a feed node without Redis",
            [&["--role", "feed"][..], &feed].concat(),
            "--redis",
        ),
        (
            "Redis for a single node",
            [&["--role", "all", "--redis", unused][..], &feed].concat(),
            "--redis",
        ),
        (
            "a feed on an edge",
            vec!["--role", "edge", "--redis", unused, "--feed", "synthetic"],
            "--feed",
        ),
        (
            "a Redis address without a scheme",
            vec!["--role", "edge", "--redis", "127.0.0.1:6379"],
            "--redis",
        ),
        (
            "a Redis address of another scheme",
            [
                &["--role", "feed", "--redis", "http://127.0.0.1:6379"][..],
                &feed,
            ]
            .concat(),
            "--redis",
        ),
    ];
    for (what, args, names) in cases {
        let all = [&args[..], &["--listen", "127.0.0.1:0"]].concat();
        let output = run(&all, RUN_LIMIT);
        let stderr = String::from_utf8_lossy(&output.stderr);
        assert_eq!(
            output.status.code(),
            Some(2),
            "{what}: tickcast {all:?} must refuse to start; stderr: {stderr}"
        );
        assert!(
            stderr.contains(names),
            "{what}: the message names {names}: {stderr}"
        );
    }
}

#[tokio::test]
async fn an_edge_says_synthetic_when_its_feed_node_serves_the_synthetic_market() {
    let Some(redis) = RedisServer::start_or_skip().await else {
        return;
    };
    within(TEST_TIMEOUT, async {
        let url = redis.url();
        let flags = ["--redis", url.as_str(), "--redis-prefix", "syn"];
        let _feed_node =
            Server::start(&[&["--role", "feed", "--synthetic-rate", "200"][..], &flags].concat())
                .await;
        let edge = Server::start(&[&["--role", "edge"][..], &flags].concat()).await;
        let mut stream = edge.stream("/v1/stream?symbols=SYN0001").await;
        stream.next_event(EVENT_TIMEOUT).await;
        assert_eq!(edge.get_json("/healthz").await["synthetic"], true);
        assert_eq!(edge.get_json("/v1/symbols").await["synthetic"], true);
    })
    .await;
}
