//! The file deleter: removes the input and output files the project no longer needs.
//!
//! The transitioner decides which files may go (it sets `file_delete_state = READY` on a
//! workunit or result); this daemon deletes them and records DONE, or ERROR when a file could
//! not be deleted. ERROR rows are tried again at start-up and then about once an hour (BOINC's
//! rhythm; `--dont_retry_errors` turns it off); a retry that fails again leaves the row ERROR.
//! Which files and how: [`files`]. The SQL, batched: [`queue`]. Flags: [`cli`].
//!
//! A daemon killed between deleting files and recording their state redoes the batch after a
//! restart; the files are then already gone (with their directory present), which counts as
//! done, so the end state is the same as without the kill.

pub mod cli;
pub mod files;
pub mod queue;

use std::sync::Arc;
use std::time::{Duration, Instant};

use rboinc_core::daemon::{InfraError, Shutdown};
use rboinc_core::db::{ResultId, WorkunitId};
use rboinc_core::state::{FileDeleteState, Outcome};
use sqlx::MySqlPool;
use tokio::task::JoinSet;

use files::{Deletion, Hierarchy};
use queue::Selection;

/// How often ERROR rows are retried (BOINC: one hour).
pub const ERROR_RETRY_INTERVAL: Duration = Duration::from_secs(3600);

/// What the deleter does and to which rows.
#[derive(Debug, Clone)]
pub struct FileDeleterOptions {
    pub upload: Hierarchy,
    pub download: Hierarchy,
    /// `<cache_md5_info>`: input files have `.md5` caches to delete too.
    pub cache_md5_info: bool,
    pub selection: Selection,
    /// Handle results (false with `--input_files_only`).
    pub outputs: bool,
    /// Handle workunits (false with `--output_files_only`).
    pub inputs: bool,
    /// `--preserve_result_files`: set states, keep the files.
    pub preserve_result_files: bool,
    /// `--preserve_wu_files`.
    pub preserve_wu_files: bool,
    /// False with `--dry_run`: delete files, change no state.
    pub update_db: bool,
    /// False with `--dont_retry_errors`.
    pub retry_errors: bool,
    pub results_per_query: u32,
    pub wus_per_query: u32,
    /// Blocking threads deleting files at once.
    pub threads: usize,
    pub error_retry_interval: Duration,
    /// `--one_pass`: a pass reads one query's batch of results and one of workunits only (as
    /// the C++ file deleter's one pass).
    pub single_batch: bool,
}

/// Rows whose state a pass changed (or, with `--dry_run`, would have changed).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct PassReport {
    pub results_done: u64,
    pub results_error: u64,
    pub workunits_done: u64,
    pub workunits_error: u64,
}

impl PassReport {
    pub fn changed(&self) -> u64 {
        self.results_done + self.results_error + self.workunits_done + self.workunits_error
    }

    fn add(&mut self, other: PassReport) {
        self.results_done += other.results_done;
        self.results_error += other.results_error;
        self.workunits_done += other.workunits_done;
        self.workunits_error += other.workunits_error;
    }
}

/// The file deleter's state between passes (when ERROR rows are next retried).
#[derive(Debug)]
pub struct FileDeleter {
    pool: MySqlPool,
    options: FileDeleterOptions,
    retry_errors_now: bool,
    next_error_retry: Instant,
}

impl FileDeleter {
    pub fn new(pool: MySqlPool, options: FileDeleterOptions) -> Self {
        FileDeleter {
            pool,
            retry_errors_now: options.retry_errors,
            next_error_retry: Instant::now(),
            options,
        }
    }

    /// One pass: every READY row, then (when due) every ERROR row. Returns what changed.
    pub async fn pass(&mut self, stop: &Shutdown) -> Result<PassReport, InfraError> {
        if self.options.retry_errors
            && !self.retry_errors_now
            && Instant::now() >= self.next_error_retry
        {
            tracing::debug!("starting to retry rows in state ERROR");
            self.retry_errors_now = true;
        }
        let mut report = self.sweep(FileDeleteState::Ready, stop).await?;
        if self.retry_errors_now && !stop.should_stop() {
            let retried = self.sweep(FileDeleteState::Error, stop).await?;
            if retried.changed() > 0 {
                report.add(retried);
            } else {
                tracing::debug!("no ERROR row could be fixed; retrying again in an hour");
                self.retry_errors_now = false;
                self.next_error_retry = Instant::now() + self.options.error_retry_interval;
            }
        }
        Ok(report)
    }

    /// Every row in `state`, batch by batch: results and workunits side by side (different
    /// tables and files), so one's database round trips overlap the other's file work.
    async fn sweep(
        &self,
        state: FileDeleteState,
        stop: &Shutdown,
    ) -> Result<PassReport, InfraError> {
        let (outputs, inputs) = tokio::try_join!(
            self.sweep_results(state, stop),
            self.sweep_workunits(state, stop)
        )?;
        let mut report = outputs;
        report.add(inputs);
        Ok(report)
    }

    async fn sweep_results(
        &self,
        state: FileDeleteState,
        stop: &Shutdown,
    ) -> Result<PassReport, InfraError> {
        let mut report = PassReport::default();
        let mut after = ResultId(0);
        while self.options.outputs && !stop.should_stop() {
            let limit = self.options.results_per_query.max(1);
            let batch = queue::results(&self.pool, state, &self.options.selection, after, limit)
                .await
                .map_err(|e| InfraError::new("reading results whose files to delete", e))?;
            let Some(last) = batch.last() else { break };
            after = last.id;
            let full = batch.len() >= limit as usize;
            let (done, errors) = self.delete_outputs(batch).await?;
            self.record_results(state, &done, &errors).await?;
            report.results_done += done.len() as u64;
            if state != FileDeleteState::Error {
                report.results_error += errors.len() as u64;
            }
            if !full || self.options.single_batch {
                break;
            }
        }
        Ok(report)
    }

    async fn sweep_workunits(
        &self,
        state: FileDeleteState,
        stop: &Shutdown,
    ) -> Result<PassReport, InfraError> {
        let mut report = PassReport::default();
        let mut after = WorkunitId(0);
        while self.options.inputs && !stop.should_stop() {
            let limit = self.options.wus_per_query.max(1);
            let batch = queue::workunits(&self.pool, state, &self.options.selection, after, limit)
                .await
                .map_err(|e| InfraError::new("reading workunits whose files to delete", e))?;
            let Some(last) = batch.last() else { break };
            after = last.id;
            let full = batch.len() >= limit as usize;
            let (done, errors) = self.delete_inputs(batch).await?;
            self.record_workunits(state, &done, &errors).await?;
            report.workunits_done += done.len() as u64;
            if state != FileDeleteState::Error {
                report.workunits_error += errors.len() as u64;
            }
            if !full || self.options.single_batch {
                break;
            }
        }
        Ok(report)
    }

    /// Writes the new states of results read in `state`: DONE for `done`, ERROR for `errors`
    /// (which already are ERROR when retried).
    async fn record_results(
        &self,
        state: FileDeleteState,
        done: &[ResultId],
        errors: &[ResultId],
    ) -> Result<(), InfraError> {
        if !self.options.update_db {
            return Ok(());
        }
        queue::set_results_state(&self.pool, done, FileDeleteState::Done)
            .await
            .map_err(|e| InfraError::new("recording deleted output files", e))?;
        if state != FileDeleteState::Error {
            queue::set_results_state(&self.pool, errors, FileDeleteState::Error)
                .await
                .map_err(|e| InfraError::new("recording failed deletions", e))?;
        }
        Ok(())
    }

    /// [`Self::record_results`] for workunits.
    async fn record_workunits(
        &self,
        state: FileDeleteState,
        done: &[WorkunitId],
        errors: &[WorkunitId],
    ) -> Result<(), InfraError> {
        if !self.options.update_db {
            return Ok(());
        }
        queue::set_workunits_state(&self.pool, done, FileDeleteState::Done)
            .await
            .map_err(|e| InfraError::new("recording deleted input files", e))?;
        if state != FileDeleteState::Error {
            queue::set_workunits_state(&self.pool, errors, FileDeleteState::Error)
                .await
                .map_err(|e| InfraError::new("recording failed deletions", e))?;
        }
        Ok(())
    }

    /// Deletes the output files of a batch of results (file system work off the async
    /// threads). Returns the ids that succeeded and those that failed.
    async fn delete_outputs(
        &self,
        batch: Vec<queue::ResultFiles>,
    ) -> Result<(Vec<ResultId>, Vec<ResultId>), InfraError> {
        let upload = self.options.upload.clone();
        let preserve = self.options.preserve_result_files;
        in_parallel(batch, self.options.threads, move |r| {
            let span = tracing::debug_span!("delete_outputs", result_id = %r.id);
            let _enter = span.enter();
            if preserve {
                return (r.id, true);
            }
            let deletion = files::delete_output_files(&r.xml_doc_in, &upload);
            if !deletion.missing.is_empty() && r.outcome == Outcome::Success as i32 {
                tracing::warn!(
                    result_id = %r.id,
                    wu_id = %r.workunitid,
                    app = %r.app,
                    result = %r.name,
                    missing = deletion.missing.len(),
                    "a successful result had no file to delete"
                );
            }
            if deletion.ok() {
                tracing::info!(
                    result_id = %r.id,
                    wu_id = %r.workunitid,
                    app = %r.app,
                    deleted = deletion.deleted.len(),
                    not_uploaded = deletion.never_uploaded.len(),
                    "output files deleted"
                );
            } else {
                log_failure(&deletion, Some(r.id), r.workunitid, &r.app);
            }
            (r.id, deletion.ok())
        })
        .await
    }

    async fn delete_inputs(
        &self,
        batch: Vec<queue::WorkunitFiles>,
    ) -> Result<(Vec<WorkunitId>, Vec<WorkunitId>), InfraError> {
        let download = self.options.download.clone();
        let preserve = self.options.preserve_wu_files;
        let cache_md5 = self.options.cache_md5_info;
        in_parallel(batch, self.options.threads, move |wu| {
            let span = tracing::debug_span!("delete_inputs", wu_id = %wu.id);
            let _enter = span.enter();
            if preserve {
                return (wu.id, true);
            }
            let deletion = files::delete_input_files(&wu.name, &wu.xml_doc, &download, cache_md5);
            if deletion.ok() {
                tracing::info!(
                    wu_id = %wu.id,
                    app = %wu.app,
                    deleted = deletion.deleted.len(),
                    "input files deleted"
                );
            } else {
                log_failure(&deletion, None, wu.id, &wu.app);
            }
            (wu.id, deletion.ok())
        })
        .await
    }
}

/// The row's one line when a file could not be deleted (the causes were logged as they
/// happened).
fn log_failure(deletion: &Deletion, result_id: Option<ResultId>, wu_id: WorkunitId, app: &str) {
    tracing::error!(
        result_id = result_id.map(|r| r.get()),
        wu_id = %wu_id,
        app = %app,
        errors = deletion.errors.len(),
        "file deletion failed; the row is in state ERROR and will be retried"
    );
}

/// Applies `f` to each row on `threads` blocking threads (file system calls wait on the disk,
/// so several in flight keep it busy) and sorts the ids by success.
async fn in_parallel<T, Id, F>(
    rows: Vec<T>,
    threads: usize,
    f: F,
) -> Result<(Vec<Id>, Vec<Id>), InfraError>
where
    T: Send + 'static,
    Id: Ord + Send + 'static,
    F: Fn(T) -> (Id, bool) + Send + Sync + 'static,
{
    let f = Arc::new(f);
    let per_thread = rows.len().div_ceil(threads.max(1)).max(1);
    let span = tracing::Span::current();
    let mut running = JoinSet::new();
    let mut rows = rows.into_iter();
    loop {
        let chunk: Vec<T> = rows.by_ref().take(per_thread).collect();
        if chunk.is_empty() {
            break;
        }
        let (f, span) = (Arc::clone(&f), span.clone());
        running.spawn_blocking(move || {
            span.in_scope(|| {
                let mut ok = Vec::with_capacity(chunk.len());
                let mut failed = Vec::new();
                for row in chunk {
                    match f(row) {
                        (id, true) => ok.push(id),
                        (id, false) => failed.push(id),
                    }
                }
                (ok, failed)
            })
        });
    }
    let (mut ok, mut failed) = (Vec::new(), Vec::new());
    while let Some(joined) = running.join_next().await {
        let (o, e) = joined.map_err(|e| InfraError::new("deleting files", e))?;
        ok.extend(o);
        failed.extend(e);
    }
    ok.sort_unstable();
    failed.sort_unstable();
    Ok((ok, failed))
}
