//! Keeping the host record current: every RPC copies what the client says about its computer.
//!
//! One `UPDATE` per RPC (BOINC writes only the changed columns; one statement with all of them
//! costs the same round trip and keeps this code simple). The client's CPID is stored hashed with
//! the account's email address, as BOINC stores it, so one user cannot claim another's host.

use rboinc_core::auth;
use rboinc_core::db::HostId;
use sqlx::mysql::MySqlExecutor;

use super::request::SchedRequest;

/// BOINC's old-style host summary (`[BOINC|7.20.5]`), kept in `host.serialnum`.
pub fn serialnum(req: &SchedRequest) -> String {
    format!(
        "[BOINC|{}.{}.{}]",
        req.core_client_major_version, req.core_client_minor_version, req.core_client_release
    )
}

/// BOINC's JSON summary in `host.misc` (client version; we record no GPUs or Docker).
pub fn misc_json(req: &SchedRequest) -> String {
    format!(
        "{{\n    \"client_version\": \"{}.{}.{}\"\n}}",
        req.core_client_major_version, req.core_client_minor_version, req.core_client_release
    )
}

/// Writes the client's description and this RPC's time and sequence number.
/// `rpc_seqno` is 0 when the reply announces a host id (the client restarts its count).
#[tracing::instrument(level = "debug", skip_all)]
pub async fn update(
    ex: impl MySqlExecutor<'_>,
    id: HostId,
    req: &SchedRequest,
    email_addr: &str,
    rpc_seqno: i32,
    now: i64,
    external_ip: &str,
) -> Result<(), sqlx::Error> {
    let r = &req.host;
    let cpid = if r.host_cpid.is_empty() {
        String::new()
    } else {
        auth::host_cpid_for_account(&r.host_cpid, email_addr)
    };
    // MySQL assigns left to right: nsame_ip_addr must be computed before last_ip_addr changes.
    sqlx::query(
        "UPDATE host SET nsame_ip_addr = IF(last_ip_addr = ?, nsame_ip_addr + 1, 0), \
         last_ip_addr = ?, rpc_seqno = ?, rpc_time = ?, timezone = ?, domain_name = ?, \
         on_frac = ?, connected_frac = ?, active_frac = ?, gpu_active_frac = ?, \
         duration_correction_factor = ?, p_ncpus = ?, p_vendor = ?, p_model = ?, p_fpops = ?, \
         p_iops = ?, p_membw = ?, os_name = ?, os_version = ?, m_nbytes = ?, m_cache = ?, \
         m_swap = ?, d_total = ?, d_free = ?, d_boinc_used_total = ?, d_boinc_used_project = ?, \
         n_bwup = ?, n_bwdown = ?, host_cpid = IF(? = '', host_cpid, ?), product_name = ?, \
         external_ip_addr = ?, serialnum = ?, misc = ? \
         WHERE id = ?",
    )
    .bind(&r.ip_addr)
    .bind(&r.ip_addr)
    .bind(rpc_seqno)
    .bind(now)
    .bind(r.timezone)
    .bind(&r.domain_name)
    .bind(r.on_frac)
    .bind(r.connected_frac)
    .bind(r.active_frac)
    .bind(r.gpu_active_frac)
    .bind(r.duration_correction_factor)
    .bind(r.p_ncpus)
    .bind(&r.p_vendor)
    .bind(&r.p_model)
    .bind(r.p_fpops)
    .bind(r.p_iops)
    .bind(r.p_membw)
    .bind(&r.os_name)
    .bind(&r.os_version)
    .bind(r.m_nbytes)
    .bind(r.m_cache)
    .bind(r.m_swap)
    .bind(r.d_total)
    .bind(r.d_free)
    .bind(r.d_boinc_used_total)
    .bind(r.d_boinc_used_project)
    .bind(r.n_bwup)
    .bind(r.n_bwdown)
    .bind(&cpid)
    .bind(&cpid)
    .bind(&r.product_name)
    .bind(external_ip)
    .bind(serialnum(req))
    .bind(misc_json(req))
    .bind(id)
    .execute(ex)
    .await?;
    Ok(())
}
