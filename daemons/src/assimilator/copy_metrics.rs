//! The built-in `copy_metrics` assimilation: file each workunit's `metrics.json` under
//! `results/<app>/<wu_name>/`, with no process per workunit.
//!
//! This is what the project's own assimilation script (`config/assimilate_metrics.sh`) does,
//! done in-process so a backlog of thousands of workunits is filed at disk speed. Both leave
//! byte-identical files (a test runs one against the other):
//!
//! - success: the canonical result's output file whose logical name is `metrics.json` is copied
//!   to `results/<app>/<wu_name>/metrics.json`, and its `weights.npy` (an optional output, there
//!   when the job exported its weights) to `results/<app>/<wu_name>/weights.npy` first — the
//!   file deleter removes the uploads once the workunit is assimilated, and `series export`
//!   reads the weights from here;
//! - no canonical result: `results/<app>/<wu_name>/error.txt` records why (see
//!   [`error_report`]).
//!
//! Each file is written to a temporary name in the same directory and renamed into place, so a
//! reader (or a crash) never sees half a file. The temporary name is fixed per file, so a
//! daemon killed mid-copy leaves nothing behind once the workunit is assimilated on restart.

use std::fs;
use std::io;
use std::path::{Path, PathBuf};

use rboinc_core::hier::{self, HierError, Hierarchy};
use rboinc_core::job_files::{OutputFileError, output_files};

use super::queue::ReadyWorkunit;

/// The logical name of the mnist app's metrics file.
pub const METRICS: &str = "metrics.json";
/// The logical name of the mnist app's exported weights (an optional output).
pub const WEIGHTS: &str = "weights.npy";
/// The file recording a workunit that failed.
pub const ERROR_FILE: &str = "error.txt";

/// Why a workunit could not be filed (it stays READY and is retried).
#[derive(Debug, thiserror::Error)]
pub enum CopyMetricsError {
    #[error(transparent)]
    OutputFiles(#[from] OutputFileError),
    #[error("the canonical result has no output file with logical name {METRICS}")]
    NoMetricsFile,
    #[error("refusing to file under this name: {0}")]
    BadName(#[from] HierError),
    #[error("{action} {path}: {source}")]
    Io {
        action: &'static str,
        path: PathBuf,
        #[source]
        source: io::Error,
    },
}

/// The built-in handler's settings.
#[derive(Debug, Clone)]
pub struct CopyMetrics {
    pub upload: Hierarchy,
    /// `<project>/results/<app>`.
    pub app_results_dir: PathBuf,
}

impl CopyMetrics {
    /// The handler for `app` in `project_root`. The app name becomes a directory name, so it
    /// must be a plain path component.
    pub fn new(project_root: &Path, app: &str, upload: Hierarchy) -> Result<Self, HierError> {
        hier::check_file_name(app.as_bytes())?;
        Ok(CopyMetrics {
            upload,
            app_results_dir: project_root.join("results").join(app),
        })
    }

    /// Files one workunit (blocking file I/O: call from `spawn_blocking`).
    pub fn assimilate(&self, wu: &ReadyWorkunit) -> Result<(), CopyMetricsError> {
        hier::check_file_name(wu.name.as_bytes())?;
        let dir = self.app_results_dir.join(&wu.name);
        match &wu.canonical {
            Some(canonical) => {
                let files = output_files(&canonical.xml_doc_in, &self.upload)?;
                let metrics = files
                    .iter()
                    .find(|f| f.open_name == METRICS)
                    .ok_or(CopyMetricsError::NoMetricsFile)?;
                let source = metrics.path.clone();
                // Read the source before creating anything, so a missing upload leaves no
                // empty result directory behind. (Metrics files are small; a plain read and
                // write is cheaper here than a kernel copy.)
                let bytes = fs::read(&source).map_err(|e| CopyMetricsError::Io {
                    action: "cannot read",
                    path: source.clone(),
                    source: e,
                })?;
                make_dir(&dir)?;
                if let Some(w) = files.iter().find(|f| f.open_name == WEIGHTS)
                    && w.path.is_file()
                {
                    publish(&dir, WEIGHTS, |tmp| fs::copy(&w.path, tmp).map(|_| ()))?;
                }
                publish(&dir, METRICS, |tmp| fs::write(tmp, &bytes))
            }
            None => {
                make_dir(&dir)?;
                let text = error_report(wu);
                publish(&dir, ERROR_FILE, |tmp| fs::write(tmp, text.as_bytes()))
            }
        }
    }
}

/// The content of `error.txt` for a workunit without a canonical result (the shipped script
/// writes the same bytes).
pub fn error_report(wu: &ReadyWorkunit) -> String {
    format!(
        "error_mask={}\nwu_name={}\nwu_id={}\nbatch={}\n",
        wu.error_mask.bits(),
        wu.name,
        wu.id,
        wu.batch
    )
}

fn make_dir(dir: &Path) -> Result<(), CopyMetricsError> {
    fs::create_dir_all(dir).map_err(|source| CopyMetricsError::Io {
        action: "cannot create directory",
        path: dir.to_path_buf(),
        source,
    })
}

/// Writes `dir/name` through `dir/.name.tmp` and a rename.
fn publish(
    dir: &Path,
    name: &str,
    write: impl FnOnce(&Path) -> io::Result<()>,
) -> Result<(), CopyMetricsError> {
    let tmp = dir.join(format!(".{name}.tmp"));
    let target = dir.join(name);
    write(&tmp).map_err(|source| CopyMetricsError::Io {
        action: "cannot write",
        path: tmp.clone(),
        source,
    })?;
    fs::rename(&tmp, &target).map_err(|source| CopyMetricsError::Io {
        action: "cannot rename into place",
        path: target,
        source,
    })
}

#[cfg(test)]
mod tests {
    use super::super::queue::CanonicalResult;
    use super::*;
    use rboinc_core::db::{BatchId, ResultId, WorkunitId};
    use rboinc_core::state::ErrorMask;

    fn setup() -> (tempfile::TempDir, CopyMetrics) {
        let dir = tempfile::tempdir().unwrap();
        let upload = Hierarchy::new(dir.path().join("upload"), 16);
        fs::create_dir(&upload.root).unwrap();
        let handler = CopyMetrics::new(dir.path(), "mnist", upload).unwrap();
        (dir, handler)
    }

    fn wu(name: &str, canonical: Option<&str>) -> ReadyWorkunit {
        ReadyWorkunit {
            id: WorkunitId(7),
            name: name.into(),
            batch: BatchId(3),
            error_mask: if canonical.is_some() {
                ErrorMask(0)
            } else {
                ErrorMask(2)
            },
            canonical_resultid: ResultId(if canonical.is_some() { 9 } else { 0 }),
            canonical: canonical.map(|doc| CanonicalResult {
                id: ResultId(9),
                xml_doc_in: doc.into(),
                elapsed_time: 1.0,
            }),
        }
    }

    const DOC: &str = "<result><file_ref><file_name>w_0_r1_0</file_name>\
        <open_name>metrics.json</open_name></file_ref></result>";

    #[test]
    fn copies_metrics_and_leaves_no_temporary_file() {
        let (dir, handler) = setup();
        let src = hier::create_dir_hier_path(&handler.upload.root, "w_0_r1_0", 16).unwrap();
        fs::write(&src, b"{\"val_acc\":0.9}").unwrap();
        handler.assimilate(&wu("w", Some(DOC))).unwrap();
        let out = dir.path().join("results/mnist/w");
        assert_eq!(
            fs::read(out.join("metrics.json")).unwrap(),
            b"{\"val_acc\":0.9}"
        );
        let names: Vec<_> = fs::read_dir(&out)
            .unwrap()
            .map(|e| e.unwrap().file_name())
            .collect();
        assert_eq!(names, ["metrics.json"]);
        // Again (a retry after a crash): same result.
        handler.assimilate(&wu("w", Some(DOC))).unwrap();
        assert_eq!(fs::read_dir(&out).unwrap().count(), 1);
    }

    #[test]
    fn exported_weights_are_filed_too() {
        let (dir, handler) = setup();
        let doc = "<result><file_ref><file_name>w_0_r1_0</file_name><open_name>metrics.json</open_name></file_ref>\
            <file_ref><file_name>w_0_r1_1</file_name><open_name>weights.npy</open_name></file_ref></result>";
        let m = hier::create_dir_hier_path(&handler.upload.root, "w_0_r1_0", 16).unwrap();
        fs::write(&m, b"{}").unwrap();
        // Not uploaded (the job did not export them): only the metrics.
        handler.assimilate(&wu("w", Some(doc))).unwrap();
        let out = dir.path().join("results/mnist/w");
        assert!(!out.join("weights.npy").exists());
        let w = hier::create_dir_hier_path(&handler.upload.root, "w_0_r1_1", 16).unwrap();
        fs::write(&w, b"\x93NUMPY weights").unwrap();
        handler.assimilate(&wu("w", Some(doc))).unwrap();
        assert_eq!(
            fs::read(out.join("weights.npy")).unwrap(),
            b"\x93NUMPY weights"
        );
        let mut names: Vec<_> = fs::read_dir(&out)
            .unwrap()
            .map(|e| e.unwrap().file_name())
            .collect();
        names.sort();
        assert_eq!(names, ["metrics.json", "weights.npy"]);
    }

    #[test]
    fn a_missing_upload_is_an_error_and_creates_nothing() {
        let (dir, handler) = setup();
        let e = handler.assimilate(&wu("w", Some(DOC))).unwrap_err();
        assert!(e.to_string().starts_with("cannot read "), "{e}");
        assert!(!dir.path().join("results/mnist/w").exists());
    }

    #[test]
    fn no_metrics_output() {
        let (_dir, handler) = setup();
        let doc = DOC.replace("metrics.json", "out");
        let e = handler.assimilate(&wu("w", Some(&doc))).unwrap_err();
        assert!(matches!(e, CopyMetricsError::NoMetricsFile));
    }

    #[test]
    fn errors_are_recorded() {
        let (dir, handler) = setup();
        handler.assimilate(&wu("bad", None)).unwrap();
        assert_eq!(
            fs::read_to_string(dir.path().join("results/mnist/bad/error.txt")).unwrap(),
            "error_mask=2\nwu_name=bad\nwu_id=7\nbatch=3\n"
        );
    }

    #[test]
    fn path_tricks_in_names_are_refused() {
        let (dir, handler) = setup();
        for name in ["..", "../x", "a/b", ""] {
            let e = handler.assimilate(&wu(name, None)).unwrap_err();
            assert!(matches!(e, CopyMetricsError::BadName(_)), "{name}: {e}");
        }
        assert!(!dir.path().join("results").exists());
        assert!(CopyMetrics::new(dir.path(), "../evil", handler.upload.clone()).is_err());
    }
}
