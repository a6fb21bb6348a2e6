//! Series: the researcher's unit of work — N rounds of the same training job with different
//! seeds, submitted together, followed live, reproduced locally and reported.
//!
//! A series is a BOINC `batch` row plus rboinc's `rb_series` and `rb_series_round` rows
//! (`store`). `submit` queues the rounds and creates the first workunits; the
//! `work_generator` daemon creates the rest a cushion at a time (`generator`), both staging
//! job files a chunk ahead of the inserts (`job_files`); `progress`
//! says where each round is; `local` runs the same jobs here; `report` writes the summary and
//! plots; `cancel` stops a series.

pub mod cancel;
pub mod generator;
pub mod job_files;
pub mod local;
pub mod params;
pub mod progress;
pub mod report;
pub mod store;
pub mod submit;

use std::path::PathBuf;

pub use params::SeriesParams;
pub use submit::{SubmitOptions, Submitted, submit};

use crate::create_work::CreateWorkError;
use crate::stage::StageError;

/// Why a series command failed; each message says what to do.
#[derive(Debug, thiserror::Error)]
pub enum SeriesError {
    #[error("{0}")]
    Invalid(String),
    #[error("no series named {0:?} (`series status` without a name lists them)")]
    Unknown(String),
    #[error(
        "dataset {} not found: give --dataset PATH (an IDX directory with train-images-idx3-ubyte[.gz] and train-labels-idx1-ubyte[.gz], a .npz, or a dataset bundle)",
        .0.display()
    )]
    MissingDataset(PathBuf),
    #[error("cannot use the dataset: {0}")]
    Dataset(String),
    #[error(
        "no version of app {0:?} is published for x86_64-pc-linux-gnu: run `update_versions --add-app-binary PATH --app {0} --version 1.0` (or give --app-binary / --in-process)"
    )]
    NoAppVersion(String),
    #[error("local run failed: {0}")]
    Local(String),
    #[error("cannot write the report: {0}")]
    Report(String),
    #[error(transparent)]
    CreateWork(#[from] CreateWorkError),
    #[error(transparent)]
    Stage(#[from] StageError),
    #[error("database error: {0}")]
    Sql(#[from] sqlx::Error),
}

/// Problems that keep a series from moving, worth telling the researcher while waiting.
pub mod health {
    use rboinc_core::db;
    use rboinc_core::project::ProjectDir;

    /// Daemons whose pid file names a live process.
    pub fn running_daemons(dir: &ProjectDir) -> Vec<String> {
        let Ok(entries) = std::fs::read_dir(dir.pid_dir()) else {
            return Vec::new();
        };
        let mut out = Vec::new();
        for e in entries.flatten() {
            let name = e.file_name().to_string_lossy().into_owned();
            let Some(stem) = name.strip_suffix(".pid") else {
                continue;
            };
            let alive = std::fs::read_to_string(e.path())
                .ok()
                .and_then(|t| t.trim().parse::<i32>().ok())
                .and_then(rustix::process::Pid::from_raw)
                .is_some_and(|pid| rustix::process::test_kill_process(pid).is_ok());
            if alive {
                out.push(stem.to_string());
            }
        }
        out.sort();
        out
    }

    /// Hints for a series that is not moving (empty when all looks fine).
    pub async fn hints(dir: &ProjectDir, pool: &db::Pool, master_url: Option<&str>) -> Vec<String> {
        let mut out = Vec::new();
        let running = running_daemons(dir);
        for need in ["scheduler", "transitioner", "work_generator"] {
            if !running.iter().any(|r| r.starts_with(need)) {
                out.push(format!(
                    "the project is not running ({need} has no live pid file in {}): start it with `start` in {}",
                    dir.pid_dir().display(),
                    dir.root().display()
                ));
                break;
            }
        }
        let hosts: i64 = sqlx::query_scalar("SELECT COUNT(*) FROM host")
            .fetch_one(pool)
            .await
            .unwrap_or(0);
        if hosts == 0 {
            out.push(format!(
                "no hosts attached: attach a BOINC client with `boinccmd --project_attach {} <authenticator>` (make_project printed the authenticator)",
                master_url.unwrap_or("<master_url>")
            ));
        }
        out
    }
}
