//! `tickcast-load`: parse flags, run the scenario, print the table and write the JSON report.

use std::io::Write;
use std::process::ExitCode;

use clap::Parser;

use tickcast_load::cli::Args;

fn main() -> ExitCode {
    let args = Args::parse();
    let scenario = args.scenario();
    if args.print_scenario {
        println!(
            "{}",
            serde_json::to_string_pretty(&scenario).expect("a scenario serializes")
        );
        return match scenario.validate() {
            Ok(()) => ExitCode::SUCCESS,
            Err(err) => {
                eprintln!("tickcast-load: {err}");
                ExitCode::from(2)
            }
        };
    }
    let exe = std::env::current_exe().ok();
    let options = match args.options(exe.as_deref()) {
        Ok(options) => options,
        Err(err) => {
            eprintln!("tickcast-load: {err}");
            return ExitCode::from(2);
        }
    };
    let report = match tickcast_load::run::run(&scenario, &options) {
        Ok(report) => report,
        Err(err) => {
            eprintln!("tickcast-load: {err}");
            return ExitCode::FAILURE;
        }
    };
    let json_to_stdout = args.json.as_deref().is_some_and(|p| p.as_os_str() == "-");
    if !args.quiet {
        let table = report.render();
        if json_to_stdout {
            eprint!("{table}");
        } else {
            print!("{table}");
        }
    }
    if let Some(path) = &args.json {
        let json = report.to_json();
        let written = if json_to_stdout {
            writeln!(std::io::stdout(), "{json}")
        } else {
            std::fs::write(path, json + "\n")
        };
        if let Err(err) = written {
            eprintln!(
                "tickcast-load: cannot write the report to {}: {err}",
                path.display()
            );
            return ExitCode::FAILURE;
        }
    }
    let clean = report.verdict.all_connected && report.verdict.fast_clients_clean;
    if args.expect_clean && !clean {
        return ExitCode::from(3);
    }
    ExitCode::SUCCESS
}
