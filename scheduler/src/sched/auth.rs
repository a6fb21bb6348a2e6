//! Who is asking: the account behind the authenticator, and the host record of the client.
//!
//! BOINC's rules (`authenticate_user` in the C++ scheduler), which clients depend on:
//! - A request with a `hostid` names its host record; the authenticator must be the host
//!   owner's account key (or its "weak" form `<userid>_<md5(key + passwd_hash)>`), or another
//!   valid key — then the host is not this account's and a new record is made. A host merged
//!   into another on the web (`userid = 0`) forwards to the other via `rpc_seqno`.
//! - An `rpc_seqno` lower than the record's means the client's state file was copied to
//!   another computer: the copy gets a new host record.
//! - A request without `hostid` (first contact) reuses the account's host with the same CPID
//!   (md5 of the client's CPID and the account's email), unless it is plainly another machine;
//!   a client that was detached and re-attached then gets its old record back, and the jobs it
//!   had are marked lost (`CLIENT_DETACHED`) so they are re-issued. Clients run with
//!   `--allow_multiple_clients` always get their own record.
//! - A bad key is answered with BOINC's message and a one-hour delay, and nothing is written.
//!
//! Whenever a record is created or re-found the reply carries its `hostid` (and the client resets
//! its `rpc_seqno`); otherwise it never does — a client that gets an unexpected `hostid`
//! regenerates its CPID (PROTOCOL.md §12.2).

use md5::{Digest, Md5};
use rboinc_core::auth;
use rboinc_core::db::{self, HostId, TeamId, UserId, found_rows};
use rboinc_core::state::{Outcome, ServerState};
use sqlx::Connection;
use sqlx::Row;
use sqlx::mysql::{MySqlConnection, MySqlExecutor, MySqlRow};

use super::jobs::text;
use super::request::SchedRequest;

/// BOINC's message for an unknown account key.
pub const BAD_KEY_MESSAGE: &str =
    "Invalid or missing account key.  To fix, remove and add this project.";

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
}

/// An authenticated request.
#[derive(Debug, Clone, PartialEq)]
pub struct Account {
    pub user: UserAccount,
    pub host: HostRecord,
    /// The reply must tell the client its host id (new, re-found or forwarded record).
    pub announce_hostid: bool,
    pub host_created: bool,
    /// Notes for the client ("Can't find host record").
    pub notes: Vec<String>,
}

/// Why a request was not authenticated.
#[derive(Debug, thiserror::Error)]
pub enum AuthError {
    /// Unknown key. `had_host`: the request named a host (BOINC then sends a notice rather
    /// than a log line).
    #[error("bad authenticator")]
    BadKey { had_host: bool },
    #[error(transparent)]
    Db(#[from] sqlx::Error),
}

const USER_COLUMNS: &str = "u.id AS u_id, u.name AS u_name, u.email_addr, u.authenticator, \
     u.passwd_hash, u.total_credit AS u_total_credit, u.expavg_credit AS u_expavg_credit, \
     u.create_time AS u_create_time, u.teamid, u.cross_project_id, u.project_prefs, \
     u.venue AS u_venue";

const HOST_COLUMNS: &str = "h.id, h.userid, h.rpc_seqno, h.rpc_time, h.create_time, \
     h.total_credit, h.expavg_credit, h.venue, h.max_results_day, h.p_ncpus, h.p_vendor, \
     h.p_model, h.os_name, h.os_version";

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
        venue: row.try_get("u_venue")?,
    })
}

fn host_from_row(row: &MySqlRow) -> Result<HostRecord, sqlx::Error> {
    Ok(HostRecord {
        id: row.try_get("id")?,
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

/// A host and its owner's account in one query (the common case: a returning client).
async fn host_with_user(
    ex: impl MySqlExecutor<'_>,
    id: i64,
) -> Result<Option<(HostRecord, Option<UserAccount>)>, sqlx::Error> {
    let sql = format!(
        "SELECT {HOST_COLUMNS}, {USER_COLUMNS} FROM host h LEFT JOIN user u ON u.id = h.userid \
         WHERE h.id = ?"
    );
    let Some(row) = sqlx::query(sqlx::AssertSqlSafe(sql))
        .bind(id)
        .fetch_optional(ex)
        .await?
    else {
        return Ok(None);
    };
    let host = host_from_row(&row)?;
    let user = match row.try_get::<Option<UserId>, _>("u_id")? {
        Some(_) => Some(user_from_row(&row)?),
        None => None,
    };
    Ok(Some((host, user)))
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
async fn user_by_key(
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

fn obviously_different(host: &HostRecord, req: &SchedRequest) -> bool {
    let r = &req.host;
    host.p_ncpus != r.p_ncpus
        || host.p_vendor != r.p_vendor
        || host.p_model != r.p_model
        || host.os_name != r.os_name
        || host.os_version != r.os_version
}

/// Authenticates a request and finds or creates its host record (see the module docs).
pub async fn authenticate(
    conn: &mut MySqlConnection,
    req: &SchedRequest,
    now: i64,
) -> Result<Account, AuthError> {
    let mut notes = Vec::new();
    if req.hostid > 0 {
        let mut found = host_with_user(&mut *conn, req.hostid).await?;
        let mut forwarded = false;
        // A merged host forwards to its successor through rpc_seqno.
        for _ in 0..10 {
            match &found {
                Some((h, _)) if h.userid.get() == 0 => {
                    let next = i64::from(h.rpc_seqno);
                    found = if next > 0 {
                        host_with_user(&mut *conn, next).await?
                    } else {
                        None
                    };
                    forwarded = true;
                }
                _ => break,
            }
        }
        match found {
            Some((host, owner)) if host.userid.get() != 0 => {
                let user = match owner {
                    Some(u) if u.authenticator == req.authenticator => u,
                    Some(u) if weak_authenticator(&u) == req.authenticator => u,
                    _ => user_by_key(&mut *conn, &req.authenticator)
                        .await?
                        .ok_or(AuthError::BadKey { had_host: true })?,
                };
                if host.userid == user.id && req.rpc_seqno >= host.rpc_seqno {
                    return Ok(Account {
                        user,
                        host,
                        announce_hostid: forwarded,
                        host_created: false,
                        notes,
                    });
                }
                tracing::info!(
                    hostid = %host.id, userid = %user.id,
                    "host record belongs to another account or its rpc_seqno went back; \
                     making a new host record"
                );
                return new_or_similar_host(conn, req, user, now, notes).await;
            }
            _ => {
                notes.push("Can't find host record".to_string());
                tracing::info!(hostid = req.hostid, "no such host record");
            }
        }
    }
    let user = user_by_key(&mut *conn, &req.authenticator)
        .await?
        .ok_or(AuthError::BadKey { had_host: false })?;
    if !req.host.host_cpid.is_empty() {
        let cpid = auth::host_cpid_for_account(&req.host.host_cpid, &user.email_addr);
        let sql = format!(
            "SELECT {HOST_COLUMNS} FROM host h WHERE h.userid = ? AND h.host_cpid = ? \
             ORDER BY h.id DESC LIMIT 1"
        );
        let row = sqlx::query(sqlx::AssertSqlSafe(sql))
            .bind(user.id)
            .bind(&cpid)
            .fetch_optional(&mut *conn)
            .await?;
        if let Some(row) = row {
            let host = host_from_row(&row)?;
            if !obviously_different(&host, req) {
                tracing::info!(hostid = %host.id, userid = %user.id, "returning host found by CPID");
                if req.allow_multiple_clients != 1
                    && req.other_results.as_ref().is_none_or(Vec::is_empty)
                {
                    mark_results_lost(&mut *conn, host.id, now).await?;
                }
                return Ok(Account {
                    user,
                    host,
                    announce_hostid: true,
                    host_created: false,
                    notes,
                });
            }
        }
    }
    new_or_similar_host(conn, req, user, now, notes).await
}

/// BOINC's `didnt_find_host`: reuse the account's host with the same name, address, OS, CPU and
/// memory (unless the client allows several clients per machine), else create a record.
async fn new_or_similar_host(
    conn: &mut MySqlConnection,
    req: &SchedRequest,
    user: UserAccount,
    now: i64,
    notes: Vec<String>,
) -> Result<Account, AuthError> {
    let r = &req.host;
    if req.allow_multiple_clients != 1
        && !r.domain_name.is_empty()
        && !r.ip_addr.is_empty()
        && !r.os_name.is_empty()
        && !r.p_model.is_empty()
    {
        let sql = format!(
            "SELECT {HOST_COLUMNS} FROM host h WHERE h.userid = ? AND h.domain_name = ? \
             AND h.last_ip_addr = ? AND h.os_name = ? AND h.p_model = ? AND h.m_nbytes = ? \
             ORDER BY h.id DESC LIMIT 1"
        );
        let row = sqlx::query(sqlx::AssertSqlSafe(sql))
            .bind(user.id)
            .bind(&r.domain_name)
            .bind(&r.ip_addr)
            .bind(&r.os_name)
            .bind(&r.p_model)
            .bind(r.m_nbytes)
            .fetch_optional(&mut *conn)
            .await?;
        if let Some(row) = row {
            let host = host_from_row(&row)?;
            tracing::info!(hostid = %host.id, userid = %user.id, "similar host of this account reused");
            if req.other_results.as_ref().is_none_or(Vec::is_empty) {
                mark_results_lost(&mut *conn, host.id, now).await?;
            }
            return Ok(Account {
                user,
                host,
                announce_hostid: true,
                host_created: false,
                notes,
            });
        }
    }
    let row = new_host_row(req, &user, now);
    let id = db::host::insert(&mut *conn, &row).await?;
    tracing::info!(hostid = %id, userid = %user.id, "host record created");
    let host = HostRecord {
        id,
        userid: user.id,
        rpc_seqno: 0,
        rpc_time: row.rpc_time,
        create_time: row.create_time,
        total_credit: 0.0,
        expavg_credit: 0.0,
        venue: row.venue.clone(),
        max_results_day: 0,
        p_ncpus: row.p_ncpus,
        p_vendor: row.p_vendor.clone(),
        p_model: row.p_model.clone(),
        os_name: row.os_name.clone(),
        os_version: row.os_version.clone(),
    };
    Ok(Account {
        user,
        host,
        announce_hostid: true,
        host_created: true,
        notes,
    })
}

/// A new host record: the client's description, owned by `user`.
fn new_host_row(req: &SchedRequest, user: &UserAccount, now: i64) -> db::host::HostRow {
    let r = &req.host;
    let now32 = now.clamp(0, i64::from(i32::MAX)) as i32;
    db::host::HostRow {
        create_time: now32,
        userid: user.id,
        rpc_seqno: 0,
        // Written by the host update at the end of the RPC; 0 until then, as in BOINC.
        rpc_time: 0,
        expavg_time: now as f64,
        timezone: r.timezone,
        domain_name: r.domain_name.clone(),
        serialnum: super::host::serialnum(req),
        last_ip_addr: r.ip_addr.clone(),
        on_frac: r.on_frac,
        connected_frac: r.connected_frac,
        active_frac: r.active_frac,
        duration_correction_factor: r.duration_correction_factor,
        p_ncpus: r.p_ncpus,
        p_vendor: r.p_vendor.clone(),
        p_model: r.p_model.clone(),
        p_fpops: r.p_fpops,
        p_iops: r.p_iops,
        p_membw: r.p_membw,
        os_name: r.os_name.clone(),
        os_version: r.os_version.clone(),
        m_nbytes: r.m_nbytes,
        m_cache: r.m_cache,
        m_swap: r.m_swap,
        d_total: r.d_total,
        d_free: r.d_free,
        d_boinc_used_total: r.d_boinc_used_total,
        d_boinc_used_project: r.d_boinc_used_project,
        n_bwup: r.n_bwup,
        n_bwdown: r.n_bwdown,
        venue: user.venue.clone(),
        host_cpid: if r.host_cpid.is_empty() {
            String::new()
        } else {
            auth::host_cpid_for_account(&r.host_cpid, &user.email_addr)
        },
        product_name: r.product_name.clone(),
        gpu_active_frac: r.gpu_active_frac,
        misc: super::host::misc_json(req),
        ..Default::default()
    }
}

/// BOINC's `mark_results_over`: the host's jobs in progress are lost (the client was detached),
/// so they end as `CLIENT_DETACHED` and their workunits are woken to re-issue them.
async fn mark_results_lost(
    conn: &mut MySqlConnection,
    host: HostId,
    now: i64,
) -> Result<(), sqlx::Error> {
    let mut tx = conn.begin().await?;
    let rows: Vec<(i64, i64)> = sqlx::query_as(
        "SELECT id, workunitid FROM result WHERE hostid = ? AND server_state = ? FOR UPDATE",
    )
    .bind(host)
    .bind(ServerState::InProgress)
    .fetch_all(&mut *tx)
    .await?;
    for (id, wu) in &rows {
        let done = sqlx::query(
            "UPDATE result SET server_state = ?, outcome = ?, received_time = ? \
             WHERE id = ? AND server_state = ?",
        )
        .bind(ServerState::Over)
        .bind(Outcome::ClientDetached)
        .bind(now)
        .bind(id)
        .bind(ServerState::InProgress)
        .execute(&mut *tx)
        .await?;
        if found_rows::applied(&done) {
            sqlx::query("UPDATE workunit SET transition_time = ? WHERE id = ?")
                .bind(now)
                .bind(wu)
                .execute(&mut *tx)
                .await?;
            tracing::warn!(hostid = %host, result_id = id, wu_id = wu, "client re-attached: in-progress result marked CLIENT_DETACHED");
        }
    }
    tx.commit().await
}

/// The account's team name, if it has a team.
pub async fn team_name(
    conn: &mut MySqlConnection,
    team: TeamId,
) -> Result<Option<String>, sqlx::Error> {
    if team.get() == 0 {
        return Ok(None);
    }
    sqlx::query_scalar("SELECT name FROM team WHERE id = ?")
        .bind(team)
        .fetch_optional(conn)
        .await
}

/// Records the cross-project id a client reports, if it changed (BOINC does the same).
pub async fn update_cross_project_id(
    conn: &mut MySqlConnection,
    user: &UserAccount,
    reported: &str,
) -> Result<(), sqlx::Error> {
    if reported.is_empty() || reported == user.cross_project_id {
        return Ok(());
    }
    db::user::set_cross_project_id(conn, user.id, reported).await?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

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
