//! Which build a host gets, by its resources: requests in the real 7.20.5 client's format
//! (CPU only, several CPUs, NVIDIA, AMD, Intel and several GPUs) against a project that
//! publishes a plain, a multithread and GPU versions under BOINC's built-in plan classes; each
//! host must get the version the C++ scheduler would send, described as it describes it.

mod common;

use common::hosts::{Host, amd_gpu, intel_gpu, nvidia_gpu, project_with};

const MEGA: f64 = 1_048_576.0;

/// BOINC's `coproc_perf`: (speed, CPU share) of a job split between a CPU and a device.
fn coproc_perf(s1: f64, s2: f64, frac: f64) -> (f64, f64) {
    let y = frac * s2 + (1.0 - frac) * s1;
    (s1 * s2 / y, frac * s2 / y)
}

fn close(a: f64, b: f64) -> bool {
    (a - b).abs() <= 1e-6 * b.abs().max(1.0)
}

#[tokio::test]
async fn mt_needs_two_usable_cpus_so_a_one_cpu_host_gets_the_plain_version() {
    let h = project_with(
        &[("1.0", ""), ("1.0", "mt"), ("1.0", "cuda_fermi")],
        1,
        None,
    )
    .await;
    let mut host = Host::new(&h.project.authenticator, "one-cpu");
    host.ncpus = 1;
    let r = host.rpc(&h).await;
    assert_eq!(r.job_classes(), [""], "{}", r.text);
    assert!(
        !r.text.contains("<no_rsc_apps>"),
        "a CPU-only host, and CPU versions exist"
    );
    let v = r.version("").unwrap();
    assert_eq!(v.avg_ncpus, 1.0);
    assert_eq!(v.flops, 1e9, "no statistics: BOINC sends p_fpops × CPUs");
    assert!(v.coprocs.is_empty() && v.cmdline.is_none());
    assert_eq!(r.versions.len(), 1, "only the version the job runs with");
}

#[tokio::test]
async fn mt_uses_every_usable_cpu_and_fills_as_many_idle_cpus() {
    let h = project_with(&[("1.0", ""), ("1.0", "mt")], 3, None).await;
    let mut host = Host::new(&h.project.authenticator, "four-cpus");
    host.ncpus = 4;
    // Four idle CPUs, a second of work: BOINC counts a 4-thread job against all four.
    host.cpu_req_secs = 0.001;
    host.cpu_req_instances = 4.0;
    let r = host.rpc(&h).await;
    assert_eq!(r.job_classes(), ["mt"], "{}", r.text);
    let v = r.version("mt").unwrap();
    assert_eq!(v.avg_ncpus, 4.0);
    assert_eq!(v.cmdline.as_deref(), Some("--nthreads 4"));
    assert_eq!(v.flops, 4e9);
    // The result records the version and its peak speed (4 CPUs at 1 GFLOPS).
    let (avid, flops_estimate, plan_class): (i32, f64, String) = sqlx::query_as(
        "SELECT r.app_version_id, r.flops_estimate, av.plan_class FROM result r \
         JOIN app_version av ON av.id = r.app_version_id WHERE r.server_state = 4",
    )
    .fetch_one(h.project.pool())
    .await
    .unwrap();
    assert!(avid > 0);
    assert_eq!(plan_class, "mt");
    assert_eq!(flops_estimate, 4e9);
}

#[tokio::test]
async fn an_nvidia_request_is_filled_by_the_cuda_fermi_version_and_a_cpu_request_by_the_cpu_one() {
    let h = project_with(&[("1.0", ""), ("1.0", "cuda_fermi")], 3, None).await;
    let mut host = Host::new(&h.project.authenticator, "rtx-3060");
    host.cpu_req_secs = 0.0;
    host.coprocs = nvidia_gpu(1, 0.001, 1.0);
    let r = host.rpc(&h).await;
    assert_eq!(r.job_classes(), ["cuda_fermi"], "{}", r.text);
    let v = r.version("cuda_fermi").unwrap();
    assert_eq!(v.coprocs, [("NVIDIA".to_string(), 1.0)]);
    assert_eq!(v.gpu_ram, Some(384.0 * MEGA), "cuda_fermi's minimum RAM");
    // cuda_fermi: the CPU does 1% of the work, the GPU runs at 0.22 × its peak.
    let (_, cpu_share) = coproc_perf(1e9, 0.22 * 12_737_536_000_000.0, 0.01);
    assert!(
        close(v.avg_ncpus, cpu_share),
        "{} vs {cpu_share}",
        v.avg_ncpus
    );
    assert!(close(v.flops, 1e9 * (v.avg_ncpus + 10.0)), "{}", v.flops);

    assert!(
        !r.text.contains("<no_rsc_apps>"),
        "the project has NVIDIA versions"
    );

    // The same host asking only for CPU work gets the CPU version.
    host.cpu_req_secs = 0.001;
    host.coprocs = nvidia_gpu(1, 0.0, 0.0);
    let r = host.rpc(&h).await;
    assert_eq!(r.job_classes(), [""], "{}", r.text);

    // The host row says which GPU it has.
    let (ngpus, gpu_fpops, misc): (i32, f64, String) =
        sqlx::query_as("SELECT p_ngpus, p_gpu_fpops, misc FROM host WHERE id = ?")
            .bind(host.hostid)
            .fetch_one(h.project.pool())
            .await
            .unwrap();
    assert_eq!(ngpus, 1);
    assert_eq!(gpu_fpops, 12_737_536_000_000.0);
    let misc: serde_json::Value = serde_json::from_str(&misc).unwrap();
    assert_eq!(misc["gpus"][0]["type"], "nvidia");
    assert_eq!(misc["gpus"][0]["model"], "NVIDIA GeForce RTX 3060");
    assert_eq!(misc["gpus"][0]["ram_mb"], 12287);
}

#[tokio::test]
async fn an_amd_gpu_gets_the_ati14_version_boincs_class_for_cal_1_4() {
    let h = project_with(
        &[("1.0", ""), ("1.0", "ati14"), ("1.0", "cuda_fermi")],
        1,
        None,
    )
    .await;
    let mut host = Host::new(&h.project.authenticator, "radeon");
    host.cpu_req_secs = 0.0;
    host.coprocs = amd_gpu(0.001);
    let r = host.rpc(&h).await;
    assert_eq!(r.job_classes(), ["ati14"], "{}", r.text);
    assert!(!r.text.contains("<no_rsc_apps>"), "{}", r.text);
    let v = r.version("ati14").unwrap();
    assert_eq!(v.coprocs, [("ATI".to_string(), 1.0)]);
    assert_eq!(v.gpu_ram, Some(256.0 * MEGA));
    let (_, cpu_share) = coproc_perf(1e9, 0.23 * 6_175_000_000_000.0, 0.01);
    assert!(close(v.avg_ncpus, cpu_share));
}

#[tokio::test]
async fn an_intel_gpu_gets_the_opencl_intel_gpu_version_when_its_opencl_is_new_enough() {
    let h = project_with(
        &[
            ("1.0", ""),
            ("1.0", "opencl_intel_gpu_102"),
            ("1.0", "opencl_nvidia_101"),
        ],
        1,
        None,
    )
    .await;
    let mut host = Host::new(&h.project.authenticator, "uhd-630");
    host.cpu_req_secs = 0.0;
    host.coprocs = intel_gpu(0.001);
    let r = host.rpc(&h).await;
    assert_eq!(r.job_classes(), ["opencl_intel_gpu_102"], "{}", r.text);
    let v = r.version("opencl_intel_gpu_102").unwrap();
    assert_eq!(v.coprocs, [("intel_gpu".to_string(), 1.0)]);
    assert_eq!(v.gpu_ram, Some(256.0 * MEGA));
    let (_, cpu_share) = coproc_perf(1e9, 0.2 * 441_600_000_000.0, 0.1);
    assert!(close(v.avg_ncpus, cpu_share));
}

#[tokio::test]
async fn with_several_gpus_each_type_is_filled_from_its_own_version_gpus_first() {
    let h = project_with(
        &[("1.0", ""), ("1.0", "cuda_fermi"), ("1.0", "ati14")],
        5,
        None,
    )
    .await;
    let mut host = Host::new(&h.project.authenticator, "two-rtx-one-radeon");
    host.cpu_req_secs = 0.001;
    host.cpu_req_instances = 1.0;
    host.coprocs = format!("{}{}", nvidia_gpu(2, 1.0, 2.0), amd_gpu(0.001));
    let r = host.rpc(&h).await;
    let mut classes = r.job_classes();
    // BOINC's passes: AMD, then NVIDIA, then the CPU.
    assert_eq!(
        classes,
        ["ati14", "cuda_fermi", "cuda_fermi", ""],
        "{}",
        r.text
    );
    classes.dedup();
    assert_eq!(r.versions.len(), 3, "each version once");
    let (ngpus, misc): (i32, String) =
        sqlx::query_as("SELECT p_ngpus, misc FROM host WHERE id = ?")
            .bind(host.hostid)
            .fetch_one(h.project.pool())
            .await
            .unwrap();
    assert_eq!(ngpus, 3);
    let misc: serde_json::Value = serde_json::from_str(&misc).unwrap();
    assert_eq!(misc["gpus"][0]["type"], "nvidia");
    assert_eq!(misc["gpus"][0]["count"], 2);
    assert_eq!(misc["gpus"][1]["type"], "amd");
    assert_eq!(misc["gpus"][1]["driver_version"], "1.4.1848");
}

#[tokio::test]
async fn a_gpu_the_project_has_no_versions_for_is_named_in_no_rsc_apps() {
    let h = project_with(&[("1.0", "")], 1, None).await;
    let mut host = Host::new(&h.project.authenticator, "idle-gpu");
    host.coprocs = format!("{}{}", nvidia_gpu(1, 0.001, 1.0), amd_gpu(0.0));
    let r = host.rpc(&h).await;
    assert_eq!(r.job_classes(), [""], "{}", r.text);
    assert!(
        r.text
            .contains("<no_rsc_apps>NVIDIA</no_rsc_apps>\n<no_rsc_apps>ATI</no_rsc_apps>\n"),
        "{}",
        r.text
    );
    assert!(!r.text.contains("<no_rsc_apps>CPU</no_rsc_apps>"));
}
