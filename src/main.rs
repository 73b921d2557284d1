//! The `tickcast` binary: parse flags, start logging, run the server until a signal.

use std::process::ExitCode;

use tracing_subscriber::EnvFilter;

use tickcast::config::Invocation;

/// mimalloc, unless built with `--features system-alloc` (the platform's allocator, to tell
/// the application's memory behaviour from the allocator's in long runs; BENCHMARKS.md, S5).
#[cfg(not(feature = "system-alloc"))]
#[global_allocator]
static GLOBAL: mimalloc::MiMalloc = mimalloc::MiMalloc;

fn main() -> ExitCode {
    tracing_subscriber::fmt()
        .with_env_filter(
            EnvFilter::try_from_default_env().unwrap_or_else(|_| EnvFilter::new("info")),
        )
        .with_writer(std::io::stderr)
        .init();
    let invocation = match tickcast::config::parse() {
        Ok(invocation) => invocation,
        Err(error) => {
            eprintln!("tickcast: {error}");
            return ExitCode::from(2);
        }
    };
    let config = match invocation {
        Invocation::Serve {
            config,
            check_only: true,
        } => {
            println!("configuration ok:\n{config:#?}");
            return ExitCode::SUCCESS;
        }
        Invocation::Serve { config, .. } => {
            if !config.transparent_huge_pages {
                disable_transparent_huge_pages();
            }
            config
        }
        Invocation::Export(export) => {
            return match tickcast::replay::export::run(&export) {
                Ok(()) => ExitCode::SUCCESS,
                Err(error) => {
                    eprintln!("tickcast: {error}");
                    ExitCode::FAILURE
                }
            };
        }
        Invocation::Record(record) => {
            return run_async(tickcast::replay::record::run(record, shutdown_signal()));
        }
        Invocation::Token { key, request } => {
            let now = std::time::SystemTime::now()
                .duration_since(std::time::UNIX_EPOCH)
                .map_or(0, |d| d.as_secs());
            return match tickcast::auth::mint(&key, &request, now) {
                Ok(token) => {
                    println!("{token}");
                    ExitCode::SUCCESS
                }
                Err(error) => {
                    eprintln!("tickcast token: {error}");
                    ExitCode::FAILURE
                }
            };
        }
    };
    run_async(tickcast::server::run(*config, shutdown_signal()))
}

/// Turns transparent huge pages off for this process (see `--transparent-huge-pages`). mimalloc
/// asks for them on its heap (`madvise(MADV_HUGEPAGE)`), and with the usual kernel setting
/// (`khugepaged/max_ptes_none` = 511) `khugepaged` refills any 2 MiB region of it that still has
/// one page in use, so RSS steps up by several MiB whenever its scan passes by. mimalloc's own
/// switch (`MIMALLOC_ALLOW_THP=0`) is read from the environment before `main` runs, so the
/// process sets the same flag itself (`prctl(PR_SET_THP_DISABLE)`, a flag of its memory map). A
/// failure is logged: the server works either way.
fn disable_transparent_huge_pages() {
    #[cfg(target_os = "linux")]
    if let Err(error) = nix::sys::prctl::set_thp_disable(true) {
        tracing::warn!(%error, "cannot turn transparent huge pages off; RSS may grow in steps");
    }
}

/// Runs `work` on the control runtime and turns its outcome into the exit code.
fn run_async<E: std::fmt::Display>(work: impl Future<Output = Result<(), E>>) -> ExitCode {
    let runtime = match tokio::runtime::Builder::new_multi_thread()
        .worker_threads(1)
        .thread_name("tickcast-control")
        .enable_all()
        .build()
    {
        Ok(runtime) => runtime,
        Err(error) => {
            eprintln!("tickcast: cannot start the runtime: {error}");
            return ExitCode::FAILURE;
        }
    };
    let result = runtime.block_on(work);
    // Connections still open after the drain timeout are cut here, with the runtime.
    runtime.shutdown_timeout(std::time::Duration::from_millis(100));
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(error) => {
            eprintln!("tickcast: {error}");
            ExitCode::FAILURE
        }
    }
}

/// Resolves on the first SIGTERM or SIGINT; a second one exits at once.
async fn shutdown_signal() {
    use tokio::signal::unix::{SignalKind, signal};
    let (Ok(mut term), Ok(mut int)) = (
        signal(SignalKind::terminate()),
        signal(SignalKind::interrupt()),
    ) else {
        tracing::error!("cannot install signal handlers; stop with SIGKILL");
        std::future::pending::<()>().await;
        return;
    };
    tokio::select! {
        _ = term.recv() => tracing::info!("SIGTERM received"),
        _ = int.recv() => tracing::info!("SIGINT received"),
    }
    tokio::spawn(async move {
        tokio::select! {
            _ = term.recv() => {},
            _ = int.recv() => {},
        }
        tracing::warn!("second signal: exiting without drain");
        std::process::exit(130);
    });
}
