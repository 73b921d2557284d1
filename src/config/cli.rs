//! The command line: clap's derive structs for `tickcast`, `tickcast replay` and `tickcast
//! record`, every flag with its help text and default.
//!
//! Place in the flow: [`super::parse`] reads the process's arguments into these; the `--config`
//! file is merged under them ([`super::file`]); [`super::assemble`] validates the result into
//! each stage's settings.
//! Must never validate beyond what clap's value parsers do: ranges and contradictions are
//! [`super::assemble`]'s, so a flag and the same setting in the file get the same checks.

use std::net::SocketAddr;
use std::path::PathBuf;
use std::time::Duration;

use clap::{Args, Parser, Subcommand};

/// The longest request target the `http` crate can represent (its `Uri` stores lengths in a
/// `u16` and refuses 65535 and more), so the most `--max-url-bytes` may be.
pub const MAX_URL_BYTES: usize = 65_534;

use super::values::{parse_coalesce, parse_role};
use crate::cluster::Role;
use crate::shard::coalesce::Coalesce;

/// tickcast: live market ticks to thousands of Server-Sent-Events subscribers.
///
/// Without a subcommand it serves (the flags below). `tickcast replay FILE...` serves recorded
/// files, or converts them with `--to jsonl|csv`; `tickcast record` writes what a live source
/// sends.
#[derive(Debug, Clone, Parser)]
#[command(version, about, long_about = None, args_conflicts_with_subcommands = true)]
pub struct Cli {
    /// Server settings (when no subcommand is given).
    #[command(flatten)]
    pub serve: ServeArgs,

    /// What to do instead of serving a live feed.
    #[command(subcommand)]
    pub command: Option<Command>,
}

/// The subcommands.
#[derive(Debug, Clone, Subcommand)]
pub enum Command {
    /// Replay recorded files: serve them as a live feed, or convert them (`--to jsonl|csv`).
    Replay(Box<ReplayArgs>),
    /// Record what a live source sends, with receive times, in a file replay reads back.
    Record(RecordArgs),
    /// Mint a token for `--auth jwt` (the issuer's tool): prints it on standard output.
    Token(TokenArgs),
}

/// `tickcast token`.
#[derive(Debug, Clone, Args)]
pub struct TokenArgs {
    /// The signing key: an HS256 secret file (at least 32 bytes) or a PEM private key (RSA:
    /// RS256, EC P-256: ES256).
    #[arg(long)]
    pub key: PathBuf,

    /// Who the token is for (`sub`).
    #[arg(long)]
    pub sub: String,

    /// Comma-separated symbol patterns: `BINANCE:BTCUSDT`, `BINANCE:*`, `*`.
    #[arg(long, value_delimiter = ',', required = true)]
    pub symbols: Vec<String>,

    /// How long the token is valid (`15m`, `1h`).
    #[arg(long, default_value = "1h", value_parser = humantime::parse_duration)]
    pub ttl: Duration,

    /// `realtime` or `delayed` (with `--delay`).
    #[arg(long, default_value = "realtime")]
    pub tier: String,

    /// The delay of a `delayed` token (`15m`; whole seconds, 1 s to a day).
    #[arg(long, value_parser = humantime::parse_duration)]
    pub delay: Option<Duration>,

    /// Streams the token's subject may hold at once (`max_conns`).
    #[arg(long)]
    pub max_conns: Option<u32>,

    /// `iss` claim.
    #[arg(long)]
    pub issuer: Option<String>,

    /// `aud` claim.
    #[arg(long)]
    pub audience: Option<String>,

    /// `kid` header (which JWKS key verifies it).
    #[arg(long)]
    pub kid: Option<String>,
}

/// `tickcast replay`.
#[derive(Debug, Clone, Args)]
pub struct ReplayArgs {
    /// Recorded files (plain, gzip or zstd; JSON lines, `<ns> <json>` lines, cryptofeed text
    /// captures, or tickcast recordings). Several files are merged in timestamp order.
    #[arg(required = true)]
    pub files: Vec<PathBuf>,

    /// Message format of the files: auto (detected per line), native, binance, coinbase,
    /// coinbase-advanced, kraken, bitstamp.
    #[arg(long, default_value = "auto")]
    pub format: String,

    /// Pace: a factor of the recorded speed (`1`, `10`, `0.5`) or `max` (as fast as possible).
    #[arg(long, default_value = "1")]
    pub speed: String,

    /// Start again from the beginning after the last record (serving only).
    #[arg(long = "loop")]
    pub looping: bool,

    /// Skip records received before this time (RFC 3339 such as `2024-08-08T23:55:00Z`, or
    /// ns since the epoch).
    #[arg(long)]
    pub from: Option<String>,

    /// Either an end time (as `--from`: stop after it) or an export format, `jsonl` or `csv`
    /// (convert to normalized ticks instead of serving).
    #[arg(long)]
    pub to: Option<String>,

    /// Export destination (with `--to jsonl|csv`); standard output when absent.
    #[arg(long)]
    pub out: Option<PathBuf>,

    /// Largest backwards step of receive time tolerated inside one file; records further out of
    /// order are rejected (`timestamp_out_of_order`).
    #[arg(long, default_value = "1s", value_parser = humantime::parse_duration)]
    pub max_backstep: Duration,

    /// Hold the replay until this many streams are open (serving only; 0: start at once). The
    /// recording's clock starts then, so every client connected by that moment sees the whole
    /// replay live, at its pace, instead of catching up from the ring (a benchmark's latency
    /// then measures delivery, not how long the clients took to connect).
    #[arg(long, default_value_t = 0)]
    pub wait_subscribers: usize,

    /// Server settings when serving the replay.
    #[command(flatten)]
    pub serve: ServeArgs,
}

/// `tickcast record`.
#[derive(Debug, Clone, Args)]
pub struct RecordArgs {
    /// The live source: `tcp-listen://HOST:PORT` (feed clients send lines) or `synthetic`.
    #[arg(long)]
    pub feed: String,

    /// Output file; `.zst` or `.gz` compresses. With `--rotate`, a sequence number is inserted
    /// before the extension (`ticks.000001.jsonl.zst`).
    #[arg(long)]
    pub out: PathBuf,

    /// Start a new file after this much data (`256MiB`, `1GB`) or time (`1h`, `15m`).
    #[arg(long)]
    pub rotate: Option<String>,

    /// Longest accepted line in bytes; longer lines are counted and not recorded.
    #[arg(long, default_value_t = 1 << 20)]
    pub max_line: usize,

    /// Synthetic market settings when `--feed synthetic`.
    #[arg(long, default_value_t = 500)]
    pub synthetic_symbols: usize,

    /// Synthetic ticks per second.
    #[arg(long, default_value_t = 2000.0)]
    pub synthetic_rate: f64,

    /// Synthetic seed.
    #[arg(long, default_value_t = 1)]
    pub synthetic_seed: u64,
}

/// Server settings: the flags of `tickcast` (serve) and of `tickcast replay`.
#[derive(Debug, Clone, Args)]
pub struct ServeArgs {
    /// A TOML file of settings (same names as the flags, with `_` for `-`; see README).
    /// Flags given on the command line override it.
    #[arg(long)]
    pub config: Option<std::path::PathBuf>,

    /// Validate the settings (flags and `--config` file), print them, and exit.
    #[arg(long)]
    pub check_config: bool,

    /// HTTP listen address (port 0 picks a free port; the bound address is printed on stdout).
    #[arg(long, default_value = "127.0.0.1:8080")]
    pub listen: SocketAddr,

    /// Serve TLS on the listen address with this certificate chain (PEM, the server's own
    /// certificate first); needs `--tls-key`. Clients then speak HTTP/2 or HTTP/1.1 (ALPN),
    /// and plain HTTP is refused. Both files are read again on SIGHUP: new connections get the
    /// new certificate, open streams go on.
    #[arg(long, value_name = "FILE")]
    pub tls_cert: Option<PathBuf>,

    /// The private key of `--tls-cert` (PEM: PKCS#8, PKCS#1 or SEC1).
    #[arg(long, value_name = "FILE")]
    pub tls_key: Option<PathBuf>,

    /// A tick source; repeat for several. `synthetic` (a built-in synthetic market) or
    /// `tcp-listen://HOST:PORT[?format=NAME]` (newline-delimited JSON from any number of feed
    /// clients; NAME: native (default), binance, coinbase, coinbase-advanced, kraken, bitstamp,
    /// or auto to detect per line).
    /// Default: `synthetic` (none with `--role edge`, which takes its ticks from Redis).
    #[arg(long = "feed")]
    pub feeds: Vec<String>,

    /// Number of symbols of the synthetic market (named SYN0001, SYN0002, ...).
    #[arg(long, default_value_t = 500)]
    pub synthetic_symbols: usize,

    /// Ticks per second of the synthetic market, over all its symbols.
    #[arg(long, default_value_t = 2000.0)]
    pub synthetic_rate: f64,

    /// Seed of the synthetic market's random walk (same seed, same prices).
    #[arg(long, default_value_t = 1)]
    pub synthetic_seed: u64,

    /// Comma-separated list of the only symbols that exist. Clients asking for others get 400,
    /// feed lines for others are rejected. Without it, a TCP feed makes the universe open.
    #[arg(long, value_delimiter = ',')]
    pub universe: Option<Vec<String>>,

    /// Shards (threads, each with its own single-threaded runtime). Default: number of cores.
    #[arg(long)]
    pub shards: Option<usize>,

    /// Ticks kept for resume (rounded up to a power of two). The default holds 80 s at 100k
    /// ticks/s; each held tick costs about 370 bytes (its ~230-byte frame, the event, the slot), so
    /// the default ring takes about 3 GiB once full.
    #[arg(long, default_value_t = 1 << 23)]
    pub ring_capacity: usize,

    /// Ticks older than this leave the ring even before it is full (0s: only when overwritten),
    /// so memory follows the tick rate instead of growing until the ring wraps. A client that
    /// resumes with an older `Last-Event-ID` gets a `reset` and fresh snapshots. Default: 60s
    /// when serving feeds; off for `tickcast replay`, whose clients may ask for the whole
    /// recording (`Last-Event-ID: 0`).
    #[arg(long, value_parser = humantime::parse_duration)]
    pub resume_window: Option<Duration>,

    /// Interval of `: hb` comments on idle streams.
    #[arg(long, default_value = "15s", value_parser = humantime::parse_duration)]
    pub heartbeat: Duration,

    /// Reconnection delay suggested to clients in the `retry:` field.
    #[arg(long, default_value = "2s", value_parser = humantime::parse_duration)]
    pub retry: Duration,

    /// Events queued per subscriber before conflation (newest tick per symbol) takes over.
    #[arg(long, default_value_t = 1024)]
    pub subscriber_buffer: usize,

    /// SO_SNDBUF of stream sockets in bytes (0: the kernel's default and autotuning).
    #[arg(long, default_value_t = 0)]
    pub sndbuf: usize,

    /// TCP_NOTSENT_LOWAT of stream sockets in bytes (0: off): bounds the unsent data the kernel
    /// queues per connection, so a slow client's backlog stays in tickcast's queue where
    /// conflation can replace stale ticks.
    #[arg(long, default_value_t = 65_536)]
    pub notsent_lowat: u32,

    /// How often at most a shard hands new ticks to its streams: `auto`, or a fixed window
    /// such as `5ms` (`0s`: at once, always). At low per-stream rates each tick otherwise costs
    /// one socket write per stream; a window packs the ticks that arrive within it into one
    /// write, for at most that much added latency. `auto` uses no window while the shard's
    /// thread is less than a quarter busy (on a CPU or waiting for one) and widens it (up to
    /// `--coalesce-max`) as it gets busier, so latency is only traded for CPU when the server
    /// spends a fair share of the machine on sending. At most 1s.
    #[arg(long, default_value = "auto", value_parser = parse_coalesce)]
    pub coalesce: Coalesce,

    /// The widest window `--coalesce auto` may open (a 60 Hz dashboard redraws every 16 ms).
    /// At most 1s.
    #[arg(long, default_value = "16ms", value_parser = humantime::parse_duration)]
    pub coalesce_max: Duration,

    /// Longest time a graceful shutdown may take before connections are cut.
    #[arg(long, default_value = "5s", value_parser = humantime::parse_duration)]
    pub drain_timeout: Duration,

    /// Longest accepted feed line in bytes; longer lines are rejected and skipped.
    #[arg(long, default_value_t = 1 << 20)]
    pub max_line: usize,

    /// Most distinct symbols accepted from feeds (an open universe cannot grow without bound).
    #[arg(long, default_value_t = 100_000)]
    pub max_symbols: usize,

    /// Most symbols one stream or snapshot request may name.
    #[arg(long, default_value_t = 1024)]
    pub max_symbols_per_request: usize,

    /// Open HTTP connections in total; further ones get 503 with `Retry-After`. Default: the
    /// process's open-files limit less 512 (kept for feeds, files and the listener).
    #[arg(long)]
    pub max_connections: Option<usize>,

    /// Open connections from one client IP; further ones get 429 (0: no limit; behind a load
    /// balancer every client has its address, so leave it off there).
    #[arg(long, default_value_t = 0)]
    pub max_connections_per_ip: usize,

    /// Open streams of one token subject (`sub`) with `--auth jwt`, unless the token's
    /// `max_conns` claim says otherwise; further ones get 429 (0: no limit).
    #[arg(long, default_value_t = 0)]
    pub max_streams_per_sub: usize,

    /// New connections per second one IP may open, on average (token bucket; 0: no limit):
    /// a reconnect storm is spread out instead of served all at once. Refused ones get 429
    /// with `Retry-After: 1`.
    #[arg(long, default_value_t = 0.0)]
    pub connect_rate_per_ip: f64,

    /// New connections one IP may open at once before `--connect-rate-per-ip` applies.
    #[arg(long, default_value_t = 20)]
    pub connect_burst_per_ip: u32,

    /// Largest request header block in bytes (the request line is bounded by
    /// `--max-url-bytes`); larger gets 431.
    #[arg(long, default_value_t = 32 * 1024)]
    pub max_header_bytes: usize,

    /// Most headers in one request; more gets 431.
    #[arg(long, default_value_t = 100)]
    pub max_headers: usize,

    /// Longest request target (path and query) in bytes, at most 65534 (what the HTTP
    /// library can hold); longer gets 414.
    #[arg(long, default_value_t = MAX_URL_BYTES)]
    pub max_url_bytes: usize,

    /// Time a client has to send a whole request head once it started one (slowloris: a client
    /// sending one byte a second is answered 408 and dropped).
    #[arg(long, default_value = "10s", value_parser = humantime::parse_duration)]
    pub header_read_timeout: Duration,

    /// Time a new connection may stay without sending a byte before it is answered 408 and
    /// dropped.
    #[arg(long, default_value = "30s", value_parser = humantime::parse_duration)]
    pub idle_timeout: Duration,

    /// An origin allowed to read the API from a browser (CORS), e.g.
    /// `https://app.example.com`; repeat for several. `*` allows any origin, without
    /// credentials (no cookies); listed origins also get `Access-Control-Allow-Credentials`.
    #[arg(long = "cors-origin")]
    pub cors_origins: Vec<String>,

    /// Who may read the stream: `none` (anyone who reaches the port) or `jwt` (a token from
    /// `Authorization: Bearer`, the `access_token` query parameter or `--jwt-cookie`, verified
    /// with `--jwt-key` or `--jwks`; see SECURITY.md).
    #[arg(long, default_value = "none")]
    pub auth: String,

    /// `--auth jwt`: an HS256 secret file (at least 32 bytes), or an RS256/ES256 public key in
    /// PEM; only that key's algorithm is accepted.
    #[arg(long)]
    pub jwt_key: Option<PathBuf>,

    /// `--auth jwt`: a JWKS file (keys chosen by the token's `kid`), re-read on SIGHUP.
    #[arg(long)]
    pub jwks: Option<PathBuf>,

    /// `--auth jwt`: the `iss` a token must carry.
    #[arg(long)]
    pub jwt_issuer: Option<String>,

    /// `--auth jwt`: the `aud` a token must carry.
    #[arg(long)]
    pub jwt_audience: Option<String>,

    /// `--auth jwt`: clock skew tolerated on `exp` and `nbf`.
    #[arg(long, default_value = "30s", value_parser = humantime::parse_duration)]
    pub jwt_leeway: Duration,

    /// `--auth jwt`: also read the token from this cookie.
    #[arg(long)]
    pub jwt_cookie: Option<String>,

    /// Serve `/metrics` and `/healthz` on this private address too (port 0 picks one; it is
    /// printed in the ready line as `"metrics"`); the public listener then answers `/metrics`
    /// with 404.
    #[arg(long)]
    pub metrics_listen: Option<SocketAddr>,

    /// First sequence number. Default: the start time in microseconds since the epoch, so ids
    /// keep increasing across restarts and a client resuming from an earlier run is detected.
    #[arg(long)]
    pub seq_base: Option<u64>,

    /// What this node does: `all` (feeds, sequencer and clients in one process, no Redis),
    /// `feed` (reads the feeds, sequences, publishes to Redis; serves clients too) or `edge`
    /// (serves clients from what Redis carries; takes no `--feed`). See the README, "Running
    /// several nodes".
    #[arg(long, default_value = "all", value_parser = parse_role)]
    pub role: Role,

    /// The Redis of the cluster (`--role feed|edge`): `redis://[USER:PASSWORD@]HOST:PORT[/DB]`,
    /// or `rediss://` for TLS.
    #[arg(long, value_name = "URL")]
    pub redis: Option<String>,

    /// PEM root certificate(s) a `rediss://` Redis must chain to (default: the system's trust
    /// store).
    #[arg(long, value_name = "FILE")]
    pub redis_ca: Option<PathBuf>,

    /// Prefix of the cluster's Redis keys and channel, so several clusters can share one Redis.
    #[arg(long, default_value = "tickcast")]
    pub redis_prefix: String,

    /// `--role feed`: how long the publishing lease lasts without renewal. A standby feed node
    /// takes over at most this long after the active one stops renewing it.
    #[arg(long, default_value = "5s", value_parser = humantime::parse_duration)]
    pub leader_lease: Duration,

    /// Let the kernel back this process's memory with transparent huge pages where the system
    /// setting allows it (`/sys/kernel/mm/transparent_hugepage/enabled`). Off by default: the
    /// allocator asks for huge pages on its heap, and the kernel's `khugepaged` then refills
    /// partly freed 2 MiB regions in periodic passes, so RSS rises in steps of several MiB
    /// long after start-up (BENCHMARKS.md, S5). Linux only; elsewhere it has no effect.
    #[arg(long)]
    pub transparent_huge_pages: bool,
}
