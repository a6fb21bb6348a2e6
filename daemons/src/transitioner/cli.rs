//! The `transitioner` command line: BOINC's transitioner flags plus batching, and the run.

use anyhow::Context;
use clap::Parser;
use rboinc_core::daemon::{CommonDaemonArgs, DaemonRuntime};
use rboinc_core::db::{self, WorkunitId};

use super::{DEFAULT_BATCH, DEFAULT_IN_FLIGHT, Options, Transitioner};

/// Moves workunits through their states: creates results, times them out, flags validation,
/// assimilation and file deletion.
#[derive(Debug, Parser)]
#[command(name = "transitioner", version)]
pub struct TransitionerCli {
    #[command(flatten)]
    pub common: CommonDaemonArgs,
    /// Handle only this workunit, whether due or not (implies --one_pass).
    #[arg(long = "wu_id", value_name = "ID")]
    pub wu_id: Option<i64>,
    /// Workunits read and written per batch (one transaction each); `--one_pass` handles one
    /// batch (the C++ transitioner's one query reads 1000 workunit-result rows).
    #[arg(long = "batch", default_value_t = DEFAULT_BATCH, value_name = "N")]
    pub batch: usize,
    /// Batches handled at once, each on its own database connection.
    #[arg(long = "in_flight", default_value_t = DEFAULT_IN_FLIGHT, value_name = "N")]
    pub in_flight: usize,
}

/// Runs the transitioner until told to stop (one pass with `--one_pass` or `--wu_id`).
pub async fn run(mut cli: TransitionerCli) -> anyhow::Result<()> {
    if cli.wu_id.is_some() {
        cli.common.one_pass = true;
    }
    let rt = DaemonRuntime::start("transitioner", &cli.common)
        .await
        .context("starting")?;
    let pool = db::connect_lazy(rt.config().db_settings());
    let options = Options {
        batch: cli.batch.max(1),
        slice: rt.modulo(),
        wu_id: cli.wu_id.map(WorkunitId),
        in_flight: cli.in_flight.max(1),
        single_batch: rt.single_batch(),
    };
    let transitioner =
        Transitioner::new(pool, rt.config(), options).context("reading the configuration")?;
    rt.run(async |rt| {
        transitioner
            .daemon_pass(|| rt.should_stop(), rt.tally())
            .await
    })
    .await
    .context("running")?;
    Ok(())
}
