//! `xadd`: adds the platforms and apps of `project.xml` to the database (BOINC's `bin/xadd`;
//! see `rboinc_tools::xadd`).

use std::process::ExitCode;

use rboinc_tools::xadd::cli::{self, Cli};

#[tokio::main(flavor = "current_thread")]
async fn main() -> ExitCode {
    match cli::run(Cli::parse_args()).await {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            rboinc_tools::output::eprintln(format_args!("xadd: {e:#}"));
            ExitCode::FAILURE
        }
    }
}
