//! Keeping the host record current: every RPC copies what the client says about its computer.
//!
//! One `UPDATE` per RPC (BOINC writes only the changed columns; one statement with all of them
//! costs the same round trip and keeps this code simple). The client's CPID is stored hashed with
//! the account's email address, as BOINC stores it, so one user cannot claim another's host.
//!
//! The host's GPUs are recorded as BOINC records them, so web pages and SQL show which
//! volunteers have which GPUs: `p_ngpus` and `p_gpu_fpops` (instances and their summed peak
//! speed, over every coprocessor), and a JSON summary in `host.misc` laid out as the current
//! C++ scheduler writes it (client version, `gpus` with type, model, count, RAM, driver and
//! OpenCL version, VirtualBox, Docker). `host.serialnum` keeps the older bracketed summary
//! (`[BOINC|7.20.5][CUDA|NVIDIA GeForce RTX 3060|1|12287MB|53504|300]`) that BOINC's web code
//! before the JSON one reads. Unlike the C++ code, strings in the JSON are escaped, so a GPU
//! name with a quote cannot make it invalid.

use std::fmt::Write as _;

use rboinc_core::auth;
use rboinc_core::db::HostId;
use sqlx::mysql::MySqlExecutor;

use super::coprocs::{MEGA, Vendor};
use super::request::{SchedRequest, clip_bytes};

/// `host.serialnum` is `VARCHAR(254)`.
const SERIALNUM_MAX: usize = 254;

fn client_version(req: &SchedRequest) -> String {
    format!(
        "{}.{}.{}",
        req.core_client_major_version, req.core_client_minor_version, req.core_client_release
    )
}

/// A GPU as both summaries describe it.
struct GpuSummary {
    /// `nvidia`, `amd`, `intel`, `apple`, or the OpenCL vendor of another device.
    json_type: String,
    /// `CUDA`, `CAL`, `INTEL`, `apple_gpu`, or `opencl_gpu` (the old summary's tag).
    old_tag: &'static str,
    model: String,
    count: i32,
    ram_mb: i64,
    driver_version: String,
    opencl_version: i64,
}

/// The GPUs in BOINC's order: NVIDIA, AMD, Intel, Apple, then other OpenCL devices.
fn gpus(req: &SchedRequest) -> Vec<GpuSummary> {
    let c = &req.coprocs;
    let mut out = Vec::new();
    if let Some((cp, n)) = c.nvidia() {
        out.push(GpuSummary {
            json_type: "nvidia".into(),
            old_tag: "CUDA",
            model: n.name.clone(),
            count: cp.count,
            ram_mb: (n.total_global_mem / MEGA) as i64,
            driver_version: n.driver_version.to_string(),
            opencl_version: cp.opencl.device_version_int,
        });
    }
    if let Some((cp, a)) = c.ati() {
        out.push(GpuSummary {
            json_type: "amd".into(),
            old_tag: "CAL",
            model: a.name.clone(),
            count: cp.count,
            ram_mb: a.local_ram as i64,
            driver_version: a.cal_version.clone(),
            opencl_version: cp.opencl.device_version_int,
        });
    }
    if let Some(cp) = c.named(super::coprocs::ProcType::Intel) {
        out.push(GpuSummary {
            json_type: "intel".into(),
            old_tag: "INTEL",
            model: cp.opencl.name.clone(),
            count: cp.count,
            ram_mb: (cp.opencl.global_mem_size / MEGA) as i64,
            driver_version: cp.opencl.opencl_driver_version.clone(),
            opencl_version: cp.opencl.device_version_int,
        });
    }
    if let Some(cp) = c.named(super::coprocs::ProcType::Apple)
        && let Vendor::Apple(a) = &cp.vendor
    {
        out.push(GpuSummary {
            json_type: "apple".into(),
            old_tag: "apple_gpu",
            model: a.model.clone(),
            count: cp.count,
            ram_mb: (cp.opencl.global_mem_size / MEGA) as i64,
            driver_version: a.metal_support.to_string(),
            opencl_version: cp.opencl.device_version_int,
        });
    }
    for cp in &c.list {
        if cp.proc_type().is_some() || cp.opencl.name.is_empty() {
            continue;
        }
        out.push(GpuSummary {
            json_type: cp.opencl.vendor.clone(),
            old_tag: "opencl_gpu",
            model: cp.opencl.name.clone(),
            count: cp.count,
            ram_mb: (cp.opencl.global_mem_size / MEGA) as i64,
            driver_version: cp.opencl.opencl_device_version.clone(),
            opencl_version: cp.opencl.device_version_int,
        });
    }
    out
}

/// BOINC's older host summary in `host.serialnum` (see the module docs), cut to the column.
pub fn serialnum(req: &SchedRequest) -> String {
    let mut s = if req.client_brand.is_empty() {
        format!("[BOINC|{}]", client_version(req))
    } else {
        format!("[BOINC|{}|{}]", client_version(req), req.client_brand)
    };
    for g in gpus(req) {
        if g.old_tag == "opencl_gpu" {
            let kind = req
                .coprocs
                .list
                .iter()
                .find(|c| c.opencl.name == g.model)
                .map_or("", |c| c.type_name.as_str());
            let _ = write!(
                s,
                "[opencl_gpu|{kind}|{}|{}MB|{}]",
                g.count, g.ram_mb, g.opencl_version
            );
        } else {
            let _ = write!(
                s,
                "[{}|{}|{}|{}MB|{}|{}]",
                g.old_tag, g.model, g.count, g.ram_mb, g.driver_version, g.opencl_version
            );
        }
    }
    let h = &req.host;
    if !h.virtualbox_version.is_empty() {
        let accel = h.p_features.contains("vmx") || h.p_features.contains("svm");
        let _ = write!(
            s,
            "[vbox|{}|{}|{}]",
            h.virtualbox_version,
            i32::from(accel),
            i32::from(!h.p_vm_extensions_disabled)
        );
    }
    clip_bytes(&s, SERIALNUM_MAX).to_string()
}

fn json(s: &str) -> String {
    serde_json::to_string(s).unwrap_or_else(|_| "\"\"".into())
}

/// BOINC's JSON summary in `host.misc` (see the module docs).
pub fn misc_json(req: &SchedRequest) -> String {
    let mut out = format!("{{\n    \"client_version\": \"{}\"", client_version(req));
    let gpus = gpus(req);
    if !gpus.is_empty() {
        out.push_str(",\n    \"gpus\": [\n");
        let items: Vec<String> = gpus
            .iter()
            .map(|g| {
                format!(
                    "        {{\n            \"type\": {},\n            \"model\": {},\n            \
                     \"count\": {},\n            \"ram_mb\": {},\n            \
                     \"driver_version\": {},\n            \"opencl_version\": \"{}\"\n        }}",
                    json(&g.json_type),
                    json(&g.model),
                    g.count,
                    g.ram_mb,
                    json(&g.driver_version),
                    g.opencl_version
                )
            })
            .collect();
        out.push_str(&items.join(",\n"));
        out.push_str("\n    ]");
    }
    let h = &req.host;
    if !h.docker_version.is_empty() {
        let _ = write!(
            out,
            ",\n    \"docker\": {{\n        \"version\": {},\n        \"type\": {}\n    }}",
            json(&h.docker_version),
            h.docker_type
        );
    }
    if !h.virtualbox_version.is_empty() {
        let accel = h.p_features.contains("vmx") || h.p_features.contains("svm");
        let _ = write!(
            out,
            ",\n    \"vbox\": {{\n        \"version\": {},\n        \"hw_accel\": {accel},\n        \
             \"hw_accel_enabled\": {}\n    }}",
            json(&h.virtualbox_version),
            !h.p_vm_extensions_disabled
        );
    }
    if req.dont_use_docker || req.dont_use_wsl {
        let _ = write!(
            out,
            ",\n    \"config\": {{\n        \"dont_use_docker\": {},\n        \"dont_use_wsl\": {}\n    }}",
            req.dont_use_docker, req.dont_use_wsl
        );
    }
    out.push_str("\n}");
    out
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
         external_ip_addr = ?, serialnum = ?, misc = ?, p_ngpus = ?, p_gpu_fpops = ? \
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
    .bind(req.coprocs.total_count())
    .bind(req.coprocs.total_peak_flops())
    .bind(id)
    .execute(ex)
    .await?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn gpus_are_summarized_as_boinc_summarizes_them() {
        let body = "<scheduler_request><core_client_major_version>7</core_client_major_version>\
            <core_client_minor_version>20</core_client_minor_version>\
            <core_client_release>5</core_client_release><coprocs><coproc_cuda><count>1</count>\
            <name>NVIDIA GeForce \"RTX\" 3060</name><drvVersion>53504</drvVersion>\
            <totalGlobalMem>12884246528</totalGlobalMem><coproc_opencl><name>x</name>\
            <opencl_device_version>OpenCL 3.0 CUDA</opencl_device_version></coproc_opencl>\
            </coproc_cuda><coproc><type>miner_asic</type><count>2</count></coproc></coprocs>\
            </scheduler_request>";
        let req = SchedRequest::parse(body.as_bytes()).unwrap();
        assert_eq!(
            serialnum(&req),
            "[BOINC|7.20.5][CUDA|NVIDIA GeForce \"RTX\" 3060|1|12287MB|53504|300]"
        );
        let misc = misc_json(&req);
        let v: serde_json::Value = serde_json::from_str(&misc).expect("valid JSON");
        assert_eq!(v["client_version"], "7.20.5");
        assert_eq!(v["gpus"][0]["type"], "nvidia");
        assert_eq!(v["gpus"][0]["model"], "NVIDIA GeForce \"RTX\" 3060");
        assert_eq!(v["gpus"][0]["ram_mb"], 12287);
        assert_eq!(v["gpus"][0]["driver_version"], "53504");
        assert_eq!(v["gpus"][0]["opencl_version"], "300");
        assert_eq!(
            v["gpus"].as_array().unwrap().len(),
            1,
            "no OpenCL name: not listed"
        );
        assert_eq!(req.coprocs.total_count(), 3);
        assert!(misc.starts_with("{\n    \"client_version\": \"7.20.5\",\n    \"gpus\": [\n        {\n            \"type\": \"nvidia\",\n"));
        let plain = SchedRequest::parse(b"<scheduler_request></scheduler_request>").unwrap();
        assert_eq!(misc_json(&plain), "{\n    \"client_version\": \"0.0.0\"\n}");
    }
}
