//! What keeps a version from a host: beta, client versions, the project's plan class
//! definitions, the anonymous platform's own versions, and nonsense in the request. Requests
//! are in the real 7.20.5 client's format; each rule is BOINC's (`get_app_version`,
//! `app_plan`).

mod common;

use std::process::Command;

use common::Harness;
use common::hosts::{Host, lay_out, nvidia_gpu, project_with, register};
use rboinc_testkit::project::TestProject;

const ALLOW_BETA: &str =
    "<project_preferences><allow_beta_work>1</allow_beta_work></project_preferences>";

#[tokio::test]
async fn beta_versions_go_only_to_users_whose_project_prefs_allow_beta_work() {
    rboinc_core::telemetry::init_for_tests();
    let project = TestProject::create().await.unwrap();
    project
        .set_option("version_select_random_factor", "0")
        .unwrap();
    lay_out(&project, "1.0", "", None);
    // A beta build, declared in its version.xml (registered with app_version.beta = 1); nci
    // projects 1% faster than the plain build, so a beta tester gets it.
    lay_out(
        &project,
        "1.01",
        "nci",
        Some(
            "<version><file><physical_name>FILE</physical_name><main_program/></file><beta/></version>",
        ),
    );
    assert_eq!(register(&project).await.registered.len(), 2);
    project
        .create_mnist_batch("wu", 2, Default::default())
        .await
        .unwrap();
    project.run_transitioner().await.unwrap();
    let beta: i32 = sqlx::query_scalar("SELECT beta FROM app_version WHERE plan_class = 'nci'")
        .fetch_one(project.pool())
        .await
        .unwrap();
    assert_eq!(beta, 1);
    let h = Harness::with_project(project);

    let mut host = Host::new(&h.project.authenticator, "not-a-tester");
    let r = host.rpc(&h).await;
    assert_eq!(r.job_classes(), [""], "{}", r.text);

    sqlx::query("UPDATE user SET project_prefs = ?")
        .bind(ALLOW_BETA)
        .execute(h.project.pool())
        .await
        .unwrap();
    let mut tester = Host::new(&h.project.authenticator, "a-tester");
    let r = tester.rpc(&h).await;
    assert_eq!(r.job_classes(), ["nci"], "{}", r.text);
    assert_eq!(r.version("nci").unwrap().avg_ncpus, 0.01);
}

#[tokio::test]
async fn min_and_max_core_version_keep_versions_from_clients_outside_them() {
    let h = project_with(&[("1.0", ""), ("1.0", "mt")], 3, None).await;
    // mt needs an 8.0 client (written in BOINC's old short form: 800 means 8.0.0); the plain
    // build, clients up to 7.20.4.
    sqlx::query("UPDATE app_version SET min_core_version = 800 WHERE plan_class = 'mt'")
        .execute(h.project.pool())
        .await
        .unwrap();
    let mut v7 = Host::new(&h.project.authenticator, "client-7");
    v7.ncpus = 4;
    let mut v8 = Host::new(&h.project.authenticator, "client-8");
    v8.ncpus = 4;
    v8.core_version = (8, 0, 2);
    let r = v8.rpc(&h).await;
    assert_eq!(r.job_classes(), ["mt"], "{}", r.text);
    let r = v7.rpc(&h).await;
    assert_eq!(r.job_classes(), [""], "{}", r.text);

    sqlx::query("UPDATE app_version SET max_core_version = 72004 WHERE plan_class = ''")
        .execute(h.project.pool())
        .await
        .unwrap();
    let h = h.reload();
    let mut v7 = Host::new(&h.project.authenticator, "client-7b");
    v7.ncpus = 4;
    let r = v7.rpc(&h).await;
    assert!(r.jobs.is_empty(), "{}", r.text);
}

#[tokio::test]
async fn anonymous_platform_hosts_run_their_declared_gpu_and_multithread_versions() {
    let h = project_with(&[("1.0", "")], 3, None).await;
    let mut host = Host::new(&h.project.authenticator, "app-info");
    host.platform = "anonymous".into();
    host.ncpus = 4;
    host.cpu_req_secs = 0.001;
    host.coprocs = nvidia_gpu(1, 0.001, 1.0);
    let version = |num: u32, class: &str, ncpus: f64, flops: f64, coproc: &str| {
        format!(
            "<app_version>\n    <app_name>mnist</app_name>\n    <version_num>{num}</version_num>\n    \
             <platform>x86_64-pc-linux-gnu</platform>\n    <avg_ncpus>{ncpus:.6}</avg_ncpus>\n    \
             <flops>{flops:.6}</flops>\n    <plan_class>{class}</plan_class>\n    \
             <api_version>7.20.0</api_version>\n{coproc}</app_version>\n"
        )
    };
    host.app_versions = [
        version(500, "", 1.0, 1e9, ""),
        version(500, "mt", 4.0, 3.9e9, ""),
        version(
            500,
            "cuda",
            0.2,
            5e10,
            "    <coproc>\n        <type>NVIDIA</type>\n        <count>1.000000</count>\n    </coproc>\n",
        ),
    ]
    .concat();
    let r = host.rpc(&h).await;
    // The GPU pass first: the CUDA build; then the CPU pass: the fastest CPU build it declared.
    assert_eq!(r.job_classes(), ["cuda", "mt"], "{}", r.text);
    assert!(
        r.versions.is_empty() && !r.text.contains("<app>"),
        "the client has its own"
    );
    let mut ids: Vec<i32> =
        sqlx::query_scalar("SELECT app_version_id FROM result WHERE server_state = 4")
            .fetch_all(h.project.pool())
            .await
            .unwrap();
    ids.sort_unstable();
    assert_eq!(
        ids,
        [-3, -2],
        "BOINC's ANON_PLATFORM_NVIDIA and ANON_PLATFORM_CPU"
    );
}

const SPEC: &str = "<plan_classes>
    <plan_class>
        <name>mt4</name>
        <max_threads>4</max_threads>
        <nthreads_cmdline/>
        <cpu_feature>avx2</cpu_feature>
    </plan_class>
    <plan_class>
        <name>cuda12</name>
        <gpu_type>nvidia</gpu_type>
        <cuda/>
        <min_cuda_version>12000</min_cuda_version>
        <min_gpu_ram_mb>1000</min_gpu_ram_mb>
        <gpu_ram_used_mb>500</gpu_ram_used_mb>
        <cpu_frac>0.05</cpu_frac>
    </plan_class>
</plan_classes>
";

#[tokio::test]
async fn with_plan_class_spec_xml_only_its_classes_exist_and_others_are_never_sent() {
    // "mt" is a class BOINC knows by name, registered before the project wrote its
    // plan_class_spec.xml; the file does not define it.
    let h = project_with(&[("1.0", ""), ("1.0", "mt")], 4, None).await;
    std::fs::write(h.project.root.join("plan_class_spec.xml"), SPEC).unwrap();
    lay_out(&h.project, "1.0", "mt4", None);
    lay_out(&h.project, "1.0", "cuda12", None);
    assert_eq!(register(&h.project).await.registered.len(), 2);
    let h = h.reload();
    let mut host = Host::new(&h.project.authenticator, "eight-cpus");
    host.ncpus = 8;
    let r = host.rpc(&h).await;
    assert_eq!(r.job_classes(), ["mt4"], "{}", r.text);
    let v = r.version("mt4").unwrap();
    assert_eq!(v.avg_ncpus, 4.0, "max_threads");
    assert!(
        r.text.contains("<cmdline> --nthreads 4</cmdline>"),
        "nthreads_cmdline, with BOINC's leading space: {}",
        r.text
    );

    let mut gpu = Host::new(&h.project.authenticator, "cuda-12");
    gpu.cpu_req_secs = 0.0;
    gpu.coprocs = nvidia_gpu(1, 0.001, 1.0);
    let r = gpu.rpc(&h).await;
    assert_eq!(r.job_classes(), ["cuda12"], "{}", r.text);
    let v = r.version("cuda12").unwrap();
    assert_eq!(v.coprocs, [("NVIDIA".to_string(), 1.0)]);
    assert_eq!(v.gpu_ram, Some(500.0 * 1_048_576.0));

    // Without avx2 the CPU gets the plain build; "mt" never goes out.
    let mut old = Host::new(&h.project.authenticator, "no-avx2");
    old.ncpus = 8;
    old.p_features = Some("fpu vme sse sse2 pni ssse3 sse4_1 sse4_2 avx".into());
    let r = old.rpc(&h).await;
    assert_eq!(r.job_classes(), [""], "{}", r.text);
    let sent_mt: i64 = sqlx::query_scalar(
        "SELECT COUNT(*) FROM result r JOIN app_version av ON av.id = r.app_version_id \
         WHERE av.plan_class = 'mt'",
    )
    .fetch_one(h.project.pool())
    .await
    .unwrap();
    assert_eq!(sent_mt, 0);
}

#[tokio::test]
async fn a_malformed_plan_class_spec_xml_stops_the_scheduler_with_file_line_and_column() {
    rboinc_core::telemetry::init_for_tests();
    let project = TestProject::create().await.unwrap();
    let spec = project.root.join("plan_class_spec.xml");
    std::fs::write(
        &spec,
        "<plan_classes>\n  <plan_class>\n    <name>mt8</name>\n    <max_threads>eight</max_threads>\n  </plan_class>\n</plan_classes>\n",
    )
    .unwrap();
    let config = project.config().unwrap();
    let dir = project.project_dir().unwrap();
    let err = rboinc_scheduler::state::AppState::new(&config, &dir, project.pool().clone())
        .unwrap_err()
        .to_string();
    assert_eq!(
        err,
        format!(
            "{}:4:5: <max_threads>: \"eight\" is not an integer",
            spec.display()
        )
    );
    // The real binary refuses to start, saying the same.
    let out = Command::new(env!("CARGO_BIN_EXE_scheduler"))
        .arg("--project-dir")
        .arg(&project.root)
        .args(["--listen", "127.0.0.1:0"])
        .output()
        .unwrap();
    assert!(!out.status.success());
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        stderr.contains(&format!("{}:4:5:", spec.display())),
        "{stderr}"
    );
}

#[tokio::test]
async fn nonsense_coprocessor_data_gets_no_gpu_work_or_sane_numbers_and_never_a_panic() {
    let h = project_with(&[("1.0", ""), ("1.0", "cuda_fermi")], 3, None).await;
    // A negative count: the host has no NVIDIA GPU (BOINC's "count > 0").
    let mut host = Host::new(&h.project.authenticator, "negative");
    host.cpu_req_secs = 0.0;
    host.coprocs = nvidia_gpu(1, 0.001, 1.0).replace("<count>1</count>", "<count>-3</count>");
    let r = host.rpc(&h).await;
    assert!(r.jobs.is_empty(), "{}", r.text);

    // An absurd count, NaN speed and RAM beyond any machine: clamped, defaulted, never
    // non-finite in the reply or the host row.
    let mut host = Host::new(&h.project.authenticator, "absurd");
    host.cpu_req_secs = 0.0;
    host.coprocs = nvidia_gpu(1, 0.001, 1.0)
        .replace("<count>1</count>", "<count>99999999999</count>")
        .replace(
            "<peak_flops>12737536000000.000000</peak_flops>",
            "<peak_flops>nan</peak_flops>",
        )
        .replace(
            "<available_ram>12544114688.000000</available_ram>",
            "<available_ram>1e300</available_ram>",
        )
        .replace("<req_secs>0.001000</req_secs>", "<req_secs>-inf</req_secs>");
    let r = host.rpc(&h).await;
    assert!(
        !r.text.contains("inf<") && !r.text.contains("NaN"),
        "{}",
        r.text
    );
    let (ngpus, fpops): (i32, f64) =
        sqlx::query_as("SELECT p_ngpus, p_gpu_fpops FROM host WHERE id = ?")
            .bind(host.hostid)
            .fetch_one(h.project.pool())
            .await
            .unwrap();
    assert_eq!(ngpus, 64, "BOINC's MAX_COPROC_INSTANCES");
    assert!(fpops.is_finite() && fpops > 0.0);
}

#[tokio::test]
async fn update_versions_registers_only_plan_classes_the_project_defines_and_checks_version_xml() {
    rboinc_core::telemetry::init_for_tests();
    let project = TestProject::create().await.unwrap();
    // A declared GPU the class does not use: refused, nothing registered.
    lay_out(
        &project,
        "1.0",
        "cuda_fermi",
        Some(
            "<version><file><physical_name>FILE</physical_name><main_program/></file>\
              <coproc><type>ATI</type><count>1</count></coproc></version>",
        ),
    );
    let tools = rboinc_tools::project::Project {
        dir: project.project_dir().unwrap(),
        config: std::sync::Arc::new(project.config().unwrap()),
    };
    let err = rboinc_tools::update_versions::run(&tools, project.pool())
        .await
        .unwrap_err()
        .to_string();
    assert!(
        err.contains("<coproc> of type ATI") && err.contains("uses NVIDIA"),
        "{err}"
    );
    std::fs::remove_dir_all(project.root.join("apps/mnist/1.0")).unwrap();
    // A class no definition names: refused.
    lay_out(&project, "1.0", "mt8", None);
    let err = rboinc_tools::update_versions::run(&tools, project.pool())
        .await
        .unwrap_err()
        .to_string();
    assert!(
        err.contains("\"mt8\"") && err.contains("never send"),
        "{err}"
    );
    // Once plan_class_spec.xml defines it, it registers (and says what it declares).
    std::fs::write(
        project.root.join("plan_class_spec.xml"),
        "<plan_classes><plan_class><name>mt8</name><max_threads>8</max_threads></plan_class></plan_classes>",
    )
    .unwrap();
    std::fs::remove_dir_all(project.root.join("apps/mnist/1.0")).unwrap();
    lay_out(
        &project,
        "1.0",
        "mt8",
        Some(
            "<version><file><physical_name>FILE</physical_name><main_program/></file>\
              <avg_ncpus>8</avg_ncpus></version>",
        ),
    );
    let report = register(&project).await;
    assert_eq!(report.registered.len(), 1);
    assert_eq!(report.registered[0].plan_class, "mt8");
    let count: i64 = sqlx::query_scalar("SELECT COUNT(*) FROM app_version")
        .fetch_one(project.pool())
        .await
        .unwrap();
    assert_eq!(count, 1);
}

/// update_versions and the scheduler agree on which names BOINC's built-in classes answer to.
#[test]
fn update_versions_and_the_scheduler_know_the_same_built_in_plan_classes() {
    for name in [
        "mt",
        "mt8",
        "nci",
        "sse3",
        "sse2",
        "cuda",
        "cuda_fermi",
        "cuda23",
        "my_cuda",
        "ati",
        "ati14",
        "atiX",
        "opencl_nvidia_101",
        "opencl_amd_100",
        "opencl_cpu_intel",
        "vbox64_mt",
        "wsl",
        "avx",
        "",
        "beta",
    ] {
        assert_eq!(
            rboinc_tools::update_versions::plan_class::builtin_plan_class_known(name),
            rboinc_scheduler::plan_class::builtin::is_known(name),
            "{name:?}"
        );
    }
}

#[tokio::test]
async fn host_statistics_rank_versions_and_set_flops_as_boincs_estimate_flops_does() {
    use rboinc_core::db::host_app_version::{self, HostAppVersionRow};
    let h = project_with(&[("1.0", ""), ("1.0", "mt")], 3, None).await;
    let mut host = Host::new(&h.project.authenticator, "measured");
    host.ncpus = 4;
    assert_eq!(host.rpc(&h).await.job_classes(), ["mt"]);
    // 20 validated jobs of the plain build ran at 4e10 FLOPS on this host.
    let plain: i32 = sqlx::query_scalar("SELECT id FROM app_version WHERE plan_class = ''")
        .fetch_one(h.project.pool())
        .await
        .unwrap();
    host_app_version::insert(
        h.project.pool(),
        &HostAppVersionRow {
            host_id: rboinc_core::db::HostId(host.hostid),
            app_version_id: plain.into(),
            pfc_n: 20.0,
            pfc_avg: 1.0,
            et_n: 20.0,
            et_avg: 1.0 / 4e10,
            consecutive_valid: 20,
            ..Default::default()
        },
    )
    .await
    .unwrap();
    // Blended: (19 × 4e10 + 1e9) / 20 beats mt's 3.96e9; <flops> is the measured speed.
    let r = host.rpc(&h).await;
    assert_eq!(r.job_classes(), [""], "{}", r.text);
    assert_eq!(r.version("").unwrap().flops, 4e10);
}
