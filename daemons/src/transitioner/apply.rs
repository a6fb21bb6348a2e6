//! Writing a batch of plans: one transaction, a handful of statements.
//!
//! BOINC's transitioner writes every result and workunit with its own autocommitted statement.
//! Here a whole batch is one transaction, so a crash (even SIGKILL) leaves each workunit either
//! fully transitioned or untouched, and the next pass simply redoes the untouched ones:
//! - result state changes, grouped by (state read, new state): one `UPDATE … WHERE id IN (…)`
//!   per group, which also requires the row to still be in the state that was read, so a result
//!   the scheduler changed meanwhile (reported, sent) is not overwritten;
//! - host statistics penalties for timed-out results (`host_app_version`), one bulk update;
//! - new results, multi-row INSERTs;
//! - workunits, one bulk update, `transition_time` written conditionally as BOINC does (if the
//!   row no longer holds the value read, another process changed the job: set it to now, so the
//!   next pass looks again).

use std::collections::{BTreeMap, HashMap};

use rboinc_core::db::{WorkunitId, result};
use sqlx::{Acquire, MySqlConnection};

use super::create::NewReplicaRow;
use super::plan::{Plan, ReplicaState};
use crate::bulk::{Assign, BulkError, BulkUpdate, Lit, id_list};
use crate::credit::hav;

/// What a batch write did, for logs and tests.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct Written {
    /// Result rows changed.
    pub results_changed: u64,
    /// Result changes skipped because the row had changed since it was read.
    pub results_skipped: u64,
    pub results_created: u64,
    pub workunits: u64,
    pub host_penalties: u64,
}

/// Writes `plans` (and the new rows made for them) in one transaction.
pub async fn write_batch(
    conn: &mut MySqlConnection,
    plans: &[Plan],
    new_rows: &[NewReplicaRow],
    delay_bounds: &HashMap<WorkunitId, i32>,
    daily_result_quota: i32,
    now: i32,
) -> Result<Written, BulkError> {
    let mut tx = conn.begin().await?;
    let mut written = Written::default();
    let t0 = std::time::Instant::now();

    let mut groups: BTreeMap<(ReplicaState, ReplicaState), Vec<i64>> = BTreeMap::new();
    for change in plans.iter().flat_map(|p| &p.changes) {
        groups
            .entry((change.before, change.after))
            .or_default()
            .push(change.id.get());
    }
    for ((before, after), ids) in &groups {
        for chunk in ids.chunks(2000) {
            let changed = change_results_if_unchanged(&mut tx, chunk, *before, *after).await?;
            written.results_changed += changed;
            written.results_skipped += chunk.len() as u64 - changed;
        }
    }

    let timeouts: Vec<_> = plans
        .iter()
        .flat_map(|p| p.timeouts.iter().map(move |t| (p.wu_id, t)))
        .collect();
    if !timeouts.is_empty() {
        let mut rows = hav::lookup_many(
            &mut tx,
            timeouts.iter().map(|(_, t)| (t.host, t.gen_avid)),
            true,
        )
        .await?;
        let mut update = hav::bulk_update();
        for (wu_id, t) in &timeouts {
            let Some(row) = rows.get_mut(&(t.host, t.gen_avid)) else {
                tracing::warn!(result_id = %t.result_id, host_id = %t.host, "no host_app_version row for the timed-out result's version; no penalty");
                continue;
            };
            let delay_bound = delay_bounds.get(wu_id).copied().unwrap_or(0);
            hav::record_timeout(row, delay_bound, daily_result_quota);
            hav::write_timeout(&mut update, row);
            written.host_penalties += 1;
        }
        update.execute(&mut tx).await?;
    }

    let t1 = t0.elapsed();
    let rows: Vec<_> = new_rows.iter().map(|r| r.as_new_result(now)).collect();
    result::insert_many(&mut tx, &rows).await?;
    written.results_created = new_rows.len() as u64;
    let t2 = t0.elapsed();

    let mut wu_update = BulkUpdate::new("workunit", &["id"]);
    for p in plans {
        let key = [p.wu_id.get()];
        let w = &p.wu;
        let mut set = |column, value: Option<i64>| {
            if let Some(v) = value {
                wu_update.set(&key, column, Assign::Set(Lit::Int(v)));
            }
        };
        set("need_validate", w.need_validate.map(i64::from));
        set("error_mask", w.error_mask.map(i64::from));
        set("assimilate_state", w.assimilate_state.map(i64::from));
        set("file_delete_state", w.file_delete_state.map(i64::from));
        set("hr_class", w.hr_class.map(i64::from));
        set("app_version_id", w.app_version_id);
        if let Some((read, next)) = w.transition_time {
            wu_update.set(
                &key,
                "transition_time",
                Assign::IfEquals {
                    expected: read.into(),
                    then: next.into(),
                    otherwise: now.into(),
                },
            );
        }
    }
    written.workunits = wu_update.execute(&mut tx).await?;
    let t3 = t0.elapsed();
    tx.commit().await?;
    tracing::debug!(
        results_ms = t1.as_secs_f64() * 1e3,
        insert_ms = (t2 - t1).as_secs_f64() * 1e3,
        workunits_ms = (t3 - t2).as_secs_f64() * 1e3,
        commit_ms = (t0.elapsed() - t3).as_secs_f64() * 1e3,
        "batch written"
    );
    Ok(written)
}

/// Moves the results `ids` from state `before` to `after`, each only if it is still in state
/// `before` (the scheduler may have sent or reported it since it was read). Returns how many
/// changed.
async fn change_results_if_unchanged(
    conn: &mut MySqlConnection,
    ids: &[i64],
    before: ReplicaState,
    after: ReplicaState,
) -> Result<u64, sqlx::Error> {
    let sql = format!(
        "UPDATE result SET server_state = {}, outcome = {}, validate_state = {}, \
         file_delete_state = {} WHERE id IN ({}) AND server_state = {} AND outcome = {} \
         AND validate_state = {} AND file_delete_state = {}",
        after.server_state,
        after.outcome,
        after.validate_state,
        after.file_delete_state,
        id_list(ids.iter().copied()),
        before.server_state,
        before.outcome,
        before.validate_state,
        before.file_delete_state,
    );
    let done = sqlx::raw_sql(sqlx::AssertSqlSafe(sql))
        .execute(&mut *conn)
        .await?;
    Ok(done.rows_affected())
}
