//! `db_purge`: archives and deletes finished jobs (see `rboinc_daemons::db_purge`).

use std::process::ExitCode;

use rboinc_daemons::db_purge::cli::{self, DbPurgeCli};

#[tokio::main]
async fn main() -> ExitCode {
    let cli: DbPurgeCli = rboinc_core::daemon::parse_args();
    rboinc_core::daemon::exit("db_purge", cli::run(cli).await)
}
