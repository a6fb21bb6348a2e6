//! `work_generator`: the daemon that turns queued series rounds into workunits, keeping a
//! cushion of workunits waiting to be sent (see `rboinc_tools::series::generator`).

use std::process::ExitCode;
use std::time::Duration;

use clap::Parser;
use rboinc_core::daemon::{self, CommonDaemonArgs, DaemonRuntime, InfraError, PassOutcome};
use rboinc_tools::create_work::WorkCreator;
use rboinc_tools::series::generator;

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
    let rt = match DaemonRuntime::start("work_generator", &cli.common).await {
        Ok(rt) => rt.with_default_sleep_interval(Duration::from_secs(2)),
        Err(e) => {
            tracing::error!(error = %e, "cannot start");
            return ExitCode::FAILURE;
        }
    };
    let app = rt
        .app()
        .unwrap_or(rboinc_tools::make_project::APP)
        .to_string();
    let pool = rboinc_core::db::connect_lazy(rt.config().db_settings());
    let config = rt.config_arc();
    let mut creator: Option<WorkCreator> = None;
    let result = rt
        .run(async |_rt| {
            if creator.is_none() {
                let c = WorkCreator::new(&pool, config.clone(), &app)
                    .await
                    .map_err(|e| InfraError::new("cannot look up the app", e))?;
                creator = Some(c);
            }
            let c = creator.as_mut().expect("set above");
            let created = generator::top_up(&pool, c, cli.cushion)
                .await
                .map_err(|e| InfraError::new("work generation pass", e))?;
            for f in &created.failed {
                tracing::error!(round_id = f.round_id, wu_name = %f.wu_name, app = %app, error = %f.error, "cannot create the round's workunit");
            }
            if !created.workunits.is_empty() {
                tracing::info!(app = %app, created = created.workunits.len(), "created workunits");
            }
            Ok(if created.workunits.is_empty() {
                PassOutcome::Idle
            } else {
                PassOutcome::DidWork
            })
        })
        .await;
    match result {
        Ok(_) => ExitCode::SUCCESS,
        Err(e) => {
            tracing::error!(error = %e, "exiting");
            ExitCode::FAILURE
        }
    }
}
