//! End to end with the stock client (Debian `boinc-client` 7.20.5): one client whose
//! `cc_config.xml` says it has 2 CPUs (`<ncpus>`) and a coprocessor of a type the project names
//! (a `<coproc>` of its own, as volunteers declare devices BOINC does not detect). It receives
//! and runs a multithread version with the usage the scheduler reported (the client shows the
//! task using 2 CPUs, and the app is started with `--nthreads 2`), then a version of a plan
//! class that requires that coprocessor. The app is a signed shell script standing in for a
//! real one: it writes its command line to its output and tells the client it finished.

use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::time::Duration;

use rboinc_core::hier::dir_hier_path;
use rboinc_testkit::client::{self, BOINCCMD, boinc_command, prepare_data_dir};
use rboinc_testkit::net::free_port;
use rboinc_testkit::project::TestProject;
use rboinc_testkit::scheduler::SchedulerProcess;
use rboinc_testkit::wait_for;
use rboinc_tools::create_work::JobOverrides;
use rboinc_tools::project::Project;
use rboinc_tools::update_versions;

const TIMEOUT: Duration = Duration::from_secs(150);

const SPEC: &str = "<plan_classes>
    <plan_class>
        <name>mt</name>
        <max_threads>2</max_threads>
        <nthreads_cmdline/>
    </plan_class>
    <plan_class>
        <name>accel</name>
        <gpu_type>rboinc_accel</gpu_type>
        <cpu_frac>0.5</cpu_frac>
        <projected_flops_scale>100</projected_flops_scale>
    </plan_class>
</plan_classes>
";

/// The stand-in app: writes its arguments into `metrics.json` (through the slot's soft link)
/// and the file BOINC's API writes on a normal exit.
const APP: &str = "#!/bin/sh\n\
out=$(sed -n 's:.*<soft_link>\\(.*\\)</soft_link>.*:\\1:p' metrics.json)\n\
sleep 3\n\
printf '{\"args\": \"%s\"}\\n' \"$*\" > \"${out:-metrics.json}\"\n\
echo 0 > boinc_finish_called\n\
exit 0\n";

/// A stock client with extra `cc_config.xml` options, in its own data directory.
struct Client {
    child: Child,
    dir: tempfile::TempDir,
    port: u16,
    password: String,
}

impl Client {
    fn start(options: &str) -> Client {
        let dir = tempfile::Builder::new()
            .prefix("rboinc-client-")
            .tempdir()
            .unwrap();
        let password = format!("pw-versions-{}", std::process::id());
        prepare_data_dir(dir.path(), &password).unwrap();
        let cc = std::fs::read_to_string(dir.path().join("cc_config.xml")).unwrap();
        std::fs::write(
            dir.path().join("cc_config.xml"),
            cc.replace("  <options>\n", &format!("  <options>\n{options}")),
        )
        .unwrap();
        let port = free_port();
        let log = std::fs::File::create(dir.path().join("client.log")).unwrap();
        let child = boinc_command(dir.path(), port)
            .stdin(Stdio::null())
            .stdout(log.try_clone().unwrap())
            .stderr(log)
            .spawn()
            .unwrap();
        Client {
            child,
            dir,
            port,
            password,
        }
    }

    fn cmd(&self, args: &[&str]) -> String {
        let out = Command::new(BOINCCMD)
            .args(["--host", &format!("127.0.0.1:{}", self.port)])
            .args(["--passwd", &self.password])
            .args(args)
            .output()
            .unwrap();
        String::from_utf8_lossy(&out.stdout).into_owned()
    }

    fn log(&self) -> String {
        std::fs::read_to_string(self.dir.path().join("client.log")).unwrap_or_default()
    }

    fn state(&self) -> String {
        std::fs::read_to_string(self.dir.path().join("client_state.xml")).unwrap_or_default()
    }
}

impl Drop for Client {
    fn drop(&mut self) {
        let _ = self.cmd(&["--quit"]);
        std::thread::sleep(Duration::from_millis(500));
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

async fn register(project: &TestProject, version: &str, class: &str) {
    let dir = project
        .root
        .join("apps/mnist")
        .join(version)
        .join(format!("x86_64-pc-linux-gnu__{class}"));
    std::fs::create_dir_all(&dir).unwrap();
    let exe = dir.join(format!("standin_{version}_{class}"));
    std::fs::write(&exe, APP).unwrap();
    std::fs::set_permissions(&exe, std::os::unix::fs::PermissionsExt::from_mode(0o755)).unwrap();
    std::fs::write(
        dir.join("version.xml"),
        format!(
            "<version><file><physical_name>standin_{version}_{class}</physical_name>\
             <main_program/></file><api_version>7.20.0</api_version></version>"
        ),
    )
    .unwrap();
    let tools = Project {
        dir: project.project_dir().unwrap(),
        config: std::sync::Arc::new(project.config().unwrap()),
    };
    let report = update_versions::run(&tools, project.pool()).await.unwrap();
    assert_eq!(report.registered.len(), 1, "{:?}", report.skipped);
}

/// One workunit with a single replica.
async fn one_job(project: &TestProject, name: &str) {
    let single = JobOverrides {
        min_quorum: Some(1),
        target_nresults: Some(1),
        ..Default::default()
    };
    project
        .create_mnist_work(name, &rboinc_testkit::mnist::small_job(7), single)
        .await
        .unwrap();
    project.run_transitioner().await.unwrap();
}

/// Waits until the result of workunit `wu` is reported as a success; its output file.
async fn reported(
    project: &TestProject,
    wu: &str,
    client: &Client,
    sched: &SchedulerProcess,
) -> String {
    let pool = project.pool().clone();
    let query = format!(
        "SELECT r.xml_doc_out FROM result r JOIN workunit w ON w.id = r.workunitid \
         WHERE w.name = '{wu}' AND r.server_state = 5 AND r.outcome = 1"
    );
    let doc = wait_for(TIMEOUT, Duration::from_millis(500), async || {
        sqlx::query_scalar::<_, Vec<u8>>(sqlx::AssertSqlSafe(query.clone()))
            .fetch_optional(&pool)
            .await
            .ok()
            .flatten()
    })
    .await
    .unwrap_or_else(|| {
        panic!(
            "{wu} was not reported in {TIMEOUT:?}\n--- scheduler ---\n{}\n--- client ---\n{}",
            sched.log(),
            client.log()
        )
    });
    let doc = String::from_utf8(doc).unwrap();
    let name = rboinc_core::xml::text(&doc, "name").unwrap();
    let config = project.config().unwrap();
    let path = dir_hier_path(&config.upload_dir, &name, config.uldl_dir_fanout).unwrap();
    std::fs::read_to_string(path).unwrap()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_stock_client_runs_a_multithread_version_on_its_cpus_and_a_version_for_its_coprocessor() {
    rboinc_core::telemetry::init_for_tests();
    assert!(
        client::available(),
        "this test needs the stock BOINC client: apt-get install boinc-client"
    );
    let project = TestProject::create().await.unwrap();
    project.set_option("next_rpc_delay_busy", "2").unwrap();
    project
        .set_option("version_select_random_factor", "0")
        .unwrap();
    std::fs::write(project.root.join("plan_class_spec.xml"), SPEC).unwrap();
    register(&project, "1.0", "mt").await;
    one_job(&project, "e2e_mt").await;
    let mut sched = SchedulerProcess::start(
        Path::new(env!("CARGO_BIN_EXE_scheduler")),
        &project.root,
        project.addr(),
        "/testproj/",
        &[],
        &project.temp_dir().join("scheduler.log"),
    )
    .await
    .unwrap();

    let client = Client::start(
        "    <ncpus>2</ncpus>\n    <coproc>\n      <type>rboinc_accel</type>\n      \
         <count>1</count>\n      <peak_flops>50000000000</peak_flops>\n    </coproc>\n",
    );
    wait_for(
        Duration::from_secs(30),
        Duration::from_millis(200),
        async || {
            client
                .cmd(&["--get_cc_status"])
                .contains("network")
                .then_some(())
        },
    )
    .await
    .expect("the client's GUI RPC answers");
    client.cmd(&[
        "--project_attach",
        &project.master_url,
        &project.authenticator,
    ]);

    // While the task exists, the client shows it using the 2 CPUs the scheduler reported.
    let shown = wait_for(TIMEOUT, Duration::from_millis(300), async || {
        let tasks = client.cmd(&["--get_tasks"]);
        tasks.contains("e2e_mt").then_some(tasks)
    })
    .await
    .unwrap_or_else(|| panic!("no task\n{}\n{}", sched.log(), client.log()));
    assert!(shown.contains("resources: 2 CPUs"), "{shown}");
    let output = reported(&project, "e2e_mt", &client, &sched).await;
    assert!(
        output.contains("--nthreads 2"),
        "started with the reported command line: {output}"
    );
    let state = client.state();
    let mt = state
        .split("<app_version>")
        .find(|v| v.contains("<plan_class>mt</plan_class>"))
        .unwrap_or_else(|| panic!("{state}"));
    assert!(mt.contains("<avg_ncpus>2.000000</avg_ncpus>"), "{mt}");

    // A version for the coprocessor the client declared; the next job goes out with it.
    register(&project, "1.01", "accel").await;
    one_job(&project, "e2e_accel").await;
    client.cmd(&["--project", &project.master_url, "update"]);
    reported(&project, "e2e_accel", &client, &sched).await;
    let plan_class: String = sqlx::query_scalar(
        "SELECT av.plan_class FROM result r JOIN workunit w ON w.id = r.workunitid \
         JOIN app_version av ON av.id = r.app_version_id WHERE w.name = 'e2e_accel'",
    )
    .fetch_one(project.pool())
    .await
    .unwrap();
    assert_eq!(plan_class, "accel");
    let log = client.log();
    assert!(!log.contains("Signature verification failed"), "{log}");
    // The host row names the coprocessor the client reported.
    let ngpus: i32 = sqlx::query_scalar("SELECT p_ngpus FROM host")
        .fetch_one(project.pool())
        .await
        .unwrap();
    assert_eq!(ngpus, 1);
    drop(client);
    assert!(sched.stop().await.unwrap().success());
}
