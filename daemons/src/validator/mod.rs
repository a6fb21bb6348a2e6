//! The validator: compares a job's results, picks the canonical one and grants credit.
//!
//! BOINC's generic validator with its two sample plug-ins (bitwise and trivial) plus a
//! tolerance mode for JSON metrics, on the same database and with the same decisions and
//! credit numbers (checked against the stock daemons on the oracle scenarios). A pass takes the
//! app's flagged jobs in batches:
//!
//! 1. [`load`]: the flagged jobs and all their results (two queries);
//! 2. [`compare`]: the outputs of every result that needs a comparison are read at once, in
//!    parallel, off the async runtime (the C++ validator reads each file when it compares);
//! 3. [`quorum`] and [`handle`]: consensus, credit ([`credit_policy`], [`crate::credit`]), the
//!    job's new state, in memory;
//! 4. [`write`](mod@write): one transaction for the batch.
//!
//! Output files are located by `rboinc_core::job_files`; [`tolerance`] reads the tolerance file.

pub mod cli;
pub mod compare;
pub mod credit_policy;
pub mod handle;
pub mod load;
pub mod quorum;
pub mod tolerance;
pub mod write;

#[cfg(test)]
pub(crate) mod test_rows;

use std::collections::{HashMap, HashSet};

use rboinc_core::clock;
use rboinc_core::config::Config;
use rboinc_core::daemon::{InfraError, ModSlice, PassOutcome, PassTally};
use rboinc_core::db::result::ResultRow;
use rboinc_core::db::{ResultId, WorkunitId, app, is_retryable};
use rboinc_core::hier::Hierarchy;
use rboinc_core::state::ValidateState;
use sqlx::{Acquire, MySqlConnection, MySqlPool};

use crate::bulk::BulkError;
use crate::credit::hav::{self, HavKey};
use crate::credit::{AppCredit, AppVersions, CreditLedger};
use compare::Mode;
use handle::{AppFacts, BatchState, Context, CreditPolicy, handle_job, needs};
use load::{Job, Selection, load_batch};
use quorum::Inits;

/// Jobs per batch by default.
pub const DEFAULT_BATCH: usize = 1000;

/// How the validator was asked to run.
#[derive(Debug, Clone)]
pub struct Options {
    /// `--app`.
    pub app: String,
    pub mode: Mode,
    pub policy: CreditPolicy,
    /// Jobs per batch.
    pub batch: usize,
    pub slice: ModSlice,
    /// `--min_wu_id`, `--max_wu_id`.
    pub min_wu_id: Option<i64>,
    pub max_wu_id: Option<i64>,
    /// `--wu_id`: only this job, flagged or not.
    pub wu_id: Option<WorkunitId>,
    /// `--one_pass_N_WU`: at most this many jobs.
    pub max_jobs: Option<u64>,
    /// `--dry_run`: decide and log, write nothing.
    pub dry_run: bool,
}

/// The validator cannot start or run.
#[derive(Debug, thiserror::Error)]
pub enum ValidatorError {
    #[error("--credit_from_runtime needs a non-zero --max_granted_credit")]
    RuntimeCreditUncapped,
    #[error("no app named {0:?} in the database")]
    NoSuchApp(String),
}

/// What a pass did.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct Report {
    pub jobs: u64,
    pub canonical_found: u64,
    pub results_written: u64,
    /// Of the results written: VALID, INVALID, INCONCLUSIVE (the rest changed otherwise).
    pub valid: u64,
    pub invalid: u64,
    pub inconclusive: u64,
}

impl Report {
    fn add(&mut self, other: Report) {
        self.jobs += other.jobs;
        self.canonical_found += other.canonical_found;
        self.results_written += other.results_written;
        self.valid += other.valid;
        self.invalid += other.invalid;
        self.inconclusive += other.inconclusive;
    }

    /// The results written, by outcome, into the daemon's metrics.
    fn tally(&self, tally: &PassTally) {
        let other = self.results_written - (self.valid + self.invalid + self.inconclusive);
        tally.items("valid", self.valid);
        tally.items("invalid", self.invalid);
        tally.items("inconclusive", self.inconclusive);
        tally.items("other", other);
    }
}

/// A configured validator.
#[derive(Debug, Clone)]
pub struct Validator {
    pool: MySqlPool,
    options: Options,
    upload: Hierarchy,
    daily_result_quota: i32,
}

impl Validator {
    pub fn new(pool: MySqlPool, config: &Config, options: Options) -> Result<Self, ValidatorError> {
        if options.policy.from_runtime && options.policy.max_granted_credit == 0.0 {
            return Err(ValidatorError::RuntimeCreditUncapped);
        }
        if config.sched.credit_by_app {
            tracing::warn!(
                "<credit_by_app> is set, but per-app credit (credit_user/credit_team) is not kept by this validator"
            );
        }
        Ok(Validator {
            pool,
            upload: config.upload_hier(),
            daily_result_quota: i32::try_from(config.sched.daily_result_quota).unwrap_or(i32::MAX),
            options,
        })
    }

    /// One pass over the app's flagged jobs, checking `should_stop` between batches.
    pub async fn pass(&self, should_stop: impl Fn() -> bool) -> Result<Report, InfraError> {
        let mut conn = self
            .pool
            .acquire()
            .await
            .map_err(|e| InfraError::new("connecting to the database", e))?;
        let app = app::by_name(&mut *conn, &self.options.app)
            .await
            .map_err(|e| InfraError::new("reading the app", e))?
            .ok_or_else(|| {
                InfraError::new(
                    "reading the app",
                    ValidatorError::NoSuchApp(self.options.app.clone()),
                )
            })?;
        let facts = AppFacts {
            target_nresults: app.target_nresults,
            credit: AppCredit {
                min_avg_pfc: app.min_avg_pfc,
                host_scale_check: app.host_scale_check != 0,
            },
        };
        let mut versions = AppVersions::default();
        let mut report = Report::default();
        let mut cursor = None;
        loop {
            if should_stop() {
                break;
            }
            let mut limit = self.options.batch.max(1);
            if let Some(max) = self.options.max_jobs {
                let left = max.saturating_sub(report.jobs);
                if left == 0 {
                    break;
                }
                limit = limit.min(usize::try_from(left).unwrap_or(usize::MAX));
            }
            if self.options.dry_run {
                limit = 1;
            }
            let selection = Selection {
                appid: app.id,
                after: cursor,
                slice: self.options.slice,
                min_id: self.options.min_wu_id,
                max_id: self.options.max_wu_id,
                only: self.options.wu_id,
            };
            let loading = std::time::Instant::now();
            let batch = load_batch(&mut conn, selection, limit)
                .await
                .map_err(|e| InfraError::new("reading workunits to validate", e))?;
            tracing::debug!(
                jobs = batch.jobs.len(),
                load_ms = loading.elapsed().as_secs_f64() * 1e3,
                "batch read"
            );
            if batch.scanned == 0 {
                break;
            }
            cursor = batch.last;
            let done = self
                .handle_batch(&mut conn, facts, &mut versions, batch.jobs)
                .await?;
            report.add(done);
            if batch.scanned < limit || self.options.wu_id.is_some() || self.options.dry_run {
                break;
            }
        }
        Ok(report)
    }

    /// Reads outputs, decides and writes one batch of jobs.
    #[tracing::instrument(skip_all, fields(app = %self.options.app, jobs = jobs.len()))]
    pub async fn handle_batch(
        &self,
        conn: &mut MySqlConnection,
        app: AppFacts,
        versions: &mut AppVersions,
        jobs: Vec<Job>,
    ) -> Result<Report, InfraError> {
        let started = std::time::Instant::now();
        let mut to_read: HashSet<ResultId> = HashSet::new();
        let mut hav_keys: Vec<HavKey> = Vec::new();
        for job in &jobs {
            let (read, havs) = needs(job, &self.options.policy);
            to_read.extend(read);
            hav_keys.extend(havs);
        }
        let rows: Vec<ResultRow> = jobs
            .iter()
            .flat_map(|j| &j.results)
            .filter(|r| to_read.contains(&r.id))
            .cloned()
            .collect();
        let (mode, upload) = (self.options.mode.clone(), self.upload.clone());
        let span = tracing::Span::current();
        let inits = tokio::task::spawn_blocking(move || {
            span.in_scope(|| read_outputs(&mode, &rows, &upload))
        })
        .await
        .map_err(|e| InfraError::new("reading output files", e))?;

        let read_done = started.elapsed();
        let mut attempt = 0;
        loop {
            attempt += 1;
            match self
                .decide_and_write(conn, app, versions, &jobs, &hav_keys, &inits)
                .await
            {
                Ok((report, timings)) => {
                    let ms = |d: std::time::Duration| d.as_secs_f64() * 1e3;
                    tracing::debug!(
                        jobs = report.jobs,
                        read_outputs_ms = ms(read_done),
                        load_ms = ms(timings[0]),
                        decide_ms = ms(timings[1]),
                        write_ms = ms(timings[2]),
                        "batch done"
                    );
                    return Ok(report);
                }
                Err(BulkError::Sql(e)) if attempt < 3 && is_retryable(&e) => {
                    versions.discard_samples();
                    tracing::warn!(error = %e, attempt, "batch hit a lock conflict; retrying");
                }
                Err(e) => {
                    versions.discard_samples();
                    return Err(InfraError::new("validating a batch of workunits", e));
                }
            }
        }
    }

    /// Reads the rows the batch changes (hosts, users, teams, statistics) with locks, decides
    /// every job and writes the outcome, all in one transaction: another validator (`--mod`)
    /// crediting the same host or user waits for this batch instead of overwriting its averages.
    async fn decide_and_write(
        &self,
        conn: &mut MySqlConnection,
        app: AppFacts,
        versions: &mut AppVersions,
        jobs: &[Job],
        hav_keys: &[HavKey],
        inits: &Inits,
    ) -> Result<(Report, [std::time::Duration; 3]), BulkError> {
        let started = std::time::Instant::now();
        let mut tx = conn.begin().await?;
        let ledger = CreditLedger::load(&mut tx, hav_keys.iter().map(|k| k.0), true).await?;
        let havs = hav::lookup_many(&mut tx, hav_keys.iter().copied(), true).await?;
        let version_ids: Vec<i64> = jobs
            .iter()
            .flat_map(|j| &j.results)
            .map(|r| r.app_version_id.get())
            .collect();
        versions.load(&mut tx, version_ids).await?;
        let loaded = started.elapsed();

        let mut state = BatchState {
            ledger,
            havs_read: havs.clone(),
            havs,
            ..BatchState::default()
        };
        let cx = Context {
            policy: self.options.policy,
            app,
            daily_result_quota: self.daily_result_quota,
            now: clock::now_f64(),
            mode: &self.options.mode,
            inits,
        };
        for job in jobs {
            tracing::debug!(wu_id = %job.wu.id, wu = %job.wu.name, results = job.results.len(), "validating");
            handle_job(&cx, versions, &mut state, job);
        }
        let decided = started.elapsed();
        let report = Report {
            jobs: jobs.len() as u64,
            canonical_found: state
                .workunits
                .iter()
                .filter(|w| w.canonical.is_some())
                .count() as u64,
            results_written: state.results.len() as u64,
            valid: count_state(&state, ValidateState::Valid),
            invalid: count_state(&state, ValidateState::Invalid),
            inconclusive: count_state(&state, ValidateState::Inconclusive),
        };
        if self.options.dry_run {
            tracing::info!(jobs = report.jobs, "dry run: nothing written");
            versions.discard_samples();
            tx.rollback().await?;
            return Ok((
                report,
                [loaded, decided - loaded, started.elapsed() - decided],
            ));
        }
        let now = clock::now_i32();
        write::write_batch(&mut tx, &state, versions, now, cx.now).await?;
        tx.commit().await?;
        versions.samples_written();
        Ok((
            report,
            [loaded, decided - loaded, started.elapsed() - decided],
        ))
    }

    /// [`Validator::pass`] as a daemon pass outcome.
    pub async fn daemon_pass(
        &self,
        should_stop: impl Fn() -> bool,
        tally: &PassTally,
    ) -> Result<PassOutcome, InfraError> {
        let report = self.pass(should_stop).await?;
        report.tally(tally);
        if report.jobs > 0 {
            tracing::info!(
                jobs = report.jobs,
                canonical = report.canonical_found,
                results = report.results_written,
                "pass done"
            );
            Ok(PassOutcome::DidWork)
        } else {
            Ok(PassOutcome::Idle)
        }
    }
}

/// Results of the batch written with `validate_state`.
fn count_state(state: &BatchState, which: ValidateState) -> u64 {
    state
        .results
        .values()
        .filter(|r| r.validate_state == which)
        .count() as u64
}

/// Reads the outputs of `rows`, on a few threads (the work is file I/O and hashing), each result
/// in its own span under the caller's.
fn read_outputs(mode: &Mode, rows: &[ResultRow], upload: &Hierarchy) -> Inits {
    let batch_span = tracing::Span::current();
    let threads = std::thread::available_parallelism()
        .map_or(2, |n| n.get())
        .clamp(2, 8);
    let chunk = rows.len().div_ceil(threads).max(1);
    std::thread::scope(|scope| {
        let handles: Vec<_> = rows
            .chunks(chunk)
            .map(|part| {
                let parent = batch_span.clone();
                scope.spawn(move || {
                    part.iter()
                        .map(|r| {
                            let span = tracing::info_span!(parent: &parent, "read_outputs", wu_id = %r.workunitid, result_id = %r.id);
                            (r.id, span.in_scope(|| mode.init_result(r, upload)))
                        })
                        .collect::<Vec<_>>()
                })
            })
            .collect();
        handles
            .into_iter()
            .flat_map(|h| h.join().expect("reading outputs does not panic"))
            .collect::<HashMap<_, _>>()
    })
}
