//! `series resume`: restart a stopped chain once the cause is fixed.
//!
//! If the chain stopped because workunits of its newest generation failed for good, their
//! rounds go back to the queue under a new workunit name (BOINC workunit names
//! are unique, and the failed workunit stays as the record of the failure); the chain is
//! marked running and the next `work_generator` pass creates the generation again, from the
//! state staged for it. A chain stopped for another reason (its state could not be taken) is
//! marked running and tried again as it is.

use rboinc_core::clock::now_i32;
use rboinc_core::db;

use super::{CHAIN_RUNNING, CHAIN_STOPPED};
use crate::SeriesError;
use crate::store::{ROUND_CREATED, ROUND_QUEUED, SERIES_ACTIVE, SeriesRow};

/// What a resume did.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Resumed {
    /// The rounds queued again, with their new workunit names.
    pub requeued: Vec<(i32, String)>,
}

/// Resumes the stopped chain `s`.
pub async fn resume(pool: &db::Pool, s: &SeriesRow) -> Result<Resumed, SeriesError> {
    let Some(chain) = super::chain(pool, s.id).await? else {
        return Err(SeriesError::Invalid(format!(
            "series {} is not a chain (only chains stop and resume)",
            s.name
        )));
    };
    if s.state != SERIES_ACTIVE {
        return Err(SeriesError::Invalid(format!(
            "series {} was cancelled; submit it again",
            s.name
        )));
    }
    if chain.state != CHAIN_STOPPED {
        return Err(SeriesError::Invalid(format!(
            "series {} is running, not stopped",
            s.name
        )));
    }
    let mut tx = pool.begin().await?;
    let failed: Vec<(i64, i32)> = sqlx::query_as(
        "SELECT r.id, r.round FROM rb_series_round r JOIN workunit w ON w.id = r.workunit_id \
         WHERE r.series_id = ? AND r.state = ? AND w.error_mask <> 0 ORDER BY r.round FOR UPDATE",
    )
    .bind(s.id)
    .bind(ROUND_CREATED)
    .fetch_all(&mut *tx)
    .await?;
    let now = now_i32();
    let mut requeued = Vec::with_capacity(failed.len());
    for (id, round) in failed {
        let name = format!("{}_{round}_resumed_{now}", s.name);
        sqlx::query(
            "UPDATE rb_series_round SET state = ?, workunit_id = 0, created_time = 0, wu_name = ? \
             WHERE id = ?",
        )
        .bind(ROUND_QUEUED)
        .bind(&name)
        .bind(id)
        .execute(&mut *tx)
        .await?;
        requeued.push((round, name));
    }
    sqlx::query("UPDATE rb_series_chain SET state = ?, stop_reason = '' WHERE series_id = ?")
        .bind(CHAIN_RUNNING)
        .bind(s.id)
        .execute(&mut *tx)
        .await?;
    tx.commit().await?;
    Ok(Resumed { requeued })
}
