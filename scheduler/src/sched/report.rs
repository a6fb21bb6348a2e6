//! Reported results: written as BOINC's scheduler writes them, then acknowledged.
//!
//! For each `<result>` in the request (BOINC's `handle_results`), up to `report_max` of them:
//! - unknown names, results never sent, results already reported, results of another
//!   account's host, and results already over (except late ones: `NO_REPLY` or
//!   `CLIENT_DETACHED`) are acknowledged and not written — the client must stop sending them;
//! - the others get `server_state = OVER`, the client's state, exit status, times, peak sizes,
//!   stderr and output file list, and an outcome: `SUCCESS` if the files were uploaded
//!   (`client_state` 5) with exit status 0, else `CLIENT_ERROR` with `validate_state = INVALID`;
//! - elapsed time is made plausible first (at least the CPU time for single-threaded builds,
//!   at most the time between sending and reporting), as it feeds credit;
//! - their workunits get `transition_time = now`, which wakes the transitioner;
//! - the host's daily quota for the result's version follows the outcome ([`super::quota`]).
//!
//! The writes go into the RPC's transaction (see [`super`]): either every accepted result and
//! its workunit is updated and acknowledged, or nothing is and the client reports again later.
//! Each result update also requires `received_time = 0`, so a report that two scheduler
//! processes receive at once (a client retrying) is written once.
//!
//! The stored rows of the reported results usually come with the host statement
//! ([`reported_column`], as the abort check's rows do): a returning client's report costs no
//! lookup of its own. Both reads are plain consistent reads, and the writes are conditional on
//! the state read, so where the rows were read does not change what is written.

use std::collections::HashMap;

use rboinc_core::db::{self, HostId, ResultId, UserId, WorkunitId, found_rows};
use rboinc_core::state::{
    ClientState, EXIT_ABORTED_BY_PROJECT, Outcome, ServerState, ValidateState,
    generalized_app_version_id,
};
use sqlx::Row;
use sqlx::mysql::MySqlConnection;

use super::auth::{Account, HostRecord};
use super::catalog::Catalog;
use super::quota::HostQuotas;
use super::request::{ReportedResult, SchedRequest};
use super::rpc_log;
use rboinc_core::config::SchedConfig;

/// The database's view of a reported result.
#[derive(Debug, Clone, PartialEq)]
pub struct Stored {
    id: ResultId,
    workunitid: WorkunitId,
    server_state: i32,
    outcome: i32,
    hostid: HostId,
    sent_time: i64,
    received_time: i64,
    validate_state: i32,
    app_version_id: i64,
    appid: i64,
}

/// What handling the reports did.
#[derive(Debug, Default, Clone, PartialEq)]
pub struct ReportOutcome {
    /// Names to acknowledge.
    pub acks: Vec<String>,
    /// Results written.
    pub written: usize,
    /// Each result written, with its outcome, for the RPC's log line.
    pub written_results: Vec<rpc_log::ReportedResult>,
    /// Of those, results written with an error outcome (the client's failure).
    pub errors: usize,
    /// A result was reported again after a successful report: the previous reply may have
    /// been lost, so lost results should be resent (BOINC's rule).
    pub resend_lost: bool,
}

/// The stored rows of reported results, by name.
pub type StoredRows = HashMap<String, Stored>;

/// The reports of `req` that are handled in this RPC: `report_max` of them at most (the rest
/// are neither written nor acknowledged; the client reports them again in a later RPC).
pub fn handled<'r>(req: &'r SchedRequest, sched: &SchedConfig) -> &'r [ReportedResult] {
    let n = sched
        .report_max
        .map_or(req.results.len(), |max| req.results.len().min(max as usize));
    &req.results[..n]
}

/// The columns [`load`] reads, in the order of [`parse_stored`].
const STORED_COLUMNS: [&str; 10] = [
    "id",
    "workunitid",
    "server_state",
    "outcome",
    "hostid",
    "sent_time",
    "received_time",
    "validate_state",
    "app_version_id",
    "appid",
];

/// A subquery for the host statement's select list that folds the stored rows of `n_reports`
/// reported results into one text column named `reported_rows` (read back by
/// [`stored_rows`]); bind the names with [`bind_reported`]. Each row is the numbers of
/// [`STORED_COLUMNS`] and the name, separated by spaces, rows by newlines.
pub fn reported_column(n_reports: usize) -> String {
    format!(
        "(SELECT GROUP_CONCAT(CONCAT_WS(' ', {}, r.name) SEPARATOR '\\n') FROM result r \
         WHERE r.name IN ({})) AS reported_rows",
        STORED_COLUMNS.map(|c| format!("r.{c}")).join(", "),
        vec!["?"; n_reports].join(",")
    )
}

/// Binds the values of [`reported_column`].
pub fn bind_reported<'q>(
    mut q: sqlx::query::Query<'q, sqlx::MySql, sqlx::mysql::MySqlArguments>,
    reports: &'q [ReportedResult],
) -> sqlx::query::Query<'q, sqlx::MySql, sqlx::mysql::MySqlArguments> {
    for r in reports {
        q = q.bind(r.name.as_str());
    }
    q
}

/// Reads the `reported_rows` column of [`reported_column`]. A row that does not parse is left
/// out, which makes its result "not in the database", as a row the database did not return.
pub fn stored_rows(text: Option<&[u8]>) -> StoredRows {
    let text = text.map(String::from_utf8_lossy).unwrap_or_default();
    text.split('\n')
        .filter_map(|line| {
            // The name comes last and is the rest of the line.
            let mut parts = line.splitn(STORED_COLUMNS.len() + 1, ' ');
            let mut num = || parts.next()?.parse::<i64>().ok();
            let id = ResultId(num()?);
            let workunitid = WorkunitId(num()?);
            let server_state = i32::try_from(num()?).ok()?;
            let outcome = i32::try_from(num()?).ok()?;
            let hostid = HostId(num()?);
            let sent_time = num()?;
            let received_time = num()?;
            let validate_state = i32::try_from(num()?).ok()?;
            let app_version_id = num()?;
            let appid = num()?;
            let name = parts.next().filter(|n| !n.is_empty())?;
            let stored = Stored {
                id,
                workunitid,
                server_state,
                outcome,
                hostid,
                sent_time,
                received_time,
                validate_state,
                app_version_id,
                appid,
            };
            Some((name.to_string(), stored))
        })
        .collect()
}

/// Processes the results reported in `req` by the host of `account` at time `now`. Their
/// stored rows are taken from `account` if the host statement read them ([`reported_column`]).
#[tracing::instrument(level = "debug", skip_all, fields(reported = req.results.len()))]
pub async fn handle(
    conn: &mut MySqlConnection,
    catalog: &Catalog,
    req: &SchedRequest,
    account: &mut Account,
    sched: &SchedConfig,
    quotas: &mut HostQuotas,
    now: i64,
) -> Result<ReportOutcome, sqlx::Error> {
    let prefetched = account.prefetched.reported_rows.take();
    let account = &*account;
    let reports = handled(req, sched);
    let dont_store_success_stderr = sched.dont_store_success_stderr;
    let host = &account.host;
    let p_ncpus = req.host.p_ncpus;
    let mut outcome = ReportOutcome::default();
    if reports.is_empty() {
        return Ok(outcome);
    }
    let stored = match prefetched {
        Some(rows) => rows,
        None => load(&mut *conn, reports).await?,
    };
    let mut accepted: Vec<(&ReportedResult, &Stored)> = Vec::new();
    for r in reports {
        let Some(s) = stored.get(r.name.as_str()) else {
            tracing::warn!(host_id = %host.id, result = %r.name, "reported result not in the database");
            outcome.acks.push(r.name.clone());
            continue;
        };
        if let Some(why) = refusal(s, host, &mut *conn).await? {
            if s.server_state == ServerState::Over as i32 && s.outcome == Outcome::Success as i32 {
                outcome.resend_lost = true;
            }
            tracing::debug!(host_id = %host.id, result_id = %s.id, wu_id = %s.workunitid, reason = why, "reported result not written");
            outcome.acks.push(r.name.clone());
            continue;
        }
        accepted.push((r, s));
    }
    if accepted.is_empty() {
        return Ok(outcome);
    }

    let mut wus: Vec<WorkunitId> = Vec::new();
    for (r, s) in &accepted {
        let row = written_row(r, s, catalog, p_ncpus, dont_store_success_stderr, now);
        if write(&mut *conn, catalog, r, s, account, &row, now).await? {
            outcome.written += 1;
            outcome.written_results.push(rpc_log::ReportedResult {
                result_id: s.id,
                outcome: row.outcome,
                client_state: r.client_state,
            });
            if row.outcome != Outcome::Success {
                outcome.errors += 1;
            }
            let gavid = generalized_app_version_id(s.app_version_id, s.appid);
            if row.outcome == Outcome::Success {
                quotas.good_result(gavid);
            } else if r.exit_status != EXIT_ABORTED_BY_PROJECT {
                quotas.bad_result(gavid);
            }
            if !wus.contains(&s.workunitid) {
                wus.push(s.workunitid);
            }
        }
        outcome.acks.push(r.name.clone());
    }
    if !wus.is_empty() {
        let placeholders = vec!["?"; wus.len()].join(",");
        let sql = format!("UPDATE workunit SET transition_time = ? WHERE id IN ({placeholders})");
        let mut q = sqlx::query(sqlx::AssertSqlSafe(sql)).bind(now);
        for w in &wus {
            q = q.bind(*w);
        }
        q.execute(&mut *conn).await?;
    }
    Ok(outcome)
}

/// Writes one accepted report; false if another request wrote it meanwhile.
#[tracing::instrument(
    level = "debug",
    skip_all,
    fields(result_id = %s.id, wu_id = %s.workunitid, app = app_name(catalog, s)),
)]
async fn write(
    conn: &mut MySqlConnection,
    catalog: &Catalog,
    r: &ReportedResult,
    s: &Stored,
    account: &Account,
    row: &Written<'_>,
    now: i64,
) -> Result<bool, sqlx::Error> {
    let done = sqlx::query(
        "UPDATE result SET hostid = ?, teamid = ?, received_time = ?, client_state = ?, \
         cpu_time = ?, elapsed_time = ?, exit_status = ?, app_version_num = ?, \
         server_state = ?, outcome = ?, validate_state = ?, stderr_out = ?, xml_doc_out = ?, \
         peak_working_set_size = ?, peak_swap_size = ?, peak_disk_usage = ? \
         WHERE id = ? AND received_time = 0",
    )
    .bind(account.host.id)
    .bind(account.user.teamid)
    .bind(now)
    .bind(r.client_state)
    .bind(row.cpu_time)
    .bind(row.elapsed_time)
    .bind(r.exit_status)
    .bind(r.app_version_num)
    .bind(ServerState::Over)
    .bind(row.outcome)
    .bind(row.validate_state)
    .bind(row.stderr_out)
    .bind(&r.xml_doc_out)
    .bind(r.peak_working_set_size)
    .bind(r.peak_swap_size)
    .bind(r.peak_disk_usage)
    .bind(s.id)
    .execute(conn)
    .await?;
    let applied = found_rows::applied(&done);
    if applied {
        tracing::debug!(result_id = %s.id, wu_id = %s.workunitid, outcome = ?row.outcome, "result reported");
    } else {
        tracing::debug!(result_id = %s.id, "result was reported meanwhile by another request");
    }
    Ok(applied)
}

/// The name of the app a stored result's version belongs to (empty if unknown: anonymous
/// platform, deprecated version).
fn app_name<'a>(catalog: &'a Catalog, s: &Stored) -> &'a str {
    catalog
        .version(db::AppVersionId(s.app_version_id))
        .and_then(|v| catalog.app(v.appid))
        .map_or("", |a| a.row.name.as_str())
}

/// Looks the reported results up with a query of their own (when the host statement did not).
async fn load(
    conn: &mut MySqlConnection,
    reports: &[ReportedResult],
) -> Result<StoredRows, sqlx::Error> {
    let placeholders = vec!["?"; reports.len()].join(",");
    let sql = format!(
        "SELECT name, {} FROM result WHERE name IN ({placeholders})",
        STORED_COLUMNS.join(", ")
    );
    let mut q = sqlx::query(sqlx::AssertSqlSafe(sql));
    for r in reports {
        q = q.bind(&r.name);
    }
    let mut out = HashMap::new();
    for row in q.fetch_all(&mut *conn).await? {
        let name: String = row.try_get("name")?;
        out.insert(
            name,
            Stored {
                id: row.try_get("id")?,
                workunitid: row.try_get("workunitid")?,
                server_state: row.try_get("server_state")?,
                outcome: row.try_get("outcome")?,
                hostid: row.try_get("hostid")?,
                sent_time: row.try_get::<i32, _>("sent_time")?.into(),
                received_time: row.try_get::<i32, _>("received_time")?.into(),
                validate_state: row.try_get("validate_state")?,
                app_version_id: row.try_get::<i32, _>("app_version_id")?.into(),
                appid: row.try_get::<i32, _>("appid")?.into(),
            },
        );
    }
    Ok(out)
}

/// Why a reported result is acknowledged without being written, if it is.
async fn refusal(
    s: &Stored,
    host: &HostRecord,
    conn: &mut MySqlConnection,
) -> Result<Option<&'static str>, sqlx::Error> {
    if s.server_state == ServerState::Over as i32 {
        let late =
            s.outcome == Outcome::NoReply as i32 || s.outcome == Outcome::ClientDetached as i32;
        if !late {
            return Ok(Some("result is already over"));
        }
    }
    if s.server_state == ServerState::Unsent as i32 {
        return Ok(Some("result was never sent"));
    }
    if s.received_time != 0 {
        return Ok(Some("result was already reported"));
    }
    if s.hostid != host.id {
        // Allowed only between hosts of one account (hosts merged on the web).
        let owner: Option<UserId> = sqlx::query_scalar("SELECT userid FROM host WHERE id = ?")
            .bind(s.hostid)
            .fetch_optional(&mut *conn)
            .await?;
        if owner != Some(host.userid) {
            return Ok(Some("result was sent to a host of another account"));
        }
    }
    Ok(None)
}

/// The values written for one accepted report.
struct Written<'a> {
    cpu_time: f64,
    elapsed_time: f64,
    outcome: Outcome,
    validate_state: i32,
    stderr_out: &'a str,
}

fn written_row<'a>(
    r: &'a ReportedResult,
    s: &Stored,
    catalog: &Catalog,
    p_ncpus: i32,
    dont_store_success_stderr: bool,
    now: i64,
) -> Written<'a> {
    let mut cpu = r.cpu_time;
    let mut elapsed = r.elapsed_time;
    if elapsed < cpu {
        let single_threaded = s.app_version_id > 0
            && catalog
                .version(db::AppVersionId(s.app_version_id))
                .is_some_and(|v| !v.is_multithread());
        if single_threaded {
            elapsed = cpu;
        }
    }
    if elapsed < 0.0 {
        elapsed = 0.0;
    }
    if elapsed == 0.0 && cpu > 0.0 {
        elapsed = cpu;
    }
    let turnaround = (now - s.sent_time) as f64;
    if turnaround >= 0.0 && elapsed > turnaround {
        elapsed = turnaround;
    }
    let ncpus = f64::from(p_ncpus.max(1));
    if cpu > elapsed * ncpus {
        cpu = elapsed * ncpus;
    }
    let success = r.client_state == ClientState::FilesUploaded as i32 && r.exit_status == 0;
    let (outcome, validate_state) = if success {
        (Outcome::Success, s.validate_state)
    } else {
        if r.exit_status != EXIT_ABORTED_BY_PROJECT {
            tracing::debug!(result_id = %s.id, exit_status = r.exit_status, client_state = r.client_state, "result reported as an error");
        }
        (Outcome::ClientError, ValidateState::Invalid as i32)
    };
    Written {
        cpu_time: cpu,
        elapsed_time: elapsed,
        outcome,
        validate_state,
        stderr_out: if success && dont_store_success_stderr {
            ""
        } else {
            &r.stderr_out
        },
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn prefetched_rows_parse_back_and_a_bad_row_is_left_out() {
        let text = "7 3 4 0 12 1700000000 0 0 5 1 wu_3_0\n\
                    8 3 5 1 12 1700000000 1700000100 1 5 1 a name with spaces\n\
                    9 x 4 0 12 0 0 0 5 1 broken\n\
                    10 3 4 0 12 0 0 0 5 1";
        let rows = stored_rows(Some(text.as_bytes()));
        assert_eq!(rows.len(), 2, "{rows:?}");
        let first = &rows["wu_3_0"];
        assert_eq!(
            (first.id, first.workunitid, first.hostid, first.sent_time),
            (ResultId(7), WorkunitId(3), HostId(12), 1_700_000_000)
        );
        assert_eq!(
            (first.server_state, first.app_version_id, first.appid),
            (4, 5, 1)
        );
        let second = &rows["a name with spaces"];
        assert_eq!(
            (second.received_time, second.validate_state),
            (1_700_000_100, 1)
        );
        assert!(stored_rows(None).is_empty());
    }

    #[test]
    fn reported_column_has_one_placeholder_per_report() {
        let sql = reported_column(3);
        assert_eq!(sql.matches('?').count(), 3);
        assert!(sql.ends_with("AS reported_rows"), "{sql}");
        for c in STORED_COLUMNS {
            assert!(sql.contains(&format!("r.{c}")), "{c}");
        }
    }

    fn stored(sent_time: i64) -> Stored {
        Stored {
            id: ResultId(1),
            workunitid: WorkunitId(1),
            server_state: ServerState::InProgress as i32,
            outcome: 0,
            hostid: HostId(1),
            sent_time,
            received_time: 0,
            validate_state: 0,
            app_version_id: 0,
            appid: 1,
        }
    }

    fn report(cpu: f64, elapsed: f64, state: i32, exit: i32) -> ReportedResult {
        ReportedResult {
            name: "r".into(),
            cpu_time: cpu,
            elapsed_time: elapsed,
            client_state: state,
            exit_status: exit,
            stderr_out: "err".into(),
            ..Default::default()
        }
    }

    fn row(r: &ReportedResult, s: &Stored, ncpus: i32, now: i64) -> (f64, f64, Outcome, i32) {
        let w = written_row(r, s, &Catalog::default(), ncpus, false, now);
        (w.cpu_time, w.elapsed_time, w.outcome, w.validate_state)
    }

    #[test]
    fn outcomes_follow_state_and_exit_status() {
        let s = stored(1000);
        assert_eq!(
            row(&report(1.0, 2.0, 5, 0), &s, 2, 2000).2,
            Outcome::Success
        );
        let (_, _, o, v) = row(&report(1.0, 2.0, 3, 7), &s, 2, 2000);
        assert_eq!(
            (o, v),
            (Outcome::ClientError, ValidateState::Invalid as i32)
        );
        assert_eq!(
            row(&report(1.0, 2.0, 5, 1), &s, 2, 2000).2,
            Outcome::ClientError
        );
        assert_eq!(
            row(&report(1.0, 2.0, 1, -186), &s, 2, 2000).2,
            Outcome::ClientError
        );
    }

    #[test]
    fn times_are_made_plausible() {
        let s = stored(1000);
        // Elapsed 0 with CPU time: elapsed = CPU.
        assert_eq!(row(&report(3.0, 0.0, 5, 0), &s, 1, 2000).1, 3.0);
        // Negative elapsed: 0, then CPU.
        assert_eq!(row(&report(0.0, -5.0, 5, 0), &s, 1, 2000).1, 0.0);
        // Longer than the time since sending: cut to it.
        assert_eq!(row(&report(1.0, 5000.0, 5, 0), &s, 1, 2000).1, 1000.0);
        // CPU above elapsed × ncpus: cut.
        assert_eq!(row(&report(50.0, 10.0, 5, 0), &s, 2, 2000).0, 20.0);
    }
}
