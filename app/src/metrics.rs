//! `metrics.json`, the job's result file.
//!
//! Every top-level field except `host` is a deterministic function of the job, the dataset and
//! the app version: two hosts running the same job produce identical bytes there, and validators
//! compare everything except `host` (the rule is the `metrics-doc` crate's, shared with the
//! validator). `host` collects the facts about this particular run (times,
//! CPU, how the job was run). Floats are written by serde_json in their shortest round-trip form,
//! which is deterministic; a non-finite value (a diverged run) is written as `null`.
//!
//! Schema `mnist-app/metrics/2` (field order as written). Version 2 validates on held-out
//! training rows only and adds the final test figures (version 1 validated on the test split
//! when the dataset had one):
//!
//! | field | type | meaning |
//! |---|---|---|
//! | `schema` | string | `"mnist-app/metrics/2"` |
//! | `app_version` | string | the crate version that computed the result |
//! | `job` | object | the job echoed: `seed`, `sample_count`, `train_epochs`, `batch_size`, `learning_rate`, `val_count` (null = all), `noise_std`, `export_weights` |
//! | `dataset` | object | `sha256` (canonical IDX hash, see [`crate::dataset`]), `train_rows`, `test_rows` (0 = no test split) |
//! | `split` | object | `train` rows, `val` rows (held-out training rows, see [`crate::split`]), `test` rows (the whole test split, 0 = none) |
//! | `train_acc`, `train_loss`, `val_acc`, `val_loss` | number | after the last epoch |
//! | `test_acc`, `test_loss` | number or null | the final model on the whole test split, evaluated once after the last epoch; null when the dataset has no test split |
//! | `history` | array | per epoch: `epoch` (1-based), `train_loss`, `train_acc`, `val_loss`, `val_acc` |
//! | `weights` | object | `sha256` of the weights `.npy` bytes (computed even when not exported), `dtype` `"<f4"`, `shape` `[785, 10]`, `exported` (bool) |
//! | `host` | object | NOT deterministic: `runtime_s`, `cpu_time_s`, `started_unix`, `finished_unix`, `mode` (`"boinc"`/`"standalone"`), `resumed_from_epoch` (null or n), `dataset_format` (`"idx_dir"`/`"npz"`/`"bundle"`), `platform`, `os_release`, `cpu_model`, `cpu_features` (array), and under BOINC `boinc` (`result_name`, `wu_name`, `hostid`) |
//!
//! `weights.npy` (only with `export_weights`) is a NumPy `.npy` file of little-endian float32
//! (the model's own precision, see [`crate::model::Real`]),
//! shape `(785, 10)`, C order: rows 0–783 are the weights of pixels 0–783 (row-major 28 × 28),
//! row 784 is the bias; `logits = pixels / 255 @ a[:784] + a[784]`.

use serde::Serialize;

use crate::dataset::{CLASSES, Dataset, PIXELS, Split};
use crate::host::HostFacts;
use crate::job::Job;
use crate::model::Score;
use crate::split::Partition;
use crate::trainer::{EpochStats, State};

/// The schema identifier written into every metrics file.
pub const SCHEMA: &str = "mnist-app/metrics/2";

/// The whole metrics file.
#[derive(Debug, Clone, Serialize)]
pub struct Metrics {
    pub schema: &'static str,
    pub app_version: &'static str,
    pub job: Job,
    pub dataset: DatasetFacts,
    pub split: SplitFacts,
    pub train_acc: f64,
    pub train_loss: f64,
    pub val_acc: f64,
    pub val_loss: f64,
    pub test_acc: Option<f64>,
    pub test_loss: Option<f64>,
    pub history: Vec<EpochStats>,
    pub weights: WeightsFacts,
    pub host: HostFacts,
}

#[derive(Debug, Clone, Serialize)]
pub struct DatasetFacts {
    pub sha256: String,
    pub train_rows: usize,
    pub test_rows: usize,
}

#[derive(Debug, Clone, Serialize)]
pub struct SplitFacts {
    pub train: usize,
    pub val: usize,
    pub test: usize,
}

#[derive(Debug, Clone, Serialize)]
pub struct WeightsFacts {
    pub sha256: String,
    pub dtype: &'static str,
    pub shape: [usize; 2],
    pub exported: bool,
}

impl Metrics {
    /// Assembles the metrics of a finished run. `test` is the final model's score on the test
    /// split (`None` without one); `weights_npy` is the encoded weights file.
    pub fn new(
        job: &Job,
        ds: &Dataset,
        partition: &Partition,
        state: &State,
        test: Option<Score>,
        weights_npy: &[u8],
        host: HostFacts,
    ) -> Metrics {
        use sha2::Digest;
        let last = state
            .history
            .last()
            .copied()
            .expect("a finished run has at least one epoch");
        Metrics {
            schema: SCHEMA,
            app_version: crate::APP_VERSION,
            job: job.clone(),
            dataset: DatasetFacts {
                sha256: ds.sha256.clone(),
                train_rows: ds.train.len(),
                test_rows: ds.test.as_ref().map_or(0, Split::len),
            },
            split: SplitFacts {
                train: partition.train.len(),
                val: partition.val.len(),
                test: test.map_or(0, |t| t.rows as usize),
            },
            train_acc: last.train_acc,
            train_loss: last.train_loss,
            val_acc: last.val_acc,
            val_loss: last.val_loss,
            test_acc: test.map(|t| t.accuracy()),
            test_loss: test.map(|t| t.loss()),
            history: state.history.clone(),
            weights: WeightsFacts {
                sha256: hex::encode(sha2::Sha256::digest(weights_npy)),
                dtype: "<f4",
                shape: [PIXELS + 1, CLASSES],
                exported: job.export_weights,
            },
            host,
        }
    }

    /// The file's bytes: pretty-printed JSON with a final newline.
    pub fn to_json(&self) -> Vec<u8> {
        let mut v = serde_json::to_vec_pretty(self).expect("metrics always serialise");
        v.push(b'\n');
        v
    }
}

/// Encodes the weights file (`.npy`, `<f4`, shape `(785, 10)`).
pub fn weights_npy(state: &State) -> Vec<u8> {
    let mut out = Vec::new();
    crate::npy::write_f32(&mut out, &[PIXELS + 1, CLASSES], &state.model.to_matrix())
        .expect("writing to a Vec cannot fail");
    out
}

/// The deterministic part of a metrics document: everything except `host`. Validators and tests
/// compare this; the rule lives in the `metrics-doc` crate, which the validator shares.
pub use metrics_doc::deterministic_part;
