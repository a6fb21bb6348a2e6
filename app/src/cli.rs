//! The `mnist` command line.
//!
//! - `mnist` with no arguments: run as a BOINC task in the current directory (the slot).
//! - `mnist --job job.json --dataset PATH --out metrics.json [--weights-out FILE] [--checkpoint FILE]
//!   [--start-state FILE] [--state-out FILE]`: a standalone reference run, same code path.
//! - `mnist pack-dataset --dataset PATH --out FILE`: write the single-file dataset bundle that
//!   workunits carry as their `dataset` input.
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
}

/// Parses the command line, runs, and returns the exit status.
pub fn main() -> i32 {
    let cli = Cli::parse();
    match cli.command {
        Some(Command::PackDataset { dataset, out }) => pack(&dataset, &out),
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
