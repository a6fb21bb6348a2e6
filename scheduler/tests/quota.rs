//! The daily job quota (`daily_result_quota`) as BOINC's scheduler keeps it in
//! `host_app_version`: `update_quota`, `daily_quota_exceeded`, `got_good_result` /
//! `got_bad_result` (sched/sched_send.cpp, sched/sched_version.cpp, sched/sched_result.cpp),
//! over a real database.

mod common;

use common::Harness;
use common::hosts::Host;

/// A project with `jobs` workunits (two replicas each), `daily_result_quota` = `quota`, and a
/// one-CPU host that asks for plenty of work.
async fn project(quota: u32, jobs: usize) -> (Harness, Host) {
    let h = common::hosts::project_with(&[("1.0", "")], 0, None).await;
    h.project
        .set_option("daily_result_quota", &quota.to_string())
        .unwrap();
    h.project
        .create_mnist_batch("wu", jobs, Default::default())
        .await
        .unwrap();
    h.project.run_transitioner().await.unwrap();
    let h = h.reload();
    let mut host = Host::new(&h.project.authenticator, "quota-host");
    host.ncpus = 1;
    host.cpu_req_secs = 1e7;
    host.cpu_req_instances = 1.0;
    (h, host)
}

/// `(max_jobs_per_day, n_jobs_today, consecutive_valid)` of the host's one row.
async fn hav(h: &Harness, hostid: i64) -> (i32, i32, i32) {
    sqlx::query_as(
        "SELECT max_jobs_per_day, n_jobs_today, consecutive_valid FROM host_app_version \
         WHERE host_id = ?",
    )
    .bind(hostid)
    .fetch_one(h.project.pool())
    .await
    .unwrap()
}

/// A `<result>` report of `name`: success (files uploaded, exit 0) or a compute error.
fn report(name: &str, ok: bool) -> String {
    let (state, exit) = if ok { (5, 0) } else { (3, 1) };
    format!(
        "<result>\n    <name>{name}</name>\n    <final_cpu_time>1.0</final_cpu_time>\n    \
         <final_elapsed_time>2.0</final_elapsed_time>\n    <exit_status>{exit}</exit_status>\n    \
         <state>{state}</state>\n    <app_version_num>100</app_version_num>\n</result>\n"
    )
}

async fn rpc_reporting(h: &Harness, host: &mut Host, reports: &[String]) -> String {
    let body = host.request().replacen(
        "<other_results>",
        &format!("{}<other_results>", reports.concat()),
        1,
    );
    let text = h.rpc(&body).await;
    host.rpc_seqno += 1;
    text
}

#[tokio::test]
async fn jobs_stop_at_the_quota_times_the_cpus_with_boincs_message() {
    let (h, mut host) = project(3, 10).await;
    let first = host.rpc(&h).await;
    assert_eq!(first.jobs.len(), 3, "quota 3 × 1 CPU:\n{}", first.text);
    assert_eq!(
        hav(&h, host.hostid).await,
        (3, 3, 0),
        "a row created on first use"
    );
    let second = host.rpc(&h).await;
    assert!(second.jobs.is_empty(), "{}", second.text);
    assert!(
        second.text.contains(
            "<message priority=\"low\">This computer has finished a daily quota of 3 tasks</message>"
        ),
        "{}",
        second.text
    );
    // Two CPUs: twice the jobs.
    host.ncpus = 2;
    let third = host.rpc(&h).await;
    assert_eq!(
        third.jobs.len(),
        3,
        "3 × 2 CPUs = 6 in all:\n{}",
        third.text
    );
    assert_eq!(hav(&h, host.hostid).await, (3, 6, 0));
}

#[tokio::test]
async fn a_new_day_starts_at_zero_jobs() {
    let (h, mut host) = project(2, 10).await;
    assert_eq!(host.rpc(&h).await.jobs.len(), 2);
    assert!(host.rpc(&h).await.jobs.is_empty());
    // The host last asked yesterday.
    sqlx::query("UPDATE host SET rpc_time = rpc_time - 86400 WHERE id = ?")
        .bind(host.hostid)
        .execute(h.project.pool())
        .await
        .unwrap();
    let next = host.rpc(&h).await;
    assert_eq!(next.jobs.len(), 2, "{}", next.text);
    assert_eq!(hav(&h, host.hostid).await, (2, 2, 0));
}

#[tokio::test]
async fn errors_lower_the_quota_and_successes_raise_it_again() {
    let (h, mut host) = project(8, 20).await;
    let jobs = host.rpc(&h).await.jobs;
    assert_eq!(jobs.len(), 8);
    sqlx::query("UPDATE host_app_version SET consecutive_valid = 4 WHERE host_id = ?")
        .bind(host.hostid)
        .execute(h.project.pool())
        .await
        .unwrap();
    // Three failures: 8 → 7 → 6 → 5, and the run of valid results is broken.
    let reports: Vec<String> = jobs[..3].iter().map(|j| report(&j.name, false)).collect();
    host.cpu_req_secs = 0.0;
    rpc_reporting(&h, &mut host, &reports).await;
    assert_eq!(hav(&h, host.hostid).await, (5, 8, 0));
    // An abort the project asked for costs nothing.
    let aborted = report(&jobs[3].name, false).replace(
        "<exit_status>1</exit_status>",
        &format!(
            "<exit_status>{}</exit_status>",
            rboinc_core::state::EXIT_ABORTED_BY_PROJECT
        ),
    );
    rpc_reporting(&h, &mut host, &[aborted]).await;
    assert_eq!(hav(&h, host.hostid).await.0, 5);
    // Successes double it, up to daily_result_quota.
    rpc_reporting(&h, &mut host, &[report(&jobs[4].name, true)]).await;
    assert_eq!(hav(&h, host.hostid).await.0, 8, "min(2 × 5, 8)");
    // Failures all the way down stop at 1 — and a quota of 1 is not scaled by CPUs.
    let reports: Vec<String> = jobs[5..].iter().map(|j| report(&j.name, false)).collect();
    rpc_reporting(&h, &mut host, &reports).await;
    assert_eq!(hav(&h, host.hostid).await.0, 5);
    sqlx::query(
        "UPDATE host_app_version SET max_jobs_per_day = 1, n_jobs_today = 1 WHERE host_id = ?",
    )
    .bind(host.hostid)
    .execute(h.project.pool())
    .await
    .unwrap();
    host.ncpus = 16;
    host.cpu_req_secs = 1e7;
    let reply = host.rpc(&h).await;
    assert!(reply.jobs.is_empty(), "{}", reply.text);
    assert!(
        reply.text.contains("daily quota of 1 tasks"),
        "{}",
        reply.text
    );
}

#[tokio::test]
async fn without_a_quota_nothing_is_limited() {
    let (h, mut host) = project(0, 12).await;
    let reply = host.rpc(&h).await;
    assert!(reply.jobs.len() > 3, "{}", reply.text);
    assert!(!reply.text.contains("daily quota"), "{}", reply.text);
}

/// `report_max` (BOINC's `handle_results`): results past it are neither written nor
/// acknowledged, so the client reports them again later.
#[tokio::test]
async fn report_max_leaves_the_rest_for_a_later_rpc() {
    let (h, mut host) = project(0, 6).await;
    h.project.set_option("report_max", "2").unwrap();
    let h = h.reload();
    host.ncpus = 4;
    let jobs = host.rpc(&h).await.jobs;
    assert!(jobs.len() >= 4, "{jobs:?}");
    host.cpu_req_secs = 0.0;
    let reports: Vec<String> = jobs[..4].iter().map(|j| report(&j.name, false)).collect();
    let reply = rpc_reporting(&h, &mut host, &reports).await;
    assert_eq!(reply.matches("<result_ack>").count(), 2, "{reply}");
    assert_eq!(
        h.count("SELECT COUNT(*) FROM result WHERE server_state = 5 AND hostid > 0")
            .await,
        2
    );
    let reply = rpc_reporting(&h, &mut host, &reports[2..]).await;
    assert_eq!(reply.matches("<result_ack>").count(), 2, "{reply}");
}
