//! `harness`: the command line, a thin layer over the `harness` library
//! ([`harness::cli`] has the options, the commands and the exit codes).

use clap::Parser;
use std::process::ExitCode;

fn main() -> ExitCode {
    harness::cli::die_on_closed_pipe();
    let result = harness::cli::Cli::parse().exec();
    if let Err(e) = &result {
        if !e.already_printed() {
            eprintln!("error: {e}");
        }
    }
    ExitCode::from(harness::cli::exit_code(&result))
}
