//! Each daemon's backlog: the queues of the job tables, per app, for `/metrics` and the ops page.
//!
//! One queue per daemon that empties it (the scheduler's unsent results, the transitioner's
//! due workunits, the validator's, the assimilator's, the file deleter's, db_purge's), plus the
//! results on hosts. Two grouped queries, one per table; `/metrics` and the page read them
//! through [`super::backlog`]'s short cache.

use std::collections::BTreeMap;

use rboinc_core::db::Pool;
use rboinc_core::state::{AssimilateState, FileDeleteState, ServerState};
use sqlx::AssertSqlSafe;

use super::snapshot::{app_names, sum};

/// The queues `/metrics` reports, per app name: each daemon's backlog.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct QueueSizes {
    /// Results waiting for a scheduler RPC (UNSENT).
    pub unsent: BTreeMap<String, i64>,
    /// Results on hosts (IN_PROGRESS).
    pub in_progress: BTreeMap<String, i64>,
    /// Workunits whose `transition_time` has come: the transitioner's backlog.
    pub transition_due: BTreeMap<String, i64>,
    pub need_validate: BTreeMap<String, i64>,
    pub assimilate_ready: BTreeMap<String, i64>,
    /// Workunits whose input files may be deleted (file_delete_state READY).
    pub wu_files_ready: BTreeMap<String, i64>,
    /// Results whose output files may be deleted (file_delete_state READY).
    pub result_files_ready: BTreeMap<String, i64>,
    /// Workunits whose files are gone, for db_purge (file_delete_state DONE).
    pub purge_ready: BTreeMap<String, i64>,
}

impl QueueSizes {
    /// Every queue with its name, in `/metrics` order.
    pub fn all(&self) -> [(Queue, &BTreeMap<String, i64>); 8] {
        [
            (Queue::Unsent, &self.unsent),
            (Queue::InProgress, &self.in_progress),
            (Queue::TransitionDue, &self.transition_due),
            (Queue::NeedValidate, &self.need_validate),
            (Queue::AssimilateReady, &self.assimilate_ready),
            (Queue::WuFilesReady, &self.wu_files_ready),
            (Queue::ResultFilesReady, &self.result_files_ready),
            (Queue::PurgeReady, &self.purge_ready),
        ]
    }

    fn all_mut(&mut self) -> [&mut BTreeMap<String, i64>; 8] {
        [
            &mut self.unsent,
            &mut self.in_progress,
            &mut self.transition_due,
            &mut self.need_validate,
            &mut self.assimilate_ready,
            &mut self.wu_files_ready,
            &mut self.result_files_ready,
            &mut self.purge_ready,
        ]
    }

    /// One queue summed over the apps.
    pub fn total(&self, queue: Queue) -> i64 {
        self.all()
            .into_iter()
            .find(|(q, _)| *q == queue)
            .map_or(0, |(_, m)| m.values().sum())
    }
}

/// One of the queues, with the gauge that reports it and the daemon that empties it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Queue {
    Unsent,
    InProgress,
    TransitionDue,
    NeedValidate,
    AssimilateReady,
    WuFilesReady,
    ResultFilesReady,
    PurgeReady,
}

impl Queue {
    /// The gauge's name and help in `/metrics`.
    pub fn gauge(self) -> (&'static str, &'static str) {
        match self {
            Queue::Unsent => (
                "rboinc_results_unsent",
                "Results waiting to be sent (server_state UNSENT)",
            ),
            Queue::InProgress => (
                "rboinc_results_in_progress",
                "Results sent and not yet reported or timed out (server_state IN_PROGRESS)",
            ),
            Queue::TransitionDue => (
                "rboinc_workunits_transition_due",
                "Workunits whose transition_time has come (the transitioner's backlog)",
            ),
            Queue::NeedValidate => (
                "rboinc_workunits_need_validate",
                "Workunits flagged for the validator",
            ),
            Queue::AssimilateReady => (
                "rboinc_workunits_assimilate_ready",
                "Workunits waiting for the assimilator (assimilate_state READY)",
            ),
            Queue::WuFilesReady => (
                "rboinc_workunits_file_delete_ready",
                "Workunits whose input files the file deleter may delete (file_delete_state READY)",
            ),
            Queue::ResultFilesReady => (
                "rboinc_results_file_delete_ready",
                "Results whose output files the file deleter may delete (file_delete_state READY)",
            ),
            Queue::PurgeReady => (
                "rboinc_workunits_purge_ready",
                "Workunits whose files are deleted, for db_purge (file_delete_state DONE)",
            ),
        }
    }

    /// Who empties the queue, as the ops page says it.
    pub fn owner(self) -> &'static str {
        match self {
            Queue::Unsent => "scheduler",
            Queue::InProgress => "clients",
            Queue::TransitionDue => "transitioner",
            Queue::NeedValidate => "validator",
            Queue::AssimilateReady => "assimilator",
            Queue::WuFilesReady | Queue::ResultFilesReady => "file_deleter",
            Queue::PurgeReady => "db_purge",
        }
    }

    /// What waits, in words.
    pub fn what(self) -> &'static str {
        match self {
            Queue::Unsent => "results to send",
            Queue::InProgress => "results being computed",
            Queue::TransitionDue => "workunits due for a transition",
            Queue::NeedValidate => "workunits to validate",
            Queue::AssimilateReady => "workunits to assimilate",
            Queue::WuFilesReady => "workunits' input files to delete",
            Queue::ResultFilesReady => "results' output files to delete",
            Queue::PurgeReady => "workunits to purge from the database",
        }
    }
}

/// The queue sizes for `/metrics`, with every app present (zero when empty). `now` decides
/// which workunits are due for the transitioner.
pub async fn queues(pool: &Pool, now: i64) -> Result<QueueSizes, sqlx::Error> {
    let unsent = ServerState::Unsent as i32;
    let in_progress = ServerState::InProgress as i32;
    let ready = AssimilateState::Ready as i32;
    let del_ready = FileDeleteState::Ready as i32;
    let del_done = FileDeleteState::Done as i32;
    // One pass over each table for all its queues. On a big project these may read much of
    // the table (the OR of conditions on different columns); `/metrics` and the page share one
    // answer per 5 s (`backlog`), so the cost does not grow with the scrape rate.
    let results_sql = format!(
        "SELECT CAST(appid AS SIGNED), {}, {}, {} FROM result \
         WHERE server_state IN ({unsent}, {in_progress}) OR file_delete_state = {del_ready} \
         GROUP BY appid",
        sum(&format!("server_state = {unsent}")),
        sum(&format!("server_state = {in_progress}")),
        sum(&format!("file_delete_state = {del_ready}")),
    );
    let wus_sql = format!(
        "SELECT CAST(appid AS SIGNED), {}, {}, {}, {}, {} FROM workunit \
         WHERE transition_time < ? OR need_validate <> 0 OR assimilate_state = {ready} \
         OR file_delete_state IN ({del_ready}, {del_done}) GROUP BY appid",
        sum("transition_time < ?"),
        sum("need_validate <> 0"),
        sum(&format!("assimilate_state = {ready}")),
        sum(&format!("file_delete_state = {del_ready}")),
        sum(&format!("file_delete_state = {del_done}")),
    );
    type WuRow = (i64, i64, i64, i64, i64, i64);
    let results =
        sqlx::query_as::<_, (i64, i64, i64, i64)>(AssertSqlSafe(results_sql)).fetch_all(pool);
    let wus = sqlx::query_as::<_, WuRow>(AssertSqlSafe(wus_sql))
        .bind(now)
        .bind(now)
        .fetch_all(pool);
    let (names, results, wus) = tokio::try_join!(app_names(pool), results, wus)?;
    let mut q = QueueSizes::default();
    let name_of = |id: i64| {
        names
            .iter()
            .find(|(a, _, _)| *a == id)
            .map_or_else(|| format!("appid {id}"), |(_, n, _)| n.clone())
    };
    for (_, name, _) in &names {
        for map in q.all_mut() {
            map.insert(name.clone(), 0);
        }
    }
    for (app, u, p, f) in results {
        let app = name_of(app);
        *q.unsent.entry(app.clone()).or_default() += u;
        *q.in_progress.entry(app.clone()).or_default() += p;
        *q.result_files_ready.entry(app).or_default() += f;
    }
    for (app, t, nv, ar, f, d) in wus {
        let app = name_of(app);
        *q.transition_due.entry(app.clone()).or_default() += t;
        *q.need_validate.entry(app.clone()).or_default() += nv;
        *q.assimilate_ready.entry(app.clone()).or_default() += ar;
        *q.wu_files_ready.entry(app.clone()).or_default() += f;
        *q.purge_ready.entry(app).or_default() += d;
    }
    Ok(q)
}
