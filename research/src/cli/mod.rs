//! The `series` command line: the clap [`Cli`] and the dispatch of its subcommands, one module
//! each, so the binary is only `main` and tests can drive the same code.
//!
//! Every subcommand opens the project (`--project-dir`, else `BOINC_PROJECT_DIR`, `.` or `..`)
//! and its database first; a series is named on the command line and looked up with [`find`].
//! Progress and warnings go to standard error, the one result a script wants (a series name, a
//! report directory) to standard output. `run`, `wait` and `status` wait out a database outage
//! ([`outage`]).

pub mod cancel;
pub mod export;
pub mod generations;
pub mod hints;
pub mod local;
pub mod outage;
pub mod report;
pub mod run;
pub mod status;
pub mod submit;
pub mod wait;

use std::path::PathBuf;

use clap::{Parser, Subcommand};
use rboinc_core::db;
use rboinc_tools::project::Project;

use crate::SeriesError;
use crate::store::{self, SeriesRow};

pub use local::LocalOpts;
pub use submit::SubmitArgs;
pub use wait::{WaitArgs, WaitOpts};

/// A series of MNIST training rounds on the project's volunteers.
#[derive(Debug, Parser)]
#[command(name = "series", version)]
pub struct Cli {
    /// Project directory [default: found from BOINC_PROJECT_DIR, . or ..].
    #[arg(long = "project-dir", global = true)]
    pub project_dir: Option<PathBuf>,
    #[command(subcommand)]
    pub command: Command,
}

#[derive(Debug, Subcommand)]
pub enum Command {
    /// Queue a series and create its first workunits.
    Submit(SubmitArgs),
    /// Show where each round is, per configuration of a sweep (all series if no name).
    Status {
        name: Option<String>,
        /// Print JSON for scripts (totals, ETA, hosts working, configurations, rounds).
        #[arg(long)]
        json: bool,
    },
    /// Follow a series until every round is finished.
    Wait(WaitArgs),
    /// submit + wait + local + report: the whole experiment in one command.
    Run {
        #[command(flatten)]
        submit: SubmitArgs,
        #[command(flatten)]
        wait: WaitOpts,
        #[command(flatten)]
        local: LocalOpts,
    },
    /// Run the series' jobs on this machine with the published app binary.
    Local {
        name: String,
        #[command(flatten)]
        local: LocalOpts,
    },
    /// Write reports/<series>/ (summary.md, acc_loss_curves.png, final_val_acc.png; for a
    /// sweep also config_val_acc.png and config_curves.png).
    Report { name: String },
    /// Stop a series: queued rounds are dropped, created workunits cancelled.
    Cancel { name: String },
    /// Gather the validated weights of every round (round_<n>.npy) with a model card each.
    Export {
        name: String,
        /// The folder to write.
        #[arg(long)]
        out: PathBuf,
    },
    /// Restart a chained series stopped by a failed generation (after fixing the cause).
    Resume { name: String },
}

/// Runs one `series` command line.
pub async fn run(cli: Cli) -> anyhow::Result<()> {
    let project = Project::open(cli.project_dir.as_deref())?;
    let pool = outage::connect(&project).await?;
    match cli.command {
        Command::Submit(a) => submit::command(&project, &pool, a).await,
        Command::Status {
            name: Some(name),
            json,
        } => status::one(&project, &pool, &name, json).await,
        Command::Status { name: None, json } => status::all(&project, &pool, json).await,
        Command::Wait(w) => wait::command(&project, &pool, &w).await,
        Command::Run {
            submit: a,
            wait: w,
            local: l,
        } => run::command(&project, &pool, a, &w, &l).await,
        Command::Local { name, local: l } => local::command(&project, &pool, &name, &l).await,
        Command::Report { name } => report::command(&project, &pool, &name).await,
        Command::Cancel { name } => cancel::command(&pool, &name).await,
        Command::Export { name, out } => export::command(&project, &pool, &name, &out).await,
        Command::Resume { name } => generations::resume(&pool, &name).await,
    }
}

/// The series named `name`, or [`SeriesError::Unknown`].
pub async fn find(pool: &db::Pool, name: &str) -> anyhow::Result<SeriesRow> {
    Ok(store::series_by_name(pool, name)
        .await?
        .ok_or_else(|| SeriesError::Unknown(name.to_string()))?)
}
