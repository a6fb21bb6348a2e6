//! Facts about the machine and the run, reported in metrics.json's `host` object.
//!
//! These are exactly the things that differ between two correct runs of the same job (times,
//! CPU, how the job was started), which is why they live apart from the result. The CPU feature
//! list is there to show, in the determinism test's output and in real results, that results
//! agree across CPUs with and without AVX2/FMA; the trainer itself never looks at it. The host
//! name is deliberately not collected: volunteers' machine names are not the project's business.

use serde::Serialize;

use crate::dataset::Format;

/// How the app was started.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Mode {
    Boinc,
    Standalone,
}

/// The task's identity under a BOINC client (from `init_data.xml`).
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct BoincFacts {
    pub result_name: String,
    pub wu_name: String,
    pub hostid: i64,
}

/// The `host` object of metrics.json.
#[derive(Debug, Clone, Serialize)]
pub struct HostFacts {
    /// Wall-clock seconds of this process (not of earlier runs before a restart).
    pub runtime_s: f64,
    /// CPU seconds of the whole job, all runs included.
    pub cpu_time_s: f64,
    pub started_unix: f64,
    pub finished_unix: f64,
    pub mode: Mode,
    /// Epochs that were restored from a checkpoint, if the run resumed.
    pub resumed_from_epoch: Option<u64>,
    pub dataset_format: Format,
    pub platform: String,
    pub os_release: Option<String>,
    pub cpu_model: Option<String>,
    pub cpu_features: Vec<&'static str>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub boinc: Option<BoincFacts>,
}

/// Seconds since the Unix epoch.
pub fn unix_now() -> f64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0.0, |d| d.as_secs_f64())
}

/// `arch-os` of this build, e.g. `x86_64-linux`.
pub fn platform() -> String {
    format!("{}-{}", std::env::consts::ARCH, std::env::consts::OS)
}

/// The kernel release, if readable.
pub fn os_release() -> Option<String> {
    std::fs::read_to_string("/proc/sys/kernel/osrelease")
        .ok()
        .map(|s| s.trim().to_string())
}

/// The CPU's model name from `/proc/cpuinfo`, if readable.
pub fn cpu_model() -> Option<String> {
    let info = std::fs::read_to_string("/proc/cpuinfo").ok()?;
    info.lines()
        .find(|l| l.starts_with("model name"))
        .and_then(|l| l.split_once(':'))
        .map(|(_, v)| v.trim().to_string())
}

/// The SIMD-related features this CPU has (as detected at run time, for the record only).
pub fn cpu_features() -> Vec<&'static str> {
    #[cfg(target_arch = "x86_64")]
    {
        let mut f = Vec::new();
        macro_rules! probe {
            ($($name:tt),*) => {
                $(if std::arch::is_x86_feature_detected!($name) { f.push($name); })*
            };
        }
        probe!(
            "sse2", "sse3", "ssse3", "sse4.1", "sse4.2", "popcnt", "avx", "avx2", "fma", "bmi2",
            "avx512f"
        );
        f
    }
    #[cfg(not(target_arch = "x86_64"))]
    {
        Vec::new()
    }
}
