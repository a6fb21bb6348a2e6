//! Lost hosts: a series' `delay_bound` fits its job (a vanished client's round is reissued
//! within minutes), and a reissued replica that no host asking for work may take is named by
//! `series status` and `series wait` instead of waited on silently.

#[path = "../../tools/tests/common/mod.rs"]
mod common;

use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};

use rboinc_core::clock::now_i32;
use rboinc_core::db::{UserId, host, workunit};
use rboinc_research::replicas::{self, BlockedRound, RECENT_RPC_SECS, ReplicaRule};
use rboinc_research::{SeriesError, SeriesParams, SubmitOptions, params, store, submit};

fn mnist_10k() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../app/data/mnist-10k")
}

fn small(name: &str) -> SubmitOptions {
    let mut o = SubmitOptions::original(mnist_10k(), 2);
    o.name = Some(name.into());
    o.base_seed = Some(7);
    o.cushion = 1;
    o.params = SeriesParams {
        sample_count: 500,
        train_epochs: 1,
        batch_size: 50,
        val_count: Some(100),
        ..SeriesParams::default()
    };
    o
}

fn series(root: &Path, args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_series"))
        .arg("--project-dir")
        .arg(root)
        .args(args)
        .output()
        .unwrap()
}

fn stderr(o: &Output) -> String {
    String::from_utf8_lossy(&o.stderr).into_owned()
}

#[tokio::test]
async fn the_delay_bound_fits_the_job_unless_given() {
    let p = common::project("lost1").await;
    let fitted = submit(&p.project, p.pool(), &small("fit")).await.unwrap();
    let wu = workunit::by_name(p.pool(), "fit_1").await.unwrap().unwrap();
    assert_eq!(wu.delay_bound, params::MIN_DELAY_BOUND_SECS);
    assert_eq!(fitted.series.delay_bound, params::MIN_DELAY_BOUND_SECS);

    let mut given = small("given");
    given.delay_bound = Some(86_400);
    // (The first series fills the cushion: the work generator makes these rounds' workunits
    // later, with the series row's delay_bound.)
    let given = submit(&p.project, p.pool(), &given).await.unwrap();
    assert_eq!(given.series.delay_bound, 86_400);

    // A bound a host cannot meet is refused before anything is written.
    let (series_rows, wus) = (
        common::count(p.pool(), "rb_series").await,
        common::count(p.pool(), "workunit").await,
    );
    let mut zero = small("zero");
    zero.delay_bound = Some(0);
    let e = submit(&p.project, p.pool(), &zero).await.unwrap_err();
    assert!(matches!(e, SeriesError::Invalid(_)), "{e:?}");
    assert!(
        e.to_string()
            .contains("--delay-bound 0: a host needs at least 1 second"),
        "{e}"
    );
    assert_eq!(common::count(p.pool(), "rb_series").await, series_rows);
    assert_eq!(common::count(p.pool(), "workunit").await, wus);

    // The command line: no --delay-bound is the fitted one, an explicit one is kept.
    let ds = mnist_10k();
    let ds = ds.to_str().unwrap();
    let base = [
        "--rounds",
        "1",
        "--sample-count",
        "500",
        "--train-epochs",
        "1",
        "--val-count",
        "100",
        "--dataset",
        ds,
    ];
    let o = series(
        p.root(),
        &[&["submit", "--name", "cli_fit"][..], &base].concat(),
    );
    assert!(o.status.success(), "{}", stderr(&o));
    let o = series(
        p.root(),
        &[
            &["submit", "--name", "cli_given", "--delay-bound", "4000"][..],
            &base,
        ]
        .concat(),
    );
    assert!(o.status.success(), "{}", stderr(&o));
    for (name, want) in [("cli_fit", 300), ("cli_given", 4000)] {
        let s = store::series_by_name(p.pool(), name)
            .await
            .unwrap()
            .unwrap();
        assert_eq!(s.delay_bound, want, "{name}");
    }
}

async fn add_host(pool: &sqlx::MySqlPool, user: i64, rpc_time: i32) -> i64 {
    host::insert(
        pool,
        &host::HostRow {
            userid: UserId(user),
            rpc_time,
            domain_name: "volunteer".into(),
            ..Default::default()
        },
    )
    .await
    .unwrap()
    .get()
}

/// A result of `wu` in `server_state` (2 unsent, 4 in progress, 5 over) on `host`.
async fn add_result(pool: &sqlx::MySqlPool, wu: i64, n: i32, server_state: i32, host: i64) {
    sqlx::query(
        "INSERT INTO result (create_time, workunitid, server_state, outcome, client_state, hostid, userid, \
         report_deadline, sent_time, received_time, name, cpu_time, xml_doc_in, xml_doc_out, stderr_out, batch, \
         file_delete_state, validate_state, claimed_credit, granted_credit, opaque, random, app_version_num, appid, \
         exit_status, teamid, priority, mod_time, elapsed_time, flops_estimate, app_version_id, runtime_outlier, \
         size_class, peak_working_set_size, peak_swap_size, peak_disk_usage) \
         SELECT 1, w.id, ?, IF(? = 5, 3, 0), 0, ?, COALESCE((SELECT userid FROM host WHERE id = ?), 0), \
         0, 0, 0, CONCAT(w.name, '_', ?), 0, '', '', '', w.batch, 0, 0, 0, 0, 0, 0, 0, \
         w.appid, 0, 0, 0, NOW(), 0, 0, 0, 0, -1, 0, 0, 0 FROM workunit w WHERE w.id = ?",
    )
    .bind(server_state)
    .bind(server_state)
    .bind(host)
    .bind(host)
    .bind(n)
    .bind(wu)
    .execute(pool)
    .await
    .unwrap();
}

/// Two hosts, each holding a replica of round 1 (one timed out, one in progress), and the
/// reissued replica unsent: the round waits for a third host, and both commands say so.
#[tokio::test]
async fn a_replica_no_asking_host_may_take_is_named() {
    let p = common::project("lost2").await;
    let s = submit(&p.project, p.pool(), &small("stuck"))
        .await
        .unwrap()
        .series;
    let pool = p.pool();
    let wu = workunit::by_name(pool, "stuck_1").await.unwrap().unwrap();
    let wu_id = wu.id.get();
    let now = now_i32();
    let user: i64 = sqlx::query_scalar("SELECT MIN(id) FROM user")
        .fetch_one(pool)
        .await
        .unwrap();
    let a = add_host(pool, user, now - 10).await;
    let b = add_host(pool, user, now - 60).await;
    // A host last seen long ago holds nothing and does not count as asking.
    add_host(pool, user, now - RECENT_RPC_SECS - 600).await;
    add_result(pool, wu_id, 0, 5, a).await;
    add_result(pool, wu_id, 1, 4, b).await;

    // Until the reissue exists, nothing waits on a host.
    assert!(
        replicas::blocked_rounds(pool, s.id, ReplicaRule::PerHost, now)
            .await
            .unwrap()
            .is_empty()
    );
    add_result(pool, wu_id, 2, 2, 0).await;
    let blocked = replicas::blocked_rounds(pool, s.id, ReplicaRule::PerHost, now)
        .await
        .unwrap();
    assert_eq!(
        blocked,
        vec![BlockedRound {
            series_id: s.id,
            series: s.name.clone(),
            round: 1,
            workunit_id: wu_id,
            wu_name: format!("{}_1", s.name),
            hosts: 2
        }]
    );
    // Without a replica rule the scheduler may send it to either host.
    assert!(
        replicas::blocked_rounds(pool, s.id, ReplicaRule::None, now)
            .await
            .unwrap()
            .is_empty()
    );

    let want = "series: warning: round 1 waits for a host without a replica of it: the 2 host(s) that asked for work in the last hour already hold one and one_result_per_host_per_wu keeps a second from them";
    let o = series(p.root(), &["status", "stuck"]);
    assert!(o.status.success(), "{}", stderr(&o));
    assert!(stderr(&o).contains(want), "{want}\nnot in:\n{}", stderr(&o));
    let o = series(p.root(), &["status"]);
    assert!(
        stderr(&o)
            .contains("series: warning: stuck: round 1 waits for a host without a replica of it"),
        "{}",
        stderr(&o)
    );
    // A reader that goes away early (`series status | head`) ends the command quietly; the
    // warnings still go to standard error.
    for args in [&["status", "stuck"][..], &["status"][..]] {
        let (reader, writer) = std::io::pipe().unwrap();
        drop(reader);
        let o = Command::new(env!("CARGO_BIN_EXE_series"))
            .arg("--project-dir")
            .arg(p.root())
            .args(args)
            .stdout(Stdio::from(writer))
            .output()
            .unwrap();
        let err = stderr(&o);
        assert!(o.status.success(), "{args:?}: {err}");
        assert!(!err.contains("panicked"), "{err}");
        assert!(err.contains("round 1 waits for a host"), "{err}");
    }
    // `wait` says it once, not at every poll.
    let o = series(
        p.root(),
        &["wait", "stuck", "--poll", "0.1", "--timeout", "1"],
    );
    let err = stderr(&o);
    assert!(!o.status.success(), "{err}");
    assert_eq!(err.matches("round 1 waits for a host").count(), 1, "{err}");

    // A third host that holds no replica asks: the round can go to it.
    let c = add_host(pool, user, now_i32()).await;
    let now = now_i32();
    assert!(
        replicas::blocked_rounds(pool, s.id, ReplicaRule::PerHost, now)
            .await
            .unwrap()
            .is_empty()
    );
    let o = series(p.root(), &["status", "stuck"]);
    assert!(!stderr(&o).contains("waits for a host"), "{}", stderr(&o));
    // ...unless replicas are one per user and it is the same volunteer's.
    let blocked = replicas::blocked_rounds(pool, s.id, ReplicaRule::PerUser, now)
        .await
        .unwrap();
    assert_eq!(blocked.len(), 1, "{blocked:?}");
    assert_eq!(blocked[0].hosts, 3);
    assert!(
        blocked[0]
            .message(ReplicaRule::PerUser)
            .contains("attach another account's host")
    );
    // Once it is sent there, nothing is unsent and nothing waits.
    sqlx::query(
        "UPDATE result SET server_state = 4, hostid = ? WHERE workunitid = ? AND server_state = 2",
    )
    .bind(c)
    .bind(wu_id)
    .execute(pool)
    .await
    .unwrap();
    assert!(
        replicas::blocked_rounds(pool, s.id, ReplicaRule::PerUser, now)
            .await
            .unwrap()
            .is_empty()
    );
}
