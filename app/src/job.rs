//! The job file (`job.json`): what one training run is asked to do.
//!
//! The file is parsed field by field rather than through a derived deserializer so that every
//! error names the offending field and the range it must lie in — a researcher who typed
//! `"batch_size": 0` or `"learning_rte"` learns exactly what to fix. Unknown fields are rejected
//! for the same reason: a misspelt optional field must not silently fall back to its default.
//!
//! ```json
//! { "seed": 714562, "sample_count": 8000, "train_epochs": 10, "batch_size": 256,
//!   "learning_rate": 0.05, "val_count": 2000, "noise_std": 0.0, "export_weights": false }
//! ```
//!
//! A generation of a chained or federated series adds the [`Generation`] fields
//! (`start_from_state`, `export_state`, `shard_index`, `shard_count`); they are echoed only
//! when set, so a plain job's canonical JSON (and with it its checkpoints and metrics) is the
//! same as before they existed.

use std::path::Path;

use serde::Serialize;
use serde_json::{Map, Value};

/// Largest accepted `sample_count` / `val_count` (full MNIST has 60,000 training rows).
pub const MAX_ROWS: u64 = 10_000_000;
/// Largest accepted `train_epochs`.
pub const MAX_EPOCHS: u64 = 10_000;
/// Largest accepted `batch_size`.
pub const MAX_BATCH: u64 = 1 << 20;
/// Largest accepted `learning_rate`.
pub const MAX_LEARNING_RATE: f64 = 1000.0;
/// Largest accepted `noise_std` (pixels are in [0, 1]).
pub const MAX_NOISE_STD: f64 = 10.0;

const FIELDS: [&str; 12] = [
    "seed",
    "sample_count",
    "train_epochs",
    "batch_size",
    "learning_rate",
    "val_count",
    "noise_std",
    "export_weights",
    "start_from_state",
    "export_state",
    "shard_index",
    "shard_count",
];

/// Largest accepted `shard_count`.
pub const MAX_SHARDS: u64 = 1000;

/// A validated training job. Construct it with [`Job::parse`] / [`Job::from_file`], or build
/// one in code and call [`Job::validate`] before use.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Job {
    /// Seeds the one ChaCha20 generator that draws the subset, the shuffles and the noise.
    pub seed: u64,
    /// Rows drawn (without replacement) from the training split to train on.
    pub sample_count: u64,
    /// Passes over the drawn rows.
    pub train_epochs: u64,
    /// Rows per SGD step (the last step of an epoch may be smaller).
    pub batch_size: u64,
    /// SGD step size on the mean cross-entropy.
    pub learning_rate: f64,
    /// Cap on validation rows; `None` means all available.
    pub val_count: Option<u64>,
    /// Standard deviation of Gaussian noise added to training pixels (0 = no augmentation).
    pub noise_std: f64,
    /// Whether to write the trained weights as a second output file.
    pub export_weights: bool,
    /// How this job continues a series' earlier generation (all off for a plain job).
    #[serde(flatten)]
    pub generation: Generation,
}

/// The job fields of a generation: where it starts, what it leaves for the next one, and
/// which shard of the training rows it trains on.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
pub struct Generation {
    /// Start from the input `start_state.bin` (a state file, see [`crate::generation`])
    /// instead of the zero model; `train_epochs` is then the total the state is taken to.
    #[serde(skip_serializing_if = "is_false")]
    pub start_from_state: bool,
    /// Write the final state as the output `state.bin`, for the next generation.
    #[serde(skip_serializing_if = "is_false")]
    pub export_state: bool,
    /// Train on shard `shard_index` (0-based) of `shard_count` disjoint shards of the drawn
    /// training rows (federated averaging).
    #[serde(skip_serializing_if = "is_zero")]
    pub shard_index: u64,
    #[serde(skip_serializing_if = "is_one")]
    pub shard_count: u64,
}

impl Default for Generation {
    fn default() -> Self {
        Generation {
            start_from_state: false,
            export_state: false,
            shard_index: 0,
            shard_count: 1,
        }
    }
}

fn is_false(b: &bool) -> bool {
    !*b
}
fn is_zero(n: &u64) -> bool {
    *n == 0
}
fn is_one(n: &u64) -> bool {
    *n == 1
}

/// A job file that cannot be used, naming the field at fault.
#[derive(Debug, thiserror::Error)]
pub enum JobError {
    #[error("cannot read job file {path}: {source}")]
    Read {
        path: String,
        #[source]
        source: std::io::Error,
    },
    #[error("job file is not valid JSON: {0}")]
    Json(#[source] serde_json::Error),
    #[error("job file must be a JSON object")]
    NotAnObject,
    #[error("job field `{field}` is missing (required; {range})")]
    Missing { field: &'static str, range: String },
    #[error("job field `{field}` is invalid: got {got}, expected {range}")]
    Invalid {
        field: &'static str,
        got: String,
        range: String,
    },
    #[error("job field `{0}` is unknown (known fields: {known})", known = FIELDS.join(", "))]
    Unknown(String),
}

impl Job {
    /// Reads and validates a job file.
    pub fn from_file(path: &Path) -> Result<Job, JobError> {
        let text = std::fs::read_to_string(path).map_err(|source| JobError::Read {
            path: path.display().to_string(),
            source,
        })?;
        Job::parse(&text)
    }

    /// Parses and validates the text of a job file.
    pub fn parse(text: &str) -> Result<Job, JobError> {
        let value: Value = serde_json::from_str(text).map_err(JobError::Json)?;
        let Value::Object(map) = value else {
            return Err(JobError::NotAnObject);
        };
        if let Some(unknown) = map.keys().find(|k| !FIELDS.contains(&k.as_str())) {
            return Err(JobError::Unknown(unknown.clone()));
        }
        let job = Job {
            seed: required(&map, "seed", int_field(0, u64::MAX))?,
            sample_count: required(&map, "sample_count", int_field(1, MAX_ROWS))?,
            train_epochs: required(&map, "train_epochs", int_field(1, MAX_EPOCHS))?,
            batch_size: required(&map, "batch_size", int_field(1, MAX_BATCH))?,
            learning_rate: required(&map, "learning_rate", learning_rate_field())?,
            val_count: optional(&map, "val_count", int_field(1, MAX_ROWS))?,
            noise_std: optional(&map, "noise_std", noise_field())?.unwrap_or(0.0),
            export_weights: optional(&map, "export_weights", bool_field())?.unwrap_or(false),
            generation: Generation {
                start_from_state: optional(&map, "start_from_state", bool_field())?
                    .unwrap_or(false),
                export_state: optional(&map, "export_state", bool_field())?.unwrap_or(false),
                shard_index: optional(&map, "shard_index", int_field(0, MAX_SHARDS - 1))?
                    .unwrap_or(0),
                shard_count: optional(&map, "shard_count", int_field(1, MAX_SHARDS))?.unwrap_or(1),
            },
        };
        job.validate()?;
        Ok(job)
    }

    /// Checks the ranges of a job built in code (the parser already did).
    pub fn validate(&self) -> Result<(), JobError> {
        let check_int = |field, v: u64, lo, hi| {
            let (check, range) = int_field(lo, hi);
            check(&Value::from(v)).map(|_| ()).ok_or(JobError::Invalid {
                field,
                got: v.to_string(),
                range,
            })
        };
        check_int("sample_count", self.sample_count, 1, MAX_ROWS)?;
        check_int("train_epochs", self.train_epochs, 1, MAX_EPOCHS)?;
        check_int("batch_size", self.batch_size, 1, MAX_BATCH)?;
        if let Some(v) = self.val_count {
            check_int("val_count", v, 1, MAX_ROWS)?;
        }
        let check_float = |field, v: f64, (check, range): Checker<f64>| {
            // A NaN cannot be written in JSON; describe it by its Rust spelling.
            let got = Value::from(v);
            check(&got).map(|_| ()).ok_or(JobError::Invalid {
                field,
                got: format!("{v}"),
                range,
            })
        };
        check_float("learning_rate", self.learning_rate, learning_rate_field())?;
        check_float("noise_std", self.noise_std, noise_field())?;
        let g = &self.generation;
        check_int("shard_count", g.shard_count, 1, MAX_SHARDS)?;
        if g.shard_index >= g.shard_count {
            return Err(JobError::Invalid {
                field: "shard_index",
                got: g.shard_index.to_string(),
                range: format!("an integer below shard_count ({})", g.shard_count),
            });
        }
        Ok(())
    }

    /// The job as canonical JSON (fixed key order, shortest float repr): what metrics.json echoes
    /// and what a checkpoint is tied to.
    pub fn canonical_json(&self) -> String {
        serde_json::to_string(self).expect("a Job always serialises")
    }
}

type Checker<T> = (Box<dyn Fn(&Value) -> Option<T>>, String);

fn int_field(lo: u64, hi: u64) -> Checker<u64> {
    let range = if hi == u64::MAX {
        format!("an integer >= {lo}")
    } else {
        format!("an integer in {lo}..={hi}")
    };
    (
        Box::new(move |v| v.as_u64().filter(|n| (lo..=hi).contains(n))),
        range,
    )
}

fn learning_rate_field() -> Checker<f64> {
    (
        Box::new(|v| {
            v.as_f64()
                .filter(|x| x.is_finite() && *x > 0.0 && *x <= MAX_LEARNING_RATE)
        }),
        format!("a number with 0 < learning_rate <= {MAX_LEARNING_RATE}"),
    )
}

fn noise_field() -> Checker<f64> {
    (
        Box::new(|v| {
            v.as_f64()
                .filter(|x| x.is_finite() && *x >= 0.0 && *x <= MAX_NOISE_STD)
        }),
        format!("a number in 0..={MAX_NOISE_STD}"),
    )
}

fn bool_field() -> Checker<bool> {
    (Box::new(Value::as_bool), "true or false".to_string())
}

fn required<T>(
    map: &Map<String, Value>,
    field: &'static str,
    checker: Checker<T>,
) -> Result<T, JobError> {
    match optional(map, field, (checker.0, checker.1.clone()))? {
        Some(v) => Ok(v),
        None => Err(JobError::Missing {
            field,
            range: checker.1,
        }),
    }
}

fn optional<T>(
    map: &Map<String, Value>,
    field: &'static str,
    (check, range): Checker<T>,
) -> Result<Option<T>, JobError> {
    match map.get(field) {
        None | Some(Value::Null) => Ok(None),
        Some(v) => check(v).map(Some).ok_or_else(|| JobError::Invalid {
            field,
            got: v.to_string(),
            range,
        }),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const GOOD: &str = r#"{"seed": 714562, "sample_count": 8000, "train_epochs": 10,
        "batch_size": 256, "learning_rate": 0.05}"#;

    fn err(text: &str) -> String {
        Job::parse(text).unwrap_err().to_string()
    }

    #[test]
    fn parses_required_fields_and_defaults() {
        let job = Job::parse(GOOD).unwrap();
        assert_eq!(job.seed, 714562);
        assert_eq!(job.sample_count, 8000);
        assert_eq!(job.train_epochs, 10);
        assert_eq!(job.batch_size, 256);
        assert_eq!(job.learning_rate, 0.05);
        assert_eq!(job.val_count, None);
        assert_eq!(job.noise_std, 0.0);
        assert!(!job.export_weights);
    }

    #[test]
    fn parses_optional_fields() {
        let job = Job::parse(
            r#"{"seed": 0, "sample_count": 1, "train_epochs": 1, "batch_size": 1,
                "learning_rate": 1, "val_count": 5, "noise_std": 0.25, "export_weights": true}"#,
        )
        .unwrap();
        assert_eq!(job.val_count, Some(5));
        assert_eq!(job.noise_std, 0.25);
        assert!(job.export_weights);
        assert_eq!(job.learning_rate, 1.0);
    }

    #[test]
    fn missing_field_is_named_with_its_range() {
        let e = err(r#"{"seed": 1, "sample_count": 10, "train_epochs": 1, "learning_rate": 0.1}"#);
        assert!(e.contains("`batch_size` is missing"), "{e}");
        assert!(e.contains("1..=1048576"), "{e}");
    }

    #[test]
    fn out_of_range_values_are_named() {
        let cases = [
            (r#""sample_count": 0"#, "`sample_count`"),
            (r#""train_epochs": 1.5"#, "`train_epochs`"),
            (r#""batch_size": -3"#, "`batch_size`"),
            (r#""learning_rate": 0"#, "`learning_rate`"),
            (r#""learning_rate": "fast""#, "`learning_rate`"),
            (r#""val_count": 0"#, "`val_count`"),
            (r#""noise_std": -0.1"#, "`noise_std`"),
            (r#""export_weights": 1"#, "`export_weights`"),
            (r#""seed": -1"#, "`seed`"),
        ];
        for (patch, field) in cases {
            // A repeated key overrides the earlier one (serde_json keeps the last value).
            let e = err(&GOOD.replace('}', &format!(", {patch}}}")));
            assert!(e.contains(field) && e.contains("expected"), "{patch}: {e}");
        }
    }

    #[test]
    fn unknown_field_is_rejected() {
        let e = err(&GOOD.replace('}', r#", "learning_rte": 0.1}"#));
        assert!(e.contains("`learning_rte` is unknown"), "{e}");
    }

    #[test]
    fn non_object_and_bad_json_are_rejected() {
        assert!(err("[1, 2]").contains("JSON object"));
        assert!(err("{").contains("not valid JSON"));
    }

    #[test]
    fn validate_catches_code_built_jobs() {
        let mut job = Job::parse(GOOD).unwrap();
        job.learning_rate = f64::NAN;
        assert!(
            job.validate()
                .unwrap_err()
                .to_string()
                .contains("learning_rate")
        );
        job.learning_rate = 0.1;
        job.batch_size = 0;
        assert!(
            job.validate()
                .unwrap_err()
                .to_string()
                .contains("batch_size")
        );
    }

    #[test]
    fn generation_fields_parse_and_are_echoed_only_when_set() {
        let job = Job::parse(&GOOD.replace(
            '}',
            r#", "start_from_state": true, "export_state": true, "shard_index": 2, "shard_count": 3}"#,
        ))
        .unwrap();
        assert_eq!(
            job.generation,
            Generation {
                start_from_state: true,
                export_state: true,
                shard_index: 2,
                shard_count: 3
            }
        );
        assert!(
            job.canonical_json().ends_with(
                r#""start_from_state":true,"export_state":true,"shard_index":2,"shard_count":3}"#
            ),
            "{}",
            job.canonical_json()
        );
        assert_eq!(Job::parse(&job.canonical_json()).unwrap(), job);
        let e = err(&GOOD.replace('}', r#", "shard_index": 3, "shard_count": 3}"#));
        assert!(
            e.contains("`shard_index`") && e.contains("below shard_count"),
            "{e}"
        );
    }

    #[test]
    fn canonical_json_is_stable() {
        let job = Job::parse(GOOD).unwrap();
        assert_eq!(
            job.canonical_json(),
            r#"{"seed":714562,"sample_count":8000,"train_epochs":10,"batch_size":256,"learning_rate":0.05,"val_count":null,"noise_std":0.0,"export_weights":false}"#
        );
    }
}
