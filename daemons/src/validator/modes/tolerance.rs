//! Per-field tolerances for `--mode tolerance`, read from a small JSON file
//! (`config/validator_tolerances.json` is the one for the mnist app).
//!
//! Bitwise agreement is the right test for an app that is deterministic across machines (the
//! mnist app is). Tolerances are for apps whose numbers may differ in the last bits between
//! CPUs or compilers: two results agree if every number in their JSON outputs is within the
//! tolerance of its field and everything else is equal.
//!
//! The file:
//! ```json
//! {
//!   "ignore": ["host"],
//!   "default": {"abs": 0, "rel": 0},
//!   "fields": {
//!     "val_acc": {"abs": 1e-6},
//!     "history[].val_loss": {"abs": 1e-9, "rel": 1e-6}
//!   }
//! }
//! ```
//! - `ignore`: top-level fields left out of the comparison (`host` always is);
//! - `fields`: a path is the field names joined by `.`, with `[]` after a list's name standing
//!   for every element (lists are compared element by element and must have equal lengths);
//! - a number agrees if `|a − b| ≤ abs` or `|a − b| ≤ rel × max(|a|, |b|)`; numbers of fields
//!   not listed use `default` (exact equality if it is absent).
//!
//! Unknown keys are refused, so a misspelt `"feilds"` is an error at start-up, not a silently
//! strict validator.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use serde::Deserialize;
use serde_json::Value;

use super::json_diff::short;

/// One field's tolerance.
#[derive(Debug, Clone, Copy, PartialEq, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Tolerance {
    #[serde(default)]
    pub abs: f64,
    #[serde(default)]
    pub rel: f64,
}

impl Tolerance {
    /// Whether `a` and `b` agree within this tolerance.
    pub fn accepts(&self, a: f64, b: f64) -> bool {
        let diff = (a - b).abs();
        a == b || diff <= self.abs || diff <= self.rel * a.abs().max(b.abs())
    }
}

/// The tolerance file.
#[derive(Debug, Clone, PartialEq, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Tolerances {
    /// Free text for the reader of the file.
    #[serde(default)]
    about: Option<String>,
    #[serde(default)]
    ignore: Vec<String>,
    #[serde(default)]
    default: Tolerance,
    #[serde(default)]
    fields: BTreeMap<String, Tolerance>,
}

/// The tolerance file cannot be used.
#[derive(Debug, thiserror::Error)]
pub enum ToleranceFileError {
    #[error("cannot read {path}")]
    Read {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
    #[error("{path}: {source}")]
    Parse {
        path: PathBuf,
        #[source]
        source: serde_json::Error,
    },
    #[error("{path}: field {field:?}: tolerances must be finite and not negative")]
    BadTolerance { path: PathBuf, field: String },
}

impl Tolerances {
    /// Reads and checks a tolerance file.
    pub fn load(path: &Path) -> Result<Self, ToleranceFileError> {
        let text = std::fs::read_to_string(path).map_err(|source| ToleranceFileError::Read {
            path: path.to_path_buf(),
            source,
        })?;
        Self::parse(&text, path)
    }

    /// Parses tolerance file text (`path` is for messages).
    pub fn parse(text: &str, path: &Path) -> Result<Self, ToleranceFileError> {
        let t: Tolerances =
            serde_json::from_str(text).map_err(|source| ToleranceFileError::Parse {
                path: path.to_path_buf(),
                source,
            })?;
        let ok =
            |t: &Tolerance| t.abs.is_finite() && t.rel.is_finite() && t.abs >= 0.0 && t.rel >= 0.0;
        if !ok(&t.default) {
            return Err(ToleranceFileError::BadTolerance {
                path: path.to_path_buf(),
                field: "default".into(),
            });
        }
        if let Some((field, _)) = t.fields.iter().find(|(_, v)| !ok(v)) {
            return Err(ToleranceFileError::BadTolerance {
                path: path.to_path_buf(),
                field: field.clone(),
            });
        }
        Ok(t)
    }

    /// The file's `about` text.
    pub fn about(&self) -> Option<&str> {
        self.about.as_deref()
    }

    /// Top-level fields left out (besides `host`).
    pub fn ignore(&self) -> &[String] {
        &self.ignore
    }

    /// The tolerance of a field path (indices written as `[]`).
    pub fn for_field(&self, pattern: &str) -> Tolerance {
        self.fields.get(pattern).copied().unwrap_or(self.default)
    }

    /// The first disagreement between two documents: (path, left, right).
    pub fn compare(&self, a: &Value, b: &Value) -> Option<(String, String, String)> {
        self.walk(a, b, &mut String::new(), &mut String::new())
    }

    /// `path` is the concrete path (`history[2].val_acc`), `pattern` the one used for lookups
    /// (`history[].val_acc`).
    fn walk(
        &self,
        a: &Value,
        b: &Value,
        path: &mut String,
        pattern: &mut String,
    ) -> Option<(String, String, String)> {
        match (a, b) {
            (Value::Number(x), Value::Number(y)) => {
                let (x, y) = (x.as_f64()?, y.as_f64()?);
                (!self.for_field(pattern).accepts(x, y)).then(|| (path.clone(), short(a), short(b)))
            }
            (Value::Object(x), Value::Object(y)) => {
                let keys: std::collections::BTreeSet<&String> = x.keys().chain(y.keys()).collect();
                for k in keys {
                    let (plen, qlen) = (path.len(), pattern.len());
                    if !path.is_empty() {
                        path.push('.');
                        pattern.push('.');
                    }
                    path.push_str(k);
                    pattern.push_str(k);
                    let found = match (x.get(k), y.get(k)) {
                        (Some(v), Some(w)) => self.walk(v, w, path, pattern),
                        (v, w) => Some((
                            path.clone(),
                            v.map_or("(missing)".into(), short),
                            w.map_or("(missing)".into(), short),
                        )),
                    };
                    path.truncate(plen);
                    pattern.truncate(qlen);
                    if found.is_some() {
                        return found;
                    }
                }
                None
            }
            (Value::Array(x), Value::Array(y)) => {
                if x.len() != y.len() {
                    return Some((
                        path.clone(),
                        format!("{} elements", x.len()),
                        format!("{} elements", y.len()),
                    ));
                }
                for (i, (v, w)) in x.iter().zip(y).enumerate() {
                    let (plen, qlen) = (path.len(), pattern.len());
                    path.push_str(&format!("[{i}]"));
                    pattern.push_str("[]");
                    let found = self.walk(v, w, path, pattern);
                    path.truncate(plen);
                    pattern.truncate(qlen);
                    if found.is_some() {
                        return found;
                    }
                }
                None
            }
            _ if a == b => None,
            _ => Some((path.clone(), short(a), short(b))),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn tolerances() -> Tolerances {
        Tolerances::parse(
            r#"{"ignore": ["run_id"], "fields": {
                "val_acc": {"abs": 1e-6},
                "loss": {"rel": 1e-3},
                "history[].val_acc": {"abs": 0.01}
            }}"#,
            Path::new("t.json"),
        )
        .unwrap()
    }

    #[test]
    fn numbers_within_tolerance_agree() {
        let t = tolerances();
        assert_eq!(
            t.compare(&json!({"val_acc": 0.9}), &json!({"val_acc": 0.9000005})),
            None
        );
        assert_eq!(
            t.compare(&json!({"loss": 1000.0}), &json!({"loss": 1000.9})),
            None
        );
        let d = t
            .compare(&json!({"val_acc": 0.9}), &json!({"val_acc": 0.90001}))
            .unwrap();
        assert_eq!(d, ("val_acc".into(), "0.9".into(), "0.90001".into()));
    }

    #[test]
    fn unlisted_numbers_must_be_equal() {
        let t = tolerances();
        assert!(
            t.compare(&json!({"epochs": 3}), &json!({"epochs": 3.0}))
                .is_none()
        );
        assert!(
            t.compare(&json!({"train_acc": 0.5}), &json!({"train_acc": 0.5000001}))
                .is_some()
        );
    }

    #[test]
    fn lists_are_compared_element_by_element() {
        let t = tolerances();
        let a = json!({"history": [{"val_acc": 0.5}, {"val_acc": 0.6}]});
        let near = json!({"history": [{"val_acc": 0.505}, {"val_acc": 0.595}]});
        let far = json!({"history": [{"val_acc": 0.5}, {"val_acc": 0.65}]});
        assert_eq!(t.compare(&a, &near), None);
        assert_eq!(
            t.compare(&a, &far).unwrap().0,
            "history[1].val_acc",
            "the element's own path is reported"
        );
        let short_list = json!({"history": [{"val_acc": 0.5}]});
        assert_eq!(
            t.compare(&a, &short_list).unwrap(),
            ("history".into(), "2 elements".into(), "1 elements".into())
        );
    }

    #[test]
    fn strings_and_types_must_match() {
        let t = tolerances();
        assert!(t.compare(&json!({"s": "a"}), &json!({"s": "b"})).is_some());
        assert!(t.compare(&json!({"x": null}), &json!({"x": 0})).is_some());
        assert!(t.compare(&json!({"x": 1}), &json!({})).is_some());
    }

    #[test]
    fn bad_files_are_refused() {
        let p = Path::new("t.json");
        assert!(matches!(
            Tolerances::parse(r#"{"feilds": {}}"#, p),
            Err(ToleranceFileError::Parse { .. })
        ));
        assert!(matches!(
            Tolerances::parse(r#"{"fields": {"x": {"abs": -1}}}"#, p),
            Err(ToleranceFileError::BadTolerance { .. })
        ));
        assert!(matches!(
            Tolerances::parse(r#"{"fields": {"x": {"abz": 1}}}"#, p),
            Err(ToleranceFileError::Parse { .. })
        ));
    }

    #[test]
    fn the_shipped_mnist_file_parses() {
        let path =
            Path::new(env!("CARGO_MANIFEST_DIR")).join("../config/validator_tolerances.json");
        let t = Tolerances::load(&path).unwrap();
        assert!(t.for_field("val_acc").abs > 0.0);
        assert!(t.for_field("history[].val_acc").abs > 0.0);
    }
}
