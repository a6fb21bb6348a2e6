//! The assimilator binaries' flags and start-up (`script_assimilator`,
//! `sample_dummy_assimilator`, a project's own assimilator with a plug-in); their `main.rs`
//! files only parse and call [`run`] (or [`plugin_main`]).

use std::ffi::OsString;
use std::sync::Arc;
use std::time::Duration;

use clap::Parser;
use rboinc_core::daemon::{CommonDaemonArgs, DaemonRuntime, PassOutcome};
use rboinc_core::db;

use super::copy_metrics::CopyMetrics;
use super::handler::{Handler, InProcess, ScriptRunner};
use super::plugin::AssimilatorPluginHandle;
use super::script::ScriptSpec;
use super::{Assimilator, AssimilatorOptions, DEFAULT_BATCH_SIZE};

/// BOINC's assimilators sleep 10 s when they find nothing to do.
const SLEEP_INTERVAL: Duration = Duration::from_secs(10);

/// Flags every assimilator takes (BOINC's generic ones, plus ours).
#[derive(Debug, Clone, clap::Args)]
pub struct AssimilatorArgs {
    #[command(flatten)]
    pub common: CommonDaemonArgs,
    /// Read at most N workunits in one query, handle them, exit (implies --one_pass).
    #[arg(long = "one_pass_N_WU", value_name = "N")]
    pub one_pass_n_wu: Option<u32>,
    /// Run the handler but change nothing in the database (for testing a script).
    #[arg(long = "dont_update_db")]
    pub dont_update_db: bool,
    /// Workunits read per query.
    #[arg(long = "batch_size", value_name = "N", default_value_t = DEFAULT_BATCH_SIZE)]
    pub batch_size: u32,
    /// Workunits handled at once (script processes running in parallel).
    #[arg(long = "concurrency", value_name = "N", default_value_t = 8)]
    pub concurrency: usize,
    /// Seconds before a workunit whose handler failed is tried again (by a running daemon;
    /// a restarted one tries at once).
    #[arg(long = "retry_interval", value_name = "SECS", default_value_t = 60)]
    pub retry_interval: u64,
}

impl AssimilatorArgs {
    fn options(&self, single_batch: bool) -> AssimilatorOptions {
        AssimilatorOptions {
            single_batch,
            batch_size: self.batch_size,
            one_pass_n_wu: self.one_pass_n_wu,
            dont_update_db: self.dont_update_db,
            concurrency: self.concurrency,
            retry_interval: Duration::from_secs(self.retry_interval),
        }
    }
}

/// Assimilates workunits by running a script for each (BOINC's `script_assimilator`), or by
/// filing their metrics in-process (`--builtin copy_metrics`).
#[derive(Debug, Parser)]
#[command(name = "script_assimilator", version)]
pub struct ScriptAssimilatorCli {
    #[command(flatten)]
    pub args: AssimilatorArgs,
    /// "NAME [WORD...]": the program (in the project's bin/) and its argument words: files,
    /// files2, wu_id, wu_name, result_id, runtime, batch_id (default: wu_id files). Workunits
    /// that failed get `--error ERROR_MASK WU_NAME WU_ID BATCH` instead.
    #[arg(
        long = "script",
        value_name = "\"NAME [WORD...]\"",
        required_unless_present = "builtin",
        conflicts_with = "builtin"
    )]
    pub script: Option<String>,
    /// Assimilate in-process instead: copy_metrics files each canonical result's metrics.json
    /// as results/<app>/<wu_name>/metrics.json (error.txt for failed workunits), exactly as
    /// the shipped assimilate_metrics.sh does.
    #[arg(long = "builtin", value_enum)]
    pub builtin: Option<Builtin>,
}

/// Built-in handlers of `script_assimilator`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum Builtin {
    /// See [`super::copy_metrics`].
    #[value(name = "copy_metrics")]
    CopyMetrics,
}

/// Marks every ready workunit assimilated without doing anything with it (BOINC's
/// `sample_dummy_assimilator`).
#[derive(Debug, Parser)]
#[command(name = "sample_dummy_assimilator", version)]
pub struct DummyAssimilatorCli {
    #[command(flatten)]
    pub args: AssimilatorArgs,
}

/// Which handler a binary uses.
#[derive(Debug, Clone)]
pub enum HandlerChoice {
    Dummy,
    Script(String),
    Builtin(Builtin),
}

impl ScriptAssimilatorCli {
    pub fn handler_choice(&self) -> HandlerChoice {
        match (&self.script, self.builtin) {
            (_, Some(b)) => HandlerChoice::Builtin(b),
            (Some(s), None) => HandlerChoice::Script(s.clone()),
            // clap requires one of the two.
            (None, None) => HandlerChoice::Dummy,
        }
    }
}

/// Runs an assimilator daemon until it is told to stop (or one pass with `--one_pass`).
/// An error means it could not start or a one-pass run's database work failed (exit status 1
/// through `rboinc_core::daemon::exit`). A failing script is not an error of the run: the
/// workunit stays READY.
pub async fn run(name: &str, args: AssimilatorArgs, choice: HandlerChoice) -> anyhow::Result<()> {
    use anyhow::Context;
    let mut common = args.common.clone();
    common.one_pass |= args.one_pass_n_wu.is_some();
    let rt = DaemonRuntime::start(name, &common)
        .await
        .context("starting")?
        .with_default_sleep_interval(SLEEP_INTERVAL);
    let assimilator = start(&rt, &args, choice).await.context("starting")?;
    serve(rt, assimilator, args.dont_update_db).await
}

/// A project's own assimilator: the generic flags, the rest of the command line for the
/// plug-in (see `super::plugin`).
#[derive(Debug, Parser)]
#[command(version)]
struct PluginAssimilatorCli {
    #[command(flatten)]
    args: AssimilatorArgs,
}

/// The `main` of an assimilator whose handler is a plug-in made by `make` from the arguments
/// the daemon does not know.
pub fn plugin_main(
    name: &'static str,
    make: impl FnOnce(&crate::validator::PluginArgs) -> anyhow::Result<AssimilatorPluginHandle>,
) -> std::process::ExitCode {
    use anyhow::Context;
    use clap::CommandFactory;
    let (known, rest) = crate::validator::cli::split_args(
        PluginAssimilatorCli::command().name(name),
        rboinc_core::daemon::normalize_args(std::env::args_os()),
    );
    let cli = PluginAssimilatorCli::try_parse_from(known).unwrap_or_else(|e| e.exit());
    let result = tokio::runtime::Runtime::new()
        .context("cannot start the async runtime")
        .and_then(|runtime| {
            runtime.block_on(async move {
                let args = cli.args;
                let mut common = args.common.clone();
                common.one_pass |= args.one_pass_n_wu.is_some();
                let rt = DaemonRuntime::start(name, &common)
                    .await
                    .context("starting")?
                    .with_default_sleep_interval(SLEEP_INTERVAL);
                let app = rt.require_app().context("starting")?.to_string();
                let plugin_args = crate::validator::PluginArgs {
                    args: rest,
                    project_root: rt.config().project_dir.clone(),
                    app,
                };
                let plugin = make(&plugin_args).context("setting up the assimilator")?;
                tracing::info!(plugin = plugin.name(), "assimilator plug-in");
                let handler = Handler::InProcess(InProcess::Plugin {
                    plugin,
                    upload: rt.config().upload_hier(),
                });
                let assimilator = start_with(&rt, &args, handler).await.context("starting")?;
                serve(rt, assimilator, args.dont_update_db).await
            })
        });
    rboinc_core::daemon::exit(name, result)
}

async fn serve(
    rt: DaemonRuntime,
    mut assimilator: Assimilator,
    dont_update_db: bool,
) -> anyhow::Result<()> {
    use anyhow::Context;
    rt.run(async |rt| {
        let report = assimilator.pass(rt.modulo(), rt.shutdown()).await?;
        rt.tally().items("assimilated", report.assimilated);
        rt.tally().items("waiting_for_retry", report.waiting);
        rt.tally().errors(report.failed);
        if report.failed > 0 || report.waiting > 0 {
            tracing::warn!(
                failed = report.failed,
                waiting_for_retry = report.waiting,
                "some workunits could not be assimilated; they stay READY"
            );
        }
        Ok(if report.assimilated > 0 && !dont_update_db {
            PassOutcome::DidWork
        } else {
            PassOutcome::Idle
        })
    })
    .await
    .context("running")?;
    Ok(())
}

async fn start(
    rt: &DaemonRuntime,
    args: &AssimilatorArgs,
    choice: HandlerChoice,
) -> anyhow::Result<Assimilator> {
    use anyhow::Context;
    let app_name = rt.require_app()?.to_string();
    let config = rt.config();
    let upload = config.upload_hier();
    let root = rt.project().root();
    let handler = match choice {
        HandlerChoice::Dummy => Handler::InProcess(InProcess::Dummy),
        HandlerChoice::Builtin(Builtin::CopyMetrics) => Handler::InProcess(InProcess::CopyMetrics(
            Arc::new(CopyMetrics::new(root, &app_name, upload).context("--builtin copy_metrics")?),
        )),
        HandlerChoice::Script(value) => {
            let spec = ScriptSpec::parse(&value).context("--script")?;
            if !spec.ignored.is_empty() {
                tracing::warn!(
                    words = ?spec.ignored,
                    "--script: these words are not argument words and add nothing"
                );
            }
            let program = spec.program_path(root);
            anyhow::ensure!(
                program.is_file(),
                "--script: {} does not exist",
                program.display()
            );
            let env: Vec<(String, OsString)> = vec![
                ("BOINC_PROJECT_DIR".into(), root.as_os_str().to_owned()),
                ("BOINC_APP".into(), app_name.clone().into()),
            ];
            Handler::Script(Arc::new(ScriptRunner {
                spec,
                program,
                upload,
                env,
            }))
        }
    };
    start_with(rt, args, handler).await
}

/// The assimilator of `--app` with `handler`.
async fn start_with(
    rt: &DaemonRuntime,
    args: &AssimilatorArgs,
    handler: Handler,
) -> anyhow::Result<Assimilator> {
    use anyhow::Context;
    let app_name = rt.require_app()?.to_string();
    let pool = db::connect_lazy(rt.config().db_settings());
    let app = db::app::by_name(&pool, &app_name)
        .await
        .context("looking up the app")?
        .with_context(|| format!("there is no app named {app_name:?}"))?;
    Ok(Assimilator::new(
        pool,
        app.id,
        app_name,
        handler,
        args.options(rt.single_batch()),
    ))
}

#[cfg(test)]
mod tests {
    use super::*;
    use rboinc_core::daemon::try_parse_args_from;

    #[test]
    fn boinc_command_lines_parse() {
        let cli: ScriptAssimilatorCli = try_parse_args_from([
            "script_assimilator",
            "-d",
            "3",
            "-app",
            "mnist",
            "--script",
            "assim.sh wu_name files2",
            "-one_pass_N_WU",
            "5",
        ])
        .unwrap();
        assert_eq!(cli.args.common.app.as_deref(), Some("mnist"));
        assert_eq!(cli.args.one_pass_n_wu, Some(5));
        assert!(
            matches!(cli.handler_choice(), HandlerChoice::Script(s) if s == "assim.sh wu_name files2")
        );

        let cli: ScriptAssimilatorCli = try_parse_args_from([
            "script_assimilator",
            "--app",
            "mnist",
            "--builtin",
            "copy_metrics",
            "--mod",
            "2",
            "1",
        ])
        .unwrap();
        assert!(matches!(
            cli.handler_choice(),
            HandlerChoice::Builtin(Builtin::CopyMetrics)
        ));
    }

    #[test]
    fn script_or_builtin_is_required_and_not_both() {
        let e =
            try_parse_args_from::<ScriptAssimilatorCli, _, _>(["script_assimilator", "--app", "x"])
                .unwrap_err();
        assert_eq!(e.kind(), clap::error::ErrorKind::MissingRequiredArgument);
        let e = try_parse_args_from::<ScriptAssimilatorCli, _, _>([
            "script_assimilator",
            "--script",
            "a",
            "--builtin",
            "copy_metrics",
        ])
        .unwrap_err();
        assert_eq!(e.kind(), clap::error::ErrorKind::ArgumentConflict);
    }
}
