//! The feeder: sends the [`TickPlan`] to the server on schedule, open loop.
//!
//! tickcast: one TCP connection to a `tcp-listen://` feed, native JSON lines, written from a
//! dedicated thread (its timing must not depend on how busy the client threads are). Each
//! wake-up writes every tick that is due in one `write()`. nchan: one scheduler thread hands
//! due ticks to [`Scenario::publishers`](crate::scenario::Scenario::publishers) keep-alive
//! publisher threads (a symbol always to the same publisher, so its ticks stay in order), each
//! POSTing one message at a time, to the symbol's channel and, when there are firehose clients,
//! to [`NCHAN_FIREHOSE_CHANNEL`] as well.
//!
//! Every tick carries its scheduled time in `ts` (ns since the epoch) and the feeder's own
//! per-symbol count in `qty` (tickcast passes both through untouched); nchan messages carry the
//! feeder's `seq` and `n` too. Late ticks are sent late, never skipped or re-stamped.

use std::io::{self, Read as _, Write as _};
use std::net::{SocketAddr, TcpStream};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::mpsc;
use std::thread::JoinHandle;
use std::time::Duration;

use crate::clock::{Epoch, epoch_ns};
use crate::schedule::{Lateness, PlannedTick, TickPlan};
use crate::sse::{Framing, HeadParser};
use crate::universe::Universe;

/// The nchan channel every tick is also published to for firehose subscribers.
pub const NCHAN_FIREHOSE_CHANNEL: &str = "ticks";
/// Longest the feeder sleeps at once, so it notices a stop request.
const MAX_SLEEP: Duration = Duration::from_millis(50);
/// Bytes of due ticks written at most per `write()`.
const MAX_BATCH: usize = 256 * 1024;
/// How long a blocked write or an unanswered publish may take before the feeder gives up
/// (a server that stopped reading its feed for this long is broken, not slow).
const IO_TIMEOUT: Duration = Duration::from_secs(30);

/// What a feeder did.
#[derive(Debug, Clone, Default)]
pub struct FeedOutcome {
    /// Ticks per universe symbol that were written (tickcast) or accepted (nchan).
    pub sent: Vec<u32>,
    /// How late ticks went out.
    pub lateness: Lateness,
    /// Failed publishes or writes.
    pub errors: u64,
    /// The first error, if any.
    pub error: Option<String>,
    /// Whether the whole plan went out.
    pub complete: bool,
}

/// Where and how to feed.
#[derive(Debug, Clone)]
pub enum FeedTarget {
    /// tickcast's native TCP feed.
    Tickcast {
        /// The `tcp-listen://` address.
        addr: SocketAddr,
    },
    /// nchan's publisher endpoint.
    Nchan {
        /// The HTTP address.
        addr: SocketAddr,
        /// `Host` header value.
        host: String,
        /// Path prefix before `/pub/`.
        path_prefix: String,
        /// Publisher connections.
        publishers: usize,
        /// Publish to each symbol's channel.
        per_symbol: bool,
        /// Publish to the firehose channel.
        firehose: bool,
    },
}

/// Starts feeding `plan` now (`epoch` is its time zero). The thread ends when the plan is
/// through or `stop` is set.
pub fn spawn(
    target: FeedTarget,
    plan: TickPlan,
    universe: Universe,
    epoch: Epoch,
    stop: Arc<AtomicBool>,
) -> io::Result<JoinHandle<FeedOutcome>> {
    std::thread::Builder::new()
        .name("load-feeder".into())
        .spawn(move || match target {
            FeedTarget::Tickcast { addr } => feed_tickcast(addr, plan, &universe, epoch, &stop),
            FeedTarget::Nchan {
                addr,
                host,
                path_prefix,
                publishers,
                per_symbol,
                firehose,
            } => {
                let channels = Channels {
                    per_symbol,
                    firehose,
                };
                let target = NchanTarget {
                    addr,
                    host,
                    path_prefix,
                };
                feed_nchan(target, publishers, channels, plan, universe, epoch, stop)
            }
        })
}

/// Appends one native feed line: `{"sym":..,"px":..,"qty":<count>,"ts":<scheduled ns>}`.
pub fn write_native_line(out: &mut Vec<u8>, universe: &Universe, tick: &PlannedTick, ts: u64) {
    let mut num = itoa::Buffer::new();
    out.extend_from_slice(b"{\"sym\":\"");
    universe.write_name(tick.symbol, out);
    out.extend_from_slice(b"\",\"px\":");
    write_price(out, tick);
    out.extend_from_slice(b",\"qty\":");
    out.extend_from_slice(num.format(tick.count).as_bytes());
    out.extend_from_slice(b",\"ts\":");
    out.extend_from_slice(num.format(ts).as_bytes());
    out.extend_from_slice(b"}\n");
}

/// A made-up price that moves a little with every tick of a symbol (`100.00`..`999.99`).
fn write_price(out: &mut Vec<u8>, tick: &PlannedTick) {
    let mut num = itoa::Buffer::new();
    out.extend_from_slice(num.format(100 + tick.symbol % 900).as_bytes());
    out.push(b'.');
    let cents = tick.count % 100;
    if cents < 10 {
        out.push(b'0');
    }
    out.extend_from_slice(num.format(cents).as_bytes());
}

fn feed_tickcast(
    addr: SocketAddr,
    mut plan: TickPlan,
    universe: &Universe,
    epoch: Epoch,
    stop: &AtomicBool,
) -> FeedOutcome {
    let mut outcome = FeedOutcome {
        sent: vec![0; universe.len() as usize],
        ..FeedOutcome::default()
    };
    let mut stream = match connect(addr) {
        Ok(stream) => stream,
        Err(err) => {
            outcome.errors = 1;
            outcome.error = Some(format!("feed connect to {addr}: {err}"));
            return outcome;
        }
    };
    let mut buf = Vec::with_capacity(MAX_BATCH + 512);
    let mut batch: Vec<u32> = Vec::new();
    while !stop.load(Ordering::Relaxed) {
        let now = epoch.elapsed_ns();
        while buf.len() < MAX_BATCH {
            let Some(tick) = plan.next_due(now) else {
                break;
            };
            write_native_line(&mut buf, universe, &tick, epoch.ns + tick.at_ns);
            outcome.lateness.record(tick.at_ns, now);
            batch.push(tick.symbol);
        }
        if !buf.is_empty() {
            if let Err(err) = stream.write_all(&buf) {
                outcome.errors += 1;
                outcome.error = Some(format!("feed write: {err}"));
                return outcome;
            }
            for &symbol in &batch {
                outcome.sent[symbol as usize] += 1;
            }
            buf.clear();
            batch.clear();
        }
        match plan.peek_at() {
            None => {
                outcome.complete = true;
                break;
            }
            Some(at) => {
                let now = epoch.elapsed_ns();
                if at > now {
                    std::thread::sleep(Duration::from_nanos(at - now).min(MAX_SLEEP));
                }
            }
        }
    }
    let _ = stream.flush();
    outcome
}

fn connect(addr: SocketAddr) -> io::Result<TcpStream> {
    let stream = TcpStream::connect_timeout(&addr, Duration::from_secs(5))?;
    stream.set_nodelay(true)?;
    stream.set_write_timeout(Some(IO_TIMEOUT))?;
    stream.set_read_timeout(Some(IO_TIMEOUT))?;
    Ok(stream)
}

/// Which nchan channels a tick goes to.
#[derive(Debug, Clone, Copy)]
struct Channels {
    per_symbol: bool,
    firehose: bool,
}

/// Where nchan's publisher endpoint is.
#[derive(Debug, Clone)]
struct NchanTarget {
    addr: SocketAddr,
    host: String,
    path_prefix: String,
}

fn feed_nchan(
    target: NchanTarget,
    publishers: usize,
    channels: Channels,
    mut plan: TickPlan,
    universe: Universe,
    epoch: Epoch,
    stop: Arc<AtomicBool>,
) -> FeedOutcome {
    let universe = Arc::new(universe);
    let mut senders = Vec::with_capacity(publishers);
    let mut handles = Vec::with_capacity(publishers);
    for p in 0..publishers {
        let (tx, rx) = mpsc::channel::<PlannedTick>();
        senders.push(tx);
        let target = target.clone();
        let universe = Arc::clone(&universe);
        let publisher_stop = Arc::clone(&stop);
        let spawned = std::thread::Builder::new()
            .name(format!("load-publisher-{p}"))
            .spawn(move || publish(&target, channels, &universe, epoch, rx, &publisher_stop));
        match spawned {
            Ok(handle) => handles.push(handle),
            Err(err) => {
                stop.store(true, Ordering::Relaxed);
                return FeedOutcome {
                    errors: 1,
                    error: Some(format!("cannot start a publisher thread: {err}")),
                    ..FeedOutcome::default()
                };
            }
        }
    }
    let mut scheduled_all = false;
    while !stop.load(Ordering::Relaxed) {
        let now = epoch.elapsed_ns();
        while let Some(tick) = plan.next_due(now) {
            // A closed channel means that publisher failed; its error is in its outcome.
            let _ = senders[tick.symbol as usize % publishers].send(tick);
        }
        match plan.peek_at() {
            None => {
                scheduled_all = true;
                break;
            }
            Some(at) => {
                let now = epoch.elapsed_ns();
                if at > now {
                    std::thread::sleep(Duration::from_nanos(at - now).min(MAX_SLEEP));
                }
            }
        }
    }
    drop(senders);
    let mut outcome = FeedOutcome {
        sent: vec![0; universe.len() as usize],
        complete: scheduled_all,
        ..FeedOutcome::default()
    };
    for handle in handles {
        let Ok(part) = handle.join() else {
            outcome.complete = false;
            continue;
        };
        for (total, count) in outcome.sent.iter_mut().zip(&part.sent) {
            *total = (*total).max(*count);
        }
        outcome.lateness.merge(&part.lateness);
        outcome.errors += part.errors;
        outcome.complete &= part.complete;
        if outcome.error.is_none() {
            outcome.error = part.error;
        }
    }
    outcome
}

/// One publisher thread: POSTs each tick it is handed, one request at a time, on a keep-alive
/// connection (reconnecting once per failure).
fn publish(
    target: &NchanTarget,
    channels: Channels,
    universe: &Universe,
    epoch: Epoch,
    ticks: mpsc::Receiver<PlannedTick>,
    stop: &AtomicBool,
) -> FeedOutcome {
    let mut outcome = FeedOutcome {
        sent: vec![0; universe.len() as usize],
        complete: true,
        ..FeedOutcome::default()
    };
    let mut connection: Option<TcpStream> = None;
    let mut body = Vec::with_capacity(256);
    let mut request = Vec::with_capacity(512);
    let mut response = vec![0u8; 4096];
    let mut name = Vec::with_capacity(32);
    for tick in ticks {
        if stop.load(Ordering::Relaxed) {
            outcome.complete = false;
            break;
        }
        let sent_ns = epoch_ns();
        outcome.lateness.record(tick.at_ns, epoch.elapsed_ns());
        body.clear();
        write_nchan_body(&mut body, universe, &tick, epoch.ns + tick.at_ns, sent_ns);
        name.clear();
        universe.write_name(tick.symbol, &mut name);
        let mut ok = true;
        for channel in [
            channels.per_symbol.then_some(&name[..]),
            channels
                .firehose
                .then_some(NCHAN_FIREHOSE_CHANNEL.as_bytes()),
        ]
        .into_iter()
        .flatten()
        {
            request.clear();
            write_publish_request(&mut request, target, channel, &body);
            if let Err(err) = post(&mut connection, target.addr, &request, &mut response) {
                outcome.errors += 1;
                if outcome.error.is_none() {
                    outcome.error = Some(format!("publish to {}: {err}", target.addr));
                }
                connection = None;
                ok = false;
            }
        }
        if ok {
            let sent = &mut outcome.sent[tick.symbol as usize];
            *sent = (*sent).max(tick.count);
        }
    }
    outcome
}

/// The body nchan relays as event data.
pub fn write_nchan_body(
    out: &mut Vec<u8>,
    universe: &Universe,
    tick: &PlannedTick,
    ts: u64,
    sent_ns: u64,
) {
    let mut num = itoa::Buffer::new();
    out.extend_from_slice(b"{\"sym\":\"");
    universe.write_name(tick.symbol, out);
    out.extend_from_slice(b"\",\"seq\":");
    out.extend_from_slice(num.format(tick.index + 1).as_bytes());
    out.extend_from_slice(b",\"n\":");
    out.extend_from_slice(num.format(tick.count).as_bytes());
    out.extend_from_slice(b",\"kind\":\"trade\",\"px\":");
    write_price(out, tick);
    out.extend_from_slice(b",\"qty\":");
    out.extend_from_slice(num.format(tick.count).as_bytes());
    out.extend_from_slice(b",\"ts\":");
    out.extend_from_slice(num.format(ts).as_bytes());
    out.extend_from_slice(b",\"sent\":");
    out.extend_from_slice(num.format(sent_ns).as_bytes());
    out.push(b'}');
}

fn write_publish_request(out: &mut Vec<u8>, target: &NchanTarget, channel: &[u8], body: &[u8]) {
    let mut num = itoa::Buffer::new();
    out.extend_from_slice(b"POST ");
    out.extend_from_slice(target.path_prefix.as_bytes());
    out.extend_from_slice(b"/pub/");
    out.extend_from_slice(channel);
    out.extend_from_slice(b" HTTP/1.1\r\nHost: ");
    out.extend_from_slice(target.host.as_bytes());
    out.extend_from_slice(b"\r\nContent-Type: application/json\r\nContent-Length: ");
    out.extend_from_slice(num.format(body.len()).as_bytes());
    out.extend_from_slice(b"\r\n\r\n");
    out.extend_from_slice(body);
}

/// Sends one request on the keep-alive connection (opening it if needed) and reads the whole
/// answer; any status but 200/201/202 is an error.
fn post(
    connection: &mut Option<TcpStream>,
    addr: SocketAddr,
    request: &[u8],
    buf: &mut [u8],
) -> io::Result<()> {
    let stream = match connection {
        Some(stream) => stream,
        None => connection.insert(connect(addr)?),
    };
    stream.write_all(request)?;
    let mut parser = HeadParser::new();
    let (head, mut body_seen) = loop {
        let n = stream.read(buf)?;
        if n == 0 {
            return Err(io::ErrorKind::UnexpectedEof.into());
        }
        if let Some((head, used)) = parser
            .feed(&buf[..n])
            .map_err(|err| io::Error::new(io::ErrorKind::InvalidData, err))?
        {
            break (head, (n - used) as u64);
        }
    };
    let Framing::Length(length) = head.framing else {
        return Err(io::Error::new(
            io::ErrorKind::InvalidData,
            "publish answer without Content-Length",
        ));
    };
    while body_seen < length {
        let n = stream.read(buf)?;
        if n == 0 {
            return Err(io::ErrorKind::UnexpectedEof.into());
        }
        body_seen += n as u64;
    }
    if head.close {
        *connection = None;
    }
    match head.status {
        200..=202 => Ok(()),
        status => Err(io::Error::other(format!("status {status}"))),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::data::TickData;

    fn tick(symbol: u32, count: u32) -> PlannedTick {
        PlannedTick {
            index: 41,
            symbol,
            count,
            at_ns: 0,
        }
    }

    #[test]
    fn native_line_carries_schedule_and_count() {
        let universe = Universe::new("LT", 100);
        let mut out = Vec::new();
        write_native_line(
            &mut out,
            &universe,
            &tick(6, 107),
            1_700_000_000_123_456_789,
        );
        assert_eq!(
            String::from_utf8(out).unwrap(),
            "{\"sym\":\"LT0007\",\"px\":106.07,\"qty\":107,\"ts\":1700000000123456789}\n"
        );
    }

    #[test]
    fn nchan_body_reads_back() {
        let universe = Universe::new("LT", 100);
        let mut out = Vec::new();
        write_nchan_body(&mut out, &universe, &tick(0, 3), 55, 60);
        let data = TickData::scan(&out);
        assert_eq!(data.sym, b"LT0001");
        assert_eq!(
            (data.seq, data.n, data.qty, data.ts),
            (Some(42), Some(3), Some(3), Some(55))
        );
        let _: serde_json::Value = serde_json::from_slice(&out).expect("valid JSON");
    }

    #[test]
    fn feeds_a_tcp_listener_on_schedule() {
        let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        let addr = listener.local_addr().unwrap();
        let universe = Universe::new("LT", 3);
        let plan = TickPlan::new(crate::schedule::PlanSettings {
            rate: 200.0,
            burst: None,
            duration: Duration::from_millis(100),
            symbols: 3,
            tick_zipf: 0.0,
            seed: 1,
        });
        let epoch = Epoch::now();
        let stop = Arc::new(AtomicBool::new(false));
        let handle = spawn(FeedTarget::Tickcast { addr }, plan, universe, epoch, stop).unwrap();
        let (mut socket, _) = listener.accept().unwrap();
        let outcome = handle.join().unwrap();
        let mut text = String::new();
        socket.read_to_string(&mut text).unwrap();
        let lines: Vec<&str> = text.lines().collect();
        assert_eq!(lines.len(), 20);
        assert_eq!(outcome.sent, vec![7, 7, 6]);
        assert!(outcome.complete && outcome.errors == 0);
        // The stamps are the schedule: 5 ms apart, whatever the actual send times were.
        let stamps: Vec<u64> = lines
            .iter()
            .map(|line| TickData::scan(line.as_bytes()).ts.unwrap())
            .collect();
        for (i, ts) in stamps.iter().enumerate() {
            assert_eq!(*ts, epoch.ns + i as u64 * 5_000_000);
        }
        // Sent no earlier than scheduled: elapsed time covers the last tick's schedule.
        assert!(epoch.instant.elapsed() >= Duration::from_millis(95));
    }

    #[test]
    fn nchan_publish_round_trip_against_a_fake_server() {
        let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        let addr = listener.local_addr().unwrap();
        let server = std::thread::spawn(move || {
            let (mut socket, _) = listener.accept().unwrap();
            let mut seen = Vec::new();
            let mut buf = [0u8; 4096];
            // Answer each request (head + body) with 201 and a short body.
            let mut pending = Vec::new();
            while seen.len() < 4 {
                let n = socket.read(&mut buf).unwrap();
                if n == 0 {
                    break;
                }
                pending.extend_from_slice(&buf[..n]);
                while let Some(end) = memchr::memmem::find(&pending, b"\r\n\r\n") {
                    let head = String::from_utf8_lossy(&pending[..end]).into_owned();
                    let length: usize = head
                        .lines()
                        .find_map(|l| l.strip_prefix("Content-Length: "))
                        .unwrap()
                        .parse()
                        .unwrap();
                    if pending.len() < end + 4 + length {
                        break;
                    }
                    seen.push(head.lines().next().unwrap().to_owned());
                    pending.drain(..end + 4 + length);
                    socket
                        .write_all(b"HTTP/1.1 201 Created\r\nContent-Length: 5\r\n\r\nqueue")
                        .unwrap();
                }
            }
            seen
        });
        let universe = Universe::new("LT", 2);
        let plan = TickPlan::new(crate::schedule::PlanSettings {
            rate: 1000.0,
            burst: None,
            duration: Duration::from_millis(2),
            symbols: 2,
            tick_zipf: 0.0,
            seed: 1,
        });
        let target = FeedTarget::Nchan {
            addr,
            host: "127.0.0.1".into(),
            path_prefix: String::new(),
            publishers: 1,
            per_symbol: true,
            firehose: true,
        };
        let stop = Arc::new(AtomicBool::new(false));
        let outcome = spawn(target, plan, universe, Epoch::now(), stop)
            .unwrap()
            .join()
            .unwrap();
        assert_eq!(outcome.errors, 0, "{:?}", outcome.error);
        assert_eq!(outcome.sent, vec![1, 1]);
        assert_eq!(
            server.join().unwrap(),
            vec![
                "POST /pub/LT0001 HTTP/1.1",
                "POST /pub/ticks HTTP/1.1",
                "POST /pub/LT0002 HTTP/1.1",
                "POST /pub/ticks HTTP/1.1"
            ]
        );
    }
}
