//! Command-line flags, parsed once into a [`Scenario`] and run [`Options`].
//!
//! `--scenario NAME` picks a preset; every scenario flag that is given overrides the preset's
//! value, so `--scenario firehose --connections 2000 --rate 250` is S2 at 2k x 250.

use std::net::SocketAddr;
use std::path::PathBuf;
use std::str::FromStr;
use std::time::Duration;

use clap::Parser;

use crate::mix::Mix;
use crate::run::Options;
use crate::scenario::{LatencyFrom, Preset, Scenario, Target};
use crate::schedule::Burst;
use crate::server::SpawnSpec;
use crate::transport::{TlsOptions, Trust};

/// Drive a load scenario against tickcast (or nginx+nchan) and report delivery, latency,
/// integrity and the server's CPU and memory.
#[derive(Debug, Clone, Parser)]
#[command(name = "tickcast-load", version, max_term_width = 100)]
pub struct Args {
    /// Scenario preset (issue 4, S1-S6); the flags below override its values.
    #[arg(long, short = 's', value_enum, default_value_t = Preset::Custom)]
    pub scenario: Preset,

    // === Where ===
    /// Server kind: decides the URLs (`/v1/stream` vs `/sub/`), feeding (TCP vs POST) and the
    /// integrity rules.
    #[arg(long, value_enum, help_heading = "Target")]
    pub server: Option<Target>,
    /// Base URL of a running server [default: http://127.0.0.1:8080, nchan :8090; https://
    /// with --tls].
    #[arg(long, value_name = "URL", help_heading = "Target")]
    pub target: Option<String>,
    /// tickcast's native feed (`--feed tcp-listen://HOST:PORT` on the server).
    #[arg(long, value_name = "HOST:PORT", help_heading = "Target")]
    pub feed: Option<SocketAddr>,
    /// Server pid whose CPU and RSS to report; repeatable (nchan: the master pid; its
    /// workers are added as its children).
    #[arg(long = "server-pid", value_name = "PID", help_heading = "Target")]
    pub server_pids: Vec<u32>,
    /// Do not add the children of `--server-pid` processes.
    #[arg(long, help_heading = "Target")]
    pub no_server_children: bool,
    /// Start tickcast for the run (PATH defaults to the `tickcast` binary next to this one);
    /// arguments after `--` are passed to it.
    #[arg(
        long,
        value_name = "PATH",
        num_args = 0..=1,
        default_missing_value = "",
        help_heading = "Target"
    )]
    pub spawn_tickcast: Option<PathBuf>,
    /// Where the spawned server's stderr goes (default: kept in memory, shown on failure).
    #[arg(long, value_name = "FILE", help_heading = "Target")]
    pub server_log: Option<PathBuf>,
    /// Load a non-loopback target.
    #[arg(long, help_heading = "Target")]
    pub allow_remote: bool,
    // === TLS ===
    /// Connect with TLS (rustls, ALPN `http/1.1`); needs `--tls-ca` or `--tls-insecure`. A
    /// spawned tickcast needs its `--tls-cert` and `--tls-key` after `--`.
    #[arg(long, help_heading = "TLS")]
    pub tls: bool,
    /// PEM file of the roots to trust (a self-signed server certificate is its own root).
    #[arg(
        long,
        value_name = "FILE",
        requires = "tls",
        conflicts_with = "tls_insecure",
        help_heading = "TLS"
    )]
    pub tls_ca: Option<PathBuf>,
    /// Accept any certificate for any name (the handshake is otherwise real). For benchmarks
    /// on your own machine only: nothing is authenticated.
    #[arg(long, requires = "tls", help_heading = "TLS")]
    pub tls_insecure: bool,
    /// Name sent as SNI and checked against the certificate.
    #[arg(
        long,
        value_name = "NAME",
        default_value = "localhost",
        requires = "tls",
        help_heading = "TLS"
    )]
    pub tls_server_name: String,
    /// Speak HTTP/2 (ALPN `h2`, hyper's client) instead of HTTP/1.1; needs `--tls`. Slow
    /// clients are HTTP/1.1 only.
    #[arg(long, requires = "tls", help_heading = "TLS")]
    pub http2: bool,
    /// With `--http2`: SSE streams per connection (`--connections` counts streams).
    #[arg(
        long,
        value_name = "N",
        default_value_t = 1,
        requires = "http2",
        value_parser = clap::value_parser!(u32).range(1..),
        help_heading = "TLS"
    )]
    pub streams_per_connection: u32,

    /// Arguments for the spawned tickcast (after `--`).
    #[arg(last = true, value_name = "SERVER ARGS")]
    pub server_args: Vec<String>,

    // === Load ===
    /// SSE connections.
    #[arg(long, short = 'c', help_heading = "Load")]
    pub connections: Option<usize>,
    /// Subscriber mix, e.g. `firehose=0.2,uniform=0.3,zipf=0.5` (weights, normalised).
    #[arg(long, help_heading = "Load")]
    pub mix: Option<Mix>,
    /// Symbols per non-firehose client.
    #[arg(
        long = "symbols-per-client",
        short = 'k',
        value_name = "K",
        help_heading = "Load"
    )]
    pub k: Option<u32>,
    /// Zipf exponent `s` of the Zipf clients' symbol choice (rank r has weight 1/r^s).
    #[arg(long, help_heading = "Load")]
    pub zipf_s: Option<f64>,
    /// Symbols fed.
    #[arg(long, help_heading = "Load")]
    pub symbols: Option<u32>,
    /// Prefix of the symbol names (`LT` gives `LT0001`, ...).
    #[arg(long, help_heading = "Load")]
    pub symbol_prefix: Option<String>,
    /// Ticks per second over all symbols (0: do not feed).
    #[arg(long, short = 'r', help_heading = "Load")]
    pub rate: Option<f64>,
    /// Zipf exponent of which symbol each tick is for (0: round robin).
    #[arg(long, help_heading = "Load")]
    pub tick_zipf: Option<f64>,
    /// Rate bursts `FACTOR,EVERY,LENGTH` (e.g. `10,30s,1s`), or `none`.
    #[arg(long, value_name = "SPEC", help_heading = "Load")]
    pub burst: Option<BurstArg>,
    /// How long to feed (or hold idle connections), e.g. `10s`, `10m`.
    #[arg(long, short = 'd', value_parser = duration, help_heading = "Load")]
    pub duration: Option<Duration>,
    /// Share of slow clients.
    #[arg(long, help_heading = "Clients")]
    pub slow: Option<f64>,
    /// Bytes per second a slow client reads.
    #[arg(long, help_heading = "Clients")]
    pub slow_rate: Option<u64>,
    /// SO_RCVBUF of slow and paused clients, bytes.
    #[arg(long, help_heading = "Clients")]
    pub slow_rcvbuf: Option<usize>,
    /// Share of paused clients (read the head, then nothing).
    #[arg(long, help_heading = "Clients")]
    pub paused: Option<f64>,
    /// Share of clients that drop and resume with Last-Event-ID all at once.
    #[arg(long, help_heading = "Clients")]
    pub reconnect: Option<f64>,
    /// When the reconnect storm hits, after the feed starts.
    #[arg(long, value_parser = duration, help_heading = "Clients")]
    pub reconnect_at: Option<Duration>,
    /// Reconnect (after the `retry:` delay, with Last-Event-ID) after a broken connection or a
    /// failed reconnect too, as a browser's EventSource does; resume times are then measured.
    #[arg(long, help_heading = "Clients")]
    pub reconnect_on_error: bool,
    /// Latency from the feeder's scheduled `ts` or tickcast's ingest `rx`.
    #[arg(long, value_enum, help_heading = "Clients")]
    pub latency_from: Option<LatencyFrom>,
    /// Last-Event-ID of the first subscription (`0`: a whole replay); `none` for none.
    #[arg(long, help_heading = "Clients")]
    pub last_event_id: Option<String>,
    /// Extra query parameters of tickcast's stream URL, e.g. `complete=1` (replays, quants).
    #[arg(long, help_heading = "Clients")]
    pub stream_query: Option<String>,
    /// Connection attempts in flight at once.
    #[arg(long, help_heading = "Clients")]
    pub connect_concurrency: Option<usize>,
    /// New connections per second at most (0: unlimited).
    #[arg(long, help_heading = "Clients")]
    pub connect_rate: Option<f64>,
    /// Bound on connect plus response head.
    #[arg(long, value_parser = duration, help_heading = "Clients")]
    pub connect_timeout: Option<Duration>,
    /// After the feed, how long to wait for the last ticks.
    #[arg(long, value_parser = duration, help_heading = "Clients")]
    pub drain_timeout: Option<Duration>,
    /// nchan publisher connections.
    #[arg(long, help_heading = "Load")]
    pub publishers: Option<usize>,
    /// Seed of every random choice.
    #[arg(long, help_heading = "Load")]
    pub seed: Option<u64>,

    // === Running ===
    /// Client threads (default: one per available CPU, which honours `taskset`).
    #[arg(long, short = 't', help_heading = "Run")]
    pub threads: Option<usize>,
    /// Loopback source addresses 127.0.0.1..N (default: one per 16k connections).
    #[arg(long, help_heading = "Run")]
    pub source_ips: Option<usize>,
    /// Write the JSON report to FILE (`-`: stdout, the table goes to stderr).
    #[arg(long, value_name = "FILE", help_heading = "Run")]
    pub json: Option<PathBuf>,
    /// No human table.
    #[arg(long, short = 'q', help_heading = "Run")]
    pub quiet: bool,
    /// No progress bar (it is hidden anyway when stderr is not a terminal).
    #[arg(long, help_heading = "Run")]
    pub no_progress: bool,
    /// Exit with status 3 unless every client connected and fast clients lost nothing.
    #[arg(long, help_heading = "Run")]
    pub expect_clean: bool,
    /// Print the resolved scenario as JSON and exit.
    #[arg(long, help_heading = "Run")]
    pub print_scenario: bool,
}

/// `FACTOR,EVERY,LENGTH` or `none`.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct BurstArg(pub Option<Burst>);

impl FromStr for BurstArg {
    type Err = String;

    fn from_str(text: &str) -> Result<Self, String> {
        if text == "none" || text == "off" {
            return Ok(BurstArg(None));
        }
        let parts: Vec<&str> = text.split(',').map(str::trim).collect();
        let [factor, every, length] = parts[..] else {
            return Err(format!(
                "expected FACTOR,EVERY,LENGTH (e.g. 10,30s,1s), got {text:?}"
            ));
        };
        let factor: f64 = factor
            .trim_end_matches('x')
            .parse()
            .map_err(|_| format!("bad burst factor {factor:?}"))?;
        Ok(BurstArg(Some(Burst {
            factor,
            every: duration(every)?,
            length: duration(length)?,
        })))
    }
}

/// A duration: `1.5s`, `250ms`, `10m`, or plain seconds.
pub fn duration(text: &str) -> Result<Duration, String> {
    if let Ok(seconds) = text.parse::<f64>() {
        return Duration::try_from_secs_f64(seconds).map_err(|e| e.to_string());
    }
    humantime::parse_duration(text).map_err(|e| format!("bad duration {text:?}: {e}"))
}

impl Args {
    /// The preset with every given flag applied.
    pub fn scenario(&self) -> Scenario {
        let mut s = self.scenario.scenario();
        macro_rules! set {
            ($($field:ident),*) => {$(
                if let Some(value) = self.$field.clone() {
                    s.$field = value;
                }
            )*};
        }
        set!(
            connections,
            mix,
            k,
            zipf_s,
            symbols,
            symbol_prefix,
            rate,
            tick_zipf,
            duration,
            slow,
            slow_rate,
            slow_rcvbuf,
            paused,
            reconnect,
            reconnect_at,
            latency_from,
            connect_concurrency,
            connect_timeout,
            drain_timeout,
            publishers,
            seed
        );
        if self.reconnect_on_error {
            s.reconnect_on_error = true;
        }
        if let Some(server) = self.server {
            s.target = server;
        }
        if let Some(BurstArg(burst)) = self.burst {
            s.burst = burst;
        }
        if let Some(id) = &self.last_event_id {
            s.last_event_id = (id != "none").then(|| id.clone());
        }
        if let Some(query) = &self.stream_query {
            s.stream_query = (!query.is_empty()).then(|| query.clone());
        }
        if let Some(rate) = self.connect_rate {
            s.connect_rate = (rate > 0.0).then_some(rate);
        }
        s
    }

    /// Where and how to run. `exe` is this program (to find a sibling `tickcast`).
    pub fn options(&self, exe: Option<&std::path::Path>) -> Result<Options, String> {
        let spawn = match &self.spawn_tickcast {
            None => None,
            Some(path) => {
                let path = if path.as_os_str().is_empty() {
                    exe.and_then(crate::server::sibling_binary).ok_or(
                        "--spawn-tickcast without a PATH needs a `tickcast` binary next to \
                         this one (cargo build -p tickcast)",
                    )?
                } else {
                    path.clone()
                };
                Some(SpawnSpec {
                    path,
                    args: self.server_args.clone(),
                    log: self.server_log.clone(),
                })
            }
        };
        if spawn.is_none() && !self.server_args.is_empty() {
            return Err("arguments after `--` are for --spawn-tickcast".into());
        }
        let tls = self.tls_options()?;
        if let Some(spawn) = &spawn {
            // Both mistakes would otherwise show up as every connection failing.
            let gives = |flag: &str| {
                spawn
                    .args
                    .iter()
                    .any(|a| a == flag || a.starts_with(&format!("{flag}=")))
            };
            match (tls.is_some(), gives("--tls-cert") || gives("--config")) {
                (true, false) => {
                    return Err(
                        "with --tls, give the spawned tickcast its certificate after \
                                `--`: `-- --tls-cert CERT.pem --tls-key KEY.pem`"
                            .into(),
                    );
                }
                (false, _) if gives("--tls-cert") => {
                    return Err(
                        "the spawned tickcast serves TLS (--tls-cert): pass --tls with \
                                --tls-ca CERT.pem (or --tls-insecure)"
                            .into(),
                    );
                }
                _ => {}
            }
        }
        Ok(Options {
            url: self.target.clone(),
            feed: self.feed,
            server_pids: self.server_pids.clone(),
            server_children: !self.no_server_children,
            spawn,
            threads: self.threads.unwrap_or(0),
            source_ips: self.source_ips,
            progress: !self.no_progress,
            allow_remote: self.allow_remote,
            tls,
            streams_per_connection: self.streams_per_connection as usize,
        })
    }

    /// The TLS settings, if `--tls`; an error if it is not said what to trust, or if the
    /// target cannot do TLS.
    fn tls_options(&self) -> Result<Option<TlsOptions>, String> {
        if !self.tls {
            return Ok(None);
        }
        let trust = match (&self.tls_ca, self.tls_insecure) {
            (Some(ca), false) => Trust::Ca(ca.clone()),
            (None, true) => Trust::AnyCertificate,
            (None, false) => {
                return Err("--tls needs --tls-ca FILE (the PEM root to trust), or \
                            --tls-insecure to accept any certificate (benchmarks only)"
                    .into());
            }
            (Some(_), true) => return Err("--tls-ca and --tls-insecure exclude each other".into()),
        };
        let scenario = self.scenario();
        if scenario.target == Target::Nchan {
            return Err("--tls is for tickcast: the nchan publishers speak plain HTTP".into());
        }
        if self.http2 && scenario.slow > 0.0 {
            return Err("slow clients are HTTP/1.1 only: --slow 0 with --http2".into());
        }
        Ok(Some(TlsOptions {
            server_name: self.tls_server_name.clone(),
            trust,
            http2: self.http2,
        }))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse(words: &[&str]) -> Args {
        Args::try_parse_from(std::iter::once("tickcast-load").chain(words.iter().copied())).unwrap()
    }

    #[test]
    fn flags_override_the_preset() {
        let args = parse(&["--scenario", "firehose", "-c", "2000", "--rate", "250"]);
        let s = args.scenario();
        assert_eq!(
            (s.name.as_str(), s.connections, s.rate),
            ("firehose", 2000, 250.0)
        );
        assert_eq!(s.mix, Mix::FIREHOSE);
        let s = parse(&["-s", "market", "--burst", "none", "--duration", "1m"]).scenario();
        assert_eq!(s.burst, None);
        assert_eq!(s.duration, Duration::from_secs(60));
        let s = parse(&["-s", "replay", "--last-event-id", "none"]).scenario();
        assert_eq!(s.last_event_id, None);
        let s = parse(&[
            "--server", "nchan", "--mix", "zipf", "-k", "30", "--zipf-s", "1.2",
        ])
        .scenario();
        assert_eq!(
            (s.target, s.mix, s.k, s.zipf_s),
            (Target::Nchan, Mix::ZIPF, 30, 1.2)
        );
    }

    #[test]
    fn values() {
        assert_eq!(duration("1.5").unwrap(), Duration::from_millis(1500));
        assert_eq!(duration("250ms").unwrap(), Duration::from_millis(250));
        assert!(duration("soon").is_err());
        let burst: BurstArg = "10x,30s,1s".parse().unwrap();
        assert_eq!(burst.0.unwrap().every, Duration::from_secs(30));
        assert!("10,30s".parse::<BurstArg>().is_err());
    }

    #[test]
    fn spawn_options() {
        let args = parse(&["--spawn-tickcast", "/x/tickcast", "--", "--shards", "1"]);
        let options = args.options(None).unwrap();
        let spawn = options.spawn.unwrap();
        assert_eq!(spawn.path, PathBuf::from("/x/tickcast"));
        assert_eq!(spawn.args, vec!["--shards", "1"]);
        assert!(parse(&["--", "--shards", "1"]).options(None).is_err());
        let attach = parse(&[
            "--target",
            "http://127.0.0.1:9",
            "--server-pid",
            "5",
            "--server-pid",
            "6",
        ]);
        let options = attach.options(None).unwrap();
        assert_eq!(options.server_pids, vec![5, 6]);
        assert!(options.server_children);
    }

    #[test]
    fn tls_flags() {
        let plain = parse(&[]).options(None).unwrap();
        assert_eq!(plain.tls, None);

        let tls = parse(&["--tls", "--tls-ca", "c.pem"])
            .options(None)
            .unwrap();
        assert_eq!(
            tls.tls,
            Some(TlsOptions {
                server_name: "localhost".into(),
                trust: Trust::Ca("c.pem".into()),
                http2: false,
            })
        );
        let insecure = parse(&["--tls", "--tls-insecure", "--tls-server-name", "127.0.0.1"]);
        assert_eq!(
            insecure.options(None).unwrap().tls.unwrap(),
            TlsOptions {
                server_name: "127.0.0.1".into(),
                trust: Trust::AnyCertificate,
                http2: false,
            }
        );

        // --tls must say what to trust, and only one way.
        let err = parse(&["--tls"]).options(None).unwrap_err();
        assert!(
            err.contains("--tls-ca") && err.contains("--tls-insecure"),
            "{err}"
        );
        let refused = |words: &[&str]| {
            Args::try_parse_from(std::iter::once("tickcast-load").chain(words.iter().copied()))
                .unwrap_err()
                .kind()
        };
        use clap::error::ErrorKind;
        assert_eq!(
            refused(&["--tls", "--tls-ca", "c.pem", "--tls-insecure"]),
            ErrorKind::ArgumentConflict
        );
        // The TLS details without --tls are a mistake, not silently plain.
        assert_eq!(
            refused(&["--tls-ca", "c.pem"]),
            ErrorKind::MissingRequiredArgument
        );
        assert_eq!(
            refused(&["--tls-insecure"]),
            ErrorKind::MissingRequiredArgument
        );
        assert_eq!(
            refused(&["--tls-server-name", "x"]),
            ErrorKind::MissingRequiredArgument
        );
        let err = parse(&["--server", "nchan", "--tls", "--tls-insecure"])
            .options(None)
            .unwrap_err();
        assert!(err.contains("nchan"), "{err}");
    }

    #[test]
    fn http2_flags() {
        let options = parse(&[
            "--tls",
            "--tls-insecure",
            "--http2",
            "--streams-per-connection",
            "10",
        ])
        .options(None)
        .unwrap();
        assert!(options.tls.unwrap().http2);
        assert_eq!(options.streams_per_connection, 10);
        assert_eq!(
            parse(&["--tls", "--tls-insecure", "--http2"])
                .options(None)
                .unwrap()
                .streams_per_connection,
            1
        );
        let refused = |words: &[&str]| {
            Args::try_parse_from(std::iter::once("tickcast-load").chain(words.iter().copied()))
                .unwrap_err()
                .kind()
        };
        use clap::error::ErrorKind;
        assert_eq!(refused(&["--http2"]), ErrorKind::MissingRequiredArgument);
        assert_eq!(
            refused(&["--streams-per-connection", "4"]),
            ErrorKind::MissingRequiredArgument
        );
        assert_eq!(
            refused(&[
                "--tls",
                "--tls-insecure",
                "--http2",
                "--streams-per-connection",
                "0"
            ]),
            ErrorKind::ValueValidation
        );
        let err = parse(&["-s", "slow", "--tls", "--tls-insecure", "--http2"])
            .options(None)
            .unwrap_err();
        assert!(err.contains("slow"), "{err}");
        assert!(
            parse(&[
                "-s",
                "slow",
                "--slow",
                "0",
                "--tls",
                "--tls-insecure",
                "--http2"
            ])
            .options(None)
            .is_ok()
        );
    }

    #[test]
    fn a_spawned_server_and_the_clients_agree_on_tls() {
        let spawn = |words: &[&str]| {
            let mut all = vec!["--spawn-tickcast", "/x/tickcast"];
            all.extend_from_slice(words);
            parse(&all).options(None)
        };
        let options = spawn(&[
            "--tls",
            "--tls-ca",
            "c.pem",
            "--",
            "--tls-cert",
            "c.pem",
            "--tls-key",
            "k.pem",
        ])
        .unwrap();
        assert!(options.tls.is_some());
        assert_eq!(
            options.spawn.unwrap().args,
            vec!["--tls-cert", "c.pem", "--tls-key", "k.pem"]
        );
        // A config file may hold the certificate.
        assert!(spawn(&["--tls", "--tls-insecure", "--", "--config", "t.toml"]).is_ok());
        let err = spawn(&["--tls", "--tls-ca", "c.pem"]).unwrap_err();
        assert!(err.contains("--tls-cert"), "{err}");
        let err = spawn(&["--", "--tls-cert=c.pem", "--tls-key=k.pem"]).unwrap_err();
        assert!(err.contains("pass --tls"), "{err}");
    }

    #[test]
    fn clap_definition_is_consistent() {
        use clap::CommandFactory;
        Args::command().debug_assert();
    }
}
