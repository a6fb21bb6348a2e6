//! `series local` for a chain: the generations run one after another on this machine, each
//! from the state the previous one wrote — the same jobs, files and binary as the hosts', so
//! each generation's `metrics.json` must equal the distributed one bit for bit.
//!
//! Round r writes `<reports>/<series>/local/round_<r>/` (`job.json`, `metrics.json`,
//! `state.bin`), where the report looks for round r's local run. With K shards, generation g's
//! rounds are `(g-1)·K + 1 ..= g·K`, and their states are combined as the work generator
//! combines them ([`super::fedavg::combine`]) into `local/generation_<g>_state.bin`, the next
//! generation's start.

use std::path::Path;

use crate::SeriesError;
use crate::local::{LocalRun, Runner, StateFiles, metrics_path};
use crate::params::SeriesParams;

/// Runs generations `1..=generations` of the chain with `params` and `seed`, `shards`
/// workunits per generation.
#[allow(clippy::too_many_arguments)]
pub fn run(
    runner: &Runner,
    dataset: &Path,
    params: &SeriesParams,
    seed: u64,
    generations: u32,
    shards: u32,
    report_dir: &Path,
    mut progress: impl FnMut(&LocalRun),
) -> Result<Vec<LocalRun>, SeriesError> {
    let err = |p: &Path, e: std::io::Error| SeriesError::Local(format!("{}: {e}", p.display()));
    let k = shards.max(1);
    let combined = |g: u32| {
        report_dir
            .join("local")
            .join(format!("generation_{g}_state.bin"))
    };
    let mut out = Vec::with_capacity((generations * k) as usize);
    for round in 1..=(generations * k) as i32 {
        let (g, shard) = super::generation_of(round, k as i32);
        let g = g as u32;
        let metrics = metrics_path(report_dir, round);
        let dir = metrics.parent().expect("has a parent").to_path_buf();
        std::fs::create_dir_all(&dir).map_err(|e| err(&dir, e))?;
        let job_path = dir.join("job.json");
        let job = super::shard_job(params, seed, g, shard as u64, u64::from(k));
        std::fs::write(&job_path, job.canonical_json()).map_err(|e| err(&job_path, e))?;
        let start = if k == 1 {
            metrics_path(report_dir, round - 1).with_file_name(mnist_app::run::STATE)
        } else {
            combined(g - 1)
        };
        let state = dir.join(mnist_app::run::STATE);
        runner.run_job(
            &job_path,
            dataset,
            &metrics,
            Some(StateFiles {
                start: &start,
                out: &state,
            }),
            &format!("generation {g}"),
        )?;
        let r = LocalRun {
            round,
            seed,
            metrics,
        };
        progress(&r);
        out.push(r);
        if k > 1 && shard as u32 == k - 1 && g < generations {
            combine_local(report_dir, dataset, params, &job, g, k, &combined(g))?;
        }
    }
    Ok(out)
}

/// Combines the local shards' states of generation `g` into `to`.
fn combine_local(
    report_dir: &Path,
    dataset: &Path,
    params: &SeriesParams,
    job: &mnist_app::job::Job,
    g: u32,
    k: u32,
    to: &Path,
) -> Result<(), SeriesError> {
    let fail = |e: String| SeriesError::Local(format!("generation {g}: {e}"));
    let sha = mnist_app::dataset::load(dataset)
        .map_err(|e| fail(e.to_string()))?
        .sha256;
    let fp = mnist_app::generation::fingerprint(job, &sha);
    let mut states = Vec::with_capacity(k as usize);
    for shard in 0..k {
        let round = ((g - 1) * k + shard + 1) as i32;
        let path = metrics_path(report_dir, round).with_file_name(mnist_app::run::STATE);
        let cp = mnist_app::checkpoint::load(&path, &fp)
            .map_err(|e| fail(e.to_string()))?
            .ok_or_else(|| fail(format!("{} is missing", path.display())))?;
        let rows = super::fedavg::shard_rows(params.sample_count, u64::from(shard), u64::from(k));
        states.push((rows, cp.state));
    }
    let refs: Vec<(u64, &mnist_app::trainer::State)> =
        states.iter().map(|(n, s)| (*n, s)).collect();
    let combined = super::fedavg::combine(&refs).map_err(|e| fail(e.to_string()))?;
    std::fs::write(to, mnist_app::generation::encode(&combined, &fp))
        .map_err(|e| fail(format!("{}: {e}", to.display())))
}
