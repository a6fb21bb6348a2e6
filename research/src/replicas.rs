//! Rounds of a series whose next replica can go nowhere: every host that asks for work
//! already holds one. The rule and the query are [`rboinc_core::db::replicas`]' (the ops page
//! asks too); this is what `series status` and `series wait` make of them.

use rboinc_core::config::SchedConfig;
use rboinc_core::db;
pub use rboinc_core::db::replicas::{BlockedRound, RECENT_RPC_SECS, ReplicaRule};

/// The unfinished rounds of series `series_id` whose unsent replica every recently seen host
/// is barred from, at time `now`.
pub async fn blocked_rounds(
    pool: &db::Pool,
    series_id: i64,
    rule: ReplicaRule,
    now: i32,
) -> Result<Vec<BlockedRound>, sqlx::Error> {
    db::replicas::blocked_rounds(pool, Some(series_id), rule, now).await
}

/// The messages for series `series_id` now (none if the database cannot tell: the other
/// warnings and the progress still show).
pub async fn hints(pool: &db::Pool, sched: &SchedConfig, series_id: i64) -> Vec<String> {
    let rule = ReplicaRule::of(sched);
    match blocked_rounds(pool, series_id, rule, rboinc_core::clock::now_i32()).await {
        Ok(b) => b.iter().map(|b| b.message(rule)).collect(),
        Err(e) => {
            tracing::warn!(error = %e, "cannot check for rounds no host may take");
            Vec::new()
        }
    }
}
