//! `<coproc_opencl>`: the OpenCL view of a device (BOINC's `OPENCL_DEVICE_PROP`), and the two
//! numbers BOINC derives from its version strings for plan classes to compare.

use crate::sched::elements::{Element, Unclosed};

/// The OpenCL properties plan classes and the host record use.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct OpenclProps {
    pub name: String,
    pub vendor: String,
    pub double_fp_config: u64,
    /// Bytes.
    pub global_mem_size: f64,
    /// MHz.
    pub max_clock_frequency: f64,
    pub max_compute_units: f64,
    pub nv_compute_capability_major: i64,
    pub nv_compute_capability_minor: i64,
    pub amd_simd_per_compute_unit: f64,
    pub amd_simd_width: f64,
    pub amd_simd_instruction_width: f64,
    pub opencl_device_version: String,
    pub opencl_driver_version: String,
    /// `100*major + minor` of a leading `OpenCL major.minor` in the device version, else 0.
    pub device_version_int: i64,
    /// `round(100 * x)` of the number after the last `(` of the device version, else 0
    /// (`OpenCL 1.2 AMD-APP (1800.11)` → 180011).
    pub driver_revision: i64,
}

impl OpenclProps {
    /// Reads a `<coproc_opencl>` (or `<opencl_cpu_info>`) element.
    pub fn parse(e: &Element<'_>) -> Result<OpenclProps, Unclosed> {
        let mut p = OpenclProps::default();
        for c in e.children() {
            let c = c?;
            match c.name {
                "name" => p.name = c.text().into_owned(),
                "vendor" => p.vendor = c.text().into_owned(),
                "double_fp_config" => p.double_fp_config = c.i64().max(0) as u64,
                "global_mem_size" => p.global_mem_size = c.f64().max(0.0),
                "max_clock_frequency" => p.max_clock_frequency = c.f64().max(0.0),
                "max_compute_units" => p.max_compute_units = c.f64().max(0.0),
                "nv_compute_capability_major" => p.nv_compute_capability_major = c.i64(),
                "nv_compute_capability_minor" => p.nv_compute_capability_minor = c.i64(),
                "amd_simd_per_compute_unit" => p.amd_simd_per_compute_unit = c.f64().max(0.0),
                "amd_simd_width" => p.amd_simd_width = c.f64().max(0.0),
                "amd_simd_instruction_width" => p.amd_simd_instruction_width = c.f64().max(0.0),
                "opencl_device_version" => p.opencl_device_version = c.text().into_owned(),
                "opencl_driver_version" => p.opencl_driver_version = c.text().into_owned(),
                _ => {}
            }
        }
        p.device_version_int = device_version_int(&p.opencl_device_version);
        p.driver_revision = driver_revision(&p.opencl_device_version);
        Ok(p)
    }
}

/// `OpenCL 3.0 CUDA` → 300; 0 unless the text starts with `OpenCL major.minor`.
fn device_version_int(v: &str) -> i64 {
    let Some(rest) = v.strip_prefix("OpenCL ") else {
        return 0;
    };
    let rest = rest.trim_start();
    let (major, tail) = leading_int(rest);
    let Some(major) = major else { return 0 };
    let Some(tail) = tail.strip_prefix('.') else {
        return 0;
    };
    let (minor, _) = leading_int(tail);
    minor.map_or(0, |minor| 100 * major + minor)
}

/// The number after the last `(`, times 100, rounded; 0 if there is none.
fn driver_revision(v: &str) -> i64 {
    let Some(at) = v.rfind('(') else { return 0 };
    let digits: String = v[at + 1..]
        .chars()
        .take_while(|c| c.is_ascii_digit() || *c == '.')
        .collect();
    digits
        .parse::<f64>()
        .map_or(0, |x| (100.0 * x).round() as i64)
}

fn leading_int(s: &str) -> (Option<i64>, &str) {
    let end = s.find(|c: char| !c.is_ascii_digit()).unwrap_or(s.len());
    (s[..end].parse().ok(), &s[end..])
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn version_numbers_are_derived_as_boinc_derives_them() {
        assert_eq!(device_version_int("OpenCL 3.0 CUDA"), 300);
        assert_eq!(device_version_int("OpenCL 1.2 AMD-APP (1800.11)"), 102);
        assert_eq!(device_version_int("1.2"), 0);
        assert_eq!(device_version_int("OpenCL x"), 0);
        assert_eq!(driver_revision("OpenCL 1.2 AMD-APP (1800.11)"), 180_011);
        assert_eq!(driver_revision("OpenCL 3.0 CUDA"), 0);
        assert_eq!(driver_revision("OpenCL 2.0 (a) (2.5)"), 250);
    }
}
