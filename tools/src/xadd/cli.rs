//! The `xadd` command line: BOINC's `bin/xadd`, run from the project directory (or with
//! `--project-dir`), printing one line per listed platform and app.

use std::path::PathBuf;

use anyhow::Context;
use clap::Parser;

use super::ProjectXml;
use crate::output;
use crate::project::Project;

/// Adds the platforms and apps listed in project.xml to the database, and updates the names of
/// those already there (BOINC's bin/xadd).
#[derive(Debug, Parser)]
#[command(name = "xadd")]
pub struct Cli {
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

/// Runs `xadd`: fails if `project.xml` is missing or lists nothing.
pub async fn run(cli: Cli) -> anyhow::Result<()> {
    let project = Project::open(cli.project_dir.as_deref())?;
    let path = ProjectXml::path(project.root());
    anyhow::ensure!(path.is_file(), "{} does not exist", path.display());
    let doc = ProjectXml::load(project.root())?;
    anyhow::ensure!(
        !doc.platforms.is_empty() || !doc.apps.is_empty(),
        "{} lists no <platform> and no <app>",
        path.display()
    );
    if doc.nameless > 0 {
        output::eprintln(format_args!(
            "warning: {}: {} entries without <name> left out",
            path.display(),
            doc.nameless
        ));
    }
    let pool = project.connect().await?;
    let outcomes = super::apply(&pool, &doc, rboinc_core::clock::now_i32())
        .await
        .context("writing the platform and app rows")?;
    for o in &outcomes {
        output::println(o)?;
    }
    project
        .dir
        .request_reread_db()
        .with_context(|| format!("touching {}", project.dir.reread_db_path().display()))?;
    Ok(())
}
