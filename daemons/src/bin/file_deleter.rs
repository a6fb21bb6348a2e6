//! `file_deleter`: deletes files of finished jobs (see `rboinc_daemons::file_deleter`).

use std::process::ExitCode;

use rboinc_daemons::file_deleter::cli::{self, FileDeleterCli};

#[tokio::main]
async fn main() -> ExitCode {
    let cli: FileDeleterCli = rboinc_core::daemon::parse_args();
    rboinc_core::daemon::exit("file_deleter", cli::run(cli).await)
}
