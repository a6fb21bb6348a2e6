//! `host_app_version`: per (host, app version) statistics and daily quota, as the transitioner
//! and the validator keep them.
//!
//! Rows are keyed by the *generalized* app version id (anonymous-platform versions get one row per
//! app and processor type). [`lookup`] is BOINC's `hav_lookup`: when a host first reports with a
//! new version of an app, its row for the previous version of the same app, platform and plan
//! class is re-keyed to the new version, so the new version inherits the host's statistics and
//! reliability instead of starting from zero. (The C++ daemon keeps the old key in memory after
//! re-keying, so its first statistics update of that row is lost; ours updates the re-keyed row.)
//!
//! The bookkeeping rules ([`record_timeout`], [`record_valid`], [`record_invalid`]) change a row
//! in memory; [`write_timeout`] and [`write_validator`] queue the columns each daemon writes into
//! a [`BulkUpdate`].

use std::collections::HashMap;

use rboinc_core::db::HostId;
use rboinc_core::db::host_app_version::{self, HostAppVersionRow};
use sqlx::MySqlConnection;

use super::average::{HAV_AVERAGE, RunningAverage, RunningAverageVar};
use crate::bulk::{Assign, BulkUpdate, id_list};

/// A row's key: host id and generalized app version id.
pub type HavKey = (HostId, i64);

/// The `pfc` statistics of a row (claimed PFC / `rsc_fpops_est`).
pub fn pfc(row: &mut HostAppVersionRow) -> RunningAverage<'_> {
    RunningAverage {
        n: &mut row.pfc_n,
        avg: &mut row.pfc_avg,
    }
}

/// The `et` statistics (elapsed time / `rsc_fpops_est`).
pub fn et(row: &mut HostAppVersionRow) -> RunningAverageVar<'_> {
    RunningAverageVar {
        n: &mut row.et_n,
        avg: &mut row.et_avg,
        var: &mut row.et_var,
        q: &mut row.et_q,
    }
}

/// The `turnaround` statistics (seconds from sending to reporting).
pub fn turnaround(row: &mut HostAppVersionRow) -> RunningAverageVar<'_> {
    RunningAverageVar {
        n: &mut row.turnaround_n,
        avg: &mut row.turnaround_avg,
        var: &mut row.turnaround_var,
        q: &mut row.turnaround_q,
    }
}

/// A result of this host timed out (transitioner): the whole delay bound counts as its
/// turnaround, the daily quota shrinks by one (0 meaning "the configured quota"; never below 1),
/// and the run of valid results is broken.
pub fn record_timeout(row: &mut HostAppVersionRow, delay_bound: i32, daily_result_quota: i32) {
    turnaround(row).update(f64::from(delay_bound), HAV_AVERAGE);
    let mut n = row.max_jobs_per_day;
    if n == 0 {
        n = daily_result_quota;
    }
    n = n.min(daily_result_quota) - 1;
    row.max_jobs_per_day = n.max(1);
    row.consecutive_valid = 0;
}

/// A result of this host was found valid (validator). `replicated` is false for a job sent
/// unreplicated under adaptive replication, which does not extend the run of valid results.
pub fn record_valid(row: &mut HostAppVersionRow, replicated: bool) {
    row.max_jobs_per_day += 1;
    if replicated {
        row.consecutive_valid += 1;
    }
}

/// A result of this host was found invalid (validator).
pub fn record_invalid(row: &mut HostAppVersionRow, daily_result_quota: i32) {
    row.consecutive_valid = 0;
    if row.max_jobs_per_day > daily_result_quota {
        row.max_jobs_per_day -= 1;
    }
}

const KEYS: &[&str] = &["host_id", "app_version_id"];

/// An empty bulk update of `host_app_version`.
pub fn bulk_update() -> BulkUpdate {
    BulkUpdate::new("host_app_version", KEYS)
}

fn key(row: &HostAppVersionRow) -> [i64; 2] {
    [row.host_id.get(), row.app_version_id]
}

/// Queues the columns the transitioner writes after a timeout.
pub fn write_timeout(update: &mut BulkUpdate, row: &HostAppVersionRow) {
    let k = key(row);
    update.set(&k, "turnaround_n", Assign::Set(row.turnaround_n.into()));
    update.set(&k, "turnaround_avg", Assign::Set(row.turnaround_avg.into()));
    update.set(&k, "turnaround_var", Assign::Set(row.turnaround_var.into()));
    update.set(&k, "turnaround_q", Assign::Set(row.turnaround_q.into()));
    update.set(
        &k,
        "max_jobs_per_day",
        Assign::Set(row.max_jobs_per_day.into()),
    );
    update.set(
        &k,
        "consecutive_valid",
        Assign::Set(row.consecutive_valid.into()),
    );
}

/// Queues the columns the validator writes, if any of them differs from `orig` (the row as read).
pub fn write_validator(update: &mut BulkUpdate, row: &HostAppVersionRow, orig: &HostAppVersionRow) {
    let unchanged = row.pfc_n == orig.pfc_n
        && row.pfc_avg == orig.pfc_avg
        && row.et_n == orig.et_n
        && row.et_avg == orig.et_avg
        && row.et_q == orig.et_q
        && row.et_var == orig.et_var
        && row.turnaround_n == orig.turnaround_n
        && row.turnaround_avg == orig.turnaround_avg
        && row.turnaround_q == orig.turnaround_q
        && row.turnaround_var == orig.turnaround_var
        && row.consecutive_valid == orig.consecutive_valid
        && row.max_jobs_per_day == orig.max_jobs_per_day;
    if unchanged {
        return;
    }
    let k = key(row);
    for (column, value) in [
        ("pfc_n", row.pfc_n),
        ("pfc_avg", row.pfc_avg),
        ("et_n", row.et_n),
        ("et_avg", row.et_avg),
        ("et_q", row.et_q),
        ("et_var", row.et_var),
        ("turnaround_n", row.turnaround_n),
        ("turnaround_avg", row.turnaround_avg),
        ("turnaround_q", row.turnaround_q),
        ("turnaround_var", row.turnaround_var),
    ] {
        update.set(&k, column, Assign::Set(value.into()));
    }
    update.set(
        &k,
        "consecutive_valid",
        Assign::Set(row.consecutive_valid.into()),
    );
    update.set(
        &k,
        "max_jobs_per_day",
        Assign::Set(row.max_jobs_per_day.into()),
    );
}

/// BOINC's `hav_lookup`: the row for `(host, gen_avid)`, created (or inherited from the host's
/// row for an older version of the same app, platform and plan class) if missing. `Ok(None)` if
/// `gen_avid` names no app version, which BOINC treats as "no row".
pub async fn lookup(
    conn: &mut MySqlConnection,
    host: HostId,
    gen_avid: i64,
) -> Result<Option<HostAppVersionRow>, sqlx::Error> {
    if let Some(row) = host_app_version::get(&mut *conn, host, gen_avid).await? {
        return Ok(Some(row));
    }
    if gen_avid >= 0 {
        let Some(av) = rboinc_core::db::app_version::by_id(&mut *conn, gen_avid.into()).await?
        else {
            return Ok(None);
        };
        // The host's rows for other versions of the same app, platform and plan class; BOINC
        // compares plan classes byte for byte, so the filter on it is done here, not in SQL.
        let candidates: Vec<(i64, i32, String)> = sqlx::query_as(
            "SELECT h.app_version_id, av.version_num, av.plan_class \
             FROM host_app_version h JOIN app_version av ON av.id = h.app_version_id \
             WHERE h.host_id = ? AND av.appid = ? AND av.platformid = ? \
             ORDER BY h.app_version_id",
        )
        .bind(host)
        .bind(av.appid)
        .bind(av.platformid)
        .fetch_all(&mut *conn)
        .await?;
        let best = candidates
            .into_iter()
            .filter(|(_, _, plan_class)| *plan_class == av.plan_class)
            .fold(None::<(i64, i32)>, |best, (id, version, _)| match best {
                Some((_, v)) if version <= v => best,
                _ => Some((id, version)),
            });
        if let Some((old_id, _)) = best {
            let done = sqlx::query(
                "UPDATE host_app_version SET app_version_id = ? \
                 WHERE host_id = ? AND app_version_id = ?",
            )
            .bind(gen_avid)
            .bind(host)
            .bind(old_id)
            .execute(&mut *conn)
            .await?;
            if done.rows_affected() > 0 {
                tracing::debug!(host_id = %host, from = old_id, to = gen_avid, "host_app_version inherited");
            }
            if let Some(row) = host_app_version::get(&mut *conn, host, gen_avid).await? {
                return Ok(Some(row));
            }
        }
    }
    let row = HostAppVersionRow::zero(host, gen_avid);
    match host_app_version::insert(&mut *conn, &row).await {
        Ok(()) => Ok(Some(row)),
        // Someone (the scheduler) made it meanwhile: use theirs.
        Err(e)
            if e.as_database_error()
                .is_some_and(|d| d.is_unique_violation()) =>
        {
            host_app_version::get(&mut *conn, host, gen_avid).await
        }
        Err(e) => Err(e),
    }
}

/// [`lookup`] for many keys: existing rows in one query, missing ones one by one. Keys whose app
/// version does not exist are absent from the map. With `lock`, the rows are read with `FOR
/// UPDATE` (inside the caller's transaction), so a concurrent writer of the same rows waits.
pub async fn lookup_many(
    conn: &mut MySqlConnection,
    keys: impl IntoIterator<Item = HavKey>,
    lock: bool,
) -> Result<HashMap<HavKey, HostAppVersionRow>, sqlx::Error> {
    let mut wanted: Vec<HavKey> = keys.into_iter().collect();
    wanted.sort();
    wanted.dedup();
    let mut found = HashMap::with_capacity(wanted.len());
    for chunk in wanted.chunks(2000) {
        let hosts = id_list(chunk.iter().map(|(h, _)| h.get()));
        let mut versions: Vec<i64> = chunk.iter().map(|(_, v)| *v).collect();
        versions.sort();
        versions.dedup();
        // A superset (every host × every version of the chunk), filtered below: the two IN lists
        // use the (host_id, app_version_id) index.
        let sql = format!(
            "SELECT * FROM host_app_version WHERE host_id IN ({hosts}) AND app_version_id IN ({}) \
             ORDER BY host_id, app_version_id{}",
            id_list(versions),
            if lock { " FOR UPDATE" } else { "" }
        );
        let rows: Vec<HostAppVersionRow> = sqlx::query_as(sqlx::AssertSqlSafe(sql))
            .fetch_all(&mut *conn)
            .await?;
        for row in rows {
            found.insert((row.host_id, row.app_version_id), row);
        }
    }
    found.retain(|k, _| wanted.binary_search(k).is_ok());
    for k in wanted {
        if !found.contains_key(&k)
            && let Some(row) = lookup(conn, k.0, k.1).await?
        {
            found.insert(k, row);
        }
    }
    Ok(found)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn timeout_penalty_matches_the_oracle() {
        // Oracle scenario 02: a fresh row, delay_bound 86400, daily_result_quota 100.
        let mut row = HostAppVersionRow::zero(HostId(2), 1);
        record_timeout(&mut row, 86400, 100);
        assert_eq!(row.max_jobs_per_day, 99);
        assert_eq!(row.turnaround_n, 1.0);
        assert_eq!(row.turnaround_avg, 86400.0);
        assert_eq!((row.turnaround_var, row.turnaround_q), (0.0, 0.0));
        assert_eq!(row.consecutive_valid, 0);
    }

    #[test]
    fn timeout_quota_is_clamped_and_never_below_one() {
        let mut row = HostAppVersionRow::zero(HostId(1), 1);
        row.max_jobs_per_day = 500;
        record_timeout(&mut row, 10, 100);
        assert_eq!(row.max_jobs_per_day, 99);
        row.max_jobs_per_day = 1;
        record_timeout(&mut row, 10, 100);
        assert_eq!(row.max_jobs_per_day, 1);
        // No quota configured: 0 - 1 -> floor 1.
        let mut row = HostAppVersionRow::zero(HostId(1), 1);
        record_timeout(&mut row, 10, 0);
        assert_eq!(row.max_jobs_per_day, 1);
    }

    #[test]
    fn valid_and_invalid() {
        let mut row = HostAppVersionRow::zero(HostId(1), 1);
        record_valid(&mut row, true);
        assert_eq!((row.max_jobs_per_day, row.consecutive_valid), (1, 1));
        record_valid(&mut row, false);
        assert_eq!((row.max_jobs_per_day, row.consecutive_valid), (2, 1));
        record_invalid(&mut row, 1);
        assert_eq!((row.max_jobs_per_day, row.consecutive_valid), (1, 0));
        record_invalid(&mut row, 1);
        assert_eq!(row.max_jobs_per_day, 1, "not below the configured quota");
    }

    #[test]
    fn unchanged_rows_are_not_written() {
        let row = HostAppVersionRow::zero(HostId(1), 1);
        let mut u = bulk_update();
        write_validator(&mut u, &row, &row.clone());
        assert!(u.is_empty());
        let mut changed = row.clone();
        changed.max_jobs_per_day = 1;
        write_validator(&mut u, &changed, &row);
        assert_eq!(u.len(), 1);
    }
}
