//! How two results are compared: reading a result's output files once ([`Mode::init_result`]),
//! then comparing what was read ([`Mode::compare`]).
//!
//! Three modes, chosen on the command line:
//! - **bitwise**: every output file's bytes must be equal (BOINC's `sample_bitwise_validator`:
//!   MD5 per file, optionally skipping gzip headers). JSON files (an open name ending in `.json`,
//!   like the mnist app's `metrics.json`) are compared on their deterministic part only: the
//!   top-level `host` object, where the app keeps run times and machine facts, is left out, and
//!   the rest is compared in a canonical form (sorted keys), so formatting does not matter.
//! - **tolerance**: like bitwise, but numbers in JSON files may differ within per-field
//!   absolute/relative tolerances read from a file (see [`super::tolerance`]); lists such as the
//!   per-epoch `history` are compared element by element.
//! - **trivial**: every successful result agrees (BOINC's `sample_trivial_validator`).
//!
//! Errors reading a result are *permanent* (the result is bad: outcome VALIDATE_ERROR) or
//! *transient* (try again later):
//! - a missing output file is permanent, as in BOINC (oracle scenario 18), unless it is marked
//!   `<optional/>`;
//! - a missing upload directory, or a file that exists but cannot be read (permissions, I/O
//!   error), is transient: the storage is at fault, not the volunteer;
//! - an unparsable `xml_doc_in`, a malformed JSON file or a bad gzip header is permanent.

use std::collections::BTreeMap;
use std::fs::File;
use std::io::{self, Read};
use std::path::Path;
use std::sync::Arc;

use rboinc_core::db::result::ResultRow;
use rboinc_core::hier::Hierarchy;
use rboinc_core::job_files::{OutputFile, output_files};
use rboinc_core::md5file::{Md5Hex, md5_reader};
use rboinc_core::state::Outcome;
use serde_json::Value;

use super::tolerance::Tolerances;

/// How results are compared.
#[derive(Debug, Clone)]
pub enum Mode {
    /// Output bytes (JSON: canonical deterministic part). `is_gzip`: every output file is gzip,
    /// and its 10-byte header (which holds a time stamp) is skipped.
    Bitwise { is_gzip: bool },
    /// JSON numbers within tolerances, everything else bitwise.
    Tolerance(Arc<Tolerances>),
    /// Every result agrees.
    Trivial,
}

/// What reading a result's outputs found.
#[derive(Debug, Clone, PartialEq)]
pub enum FileData {
    /// An optional file that is not there.
    Absent,
    /// MD5 of the bytes.
    Bytes(Md5Hex),
    /// A JSON document: MD5 of its canonical deterministic part, and that part.
    Json { digest: Md5Hex, value: Value },
}

/// A result's outputs, as read by [`Mode::init_result`] (files in document order).
#[derive(Debug, Clone, PartialEq, Default)]
pub struct ResultData {
    pub files: Vec<(String, FileData)>,
}

/// Why a result's outputs could not be read.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum InitError {
    /// Try again later (storage problem).
    #[error("transient: {0}")]
    Transient(String),
    /// The result is bad.
    #[error("{0}")]
    Permanent(String),
    /// BOINC's VAL_RESULT_LONG_TERM_FAIL: the host keeps failing (only for `--check_punitive`).
    #[error("long-term failure")]
    LongTermFail,
}

/// Where two results differ.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Difference {
    /// The output file (its open name).
    pub file: String,
    /// The JSON field (`history[2].val_acc`), or `bytes`.
    pub field: String,
    pub left: String,
    pub right: String,
}

/// The answer of [`Mode::compare`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Comparison {
    Match,
    Differ(Difference),
}

/// Largest JSON output parsed in memory; a larger `.json` file is compared by its bytes.
const MAX_JSON_BYTES: u64 = 64 << 20;

impl Mode {
    /// Reads `result`'s output files (blocking I/O).
    pub fn init_result(
        &self,
        result: &ResultRow,
        upload: &Hierarchy,
    ) -> Result<ResultData, InitError> {
        let ignore: &[String] = match self {
            Mode::Trivial => {
                return if result.outcome == Outcome::ClientError {
                    Err(InitError::LongTermFail)
                } else {
                    Ok(ResultData::default())
                };
            }
            Mode::Bitwise { .. } => &[],
            Mode::Tolerance(t) => t.ignore(),
        };
        let is_gzip = matches!(self, Mode::Bitwise { is_gzip: true });
        let files = output_files(&result.xml_doc_in, upload)
            .map_err(|e| InitError::Permanent(format!("xml_doc_in: {e}")))?;
        let mut data = ResultData::default();
        for file in files.iter().filter(|f| !f.no_validate) {
            let read = read_output(file, upload.root(), is_gzip, ignore)?;
            data.files.push((file.open_name.clone(), read));
        }
        Ok(data)
    }

    /// Compares two results read by [`Mode::init_result`].
    pub fn compare(&self, a: &ResultData, b: &ResultData) -> Comparison {
        if matches!(self, Mode::Trivial) {
            return Comparison::Match;
        }
        if a.files.len() != b.files.len() {
            return Comparison::Differ(Difference {
                file: String::new(),
                field: "number of output files".into(),
                left: a.files.len().to_string(),
                right: b.files.len().to_string(),
            });
        }
        for ((name, x), (_, y)) in a.files.iter().zip(&b.files) {
            let difference = match (self, x, y) {
                (
                    Mode::Tolerance(t),
                    FileData::Json { value: v, .. },
                    FileData::Json { value: w, .. },
                ) => t.compare(v, w),
                (
                    _,
                    FileData::Json {
                        digest: d,
                        value: v,
                    },
                    FileData::Json {
                        digest: e,
                        value: w,
                    },
                ) => (d != e).then(|| {
                    first_json_difference(v, w).unwrap_or_else(|| {
                        ("(document)".into(), d.as_str().into(), e.as_str().into())
                    })
                }),
                _ if x == y => None,
                _ => Some(("bytes".into(), describe(x), describe(y))),
            };
            if let Some((field, left, right)) = difference {
                return Comparison::Differ(Difference {
                    file: name.clone(),
                    field,
                    left,
                    right,
                });
            }
        }
        Comparison::Match
    }
}

fn describe(d: &FileData) -> String {
    match d {
        FileData::Absent => "(absent)".into(),
        FileData::Bytes(md5) | FileData::Json { digest: md5, .. } => {
            format!("md5 {}", md5.as_str())
        }
    }
}

fn read_output(
    file: &OutputFile,
    upload_dir: &Path,
    is_gzip: bool,
    ignore: &[String],
) -> Result<FileData, InitError> {
    let path = &file.path;
    let mut f = match File::open(path) {
        Ok(f) => f,
        Err(e) => return open_error(file, upload_dir, e),
    };
    let read_err = |e: io::Error| read_error(path, e);
    let meta = f.metadata().map_err(read_err)?;
    if meta.is_dir() {
        return Err(InitError::Permanent(format!(
            "{} is a directory",
            path.display()
        )));
    }
    if is_gzip {
        let mut header = [0u8; 10];
        f.read_exact(&mut header).map_err(|e| match e.kind() {
            io::ErrorKind::UnexpectedEof => {
                InitError::Permanent(format!("{}: shorter than a gzip header", path.display()))
            }
            _ => read_error(path, e),
        })?;
        if header[..3] != [0x1f, 0x8b, 0x08] {
            return Err(InitError::Permanent(format!(
                "{}: not a gzip file",
                path.display()
            )));
        }
    }
    let is_json = file.open_name.to_ascii_lowercase().ends_with(".json");
    if is_json && !is_gzip && meta.len() <= MAX_JSON_BYTES {
        let mut text = Vec::with_capacity(meta.len() as usize);
        f.read_to_end(&mut text).map_err(read_err)?;
        let mut value: Value = serde_json::from_slice(&text).map_err(|e| {
            InitError::Permanent(format!("{}: not valid JSON: {e}", path.display()))
        })?;
        metrics_doc::strip_nondeterministic(&mut value);
        if let Value::Object(map) = &mut value {
            for key in ignore {
                map.remove(key);
            }
        }
        let digest = Md5Hex::of_bytes(canonical_json(&value).as_bytes());
        return Ok(FileData::Json { digest, value });
    }
    let info = md5_reader(f).map_err(read_err)?;
    Ok(FileData::Bytes(info.md5))
}

fn open_error(file: &OutputFile, upload_dir: &Path, e: io::Error) -> Result<FileData, InitError> {
    match e.kind() {
        io::ErrorKind::NotFound if !upload_dir.is_dir() => Err(InitError::Transient(format!(
            "the upload directory {} is missing",
            upload_dir.display()
        ))),
        io::ErrorKind::NotFound if file.optional => Ok(FileData::Absent),
        io::ErrorKind::NotFound => Err(InitError::Permanent(format!(
            "output file {} is missing",
            file.path.display()
        ))),
        _ => Err(read_error(&file.path, e)),
    }
}

fn read_error(path: &Path, e: io::Error) -> InitError {
    match e.kind() {
        io::ErrorKind::IsADirectory => {
            InitError::Permanent(format!("{} is a directory", path.display()))
        }
        _ => InitError::Transient(format!("cannot read {}: {e}", path.display())),
    }
}

/// JSON text with object keys sorted at every level, independent of the file's formatting and
/// key order (and of serde_json's `preserve_order` feature).
pub fn canonical_json(v: &Value) -> String {
    fn write(v: &Value, out: &mut String) {
        match v {
            Value::Object(map) => {
                let sorted: BTreeMap<&String, &Value> = map.iter().collect();
                out.push('{');
                for (i, (k, v)) in sorted.into_iter().enumerate() {
                    if i > 0 {
                        out.push(',');
                    }
                    out.push_str(&Value::String(k.clone()).to_string());
                    out.push(':');
                    write(v, out);
                }
                out.push('}');
            }
            Value::Array(items) => {
                out.push('[');
                for (i, item) in items.iter().enumerate() {
                    if i > 0 {
                        out.push(',');
                    }
                    write(item, out);
                }
                out.push(']');
            }
            other => out.push_str(&other.to_string()),
        }
    }
    let mut out = String::new();
    write(v, &mut out);
    out
}

/// Shortens a value for a log line.
pub fn short(v: &Value) -> String {
    let mut s = canonical_json(v);
    if s.len() > 120 {
        let mut cut = 117;
        while !s.is_char_boundary(cut) {
            cut -= 1;
        }
        s.truncate(cut);
        s.push_str("...");
    }
    s
}

/// The first place two JSON values differ: (path, left, right).
pub fn first_json_difference(a: &Value, b: &Value) -> Option<(String, String, String)> {
    fn walk(a: &Value, b: &Value, path: &mut String) -> Option<(String, String, String)> {
        match (a, b) {
            (Value::Object(x), Value::Object(y)) => {
                let keys: std::collections::BTreeSet<&String> = x.keys().chain(y.keys()).collect();
                for k in keys {
                    let len = path.len();
                    if !path.is_empty() {
                        path.push('.');
                    }
                    path.push_str(k);
                    let found = match (x.get(k), y.get(k)) {
                        (Some(v), Some(w)) => walk(v, w, path),
                        (v, w) => Some((
                            path.clone(),
                            v.map_or("(missing)".into(), short),
                            w.map_or("(missing)".into(), short),
                        )),
                    };
                    path.truncate(len);
                    if found.is_some() {
                        return found;
                    }
                }
                None
            }
            (Value::Array(x), Value::Array(y)) if x.len() == y.len() => {
                for (i, (v, w)) in x.iter().zip(y).enumerate() {
                    let len = path.len();
                    path.push_str(&format!("[{i}]"));
                    let found = walk(v, w, path);
                    path.truncate(len);
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
    walk(a, b, &mut String::new())
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn canonical_form_ignores_key_order_and_whitespace() {
        let a: Value = serde_json::from_str(r#"{"b": 1, "a": [1, {"y": 2, "x": 3}]}"#).unwrap();
        let b: Value = serde_json::from_str(r#"{"a":[1,{"x":3,"y":2}],"b":1}"#).unwrap();
        assert_eq!(canonical_json(&a), canonical_json(&b));
        assert_eq!(canonical_json(&a), r#"{"a":[1,{"x":3,"y":2}],"b":1}"#);
    }

    #[test]
    fn the_first_difference_is_named_by_its_path() {
        let a = json!({"val_acc": 0.9, "history": [{"epoch": 1, "val_acc": 0.5}, {"epoch": 2, "val_acc": 0.7}]});
        let b = json!({"val_acc": 0.9, "history": [{"epoch": 1, "val_acc": 0.5}, {"epoch": 2, "val_acc": 0.71}]});
        assert_eq!(
            first_json_difference(&a, &b),
            Some(("history[1].val_acc".into(), "0.7".into(), "0.71".into()))
        );
        let c = json!({"x": 1});
        assert_eq!(
            first_json_difference(&c, &json!({})),
            Some(("x".into(), "1".into(), "(missing)".into()))
        );
        assert_eq!(first_json_difference(&a, &a.clone()), None);
    }

    fn result_with_outputs(files: &[(&str, &str, bool)]) -> ResultRow {
        let mut r = crate::validator::test_rows::result(1);
        let mut doc = String::from("<result>\n");
        for (name, open_name, optional) in files {
            doc.push_str(&format!(
                "<file_ref><file_name>{name}</file_name><open_name>{open_name}</open_name>{}</file_ref>\n",
                if *optional { "<optional/>" } else { "" }
            ));
        }
        doc.push_str("</result>");
        r.xml_doc_in = doc;
        r
    }

    fn hier(dir: &Path) -> Hierarchy {
        Hierarchy::new(dir, 16)
    }

    fn put(dir: &Path, name: &str, bytes: &[u8]) {
        let path = rboinc_core::hier::create_dir_hier_path(dir, name, 16).unwrap();
        std::fs::write(path, bytes).unwrap();
    }

    #[test]
    fn gzip_headers_are_skipped() {
        let dir = tempfile::tempdir().unwrap();
        let body = b"compressed bytes";
        let gz = |mtime: u8| [&[0x1f, 0x8b, 0x08, 0, mtime, 0, 0, 0, 0, 3][..], body].concat();
        put(dir.path(), "a", &gz(1));
        put(dir.path(), "b", &gz(2));
        put(dir.path(), "c", b"plain text, long enough");
        put(dir.path(), "d", &[0x1f, 0x8b]);
        let mode = Mode::Bitwise { is_gzip: true };
        let read = |name: &str| {
            mode.init_result(
                &result_with_outputs(&[(name, "out", false)]),
                &hier(dir.path()),
            )
        };
        assert_eq!(
            mode.compare(&read("a").unwrap(), &read("b").unwrap()),
            Comparison::Match
        );
        assert!(matches!(read("c"), Err(InitError::Permanent(m)) if m.contains("not a gzip")));
        assert!(matches!(read("d"), Err(InitError::Permanent(m)) if m.contains("shorter")));
        let plain = Mode::Bitwise { is_gzip: false };
        let a = plain
            .init_result(
                &result_with_outputs(&[("a", "out", false)]),
                &hier(dir.path()),
            )
            .unwrap();
        let b = plain
            .init_result(
                &result_with_outputs(&[("b", "out", false)]),
                &hier(dir.path()),
            )
            .unwrap();
        assert!(matches!(plain.compare(&a, &b), Comparison::Differ(d) if d.field == "bytes"));
    }

    #[test]
    fn missing_files_are_permanent_unless_optional_or_the_upload_dir_is_gone() {
        let dir = tempfile::tempdir().unwrap();
        let mode = Mode::Bitwise { is_gzip: false };
        let missing = result_with_outputs(&[("gone", "out", false)]);
        assert!(matches!(
            mode.init_result(&missing, &hier(dir.path())),
            Err(InitError::Permanent(_))
        ));
        let optional = result_with_outputs(&[("gone", "out", true)]);
        assert_eq!(
            mode.init_result(&optional, &hier(dir.path()))
                .unwrap()
                .files,
            [("out".to_string(), FileData::Absent)]
        );
        let unmounted = dir.path().join("not-there");
        assert!(matches!(
            mode.init_result(&missing, &hier(&unmounted)),
            Err(InitError::Transient(_))
        ));
        // A directory where the file should be is the result's problem.
        std::fs::create_dir_all(rboinc_core::hier::dir_hier_path(dir.path(), "adir", 16).unwrap())
            .unwrap();
        let dir_result = result_with_outputs(&[("adir", "out", false)]);
        assert!(matches!(
            mode.init_result(&dir_result, &hier(dir.path())),
            Err(InitError::Permanent(_))
        ));
        // So is an xml_doc_in without usable file_refs.
        let mut broken = crate::validator::test_rows::result(2);
        broken.xml_doc_in = "<file_ref><file_name>x</file_name></file_ref>".into();
        assert!(matches!(
            mode.init_result(&broken, &hier(dir.path())),
            Err(InitError::Permanent(_))
        ));
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
        let mode = Mode::Bitwise { is_gzip: false };
        let read = |name: &str| {
            mode.init_result(
                &result_with_outputs(&[(name, "metrics.json", false)]),
                &hier(dir.path()),
            )
        };
        assert_eq!(
            mode.compare(&read("m1").unwrap(), &read("m2").unwrap()),
            Comparison::Match
        );
        assert!(matches!(read("m3"), Err(InitError::Permanent(m)) if m.contains("JSON")));
        // The trivial mode reads nothing and agrees with everything.
        let trivial = Mode::Trivial;
        let r = result_with_outputs(&[("nothing", "out", false)]);
        assert_eq!(
            trivial.init_result(&r, &hier(dir.path())),
            Ok(ResultData::default())
        );
    }
}
