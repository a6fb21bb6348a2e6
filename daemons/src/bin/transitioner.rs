//! `transitioner`: BOINC's transitioner (creates, times out and retires results; see
//! `rboinc_daemons::transitioner`). Accepts the C++ daemon's flags.

use std::process::ExitCode;

use rboinc_core::daemon;
use rboinc_daemons::transitioner::cli::{self, TransitionerCli};

#[tokio::main]
async fn main() -> ExitCode {
    let cli: TransitionerCli = daemon::parse_args();
    daemon::exit("transitioner", cli::run(cli).await)
}
