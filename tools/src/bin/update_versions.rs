//! `update_versions`: registers new app versions from `apps/` (see
//! `rboinc_tools::update_versions`, whose `cli` module is this command line).

use std::process::ExitCode;

use rboinc_tools::update_versions::cli::{self, Cli};

#[tokio::main(flavor = "current_thread")]
async fn main() -> ExitCode {
    match cli::run(Cli::parse_args()).await {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            rboinc_tools::output::eprintln(format_args!("update_versions: {e:#}"));
            ExitCode::FAILURE
        }
    }
}
