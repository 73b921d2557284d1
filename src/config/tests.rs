//! Settings as a user gives them: flags, the file, and what is refused.

use std::time::Duration;

use clap::Parser;

use super::values::parse_feed;
use super::*;
use crate::replay::export::ExportFormat;
use crate::replay::pace::Speed;
use crate::replay::record::{RecordSource, Rotate};

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
    let file: FileConfig = toml::from_str("coalesce = \"10ms\"\ncoalesce_max = \"30ms\"").unwrap();
    let mut cli = Cli::try_parse_from(["tickcast"]).unwrap().serve;
    cli.merge(file, |_| false).unwrap();
    assert_eq!(
        cli.into_config().unwrap().coalesce,
        Coalesce::Fixed(Duration::from_millis(10))
    );
    let file: FileConfig = toml::from_str("coalesce = \"auto\"\ncoalesce_max = \"30ms\"").unwrap();
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

#[test]
fn tls_needs_both_files_from_flags_or_the_file() {
    assert_eq!(parse(&[]).unwrap().http_settings().tls, None);
    let config = parse(&["--tls-cert", "c.pem", "--tls-key", "k.pem"]).unwrap();
    let tls = config.http_settings().tls.unwrap();
    assert_eq!(
        (tls.cert.to_str(), tls.key.to_str()),
        (Some("c.pem"), Some("k.pem"))
    );
    assert!(matches!(
        parse(&["--tls-cert", "c.pem"]),
        Err(ConfigError::TlsHalf {
            missing: "--tls-key",
            ..
        })
    ));
    let half = parse(&["--tls-key", "k.pem"]).unwrap_err().to_string();
    assert!(
        half.contains("--tls-cert") && half.contains("both"),
        "{half}"
    );

    // The file may give one and the command line the other.
    let file: FileConfig = toml::from_str("tls_cert = \"/etc/c.pem\"").unwrap();
    let mut cli = Cli::try_parse_from(["tickcast", "--tls-key", "k.pem"])
        .unwrap()
        .serve;
    cli.merge(file, |field| field == "tls_key").unwrap();
    let tls = cli.into_config().unwrap().tls.unwrap();
    assert_eq!(tls.cert.to_str(), Some("/etc/c.pem"));
}

#[test]
fn cluster_roles_need_redis_and_an_edge_reads_no_feed() {
    assert!(
        parse(&[]).unwrap().cluster.is_none(),
        "--role all by default"
    );
    let edge = parse(&["--role", "edge", "--redis", "redis://:pw@127.0.0.1:6390/2"]).unwrap();
    let cluster = edge.cluster.expect("edge settings");
    assert_eq!(cluster.role, crate::cluster::Role::Edge);
    assert_eq!(cluster.prefix, "tickcast");
    assert_eq!(cluster.lease, Duration::from_secs(5));
    assert!(edge.feeds.is_empty(), "an edge's ticks come from Redis");
    let feed = parse(&["--role", "feed", "--redis", "rediss://127.0.0.1:6390"]).unwrap();
    assert_eq!(feed.feeds, vec![FeedSource::Synthetic]);
    for (args, words) in [
        (&["--role", "edge"][..], "needs --redis"),
        (&["--role", "feed"][..], "needs --redis"),
        (
            &["--redis", "redis://127.0.0.1:6379"][..],
            "--role feed or --role edge",
        ),
        (
            &[
                "--role",
                "edge",
                "--redis",
                "redis://127.0.0.1",
                "--feed",
                "synthetic",
            ][..],
            "reads no --feed",
        ),
        (
            &["--role", "edge", "--redis", "http://127.0.0.1:6379"][..],
            "redis",
        ),
        (
            &["--role", "edge", "--redis", "redis://127.0.0.1:notaport"][..],
            "redis",
        ),
        (
            &[
                "--role",
                "edge",
                "--redis",
                "redis://h",
                "--redis-prefix",
                "a b",
            ][..],
            "--redis-prefix",
        ),
        (
            &[
                "--role",
                "feed",
                "--redis",
                "redis://h",
                "--leader-lease",
                "10ms",
            ][..],
            "--leader-lease",
        ),
    ] {
        let error = parse(args).unwrap_err().to_string();
        assert!(error.contains(words), "{args:?}: {error}");
    }
    assert!(Cli::try_parse_from(["tickcast", "--role", "leader"]).is_err());
    let file: FileConfig = toml::from_str(
        "role = \"edge\"\nredis = \"redis://127.0.0.1:6391\"\nredis_prefix = \"blue\"\nleader_lease = \"2s\"",
    )
    .unwrap();
    let mut cli = Cli::try_parse_from(["tickcast"]).unwrap().serve;
    cli.merge(file, |_| false).unwrap();
    let cluster = cli.into_config().unwrap().cluster.unwrap();
    assert_eq!(
        (cluster.prefix.as_str(), cluster.lease),
        ("blue", Duration::from_secs(2))
    );
    let file: FileConfig = toml::from_str("role = \"leader\"").unwrap();
    let mut cli = Cli::try_parse_from(["tickcast"]).unwrap().serve;
    assert!(
        cli.merge(file, |_| false)
            .unwrap_err()
            .to_string()
            .contains("role")
    );
}
