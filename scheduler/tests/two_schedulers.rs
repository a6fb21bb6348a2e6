//! Several scheduler processes on one database, as behind a load balancer: under a load of many
//! simulated clients, no result is ever sent twice, every job sent is recorded for the host that
//! got it, and the processes stop cleanly on the `stop_daemons` trigger.

mod common;

use std::collections::HashMap;
use std::net::SocketAddr;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use common::FAKE_APP;
use rboinc_testkit::http::post_xml;
use rboinc_testkit::net::free_port;
use rboinc_testkit::project::TestProject;
use rboinc_testkit::scheduler::SchedulerProcess;
use rboinc_testkit::sim::{SimHost, parse_reply};
use sqlx::Row;

const WORKUNITS: usize = 120;
const HOSTS: usize = 40;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn two_scheduler_processes_never_send_one_result_twice() {
    rboinc_core::telemetry::init_for_tests();
    let project = TestProject::create().await.unwrap();
    // Far fewer database connections than clients in flight: a request that held one
    // connection while waiting for a second deadlocked the pool once (regression).
    project.set_option("sched_db_connections", "4").unwrap();
    let exe = project.temp_dir().join("fake_app");
    std::fs::write(&exe, FAKE_APP).unwrap();
    project.publish_app_binary(&exe, "1.0").await.unwrap();
    project
        .create_mnist_batch("load", WORKUNITS, Default::default())
        .await
        .unwrap();
    project.run_transitioner().await.unwrap();
    let pool = project.pool().clone();
    let unsent: i64 = sqlx::query_scalar("SELECT COUNT(*) FROM result WHERE server_state = 2")
        .fetch_one(&pool)
        .await
        .unwrap();
    assert_eq!(unsent as usize, 2 * WORKUNITS);

    let binary = std::path::Path::new(env!("CARGO_BIN_EXE_scheduler"));
    let mut servers = Vec::new();
    for (i, addr) in [
        project.addr(),
        SocketAddr::from(([127, 0, 0, 1], free_port())),
    ]
    .into_iter()
    .enumerate()
    {
        let log = project.temp_dir().join(format!("scheduler_{i}.log"));
        servers.push(
            SchedulerProcess::start(binary, &project.root, addr, "/testproj/", &[], &log)
                .await
                .unwrap(),
        );
    }
    let addrs: Vec<SocketAddr> = servers.iter().map(|s| s.addr).collect();
    let path = "/testproj_cgi/cgi";

    // Every job any reply carried: result name → the host ids that got it.
    let received: Arc<Mutex<HashMap<String, Vec<i64>>>> = Arc::default();
    let mut tasks = Vec::new();
    for i in 0..HOSTS {
        let auth = project.authenticator.clone();
        let addrs = addrs.clone();
        let received = Arc::clone(&received);
        tasks.push(tokio::spawn(async move {
            let mut host = SimHost::new(&auth, &format!("load-host-{i}"));
            let mut empty_in_a_row = 0;
            for rpc in 0..40 {
                // Alternate between the two processes, as a load balancer would.
                let addr = addrs[(i + rpc) % addrs.len()];
                let reply = post_xml(addr, path, host.request(1.0, &[]).as_bytes())
                    .await
                    .expect("RPC");
                assert_eq!(reply.status, 200);
                let r = parse_reply(&reply.text());
                if r.project_is_down {
                    return Err(reply.text());
                }
                host.absorb(&r);
                {
                    let mut seen = received.lock().unwrap();
                    for job in &r.jobs {
                        seen.entry(job.name.clone()).or_default().push(host.hostid);
                    }
                }
                if r.jobs.is_empty() {
                    empty_in_a_row += 1;
                    if empty_in_a_row >= 3 {
                        break;
                    }
                } else {
                    empty_in_a_row = 0;
                }
            }
            Ok(host.hostid)
        }));
    }
    let mut host_ids = Vec::new();
    for t in tasks {
        match t.await.unwrap() {
            Ok(id) => host_ids.push(id),
            Err(reply) => panic!(
                "a reply said the project is down:\n{reply}\n--- scheduler 0 ---\n{}\n--- scheduler 1 ---\n{}",
                servers[0].log(),
                servers[1].log()
            ),
        }
    }

    let received = received.lock().unwrap().clone();
    let twice: Vec<_> = received
        .iter()
        .filter(|(_, hosts)| hosts.len() > 1)
        .collect();
    assert!(twice.is_empty(), "results sent more than once: {twice:?}");
    assert_eq!(
        received.len(),
        2 * WORKUNITS,
        "every result was sent (40 hosts, 2 replicas per workunit)"
    );

    // The database agrees with the replies, row by row.
    let rows = sqlx::query("SELECT name, hostid, server_state, workunitid FROM result")
        .fetch_all(&pool)
        .await
        .unwrap();
    let mut per_wu_hosts: HashMap<i32, Vec<i32>> = HashMap::new();
    for row in &rows {
        let name: String = row.get("name");
        assert_eq!(row.get::<i32, _>("server_state"), 4, "{name} in progress");
        let hostid = i64::from(row.get::<i32, _>("hostid"));
        assert_eq!(
            received[&name],
            vec![hostid],
            "{name} recorded for its host"
        );
        per_wu_hosts
            .entry(row.get("workunitid"))
            .or_default()
            .push(row.get("hostid"));
    }
    for hosts in per_wu_hosts.values() {
        assert_ne!(hosts[0], hosts[1], "one result per host per workunit");
    }
    let distinct: std::collections::HashSet<_> = host_ids.iter().collect();
    assert_eq!(
        distinct.len(),
        HOSTS,
        "every simulated client got its own host record"
    );

    // Both processes did part of the work; the logs show how often they raced.
    for s in &servers {
        assert!(s.log().contains("serving"), "{}", s.log());
    }

    // The stop trigger ends both processes, with status 0; their last words count the jobs
    // each sent and the claims each lost to the other.
    std::fs::write(project.root.join("stop_daemons"), "<stop/>\n").unwrap();
    let mut sent_total = 0;
    for s in &mut servers {
        let status = s.wait_exit(Duration::from_secs(10)).await.unwrap();
        assert!(status.success(), "{status}\n{}", s.log());
        let log = s.log();
        let last = log
            .lines()
            .rev()
            .find(|l| l.contains("stopped"))
            .unwrap_or("");
        let field = |name: &str| -> u64 {
            last.split(&format!("{name}="))
                .nth(1)
                .and_then(|v| v.split(|c: char| !c.is_ascii_digit()).next())
                .and_then(|v| v.parse().ok())
                .unwrap_or_else(|| panic!("no {name} in {last:?}"))
        };
        sent_total += field("results_sent");
        eprintln!(
            "process at {}: sent {}, lost {} claims to the other",
            s.addr,
            field("results_sent"),
            field("claims_lost_to_other_processes")
        );
    }
    assert_eq!(sent_total as usize, 2 * WORKUNITS);
}

/// The claim itself, raced directly: many connections claim one result at the same moment for
/// different hosts; exactly one wins, and the row names the winner.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn concurrent_claims_of_one_result_have_one_winner() {
    use rboinc_core::db::{HostId, ResultId, UserId};
    use rboinc_scheduler::sched::claim::{Claim, Replicas, claim};

    let project = TestProject::create().await.unwrap();
    project
        .create_mnist_batch("race", 1, Default::default())
        .await
        .unwrap();
    project.run_transitioner().await.unwrap();
    // One connection per contender (the test pool has only a few).
    let pool = rboinc_core::db::connect_with(
        rboinc_core::db::pool_options().max_connections(16),
        project.db().db_settings(),
    )
    .await
    .unwrap();
    let id: i32 = sqlx::query_scalar("SELECT MIN(id) FROM result")
        .fetch_one(&pool)
        .await
        .unwrap();
    let barrier = Arc::new(tokio::sync::Barrier::new(16));
    let mut tasks = Vec::new();
    for host in 1..=16i64 {
        let pool = pool.clone();
        let barrier = Arc::clone(&barrier);
        tasks.push(tokio::spawn(async move {
            let mut conn = pool.acquire().await.unwrap();
            barrier.wait().await;
            let won = claim(
                &mut conn,
                &Claim {
                    result_id: ResultId(i64::from(id)),
                    hostid: HostId(host),
                    userid: UserId(1),
                    sent_time: 1000,
                    db_deadline: 5000,
                    flops_estimate: 1e9,
                    app_version_id: 1,
                    hr_class: None,
                    commit_version: None,
                },
                Replicas::Anywhere,
            )
            .await
            .unwrap();
            (host, won)
        }));
    }
    let mut winners = Vec::new();
    for t in tasks {
        let (host, won) = t.await.unwrap();
        if won {
            winners.push(host);
        }
    }
    assert_eq!(winners.len(), 1, "winners: {winners:?}");
    let (hostid, state, transition): (i32, i32, i32) = sqlx::query_as(
        "SELECT r.hostid, r.server_state, w.transition_time FROM result r \
         JOIN workunit w ON w.id = r.workunitid WHERE r.id = ?",
    )
    .bind(id)
    .fetch_one(&pool)
    .await
    .unwrap();
    assert_eq!(i64::from(hostid), winners[0]);
    assert_eq!(state, 4);
    assert!(transition <= 5000, "the workunit will notice the deadline");
}

/// A claim for `host` (user `user`) at time 1000.
fn claim_for(result: i64, host: i64, user: i64) -> rboinc_scheduler::sched::claim::Claim {
    use rboinc_core::db::{HostId, ResultId, UserId};
    rboinc_scheduler::sched::claim::Claim {
        result_id: ResultId(result),
        hostid: HostId(host),
        userid: UserId(user),
        sent_time: 1000,
        db_deadline: 5000,
        flops_estimate: 1e9,
        app_version_id: 1,
        hr_class: None,
        commit_version: None,
    }
}

/// One workunit with its two unsent results: (workunit id, [result ids]).
async fn one_workunit(project: &TestProject) -> (i64, [i64; 2]) {
    project
        .create_mnist_batch("one", 1, Default::default())
        .await
        .unwrap();
    project.run_transitioner().await.unwrap();
    let rows: Vec<(i32, i32)> =
        sqlx::query_as("SELECT id, workunitid FROM result WHERE server_state = 2 ORDER BY id")
            .fetch_all(project.pool())
            .await
            .unwrap();
    assert_eq!(rows.len(), 2);
    (
        i64::from(rows[0].1),
        [i64::from(rows[0].0), i64::from(rows[1].0)],
    )
}

async fn state_and_host(project: &TestProject, result: i64) -> (i32, i32) {
    sqlx::query_as("SELECT server_state, hostid FROM result WHERE id = ?")
        .bind(result)
        .fetch_one(project.pool())
        .await
        .unwrap()
}

/// BOINC's `one_result_per_host_per_wu` / `one_result_per_user_per_wu`, checked inside the
/// claim: a host (user) that has one replica of a workunit is refused the other, which stays
/// unsent for someone else.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_claim_refuses_a_second_replica_to_the_same_host_or_user() {
    use rboinc_core::db::{HostId, UserId, WorkunitId};
    use rboinc_scheduler::sched::claim::{Replicas, claim, workunits_already_held};

    let project = TestProject::create().await.unwrap();
    let (wu, [first, second]) = one_workunit(&project).await;
    let mut conn = project.pool().acquire().await.unwrap();
    assert!(
        claim(&mut conn, &claim_for(first, 1, 1), Replicas::Anywhere)
            .await
            .unwrap()
    );
    assert!(
        !claim(
            &mut conn,
            &claim_for(second, 1, 1),
            Replicas::OnePerHost(HostId(1))
        )
        .await
        .unwrap(),
        "host 1 already has the first replica"
    );
    assert_eq!(state_and_host(&project, second).await, (2, 0), "unchanged");
    let held = workunits_already_held(&mut *conn, &[WorkunitId(wu)], HostId(1), UserId(1), false)
        .await
        .unwrap();
    assert!(held.contains(&WorkunitId(wu)));
    assert!(
        !claim(
            &mut conn,
            &claim_for(second, 2, 1),
            Replicas::OnePerUser(UserId(1))
        )
        .await
        .unwrap(),
        "host 2 belongs to user 1, who has the first replica"
    );
    assert_eq!(state_and_host(&project, second).await, (2, 0), "unchanged");
    assert!(
        claim(
            &mut conn,
            &claim_for(second, 2, 2),
            Replicas::OnePerHost(HostId(2))
        )
        .await
        .unwrap()
    );
    assert_eq!(state_and_host(&project, second).await, (4, 2));
}

/// A job whose result or workunit row another transaction holds (another scheduler claiming
/// it, the transitioner) is not claimed, and the claim does not wait for the lock: the RPC's
/// transaction goes on with what it already wrote. Once the other transaction ends, the job
/// can be claimed.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_claim_skips_a_locked_job_without_waiting_and_keeps_the_transaction() {
    use rboinc_scheduler::sched::claim::{Replicas, claim};
    use sqlx::{Connection, Executor};

    let project = TestProject::create().await.unwrap();
    let (wu, [first, _]) = one_workunit(&project).await;
    let pool = project.pool();
    for (table, id) in [("result", first), ("workunit", wu)] {
        let mut holder = pool.acquire().await.unwrap();
        let mut held = holder.begin().await.unwrap();
        sqlx::query(sqlx::AssertSqlSafe(format!(
            "SELECT id FROM {table} WHERE id = ? FOR UPDATE"
        )))
        .bind(id)
        .fetch_one(&mut *held)
        .await
        .unwrap();

        let mut conn = pool.acquire().await.unwrap();
        // A claim that waited would block here for this session's lock timeout (100 s), and
        // the guard below would fail the test.
        conn.execute("SET SESSION innodb_lock_wait_timeout = 100")
            .await
            .unwrap();
        let mut tx = conn.begin().await.unwrap();
        sqlx::query("UPDATE user SET total_credit = total_credit + 1")
            .execute(&mut *tx)
            .await
            .unwrap();
        let claimed = tokio::time::timeout(
            Duration::from_secs(30),
            claim(&mut tx, &claim_for(first, 1, 1), Replicas::Anywhere),
        )
        .await
        .expect("the claim waited for the lock")
        .unwrap();
        assert!(!claimed, "{table} row locked elsewhere: not claimed");
        let in_tx: u64 = sqlx::query_scalar("SELECT @@in_transaction")
            .fetch_one(&mut *tx)
            .await
            .unwrap();
        assert_eq!(in_tx, 1, "the transaction is still open");
        tx.commit().await.unwrap();
        held.rollback().await.unwrap();
        assert_eq!(state_and_host(&project, first).await, (2, 0), "unchanged");
    }
    let credit: f64 = sqlx::query_scalar("SELECT MIN(total_credit) FROM user")
        .fetch_one(pool)
        .await
        .unwrap();
    assert_eq!(
        credit, 2.0,
        "both transactions committed their earlier write"
    );
    let mut conn = pool.acquire().await.unwrap();
    assert!(
        claim(&mut conn, &claim_for(first, 1, 1), Replicas::Anywhere)
            .await
            .unwrap(),
        "free again"
    );
    assert_eq!(state_and_host(&project, first).await, (4, 1));
}
