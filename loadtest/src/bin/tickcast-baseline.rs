//! `tickcast-baseline`: the plain tokio-broadcast SSE server that issue 4's S2 compares
//! tickcast against. What it is and what it leaves out: `tickcast_load::baseline`.

use std::net::SocketAddr;
use std::process::ExitCode;

use clap::Parser;

use tickcast_load::baseline::{self, Config};

/// A plain tokio-broadcast SSE tick server (a benchmark baseline, not a product).
#[derive(Debug, Parser)]
#[command(version)]
struct Args {
    /// HTTP address (port 0 picks one; the ready line on stdout tells).
    #[arg(long, default_value = "127.0.0.1:8080")]
    listen: SocketAddr,
    /// Native feed: `tcp-listen://HOST:PORT`, as tickcast's flag.
    #[arg(long, default_value = "tcp-listen://127.0.0.1:9000")]
    feed: String,
    /// Events a connection may fall behind before it skips (broadcast channel capacity).
    #[arg(long, default_value_t = 65536)]
    capacity: usize,
    /// The `retry:` hint in ms.
    #[arg(long, default_value_t = 2000)]
    retry_ms: u64,
}

fn main() -> ExitCode {
    let args = Args::parse();
    let Some(feed) = args
        .feed
        .strip_prefix("tcp-listen://")
        .and_then(|a| a.parse().ok())
    else {
        eprintln!("tickcast-baseline: --feed must be tcp-listen://HOST:PORT");
        return ExitCode::from(2);
    };
    let config = Config {
        listen: args.listen,
        feed,
        capacity: args.capacity,
        retry_ms: args.retry_ms,
    };
    // tokio's default multi-threaded runtime, as `#[tokio::main]` builds it: one worker per
    // available CPU (affinity honoured, so one under `taskset -c 0`).
    let runtime = match tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
    {
        Ok(runtime) => runtime,
        Err(err) => {
            eprintln!("tickcast-baseline: cannot start the runtime: {err}");
            return ExitCode::FAILURE;
        }
    };
    match runtime.block_on(baseline::serve(config)) {
        Ok(()) => ExitCode::SUCCESS,
        Err(err) => {
            eprintln!("tickcast-baseline: {err}");
            ExitCode::FAILURE
        }
    }
}
