//! One training job from input files to output files — the code path shared by standalone runs
//! and runs under a BOINC client, which differ only in how paths are found and in the
//! [`Control`] that reports progress.
//!
//! Steps: read and validate the job, load the dataset, draw the partition, take the start
//! state (`start_from_state`) or the zero model, resume from the checkpoint if a valid one
//! exists, run the remaining epochs (checkpointing after each), score the final model once on
//! the test split (if the dataset has one), then write `weights.npy` and `state.bin` (if asked)
//! and `metrics.json`, each atomically, metrics last.

use std::path::PathBuf;
use std::time::Instant;

use crate::boinc::control::{Control, Request};
use crate::boinc::cpu_time;
use crate::checkpoint::{self, Checkpoint};
use crate::dataset::{self, DatasetError};
use crate::generation::{self, StateFileError};
use crate::host::{self, BoincFacts, HostFacts, Mode};
use crate::job::{Job, JobError};
use crate::metrics::{self, Metrics};
use crate::split::PartitionError;
use crate::trainer::{self, Trainer};

/// The logical input name of the job file.
pub const JOB: &str = "job.json";
/// The logical input name of the dataset (a bundle, `.npz` or, standalone, an IDX directory).
pub const DATASET: &str = "dataset";
/// The logical output name of the metrics file.
pub const METRICS: &str = "metrics.json";
/// The logical output name of the weights file (only with `export_weights`).
pub const WEIGHTS: &str = "weights.npy";
/// The logical input name of the start state (only with `start_from_state`).
pub const START_STATE: &str = "start_state.bin";
/// The logical output name of the final state (only with `export_state`).
pub const STATE: &str = "state.bin";
/// The checkpoint's name in a BOINC slot.
pub const CHECKPOINT: &str = "mnist_checkpoint.bin";

/// Where a run reads and writes.
#[derive(Debug, Clone)]
pub struct Paths {
    pub job: PathBuf,
    pub dataset: PathBuf,
    pub metrics: PathBuf,
    /// Written only when the job has `export_weights`.
    pub weights: PathBuf,
    /// Read only when the job has `start_from_state`.
    pub start_state: PathBuf,
    /// Written only when the job has `export_state`.
    pub state: PathBuf,
    /// Checkpoint file; `None` disables checkpointing.
    pub checkpoint: Option<PathBuf>,
}

/// How the run is hosted.
#[derive(Debug)]
pub struct Context<'a> {
    pub control: &'a Control,
    pub mode: Mode,
    /// CPU seconds of earlier runs of this task as the client counts them; `None` to take them
    /// from the checkpoint (standalone).
    pub base_cpu: Option<f64>,
    pub boinc: Option<BoincFacts>,
}

/// How a run ended without error.
#[derive(Debug)]
pub enum Outcome {
    /// Outputs written.
    Finished(Box<Metrics>),
    /// The client asked the app to stop; the last checkpoint stands.
    Stopped(Request),
}

/// A run that failed.
#[derive(Debug, thiserror::Error)]
pub enum RunError {
    #[error(transparent)]
    Job(#[from] JobError),
    #[error(transparent)]
    Dataset(#[from] DatasetError),
    #[error(transparent)]
    Partition(#[from] PartitionError),
    #[error(transparent)]
    StartState(#[from] StateFileError),
    #[error("cannot write {path}: {source}")]
    Write {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
}

impl RunError {
    /// The process exit status for this error: 3 bad job, 4 bad dataset, start state or a job
    /// that does not fit them, 5 output not writable.
    pub fn exit_code(&self) -> i32 {
        match self {
            RunError::Job(_) => 3,
            RunError::Dataset(_) | RunError::Partition(_) | RunError::StartState(_) => 4,
            RunError::Write { .. } => 5,
        }
    }

    /// Whether retrying later may succeed (a full disk), as opposed to a broken job.
    pub fn is_transient(&self) -> bool {
        matches!(self, RunError::Write { source, .. }
            if source.kind() == std::io::ErrorKind::StorageFull)
    }
}

/// Runs one job.
pub fn run(paths: &Paths, ctx: &Context<'_>) -> Result<Outcome, RunError> {
    let started = Instant::now();
    let started_unix = host::unix_now();
    let job = Job::from_file(&paths.job)?;
    let ds = dataset::load(&paths.dataset)?;
    let (mut trainer, mut state) = Trainer::new(&job, &ds)?;
    let p = trainer.partition();
    eprintln!(
        "mnist {}: seed {} samples {} epochs {} batch {} lr {}; dataset {} ({} train rows); validating on {} held-out training rows; {} test rows for the end",
        crate::APP_VERSION,
        job.seed,
        job.sample_count,
        job.train_epochs,
        job.batch_size,
        job.learning_rate,
        ds.sha256,
        ds.train.len(),
        p.val.len(),
        p.test,
    );

    let state_fingerprint = generation::fingerprint(&job, &ds.sha256);
    if job.generation.start_from_state {
        state = generation::load(&paths.start_state, &job, &state_fingerprint)?;
        eprintln!(
            "mnist: starting from the given state after epoch {}",
            state.epochs_done
        );
    }
    let fingerprint = checkpoint::fingerprint(&job, &ds.sha256);
    let mut resumed_from_epoch = None;
    let mut checkpoint_cpu = 0.0;
    if let Some(path) = &paths.checkpoint {
        match checkpoint::load(path, &fingerprint) {
            Ok(Some(cp)) if cp.state.epochs_done <= job.train_epochs => {
                eprintln!(
                    "mnist: resuming from checkpoint after epoch {}",
                    cp.state.epochs_done
                );
                resumed_from_epoch = Some(cp.state.epochs_done);
                checkpoint_cpu = cp.cpu_time;
                state = cp.state;
            }
            Ok(_) => {}
            Err(e) => eprintln!("mnist: ignoring checkpoint: {e}; starting over"),
        }
    }
    let base_cpu = ctx.base_cpu.unwrap_or(checkpoint_cpu);
    let job_cpu = || base_cpu + cpu_time::this_process();

    while state.epochs_done < job.train_epochs {
        let done = state.epochs_done;
        let ran = trainer.run_epoch(&mut state, &mut |within| {
            ctx.control.poll(trainer::fraction_done(&job, done, within))
        });
        if ran.is_err() {
            let request = ctx.control.request().unwrap_or(Request::Quit);
            eprintln!("mnist: stopping during epoch {} ({request:?})", done + 1);
            return Ok(Outcome::Stopped(request));
        }
        let e = state.history.last().expect("an epoch was recorded");
        eprintln!(
            "mnist: epoch {}/{}: train_loss {:.6} train_acc {:.4} val_loss {:.6} val_acc {:.4}",
            e.epoch, job.train_epochs, e.train_loss, e.train_acc, e.val_loss, e.val_acc
        );
        if let Some(path) = &paths.checkpoint {
            let cp = Checkpoint {
                state: state.clone(),
                cpu_time: job_cpu(),
            };
            match checkpoint::save(path, &cp, &fingerprint) {
                Ok(()) => ctx.control.checkpointed(cp.cpu_time),
                Err(e) => eprintln!("mnist: checkpoint not written: {e}"),
            }
        }
        ctx.control
            .poll(trainer::fraction_done(&job, state.epochs_done, 0.0));
    }

    let test = trainer.test_score(&state.model);
    if let Some(t) = test {
        eprintln!(
            "mnist: test ({} rows, final model): test_loss {:.6} test_acc {:.4}",
            t.rows,
            t.loss(),
            t.accuracy()
        );
    }
    let npy = metrics::weights_npy(&state);
    if job.export_weights {
        write(&paths.weights, &npy)?;
    }
    if job.generation.export_state {
        write(
            &paths.state,
            &generation::encode(&state, &state_fingerprint),
        )?;
    }
    let host = HostFacts {
        runtime_s: started.elapsed().as_secs_f64(),
        cpu_time_s: job_cpu(),
        started_unix,
        finished_unix: host::unix_now(),
        mode: ctx.mode,
        resumed_from_epoch,
        dataset_format: ds.format,
        platform: host::platform(),
        os_release: host::os_release(),
        cpu_model: host::cpu_model(),
        cpu_features: host::cpu_features(),
        boinc: ctx.boinc.clone(),
    };
    let metrics = Metrics::new(&job, &ds, trainer.partition(), &state, test, &npy, host);
    write(&paths.metrics, &metrics.to_json())?;
    eprintln!(
        "mnist: done: val_acc {:.4} val_loss {:.6}; wrote {}",
        metrics.val_acc,
        metrics.val_loss,
        paths.metrics.display()
    );
    Ok(Outcome::Finished(Box::new(metrics)))
}

fn write(path: &std::path::Path, bytes: &[u8]) -> Result<(), RunError> {
    checkpoint::write_atomic(path, bytes).map_err(|source| RunError::Write {
        path: path.to_path_buf(),
        source,
    })
}
