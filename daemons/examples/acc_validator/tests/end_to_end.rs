//! The example plug-in in its own validator daemon, on MariaDB: agreement within the
//! tolerance, a disagreement report, a suspicious result under adaptive replication, a runtime
//! outlier kept out of the statistics, and a bad flag refused at start-up.

#[path = "../../../tests/transitioner_support/mod.rs"]
mod support;

use std::fs;

use sqlx::MySqlPool;
use support::{Project, ResultSpec, WuSpec, insert_results, insert_workunits, metrics_json, now};

const VALID: i32 = 1;
const INCONCLUSIVE: i32 = 4;

/// Job `id` whose results (ids from `first`, hosts 1, 2, …) report the accuracies `accs`.
async fn job(p: &Project, id: i64, first: i64, accs: &[f64], quorum: i32) -> Vec<ResultSpec> {
    let name = format!("a{id}");
    let mut wu = WuSpec::fresh(id, &name);
    wu.need_validate = 1;
    wu.transition_time = now() + 864_000;
    wu.min_quorum = quorum;
    wu.target_nresults = quorum;
    insert_workunits(p.pool(), &[wu]).await;
    let results: Vec<ResultSpec> = accs
        .iter()
        .enumerate()
        .map(|(k, acc)| {
            let r = ResultSpec::returned(first + k as i64, id, &name, k as i64, 1 + k as i64);
            fs::write(p.upload_path(&r.output), metrics_json(*acc, k as u64)).unwrap();
            r
        })
        .collect();
    insert_results(p.pool(), &results).await;
    results
}

async fn validate_states(pool: &MySqlPool, wu: i64) -> Vec<(i32, i32)> {
    sqlx::query_as(
        "SELECT validate_state, runtime_outlier FROM result WHERE workunitid = ? ORDER BY id",
    )
    .bind(wu)
    .fetch_all(pool)
    .await
    .unwrap()
}

async fn canonical_and_target(pool: &MySqlPool, wu: i64) -> (i64, i32) {
    sqlx::query_as("SELECT canonical_resultid, target_nresults FROM workunit WHERE id = ?")
        .bind(wu)
        .fetch_one(pool)
        .await
        .unwrap()
}

#[tokio::test]
async fn a_projects_own_comparison_runs_in_the_validator_daemon() {
    let p = Project::new("", false).await;
    // Adaptive replication: the app wants 2 results, some jobs are sent once.
    sqlx::query("UPDATE app SET target_nresults = 2")
        .execute(p.pool())
        .await
        .unwrap();
    job(&p, 1, 1, &[0.9, 0.905], 2).await;
    job(&p, 2, 3, &[0.9, 0.95], 2).await;
    job(&p, 3, 5, &[0.1], 1).await;
    job(&p, 4, 6, &[0.9], 1).await;
    job(&p, 5, 7, &[0.9, 0.9], 2).await;
    sqlx::query("UPDATE result SET elapsed_time = 0.5 WHERE id = 8")
        .execute(p.pool())
        .await
        .unwrap();

    let out = p.run(
        "acc_validator",
        &[
            "--app",
            "mnist",
            "--one_pass",
            "-d",
            "3",
            "--max_acc_diff",
            "0.01",
        ],
    );
    let log = String::from_utf8_lossy(&out.stderr);

    // Within 0.01: both valid, the first canonical.
    assert_eq!(validate_states(p.pool(), 1).await, [(VALID, 0), (VALID, 0)]);
    assert_eq!(canonical_and_target(p.pool(), 1).await, (1, 2));
    // 0.05 apart: inconclusive, one more result asked for, and the report names the field.
    assert_eq!(
        validate_states(p.pool(), 2).await,
        [(INCONCLUSIVE, 0), (INCONCLUSIVE, 0)]
    );
    assert_eq!(canonical_and_target(p.pool(), 2).await, (0, 3));
    let line = log
        .lines()
        .find(|l| l.contains("results disagree"))
        .unwrap_or_else(|| panic!("no disagreement logged:\n{log}"));
    assert!(
        line.contains("wu_id=2") && line.contains("detail=metrics.json: val_acc: 0.9 vs 0.95"),
        "{line}"
    );
    // A lone suspicious result is not trusted: a second replica is asked for...
    assert_eq!(validate_states(p.pool(), 3).await, [(INCONCLUSIVE, 0)]);
    assert_eq!(canonical_and_target(p.pool(), 3).await, (0, 2));
    // ...while a plausible one is accepted alone.
    assert_eq!(validate_states(p.pool(), 4).await, [(VALID, 0)]);
    assert_eq!(canonical_and_target(p.pool(), 4).await.0, 6);
    // The runtime outlier is valid, marked, and left out of its host's statistics.
    assert_eq!(validate_states(p.pool(), 5).await, [(VALID, 0), (VALID, 1)]);
    let pfc_n: Vec<(i64, f64)> = sqlx::query_as(
        "SELECT host_id, pfc_n FROM host_app_version WHERE host_id IN (1, 2) ORDER BY host_id",
    )
    .fetch_all(p.pool())
    .await
    .unwrap();
    assert_eq!(
        pfc_n,
        [(1, 3.0), (2, 1.0)],
        "host 2's 0.5 s run is not a sample"
    );
    assert!(!log.contains("WARN"), "{log}");
}

#[tokio::test]
async fn the_plugins_own_flags_are_checked_at_start() {
    let p = Project::new("", false).await;
    let out = p
        .command(
            "acc_validator",
            &["--app", "mnist", "--one_pass", "--max_acc_diff", "abc"],
        )
        .output()
        .unwrap();
    assert!(!out.status.success());
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("--max_acc_diff \"abc\""), "{err}");
}

#[tokio::test]
async fn the_projects_assimilator_files_finished_and_failed_workunits() {
    let p = Project::new("", false).await;
    let mut done = WuSpec::fresh(1, "a1");
    done.assimilate_state = 1;
    done.canonical_resultid = 1;
    let mut failed = WuSpec::fresh(2, "a2");
    failed.assimilate_state = 1;
    insert_workunits(p.pool(), &[done, failed]).await;
    let ok = ResultSpec::returned(1, 1, "a1", 0, 1);
    fs::write(p.upload_path(&ok.output), metrics_json(0.875, 0)).unwrap();
    let mut e1 = ResultSpec::returned(2, 2, "a2", 0, 1);
    e1.outcome = 3;
    let mut e2 = ResultSpec::returned(3, 2, "a2", 1, 2);
    e2.outcome = 3;
    insert_results(p.pool(), &[ok, e1, e2]).await;
    sqlx::query("UPDATE workunit SET error_mask = 1 WHERE id = 2")
        .execute(p.pool())
        .await
        .unwrap();
    let out = p.run(
        "acc_assimilator",
        &["--app", "mnist", "--one_pass", "--archive", "x"],
    );
    let log = String::from_utf8_lossy(&out.stderr);
    let dir = p.root.join("results/mnist");
    assert_eq!(
        fs::read_to_string(dir.join("a1.txt")).unwrap(),
        "val_acc=0.875\n"
    );
    assert_eq!(
        fs::read_to_string(dir.join("a2.txt")).unwrap(),
        "error_mask=1 outcomes=2:3,3:3\n"
    );
    let done: i64 = sqlx::query_scalar("SELECT COUNT(*) FROM workunit WHERE assimilate_state = 2")
        .fetch_one(p.pool())
        .await
        .unwrap();
    assert_eq!(done, 2);
    assert!(
        log.lines()
            .any(|l| l.contains("WARN") && l.contains("--archive")),
        "{log}"
    );
}
