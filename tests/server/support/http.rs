//! A minimal HTTP/1.1 client over a tokio `TcpStream`, or over TLS ([`Transport`]).
//!
//! Enough to send one request and read the status line, the headers and a body framed by
//! `Content-Length`, by the chunked transfer coding, or by the end of the connection. It is
//! written by hand so the tests see exactly what the server put on the wire, and so the SSE
//! reader can decode a chunked body incrementally with [`ChunkedDecoder`].

use std::fmt;
use std::io;
use std::net::SocketAddr;
use std::time::Duration;

use bytes::{Buf, BytesMut};
use serde_json::Value;
use tokio::io::{AsyncRead, AsyncReadExt, AsyncWrite, AsyncWriteExt};
use tokio::net::TcpStream;
use tokio::time::{Instant, timeout_at};

use super::tls::Trust;

/// How long one plain request may take, from connect to the last body byte.
pub const REQUEST_TIMEOUT: Duration = Duration::from_secs(10);
/// Largest response head accepted; a bigger one is a server bug, not something to wait for.
const MAX_HEAD: usize = 64 * 1024;
/// Longest chunk-size line accepted (hex digits and extensions).
const MAX_CHUNK_LINE: usize = 1024;

/// Why a response could not be read.
#[derive(Debug)]
pub enum ReadError {
    /// Nothing (more) arrived before the deadline.
    Timeout,
    /// The server closed the connection before the response was complete.
    Closed,
    /// A socket error (reset, refused).
    Io(io::Error),
    /// The bytes are not HTTP/1.1.
    Malformed(String),
}

impl fmt::Display for ReadError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            ReadError::Timeout => f.write_str("timed out"),
            ReadError::Closed => f.write_str("connection closed before the response was complete"),
            ReadError::Io(err) => write!(f, "I/O error: {err}"),
            ReadError::Malformed(what) => write!(f, "malformed response: {what}"),
        }
    }
}

impl From<io::Error> for ReadError {
    fn from(err: io::Error) -> Self {
        ReadError::Io(err)
    }
}

/// Status line and headers of a response.
#[derive(Debug, Clone)]
pub struct Head {
    /// The status code.
    pub status: u16,
    /// Headers in arrival order, names lowercased.
    pub headers: Vec<(String, String)>,
}

impl Head {
    /// The first header named `name` (case-insensitive).
    pub fn header(&self, name: &str) -> Option<&str> {
        let name = name.to_ascii_lowercase();
        self.headers
            .iter()
            .find(|(key, _)| *key == name)
            .map(|(_, value)| value.as_str())
    }

    /// How the body that follows this head is delimited (RFC 9112 section 6.3).
    pub fn framing(&self, method: &str) -> Framing {
        if method == "HEAD" || self.status < 200 || self.status == 204 || self.status == 304 {
            return Framing::Empty;
        }
        if self
            .header("transfer-encoding")
            .is_some_and(|coding| coding.to_ascii_lowercase().contains("chunked"))
        {
            return Framing::Chunked;
        }
        match self.header("content-length").map(str::parse) {
            Some(Ok(length)) => Framing::Length(length),
            _ => Framing::UntilClose,
        }
    }
}

/// How a body is delimited.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Framing {
    /// No body.
    Empty,
    /// `Content-Length` bytes.
    Length(usize),
    /// Chunked transfer coding.
    Chunked,
    /// Everything until the server closes the connection.
    UntilClose,
}

/// A complete response.
#[derive(Debug)]
pub struct Response {
    /// Status and headers.
    pub head: Head,
    /// The decoded body (chunked coding removed).
    pub body: Vec<u8>,
}

impl Response {
    /// The status code.
    pub fn status(&self) -> u16 {
        self.head.status
    }

    /// The first header named `name` (case-insensitive).
    pub fn header(&self, name: &str) -> Option<&str> {
        self.head.header(name)
    }

    /// The body as text (lossy).
    pub fn text(&self) -> String {
        String::from_utf8_lossy(&self.body).into_owned()
    }

    /// The body as JSON; fails the test if it is not.
    #[track_caller]
    pub fn json(&self) -> Value {
        serde_json::from_slice(&self.body).unwrap_or_else(|err| {
            panic!(
                "body of a {} response is not JSON ({err}): {}",
                self.status(),
                self.text()
            )
        })
    }
}

/// How a client reaches the server.
#[derive(Clone, Default)]
pub enum Transport {
    /// Plain TCP.
    #[default]
    Plain,
    /// TLS (ALPN `http/1.1`) to a server whose certificate is one of these.
    Tls(Trust),
}

impl Transport {
    /// Connects to `addr` (and completes the TLS handshake, if any).
    pub async fn connect(&self, addr: SocketAddr, deadline: Instant) -> Result<Conn, ReadError> {
        let stream = match timeout_at(deadline, TcpStream::connect(addr)).await {
            Ok(stream) => stream?,
            Err(_) => return Err(ReadError::Timeout),
        };
        match self {
            Transport::Plain => Ok(Conn::new(stream)),
            Transport::Tls(trust) => {
                let handshake = trust.handshake(stream, &[b"http/1.1"]);
                match timeout_at(deadline, handshake).await {
                    Ok(stream) => Ok(Conn::over(Box::new(stream?), addr)),
                    Err(_) => Err(ReadError::Timeout),
                }
            }
        }
    }
}

/// What a [`Conn`] reads and writes: a socket or a TLS stream over one.
pub trait ClientIo: AsyncRead + AsyncWrite + Unpin + Send {}

impl<T: AsyncRead + AsyncWrite + Unpin + Send> ClientIo for T {}

/// A client connection with its read buffer.
pub struct Conn {
    stream: Box<dyn ClientIo>,
    /// The server's address (the `Host` header).
    peer: SocketAddr,
    /// Bytes read from the socket and not consumed yet.
    pub buf: BytesMut,
}

impl Conn {
    /// Connects to `addr` over plain TCP.
    pub async fn connect(addr: SocketAddr, deadline: Instant) -> Result<Conn, ReadError> {
        Transport::Plain.connect(addr, deadline).await
    }

    /// Wraps an already connected stream.
    pub fn new(stream: TcpStream) -> Conn {
        let peer = stream
            .peer_addr()
            .unwrap_or_else(|err| panic!("a connected socket has a peer: {err}"));
        Conn::over(Box::new(stream), peer)
    }

    /// Wraps a connected stream of any kind to `peer`.
    pub fn over(stream: Box<dyn ClientIo>, peer: SocketAddr) -> Conn {
        Conn {
            stream,
            peer,
            buf: BytesMut::with_capacity(16 * 1024),
        }
    }

    /// Writes one request. `headers` are added after `Host`.
    pub async fn send_request(
        &mut self,
        method: &str,
        path: &str,
        headers: &[(&str, &str)],
        deadline: Instant,
    ) -> Result<(), ReadError> {
        let host = self.peer;
        let mut request = format!("{method} {path} HTTP/1.1\r\nHost: {host}\r\n");
        for (name, value) in headers {
            request.push_str(&format!("{name}: {value}\r\n"));
        }
        if method != "GET" && method != "HEAD" {
            request.push_str("Content-Length: 0\r\n");
        }
        request.push_str("\r\n");
        match timeout_at(deadline, self.stream.write_all(request.as_bytes())).await {
            Ok(written) => Ok(written?),
            Err(_) => Err(ReadError::Timeout),
        }
    }

    /// Writes raw bytes (a request written by hand, or anything else a client might send).
    pub async fn send_raw(&mut self, bytes: &[u8], deadline: Instant) -> Result<(), ReadError> {
        match timeout_at(deadline, self.stream.write_all(bytes)).await {
            Ok(written) => Ok(written?),
            Err(_) => Err(ReadError::Timeout),
        }
    }

    /// Reads more bytes into [`Conn::buf`]; `Ok(0)` is the end of the connection.
    /// Cancel-safe: bytes are either appended to the buffer or not read at all.
    pub async fn fill(&mut self, deadline: Instant) -> Result<usize, ReadError> {
        self.buf.reserve(16 * 1024);
        match timeout_at(deadline, self.stream.read_buf(&mut self.buf)).await {
            Ok(read) => Ok(read?),
            Err(_) => Err(ReadError::Timeout),
        }
    }

    /// Reads a response head, skipping interim (1xx) responses.
    pub async fn read_head(&mut self, deadline: Instant) -> Result<Head, ReadError> {
        loop {
            if let Some(end) = find(&self.buf, b"\r\n\r\n") {
                let head = parse_head(&self.buf[..end])?;
                self.buf.advance(end + 4);
                if head.status >= 200 {
                    return Ok(head);
                }
                continue;
            }
            if self.buf.len() > MAX_HEAD {
                return Err(ReadError::Malformed(format!(
                    "no end of head within {MAX_HEAD} bytes"
                )));
            }
            if self.fill(deadline).await? == 0 {
                return Err(ReadError::Closed);
            }
        }
    }

    /// Sends one request (no extra headers) and reads its whole response, leaving the
    /// connection open for the next one.
    pub async fn exchange(
        &mut self,
        method: &str,
        path: &str,
        deadline: Instant,
    ) -> Result<Response, ReadError> {
        self.send_request(method, path, &[], deadline).await?;
        let head = self.read_head(deadline).await?;
        let body = self.read_body(head.framing(method), deadline).await?;
        Ok(Response { head, body })
    }

    /// Reads a whole body delimited by `framing`.
    pub async fn read_body(
        &mut self,
        framing: Framing,
        deadline: Instant,
    ) -> Result<Vec<u8>, ReadError> {
        match framing {
            Framing::Empty => Ok(Vec::new()),
            Framing::Length(length) => {
                while self.buf.len() < length {
                    if self.fill(deadline).await? == 0 {
                        return Err(ReadError::Closed);
                    }
                }
                Ok(self.buf.split_to(length).to_vec())
            }
            Framing::Chunked => {
                let mut decoder = ChunkedDecoder::default();
                let mut body = Vec::new();
                loop {
                    decoder.decode(&mut self.buf, &mut body)?;
                    if decoder.is_done() {
                        return Ok(body);
                    }
                    if self.fill(deadline).await? == 0 {
                        return Err(ReadError::Closed);
                    }
                }
            }
            Framing::UntilClose => {
                while self.fill(deadline).await? > 0 {}
                Ok(self.buf.split().to_vec())
            }
        }
    }
}

/// Sends one request with `Connection: close` and reads the whole response.
pub async fn request(
    addr: SocketAddr,
    method: &str,
    path: &str,
    headers: &[(&str, &str)],
    limit: Duration,
) -> Result<Response, ReadError> {
    request_via(&Transport::Plain, addr, method, path, headers, limit).await
}

/// [`request`] over `transport`.
pub async fn request_via(
    transport: &Transport,
    addr: SocketAddr,
    method: &str,
    path: &str,
    headers: &[(&str, &str)],
    limit: Duration,
) -> Result<Response, ReadError> {
    let deadline = Instant::now() + limit;
    let mut conn = transport.connect(addr, deadline).await?;
    let mut all_headers = headers.to_vec();
    all_headers.push(("Connection", "close"));
    // A server may answer (and stop reading) before a huge request is fully written; the answer
    // is what matters, so a failed write is reported only if no response follows.
    let sent = conn
        .send_request(method, path, &all_headers, deadline)
        .await;
    let head = match conn.read_head(deadline).await {
        Ok(head) => head,
        Err(err) => return Err(sent.err().unwrap_or(err)),
    };
    let body = conn.read_body(head.framing(method), deadline).await?;
    Ok(Response { head, body })
}

/// Parses a status line and header lines (without the final blank line).
fn parse_head(raw: &[u8]) -> Result<Head, ReadError> {
    let text = std::str::from_utf8(raw)
        .map_err(|_| ReadError::Malformed("response head is not UTF-8".into()))?;
    let mut lines = text.split("\r\n");
    let status_line = lines.next().unwrap_or_default();
    let mut parts = status_line.splitn(3, ' ');
    let version = parts.next().unwrap_or_default();
    if !version.starts_with("HTTP/1.") {
        return Err(ReadError::Malformed(format!("status line {status_line:?}")));
    }
    let status = parts
        .next()
        .and_then(|code| code.parse().ok())
        .ok_or_else(|| ReadError::Malformed(format!("status line {status_line:?}")))?;
    let mut headers = Vec::new();
    for line in lines {
        let (name, value) = line
            .split_once(':')
            .ok_or_else(|| ReadError::Malformed(format!("header line {line:?}")))?;
        headers.push((name.trim().to_ascii_lowercase(), value.trim().to_owned()));
    }
    Ok(Head { status, headers })
}

/// Position of `needle` in `haystack`.
fn find(haystack: &[u8], needle: &[u8]) -> Option<usize> {
    haystack
        .windows(needle.len())
        .position(|window| window == needle)
}

/// Incremental decoder of the chunked transfer coding (RFC 9112 section 7.1).
#[derive(Debug, Default)]
pub struct ChunkedDecoder {
    state: ChunkState,
}

#[derive(Debug, Default, Clone, Copy, PartialEq, Eq)]
enum ChunkState {
    /// Expecting a chunk-size line.
    #[default]
    Size,
    /// Inside chunk data, this many bytes left.
    Data(usize),
    /// Expecting the CRLF after chunk data.
    DataEnd,
    /// After the last (zero-size) chunk: trailer lines until a blank line.
    Trailers,
    /// The terminating blank line has been read: the body ended cleanly.
    Done,
}

impl ChunkedDecoder {
    /// True once the last chunk and the blank line after the trailers have been read.
    pub fn is_done(&self) -> bool {
        self.state == ChunkState::Done
    }

    /// Consumes what it can from `buf`, appending body bytes to `out`; keeps incomplete parts in
    /// `buf` for the next call.
    pub fn decode(&mut self, buf: &mut BytesMut, out: &mut Vec<u8>) -> Result<(), ReadError> {
        loop {
            match self.state {
                ChunkState::Size => {
                    let Some(end) = find(buf, b"\r\n") else {
                        if buf.len() > MAX_CHUNK_LINE {
                            return Err(ReadError::Malformed("chunk-size line too long".into()));
                        }
                        return Ok(());
                    };
                    let line = String::from_utf8_lossy(&buf[..end]).into_owned();
                    let digits = line.split(';').next().unwrap_or_default().trim();
                    let size = usize::from_str_radix(digits, 16)
                        .map_err(|_| ReadError::Malformed(format!("chunk-size line {line:?}")))?;
                    buf.advance(end + 2);
                    self.state = if size == 0 {
                        ChunkState::Trailers
                    } else {
                        ChunkState::Data(size)
                    };
                }
                ChunkState::Data(left) => {
                    if buf.is_empty() {
                        return Ok(());
                    }
                    let take = left.min(buf.len());
                    out.extend_from_slice(&buf[..take]);
                    buf.advance(take);
                    self.state = if take == left {
                        ChunkState::DataEnd
                    } else {
                        ChunkState::Data(left - take)
                    };
                }
                ChunkState::DataEnd => {
                    if buf.len() < 2 {
                        return Ok(());
                    }
                    if &buf[..2] != b"\r\n" {
                        return Err(ReadError::Malformed(
                            "chunk data not followed by CRLF".into(),
                        ));
                    }
                    buf.advance(2);
                    self.state = ChunkState::Size;
                }
                ChunkState::Trailers => {
                    let Some(end) = find(buf, b"\r\n") else {
                        return Ok(());
                    };
                    buf.advance(end + 2);
                    if end == 0 {
                        self.state = ChunkState::Done;
                    }
                }
                ChunkState::Done => return Ok(()),
            }
        }
    }
}
