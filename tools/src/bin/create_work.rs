//! `create_work`: creates workunits (BOINC's arguments; see `rboinc_tools::create_work`, whose
//! `cli` module is this command line).

use std::process::ExitCode;

use rboinc_tools::create_work::cli::{self, Cli};

#[tokio::main(flavor = "current_thread")]
async fn main() -> ExitCode {
    let cli = Cli::parse_args();
    rboinc_core::telemetry::init(rboinc_core::telemetry::LogFormat::Text, cli.log_level());
    match cli::run(cli).await {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            rboinc_tools::output::eprintln(format_args!("create_work: {e:#}"));
            ExitCode::FAILURE
        }
    }
}
