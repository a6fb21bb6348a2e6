//! `metrics` and `tolerance`: results agree when their metrics documents agree on the
//! deterministic fields.
//!
//! An app such as mnist writes a JSON metrics document (`metrics.json`) whose top-level `host`
//! object holds run times and machine facts that differ from volunteer to volunteer; the rest
//! is the computation's answer. The split is the schema shared with the app
//! (`metrics_doc::strip_nondeterministic`), so the two cannot drift apart.
//!
//! - **metrics**: the deterministic parts must be equal, compared in a canonical form (sorted
//!   keys), so formatting and key order do not matter;
//! - **tolerance**: numbers may differ within per-field tolerances read from a file (see
//!   [`super::tolerance`]); lists such as the per-epoch `history` are compared element by
//!   element.
//!
//! Output files whose open name does not end in `.json` are compared byte for byte (MD5) in
//! both modes. A `.json` file that does not parse, or is larger than [`MAX_JSON_BYTES`], makes
//! the result a VALIDATE_ERROR (it is not what the app writes).

use std::io::Read;
use std::sync::Arc;

use rboinc_core::db::result::ResultRow;
use rboinc_core::job_files::OutputFile;
use rboinc_core::md5file::{Md5Hex, md5_reader};
use serde_json::Value;

use super::json_diff::{canonical_json, first_json_difference};
use super::tolerance::Tolerances;
use crate::validator::plugin::{
    CompareError, Difference, Init, InitError, Outputs, Plugin, Verdict, read_error,
};

/// Largest JSON output read into memory.
pub const MAX_JSON_BYTES: u64 = 64 << 20;

/// The `metrics` mode.
#[derive(Debug, Clone, Copy, Default)]
pub struct Metrics;

/// The `tolerance` mode.
#[derive(Debug, Clone)]
pub struct Tolerance(pub Arc<Tolerances>);

/// One output file as read by the `metrics` and `tolerance` modes.
#[derive(Debug, Clone, PartialEq)]
pub enum FileData {
    /// An optional file that is not there.
    Absent,
    /// MD5 of the bytes (not a JSON file).
    Bytes(Md5Hex),
    /// A JSON document: MD5 of its canonical deterministic part, and that part.
    Json { digest: Md5Hex, value: Value },
}

/// A result's output files, in template order, by open name.
pub type Documents = Vec<(String, FileData)>;

impl Plugin for Metrics {
    type Data = Documents;

    fn name(&self) -> &str {
        "metrics"
    }

    fn init_result(&self, outputs: &Outputs<'_>) -> Result<Init<Documents>, InitError> {
        read_documents(outputs, &[]).map(Init::new)
    }

    fn compare_results(
        &self,
        _a: &ResultRow,
        a: &Documents,
        _b: &ResultRow,
        b: &Documents,
    ) -> Result<Verdict, CompareError> {
        Ok(compare_documents(a, b, first_json_difference))
    }
}

impl Plugin for Tolerance {
    type Data = Documents;

    fn name(&self) -> &str {
        "tolerance"
    }

    fn init_result(&self, outputs: &Outputs<'_>) -> Result<Init<Documents>, InitError> {
        read_documents(outputs, self.0.ignore()).map(Init::new)
    }

    fn compare_results(
        &self,
        _a: &ResultRow,
        a: &Documents,
        _b: &ResultRow,
        b: &Documents,
    ) -> Result<Verdict, CompareError> {
        Ok(compare_documents(a, b, |v, w| self.0.compare(v, w)))
    }
}

/// Compares two results file by file; `json` finds the first disagreement of two documents.
fn compare_documents(
    a: &Documents,
    b: &Documents,
    json: impl Fn(&Value, &Value) -> Option<(String, String, String)>,
) -> Verdict {
    if a.len() != b.len() {
        return Verdict::Differ(Difference {
            file: String::new(),
            field: "number of output files".into(),
            left: a.len().to_string(),
            right: b.len().to_string(),
        });
    }
    for ((name, x), (_, y)) in a.iter().zip(b) {
        let difference = match (x, y) {
            (FileData::Json { value: v, .. }, FileData::Json { value: w, .. }) => json(v, w),
            _ if x == y => None,
            _ => Some(("md5".into(), describe(x), describe(y))),
        };
        if let Some((field, left, right)) = difference {
            return Verdict::Differ(Difference {
                file: name.clone(),
                field,
                left,
                right,
            });
        }
    }
    Verdict::Match
}

fn describe(d: &FileData) -> String {
    match d {
        FileData::Absent => "(absent)".into(),
        FileData::Bytes(md5) | FileData::Json { digest: md5, .. } => {
            format!("md5 {}", md5.as_str())
        }
    }
}

/// Reads every output file (except `<no_validate/>` ones); `ignore` names top-level JSON
/// fields left out besides `host`.
fn read_documents(outputs: &Outputs<'_>, ignore: &[String]) -> Result<Documents, InitError> {
    let mut docs = Vec::new();
    for file in outputs.files()?.into_iter().filter(|f| !f.no_validate) {
        let data = match outputs.open(&file)? {
            None => FileData::Absent,
            Some(f) => read_file(&file, f, ignore)?,
        };
        docs.push((file.open_name, data));
    }
    Ok(docs)
}

fn read_file(
    file: &OutputFile,
    f: std::fs::File,
    ignore: &[String],
) -> Result<FileData, InitError> {
    let is_json = file.open_name.to_ascii_lowercase().ends_with(".json");
    if !is_json {
        return Ok(FileData::Bytes(
            md5_reader(f).map_err(|e| read_error(file, e))?.md5,
        ));
    }
    let len = f.metadata().map_err(|e| read_error(file, e))?.len();
    if len > MAX_JSON_BYTES {
        return Err(InitError::Permanent(format!(
            "{}: {len} bytes, more than the {MAX_JSON_BYTES} a metrics document may have",
            file.path.display()
        )));
    }
    let mut text = Vec::with_capacity(len as usize);
    f.take(MAX_JSON_BYTES + 1)
        .read_to_end(&mut text)
        .map_err(|e| read_error(file, e))?;
    let mut value: Value = serde_json::from_slice(&text).map_err(|e| {
        InitError::Permanent(format!("{}: not valid JSON: {e}", file.path.display()))
    })?;
    metrics_doc::strip_nondeterministic(&mut value);
    if let Value::Object(map) = &mut value {
        for key in ignore {
            map.remove(key);
        }
    }
    let digest = Md5Hex::of_bytes(canonical_json(&value).as_bytes());
    Ok(FileData::Json { digest, value })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::validator::modes::test_files::{hier, put, result_with_outputs};

    fn read(dir: &std::path::Path, name: &str) -> Result<Documents, InitError> {
        let r = result_with_outputs(&[(name, "metrics.json", false)]);
        let h = hier(dir);
        Metrics.init_result(&Outputs::new(&r, &h)).map(|i| i.data)
    }

    fn compare(a: &Documents, b: &Documents) -> Verdict {
        let r = result_with_outputs(&[]);
        Metrics.compare_results(&r, a, &r, b).unwrap()
    }

    #[test]
    fn json_outputs_are_compared_without_host_and_must_parse() {
        let dir = tempfile::tempdir().unwrap();
        put(
            dir.path(),
            "m1",
            br#"{"val_acc": 0.9, "host": {"runtime_s": 1}}"#,
        );
        put(
            dir.path(),
            "m2",
            br#"{"host": {"runtime_s": 2},  "val_acc": 0.9}"#,
        );
        put(dir.path(), "m3", br#"{"val_acc": 0.9"#);
        put(
            dir.path(),
            "m4",
            br#"{"val_acc": 0.95, "host": {"runtime_s": 1}}"#,
        );
        let (m1, m2, m4) = (
            read(dir.path(), "m1").unwrap(),
            read(dir.path(), "m2").unwrap(),
            read(dir.path(), "m4").unwrap(),
        );
        assert_eq!(compare(&m1, &m2), Verdict::Match);
        assert_eq!(
            compare(&m1, &m4),
            Verdict::Differ(Difference {
                file: "metrics.json".into(),
                field: "val_acc".into(),
                left: "0.9".into(),
                right: "0.95".into(),
            })
        );
        assert!(
            matches!(read(dir.path(), "m3"), Err(InitError::Permanent(m)) if m.contains("JSON") && m.contains("m3"))
        );
    }

    #[test]
    fn a_huge_json_output_is_the_results_error() {
        let dir = tempfile::tempdir().unwrap();
        put(dir.path(), "big", b"[0]");
        let path = rboinc_core::hier::dir_hier_path(dir.path(), "big", 16).unwrap();
        std::fs::File::options()
            .write(true)
            .open(&path)
            .unwrap()
            .set_len(MAX_JSON_BYTES + 1)
            .unwrap();
        assert!(
            matches!(read(dir.path(), "big"), Err(InitError::Permanent(m)) if m.contains("more than") && m.contains(&path.display().to_string()))
        );
    }
}
