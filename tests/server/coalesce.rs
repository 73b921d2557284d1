//! `--coalesce`: a shard hands new ticks to its streams at most once per window, so ticks that
//! arrive within the window leave in one write (one chunk of the chunked body), in order, none
//! lost; the first tick after a quiet window leaves at once. `auto` (the default) keeps no window
//! while the shard is lightly loaded.

use std::time::Duration;

use tokio::time::Instant;

use crate::support::http::{Conn, Framing};
use crate::support::{Server, TEST_TIMEOUT, within};

/// The fixed window under test: long next to the 20 ms between ticks.
const WINDOW: &str = "400ms";
/// Prices of the five ticks sent 20 ms apart.
const PRICES: [&str; 5] = ["2", "3", "4", "5", "6"];

/// Reads the next chunk of the chunked body on `conn` (whose head has been read): the bytes the
/// server wrote in one go.
async fn read_chunk(conn: &mut Conn, deadline: Instant) -> Vec<u8> {
    loop {
        if let Some(chunk) = next_chunk(&mut conn.buf) {
            return chunk;
        }
        let read = conn.fill(deadline).await.expect("read the stream");
        assert!(read > 0, "stream ended");
    }
}

/// Splits complete chunks off the front of a chunked body; `None` once more bytes are needed.
fn next_chunk(buf: &mut bytes::BytesMut) -> Option<Vec<u8>> {
    let line_end = buf.windows(2).position(|w| w == b"\r\n")?;
    let size_text = std::str::from_utf8(&buf[..line_end]).expect("chunk size is ASCII");
    let size = usize::from_str_radix(size_text.trim(), 16).expect("hex chunk size");
    let total = line_end + 2 + size + 2;
    if buf.len() < total {
        return None;
    }
    let chunk = buf[line_end + 2..line_end + 2 + size].to_vec();
    let _ = buf.split_to(total);
    Some(chunk)
}

/// Starts a server with `flags`, subscribes to A, sends five ticks of A 20 ms apart, and
/// returns the prices of the ticks in each chunk that carried any, in arrival order.
async fn five_ticks_20ms_apart(flags: &[&str]) -> Vec<Vec<String>> {
    let server = Server::tcp_with(flags).await;
    let mut feed = server.seeded_feed(&[("A", "1")]).await;

    let deadline = Instant::now() + Duration::from_secs(20);
    let mut conn = server.connect(deadline).await;
    conn.send_request("GET", "/v1/stream?symbols=A", &[], deadline)
        .await
        .expect("send the stream request");
    let head = conn.read_head(deadline).await.expect("stream head");
    assert_eq!(head.framing("GET"), Framing::Chunked);
    // The prelude (retry: and the snapshot of A) comes first, in chunks of its own.
    let mut prelude = Vec::new();
    while !String::from_utf8_lossy(&prelude).contains("event: snapshot") {
        prelude.extend_from_slice(&read_chunk(&mut conn, deadline).await);
    }
    server.wait_subscribers(1).await;

    for px in PRICES {
        feed.trade("A", px).await;
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    let mut chunks = Vec::new();
    let mut ticks = 0;
    while ticks < PRICES.len() {
        let chunk = read_chunk(&mut conn, deadline).await;
        let text = String::from_utf8(chunk).expect("UTF-8 events");
        assert_eq!(
            text.matches("event: tick").count(),
            text.matches("\"px\":").count(),
            "only ticks after the prelude: {text}"
        );
        let prices: Vec<String> = text
            .match_indices("\"px\":")
            .map(|(at, _)| text[at + 5..at + 6].to_string())
            .collect();
        if !prices.is_empty() {
            ticks += prices.len();
            chunks.push(prices);
        }
    }
    let all: Vec<&str> = chunks.iter().flatten().map(String::as_str).collect();
    assert_eq!(all, PRICES, "in order, none lost, none twice");
    chunks
}

#[tokio::test]
async fn ticks_within_the_window_leave_in_one_write() {
    within(TEST_TIMEOUT, async {
        let chunks = five_ticks_20ms_apart(&["--coalesce", WINDOW]).await;
        // The first tick leaves at once if the shard's last round began a window ago or more;
        // every later one waits for the window and leaves with the rest.
        let expected_rest = &PRICES[1..];
        let ok = match chunks.as_slice() {
            [all] => all == &PRICES,
            [first, rest] => first == &["2"] && rest == expected_rest,
            _ => false,
        };
        assert!(
            ok,
            "five ticks 20 ms apart within a {WINDOW} window must leave in one write (or the \
             first alone, then one): {chunks:?}"
        );
    })
    .await;
}

#[tokio::test]
async fn auto_adds_no_window_to_a_lightly_loaded_shard() {
    within(TEST_TIMEOUT, async {
        // The default is `auto`; name it anyway, with a cap that would merge everything.
        let chunks = five_ticks_20ms_apart(&["--coalesce", "auto", "--coalesce-max", "1s"]).await;
        // Each tick is its own write; two in one would mean a 20 ms wait somewhere, which a
        // loaded test machine can cause now and then, so allow one merge, never a window.
        assert!(
            chunks.len() >= PRICES.len() - 1,
            "an idle shard sends each tick as it comes: {chunks:?}"
        );
    })
    .await;
}

#[tokio::test]
async fn the_window_of_each_shard_is_a_metric() {
    within(TEST_TIMEOUT, async {
        let server = Server::tcp_with(&["--shards", "2", "--coalesce", "25ms"]).await;
        let metrics = server.metrics().await;
        for shard in ["0", "1"] {
            assert_eq!(
                metrics.sum("tickcast_coalesce_window_seconds", &[("shard", shard)]),
                0.025,
                "shard {shard}"
            );
        }
    })
    .await;
}
