//! db_purge's SQL: finished workunits, their results, and deleting both.
//!
//! BOINC's db_purge reads the workunits, then each workunit's results, and deletes every row
//! with its own statement. Here a batch of workunits (BOINC's 1000) is read by one query, all
//! their results by a second, and the batch is deleted by two statements in one transaction,
//! so a workunit is never left without the results it had, or the other way round.

use rboinc_core::daemon::ModSlice;
use rboinc_core::db::result::ResultRow;
use rboinc_core::db::workunit::WorkunitRow;
use rboinc_core::db::{AppId, ResultId, WorkunitId};
use rboinc_core::state::{BatchState, FileDeleteState};
use sqlx::MySqlConnection;
use sqlx::mysql::MySqlExecutor;

use crate::bulk::id_list;

/// Which finished workunits may be purged.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Selection {
    /// `--min_age_days`, in seconds: only workunits unchanged for that long.
    pub min_age_secs: Option<i64>,
    pub modulo: ModSlice,
    /// `--app`.
    pub appid: Option<AppId>,
    /// `--batch`: only workunits in no batch or in a RETIRED batch.
    pub retired_batches_only: bool,
}

/// A row with its `mod_time` as text (`YYYY-MM-DD HH:MM:SS`, UTC), as archives record it.
#[derive(Debug, Clone, PartialEq, sqlx::FromRow)]
pub struct WithModTime<T> {
    #[sqlx(flatten)]
    pub row: T,
    pub mod_time_text: String,
}

const MOD_TIME: &str = "DATE_FORMAT(mod_time, '%Y-%m-%d %H:%i:%s') AS mod_time_text";

/// Up to `limit` workunits with `file_delete_state = DONE` and id above `after`, in id order.
pub async fn done_workunits(
    ex: impl MySqlExecutor<'_>,
    selection: &Selection,
    after: WorkunitId,
    limit: u32,
) -> Result<Vec<WithModTime<WorkunitRow>>, sqlx::Error> {
    let mut sql = format!(
        "SELECT *, {MOD_TIME} FROM workunit WHERE file_delete_state = {} AND {} AND id > ?",
        FileDeleteState::Done as i32,
        selection.modulo.sql_predicate("id")
    );
    if selection.min_age_secs.is_some() {
        sql.push_str(" AND mod_time < CURRENT_TIMESTAMP() - INTERVAL ? SECOND");
    }
    if let Some(appid) = selection.appid {
        sql.push_str(&format!(" AND appid = {}", appid.get()));
    }
    if selection.retired_batches_only {
        sql.push_str(&format!(
            " AND (batch = 0 OR batch IN (SELECT id FROM batch WHERE state = {}))",
            BatchState::Retired as i32
        ));
    }
    sql.push_str(" ORDER BY id LIMIT ?");
    let mut q = sqlx::query_as(sqlx::AssertSqlSafe(sql)).bind(after);
    if let Some(secs) = selection.min_age_secs {
        q = q.bind(secs);
    }
    q.bind(limit).fetch_all(ex).await
}

/// Every result of the given workunits, by workunit then id.
pub async fn results_of(
    ex: impl MySqlExecutor<'_>,
    workunits: &[WorkunitId],
) -> Result<Vec<WithModTime<ResultRow>>, sqlx::Error> {
    if workunits.is_empty() {
        return Ok(Vec::new());
    }
    let sql = format!(
        "SELECT *, {MOD_TIME} FROM result WHERE workunitid IN ({}) ORDER BY workunitid, id",
        id_list(workunits.iter().map(|id| id.get()))
    );
    sqlx::query_as(sqlx::AssertSqlSafe(sql)).fetch_all(ex).await
}

/// Deletes the results, then the workunits (and, with `assignments`, the workunits'
/// `assignment` rows) in one transaction.
pub async fn delete(
    conn: &mut MySqlConnection,
    results: &[ResultId],
    workunits: &[WorkunitId],
    assignments: bool,
) -> Result<(), sqlx::Error> {
    use sqlx::Connection;
    let mut tx = conn.begin().await?;
    if !results.is_empty() {
        let sql = format!(
            "DELETE FROM result WHERE id IN ({})",
            id_list(results.iter().map(|id| id.get()))
        );
        sqlx::query(sqlx::AssertSqlSafe(sql))
            .execute(&mut *tx)
            .await?;
    }
    if !workunits.is_empty() {
        let ids = id_list(workunits.iter().map(|id| id.get()));
        let sql = format!("DELETE FROM workunit WHERE id IN ({ids})");
        sqlx::query(sqlx::AssertSqlSafe(sql))
            .execute(&mut *tx)
            .await?;
        if assignments {
            let sql = format!("DELETE FROM assignment WHERE workunitid IN ({ids})");
            sqlx::query(sqlx::AssertSqlSafe(sql))
                .execute(&mut *tx)
                .await?;
        }
    }
    tx.commit().await
}
