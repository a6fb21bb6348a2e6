//! Series: the researcher's unit of work — N rounds of the same training job with different
//! seeds, submitted together, followed live, reproduced locally and reported.
//!
//! A series is a BOINC `batch` row plus rboinc's `rb_series` and `rb_series_round` rows
//! (`store`). `submit` queues the rounds and creates the first workunits, with the dataset
//! staged as one bundle (`dataset`); the
//! `work_generator` daemon creates the rest a cushion at a time (`generator`), both staging
//! job files a chunk ahead of the inserts (`job_files`); `progress`
//! says where each round is; `local` runs the same jobs here; `report` writes the summary and
//! plots; `cancel` stops a series; `health` says what keeps a series from moving.

pub mod cancel;
pub mod dataset;
pub mod generator;
pub mod health;
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
    #[error("{}", unknown_app(.app, .known))]
    UnknownApp { app: String, known: Vec<String> },
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

fn unknown_app(app: &str, known: &[String]) -> String {
    if known.is_empty() {
        format!(
            "unknown app {app:?}: the project has no apps yet; make_project adds the {} app",
            crate::make_project::APP
        )
    } else {
        format!(
            "unknown app {app:?}: the project's apps are {}; give one of them with --app",
            known.join(", ")
        )
    }
}
