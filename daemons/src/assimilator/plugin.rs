//! The assimilator plug-in: a project's own code for finished workunits, in Rust.
//!
//! BOINC projects link an `assimilate_handler(wu, results, canonical_result)` into the generic
//! assimilator; [`AssimilatorPlugin`] is the same contract, next to `script_assimilator`'s
//! scripts and the built-in `copy_metrics`. The daemon (batches, `--mod`, retries, the
//! database) is shared; a project's `main.rs` calls [`run_with`] (or [`run_with_args`] for a
//! plug-in with flags).
//!
//! Every READY workunit reaches the plug-in, failed ones included: as in BOINC, a workunit
//! that ended without a canonical result comes with its `error_mask` set (too many errors,
//! too many results, no canonical result…) and all its results, so the project learns which
//! workunits failed and why. The plug-in runs on blocking threads, several workunits at once
//! (`--concurrency`); an error leaves the workunit READY for a retry (`--retry_interval`) and
//! the daemon goes on.

use std::fmt;
use std::process::ExitCode;
use std::sync::Arc;

use rboinc_core::db::result::ResultRow;
use rboinc_core::hier::Hierarchy;
use rboinc_core::job_files::{OutputFile, OutputFileError, output_files};

use super::queue::ReadyWorkunit;

/// A finished workunit as the plug-in sees it.
#[derive(Debug, Clone, Copy)]
pub struct FinishedWorkunit<'a> {
    /// The workunit (`error_mask` says why it failed, if it did).
    pub wu: &'a ReadyWorkunit,
    /// All its results, by id.
    pub results: &'a [ResultRow],
    pub(super) upload: &'a Hierarchy,
}

impl FinishedWorkunit<'_> {
    /// The canonical result, if the workunit has one.
    pub fn canonical(&self) -> Option<&ResultRow> {
        let id = self.wu.canonical.as_ref()?.id;
        self.results.iter().find(|r| r.id == id)
    }

    /// The canonical result's output files with their upload paths (empty without one).
    pub fn canonical_outputs(&self) -> Result<Vec<OutputFile>, OutputFileError> {
        match &self.wu.canonical {
            Some(c) => output_files(&c.xml_doc_in, self.upload),
            None => Ok(Vec::new()),
        }
    }
}

/// A project's assimilator (BOINC's `assimilate_handler`).
pub trait AssimilatorPlugin: Send + Sync + 'static {
    /// A short name for logs.
    fn name(&self) -> &str;

    /// Handles one finished workunit (blocking I/O is fine). Must be idempotent: a workunit
    /// handled just before a crash is handed over again.
    fn assimilate(&self, job: &FinishedWorkunit<'_>) -> anyhow::Result<()>;
}

/// A plug-in as the daemon holds it.
#[derive(Clone)]
pub struct AssimilatorPluginHandle(Arc<dyn AssimilatorPlugin>);

impl AssimilatorPluginHandle {
    pub fn new<P: AssimilatorPlugin>(plugin: P) -> Self {
        AssimilatorPluginHandle(Arc::new(plugin))
    }

    pub fn name(&self) -> &str {
        self.0.name()
    }

    pub fn assimilate(&self, job: &FinishedWorkunit<'_>) -> anyhow::Result<()> {
        self.0.assimilate(job)
    }
}

impl fmt::Debug for AssimilatorPluginHandle {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_tuple("AssimilatorPluginHandle")
            .field(&self.name())
            .finish()
    }
}

/// Runs an assimilator daemon named `name` handing each finished workunit to `plugin`: the
/// whole `main` of a project's own assimilator.
pub fn run_with<P: AssimilatorPlugin>(name: &'static str, plugin: P) -> ExitCode {
    run_with_args(name, move |args| {
        args.warn_unused(&args.args);
        Ok(plugin)
    })
}

/// Like [`run_with`], for a plug-in built from the arguments the assimilator does not know.
pub fn run_with_args<P: AssimilatorPlugin>(
    name: &'static str,
    make: impl FnOnce(&crate::validator::PluginArgs) -> anyhow::Result<P>,
) -> ExitCode {
    super::cli::plugin_main(name, |args| Ok(AssimilatorPluginHandle::new(make(args)?)))
}
