//! Lost results: jobs the database says a host has, but the host does not list.
//!
//! A reply can be lost on the way (a timeout, a crash of the client before it saved its state);
//! the jobs in it are then `IN_PROGRESS` on the server and unknown to the client, and would only
//! come back after their deadline. With `<resend_lost_results>`, every RPC that lists the tasks
//! the client holds (`<other_results>`) and asks for work is compared with the host's jobs in
//! progress, as BOINC's `resend_lost_work` does: each missing one is sent again with a new
//! deadline if it can still be finished in time (and its workunit still needs it, and the user
//! still selects its app), or else given a deadline in the past so the transitioner re-issues
//! it now.
//!
//! On a returning client's RPC the comparison usually finds nothing lost, so it starts with the
//! host statement: [`unlisted_column`] counts the host's jobs in progress that the client named
//! neither as held nor as reported, and when that count is 0 the lookup below is skipped — one
//! database round trip less per work request, with the same outcome.

use std::collections::HashSet;

use rboinc_core::db::{ResultId, WorkunitId};
use rboinc_core::state::ServerState;
use sqlx::Row;
use sqlx::mysql::MySqlConnection;

use super::claim::{self, Claim};
use super::job::{COLUMNS, JobWorkunit};
use super::reply::{Priority, SchedReply};
use super::request::OtherResult;
use super::rows::text;
use super::rpc_log::SentJob;
use super::send::job_xml::{add_to_reply, job_xml};
use super::send::{SendContext, WorkPlan};

/// Share of the original deadline window given again to a resent job (BOINC's `resend_frac`).
const RESEND_FRAC: f64 = 0.5;

#[derive(Debug)]
struct InProgress {
    id: ResultId,
    name: String,
    xml_doc_in: String,
    sent_time: i64,
    report_deadline: i64,
    wu: JobWorkunit,
    error_mask: i32,
    canonical_resultid: i64,
}

/// A subquery for the host statement's select list: how many of the host's results are in
/// progress under a name not among the `n_names` the client listed (held or reported), as a
/// column named `unlisted_in_progress`. Bind its values with [`bind_unlisted`].
pub fn unlisted_column(n_names: usize) -> String {
    let not_listed = if n_names == 0 {
        String::new()
    } else {
        format!(" AND r.name NOT IN ({})", vec!["?"; n_names].join(","))
    };
    format!(
        "(SELECT COUNT(*) FROM result r WHERE r.hostid = h.id AND r.server_state = ?{not_listed}) \
         AS unlisted_in_progress"
    )
}

/// Binds the values of [`unlisted_column`].
pub fn bind_unlisted<'q>(
    mut q: sqlx::query::Query<'q, sqlx::MySql, sqlx::mysql::MySqlArguments>,
    names: &[&'q str],
) -> sqlx::query::Query<'q, sqlx::MySql, sqlx::mysql::MySqlArguments> {
    q = q.bind(ServerState::InProgress);
    for name in names {
        q = q.bind(*name);
    }
    q
}

/// Whether the lost-results lookup can be skipped: the host statement counted no job in
/// progress that the client did not name. A job reported in this RPC is named; if its report is
/// written it is no longer in progress, and if it is refused it is not this host's job in
/// progress — so the lookup would have found nothing to resend either.
pub fn nothing_lost(unlisted_in_progress: Option<i64>) -> bool {
    unlisted_in_progress == Some(0)
}

/// Resends the host's lost jobs. Returns how many were resent (BOINC sends no new work in an
/// RPC that resent some).
#[tracing::instrument(level = "debug", skip_all, fields(held = other_results.len()))]
pub async fn resend_lost(
    ctx: &SendContext<'_>,
    conn: &mut MySqlConnection,
    other_results: &[OtherResult],
    plan: &mut WorkPlan,
    reply: &mut SchedReply,
    in_reply: &mut HashSet<WorkunitId>,
) -> Result<usize, sqlx::Error> {
    let held: HashSet<&str> = other_results.iter().map(|o| o.name.as_str()).collect();
    let rows = sqlx::query(sqlx::AssertSqlSafe(format!(
        "SELECT r.id, r.name, r.xml_doc_in, r.sent_time, r.report_deadline, {COLUMNS}, \
             w.error_mask, w.canonical_resultid \
             FROM result r JOIN workunit w ON w.id = r.workunitid \
             WHERE r.hostid = ? AND r.server_state = ? ORDER BY r.id"
    )))
    .bind(ctx.host.id)
    .bind(ServerState::InProgress)
    .fetch_all(&mut *conn)
    .await?;
    let mut resent = 0;
    for row in rows {
        if !plan.needed() {
            break;
        }
        let name: String = row.try_get("name")?;
        if held.contains(name.as_str()) {
            continue;
        }
        let lost = InProgress {
            id: row.try_get("id")?,
            name,
            xml_doc_in: text(&row, "xml_doc_in")?,
            sent_time: row.try_get::<i32, _>("sent_time")?.into(),
            report_deadline: row.try_get::<i32, _>("report_deadline")?.into(),
            wu: JobWorkunit::from_row(&row)?,
            error_mask: row.try_get("error_mask")?,
            canonical_resultid: row.try_get::<i32, _>("canonical_resultid")?.into(),
        };
        tracing::debug!(host_id = %ctx.host.id, result_id = %lost.id, wu_id = %lost.wu.id, "lost result found");
        if resend_one(ctx, &mut *conn, &lost, plan, reply).await? {
            in_reply.insert(lost.wu.id);
            resent += 1;
            if plan.jobs_sent >= ctx.sched.max_wus_to_send.max(1) as usize {
                break;
            }
        }
    }
    Ok(resent)
}

#[tracing::instrument(
    level = "debug",
    skip_all,
    fields(
        result_id = %lost.id,
        wu_id = %lost.wu.id,
        app = ctx.catalog.app(lost.wu.appid).map_or("", |a| a.row.name.as_str()),
    )
)]
async fn resend_one(
    ctx: &SendContext<'_>,
    conn: &mut MySqlConnection,
    lost: &InProgress,
    plan: &mut WorkPlan,
    reply: &mut SchedReply,
) -> Result<bool, sqlx::Error> {
    let grace = ctx.sched.report_grace_period.as_secs() as i64;
    let now = ctx.now;
    let chosen = ctx.chooser().choose(&lost.wu.needs(), plan, false);
    // BOINC's possibly_give_result_new_deadline.
    let deadline = {
        let extended = now + (RESEND_FRAC * (lost.report_deadline - lost.sent_time) as f64) as i64;
        extended
            .max(lost.report_deadline)
            .min(now + i64::from(lost.wu.delay_bound))
    };
    let feasible = chosen
        .as_ref()
        .is_some_and(|c| ctx.estimate(&lost.wu, c) <= (deadline - now) as f64);
    // An app the user no longer selects is not resent (BOINC's "app is not selected").
    let usable = lost.error_mask == 0
        && lost.canonical_resultid == 0
        && ctx.selection().selects(lost.wu.appid.get());
    let (Some(chosen), true, true) = (chosen, usable, feasible) else {
        // Let it time out now, so the transitioner replaces it.
        let claim = Claim {
            result_id: lost.id,
            hostid: ctx.host.id,
            userid: ctx.host.userid,
            sent_time: lost.sent_time,
            db_deadline: now - 1 + grace,
            flops_estimate: 0.0,
            app_version_id: 0,
            hr_class: None,
            commit_version: None,
        };
        expire(&mut *conn, &claim).await?;
        reply.message(
            Priority::Low,
            format!("Didn't resend lost task {} (expired)", lost.name),
        );
        tracing::debug!(result_id = %lost.id, "lost result not resent; deadline set to now");
        return Ok(false);
    };
    let xml = match job_xml(
        ctx.catalog,
        &lost.wu,
        &lost.name,
        &lost.xml_doc_in,
        &chosen,
        ctx.client_version,
        deadline,
    ) {
        Ok(xml) => xml,
        Err(e) => {
            tracing::error!(result_id = %lost.id, error = %e, "lost result not resendable");
            return Ok(false);
        }
    };
    let claim = Claim {
        result_id: lost.id,
        hostid: ctx.host.id,
        userid: ctx.host.userid,
        sent_time: now,
        db_deadline: deadline + grace,
        flops_estimate: chosen.usage.peak_flops,
        app_version_id: chosen.app_version_id(),
        hr_class: None,
        commit_version: None,
    };
    if !claim::reclaim(&mut *conn, &claim).await? {
        return Ok(false);
    }
    add_to_reply(reply, &lost.wu, xml);
    reply.message(Priority::Low, format!("Resent lost task {}", lost.name));
    let app = ctx
        .catalog
        .app(lost.wu.appid)
        .map_or("", |a| a.row.name.as_str());
    let (_, version_num, plan_class) = chosen.identity();
    reply.sent_jobs.push(SentJob {
        result_id: lost.id,
        wu_id: lost.wu.id,
        app: app.to_string(),
        version_num,
        plan_class: plan_class.to_string(),
        resent: true,
    });
    let u = &chosen.usage;
    plan.add_job(
        app,
        u.proc_type,
        u.avg_ncpus,
        u.gpu_usage,
        ctx.estimate(&lost.wu, &chosen),
    );
    Ok(true)
}

/// Moves a lost result's deadline (and its workunit's transition time) to `db_deadline`.
async fn expire(conn: &mut MySqlConnection, c: &Claim) -> Result<(), sqlx::Error> {
    sqlx::query(
        "UPDATE result r JOIN workunit w ON w.id = r.workunitid \
         SET r.report_deadline = ?, \
         w.transition_time = IF(w.transition_time < ?, w.transition_time, ?) \
         WHERE r.id = ? AND r.server_state = ? AND r.hostid = ?",
    )
    .bind(c.db_deadline)
    .bind(c.db_deadline)
    .bind(c.db_deadline)
    .bind(c.result_id)
    .bind(ServerState::InProgress)
    .bind(c.hostid)
    .execute(conn)
    .await?;
    Ok(())
}
