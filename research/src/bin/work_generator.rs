//! `work_generator`: the daemon that turns queued series rounds into workunits, keeping a
//! cushion of workunits waiting to be sent (see `rboinc_research::generator`).

use std::process::ExitCode;
use std::time::Duration;

use anyhow::Context;
use clap::Parser;
use rboinc_core::daemon::{self, CommonDaemonArgs, DaemonRuntime};
use rboinc_research::generator::{self, daemon::WorkGenerator};

/// Creates workunits for queued series rounds, keeping at most --cushion waiting to be sent.
#[derive(Debug, Parser)]
#[command(name = "work_generator", version)]
struct Cli {
    #[command(flatten)]
    common: CommonDaemonArgs,
    /// Workunits waiting to be sent to keep at most.
    #[arg(long, default_value_t = generator::DEFAULT_CUSHION)]
    cushion: usize,
}

#[tokio::main]
async fn main() -> ExitCode {
    let cli: Cli = daemon::parse_args();
    daemon::exit("work_generator", run(cli).await)
}

async fn run(cli: Cli) -> anyhow::Result<()> {
    let rt = DaemonRuntime::start("work_generator", &cli.common)
        .await
        .context("starting")?
        .with_default_sleep_interval(Duration::from_secs(2));
    let app = rt.app().unwrap_or(rboinc_tools::make_project::APP);
    let pool = rboinc_core::db::connect_lazy(rt.config().db_settings());
    let mut generator = WorkGenerator::new(pool, rt.config_arc(), app.to_string(), cli.cushion)
        .with_chain_poll(rt.sleep_interval());
    rt.run(async |rt| generator.pass(rt.tally(), Some(rt.shutdown())).await)
        .await
        .context("running")?;
    Ok(())
}
