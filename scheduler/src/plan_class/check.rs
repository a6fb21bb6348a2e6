//! Whether a host can run a version of a plan class from `plan_class_spec.xml`, and with what
//! usage: BOINC's `PLAN_CLASS_SPEC::check`, step by step in its order (the first failing step
//! decides; some leave a message for the user, shown if no work is sent).
//!
//! Workunit restrictions (`min_wu_id` …) are not checked here but per job
//! ([`PlanClassSpec::workunit_excluded`]), as BOINC's `wu_is_infeasible_custom` does, because
//! this answer is kept for the whole RPC.

use rand::Rng;

use super::host::{HostFacts, NoWorkNotes, android_version_num, libc_version, os_version_num};
use super::spec::PlanClassSpec;
use super::usage::{HostUsage, coproc_perf};
use crate::sched::coprocs::opencl::OpenclProps;
use crate::sched::coprocs::{Coproc, MEGA, ProcType, Vendor};

/// BOINC's `opencl_check` of a spec against one device's OpenCL properties.
fn opencl_ok(s: &PlanClassSpec, p: &OpenclProps) -> bool {
    let v = p.device_version_int;
    if v != 0 {
        if s.min_opencl_version != 0 && s.min_opencl_version > v {
            return false;
        }
        if s.max_opencl_version != 0 && s.max_opencl_version < v {
            return false;
        }
        if s.min_opencl_driver_revision != 0 && s.min_opencl_driver_revision > p.driver_revision {
            return false;
        }
        if s.max_opencl_driver_revision != 0 && s.max_opencl_driver_revision < p.driver_revision {
            return false;
        }
    }
    !(s.double_precision_fp && p.double_fp_config == 0)
}

/// The checks of the module docs; `None` if the host cannot use the plan class.
pub fn check(
    s: &PlanClassSpec,
    h: &HostFacts<'_>,
    notes: &mut NoWorkNotes,
    rng: &mut impl Rng,
) -> Option<HostUsage> {
    let req = h.req;
    let host = &req.host;
    if s.infeasible_random > 0.0 && rng.r#gen::<f64>() < s.infeasible_random {
        return None;
    }
    if s.user_id != 0 && h.user_id != s.user_id {
        return None;
    }
    let mut hu = HostUsage::sequential(host.p_fpops);

    if !s.cpu_features.is_empty() {
        let mut have = format!(" {} ", host.p_features);
        if let Some(at) = host.p_model.rfind('[') {
            let inner = &host.p_model[at + 1..];
            let inner = inner.split(']').next().unwrap_or(inner);
            have.push_str(&format!(" {inner} "));
        }
        let have = have.to_lowercase();
        if s.cpu_features.iter().any(|f| !have.contains(f.as_str())) {
            return None;
        }
    }
    if s.min_ncpus != 0.0 && (h.effective_ncpus as f64) < s.min_ncpus {
        return None;
    }
    if let Some(re) = &s.os_regex
        && !re.is_match(&host.os_version)
    {
        return None;
    }
    if s.min_os_version != 0.0 || s.max_os_version != 0.0 {
        let v = os_version_num(&host.os_name, &host.os_version);
        if v == 0.0
            || (s.min_os_version != 0.0 && v < s.min_os_version)
            || (s.max_os_version != 0.0 && v > s.max_os_version)
        {
            return None;
        }
    }
    if s.min_android_version != 0 || s.max_android_version != 0 {
        if !host.os_name.eq_ignore_ascii_case("android") {
            return None;
        }
        let v = android_version_num(&host.os_version);
        if (v == 0 && s.min_android_version > 0)
            || (s.min_android_version != 0 && v < s.min_android_version)
            || (s.max_android_version != 0 && v > s.max_android_version)
        {
            return None;
        }
    }
    if s.min_libc_version != 0 && libc_version(&host.os_version) < s.min_libc_version {
        return None;
    }
    if let Some(re) = &s.cpu_vendor_regex
        && !re.is_match(&host.p_vendor)
    {
        return None;
    }
    if let Some(re) = &s.cpu_model_regex
        && !re.is_match(&host.p_model)
    {
        return None;
    }
    if s.min_core_client_version != 0 && h.client_version() < s.min_core_client_version {
        notes.add("A newer BOINC may be required for some tasks.");
        return None;
    }
    if s.max_core_client_version != 0 && h.client_version() > s.max_core_client_version {
        return None;
    }
    let mut can_use_multicore = true;
    if s.virtualbox {
        can_use_multicore = virtualbox(s, h, notes)?;
    }
    if s.wsl {
        // WSL distros are reported by Windows clients only; this server does not read them.
        if req.dont_use_wsl {
            notes.add("Client config does not allow using WSL");
        } else {
            notes.add("No WSL distros found");
        }
        return None;
    }
    if s.docker {
        docker(s, h, notes)?;
    }
    if let (false, Some(re)) = (s.project_prefs_tag.is_empty(), &s.project_prefs_regex) {
        let pass = match h.prefs.value(&s.project_prefs_tag) {
            Some(v) => re.is_match(&v),
            None => s.project_prefs_default_true,
        };
        if !pass {
            return None;
        }
    }
    let mut gpu_utilization = 1.0;
    if !s.gpu_utilization_tag.is_empty()
        && let Some(v) = h.prefs.value(&s.gpu_utilization_tag)
        && let Some(x) =
            rboinc_core::crypt::parse_c_double(&v).filter(|x| x.is_finite() && *x != 0.0)
    {
        gpu_utilization = x;
    }

    // The GPU, its RAM and driver version.
    let coprocs = &req.coprocs;
    let mut gpu_ram = 0.0;
    let mut driver_version = 0;
    let device: Option<&Coproc> = match s.gpu_type.as_str() {
        "amd" | "ati" => {
            let (cp, a) = coprocs.ati()?;
            if s.need_ati_libs {
                if !a.atirt_detected {
                    return None;
                }
            } else if s.need_amd_libs && !a.amdrt_detected {
                return None;
            }
            if s.without_opencl && cp.have_opencl {
                return None;
            }
            if (s.min_cal_target != 0 && a.target < s.min_cal_target)
                || (s.max_cal_target != 0 && a.target > s.max_cal_target)
            {
                return None;
            }
            // BOINC takes AMD RAM from OpenCL only.
            gpu_ram = cp.opencl.global_mem_size;
            if a.have_cal {
                driver_version = crate::sched::coprocs::parse::cal_version_num(&a.cal_version)?;
            }
            Some(cp)
        }
        "nvidia" => {
            let (cp, n) = coprocs.nvidia()?;
            driver_version = n.driver_version;
            let cc = n.major * 100 + n.minor;
            if (s.min_nvidia_compcap != 0 && s.min_nvidia_compcap > cc)
                || (s.max_nvidia_compcap != 0 && s.max_nvidia_compcap < cc)
            {
                return None;
            }
            if s.cuda
                && ((s.min_cuda_version != 0 && s.min_cuda_version > n.cuda_version)
                    || (s.max_cuda_version != 0 && s.max_cuda_version < n.cuda_version))
            {
                return None;
            }
            gpu_ram = n.total_global_mem;
            Some(cp)
        }
        t if t.starts_with("intel") => Some(coprocs.named(ProcType::Intel)?),
        "apple" => {
            let cp = coprocs.named(ProcType::Apple)?;
            let metal = match &cp.vendor {
                Vendor::Apple(a) => a.metal_support,
                _ => 0,
            };
            if s.min_metal_support != 0 && metal < s.min_metal_support {
                return None;
            }
            Some(cp)
        }
        t => {
            if let Some(re) = &s.gpu_type_regex {
                Some(coprocs.list.iter().find(|c| re.is_match(&c.type_name))?)
            } else if !t.is_empty() {
                Some(coprocs.by_type_name(t)?)
            } else {
                None
            }
        }
    };
    // A peak speed out of the believable range is replaced (BOINC's `bad_gpu_peak_flops`).
    let peak = device.map(Coproc::sane_peak_flops);

    if s.opencl {
        match device {
            Some(cp) => {
                if !cp.have_opencl || !opencl_ok(s, &cp.opencl) {
                    return None;
                }
                gpu_ram = cp.opencl.global_mem_size;
            }
            None => {
                if !host.opencl_cpu_props.iter().any(|(_, p)| opencl_ok(s, p)) {
                    return None;
                }
            }
        }
    }

    let Some(peak) = peak else {
        // CPU only.
        if s.avg_ncpus != 0.0 {
            hu.avg_ncpus = s.avg_ncpus;
        } else if can_use_multicore {
            hu.avg_ncpus = (s.max_threads.min(h.effective_ncpus)) as f64;
            if s.mem_usage_per_cpu != 0.0 {
                let min_ncpus = if s.min_ncpus == 0.0 { 1.0 } else { s.min_ncpus };
                if s.mem_usage_base + min_ncpus * s.mem_usage_per_cpu > h.usable_ram {
                    return None;
                }
                let n = ((h.usable_ram - s.mem_usage_base) / s.mem_usage_per_cpu) as i64;
                hu.avg_ncpus = hu.avg_ncpus.min(n as f64);
                hu.mem_usage = s.mem_usage_base + hu.avg_ncpus * s.mem_usage_per_cpu;
                hu.cmdline
                    .push_str(&format!(" --memory_size_mb {:.0}", hu.mem_usage / MEGA));
            }
        } else {
            hu.avg_ncpus = 1.0;
        }
        if s.nthreads_cmdline {
            hu.cmdline
                .push_str(&format!(" --nthreads {}", hu.avg_ncpus as i64));
        }
        hu.peak_flops = h.capped_fpops * hu.avg_ncpus;
        hu.projected_flops = h.capped_fpops * hu.avg_ncpus * s.projected_flops_scale;
        return Some(hu);
    };

    // A GPU.
    if s.min_gpu_ram_mb != 0.0 && s.min_gpu_ram_mb * MEGA > gpu_ram {
        return None;
    }
    if driver_version != 0
        && ((s.min_driver_version != 0 && s.min_driver_version > driver_version)
            || (s.max_driver_version != 0 && s.max_driver_version < driver_version))
    {
        return None;
    }
    hu.gpu_ram = if s.gpu_ram_used_mb != 0.0 {
        s.gpu_ram_used_mb
    } else {
        s.min_gpu_ram_mb
    } * MEGA;
    let gpu_usage = if s.ngpus < 0.0 {
        // As many jobs as fit in the device's RAM (BOINC's formula, as written).
        if hu.gpu_ram > 0.0 && gpu_ram > 0.0 {
            (gpu_ram / hu.gpu_ram).floor() * hu.gpu_ram / gpu_ram
        } else {
            return None;
        }
    } else if s.ngpus > 0.0 {
        s.ngpus * gpu_utilization
    } else {
        gpu_utilization
    };
    if (s.min_gpu_peak_flops != 0.0 && peak < s.min_gpu_peak_flops)
        || (s.max_gpu_peak_flops != 0.0 && peak > s.max_gpu_peak_flops)
    {
        return None;
    }
    let s2 = s.gpu_peak_flops_scale * gpu_usage * peak;
    let (speed, ncpus) = coproc_perf(h.capped_fpops, s2, s.cpu_frac);
    hu.projected_flops = speed * s.projected_flops_scale;
    hu.avg_ncpus = if s.avg_ncpus != 0.0 {
        s.avg_ncpus
    } else {
        ncpus
    };
    hu.peak_flops = s2 + hu.avg_ncpus * h.capped_fpops;
    let gpu_type = s.gpu_type.as_str();
    let proc_type = match gpu_type {
        "amd" | "ati" => Some(ProcType::Amd),
        "nvidia" => Some(ProcType::Nvidia),
        t if t.starts_with("intel") => Some(ProcType::Intel),
        t if t.starts_with("apple_gpu") => Some(ProcType::Apple),
        // Another type: BOINC keeps the usage a CPU one, with the device's speed.
        _ => None,
    };
    if let Some(pt) = proc_type {
        hu.proc_type = pt;
        hu.gpu_usage = gpu_usage;
    }
    Some(hu)
}

/// Step 13: VirtualBox. `Some(can_use_multicore)` if the host may run it.
fn virtualbox(s: &PlanClassSpec, h: &HostFacts<'_>, notes: &mut NoWorkNotes) -> Option<bool> {
    let req = h.req;
    let vbox = &req.host.virtualbox_version;
    if req.core_client_major_version < 7 {
        notes.add("BOINC client 7.0+ required for Virtualbox jobs");
        return None;
    }
    if vbox.is_empty() {
        notes.add("VirtualBox is not installed");
        return None;
    }
    if vbox.contains("unusable") {
        notes.add("VirtualBox is not usable");
        return None;
    }
    let v = scan3(vbox)?;
    let v = v.0 * 10000 + v.1 * 100 + v.2;
    if (s.min_vbox_version != 0 && v < s.min_vbox_version)
        || (s.max_vbox_version != 0 && v > s.max_vbox_version)
        || s.exclude_vbox_version.contains(&v)
    {
        return None;
    }
    if s.vm_accel_required && !h.vm_accel() {
        return None;
    }
    let can_use_multicore = s.max_threads <= 1 || h.vm_accel();
    if req.platform_name.contains("64") != s.is64bit {
        return None;
    }
    Some(can_use_multicore)
}

/// Step 15: Docker. 7.x clients never report Docker, and Windows hosts need WSL distros,
/// which this server does not read.
fn docker(s: &PlanClassSpec, h: &HostFacts<'_>, notes: &mut NoWorkNotes) -> Option<()> {
    let req = h.req;
    if req.dont_use_docker {
        notes.add("Client config does not allow using Docker");
        return None;
    }
    if req.host.os_name.contains("Windows") {
        if req.dont_use_wsl {
            notes.add("Client config does not allow using WSL");
        } else if s.min_boinc_wsl_distro_version != 0 {
            notes.add("Current BOINC WSL distro needed");
        } else {
            notes.add("No usable WSL distros found");
        }
        return None;
    }
    if req.host.docker_version.is_empty() {
        notes.add("Docker not present");
        return None;
    }
    if req.host.os_name.contains("Darwin") && h.client_version() < 80206 {
        notes.add("Docker jobs need 8.2.6+ client");
        return None;
    }
    Some(())
}

/// `%d.%d.%d`.
pub(super) fn scan3(s: &str) -> Option<(i64, i64, i64)> {
    let mut it = s.trim().splitn(3, '.');
    let int = |t: &str| -> Option<i64> {
        let t = t.trim_start();
        let end = t
            .char_indices()
            .find(|&(i, c)| !(c.is_ascii_digit() || (i == 0 && c == '-')))
            .map_or(t.len(), |(i, _)| i);
        t[..end].parse().ok()
    };
    Some((int(it.next()?)?, int(it.next()?)?, int(it.next()?)?))
}
