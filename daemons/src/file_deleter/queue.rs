//! The file deleter's SQL: rows whose files may be deleted, and their new states.
//!
//! BOINC's file_deleter writes one UPDATE per row; here a batch of rows (1500 results or 500
//! workunits, BOINC's enumeration sizes) is read by one query and its new states are written
//! by at most two UPDATEs (one per new state). Batches are read in id order with a cursor, so
//! rows that keep their state (an ERROR retried in vain, or `--dry_run`) are read once per pass.
//!
//! A row whose files a live job still needs is left out whatever its `file_delete_state` says
//! (see [`STILL_NEEDED_OUTPUT`] and [`STILL_NEEDED_INPUT`]); it is deleted once the job is done.

use rboinc_core::daemon::ModSlice;
use rboinc_core::db::text::NullableText;
use rboinc_core::db::{AppId, ResultId, WorkunitId};
use rboinc_core::state::FileDeleteState;
use sqlx::mysql::MySqlExecutor;

use crate::bulk::id_list;

/// Which rows this daemon handles (besides their state).
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Selection {
    /// `--mod N I` (on result ids for results, on workunit ids for workunits).
    pub modulo: ModSlice,
    /// `--app`/`--appid`.
    pub appid: Option<AppId>,
    /// `--dont_delete_batches`: only rows with `batch <= 0`.
    pub skip_batches: bool,
    /// `--xml_doc_like`: workunits only, `xml_doc LIKE pattern`.
    pub xml_doc_like: Option<String>,
}

impl Selection {
    fn predicate(&self) -> String {
        let mut s = self.modulo.sql_predicate("id");
        if let Some(appid) = self.appid {
            s.push_str(&format!(" AND appid = {}", appid.get()));
        }
        if self.skip_batches {
            s.push_str(" AND batch <= 0");
        }
        s
    }
}

/// A result whose output files are to be deleted.
#[derive(Debug, Clone, PartialEq, sqlx::FromRow)]
pub struct ResultFiles {
    pub id: ResultId,
    pub name: String,
    #[sqlx(try_from = "NullableText")]
    pub xml_doc_in: String,
    /// Only for the log (a missing output of a failed result is expected).
    pub outcome: i32,
    /// For the log line.
    pub workunitid: WorkunitId,
    /// The app's name, for the log line (empty if the app row is gone).
    #[sqlx(try_from = "NullableText")]
    pub app: String,
}

/// A workunit whose input files are to be deleted.
#[derive(Debug, Clone, PartialEq, sqlx::FromRow)]
pub struct WorkunitFiles {
    pub id: WorkunitId,
    pub name: String,
    #[sqlx(try_from = "NullableText")]
    pub xml_doc: String,
    /// The app's name, for the log line (empty if the app row is gone).
    #[sqlx(try_from = "NullableText")]
    pub app: String,
}

/// Leaves out a result whose output a live workunit still needs, whatever its own state says:
/// the canonical result of a workunit not assimilated yet (the assimilator reads it). The
/// transitioner never marks such a row; this keeps a wrong state (a hand edit, a bug) from
/// costing a result.
const STILL_NEEDED_OUTPUT: &str = "AND NOT EXISTS (SELECT 1 FROM workunit w \
     WHERE w.id = result.workunitid AND w.canonical_resultid = result.id \
     AND w.assimilate_state <> 2)";

/// Leaves out a workunit whose input files a client may still download: one with a result
/// unsent or in progress (`server_state` 2 or 4), or not assimilated yet.
const STILL_NEEDED_INPUT: &str = "AND workunit.assimilate_state = 2 AND NOT EXISTS \
     (SELECT 1 FROM result r WHERE r.workunitid = workunit.id AND r.server_state IN (2, 4))";

/// Up to `limit` results in `state` with id above `after` (index `res_filedel`).
pub async fn results(
    ex: impl MySqlExecutor<'_>,
    state: FileDeleteState,
    selection: &Selection,
    after: ResultId,
    limit: u32,
) -> Result<Vec<ResultFiles>, sqlx::Error> {
    let sql = format!(
        "SELECT id, name, xml_doc_in, outcome, workunitid, \
         (SELECT app.name FROM app WHERE app.id = result.appid) AS app FROM result \
         WHERE file_delete_state = ? AND {} AND id > ? {STILL_NEEDED_OUTPUT} ORDER BY id LIMIT ?",
        selection.predicate()
    );
    sqlx::query_as(sqlx::AssertSqlSafe(sql))
        .bind(state)
        .bind(after)
        .bind(limit)
        .fetch_all(ex)
        .await
}

/// Up to `limit` workunits in `state` with id above `after` (index `wu_filedel`).
pub async fn workunits(
    ex: impl MySqlExecutor<'_>,
    state: FileDeleteState,
    selection: &Selection,
    after: WorkunitId,
    limit: u32,
) -> Result<Vec<WorkunitFiles>, sqlx::Error> {
    let like = if selection.xml_doc_like.is_some() {
        " AND xml_doc LIKE ?"
    } else {
        ""
    };
    let sql = format!(
        "SELECT id, name, xml_doc, \
         (SELECT app.name FROM app WHERE app.id = workunit.appid) AS app FROM workunit \
         WHERE file_delete_state = ? AND {}{like} AND id > ? {STILL_NEEDED_INPUT} \
         ORDER BY id LIMIT ?",
        selection.predicate()
    );
    let mut q = sqlx::query_as(sqlx::AssertSqlSafe(sql)).bind(state);
    if let Some(pattern) = &selection.xml_doc_like {
        q = q.bind(pattern.as_str());
    }
    q.bind(after).bind(limit).fetch_all(ex).await
}

/// Sets `file_delete_state` of the given results; returns the rows matched.
pub async fn set_results_state(
    ex: impl MySqlExecutor<'_>,
    ids: &[ResultId],
    state: FileDeleteState,
) -> Result<u64, sqlx::Error> {
    set_state(ex, "result", &id_list(ids.iter().map(|i| i.get())), state).await
}

/// Sets `file_delete_state` of the given workunits; returns the rows matched.
pub async fn set_workunits_state(
    ex: impl MySqlExecutor<'_>,
    ids: &[WorkunitId],
    state: FileDeleteState,
) -> Result<u64, sqlx::Error> {
    set_state(ex, "workunit", &id_list(ids.iter().map(|i| i.get())), state).await
}

async fn set_state(
    ex: impl MySqlExecutor<'_>,
    table: &'static str,
    ids: &str,
    state: FileDeleteState,
) -> Result<u64, sqlx::Error> {
    if ids.is_empty() {
        return Ok(0);
    }
    let sql = format!("UPDATE {table} SET file_delete_state = ? WHERE id IN ({ids})");
    let done = sqlx::query(sqlx::AssertSqlSafe(sql))
        .bind(state)
        .execute(ex)
        .await?;
    Ok(done.rows_affected())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn predicates() {
        assert_eq!(Selection::default().predicate(), "TRUE");
        let s = Selection {
            modulo: ModSlice::new(3, 1).unwrap(),
            appid: Some(AppId(4)),
            skip_batches: true,
            xml_doc_like: None,
        };
        assert_eq!(s.predicate(), "id % 3 = 1 AND appid = 4 AND batch <= 0");
    }
}
