//! `db_purge`'s flags (BOINC's, in both spellings) and start-up.

use std::time::Duration;

use clap::Parser;
use rboinc_core::daemon::{CommonDaemonArgs, DaemonRuntime, PassOutcome, StopReason};
use rboinc_core::db;

use super::archive::{ArchiveSettings, Compression};
use super::queue::Selection;
use super::{DEFAULT_BATCH_SIZE, PurgeOptions, Purger};

/// A scan that purged this many workunits or fewer is followed by `--sleep` (BOINC's rule).
const BUSY_SCAN: u64 = 500;

/// Removes finished workunits and their results from the database, archiving them to XML files
/// first (BOINC's db_purge).
#[derive(Debug, Parser)]
#[command(name = "db_purge", version)]
pub struct DbPurgeCli {
    #[command(flatten)]
    pub common: CommonDaemonArgs,
    /// Only workunits whose row has not changed for this many days.
    #[arg(long = "min_age_days", value_name = "DAYS")]
    pub min_age_days: Option<f64>,
    /// Purge at most N workunits in all, then exit.
    #[arg(long = "max", value_name = "N")]
    pub max: Option<u64>,
    /// Compress archives with gzip (files end in .xml.gz).
    #[arg(long = "gzip", alias = "zlib", conflicts_with = "zip")]
    pub gzip: bool,
    /// Compress archives as zip files (.xml.zip).
    #[arg(long = "zip")]
    pub zip: bool,
    /// Do not write archive files; just delete the rows.
    #[arg(long = "no_archive")]
    pub no_archive: bool,
    /// Write archives into archives/YYYY_MM_DD/ (UTC).
    #[arg(long = "daily_dir")]
    pub daily_dir: bool,
    /// Start new archive files after N workunits.
    #[arg(long = "max_wu_per_file", value_name = "N")]
    pub max_wu_per_file: Option<u64>,
    /// Seconds to sleep after a scan that purged little (1 to 86400).
    #[arg(
        long = "sleep",
        value_name = "SECS",
        default_value_t = 300,
        value_parser = clap::value_parser!(u64).range(1..=86400)
    )]
    pub sleep: u64,
    /// Archive but do not delete anything (testing).
    #[arg(long = "dont_delete")]
    pub dont_delete: bool,
    /// Only workunits in no batch or in a retired batch.
    #[arg(long = "batch")]
    pub batch: bool,
    /// Workunits read per query.
    #[arg(long = "batch_size", value_name = "N", default_value_t = DEFAULT_BATCH_SIZE)]
    pub batch_size: u32,
}

/// Runs db_purge until told to stop, `--max` is reached, or (with `--one_pass`) after one
/// scan. Open archives are closed on the way out. An error means it could not start, a
/// one-pass run's database work failed, or the archives could not be closed.
pub async fn run(cli: DbPurgeCli) -> anyhow::Result<()> {
    use anyhow::Context;
    let rt = DaemonRuntime::start("db_purge", &cli.common)
        .await
        .context("starting")?
        .with_default_sleep_interval(Duration::from_secs(cli.sleep));
    let mut purger = start(&rt, &cli).await.context("starting")?;
    let result = rt
        .run(async |rt| {
            let report = purger.pass(rt.shutdown()).await?;
            rt.tally().items("workunits_purged", report.workunits);
            rt.tally().items("results_purged", report.results);
            if report.max_reached {
                tracing::info!(purged = purger.purged_total(), "--max reached; stopping");
                rt.shutdown().request(StopReason::Requested);
            }
            Ok(if report.workunits > BUSY_SCAN {
                PassOutcome::DidWork
            } else {
                PassOutcome::Idle
            })
        })
        .await;
    // Close the archives whatever happened: what was written must end up complete.
    let closed = purger.close();
    result.context("running")?;
    closed.context("closing the archive files")?;
    Ok(())
}

async fn start(rt: &DaemonRuntime, cli: &DbPurgeCli) -> anyhow::Result<Purger> {
    use anyhow::Context;
    anyhow::ensure!(
        rt.modulo().is_all() || cli.no_archive,
        "--mod needs --no_archive (several instances cannot share archive files)"
    );
    let config = rt.config();
    let pool = db::connect_lazy(config.db_settings());
    let appid = match rt.app() {
        Some(name) => Some(
            db::app::by_name(&pool, name)
                .await
                .context("looking up the app")?
                .with_context(|| format!("there is no app named {name:?}"))?
                .id,
        ),
        None => None,
    };
    let min_age_secs = match cli.min_age_days {
        Some(days) if days.is_finite() && days >= 0.0 => Some((days * 86400.0) as i64),
        Some(days) => anyhow::bail!("--min_age_days {days}: give a number of days, 0 or more"),
        None => None,
    }
    .filter(|&secs| secs > 0);
    let archive = if cli.no_archive {
        None
    } else {
        let dir = config.project_dir.join("archives");
        std::fs::create_dir_all(&dir).with_context(|| format!("creating {}", dir.display()))?;
        Some(ArchiveSettings {
            dir,
            daily_dir: cli.daily_dir,
            compression: if cli.gzip {
                Compression::Gzip
            } else if cli.zip {
                Compression::Zip
            } else {
                Compression::None
            },
        })
    };
    let delete_assignments = config
        .options()
        .bool("enable_assignment")
        .context("config.xml")?
        .unwrap_or(false);
    Ok(Purger::new(
        pool,
        PurgeOptions {
            selection: Selection {
                min_age_secs,
                modulo: rt.modulo(),
                appid,
                retired_batches_only: cli.batch,
            },
            archive,
            max_wu_per_file: cli.max_wu_per_file.filter(|&n| n > 0),
            max_total: cli.max.filter(|&n| n > 0),
            dont_delete: cli.dont_delete,
            delete_assignments,
            batch_size: cli.batch_size,
            single_batch: rt.single_batch(),
        },
    ))
}

#[cfg(test)]
mod tests {
    use super::*;
    use rboinc_core::daemon::try_parse_args_from;

    #[test]
    fn boinc_spellings() {
        let cli: DbPurgeCli = try_parse_args_from([
            "db_purge",
            "-d",
            "3",
            "-one_pass",
            "-no_archive",
            "-min_age_days",
            "1.5",
            "--zlib",
            "-max",
            "10",
            "-sleep",
            "60",
        ])
        .unwrap();
        assert!(cli.common.one_pass && cli.no_archive && cli.gzip);
        assert_eq!(cli.min_age_days, Some(1.5));
        assert_eq!(cli.max, Some(10));
        assert_eq!(cli.sleep, 60);
        for bad in [
            ["db_purge", "--sleep", "0"],
            ["db_purge", "--sleep", "86401"],
        ] {
            assert!(try_parse_args_from::<DbPurgeCli, _, _>(bad).is_err());
        }
        assert!(try_parse_args_from::<DbPurgeCli, _, _>(["db_purge", "--gzip", "--zip"]).is_err());
    }
}
