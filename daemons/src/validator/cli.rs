//! The command line shared by `validator`, `sample_bitwise_validator` and
//! `sample_trivial_validator`: BOINC's validator flags (one or two dashes) plus the mode.

use std::path::PathBuf;
use std::process::ExitCode;
use std::sync::Arc;

use anyhow::{Context as _, bail};
use clap::{CommandFactory, FromArgMatches, Parser, ValueEnum};
use rboinc_core::daemon::{self, CommonDaemonArgs, DaemonRuntime, normalize_args};
use rboinc_core::db::{self, WorkunitId};

use super::compare::Mode;
use super::handle::CreditPolicy;
use super::tolerance::Tolerances;
use super::{DEFAULT_BATCH, Options, Validator};

/// How results are compared.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum ModeChoice {
    /// Output files must be byte-identical (JSON files: their deterministic part).
    Bitwise,
    /// JSON numbers within the tolerances of --tolerances, everything else bitwise.
    Tolerance,
    /// Every successful result agrees.
    Trivial,
}

/// Compares the results of each job, picks the canonical result and grants credit.
#[derive(Debug, Parser)]
#[command(version)]
pub struct Cli {
    #[command(flatten)]
    common: CommonDaemonArgs,
    /// Comparison mode (fixed by the sample_* binaries) [default: bitwise].
    #[arg(long = "mode", value_enum)]
    mode: Option<ModeChoice>,
    /// Tolerance file for --mode tolerance (JSON; see config/validator_tolerances.json).
    #[arg(long = "tolerances", value_name = "FILE")]
    tolerances: Option<PathBuf>,
    /// Output files are gzip: skip their 10-byte header (bitwise mode).
    #[arg(long = "is_gzip")]
    is_gzip: bool,
    /// Credit = the workunit's canonical_credit (create_work --credit).
    #[arg(long = "credit_from_wu")]
    credit_from_wu: bool,
    /// Credit = elapsed time × FLOPS estimate (low average of the results).
    #[arg(long = "credit_from_runtime")]
    credit_from_runtime: bool,
    /// Credit = the canonical result's claimed_credit.
    #[arg(long = "post_assigned_credit")]
    post_assigned_credit: bool,
    /// Grant no credit.
    #[arg(long = "no_credit")]
    no_credit: bool,
    /// Record (user, workunit opaque) pairs of valid results in credited_job.
    #[arg(long = "update_credited_job")]
    update_credited_job: bool,
    /// Largest credit granted per result; 0 = no limit.
    #[arg(long = "max_granted_credit", value_name = "X", default_value_t = 200.0 * 1000.0 * 365.0)]
    max_granted_credit: f64,
    /// Throttle hosts whose errors the comparison mode calls long-term failures.
    #[arg(long = "check_punitive")]
    check_punitive: bool,
    /// Decide and log one job, write nothing.
    #[arg(long = "dry_run")]
    dry_run: bool,
    /// Handle at most N workunits, then exit (implies --one_pass).
    #[arg(long = "one_pass_N_WU", value_name = "N")]
    one_pass_n_wu: Option<u64>,
    /// Only workunits with id >= N.
    #[arg(long = "min_wu_id", value_name = "N")]
    min_wu_id: Option<i64>,
    /// Only workunits with id <= N.
    #[arg(long = "max_wu_id", value_name = "N")]
    max_wu_id: Option<i64>,
    /// Only this workunit, flagged or not (implies --one_pass).
    #[arg(long = "wu_id", value_name = "ID")]
    wu_id: Option<i64>,
    /// Workunits read and written per batch (one transaction each).
    #[arg(long = "batch", default_value_t = DEFAULT_BATCH, value_name = "N")]
    batch: usize,
}

/// The `main` of the three validator binaries: `fixed` is the mode a sample_* binary implies.
pub fn main(name: &'static str, fixed: Option<ModeChoice>) -> ExitCode {
    let matches = Cli::command()
        .name(name)
        .get_matches_from(normalize_args(std::env::args_os()));
    let mut cli = match Cli::from_arg_matches(&matches) {
        Ok(cli) => cli,
        Err(e) => e.exit(),
    };
    if cli.one_pass_n_wu.is_some() || cli.wu_id.is_some() {
        cli.common.one_pass = true;
    }
    let result = tokio::runtime::Runtime::new()
        .context("cannot start the async runtime")
        .and_then(|runtime| runtime.block_on(run(name, cli, fixed)));
    daemon::exit(name, result)
}

fn mode(cli: &Cli, fixed: Option<ModeChoice>) -> anyhow::Result<Mode> {
    let choice = match (fixed, cli.mode) {
        (Some(f), Some(m)) if f != m => {
            bail!("this binary always runs in {f:?} mode; --mode {m:?} is not possible")
        }
        (Some(f), _) => f,
        (None, Some(m)) => m,
        (None, None) => ModeChoice::Bitwise,
    };
    Ok(match choice {
        ModeChoice::Bitwise => Mode::Bitwise {
            is_gzip: cli.is_gzip,
        },
        ModeChoice::Trivial => Mode::Trivial,
        ModeChoice::Tolerance => {
            let path = cli
                .tolerances
                .as_ref()
                .context("--mode tolerance needs --tolerances FILE")?;
            Mode::Tolerance(Arc::new(Tolerances::load(path)?))
        }
    })
}

async fn run(name: &'static str, cli: Cli, fixed: Option<ModeChoice>) -> anyhow::Result<()> {
    let rt = DaemonRuntime::start(name, &cli.common)
        .await
        .context("starting")?;
    let app = rt.require_app().context("starting")?.to_string();
    let options = Options {
        app,
        mode: mode(&cli, fixed)?,
        policy: CreditPolicy {
            from_wu: cli.credit_from_wu,
            from_runtime: cli.credit_from_runtime,
            post_assigned: cli.post_assigned_credit,
            none: cli.no_credit,
            update_credited_job: cli.update_credited_job,
            max_granted_credit: cli.max_granted_credit,
            check_punitive: cli.check_punitive,
        },
        batch: cli.batch.max(1),
        slice: rt.modulo(),
        min_wu_id: cli.min_wu_id,
        max_wu_id: cli.max_wu_id,
        wu_id: cli.wu_id.map(WorkunitId),
        max_jobs: cli.one_pass_n_wu,
        dry_run: cli.dry_run,
    };
    tracing::info!(
        mode = ?options.mode,
        max_granted_credit = options.policy.max_granted_credit,
        "validator settings"
    );
    let pool = db::connect_lazy(rt.config().db_settings());
    let validator = Validator::new(pool, rt.config(), options)?;
    rt.run(async |rt| validator.daemon_pass(|| rt.should_stop(), rt.tally()).await)
        .await
        .context("running")?;
    Ok(())
}
