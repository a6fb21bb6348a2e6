//! Adaptive replication and reliable hosts as BOINC's scheduler decides them, over a real
//! database: `set_trust` and the replication of single jobs sent to untrusted hosts
//! (sched/sched_send.cpp `add_result_to_reply`), `get_reliability_version` with
//! `reliable_on_priority` (sched/sched_score.cpp, `need_reliable`), the shortened deadline of
//! `get_delay_bound_range` (sched/sched_check.cpp), and the transitioner's
//! `reliable_priority_on_over` feeding it.

mod common;

use common::Harness;
use common::hosts::Host;

/// A project with `jobs` single-replica workunits (one result each) and the given options.
async fn project(jobs: usize, options: &[(&str, &str)]) -> Harness {
    let h = common::hosts::project_with(&[("1.0", "")], 0, None).await;
    for (name, value) in options {
        h.project.set_option(name, value).unwrap();
    }
    h.project
        .create_mnist_batch("wu", jobs, Default::default())
        .await
        .unwrap();
    sqlx::query("UPDATE workunit SET min_quorum = 1, target_nresults = 1, delay_bound = 10000")
        .execute(h.project.pool())
        .await
        .unwrap();
    h.project.run_transitioner().await.unwrap();
    h.reload()
}

/// A host of its own account (so no replica rule keeps it from another host's workunit),
/// known to the server, asking for nothing yet.
async fn host(h: &Harness, name: &str) -> Host {
    let key = h
        .project
        .create_account(&format!("{name}@example.com"), name)
        .await
        .unwrap();
    let mut host = Host::new(&key, name);
    host.cpu_req_secs = 0.0;
    host.rpc(h).await;
    assert!(host.hostid > 0);
    host.cpu_req_secs = 1.0;
    host
}

/// Gives `host` a record with the project's one version: `consecutive_valid` valid results
/// in a row, and `turnaround_n` turnaround samples averaging `turnaround_avg` seconds.
async fn record(h: &Harness, host: &Host, consecutive_valid: i32, turnaround: (f64, f64)) {
    let av: i64 = sqlx::query_scalar("SELECT id FROM app_version")
        .fetch_one(h.project.pool())
        .await
        .unwrap();
    sqlx::query(
        "INSERT INTO host_app_version (host_id, app_version_id, pfc_n, pfc_avg, et_n, et_avg, \
         et_var, et_q, max_jobs_per_day, n_jobs_today, turnaround_n, turnaround_avg, \
         turnaround_var, turnaround_q, consecutive_valid) \
         VALUES (?, ?, 0, 0, 0, 0, 0, 0, 0, 0, ?, ?, 0, 0, ?)",
    )
    .bind(host.hostid)
    .bind(av)
    .bind(turnaround.0)
    .bind(turnaround.1)
    .bind(consecutive_valid)
    .execute(h.project.pool())
    .await
    .unwrap();
}

/// `(target_nresults, min_quorum)` of the workunit of result `name`.
async fn replication(h: &Harness, name: &str) -> (i32, i32) {
    sqlx::query_as(
        "SELECT w.target_nresults, w.min_quorum FROM workunit w \
         JOIN result r ON r.workunitid = w.id WHERE r.name = ?",
    )
    .bind(name)
    .fetch_one(h.project.pool())
    .await
    .unwrap()
}

async fn results_of_wu_of(h: &Harness, name: &str) -> i64 {
    sqlx::query_scalar(
        "SELECT COUNT(*) FROM result WHERE workunitid = \
         (SELECT workunitid FROM result WHERE name = ?)",
    )
    .bind(name)
    .fetch_one(h.project.pool())
    .await
    .unwrap()
}

#[tokio::test]
async fn set_trust_a_single_job_sent_to_an_untrusted_host_is_replicated_as_boinc_does() {
    let h = project(4, &[]).await;
    sqlx::query("UPDATE app SET target_nresults = 3")
        .execute(h.project.pool())
        .await
        .unwrap();
    let h = h.reload();

    // A new host: no valid results yet, so not trusted.
    let mut newcomer = host(&h, "newcomer").await;
    let got = newcomer.rpc(&h).await;
    assert_eq!(got.jobs.len(), 1, "{}", got.text);
    let job = &got.jobs[0].name;
    assert_eq!(
        replication(&h, job).await,
        (3, 3),
        "the app's target_nresults"
    );
    h.project.run_transitioner().await.unwrap();
    assert_eq!(
        results_of_wu_of(&h, job).await,
        3,
        "the transitioner made the other replicas"
    );

    // A host with (nearly) every result valid is trusted (with probability
    // 1 - 1/consecutive_valid): its job stays single.
    let mut veteran = host(&h, "veteran").await;
    record(&h, &veteran, i32::MAX, (0.0, 0.0)).await;
    let got = veteran.rpc(&h).await;
    assert_eq!(got.jobs.len(), 1, "{}", got.text);
    let job = &got.jobs[0].name;
    assert_eq!(replication(&h, job).await, (1, 1));
    h.project.run_transitioner().await.unwrap();
    assert_eq!(results_of_wu_of(&h, job).await, 1);

    // Nine valid results are not enough (CONS_VALID_UNREPLICATED is 10).
    let mut nearly = host(&h, "nearly").await;
    record(&h, &nearly, 9, (0.0, 0.0)).await;
    let got = nearly.rpc(&h).await;
    assert_eq!(got.jobs.len(), 1, "{}", got.text);
    assert_eq!(replication(&h, &got.jobs[0].name).await, (3, 3));
}

#[tokio::test]
async fn set_trust_an_app_without_target_nresults_leaves_single_jobs_single() {
    let h = project(1, &[]).await;
    let mut newcomer = host(&h, "newcomer").await;
    let got = newcomer.rpc(&h).await;
    assert_eq!(got.jobs.len(), 1, "{}", got.text);
    assert_eq!(replication(&h, &got.jobs[0].name).await, (1, 1));
}

/// `(report_deadline in the reply, sent_time in the database)` of the reply's one job.
async fn deadline(h: &Harness, reply: &common::hosts::Reply) -> (i64, i64) {
    let body = rboinc_core::xml::raw_element(&reply.text, "result").unwrap();
    let sent: i64 = sqlx::query_scalar("SELECT sent_time FROM result WHERE name = ?")
        .bind(&reply.jobs[0].name)
        .fetch_one(h.project.pool())
        .await
        .unwrap();
    (
        rboinc_core::xml::parse(body, "report_deadline").unwrap(),
        sent,
    )
}

#[tokio::test]
async fn need_reliable_a_timed_out_jobs_replacement_goes_only_to_reliable_hosts_with_a_shorter_deadline()
 {
    let h = project(
        1,
        &[
            ("reliable_priority_on_over", "5"),
            ("reliable_on_priority", "5"),
            ("reliable_max_avg_turnaround", "3600"),
            ("reliable_reduced_delay_bound", "0.5"),
        ],
    )
    .await;
    // The job goes out at priority 0 to anyone, then times out.
    let mut first = host(&h, "first").await;
    let got = first.rpc(&h).await;
    assert_eq!(got.jobs.len(), 1, "{}", got.text);
    sqlx::query("UPDATE result SET report_deadline = report_deadline - 20000")
        .execute(h.project.pool())
        .await
        .unwrap();
    sqlx::query("UPDATE workunit SET transition_time = 0")
        .execute(h.project.pool())
        .await
        .unwrap();
    h.project.run_transitioner().await.unwrap();
    let priority: i32 =
        sqlx::query_scalar("SELECT priority FROM result WHERE server_state = 2 ORDER BY id DESC")
            .fetch_one(h.project.pool())
            .await
            .unwrap();
    assert_eq!(priority, 5, "the transitioner's reliable_priority_on_over");
    let h = h.reload();

    // Not reliable: a new host; nine valid results (CONS_VALID_RELIABLE is 10); a slow
    // turnaround over more than 10 samples.
    let mut newcomer = host(&h, "newcomer").await;
    let mut nearly = host(&h, "nearly").await;
    record(&h, &nearly, 9, (20.0, 100.0)).await;
    let mut slow = host(&h, "slow").await;
    record(&h, &slow, 50, (20.0, 7200.0)).await;
    for (name, host) in [
        ("newcomer", &mut newcomer),
        ("nearly", &mut nearly),
        ("slow", &mut slow),
    ] {
        let got = host.rpc(&h).await;
        assert!(got.jobs.is_empty(), "{name}:\n{}", got.text);
    }

    // Reliable: ten valid results and a quick turnaround (the 7200 s average of 10 samples is
    // not enough samples to count). Its deadline is half the workunit's 10,000 s.
    let mut reliable = host(&h, "reliable").await;
    record(&h, &reliable, 10, (10.0, 7200.0)).await;
    let got = reliable.rpc(&h).await;
    assert_eq!(got.jobs.len(), 1, "{}", got.text);
    let (report_deadline, sent_time) = deadline(&h, &got).await;
    assert_eq!(report_deadline - sent_time, 5000);
}

#[tokio::test]
async fn get_delay_bound_range_ordinary_jobs_keep_the_workunits_delay_bound() {
    let h = project(
        1,
        &[
            ("reliable_on_priority", "5"),
            ("reliable_reduced_delay_bound", "0.5"),
        ],
    )
    .await;
    let mut newcomer = host(&h, "newcomer").await;
    let got = newcomer.rpc(&h).await;
    assert_eq!(
        got.jobs.len(),
        1,
        "priority 0 needs no reliable host:\n{}",
        got.text
    );
    let (report_deadline, sent_time) = deadline(&h, &got).await;
    assert_eq!(report_deadline - sent_time, 10000);
}
