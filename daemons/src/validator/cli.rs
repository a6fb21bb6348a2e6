//! The command line of every validator binary: BOINC's validator flags (one or two dashes),
//! the built-in modes' flags, and everything else handed to the plug-in.
//!
//! As in BOINC, where the generic validator passes the whole command line to the plug-in's
//! `validate_handler_init`, arguments the validator does not know are not an error: they go,
//! in order, to the plug-in (`script_validator`'s `--init_script`, a project's own flags).
//! A plug-in that uses none of them says so at start-up with one warning.
//!
//! A project's own validator is a ten-line `main.rs` calling [`run_with`] (or
//! [`run_with_args`] when its plug-in takes flags); see `docs/VALIDATOR.md`.

use std::ffi::OsString;
use std::path::PathBuf;
use std::process::ExitCode;
use std::sync::Arc;

use anyhow::{Context as _, bail};
use clap::{Args, Parser, ValueEnum};
use rboinc_core::daemon::{self, CommonDaemonArgs, DaemonRuntime, normalize_args};
use rboinc_core::db::{self, WorkunitId};

use super::handle::CreditPolicy;
use super::modes::tolerance::Tolerances;
use super::modes::{Bitwise, Metrics, Scripts, Tolerance, Trivial};
use super::plugin::{Plugin, PluginHandle};
use super::{DEFAULT_BATCH, Options, Validator};

/// How results are compared.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum ModeChoice {
    /// Output files must be byte-for-byte identical (BOINC's sample_bitwise_validator).
    Bitwise,
    /// JSON metrics documents must agree on their deterministic fields (everything but
    /// `host`); other files byte for byte.
    Metrics,
    /// Like metrics, but numbers may differ within the tolerances of --tolerances.
    Tolerance,
    /// Every successful result agrees.
    Trivial,
}

/// The validator's own flags (every validator binary has them).
#[derive(Debug, Args)]
pub struct ValidatorArgs {
    #[command(flatten)]
    common: CommonDaemonArgs,
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
    /// Throttle hosts whose errors the comparison calls long-term failures.
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

/// The built-in modes' flags.
#[derive(Debug, Args)]
pub struct ModeArgs {
    /// Comparison mode (fixed by the sample_* binaries) [default: bitwise].
    #[arg(long = "mode", value_enum)]
    mode: Option<ModeChoice>,
    /// Tolerance file for --mode tolerance (JSON; see config/validator_tolerances.json).
    #[arg(long = "tolerances", value_name = "FILE")]
    tolerances: Option<PathBuf>,
    /// Output files are gzip: skip their 10-byte header (bitwise mode).
    #[arg(long = "is_gzip")]
    is_gzip: bool,
}

/// Compares the results of each job, picks the canonical result and grants credit.
/// Arguments it does not know are passed to the comparison plug-in.
#[derive(Debug, Parser)]
#[command(version)]
struct BuiltinCli {
    #[command(flatten)]
    args: ValidatorArgs,
    #[command(flatten)]
    mode: ModeArgs,
}

/// Compares the results of each job with the project's comparison plug-in, picks the
/// canonical result and grants credit. Arguments it does not know are passed to the plug-in.
#[derive(Debug, Parser)]
#[command(
    version,
    after_help = "Other arguments go to the comparison plug-in (script_validator: \
                  --init_script \"NAME [WORD...]\", --compare_script \"NAME [WORD...]\", \
                  --script_timeout SECS; see docs/VALIDATOR.md)."
)]
struct PluginCli {
    #[command(flatten)]
    args: ValidatorArgs,
}

/// What a plug-in's constructor is given.
#[derive(Debug, Clone)]
pub struct PluginArgs {
    /// The arguments the validator did not take, in order (BOINC's `validate_handler_init`
    /// sees the whole command line; here the validator's own flags are left out).
    pub args: Vec<String>,
    /// The project directory (scripts live in its `bin/`).
    pub project_root: PathBuf,
    /// `--app`.
    pub app: String,
}

impl PluginArgs {
    /// Warns once about arguments nobody used (a misspelt flag, most likely).
    pub fn warn_unused(&self, unused: &[String]) {
        if !unused.is_empty() {
            tracing::warn!(
                arguments = ?unused,
                "arguments not used by the validator or its comparison; check the <daemon> command line"
            );
        }
    }
}

/// Splits the command line into the arguments `command` knows (with their values) and the
/// rest, for the plug-in. `args[0]` is the program name and stays with the known ones.
pub fn split_args(mut command: clap::Command, args: Vec<OsString>) -> (Vec<OsString>, Vec<String>) {
    command.build();
    let mut longs: Vec<(String, usize)> = Vec::new();
    let mut shorts: Vec<(char, usize)> = Vec::new();
    for arg in command.get_arguments() {
        let values = arg.get_num_args().map_or(0, |r| r.min_values());
        if let Some(l) = arg.get_long() {
            longs.push((l.to_string(), values));
        }
        for alias in arg.get_all_aliases().into_iter().flatten() {
            longs.push((alias.to_string(), values));
        }
        if let Some(s) = arg.get_short() {
            shorts.push((s, values));
        }
        for alias in arg.get_all_short_aliases().into_iter().flatten() {
            shorts.push((alias, values));
        }
    }
    let mut known = Vec::new();
    let mut rest = Vec::new();
    let mut tokens = args.into_iter();
    if let Some(program) = tokens.next() {
        known.push(program);
    }
    let tokens: Vec<OsString> = tokens.collect();
    let mut i = 0;
    while i < tokens.len() {
        let text = tokens[i].to_string_lossy().into_owned();
        if text == "--" {
            rest.extend(
                tokens[i + 1..]
                    .iter()
                    .map(|t| t.to_string_lossy().into_owned()),
            );
            break;
        }
        let takes = if let Some(body) = text.strip_prefix("--") {
            let (name, inline) = match body.split_once('=') {
                Some((n, _)) => (n, true),
                None => (body, false),
            };
            longs
                .iter()
                .find(|(l, _)| l == name)
                .map(|(_, n)| if inline { 0 } else { *n })
        } else if let Some(body) = text.strip_prefix('-').filter(|b| !b.is_empty()) {
            let c = body.chars().next().unwrap_or('-');
            let attached = body.len() > c.len_utf8();
            shorts
                .iter()
                .find(|(s, _)| *s == c)
                .map(|(_, n)| if attached { 0 } else { *n })
        } else {
            None
        };
        match takes {
            Some(n) => {
                let end = (i + 1 + n).min(tokens.len());
                known.extend(tokens[i..end].iter().cloned());
                i = end;
            }
            None => {
                // An unknown flag and the words after it (its values) go to the plug-in.
                rest.push(text);
                i += 1;
                while i < tokens.len() && !tokens[i].to_string_lossy().starts_with('-') {
                    rest.push(tokens[i].to_string_lossy().into_owned());
                    i += 1;
                }
            }
        }
    }
    (known, rest)
}

/// Parses the process's command line for `C`: the known part, and the rest for the plug-in.
fn parse<C: Parser>(name: &'static str) -> (C, Vec<String>) {
    let (known, rest) = split_args(C::command().name(name), normalize_args(std::env::args_os()));
    let matches = C::command().name(name).get_matches_from(known);
    match C::from_arg_matches(&matches) {
        Ok(cli) => (cli, rest),
        Err(e) => e.exit(),
    }
}

/// The `main` of `validator`, `sample_bitwise_validator` and `sample_trivial_validator`:
/// `fixed` is the mode a sample_* binary implies.
pub fn main(name: &'static str, fixed: Option<ModeChoice>) -> ExitCode {
    let (cli, rest) = parse::<BuiltinCli>(name);
    let BuiltinCli { args, mode } = cli;
    block_on(name, args, rest, move |plugin_args| {
        plugin_args.warn_unused(&plugin_args.args);
        builtin(&mode, fixed)
    })
}

/// The `main` of `script_validator`.
pub fn script_main(name: &'static str) -> ExitCode {
    run_with_args(name, |a: &PluginArgs| {
        let (mut scripts, unused) = Scripts::from_args(&a.args, &a.project_root)?;
        a.warn_unused(&unused);
        scripts.env = vec![
            ("BOINC_PROJECT_DIR".into(), a.project_root.clone().into()),
            ("BOINC_APP".into(), a.app.clone().into()),
        ];
        tracing::info!(
            init_script = ?scripts.init.as_ref().map(|s| &s.program),
            compare_script = ?scripts.compare.as_ref().map(|s| &s.program),
            timeout_s = scripts.timeout.as_secs(),
            "scripts"
        );
        Ok(scripts)
    })
}

/// Runs a validator daemon named `name` comparing results with `plugin`: the whole `main` of a
/// project's own validator. Arguments the validator does not know are reported as unused.
pub fn run_with<P: Plugin>(name: &'static str, plugin: P) -> ExitCode {
    run_with_args(name, move |a: &PluginArgs| {
        a.warn_unused(&a.args);
        Ok(plugin)
    })
}

/// Like [`run_with`], for a plug-in built from the arguments the validator does not know
/// (BOINC's `validate_handler_init`). An error from `make` stops the daemon at start-up.
pub fn run_with_args<P: Plugin>(
    name: &'static str,
    make: impl FnOnce(&PluginArgs) -> anyhow::Result<P>,
) -> ExitCode {
    let (cli, rest) = parse::<PluginCli>(name);
    block_on(name, cli.args, rest, |a| Ok(PluginHandle::new(make(a)?)))
}

fn block_on(
    name: &'static str,
    mut args: ValidatorArgs,
    rest: Vec<String>,
    make: impl FnOnce(&PluginArgs) -> anyhow::Result<PluginHandle>,
) -> ExitCode {
    if args.one_pass_n_wu.is_some() || args.wu_id.is_some() {
        args.common.one_pass = true;
    }
    let result = tokio::runtime::Runtime::new()
        .context("cannot start the async runtime")
        .and_then(|runtime| runtime.block_on(run(name, args, rest, make)));
    daemon::exit(name, result)
}

/// The plug-in of a built-in mode.
fn builtin(args: &ModeArgs, fixed: Option<ModeChoice>) -> anyhow::Result<PluginHandle> {
    let choice = match (fixed, args.mode) {
        (Some(f), Some(m)) if f != m => {
            bail!("this binary always runs in {f:?} mode; --mode {m:?} is not possible")
        }
        (Some(f), _) => f,
        (None, Some(m)) => m,
        (None, None) => ModeChoice::Bitwise,
    };
    Ok(match choice {
        ModeChoice::Bitwise => PluginHandle::new(Bitwise {
            is_gzip: args.is_gzip,
        }),
        ModeChoice::Metrics => PluginHandle::new(Metrics),
        ModeChoice::Trivial => PluginHandle::new(Trivial),
        ModeChoice::Tolerance => {
            let path = args
                .tolerances
                .as_ref()
                .context("--mode tolerance needs --tolerances FILE")?;
            PluginHandle::new(Tolerance(Arc::new(Tolerances::load(path)?)))
        }
    })
}

async fn run(
    name: &'static str,
    cli: ValidatorArgs,
    rest: Vec<String>,
    make: impl FnOnce(&PluginArgs) -> anyhow::Result<PluginHandle>,
) -> anyhow::Result<()> {
    let rt = DaemonRuntime::start(name, &cli.common)
        .await
        .context("starting")?;
    let app = rt.require_app().context("starting")?.to_string();
    let plugin_args = PluginArgs {
        args: rest,
        project_root: rt.config().project_dir.clone(),
        app: app.clone(),
    };
    let plugin = make(&plugin_args).context("setting up the comparison")?;
    let options = Options {
        app,
        plugin,
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
        single_batch: rt.single_batch(),
    };
    tracing::info!(
        comparison = options.plugin.name(),
        max_granted_credit = options.policy.max_granted_credit,
        "validator settings"
    );
    let pool = db::connect_lazy(rt.config().db_settings());
    let validator = Validator::new(pool, rt.config(), options)?;
    validator.preflight().await.context("starting")?;
    rt.run(async |rt| validator.daemon_pass(|| rt.should_stop(), rt.tally()).await)
        .await
        .context("running")?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn split(args: &[&str]) -> (Vec<String>, Vec<String>) {
        let args: Vec<OsString> = std::iter::once("validator")
            .chain(args.iter().copied())
            .map(OsString::from)
            .collect();
        let (known, rest) = split_args(
            <BuiltinCli as clap::CommandFactory>::command(),
            normalize_args(args),
        );
        (
            known[1..]
                .iter()
                .map(|s| s.to_string_lossy().into_owned())
                .collect(),
            rest,
        )
    }

    #[test]
    fn unknown_arguments_and_their_values_go_to_the_plugin() {
        let (known, rest) = split(&[
            "-d",
            "3",
            "--app",
            "mnist",
            "-init_script",
            "check files result_id",
            "--mod",
            "2",
            "1",
            "--compare_script=cmp",
            "--one_pass",
            "--my_flag",
            "a",
            "b",
        ]);
        assert_eq!(
            known,
            ["-d", "3", "--app", "mnist", "--mod", "2", "1", "--one_pass"]
        );
        assert_eq!(
            rest,
            [
                "--init_script",
                "check files result_id",
                "--compare_script=cmp",
                "--my_flag",
                "a",
                "b"
            ]
        );
        // The known part parses.
        let mut all = vec!["validator".to_string()];
        all.extend(known);
        BuiltinCli::try_parse_from(all).unwrap();
    }

    #[test]
    fn flags_with_inline_values_and_aliases_are_known() {
        let (known, rest) = split(&[
            "--app=mnist",
            "--debug-level",
            "2",
            "--mode",
            "metrics",
            "--",
            "x",
        ]);
        assert_eq!(
            known,
            ["--app=mnist", "--debug-level", "2", "--mode", "metrics"]
        );
        assert_eq!(rest, ["x"]);
    }
}
