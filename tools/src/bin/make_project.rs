//! `make_project`: creates a project directory and database (BOINC's flags; see
//! `rboinc_tools::make_project`, whose `cli` module is this command line).

use std::process::ExitCode;

use clap::Parser;
use rboinc_tools::make_project::cli::{self, Cli};

#[tokio::main(flavor = "current_thread")]
async fn main() -> ExitCode {
    match cli::run(Cli::parse()).await {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            rboinc_tools::output::eprintln(format_args!("make_project: {e:#}"));
            ExitCode::FAILURE
        }
    }
}
