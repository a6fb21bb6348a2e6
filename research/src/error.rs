//! The one error type of the series commands: each message says what to do next.

use std::path::PathBuf;

use rboinc_tools::create_work::CreateWorkError;
use rboinc_tools::stage::StageError;

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
            rboinc_tools::make_project::APP
        )
    } else {
        format!(
            "unknown app {app:?}: the project's apps are {}; give one of them with --app",
            known.join(", ")
        )
    }
}
