//! State files: the trainer [`State`] one generation of a series hands to the next.
//!
//! A chained series trains one model in steps: each generation's job continues from the
//! state the previous one ended with (model, epochs done, generator position, history), so
//! that G generations of E epochs give exactly the bits of one run of G × E epochs — the
//! learning rate is constant, so the state carries everything the schedule needs. The
//! state travels between hosts as a file: input `start_state.bin`, output `state.bin`.
//!
//! The format is the [`checkpoint`](crate::checkpoint) format with two differences: the CPU
//! time field is always 0 (so two hosts that computed the same state write the same bytes,
//! which the validator can compare), and the fingerprint ([`fingerprint`]) leaves out
//! what may change from one generation to the next — the epoch target, the output flags, the
//! shard index and the app version — while keeping what must not: the seed, the sample and
//! validation counts, the batch size, the learning rate, the noise, the number of shards and
//! the dataset. A state file is therefore never mistaken for a checkpoint, and a job refuses
//! the state of another series.

use std::path::{Path, PathBuf};

use sha2::{Digest, Sha256};

use crate::checkpoint::{self, Checkpoint, CheckpointError};
use crate::job::{Generation, Job};
use crate::trainer::State;

/// Why a start state cannot be used.
#[derive(Debug, thiserror::Error)]
pub enum StateFileError {
    #[error("cannot use start state: {0}")]
    Unusable(#[from] CheckpointError),
    #[error("start state {0} is missing")]
    Missing(PathBuf),
    #[error(
        "start state {path} has {done} epochs done, more than the job's train_epochs ({target})"
    )]
    AheadOfJob {
        path: PathBuf,
        done: u64,
        target: u64,
    },
}

/// What ties a state file to its series (see the module docs).
pub fn fingerprint(job: &Job, dataset_sha256: &str) -> [u8; 32] {
    let mut shared = job.clone();
    shared.train_epochs = 1;
    shared.export_weights = false;
    shared.generation = Generation {
        shard_count: job.generation.shard_count,
        ..Generation::default()
    };
    let mut h = Sha256::new();
    h.update(b"mnist-app/state/1");
    h.update([0]);
    h.update(shared.canonical_json().as_bytes());
    h.update([0]);
    h.update(dataset_sha256.as_bytes());
    h.finalize().into()
}

/// The bytes of a state file.
pub fn encode(state: &State, fingerprint: &[u8; 32]) -> Vec<u8> {
    checkpoint::encode(
        &Checkpoint {
            state: state.clone(),
            cpu_time: 0.0,
        },
        fingerprint,
    )
}

/// Reads the start state of `job` from `path`.
pub fn load(path: &Path, job: &Job, fingerprint: &[u8; 32]) -> Result<State, StateFileError> {
    let cp = checkpoint::load(path, fingerprint)?
        .ok_or_else(|| StateFileError::Missing(path.to_path_buf()))?;
    if cp.state.epochs_done > job.train_epochs {
        return Err(StateFileError::AheadOfJob {
            path: path.to_path_buf(),
            done: cp.state.epochs_done,
            target: job.train_epochs,
        });
    }
    Ok(cp.state)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn job() -> Job {
        Job::parse(
            r#"{"seed": 5, "sample_count": 10, "train_epochs": 2, "batch_size": 3,
                "learning_rate": 0.1}"#,
        )
        .unwrap()
    }

    #[test]
    fn the_fingerprint_ignores_what_changes_between_generations_only() {
        let a = job();
        let fp = fingerprint(&a, "d");
        let mut later = a.clone();
        later.train_epochs = 7;
        later.export_weights = true;
        later.generation.start_from_state = true;
        later.generation.export_state = true;
        assert_eq!(fingerprint(&later, "d"), fp);
        let mut shard = a.clone();
        shard.generation.shard_count = 2;
        let fp2 = fingerprint(&shard, "d");
        assert_ne!(fp2, fp, "the number of shards is part of the series");
        shard.generation.shard_index = 1;
        assert_eq!(fingerprint(&shard, "d"), fp2);
        let mut other = a.clone();
        other.seed = 6;
        assert_ne!(fingerprint(&other, "d"), fp);
        assert_ne!(fingerprint(&a, "e"), fp);
        assert_ne!(fp, checkpoint::fingerprint(&a, "d"), "never a checkpoint");
    }

    #[test]
    fn a_state_ahead_of_the_job_or_foreign_is_refused() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("s");
        let j = job();
        let fp = fingerprint(&j, "d");
        assert!(matches!(
            load(&path, &j, &fp),
            Err(StateFileError::Missing(_))
        ));
        let state = State {
            model: crate::model::Model::zeros(),
            epochs_done: 3,
            rng_position: 9,
            history: (1..=3)
                .map(|epoch| crate::trainer::EpochStats {
                    epoch,
                    train_loss: 1.0,
                    train_acc: 0.5,
                    val_loss: 1.0,
                    val_acc: 0.5,
                })
                .collect(),
        };
        std::fs::write(&path, encode(&state, &fp)).unwrap();
        assert!(matches!(
            load(&path, &j, &fp),
            Err(StateFileError::AheadOfJob { done: 3, .. })
        ));
        let mut later = j.clone();
        later.train_epochs = 3;
        assert_eq!(load(&path, &later, &fp).unwrap(), state);
        let mut other = j.clone();
        other.seed = 1;
        assert!(matches!(
            load(&path, &later, &fingerprint(&other, "d")),
            Err(StateFileError::Unusable(CheckpointError::Foreign(_)))
        ));
    }
}
