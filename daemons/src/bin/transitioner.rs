//! `transitioner`: BOINC's transitioner (creates, times out and retires results; see
//! `rboinc_daemons::transitioner`). Accepts the C++ daemon's flags.

use std::process::ExitCode;

use anyhow::Context;
use clap::Parser;
use rboinc_core::daemon::{self, CommonDaemonArgs, DaemonRuntime};
use rboinc_core::db::{self, WorkunitId};
use rboinc_daemons::transitioner::{DEFAULT_BATCH, DEFAULT_IN_FLIGHT, Options, Transitioner};

/// Moves workunits through their states: creates results, times them out, flags validation,
/// assimilation and file deletion.
#[derive(Debug, Parser)]
#[command(name = "transitioner", version)]
struct Cli {
    #[command(flatten)]
    common: CommonDaemonArgs,
    /// Handle only this workunit, whether due or not (implies --one_pass).
    #[arg(long = "wu_id", value_name = "ID")]
    wu_id: Option<i64>,
    /// Workunits read and written per batch (one transaction each).
    #[arg(long = "batch", default_value_t = DEFAULT_BATCH, value_name = "N")]
    batch: usize,
    /// Batches handled at once, each on its own database connection.
    #[arg(long = "in_flight", default_value_t = DEFAULT_IN_FLIGHT, value_name = "N")]
    in_flight: usize,
}

#[tokio::main]
async fn main() -> ExitCode {
    let mut cli: Cli = daemon::parse_args();
    if cli.wu_id.is_some() {
        cli.common.one_pass = true;
    }
    match run(cli).await {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            tracing::error!(error = format!("{e:#}"), "transitioner failed");
            eprintln!("transitioner: {e:#}");
            ExitCode::FAILURE
        }
    }
}

async fn run(cli: Cli) -> anyhow::Result<()> {
    let rt = DaemonRuntime::start("transitioner", &cli.common)
        .await
        .context("starting")?;
    let pool = db::connect_lazy(rt.config().db_settings());
    let options = Options {
        batch: cli.batch.max(1),
        slice: rt.modulo(),
        wu_id: cli.wu_id.map(WorkunitId),
        in_flight: cli.in_flight.max(1),
    };
    let transitioner =
        Transitioner::new(pool, rt.config(), options).context("reading the configuration")?;
    rt.run(async |rt| transitioner.daemon_pass(|| rt.should_stop()).await)
        .await
        .context("running")?;
    Ok(())
}
