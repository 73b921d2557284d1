//! `--coalesce`: ticks gather for a window before the shards hand them to their streams, so
//! ticks that arrive within the window leave in one write (one chunk of the chunked body), in
//! order, none lost.

use std::time::Duration;

use tokio::time::Instant;

use crate::support::http::{Conn, Framing};
use crate::support::{Server, TEST_TIMEOUT, within};

/// The window under test: long next to the 20 ms between ticks, so all five fall in one.
const WINDOW: &str = "400ms";

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

#[tokio::test]
async fn ticks_within_the_window_leave_in_one_write() {
    within(TEST_TIMEOUT, async {
        let server = Server::builder()
            .tcp_feed()
            .flag("--coalesce", WINDOW)
            .spawn()
            .await;
        let mut feed = server.feed().await;
        feed.trade("A", "1").await;
        server.wait_for_counts(&[("A", 1)]).await;

        let deadline = Instant::now() + Duration::from_secs(20);
        let mut conn = Conn::connect(server.http, deadline).await.expect("connect");
        conn.send_request("GET", "/v1/stream?symbols=A", &[], deadline)
            .await
            .expect("send the stream request");
        let head = conn.read_head(deadline).await.expect("stream head");
        assert_eq!(head.framing("GET"), Framing::Chunked);
        // The prelude (retry: and the snapshot of A) comes first, in chunks of its own.
        let mut prelude = Vec::new();
        while !String::from_utf8_lossy(&prelude).contains("event: snapshot") {
            match next_chunk(&mut conn.buf) {
                Some(chunk) => prelude.extend_from_slice(&chunk),
                None => {
                    assert!(conn.fill(deadline).await.expect("read") > 0, "stream ended");
                }
            }
        }
        server.wait_subscribers(1).await;

        for px in ["2", "3", "4", "5", "6"] {
            feed.trade("A", px).await;
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
        let mut chunks_with_ticks = Vec::new();
        let mut ticks = 0;
        while ticks < 5 {
            match next_chunk(&mut conn.buf) {
                Some(chunk) => {
                    let text = String::from_utf8(chunk).expect("UTF-8 events");
                    let here = text.matches("event: tick").count();
                    if here > 0 {
                        ticks += here;
                        chunks_with_ticks.push(text);
                    }
                }
                None => {
                    assert!(conn.fill(deadline).await.expect("read") > 0, "stream ended");
                }
            }
        }
        assert_eq!(
            chunks_with_ticks.len(),
            1,
            "five ticks 20 ms apart within a {WINDOW} window must leave in one write: {chunks_with_ticks:#?}"
        );
        let prices: Vec<&str> = chunks_with_ticks[0]
            .match_indices("\"px\":")
            .map(|(at, _)| &chunks_with_ticks[0][at + 5..at + 6])
            .collect();
        assert_eq!(prices, ["2", "3", "4", "5", "6"], "in order, none lost");
    })
    .await;
}
