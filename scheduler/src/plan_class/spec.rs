//! `plan_class_spec.xml`: the project's plan classes in BOINC's format (`<plan_classes>` of
//! `<plan_class>`), every element BOINC's `PLAN_CLASS_SPEC::parse` reads, with its defaults.
//!
//! Unlike BOINC, which logs a parse error and then refuses every plan class for the life of
//! the process, a file that is not well-formed, a value that is not a number, or a regular
//! expression that does not compile is an error naming the file, line and column, so the
//! scheduler does not start with it. Unknown elements are ignored, as BOINC ignores them.
//! Regular expressions use the `regex` crate's syntax, which reads the POSIX extended
//! expressions BOINC's files use (unanchored, no back-references).

use std::path::Path;

use rboinc_core::config::document::{self, Element};
use rboinc_core::config::{ConfigError, Position};
use regex::Regex;

/// BOINC's `MEGA`.
const MEGA: f64 = 1_048_576.0;

/// One `<plan_class>`.
#[derive(Debug, Clone)]
pub struct PlanClassSpec {
    pub name: String,
    /// Where it is defined (for messages).
    pub at: Position,
    pub infeasible_random: f64,
    pub user_id: i64,
    pub min_wu_id: i64,
    pub max_wu_id: i64,
    pub min_batch: i64,
    pub max_batch: i64,
    /// Each must appear in the host's CPU features (searched as `" feature "`).
    pub cpu_features: Vec<String>,
    pub min_ncpus: f64,
    pub max_threads: i64,
    /// Bytes (the file gives MB).
    pub mem_usage_base: f64,
    pub mem_usage_per_cpu: f64,
    pub nthreads_cmdline: bool,
    pub projected_flops_scale: f64,
    pub os_regex: Option<Regex>,
    pub min_os_version: f64,
    pub max_os_version: f64,
    pub min_android_version: i64,
    pub max_android_version: i64,
    pub min_libc_version: i64,
    pub cpu_vendor_regex: Option<Regex>,
    pub cpu_model_regex: Option<Regex>,
    pub min_core_client_version: i64,
    pub max_core_client_version: i64,
    pub virtualbox: bool,
    pub is64bit: bool,
    pub min_vbox_version: i64,
    pub max_vbox_version: i64,
    pub exclude_vbox_version: Vec<i64>,
    pub vm_accel_required: bool,
    pub wsl: bool,
    pub docker: bool,
    pub min_boinc_wsl_distro_version: i64,
    pub project_prefs_tag: String,
    pub project_prefs_regex: Option<Regex>,
    pub project_prefs_default_true: bool,
    pub avg_ncpus: f64,
    pub gpu_type: String,
    pub gpu_type_regex: Option<Regex>,
    pub cuda: bool,
    /// Read, never used (as in BOINC).
    pub cal: bool,
    pub opencl: bool,
    pub cpu_frac: f64,
    pub min_gpu_ram_mb: f64,
    pub gpu_ram_used_mb: f64,
    pub gpu_peak_flops_scale: f64,
    pub ngpus: f64,
    pub min_gpu_peak_flops: f64,
    pub max_gpu_peak_flops: f64,
    pub min_driver_version: i64,
    pub max_driver_version: i64,
    pub gpu_utilization_tag: String,
    pub need_ati_libs: bool,
    pub need_amd_libs: bool,
    pub without_opencl: bool,
    pub min_cal_target: i64,
    pub max_cal_target: i64,
    pub min_nvidia_compcap: i64,
    pub max_nvidia_compcap: i64,
    pub min_cuda_version: i64,
    pub max_cuda_version: i64,
    pub min_opencl_version: i64,
    pub max_opencl_version: i64,
    pub min_opencl_driver_revision: i64,
    pub max_opencl_driver_revision: i64,
    pub double_precision_fp: bool,
    pub min_metal_support: i64,
}

impl PlanClassSpec {
    /// BOINC's defaults (the `PLAN_CLASS_SPEC` constructor).
    fn new(at: Position) -> PlanClassSpec {
        PlanClassSpec {
            name: String::new(),
            at,
            infeasible_random: 0.0,
            user_id: 0,
            min_wu_id: 0,
            max_wu_id: 0,
            min_batch: 0,
            max_batch: 0,
            cpu_features: Vec::new(),
            min_ncpus: 0.0,
            max_threads: 1,
            mem_usage_base: 0.0,
            mem_usage_per_cpu: 0.0,
            nthreads_cmdline: false,
            projected_flops_scale: 1.0,
            os_regex: None,
            min_os_version: 0.0,
            max_os_version: 0.0,
            min_android_version: 0,
            max_android_version: 0,
            min_libc_version: 0,
            cpu_vendor_regex: None,
            cpu_model_regex: None,
            min_core_client_version: 0,
            max_core_client_version: 0,
            virtualbox: false,
            is64bit: false,
            min_vbox_version: 0,
            max_vbox_version: 0,
            exclude_vbox_version: Vec::new(),
            vm_accel_required: false,
            wsl: false,
            docker: false,
            min_boinc_wsl_distro_version: 0,
            project_prefs_tag: String::new(),
            project_prefs_regex: None,
            project_prefs_default_true: false,
            avg_ncpus: 0.0,
            gpu_type: String::new(),
            gpu_type_regex: None,
            cuda: false,
            cal: false,
            opencl: false,
            cpu_frac: 0.1,
            min_gpu_ram_mb: 0.0,
            gpu_ram_used_mb: 0.0,
            gpu_peak_flops_scale: 1.0,
            ngpus: 1.0,
            min_gpu_peak_flops: 0.0,
            max_gpu_peak_flops: 0.0,
            min_driver_version: 0,
            max_driver_version: 0,
            gpu_utilization_tag: String::new(),
            need_ati_libs: false,
            need_amd_libs: false,
            without_opencl: false,
            min_cal_target: 0,
            max_cal_target: 0,
            min_nvidia_compcap: 0,
            max_nvidia_compcap: 0,
            min_cuda_version: 0,
            max_cuda_version: 0,
            min_opencl_version: 0,
            max_opencl_version: 0,
            min_opencl_driver_revision: 0,
            max_opencl_driver_revision: 0,
            double_precision_fp: false,
            min_metal_support: 0,
        }
    }

    /// Whether it restricts which workunits it runs (`min_wu_id`, `max_wu_id`, `min_batch`,
    /// `max_batch`).
    pub fn restricts_workunits(&self) -> bool {
        self.min_wu_id != 0 || self.max_wu_id != 0 || self.min_batch != 0 || self.max_batch != 0
    }

    /// BOINC's `wu_is_infeasible_for_plan_class`.
    pub fn workunit_excluded(&self, wu_id: i64, batch: i64) -> bool {
        (self.min_wu_id != 0 && wu_id < self.min_wu_id)
            || (self.max_wu_id != 0 && wu_id > self.max_wu_id)
            || (self.min_batch != 0 && batch < self.min_batch)
            || (self.max_batch != 0 && batch > self.max_batch)
    }
}

/// Reads a plan class file (`text` is the contents of `path`).
pub fn parse_specs(path: &Path, text: &str) -> Result<Vec<PlanClassSpec>, ConfigError> {
    let root = document::parse(path, text)?;
    if root.name != "plan_classes" {
        return Err(ConfigError::Structure {
            path: path.to_path_buf(),
            at: root.at,
            message: format!("the root element is <{}>, not <plan_classes>", root.name),
        });
    }
    let mut out = Vec::new();
    for e in root.children_named("plan_class") {
        let spec = parse_one(path, e)?;
        if spec.name.is_empty() {
            return Err(ConfigError::Structure {
                path: path.to_path_buf(),
                at: e.at,
                message: "a <plan_class> without a <name>".into(),
            });
        }
        out.push(spec);
    }
    Ok(out)
}

fn invalid(path: &Path, e: &Element, expected: &'static str) -> ConfigError {
    ConfigError::InvalidValue {
        path: path.to_path_buf(),
        at: e.at,
        element: e.name.clone(),
        value: e.value().to_string(),
        expected,
    }
}

fn parse_one(path: &Path, pc: &Element) -> Result<PlanClassSpec, ConfigError> {
    let mut s = PlanClassSpec::new(pc.at);
    for e in &pc.children {
        let int = || -> Result<i64, ConfigError> {
            rboinc_core::config::parse_c_int(e.value())
                .ok_or_else(|| invalid(path, e, "an integer"))
        };
        let float = || -> Result<f64, ConfigError> {
            rboinc_core::crypt::parse_c_double(e.value())
                .filter(|x| x.is_finite())
                .ok_or_else(|| invalid(path, e, "a number"))
        };
        let flag = || -> Result<bool, ConfigError> {
            if e.self_closing || e.value().is_empty() {
                return Ok(e.self_closing);
            }
            Ok(int()? != 0)
        };
        let regex = || -> Result<Option<Regex>, ConfigError> {
            Regex::new(e.value())
                .map(Some)
                .map_err(|err| ConfigError::Structure {
                    path: path.to_path_buf(),
                    at: e.at,
                    message: format!("<{}>: bad regular expression: {err}", e.name),
                })
        };
        let text = || e.value().to_string();
        match e.name.as_str() {
            "name" => s.name = text(),
            "infeasible_random" => s.infeasible_random = float()?,
            "user_id" => s.user_id = int()?,
            "min_wu_id" => s.min_wu_id = int()?,
            "max_wu_id" => s.max_wu_id = int()?,
            "min_batch" => s.min_batch = int()?,
            "max_batch" => s.max_batch = int()?,
            "cpu_feature" => s.cpu_features.push(format!(" {} ", e.value())),
            "min_ncpus" => s.min_ncpus = float()?,
            "max_threads" => s.max_threads = int()?,
            "mem_usage_base_mb" => s.mem_usage_base = float()? * MEGA,
            "mem_usage_per_cpu_mb" => s.mem_usage_per_cpu = float()? * MEGA,
            "nthreads_cmdline" => s.nthreads_cmdline = flag()?,
            "projected_flops_scale" => s.projected_flops_scale = float()?,
            "os_regex" => s.os_regex = regex()?,
            "min_os_version" => s.min_os_version = float()?,
            "max_os_version" => s.max_os_version = float()?,
            "min_android_version" => s.min_android_version = int()?,
            "max_android_version" => s.max_android_version = int()?,
            "min_libc_version" => s.min_libc_version = int()?,
            "cpu_vendor_regex" => s.cpu_vendor_regex = regex()?,
            "cpu_model_regex" => s.cpu_model_regex = regex()?,
            "min_core_client_version" => s.min_core_client_version = int()?,
            "max_core_client_version" => s.max_core_client_version = int()?,
            "virtualbox" => s.virtualbox = flag()?,
            "is64bit" => s.is64bit = flag()?,
            "min_vbox_version" => s.min_vbox_version = int()?,
            "max_vbox_version" => s.max_vbox_version = int()?,
            "exclude_vbox_version" => s.exclude_vbox_version.push(int()?),
            "vm_accel_required" => s.vm_accel_required = flag()?,
            "wsl" => s.wsl = flag()?,
            "docker" => s.docker = flag()?,
            "min_boinc_wsl_distro_version" => s.min_boinc_wsl_distro_version = int()?,
            "project_prefs_tag" => s.project_prefs_tag = text(),
            "project_prefs_regex" => s.project_prefs_regex = regex()?,
            "project_prefs_default_true" => s.project_prefs_default_true = flag()?,
            "avg_ncpus" => s.avg_ncpus = float()?,
            "gpu_type" => s.gpu_type = text(),
            "gpu_type_regex" => s.gpu_type_regex = regex()?,
            "cuda" => s.cuda = flag()?,
            "cal" => s.cal = flag()?,
            "opencl" => s.opencl = flag()?,
            "cpu_frac" => s.cpu_frac = float()?,
            "min_gpu_ram_mb" => s.min_gpu_ram_mb = float()?,
            "gpu_ram_used_mb" => s.gpu_ram_used_mb = float()?,
            "gpu_peak_flops_scale" => s.gpu_peak_flops_scale = float()?,
            "ngpus" => s.ngpus = float()?,
            "min_gpu_peak_flops" => s.min_gpu_peak_flops = float()?,
            "max_gpu_peak_flops" => s.max_gpu_peak_flops = float()?,
            "min_driver_version" => s.min_driver_version = int()?,
            "max_driver_version" => s.max_driver_version = int()?,
            "gpu_utilization_tag" => s.gpu_utilization_tag = text(),
            "need_ati_libs" => s.need_ati_libs = flag()?,
            "need_amd_libs" => s.need_amd_libs = flag()?,
            "without_opencl" => s.without_opencl = flag()?,
            "min_cal_target" => s.min_cal_target = int()?,
            "max_cal_target" => s.max_cal_target = int()?,
            "min_nvidia_compcap" => s.min_nvidia_compcap = int()?,
            "max_nvidia_compcap" => s.max_nvidia_compcap = int()?,
            "min_cuda_version" => s.min_cuda_version = int()?,
            "max_cuda_version" => s.max_cuda_version = int()?,
            "min_opencl_version" => s.min_opencl_version = int()?,
            "max_opencl_version" => s.max_opencl_version = int()?,
            "min_opencl_driver_revision" => s.min_opencl_driver_revision = int()?,
            "max_opencl_driver_revision" => s.max_opencl_driver_revision = int()?,
            "double_precision_fp" => s.double_precision_fp = flag()?,
            "min_metal_support" => s.min_metal_support = int()?,
            _ => {}
        }
    }
    Ok(s)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse(text: &str) -> Result<Vec<PlanClassSpec>, ConfigError> {
        parse_specs(Path::new("plan_class_spec.xml"), text)
    }

    #[test]
    fn elements_and_defaults_are_boincs() {
        let specs = parse(
            "<plan_classes>\n  <plan_class>\n    <name> mt </name>\n    <cpu_feature>sse2</cpu_feature>\n\
             <max_threads>8</max_threads>\n    <mem_usage_base_mb>100</mem_usage_base_mb>\n\
             <nthreads_cmdline/>\n    <os_regex>Ubuntu|Debian</os_regex>\n  </plan_class>\n\
             <plan_class><name>cuda</name><gpu_type>nvidia</gpu_type><cuda>1</cuda>\
             <min_batch>3</min_batch><unknown_element>x</unknown_element></plan_class>\n</plan_classes>",
        )
        .unwrap();
        assert_eq!(specs.len(), 2);
        let mt = &specs[0];
        assert_eq!(mt.name, "mt");
        assert_eq!(mt.cpu_features, [" sse2 "]);
        assert_eq!(mt.max_threads, 8);
        assert_eq!(mt.mem_usage_base, 100.0 * MEGA);
        assert!(mt.nthreads_cmdline);
        assert!(
            mt.os_regex
                .as_ref()
                .unwrap()
                .is_match("Debian GNU/Linux 12")
        );
        assert_eq!(mt.cpu_frac, 0.1);
        assert_eq!(mt.ngpus, 1.0);
        assert!(!mt.restricts_workunits());
        let cuda = &specs[1];
        assert!(cuda.cuda && cuda.restricts_workunits());
        assert!(cuda.workunit_excluded(10, 2));
        assert!(!cuda.workunit_excluded(10, 3));
    }

    #[test]
    fn the_example_file_in_config_is_valid() {
        let text = include_str!("../../../config/plan_class_spec.xml");
        let specs = parse(text).unwrap();
        let names: Vec<&str> = specs.iter().map(|s| s.name.as_str()).collect();
        assert_eq!(
            names,
            ["mt", "cuda", "opencl_amd", "opencl_intel_gpu", "beta"]
        );
        assert_eq!(specs[1].min_nvidia_compcap, 500);
        assert!(specs[2].double_precision_fp && specs[2].opencl);
    }

    #[test]
    fn mistakes_name_the_file_line_and_column() {
        let e = parse("<plan_classes>\n<plan_class><name>x</name>\n  <ngpus>one</ngpus></plan_class></plan_classes>")
            .unwrap_err()
            .to_string();
        assert_eq!(
            e,
            "plan_class_spec.xml:3:3: <ngpus>: \"one\" is not a number"
        );
        let e = parse("<plan_classes><plan_class><name>x</name>\n<os_regex>(</os_regex></plan_class></plan_classes>")
            .unwrap_err()
            .to_string();
        assert!(
            e.starts_with("plan_class_spec.xml:2:1: <os_regex>: bad regular expression"),
            "{e}"
        );
        let e = parse("<plan_classes>\n<plan_class><name>x</name>\n</plan_classes>")
            .unwrap_err()
            .to_string();
        assert!(e.starts_with("plan_class_spec.xml:3:"), "{e}");
        let e = parse("<plan_class/>").unwrap_err().to_string();
        assert_eq!(
            e,
            "plan_class_spec.xml:1:1: the root element is <plan_class>, not <plan_classes>"
        );
        let e = parse(
            "<plan_classes>\n <plan_class><gpu_type>nvidia</gpu_type></plan_class></plan_classes>",
        )
        .unwrap_err()
        .to_string();
        assert_eq!(
            e,
            "plan_class_spec.xml:2:2: a <plan_class> without a <name>"
        );
    }
}
