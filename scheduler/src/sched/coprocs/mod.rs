//! The host's coprocessors as the request describes them (`<coprocs>`), and the work it asks
//! for on each.
//!
//! A 7.x client lists its GPUs in a top-level `<coprocs>` element (not inside `<host_info>`):
//! `<coproc_cuda>` (NVIDIA), `<coproc_ati>` (AMD), `<coproc_intel_gpu>`, `<coproc_apple_gpu>`
//! (8.x clients), and a generic `<coproc>` for any other OpenCL device or a coprocessor the
//! volunteer declared in `cc_config.xml`. Each carries its own work request (`<req_secs>`,
//! `<req_instances>`, `<estimated_delay>`). What is read, the defaults filled in when a value is
//! missing (peak speed from clock and core counts, RAM from the OpenCL properties) and which
//! types count as "the host has it" follow BOINC's `COPROCS::parse` (lib/coproc.cpp), so a plan
//! class sees the same numbers the C++ scheduler sees.
//!
//! Nonsense is made harmless where it is read, never refused: a count outside 0..=64 (BOINC's
//! `MAX_COPROC_INSTANCES`) is clamped, a number that is not finite reads as 0 (then defaulted as
//! if absent), so no later sum can overflow a column. Peak speeds that are still absurd are
//! replaced when a plan class looks at them (`bad_gpu_peak_flops`), as in BOINC.
//!
//! [`parse`] reads the elements; [`opencl`] the OpenCL properties nested in each.

pub mod opencl;
pub mod parse;

use opencl::OpenclProps;

/// Most instances of one coprocessor type BOINC handles (`MAX_COPROC_INSTANCES`).
pub const MAX_INSTANCES: i32 = 64;
/// A GPU peak speed above this is not believed (`GPU_MAX_PEAK_FLOPS`).
pub const GPU_MAX_PEAK_FLOPS: f64 = 1e15;
/// What an unbelievable GPU peak speed is replaced with (`GPU_DEFAULT_PEAK_FLOPS`).
pub const GPU_DEFAULT_PEAK_FLOPS: f64 = 1e11;
/// BOINC's `MEGA`.
pub const MEGA: f64 = 1_048_576.0;

/// BOINC's processor types, in its numbering (`PROC_TYPE_*`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum ProcType {
    Cpu = 0,
    Nvidia = 1,
    Amd = 2,
    Intel = 3,
    Apple = 4,
}

impl ProcType {
    /// Every type, in BOINC's numbering.
    pub const ALL: [ProcType; 5] = [
        ProcType::Cpu,
        ProcType::Nvidia,
        ProcType::Amd,
        ProcType::Intel,
        ProcType::Apple,
    ];

    pub fn index(self) -> usize {
        self as usize
    }

    /// The name in XML (`<coproc><type>`): `proc_type_name_xml`.
    pub fn xml_name(self) -> &'static str {
        match self {
            ProcType::Cpu => "CPU",
            ProcType::Nvidia => "NVIDIA",
            ProcType::Amd => "ATI",
            ProcType::Intel => "intel_gpu",
            ProcType::Apple => "apple_gpu",
        }
    }

    /// The name users read (`proc_type_name`).
    pub fn label(self) -> &'static str {
        match self {
            ProcType::Cpu => "CPU",
            ProcType::Nvidia => "NVIDIA GPU",
            ProcType::Amd => "AMD/ATI GPU",
            ProcType::Intel => "Intel GPU",
            ProcType::Apple => "Apple GPU",
        }
    }

    /// A `<coproc><type>` name (`coproc_type_name_to_num`; `CUDA` is NVIDIA's old name); `None`
    /// for CPU and for any other type.
    pub fn from_coproc_type(name: &str) -> Option<ProcType> {
        match name {
            "NVIDIA" | "CUDA" => Some(ProcType::Nvidia),
            "ATI" => Some(ProcType::Amd),
            "intel_gpu" => Some(ProcType::Intel),
            "apple_gpu" => Some(ProcType::Apple),
            _ => None,
        }
    }

    /// The type a plan class name implies (`plan_class_to_proc_type`): BOINC's substring rule,
    /// used where only the name is known (the project's GPU types, `<other_result>`s).
    pub fn of_plan_class_name(plan_class: &str) -> ProcType {
        if plan_class.contains("cuda") || plan_class.contains("nvidia") {
            ProcType::Nvidia
        } else if plan_class.contains("ati") || plan_class.contains("amd") {
            ProcType::Amd
        } else if plan_class.contains("intel_gpu") {
            ProcType::Intel
        } else if plan_class.contains("apple_gpu") {
            ProcType::Apple
        } else {
            ProcType::Cpu
        }
    }
}

/// What only an NVIDIA entry has (`COPROC_NVIDIA`).
#[derive(Debug, Clone, Default, PartialEq)]
pub struct NvidiaInfo {
    pub name: String,
    pub have_cuda: bool,
    /// `cudaVersion`: 12020 is CUDA 12.2.
    pub cuda_version: i64,
    /// `drvVersion`: 53504 is driver 535.04.
    pub driver_version: i64,
    pub total_global_mem: f64,
    /// Compute capability.
    pub major: i64,
    pub minor: i64,
    /// kHz.
    pub clock_rate: i64,
    pub multi_processor_count: i64,
}

/// What only an AMD entry has (`COPROC_ATI`).
#[derive(Debug, Clone, Default, PartialEq)]
pub struct AtiInfo {
    pub name: String,
    pub have_cal: bool,
    /// `CALVersion`, e.g. `1.4.1848`.
    pub cal_version: String,
    /// `major*10,000,000 + minor*10,000 + release` of the CAL version, 0 if it does not parse.
    pub version_num: i64,
    pub target: i64,
    /// MB.
    pub local_ram: f64,
    /// MHz.
    pub engine_clock: f64,
    pub wavefront_size: f64,
    pub number_of_simd: f64,
    pub atirt_detected: bool,
    pub amdrt_detected: bool,
}

/// What only an Apple entry has (`COPROC_APPLE`).
#[derive(Debug, Clone, Default, PartialEq)]
pub struct AppleInfo {
    pub model: String,
    pub metal_support: i64,
}

/// Which element described a coprocessor.
#[derive(Debug, Clone, PartialEq)]
pub enum Vendor {
    Nvidia(NvidiaInfo),
    Ati(AtiInfo),
    Intel,
    Apple(AppleInfo),
    /// A generic `<coproc>`: another OpenCL device, or one declared in `cc_config.xml`.
    Other,
}

/// One coprocessor entry (BOINC's `COPROC` plus its vendor part).
#[derive(Debug, Clone, PartialEq)]
pub struct Coproc {
    /// The type name: `NVIDIA`, `ATI`, `intel_gpu`, `apple_gpu`, or a generic `<type>`.
    pub type_name: String,
    pub vendor: Vendor,
    /// Instances, clamped to 0..=[`MAX_INSTANCES`].
    pub count: i32,
    pub peak_flops: f64,
    /// Bytes.
    pub available_ram: f64,
    pub have_opencl: bool,
    pub opencl: OpenclProps,
    /// Instance-seconds of work asked for.
    pub req_secs: f64,
    /// Idle instances to fill.
    pub req_instances: f64,
    /// Seconds until the queued jobs of this type drain; -1 when a named type did not say
    /// (the CPU's delay is used then).
    pub estimated_delay: f64,
}

impl Coproc {
    fn new(type_name: &str, vendor: Vendor) -> Coproc {
        let named = !matches!(vendor, Vendor::Other);
        Coproc {
            type_name: type_name.to_string(),
            vendor,
            count: 0,
            peak_flops: 0.0,
            available_ram: 0.0,
            have_opencl: false,
            opencl: OpenclProps::default(),
            req_secs: 0.0,
            req_instances: 0.0,
            estimated_delay: if named { -1.0 } else { 0.0 },
        }
    }

    /// The processor type of a named entry; `None` for generic ones.
    pub fn proc_type(&self) -> Option<ProcType> {
        match self.vendor {
            Vendor::Nvidia(_) => Some(ProcType::Nvidia),
            Vendor::Ati(_) => Some(ProcType::Amd),
            Vendor::Intel => Some(ProcType::Intel),
            Vendor::Apple(_) => Some(ProcType::Apple),
            Vendor::Other => None,
        }
    }

    /// The peak speed a plan class may believe: absurd values (≤ 0, > 1e15) become 1e11, as
    /// BOINC's `bad_gpu_peak_flops` replaces them.
    pub fn sane_peak_flops(&self) -> f64 {
        if self.peak_flops <= 0.0 || self.peak_flops > GPU_MAX_PEAK_FLOPS {
            GPU_DEFAULT_PEAK_FLOPS
        } else {
            self.peak_flops
        }
    }
}

/// The request's coprocessors, in the order the client listed them.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Coprocs {
    pub list: Vec<Coproc>,
}

impl Coprocs {
    /// The entry of a named GPU type the host has (count > 0). A type listed twice: the last
    /// one, as BOINC keeps it.
    pub fn named(&self, pt: ProcType) -> Option<&Coproc> {
        self.list
            .iter()
            .rev()
            .find(|c| c.proc_type() == Some(pt))
            .filter(|c| c.count > 0)
    }

    /// The NVIDIA GPU and its CUDA details, if the host has one.
    pub fn nvidia(&self) -> Option<(&Coproc, &NvidiaInfo)> {
        let c = self.named(ProcType::Nvidia)?;
        match &c.vendor {
            Vendor::Nvidia(n) => Some((c, n)),
            _ => None,
        }
    }

    /// The AMD GPU and its CAL details, if the host has one.
    pub fn ati(&self) -> Option<(&Coproc, &AtiInfo)> {
        let c = self.named(ProcType::Amd)?;
        match &c.vendor {
            Vendor::Ati(a) => Some((c, a)),
            _ => None,
        }
    }

    /// The entry whose type name is exactly `name` (`COPROCS::lookup_type`).
    pub fn by_type_name(&self, name: &str) -> Option<&Coproc> {
        self.list.iter().find(|c| c.type_name == name)
    }

    /// `host.p_ngpus`: instances over every entry.
    pub fn total_count(&self) -> i32 {
        self.list.iter().map(|c| c.count).sum()
    }

    /// `host.p_gpu_fpops`: instances times peak speed over every entry.
    pub fn total_peak_flops(&self) -> f64 {
        let total: f64 = self
            .list
            .iter()
            .map(|c| f64::from(c.count) * c.peak_flops)
            .sum();
        if total.is_finite() { total } else { 0.0 }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn plan_class_names_imply_a_type_by_substring() {
        for (name, pt) in [
            ("cuda_fermi", ProcType::Nvidia),
            ("opencl_nvidia_101", ProcType::Nvidia),
            ("ati14", ProcType::Amd),
            ("opencl_amd", ProcType::Amd),
            ("opencl_intel_gpu_102", ProcType::Intel),
            ("opencl_apple_gpu", ProcType::Apple),
            ("mt", ProcType::Cpu),
            ("", ProcType::Cpu),
            // BOINC's rule, quirks included: "ati" inside another word.
            ("sse3_static", ProcType::Amd),
        ] {
            assert_eq!(ProcType::of_plan_class_name(name), pt, "{name}");
        }
        assert_eq!(ProcType::from_coproc_type("CUDA"), Some(ProcType::Nvidia));
        assert_eq!(ProcType::from_coproc_type("CPU"), None);
    }

    #[test]
    fn absurd_peak_speeds_are_replaced() {
        let mut c = Coproc::new("x", Vendor::Other);
        for (peak, sane) in [(0.0, 1e11), (-5.0, 1e11), (2e15, 1e11), (5e12, 5e12)] {
            c.peak_flops = peak;
            assert_eq!(c.sane_peak_flops(), sane);
        }
    }
}
