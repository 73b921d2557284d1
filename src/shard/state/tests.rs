//! The shard's state machine without sockets (but one test that runs a real shard thread
//! with a raw-socket `Service`).

use std::future::Future;
use std::rc::Rc;
use std::sync::atomic::AtomicBool;
use std::task::Waker;

use tokio_util::sync::CancellationToken;

use super::*;
use crate::cache::{LatestPrices, UniverseKind};
use crate::frame::Frame;
use crate::metrics::Metrics;
use crate::ring::Ring;
use crate::ring::RingWriter;
use crate::shard::coalesce::Coalesce;
use crate::shard::subscriber::Admit;
use crate::shard::{Service, ShardSettings, spawn};
use crate::tick::{Decimal, Tick};

const SYMBOLS: u32 = 4;

fn shared() -> (Arc<Shared>, RingWriter) {
    let settings = ShardSettings {
        heartbeat: Duration::from_secs(15),
        retry: Duration::from_secs(2),
        subscriber_buffer: 1024,
        coalesce: Coalesce::Auto {
            max: coalesce::DEFAULT_AUTO_MAX,
        },
    };
    let names: Vec<Symbol> = (0..SYMBOLS)
        .map(|i| Symbol::new(&format!("S{i}")).unwrap())
        .collect();
    let (ring, writer) = Ring::with_writer(1 << 12, 1);
    let shared = Arc::new(Shared {
        settings,
        ring,
        cache: Arc::new(LatestPrices::new(UniverseKind::Closed, &names)),
        metrics: Arc::new(Metrics::new(2)),
        draining: AtomicBool::new(false),
    });
    (shared, writer)
}

/// Publishes ticks `from..=to`, symbol `seq % SYMBOLS` (the sequencer's job).
fn publish(writer: &mut RingWriter, from: Seq, to: Seq) {
    for seq in from..=to {
        let symbol_id = SymbolId((seq % u64::from(SYMBOLS)) as u32);
        let symbol = Symbol::new(&format!("S{}", symbol_id.0)).unwrap();
        let tick = Tick::trade(symbol, Decimal::new(1, 0).unwrap(), None, 1, 2);
        writer.push(Arc::new(Event {
            seq,
            symbol_id,
            n: seq,
            rx: tick.rx,
            frame: Frame::encode(seq, seq, &tick),
        }));
    }
}

/// Writes stream `key` as its socket would until it has nothing more: the ids of its ticks.
fn written(shard: &ShardState, key: usize) -> Vec<Seq> {
    let mut ids = Vec::new();
    for _ in 0..10_000 {
        match shard.fill(key, Waker::noop()) {
            Poll::Ready(Fill::Data(chunks)) => {
                let text: String = chunks
                    .iter()
                    .map(|c| std::str::from_utf8(c).unwrap())
                    .collect();
                for event in text.split("\n\n") {
                    assert!(!event.contains("event: snapshot"), "{event}");
                    if let Some(id) = event.strip_prefix("id: ")
                        && event.contains("\nevent: tick\n")
                    {
                        ids.push(id.split('\n').next().unwrap().parse().unwrap());
                    }
                }
            }
            Poll::Ready(Fill::End) => panic!("stream ended"),
            // A resume still reading the ring asks to be polled again.
            Poll::Pending if shard.subs.borrow()[key].mode != Mode::Live => {}
            Poll::Pending => return ids,
        }
    }
    panic!("stream {key} never caught up with the ring");
}

#[test]
fn heartbeats_do_not_pile_up_for_a_client_that_stopped_reading() {
    let (shared1, mut writer) = shared();
    publish(&mut writer, 1, 8);
    let shard = ShardState::new(0, shared1);
    while shard.dispatch_available() {}
    let drain = |shard: &ShardState, key| {
        while let Poll::Ready(Fill::Data(_)) = shard.fill(key, Waker::noop()) {}
    };
    let key = shard.subscribe(Filter::all(), Start::Fresh);
    drain(&shard, key);
    // An idle stream that is read gets one heartbeat per interval without a write (the
    // first interval saw the snapshots go out).
    shard.heartbeat();
    assert_eq!(shard.subs.borrow()[key].prelude_len(), 0);
    shard.heartbeat();
    assert_eq!(shard.subs.borrow()[key].prelude_len(), 1);
    assert!(matches!(
        shard.fill(key, Waker::noop()),
        Poll::Ready(Fill::Data(_))
    ));
    // A client that stops reading: its writer never asks again. Hours of intervals leave
    // at most the one heartbeat already waiting.
    shard.heartbeat();
    for _ in 0..1_000 {
        shard.heartbeat();
    }
    assert_eq!(shard.subs.borrow()[key].prelude_len(), 1);
    // Nor is one queued behind ticks that are waiting.
    let (shared2, mut writer2) = shared();
    publish(&mut writer2, 1, 4);
    let busy = ShardState::new(0, shared2);
    while busy.dispatch_available() {}
    let stalled = busy.subscribe(Filter::all(), Start::Fresh);
    drain(&busy, stalled);
    publish(&mut writer2, 5, 6);
    while busy.dispatch_available() {}
    for _ in 0..10 {
        busy.heartbeat();
    }
    let sub = &busy.subs.borrow()[stalled];
    assert_eq!((sub.prelude_len(), sub.pending()), (0, 2));
}

#[test]
fn a_resume_gets_exactly_the_ticks_after_its_id_on_any_shard() {
    // The reconnect storm: a client read up to `last` on one shard and resumes on another,
    // which may be behind or ahead of the first, while ticks keep coming (before its first
    // write, as during the hand-off from hyper, and between writes). Every `last` from the
    // ring's start to its head: the catch-up's 64-event batches end at every offset, and
    // `last` equal to the cursor takes the live-only branch. (A client must send the id of
    // the last event it received whole, not of one cut by the end of a read.)
    for last in 0..=300 {
        for behind in [true, false] {
            for all in [true, false] {
                let (shared, mut writer) = shared();
                publish(&mut writer, 1, 300);
                let old = ShardState::new(0, shared.clone());
                let new = ShardState::new(1, shared.clone());
                while old.dispatch_available() {}
                if !behind {
                    publish(&mut writer, 301, 310);
                    while new.dispatch_available() {}
                }
                let filter = if all {
                    Filter::all()
                } else {
                    Filter::symbols(
                        &[Symbol::new("S1").unwrap(), Symbol::new("S2").unwrap()],
                        &shared.cache.universe(),
                    )
                };
                let key = new.subscribe(filter, Start::After(last));
                let head = shared.ring.head();
                publish(&mut writer, head + 1, head + 70);
                while new.dispatch_available() {}
                let mut ids = written(&new, key);
                publish(&mut writer, head + 71, head + 80);
                while new.dispatch_available() {}
                ids.extend(written(&new, key));
                let wanted: Vec<Seq> = (last + 1..=head + 80)
                    .filter(|s| all || matches!(s % u64::from(SYMBOLS), 1 | 2))
                    .collect();
                assert_eq!(ids, wanted, "last {last}, behind {behind}, all {all}");
            }
        }
    }
}

/// A protocol of the test's own: the firehose written raw to the socket, no HTTP.
#[derive(Clone)]
struct RawFirehose;

impl Service for RawFirehose {
    type Connection = std::net::TcpStream;

    fn serve(
        &self,
        shard: Rc<ShardState>,
        stream: std::net::TcpStream,
        _stop: CancellationToken,
    ) -> impl Future<Output = ()> + 'static {
        use tokio::io::AsyncWriteExt;
        async move {
            stream.set_nonblocking(true).unwrap();
            let mut stream = tokio::net::TcpStream::from_std(stream).unwrap();
            let key = shard.subscribe(Filter::all(), Start::Fresh);
            while let Fill::Data(chunks) =
                std::future::poll_fn(|cx| shard.fill(key, cx.waker())).await
            {
                for chunk in chunks {
                    if stream.write_all(&chunk).await.is_err() {
                        shard.unsubscribe(key);
                        return;
                    }
                }
            }
            shard.unsubscribe(key);
        }
    }
}

/// Reads `client` until `text` has arrived (bounded by the socket's read timeout).
fn read_until(client: &mut std::net::TcpStream, seen: &mut String, text: &str) {
    use std::io::Read;
    let mut buf = [0u8; 4096];
    while !seen.contains(text) {
        let n = client.read(&mut buf).expect("read within the timeout");
        assert!(n > 0, "closed before {text:?}; got {seen:?}");
        seen.push_str(std::str::from_utf8(&buf[..n]).unwrap());
    }
}

#[test]
fn a_shard_serves_connections_through_the_service_it_is_given() {
    let (shared, mut writer) = shared();
    publish(&mut writer, 1, 3);
    let stop = CancellationToken::new();
    let handle = spawn(0, shared.clone(), RawFirehose, stop.clone()).unwrap();
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let mut client = std::net::TcpStream::connect(listener.local_addr().unwrap()).unwrap();
    client
        .set_read_timeout(Some(Duration::from_secs(10)))
        .unwrap();
    let (accepted, _) = listener.accept().unwrap();
    // What the acceptor does before handing a connection over.
    shared
        .metrics
        .shard(0)
        .connections
        .fetch_add(1, Ordering::Relaxed);
    handle.connections.send(accepted).unwrap();

    let mut seen = String::new();
    read_until(&mut client, &mut seen, "id: 3\nevent: snapshot\n");
    assert!(seen.starts_with("retry: 2000\n\n"), "{seen}");
    publish(&mut writer, 4, 6);
    handle.notify.notify_one();
    read_until(&mut client, &mut seen, "id: 6\nevent: tick\n");
    for id in 4..=6 {
        assert!(seen.contains(&format!("id: {id}\nevent: tick\n")), "{seen}");
    }

    // The drain ends the stream after its queue with a last `retry:`, and the shard stops
    // counting the connection once the service returns.
    stop.cancel();
    handle.thread.join().unwrap();
    let before = seen.len();
    use std::io::Read;
    let mut rest = Vec::new();
    client.read_to_end(&mut rest).unwrap();
    seen.push_str(std::str::from_utf8(&rest).unwrap());
    assert!(seen[before..].ends_with("retry: 2000\n\n"), "{seen}");
    assert_eq!(
        shared.metrics.shard(0).connections.load(Ordering::Relaxed),
        0
    );
    assert_eq!(
        shared.metrics.shard(0).subscribers.load(Ordering::Relaxed),
        0
    );
}

/// Publishes one tick of `symbol_id` as `seq`, received at `rx`.
fn publish_one(writer: &mut RingWriter, seq: Seq, symbol_id: SymbolId, name: &str, rx: u64) {
    let symbol = Symbol::new(name).unwrap();
    let tick = Tick::trade(symbol, Decimal::new(1, 0).unwrap(), None, 1, rx);
    writer.push(Arc::new(Event {
        seq,
        symbol_id,
        n: seq,
        rx,
        frame: Frame::encode(seq, seq, &tick),
    }));
}

/// Everything stream `key` writes until it has nothing more now (`<end>` if it ended).
fn drained(shard: &ShardState, key: usize) -> String {
    let mut text = String::new();
    for _ in 0..10_000 {
        match shard.fill(key, Waker::noop()) {
            Poll::Ready(Fill::Data(chunks)) => {
                for chunk in chunks {
                    text.push_str(std::str::from_utf8(&chunk).unwrap());
                }
            }
            Poll::Ready(Fill::End) => return text + "<end>",
            Poll::Pending => return text,
        }
    }
    panic!("stream {key} never stopped writing");
}

/// The ids of the `kind` events in `text`, in order.
fn ids_of(text: &str, kind: &str) -> Vec<Seq> {
    text.split("\n\n")
        .filter(|event| event.contains(&format!("\nevent: {kind}\n")))
        .filter_map(|event| event.strip_prefix("id: ")?.split('\n').next()?.parse().ok())
        .collect()
}

#[test]
fn an_admitted_firehose_sees_only_what_its_rule_allows_including_later_symbols() {
    let (shared, mut writer) = shared();
    let shard = ShardState::new(0, shared.clone());
    let rule = Admit::new(|s: &Symbol| s.as_str().ends_with('1') || s.as_str().ends_with('2'));
    let key = shard.subscribe(
        Filter::admitted(rule, &shared.cache.universe()),
        Start::Fresh,
    );
    publish(&mut writer, 1, 8);
    while shard.dispatch_available() {}
    assert_eq!(ids_of(&drained(&shard, key), "tick"), [1, 2, 5, 6]);

    // Symbols that appear later are asked about once, when they first trade.
    let later_yes = shared.cache.intern(Symbol::new("S12").unwrap());
    let later_no = shared.cache.intern(Symbol::new("S13").unwrap());
    // Another stream naming the new symbol first must not hide it from the rule.
    let named = Filter::symbols(&[Symbol::new("S12").unwrap()], &shared.cache.universe());
    let other = shard.subscribe(named, Start::Fresh);
    publish_one(&mut writer, 9, later_yes, "S12", 2);
    publish_one(&mut writer, 10, later_no, "S13", 2);
    publish_one(&mut writer, 11, later_yes, "S12", 2);
    while shard.dispatch_available() {}
    assert_eq!(ids_of(&drained(&shard, key), "tick"), [9, 11]);
    assert_eq!(ids_of(&drained(&shard, other), "tick"), [9, 11]);
}

#[test]
fn a_stream_ends_with_reauth_when_its_authorization_runs_out() {
    let (shared, mut writer) = shared();
    let shard = ShardState::new(0, shared.clone());
    let now = crate::clock::now_ns();
    let hour = 3_600_000_000_000;
    let expiring = StreamOptions {
        expires_at: Some(now + hour),
        ..StreamOptions::default()
    };
    let key = shard.subscribe_with(Filter::all(), Start::Fresh, expiring);
    let lasting = shard.subscribe(Filter::all(), Start::Fresh);
    publish(&mut writer, 1, 4);
    while shard.dispatch_available() {}
    assert_eq!(ids_of(&drained(&shard, key), "tick"), [1, 2, 3, 4]);
    publish(&mut writer, 5, 6);
    while shard.dispatch_available() {}
    shard.expire_due(now + hour / 2);
    publish(&mut writer, 7, 7);
    while shard.dispatch_available() {}
    shard.expire_due(now + 2 * hour);
    publish(&mut writer, 8, 8);
    while shard.dispatch_available() {}
    // What was queued while authorized goes out, then the reauth naming the last id, then
    // the end: nothing received after the expiry.
    let text = drained(&shard, key);
    assert_eq!(ids_of(&text, "tick"), [5, 6, 7]);
    assert!(
        text.ends_with(
            "event: reauth\ndata: {\"reason\":\"token_expired\",\"last_event_id\":7}\n\n<end>"
        ),
        "{text}"
    );
    assert_eq!(
        ids_of(&drained(&shard, lasting), "tick"),
        (1..=8).collect::<Vec<_>>()
    );
}

#[test]
fn a_delayed_stream_gets_each_tick_only_once_it_is_old_enough() {
    let (shared, mut writer) = shared();
    let shard = ShardState::new(0, shared.clone());
    let now = crate::clock::now_ns();
    let second = 1_000_000_000;
    for seq in 1..=8 {
        // Ticks 1-4 ten seconds old, 5-8 one second old.
        let rx = if seq <= 4 {
            now - 10 * second
        } else {
            now - second
        };
        let id = SymbolId((seq % u64::from(SYMBOLS)) as u32);
        publish_one(&mut writer, seq, id, &format!("S{}", id.0), rx);
    }
    while shard.dispatch_available() {}
    let delayed = StreamOptions {
        delay: Some(Duration::from_secs(3)),
        ..StreamOptions::default()
    };
    let key = shard.subscribe_with(Filter::all(), Start::Fresh, delayed);
    // Snapshot as of three seconds ago: the prices of ticks 1-4, none of 5-8.
    let text = drained(&shard, key);
    assert_eq!(ids_of(&text, "snapshot"), [1, 2, 3, 4], "{text}");
    assert!(ids_of(&text, "tick").is_empty(), "{text}");
    // A resume inside the delay gets what is due after its id, nothing newer.
    let resumed = shard.subscribe_with(Filter::all(), Start::After(2), delayed);
    assert_eq!(ids_of(&drained(&shard, resumed), "tick"), [3, 4]);
    // A resume from an id this tier may not see yet is reset to the delayed snapshot.
    let ahead = shard.subscribe_with(Filter::all(), Start::After(6), delayed);
    let text = drained(&shard, ahead);
    assert!(text.contains("\"reason\":\"ahead_of_delay\""), "{text}");
    assert!(ids_of(&text, "tick").is_empty(), "{text}");

    std::thread::sleep(Duration::from_millis(2_500));
    assert_eq!(ids_of(&drained(&shard, key), "tick"), [5, 6, 7, 8]);
    assert_eq!(ids_of(&drained(&shard, resumed), "tick"), [5, 6, 7, 8]);
}
