//! `series local` for a chain: the generations run one after another on this machine, each
//! from the state the previous one wrote — the same jobs, files and binary as the hosts', so
//! each generation's `metrics.json` must equal the distributed one bit for bit.
//!
//! Generation g writes `<reports>/<series>/local/round_<g>/` (`job.json`, `metrics.json`,
//! `state.bin`), where the report looks for round g's local run.

use std::path::Path;
use std::process::Command;

use crate::SeriesError;
use crate::local::{LocalRun, Runner, metrics_path};
use crate::params::SeriesParams;

/// Runs generations `1..=generations` of the chain with `params` and `seed`.
pub fn run(
    runner: &Runner,
    dataset: &Path,
    params: &SeriesParams,
    seed: u64,
    generations: u32,
    report_dir: &Path,
    mut progress: impl FnMut(&LocalRun),
) -> Result<Vec<LocalRun>, SeriesError> {
    let err = |p: &Path, e: std::io::Error| SeriesError::Local(format!("{}: {e}", p.display()));
    let mut out = Vec::with_capacity(generations as usize);
    for g in 1..=generations {
        let round = g as i32;
        let metrics = metrics_path(report_dir, round);
        let dir = metrics.parent().expect("has a parent").to_path_buf();
        std::fs::create_dir_all(&dir).map_err(|e| err(&dir, e))?;
        let job_path = dir.join("job.json");
        std::fs::write(&job_path, super::job(params, seed, g).canonical_json())
            .map_err(|e| err(&job_path, e))?;
        let start = metrics_path(report_dir, round - 1)
            .with_file_name(mnist_app::run::STATE);
        let state = dir.join(mnist_app::run::STATE);
        match runner {
            Runner::Binary(exe) => {
                let o = Command::new(exe)
                    .arg("--job")
                    .arg(&job_path)
                    .arg("--dataset")
                    .arg(dataset)
                    .arg("--out")
                    .arg(&metrics)
                    .arg("--start-state")
                    .arg(&start)
                    .arg("--state-out")
                    .arg(&state)
                    .output()
                    .map_err(|e| {
                        SeriesError::Local(format!("cannot run {}: {e}", exe.display()))
                    })?;
                if !o.status.success() {
                    return Err(SeriesError::Local(format!(
                        "generation {g}: {} exited with {}: {}",
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
                    job: job_path.clone(),
                    dataset: dataset.to_path_buf(),
                    metrics: metrics.clone(),
                    weights: dir.join(run::WEIGHTS),
                    start_state: start,
                    state,
                    checkpoint: None,
                };
                run::run(&paths, &ctx)
                    .map_err(|e| SeriesError::Local(format!("generation {g}: {e}")))?;
            }
        }
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
