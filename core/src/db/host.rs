//! `host`: volunteers' computers. The scheduler creates a row on a client's
//! first request and copies the client's description into it on each one.

use sqlx::mysql::MySqlExecutor;

use super::ids::{HostId, UserId};
use super::text::NullableText;

#[derive(Debug, Clone, PartialEq, Default, sqlx::FromRow)]
pub struct HostRow {
    pub id: HostId,
    pub create_time: i32,
    /// Owner; 0 marks a host merged into another (then `rpc_seqno` holds the other's id).
    pub userid: UserId,
    /// Last RPC sequence number the client sent.
    pub rpc_seqno: i32,
    pub rpc_time: i32,
    pub total_credit: f64,
    pub expavg_credit: f64,
    pub expavg_time: f64,
    pub timezone: i32,
    #[sqlx(try_from = "NullableText")]
    pub domain_name: String,
    /// Summary of coprocessors and virtualbox as the client reports it.
    #[sqlx(try_from = "NullableText")]
    pub serialnum: String,
    #[sqlx(try_from = "NullableText")]
    pub last_ip_addr: String,
    pub nsame_ip_addr: i32,
    pub on_frac: f64,
    pub connected_frac: f64,
    pub active_frac: f64,
    pub cpu_efficiency: f64,
    pub duration_correction_factor: f64,
    pub p_ncpus: i32,
    #[sqlx(try_from = "NullableText")]
    pub p_vendor: String,
    #[sqlx(try_from = "NullableText")]
    pub p_model: String,
    pub p_fpops: f64,
    pub p_iops: f64,
    pub p_membw: f64,
    #[sqlx(try_from = "NullableText")]
    pub os_name: String,
    #[sqlx(try_from = "NullableText")]
    pub os_version: String,
    pub m_nbytes: f64,
    pub m_cache: f64,
    pub m_swap: f64,
    pub d_total: f64,
    pub d_free: f64,
    pub d_boinc_used_total: f64,
    pub d_boinc_used_project: f64,
    pub d_boinc_max: f64,
    pub n_bwup: f64,
    pub n_bwdown: f64,
    pub credit_per_cpu_sec: f64,
    pub venue: String,
    pub nresults_today: i32,
    /// Exponential average of report minus send time.
    pub avg_turnaround: f64,
    /// `md5(client cpid + email)`, see [`crate::auth::host_cpid_for_account`].
    #[sqlx(try_from = "NullableText")]
    pub host_cpid: String,
    #[sqlx(try_from = "NullableText")]
    pub external_ip_addr: String,
    /// -1 = blacklisted: the scheduler refuses the host.
    pub max_results_day: i32,
    pub error_rate: f64,
    pub product_name: String,
    pub gpu_active_frac: f64,
    pub p_ngpus: i32,
    pub p_gpu_fpops: f64,
    /// JSON: GPUs, Docker, ... as the client describes them.
    pub misc: String,
}

pub async fn by_id(ex: impl MySqlExecutor<'_>, id: HostId) -> Result<Option<HostRow>, sqlx::Error> {
    sqlx::query_as("SELECT * FROM host WHERE id = ?")
        .bind(id)
        .fetch_optional(ex)
        .await
}

/// The user's most recent host with this stored CPID (BOINC's lookup of a
/// returning client that lost its host id).
pub async fn by_user_and_cpid(
    ex: impl MySqlExecutor<'_>,
    userid: UserId,
    host_cpid: &str,
) -> Result<Option<HostRow>, sqlx::Error> {
    sqlx::query_as("SELECT * FROM host WHERE userid = ? AND host_cpid = ? ORDER BY id DESC LIMIT 1")
        .bind(userid)
        .bind(host_cpid)
        .fetch_optional(ex)
        .await
}

/// The user's hosts, by id.
pub async fn for_user(
    ex: impl MySqlExecutor<'_>,
    userid: UserId,
) -> Result<Vec<HostRow>, sqlx::Error> {
    sqlx::query_as("SELECT * FROM host WHERE userid = ? ORDER BY id")
        .bind(userid)
        .fetch_all(ex)
        .await
}

/// Inserts `row` (its `id` is ignored) and returns the new id.
pub async fn insert(ex: impl MySqlExecutor<'_>, row: &HostRow) -> Result<HostId, sqlx::Error> {
    let done = sqlx::query(
        "INSERT INTO host (create_time, userid, rpc_seqno, rpc_time, total_credit, expavg_credit, \
         expavg_time, timezone, domain_name, serialnum, last_ip_addr, nsame_ip_addr, on_frac, \
         connected_frac, active_frac, cpu_efficiency, duration_correction_factor, p_ncpus, p_vendor, \
         p_model, p_fpops, p_iops, p_membw, os_name, os_version, m_nbytes, m_cache, m_swap, d_total, \
         d_free, d_boinc_used_total, d_boinc_used_project, d_boinc_max, n_bwup, n_bwdown, \
         credit_per_cpu_sec, venue, nresults_today, avg_turnaround, host_cpid, external_ip_addr, \
         max_results_day, error_rate, product_name, gpu_active_frac, p_ngpus, p_gpu_fpops, misc) \
         VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, \
         ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
    )
    .bind(row.create_time)
    .bind(row.userid)
    .bind(row.rpc_seqno)
    .bind(row.rpc_time)
    .bind(row.total_credit)
    .bind(row.expavg_credit)
    .bind(row.expavg_time)
    .bind(row.timezone)
    .bind(&row.domain_name)
    .bind(&row.serialnum)
    .bind(&row.last_ip_addr)
    .bind(row.nsame_ip_addr)
    .bind(row.on_frac)
    .bind(row.connected_frac)
    .bind(row.active_frac)
    .bind(row.cpu_efficiency)
    .bind(row.duration_correction_factor)
    .bind(row.p_ncpus)
    .bind(&row.p_vendor)
    .bind(&row.p_model)
    .bind(row.p_fpops)
    .bind(row.p_iops)
    .bind(row.p_membw)
    .bind(&row.os_name)
    .bind(&row.os_version)
    .bind(row.m_nbytes)
    .bind(row.m_cache)
    .bind(row.m_swap)
    .bind(row.d_total)
    .bind(row.d_free)
    .bind(row.d_boinc_used_total)
    .bind(row.d_boinc_used_project)
    .bind(row.d_boinc_max)
    .bind(row.n_bwup)
    .bind(row.n_bwdown)
    .bind(row.credit_per_cpu_sec)
    .bind(&row.venue)
    .bind(row.nresults_today)
    .bind(row.avg_turnaround)
    .bind(&row.host_cpid)
    .bind(&row.external_ip_addr)
    .bind(row.max_results_day)
    .bind(row.error_rate)
    .bind(&row.product_name)
    .bind(row.gpu_active_frac)
    .bind(row.p_ngpus)
    .bind(row.p_gpu_fpops)
    .bind(&row.misc)
    .execute(ex)
    .await?;
    Ok(HostId(done.last_insert_id() as i64))
}
