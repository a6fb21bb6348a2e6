//! The validator: compares a job's results, picks the canonical one and grants credit.
//!
//! BOINC's generic validator, on the same database and with the same decisions and credit
//! numbers (checked against the stock daemons on the oracle scenarios). The comparison is a
//! [`plugin::Plugin`], as BOINC's `validate_util2` plug-ins: the built-in [`modes`] (bitwise,
//! metrics, tolerance, trivial, scripts) or a project's own, run with [`run_with`]. A pass
//! takes the app's flagged jobs in batches:
//!
//! 1. [`load`]: the flagged jobs and all their results (two queries);
//! 2. [`judge`]: the plug-in reads and compares the results of every job ([`quorum`]), on a
//!    few threads, before any lock is taken;
//! 3. [`handle`]: credit ([`credit_policy`], [`crate::credit`]) and the job's new state, in
//!    memory;
//! 4. [`write`](mod@write): one transaction for the batch.
//!
//! Output files are located by `rboinc_core::job_files`.

pub mod cli;
pub mod credit_policy;
pub mod handle;
pub mod judge;
pub mod load;
pub mod modes;
pub mod plugin;
pub mod quorum;
pub mod write;

pub use cli::{PluginArgs, run_with, run_with_args};

#[cfg(test)]
pub(crate) mod test_rows;

use rboinc_core::clock;
use rboinc_core::config::Config;
use rboinc_core::daemon::{InfraError, ModSlice, PassOutcome, PassTally};
use rboinc_core::db::{WorkunitId, app, is_retryable};
use rboinc_core::hier::Hierarchy;
use rboinc_core::state::ValidateState;
use sqlx::{Acquire, MySqlConnection, MySqlPool};

use crate::bulk::BulkError;
use crate::credit::by_app::AppCreditLedger;
use crate::credit::hav::{self, HavKey};
use crate::credit::{AppCredit, AppVersions, CreditLedger};
use handle::{AppFacts, BatchState, Context, CreditPolicy, handle_job, hav_keys};
use judge::{JudgeSettings, Judgement, judge_jobs};
use load::{Job, Selection, load_batch};
use plugin::PluginHandle;

/// Jobs per batch by default.
pub const DEFAULT_BATCH: usize = 1000;

/// How the validator was asked to run.
#[derive(Debug, Clone)]
pub struct Options {
    /// `--app`.
    pub app: String,
    /// The comparison.
    pub plugin: PluginHandle,
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
    /// `--one_pass`: a pass handles one batch only (as the C++ validator's one query).
    pub single_batch: bool,
}

/// The validator cannot start or run.
#[derive(Debug, thiserror::Error)]
pub enum ValidatorError {
    #[error("--credit_from_runtime needs a non-zero --max_granted_credit")]
    RuntimeCreditUncapped,
    #[error("no app named {0:?} in the database")]
    NoSuchApp(String),
    #[error(
        "<credit_by_app> is set, but the database has no credit_user and credit_team tables \
         (BOINC's schema.sql makes them; see docs/VALIDATOR.md)"
    )]
    NoCreditByAppTables,
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
    credit_by_app: bool,
}

impl Validator {
    pub fn new(pool: MySqlPool, config: &Config, options: Options) -> Result<Self, ValidatorError> {
        if options.policy.from_runtime && options.policy.max_granted_credit == 0.0 {
            return Err(ValidatorError::RuntimeCreditUncapped);
        }
        Ok(Validator {
            credit_by_app: config.sched.credit_by_app,
            pool,
            upload: config.upload_hier(),
            daily_result_quota: i32::try_from(config.sched.daily_result_quota).unwrap_or(i32::MAX),
            options,
        })
    }

    /// Checks what the configuration needs from the database (run once before the first pass).
    pub async fn preflight(&self) -> Result<(), anyhow::Error> {
        if self.credit_by_app {
            let mut conn = self.pool.acquire().await?;
            if !crate::credit::by_app::tables_exist(&mut conn).await? {
                return Err(ValidatorError::NoCreditByAppTables.into());
            }
        }
        Ok(())
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
            if batch.scanned < limit
                || self.options.wu_id.is_some()
                || self.options.dry_run
                || self.options.single_batch
            {
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
        let hav_keys: Vec<HavKey> = jobs.iter().flat_map(hav_keys).collect();
        let (plugin, upload) = (self.options.plugin.clone(), self.upload.clone());
        let check_punitive = self.options.policy.check_punitive;
        let span = tracing::Span::current();
        let (jobs, judgements) = tokio::task::spawn_blocking(move || {
            let settings = JudgeSettings {
                plugin: &plugin,
                upload: &upload,
                check_punitive,
                app_target_nresults: app.target_nresults,
            };
            let judgements = span.in_scope(|| judge_jobs(settings, &jobs));
            (jobs, judgements)
        })
        .await
        .map_err(|e| InfraError::new("reading and comparing output files", e))?;

        let read_done = started.elapsed();
        let mut attempt = 0;
        loop {
            attempt += 1;
            match self
                .decide_and_write(conn, app, versions, &jobs, &hav_keys, &judgements)
                .await
            {
                Ok((report, timings)) => {
                    let ms = |d: std::time::Duration| d.as_secs_f64() * 1e3;
                    tracing::debug!(
                        jobs = report.jobs,
                        judge_ms = ms(read_done),
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
        judgements: &[Judgement],
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
        let by_app = if self.credit_by_app {
            let granted = || {
                jobs.iter()
                    .flat_map(|j| &j.results)
                    .filter(|r| r.outcome == rboinc_core::state::Outcome::Success)
            };
            AppCreditLedger::load(
                &mut tx,
                granted().map(|r| (r.userid.get(), r.appid.get())),
                granted().map(|r| (r.teamid.get(), r.appid.get())),
            )
            .await?
        } else {
            AppCreditLedger::default()
        };
        let loaded = started.elapsed();

        let mut state = BatchState {
            ledger,
            by_app,
            havs_read: havs.clone(),
            havs,
            ..BatchState::default()
        };
        let cx = Context {
            policy: self.options.policy,
            app,
            daily_result_quota: self.daily_result_quota,
            now: clock::now_f64(),
            credit_by_app: self.credit_by_app,
        };
        for (job, judgement) in jobs.iter().zip(judgements) {
            tracing::debug!(wu_id = %job.wu.id, wu = %job.wu.name, results = job.results.len(), "validating");
            handle_job(&cx, versions, &mut state, job, judgement);
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
