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
//!
//! [`records`] holds the rows and the queries that find them; this module holds the rules.

pub mod records;

use rboinc_core::auth;
use rboinc_core::db::{self, HostId, found_rows};
use rboinc_core::state::{Outcome, ServerState};
use sqlx::Connection;
use sqlx::mysql::MySqlConnection;

use super::host;
use super::request::SchedRequest;
use records::{HOST_COLUMNS, host_from_row, host_with_user, user_by_key};
pub use records::{HostRecord, UserAccount, weak_authenticator};
pub use records::{Prefetch, Prefetched};

/// BOINC's message for an unknown account key.
pub const BAD_KEY_MESSAGE: &str =
    "Invalid or missing account key.  To fix, remove and add this project.";

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
    /// What was read with the host record when the caller asked for it and the request named
    /// its own record (see [`Prefetch`]); all `None` otherwise.
    pub prefetched: Prefetched,
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

fn obviously_different(host: &HostRecord, req: &SchedRequest) -> bool {
    let r = &req.host;
    host.p_ncpus != r.p_ncpus
        || host.p_vendor != r.p_vendor
        || host.p_model != r.p_model
        || host.os_name != r.os_name
        || host.os_version != r.os_version
}

/// Authenticates a request and finds or creates its host record (see the module docs).
/// `prefetch`: what to read with the host record of a returning client (see [`Prefetch`]).
#[tracing::instrument(level = "debug", skip_all)]
pub async fn authenticate(
    conn: &mut MySqlConnection,
    req: &SchedRequest,
    prefetch: Prefetch<'_>,
    now: i64,
) -> Result<Account, AuthError> {
    let mut notes = Vec::new();
    if req.hostid > 0 {
        let mut found = host_with_user(&mut *conn, req.hostid, prefetch).await?;
        let mut forwarded = false;
        // A merged host forwards to its successor through rpc_seqno.
        for _ in 0..10 {
            match &found {
                Some((h, _, _)) if h.userid.get() == 0 => {
                    let next = i64::from(h.rpc_seqno);
                    found = if next > 0 {
                        // Rows read for another record are not this one's.
                        host_with_user(&mut *conn, next, Prefetch::default()).await?
                    } else {
                        None
                    };
                    forwarded = true;
                }
                _ => break,
            }
        }
        match found {
            Some((host, owner, prefetched)) if host.userid.get() != 0 => {
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
                        prefetched,
                    });
                }
                tracing::debug!(
                    host_id = %host.id, user_id = %user.id,
                    "host record belongs to another account or its rpc_seqno went back; \
                     making a new host record"
                );
                return new_or_similar_host(conn, req, user, now, notes).await;
            }
            _ => {
                notes.push("Can't find host record".to_string());
                tracing::debug!(host_id = req.hostid, "no such host record");
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
                tracing::debug!(host_id = %host.id, user_id = %user.id, "returning host found by CPID");
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
                    prefetched: Prefetched::default(),
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
            tracing::debug!(host_id = %host.id, user_id = %user.id, "similar host of this account reused");
            if req.other_results.as_ref().is_none_or(Vec::is_empty) {
                mark_results_lost(&mut *conn, host.id, now).await?;
            }
            return Ok(Account {
                user,
                host,
                announce_hostid: true,
                host_created: false,
                notes,
                prefetched: Prefetched::default(),
            });
        }
    }
    let row = new_host_row(req, &user, now);
    let id = db::host::insert(&mut *conn, &row).await?;
    tracing::debug!(host_id = %id, user_id = %user.id, "host record created");
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
        app_version_stats: Vec::new(),
    };
    Ok(Account {
        user,
        host,
        announce_hostid: true,
        host_created: true,
        notes,
        prefetched: Prefetched::default(),
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
        serialnum: host::serialnum(req),
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
        misc: host::misc_json(req),
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
            db::workunit::set_transition_time(
                &mut *tx,
                db::WorkunitId(*wu),
                i32::try_from(now).unwrap_or(i32::MAX),
            )
            .await?;
            tracing::warn!(host_id = %host, result_id = id, wu_id = wu, "client re-attached: in-progress result marked CLIENT_DETACHED");
        }
    }
    tx.commit().await
}
