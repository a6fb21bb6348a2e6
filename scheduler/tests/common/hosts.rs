//! Volunteer hosts of every kind, speaking the real 7.20.5 client's request format: the
//! fixture's first request (`05_sched_attach_first_rpc.request.xml`) with the host's own CPU,
//! OS, work request and `<coprocs>` put in where the client writes them; and the plan-class
//! builds a project publishes for them, laid out as `apps/<app>/<version>/<platform>__<class>/`
//! and registered by the real `update_versions`.
#![allow(dead_code)]

use std::sync::Arc;

use rboinc_core::xml::{raw_element, raw_elements, text};
use rboinc_testkit::project::TestProject;
use rboinc_tools::project::Project;
use rboinc_tools::update_versions;

use super::{Harness, fixture_text};

/// The fixture host's CPU and OS (AMD EPYC, Debian).
pub const FIXTURE_VENDOR: &str = "AuthenticAMD";
pub const FIXTURE_MODEL: &str = "AMD EPYC [Family 25 Model 1 Stepping 1]";

/// An NVIDIA RTX 3060 as the 7.20.5 client describes it, asking for `req_secs` seconds.
pub fn nvidia_gpu(count: u32, req_secs: f64, req_instances: f64) -> String {
    format!(
        "<coproc_cuda>\n   <count>{count}</count>\n   <name>NVIDIA GeForce RTX 3060</name>\n   \
         <available_ram>12544114688.000000</available_ram>\n   <have_cuda>1</have_cuda>\n   \
         <have_opencl>1</have_opencl>\n   <req_secs>{req_secs:.6}</req_secs>\n   \
         <req_instances>{req_instances:.6}</req_instances>\n   <estimated_delay>0.000000</estimated_delay>\n   \
         <peak_flops>12737536000000.000000</peak_flops>\n   <cudaVersion>12020</cudaVersion>\n   \
         <drvVersion>53504</drvVersion>\n   <totalGlobalMem>12884246528.000000</totalGlobalMem>\n   \
         <clockRate>1777000</clockRate>\n   <major>8</major>\n   <minor>6</minor>\n   \
         <multiProcessorCount>28</multiProcessorCount>\n   <coproc_opencl>\n      \
         <name>NVIDIA GeForce RTX 3060</name>\n      <vendor>NVIDIA Corporation</vendor>\n      \
         <double_fp_config>63</double_fp_config>\n      <global_mem_size>12884246528</global_mem_size>\n      \
         <max_clock_frequency>1777</max_clock_frequency>\n      <max_compute_units>28</max_compute_units>\n      \
         <opencl_device_version>OpenCL 3.0 CUDA</opencl_device_version>\n      \
         <opencl_driver_version>535.183.01</opencl_driver_version>\n   </coproc_opencl>\n</coproc_cuda>\n"
    )
}

/// An AMD Radeon with CAL 1.4 and OpenCL, asking for `req_secs` seconds.
pub fn amd_gpu(req_secs: f64) -> String {
    format!(
        "<coproc_ati>\n   <count>1</count>\n   <name>AMD Radeon RX 580</name>\n   \
         <available_ram>8589934592.000000</available_ram>\n   <have_cal>1</have_cal>\n   \
         <have_opencl>1</have_opencl>\n   <req_secs>{req_secs:.6}</req_secs>\n   \
         <req_instances>1.000000</req_instances>\n   <estimated_delay>0.000000</estimated_delay>\n   \
         <peak_flops>6175000000000.000000</peak_flops>\n   <CALVersion>1.4.1848</CALVersion>\n   \
         <target>20</target>\n   <localRAM>8192</localRAM>\n   <engineClock>1340</engineClock>\n   \
         <wavefrontSize>64</wavefrontSize>\n   <numberOfSIMD>36</numberOfSIMD>\n   \
         <atirt_detected/>\n   <coproc_opencl>\n      <name>Ellesmere</name>\n      \
         <vendor>Advanced Micro Devices, Inc.</vendor>\n      <global_mem_size>8589934592</global_mem_size>\n      \
         <opencl_device_version>OpenCL 2.0 AMD-APP (3380.4)</opencl_device_version>\n   \
         </coproc_opencl>\n</coproc_ati>\n"
    )
}

/// An Intel UHD GPU with OpenCL 3.0, asking for `req_secs` seconds.
pub fn intel_gpu(req_secs: f64) -> String {
    format!(
        "<coproc_intel_gpu>\n   <count>1</count>\n   <name>Intel(R) UHD Graphics 630</name>\n   \
         <available_ram>6588370944.000000</available_ram>\n   <have_opencl>1</have_opencl>\n   \
         <req_secs>{req_secs:.6}</req_secs>\n   <req_instances>1.000000</req_instances>\n   \
         <estimated_delay>0.000000</estimated_delay>\n   <peak_flops>441600000000.000000</peak_flops>\n   \
         <version>31.0.101.2111</version>\n   <coproc_opencl>\n      <name>Intel(R) UHD Graphics 630</name>\n      \
         <vendor>Intel(R) Corporation</vendor>\n      <global_mem_size>6588370944</global_mem_size>\n      \
         <max_clock_frequency>1150</max_clock_frequency>\n      <max_compute_units>24</max_compute_units>\n      \
         <opencl_device_version>OpenCL 3.0 NEO </opencl_device_version>\n      \
         <opencl_driver_version>31.0.101.2111</opencl_driver_version>\n   </coproc_opencl>\n</coproc_intel_gpu>\n"
    )
}

/// One volunteer computer.
#[derive(Debug, Clone)]
pub struct Host {
    pub authenticator: String,
    pub cpid: String,
    pub hostid: i64,
    pub rpc_seqno: i32,
    pub ncpus: u32,
    pub p_fpops: f64,
    pub vendor: String,
    pub model: String,
    pub os_name: String,
    pub os_version: String,
    pub platform: String,
    pub core_version: (u32, u32, u32),
    pub cpu_req_secs: f64,
    pub cpu_req_instances: f64,
    /// The `<coprocs>` children.
    pub coprocs: String,
    /// The `<app_versions>` children.
    pub app_versions: String,
    /// The CPU features, if not the fixture host's.
    pub p_features: Option<String>,
    /// Tasks the client holds (listed in `<other_results>`; every job received is added).
    pub holding: Vec<String>,
}

impl Host {
    /// A host like the fixture's (2 CPUs at 1 GFLOPS, AMD EPYC, Debian) asking for a moment
    /// of CPU work (one job).
    pub fn new(authenticator: &str, name: &str) -> Host {
        Host {
            authenticator: authenticator.to_string(),
            cpid: rboinc_core::md5file::Md5Hex::of_bytes(name.as_bytes())
                .as_str()
                .to_string(),
            hostid: 0,
            rpc_seqno: 0,
            ncpus: 2,
            p_fpops: 1e9,
            vendor: FIXTURE_VENDOR.into(),
            model: FIXTURE_MODEL.into(),
            os_name: "Linux Debian".into(),
            os_version: "Debian GNU/Linux 12 (bookworm) [6.18.44-fc-v782|libc 2.36]".into(),
            platform: "x86_64-pc-linux-gnu".into(),
            core_version: (7, 20, 5),
            cpu_req_secs: 0.001,
            cpu_req_instances: 0.0,
            coprocs: String::new(),
            app_versions: String::new(),
            holding: Vec::new(),
            p_features: None,
        }
    }

    /// The request, in the 7.20.5 client's layout.
    pub fn request(&self) -> String {
        let f = fixture_text("05_sched_attach_first_rpc.request.xml");
        let (major, minor, release) = self.core_version;
        let cpu_req_secs = self.cpu_req_secs;
        let mut r = f
            .replace(
                "<authenticator>0123456789abcdef0123456789abcdef</authenticator>",
                &format!("<authenticator>{}</authenticator>", self.authenticator),
            )
            .replace("<hostid>0</hostid>", &format!("<hostid>{}</hostid>", self.hostid))
            .replace(
                "<rpc_seqno>0</rpc_seqno>",
                &format!("<rpc_seqno>{}</rpc_seqno>", self.rpc_seqno),
            )
            .replace(
                "<core_client_major_version>7</core_client_major_version>\n    \
                 <core_client_minor_version>20</core_client_minor_version>\n    \
                 <core_client_release>5</core_client_release>",
                &format!(
                    "<core_client_major_version>{major}</core_client_major_version>\n    \
                     <core_client_minor_version>{minor}</core_client_minor_version>\n    \
                     <core_client_release>{release}</core_client_release>"
                ),
            )
            .replace(
                "<work_req_seconds>1.000000</work_req_seconds>\n    <cpu_req_secs>1.000000</cpu_req_secs>\n    \
                 <cpu_req_instances>0.000000</cpu_req_instances>",
                &format!(
                    "<work_req_seconds>{cpu_req_secs:.6}</work_req_seconds>\n    \
                     <cpu_req_secs>{cpu_req_secs:.6}</cpu_req_secs>\n    \
                     <cpu_req_instances>{:.6}</cpu_req_instances>",
                    self.cpu_req_instances
                ),
            )
            .replace(
                "<platform_name>x86_64-pc-linux-gnu</platform_name>",
                &format!("<platform_name>{}</platform_name>", self.platform),
            )
            .replace("0f137975014a2816cb09d0ceae1a584d", &self.cpid)
            .replace("<p_ncpus>2</p_ncpus>", &format!("<p_ncpus>{}</p_ncpus>", self.ncpus))
            .replace(
                "<p_fpops>1000000000.000000</p_fpops>",
                &format!("<p_fpops>{:.6}</p_fpops>", self.p_fpops),
            )
            .replace(
                "<p_vendor>AuthenticAMD</p_vendor>",
                &format!("<p_vendor>{}</p_vendor>", self.vendor),
            )
            .replace(
                &format!("<p_model>{FIXTURE_MODEL}</p_model>"),
                &format!("<p_model>{}</p_model>", self.model),
            )
            .replace(
                "<os_name>Linux Debian</os_name>",
                &format!("<os_name>{}</os_name>", self.os_name),
            )
            .replace(
                "<os_version>Debian GNU/Linux 12 (bookworm) [6.18.44-fc-v782|libc 2.36]</os_version>",
                &format!("<os_version>{}</os_version>", self.os_version),
            )
            .replace(
                "<app_versions>\n</app_versions>",
                &format!("<app_versions>\n{}</app_versions>", self.app_versions),
            )
            .replace(
                "<other_results>\n</other_results>",
                &format!(
                    "<other_results>\n{}</other_results>",
                    self.holding
                        .iter()
                        .map(|n| format!("    <other_result>\n        <name>{n}</name>\n    </other_result>\n"))
                        .collect::<String>()
                ),
            );
        if let Some(features) = &self.p_features {
            let start = r.find("<p_features>").unwrap();
            let end = r.find("</p_features>").unwrap();
            r = format!("{}<p_features>{features}{}", &r[..start], &r[end..]);
        }
        if !self.coprocs.is_empty() {
            r = r.replace(
                "    </disk_usage>\n",
                &format!(
                    "    </disk_usage>\n    <coprocs>\n{}    </coprocs>\n",
                    self.coprocs
                ),
            );
        }
        r
    }

    /// Sends the request; remembers the host id the reply announces.
    pub async fn rpc(&mut self, h: &Harness) -> Reply {
        let text = h.rpc(&self.request()).await;
        let reply = Reply::parse(&text);
        if let Some(id) = rboinc_core::xml::parse::<i64>(&text, "hostid") {
            self.hostid = id;
            self.rpc_seqno = 0;
        }
        self.rpc_seqno += 1;
        self.holding
            .extend(reply.jobs.iter().map(|j| j.name.clone()));
        reply
    }
}

/// An `<app_version>` of a reply.
#[derive(Debug, Clone, PartialEq)]
pub struct ReplyVersion {
    pub version_num: i32,
    pub plan_class: Option<String>,
    pub avg_ncpus: f64,
    pub flops: f64,
    pub cmdline: Option<String>,
    /// `(type, count)` of each `<coproc>`.
    pub coprocs: Vec<(String, f64)>,
    pub gpu_ram: Option<f64>,
}

/// A `<result>` of a reply: its name and the version it binds to.
#[derive(Debug, Clone, PartialEq)]
pub struct ReplyJob {
    pub name: String,
    pub wu_name: String,
    pub version_num: i32,
    pub plan_class: String,
}

/// What a test looks at in a reply.
#[derive(Debug, Clone)]
pub struct Reply {
    pub text: String,
    pub versions: Vec<ReplyVersion>,
    pub jobs: Vec<ReplyJob>,
}

impl Reply {
    pub fn parse(reply: &str) -> Reply {
        let body = raw_element(reply, "scheduler_reply").unwrap_or("");
        let versions = raw_elements(body, "app_version")
            .into_iter()
            .map(|v| ReplyVersion {
                version_num: rboinc_core::xml::parse(v, "version_num").unwrap_or(0),
                plan_class: text(v, "plan_class"),
                avg_ncpus: rboinc_core::xml::parse(v, "avg_ncpus").unwrap_or(-1.0),
                flops: rboinc_core::xml::parse(v, "flops").unwrap_or(-1.0),
                cmdline: text(v, "cmdline"),
                coprocs: raw_elements(v, "coproc")
                    .into_iter()
                    .map(|c| {
                        (
                            text(c, "type").unwrap_or_default(),
                            rboinc_core::xml::parse(c, "count").unwrap_or(0.0),
                        )
                    })
                    .collect(),
                gpu_ram: rboinc_core::xml::parse(v, "gpu_ram"),
            })
            .collect();
        let jobs = raw_elements(body, "result")
            .into_iter()
            .map(|r| ReplyJob {
                name: text(r, "name").unwrap_or_default(),
                wu_name: text(r, "wu_name").unwrap_or_default(),
                version_num: rboinc_core::xml::parse(r, "version_num").unwrap_or(0),
                plan_class: text(r, "plan_class").unwrap_or_default(),
            })
            .collect();
        Reply {
            text: reply.to_string(),
            versions,
            jobs,
        }
    }

    /// The version the reply describes with this plan class ("" for the plain one).
    pub fn version(&self, plan_class: &str) -> Option<&ReplyVersion> {
        self.versions
            .iter()
            .find(|v| v.plan_class.as_deref().unwrap_or("") == plan_class)
    }

    /// Plan classes of the jobs, in reply order.
    pub fn job_classes(&self) -> Vec<&str> {
        self.jobs.iter().map(|j| j.plan_class.as_str()).collect()
    }
}

/// Lays out a build of `mnist` version `version` for `x86_64-pc-linux-gnu` with plan class
/// `plan_class` ("" for none) and an optional `version.xml`, as an administrator does.
pub fn lay_out(project: &TestProject, version: &str, plan_class: &str, version_xml: Option<&str>) {
    let platform = if plan_class.is_empty() {
        "x86_64-pc-linux-gnu".to_string()
    } else {
        format!("x86_64-pc-linux-gnu__{plan_class}")
    };
    let dir = project
        .root
        .join("apps/mnist")
        .join(version)
        .join(&platform);
    std::fs::create_dir_all(&dir).unwrap();
    let name = format!("mnist_{version}_{platform}");
    std::fs::write(dir.join(&name), format!("#!/bin/sh\necho {name}\nexit 0\n")).unwrap();
    if let Some(xml) = version_xml {
        std::fs::write(dir.join("version.xml"), xml.replace("FILE", &name)).unwrap();
    }
}

/// Registers what [`lay_out`] laid out (the real `update_versions`).
pub async fn register(project: &TestProject) -> update_versions::UpdateReport {
    let tools = Project {
        dir: project.project_dir().unwrap(),
        config: Arc::new(project.config().unwrap()),
    };
    update_versions::run(&tools, project.pool()).await.unwrap()
}

/// A project with `jobs` mnist workunits (two results each) and the builds `(version, class)`
/// registered, served in process; its submitter's key is `h.project.authenticator`.
pub async fn project_with(builds: &[(&str, &str)], jobs: usize, spec: Option<&str>) -> Harness {
    rboinc_core::telemetry::init_for_tests();
    let project = TestProject::create().await.expect("make the project");
    if let Some(spec) = spec {
        std::fs::write(project.root.join("plan_class_spec.xml"), spec).unwrap();
    }
    // Deterministic choices: BOINC's random factor off.
    project
        .set_option("version_select_random_factor", "0")
        .unwrap();
    for (version, class) in builds {
        lay_out(&project, version, class, None);
    }
    let report = register(&project).await;
    assert_eq!(
        report.registered.len(),
        builds.len(),
        "{:?}",
        report.skipped
    );
    if jobs > 0 {
        project
            .create_mnist_batch("wu", jobs, Default::default())
            .await
            .unwrap();
        project.run_transitioner().await.unwrap();
    }
    Harness::with_project(project)
}
