//! `scheduler`: see [`rboinc_scheduler::cli`].

use std::process::ExitCode;

use rboinc_scheduler::cli::{self, Cli};

#[tokio::main]
async fn main() -> ExitCode {
    let cli: Cli = rboinc_core::daemon::parse_args();
    match cli::run(cli).await {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            // Logging may not be set up if start-up failed early.
            tracing::error!(error = format!("{e:#}"), "scheduler exiting");
            eprintln!("scheduler: {e:#}");
            ExitCode::FAILURE
        }
    }
}
