//! `series submit`: the options of a new series, turned into [`SubmitOptions`] and submitted.

use std::path::PathBuf;

use clap::Args;
use rboinc_core::db;
use rboinc_tools::output;
use rboinc_tools::project::Project;

use super::hints;
use crate::sweep::Grid;
use crate::{SeriesParams, SubmitOptions, Submitted, generator};

#[derive(Debug, Args)]
pub struct SubmitArgs {
    /// Series name [default: series_<time>].
    #[arg(long)]
    name: Option<String>,
    /// The app the rounds run (it must take the mnist trainer's job files).
    #[arg(long, default_value = rboinc_tools::make_project::APP)]
    app: String,
    /// Rounds (seeds) per configuration.
    #[arg(long, default_value_t = 5)]
    rounds: usize,
    /// Training rows; a comma list sweeps them.
    #[arg(long = "sample-count", value_delimiter = ',', default_value = "8000")]
    sample_count: Vec<u64>,
    /// Epochs; a comma list sweeps them.
    #[arg(long = "train-epochs", value_delimiter = ',', default_value = "10")]
    train_epochs: Vec<u64>,
    /// Batch size; a comma list sweeps them.
    #[arg(long = "batch-size", value_delimiter = ',', default_value = "256")]
    batch_size: Vec<u64>,
    /// Learning rate; a comma list sweeps them (every combination of the lists runs with
    /// every seed).
    #[arg(
        long = "learning-rate",
        value_delimiter = ',',
        default_value = "0.05",
        allow_hyphen_values = true
    )]
    learning_rate: Vec<f64>,
    /// Refuse a series of more rounds (configurations × seeds) than this.
    #[arg(long = "max-jobs", default_value_t = crate::sweep::DEFAULT_MAX_JOBS)]
    max_jobs: usize,
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
    /// The library's options for these arguments: the first value of each list is the base,
    /// the lists of more than one value the sweep.
    pub fn options(self) -> SubmitOptions {
        let first = |v: &[u64], d: u64| v.first().copied().unwrap_or(d);
        let base = SeriesParams::default();
        let params = SeriesParams {
            sample_count: first(&self.sample_count, base.sample_count),
            train_epochs: first(&self.train_epochs, base.train_epochs),
            batch_size: first(&self.batch_size, base.batch_size),
            learning_rate: self
                .learning_rate
                .first()
                .copied()
                .unwrap_or(base.learning_rate),
            val_count: self.val_count,
            noise_std: self.noise_std,
            export_weights: self.export_weights,
        };
        let many = |v: Vec<u64>| if v.len() > 1 { v } else { Vec::new() };
        let grid = Grid {
            learning_rate: if self.learning_rate.len() > 1 {
                self.learning_rate
            } else {
                Vec::new()
            },
            batch_size: many(self.batch_size),
            train_epochs: many(self.train_epochs),
            sample_count: many(self.sample_count),
        };
        let chain = self.chain.options();
        let mut o = SubmitOptions {
            name: self.name,
            app: self.app,
            params,
            grid,
            max_jobs: self.max_jobs,
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
        "series {}: {} rounds{} queued as batch {}, {} workunits created; dataset {} ({} training rows)",
        s.series.name,
        s.series.rounds,
        if s.configs > 1 {
            format!(
                " ({} configurations × {} seeds)",
                s.configs,
                s.series.rounds as usize / s.configs
            )
        } else {
            String::new()
        },
        s.series.batch_id,
        s.created,
        s.series.dataset_file,
        s.dataset_train_rows
    ));
    let hints = hints::warn(project, pool, &s.series).await;
    Ok((s, hints))
}

#[cfg(test)]
mod tests {
    use clap::Parser;

    use crate::cli::{Cli, Command};

    fn options(args: &[&str]) -> crate::SubmitOptions {
        let cli = Cli::try_parse_from([&["series", "submit"][..], args].concat()).unwrap();
        match cli.command {
            Command::Submit(a) => a.options(),
            other => panic!("{other:?}"),
        }
    }

    #[test]
    fn comma_lists_make_a_sweep_and_single_values_do_not() {
        let o = options(&[
            "--learning-rate",
            "0.01,0.05,0.1",
            "--batch-size",
            "64,256",
            "--rounds",
            "5",
            "--train-epochs",
            "3",
        ]);
        assert_eq!(o.grid.learning_rate, [0.01, 0.05, 0.1]);
        assert_eq!(o.grid.batch_size, [64, 256]);
        assert!(o.grid.train_epochs.is_empty() && o.grid.sample_count.is_empty());
        assert_eq!((o.params.learning_rate, o.params.batch_size), (0.01, 64));
        assert_eq!(
            (o.params.train_epochs, o.rounds, o.configs().len()),
            (3, 5, 6)
        );
        assert_eq!(o.max_jobs, crate::sweep::DEFAULT_MAX_JOBS);
        let plain = options(&["--learning-rate", "0.1"]);
        assert!(!plain.is_sweep());
        assert_eq!(plain.params.learning_rate, 0.1);
        // A negative value reaches the checks (which name it) instead of being taken for a flag.
        let neg = options(&["--learning-rate", "-0.1,0.05", "--max-jobs", "5000"]);
        assert_eq!(neg.grid.learning_rate, [-0.1, 0.05]);
        assert_eq!(neg.max_jobs, 5000);
    }
}
