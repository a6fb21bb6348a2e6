//! The plan classes BOINC's scheduler knows by name, used when the project has no
//! `plan_class_spec.xml` (BOINC's `app_plan` in `sched_customize.cpp`): `mt`, `opencl_*`,
//! `ati*`, `*cuda*`, `nci`, `sse3`, `*vbox*`, `*wsl*`, with BOINC's thresholds. Any other name
//! is unknown, and its versions are never sent.
//!
//! Unlike the spec path, a built-in class starts from a usage with no speed (BOINC passes a
//! fresh `HOST_USAGE`), so a class that sets none (`wsl`, an `ati…` name BOINC does not
//! list) is never the fastest choice.

use super::host::{HostFacts, NoWorkNotes};
use super::usage::{HostUsage, coproc_perf};
use crate::sched::coprocs::{Coproc, MEGA, ProcType};

/// Whether BOINC's dispatch recognizes `name` at all.
pub fn is_known(name: &str) -> bool {
    name == "mt"
        || name.contains("opencl_cpu_intel")
        || name.starts_with("opencl")
        || name.starts_with("ati")
        || name.contains("cuda")
        || name == "nci"
        || name == "sse3"
        || name.contains("vbox")
        || name.contains("wsl")
}

/// The usage of a version of built-in plan class `name` on the host; `None` if it cannot run
/// there (or the name is unknown).
pub fn check(name: &str, h: &HostFacts<'_>, notes: &mut NoWorkNotes) -> Option<HostUsage> {
    let mut hu = HostUsage::default();
    let cap = h.capped_fpops;
    if name == "mt" {
        mt(h, &mut hu)?;
    } else if name.contains("opencl_cpu_intel") {
        h.req
            .host
            .opencl_cpu_props
            .iter()
            .find(|(vendor, _)| vendor == "intel")?;
        mt(h, &mut hu)?;
    } else if name.starts_with("opencl") {
        opencl(name, h, &mut hu)?;
    } else if name.starts_with("ati") {
        ati(name, h, &mut hu)?;
    } else if name.contains("cuda") {
        cuda(name, h, &mut hu)?;
    } else if name == "nci" {
        hu.avg_ncpus = 0.01;
        hu.projected_flops = cap * 1.01;
        hu.peak_flops = cap * 0.01;
    } else if name == "sse3" {
        let host = &h.req.host;
        if !host.p_features.to_lowercase().contains("pni") && !host.p_model.contains("pni") {
            return None;
        }
        hu.projected_flops = 1.1 * cap;
        hu.peak_flops = cap;
    } else if name.contains("vbox") {
        vbox(name, h, notes, &mut hu)?;
    } else if name.contains("wsl") {
        // BOINC checks nothing more, and sets no speed.
    } else {
        return None;
    }
    Some(hu)
}

fn mt(h: &HostFacts<'_>, hu: &mut HostUsage) -> Option<()> {
    if h.effective_ncpus < 2 {
        return None;
    }
    let n = h.effective_ncpus.min(64);
    hu.avg_ncpus = n as f64;
    hu.cmdline = format!("--nthreads {n}");
    // 0.99: on one CPU a sequential version is preferred.
    hu.projected_flops = h.capped_fpops * n as f64 * 0.99;
    hu.peak_flops = h.capped_fpops * n as f64;
    Some(())
}

/// Fills a GPU usage: `ndevs` instances, the CPU doing `cpu_frac` of the work.
fn gpu_usage(
    h: &HostFacts<'_>,
    hu: &mut HostUsage,
    cp: &Coproc,
    pt: Option<ProcType>,
    cpu_frac: f64,
    scale: f64,
) {
    let ndevs = 1.0;
    if let Some(pt) = pt {
        hu.proc_type = pt;
        hu.gpu_usage = ndevs;
    }
    let (speed, ncpus) = coproc_perf(h.capped_fpops, scale * ndevs * cp.peak_flops, cpu_frac);
    hu.projected_flops = speed;
    hu.avg_ncpus = ncpus;
    hu.peak_flops = ndevs * cp.peak_flops + hu.avg_ncpus * h.capped_fpops;
}

/// `opencl_<vendor>_<version>`: the trailing digits are the least OpenCL version.
fn opencl(name: &str, h: &HostFacts<'_>, hu: &mut HostUsage) -> Option<()> {
    let digits = name.len() - name.trim_end_matches(|c: char| c.is_ascii_digit()).len();
    let version: i64 = name[name.len() - digits..].parse().unwrap_or(0);
    let coprocs = &h.req.coprocs;
    let (pt, prefix, cpu_frac, scale) = if name.contains("nvidia") {
        (ProcType::Nvidia, "opencl_nvidia", 0.01, 0.14)
    } else if name.contains("amd") {
        (ProcType::Amd, "opencl_ati", 0.01, 0.14)
    } else if name.contains("intel_gpu") {
        (ProcType::Intel, "opencl_intel_gpu", 0.1, 0.2)
    } else if name.contains("apple_gpu") {
        (ProcType::Apple, "opencl_apple_gpu", 0.1, 0.2)
    } else {
        return None;
    };
    let cp = coprocs.named(pt)?;
    if !cp.have_opencl || !name.starts_with(prefix) {
        return None;
    }
    let min_ram = 256.0 * MEGA;
    if cp.opencl.device_version_int < version
        || (cp.opencl.global_mem_size != 0.0 && cp.opencl.global_mem_size < min_ram)
    {
        return None;
    }
    hu.gpu_ram = min_ram;
    gpu_usage(h, hu, cp, Some(pt), cpu_frac, scale);
    Some(())
}

/// `ati`, `ati13amd`, `ati13ati`, `ati14`: a CAL version and runtime library.
fn ati(name: &str, h: &HostFacts<'_>, hu: &mut HostUsage) -> Option<()> {
    let (cp, a) = h.req.coprocs.ati()?;
    let (min_version, need_amd_libs, scale) = match name {
        "ati" => (10_000_000, true, 0.20),
        "ati13amd" => (10_030_000, true, 0.21),
        "ati13ati" => (10_030_186, false, 0.22),
        "ati14" => (10_040_000, false, 0.23),
        // BOINC lets any other `ati…` name through with the default usage.
        _ => return Some(()),
    };
    let libs = if need_amd_libs {
        a.amdrt_detected
    } else {
        a.atirt_detected
    };
    let min_ram = 256.0 * MEGA;
    if !libs || a.version_num < min_version || cp.available_ram < min_ram {
        return None;
    }
    hu.gpu_ram = min_ram;
    gpu_usage(h, hu, cp, Some(ProcType::Amd), 0.01, scale);
    Some(())
}

/// `cuda`, `cuda23`, `cuda_fermi`: compute capability, CUDA and driver versions, RAM.
fn cuda(name: &str, h: &HostFacts<'_>, hu: &mut HostUsage) -> Option<()> {
    let (cp, n) = h.req.coprocs.nvidia()?;
    if h.req.host.os_name.contains("Darwin") && h.client_version() < 61028 {
        return None;
    }
    // (min cc, max cc exclusive, min CUDA version, min driver, min RAM MB, scale)
    let (min_cc, max_cc, min_cuda, min_driver, min_ram_mb, scale) = match name {
        "cuda_fermi" => (200, 0, 3000, 19500, 384.0, 0.22),
        "cuda23" => (100, 200, 2030, 19038, 384.0, 0.21),
        "cuda" => (100, 200, 0, 17700, 256.0, 0.20),
        _ => return None,
    };
    let cc = n.major * 100 + n.minor;
    if cc < min_cc || (max_cc != 0 && cc >= max_cc) {
        return None;
    }
    if n.cuda_version == 0 && n.driver_version == 0 {
        return None;
    }
    if (n.cuda_version != 0 && min_cuda != 0 && n.cuda_version < min_cuda)
        || (n.driver_version != 0 && n.driver_version < min_driver)
    {
        return None;
    }
    let min_ram = min_ram_mb * MEGA;
    if cp.available_ram < min_ram {
        return None;
    }
    hu.gpu_ram = min_ram;
    gpu_usage(h, hu, cp, Some(ProcType::Nvidia), 0.01, scale);
    Some(())
}

/// `vbox[32|64][_mt][_hwaccel]…`: VirtualBox 3.2+, acceleration where needed.
fn vbox(name: &str, h: &HostFacts<'_>, notes: &mut NoWorkNotes, hu: &mut HostUsage) -> Option<()> {
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
    match super::check::scan3(vbox) {
        Some((major, minor, _)) if major > 3 || (major == 3 && minor >= 2) => {}
        _ => {
            notes.add("VirtualBox version 3.2 or later is required");
            return None;
        }
    }
    if (name.contains("hwaccel") || name.contains("64")) && !h.vm_accel() {
        notes.add(
            "VirtualBox jobs require hardware acceleration support. Your processor does not \
             support the required instruction set.",
        );
        return None;
    }
    if req.platform_name.contains("64") != name.contains("64") {
        return None;
    }
    let mut scale = 1.0;
    hu.avg_ncpus = 1.0;
    if name.contains("mt") {
        if h.vm_accel() {
            hu.avg_ncpus = h.effective_ncpus as f64;
            hu.cmdline = format!("--nthreads {:.6}", h.effective_ncpus as f64);
        }
        scale = 0.99;
    }
    hu.projected_flops = scale * h.capped_fpops * hu.avg_ncpus;
    hu.peak_flops = h.capped_fpops * hu.avg_ncpus;
    Some(())
}
