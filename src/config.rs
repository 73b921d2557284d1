//! Command-line settings, parsed once into typed, validated values.
//!
//! Place in the flow: `main` calls [`parse`], which reads the command line (and the `--config`
//! file) into an [`Invocation`]: serve (live or replaying files), export, or record. Everything
//! else receives the typed values it needs as arguments. Nothing outside this module reads
//! flags or the environment.
//! Must never be consulted on the hot path: values are copied into the components at start-up.

use std::net::SocketAddr;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use std::path::PathBuf;

use clap::{ArgMatches, Args, CommandFactory, FromArgMatches, Parser, Subcommand};

use crate::feed::venue::Format;
use crate::replay::export::ExportFormat;
use crate::replay::pace::Speed;
use crate::tick::{Symbol, SymbolError};

/// `--resume-window` when serving feeds and not set.
pub const DEFAULT_RESUME_WINDOW: Duration = Duration::from_secs(60);

/// The longest coalescing window accepted.
const MAX_COALESCE: Duration = Duration::from_secs(1);
/// The widest window of `--coalesce auto` unless `--coalesce-max` says otherwise.
pub const DEFAULT_COALESCE_MAX: Duration = Duration::from_millis(16);

/// How often at most a shard hands new ticks to its streams (`--coalesce`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Coalesce {
    /// Always this window (zero: every tick at once).
    Fixed(Duration),
    /// No window while the shard is lightly loaded, up to `max` as it gets busy
    /// ([`crate::shard::coalesce`]).
    Auto {
        /// The widest window.
        max: Duration,
    },
}

/// `auto` or a duration (`5ms`, `0s`).
fn parse_coalesce(text: &str) -> Result<Coalesce, String> {
    if text.trim().eq_ignore_ascii_case("auto") {
        return Ok(Coalesce::Auto {
            max: DEFAULT_COALESCE_MAX,
        });
    }
    humantime::parse_duration(text)
        .map(Coalesce::Fixed)
        .map_err(|e| format!("expected `auto` or a duration such as 5ms: {e}"))
}

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

    /// A tick source; repeat for several. `synthetic` (a built-in synthetic market) or
    /// `tcp-listen://HOST:PORT[?format=NAME]` (newline-delimited JSON from any number of feed
    /// clients; NAME: native (default), binance, coinbase, coinbase-advanced, kraken, bitstamp,
    /// or auto to detect per line).
    #[arg(long = "feed", default_value = "synthetic")]
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
    /// thread is less than half busy and widens it (up to `--coalesce-max`) as it gets busier,
    /// so latency is only traded for CPU when CPU runs short. At most 1s.
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

    /// First sequence number. Default: the start time in microseconds since the epoch, so ids
    /// keep increasing across restarts and a client resuming from an earlier run is detected.
    #[arg(long)]
    pub seq_base: Option<u64>,

    /// Let the kernel back this process's memory with transparent huge pages where the system
    /// setting allows it (`/sys/kernel/mm/transparent_hugepage/enabled`). Off by default: the
    /// allocator asks for huge pages on its heap, and the kernel's `khugepaged` then refills
    /// partly freed 2 MiB regions in periodic passes, so RSS rises in steps of several MiB
    /// long after start-up (BENCHMARKS.md, S5). Linux only; elsewhere it has no effect.
    #[arg(long)]
    pub transparent_huge_pages: bool,
}

/// The `--config` file: every field optional, unknown fields refused.
#[derive(Debug, Default, serde::Deserialize)]
#[serde(deny_unknown_fields)]
pub struct FileConfig {
    /// HTTP listen address, e.g. `"0.0.0.0:8080"`.
    pub listen: Option<SocketAddr>,
    /// Tick sources, e.g. `["synthetic", "tcp-listen://127.0.0.1:9000"]`.
    pub feeds: Option<Vec<String>>,
    /// Symbols of the synthetic market.
    pub synthetic_symbols: Option<usize>,
    /// Synthetic ticks per second, in total.
    pub synthetic_rate: Option<f64>,
    /// Seed of the synthetic random walk.
    pub synthetic_seed: Option<u64>,
    /// The only symbols that exist (closes the universe).
    pub universe: Option<Vec<String>>,
    /// Shard threads.
    pub shards: Option<usize>,
    /// Ticks kept for resume.
    pub ring_capacity: Option<usize>,
    /// Age after which ticks leave the ring, e.g. `"60s"` (`"0s"`: only when overwritten).
    pub resume_window: Option<String>,
    /// Heartbeat interval, e.g. `"15s"`.
    pub heartbeat: Option<String>,
    /// `retry:` hint, e.g. `"2s"`.
    pub retry: Option<String>,
    /// Events queued per subscriber before conflation.
    pub subscriber_buffer: Option<usize>,
    /// SO_SNDBUF of stream sockets (0 = kernel default).
    pub sndbuf: Option<usize>,
    /// TCP_NOTSENT_LOWAT of stream sockets (0 = off).
    pub notsent_lowat: Option<u32>,
    /// How often at most a shard hands new ticks to its streams: `"auto"` or e.g. `"5ms"`.
    pub coalesce: Option<String>,
    /// The widest window of `coalesce = "auto"`, e.g. `"16ms"`.
    pub coalesce_max: Option<String>,
    /// Bound on graceful shutdown, e.g. `"5s"`.
    pub drain_timeout: Option<String>,
    /// Longest feed line in bytes.
    pub max_line: Option<usize>,
    /// Most distinct symbols an open universe accepts.
    pub max_symbols: Option<usize>,
    /// Most symbols per request.
    pub max_symbols_per_request: Option<usize>,
    /// First sequence number.
    pub seq_base: Option<u64>,
    /// Allow transparent huge pages (default false).
    pub transparent_huge_pages: Option<bool>,
}

impl ServeArgs {
    /// Merges the `--config` file (if any) under the flags found in `matches`: a setting comes
    /// from the command line if given there, else from the file, else its default.
    pub fn merge_file(&mut self, matches: &ArgMatches) -> Result<(), ConfigError> {
        let given =
            |id: &str| matches.value_source(id) == Some(clap::parser::ValueSource::CommandLine);
        let Some(path) = self.config.clone() else {
            return Ok(());
        };
        let text = std::fs::read_to_string(&path).map_err(|source| ConfigError::FileRead {
            path: path.display().to_string(),
            source,
        })?;
        let file: FileConfig = toml::from_str(&text).map_err(|error| ConfigError::FileParse {
            path: path.display().to_string(),
            message: error.to_string(),
        })?;
        self.merge(file, given)
    }

    /// Takes each setting of `file` that `given` says the command line did not set.
    pub fn merge(
        &mut self,
        file: FileConfig,
        given: impl Fn(&str) -> bool,
    ) -> Result<(), ConfigError> {
        macro_rules! take {
            ($field:ident) => {
                if let Some(value) = file.$field {
                    if !given(stringify!($field)) {
                        self.$field = value;
                    }
                }
            };
            ($field:ident, some) => {
                if let Some(value) = file.$field {
                    if !given(stringify!($field)) {
                        self.$field = Some(value);
                    }
                }
            };
            ($field:ident, duration) => {
                if let Some(text) = file.$field {
                    if !given(stringify!($field)) {
                        self.$field = humantime::parse_duration(&text).map_err(|e| {
                            ConfigError::FileValue {
                                field: stringify!($field),
                                message: format!("{text:?}: {e}"),
                            }
                        })?;
                    }
                }
            };
        }
        take!(listen);
        take!(feeds);
        take!(synthetic_symbols);
        take!(synthetic_rate);
        take!(synthetic_seed);
        take!(universe, some);
        take!(shards, some);
        take!(ring_capacity);
        if let Some(text) = file.resume_window
            && !given("resume_window")
        {
            let window = humantime::parse_duration(&text).map_err(|e| ConfigError::FileValue {
                field: "resume_window",
                message: format!("{text:?}: {e}"),
            })?;
            self.resume_window = Some(window);
        }
        take!(heartbeat, duration);
        take!(retry, duration);
        take!(subscriber_buffer);
        take!(sndbuf);
        take!(notsent_lowat);
        if let Some(text) = file.coalesce
            && !given("coalesce")
        {
            self.coalesce = parse_coalesce(&text).map_err(|message| ConfigError::FileValue {
                field: "coalesce",
                message: format!("{text:?}: {message}"),
            })?;
        }
        take!(coalesce_max, duration);
        take!(drain_timeout, duration);
        take!(max_line);
        take!(max_symbols);
        take!(max_symbols_per_request);
        take!(seq_base, some);
        take!(transparent_huge_pages);
        Ok(())
    }
}

/// Where ticks come from.
#[derive(Debug, Clone, PartialEq)]
pub enum FeedSource {
    /// The built-in synthetic market.
    Synthetic,
    /// Listen for JSON-lines feed clients on `addr`, decoding each line as `format`.
    TcpListen {
        /// Listen address.
        addr: SocketAddr,
        /// Message format (native by default; `auto` detects per line).
        format: Format,
    },
    /// Recorded files, replayed.
    Replay(ReplaySpec),
}

/// Which recorded files to replay, and how.
#[derive(Debug, Clone, PartialEq)]
pub struct ReplaySpec {
    /// The files, merged in timestamp order.
    pub files: Vec<PathBuf>,
    /// Message format (or per-line detection).
    pub format: Format,
    /// Pace.
    pub speed: Speed,
    /// Start again after the end.
    pub looping: bool,
    /// Skip records before this time (ns since the epoch).
    pub from: Option<u64>,
    /// Stop after this time (ns since the epoch).
    pub to: Option<u64>,
    /// Largest tolerated backwards step of time inside one file, in ns.
    pub max_backstep: u64,
    /// Longest accepted line.
    pub max_line: usize,
    /// Streams to wait for before the first tick (0: none).
    pub wait_subscribers: usize,
}

/// `tickcast replay ... --to jsonl|csv`.
#[derive(Debug, Clone)]
pub struct ExportConfig {
    /// What to read.
    pub spec: ReplaySpec,
    /// Output format.
    pub format: ExportFormat,
    /// Output file (standard output when `None`).
    pub out: Option<PathBuf>,
    /// First sequence number.
    pub seq_base: u64,
}

/// What `tickcast record` listens to.
#[derive(Debug, Clone)]
pub enum RecordSource {
    /// Feed clients on this address.
    TcpListen(SocketAddr),
    /// The synthetic market, as native JSON lines.
    Synthetic(SyntheticConfig),
}

/// When `tickcast record` starts a new file.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Rotate {
    /// After this many bytes of records (before compression).
    Size(u64),
    /// After this much time.
    Every(Duration),
}

/// `tickcast record`.
#[derive(Debug, Clone)]
pub struct RecordConfig {
    /// The live source.
    pub source: RecordSource,
    /// Output path (pattern, with rotation).
    pub out: PathBuf,
    /// Rotation, if any.
    pub rotate: Option<Rotate>,
    /// Longest accepted line.
    pub max_line: usize,
}

/// What the command line asks for.
#[derive(Debug, Clone)]
pub enum Invocation {
    /// Serve (live feeds, or a replay when `feeds` holds [`FeedSource::Replay`]).
    Serve {
        /// Validated settings.
        config: Config,
        /// `--check-config`: print and exit.
        check_only: bool,
    },
    /// Convert recorded files to normalized ticks.
    Export(ExportConfig),
    /// Record a live source.
    Record(RecordConfig),
}

/// Parses the process's command line (exits with clap's message on a syntax error or `--help`).
pub fn parse() -> Result<Invocation, ConfigError> {
    let matches = Cli::command().get_matches();
    invocation(&matches)
}

/// Parses `args` (the first is the program name), for tests.
pub fn parse_from<I, T>(args: I) -> Result<Invocation, ConfigError>
where
    I: IntoIterator<Item = T>,
    T: Into<std::ffi::OsString> + Clone,
{
    let matches = Cli::command()
        .try_get_matches_from(args)
        .map_err(|e| ConfigError::Usage(e.to_string()))?;
    invocation(&matches)
}

fn invocation(matches: &ArgMatches) -> Result<Invocation, ConfigError> {
    let cli = Cli::from_arg_matches(matches).map_err(|e| ConfigError::Usage(e.to_string()))?;
    match cli.command {
        None => {
            let mut serve = cli.serve;
            serve.merge_file(matches)?;
            let check_only = serve.check_config;
            Ok(Invocation::Serve {
                config: serve.into_config()?,
                check_only,
            })
        }
        Some(Command::Replay(args)) => {
            let args = *args;
            let sub = matches
                .subcommand_matches("replay")
                .ok_or_else(|| ConfigError::Usage("replay: no arguments".into()))?;
            replay_invocation(args, sub)
        }
        Some(Command::Record(args)) => Ok(Invocation::Record(record_config(args)?)),
    }
}

fn replay_invocation(args: ReplayArgs, matches: &ArgMatches) -> Result<Invocation, ConfigError> {
    let mut serve = args.serve;
    serve.merge_file(matches)?;
    let format: Format = args
        .format
        .parse()
        .map_err(|_| ConfigError::BadFormat(args.format.clone()))?;
    let speed: Speed = args
        .speed
        .parse()
        .map_err(|_| ConfigError::BadSpeed(args.speed.clone()))?;
    let from = args
        .from
        .as_deref()
        .map(|t| parse_time("--from", t))
        .transpose()?;
    let (export, to) = match args.to.as_deref() {
        Some("jsonl") => (Some(ExportFormat::Jsonl), None),
        Some("csv") => (Some(ExportFormat::Csv), None),
        Some(t) => (None, Some(parse_time("--to", t)?)),
        None => (None, None),
    };
    if let (Some(from), Some(to)) = (from, to)
        && from > to
    {
        return Err(ConfigError::OutOfRange("--from is after --to"));
    }
    let spec = ReplaySpec {
        files: args.files,
        format,
        speed,
        looping: args.looping,
        from,
        to,
        max_backstep: args.max_backstep.as_nanos().min(u128::from(u64::MAX)) as u64,
        max_line: serve.max_line,
        wait_subscribers: args.wait_subscribers,
    };
    if let Some(format) = export {
        if args.looping {
            return Err(ConfigError::OutOfRange(
                "--loop makes no sense with --to jsonl|csv",
            ));
        }
        if args.wait_subscribers > 0 {
            return Err(ConfigError::OutOfRange(
                "--wait-subscribers makes no sense with --to jsonl|csv",
            ));
        }
        return Ok(Invocation::Export(ExportConfig {
            spec,
            format,
            out: args.out,
            seq_base: serve.seq_base.unwrap_or(1),
        }));
    }
    if args.out.is_some() {
        return Err(ConfigError::OutOfRange("--out goes with --to jsonl|csv"));
    }
    if matches.value_source("feeds") == Some(clap::parser::ValueSource::CommandLine) {
        return Err(ConfigError::OutOfRange(
            "replay serves its FILES: --feed cannot be combined with it",
        ));
    }
    // Replays are numbered from 1 so the same files give the same ids every run, and keep
    // every tick the ring can hold, so `Last-Event-ID: 0` gets the whole recording.
    serve.seq_base = Some(serve.seq_base.unwrap_or(1));
    serve.resume_window = Some(serve.resume_window.unwrap_or(Duration::ZERO));
    let check_only = serve.check_config;
    let mut config = serve.into_config()?;
    config.feeds = vec![FeedSource::Replay(spec)];
    Ok(Invocation::Serve { config, check_only })
}

fn record_config(args: RecordArgs) -> Result<RecordConfig, ConfigError> {
    let source = match parse_feed(&args.feed)? {
        FeedSource::TcpListen { addr, .. } => RecordSource::TcpListen(addr),
        FeedSource::Synthetic => RecordSource::Synthetic(SyntheticConfig {
            symbols: args.synthetic_symbols,
            rate: args.synthetic_rate,
            seed: args.synthetic_seed,
        }),
        FeedSource::Replay(_) => return Err(ConfigError::BadFeed(args.feed)),
    };
    if let RecordSource::Synthetic(synthetic) = &source {
        validate_synthetic(synthetic)?;
    }
    let rotate = args.rotate.as_deref().map(parse_rotate).transpose()?;
    if args.max_line < 64 {
        return Err(ConfigError::OutOfRange("--max-line must be >= 64"));
    }
    Ok(RecordConfig {
        source,
        out: args.out,
        rotate,
        max_line: args.max_line,
    })
}

/// A time bound: RFC 3339 (`2024-08-08T23:55:00Z`, fractions allowed) or ns since the epoch.
pub fn parse_time(flag: &'static str, text: &str) -> Result<u64, ConfigError> {
    if !text.is_empty() && text.bytes().all(|b| b.is_ascii_digit()) {
        return text.parse().map_err(|_| ConfigError::BadTime {
            flag,
            text: text.to_owned(),
        });
    }
    humantime::parse_rfc3339_weak(text)
        .ok()
        .and_then(|t| t.duration_since(UNIX_EPOCH).ok())
        .map(|d| d.as_nanos().min(u128::from(u64::MAX)) as u64)
        .ok_or_else(|| ConfigError::BadTime {
            flag,
            text: text.to_owned(),
        })
}

/// `--rotate`: a duration (`15m`, `1h`) or a size (`512MiB`, `1GB`, `1000000`).
pub fn parse_rotate(text: &str) -> Result<Rotate, ConfigError> {
    let bad = || ConfigError::BadRotate(text.to_owned());
    let digits = text.bytes().take_while(u8::is_ascii_digit).count();
    let (number, unit) = text.split_at(digits);
    let size = number.parse::<u64>().ok().and_then(|n| {
        let factor: u64 = match unit.trim() {
            "" | "B" => 1,
            "KB" | "kB" => 1_000,
            "MB" => 1_000_000,
            "GB" => 1_000_000_000,
            "KiB" => 1 << 10,
            "MiB" => 1 << 20,
            "GiB" => 1 << 30,
            _ => return None,
        };
        n.checked_mul(factor)
    });
    if let Some(size) = size {
        return if size >= 4096 {
            Ok(Rotate::Size(size))
        } else {
            Err(bad())
        };
    }
    match humantime::parse_duration(text) {
        Ok(every) if every >= Duration::from_secs(1) => Ok(Rotate::Every(every)),
        _ => Err(bad()),
    }
}

fn validate_synthetic(synthetic: &SyntheticConfig) -> Result<(), ConfigError> {
    if !(synthetic.rate.is_finite() && synthetic.rate > 0.0) {
        return Err(ConfigError::OutOfRange("--synthetic-rate must be > 0"));
    }
    if synthetic.symbols == 0 || synthetic.symbols > 9999 {
        return Err(ConfigError::OutOfRange(
            "--synthetic-symbols must be 1..=9999",
        ));
    }
    Ok(())
}

/// The synthetic market's settings.
#[derive(Debug, Clone)]
pub struct SyntheticConfig {
    /// Number of symbols.
    pub symbols: usize,
    /// Ticks per second in total.
    pub rate: f64,
    /// Random seed.
    pub seed: u64,
}

/// Validated settings of a server run.
#[derive(Debug, Clone)]
pub struct Config {
    /// HTTP listen address.
    pub listen: SocketAddr,
    /// Tick sources.
    pub feeds: Vec<FeedSource>,
    /// Synthetic market settings (used when `feeds` has `Synthetic`).
    pub synthetic: SyntheticConfig,
    /// Declared universe, if closed by `--universe`.
    pub universe: Option<Vec<Symbol>>,
    /// Number of shards.
    pub shards: usize,
    /// Ring capacity.
    pub ring_capacity: usize,
    /// Age after which ticks leave the ring (zero: only when overwritten).
    pub resume_window: Duration,
    /// Heartbeat interval.
    pub heartbeat: Duration,
    /// `retry:` hint.
    pub retry: Duration,
    /// Per-subscriber queue before conflation.
    pub subscriber_buffer: usize,
    /// SO_SNDBUF for streams (0 = default).
    pub sndbuf: usize,
    /// TCP_NOTSENT_LOWAT for streams (0 = off).
    pub notsent_lowat: u32,
    /// How often at most a shard hands new ticks to its streams.
    pub coalesce: Coalesce,
    /// Graceful shutdown bound.
    pub drain_timeout: Duration,
    /// Feed line limit.
    pub max_line: usize,
    /// Distinct symbol limit.
    pub max_symbols: usize,
    /// Symbols per request limit.
    pub max_symbols_per_request: usize,
    /// First sequence number.
    pub seq_base: u64,
    /// Whether the process may use transparent huge pages (`main` turns them off otherwise).
    pub transparent_huge_pages: bool,
}

/// A setting that cannot be used.
#[derive(Debug, thiserror::Error)]
pub enum ConfigError {
    /// `--feed` names no known source.
    #[error("--feed {0:?}: expected `synthetic` or `tcp-listen://HOST:PORT`")]
    BadFeed(String),
    /// A `--universe` entry is not a valid symbol.
    #[error("--universe entry {name:?}: {source}")]
    BadUniverseSymbol {
        /// The entry.
        name: String,
        /// Why.
        source: SymbolError,
    },
    /// A numeric setting is out of range, or settings contradict each other.
    #[error("{0}")]
    OutOfRange(&'static str),
    /// The command line does not parse.
    #[error("{0}")]
    Usage(String),
    /// `--format` names no known message format.
    #[error(
        "--format {0:?}: expected auto, native, binance, coinbase, coinbase-advanced, kraken or bitstamp"
    )]
    BadFormat(String),
    /// `--speed` is neither a positive factor nor `max`.
    #[error("--speed {0:?}: expected a positive factor such as 1 or 10, or max")]
    BadSpeed(String),
    /// A time bound does not parse.
    #[error("{flag} {text:?}: expected RFC 3339 (2024-08-08T23:55:00Z) or ns since the epoch")]
    BadTime {
        /// The flag.
        flag: &'static str,
        /// The value.
        text: String,
    },
    /// `--rotate` is neither a size nor a duration.
    #[error(
        "--rotate {0:?}: expected a size (512MiB, 1GB; at least 4096 bytes) or a duration (15m, 1h)"
    )]
    BadRotate(String),
    /// The `--config` file cannot be read.
    #[error("--config {path}: {source}")]
    FileRead {
        /// The file.
        path: String,
        /// The OS error.
        source: std::io::Error,
    },
    /// The `--config` file is not valid TOML for these settings (unknown key, wrong type...).
    #[error("--config {path}: {message}")]
    FileParse {
        /// The file.
        path: String,
        /// What the parser said, with line and column.
        message: String,
    },
    /// A value in the `--config` file is not usable.
    #[error("--config: {field}: {message}")]
    FileValue {
        /// The setting.
        field: &'static str,
        /// Why.
        message: String,
    },
}

impl ServeArgs {
    /// Validates the flags.
    pub fn into_config(self) -> Result<Config, ConfigError> {
        let mut feeds = Vec::new();
        for feed in &self.feeds {
            feeds.push(parse_feed(feed)?);
        }
        let universe = match self.universe {
            None => None,
            Some(names) => Some(
                names
                    .iter()
                    .map(|name| {
                        Symbol::new(name.trim()).map_err(|source| ConfigError::BadUniverseSymbol {
                            name: name.clone(),
                            source,
                        })
                    })
                    .collect::<Result<Vec<_>, _>>()?,
            ),
        };
        let synthetic = SyntheticConfig {
            symbols: self.synthetic_symbols,
            rate: self.synthetic_rate,
            seed: self.synthetic_seed,
        };
        validate_synthetic(&synthetic)?;
        let shards = self
            .shards
            .unwrap_or_else(|| std::thread::available_parallelism().map_or(1, |n| n.get()));
        if shards == 0 || shards > 1024 {
            return Err(ConfigError::OutOfRange("--shards must be 1..=1024"));
        }
        if self.ring_capacity < 2 || self.ring_capacity > 1 << 30 {
            return Err(ConfigError::OutOfRange("--ring-capacity must be 2..=2^30"));
        }
        if self.subscriber_buffer == 0 {
            return Err(ConfigError::OutOfRange("--subscriber-buffer must be >= 1"));
        }
        if self.heartbeat.is_zero() {
            return Err(ConfigError::OutOfRange("--heartbeat must be > 0"));
        }
        if let Coalesce::Fixed(window) = self.coalesce
            && window > MAX_COALESCE
        {
            return Err(ConfigError::OutOfRange("--coalesce must be at most 1s"));
        }
        if self.coalesce_max.is_zero() || self.coalesce_max > MAX_COALESCE {
            return Err(ConfigError::OutOfRange(
                "--coalesce-max must be more than 0s and at most 1s",
            ));
        }
        let coalesce = match self.coalesce {
            Coalesce::Auto { .. } => Coalesce::Auto {
                max: self.coalesce_max,
            },
            fixed => fixed,
        };
        if self.max_line < 64 {
            return Err(ConfigError::OutOfRange("--max-line must be >= 64"));
        }
        if self.max_symbols_per_request == 0 {
            return Err(ConfigError::OutOfRange(
                "--max-symbols-per-request must be >= 1",
            ));
        }
        let seq_base = self.seq_base.unwrap_or_else(|| {
            SystemTime::now()
                .duration_since(UNIX_EPOCH)
                .map_or(1, |d| d.as_micros() as u64)
        });
        if seq_base == 0 || seq_base > 1 << 62 {
            return Err(ConfigError::OutOfRange("--seq-base must be 1..=2^62"));
        }
        Ok(Config {
            listen: self.listen,
            feeds,
            synthetic,
            universe,
            shards,
            ring_capacity: self.ring_capacity,
            resume_window: self.resume_window.unwrap_or(DEFAULT_RESUME_WINDOW),
            heartbeat: self.heartbeat,
            retry: self.retry,
            subscriber_buffer: self.subscriber_buffer,
            sndbuf: self.sndbuf,
            notsent_lowat: self.notsent_lowat,
            coalesce,
            drain_timeout: self.drain_timeout,
            max_line: self.max_line,
            max_symbols: self.max_symbols,
            max_symbols_per_request: self.max_symbols_per_request,
            seq_base,
            transparent_huge_pages: self.transparent_huge_pages,
        })
    }
}

/// Parses `synthetic` or `tcp-listen://HOST:PORT[?format=NAME]`.
fn parse_feed(text: &str) -> Result<FeedSource, ConfigError> {
    if text == "synthetic" {
        return Ok(FeedSource::Synthetic);
    }
    let bad = || ConfigError::BadFeed(text.to_owned());
    let Some(rest) = text.strip_prefix("tcp-listen://") else {
        return Err(bad());
    };
    let (addr, query) = rest.split_once('?').unwrap_or((rest, ""));
    let addr: SocketAddr = addr.parse().map_err(|_| bad())?;
    let mut format = Format::Native;
    for pair in query.split('&').filter(|p| !p.is_empty()) {
        match pair.split_once('=') {
            Some(("format", name)) => {
                format = name
                    .parse()
                    .map_err(|_| ConfigError::BadFormat(name.to_owned()))?;
            }
            _ => return Err(bad()),
        }
    }
    Ok(FeedSource::TcpListen { addr, format })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse(args: &[&str]) -> Result<Config, ConfigError> {
        let mut all = vec!["tickcast"];
        all.extend_from_slice(args);
        Cli::try_parse_from(all).unwrap().serve.into_config()
    }

    #[test]
    fn defaults_need_no_flags() {
        let config = parse(&[]).unwrap();
        assert_eq!(config.feeds, vec![FeedSource::Synthetic]);
        assert!(config.shards >= 1);
        assert_eq!(config.heartbeat, Duration::from_secs(15));
        assert!(config.seq_base > 1_600_000_000_000_000);
    }

    #[test]
    fn feeds_and_universe() {
        let config = parse(&[
            "--feed",
            "tcp-listen://127.0.0.1:9000",
            "--feed",
            "synthetic",
            "--universe",
            "A,B",
        ])
        .unwrap();
        assert_eq!(
            config.feeds,
            vec![
                FeedSource::TcpListen {
                    addr: "127.0.0.1:9000".parse().unwrap(),
                    format: Format::Native
                },
                FeedSource::Synthetic
            ]
        );
        assert_eq!(config.universe.unwrap().len(), 2);
    }

    #[test]
    fn file_settings_apply_unless_given_on_the_command_line() {
        let file: FileConfig = toml::from_str(
            "listen = \"127.0.0.1:9999\"\nshards = 3\nheartbeat = \"250ms\"\nfeeds = [\"tcp-listen://127.0.0.1:0\"]\n",
        )
        .unwrap();
        let mut cli = Cli::try_parse_from(["tickcast", "--shards", "5"])
            .unwrap()
            .serve;
        cli.merge(file, |id| id == "shards").unwrap();
        let config = cli.into_config().unwrap();
        assert_eq!(config.listen, "127.0.0.1:9999".parse().unwrap());
        assert_eq!(config.shards, 5);
        assert_eq!(config.heartbeat, Duration::from_millis(250));
        assert_eq!(config.feeds.len(), 1);
    }

    #[test]
    fn coalesce_is_bounded_and_auto_by_default() {
        let auto = |ms| Coalesce::Auto {
            max: Duration::from_millis(ms),
        };
        assert_eq!(parse(&[]).unwrap().coalesce, auto(16));
        assert_eq!(
            parse(&["--coalesce-max", "40ms"]).unwrap().coalesce,
            auto(40)
        );
        assert_eq!(
            parse(&["--coalesce", "AUTO", "--coalesce-max", "2ms"])
                .unwrap()
                .coalesce,
            auto(2)
        );
        assert_eq!(
            parse(&["--coalesce", "5ms"]).unwrap().coalesce,
            Coalesce::Fixed(Duration::from_millis(5))
        );
        assert_eq!(
            parse(&["--coalesce", "0s"]).unwrap().coalesce,
            Coalesce::Fixed(Duration::ZERO)
        );
        for bad in [
            &["--coalesce", "2s"][..],
            &["--coalesce-max", "0s"],
            &["--coalesce-max", "5s"],
        ] {
            assert!(
                matches!(parse(bad), Err(ConfigError::OutOfRange(_))),
                "{bad:?}"
            );
        }
        for bad in ["-1ms", "sometimes", ""] {
            assert!(
                Cli::try_parse_from(["tickcast", "--coalesce", bad]).is_err(),
                "{bad:?}"
            );
        }
        let file: FileConfig =
            toml::from_str("coalesce = \"10ms\"\ncoalesce_max = \"30ms\"").unwrap();
        let mut cli = Cli::try_parse_from(["tickcast"]).unwrap().serve;
        cli.merge(file, |_| false).unwrap();
        assert_eq!(
            cli.into_config().unwrap().coalesce,
            Coalesce::Fixed(Duration::from_millis(10))
        );
        let file: FileConfig =
            toml::from_str("coalesce = \"auto\"\ncoalesce_max = \"30ms\"").unwrap();
        let mut cli = Cli::try_parse_from(["tickcast"]).unwrap().serve;
        cli.merge(file, |_| false).unwrap();
        assert_eq!(cli.into_config().unwrap().coalesce, auto(30));
        let file: FileConfig = toml::from_str("coalesce = \"often\"").unwrap();
        let mut cli = Cli::try_parse_from(["tickcast"]).unwrap().serve;
        let error = cli.merge(file, |_| false).unwrap_err().to_string();
        assert!(
            error.contains("coalesce") && error.contains("auto"),
            "{error}"
        );
    }

    #[test]
    fn the_resume_window_defaults_to_a_minute_for_live_feeds() {
        assert_eq!(parse(&[]).unwrap().resume_window, Duration::from_secs(60));
        assert_eq!(
            parse(&["--resume-window", "0s"]).unwrap().resume_window,
            Duration::ZERO
        );
        let Invocation::Serve { config, .. } =
            parse_from(["tickcast", "replay", "a.gz", "--resume-window", "10m"]).unwrap()
        else {
            panic!("replay serves");
        };
        assert_eq!(config.resume_window, Duration::from_secs(600));
        assert!(Cli::try_parse_from(["tickcast", "--resume-window", "soon"]).is_err());
        let file: FileConfig = toml::from_str("resume_window = \"5m\"").unwrap();
        let mut cli = Cli::try_parse_from(["tickcast"]).unwrap().serve;
        cli.merge(file, |_| false).unwrap();
        assert_eq!(
            cli.into_config().unwrap().resume_window,
            Duration::from_secs(300)
        );
        let file: FileConfig = toml::from_str("resume_window = \"later\"").unwrap();
        let mut cli = Cli::try_parse_from(["tickcast"]).unwrap().serve;
        let error = cli.merge(file, |_| false).unwrap_err().to_string();
        assert!(error.contains("resume_window"), "{error}");
    }

    #[test]
    fn transparent_huge_pages_are_off_unless_a_flag_or_the_file_asks() {
        assert!(!parse(&[]).unwrap().transparent_huge_pages);
        assert!(
            parse(&["--transparent-huge-pages"])
                .unwrap()
                .transparent_huge_pages
        );
        let file: FileConfig = toml::from_str("transparent_huge_pages = true").unwrap();
        let mut cli = Cli::try_parse_from(["tickcast"]).unwrap().serve;
        cli.merge(file, |_| false).unwrap();
        assert!(cli.into_config().unwrap().transparent_huge_pages);
        let wrong = toml::from_str::<FileConfig>("transparent_huge_pages = \"yes\"")
            .unwrap_err()
            .to_string();
        assert!(wrong.contains("transparent_huge_pages"), "{wrong}");
        assert!(
            Cli::try_parse_from(["tickcast", "--transparent-huge-pages=maybe"]).is_err(),
            "a switch takes no value"
        );
    }

    #[test]
    fn file_errors_are_clear() {
        let unknown = toml::from_str::<FileConfig>("lisen = \"x\"")
            .unwrap_err()
            .to_string();
        assert!(unknown.contains("lisen"), "{unknown}");
        let wrong = toml::from_str::<FileConfig>("shards = \"two\"")
            .unwrap_err()
            .to_string();
        assert!(
            wrong.contains("shards") || wrong.contains("invalid type"),
            "{wrong}"
        );
        let file: FileConfig = toml::from_str("retry = \"soon\"").unwrap();
        let mut cli = Cli::try_parse_from(["tickcast"]).unwrap().serve;
        assert!(matches!(
            cli.merge(file, |_| false),
            Err(ConfigError::FileValue { field: "retry", .. })
        ));
    }

    #[test]
    fn replay_serves_or_exports() {
        let Invocation::Serve { config, .. } = parse_from([
            "tickcast", "replay", "a.gz", "b.zst", "--speed", "max", "--to", "1000",
        ])
        .unwrap() else {
            panic!("replay without --to jsonl|csv serves");
        };
        assert_eq!(config.seq_base, 1);
        assert_eq!(
            config.resume_window,
            Duration::ZERO,
            "a replay keeps what the ring holds"
        );
        let FeedSource::Replay(spec) = &config.feeds[0] else {
            panic!()
        };
        assert_eq!(spec.files.len(), 2);
        assert_eq!(spec.speed, Speed::Max);
        assert_eq!(spec.to, Some(1000));
        let Invocation::Export(export) = parse_from([
            "tickcast",
            "replay",
            "a.gz",
            "--to",
            "csv",
            "--from",
            "2024-08-08T23:55:00Z",
        ])
        .unwrap() else {
            panic!("--to csv exports");
        };
        assert_eq!(export.format, ExportFormat::Csv);
        assert_eq!(export.spec.from, Some(1_723_161_300_000_000_000));
        assert!(matches!(
            parse_from(["tickcast", "replay", "a", "--speed", "fast"]),
            Err(ConfigError::BadSpeed(_))
        ));
        assert!(matches!(
            parse_from(["tickcast", "replay", "a", "--format", "ftx"]),
            Err(ConfigError::BadFormat(_))
        ));
        assert!(matches!(
            parse_from(["tickcast", "replay", "a", "--to", "yesterday"]),
            Err(ConfigError::BadTime { .. })
        ));
        assert!(matches!(
            parse_from(["tickcast", "replay"]),
            Err(ConfigError::Usage(_))
        ));
    }

    #[test]
    fn a_replay_may_wait_for_its_subscribers() {
        let replay = |extra: &[&str]| {
            let mut args = vec!["tickcast", "replay", "a.jsonl"];
            args.extend_from_slice(extra);
            parse_from(args)
        };
        let Ok(Invocation::Serve { config, .. }) = replay(&["--wait-subscribers", "1000"]) else {
            panic!("serving a replay");
        };
        let [FeedSource::Replay(spec)] = &config.feeds[..] else {
            panic!("one replay source: {:?}", config.feeds);
        };
        assert_eq!(spec.wait_subscribers, 1000);
        assert!(matches!(
            replay(&["--wait-subscribers", "2", "--to", "csv"]),
            Err(ConfigError::OutOfRange(_))
        ));
        for bad in ["-1", "x", ""] {
            assert!(
                matches!(
                    replay(&["--wait-subscribers", bad]),
                    Err(ConfigError::Usage(_))
                ),
                "{bad:?}"
            );
        }
    }

    #[test]
    fn record_rotation() {
        assert_eq!(parse_rotate("512MiB").unwrap(), Rotate::Size(512 << 20));
        assert_eq!(parse_rotate("1GB").unwrap(), Rotate::Size(1_000_000_000));
        assert_eq!(
            parse_rotate("15m").unwrap(),
            Rotate::Every(Duration::from_secs(900))
        );
        for bad in ["", "10", "5XB", "0s", "soon"] {
            assert!(parse_rotate(bad).is_err(), "{bad}");
        }
        let Invocation::Record(record) = parse_from([
            "tickcast",
            "record",
            "--feed",
            "tcp-listen://127.0.0.1:0",
            "--out",
            "x.jsonl.zst",
        ])
        .unwrap() else {
            panic!()
        };
        assert!(matches!(record.source, RecordSource::TcpListen(_)));
    }

    #[test]
    fn tcp_feeds_choose_their_format() {
        assert_eq!(
            parse_feed("tcp-listen://127.0.0.1:9000?format=binance").unwrap(),
            FeedSource::TcpListen {
                addr: "127.0.0.1:9000".parse().unwrap(),
                format: Format::Binance
            }
        );
        assert!(matches!(
            parse_feed("tcp-listen://127.0.0.1:9000?format=ftx"),
            Err(ConfigError::BadFormat(_))
        ));
        assert!(matches!(
            parse_feed("tcp-listen://127.0.0.1:9000?fmt=auto"),
            Err(ConfigError::BadFeed(_))
        ));
    }

    #[test]
    fn refuses_bad_values() {
        assert!(matches!(
            parse(&["--feed", "udp://x"]),
            Err(ConfigError::BadFeed(_))
        ));
        assert!(matches!(
            parse(&["--universe", "A,B C"]),
            Err(ConfigError::BadUniverseSymbol { .. })
        ));
        assert!(matches!(
            parse(&["--shards", "0"]),
            Err(ConfigError::OutOfRange(_))
        ));
        assert!(matches!(
            parse(&["--synthetic-rate", "NaN"]),
            Err(ConfigError::OutOfRange(_))
        ));
    }
}
