//! Admission limits of the HTTP edge: connections in total, per client IP and per token
//! subject, new connections per second per IP, and the refusals they make, counted by reason.
//!
//! Place in the flow: the acceptor asks [`Limits::admit`] for every accepted socket (one mutex
//! lock per connection, never per request or tick); the permit it returns travels with the
//! connection to its shard and gives its place back when dropped. A stream asks
//! [`Limits::stream_permit`] for its token's subject at subscribe time. A refused connection is
//! still handed to a shard, which answers its request with the refusal ([`Refusal::status`],
//! JSON body, `Retry-After` where waiting helps) and closes: a client is told why, not reset.
//! Beyond [`REFUSED_IN_FLIGHT`] refused connections at once, more are closed unanswered, so a
//! flood cannot make the server spend more on refusing than it would on serving.
//! Must never block, log per refusal (they are counted), or let its tables grow without bound:
//! entries leave the per-IP table when their last connection closes and their bucket is full.

use std::collections::HashMap;
use std::fmt::Write as _;
use std::net::IpAddr;
use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use hyper::StatusCode;

/// Refused connections being answered at once; more are closed without an answer.
pub const REFUSED_IN_FLIGHT: usize = 256;

/// The limits; 0 means no limit (every field is a flag, see the README's "Limits").
#[derive(Debug, Clone, PartialEq)]
pub struct LimitSettings {
    /// Open connections in total (`--max-connections`).
    pub max_connections: usize,
    /// Open connections from one client IP (`--max-connections-per-ip`).
    pub max_connections_per_ip: usize,
    /// Open streams of one token subject (`--max-streams-per-sub`), unless its token's
    /// `max_conns` says otherwise.
    pub max_streams_per_sub: usize,
    /// New connections per second from one IP, on average (`--connect-rate-per-ip`).
    pub connect_rate_per_ip: f64,
    /// New connections one IP may open at once before the rate applies
    /// (`--connect-burst-per-ip`).
    pub connect_burst_per_ip: u32,
    /// Request head (request line and headers) in bytes (`--max-header-bytes`).
    pub max_header_bytes: usize,
    /// Headers in one request (`--max-headers`).
    pub max_headers: usize,
    /// Request target (path and query) in bytes (`--max-url-bytes`).
    pub max_url_bytes: usize,
    /// Time a client has to send a whole request head once it has started (slowloris guard,
    /// `--header-read-timeout`).
    pub header_read_timeout: Duration,
    /// Time a new connection may stay without sending anything (`--idle-timeout`).
    pub idle_timeout: Duration,
}

/// Why a connection or request was refused. Each is counted
/// (`tickcast_http_refusals_total{reason}`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Refusal {
    /// The server holds `--max-connections`.
    ServerFull,
    /// This IP holds `--max-connections-per-ip`.
    TooManyFromIp,
    /// This IP opens connections faster than `--connect-rate-per-ip`.
    ConnectRate,
    /// This token subject holds its streams' limit.
    TooManyForSubject,
    /// The request head is larger than `--max-header-bytes`, or has more than `--max-headers`.
    HeadersTooLarge,
    /// The request target is longer than `--max-url-bytes`.
    UrlTooLong,
    /// The request head did not arrive within `--header-read-timeout`.
    HeaderTimeout,
    /// The connection sent nothing within `--idle-timeout`.
    Idle,
    /// Refused while [`REFUSED_IN_FLIGHT`] refusals were being answered: closed unanswered.
    Flood,
}

impl Refusal {
    /// Every reason, in counter order.
    pub const ALL: [Refusal; 9] = [
        Refusal::ServerFull,
        Refusal::TooManyFromIp,
        Refusal::ConnectRate,
        Refusal::TooManyForSubject,
        Refusal::HeadersTooLarge,
        Refusal::UrlTooLong,
        Refusal::HeaderTimeout,
        Refusal::Idle,
        Refusal::Flood,
    ];

    /// Counter index.
    pub fn index(self) -> usize {
        self as usize
    }

    /// Stable code: the JSON error code and the metric label.
    pub fn code(self) -> &'static str {
        match self {
            Refusal::ServerFull => "server_full",
            Refusal::TooManyFromIp => "too_many_connections_from_ip",
            Refusal::ConnectRate => "connect_rate",
            Refusal::TooManyForSubject => "too_many_streams_for_subject",
            Refusal::HeadersTooLarge => "headers_too_large",
            Refusal::UrlTooLong => "url_too_long",
            Refusal::HeaderTimeout => "header_timeout",
            Refusal::Idle => "idle",
            Refusal::Flood => "flood",
        }
    }

    /// The status it is answered with.
    pub fn status(self) -> StatusCode {
        match self {
            Refusal::ServerFull | Refusal::Flood => StatusCode::SERVICE_UNAVAILABLE,
            Refusal::TooManyFromIp | Refusal::ConnectRate | Refusal::TooManyForSubject => {
                StatusCode::TOO_MANY_REQUESTS
            }
            Refusal::HeadersTooLarge => StatusCode::REQUEST_HEADER_FIELDS_TOO_LARGE,
            Refusal::UrlTooLong => StatusCode::URI_TOO_LONG,
            Refusal::HeaderTimeout | Refusal::Idle => StatusCode::REQUEST_TIMEOUT,
        }
    }

    /// Seconds to wait before trying again (`Retry-After`), where waiting helps.
    pub fn retry_after(self) -> Option<u64> {
        match self {
            Refusal::ServerFull | Refusal::Flood => Some(5),
            Refusal::TooManyFromIp | Refusal::TooManyForSubject => Some(10),
            Refusal::ConnectRate => Some(1),
            _ => None,
        }
    }

    /// One sentence for the JSON body.
    pub fn message(self) -> &'static str {
        match self {
            Refusal::ServerFull => "the server holds its maximum of connections; retry later",
            Refusal::TooManyFromIp => "too many open connections from this address",
            Refusal::ConnectRate => "too many new connections from this address; slow down",
            Refusal::TooManyForSubject => "too many open streams for this token's subject",
            Refusal::HeadersTooLarge => "request headers too large or too many",
            Refusal::UrlTooLong => "request target too long",
            Refusal::HeaderTimeout => "the request head did not arrive in time",
            Refusal::Idle => "no request arrived in time",
            Refusal::Flood => "the server is refusing connections; retry later",
        }
    }
}

/// Size of the per-IP table above which entries with nothing open and a bucket full again are
/// swept out (every 1,024th admission), so addresses that came once do not stay forever.
const SWEEP_ABOVE: usize = 4096;

/// Removes the peers with nothing open whose bucket has refilled by `now`.
fn sweep(peers: &mut HashMap<IpAddr, Peer>, s: &LimitSettings, now: Instant) {
    let burst = f64::from(s.connect_burst_per_ip.max(1));
    peers.retain(|_, peer| {
        let elapsed = now.saturating_duration_since(peer.refilled).as_secs_f64();
        peer.open > 0 || peer.tokens + elapsed * s.connect_rate_per_ip < burst
    });
}

/// One IP's open connections and connect-rate bucket.
#[derive(Debug)]
struct Peer {
    open: usize,
    tokens: f64,
    refilled: Instant,
}

/// The edge's admission state, shared by the acceptor and every shard.
#[derive(Debug)]
pub struct Limits {
    settings: LimitSettings,
    open: AtomicUsize,
    refusing: AtomicUsize,
    sweeps: AtomicUsize,
    peers: Mutex<HashMap<IpAddr, Peer>>,
    subjects: Mutex<HashMap<String, usize>>,
    refusals: [AtomicU64; Refusal::ALL.len()],
}

/// A connection's place under the limits; given back when dropped.
#[derive(Debug)]
pub struct ConnectionPermit {
    limits: Arc<Limits>,
    ip: IpAddr,
    refused: bool,
}

/// A stream's place under its subject's limit; given back when dropped.
#[derive(Debug)]
pub struct StreamPermit {
    limits: Arc<Limits>,
    subject: String,
}

/// What the acceptor decided for a connection.
#[derive(Debug)]
pub enum Admission {
    /// Serve it.
    Admitted(ConnectionPermit),
    /// Answer its request with this refusal, then close.
    Refused(Refusal, ConnectionPermit),
    /// Close it at once (too many refusals in flight).
    Closed(Refusal),
}

impl Limits {
    /// Limits with nothing open.
    pub fn new(settings: LimitSettings) -> Arc<Self> {
        Arc::new(Self {
            settings,
            open: AtomicUsize::new(0),
            refusing: AtomicUsize::new(0),
            sweeps: AtomicUsize::new(0),
            peers: Mutex::new(HashMap::new()),
            subjects: Mutex::new(HashMap::new()),
            refusals: std::array::from_fn(|_| AtomicU64::new(0)),
        })
    }

    /// The settings.
    pub fn settings(&self) -> &LimitSettings {
        &self.settings
    }

    /// Decides for a connection accepted from `ip` at `now`.
    pub fn admit(self: &Arc<Self>, ip: IpAddr, now: Instant) -> Admission {
        let verdict = self.check(ip, now);
        match verdict {
            Ok(()) => Admission::Admitted(ConnectionPermit {
                limits: self.clone(),
                ip,
                refused: false,
            }),
            Err(refusal) => {
                self.count(refusal);
                if self.refusing.fetch_add(1, Ordering::Relaxed) >= REFUSED_IN_FLIGHT {
                    self.refusing.fetch_sub(1, Ordering::Relaxed);
                    self.count(Refusal::Flood);
                    return Admission::Closed(refusal);
                }
                Admission::Refused(
                    refusal,
                    ConnectionPermit {
                        limits: self.clone(),
                        ip,
                        refused: true,
                    },
                )
            }
        }
    }

    fn check(&self, ip: IpAddr, now: Instant) -> Result<(), Refusal> {
        let s = &self.settings;
        let burst = f64::from(s.connect_burst_per_ip.max(1));
        let mut peers = self.peers.lock().unwrap_or_else(|e| e.into_inner());
        if peers.len() >= SWEEP_ABOVE
            && self
                .sweeps
                .fetch_add(1, Ordering::Relaxed)
                .is_multiple_of(1024)
        {
            sweep(&mut peers, s, now);
        }
        let peer = peers.entry(ip).or_insert(Peer {
            open: 0,
            tokens: burst,
            refilled: now,
        });
        let verdict = (|| {
            if s.connect_rate_per_ip > 0.0 {
                let elapsed = now.saturating_duration_since(peer.refilled).as_secs_f64();
                peer.tokens = (peer.tokens + elapsed * s.connect_rate_per_ip).min(burst);
                peer.refilled = now;
                if peer.tokens < 1.0 {
                    return Err(Refusal::ConnectRate);
                }
                peer.tokens -= 1.0;
            }
            if s.max_connections_per_ip > 0 && peer.open >= s.max_connections_per_ip {
                return Err(Refusal::TooManyFromIp);
            }
            if s.max_connections > 0 && self.open.load(Ordering::Relaxed) >= s.max_connections {
                return Err(Refusal::ServerFull);
            }
            Ok(())
        })();
        match verdict {
            Ok(()) => {
                peer.open += 1;
                self.open.fetch_add(1, Ordering::Relaxed);
            }
            // Without a rate to remember, an address with nothing open needs no entry.
            Err(_) if peer.open == 0 && s.connect_rate_per_ip <= 0.0 => {
                peers.remove(&ip);
            }
            Err(_) => {}
        }
        verdict
    }

    /// A place for one more stream of `subject`, whose token may set its own limit.
    pub fn stream_permit(
        self: &Arc<Self>,
        subject: &str,
        token_limit: Option<u32>,
    ) -> Result<StreamPermit, Refusal> {
        let limit = token_limit.map_or(self.settings.max_streams_per_sub, |n| n as usize);
        let mut subjects = self.subjects.lock().unwrap_or_else(|e| e.into_inner());
        let open = subjects.entry(subject.to_owned()).or_insert(0);
        if limit > 0 && *open >= limit {
            if *open == 0 {
                subjects.remove(subject);
            }
            drop(subjects);
            self.count(Refusal::TooManyForSubject);
            return Err(Refusal::TooManyForSubject);
        }
        *open += 1;
        Ok(StreamPermit {
            limits: self.clone(),
            subject: subject.to_owned(),
        })
    }

    /// Counts a refusal made elsewhere (request limits, timeouts).
    pub fn count(&self, refusal: Refusal) {
        self.refusals[refusal.index()].fetch_add(1, Ordering::Relaxed);
    }

    /// Refusals so far for `refusal`.
    pub fn refusals(&self, refusal: Refusal) -> u64 {
        self.refusals[refusal.index()].load(Ordering::Relaxed)
    }

    /// Open connections counted here.
    pub fn open(&self) -> usize {
        self.open.load(Ordering::Relaxed)
    }

    /// Prometheus text of the refusals and open connections.
    pub fn render(&self, out: &mut String) {
        crate::metrics::render_labelled(
            out,
            "tickcast_http_refusals_total",
            "Connections and requests refused by the edge's limits, by reason.",
            "reason",
            Refusal::ALL.map(|r| (r.code(), self.refusals(r))),
        );
        let _ = writeln!(
            out,
            "# HELP tickcast_http_connections Open HTTP connections admitted by the edge.\n# TYPE tickcast_http_connections gauge\ntickcast_http_connections {}",
            self.open()
        );
    }
}

impl Drop for ConnectionPermit {
    fn drop(&mut self) {
        if self.refused {
            self.limits.refusing.fetch_sub(1, Ordering::Relaxed);
            return;
        }
        self.limits.open.fetch_sub(1, Ordering::Relaxed);
        let mut peers = self.limits.peers.lock().unwrap_or_else(|e| e.into_inner());
        if let Some(peer) = peers.get_mut(&self.ip) {
            peer.open = peer.open.saturating_sub(1);
            // Without a rate to remember, an address with nothing open needs no entry; with one,
            // the entry stays until its bucket is full again ([`sweep`]), or closing quickly
            // would reset the rate.
            if peer.open == 0 && self.limits.settings.connect_rate_per_ip <= 0.0 {
                peers.remove(&self.ip);
            }
        }
    }
}

impl Drop for StreamPermit {
    fn drop(&mut self) {
        let mut subjects = self
            .limits
            .subjects
            .lock()
            .unwrap_or_else(|e| e.into_inner());
        if let Some(open) = subjects.get_mut(&self.subject) {
            *open = open.saturating_sub(1);
            if *open == 0 {
                subjects.remove(&self.subject);
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn settings() -> LimitSettings {
        LimitSettings {
            max_connections: 0,
            max_connections_per_ip: 0,
            max_streams_per_sub: 0,
            connect_rate_per_ip: 0.0,
            connect_burst_per_ip: 1,
            max_header_bytes: 16 * 1024,
            max_headers: 64,
            max_url_bytes: 64 * 1024,
            header_read_timeout: Duration::from_secs(10),
            idle_timeout: Duration::from_secs(30),
        }
    }

    fn ip(last: u8) -> IpAddr {
        IpAddr::from([127, 0, 0, last])
    }

    fn refused(admission: &Admission) -> Option<Refusal> {
        match admission {
            Admission::Admitted(_) => None,
            Admission::Refused(r, _) | Admission::Closed(r) => Some(*r),
        }
    }

    #[test]
    fn totals_and_per_ip_limits_give_places_back_on_drop() {
        let limits = Limits::new(LimitSettings {
            max_connections: 3,
            max_connections_per_ip: 2,
            ..settings()
        });
        let now = Instant::now();
        let a1 = limits.admit(ip(1), now);
        let a2 = limits.admit(ip(1), now);
        assert_eq!(
            refused(&limits.admit(ip(1), now)),
            Some(Refusal::TooManyFromIp)
        );
        let b1 = limits.admit(ip(2), now);
        assert_eq!(
            refused(&limits.admit(ip(3), now)),
            Some(Refusal::ServerFull)
        );
        assert_eq!(limits.open(), 3);
        drop(a1);
        assert!(refused(&limits.admit(ip(3), now)).is_none());
        drop((a2, b1));
        assert_eq!(limits.refusals(Refusal::TooManyFromIp), 1);
        assert_eq!(limits.refusals(Refusal::ServerFull), 1);
        assert_eq!(
            Refusal::ServerFull.status(),
            StatusCode::SERVICE_UNAVAILABLE
        );
    }

    #[test]
    fn the_connect_rate_is_a_token_bucket_per_ip() {
        let limits = Limits::new(LimitSettings {
            connect_rate_per_ip: 10.0,
            connect_burst_per_ip: 3,
            ..settings()
        });
        let t0 = Instant::now();
        let held: Vec<Admission> = (0..3).map(|_| limits.admit(ip(1), t0)).collect();
        assert!(held.iter().all(|a| refused(a).is_none()));
        assert_eq!(
            refused(&limits.admit(ip(1), t0)),
            Some(Refusal::ConnectRate)
        );
        // Another address has its own bucket.
        assert!(refused(&limits.admit(ip(2), t0)).is_none());
        // 100 ms later one more token is there, not two.
        let t1 = t0 + Duration::from_millis(100);
        assert!(refused(&limits.admit(ip(1), t1)).is_none());
        assert_eq!(
            refused(&limits.admit(ip(1), t1)),
            Some(Refusal::ConnectRate)
        );
        assert_eq!(Refusal::ConnectRate.retry_after(), Some(1));
    }

    #[test]
    fn refusals_beyond_the_in_flight_bound_are_closed_unanswered() {
        let limits = Limits::new(LimitSettings {
            max_connections: 1,
            ..settings()
        });
        let now = Instant::now();
        let _held = limits.admit(ip(1), now);
        let answered: Vec<Admission> = (0..REFUSED_IN_FLIGHT)
            .map(|_| limits.admit(ip(2), now))
            .collect();
        assert!(answered.iter().all(|a| matches!(a, Admission::Refused(..))));
        assert!(matches!(limits.admit(ip(2), now), Admission::Closed(_)));
        drop(answered);
        assert!(matches!(limits.admit(ip(2), now), Admission::Refused(..)));
        assert_eq!(limits.refusals(Refusal::Flood), 1);
    }

    #[test]
    fn streams_per_subject_follow_the_flag_or_the_token() {
        let limits = Limits::new(LimitSettings {
            max_streams_per_sub: 2,
            ..settings()
        });
        let a = limits.stream_permit("alice", None).unwrap();
        let _b = limits.stream_permit("alice", None).unwrap();
        assert_eq!(
            limits.stream_permit("alice", None).unwrap_err(),
            Refusal::TooManyForSubject
        );
        assert!(limits.stream_permit("bob", None).is_ok());
        // The token's own max_conns wins, lower or higher.
        assert!(limits.stream_permit("alice", Some(3)).is_ok());
        drop(a);
        assert!(limits.stream_permit("alice", None).is_ok());
    }

    #[test]
    fn the_peer_table_does_not_keep_closed_addresses() {
        let limits = Limits::new(settings());
        let now = Instant::now();
        for last in 0..=255 {
            drop(limits.admit(ip(last), now));
        }
        assert!(limits.peers.lock().unwrap().is_empty());
        assert_eq!(limits.open(), 0);

        // With a rate, addresses that came once are swept once their bucket is full again.
        let limits = Limits::new(LimitSettings {
            connect_rate_per_ip: 1.0,
            connect_burst_per_ip: 1,
            ..settings()
        });
        for n in 0..(SWEEP_ABOVE as u32 + 10) {
            let addr = IpAddr::from(std::net::Ipv4Addr::from(0x0a00_0000 + n));
            // The second is refused by the rate: the address stays, to remember its bucket.
            let _ = limits.admit(addr, now);
            let _ = limits.admit(addr, now);
        }
        assert!(limits.peers.lock().unwrap().len() > SWEEP_ABOVE);
        let later = now + Duration::from_secs(10);
        for _ in 0..1024 {
            drop(limits.admit(ip(1), later));
        }
        assert!(limits.peers.lock().unwrap().len() < 16);
    }
}
