//! A feed client: connects to a `tcp-listen://` feed and writes native JSON lines, one per write
//! ([`Feed::trades`]) or many in one write ([`Feed::burst`]).

use std::net::SocketAddr;
use std::time::Duration;

use tokio::io::AsyncWriteExt;
use tokio::net::TcpStream;

/// The exchange timestamp used by [`trade_line`] (ns since the epoch).
const TS: u64 = 1_700_000_000_000_000_000;
/// How long one write to the feed may take. A server that stops reading its feed (because a
/// subscriber is slow, say) makes this fail: the feed must never be blocked.
const WRITE_TIMEOUT: Duration = Duration::from_secs(20);

/// The native line for a trade of `symbol` at `px` (raw decimal text), quantity 1.
pub fn trade_line(symbol: &str, px: &str) -> String {
    format!(r#"{{"sym":"{symbol}","px":{px},"qty":1,"ts":{TS}}}"#)
}

/// The native lines of `trades` (symbol, raw price), each ended by a newline.
pub fn trade_lines<S: AsRef<str>, P: AsRef<str>>(
    trades: impl IntoIterator<Item = (S, P)>,
) -> String {
    let mut lines = String::new();
    for (symbol, px) in trades {
        lines.push_str(&trade_line(symbol.as_ref(), px.as_ref()));
        lines.push('\n');
    }
    lines
}

/// One feed connection.
pub struct Feed {
    stream: TcpStream,
}

impl Feed {
    /// Connects to a feed listener.
    pub async fn connect(addr: SocketAddr) -> Feed {
        let stream = tokio::time::timeout(Duration::from_secs(5), TcpStream::connect(addr))
            .await
            .unwrap_or_else(|_| panic!("connect to feed {addr} timed out"))
            .unwrap_or_else(|err| panic!("connect to feed {addr}: {err}"));
        stream.set_nodelay(true).expect("TCP_NODELAY");
        Feed { stream }
    }

    /// Writes raw bytes; fails the test if the server does not take them in time.
    pub async fn send(&mut self, bytes: &[u8]) {
        match tokio::time::timeout(WRITE_TIMEOUT, self.stream.write_all(bytes)).await {
            Ok(Ok(())) => {}
            Ok(Err(err)) => panic!("feed write failed: {err}"),
            Err(_) => panic!(
                "feed write of {} bytes blocked for {WRITE_TIMEOUT:?}: the server stopped \
                 reading its feed",
                bytes.len()
            ),
        }
    }

    /// Writes one line (a newline is added).
    pub async fn line(&mut self, line: &str) {
        self.send(format!("{line}\n").as_bytes()).await;
    }

    /// Writes a trade of `symbol` at `px` (raw decimal text).
    pub async fn trade(&mut self, symbol: &str, px: &str) {
        self.line(&trade_line(symbol, px)).await;
    }

    /// Writes trades (symbol, raw price) in order, each line in a write of its own.
    pub async fn trades(&mut self, trades: &[(&str, &str)]) {
        for (symbol, px) in trades {
            self.trade(symbol, px).await;
        }
    }

    /// Writes trades (symbol, raw price) in order, all lines in one write: the server sees
    /// them arrive faster than any subscriber can be written to.
    pub async fn burst<S: AsRef<str>, P: AsRef<str>>(
        &mut self,
        trades: impl IntoIterator<Item = (S, P)>,
    ) {
        self.send(trade_lines(trades).as_bytes()).await;
    }
}
