//! What an assimilator does with one ready workunit: nothing (the dummy), run a script, or
//! file its metrics in-process.
//!
//! Scripts are processes, run several at once; the in-process handlers do file I/O and run on
//! blocking threads, a share of the batch each. A handler either succeeds (the workunit becomes
//! DONE) or fails. A failure leaves the workunit READY for a later retry and is logged; BOINC's
//! C++ assimilator instead exits the whole daemon on a handler error and relies on a restart,
//! which stops all assimilation of the app until someone notices.

use std::ffi::OsString;
use std::fmt;
use std::path::PathBuf;
use std::process::{ExitStatus, Stdio};
use std::sync::Arc;

use rboinc_core::hier::Hierarchy;
use rboinc_core::job_files::{OutputFileError, output_files};

use rboinc_core::db::result::ResultRow;

use super::copy_metrics::{CopyMetrics, CopyMetricsError};
use super::plugin::{AssimilatorPluginHandle, FinishedWorkunit};
use super::queue::ReadyWorkunit;
use super::script::{ScriptSpec, error_args};

/// Captured script output longer than this is cut in the log.
const MAX_LOGGED_OUTPUT: usize = 4096;

/// Runs the `--script` program for each workunit.
#[derive(Debug, Clone)]
pub struct ScriptRunner {
    pub spec: ScriptSpec,
    pub program: PathBuf,
    pub upload: Hierarchy,
    /// Extra environment for the program (`BOINC_PROJECT_DIR`, `BOINC_APP`).
    pub env: Vec<(String, OsString)>,
}

/// The handler of an assimilator daemon.
#[derive(Debug, Clone)]
pub enum Handler {
    /// `script_assimilator --script …`: a process per workunit, several at once.
    Script(Arc<ScriptRunner>),
    /// Work done inside the daemon.
    InProcess(InProcess),
}

/// Handlers that work inside the daemon (on blocking threads: they do file I/O).
#[derive(Debug, Clone)]
pub enum InProcess {
    /// `sample_dummy_assimilator`: accepts every workunit.
    Dummy,
    /// `script_assimilator --builtin copy_metrics`.
    CopyMetrics(Arc<CopyMetrics>),
    /// A project's own plug-in (`assimilator::plugin`), given all results of each workunit.
    Plugin {
        plugin: AssimilatorPluginHandle,
        upload: Hierarchy,
    },
}

impl InProcess {
    /// Handles one workunit on the calling (blocking) thread; `results` are all its results
    /// (read only for a plug-in, see [`InProcess::wants_results`]).
    pub fn assimilate(
        &self,
        wu: &ReadyWorkunit,
        results: &[ResultRow],
    ) -> Result<(), HandlerError> {
        match self {
            InProcess::Dummy => Ok(()),
            InProcess::CopyMetrics(copy) => Ok(copy.assimilate(wu)?),
            InProcess::Plugin { plugin, upload } => plugin
                .assimilate(&FinishedWorkunit {
                    wu,
                    results,
                    upload,
                })
                .map_err(HandlerError::Plugin),
        }
    }

    /// Whether the handler is given each workunit's results (one more query per batch).
    pub fn wants_results(&self) -> bool {
        matches!(self, InProcess::Plugin { .. })
    }
}

/// Why a handler failed on a workunit.
#[derive(Debug, thiserror::Error)]
pub enum HandlerError {
    #[error("cannot list the canonical result's output files: {0}")]
    OutputFiles(#[from] OutputFileError),
    #[error("cannot start {program}: {source}")]
    Spawn {
        program: PathBuf,
        #[source]
        source: std::io::Error,
    },
    #[error("{program} {status}; stderr: {stderr}")]
    ScriptFailed {
        program: PathBuf,
        status: ScriptStatus,
        stderr: String,
    },
    #[error(transparent)]
    CopyMetrics(#[from] CopyMetricsError),
    #[error("{0:#}")]
    Plugin(anyhow::Error),
}

/// How a script ended, in words.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ScriptStatus(pub ExitStatus);

impl fmt::Display for ScriptStatus {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        use std::os::unix::process::ExitStatusExt;
        match (self.0.code(), self.0.signal()) {
            (Some(code), _) => write!(f, "exited with status {code}"),
            (None, Some(signal)) => write!(f, "was killed by signal {signal}"),
            _ => write!(f, "ended abnormally ({:?})", self.0),
        }
    }
}

impl ScriptRunner {
    /// The argument vector for `wu`.
    pub fn args(&self, wu: &ReadyWorkunit) -> Result<Vec<OsString>, HandlerError> {
        match &wu.canonical {
            Some(canonical) => {
                let files = output_files(&canonical.xml_doc_in, &self.upload)?;
                Ok(self
                    .spec
                    .success_args(wu, canonical.id.get(), canonical.elapsed_time, &files))
            }
            // Also when canonical_resultid names a result that no longer exists: the generic
            // part has set error_mask NO_CANONICAL_RESULT, and the error form says so (BOINC
            // would call the success form with no files).
            None => Ok(error_args(wu)),
        }
    }

    /// Runs the program for `wu` and waits for it.
    pub async fn run(&self, wu: &ReadyWorkunit) -> Result<(), HandlerError> {
        let args = self.args(wu)?;
        tracing::debug!(program = %self.program.display(), ?args, "running the script");
        let output = tokio::process::Command::new(&self.program)
            .args(&args)
            .envs(self.env.iter().map(|(k, v)| (k, v)))
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .kill_on_drop(true)
            .output()
            .await
            .map_err(|source| HandlerError::Spawn {
                program: self.program.clone(),
                source,
            })?;
        let stdout = shorten(&output.stdout);
        if !stdout.is_empty() {
            tracing::info!(stdout = %stdout, "script output");
        }
        let stderr = shorten(&output.stderr);
        if output.status.success() {
            if !stderr.is_empty() {
                tracing::warn!(stderr = %stderr, "the script succeeded but wrote to stderr");
            }
            Ok(())
        } else {
            Err(HandlerError::ScriptFailed {
                program: self.program.clone(),
                status: ScriptStatus(output.status),
                stderr,
            })
        }
    }
}

fn shorten(bytes: &[u8]) -> String {
    let text = String::from_utf8_lossy(bytes);
    let text = text.trim_end();
    if text.len() <= MAX_LOGGED_OUTPUT {
        return text.to_string();
    }
    let mut cut = MAX_LOGGED_OUTPUT;
    while !text.is_char_boundary(cut) {
        cut -= 1;
    }
    format!("{}… ({} bytes in all)", &text[..cut], text.len())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn statuses_in_words() {
        use std::os::unix::process::ExitStatusExt;
        assert_eq!(
            ScriptStatus(ExitStatus::from_raw(3 << 8)).to_string(),
            "exited with status 3"
        );
        assert_eq!(
            ScriptStatus(ExitStatus::from_raw(9)).to_string(),
            "was killed by signal 9"
        );
    }

    #[test]
    fn long_output_is_cut() {
        assert_eq!(shorten(b"  oops \n"), "  oops");
        let long = "é".repeat(MAX_LOGGED_OUTPUT);
        let s = shorten(long.as_bytes());
        assert!(
            s.ends_with(&format!("({} bytes in all)", long.len())),
            "{s}"
        );
        assert!(s.len() < MAX_LOGGED_OUTPUT + 40);
    }
}
