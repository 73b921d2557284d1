//! An SSE client: opens `GET /v1/stream...`, decodes the chunked body incrementally and parses
//! it as `text/event-stream` following the WHATWG HTML "server-sent events" interpretation rules
//! (fields `id`/`event`/`data`/`retry`, comments, dispatch on a blank line, multi-line data,
//! CR/LF/CRLF line ends, an incomplete event at the end of the stream discarded).
//!
//! The parser is sans-IO ([`SseParser`]); [`SseStream`] feeds it from the socket (or from an
//! HTTP/2 response body, [`SseStream::from_http2`]) and keeps what a test wants to look at
//! besides events: `retry` values, comments, and the first bytes of the body.

use std::collections::VecDeque;
use std::net::SocketAddr;
use std::time::Duration;

use http_body_util::BodyExt;
use hyper::body::Incoming;
use serde_json::Value;
use tokio::net::TcpStream;
use tokio::time::{Instant, timeout_at};

use super::http::{ChunkedDecoder, Conn, Framing, Head, ReadError, Response, Transport};

/// How much of the body [`SseStream::body_prefix`] keeps.
const BODY_PREFIX: usize = 64 * 1024;

/// One dispatched event.
#[derive(Debug, Clone)]
pub struct Event {
    /// The value of the `id` field in this event's block, if it had one.
    pub id: Option<String>,
    /// The stream's last event id buffer at dispatch (what a browser would resume from).
    pub last_event_id: String,
    /// The event type (`message` when the block had no `event` field).
    pub event: String,
    /// The data buffer, lines joined by `\n`, raw text.
    pub data: String,
    /// The raw field lines of the block, in order (comments excluded).
    pub fields: Vec<String>,
}

impl Event {
    /// The data parsed as JSON.
    #[track_caller]
    pub fn json(&self) -> Value {
        serde_json::from_str(&self.data)
            .unwrap_or_else(|err| panic!("event data is not JSON ({err}): {self:?}"))
    }

    /// The `id` field as a number.
    #[track_caller]
    pub fn id(&self) -> u64 {
        self.id
            .as_deref()
            .and_then(|id| id.parse().ok())
            .unwrap_or_else(|| panic!("event has no numeric id: {self:?}"))
    }

    /// A numeric field of the data.
    #[track_caller]
    pub fn number(&self, field: &str) -> u64 {
        self.json()[field]
            .as_u64()
            .unwrap_or_else(|| panic!("event data has no integer {field:?}: {self:?}"))
    }

    /// `seq` of the data.
    #[track_caller]
    pub fn seq(&self) -> u64 {
        self.number("seq")
    }

    /// `n` (per-symbol count) of the data.
    #[track_caller]
    pub fn n(&self) -> u64 {
        self.number("n")
    }

    /// `sym` of the data.
    #[track_caller]
    pub fn sym(&self) -> String {
        self.json()["sym"]
            .as_str()
            .unwrap_or_else(|| panic!("event data has no string sym: {self:?}"))
            .to_owned()
    }

    /// The raw JSON text of a number in the data (`"61837.63000000"`, not an `f64`).
    #[track_caller]
    pub fn raw(&self, field: &str) -> String {
        raw_number(&self.data, field)
            .unwrap_or_else(|| panic!("event data has no number {field:?}: {self:?}"))
            .to_owned()
    }

    /// Names of the fields in the block, in order.
    pub fn field_names(&self) -> Vec<&str> {
        self.fields
            .iter()
            .map(|line| line.split_once(':').map_or(line.as_str(), |(name, _)| name))
            .collect()
    }
}

/// The raw text of the number value of `"field"` in a flat JSON object's text.
pub fn raw_number<'a>(json: &'a str, field: &str) -> Option<&'a str> {
    let key = format!("\"{field}\"");
    let mut from = 0;
    while let Some(at) = json[from..].find(&key) {
        let rest = json[from + at + key.len()..].trim_start();
        if let Some(value) = rest.strip_prefix(':') {
            let value = value.trim_start();
            let end = value
                .find(|c: char| c == ',' || c == '}' || c.is_whitespace())
                .unwrap_or(value.len());
            let number = &value[..end];
            if number.starts_with(|c: char| c == '-' || c.is_ascii_digit()) {
                return Some(number);
            }
        }
        from += at + key.len();
    }
    None
}

/// What the parser produces, in stream order.
#[derive(Debug, Clone)]
pub enum Item {
    /// A dispatched event.
    Event(Event),
    /// A comment line, without the `:` and one leading space.
    Comment(String),
    /// A valid `retry` field (milliseconds).
    Retry(u64),
}

/// Why no further item came.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum End {
    /// Nothing arrived before the deadline; the stream is still open.
    Timeout,
    /// The body ended cleanly (chunked terminator `0\r\n\r\n` read).
    Finished,
    /// The connection closed without the body's terminator.
    Eof,
    /// A socket or framing error.
    Error(String),
}

/// The WHATWG event-stream interpretation, fed with body bytes.
#[derive(Debug, Default)]
pub struct SseParser {
    pending: Vec<u8>,
    started: bool,
    items: VecDeque<Item>,
    data: String,
    event_type: String,
    last_event_id: String,
    block_id: Option<String>,
    block_fields: Vec<String>,
}

impl SseParser {
    /// Feeds body bytes.
    pub fn push(&mut self, bytes: &[u8]) {
        self.pending.extend_from_slice(bytes);
        self.process(false);
    }

    /// The end of the stream: a final lone CR ends a line; any incomplete line or event left
    /// is discarded, as the spec says.
    pub fn finish(&mut self) {
        self.process(true);
        self.pending.clear();
        self.reset_block();
    }

    /// The next complete item.
    pub fn pop(&mut self) -> Option<Item> {
        self.items.pop_front()
    }

    fn process(&mut self, at_end: bool) {
        if !self.started {
            // A leading UTF-8 byte order mark is ignored.
            if self.pending.len() < 3 && !at_end && b"\xEF\xBB\xBF".starts_with(&self.pending) {
                return;
            }
            if self.pending.starts_with(b"\xEF\xBB\xBF") {
                self.pending.drain(..3);
            }
            self.started = true;
        }
        let mut start = 0;
        while let Some(offset) = self.pending[start..]
            .iter()
            .position(|&b| b == b'\r' || b == b'\n')
        {
            let end = start + offset;
            let next = if self.pending[end] == b'\n' {
                end + 1
            } else if end + 1 < self.pending.len() {
                if self.pending[end + 1] == b'\n' {
                    end + 2
                } else {
                    end + 1
                }
            } else if at_end {
                end + 1
            } else {
                // A CR as the last byte so far: wait to see whether an LF follows.
                break;
            };
            let line = String::from_utf8_lossy(&self.pending[start..end]).into_owned();
            self.line(line);
            start = next;
        }
        self.pending.drain(..start);
    }

    fn line(&mut self, line: String) {
        if line.is_empty() {
            self.dispatch();
            return;
        }
        if let Some(comment) = line.strip_prefix(':') {
            let comment = comment.strip_prefix(' ').unwrap_or(comment);
            self.items.push_back(Item::Comment(comment.to_owned()));
            return;
        }
        let (field, value) = match line.split_once(':') {
            Some((field, value)) => (field, value.strip_prefix(' ').unwrap_or(value)),
            None => (line.as_str(), ""),
        };
        match field {
            "event" => self.event_type = value.to_owned(),
            "data" => {
                self.data.push_str(value);
                self.data.push('\n');
            }
            "id" if !value.contains('\0') => {
                self.last_event_id = value.to_owned();
                self.block_id = Some(value.to_owned());
            }
            "retry" if !value.is_empty() && value.bytes().all(|b| b.is_ascii_digit()) => {
                if let Ok(ms) = value.parse() {
                    self.items.push_back(Item::Retry(ms));
                }
            }
            _ => {}
        }
        self.block_fields.push(line);
    }

    fn dispatch(&mut self) {
        if self.data.is_empty() {
            self.reset_block();
            return;
        }
        let mut data = std::mem::take(&mut self.data);
        data.pop(); // the trailing LF
        let event = Event {
            id: self.block_id.take(),
            last_event_id: self.last_event_id.clone(),
            event: if self.event_type.is_empty() {
                "message".to_owned()
            } else {
                std::mem::take(&mut self.event_type)
            },
            data,
            fields: std::mem::take(&mut self.block_fields),
        };
        self.items.push_back(Item::Event(event));
        self.reset_block();
    }

    fn reset_block(&mut self) {
        self.data.clear();
        self.event_type.clear();
        self.block_id = None;
        self.block_fields.clear();
    }
}

/// How the stream's body is delimited, with the decoder state.
enum Body {
    Chunked(ChunkedDecoder),
    Length(usize),
    UntilClose,
    /// An HTTP/2 stream's data frames (its connection is the client's, not this stream's).
    Http2(Incoming),
}

/// An open event stream.
pub struct SseStream {
    /// The HTTP/1.x connection; `None` for an HTTP/2 stream.
    conn: Option<Conn>,
    /// Status and headers of the response.
    pub head: Head,
    body: Body,
    parser: SseParser,
    ended: Option<End>,
    /// Every valid `retry` value seen so far, in order.
    pub retries: Vec<u64>,
    /// Every comment seen so far, in order.
    pub comments: Vec<String>,
    /// The first [`BODY_PREFIX`] bytes of the decoded body, raw.
    pub body_prefix: Vec<u8>,
}

impl SseStream {
    /// Connects over `transport` (plain TCP or TLS) and sends `GET path`; a non-200 answer is
    /// read completely and returned as `Err`.
    pub async fn open(
        transport: &Transport,
        addr: SocketAddr,
        path: &str,
        headers: &[(&str, &str)],
    ) -> Result<SseStream, Response> {
        let deadline = Instant::now() + super::EVENT_TIMEOUT;
        let conn = transport
            .connect(addr, deadline)
            .await
            .unwrap_or_else(|err| panic!("connect to {addr}: {err}"));
        SseStream::open_conn(conn, path, headers).await
    }

    /// Like [`SseStream::open`] on an already connected socket (e.g. one with a small receive
    /// buffer).
    pub async fn open_on(
        stream: TcpStream,
        path: &str,
        headers: &[(&str, &str)],
    ) -> Result<SseStream, Response> {
        SseStream::open_conn(Conn::new(stream), path, headers).await
    }

    /// Like [`SseStream::open`] on an open connection.
    async fn open_conn(
        mut conn: Conn,
        path: &str,
        headers: &[(&str, &str)],
    ) -> Result<SseStream, Response> {
        let deadline = Instant::now() + super::EVENT_TIMEOUT;
        let mut all_headers = vec![("Accept", "text/event-stream")];
        all_headers.extend_from_slice(headers);
        let opened = async {
            conn.send_request("GET", path, &all_headers, deadline)
                .await?;
            conn.read_head(deadline).await
        };
        let head = opened
            .await
            .unwrap_or_else(|err| panic!("GET {path}: no response head: {err}"));
        SseStream::start(conn, head, path).await
    }

    /// The stream whose response `head` was just read from `conn` (a request sent by hand); a
    /// non-200 answer is read completely and returned as `Err`.
    pub async fn start(mut conn: Conn, head: Head, path: &str) -> Result<SseStream, Response> {
        let deadline = Instant::now() + super::EVENT_TIMEOUT;
        if head.status != 200 {
            let body = conn
                .read_body(head.framing("GET"), deadline)
                .await
                .unwrap_or_else(|err| panic!("GET {path}: {} body: {err}", head.status));
            return Err(Response { head, body });
        }
        let body = match head.framing("GET") {
            Framing::Chunked => Body::Chunked(ChunkedDecoder::default()),
            Framing::Length(length) => Body::Length(length),
            Framing::Empty => Body::Length(0),
            Framing::UntilClose => Body::UntilClose,
        };
        Ok(SseStream::new(Some(conn), head, body))
    }

    /// The stream of an HTTP/2 `response`; a non-200 answer is read completely and returned as
    /// `Err`.
    pub async fn from_http2(response: hyper::Response<Incoming>) -> Result<SseStream, Response> {
        let (parts, body) = response.into_parts();
        let headers = parts
            .headers
            .iter()
            .map(|(name, value)| {
                let value = String::from_utf8_lossy(value.as_bytes()).into_owned();
                (name.as_str().to_owned(), value)
            })
            .collect();
        let head = Head {
            status: parts.status.as_u16(),
            headers,
        };
        if head.status != 200 {
            let body = timeout_at(Instant::now() + super::EVENT_TIMEOUT, body.collect())
                .await
                .unwrap_or_else(|_| panic!("{} body timed out", head.status))
                .unwrap_or_else(|err| panic!("{} body: {err}", head.status))
                .to_bytes()
                .to_vec();
            return Err(Response { head, body });
        }
        Ok(SseStream::new(None, head, Body::Http2(body)))
    }

    fn new(conn: Option<Conn>, head: Head, body: Body) -> SseStream {
        SseStream {
            conn,
            head,
            body,
            parser: SseParser::default(),
            ended: None,
            retries: Vec::new(),
            comments: Vec::new(),
            body_prefix: Vec::new(),
        }
    }

    fn conn(&mut self) -> &mut Conn {
        self.conn
            .as_mut()
            .expect("an HTTP/1.x stream (HTTP/2 streams share their client's connection)")
    }

    /// The next item (event, comment or retry), waiting at most `limit`.
    pub async fn next_item(&mut self, limit: Duration) -> Result<Item, End> {
        let deadline = Instant::now() + limit;
        loop {
            if let Some(item) = self.parser.pop() {
                match &item {
                    Item::Retry(ms) => self.retries.push(*ms),
                    Item::Comment(text) => self.comments.push(text.clone()),
                    Item::Event(_) => {}
                }
                return Ok(item);
            }
            if let Some(end) = &self.ended {
                return Err(end.clone());
            }
            let mut bytes = Vec::new();
            let finished = match &mut self.body {
                Body::Http2(body) => match timeout_at(deadline, body.frame()).await {
                    Err(_) => return Err(End::Timeout),
                    Ok(None) => true,
                    Ok(Some(Err(err))) => {
                        self.end(End::Error(err.to_string()));
                        continue;
                    }
                    Ok(Some(Ok(frame))) => {
                        if let Ok(data) = frame.into_data() {
                            bytes.extend_from_slice(&data);
                        }
                        false
                    }
                },
                Body::Chunked(decoder) => {
                    let buf = &mut self.conn.as_mut().expect("HTTP/1.x").buf;
                    if let Err(err) = decoder.decode(buf, &mut bytes) {
                        self.end(End::Error(err.to_string()));
                        continue;
                    }
                    decoder.is_done()
                }
                Body::Length(left) => {
                    let buf = &mut self.conn.as_mut().expect("HTTP/1.x").buf;
                    let take = (*left).min(buf.len());
                    bytes.extend_from_slice(&buf.split_to(take));
                    *left -= take;
                    *left == 0
                }
                Body::UntilClose => {
                    let buf = &mut self.conn.as_mut().expect("HTTP/1.x").buf;
                    bytes.extend_from_slice(&buf.split());
                    false
                }
            };
            if matches!(self.body, Body::Http2(_)) && !finished && bytes.is_empty() {
                // A frame of no data (trailers): read on.
                continue;
            }
            if !bytes.is_empty() {
                let room = BODY_PREFIX.saturating_sub(self.body_prefix.len());
                self.body_prefix
                    .extend_from_slice(&bytes[..room.min(bytes.len())]);
                self.parser.push(&bytes);
                continue;
            }
            if finished {
                self.end(End::Finished);
                continue;
            }
            match self.conn().fill(deadline).await {
                Ok(0) if matches!(self.body, Body::UntilClose) => self.end(End::Finished),
                Ok(0) => self.end(End::Eof),
                Ok(_) => {}
                Err(ReadError::Timeout) => return Err(End::Timeout),
                Err(err) => self.end(End::Error(err.to_string())),
            }
        }
    }

    /// Writes raw bytes on the stream's connection (what a client may send after its request).
    pub async fn send_raw(&mut self, bytes: &[u8]) {
        let deadline = Instant::now() + super::EVENT_TIMEOUT;
        self.conn()
            .send_raw(bytes, deadline)
            .await
            .unwrap_or_else(|err| panic!("write on the stream's connection: {err}"));
    }

    fn end(&mut self, end: End) {
        self.parser.finish();
        self.ended = Some(end);
    }

    /// The next event, skipping (and recording) comments and retry fields.
    pub async fn try_next_event(&mut self, limit: Duration) -> Result<Event, End> {
        let deadline = Instant::now() + limit;
        loop {
            let left = deadline.saturating_duration_since(Instant::now());
            if let Item::Event(event) = self.next_item(left).await? {
                return Ok(event);
            }
        }
    }

    /// The next event; fails the test (naming the caller) if none comes within `limit`.
    #[track_caller]
    pub fn next_event(&mut self, limit: Duration) -> impl Future<Output = Event> + '_ {
        let caller = std::panic::Location::caller();
        async move { self.expect_events(1, limit, caller).await.remove(0) }
    }

    /// The next `count` events, each within `limit`; fails the test (naming the caller) if one
    /// does not come.
    #[track_caller]
    pub fn events(
        &mut self,
        count: usize,
        limit: Duration,
    ) -> impl Future<Output = Vec<Event>> + '_ {
        let caller = std::panic::Location::caller();
        self.expect_events(count, limit, caller)
    }

    async fn expect_events(
        &mut self,
        count: usize,
        limit: Duration,
        caller: &'static std::panic::Location<'static>,
    ) -> Vec<Event> {
        let mut events = Vec::with_capacity(count);
        while events.len() < count {
            match self.try_next_event(limit).await {
                Ok(event) => events.push(event),
                Err(end) => panic!(
                    "{caller}: expected event {} of {count} within {limit:?}, got {end:?} \
                     (events so far {events:?}, retries {:?}, comments {:?})",
                    events.len() + 1,
                    self.retries,
                    self.comments
                ),
            }
        }
        events
    }

    /// Every item until the stream ends, each within `limit`, and how it ended
    /// ([`End::Timeout`] if an item did not come in time).
    pub async fn rest(&mut self, limit: Duration) -> (Vec<Item>, End) {
        let mut items = Vec::new();
        loop {
            match self.next_item(limit).await {
                Ok(item) => items.push(item),
                Err(end) => return (items, end),
            }
        }
    }

    /// Reads the rest of a stream the server drains, each item within `limit`: the body must
    /// end cleanly, with a `retry:` hint as the last thing before its end (comments aside).
    /// Fails the test (naming the caller) otherwise; returns the items.
    #[track_caller]
    pub fn drained(&mut self, limit: Duration) -> impl Future<Output = Vec<Item>> + '_ {
        let caller = std::panic::Location::caller();
        async move {
            let (tail, end) = self.rest(limit).await;
            assert_eq!(
                end,
                End::Finished,
                "{caller}: the body must end; items {tail:?}"
            );
            let last = tail.iter().rev().find(|i| !matches!(i, Item::Comment(_)));
            assert!(
                matches!(last, Some(Item::Retry(_))),
                "{caller}: the body ends with a retry hint; items {tail:?}"
            );
            tail
        }
    }

    /// After [`End::Finished`]: waits for the server to close the connection (EOF, no further
    /// bytes, no reset).
    pub async fn wait_closed(&mut self, limit: Duration) -> Result<(), String> {
        if self.ended != Some(End::Finished) {
            return Err(format!("body has not finished: {:?}", self.ended));
        }
        let deadline = Instant::now() + limit;
        let conn = self.conn();
        loop {
            if !conn.buf.is_empty() {
                return Err(format!(
                    "bytes after the end of the body: {:?}",
                    String::from_utf8_lossy(&conn.buf)
                ));
            }
            match conn.fill(deadline).await {
                Ok(0) => return Ok(()),
                Ok(_) => {}
                Err(err) => return Err(format!("connection not closed cleanly: {err}")),
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use bytes::BytesMut;

    use super::*;

    fn parse(pieces: &[&[u8]]) -> Vec<Item> {
        let mut parser = SseParser::default();
        for piece in pieces {
            parser.push(piece);
        }
        parser.finish();
        std::iter::from_fn(|| parser.pop()).collect()
    }

    #[test]
    fn parser_follows_the_whatwg_rules() {
        let items = parse(&[
            b"\xEF\xBB\xBFretry: 2000\n\n: hb\n\nid: 7\nevent: tick\ndata: {\"a\":\n",
            b"data: 1}\r",
            b"\n\r\ndata:no space\n",
            b"retry: x\n\ndata: cut",
        ]);
        assert!(matches!(items[0], Item::Retry(2000)), "{items:?}");
        assert!(
            matches!(&items[1], Item::Comment(text) if text == "hb"),
            "{items:?}"
        );
        let Item::Event(first) = &items[2] else {
            panic!("{items:?}")
        };
        assert_eq!(first.id.as_deref(), Some("7"));
        assert_eq!(first.event, "tick");
        assert_eq!(first.data, "{\"a\":\n1}");
        assert_eq!(first.field_names(), ["id", "event", "data", "data"]);
        let Item::Event(second) = &items[3] else {
            panic!("{items:?}")
        };
        // No id field in its block, but the last event id buffer persists; default type.
        assert_eq!(second.id, None);
        assert_eq!(second.last_event_id, "7");
        assert_eq!(second.event, "message");
        assert_eq!(second.data, "no space");
        // `retry: x` is ignored; the unterminated last event is discarded.
        assert_eq!(items.len(), 4, "{items:?}");
    }

    #[test]
    fn raw_numbers_keep_their_text() {
        let data = r#"{"sym":"A","px":61837.63000000,"qty": 0.00010000,"n":3}"#;
        assert_eq!(raw_number(data, "px"), Some("61837.63000000"));
        assert_eq!(raw_number(data, "qty"), Some("0.00010000"));
        assert_eq!(raw_number(data, "n"), Some("3"));
        assert_eq!(raw_number(data, "sym"), None);
        assert_eq!(raw_number(data, "bid"), None);
    }

    #[test]
    fn chunked_decoder_is_incremental() {
        let wire = b"7\r\nretry: \r\n5;ext=1\r\n2000\n\r\n0\r\nTrailer: x\r\n\r\n";
        let mut decoder = ChunkedDecoder::default();
        let mut buf = BytesMut::new();
        let mut body = Vec::new();
        for byte in wire {
            assert!(!decoder.is_done());
            buf.extend_from_slice(&[*byte]);
            decoder
                .decode(&mut buf, &mut body)
                .expect("valid chunked body");
        }
        assert!(decoder.is_done());
        assert_eq!(body, b"retry: 2000\n");
        assert!(buf.is_empty());
    }
}
