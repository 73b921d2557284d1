//! One SSE client: connect, subscribe, read and account every event, resume when told to.
//!
//! It reads a [`Connection`]: plain TCP, or TLS over it with `--tls` ([`crate::transport`]);
//! the handshake is part of the connect, inside its timeout. With `--http2` it reads instead
//! the DATA frames of its response body, one frame per poll, on a stream of a connection it
//! shares with the clients of the same [`FleetConfig::connection_of`]; a storm drops the
//! stream (`RST_STREAM`) and resumes on a new one. Everything below holds for all of them,
//! except the slow role, which is HTTP/1.1 only.
//!
//! A client task runs on its fleet thread's current-thread runtime. Each poll reads into the
//! thread's shared buffer (borrowed for that poll only, never across an await) and parses what
//! arrived right there ([`crate::sse`], [`crate::data`], [`crate::ledger`]): no per-event
//! allocation, no copy beyond the kernel's, one clock read and one `read()` per wake-up (a read
//! that does not fill the buffer tells tokio the socket is drained). Work per wake-up is bounded
//! by the buffer (64 KiB) and tokio's cooperative budget. Its [`Ledger`] lives as long as the
//! client, so a reconnect with `Last-Event-ID` is checked against what came before it.
//!
//! Roles: a fast client reads everything; a slow one reads a budget of bytes every
//! `SLOW_TICK`; a paused one reads the response head and then nothing. A server that ends a
//! stream gets the browser treatment: reconnect after the `retry:` hint with `Last-Event-ID`,
//! at most `MAX_AUTO_RECONNECTS` times; with `--reconnect-on-error` so does a broken connection
//! (a reset, an error mid-stream, a reconnect that failed), as a browser's `EventSource` does
//! when the node behind a load balancer dies (`next_after`).

use std::io;
use std::pin::Pin;
use std::rc::Rc;
use std::sync::Arc;
use std::sync::atomic::Ordering;
use std::task::{Context, Poll};
use std::time::{Duration, Instant};

use http_body_util::Empty;
use hyper::body::{Body, Incoming};
use tokio::io::{AsyncRead, AsyncWriteExt, ReadBuf};

use crate::clock::epoch_ns;
use crate::data::TickData;
use crate::feeder::NCHAN_FIREHOSE_CHANNEL;
use crate::fleet::{ConnectionSummary, Control, FleetConfig, Group, Local};
use crate::ledger::{EventKind, Ledger};
use crate::mix::{ClientPlan, Role, Subscription};
use crate::scenario::{LatencyFrom, Target};
use crate::sse::{DecodeError, Item, Progress, ResponseDecoder};
use crate::transport::{self, Connection, Http2};

/// How often a slow client reads its budget.
const SLOW_TICK: Duration = Duration::from_millis(100);
/// Automatic reconnects per client, after the server ended a stream (or, with
/// `--reconnect-on-error`, after a broken connection or failed reconnect): a broken server must
/// not turn the run into a reconnect loop.
const MAX_AUTO_RECONNECTS: u32 = 3;
/// The reconnect delay when the server sent no `retry:` hint.
const DEFAULT_RETRY: Duration = Duration::from_secs(1);
/// Longest `retry:` delay honoured (the run is bounded in time).
const MAX_RETRY: Duration = Duration::from_secs(5);

/// Why a connection attempt failed (the report counts them by [`Failure::reason`]).
#[derive(Debug)]
enum Failure {
    Connect(io::Error),
    Tls(io::Error),
    Http2(hyper::Error),
    Io(io::Error),
    Timeout,
    Closed,
    Response(DecodeError),
}

impl Failure {
    fn reason(&self) -> String {
        match self {
            Failure::Connect(err) => format!("connect: {}", err.kind()),
            Failure::Tls(err) => transport::handshake_failure(err),
            Failure::Http2(err) => match std::error::Error::source(err) {
                Some(cause) => format!("http2: {err}: {cause}"),
                None => format!("http2: {err}"),
            },
            Failure::Io(err) => format!("io: {}", err.kind()),
            Failure::Timeout => "timeout".to_owned(),
            Failure::Closed => "closed before the response head".to_owned(),
            Failure::Response(DecodeError::Status(status)) => format!("status {status}"),
            Failure::Response(err) => format!("protocol: {err}"),
        }
    }
}

/// Why a connection's reading stopped.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Ended {
    /// The reconnect storm: drop and resume.
    Storm,
    /// The server ended the stream.
    Closed,
    /// A socket error or a malformed stream: this client is done.
    Broken,
}

/// What a client does once a connection stopped being read.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Next {
    /// The storm: resume at once with `Last-Event-ID` (resume times measured).
    Resume,
    /// Reconnect after the `retry:` delay with `Last-Event-ID`, as a browser does.
    Retry {
        /// Whether the resume times are measured (`--reconnect-on-error`).
        measured: bool,
    },
    /// This client is done.
    GiveUp,
}

/// The reconnect policy: a stream the server ended is resumed after its `retry:` delay, at most
/// [`MAX_AUTO_RECONNECTS`] times per client; a broken connection (or a reconnect that failed)
/// ends the client, unless `on_error` (`--reconnect-on-error`), which treats it like a close,
/// as a browser's `EventSource` does, and measures every such resume. `done`: automatic
/// reconnects this client already made.
fn next_after(ended: Ended, on_error: bool, done: u32) -> Next {
    match ended {
        Ended::Storm => Next::Resume,
        Ended::Broken if !on_error => Next::GiveUp,
        Ended::Closed | Ended::Broken if done >= MAX_AUTO_RECONNECTS => Next::GiveUp,
        Ended::Closed | Ended::Broken => Next::Retry { measured: on_error },
    }
}

/// What a client reads its events from.
enum Stream {
    /// An HTTP/1.1 response on its own connection, read with `read()`.
    Http1(Connection),
    /// An HTTP/2 response body (the head is through), read frame by frame.
    Http2(Incoming),
}

/// What one read did.
enum Read {
    /// Bytes were read and parsed.
    Data,
    /// Nothing to read right now.
    WouldBlock,
    /// The server closed the connection (or ended the body).
    Eof,
}

/// A reconnect in progress: when the old connection was dropped.
#[derive(Debug, Clone, Copy)]
struct Resume {
    dropped_ns: u64,
    first_seen: bool,
    /// A storm reconnect, or any automatic one with `--reconnect-on-error`: its resume times
    /// are reported.
    measured: bool,
}

/// A client's state across its connections.
struct Client {
    plan: ClientPlan,
    group: Group,
    config: Arc<FleetConfig>,
    control: Arc<Control>,
    local: Rc<Local>,
    ledger: Ledger,
    decoder: ResponseDecoder,
    /// Whether the current connection's response head is through.
    head_done: bool,
    /// The last event id seen on any of its connections (or the configured first one).
    last_id: Vec<u8>,
    /// Wall clock of the first subscription: ticks stamped earlier are not counted as latency
    /// (nchan's newest message, a replay from `Last-Event-ID: 0`).
    subscribed_ns: u64,
    resume: Option<Resume>,
    stormed: bool,
    retry: Duration,
    bytes: u64,
    connected: bool,
    counted_complete: bool,
}

/// Runs one client until [`Control::stop`], then files its summary in the thread's stats.
pub async fn run(
    plan: ClientPlan,
    config: Arc<FleetConfig>,
    control: Arc<Control>,
    local: Rc<Local>,
    start_at: Option<Instant>,
) {
    let rules = match plan.subscription {
        Subscription::Firehose => config.firehose_rules,
        Subscription::Symbols(_) => config.symbols_rules,
    };
    let ledger = Ledger::new(rules, &plan.subscription, &config.expected);
    let last_id = config
        .last_event_id
        .as_deref()
        .unwrap_or("")
        .as_bytes()
        .to_vec();
    let mut client = Client {
        group: Group::of(&plan),
        plan,
        config,
        control,
        local,
        ledger,
        decoder: ResponseDecoder::new(),
        head_done: false,
        last_id,
        subscribed_ns: 0,
        resume: None,
        stormed: false,
        retry: DEFAULT_RETRY,
        bytes: 0,
        connected: false,
        counted_complete: false,
    };
    if client.ledger.is_complete() {
        client.note_complete();
    }
    let stop = client.control.stop.clone();
    tokio::select! {
        _ = stop.cancelled() => {}
        _ = client.lifetime(start_at) => {
            // Done early (failed, or the server went away): the books close with everyone
            // else's, once the feed totals are known.
            stop.cancelled().await;
        }
    }
    client.finish();
}

impl Client {
    /// Connects, then reads by role until the stream is over for good.
    async fn lifetime(&mut self, start_at: Option<Instant>) {
        if let Some(at) = start_at {
            tokio::time::sleep_until(at.into()).await;
        }
        let first = {
            let local = Rc::clone(&self.local);
            let _permit = local.gate.acquire().await;
            self.subscribed_ns = epoch_ns();
            self.open_bounded().await
        };
        self.control.settled.fetch_add(1, Ordering::Relaxed);
        let stream = match first {
            Ok(stream) => {
                self.connected = true;
                self.control.connected.fetch_add(1, Ordering::Relaxed);
                stream
            }
            Err(failure) => {
                *self
                    .local
                    .stats
                    .borrow_mut()
                    .failures
                    .entry(failure.reason())
                    .or_default() += 1;
                self.give_up();
                return;
            }
        };
        let mut auto_reconnects = 0;
        // `None` after a reconnect that failed.
        let mut stream = Some(stream);
        loop {
            let ended = match (stream.as_mut(), self.plan.role) {
                (None, _) => Ended::Broken,
                (Some(stream), Role::Fast) => self.read_fast(stream).await,
                (Some(stream), Role::Slow) => self.read_slow(stream).await,
                (Some(_), Role::Paused) => std::future::pending::<Ended>().await,
            };
            let ended_ns = epoch_ns();
            if let Ended::Closed = ended {
                self.local.stats.borrow_mut().server_closes += 1;
            }
            let measured = match next_after(ended, self.config.reconnect_on_error, auto_reconnects)
            {
                Next::Resume => true,
                Next::Retry { measured } => {
                    auto_reconnects += 1;
                    if let Ended::Broken = ended {
                        self.local.stats.borrow_mut().reconnects.after_error += 1;
                    }
                    drop(stream.take());
                    tokio::time::sleep(self.retry.min(MAX_RETRY)).await;
                    measured
                }
                Next::GiveUp => break,
            };
            drop(stream.take());
            if !self.decoder.last_id().is_empty() {
                self.last_id = self.decoder.last_id().to_vec();
            }
            // After a failed reconnect the resume still counts from the first drop.
            let dropped_ns = match self.resume {
                Some(r) if !r.first_seen && measured => r.dropped_ns,
                _ => ended_ns,
            };
            self.resume = Some(Resume {
                dropped_ns,
                first_seen: false,
                measured,
            });
            self.local.stats.borrow_mut().reconnects.attempted += 1;
            match self.open_bounded().await {
                Ok(next) => {
                    self.local.stats.borrow_mut().reconnects.ok += 1;
                    stream = Some(next);
                }
                Err(failure) => {
                    let mut stats = self.local.stats.borrow_mut();
                    stats.reconnects.failed += 1;
                    *stats
                        .reconnect_failures
                        .entry(failure.reason())
                        .or_default() += 1;
                }
            }
        }
        self.give_up();
    }

    /// Reads as fast as events come, until the stream ends or the storm hits (for a client
    /// that takes part in it and has not reconnected yet).
    async fn read_fast(&mut self, stream: &mut Stream) -> Ended {
        let storm = self.control.storm.clone();
        let storm = storm.cancelled();
        tokio::pin!(storm);
        let in_storm = self.plan.reconnects && !self.stormed;
        loop {
            let outcome = tokio::select! {
                _ = &mut storm, if in_storm => None,
                outcome = std::future::poll_fn(|cx| self.poll_read(cx, stream)) => Some(outcome),
            };
            match outcome {
                None => {
                    self.stormed = true;
                    return Ended::Storm;
                }
                Some(Ok(Read::Data | Read::WouldBlock)) => {}
                Some(Ok(Read::Eof)) => return Ended::Closed,
                Some(Err(_)) => return Ended::Broken,
            }
        }
    }

    /// Reads at most the slow rate: a budget of bytes every [`SLOW_TICK`].
    async fn read_slow(&mut self, stream: &mut Stream) -> Ended {
        let Stream::Http1(stream) = stream else {
            // Refused by the flags (`--http2` with slow clients): a whole DATA frame cannot be
            // read by the budget.
            return Ended::Broken;
        };
        let per_tick = (self.config.slow_rate as f64 * SLOW_TICK.as_secs_f64()).max(1.0) as usize;
        let mut ticker = tokio::time::interval(SLOW_TICK);
        ticker.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        loop {
            ticker.tick().await;
            let mut budget = per_tick;
            while budget > 0 {
                let before = self.bytes;
                match self.try_read(stream, budget) {
                    Ok(Read::Data) => {
                        budget = budget.saturating_sub((self.bytes - before) as usize)
                    }
                    Ok(Read::WouldBlock) => break,
                    Ok(Read::Eof) => return Ended::Closed,
                    Err(_) => return Ended::Broken,
                }
            }
        }
    }

    /// Connects and reads the response head within the connect timeout.
    async fn open_bounded(&mut self) -> Result<Stream, Failure> {
        match tokio::time::timeout(self.config.connect_timeout, self.open()).await {
            Ok(outcome) => outcome,
            Err(_) => Err(Failure::Timeout),
        }
    }

    /// Connects (and shakes hands, with TLS), sends the request (with `Last-Event-ID` if there
    /// is one), reads the head (and accounts whatever events came with it).
    async fn open(&mut self) -> Result<Stream, Failure> {
        if self.config.http2_streams.is_some() {
            return self.open_http2().await;
        }
        let rcvbuf = (self.plan.role != Role::Fast).then_some(self.config.slow_rcvbuf);
        let socket = self
            .config
            .dialer
            .connect(self.plan.index, rcvbuf)
            .await
            .map_err(Failure::Connect)?;
        let mut stream = match &self.config.tls {
            None => Connection::Plain(socket),
            Some(tls) => {
                let stream = tls.handshake(socket).await.map_err(Failure::Tls)?;
                self.note_session(&stream);
                stream
            }
        };
        let request = request(&self.config, &self.plan.subscription, &self.last_id);
        stream.write_all(&request).await.map_err(Failure::Io)?;
        // TLS: the request's record out now. Plain TCP: nothing to do.
        stream.flush().await.map_err(Failure::Io)?;
        self.decoder = ResponseDecoder::new();
        self.head_done = false;
        while !self.head_done {
            // A slow client reads its head at full speed too: it is small.
            if let Read::Eof =
                std::future::poll_fn(|cx| self.poll_read_http1(cx, &mut stream)).await?
            {
                if self.head_done {
                    break;
                }
                return Err(Failure::Closed);
            }
        }
        Ok(Stream::Http1(stream))
    }

    /// Opens a stream on the shared HTTP/2 connection (dialing it first if this client is the
    /// first of its group, or the connection is gone) and waits for the response head.
    async fn open_http2(&mut self) -> Result<Stream, Failure> {
        let h2 = self.http2_connection().await?;
        let path = path(&self.config, &self.plan.subscription);
        let mut uri = Vec::with_capacity(path.len() + 64);
        uri.extend_from_slice(b"https://");
        uri.extend_from_slice(self.config.host.as_bytes());
        uri.extend_from_slice(&path);
        let mut request = hyper::Request::get(uri.as_slice())
            .header(hyper::header::ACCEPT, "text/event-stream")
            .header(hyper::header::CACHE_CONTROL, "no-cache");
        if !self.last_id.is_empty() {
            request = request.header("last-event-id", self.last_id.as_slice());
        }
        let request = request.body(Empty::new()).map_err(|_| {
            Failure::Io(io::Error::new(
                io::ErrorKind::InvalidInput,
                "the stream URL is not a valid URI",
            ))
        })?;
        let response = h2.send(request).await.map_err(Failure::Http2)?;
        let status = response.status().as_u16();
        if status != 200 {
            return Err(Failure::Response(DecodeError::Status(status)));
        }
        self.decoder = ResponseDecoder::body_only();
        self.head_done = true;
        Ok(Stream::Http2(response.into_body()))
    }

    /// The HTTP/2 connection of this client's group: the open one, or a new one dialed now
    /// (the others of the group wait for it meanwhile).
    async fn http2_connection(&mut self) -> Result<Http2, Failure> {
        let index = self.config.connection_of(self.plan.index);
        let slot = self.local.http2_slot(index);
        let _dialing = slot.dialing.lock().await;
        if let Some(h2) = slot.open() {
            return Ok(h2);
        }
        let socket = self
            .config
            .dialer
            .connect(index, None)
            .await
            .map_err(Failure::Connect)?;
        let tls = self
            .config
            .tls
            .as_ref()
            .expect("HTTP/2 is only ever configured over TLS");
        let stream = tls.handshake(socket).await.map_err(Failure::Tls)?;
        self.note_session(&stream);
        let h2 = Http2::handshake(stream).await.map_err(Failure::Http2)?;
        slot.set(h2.clone());
        Ok(h2)
    }

    /// Keeps the first TLS session's parameters for the report.
    fn note_session(&self, stream: &Connection) {
        if self.control.session.get().is_none()
            && let Some(session) = stream.session()
        {
            let _ = self.control.session.set(session);
        }
    }

    /// One read of whatever the client reads from.
    fn poll_read(
        &mut self,
        cx: &mut Context<'_>,
        stream: &mut Stream,
    ) -> Poll<Result<Read, Failure>> {
        match stream {
            Stream::Http1(connection) => self.poll_read_http1(cx, connection),
            Stream::Http2(body) => self.poll_frame(cx, body),
        }
    }

    /// One DATA frame of an HTTP/2 body, parsed and accounted on the spot (trailers are
    /// skipped; there are none on an event stream).
    fn poll_frame(
        &mut self,
        cx: &mut Context<'_>,
        body: &mut Incoming,
    ) -> Poll<Result<Read, Failure>> {
        match Pin::new(body).poll_frame(cx) {
            Poll::Pending => Poll::Pending,
            Poll::Ready(None) => Poll::Ready(Ok(Read::Eof)),
            Poll::Ready(Some(Err(err))) => Poll::Ready(Err(Failure::Http2(err))),
            Poll::Ready(Some(Ok(frame))) => match frame.data_ref() {
                Some(data) => Poll::Ready(self.account(data)),
                None => Poll::Ready(Ok(Read::Data)),
            },
        }
    }

    /// One `read()` as a poll: parsed and accounted on the spot. A read that does not fill the
    /// buffer tells tokio the socket is drained, so an idle socket costs no extra `read()`.
    fn poll_read_http1(
        &mut self,
        cx: &mut Context<'_>,
        stream: &mut Connection,
    ) -> Poll<Result<Read, Failure>> {
        let local = Rc::clone(&self.local);
        let mut buf = local.buf.borrow_mut();
        let mut read_buf = ReadBuf::new(&mut buf[..]);
        match Pin::new(stream).poll_read(cx, &mut read_buf) {
            Poll::Pending => return Poll::Pending,
            Poll::Ready(Err(err)) => return Poll::Ready(Err(Failure::Io(err))),
            Poll::Ready(Ok(())) => {}
        }
        let n = read_buf.filled().len();
        if n == 0 {
            return Poll::Ready(Ok(Read::Eof));
        }
        Poll::Ready(self.account(&buf[..n]))
    }

    /// One non-blocking `read()` of at most `limit` bytes (the slow clients' budgeted reads).
    fn try_read(&mut self, stream: &mut Connection, limit: usize) -> Result<Read, Failure> {
        let local = Rc::clone(&self.local);
        let mut buf = local.buf.borrow_mut();
        let limit = limit.min(buf.len());
        match stream.try_read(&mut buf[..limit]) {
            Ok(0) => Ok(Read::Eof),
            Ok(n) => self.account(&buf[..n]),
            Err(err) if err.kind() == io::ErrorKind::WouldBlock => Ok(Read::WouldBlock),
            Err(err) => Err(Failure::Io(err)),
        }
    }

    /// Parses and accounts the bytes of one read.
    fn account(&mut self, bytes: &[u8]) -> Result<Read, Failure> {
        let local = Rc::clone(&self.local);
        let n = bytes.len();
        self.bytes += n as u64;
        local.counters.bytes.fetch_add(n as u64, Ordering::Relaxed);
        let now_ns = epoch_ns();

        let mut stats = local.stats.borrow_mut();
        let mut interner = local.interner.borrow_mut();
        let config = &*self.config;
        let feed_start_ns = self.control.feed_start_ns.load(Ordering::Relaxed);
        let (group, subscribed_ns) = (self.group, self.subscribed_ns);
        let ledger = &mut self.ledger;
        let resume = &mut self.resume;
        let retry = &mut self.retry;
        let mut events = 0u64;
        let mut completed = false;
        let progress = self.decoder.feed(bytes, &mut |item| match item {
            Item::Event(event) => {
                let kind = EventKind::of(event.kind);
                let data = TickData::scan(event.data);
                let symbol =
                    (!data.sym.is_empty()).then(|| interner.index(&config.universe, data.sym));
                let observed = ledger.observe(kind, &data, symbol, &config.expected);
                completed |= observed.completed;
                if !observed.live {
                    return;
                }
                events += 1;
                let reference = match config.latency_from {
                    LatencyFrom::Ts => data.ts,
                    LatencyFrom::Rx => data.rx,
                };
                let Some(reference) = reference else {
                    return;
                };
                let latency = now_ns as i64 - reference as i64;
                if reference >= subscribed_ns {
                    let stats = stats.group_mut(group);
                    stats.latency.record_ns(latency);
                    if let Some(burst) = config.burst
                        && feed_start_ns > 0
                        && reference >= feed_start_ns
                    {
                        if burst.contains(reference - feed_start_ns) {
                            stats.burst.record_ns(latency);
                        } else {
                            stats.calm.record_ns(latency);
                        }
                    }
                }
                if let Some(r) = resume {
                    let since_drop = now_ns as i64 - r.dropped_ns as i64;
                    if !r.first_seen {
                        r.first_seen = true;
                        if r.measured {
                            stats.resume_first.record_ns(since_drop);
                        }
                    }
                    if reference >= r.dropped_ns {
                        if r.measured {
                            stats.resume_live.record_ns(since_drop);
                        }
                        *resume = None;
                    }
                }
            }
            Item::Comment(_) => stats.comments += 1,
            Item::Retry(ms) => *retry = Duration::from_millis(ms),
        });
        drop(stats);
        drop(interner);
        if events > 0 {
            local.counters.events.fetch_add(events, Ordering::Relaxed);
        }
        if completed {
            self.note_complete();
        }
        match progress {
            Ok(Progress::Head) => Ok(Read::Data),
            Ok(Progress::Streaming) => {
                self.head_done = true;
                Ok(Read::Data)
            }
            Ok(Progress::Ended) => {
                self.head_done = true;
                Ok(Read::Eof)
            }
            Err(err) => Err(Failure::Response(err)),
        }
    }

    /// This client got every tick of the feed: the drain waits for one less.
    fn note_complete(&mut self) {
        if self.group.is_fast() && !self.counted_complete && !self.config.expected.is_empty() {
            self.counted_complete = true;
            self.control.complete_one();
        }
    }

    /// This client will get nothing more: the drain must not wait for it.
    fn give_up(&mut self) {
        self.note_complete();
    }

    /// Closes the books (tail against what the feeder sent) and files the summary.
    fn finish(mut self) {
        if let Some(sent) = self.control.sent.get() {
            self.ledger.finish(sent);
        }
        let summary = ConnectionSummary {
            class: self.plan.class,
            connected: self.connected,
            complete: self.ledger.is_complete(),
            integrity: self.ledger.integrity,
            digest: self.ledger.digest(),
            bytes: self.bytes,
        };
        self.local
            .stats
            .borrow_mut()
            .group_mut(self.group)
            .connections
            .push(summary);
    }
}

/// The HTTP/1.1 subscription request of a client.
pub fn request(config: &FleetConfig, subscription: &Subscription, last_id: &[u8]) -> Vec<u8> {
    let mut out = Vec::with_capacity(256);
    out.extend_from_slice(b"GET ");
    write_path(config, subscription, &mut out);
    out.extend_from_slice(b" HTTP/1.1\r\nHost: ");
    out.extend_from_slice(config.host.as_bytes());
    out.extend_from_slice(b"\r\nAccept: text/event-stream\r\nCache-Control: no-cache\r\n");
    if !last_id.is_empty() {
        out.extend_from_slice(b"Last-Event-ID: ");
        out.extend_from_slice(last_id);
        out.extend_from_slice(b"\r\n");
    }
    out.extend_from_slice(b"\r\n");
    out
}

/// The path (and query) of a client's subscription.
pub fn path(config: &FleetConfig, subscription: &Subscription) -> Vec<u8> {
    let mut out = Vec::with_capacity(128);
    write_path(config, subscription, &mut out);
    out
}

fn write_path(config: &FleetConfig, subscription: &Subscription, out: &mut Vec<u8>) {
    out.extend_from_slice(config.path_prefix.as_bytes());
    match config.target {
        Target::Tickcast => out.extend_from_slice(b"/v1/stream?symbols="),
        Target::Nchan => out.extend_from_slice(b"/sub/"),
    }
    match subscription {
        Subscription::Firehose => match config.target {
            Target::Tickcast => out.push(b'*'),
            Target::Nchan => out.extend_from_slice(NCHAN_FIREHOSE_CHANNEL.as_bytes()),
        },
        Subscription::Symbols(symbols) => {
            for (i, &symbol) in symbols.iter().enumerate() {
                if i > 0 {
                    out.push(b',');
                }
                config.universe.write_name(symbol, out);
            }
        }
    }
    if let (Target::Tickcast, Some(query)) = (config.target, &config.stream_query) {
        out.push(b'&');
        out.extend_from_slice(query.as_bytes());
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_broken_connection_ends_the_client_unless_it_reconnects_on_errors() {
        assert_eq!(next_after(Ended::Broken, false, 0), Next::GiveUp);
        assert_eq!(
            next_after(Ended::Broken, true, 0),
            Next::Retry { measured: true }
        );
        assert_eq!(
            next_after(Ended::Closed, false, 0),
            Next::Retry { measured: false }
        );
        assert_eq!(
            next_after(Ended::Closed, true, 1),
            Next::Retry { measured: true }
        );
        assert_eq!(next_after(Ended::Storm, false, 0), Next::Resume);
        assert_eq!(
            next_after(Ended::Storm, true, MAX_AUTO_RECONNECTS),
            Next::Resume
        );
    }

    #[test]
    fn automatic_reconnects_are_bounded_per_client() {
        for on_error in [false, true] {
            assert_eq!(
                next_after(Ended::Closed, on_error, MAX_AUTO_RECONNECTS),
                Next::GiveUp
            );
        }
        assert_eq!(
            next_after(Ended::Broken, true, MAX_AUTO_RECONNECTS - 1),
            Next::Retry { measured: true }
        );
        assert_eq!(
            next_after(Ended::Broken, true, MAX_AUTO_RECONNECTS),
            Next::GiveUp
        );
    }
}
