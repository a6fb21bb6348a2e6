//! Jobs a host cannot hold are not sent (BOINC's `check_memory` / `check_disk` in
//! sched/sched_check.cpp and `max_allowable_disk` in sched/sched_send.cpp), with BOINC's
//! messages, over a real database.

mod common;

use common::Harness;
use common::hosts::Host;

async fn project(jobs: usize) -> (Harness, Host) {
    let h = common::hosts::project_with(&[("1.0", "")], jobs, None).await;
    let mut host = Host::new(&h.project.authenticator, "small-host");
    host.cpu_req_secs = 1e7;
    host.cpu_req_instances = 2.0;
    (h, host)
}

/// The host's request with its free disk and its `disk_max_used_gb` preference replaced.
fn with_disk(host: &Host, d_free: f64, max_used_gb: f64) -> String {
    host.request()
        .replace(
            "<d_free>83536183296.000000</d_free>",
            &format!("<d_free>{d_free:.6}</d_free>"),
        )
        .replace(
            "<disk_max_used_gb>0.000000</disk_max_used_gb>",
            &format!("<disk_max_used_gb>{max_used_gb:.6}</disk_max_used_gb>"),
        )
}

async fn disk_bound(h: &Harness) -> f64 {
    sqlx::query_scalar("SELECT MAX(rsc_disk_bound) FROM workunit")
        .fetch_one(h.project.pool())
        .await
        .unwrap()
}

#[tokio::test]
async fn a_host_short_of_disk_gets_no_job_and_boincs_message() {
    let (h, host) = project(4).await;
    let bound = disk_bound(&h).await;
    // 1 GB must stay free (default_disk_min_free_gb); half a job's bound above that.
    let reply = h.rpc(&with_disk(&host, 1e9 + bound / 2.0, 0.0)).await;
    assert!(!reply.contains("<result>"), "{reply}");
    assert!(
        reply.contains("needs") && reply.contains("MB more disk space.  You currently have"),
        "{reply}"
    );
}

#[tokio::test]
async fn the_disk_room_limits_how_many_jobs_are_sent() {
    let (h, mut host) = project(6).await;
    let bound = disk_bound(&h).await;
    // BOINC may use 73,728 bytes (already used) plus room for two and a half jobs.
    let max_used_gb = (73_728.0 + 2.5 * bound) / 1e9;
    let reply = h
        .rpc(&with_disk(&host, 83_536_183_296.0, max_used_gb))
        .await;
    assert_eq!(reply.matches("<result>").count(), 2, "{reply}");
    // With the preference lifted, the same host gets more.
    host.hostid = rboinc_core::xml::parse(&reply, "hostid").unwrap_or(0);
    host.rpc_seqno = 1;
    let more = host.rpc(&h).await;
    assert!(!more.jobs.is_empty(), "{}", more.text);
}

#[tokio::test]
async fn a_host_short_of_memory_is_told_why() {
    let (h, host) = project(2).await;
    sqlx::query("UPDATE workunit SET rsc_memory_bound = 1e12")
        .execute(h.project.pool())
        .await
        .unwrap();
    let h = h.reload();
    let reply = h.rpc(&host.request()).await;
    assert!(!reply.contains("<result>"), "{reply}");
    assert!(
        reply.contains("MB RAM but only") && reply.contains("MB is available for use."),
        "{reply}"
    );
}
