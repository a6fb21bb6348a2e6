//! Writing a validated batch: one transaction, a handful of bulk statements.
//!
//! BOINC's validator needs about 15 statements per two-result job, each its own commit. Here a
//! batch's result, host, user, team, `host_app_version` and workunit changes are one bulk
//! statement per table, plus one INSERT for `credited_job` and the app versions' statistics, in
//! one transaction: a crash leaves each job either validated with all its credit, or untouched
//! (and still flagged).

use rboinc_core::db::{credited_job, host_app_version};
use rboinc_core::state::TRANSITION_TIME_NEVER;
use sqlx::MySqlConnection;

use super::handle::{BatchState, Transition};
use crate::bulk::{Assign, BulkError, BulkUpdate, Lit};
use crate::credit::{AppVersions, CreditLedger, hav};

/// How long a job waits after a transient error (BOINC: 6 hours).
pub const RETRY_DELAY_SECS: i32 = 6 * 3600;

/// Writes everything `state` holds, and the app version statistics samples of `versions`, on
/// `tx` (a transaction the caller commits). `now` is the Unix time written as
/// `transition_time`, `now_exact` the one for credit averages.
pub async fn write_batch(
    tx: &mut MySqlConnection,
    state: &BatchState,
    versions: &AppVersions,
    now: i32,
    now_exact: f64,
) -> Result<(), BulkError> {
    let mut results = BulkUpdate::new("result", &["id"]);
    for (id, w) in &state.results {
        let key = [id.get()];
        results.set(
            &key,
            "validate_state",
            Assign::Set(Lit::Int(w.validate_state as i64)),
        );
        results.set(&key, "granted_credit", Assign::Set(w.granted_credit.into()));
        results.set(
            &key,
            "server_state",
            Assign::Set(Lit::Int(w.server_state as i64)),
        );
        results.set(&key, "outcome", Assign::Set(Lit::Int(w.outcome as i64)));
        results.set(&key, "opaque", Assign::Set(w.opaque.into()));
        results.set(
            &key,
            "runtime_outlier",
            Assign::Set(w.runtime_outlier.into()),
        );
    }
    results.execute(tx).await?;

    let mut havs = hav::bulk_update();
    for (key, row) in &state.havs {
        // BOINC skips results whose host is gone, statistics included.
        if !state.ledger.has_host(key.0) {
            continue;
        }
        let Some(read) = state.havs_read.get(key) else {
            continue;
        };
        let finite = [
            row.pfc_n,
            row.pfc_avg,
            row.et_n,
            row.et_avg,
            row.et_var,
            row.et_q,
            row.turnaround_n,
            row.turnaround_avg,
            row.turnaround_var,
            row.turnaround_q,
        ]
        .iter()
        .all(|v| v.is_finite());
        if !finite {
            tracing::error!(host_id = %key.0, app_version_id = key.1, "host statistics are not finite (is the job's rsc_fpops_est 0?); not written");
            continue;
        }
        hav::write_validator(&mut havs, row, read);
    }
    havs.execute(tx).await?;

    let (mut hosts, mut users, mut teams) = CreditLedger::bulk_updates();
    state
        .ledger
        .queue_writes(&mut hosts, &mut users, &mut teams);
    hosts.execute(tx).await?;
    users.execute(tx).await?;
    teams.execute(tx).await?;

    let mut wus = BulkUpdate::new("workunit", &["id"]);
    // A column is assigned one way per statement: the LEAST ones go in their own.
    let mut delayed = BulkUpdate::new("workunit", &["id"]);
    for w in &state.workunits {
        let key = [w.id.get()];
        wus.set(&key, "need_validate", Assign::Set(Lit::Int(0)));
        if let Some(mask) = w.error_mask {
            wus.set(&key, "error_mask", Assign::Set(mask.into()));
        }
        if let Some(s) = w.assimilate_state {
            wus.set(&key, "assimilate_state", Assign::Set(s.into()));
        }
        if let Some(n) = w.target_nresults {
            wus.set(&key, "target_nresults", Assign::Set(n.into()));
        }
        if let Some((id, credit)) = w.canonical {
            wus.set(&key, "canonical_resultid", Assign::Set(Lit::Int(id.get())));
            wus.set(&key, "canonical_credit", Assign::Set(credit.into()));
        }
        match w.transition {
            Transition::NoChange => {}
            Transition::Immediate => wus.set(&key, "transition_time", Assign::Set(now.into())),
            Transition::Delayed => delayed.set(
                &key,
                "transition_time",
                Assign::Least(now.saturating_add(RETRY_DELAY_SECS).into()),
            ),
            Transition::Never => wus.set(
                &key,
                "transition_time",
                Assign::Set(TRANSITION_TIME_NEVER.into()),
            ),
        }
    }
    wus.execute(tx).await?;
    delayed.execute(tx).await?;

    credited_job::insert_many(tx, &state.credited_jobs).await?;
    state.by_app.write(tx).await?;

    for &(host, avid) in &state.punished {
        if !host_app_version::throttle(&mut *tx, host, avid).await? {
            tracing::warn!(host_id = %host, app_version_id = avid, "--check_punitive: no host_app_version row to throttle");
        }
    }
    versions.write_samples(tx, now_exact).await?;
    Ok(())
}
