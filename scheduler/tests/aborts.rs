//! `send_result_abort`: BOINC's `send_result_abort` (sched/handle_request.cpp) over a real
//! database — which tasks a client holds are aborted outright, which only if not started.

mod common;

use common::Harness;
use common::hosts::{Host, Reply};

/// A project with four two-replica workunits and a host holding one replica of each.
async fn host_with_four_jobs(send_result_abort: bool) -> (Harness, Host) {
    let h = common::hosts::project_with(&[("1.0", "")], 0, None).await;
    if !send_result_abort {
        h.project.set_option("send_result_abort", "0").unwrap();
    }
    h.project
        .create_mnist_batch("wu", 4, Default::default())
        .await
        .unwrap();
    h.project.run_transitioner().await.unwrap();
    let h = h.reload();
    let mut host = Host::new(&h.project.authenticator, "abort-host");
    host.cpu_req_secs = 1e6;
    host.cpu_req_instances = 2.0;
    let reply = host.rpc(&h).await;
    assert_eq!(reply.jobs.len(), 4, "{}", reply.text);
    (h, host)
}

fn elements(reply: &Reply, tag: &str) -> Vec<String> {
    let open = format!("<{tag}>\n    <name>");
    reply
        .text
        .split(&open)
        .skip(1)
        .map(|rest| rest.split("</name>").next().unwrap().to_string())
        .collect()
}

async fn exec(h: &Harness, sql: &str, name: &str) {
    let n = sqlx::query(sqlx::AssertSqlSafe(sql.to_string()))
        .bind(name)
        .execute(h.project.pool())
        .await
        .unwrap()
        .rows_affected();
    assert!(n > 0, "{sql} changed nothing for {name}");
}

#[tokio::test]
async fn held_tasks_are_aborted_by_boincs_rules() {
    let (h, mut host) = host_with_four_jobs(true).await;
    let held = host.holding.clone();
    // 0: its workunit cancelled (as `series cancel` and BOINC's cancel_jobs do).
    exec(
        &h,
        "UPDATE workunit w JOIN result r ON r.workunitid = w.id \
         SET w.error_mask = w.error_mask | 16, w.transition_time = 0 WHERE r.name = ?",
        &held[0],
    )
    .await;
    // 1: its workunit already assimilated (the other replica won the quorum).
    exec(
        &h,
        "UPDATE workunit w JOIN result r ON r.workunitid = w.id \
         SET w.assimilate_state = 2 WHERE r.name = ?",
        &held[1],
    )
    .await;
    // 2: timed out on the server.
    exec(
        &h,
        "UPDATE result SET server_state = 5, outcome = 4 WHERE name = ?",
        &held[2],
    )
    .await;
    // 3 runs normally; and the client holds a task the database never had.
    host.holding.push("no_such_task_0".into());
    host.cpu_req_secs = 0.0;
    host.cpu_req_instances = 0.0;
    let reply = host.rpc(&h).await;

    assert_eq!(
        elements(&reply, "result_abort"),
        vec![held[0].clone(), "no_such_task_0".to_string()],
        "{}",
        reply.text
    );
    assert_eq!(
        elements(&reply, "result_abort_if_not_started"),
        vec![held[1].clone(), held[2].clone()],
        "{}",
        reply.text
    );
    for name in [&held[0], "no_such_task_0"] {
        assert!(
            reply.text.contains(&format!(
                "<message priority=\"low\">Result {name} is no longer usable</message>"
            )),
            "{}",
            reply.text
        );
    }
    assert!(!reply.text.contains(&held[3]), "{}", reply.text);
    // Nothing is written: the client's report of the aborted task does that.
    assert_eq!(
        h.count("SELECT COUNT(*) FROM result WHERE server_state = 4 AND hostid > 0")
            .await,
        3
    );
}

#[tokio::test]
async fn another_hosts_task_is_aborted_as_not_found() {
    let (h, _host) = host_with_four_jobs(true).await;
    let stolen: String =
        sqlx::query_scalar("SELECT name FROM result WHERE server_state = 4 LIMIT 1")
            .fetch_one(h.project.pool())
            .await
            .unwrap();
    let mut other = Host::new(&h.project.authenticator, "other-host");
    other.cpu_req_secs = 0.0;
    other.holding.push(stolen.clone());
    let reply = other.rpc(&h).await;
    assert_eq!(
        elements(&reply, "result_abort"),
        vec![stolen],
        "{}",
        reply.text
    );
}

#[tokio::test]
async fn without_send_result_abort_nothing_is_aborted() {
    let (h, mut host) = host_with_four_jobs(false).await;
    exec(
        &h,
        "UPDATE workunit w JOIN result r ON r.workunitid = w.id \
         SET w.error_mask = w.error_mask | 16 WHERE r.name = ?",
        &host.holding[0].clone(),
    )
    .await;
    host.holding.push("no_such_task_0".into());
    host.cpu_req_secs = 0.0;
    let reply = host.rpc(&h).await;
    assert!(!reply.text.contains("result_abort"), "{}", reply.text);
}
