//! `file_deleter`'s flags (BOINC's, in both spellings) and start-up.

use std::path::PathBuf;

use clap::Parser;
use rboinc_core::daemon::{CommonDaemonArgs, DaemonRuntime, PassOutcome};
use rboinc_core::db::{self, AppId};

use super::files::Hierarchy;
use super::queue::Selection;
use super::{ERROR_RETRY_INTERVAL, FileDeleter, FileDeleterOptions};

/// Deletes the input and output files of finished jobs (BOINC's file_deleter).
#[derive(Debug, Parser)]
#[command(name = "file_deleter", version)]
pub struct FileDeleterCli {
    #[command(flatten)]
    pub common: CommonDaemonArgs,
    /// Handle only rows of the app with this id (overrides --app).
    #[arg(long = "appid", value_name = "ID")]
    pub appid: Option<i64>,
    /// Never retry rows whose deletion failed (state ERROR).
    #[arg(long = "dont_retry_errors", alias = "dont_retry_error")]
    pub dont_retry_errors: bool,
    /// Record workunits as done but keep their input files (debugging).
    #[arg(long = "preserve_wu_files")]
    pub preserve_wu_files: bool,
    /// Record results as done but keep their output files (debugging).
    #[arg(long = "preserve_result_files")]
    pub preserve_result_files: bool,
    /// Handle only workunits' input files.
    #[arg(long = "input_files_only", conflicts_with = "output_files_only")]
    pub input_files_only: bool,
    /// Handle only results' output files.
    #[arg(long = "output_files_only")]
    pub output_files_only: bool,
    /// Delete files but do not change any state in the database (debugging).
    #[arg(long = "dry_run", alias = "no_db_update")]
    pub dry_run: bool,
    /// Skip rows that belong to a batch (batch > 0).
    #[arg(long = "dont_delete_batches")]
    pub dont_delete_batches: bool,
    /// Only workunits whose xml_doc is LIKE this SQL pattern.
    #[arg(long = "xml_doc_like", value_name = "PATTERN")]
    pub xml_doc_like: Option<String>,
    /// Use this download directory instead of config.xml's.
    #[arg(long = "download_dir", value_name = "DIR")]
    pub download_dir: Option<PathBuf>,
    /// Accepted for compatibility; this file deleter does not delete antique files.
    #[arg(long = "dont_delete_antiques")]
    pub dont_delete_antiques: bool,
    /// Results read per query.
    #[arg(long = "results_per_query", value_name = "N", default_value_t = 1500)]
    pub results_per_query: u32,
    /// Workunits read per query.
    #[arg(long = "wus_per_query", value_name = "N", default_value_t = 500)]
    pub wus_per_query: u32,
    /// Threads deleting files at once.
    #[arg(long = "threads", value_name = "N", default_value_t = 4)]
    pub threads: usize,
}

/// Runs the file deleter until told to stop (one pass with `--one_pass`). An error means it
/// could not start or a one-pass run's database work failed.
pub async fn run(cli: FileDeleterCli) -> anyhow::Result<()> {
    use anyhow::Context;
    let rt = DaemonRuntime::start("file_deleter", &cli.common)
        .await
        .context("starting")?;
    let mut deleter = start(&rt, &cli).await.context("starting")?;
    rt.run(async |rt| {
        let report = deleter.pass(rt.shutdown()).await?;
        let tally = rt.tally();
        tally.items("result_files_deleted", report.results_done);
        tally.items("workunit_files_deleted", report.workunits_done);
        tally.errors(report.results_error + report.workunits_error);
        if report.changed() > 0 {
            tracing::debug!(
                results_done = report.results_done,
                results_error = report.results_error,
                workunits_done = report.workunits_done,
                workunits_error = report.workunits_error,
                "pass done"
            );
            Ok(PassOutcome::DidWork)
        } else {
            Ok(PassOutcome::Idle)
        }
    })
    .await
    .context("running")?;
    Ok(())
}

async fn start(rt: &DaemonRuntime, cli: &FileDeleterCli) -> anyhow::Result<FileDeleter> {
    use anyhow::Context;
    let config = rt.config();
    let pool = db::connect_lazy(config.db_settings());
    let appid = match (cli.appid, rt.app()) {
        (Some(id), _) => Some(AppId(id)),
        (None, Some(name)) => Some(
            db::app::by_name(&pool, name)
                .await
                .context("looking up the app")?
                .with_context(|| format!("there is no app named {name:?}"))?
                .id,
        ),
        (None, None) => None,
    };
    if cli.dont_delete_antiques {
        tracing::warn!("--dont_delete_antiques has no effect: antique files are not deleted");
    }
    let download_root = match &cli.download_dir {
        Some(dir) => {
            tracing::info!(download_dir = %dir.display(), "overriding config.xml's download_dir");
            dir.clone()
        }
        None => config.download_dir.clone(),
    };
    let cache_md5_info = config
        .options()
        .bool("cache_md5_info")
        .context("config.xml")?
        .unwrap_or(false);
    let options = FileDeleterOptions {
        upload: config.upload_hier(),
        download: Hierarchy {
            root: download_root,
            fanout: config.uldl_dir_fanout,
        },
        cache_md5_info,
        selection: Selection {
            modulo: rt.modulo(),
            appid,
            skip_batches: cli.dont_delete_batches,
            xml_doc_like: cli.xml_doc_like.clone(),
        },
        outputs: !cli.input_files_only,
        inputs: !cli.output_files_only,
        preserve_result_files: cli.preserve_result_files,
        preserve_wu_files: cli.preserve_wu_files,
        update_db: !cli.dry_run,
        retry_errors: !cli.dont_retry_errors,
        results_per_query: cli.results_per_query,
        wus_per_query: cli.wus_per_query,
        threads: cli.threads,
        error_retry_interval: ERROR_RETRY_INTERVAL,
        single_batch: rt.single_batch(),
    };
    Ok(FileDeleter::new(pool, options))
}

#[cfg(test)]
mod tests {
    use super::*;
    use rboinc_core::daemon::try_parse_args_from;

    #[test]
    fn boinc_spellings() {
        let cli: FileDeleterCli = try_parse_args_from([
            "file_deleter",
            "-d",
            "3",
            "-one_pass",
            "-dont_retry_errors",
            "--input_files_only",
            "-xml_doc_like",
            "%mnist%",
            "-no_db_update",
            "--mod",
            "2",
            "1",
        ])
        .unwrap();
        assert!(cli.common.one_pass && cli.dont_retry_errors && cli.input_files_only);
        assert!(cli.dry_run);
        assert_eq!(cli.xml_doc_like.as_deref(), Some("%mnist%"));
        let e = try_parse_args_from::<FileDeleterCli, _, _>([
            "file_deleter",
            "--input_files_only",
            "--output_files_only",
        ])
        .unwrap_err();
        assert_eq!(e.kind(), clap::error::ErrorKind::ArgumentConflict);
        let e =
            try_parse_args_from::<FileDeleterCli, _, _>(["file_deleter", "--bogus"]).unwrap_err();
        assert_eq!(e.kind(), clap::error::ErrorKind::UnknownArgument);
    }
}
