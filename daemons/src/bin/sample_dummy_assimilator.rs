//! `sample_dummy_assimilator`: marks ready workunits assimilated and does nothing else (see
//! `rboinc_daemons::assimilator`).

use std::process::ExitCode;

use rboinc_daemons::assimilator::cli::{self, DummyAssimilatorCli, HandlerChoice};

#[tokio::main]
async fn main() -> ExitCode {
    let cli: DummyAssimilatorCli = rboinc_core::daemon::parse_args();
    let result = cli::run("sample_dummy_assimilator", cli.args, HandlerChoice::Dummy).await;
    rboinc_core::daemon::exit("sample_dummy_assimilator", result)
}
