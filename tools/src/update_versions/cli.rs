//! The `update_versions` command line: BOINC's flags (`--noconfirm`, one dash or two), plus
//! `--add-app-binary` to lay out a single executable as a new version first.

use std::path::PathBuf;

use clap::Parser;

use crate::output;
use crate::project::Project;

/// Registers every app version under apps/<app>/<version>/<platform>[__<plan_class>]/ that is
/// not in the database yet: signs and stages its files, inserts app_version rows, touches
/// reread_db. Never asks: --noconfirm is accepted for compatibility.
#[derive(Debug, Parser)]
#[command(name = "update_versions")]
pub struct Cli {
    /// Accepted for compatibility (this tool never asks).
    #[arg(long)]
    noconfirm: bool,
    /// Print each file as it is processed.
    #[arg(long)]
    verbose: bool,
    /// Lay out an executable as a new version first (with --app and --version).
    #[arg(long = "add-app-binary", alias = "add_app_binary", requires_all = ["app", "version"])]
    add_app_binary: Option<PathBuf>,
    /// App for --add-app-binary.
    #[arg(long)]
    app: Option<String>,
    /// Version for --add-app-binary (MAJOR.MINOR, e.g. 1.4).
    #[arg(long)]
    version: Option<String>,
    /// Platform for --add-app-binary.
    #[arg(long, default_value = "x86_64-pc-linux-gnu")]
    platform: String,
    /// Project directory [default: found from BOINC_PROJECT_DIR, . or ..].
    #[arg(long = "project-dir", alias = "project_dir")]
    project_dir: Option<PathBuf>,
}

impl Cli {
    /// The process's arguments, BOINC's one-dash spellings accepted.
    pub fn parse_args() -> Cli {
        Cli::parse_from(rboinc_core::daemon::normalize_args(std::env::args_os()))
    }
}

/// Runs one `update_versions` command line: lays out `--add-app-binary` first if given, then
/// registers every new version and says what it did.
pub async fn run(cli: Cli) -> anyhow::Result<()> {
    let _ = cli.noconfirm;
    let project = Project::open(cli.project_dir.as_deref())?;
    if let (Some(bin), Some(app), Some(version)) = (&cli.add_app_binary, &cli.app, &cli.version) {
        let dir = super::add_app_binary(&project.config.app_dir, app, version, &cli.platform, bin)?;
        output::println(format_args!("laid out {}", dir.display()))?;
    }
    let pool = project.connect().await?;
    let report = super::run(&project, &pool).await?;
    for o in &report.added_from_project_xml {
        output::println(format_args!("{o} (listed in project.xml)"))?;
    }
    if cli.verbose {
        for s in &report.skipped {
            output::println(format_args!("skipped {s}"))?;
        }
    }
    for w in &report.warnings {
        output::eprintln(format_args!("warning: {w}"));
    }
    for r in &report.registered {
        output::println(format_args!(
            "registered {} {}.{:02} {}{} (app_version {}): {}",
            r.app,
            r.version_num / 100,
            r.version_num % 100,
            r.platform,
            if r.plan_class.is_empty() {
                String::new()
            } else {
                format!("__{}", r.plan_class)
            },
            r.id,
            r.files.join(" ")
        ))?;
    }
    if report.registered.is_empty() {
        output::println(format_args!(
            "no new app versions (use --verbose to see what was skipped)"
        ))?;
    }
    Ok(())
}
