//! `script_assimilator`: BOINC's script assimilator (see `rboinc_daemons::assimilator`).

use std::process::ExitCode;

use rboinc_daemons::assimilator::cli::{self, ScriptAssimilatorCli};

#[tokio::main]
async fn main() -> ExitCode {
    let cli: ScriptAssimilatorCli = rboinc_core::daemon::parse_args();
    let choice = cli.handler_choice();
    rboinc_core::daemon::exit(
        "script_assimilator",
        cli::run("script_assimilator", cli.args, choice).await,
    )
}
