//! A `tickcast record` child: one TCP feed listener on port 0 whose lines go to a file, and a
//! clean stop on SIGTERM.

use std::net::SocketAddr;
use std::path::Path;
use std::process::ExitStatus;
use std::time::Duration;

use super::Feed;
use super::process::{self, Process};

/// A running recorder; the child is killed when this is dropped.
pub struct Recorder {
    process: Process,
    feed: SocketAddr,
}

impl Recorder {
    /// Spawns `tickcast record --feed tcp-listen://127.0.0.1:0 --out OUT` and waits for its
    /// ready line.
    pub async fn start(out: &Path) -> Recorder {
        let out = out
            .to_str()
            .unwrap_or_else(|| panic!("output path {out:?} is not UTF-8"));
        let words = ["record", "--feed", "tcp-listen://127.0.0.1:0", "--out", out];
        let (process, ready) = Process::spawn(words.map(str::to_owned).to_vec(), "recording").await;
        let feed = process::tcp_feed_addr(&ready["feeds"][0], &ready);
        Recorder { process, feed }
    }

    /// Connects a feed client to the recorder's listener.
    pub async fn feed(&self) -> Feed {
        Feed::connect(self.feed).await
    }

    /// Sends SIGTERM and waits for the recorder to finish its file and exit, at most `limit`.
    pub async fn stop(mut self, limit: Duration) -> ExitStatus {
        self.process.terminate();
        self.process.wait_exit(limit).await
    }
}
