//! Checkpoints: the trainer [`State`] after a completed epoch, saved so that a job killed or
//! asked to quit resumes bit for bit.
//!
//! The file is binary and little-endian: magic `MNISTCK1`; a 32-byte fingerprint of what the
//! state belongs to (sha256 of the app version, the job's canonical JSON and the dataset hash);
//! epochs done (`u64`); generator position (`u128`); CPU seconds at the checkpoint (`f64`);
//! the 7,850 parameters (their [`Real`] bits, weights then bias); the history length (`u32`) and per
//! epoch its number (`u64`) and four `f64`; finally the sha256 of all the preceding bytes.
//! Floats are stored as their exact bits, never as text.
//!
//! [`save`] writes a temporary file and renames it over the old checkpoint, so a kill at any
//! moment leaves either the old or the new checkpoint intact (see [`write_atomic`]). [`load`] returns `None` for
//! an absent file and an error for one that is damaged or belongs to another job; callers start
//! over in both cases (a damaged checkpoint only costs time, never a wrong result).

use std::fs::File;
use std::io::Write;
use std::path::{Path, PathBuf};

use sha2::{Digest, Sha256};

use crate::dataset::{CLASSES, PIXELS};
use crate::job::Job;
use crate::model::{Model, Real};
use crate::trainer::{EpochStats, State};

const MAGIC: &[u8; 8] = b"MNISTCK1";

/// A saved state plus the CPU time spent up to it.
#[derive(Debug, Clone, PartialEq)]
pub struct Checkpoint {
    pub state: State,
    /// CPU seconds of the whole job (all runs so far) when the checkpoint was taken.
    pub cpu_time: f64,
}

/// Why a checkpoint file was not used.
#[derive(Debug, thiserror::Error)]
pub enum CheckpointError {
    #[error("cannot access checkpoint {path}: {source}")]
    Io {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
    #[error("checkpoint {0} is damaged (bad magic, length or checksum)")]
    Damaged(PathBuf),
    #[error("checkpoint {0} belongs to another job, dataset or app version")]
    Foreign(PathBuf),
}

/// What ties a checkpoint to its job: app version, job and dataset.
pub fn fingerprint(job: &Job, dataset_sha256: &str) -> [u8; 32] {
    let mut h = Sha256::new();
    h.update(crate::APP_VERSION.as_bytes());
    h.update([0]);
    h.update(job.canonical_json().as_bytes());
    h.update([0]);
    h.update(dataset_sha256.as_bytes());
    h.finalize().into()
}

/// Encodes a checkpoint.
pub fn encode(cp: &Checkpoint, fingerprint: &[u8; 32]) -> Vec<u8> {
    let s = &cp.state;
    let mut out = Vec::with_capacity(8 + 32 + 8 + 16 + 8 + 8 * (PIXELS + 1) * CLASSES + 64);
    out.extend_from_slice(MAGIC);
    out.extend_from_slice(fingerprint);
    out.extend_from_slice(&s.epochs_done.to_le_bytes());
    out.extend_from_slice(&s.rng_position.to_le_bytes());
    out.extend_from_slice(&cp.cpu_time.to_le_bytes());
    for x in s.model.weights.iter().flatten().chain(&s.model.bias) {
        out.extend_from_slice(&x.to_bits().to_le_bytes());
    }
    out.extend_from_slice(&(s.history.len() as u32).to_le_bytes());
    for e in &s.history {
        out.extend_from_slice(&e.epoch.to_le_bytes());
        for x in [e.train_loss, e.train_acc, e.val_loss, e.val_acc] {
            out.extend_from_slice(&x.to_le_bytes());
        }
    }
    let digest = Sha256::digest(&out);
    out.extend_from_slice(&digest);
    out
}

/// Decodes checkpoint bytes; `Err(true)` if damaged, `Err(false)` if it belongs elsewhere.
fn decode(bytes: &[u8], fingerprint: &[u8; 32]) -> Result<Checkpoint, bool> {
    if bytes.len() < MAGIC.len() + 32 + 32 || !bytes.starts_with(MAGIC) {
        return Err(true);
    }
    let (body, digest) = bytes.split_at(bytes.len() - 32);
    if Sha256::digest(body)[..] != digest[..] {
        return Err(true);
    }
    let mut r = Reader {
        bytes: body,
        at: MAGIC.len(),
    };
    if r.take(32).ok_or(true)? != fingerprint {
        return Err(false);
    }
    let epochs_done = r.u64().ok_or(true)?;
    let rng_position = u128::from_le_bytes(r.take(16).ok_or(true)?.try_into().expect("16"));
    let cpu_time = r.f64().ok_or(true)?;
    let mut weights = vec![[0.0; CLASSES]; PIXELS];
    for w in weights.iter_mut().flatten() {
        *w = r.real().ok_or(true)?;
    }
    let mut bias = [0.0; CLASSES];
    for b in &mut bias {
        *b = r.real().ok_or(true)?;
    }
    let n = u32::from_le_bytes(r.take(4).ok_or(true)?.try_into().expect("4"));
    if u64::from(n) != epochs_done {
        return Err(true);
    }
    let mut history = Vec::with_capacity(n as usize);
    for _ in 0..n {
        history.push(EpochStats {
            epoch: r.u64().ok_or(true)?,
            train_loss: r.f64().ok_or(true)?,
            train_acc: r.f64().ok_or(true)?,
            val_loss: r.f64().ok_or(true)?,
            val_acc: r.f64().ok_or(true)?,
        });
    }
    if r.at != body.len() {
        return Err(true);
    }
    Ok(Checkpoint {
        state: State {
            model: Model { weights, bias },
            epochs_done,
            rng_position,
            history,
        },
        cpu_time,
    })
}

struct Reader<'a> {
    bytes: &'a [u8],
    at: usize,
}

impl Reader<'_> {
    fn take(&mut self, n: usize) -> Option<&[u8]> {
        let s = self.bytes.get(self.at..self.at + n)?;
        self.at += n;
        Some(s)
    }
    fn u64(&mut self) -> Option<u64> {
        Some(u64::from_le_bytes(self.take(8)?.try_into().ok()?))
    }
    fn f64(&mut self) -> Option<f64> {
        Some(f64::from_le_bytes(self.take(8)?.try_into().ok()?))
    }
    fn real(&mut self) -> Option<Real> {
        Some(Real::from_le_bytes(
            self.take(size_of::<Real>())?.try_into().ok()?,
        ))
    }
}

/// Atomically replaces the checkpoint at `path`.
pub fn save(path: &Path, cp: &Checkpoint, fingerprint: &[u8; 32]) -> Result<(), CheckpointError> {
    write_atomic(path, &encode(cp, fingerprint)).map_err(|source| CheckpointError::Io {
        path: path.to_path_buf(),
        source,
    })
}

/// Reads the checkpoint at `path`; `Ok(None)` if there is none.
pub fn load(path: &Path, fingerprint: &[u8; 32]) -> Result<Option<Checkpoint>, CheckpointError> {
    let bytes = match std::fs::read(path) {
        Ok(b) => b,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(None),
        Err(source) => {
            return Err(CheckpointError::Io {
                path: path.to_path_buf(),
                source,
            });
        }
    };
    match decode(&bytes, fingerprint) {
        Ok(cp) => Ok(Some(cp)),
        Err(true) => Err(CheckpointError::Damaged(path.to_path_buf())),
        Err(false) => Err(CheckpointError::Foreign(path.to_path_buf())),
    }
}

/// Writes `bytes` to a temporary sibling of `path` and renames it into place, so a process
/// killed at any point leaves either the old file or the new one, never a mix.
///
/// There is deliberately no `fsync`: it costs tens of milliseconds per call, more than an
/// epoch, and is not needed for correctness — a checkpoint torn by a power cut fails its
/// checksum and the job restarts from scratch, and the client re-runs a task whose outputs it
/// never saw finished.
pub fn write_atomic(path: &Path, bytes: &[u8]) -> std::io::Result<()> {
    let mut name = path.file_name().unwrap_or_default().to_os_string();
    name.push(".tmp");
    let tmp = path.with_file_name(name);
    let result = (|| {
        let mut f = File::create(&tmp)?;
        f.write_all(bytes)?;
        drop(f);
        std::fs::rename(&tmp, path)
    })();
    if result.is_err() {
        let _ = std::fs::remove_file(&tmp);
    }
    result
}

#[cfg(test)]
mod tests {
    use super::*;

    fn sample() -> (Checkpoint, [u8; 32]) {
        let job = Job::parse(
            r#"{"seed": 1, "sample_count": 5, "train_epochs": 3, "batch_size": 2, "learning_rate": 0.1}"#,
        )
        .unwrap();
        let mut model = Model::zeros();
        model.weights[17][3] = -1.5e-300;
        model.bias[9] = Real::from_bits(0x3f80_0001);
        let cp = Checkpoint {
            state: State {
                model,
                epochs_done: 2,
                rng_position: (1u128 << 70) + 5,
                history: vec![
                    EpochStats {
                        epoch: 1,
                        train_loss: 1.0,
                        train_acc: 0.5,
                        val_loss: 2.0,
                        val_acc: 0.25,
                    },
                    EpochStats {
                        epoch: 2,
                        train_loss: 0.5,
                        train_acc: 0.75,
                        val_loss: 1.0,
                        val_acc: 0.5,
                    },
                ],
            },
            cpu_time: 12.25,
        };
        (cp, fingerprint(&job, "abc"))
    }

    #[test]
    fn roundtrip_is_exact() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("cp");
        let (cp, fp) = sample();
        assert_eq!(load(&path, &fp).unwrap(), None);
        save(&path, &cp, &fp).unwrap();
        assert_eq!(load(&path, &fp).unwrap(), Some(cp));
        assert_eq!(
            std::fs::read_dir(dir.path()).unwrap().count(),
            1,
            "no temp file left"
        );
    }

    #[test]
    fn damage_and_foreign_checkpoints_are_refused() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("cp");
        let (cp, fp) = sample();
        let bytes = encode(&cp, &fp);
        std::fs::write(&path, &bytes[..bytes.len() - 1]).unwrap();
        assert!(matches!(load(&path, &fp), Err(CheckpointError::Damaged(_))));
        let mut flipped = bytes.clone();
        flipped[100] ^= 4;
        std::fs::write(&path, &flipped).unwrap();
        assert!(matches!(load(&path, &fp), Err(CheckpointError::Damaged(_))));
        std::fs::write(&path, &bytes).unwrap();
        let mut other = fp;
        other[0] ^= 1;
        assert!(matches!(
            load(&path, &other),
            Err(CheckpointError::Foreign(_))
        ));
    }
}
