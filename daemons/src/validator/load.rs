//! Reading the jobs that need validation, with their results, a batch at a time.
//!
//! BOINC's validator joins `workunit` and `result` with `LIMIT 1000` rows (see the transitioner's
//! `load` for why that can cut a job); here a batch is the flagged jobs of the app (index
//! `wu_val`) in id order after a cursor, then all their results in one query.

use std::collections::HashMap;

use rboinc_core::daemon::ModSlice;
use rboinc_core::db::result::{self, ResultRow};
use rboinc_core::db::{AppId, BatchId, ResultId, WorkunitId};
use sqlx::MySqlConnection;

/// The workunit columns the validator reads.
#[derive(Debug, Clone, PartialEq, sqlx::FromRow)]
pub struct ValidatorWorkunit {
    pub id: WorkunitId,
    pub name: String,
    pub canonical_resultid: ResultId,
    pub canonical_credit: f64,
    pub min_quorum: i32,
    pub assimilate_state: i32,
    pub transition_time: i32,
    pub opaque: f64,
    pub batch: BatchId,
    pub target_nresults: i32,
    pub max_success_results: i32,
    pub error_mask: i32,
    pub rsc_fpops_est: f64,
    pub rsc_fpops_bound: f64,
}

/// A job and all its results (in id order).
#[derive(Debug, Clone, PartialEq)]
pub struct Job {
    pub wu: ValidatorWorkunit,
    pub results: Vec<ResultRow>,
}

/// Which jobs a batch takes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Selection {
    pub appid: AppId,
    /// Only ids above this (the pass's cursor).
    pub after: Option<WorkunitId>,
    pub slice: ModSlice,
    /// `--min_wu_id` / `--max_wu_id`.
    pub min_id: Option<i64>,
    pub max_id: Option<i64>,
    /// `--wu_id`: this job, flagged or not.
    pub only: Option<WorkunitId>,
}

const WU_COLUMNS: &str = "id, name, canonical_resultid, canonical_credit, min_quorum, \
    assimilate_state, transition_time, opaque, batch, target_nresults, max_success_results, \
    error_mask, rsc_fpops_est, rsc_fpops_bound";

/// A batch of jobs.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct Batch {
    pub jobs: Vec<Job>,
    /// Workunit rows read (jobs without any result row are not returned: BOINC's inner join
    /// never sees them either).
    pub scanned: usize,
    /// The highest workunit id read: the cursor for the next batch.
    pub last: Option<WorkunitId>,
}

/// Reads up to `limit` jobs of `selection` with their results. A job whose result rows cannot
/// be decoded (a state value BOINC does not define) is logged and left out.
pub async fn load_batch(
    conn: &mut MySqlConnection,
    selection: Selection,
    limit: usize,
) -> Result<Batch, sqlx::Error> {
    let wus = flagged_workunits(conn, selection, limit).await?;
    if wus.is_empty() {
        return Ok(Batch::default());
    }
    let scanned = wus.len();
    let last = wus.last().map(|w| w.id);
    let results = match result::for_workunits(conn, wus.iter().map(|w| w.id)).await {
        Ok(rows) => rows,
        Err(sqlx::Error::ColumnDecode { .. }) => {
            // Some row holds a value we cannot decode: find the job(s) one by one.
            let mut rows = Vec::new();
            for wu in &wus {
                match result::for_workunits(conn, [wu.id]).await {
                    Ok(mut r) => rows.append(&mut r),
                    Err(e @ sqlx::Error::ColumnDecode { .. }) => {
                        tracing::error!(wu_id = %wu.id, error = %e, "a result row of this workunit cannot be read; skipping the workunit");
                    }
                    Err(e) => return Err(e),
                }
            }
            rows
        }
        Err(e) => return Err(e),
    };
    let mut by_wu: HashMap<WorkunitId, Vec<ResultRow>> = HashMap::new();
    for r in results {
        by_wu.entry(r.workunitid).or_default().push(r);
    }
    let jobs = wus
        .into_iter()
        .filter_map(|wu| {
            let results = by_wu.remove(&wu.id)?;
            Some(Job { wu, results })
        })
        .collect();
    Ok(Batch {
        jobs,
        scanned,
        last,
    })
}

/// The workunits of `selection`, in id order, at most `limit`.
async fn flagged_workunits(
    conn: &mut MySqlConnection,
    selection: Selection,
    limit: usize,
) -> Result<Vec<ValidatorWorkunit>, sqlx::Error> {
    let mut filter = match selection.only {
        Some(id) => format!("id = {id}"),
        None => format!(
            "appid = {} AND need_validate > 0 AND {}",
            selection.appid,
            selection.slice.sql_predicate("id")
        ),
    };
    if selection.only.is_none() {
        if let Some(after) = selection.after {
            filter.push_str(&format!(" AND id > {after}"));
        }
        if let Some(min) = selection.min_id {
            filter.push_str(&format!(" AND id >= {min}"));
        }
        if let Some(max) = selection.max_id {
            filter.push_str(&format!(" AND id <= {max}"));
        }
    }
    let sql = format!("SELECT {WU_COLUMNS} FROM workunit WHERE {filter} ORDER BY id LIMIT {limit}");
    sqlx::query_as(sqlx::AssertSqlSafe(sql))
        .fetch_all(&mut *conn)
        .await
}
