//! The `create_work` command line: BOINC's flags (one dash or two, `--command_line` values left
//! alone), turned into a [`WorkSpec`] per job — one from the arguments, or one per line of
//! standard input with `--stdin` ([`bulk`]).

use std::path::PathBuf;

use anyhow::Context;
use clap::Parser;

use super::{InputArg, JobDesc, JobOverrides, WorkCreator, WorkSpec, bulk, line};
use crate::output;
use crate::project::Project;
use rboinc_core::clock::now_i32;

/// Creates workunits from templates and input files already staged in the download directory
/// (or given as paths, which are staged). With --stdin, one job per input line.
#[derive(Debug, Parser)]
#[command(name = "create_work", version, rename_all = "snake_case")]
pub struct Cli {
    /// The app's short name.
    #[arg(long)]
    appname: String,
    /// Workunit name [default: <app>_<pid>_<time>]; with --stdin, the prefix of line names.
    #[arg(long)]
    wu_name: Option<String>,
    /// Input template [default: templates/<app>_in].
    #[arg(long)]
    wu_template: Option<PathBuf>,
    /// Result template, stored relative to the project [default: templates/<app>_out].
    #[arg(long)]
    result_template: Option<String>,
    /// Project directory holding config.xml.
    #[arg(long, alias = "project-dir")]
    config_dir: Option<PathBuf>,
    #[arg(long)]
    batch: Option<i64>,
    #[arg(long)]
    priority: Option<i32>,
    /// Stored in canonical_credit.
    #[arg(long)]
    credit: Option<f64>,
    #[arg(long)]
    rsc_fpops_est: Option<f64>,
    #[arg(long)]
    rsc_fpops_bound: Option<f64>,
    #[arg(long)]
    rsc_memory_bound: Option<f64>,
    #[arg(long)]
    rsc_disk_bound: Option<f64>,
    #[arg(long)]
    delay_bound: Option<i32>,
    #[arg(long)]
    min_quorum: Option<i32>,
    #[arg(long)]
    target_nresults: Option<i32>,
    #[arg(long)]
    max_error_results: Option<i32>,
    #[arg(long)]
    max_total_results: Option<i32>,
    #[arg(long)]
    max_success_results: Option<i32>,
    #[arg(long)]
    size_class: Option<i32>,
    #[arg(long)]
    app_version_num: Option<i32>,
    #[arg(long)]
    keywords: Option<String>,
    /// Command line given to the app.
    #[arg(long, allow_hyphen_values = true)]
    command_line: Option<String>,
    /// Adds <sub_appname> to the workunit.
    #[arg(long)]
    sub_appname: Option<String>,
    /// A remote input file: URL NBYTES MD5 (repeatable).
    #[arg(long, num_args = 3, value_names = ["URL", "NBYTES", "MD5"], action = clap::ArgAction::Append)]
    remote_file: Vec<String>,
    /// Read one job per line from standard input.
    #[arg(long)]
    stdin: bool,
    /// With --stdin: skip lines that fail instead of creating nothing.
    #[arg(long)]
    continue_on_error: bool,
    #[arg(long)]
    verbose: bool,
    /// Debug level (accepted for compatibility).
    #[arg(short = 'd')]
    debug: Option<u8>,
    /// Input files: names in the download directory, or paths (containing '/') to stage.
    inputs: Vec<String>,
}

impl Cli {
    /// The process's arguments, BOINC's spellings accepted.
    pub fn parse_args() -> Cli {
        Cli::parse_from(normalized_args())
    }

    /// BOINC's `-d` level (1 critical .. 4 debug); warnings by default.
    pub fn log_level(&self) -> u8 {
        self.debug.unwrap_or(2)
    }
}

/// BOINC spells long options with one dash too; values after --command_line are left alone.
fn normalized_args() -> Vec<std::ffi::OsString> {
    let raw: Vec<std::ffi::OsString> = std::env::args_os().collect();
    let mut out = Vec::with_capacity(raw.len());
    let mut keep_next = false;
    for (i, a) in raw.into_iter().enumerate() {
        if keep_next || i == 0 {
            out.push(a);
            keep_next = false;
            continue;
        }
        let fixed = rboinc_core::daemon::normalize_args(["x".into(), a.clone()])
            .pop()
            .unwrap_or(a);
        keep_next = fixed == "--command_line" || fixed == "--sub_appname";
        out.push(fixed);
    }
    out
}

fn desc(cli: &Cli) -> JobDesc {
    let mut d = JobDesc::default();
    macro_rules! set {
        ($($f:ident),*) => {$( if let Some(v) = cli.$f { d.$f = v; } )*};
    }
    set!(
        rsc_fpops_est,
        rsc_fpops_bound,
        rsc_memory_bound,
        rsc_disk_bound,
        delay_bound,
        min_quorum,
        target_nresults,
        max_error_results,
        max_total_results,
        max_success_results,
        size_class,
        app_version_num,
        priority,
        batch
    );
    if let Some(c) = cli.credit {
        d.canonical_credit = c;
    }
    if let Some(k) = &cli.keywords {
        d.keywords = k.clone();
    }
    d
}

fn remote_inputs(triples: &[String]) -> anyhow::Result<Vec<InputArg>> {
    triples
        .chunks(3)
        .map(|t| {
            let nbytes: f64 = t[1]
                .parse()
                .with_context(|| format!("--remote_file {}: {:?} is not a size", t[0], t[1]))?;
            Ok(InputArg::Remote {
                url: t[0].clone(),
                nbytes,
                md5: t[2].clone(),
            })
        })
        .collect()
}

/// Runs one `create_work` command line.
pub async fn run(cli: Cli) -> anyhow::Result<()> {
    let project = Project::open(cli.config_dir.as_deref())?;
    let pool = project.connect().await?;
    let creator = WorkCreator::new(&pool, project.config.clone(), &cli.appname).await?;
    let base = base_spec(&cli);
    if cli.stdin {
        from_stdin(&pool, creator, &cli, base).await
    } else {
        one(&pool, creator, &cli, base).await
    }
}

/// The job the arguments describe, before its inputs (every `--stdin` line starts from it).
fn base_spec(cli: &Cli) -> WorkSpec {
    let wu_template = cli
        .wu_template
        .clone()
        .unwrap_or_else(|| PathBuf::from(format!("templates/{}_in", cli.appname)));
    let result_template = cli
        .result_template
        .clone()
        .unwrap_or_else(|| format!("templates/{}_out", cli.appname));
    let base_name = cli.wu_name.clone().unwrap_or_else(|| {
        let t = rboinc_core::clock::now_f64();
        format!("{}_{}_{t:.6}", cli.appname, std::process::id())
    });
    let additional_xml = cli
        .sub_appname
        .as_ref()
        .map(|s| {
            format!(
                "   <sub_appname>{}</sub_appname>",
                rboinc_core::xml::escape(s)
            )
        })
        .unwrap_or_default();
    WorkSpec {
        name: base_name,
        wu_template,
        result_template,
        inputs: Vec::new(),
        command_line: Some(cli.command_line.clone().unwrap_or_default()),
        desc: desc(cli),
        overrides: JobOverrides::default(),
        additional_xml,
    }
}

/// `--stdin`: one job per line, all created in one transaction (or, with
/// `--continue_on_error`, the lines that are right).
async fn from_stdin(
    pool: &rboinc_core::db::Pool,
    creator: WorkCreator,
    cli: &Cli,
    base: WorkSpec,
) -> anyhow::Result<()> {
    let base_name = base.name.clone();
    let global_cmd = base.command_line.clone().unwrap_or_default();
    let spec_of = move |i: usize, text: &str| {
        let l = line::parse(text)?;
        let mut spec = base.clone();
        spec.name = l.wu_name.unwrap_or_else(|| format!("{base_name}_{i}"));
        if let Some(c) = l.command_line {
            spec.command_line = Some(if global_cmd.is_empty() {
                c
            } else {
                format!("{global_cmd} {c}")
            });
        }
        if let Some(t) = l.wu_template {
            spec.wu_template = PathBuf::from(t);
        }
        if let Some(t) = l.result_template {
            spec.result_template = t;
        }
        if let Some(p) = l.priority {
            spec.desc.priority = p;
        }
        spec.inputs = l
            .inputs
            .into_iter()
            .map(|x| match x {
                line::LineInput::Name(n) => InputArg::from_arg(&n),
                line::LineInput::Remote { url, nbytes, md5 } => {
                    InputArg::Remote { url, nbytes, md5 }
                }
            })
            .collect();
        Ok(spec)
    };
    let on_skip =
        |e: &bulk::BulkError| output::eprintln(format_args!("create_work: {e} (skipped)"));
    let input = std::io::BufReader::new(std::io::stdin());
    let done = bulk::create(
        pool,
        creator,
        input,
        spec_of,
        cli.continue_on_error,
        on_skip,
        now_i32(),
    )
    .await
    .context("nothing was created")?;
    tracing::debug!(
        created = done.created,
        skipped = done.skipped,
        preparing_s = done.preparing.as_secs_f64(),
        inserting_s = done.inserting.as_secs_f64(),
        committing_s = done.committing.as_secs_f64(),
        "bulk creation done"
    );
    output::println(format_args!(
        "created {} workunits{}",
        done.created,
        if done.skipped > 0 {
            format!(" ({} lines skipped)", done.skipped)
        } else {
            String::new()
        }
    ))?;
    Ok(())
}

/// One job from the arguments.
async fn one(
    pool: &rboinc_core::db::Pool,
    mut creator: WorkCreator,
    cli: &Cli,
    mut spec: WorkSpec,
) -> anyhow::Result<()> {
    spec.inputs = cli.inputs.iter().map(|a| InputArg::from_arg(a)).collect();
    spec.inputs.extend(remote_inputs(&cli.remote_file)?);
    let p = creator.prepare(&spec)?;
    creator.sync_staged()?;
    let mut conn = pool.acquire().await?;
    super::insert(&mut conn, std::slice::from_ref(&p), now_i32()).await?;
    if cli.wu_name.is_none() {
        output::println(format_args!("workunit name: {}", p.name))?;
    }
    if cli.verbose {
        output::println(p.xml_doc)?;
    }
    Ok(())
}
