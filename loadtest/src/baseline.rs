//! The baseline server of issue 4's S2 comparison: a plain `tokio::sync::broadcast` SSE server,
//! one task and one `write()` per event per connection.
//!
//! It is what a straightforward Rust implementation of a tick server looks like, and the design
//! tickcast's shared-bytes, per-core-shard, coalescing fan-out has to beat. It speaks enough of
//! tickcast's protocol for `tickcast-load` to run the same scenario against it
//! (`--spawn-tickcast <tickcast-baseline>`, or `--target/--feed/--server-pid`):
//!
//! - **feed**: `--feed tcp-listen://HOST:PORT`, tickcast's native JSON lines
//!   (`{"sym":..,"px":..,"qty":..,"ts":..}`, optional `bid`, `bid_qty`, `ask`, `ask_qty`; prices
//!   as JSON numbers or decimal strings, their digits kept). Each line is stamped with `rx` (the
//!   wall clock when it was read), the next global `seq` and its symbol's count `n`, and
//!   **serialized once** into its SSE frame (`id: <seq>`, `event: tick`, `data: {...}` with the
//!   fields tickcast sends), which goes to every connection through one
//!   `broadcast::Sender<Arc<Event>>`. A [`Sequencer`] behind a mutex numbers and sends under the
//!   same lock, so the channel's order is the `seq` order even with several feed connections.
//! - **stream**: `GET /v1/stream?symbols=A,B` (or `*`) answers `200` with
//!   `Content-Type: text/event-stream`, a `retry:` line, then one tick event per matching frame.
//!   Each connection is one tokio task: `recv()` the next event from its broadcast receiver,
//!   skip it if its symbol is not subscribed, else `write_all` its frame to the socket: one
//!   write per event, no batching of its own (`TCP_NODELAY` on, as tickcast has it). The body
//!   runs until the connection closes (no chunked coding, like nchan).
//! - the ready line `{"event":"listening","http":..,"feeds":[..]}` on stdout, as tickcast prints.
//!
//! What it leaves out, on purpose (a baseline, not a product): snapshots, resume with
//! `Last-Event-ID` (ignored), heartbeats, conflation, metrics, graceful shutdown (SIGTERM ends
//! it). A receiver that falls more than `--capacity` events behind gets `Lagged` from tokio and
//! skips what it missed: the load tester sees that as gaps. Nothing in it is slowed down or made
//! to lose: the runtime is tokio's default multi-threaded one with a worker per available CPU
//! (one when pinned with `taskset -c 0`), as `#[tokio::main]` would build it.

use std::collections::{HashMap, HashSet};
use std::io;
use std::net::SocketAddr;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use serde::Deserialize;
use serde_json::value::RawValue;
use tokio::io::{AsyncBufReadExt, AsyncReadExt, AsyncWriteExt, BufReader};
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::broadcast;

use crate::clock::epoch_ns;

/// Longest request head read before answering 400.
const MAX_HEAD: usize = 8 * 1024;
/// How long a connection may take to send its request head.
const HEAD_TIMEOUT: Duration = Duration::from_secs(10);
/// Longest symbol name (tickcast's limit).
const MAX_SYMBOL: usize = 32;

/// One serialized tick, shared by every connection.
#[derive(Debug)]
pub struct Event {
    /// Its symbol, for the per-connection filter.
    pub sym: Box<str>,
    /// The whole SSE event: `id:`, `event: tick`, `data:` and the blank line.
    pub frame: Box<[u8]>,
}

/// Why a feed line was skipped.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum LineError {
    /// Not a JSON object of the native format.
    #[error("not a native feed line: {0}")]
    Json(String),
    /// `sym` is empty, too long or has a character outside `A-Z a-z 0-9 . _ - : /`.
    #[error("bad symbol")]
    BadSymbol,
    /// A price or size is not a plain decimal number.
    #[error("bad number in {0}")]
    BadNumber(&'static str),
    /// Neither `px` nor `bid`/`ask`: neither a trade nor a quote.
    #[error("neither px nor bid/ask")]
    NotATick,
}

/// A native feed line, borrowed from the line.
#[derive(Deserialize)]
struct FeedLine<'a> {
    #[serde(borrow)]
    sym: &'a str,
    #[serde(borrow)]
    px: Option<&'a RawValue>,
    #[serde(borrow)]
    qty: Option<&'a RawValue>,
    #[serde(borrow)]
    bid: Option<&'a RawValue>,
    #[serde(borrow)]
    bid_qty: Option<&'a RawValue>,
    #[serde(borrow)]
    ask: Option<&'a RawValue>,
    #[serde(borrow)]
    ask_qty: Option<&'a RawValue>,
    ts: u64,
}

/// Numbers ticks and serializes each one once.
#[derive(Debug)]
pub struct Sequencer {
    next_seq: u64,
    counts: HashMap<Box<str>, u64>,
}

impl Sequencer {
    /// A sequencer whose first tick gets `first_seq`.
    pub fn new(first_seq: u64) -> Self {
        Self {
            next_seq: first_seq,
            counts: HashMap::new(),
        }
    }

    /// Stamps one feed line (without its newline) read at `rx_ns` and encodes its frame.
    pub fn stamp(&mut self, line: &[u8], rx_ns: u64) -> Result<Event, LineError> {
        let tick: FeedLine<'_> =
            serde_json::from_slice(line).map_err(|err| LineError::Json(err.to_string()))?;
        if !valid_symbol(tick.sym) {
            return Err(LineError::BadSymbol);
        }
        let px = number(tick.px, "px")?;
        let qty = number(tick.qty, "qty")?;
        let bid = number(tick.bid, "bid")?;
        let bid_qty = number(tick.bid_qty, "bid_qty")?;
        let ask = number(tick.ask, "ask")?;
        let ask_qty = number(tick.ask_qty, "ask_qty")?;
        let kind = if px.is_some() {
            "trade"
        } else if bid.is_some() || ask.is_some() {
            "quote"
        } else {
            return Err(LineError::NotATick);
        };

        let seq = self.next_seq;
        self.next_seq += 1;
        let n = match self.counts.get_mut(tick.sym) {
            Some(n) => {
                *n += 1;
                *n
            }
            None => {
                self.counts.insert(tick.sym.into(), 1);
                1
            }
        };

        let mut num = itoa::Buffer::new();
        let mut frame = Vec::with_capacity(96 + 2 * line.len());
        frame.extend_from_slice(b"id: ");
        frame.extend_from_slice(num.format(seq).as_bytes());
        frame.extend_from_slice(b"\nevent: tick\ndata: {\"sym\":\"");
        frame.extend_from_slice(tick.sym.as_bytes());
        frame.extend_from_slice(b"\",\"seq\":");
        frame.extend_from_slice(num.format(seq).as_bytes());
        frame.extend_from_slice(b",\"n\":");
        frame.extend_from_slice(num.format(n).as_bytes());
        frame.extend_from_slice(b",\"kind\":\"");
        frame.extend_from_slice(kind.as_bytes());
        frame.push(b'"');
        for (name, value) in [
            ("px", px),
            ("qty", qty),
            ("bid", bid),
            ("bid_qty", bid_qty),
            ("ask", ask),
            ("ask_qty", ask_qty),
        ] {
            if let Some(value) = value {
                frame.extend_from_slice(b",\"");
                frame.extend_from_slice(name.as_bytes());
                frame.extend_from_slice(b"\":");
                frame.extend_from_slice(value.as_bytes());
            }
        }
        frame.extend_from_slice(b",\"ts\":");
        frame.extend_from_slice(num.format(tick.ts).as_bytes());
        frame.extend_from_slice(b",\"rx\":");
        frame.extend_from_slice(num.format(rx_ns).as_bytes());
        frame.extend_from_slice(b"}\n\n");
        Ok(Event {
            sym: tick.sym.into(),
            frame: frame.into_boxed_slice(),
        })
    }
}

/// The digits of an optional price or size field.
fn number<'a>(raw: Option<&'a RawValue>, name: &'static str) -> Result<Option<&'a str>, LineError> {
    match raw {
        None => Ok(None),
        Some(raw) => decimal_text(raw.get())
            .map(Some)
            .ok_or(LineError::BadNumber(name)),
    }
}

/// tickcast's symbol rule: 1-32 bytes of `A-Z a-z 0-9 . _ - : /`.
fn valid_symbol(sym: &str) -> bool {
    (1..=MAX_SYMBOL).contains(&sym.len())
        && sym
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b".-_:/".contains(&b))
}

/// The digits of a price or size: a JSON number, or a decimal string (quotes removed), written
/// as a plain non-negative decimal (`101.25`, `300`); `None` for anything else.
fn decimal_text(raw: &str) -> Option<&str> {
    let text = raw
        .strip_prefix('"')
        .and_then(|t| t.strip_suffix('"'))
        .unwrap_or(raw);
    let (int, frac) = text.split_once('.').unwrap_or((text, "0"));
    let digits = |s: &str| !s.is_empty() && s.bytes().all(|b| b.is_ascii_digit());
    (digits(int) && digits(frac)).then_some(text)
}

/// What a stream connection subscribes to.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Subscription {
    /// `symbols=*`: every tick.
    All,
    /// These symbols.
    Symbols(HashSet<Box<str>>),
}

impl Subscription {
    /// Whether a tick of `sym` goes to this connection.
    pub fn wants(&self, sym: &str) -> bool {
        match self {
            Subscription::All => true,
            Subscription::Symbols(symbols) => symbols.contains(sym),
        }
    }
}

/// What a request asks for.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Request {
    /// `GET /v1/stream?symbols=...`.
    Stream(Subscription),
    /// Anything malformed (400, with the reason).
    Bad(&'static str),
    /// Another path (404).
    NotFound,
}

/// Reads a request head (up to the blank line).
pub fn parse_request(head: &[u8]) -> Request {
    let line_end = memchr::memchr(b'\n', head).unwrap_or(head.len());
    let line = head[..line_end].trim_ascii_end();
    let mut words = line.split(|&b| b == b' ');
    let (Some(method), Some(target), Some(version)) = (words.next(), words.next(), words.next())
    else {
        return Request::Bad("request line");
    };
    if !version.starts_with(b"HTTP/1.") {
        return Request::Bad("HTTP version");
    }
    let (path, query) = match memchr::memchr(b'?', target) {
        Some(q) => (&target[..q], &target[q + 1..]),
        None => (target, &b""[..]),
    };
    if path != b"/v1/stream" {
        return Request::NotFound;
    }
    if method != b"GET" {
        return Request::Bad("method");
    }
    let Some(symbols) = query
        .split(|&b| b == b'&')
        .find_map(|pair| pair.strip_prefix(b"symbols="))
    else {
        return Request::Bad("missing symbols");
    };
    let Some(symbols) = percent_decode(symbols) else {
        return Request::Bad("bad escape");
    };
    if symbols == "*" {
        return Request::Stream(Subscription::All);
    }
    let mut set = HashSet::new();
    for sym in symbols.split(',') {
        if !valid_symbol(sym) {
            return Request::Bad("bad symbol");
        }
        set.insert(sym.into());
    }
    Request::Stream(Subscription::Symbols(set))
}

/// `%XX` escapes (and `+` as a space) of a query value; `None` if malformed or not UTF-8.
fn percent_decode(value: &[u8]) -> Option<String> {
    let mut out = Vec::with_capacity(value.len());
    let mut i = 0;
    while i < value.len() {
        match value[i] {
            b'%' => {
                let hex = std::str::from_utf8(value.get(i + 1..i + 3)?).ok()?;
                out.push(u8::from_str_radix(hex, 16).ok()?);
                i += 3;
            }
            b'+' => {
                out.push(b' ');
                i += 1;
            }
            b => {
                out.push(b);
                i += 1;
            }
        }
    }
    String::from_utf8(out).ok()
}

/// The server's settings.
#[derive(Debug, Clone)]
pub struct Config {
    /// HTTP address.
    pub listen: SocketAddr,
    /// Native feed address.
    pub feed: SocketAddr,
    /// Events a receiver may fall behind before it lags (the broadcast channel's capacity).
    pub capacity: usize,
    /// The `retry:` hint, ms.
    pub retry_ms: u64,
}

/// Binds both listeners, prints the ready line, then serves until the process ends.
pub async fn serve(config: Config) -> io::Result<()> {
    let http = TcpListener::bind(config.listen).await?;
    let feed = TcpListener::bind(config.feed).await?;
    println!(
        "{{\"event\":\"listening\",\"http\":\"{}\",\"feeds\":[\"tcp-listen://{}\"]}}",
        http.local_addr()?,
        feed.local_addr()?
    );
    let (tx, _) = broadcast::channel::<Arc<Event>>(config.capacity.max(1));
    let sequencer = Arc::new(Mutex::new(Sequencer::new(1)));

    let feed_tx = tx.clone();
    tokio::spawn(async move {
        loop {
            let Ok((socket, _)) = feed.accept().await else {
                continue;
            };
            tokio::spawn(read_feed(socket, Arc::clone(&sequencer), feed_tx.clone()));
        }
    });
    let head = stream_head(config.retry_ms);
    loop {
        let (socket, _) = match http.accept().await {
            Ok(accepted) => accepted,
            // Out of descriptors and the like: wait a little instead of spinning.
            Err(_) => {
                tokio::time::sleep(Duration::from_millis(10)).await;
                continue;
            }
        };
        tokio::spawn(stream(socket, tx.clone(), Arc::clone(&head)));
    }
}

/// The response head and first body bytes of every stream.
fn stream_head(retry_ms: u64) -> Arc<[u8]> {
    format!(
        "HTTP/1.1 200 OK\r\nContent-Type: text/event-stream\r\nCache-Control: no-cache\r\n\
         X-Accel-Buffering: no\r\nConnection: close\r\n\r\nretry: {retry_ms}\n\n"
    )
    .into_bytes()
    .into()
}

/// Reads one feed connection: stamp, serialize once and broadcast each line, in order.
async fn read_feed(
    socket: TcpStream,
    sequencer: Arc<Mutex<Sequencer>>,
    tx: broadcast::Sender<Arc<Event>>,
) {
    let mut reader = BufReader::with_capacity(64 * 1024, socket);
    let mut line = Vec::with_capacity(256);
    loop {
        line.clear();
        match reader.read_until(b'\n', &mut line).await {
            Ok(0) | Err(_) => return,
            Ok(_) => {}
        }
        let rx_ns = epoch_ns();
        let text = line.trim_ascii_end();
        if text.is_empty() {
            continue;
        }
        let mut sequencer = sequencer.lock().unwrap_or_else(|e| e.into_inner());
        // A bad line is skipped, as tickcast does (it would count it; this baseline does not).
        if let Ok(event) = sequencer.stamp(text, rx_ns) {
            // Sent under the lock: channel order is seq order. No receiver: nobody to tell.
            let _ = tx.send(Arc::new(event));
        }
    }
}

/// One stream connection: its own task, one write per event.
async fn stream(socket: TcpStream, tx: broadcast::Sender<Arc<Event>>, head: Arc<[u8]>) {
    let _ = socket.set_nodelay(true);
    let (mut reader, mut writer) = socket.into_split();
    let mut buf = Vec::with_capacity(1024);
    let request = tokio::time::timeout(HEAD_TIMEOUT, async {
        loop {
            if let Some(end) = memchr::memmem::find(&buf, b"\r\n\r\n") {
                return Some(parse_request(&buf[..end]));
            }
            if buf.len() >= MAX_HEAD {
                return Some(Request::Bad("head too long"));
            }
            let mut chunk = [0u8; 1024];
            match reader.read(&mut chunk).await {
                Ok(0) | Err(_) => return None,
                Ok(n) => buf.extend_from_slice(&chunk[..n]),
            }
        }
    })
    .await;
    let subscription = match request {
        Ok(Some(Request::Stream(subscription))) => subscription,
        Ok(Some(Request::Bad(why))) => {
            let body = format!("{{\"error\":\"{why}\"}}");
            let _ = writer
                .write_all(
                    format!(
                        "HTTP/1.1 400 Bad Request\r\nContent-Type: application/json\r\n\
                         Content-Length: {}\r\nConnection: close\r\n\r\n{body}",
                        body.len()
                    )
                    .as_bytes(),
                )
                .await;
            return;
        }
        Ok(Some(Request::NotFound)) => {
            let _ = writer
                .write_all(
                    b"HTTP/1.1 404 Not Found\r\nContent-Length: 0\r\nConnection: close\r\n\r\n",
                )
                .await;
            return;
        }
        Ok(None) | Err(_) => return,
    };
    let mut events = tx.subscribe();
    drop(tx);
    if writer.write_all(&head).await.is_err() {
        return;
    }
    let mut probe = [0u8; 64];
    loop {
        tokio::select! {
            received = events.recv() => match received {
                Ok(event) => {
                    if subscription.wants(&event.sym) && writer.write_all(&event.frame).await.is_err() {
                        return;
                    }
                }
                // Fell more than the channel's capacity behind: the skipped ticks are lost.
                Err(broadcast::error::RecvError::Lagged(_)) => {}
                Err(broadcast::error::RecvError::Closed) => return,
            },
            // The client sends nothing after its request; a read returns when it hangs up.
            read = reader.read(&mut probe) => match read {
                Ok(0) | Err(_) => return,
                Ok(_) => {}
            },
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn stamps_and_serializes_a_trade_once_with_its_digits() {
        let mut sequencer = Sequencer::new(7);
        let event = sequencer
            .stamp(
                br#"{"sym":"LT0001","px":100.20,"qty":3,"ts":1700000000000000000}"#,
                1700000000000000123,
            )
            .unwrap();
        assert_eq!(&*event.sym, "LT0001");
        assert_eq!(
            std::str::from_utf8(&event.frame).unwrap(),
            "id: 7\nevent: tick\ndata: {\"sym\":\"LT0001\",\"seq\":7,\"n\":1,\"kind\":\"trade\",\
             \"px\":100.20,\"qty\":3,\"ts\":1700000000000000000,\"rx\":1700000000000000123}\n\n"
        );
        let second = sequencer
            .stamp(br#"{"sym":"LT0002","bid":"5.5","ask":5.6,"ts":1}"#, 2)
            .unwrap();
        let third = sequencer
            .stamp(br#"{"sym":"LT0001","px":"100.21","ts":3}"#, 4)
            .unwrap();
        let second = std::str::from_utf8(&second.frame).unwrap();
        assert!(
            second.contains(r#""seq":8,"n":1,"kind":"quote","bid":5.5,"ask":5.6,"#),
            "{second}"
        );
        let third = std::str::from_utf8(&third.frame).unwrap();
        assert!(third.starts_with("id: 9\n"), "{third}");
        assert!(third.contains(r#""n":2,"kind":"trade","px":100.21,"ts":3,"#));
    }

    #[test]
    fn the_load_tester_reads_what_it_needs() {
        let mut sequencer = Sequencer::new(1);
        let event = sequencer
            .stamp(br#"{"sym":"LT0009","px":101.25,"qty":42,"ts":99}"#, 100)
            .unwrap();
        let data_start = memchr::memmem::find(&event.frame, b"data: ").unwrap() + 6;
        let fields = crate::data::TickData::scan(&event.frame[data_start..]);
        assert_eq!(fields.sym, b"LT0009");
        assert_eq!(
            (fields.seq, fields.n, fields.qty, fields.ts, fields.rx),
            (Some(1), Some(1), Some(42), Some(99), Some(100))
        );
    }

    #[test]
    fn bad_lines_are_refused_without_using_a_seq() {
        let mut sequencer = Sequencer::new(1);
        for line in [
            &br#"{"sym":"A","qty":1,"ts":1}"#[..],
            br#"{"sym":"","px":1,"ts":1}"#,
            br#"{"sym":"A B","px":1,"ts":1}"#,
            br#"{"sym":"A","px":-1,"ts":1}"#,
            br#"{"sym":"A","px":1e3,"ts":1}"#,
            br#"{"sym":"A","px":"1.","ts":1}"#,
            br#"{"sym":"A","px":1}"#,
            b"{\"sym\":\"A\",\"px\":1,\"ts\":1",
            b"not json",
        ] {
            assert!(
                sequencer.stamp(line, 0).is_err(),
                "{}",
                String::from_utf8_lossy(line)
            );
        }
        let ok = sequencer.stamp(br#"{"sym":"A","px":1,"ts":1}"#, 0).unwrap();
        assert!(ok.frame.starts_with(b"id: 1\n"));
    }

    #[test]
    fn requests() {
        let head = |target: &str| format!("GET {target} HTTP/1.1\r\nHost: x\r\nAccept: */*");
        assert_eq!(
            parse_request(head("/v1/stream?symbols=*").as_bytes()),
            Request::Stream(Subscription::All)
        );
        assert_eq!(
            parse_request(head("/v1/stream?symbols=%2A").as_bytes()),
            Request::Stream(Subscription::All)
        );
        let Request::Stream(Subscription::Symbols(symbols)) = parse_request(
            head("/v1/stream?x=1&symbols=LT0001%2CLT0002,BINANCE:BTCUSDT").as_bytes(),
        ) else {
            panic!("not a stream");
        };
        let mut symbols: Vec<&str> = symbols.iter().map(|s| &**s).collect();
        symbols.sort_unstable();
        assert_eq!(symbols, ["BINANCE:BTCUSDT", "LT0001", "LT0002"]);
        let sub = Subscription::Symbols(["A".into()].into_iter().collect());
        assert!(sub.wants("A") && !sub.wants("B") && Subscription::All.wants("B"));

        assert_eq!(
            parse_request(head("/metrics").as_bytes()),
            Request::NotFound
        );
        assert_eq!(
            parse_request(head("/v1/stream").as_bytes()),
            Request::Bad("missing symbols")
        );
        assert_eq!(
            parse_request(head("/v1/stream?symbols=A,,B").as_bytes()),
            Request::Bad("bad symbol")
        );
        assert_eq!(
            parse_request(head("/v1/stream?symbols=%zz").as_bytes()),
            Request::Bad("bad escape")
        );
        assert_eq!(
            parse_request(b"POST /v1/stream?symbols=* HTTP/1.1"),
            Request::Bad("method")
        );
        assert_eq!(parse_request(b"garbage"), Request::Bad("request line"));
    }
}
