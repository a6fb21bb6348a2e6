//! Assimilators: hand each finished workunit of an app to the project's own code, then mark it
//! DONE so the transitioner can clean up its files.
//!
//! The generic part is BOINC's (`sched/assimilator.cpp`, see the spec's assimilator.md):
//! workunits of `--app` with `assimilate_state = READY`; one without a canonical result and
//! without an error gets `error_mask = NO_CANONICAL_RESULT` first; the handler runs; on success
//! `assimilate_state = DONE` and `transition_time = now`. What differs, on purpose:
//!
//! - a handler failure is logged (with the script's exit status and stderr) and the workunit
//!   stays READY, to be retried after `--retry_interval`; the daemon goes on with the other
//!   workunits instead of exiting;
//! - handlers run concurrently (`--concurrency`), and a batch of workunits costs one SELECT and
//!   one UPDATE instead of several statements per workunit.
//!
//! Map: [`queue`] (SQL), [`handler`] (dummy, script, built-in, plug-in), [`script`] (the
//! `--script` words), [`copy_metrics`] (the built-in; output files come from
//! `rboinc_core::job_files`), [`plugin`] (a project's own handler in Rust), [`cli`] (the
//! binaries' flags and start-up).

pub mod cli;
pub mod copy_metrics;
pub mod handler;
pub mod plugin;
pub mod queue;
pub mod script;

use std::collections::HashMap;
use std::sync::Arc;
use std::time::{Duration, Instant};

use rboinc_core::daemon::{InfraError, ModSlice, Shutdown};
use rboinc_core::db::result::{self, ResultRow};
use rboinc_core::db::{AppId, WorkunitId};
use rboinc_core::state::ErrorMask;
use sqlx::MySqlPool;
use tokio::task::JoinSet;
use tracing::Instrument;

pub use handler::{Handler, HandlerError, InProcess, ScriptRunner};
pub use queue::ReadyWorkunit;

/// BOINC's assimilator reads 1000 workunits per query.
pub const DEFAULT_BATCH_SIZE: u32 = 1000;

/// Tunables of the pass.
#[derive(Debug, Clone, PartialEq)]
pub struct AssimilatorOptions {
    /// Workunits per query.
    pub batch_size: u32,
    /// `--one_pass_N_WU N`: one query of at most N workunits.
    pub one_pass_n_wu: Option<u32>,
    /// `--dont_update_db`: run the handler, change nothing in the database.
    pub dont_update_db: bool,
    /// Handlers running at once.
    pub concurrency: usize,
    /// `--one_pass`: a pass handles one query's batch only (as the C++ assimilator's one pass).
    pub single_batch: bool,
    /// How long a workunit whose handler failed is left alone.
    pub retry_interval: Duration,
}

impl Default for AssimilatorOptions {
    fn default() -> Self {
        AssimilatorOptions {
            batch_size: DEFAULT_BATCH_SIZE,
            one_pass_n_wu: None,
            dont_update_db: false,
            concurrency: 8,
            single_batch: false,
            retry_interval: Duration::from_secs(60),
        }
    }
}

/// What a pass did.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct PassReport {
    /// Workunits marked DONE (or, with `--dont_update_db`, handled successfully).
    pub assimilated: u64,
    /// Workunits whose handler failed (left READY).
    pub failed: u64,
    /// READY workunits skipped because they failed recently.
    pub waiting: u64,
}

/// The assimilator of one app.
#[derive(Debug)]
pub struct Assimilator {
    pool: MySqlPool,
    appid: AppId,
    app_name: String,
    handler: Handler,
    options: AssimilatorOptions,
    /// Workunits whose handler failed, and when they may be tried again.
    retry_after: HashMap<WorkunitId, Instant>,
}

impl Assimilator {
    pub fn new(
        pool: MySqlPool,
        appid: AppId,
        app_name: impl Into<String>,
        handler: Handler,
        options: AssimilatorOptions,
    ) -> Self {
        Assimilator {
            pool,
            appid,
            app_name: app_name.into(),
            handler,
            options,
            retry_after: HashMap::new(),
        }
    }

    /// One pass over the READY workunits of this daemon's `--mod` slice. Stops early (after the
    /// workunits in flight) when `stop` says so. A database error ends the pass; workunits
    /// whose handler already succeeded in the current batch are then handled again next time,
    /// which is why handlers must be idempotent (the script and the built-in are).
    pub async fn pass(
        &mut self,
        modulo: ModSlice,
        stop: &Shutdown,
    ) -> Result<PassReport, InfraError> {
        let limit = self
            .options
            .one_pass_n_wu
            .unwrap_or(self.options.batch_size)
            .max(1);
        let mut report = PassReport::default();
        let mut after = WorkunitId(0);
        loop {
            if stop.should_stop() {
                break;
            }
            let batch = queue::ready_batch(&self.pool, self.appid, modulo, after, limit)
                .await
                .map_err(|e| InfraError::new("reading ready workunits", e))?;
            let Some(last) = batch.last() else { break };
            after = last.id;
            let full = batch.len() >= limit as usize;
            let now = Instant::now();
            self.retry_after.retain(|_, t| *t > now);
            let (mut due, waiting): (Vec<_>, Vec<_>) = batch
                .into_iter()
                .partition(|wu| !self.retry_after.contains_key(&wu.id));
            report.waiting += waiting.len() as u64;

            self.record_missing_canonical(&mut due).await?;
            let results = self.results_of(&due).await?;
            let (done, failed) = self.handle_all(due, results, stop).await;
            report.failed += failed.len() as u64;
            for id in failed {
                self.retry_after
                    .insert(id, now + self.options.retry_interval);
            }
            if !self.options.dont_update_db {
                queue::mark_done(&self.pool, &done, rboinc_core::clock::now_i32())
                    .await
                    .map_err(|e| InfraError::new("marking workunits assimilated", e))?;
            }
            report.assimilated += done.len() as u64;
            if !done.is_empty() {
                tracing::debug!(app = %self.app_name, count = done.len(), "assimilated workunits");
            }
            if self.options.one_pass_n_wu.is_some() || self.options.single_batch || !full {
                break;
            }
        }
        Ok(report)
    }

    /// BOINC's rule: a READY workunit with no canonical result row and no error gets
    /// `error_mask = NO_CANONICAL_RESULT`, written before its handler runs.
    async fn record_missing_canonical(&self, due: &mut [ReadyWorkunit]) -> Result<(), InfraError> {
        let mut ids = Vec::new();
        for wu in due.iter_mut() {
            if wu.canonical.is_none() && wu.error_mask.is_empty() {
                tracing::error!(
                    wu_id = %wu.id,
                    app = %self.app_name,
                    canonical_resultid = %wu.canonical_resultid,
                    wu_name = %wu.name,
                    "no canonical result; setting error_mask NO_CANONICAL_RESULT"
                );
                wu.error_mask = ErrorMask::NO_CANONICAL_RESULT;
                ids.push(wu.id);
            }
        }
        if !self.options.dont_update_db {
            queue::set_no_canonical(&self.pool, &ids)
                .await
                .map_err(|e| InfraError::new("recording workunits without canonical result", e))?;
        }
        Ok(())
    }

    /// All results of `due`'s workunits, for a handler that wants them (one query).
    async fn results_of(
        &self,
        due: &[ReadyWorkunit],
    ) -> Result<HashMap<WorkunitId, Vec<ResultRow>>, InfraError> {
        let mut by_wu: HashMap<WorkunitId, Vec<ResultRow>> = HashMap::new();
        if !matches!(&self.handler, Handler::InProcess(h) if h.wants_results()) || due.is_empty() {
            return Ok(by_wu);
        }
        let mut conn = self
            .pool
            .acquire()
            .await
            .map_err(|e| InfraError::new("connecting to the database", e))?;
        let rows = result::for_workunits(&mut conn, due.iter().map(|w| w.id))
            .await
            .map_err(|e| InfraError::new("reading the workunits' results", e))?;
        for r in rows {
            by_wu.entry(r.workunitid).or_default().push(r);
        }
        Ok(by_wu)
    }

    /// Runs the handler on each workunit and sorts the ids into done and failed. After a stop
    /// request no new workunit is started; those in hand finish.
    async fn handle_all(
        &self,
        due: Vec<ReadyWorkunit>,
        results: HashMap<WorkunitId, Vec<ResultRow>>,
        stop: &Shutdown,
    ) -> (Vec<WorkunitId>, Vec<WorkunitId>) {
        let (mut done, mut failed) = match &self.handler {
            Handler::Script(runner) => self.run_scripts(runner, due, stop).await,
            Handler::InProcess(handler) => self.run_in_process(handler, due, results, stop).await,
        };
        // Keep the database's order (tasks finish in any order).
        done.sort_unstable();
        failed.sort_unstable();
        (done, failed)
    }

    fn span(&self, wu: &ReadyWorkunit) -> tracing::Span {
        tracing::info_span!(
            "assimilate",
            wu_id = %wu.id,
            result_id = %wu.canonical_resultid,
            app = %self.app_name,
        )
    }

    /// One process per workunit, at most `concurrency` at once.
    async fn run_scripts(
        &self,
        runner: &Arc<ScriptRunner>,
        due: Vec<ReadyWorkunit>,
        stop: &Shutdown,
    ) -> (Vec<WorkunitId>, Vec<WorkunitId>) {
        let (mut done, mut failed) = (Vec::with_capacity(due.len()), Vec::new());
        let mut running = JoinSet::new();
        let mut queue = due.into_iter();
        let mut stopping = false;
        loop {
            while !stopping && running.len() < self.options.concurrency.max(1) {
                let Some(wu) = queue.next() else { break };
                if stop.should_stop() {
                    stopping = true;
                    break;
                }
                let span = self.span(&wu);
                let runner = Arc::clone(runner);
                running.spawn(
                    async move {
                        let outcome = runner.run(&wu).await;
                        (wu.id, log_outcome(outcome))
                    }
                    .instrument(span),
                );
            }
            match running.join_next().await {
                Some(Ok((id, true))) => done.push(id),
                Some(Ok((id, false))) => failed.push(id),
                Some(Err(e)) => tracing::error!(error = %e, "an assimilation task panicked"),
                None => break,
            }
        }
        (done, failed)
    }

    /// The batch split into `concurrency` shares, each handled in turn on a blocking thread
    /// (one thread hand-off per share, not per workunit).
    async fn run_in_process(
        &self,
        handler: &InProcess,
        due: Vec<ReadyWorkunit>,
        mut results: HashMap<WorkunitId, Vec<ResultRow>>,
        stop: &Shutdown,
    ) -> (Vec<WorkunitId>, Vec<WorkunitId>) {
        let per_share = due.len().div_ceil(self.options.concurrency.max(1)).max(1);
        let mut running = JoinSet::new();
        let mut due = due.into_iter();
        loop {
            let share: Vec<(ReadyWorkunit, Vec<ResultRow>, tracing::Span)> = due
                .by_ref()
                .take(per_share)
                .map(|wu| {
                    let span = self.span(&wu);
                    let rows = results.remove(&wu.id).unwrap_or_default();
                    (wu, rows, span)
                })
                .collect();
            if share.is_empty() {
                break;
            }
            let (handler, stop) = (handler.clone(), stop.clone());
            running.spawn_blocking(move || {
                let (mut done, mut failed) = (Vec::with_capacity(share.len()), Vec::new());
                for (wu, rows, span) in share {
                    if stop.should_stop() {
                        break;
                    }
                    let ok = span.in_scope(|| log_outcome(handler.assimilate(&wu, &rows)));
                    if ok {
                        done.push(wu.id)
                    } else {
                        failed.push(wu.id)
                    }
                }
                (done, failed)
            });
        }
        let (mut done, mut failed) = (Vec::new(), Vec::new());
        while let Some(joined) = running.join_next().await {
            match joined {
                Ok((d, f)) => {
                    done.extend(d);
                    failed.extend(f);
                }
                Err(e) => tracing::error!(error = %e, "an assimilation task panicked"),
            }
        }
        (done, failed)
    }
}

/// Logs a handler's outcome (in the workunit's span); true if it succeeded.
fn log_outcome(outcome: Result<(), HandlerError>) -> bool {
    match outcome {
        Ok(()) => {
            // The workunit's one INFO line; its span carries wu_id, result_id and app.
            tracing::info!("workunit assimilated");
            true
        }
        Err(e) => {
            tracing::error!(
                error = %e,
                "assimilation failed; the workunit stays READY for a retry"
            );
            false
        }
    }
}
