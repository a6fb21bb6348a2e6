//! End to end with the real thing: a project made by our `make_project`, the real mnist app
//! (static binary, signed by `update_versions`), the `scheduler` binary, and two unmodified
//! stock BOINC clients (Debian `boinc-client` 7.20.5) in their own data directories.
//!
//! Both clients attach with the submitter's account, download and verify the signed app, each
//! run one replica of the same workunit (`one_result_per_host_per_wu`), upload their
//! `metrics.json` with the upload authorization, report, and get acknowledgements; the database
//! then holds two successful results from two hosts, and the transitioner hands the workunit to
//! the validator.

use std::time::Duration;

use rboinc_core::hier::dir_hier_path;
use rboinc_testkit::client::{self, BoincClient};
use rboinc_testkit::mnist;
use rboinc_testkit::project::TestProject;
use rboinc_testkit::scheduler::SchedulerProcess;
use rboinc_testkit::wait_for;
use sqlx::Row;

const TIMEOUT: Duration = Duration::from_secs(240);

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn two_stock_clients_run_one_workunit_and_are_acknowledged() {
    rboinc_core::telemetry::init_for_tests();
    assert!(
        client::available(),
        "this test needs the stock BOINC client: apt-get install boinc-client"
    );
    let started = std::time::Instant::now();
    let step = |what: &str| eprintln!("[{:>6.1} s] {what}", started.elapsed().as_secs_f64());
    let project = TestProject::create().await.unwrap();
    // Clients come back within seconds while the job is in flight.
    project.set_option("next_rpc_delay_busy", "3").unwrap();
    let app = mnist::static_binary().expect("the static mnist binary");
    step("static app binary ready");
    project.publish_app_binary(&app, "1.0").await.unwrap();
    project
        .create_mnist_work("e2e_wu", &mnist::small_job(4242), Default::default())
        .await
        .unwrap();
    project.run_transitioner().await.unwrap();
    let pool = project.pool().clone();
    let results: i64 = sqlx::query_scalar("SELECT COUNT(*) FROM result WHERE server_state = 2")
        .fetch_one(&pool)
        .await
        .unwrap();
    assert_eq!(results, 2, "two replicas to send");

    let mut sched = SchedulerProcess::start(
        std::path::Path::new(env!("CARGO_BIN_EXE_scheduler")),
        &project.root,
        project.addr(),
        "/testproj/",
        &[],
        &project.temp_dir().join("scheduler.log"),
    )
    .await
    .unwrap();

    step("scheduler up");
    let mut a = BoincClient::start("client A").await.unwrap();
    let mut b = BoincClient::start("client B").await.unwrap();
    a.attach(&project.master_url, &project.authenticator)
        .unwrap();
    b.attach(&project.master_url, &project.authenticator)
        .unwrap();

    step("clients attached");
    // Both results come back as successes.
    let done = wait_for(TIMEOUT, Duration::from_secs(1), async || {
        let n: i64 = sqlx::query_scalar(
            "SELECT COUNT(*) FROM result WHERE server_state = 5 AND outcome = 1",
        )
        .fetch_one(&pool)
        .await
        .ok()?;
        (n == 2).then_some(())
    })
    .await;
    if done.is_none() {
        panic!(
            "the results were not reported in {TIMEOUT:?}\n--- scheduler ---\n{}\n--- A ---\n{}\n--- B ---\n{}",
            sched.log(),
            a.log(),
            b.log()
        );
    }
    step("both results reported");
    // Each client got its acknowledgement.
    for c in [&a, &b] {
        c.wait_for_log(
            Duration::from_secs(60),
            "an ack for the reported task",
            |log| log.contains("got ack for task e2e_wu_"),
        )
        .await
        .unwrap();
        let log = c.log();
        assert!(!log.contains("Signature verification failed"), "{log}");
        assert!(!log.contains("missing signature"), "{log}");
        assert!(
            log.contains("Computation for task e2e_wu_") && log.contains("finished"),
            "{log}"
        );
    }

    step("both acknowledged");
    // The database, as BOINC's scheduler leaves it.
    let rows = sqlx::query(
        "SELECT r.name, r.hostid, r.userid, r.client_state, r.exit_status, r.validate_state, \
         r.received_time, r.sent_time, r.cpu_time, r.elapsed_time, r.xml_doc_out, r.stderr_out, \
         r.app_version_id, h.domain_name, h.rpc_seqno, h.host_cpid FROM result r \
         JOIN host h ON h.id = r.hostid ORDER BY r.name",
    )
    .fetch_all(&pool)
    .await
    .unwrap();
    assert_eq!(rows.len(), 2);
    let hosts: Vec<i32> = rows.iter().map(|r| r.get("hostid")).collect();
    assert_ne!(
        hosts[0], hosts[1],
        "the two replicas ran on different hosts"
    );
    let upload_dir = project.config().unwrap().upload_dir;
    let fanout = project.config().unwrap().uldl_dir_fanout;
    let mut metrics = Vec::new();
    for row in &rows {
        assert_eq!(row.get::<i32, _>("client_state"), 5, "files uploaded");
        assert_eq!(row.get::<i32, _>("exit_status"), 0);
        assert_eq!(row.get::<i32, _>("validate_state"), 0);
        assert!(row.get::<i32, _>("received_time") >= row.get::<i32, _>("sent_time"));
        assert!(row.get::<f64, _>("elapsed_time") > 0.0);
        assert!(row.get::<i32, _>("app_version_id") > 0);
        let stderr = String::from_utf8(row.get::<Vec<u8>, _>("stderr_out")).unwrap();
        assert!(
            stderr.contains("<core_client_version>7.20.5</core_client_version>"),
            "{stderr}"
        );
        let doc_out = String::from_utf8(row.get::<Vec<u8>, _>("xml_doc_out")).unwrap();
        let output = rboinc_core::xml::text(&doc_out, "name").expect("an output file");
        let path = dir_hier_path(&upload_dir, &output, fanout).unwrap();
        let bytes = std::fs::read(&path)
            .unwrap_or_else(|e| panic!("uploaded {} missing: {e}", path.display()));
        let declared = rboinc_core::xml::text(&doc_out, "md5_cksum").unwrap();
        assert_eq!(
            rboinc_core::md5file::Md5Hex::of_bytes(&bytes).as_str(),
            declared,
            "the stored file is the one the client hashed"
        );
        let mut json: serde_json::Value = serde_json::from_slice(&bytes).unwrap();
        json.as_object_mut().unwrap().remove("host");
        metrics.push(json);
    }
    assert_eq!(
        metrics[0], metrics[1],
        "the app is deterministic: both replicas' metrics agree outside `host`"
    );

    // The transitioner sees a quorum of successes and asks for validation.
    project.run_transitioner().await.unwrap();
    let need_validate: i32 =
        sqlx::query_scalar("SELECT need_validate FROM workunit WHERE name = 'e2e_wu'")
            .fetch_one(&pool)
            .await
            .unwrap();
    assert_eq!(need_validate, 1);

    a.quit().await.unwrap();
    b.quit().await.unwrap();
    let status = sched.stop().await.unwrap();
    assert!(
        status.success(),
        "graceful exit on SIGTERM: {status}\n{}",
        sched.log()
    );
    let log = sched.log();
    assert!(
        log.contains("scheduler RPC") && log.contains("new_host=true"),
        "{log}"
    );
    assert!(log.contains("stopping"), "{log}");
}
