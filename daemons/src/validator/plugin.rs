//! The comparison plug-in: how a project tells the validator when two results agree.
//!
//! BOINC projects rarely use the sample validators; they link their own three functions into
//! the generic validator (`validate_util2`: `init_result`, `compare_results`,
//! `cleanup_result`). [`Plugin`] is the same contract in Rust:
//!
//! 1. [`Plugin::init_result`] reads one result's outputs once (and may reject the result, ask
//!    for a retry, or mark it suspicious or a runtime outlier);
//! 2. [`Plugin::compare_results`] compares two results from what `init_result` read;
//! 3. [`Plugin::cleanup_result`] releases what was read (by default it is dropped).
//!
//! The quorum logic (`quorum`), credit and database writes are the daemon's; a plug-in only
//! answers these questions. The built-in modes (`bitwise`, `metrics`, `tolerance`, `trivial`,
//! and the scripts of `script_validator`) are implementations of this trait, and a project's
//! own comparison is a type implementing it, handed to [`super::run_with`] from a ten-line
//! `main.rs` (see `docs/VALIDATOR.md`).
//!
//! `init_result` runs on several threads at once (one job per thread at a time), off the async
//! runtime, so it may block on file I/O or a child process. Everything a job needs is read and
//! compared before the batch's database transaction starts: a slow comparison never holds a
//! lock.

use std::any::Any;
use std::fmt;
use std::fs::File;
use std::io;
use std::sync::Arc;

use rboinc_core::db::result::ResultRow;
use rboinc_core::hier::Hierarchy;
use rboinc_core::job_files::{OutputFile, output_files};

/// What [`Plugin::init_result`] is given: the result and where its files are.
#[derive(Debug, Clone, Copy)]
pub struct Outputs<'a> {
    pub result: &'a ResultRow,
    upload: &'a Hierarchy,
}

impl<'a> Outputs<'a> {
    pub fn new(result: &'a ResultRow, upload: &'a Hierarchy) -> Self {
        Outputs { result, upload }
    }

    /// The result's output files in template order (`<no_validate/>` ones included), with their
    /// upload paths (BOINC's `get_output_file_infos`). An unusable `xml_doc_in` is the result's
    /// fault: a permanent error.
    pub fn files(&self) -> Result<Vec<OutputFile>, InitError> {
        output_files(&self.result.xml_doc_in, self.upload)
            .map_err(|e| InitError::Permanent(format!("xml_doc_in: {e}")))
    }

    /// Opens an output file, classifying failures as BOINC's validator does: `Ok(None)` for a
    /// missing `<optional/>` file; a missing required file or a directory in its place is
    /// permanent (the volunteer's result is bad); a missing upload directory or a file that
    /// cannot be read now (permissions, I/O error) is transient (the storage is at fault).
    pub fn open(&self, file: &OutputFile) -> Result<Option<File>, InitError> {
        match File::open(&file.path) {
            Ok(f) => {
                let meta = f.metadata().map_err(|e| read_error(file, e))?;
                if meta.is_dir() {
                    return Err(InitError::Permanent(format!(
                        "output file {} is a directory",
                        file.path.display()
                    )));
                }
                Ok(Some(f))
            }
            Err(e) if e.kind() == io::ErrorKind::NotFound => {
                if !self.upload.root().is_dir() {
                    Err(InitError::Transient(format!(
                        "the upload directory {} is missing",
                        self.upload.root().display()
                    )))
                } else if file.optional {
                    Ok(None)
                } else {
                    Err(InitError::Permanent(format!(
                        "output file {} is missing",
                        file.path.display()
                    )))
                }
            }
            Err(e) => Err(read_error(file, e)),
        }
    }
}

/// An I/O error on an output file that exists.
pub fn read_error(file: &OutputFile, e: io::Error) -> InitError {
    match e.kind() {
        io::ErrorKind::IsADirectory => InitError::Permanent(format!(
            "output file {} is a directory",
            file.path.display()
        )),
        _ => InitError::Transient(format!("cannot read {}: {e}", file.path.display())),
    }
}

/// A result read by [`Plugin::init_result`], with BOINC's two marks.
#[derive(Debug, Clone, PartialEq)]
pub struct Init<D> {
    pub data: D,
    /// BOINC's `VAL_RESULT_SUSPICIOUS`: compared like any result, but a single suspicious
    /// result never makes a quorum on its own, and under adaptive replication the job's quorum
    /// is raised to the app's `target_nresults` (another replica is sent instead of trusting
    /// it).
    pub suspicious: bool,
    /// The result's run time says nothing about the job (it exited at once, say): its
    /// `runtime_outlier` is set and it is left out of the credit statistics.
    pub runtime_outlier: bool,
}

impl<D> Init<D> {
    /// A good result.
    pub fn new(data: D) -> Self {
        Init {
            data,
            suspicious: false,
            runtime_outlier: false,
        }
    }

    /// Marks the result suspicious.
    pub fn mark_suspicious(mut self) -> Self {
        self.suspicious = true;
        self
    }

    /// Marks the result a runtime outlier.
    pub fn mark_runtime_outlier(mut self) -> Self {
        self.runtime_outlier = true;
        self
    }

    fn map<E>(self, f: impl FnOnce(D) -> E) -> Init<E> {
        Init {
            data: f(self.data),
            suspicious: self.suspicious,
            runtime_outlier: self.runtime_outlier,
        }
    }
}

/// Why a result's outputs could not be read (BOINC's non-zero `init_result` returns).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum InitError {
    /// `VAL_RESULT_TRANSIENT_ERROR`: try again later (the job is looked at again within 6 h).
    #[error("transient: {0}")]
    Transient(String),
    /// Any other error: the result is bad (outcome VALIDATE_ERROR).
    #[error("{0}")]
    Permanent(String),
    /// `VAL_RESULT_LONG_TERM_FAIL`: the host keeps failing this app version (only asked about
    /// failed results, with `--check_punitive`).
    #[error("long-term failure")]
    LongTermFail,
}

/// Where two results differ, for the `results disagree` log line: the output file (its open
/// name, empty if not about one file), what differs there (a JSON field such as
/// `history[1].val_acc`, `byte 1234`, `compare script`) and the two sides (`right` empty when
/// there is one answer, not two values: a compare script's exit status and what it printed).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Difference {
    pub file: String,
    pub field: String,
    pub left: String,
    pub right: String,
}

impl fmt::Display for Difference {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if !self.file.is_empty() {
            write!(f, "{}: ", self.file)?;
        }
        if self.right.is_empty() {
            write!(f, "{}: {}", self.field, self.left)
        } else {
            write!(f, "{}: {} vs {}", self.field, self.left, self.right)
        }
    }
}

/// The answer of [`Plugin::compare_results`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Verdict {
    Match,
    Differ(Difference),
}

/// A comparison that could not be made (BOINC's non-zero `compare_results` returns).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum CompareError {
    /// `VAL_RESULT_TRANSIENT_ERROR`: nothing is concluded for the job; it is looked at again
    /// later.
    #[error("transient: {0}")]
    Transient(String),
    /// Any other error: as in BOINC, counted as "no match" when looking for a quorum, and a
    /// late result compared with the canonical one is INVALID.
    #[error("{0}")]
    Failed(String),
}

/// A validator's comparison (BOINC's `validate_util2` plug-in). See the module docs.
pub trait Plugin: Send + Sync + 'static {
    /// What `init_result` reads from a result, kept until the job is decided.
    type Data: Send + 'static;

    /// A short name for logs (`bitwise`, `my_project_compare`).
    fn name(&self) -> &str;

    /// Reads `outputs.result`'s outputs (blocking I/O is fine).
    fn init_result(&self, outputs: &Outputs<'_>) -> Result<Init<Self::Data>, InitError>;

    /// Compares result `a` with result `b`; the quorum logic compares both ways.
    fn compare_results(
        &self,
        a: &ResultRow,
        a_data: &Self::Data,
        b: &ResultRow,
        b_data: &Self::Data,
    ) -> Result<Verdict, CompareError>;

    /// Releases what `init_result` read (called once per read result, after the job is
    /// decided).
    fn cleanup_result(&self, result: &ResultRow, data: Self::Data) {
        let _ = (result, data);
    }
}

type AnyData = Box<dyn Any + Send>;

/// [`Plugin`] with its data type erased, so the daemon holds any plug-in behind one pointer.
trait ErasedPlugin: Send + Sync {
    fn name(&self) -> &str;
    fn init_result(&self, outputs: &Outputs<'_>) -> Result<Init<AnyData>, InitError>;
    fn compare_results(
        &self,
        a: &ResultRow,
        a_data: &AnyData,
        b: &ResultRow,
        b_data: &AnyData,
    ) -> Result<Verdict, CompareError>;
    fn cleanup_result(&self, result: &ResultRow, data: AnyData);
}

const OWN_DATA: &str = "a plug-in only sees the data its own init_result made";

impl<P: Plugin> ErasedPlugin for P {
    fn name(&self) -> &str {
        Plugin::name(self)
    }

    fn init_result(&self, outputs: &Outputs<'_>) -> Result<Init<AnyData>, InitError> {
        Plugin::init_result(self, outputs).map(|i| i.map(|d| Box::new(d) as AnyData))
    }

    fn compare_results(
        &self,
        a: &ResultRow,
        a_data: &AnyData,
        b: &ResultRow,
        b_data: &AnyData,
    ) -> Result<Verdict, CompareError> {
        let a_data = a_data.downcast_ref::<P::Data>().expect(OWN_DATA);
        let b_data = b_data.downcast_ref::<P::Data>().expect(OWN_DATA);
        Plugin::compare_results(self, a, a_data, b, b_data)
    }

    fn cleanup_result(&self, result: &ResultRow, data: AnyData) {
        let data = data.downcast::<P::Data>().expect(OWN_DATA);
        Plugin::cleanup_result(self, result, *data);
    }
}

/// A plug-in as the validator holds it (cheap to clone, shared by the reading threads).
#[derive(Clone)]
pub struct PluginHandle(Arc<dyn ErasedPlugin>);

/// What a read result holds, for the quorum logic.
pub type ReadResult = Init<AnyData>;

impl PluginHandle {
    pub fn new<P: Plugin>(plugin: P) -> Self {
        PluginHandle(Arc::new(plugin))
    }

    pub fn name(&self) -> &str {
        self.0.name()
    }

    pub fn init_result(&self, outputs: &Outputs<'_>) -> Result<ReadResult, InitError> {
        self.0.init_result(outputs)
    }

    pub fn compare_results(
        &self,
        a: (&ResultRow, &ReadResult),
        b: (&ResultRow, &ReadResult),
    ) -> Result<Verdict, CompareError> {
        self.0.compare_results(a.0, &a.1.data, b.0, &b.1.data)
    }

    pub fn cleanup_result(&self, result: &ResultRow, read: ReadResult) {
        self.0.cleanup_result(result, read.data);
    }
}

impl fmt::Debug for PluginHandle {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_tuple("PluginHandle").field(&self.name()).finish()
    }
}
