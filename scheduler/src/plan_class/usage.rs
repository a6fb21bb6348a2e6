//! What a version uses on a host and how fast it is expected to go there (BOINC's
//! `HOST_USAGE`): the plan class check's answer, sent to the client in `<app_version>` and used
//! to count the work sent against the request.

use crate::sched::coprocs::ProcType;

/// A version's resource usage and speed on one host.
#[derive(Debug, Clone, PartialEq)]
pub struct HostUsage {
    /// The resource whose request the version fills.
    pub proc_type: ProcType,
    /// GPU instances per job (0 for CPU versions).
    pub gpu_usage: f64,
    /// GPU memory per job, bytes (0: not stated).
    pub gpu_ram: f64,
    /// CPUs per job.
    pub avg_ncpus: f64,
    /// Memory per job, bytes; when set it replaces the workunit's `rsc_memory_bound`.
    pub mem_usage: f64,
    /// Expected speed of one job (FLOPS): ranks versions, estimates run times, and is sent
    /// as `<flops>`.
    pub projected_flops: f64,
    /// Peak speed of the resources a job uses (`result.flops_estimate`).
    pub peak_flops: f64,
    /// Appended to the app's command line (`<cmdline>`).
    pub cmdline: String,
}

impl Default for HostUsage {
    /// BOINC's freshly made `HOST_USAGE`: one CPU, no speed yet.
    fn default() -> Self {
        HostUsage {
            proc_type: ProcType::Cpu,
            gpu_usage: 0.0,
            gpu_ram: 0.0,
            avg_ncpus: 1.0,
            mem_usage: 0.0,
            projected_flops: 0.0,
            peak_flops: 0.0,
            cmdline: String::new(),
        }
    }
}

/// Speed assumed for a CPU that reports none.
pub const DEFAULT_FLOPS: f64 = 1e9;

impl HostUsage {
    /// A plain single-CPU version on a CPU of `flops` (BOINC's `sequential_app`).
    pub fn sequential(flops: f64) -> HostUsage {
        let flops = if flops > 0.0 { flops } else { DEFAULT_FLOPS };
        HostUsage {
            projected_flops: flops,
            peak_flops: flops,
            ..HostUsage::default()
        }
    }

    /// One CPU and nothing else.
    pub fn is_sequential(&self) -> bool {
        self.proc_type == ProcType::Cpu && self.avg_ncpus == 1.0
    }
}

/// BOINC's `coproc_perf`: a job whose work is shared between the CPU (speed `s1`) and a device
/// (speed `s2`), the CPU doing fraction `frac` of it. Returns the job's speed and the CPU's
/// utilization.
pub fn coproc_perf(s1: f64, s2: f64, frac: f64) -> (f64, f64) {
    let y = frac * s2 + (1.0 - frac) * s1;
    (s1 * s2 / y, frac * s2 / y)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_sample_cuda_class_of_the_digest() {
        // RTX 3060 peak × 0.2 scale, CPU 3e9, cpu_frac 0.01.
        let s2 = 0.2 * 1.273_753_6e13;
        let (speed, ncpus) = coproc_perf(3e9, s2, 0.01);
        assert!((ncpus - 0.895_588).abs() < 1e-6, "{ncpus}");
        assert!((speed - 2.6868e11).abs() / 2.6868e11 < 1e-4, "{speed}");
        assert_eq!(HostUsage::sequential(0.0).projected_flops, 1e9);
        assert!(HostUsage::sequential(2e9).is_sequential());
    }
}
