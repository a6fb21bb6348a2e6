//! `series submit`: the options of a new series, turned into [`SubmitOptions`] and submitted.

use std::path::PathBuf;

use clap::Args;
use rboinc_core::db;
use rboinc_tools::output;
use rboinc_tools::project::Project;

use super::hints;
use crate::{SeriesParams, SubmitOptions, Submitted, generator};

#[derive(Debug, Args)]
pub struct SubmitArgs {
    /// Series name [default: series_<time>].
    #[arg(long)]
    name: Option<String>,
    /// The app the rounds run (it must take the mnist trainer's job files).
    #[arg(long, default_value = rboinc_tools::make_project::APP)]
    app: String,
    #[arg(long, default_value_t = 5)]
    rounds: usize,
    #[arg(long = "sample-count", default_value_t = 8000)]
    sample_count: u64,
    #[arg(long = "train-epochs", default_value_t = 10)]
    train_epochs: u64,
    #[arg(long = "batch-size", default_value_t = 256)]
    batch_size: u64,
    #[arg(long = "learning-rate", default_value_t = 0.05)]
    learning_rate: f64,
    /// Validation rows at most [default: all available].
    #[arg(long = "val-count")]
    val_count: Option<u64>,
    /// Gaussian pixel noise added to training images.
    #[arg(long = "noise-std", default_value_t = 0.0)]
    noise_std: f64,
    /// Also upload the trained weights (weights.npy).
    #[arg(long = "export-weights")]
    export_weights: bool,
    /// Seeds, comma-separated (one per round) [default: drawn from --base-seed].
    #[arg(long, value_delimiter = ',')]
    seeds: Option<Vec<u64>>,
    /// Seed of the seed sequence [default: random].
    #[arg(long = "base-seed")]
    base_seed: Option<u64>,
    /// Dataset: IDX directory, .npz or bundle [default: the shipped MNIST-10k].
    #[arg(long)]
    dataset: Option<PathBuf>,
    #[arg(long = "min-quorum", default_value_t = 2)]
    min_quorum: i32,
    #[arg(long = "target-nresults", default_value_t = 2)]
    target_nresults: i32,
    /// Seconds a host has for a job before it goes to another [default: about four times the
    /// job's run time on a slow host, at least 300].
    #[arg(long = "delay-bound")]
    delay_bound: Option<i32>,
    #[arg(long, default_value_t = 0)]
    priority: i32,
    /// Email of the submitting account [default: the project's first account].
    #[arg(long)]
    submitter: Option<String>,
    #[arg(long, default_value_t = generator::DEFAULT_CUSHION)]
    cushion: usize,
    #[command(flatten)]
    chain: super::generations::ChainArgs,
}

impl SubmitArgs {
    /// The library's options for these arguments.
    pub fn options(self) -> SubmitOptions {
        let chain = self.chain.options();
        let mut o = SubmitOptions {
            name: self.name,
            app: self.app,
            params: SeriesParams {
                sample_count: self.sample_count,
                train_epochs: self.train_epochs,
                batch_size: self.batch_size,
                learning_rate: self.learning_rate,
                val_count: self.val_count,
                noise_std: self.noise_std,
                export_weights: self.export_weights,
            },
            rounds: self.seeds.as_ref().map_or(self.rounds, Vec::len),
            seeds: self.seeds,
            base_seed: self.base_seed,
            dataset: self.dataset.unwrap_or_else(default_dataset),
            min_quorum: self.min_quorum,
            target_nresults: self.target_nresults,
            delay_bound: self.delay_bound,
            priority: self.priority,
            submitter: self.submitter,
            cushion: self.cushion,
            chain: None,
        };
        if let Some(mut c) = chain {
            if c.epochs_per_generation == 0 {
                c.epochs_per_generation = o.params.train_epochs;
            }
            o.chain = Some(c);
            o.rounds = c.rounds();
            o.params.train_epochs = c.epochs_per_generation;
        }
        o
    }
}

/// The MNIST-10k dataset shipped with the sources, when the sources are where they were built.
fn default_dataset() -> PathBuf {
    PathBuf::from(concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/../app/data/mnist-10k"
    ))
}

/// `series submit`: prints the new series' name.
pub async fn command(project: &Project, pool: &db::Pool, a: SubmitArgs) -> anyhow::Result<()> {
    let (s, _) = submit(project, pool, a).await?;
    output::println(s.series.name)?;
    Ok(())
}

/// Submits the series, says what was made and what keeps it from moving; returns the series
/// and the warnings said.
pub async fn submit(
    project: &Project,
    pool: &db::Pool,
    a: SubmitArgs,
) -> anyhow::Result<(Submitted, Vec<String>)> {
    let s = crate::submit(project, pool, &a.options()).await?;
    output::eprintln(format_args!(
        "series {}: {} rounds queued as batch {}, {} workunits created; dataset {} ({} training rows)",
        s.series.name,
        s.series.rounds,
        s.series.batch_id,
        s.created,
        s.series.dataset_file,
        s.dataset_train_rows
    ));
    let hints = hints::warn(project, pool, &s.series).await;
    Ok((s, hints))
}
