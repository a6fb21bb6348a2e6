//! `series cancel`: stop a series — queued rounds are never created, created workunits are
//! cancelled the way BOINC's `cancel_jobs` does it (unsent results become DIDNT_NEED, the
//! workunit gets the CANCELLED error bit and a transition now, so clients that have the job
//! are told to abort it).

use rboinc_core::db;
use rboinc_core::state::BatchState;

use crate::store::{
    self, ROUND_CANCELLED, ROUND_CREATED, ROUND_QUEUED, SERIES_CANCELLED, SeriesRow,
};
use rboinc_core::clock::now_i32;

/// What a cancel did.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Cancelled {
    pub rounds_dropped: u64,
    pub workunits_cancelled: u64,
}

pub async fn cancel(pool: &db::Pool, series: &SeriesRow) -> Result<Cancelled, sqlx::Error> {
    let now = now_i32();
    let mut tx = pool.begin().await?;
    store::set_series_state(&mut *tx, series.id, SERIES_CANCELLED).await?;
    let dropped =
        sqlx::query("UPDATE rb_series_round SET state = ? WHERE series_id = ? AND state = ?")
            .bind(ROUND_CANCELLED)
            .bind(series.id)
            .bind(ROUND_QUEUED)
            .execute(&mut *tx)
            .await?
            .rows_affected();
    sqlx::query(
        "UPDATE result x JOIN rb_series_round r ON r.workunit_id = x.workunitid \
         SET x.server_state = 5, x.outcome = 5 \
         WHERE r.series_id = ? AND r.state = ? AND x.server_state = 2",
    )
    .bind(series.id)
    .bind(ROUND_CREATED)
    .execute(&mut *tx)
    .await?;
    let cancelled = sqlx::query(
        "UPDATE workunit w JOIN rb_series_round r ON r.workunit_id = w.id \
         SET w.error_mask = w.error_mask | 16, w.transition_time = ? \
         WHERE r.series_id = ? AND r.state = ? AND w.canonical_resultid = 0 AND w.error_mask = 0",
    )
    .bind(now)
    .bind(series.id)
    .bind(ROUND_CREATED)
    .execute(&mut *tx)
    .await?
    .rows_affected();
    db::batch::set_state(&mut *tx, series.batch_id, BatchState::Aborted).await?;
    tx.commit().await?;
    Ok(Cancelled {
        rounds_dropped: dropped,
        workunits_cancelled: cancelled,
    })
}
