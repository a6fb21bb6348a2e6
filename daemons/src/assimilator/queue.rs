//! The assimilator's SQL: reading workunits that are ready, and recording what was done.
//!
//! BOINC's assimilator reads the ready workunits, then for each one all of its results, and
//! writes each state change as its own autocommitted UPDATE: three or more round trips per
//! workunit. Here one query reads a whole batch of ready workunits *with* their canonical
//! result (a join), and one UPDATE marks the whole batch done; the per-workunit state changes
//! are the same.
//!
//! Batches are read in id order with a cursor (`id > last`), so a workunit whose handler
//! failed (and which therefore stays READY) is not read again in the same pass.

use rboinc_core::daemon::ModSlice;
use rboinc_core::db::text::NullableText;
use rboinc_core::db::{AppId, BatchId, ResultId, WorkunitId};
use rboinc_core::state::{AssimilateState, ErrorMask};
use sqlx::mysql::MySqlExecutor;

/// A workunit with `assimilate_state = READY`, and what an assimilator needs of it.
#[derive(Debug, Clone, PartialEq)]
pub struct ReadyWorkunit {
    pub id: WorkunitId,
    pub name: String,
    pub batch: BatchId,
    pub error_mask: ErrorMask,
    pub canonical_resultid: ResultId,
    /// The canonical result's row, if `canonical_resultid` names a result of this workunit
    /// that still exists.
    pub canonical: Option<CanonicalResult>,
}

/// The columns of the canonical result that handlers use.
#[derive(Debug, Clone, PartialEq)]
pub struct CanonicalResult {
    pub id: ResultId,
    /// Output `<file_info>`s and `<file_ref>`s (see [`super::output_files`]).
    pub xml_doc_in: String,
    pub elapsed_time: f64,
}

#[derive(sqlx::FromRow)]
struct Row {
    id: WorkunitId,
    name: String,
    batch: BatchId,
    error_mask: i32,
    canonical_resultid: ResultId,
    canon_id: Option<ResultId>,
    #[sqlx(try_from = "NullableText")]
    canon_xml_doc_in: String,
    canon_elapsed_time: Option<f64>,
}

impl From<Row> for ReadyWorkunit {
    fn from(r: Row) -> Self {
        ReadyWorkunit {
            id: r.id,
            name: r.name,
            batch: r.batch,
            error_mask: ErrorMask(r.error_mask),
            canonical_resultid: r.canonical_resultid,
            canonical: r.canon_id.map(|id| CanonicalResult {
                id,
                xml_doc_in: r.canon_xml_doc_in,
                elapsed_time: r.canon_elapsed_time.unwrap_or(0.0),
            }),
        }
    }
}

/// Up to `limit` READY workunits of `appid` in this daemon's `--mod` slice with id above
/// `after`, in id order (index `wu_assim`).
pub async fn ready_batch(
    ex: impl MySqlExecutor<'_>,
    appid: AppId,
    modulo: ModSlice,
    after: WorkunitId,
    limit: u32,
) -> Result<Vec<ReadyWorkunit>, sqlx::Error> {
    // The canonical result must belong to the workunit, as BOINC finds it among the
    // workunit's own results.
    let sql = format!(
        "SELECT w.id, w.name, w.batch, w.error_mask, w.canonical_resultid, \
         r.id AS canon_id, r.xml_doc_in AS canon_xml_doc_in, r.elapsed_time AS canon_elapsed_time \
         FROM workunit w \
         LEFT JOIN result r ON r.id = w.canonical_resultid AND r.workunitid = w.id \
         WHERE w.appid = ? AND w.assimilate_state = ? AND {} AND w.id > ? \
         ORDER BY w.id LIMIT ?",
        modulo.sql_predicate("w.id")
    );
    let rows: Vec<Row> = sqlx::query_as(sqlx::AssertSqlSafe(sql))
        .bind(appid)
        .bind(AssimilateState::Ready)
        .bind(after)
        .bind(limit)
        .fetch_all(ex)
        .await?;
    Ok(rows.into_iter().map(ReadyWorkunit::from).collect())
}

/// Records `error_mask = NO_CANONICAL_RESULT` on READY workunits that have no canonical result
/// and no error: BOINC's assimilator does this before calling the handler.
pub async fn set_no_canonical(
    ex: impl MySqlExecutor<'_>,
    ids: &[WorkunitId],
) -> Result<u64, sqlx::Error> {
    if ids.is_empty() {
        return Ok(0);
    }
    let sql = format!(
        "UPDATE workunit SET error_mask = {} WHERE id IN ({}) AND error_mask = 0",
        ErrorMask::NO_CANONICAL_RESULT.bits(),
        ids_sql(ids)
    );
    let done = sqlx::query(sqlx::AssertSqlSafe(sql)).execute(ex).await?;
    Ok(done.rows_affected())
}

/// Marks workunits assimilated: `assimilate_state = DONE`, `transition_time = now` (so the
/// transitioner looks at them next and marks their files for deletion). Only rows still READY
/// change. Returns the number of rows matched.
pub async fn mark_done(
    ex: impl MySqlExecutor<'_>,
    ids: &[WorkunitId],
    now: i32,
) -> Result<u64, sqlx::Error> {
    if ids.is_empty() {
        return Ok(0);
    }
    let sql = format!(
        "UPDATE workunit SET assimilate_state = ?, transition_time = ? \
         WHERE id IN ({}) AND assimilate_state = ?",
        ids_sql(ids)
    );
    let done = sqlx::query(sqlx::AssertSqlSafe(sql))
        .bind(AssimilateState::Done)
        .bind(now)
        .bind(AssimilateState::Ready)
        .execute(ex)
        .await?;
    Ok(done.rows_affected())
}

fn ids_sql(ids: &[WorkunitId]) -> String {
    crate::bulk::id_list(ids.iter().map(|id| id.get()))
}
