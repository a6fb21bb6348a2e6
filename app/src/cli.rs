//! The `mnist` command line.
//!
//! - `mnist` with no arguments: run as a BOINC task in the current directory (the slot).
//! - `mnist --job job.json --dataset PATH --out metrics.json [--weights-out FILE] [--checkpoint FILE]
//!   [--start-state FILE] [--state-out FILE]`: a standalone reference run, same code path.
//! - `mnist pack-dataset --dataset PATH --out FILE`: write the single-file dataset bundle that
//!   workunits carry as their `dataset` input.
//! - `mnist evaluate --weights W --dataset D [--job J] [--confusion PNG]`: the accuracy of
//!   exported weights (on the job's held-out validation rows, else the whole test split) and the confusion
//!   matrix as a picture.
//!
//! Exit status: 0 success (or a BOINC quit), 1 other failure, 2 bad command line, 3 bad job
//! file, 4 bad dataset or a job that does not fit it, 5 output not writable, 194 aborted by the
//! client.

use std::path::PathBuf;

use clap::{Args, Parser, Subcommand};

use crate::boinc::control::Control;
use crate::host::Mode;
use crate::run::{self, Context, Outcome, Paths};

/// Deterministic softmax-regression MNIST trainer for BOINC volunteers and reference runs.
///
/// Without arguments it runs as a BOINC task in the current directory, reading the logical
/// files `job.json` and `dataset` and writing `metrics.json` (and `weights.npy`).
#[derive(Debug, Parser)]
#[command(name = "mnist", version, args_conflicts_with_subcommands = true)]
pub struct Cli {
    #[command(subcommand)]
    pub command: Option<Command>,
    #[command(flatten)]
    pub standalone: StandaloneArgs,
}

/// A standalone run.
#[derive(Debug, Args)]
pub struct StandaloneArgs {
    /// Job file (JSON); selects standalone mode.
    #[arg(long, requires_all = ["dataset", "out"])]
    pub job: Option<PathBuf>,
    /// Dataset: an IDX directory, a dataset bundle or a Keras-style .npz.
    #[arg(long, requires = "job")]
    pub dataset: Option<PathBuf>,
    /// Where to write metrics.json.
    #[arg(long, requires = "job")]
    pub out: Option<PathBuf>,
    /// Where to write the weights when the job has export_weights [default: weights.npy beside --out].
    #[arg(long, requires = "job")]
    pub weights_out: Option<PathBuf>,
    /// Checkpoint file: resumed from if valid, rewritten after every epoch.
    #[arg(long, requires = "job")]
    pub checkpoint: Option<PathBuf>,
    /// The state to start from when the job has start_from_state [default: start_state.bin beside --out].
    #[arg(long, requires = "job")]
    pub start_state: Option<PathBuf>,
    /// Where to write the final state when the job has export_state [default: state.bin beside --out].
    #[arg(long, requires = "job")]
    pub state_out: Option<PathBuf>,
}

#[derive(Debug, Subcommand)]
pub enum Command {
    /// Write a dataset as one bundle file (the workunits' `dataset` input).
    PackDataset {
        /// The dataset: an IDX directory, a .npz or a bundle.
        #[arg(long)]
        dataset: PathBuf,
        /// The bundle file to write.
        #[arg(long)]
        out: PathBuf,
    },
    /// Score exported weights (weights.npy) on a dataset: accuracy, loss, confusion matrix.
    Evaluate {
        /// The weights (.npy, <f4, shape (785, 10)).
        #[arg(long)]
        weights: PathBuf,
        /// The dataset: an IDX directory, a .npz or a bundle.
        #[arg(long)]
        dataset: PathBuf,
        /// Score on this job's validation rows (reproduces its metrics.json's val_acc)
        /// [default: the test split, else every training row].
        #[arg(long)]
        job: Option<PathBuf>,
        /// Where to write the confusion matrix picture [default: confusion.png beside --weights].
        #[arg(long)]
        confusion: Option<PathBuf>,
    },
}

/// Parses the command line, runs, and returns the exit status.
pub fn main() -> i32 {
    let cli = Cli::parse();
    match cli.command {
        Some(Command::PackDataset { dataset, out }) => pack(&dataset, &out),
        Some(Command::Evaluate {
            weights,
            dataset,
            job,
            confusion,
        }) => evaluate(&weights, &dataset, job.as_deref(), confusion),
        None => match cli.standalone.job.clone() {
            Some(job) => standalone(job, cli.standalone),
            None => {
                let here = PathBuf::from(".");
                crate::slot::run_in(&here)
            }
        },
    }
}

fn pack(dataset: &std::path::Path, out: &std::path::Path) -> i32 {
    match crate::dataset::bundle::write(dataset, out) {
        Ok(info) => {
            println!(
                "wrote {} ({} bytes): {} train rows, {} test rows, dataset sha256 {}",
                info.path.display(),
                info.nbytes,
                info.train_rows,
                info.test_rows,
                info.dataset_sha256
            );
            0
        }
        Err(e) => {
            eprintln!("mnist pack-dataset: {e}");
            4
        }
    }
}

fn evaluate(
    weights: &std::path::Path,
    dataset: &std::path::Path,
    job: Option<&std::path::Path>,
    confusion: Option<PathBuf>,
) -> i32 {
    use crate::evaluate as ev;
    let job = match job.map(|p| {
        std::fs::read_to_string(p)
            .map_err(|e| format!("cannot read {}: {e}", p.display()))
            .and_then(|t| crate::job::Job::parse(&t).map_err(|e| format!("{}: {e}", p.display())))
    }) {
        None => None,
        Some(Ok(j)) => Some(j),
        Some(Err(e)) => {
            eprintln!("mnist evaluate: {e}");
            return 3;
        }
    };
    let model = match ev::load_weights(weights) {
        Ok(m) => m,
        Err(e) => {
            eprintln!("mnist evaluate: {e}");
            return 4;
        }
    };
    let ds = match crate::dataset::load(dataset) {
        Ok(d) => d,
        Err(e) => {
            eprintln!("mnist evaluate: {e}");
            return 4;
        }
    };
    let rows = match ev::rows(&ds, job.as_ref()) {
        Ok(r) => r,
        Err(e) => {
            eprintln!("mnist evaluate: {e}");
            return 4;
        }
    };
    let e = ev::evaluate(&model, &rows);
    let png = confusion.unwrap_or_else(|| weights.with_file_name("confusion.png"));
    if let Err(err) = ev::confusion_png(&e, &png) {
        eprintln!("mnist evaluate: cannot write {}: {err}", png.display());
        return 5;
    }
    println!(
        "accuracy {} ({} of {} rows), loss {}, on {} of dataset {}; confusion matrix: {}",
        e.accuracy(),
        e.correct,
        e.rows,
        e.loss,
        rows.what,
        ds.sha256,
        png.display()
    );
    0
}

fn standalone(job: PathBuf, args: StandaloneArgs) -> i32 {
    let out = args.out.expect("clap requires --out");
    let weights = args
        .weights_out
        .unwrap_or_else(|| out.with_file_name(run::WEIGHTS));
    let start_state = args
        .start_state
        .unwrap_or_else(|| out.with_file_name(run::START_STATE));
    let state = args
        .state_out
        .unwrap_or_else(|| out.with_file_name(run::STATE));
    let paths = Paths {
        job,
        dataset: args.dataset.expect("clap requires --dataset"),
        metrics: out,
        weights,
        start_state,
        state,
        checkpoint: args.checkpoint,
    };
    let control = Control::inert();
    let ctx = Context {
        control: &control,
        mode: Mode::Standalone,
        base_cpu: None,
        boinc: None,
    };
    match run::run(&paths, &ctx) {
        Ok(Outcome::Finished(_)) => 0,
        Ok(Outcome::Stopped(_)) => unreachable!("an inert control never stops"),
        Err(e) => {
            eprintln!("mnist: {e}");
            e.exit_code()
        }
    }
}
