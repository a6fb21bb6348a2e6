//! `scheduler`: see [`rboinc_scheduler::cli`].

use std::process::ExitCode;

use rboinc_scheduler::cli::{self, Cli};

#[tokio::main]
async fn main() -> ExitCode {
    let cli: Cli = rboinc_core::daemon::parse_args();
    rboinc_core::daemon::exit("scheduler", cli::run(cli).await)
}
