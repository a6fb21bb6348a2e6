//! The transitioner: moves every job along its life, driven by `workunit.transition_time`.
//!
//! It is the only component that creates results, times them out, flags jobs for the
//! validator, fails jobs (error bits), hands failed and deferred jobs to the assimilator and
//! releases files for deletion. The rules are BOINC's, checked against the stock C++ daemon on
//! the oracle scenarios; the difference is how the work is done. BOINC handles one job at a time
//! with a statement per row; here a pass takes the due jobs in batches:
//!
//! 1. [`load`]: the due jobs of a batch and all their results (two queries);
//! 2. [`plan`]: the state machine, a pure function per job;
//! 3. [`create`]: names and `xml_doc_in` of new results (templates, upload signatures);
//! 4. [`apply`]: everything written in one transaction;
//! 5. [`log`]: one INFO line per job whose state changed.
//!
//! A concurrent change of a job's `transition_time` (a result was reported meanwhile) is never
//! overwritten: the new value is written only if the row still holds the value read, as BOINC
//! does; result changes are also conditional on the state read.

pub mod apply;
pub mod cli;
pub mod create;
pub mod load;
pub mod log;
pub mod plan;

use std::collections::HashMap;

use rboinc_core::clock;
use rboinc_core::config::Config;
use rboinc_core::crypt::{CryptError, PrivateKey};
use rboinc_core::daemon::{InfraError, ModSlice, PassOutcome, PassTally};
use rboinc_core::db::{AppId, WorkunitId, is_retryable};
use sqlx::{MySqlConnection, MySqlPool};
use tokio::task::{JoinError, JoinSet};
use tracing::Instrument;

use crate::app_names::{AppNames, name_of};
use crate::bulk::BulkError;
use apply::{Written, write_batch};
use create::ReplicaFactory;
use load::{Selection, WorkunitGroup, load_batch};
use plan::{Plan, Rules};

/// Jobs per batch by default (BOINC reads 1000 rows per query).
pub const DEFAULT_BATCH: usize = 1000;

/// Batches handled at once by default.
pub const DEFAULT_IN_FLIGHT: usize = 2;

fn flatten(done: Result<Result<Report, InfraError>, JoinError>) -> Result<Report, InfraError> {
    done.map_err(|e| InfraError::new("a batch task failed", e))?
}

/// How the transitioner was asked to run.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Options {
    /// Jobs per batch.
    pub batch: usize,
    /// `--mod N I`.
    pub slice: ModSlice,
    /// `--wu_id`: handle exactly this job, due or not.
    pub wu_id: Option<WorkunitId>,
    /// Batches handled at once.
    pub in_flight: usize,
    /// `--one_pass`: a pass handles one batch only (as the C++ transitioner's one query).
    pub single_batch: bool,
}

impl Default for Options {
    fn default() -> Self {
        Options {
            batch: DEFAULT_BATCH,
            slice: ModSlice::ALL,
            wu_id: None,
            in_flight: DEFAULT_IN_FLIGHT,
            single_batch: false,
        }
    }
}

/// The transitioner could not start.
#[derive(Debug, thiserror::Error)]
pub enum StartError {
    #[error(
        "cannot read the upload private key {path} (needed to sign upload certificates; \
         set <dont_generate_upload_certificates/> to create results without them)"
    )]
    UploadKey {
        path: std::path::PathBuf,
        #[source]
        source: CryptError,
    },
}

/// What a pass (or a batch) did.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct Report {
    /// Jobs handled.
    pub workunits: u64,
    /// Jobs skipped because their results could not be made (logged).
    pub failed: u64,
    pub written: Written,
}

impl Report {
    fn add(&mut self, other: Report) {
        self.workunits += other.workunits;
        self.failed += other.failed;
        let (a, b) = (&mut self.written, other.written);
        a.results_changed += b.results_changed;
        a.results_skipped += b.results_skipped;
        a.results_created += b.results_created;
        a.workunits += b.workunits;
        a.host_penalties += b.host_penalties;
    }
}

/// A configured transitioner.
#[derive(Debug, Clone)]
pub struct Transitioner {
    pool: MySqlPool,
    factory: ReplicaFactory,
    rules: Rules,
    daily_result_quota: i32,
    options: Options,
    app_names: AppNames,
}

impl Transitioner {
    /// Reads what the transitioner needs from `config` (and the upload private key, unless the
    /// project does not generate upload certificates).
    pub fn new(pool: MySqlPool, config: &Config, options: Options) -> Result<Self, StartError> {
        let sched = &config.sched;
        let signing_key = if sched.dont_generate_upload_certificates {
            None
        } else {
            let path = config.key_dir.join("upload_private");
            Some(
                PrivateKey::read_file(&path)
                    .map_err(|source| StartError::UploadKey { path, source })?,
            )
        };
        Ok(Transitioner {
            pool,
            factory: ReplicaFactory::new(
                config.project_dir.clone(),
                config.upload_url.clone(),
                signing_key,
            ),
            rules: Rules {
                delete_delay_secs: sched.delete_delay.as_secs_f64(),
                reliable_priority_on_over: sched.reliable_priority_on_over,
                reliable_priority_on_over_except_error: sched
                    .reliable_priority_on_over_except_error,
                hr_class_static: sched.hr_class_static,
            },
            daily_result_quota: i32::try_from(sched.daily_result_quota).unwrap_or(i32::MAX),
            options,
            app_names: AppNames::default(),
        })
    }

    /// One pass: every job due when the pass starts, batch by batch, checking `should_stop`
    /// between batches (only the first batch with [`Options::single_batch`]). Database failures end the pass (the batch being written is rolled back).
    ///
    /// Up to [`Options::in_flight`] batches are handled at once, each on its own connection:
    /// the database does most of the work (index updates of the result rows), and one writer
    /// keeps only one of its cores busy. Batches never share a job; the only rows two batches
    /// may share are `host_app_version` rows of timed-out results, which a batch locks before
    /// reading.
    pub async fn pass(&self, should_stop: impl Fn() -> bool) -> Result<Report, InfraError> {
        let mut conn = self
            .pool
            .acquire()
            .await
            .map_err(|e| InfraError::new("connecting to the database", e))?;
        let started = clock::now_i32();
        let mut report = Report::default();
        let mut cursor = None;
        let mut running: JoinSet<Result<Report, InfraError>> = JoinSet::new();
        let mut failure = None;
        loop {
            if should_stop() {
                break;
            }
            let selection = match self.options.wu_id {
                Some(id) => Selection::One(id),
                None => Selection::Due {
                    before: started,
                    after: cursor,
                    slice: self.options.slice,
                },
            };
            let loading = std::time::Instant::now();
            let groups = match load_batch(&mut conn, selection, self.options.batch).await {
                Ok(groups) => groups,
                Err(e) => {
                    failure = Some(InfraError::new("reading due workunits", e));
                    break;
                }
            };
            tracing::debug!(
                workunits = groups.len(),
                load_ms = loading.elapsed().as_secs_f64() * 1e3,
                "batch read"
            );
            let full = groups.len() >= self.options.batch;
            cursor = groups
                .last()
                .map(|g| (g.wu.transition_time, g.wu.id))
                .or(cursor);
            if groups.is_empty() {
                break;
            }
            while running.len() >= self.options.in_flight.max(1) {
                match running.join_next().await {
                    Some(done) => match flatten(done) {
                        Ok(r) => report.add(r),
                        Err(e) => failure = failure.or(Some(e)),
                    },
                    None => break,
                }
            }
            if failure.is_some() {
                break;
            }
            let me = self.clone();
            running.spawn(
                async move {
                    let mut conn = me
                        .pool
                        .acquire()
                        .await
                        .map_err(|e| InfraError::new("connecting to the database", e))?;
                    me.handle_batch(&mut conn, groups).await
                }
                .in_current_span(),
            );
            if !full || self.options.wu_id.is_some() || self.options.single_batch {
                break;
            }
        }
        // Let every batch already started finish (each is one transaction).
        while let Some(done) = running.join_next().await {
            match flatten(done) {
                Ok(r) => report.add(r),
                Err(e) => failure = failure.or(Some(e)),
            }
        }
        match failure {
            Some(e) => Err(e),
            None => Ok(report),
        }
    }

    /// Plans, builds and writes one batch of jobs.
    #[tracing::instrument(skip_all, fields(workunits = groups.len()))]
    pub async fn handle_batch(
        &self,
        conn: &mut MySqlConnection,
        groups: Vec<WorkunitGroup>,
    ) -> Result<Report, InfraError> {
        let now = clock::now_i32();
        let started = std::time::Instant::now();
        let mut plans: Vec<Plan> = Vec::with_capacity(groups.len());
        for g in &groups {
            let _span = tracing::info_span!("transition", wu_id = %g.wu.id).entered();
            let p = plan::plan(g, now, self.rules);
            let c = p.counts;
            tracing::debug!(
                wu_id = %g.wu.id,
                wu = %g.wu.name,
                total = c.total, unsent = c.unsent, in_progress = c.in_progress, over = c.over,
                success = c.success, errors = c.errors, no_reply = c.no_reply,
                "transitioning"
            );
            plans.push(p);
        }
        let jobs: Vec<_> = groups
            .iter()
            .zip(&plans)
            .filter_map(|(g, p)| p.new_replicas.map(|n| (g.wu.clone(), n)))
            .collect();
        let mut new_rows = Vec::new();
        let mut failed = Vec::new();
        if !jobs.is_empty() {
            let factory = self.factory.clone();
            let span = tracing::Span::current();
            let built = tokio::task::spawn_blocking(move || span.in_scope(|| factory.build(&jobs)))
                .await
                .map_err(|e| InfraError::new("building results", e))?;
            for (wu_id, rows) in built {
                match rows {
                    Ok(rows) => new_rows.extend(rows),
                    Err(e) => {
                        tracing::error!(wu_id = %wu_id, error = %e, "cannot create results; workunit left as it is");
                        failed.push(wu_id);
                    }
                }
            }
        }
        let built = started.elapsed();
        plans.retain(|p| !failed.contains(&p.wu_id));
        let delay_bounds: HashMap<WorkunitId, i32> =
            groups.iter().map(|g| (g.wu.id, g.wu.delay_bound)).collect();
        let written = self
            .write_with_retry(conn, &plans, &new_rows, &delay_bounds, now)
            .await?;
        if tracing::enabled!(tracing::Level::INFO) {
            let apps: HashMap<WorkunitId, AppId> =
                groups.iter().map(|g| (g.wu.id, g.wu.appid)).collect();
            let names = self
                .app_names
                .covering(conn, apps.values().copied())
                .await
                .map_err(|e| InfraError::new("reading app names", e))?;
            for p in plans.iter().filter(|p| log::is_notable(p)) {
                let app = apps.get(&p.wu_id).map_or("", |a| name_of(&names, *a));
                log::emit(p, app);
            }
        }
        tracing::debug!(
            workunits = plans.len(),
            plan_and_build_ms = built.as_secs_f64() * 1e3,
            write_ms = (started.elapsed() - built).as_secs_f64() * 1e3,
            "batch done"
        );
        if written.results_skipped > 0 {
            tracing::info!(
                skipped = written.results_skipped,
                "results changed by another process since they were read; left to the next pass"
            );
        }
        Ok(Report {
            workunits: plans.len() as u64,
            failed: failed.len() as u64,
            written,
        })
    }

    async fn write_with_retry(
        &self,
        conn: &mut MySqlConnection,
        plans: &[Plan],
        new_rows: &[create::NewReplicaRow],
        delay_bounds: &HashMap<WorkunitId, i32>,
        now: i32,
    ) -> Result<Written, InfraError> {
        let mut attempt = 0;
        loop {
            attempt += 1;
            match write_batch(
                conn,
                plans,
                new_rows,
                delay_bounds,
                self.daily_result_quota,
                now,
            )
            .await
            {
                Ok(w) => return Ok(w),
                Err(BulkError::Sql(e)) if attempt < 3 && is_retryable(&e) => {
                    tracing::warn!(error = %e, attempt, "batch write hit a lock conflict; retrying");
                }
                Err(e) => return Err(InfraError::new("writing a batch of workunits", e)),
            }
        }
    }

    /// [`Transitioner::pass`] as a daemon pass outcome.
    pub async fn daemon_pass(
        &self,
        should_stop: impl Fn() -> bool,
        tally: &PassTally,
    ) -> Result<PassOutcome, InfraError> {
        let report = self.pass(should_stop).await?;
        tally.items("transitioned", report.workunits);
        tally.items("results_created", report.written.results_created);
        tally.errors(report.failed);
        if report.workunits > 0 {
            tracing::debug!(
                workunits = report.workunits,
                created = report.written.results_created,
                changed = report.written.results_changed,
                failed = report.failed,
                "pass done"
            );
            Ok(PassOutcome::DidWork)
        } else {
            // Jobs that failed will fail again at once: wait the idle interval.
            Ok(PassOutcome::Idle)
        }
    }
}
