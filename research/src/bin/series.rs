//! `series`: submit, follow, reproduce and report a series of training rounds (the command line
//! is `rboinc_research::cli`, the work the rest of `rboinc_research`).

use std::process::ExitCode;

use clap::Parser;
use rboinc_research::cli::{self, Cli};

#[tokio::main(flavor = "current_thread")]
async fn main() -> ExitCode {
    let cli = Cli::parse();
    match cli::run(cli).await {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            rboinc_tools::output::eprintln(format_args!("series: {e:#}"));
            ExitCode::FAILURE
        }
    }
}
