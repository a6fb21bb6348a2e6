//! `series local`: the series' jobs run on this machine, as the reference the distributed
//! results are compared with.
//!
//! By default the app binary the project publishes (the newest version's main program in
//! `download/`) runs each job standalone — the same bytes the volunteers run, so distributed and
//! local metrics must agree bit for bit. [`Runner::InProcess`] runs the same code through the
//! `mnist_app` library instead (no binary needed; what the tests use).

use std::path::{Path, PathBuf};
use std::process::Command;

use rboinc_core::db::{self, app, app_version, platform};
use rboinc_core::xml;

use crate::SeriesError;
use crate::params::SeriesParams;

/// How to run a job.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Runner {
    /// `mnist --job J --dataset D --out M` with this executable.
    Binary(PathBuf),
    /// Through the `mnist_app` library in this process.
    InProcess,
}

/// A generation's state files: the one a job starts from and the one it writes.
#[derive(Debug, Clone, Copy)]
pub struct StateFiles<'a> {
    pub start: &'a Path,
    pub out: &'a Path,
}

impl Runner {
    /// Runs the job `job_path` on `dataset`, writing `metrics` (and the weights and state next
    /// to it); `what` names the job in errors ("round 3", "generation 2").
    pub fn run_job(
        &self,
        job_path: &Path,
        dataset: &Path,
        metrics: &Path,
        state: Option<StateFiles<'_>>,
        what: &str,
    ) -> Result<(), SeriesError> {
        let dir = metrics.parent().expect("has a parent");
        match self {
            Runner::Binary(exe) => {
                let mut cmd = Command::new(exe);
                cmd.arg("--job")
                    .arg(job_path)
                    .arg("--dataset")
                    .arg(dataset)
                    .arg("--out")
                    .arg(metrics);
                if let Some(st) = state {
                    cmd.arg("--start-state")
                        .arg(st.start)
                        .arg("--state-out")
                        .arg(st.out);
                }
                let o = cmd.output().map_err(|e| {
                    SeriesError::Local(format!("cannot run {}: {e}", exe.display()))
                })?;
                if !o.status.success() {
                    return Err(SeriesError::Local(format!(
                        "{what}: {} exited with {}: {}",
                        exe.display(),
                        o.status,
                        String::from_utf8_lossy(&o.stderr).trim()
                    )));
                }
            }
            Runner::InProcess => {
                use mnist_app::boinc::control::Control;
                use mnist_app::run::{self, Context, Paths};
                let control = Control::inert();
                let ctx = Context {
                    control: &control,
                    mode: mnist_app::host::Mode::Standalone,
                    base_cpu: None,
                    boinc: None,
                };
                let paths = Paths {
                    job: job_path.to_path_buf(),
                    dataset: dataset.to_path_buf(),
                    metrics: metrics.to_path_buf(),
                    weights: dir.join(run::WEIGHTS),
                    start_state: state
                        .map_or_else(|| dir.join(run::START_STATE), |st| st.start.to_path_buf()),
                    state: state.map_or_else(|| dir.join(run::STATE), |st| st.out.to_path_buf()),
                    checkpoint: None,
                };
                run::run(&paths, &ctx).map_err(|e| SeriesError::Local(format!("{what}: {e}")))?;
            }
        }
        Ok(())
    }
}

/// One local run.
#[derive(Debug, Clone, PartialEq)]
pub struct LocalRun {
    pub round: i32,
    pub seed: u64,
    pub metrics: PathBuf,
}

/// `<reports>/<series>/local/round_<n>/metrics.json`.
pub fn metrics_path(report_dir: &Path, round: i32) -> PathBuf {
    report_dir
        .join("local")
        .join(format!("round_{round}"))
        .join("metrics.json")
}

/// The main program of the newest published version of `app` for the Linux platform.
pub async fn published_binary(
    pool: &db::Pool,
    download_dir: &Path,
    app_name: &str,
) -> Result<PathBuf, SeriesError> {
    let none = || SeriesError::NoAppVersion(app_name.to_string());
    let a = app::by_name(pool, app_name).await?.ok_or_else(none)?;
    let plat = platform::by_name(pool, rboinc_tools::make_project::PLATFORM)
        .await?
        .ok_or_else(none)?;
    let newest = app_version::for_app(pool, a.id)
        .await?
        .into_iter()
        .filter(|v| v.platformid == plat.id && v.deprecated == 0 && v.plan_class.is_empty())
        .max_by_key(|v| v.version_num)
        .ok_or_else(none)?;
    let main = xml::raw_elements(&newest.xml_doc, "file_ref")
        .into_iter()
        .find(|r| xml::flag(r, "main_program"))
        .and_then(|r| xml::text(r, "file_name"))
        .ok_or_else(none)?;
    Ok(download_dir.join(main))
}

/// Runs `rounds` (round number, seed) with `params` on `dataset`, writing under `report_dir`.
pub fn run(
    runner: &Runner,
    dataset: &Path,
    params: &SeriesParams,
    rounds: &[(i32, u64)],
    report_dir: &Path,
    progress: impl FnMut(&LocalRun),
) -> Result<Vec<LocalRun>, SeriesError> {
    let jobs: Vec<(i32, u64, SeriesParams)> = rounds
        .iter()
        .map(|&(round, seed)| (round, seed, params.clone()))
        .collect();
    run_each(runner, dataset, &jobs, report_dir, progress)
}

/// Runs `rounds` (round number, seed, the round's parameters — a sweep's differ) on
/// `dataset`, writing under `report_dir`.
pub fn run_each(
    runner: &Runner,
    dataset: &Path,
    rounds: &[(i32, u64, SeriesParams)],
    report_dir: &Path,
    mut progress: impl FnMut(&LocalRun),
) -> Result<Vec<LocalRun>, SeriesError> {
    let mut out = Vec::with_capacity(rounds.len());
    for (round, seed, params) in rounds {
        let (round, seed) = (*round, *seed);
        let metrics = metrics_path(report_dir, round);
        let dir = metrics.parent().expect("has a parent").to_path_buf();
        std::fs::create_dir_all(&dir)
            .map_err(|e| SeriesError::Local(format!("{}: {e}", dir.display())))?;
        let job_path = dir.join("job.json");
        std::fs::write(&job_path, params.job(seed).canonical_json())
            .map_err(|e| SeriesError::Local(format!("{}: {e}", job_path.display())))?;
        runner.run_job(
            &job_path,
            dataset,
            &metrics,
            None,
            &format!("round {round}"),
        )?;
        let r = LocalRun {
            round,
            seed,
            metrics,
        };
        progress(&r);
        out.push(r);
    }
    Ok(out)
}
