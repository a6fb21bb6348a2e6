//! db_purge: removes finished workunits and their results from the database, after writing
//! them to archive files.
//!
//! A workunit can go once its files are deleted (`file_delete_state = DONE`) and, with
//! `--min_age_days`, it has not changed for that long. Workunits whose name contains
//! `nodelete` stay. Each one is written to the archive set ([`archive`], [`record`]) with its
//! results, the files are flushed, and only then are the rows deleted ([`queue`]), so a crash
//! can at worst archive a workunit twice, never lose one. `--no_archive` skips the files.
//! Flags and start-up: [`cli`].

pub mod archive;
pub mod cli;
pub mod queue;
pub mod record;

use std::collections::{BTreeMap, HashMap};

use rboinc_core::daemon::{InfraError, Shutdown};
use rboinc_core::db::{AppId, ResultId, WorkunitId};
use sqlx::MySqlPool;

use crate::app_names::{AppNames, name_of};
use archive::{ArchiveSet, ArchiveSettings};
use queue::{Selection, WithModTime};
use rboinc_core::db::result::ResultRow;
use rboinc_core::db::workunit::WorkunitRow;

/// BOINC's db_purge reads 1000 workunits per query.
pub const DEFAULT_BATCH_SIZE: u32 = 1000;

/// What db_purge does.
#[derive(Debug, Clone)]
pub struct PurgeOptions {
    pub selection: Selection,
    /// `None` with `--no_archive`.
    pub archive: Option<ArchiveSettings>,
    /// `--max_wu_per_file`: start a new archive set after this many workunits.
    pub max_wu_per_file: Option<u64>,
    /// `--max`: purge at most this many workunits in all, then stop.
    pub max_total: Option<u64>,
    /// `--dont_delete`: archive but keep the rows (testing).
    pub dont_delete: bool,
    /// `<enable_assignment>`: also delete the workunits' `assignment` rows.
    pub delete_assignments: bool,
    pub batch_size: u32,
    /// `--one_pass`: a pass reads one query's batch only (as the C++ db_purge's one scan).
    pub single_batch: bool,
}

/// What a pass did.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct PassReport {
    pub workunits: u64,
    pub results: u64,
    /// `--max` is reached: the daemon should stop.
    pub max_reached: bool,
}

/// The purger and its open archive set (kept across passes, as BOINC does).
#[derive(Debug)]
pub struct Purger {
    pool: MySqlPool,
    options: PurgeOptions,
    archive: Option<ArchiveSet>,
    last_archive_time: Option<i64>,
    purged_total: u64,
    app_names: AppNames,
}

impl Purger {
    pub fn new(pool: MySqlPool, options: PurgeOptions) -> Self {
        Purger {
            pool,
            options,
            archive: None,
            last_archive_time: None,
            purged_total: 0,
            app_names: AppNames::default(),
        }
    }

    /// Workunits purged since start.
    pub fn purged_total(&self) -> u64 {
        self.purged_total
    }

    fn max_reached(&self) -> bool {
        self.options
            .max_total
            .is_some_and(|max| self.purged_total >= max)
    }

    /// One scan over every purgeable workunit.
    pub async fn pass(&mut self, stop: &Shutdown) -> Result<PassReport, InfraError> {
        let mut report = PassReport::default();
        let mut after = WorkunitId(0);
        loop {
            if stop.should_stop() || self.max_reached() {
                break;
            }
            let mut limit = self.options.batch_size.max(1);
            if let Some(max) = self.options.max_total {
                let left = max - self.purged_total;
                limit = limit.min(u32::try_from(left).unwrap_or(u32::MAX));
            }
            let batch = queue::done_workunits(&self.pool, &self.options.selection, after, limit)
                .await
                .map_err(|e| InfraError::new("reading purgeable workunits", e))?;
            let Some(last) = batch.last() else { break };
            after = last.row.id;
            let full = batch.len() >= limit as usize;
            let workunits: Vec<_> = batch
                .into_iter()
                .filter(|w| !w.row.name.contains("nodelete"))
                .collect();
            if !workunits.is_empty() {
                let (nw, nr) = self.purge(workunits).await?;
                report.workunits += nw;
                report.results += nr;
            }
            if !full || self.options.single_batch {
                break;
            }
        }
        report.max_reached = self.max_reached();
        if report.workunits > 0 {
            tracing::debug!(
                workunits = report.workunits,
                results = report.results,
                "purged"
            );
        }
        Ok(report)
    }

    /// Archives and deletes one batch of workunits with all their results.
    #[tracing::instrument(skip_all, fields(workunits = workunits.len()))]
    async fn purge(
        &mut self,
        workunits: Vec<WithModTime<WorkunitRow>>,
    ) -> Result<(u64, u64), InfraError> {
        let wu_ids: Vec<WorkunitId> = workunits.iter().map(|w| w.row.id).collect();
        let results = queue::results_of(&self.pool, &wu_ids)
            .await
            .map_err(|e| InfraError::new("reading the results of purgeable workunits", e))?;
        let result_ids: Vec<ResultId> = results.iter().map(|r| r.row.id).collect();
        let n_results = result_ids.len() as u64;
        // For the log lines: each workunit's app and number of results.
        let mut purged: BTreeMap<WorkunitId, (AppId, usize)> = workunits
            .iter()
            .map(|w| (w.row.id, (w.row.appid, 0)))
            .collect();
        for r in &results {
            if let Some(p) = purged.get_mut(&r.row.workunitid) {
                p.1 += 1;
            }
        }

        if let Some(settings) = self.options.archive.clone() {
            let mut by_wu: HashMap<WorkunitId, Vec<WithModTime<ResultRow>>> = HashMap::new();
            for r in results {
                by_wu.entry(r.row.workunitid).or_default().push(r);
            }
            let set = self.archive.take();
            let last_time = self.last_archive_time;
            let max_per_file = self.options.max_wu_per_file;
            let span = tracing::Span::current();
            let (set, last_time) = tokio::task::spawn_blocking(move || {
                span.in_scope(|| {
                    write_archives(settings, set, last_time, max_per_file, &workunits, by_wu)
                })
            })
            .await
            .map_err(|e| InfraError::new("writing archives", e))?
            .map_err(|e| InfraError::new("writing archives", e))?;
            self.archive = set;
            self.last_archive_time = last_time;
        }

        if self.options.dont_delete {
            tracing::debug!(
                workunits = wu_ids.len(),
                "--dont_delete: rows archived, not deleted"
            );
        } else {
            let mut conn = self
                .pool
                .acquire()
                .await
                .map_err(|e| InfraError::new("deleting purged rows", e))?;
            queue::delete(
                &mut conn,
                &result_ids,
                &wu_ids,
                self.options.delete_assignments,
            )
            .await
            .map_err(|e| InfraError::new("deleting purged rows", e))?;
            if tracing::enabled!(tracing::Level::INFO) {
                let names = self
                    .app_names
                    .covering(&mut conn, purged.values().map(|p| p.0))
                    .await
                    .map_err(|e| InfraError::new("reading app names", e))?;
                for (wu_id, (appid, results)) in purged {
                    tracing::info!(
                        wu_id = %wu_id,
                        app = %name_of(&names, appid),
                        results,
                        "workunit purged"
                    );
                }
            }
        }
        self.purged_total += wu_ids.len() as u64;
        Ok((wu_ids.len() as u64, n_results))
    }

    /// Closes the open archive set, if any (at exit).
    pub fn close(&mut self) -> std::io::Result<()> {
        match self.archive.take() {
            Some(set) => set.close(),
            None => Ok(()),
        }
    }
}

/// Appends a batch to the archive set (opening and rotating sets as needed) and flushes it.
/// Returns the set still open and the time of the last set opened.
fn write_archives(
    settings: ArchiveSettings,
    mut set: Option<ArchiveSet>,
    mut last_time: Option<i64>,
    max_per_file: Option<u64>,
    workunits: &[WithModTime<WorkunitRow>],
    mut results: HashMap<WorkunitId, Vec<WithModTime<ResultRow>>>,
) -> std::io::Result<(Option<ArchiveSet>, Option<i64>)> {
    let (mut res_text, mut res_index, mut wu_text, mut wu_index) =
        (String::new(), String::new(), String::new(), String::new());
    for wu in workunits {
        let _span = tracing::info_span!("archive", wu_id = %wu.row.id).entered();
        let current = match &mut set {
            Some(s) => s,
            None => {
                let s = ArchiveSet::open(&settings, last_time)?;
                last_time = Some(s.time());
                set.insert(s)
            }
        };
        let t = current.time();
        for text in [&mut res_text, &mut res_index, &mut wu_text, &mut wu_index] {
            text.clear();
        }
        for r in results.remove(&wu.row.id).unwrap_or_default() {
            record::result_record(&mut res_text, &r.row, &r.mod_time_text);
            record::index_line(&mut res_index, r.row.id.get(), t, &r.row.name);
        }
        record::workunit_record(&mut wu_text, &wu.row, &wu.mod_time_text);
        record::index_line(&mut wu_index, wu.row.id.get(), t, &wu.row.name);
        current.append(&res_text, &res_index, &wu_text, &wu_index)?;
        if max_per_file.is_some_and(|max| current.workunits() >= max)
            && let Some(full) = set.take()
        {
            full.close()?;
        }
    }
    if let Some(s) = &mut set {
        s.flush()?;
    }
    Ok((set, last_time))
}
