//! Reading the workunits that are due, with their results, a batch at a time.
//!
//! BOINC's transitioner reads `workunit LEFT JOIN result` with `LIMIT 1000` rows and no ORDER BY,
//! trusting the server to return each workunit's results together, and drops the last
//! (possibly cut) group of a full batch. Here a batch is two queries: the due workunits in the
//! order of the `wu_timeout` index (`transition_time`, then id), then all results of those
//! workunits. So no group is ever cut, and a workunit with more results than a batch can hold is
//! still handled. A pass walks the index with a keyset cursor, so a workunit that could not be
//! handled (its template is unreadable) is not picked again and again in the same pass.
//!
//! State columns are read as plain integers: an out-of-range value in one row must not stop the
//! daemon (the state machine simply matches none of its cases, as BOINC's C++ does).

use std::collections::HashMap;

use rboinc_core::daemon::ModSlice;
use rboinc_core::db::{AppId, AppVersionId, BatchId, HostId, ResultId, WorkunitId};
use rboinc_core::state::TransitionerFlags;
use sqlx::MySqlConnection;

use crate::bulk::id_list;

/// The workunit columns the transitioner reads.
#[derive(Debug, Clone, PartialEq, sqlx::FromRow)]
pub struct DueWorkunit {
    pub id: WorkunitId,
    pub name: String,
    pub appid: AppId,
    pub min_quorum: i32,
    pub need_validate: i32,
    pub canonical_resultid: ResultId,
    pub transition_time: i32,
    pub delay_bound: i32,
    pub error_mask: i32,
    pub max_error_results: i32,
    pub max_total_results: i32,
    pub file_delete_state: i32,
    pub assimilate_state: i32,
    pub target_nresults: i32,
    pub result_template_file: String,
    pub priority: i32,
    pub hr_class: i32,
    pub batch: BatchId,
    pub app_version_id: AppVersionId,
    pub transitioner_flags: i32,
    pub size_class: i32,
}

/// The result columns the transitioner reads.
#[derive(Debug, Clone, PartialEq, sqlx::FromRow)]
pub struct ReplicaRow {
    pub id: ResultId,
    pub workunitid: WorkunitId,
    pub name: String,
    pub report_deadline: i32,
    pub server_state: i32,
    pub outcome: i32,
    pub validate_state: i32,
    pub file_delete_state: i32,
    pub sent_time: i32,
    pub hostid: HostId,
    pub received_time: i32,
    pub app_version_id: AppVersionId,
    pub exit_status: i32,
}

/// A due workunit and all its results (in id order).
#[derive(Debug, Clone, PartialEq)]
pub struct WorkunitGroup {
    pub wu: DueWorkunit,
    pub results: Vec<ReplicaRow>,
}

/// Which workunits a pass takes.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum Selection {
    /// Those with `transition_time < before`, after the cursor, in this `--mod` slice.
    Due {
        before: i32,
        after: Option<(i32, WorkunitId)>,
        slice: ModSlice,
    },
    /// Exactly this one, due or not (`--wu_id`).
    One(WorkunitId),
}

const WU_COLUMNS: &str = "id, name, appid, min_quorum, need_validate, canonical_resultid, \
    transition_time, delay_bound, error_mask, max_error_results, max_total_results, \
    file_delete_state, assimilate_state, target_nresults, result_template_file, priority, \
    hr_class, batch, app_version_id, transitioner_flags, size_class";

const RESULT_COLUMNS: &str = "id, workunitid, name, report_deadline, server_state, outcome, \
    validate_state, file_delete_state, sent_time, hostid, received_time, app_version_id, \
    exit_status";

/// Reads up to `limit` workunits of `selection` with their results.
pub async fn load_batch(
    conn: &mut MySqlConnection,
    selection: Selection,
    limit: usize,
) -> Result<Vec<WorkunitGroup>, sqlx::Error> {
    let wus = due_workunits(conn, selection, limit).await?;
    if wus.is_empty() {
        return Ok(Vec::new());
    }
    let results = results_of(conn, wus.iter().map(|w| w.id)).await?;
    let mut by_wu: HashMap<WorkunitId, Vec<ReplicaRow>> = HashMap::new();
    for r in results {
        by_wu.entry(r.workunitid).or_default().push(r);
    }
    Ok(wus
        .into_iter()
        .map(|wu| {
            let results = by_wu.remove(&wu.id).unwrap_or_default();
            WorkunitGroup { wu, results }
        })
        .collect())
}

/// The workunits of `selection` (due ones in `(transition_time, id)` order after the cursor,
/// or the one `--wu_id` names), at most `limit`.
async fn due_workunits(
    conn: &mut MySqlConnection,
    selection: Selection,
    limit: usize,
) -> Result<Vec<DueWorkunit>, sqlx::Error> {
    let none = TransitionerFlags::TransitionNone as i32;
    match selection {
        Selection::Due {
            before,
            after,
            slice,
        } => {
            let cursor = match after {
                Some((tt, id)) => format!(
                    " AND (transition_time > {tt} OR (transition_time = {tt} AND id > {id}))"
                ),
                None => String::new(),
            };
            let sql = format!(
                "SELECT {WU_COLUMNS} FROM workunit \
                 WHERE transition_time < ? AND transitioner_flags <> {none} AND {}{cursor} \
                 ORDER BY transition_time, id LIMIT {limit}",
                slice.sql_predicate("id"),
            );
            sqlx::query_as(sqlx::AssertSqlSafe(sql))
                .bind(before)
                .fetch_all(&mut *conn)
                .await
        }
        Selection::One(id) => {
            let sql = format!(
                "SELECT {WU_COLUMNS} FROM workunit WHERE id = ? AND transitioner_flags <> {none}"
            );
            sqlx::query_as(sqlx::AssertSqlSafe(sql))
                .bind(id)
                .fetch_all(&mut *conn)
                .await
        }
    }
}

/// The result columns the transitioner reads, for all results of `wus`.
async fn results_of(
    conn: &mut MySqlConnection,
    wus: impl IntoIterator<Item = WorkunitId>,
) -> Result<Vec<ReplicaRow>, sqlx::Error> {
    let sql = format!(
        "SELECT {RESULT_COLUMNS} FROM result WHERE workunitid IN ({}) ORDER BY workunitid, id",
        id_list(wus.into_iter().map(WorkunitId::get))
    );
    sqlx::query_as(sqlx::AssertSqlSafe(sql))
        .fetch_all(&mut *conn)
        .await
}
