//! The account and host records a scheduler RPC reads, and the queries that find them.
//!
//! Only the columns an RPC uses are read; the user's row and its host's come in one query in the
//! common case (a returning client names its host).

use md5::{Digest, Md5};
use rboinc_core::db::host_app_version::HostAppVersionRow;
use rboinc_core::db::{HostId, TeamId, UserId};
use sqlx::Row;
use sqlx::mysql::{MySqlConnection, MySqlExecutor, MySqlRow};

use crate::sched::abort::{self, HeldRows};
use crate::sched::report::{self, StoredRows};
use crate::sched::request::OtherResult;
use crate::sched::request::ReportedResult;
use crate::sched::resend;
use crate::sched::rows::text;

/// The account fields a scheduler RPC uses.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct UserAccount {
    pub id: UserId,
    pub name: String,
    pub email_addr: String,
    pub authenticator: String,
    pub passwd_hash: String,
    pub total_credit: f64,
    pub expavg_credit: f64,
    pub create_time: i32,
    pub teamid: TeamId,
    pub cross_project_id: String,
    pub project_prefs: String,
    /// The account's global preferences (`user.global_prefs`), as stored.
    pub global_prefs: String,
    pub venue: String,
}

/// The host fields a scheduler RPC uses.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct HostRecord {
    pub id: HostId,
    pub userid: UserId,
    pub rpc_seqno: i32,
    pub rpc_time: i32,
    pub create_time: i32,
    pub total_credit: f64,
    pub expavg_credit: f64,
    pub venue: String,
    /// -1: blacklisted.
    pub max_results_day: i32,
    pub p_ncpus: i32,
    pub p_vendor: String,
    pub p_model: String,
    pub os_name: String,
    pub os_version: String,
    /// The host's statistics per app version (`host_app_version`), which rank its versions;
    /// read in the same statement as the host (see [`HOST_COLUMNS`]).
    pub app_version_stats: Vec<HostAppVersionRow>,
}

const USER_COLUMNS: &str = "u.id AS u_id, u.name AS u_name, u.email_addr, u.authenticator, \
     u.passwd_hash, u.total_credit AS u_total_credit, u.expavg_credit AS u_expavg_credit, \
     u.create_time AS u_create_time, u.teamid, u.cross_project_id, u.project_prefs, u.global_prefs, \
     u.venue AS u_venue";

/// The host columns an RPC reads, with the host's `host_app_version` statistics folded into
/// one text column by a subquery on its key: the version choice needs them on every work
/// request, and this way they cost no round trip of their own.
pub const HOST_COLUMNS: &str = "h.id, h.userid, h.rpc_seqno, h.rpc_time, h.create_time, \
     h.total_credit, h.expavg_credit, h.venue, h.max_results_day, h.p_ncpus, h.p_vendor, \
     h.p_model, h.os_name, h.os_version, \
     (SELECT GROUP_CONCAT(CONCAT_WS(' ', hav.app_version_id, hav.pfc_n, hav.pfc_avg, hav.et_n, \
     hav.et_avg, hav.max_jobs_per_day, hav.consecutive_valid, hav.n_jobs_today, hav.turnaround_n, \
     hav.turnaround_avg) SEPARATOR ';') \
     FROM host_app_version hav WHERE hav.host_id = h.id) AS hav_stats";

/// Reads the `hav_stats` column of [`HOST_COLUMNS`] (entries that do not parse are skipped).
fn app_version_stats(host: HostId, text: Option<String>) -> Vec<HostAppVersionRow> {
    let Some(text) = text else {
        return Vec::new();
    };
    text.split(';')
        .filter_map(|entry| {
            let v: Vec<f64> = entry
                .split(' ')
                .map(|x| x.parse::<f64>())
                .collect::<Result<_, _>>()
                .ok()?;
            let [
                id,
                pfc_n,
                pfc_avg,
                et_n,
                et_avg,
                max_jobs,
                valid,
                today,
                t_n,
                t_avg,
            ] = v[..]
            else {
                return None;
            };
            Some(HostAppVersionRow {
                host_id: host,
                app_version_id: id as i64,
                pfc_n,
                pfc_avg,
                et_n,
                et_avg,
                max_jobs_per_day: max_jobs as i32,
                consecutive_valid: valid as i32,
                n_jobs_today: today as i32,
                turnaround_n: t_n,
                turnaround_avg: t_avg,
                ..Default::default()
            })
        })
        .collect()
}

fn user_from_row(row: &MySqlRow) -> Result<UserAccount, sqlx::Error> {
    Ok(UserAccount {
        id: row.try_get("u_id")?,
        name: text(row, "u_name")?,
        email_addr: row.try_get("email_addr")?,
        authenticator: text(row, "authenticator")?,
        passwd_hash: row.try_get("passwd_hash")?,
        total_credit: row.try_get("u_total_credit")?,
        expavg_credit: row.try_get("u_expavg_credit")?,
        create_time: row.try_get("u_create_time")?,
        teamid: row.try_get("teamid")?,
        cross_project_id: row.try_get("cross_project_id")?,
        project_prefs: text(row, "project_prefs")?,
        global_prefs: text(row, "global_prefs")?,
        venue: row.try_get("u_venue")?,
    })
}

pub fn host_from_row(row: &MySqlRow) -> Result<HostRecord, sqlx::Error> {
    let id: HostId = row.try_get("id")?;
    let stats: Option<Vec<u8>> = row.try_get("hav_stats")?;
    Ok(HostRecord {
        app_version_stats: app_version_stats(
            id,
            stats.map(|b| String::from_utf8_lossy(&b).into_owned()),
        ),
        id,
        userid: row.try_get("userid")?,
        rpc_seqno: row.try_get("rpc_seqno")?,
        rpc_time: row.try_get("rpc_time")?,
        create_time: row.try_get("create_time")?,
        total_credit: row.try_get("total_credit")?,
        expavg_credit: row.try_get("expavg_credit")?,
        venue: row.try_get("venue")?,
        max_results_day: row.try_get("max_results_day")?,
        p_ncpus: row.try_get("p_ncpus")?,
        p_vendor: text(row, "p_vendor")?,
        p_model: text(row, "p_model")?,
        os_name: text(row, "os_name")?,
        os_version: text(row, "os_version")?,
    })
}

/// A host record found by id, its owner's account, and what the statement prefetched.
pub type HostWithUser = (HostRecord, Option<UserAccount>, Prefetched);

/// What the host statement read for the rest of the RPC, each `None` unless asked for.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Prefetched {
    /// The host's rows of the tasks the client holds ([`abort::held_column`]).
    pub held_rows: Option<HeldRows>,
    /// How many of the host's jobs in progress the client did not name
    /// ([`resend::unlisted_column`]).
    pub unlisted_in_progress: Option<i64>,
    /// The stored rows of the reported results ([`report::reported_column`]).
    pub reported_rows: Option<StoredRows>,
}

/// What the host statement reads besides the host and its owner.
#[derive(Debug, Clone, Copy, Default)]
pub struct Prefetch<'a> {
    /// Tasks whose rows to read for the abort check ([`abort::held_column`]); empty: none.
    pub held: &'a [OtherResult],
    /// The names the client listed (held and reported), to count the host's jobs in progress
    /// it did not name ([`resend::unlisted_column`]); `None`: no count.
    pub listed: Option<&'a [&'a str]>,
    /// Reported results whose stored rows to read ([`report::reported_column`]); empty: none.
    pub reported: &'a [ReportedResult],
}

/// A host and its owner's account in one query (the common case: a returning client), with
/// what `prefetch` asks for in the same statement.
pub async fn host_with_user(
    ex: impl MySqlExecutor<'_>,
    id: i64,
    prefetch: Prefetch<'_>,
) -> Result<Option<HostWithUser>, sqlx::Error> {
    let Prefetch {
        held,
        listed,
        reported,
    } = prefetch;
    let mut extra = String::new();
    if !held.is_empty() {
        extra.push_str(", ");
        extra.push_str(&abort::held_column(held.len()));
    }
    if let Some(names) = listed {
        extra.push_str(", ");
        extra.push_str(&resend::unlisted_column(names.len()));
    }
    if !reported.is_empty() {
        extra.push_str(", ");
        extra.push_str(&report::reported_column(reported.len()));
    }
    let sql = format!(
        "SELECT {HOST_COLUMNS}, {USER_COLUMNS}{extra} FROM host h \
         LEFT JOIN user u ON u.id = h.userid WHERE h.id = ?"
    );
    let mut q = sqlx::query(sqlx::AssertSqlSafe(sql));
    if !held.is_empty() {
        q = abort::bind_held(q, held);
    }
    if let Some(names) = listed {
        q = resend::bind_unlisted(q, names);
    }
    if !reported.is_empty() {
        q = report::bind_reported(q, reported);
    }
    let q = q.bind(id);
    let Some(row) = q.fetch_optional(ex).await? else {
        return Ok(None);
    };
    let host = host_from_row(&row)?;
    let user = match row.try_get::<Option<UserId>, _>("u_id")? {
        Some(_) => Some(user_from_row(&row)?),
        None => None,
    };
    let held_rows = if held.is_empty() {
        None
    } else {
        let text: Option<Vec<u8>> = row.try_get("held_states")?;
        Some(abort::held_rows(text.as_deref()))
    };
    let unlisted_in_progress = match listed {
        Some(_) => Some(row.try_get::<i64, _>("unlisted_in_progress")?),
        None => None,
    };
    let reported_rows = if reported.is_empty() {
        None
    } else {
        let text: Option<Vec<u8>> = row.try_get("reported_rows")?;
        Some(report::stored_rows(text.as_deref()))
    };
    let prefetched = Prefetched {
        held_rows,
        unlisted_in_progress,
        reported_rows,
    };
    Ok(Some((host, user, prefetched)))
}

async fn user_where(
    ex: impl MySqlExecutor<'_>,
    clause: &'static str,
    value: &str,
) -> Result<Option<UserAccount>, sqlx::Error> {
    let sql = format!("SELECT {USER_COLUMNS} FROM user u WHERE {clause}");
    sqlx::query(sqlx::AssertSqlSafe(sql))
        .bind(value)
        .fetch_optional(ex)
        .await?
        .map(|r| user_from_row(&r))
        .transpose()
}

/// BOINC's weak authenticator of an account: `<id>_<md5(authenticator + passwd_hash)>`.
pub fn weak_authenticator(user: &UserAccount) -> String {
    let mut h = Md5::new();
    h.update(user.authenticator.as_bytes());
    h.update(user.passwd_hash.as_bytes());
    format!("{}_{}", user.id, hex::encode(h.finalize()))
}

/// The account a request's key names: a full key, or a weak one (it contains `_`).
pub async fn user_by_key(
    conn: &mut MySqlConnection,
    key: &str,
) -> Result<Option<UserAccount>, sqlx::Error> {
    if key.is_empty() {
        return Ok(None);
    }
    if key.contains('_') {
        let Some(id) = key.split('_').next().and_then(|s| s.parse::<i64>().ok()) else {
            return Ok(None);
        };
        let user = user_where(&mut *conn, "u.id = ?", &id.to_string()).await?;
        return Ok(user.filter(|u| weak_authenticator(u) == key));
    }
    user_where(conn, "u.authenticator = ?", key).await
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn statistics_are_read_from_the_folded_column() {
        let stats = app_version_stats(
            HostId(3),
            Some("12 5 1.5e-3 11 0.25 0 2 7 12 3600.5;-2 x;1000002 0 0 0 0 1 0 0 0 0".into()),
        );
        assert_eq!(stats.len(), 2, "the malformed entry is skipped");
        assert_eq!(stats[0].app_version_id, 12);
        assert_eq!(stats[0].pfc_avg, 1.5e-3);
        assert_eq!(stats[0].et_n, 11.0);
        assert_eq!(stats[0].consecutive_valid, 2);
        assert_eq!(stats[0].n_jobs_today, 7);
        assert_eq!(stats[0].turnaround_n, 12.0);
        assert_eq!(stats[0].turnaround_avg, 3600.5);
        assert_eq!(stats[1].max_jobs_per_day, 1);
        assert!(app_version_stats(HostId(3), None).is_empty());
    }

    #[test]
    fn weak_authenticator_is_boincs() {
        let user = UserAccount {
            id: UserId(7),
            authenticator: "k".into(),
            passwd_hash: "h".into(),
            ..Default::default()
        };
        // md5("kh"), from md5sum.
        assert_eq!(
            weak_authenticator(&user),
            "7_fa46ec0b4924e8c2194a53ef61b94039"
        );
        assert_eq!(weak_authenticator(&user).len(), 2 + 32);
    }
}
