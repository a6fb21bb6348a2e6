//! The `make_project` command line: BOINC's flag spellings (`--project_root`, also
//! `--project-root`), turned into [`MakeProjectOptions`] for [`super::create`].

use std::path::PathBuf;

use anyhow::Context;
use clap::Parser;
use rboinc_core::config::Secret;

use super::{BinSource, MakeProjectOptions};
use crate::output;

/// Creates a new rboinc/BOINC project: directory tree, config.xml, keys, database, the mnist
/// app and a submitter account. Refuses to touch an existing project.
#[derive(Debug, Parser)]
#[command(name = "make_project", version)]
pub struct Cli {
    /// Short name (URL component, default database name).
    short_name: String,
    /// Long name shown to volunteers (default: the short name).
    long_name: Option<String>,
    /// Where to create the project [default: $HOME/projects/<short_name>].
    #[arg(long = "project_root", alias = "project-root")]
    project_root: Option<PathBuf>,
    /// Base URL of the web server; the project is at <url_base><short_name>/.
    #[arg(
        long = "url_base",
        alias = "url-base",
        default_value = "http://127.0.0.1:8080/"
    )]
    url_base: String,
    /// Database server, host or host:port.
    #[arg(long = "db_host", alias = "db-host", default_value = "127.0.0.1")]
    db_host: String,
    /// Database name [default: the short name].
    #[arg(long = "db_name", alias = "db-name")]
    db_name: Option<String>,
    /// Database user.
    #[arg(long = "db_user", alias = "db-user", default_value = "root")]
    db_user: String,
    /// Database password (or set RBOINC_DB_PASSWD).
    #[arg(
        long = "db_passwd",
        alias = "db-passwd",
        env = "RBOINC_DB_PASSWD",
        default_value = "",
        hide_env_values = true
    )]
    db_passwd: String,
    /// Short host name of the main server [default: this machine's].
    #[arg(long = "project_host", alias = "project-host")]
    project_host: Option<String>,
    /// Email address of the account that submits work.
    #[arg(long = "submitter-email", alias = "submitter_email")]
    submitter_email: Option<String>,
    /// Name of that account.
    #[arg(
        long = "submitter-name",
        alias = "submitter_name",
        default_value = "submitter"
    )]
    submitter_name: String,
    /// Where rboinc's binaries are [default: the directory of this program].
    #[arg(long = "bin-dir", alias = "bin_dir")]
    bin_dir: Option<PathBuf>,
    /// Copy the binaries into bin/ instead of linking them.
    #[arg(long = "copy-bin", alias = "copy_bin")]
    copy_bin: bool,
    /// Accepted for compatibility with BOINC's make_project (this one never asks).
    #[arg(long = "no_query", alias = "no-query")]
    no_query: bool,
}

/// Runs one `make_project` command line: makes the project and prints its summary (with the
/// secrets, shown this once).
pub async fn run(cli: Cli) -> anyhow::Result<()> {
    let _ = cli.no_query;
    let root = match cli.project_root {
        Some(r) => r,
        None => {
            let home = std::env::var_os("HOME").context("HOME is not set; give --project_root")?;
            PathBuf::from(home).join("projects").join(&cli.short_name)
        }
    };
    let host = rboinc_core::project::short_hostname();
    let bin_dir = match cli.bin_dir {
        Some(d) => d,
        None => super::own_binary_dir().context("cannot find this program's directory")?,
    };
    let opts = MakeProjectOptions {
        long_name: cli.long_name,
        project_root: root,
        url_base: cli.url_base,
        db_host: cli.db_host,
        db_name: cli.db_name,
        db_user: cli.db_user,
        db_passwd: Secret::new(cli.db_passwd),
        project_host: cli.project_host,
        submitter_email: cli
            .submitter_email
            .unwrap_or_else(|| format!("{}@{host}", cli.short_name)),
        submitter_name: cli.submitter_name,
        bin: BinSource::Dir {
            dir: bin_dir,
            copy: cli.copy_bin,
        },
        short_name: cli.short_name,
    };
    let report = super::create(&opts).await?;
    output::print(super::summary(&report))?;
    Ok(())
}
