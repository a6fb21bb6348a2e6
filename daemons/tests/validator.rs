//! The validator on MariaDB, beyond the oracle scenarios: the byte-exact bitwise mode, the
//! metrics and tolerance modes, transient errors and their retry through the transitioner, late results,
//! team credit, batches, and a SIGKILL in the middle of a pass.

mod transitioner_support;

use std::fs;
use std::time::{Duration, Instant};

use sqlx::MySqlPool;
use transitioner_support::{
    Project, ResultSpec, WuSpec, dump, insert_results, insert_workunits, metrics_json, now,
    workspace_root,
};

/// A job `id` with two returned results (ids 2id-1, 2id, hosts 1 and 2) whose metrics.json
/// files hold `a` and `b`.
async fn job_with_outputs(p: &Project, id: i64, a: &str, b: &str) {
    let name = format!("v{id}");
    let mut wu = WuSpec::fresh(id, &name);
    wu.need_validate = 1;
    wu.transition_time = now() + 864_000;
    insert_workunits(p.pool(), &[wu]).await;
    let results = [
        ResultSpec::returned(2 * id - 1, id, &name, 0, 1),
        ResultSpec::returned(2 * id, id, &name, 1, 2),
    ];
    fs::write(p.upload_path(&results[0].output), a).unwrap();
    fs::write(p.upload_path(&results[1].output), b).unwrap();
    insert_results(p.pool(), &results).await;
}

async fn states(pool: &MySqlPool, wu: i64) -> Vec<(i32, i32, f64)> {
    sqlx::query_as(
        "SELECT outcome, validate_state, granted_credit FROM result WHERE workunitid = ? ORDER BY id",
    )
    .bind(wu)
    .fetch_all(pool)
    .await
    .unwrap()
}

async fn workunit(pool: &MySqlPool, wu: i64) -> (i32, i64, i32, i32, i64) {
    sqlx::query_as(
        "SELECT need_validate, canonical_resultid, assimilate_state, target_nresults, transition_time \
         FROM workunit WHERE id = ?",
    )
    .bind(wu)
    .fetch_one(pool)
    .await
    .unwrap()
}

const VALID: i32 = 1;
const INCONCLUSIVE: i32 = 4;

/// The `results disagree` line of `log` (the ops page reads its fields).
fn disagreement(log: &str) -> &str {
    log.lines()
        .find(|l| l.contains("results disagree"))
        .unwrap_or_else(|| panic!("no disagreement logged:\n{log}"))
}

#[tokio::test]
async fn bitwise_mode_is_byte_exact_and_names_the_first_differing_byte() {
    let p = Project::new("", false).await;
    let doc = metrics_json(0.9, 1);
    job_with_outputs(&p, 1, &doc, &doc).await;
    // The same metrics from two hosts: the host object differs, so the files differ.
    job_with_outputs(&p, 2, &doc, &metrics_json(0.9, 2)).await;
    let out = p.run(
        "sample_bitwise_validator",
        &["--app", "mnist", "--one_pass", "-d", "3"],
    );
    let log = String::from_utf8_lossy(&out.stderr);
    assert!(states(p.pool(), 1).await.iter().all(|r| r.1 == VALID));
    assert!(
        states(p.pool(), 2)
            .await
            .iter()
            .all(|r| r.1 == INCONCLUSIVE)
    );
    let offset = doc.find("\"runtime_s\": 11").unwrap() + "\"runtime_s\": 1".len();
    let line = disagreement(&log);
    for part in [
        "wu_id=2".to_string(),
        "result_a=3".into(),
        "result_b=4".into(),
        "host_a=1".into(),
        "host_b=2".into(),
        format!("detail=metrics.json: byte {offset}: 0x31 vs 0x32"),
    ] {
        assert!(line.contains(&part), "{part} missing in: {line}");
    }
}

#[tokio::test]
async fn metrics_mode_compares_metrics_without_the_host_object() {
    let p = Project::new("", false).await;
    job_with_outputs(&p, 1, &metrics_json(0.9, 1), &metrics_json(0.9, 2)).await;
    job_with_outputs(&p, 2, &metrics_json(0.9, 1), &metrics_json(0.95, 1)).await;
    // Same document, keys in another order and other formatting: still the same result.
    let reordered = serde_json::to_string(
        &serde_json::from_str::<serde_json::Value>(&metrics_json(0.9, 3)).unwrap(),
    )
    .unwrap();
    job_with_outputs(&p, 3, &metrics_json(0.9, 1), &reordered).await;
    let out = p.run(
        "validator",
        &["--app", "mnist", "--drain", "-d", "3", "--mode", "metrics"],
    );
    let log = String::from_utf8_lossy(&out.stderr);

    for wu in [1, 3] {
        let s = states(p.pool(), wu).await;
        assert!(
            s.iter().all(|r| r.1 == VALID && r.2 > 0.0),
            "job {wu}: {s:?}"
        );
        assert_eq!(
            workunit(p.pool(), wu).await.1,
            2 * wu - 1,
            "canonical of job {wu}"
        );
    }
    let s = states(p.pool(), 2).await;
    assert!(s.iter().all(|r| r.1 == INCONCLUSIVE), "{s:?}");
    let (need_validate, canonical, _, target, _) = workunit(p.pool(), 2).await;
    assert_eq!((need_validate, canonical, target), (0, 0, 3));
    // The disagreement is logged with the job, both results and hosts, the field and both
    // values.
    let line = disagreement(&log);
    for part in [
        "wu_id=2",
        "result_a=3",
        "result_b=4",
        "host_a=1",
        "host_b=2",
        "detail=metrics.json: history[1].val_acc: 0.9 vs 0.95",
    ] {
        assert!(line.contains(part), "{part} missing in: {line}");
    }
}

#[tokio::test]
async fn tolerance_mode_accepts_small_differences_and_reports_large_ones() {
    let p = Project::new("", false).await;
    job_with_outputs(&p, 1, &metrics_json(0.9, 1), &metrics_json(0.9000004, 2)).await;
    job_with_outputs(&p, 2, &metrics_json(0.9, 1), &metrics_json(0.901, 2)).await;
    let tolerances = workspace_root().join("config/validator_tolerances.json");
    let out = p.run(
        "validator",
        &[
            "--app",
            "mnist",
            "--drain",
            "--mode",
            "tolerance",
            "--tolerances",
            tolerances.to_str().unwrap(),
        ],
    );
    let log = String::from_utf8_lossy(&out.stderr);
    assert!(states(p.pool(), 1).await.iter().all(|r| r.1 == VALID));
    assert!(
        states(p.pool(), 2)
            .await
            .iter()
            .all(|r| r.1 == INCONCLUSIVE)
    );
    assert!(
        disagreement(&log).contains("detail=metrics.json: history[1].val_acc: 0.9 vs 0.901"),
        "{log}"
    );

    // The same pair is not bitwise-identical (bitwise is `validator`'s default mode).
    let q = Project::new("", false).await;
    job_with_outputs(&q, 1, &metrics_json(0.9, 1), &metrics_json(0.9000004, 2)).await;
    q.run("validator", &["--app", "mnist", "--drain"]);
    assert!(
        states(q.pool(), 1)
            .await
            .iter()
            .all(|r| r.1 == INCONCLUSIVE)
    );
}

#[tokio::test]
async fn a_bad_tolerance_file_stops_the_validator_at_start() {
    let p = Project::new("", false).await;
    let bad = p.root.join("tol.json");
    fs::write(&bad, r#"{"fields": {"val_acc": {"absolute": 1e-6}}}"#).unwrap();
    let out = p
        .command(
            "validator",
            &[
                "--app",
                "mnist",
                "--drain",
                "--mode",
                "tolerance",
                "--tolerances",
                bad.to_str().unwrap(),
            ],
        )
        .output()
        .unwrap();
    assert!(!out.status.success());
    assert!(String::from_utf8_lossy(&out.stderr).contains("absolute"));
}

#[tokio::test]
async fn a_transient_error_delays_the_job_and_the_transitioner_brings_it_back() {
    let p = Project::new("", false).await;
    let doc = metrics_json(0.9, 1);
    job_with_outputs(&p, 1, &doc, &doc).await;
    // The upload file system is gone (unmounted, say).
    fs::rename(p.root.join("upload"), p.root.join("upload.away")).unwrap();
    let before = now();
    p.run("sample_bitwise_validator", &["--app", "mnist", "--drain"]);
    let (need_validate, canonical, _, _, tt) = workunit(p.pool(), 1).await;
    assert_eq!((need_validate, canonical), (0, 0));
    assert!(
        (before + 6 * 3600..=now() + 6 * 3600).contains(&tt),
        "retry in 6 hours, got {}",
        tt - before
    );
    // Nothing was decided about the results.
    assert_eq!(states(p.pool(), 1).await, [(1, 0, 0.0), (1, 0, 0.0)]);

    // The files are back; six hours later the transitioner flags the job again...
    fs::rename(p.root.join("upload.away"), p.root.join("upload")).unwrap();
    sqlx::query("UPDATE workunit SET transition_time = ? WHERE id = 1")
        .bind(now() - 1)
        .execute(p.pool())
        .await
        .unwrap();
    p.run("transitioner", &["--drain"]);
    assert_eq!(workunit(p.pool(), 1).await.0, 1, "need_validate set again");
    // ... and the validator finishes it.
    p.run("sample_bitwise_validator", &["--app", "mnist", "--drain"]);
    let (need_validate, canonical, assimilate, _, tt) = workunit(p.pool(), 1).await;
    assert_eq!((need_validate, canonical, assimilate), (0, 1, 1));
    assert_eq!(tt, i64::from(i32::MAX));
    assert!(states(p.pool(), 1).await.iter().all(|r| r.1 == VALID));
}

#[tokio::test]
async fn late_results_are_checked_against_the_canonical_one() {
    let p = Project::new("", false).await;
    let good = metrics_json(0.9, 1);
    job_with_outputs(&p, 1, &good, &good).await;
    p.run("sample_bitwise_validator", &["--app", "mnist", "--drain"]);
    let credit = states(p.pool(), 1).await[0].2;
    assert!(credit > 0.0);

    // Two more results come back: one agrees, one does not.
    let late = [
        ResultSpec::returned(3, 1, "v1", 2, 3),
        ResultSpec::returned(4, 1, "v1", 3, 3),
    ];
    fs::write(p.upload_path(&late[0].output), &good).unwrap();
    fs::write(p.upload_path(&late[1].output), metrics_json(0.5, 1)).unwrap();
    insert_results(p.pool(), &late).await;
    sqlx::query("UPDATE workunit SET need_validate = 1 WHERE id = 1")
        .execute(p.pool())
        .await
        .unwrap();
    p.run("sample_bitwise_validator", &["--app", "mnist", "--drain"]);
    let s = states(p.pool(), 1).await;
    assert_eq!(s[2], (1, VALID, credit), "the canonical result's credit");
    assert_eq!(s[3].1, 2, "INVALID");
    let (need_validate, canonical, _, _, tt) = workunit(p.pool(), 1).await;
    assert_eq!((need_validate, canonical), (0, 1));
    assert!(tt <= now(), "the transitioner looks again (file deletion)");
    let host3: f64 = sqlx::query_scalar("SELECT total_credit FROM host WHERE id = 3")
        .fetch_one(p.pool())
        .await
        .unwrap();
    assert_eq!(host3, credit);
}

#[tokio::test]
async fn credit_reaches_hosts_users_teams_versions_and_statistics() {
    let p = Project::new("", false).await;
    sqlx::query(
        "INSERT INTO team (id, create_time, userid, name, name_lc, type, nusers, expavg_time) \
         VALUES (7, 1, 2, 'team7', 'team7', 1, 1, 0)",
    )
    .execute(p.pool())
    .await
    .unwrap();
    sqlx::query("UPDATE user SET teamid = 7 WHERE id = 2")
        .execute(p.pool())
        .await
        .unwrap();
    let doc = metrics_json(0.9, 1);
    for id in 1..=3 {
        job_with_outputs(&p, id, &doc, &doc).await;
    }
    p.run(
        "sample_bitwise_validator",
        &["--app", "mnist", "--drain", "--update_credited_job"],
    );
    // Oracle scenario 15's numbers: 100 s and 100 s at 2 GFLOPS, pegged to 1e12.
    let credit = 2e11 * 200.0 / 86400e9;
    for wu in 1..=3 {
        for (_, state, granted) in states(p.pool(), wu).await {
            assert_eq!(state, VALID);
            assert!((granted - credit).abs() < 1e-12, "{granted}");
        }
    }
    let total = |table: &'static str, id: i64| {
        let pool = p.pool().clone();
        async move {
            let sql = format!("SELECT total_credit FROM {table} WHERE id = {id}");
            sqlx::query_scalar::<_, f64>(sqlx::AssertSqlSafe(sql))
                .fetch_one(&pool)
                .await
                .unwrap()
        }
    };
    for (table, id) in [
        ("host", 1),
        ("host", 2),
        ("user", 1),
        ("user", 2),
        ("team", 7),
    ] {
        let t = total(table, id).await;
        assert!((t - 3.0 * credit).abs() < 1e-12, "{table} {id}: {t}");
    }
    assert_eq!(total("user", 3).await, 0.0);
    let hav: Vec<(i64, f64, i32, i32)> = sqlx::query_as(
        "SELECT host_id, pfc_n, max_jobs_per_day, consecutive_valid FROM host_app_version ORDER BY host_id",
    )
    .fetch_all(p.pool())
    .await
    .unwrap();
    assert_eq!(hav, [(1, 3.0, 3, 3), (2, 3.0, 3, 3)]);
    let (pfc_n, expavg): (f64, f64) =
        sqlx::query_as("SELECT pfc_n, expavg_credit FROM app_version WHERE id = 1")
            .fetch_one(p.pool())
            .await
            .unwrap();
    assert_eq!(pfc_n, 6.0, "one PFC sample per valid result");
    assert!(expavg > 0.0);
    // --update_credited_job records (user, workunit opaque); opaque is 0 for these jobs.
    let credited: Vec<(i64, i64)> =
        sqlx::query_as("SELECT userid, workunitid FROM credited_job ORDER BY userid")
            .fetch_all(p.pool())
            .await
            .unwrap();
    assert_eq!(credited, [(1, 0), (2, 0)]);
}

/// `n` two-result jobs on `hosts` hosts; every 5th job's results disagree.
async fn many_jobs(p: &Project, n: i64, hosts: i64) {
    p.add_hosts(4, hosts + 1).await;
    let mut wus = Vec::new();
    let mut results = Vec::new();
    for id in 1..=n {
        let name = format!("v{id}");
        let mut wu = WuSpec::fresh(id, &name);
        wu.need_validate = 1;
        wu.transition_time = now() + 864_000;
        wus.push(wu);
        for k in 0..2 {
            let host = 1 + (id * 7 + k * 13) % hosts;
            let mut r = ResultSpec::returned(2 * id - 1 + k, id, &name, k, host);
            r.elapsed_time = 50.0 + (id % 17) as f64 * 10.0 + k as f64;
            let acc = if id % 5 == 0 && k == 1 { 0.8 } else { 0.9 };
            fs::write(p.upload_path(&r.output), metrics_json(acc, k as u64)).unwrap();
            results.push(r);
        }
    }
    insert_workunits(p.pool(), &wus).await;
    insert_results(p.pool(), &results).await;
}

async fn credit_state(pool: &MySqlPool) -> Vec<Vec<String>> {
    let mut all = dump(
        pool,
        "name, server_state, outcome, validate_state, granted_credit, runtime_outlier",
        "result",
        "id",
    )
    .await;
    all.extend(
        dump(
            pool,
            "name, need_validate, canonical_resultid, canonical_credit, assimilate_state, \
             target_nresults, transition_time = 2147483647",
            "workunit",
            "id",
        )
        .await,
    );
    all.extend(
        dump(
            pool,
            "host_id, app_version_id, pfc_n, pfc_avg, et_n, et_avg, et_var, et_q, turnaround_n, \
             turnaround_avg, turnaround_var, turnaround_q, max_jobs_per_day, consecutive_valid",
            "host_app_version",
            "host_id, app_version_id",
        )
        .await,
    );
    all.extend(dump(pool, "id, avg_turnaround", "host", "id").await);
    all.extend(dump(pool, "id, pfc_n, pfc_avg", "app_version", "id").await);
    all
}

async fn totals(pool: &MySqlPool) -> Vec<f64> {
    sqlx::query_scalar("SELECT total_credit FROM host UNION ALL SELECT total_credit FROM user")
        .fetch_all(pool)
        .await
        .unwrap()
}

#[tokio::test]
async fn sigkill_in_the_middle_of_a_pass_then_restart_equals_an_uninterrupted_run() {
    let n = 1500;
    let hosts = 40;
    let whole = Project::new("", false).await;
    many_jobs(&whole, n, hosts).await;
    let killed = Project::new("", false).await;
    many_jobs(&killed, n, hosts).await;

    let args = [
        "--app", "mnist", "--drain", "--batch", "20", "--mode", "metrics",
    ];
    whole.run("validator", &args);

    let flagged = |p: &Project| {
        let pool = p.pool().clone();
        async move {
            sqlx::query_scalar::<_, i64>("SELECT COUNT(*) FROM workunit WHERE need_validate = 0")
                .fetch_one(&pool)
                .await
                .unwrap()
        }
    };
    let mut child = killed.spawn("validator", &args);
    let started = Instant::now();
    while flagged(&killed).await < 100 {
        assert!(started.elapsed() < Duration::from_secs(60), "no progress");
        tokio::time::sleep(Duration::from_millis(5)).await;
    }
    child.kill().unwrap();
    child.wait().unwrap();
    let done_at_kill = flagged(&killed).await;
    assert!(
        done_at_kill < n,
        "the kill came too late ({done_at_kill} of {n} done)"
    );
    killed.run("validator", &args);

    assert_eq!(flagged(&whole).await, n);
    assert_eq!(
        credit_state(whole.pool()).await,
        credit_state(killed.pool()).await
    );
    // Totals are sums of the same grants, added in other groupings.
    for (a, b) in totals(whole.pool())
        .await
        .iter()
        .zip(totals(killed.pool()).await)
    {
        assert!((a - b).abs() <= 1e-9 * a.abs().max(1.0), "{a} vs {b}");
    }
    // The output files are untouched.
    let files = |p: &Project| {
        let mut v: Vec<_> = walk(&p.root.join("upload"));
        v.sort();
        v
    };
    assert_eq!(files(&whole).len() as i64, 2 * n);
    assert_eq!(files(&whole), files(&killed));
}

fn walk(dir: &std::path::Path) -> Vec<String> {
    let mut out = Vec::new();
    for e in fs::read_dir(dir).unwrap() {
        let e = e.unwrap();
        if e.file_type().unwrap().is_dir() {
            out.extend(walk(&e.path()));
        } else {
            out.push(e.file_name().to_string_lossy().into_owned());
        }
    }
    out
}

#[tokio::test]
async fn credit_flags_no_credit_runtime_and_post_assigned() {
    let doc = metrics_json(0.9, 1);
    // --no_credit: valid, but nothing granted.
    let p = Project::new("", false).await;
    job_with_outputs(&p, 1, &doc, &doc).await;
    p.run(
        "sample_bitwise_validator",
        &["--app", "mnist", "--drain", "--no_credit"],
    );
    assert_eq!(
        states(p.pool(), 1).await,
        [(1, VALID, 0.0), (1, VALID, 0.0)]
    );
    let host: f64 = sqlx::query_scalar("SELECT total_credit FROM host WHERE id = 1")
        .fetch_one(p.pool())
        .await
        .unwrap();
    assert_eq!(host, 0.0);

    // --credit_from_runtime: the low average of elapsed × FLOPS, 100 s and 300 s at 2 GFLOPS.
    let p = Project::new("", false).await;
    job_with_outputs(&p, 1, &doc, &doc).await;
    sqlx::query("UPDATE result SET elapsed_time = 300 WHERE id = 2")
        .execute(p.pool())
        .await
        .unwrap();
    p.run(
        "sample_bitwise_validator",
        &["--app", "mnist", "--drain", "--credit_from_runtime"],
    );
    let (a, b) = (2e11 * 200.0 / 86400e9, 6e11 * 200.0 / 86400e9);
    let low = (a * b + b * a) / (a + b);
    for (_, state, granted) in states(p.pool(), 1).await {
        assert_eq!(state, VALID);
        assert!((granted - low).abs() < 1e-12, "{granted} vs {low}");
    }

    // --post_assigned_credit: the canonical result's claimed_credit.
    let p = Project::new("", false).await;
    job_with_outputs(&p, 1, &doc, &doc).await;
    sqlx::query("UPDATE result SET claimed_credit = 42.5 WHERE id = 1")
        .execute(p.pool())
        .await
        .unwrap();
    p.run(
        "sample_bitwise_validator",
        &[
            "--app",
            "mnist",
            "--drain",
            "--post_assigned_credit",
            "--max_granted_credit",
            "40",
        ],
    );
    assert!(
        states(p.pool(), 1).await.iter().all(|r| r.2 == 40.0),
        "capped at 40"
    );
}

#[tokio::test]
async fn dry_run_one_pass_n_wu_and_wu_id() {
    let doc = metrics_json(0.9, 1);
    let p = Project::new("", false).await;
    for id in 1..=5 {
        job_with_outputs(&p, id, &doc, &doc).await;
    }
    let flagged = || async {
        sqlx::query_scalar::<_, i64>("SELECT COUNT(*) FROM workunit WHERE need_validate = 1")
            .fetch_one(p.pool())
            .await
            .unwrap()
    };
    p.run(
        "sample_bitwise_validator",
        &["--app", "mnist", "--dry_run", "--drain"],
    );
    assert_eq!(flagged().await, 5, "a dry run writes nothing");
    p.run(
        "sample_bitwise_validator",
        &["--app", "mnist", "--one_pass_N_WU", "2"],
    );
    assert_eq!(flagged().await, 3);
    p.run(
        "sample_bitwise_validator",
        &["--app", "mnist", "--wu_id", "5"],
    );
    assert_eq!(flagged().await, 2);
    assert_eq!(workunit(p.pool(), 5).await.1, 9, "job 5 validated");
    assert_eq!(workunit(p.pool(), 3).await.0, 1, "job 3 still flagged");
}

#[tokio::test]
async fn check_punitive_throttles_hosts_with_errors_in_trivial_mode() {
    let p = Project::new("", false).await;
    let mut wu = WuSpec::fresh(1, "t1");
    wu.need_validate = 1;
    wu.min_quorum = 1;
    wu.target_nresults = 1;
    insert_workunits(p.pool(), &[wu]).await;
    let ok = ResultSpec::returned(1, 1, "t1", 0, 1);
    let mut failed = ResultSpec::returned(2, 1, "t1", 1, 2);
    failed.outcome = 3; // CLIENT_ERROR
    insert_results(p.pool(), &[ok, failed]).await;
    sqlx::query(
        "INSERT INTO host_app_version (host_id, app_version_id, pfc_n, pfc_avg, et_n, et_avg, et_var, \
         et_q, max_jobs_per_day, n_jobs_today, turnaround_n, turnaround_avg, turnaround_var, \
         turnaround_q, consecutive_valid) VALUES (2, 1, 0, 0, 0, 0, 0, 0, 50, 7, 0, 0, 0, 0, 4)",
    )
    .execute(p.pool())
    .await
    .unwrap();
    p.run(
        "sample_trivial_validator",
        &["--app", "mnist", "--drain", "--check_punitive"],
    );
    let quota: (i32, i32) = sqlx::query_as(
        "SELECT max_jobs_per_day, n_jobs_today FROM host_app_version WHERE host_id = 2",
    )
    .fetch_one(p.pool())
    .await
    .unwrap();
    assert_eq!(quota, (1, 1));
    assert_eq!(states(p.pool(), 1).await[0].1, VALID);
}

#[tokio::test]
async fn two_validators_with_mod_2_lose_no_credit_or_statistics_on_shared_hosts() {
    let p = Project::new("", false).await;
    let doc = metrics_json(0.9, 1);
    let mut wus = Vec::new();
    let mut results = Vec::new();
    for id in 1..=300 {
        let name = format!("m{id}");
        let mut wu = WuSpec::fresh(id, &name);
        wu.need_validate = 1;
        wu.transition_time = now() + 864_000;
        wus.push(wu);
        for k in 0..2 {
            // Three hosts share all the work of both validators.
            let mut r = ResultSpec::returned(2 * id - 1 + k, id, &name, k, 1 + (id + k) % 3);
            r.elapsed_time = 60.0 + (id % 7) as f64;
            fs::write(p.upload_path(&r.output), &doc).unwrap();
            results.push(r);
        }
    }
    insert_workunits(p.pool(), &wus).await;
    insert_results(p.pool(), &results).await;
    let args = |i: &'static str| ["--app", "mnist", "--drain", "--mod", "2", i, "--batch", "7"];
    let a = p.spawn("sample_bitwise_validator", &args("0"));
    let b = p.spawn("sample_bitwise_validator", &args("1"));
    // Both logs are drained at once: a validator whose stderr pipe filled up while the test
    // waited for the other one would stop in the middle of its transaction, holding the host
    // rows the other one waits for.
    let outputs: Vec<_> = [a, b]
        .into_iter()
        .map(|child| std::thread::spawn(move || child.wait_with_output().unwrap()))
        .collect();
    for output in outputs {
        let out = output.join().unwrap();
        assert!(
            out.status.success(),
            "{}",
            String::from_utf8_lossy(&out.stderr)
        );
    }
    let per_host: Vec<(i64, i64, f64, f64, i32, f64)> = sqlx::query_as(
        "SELECT r.hostid, COUNT(*), SUM(r.granted_credit), h.total_credit, v.max_jobs_per_day, v.pfc_n \
         FROM result r JOIN host h ON h.id = r.hostid \
         JOIN host_app_version v ON v.host_id = r.hostid AND v.app_version_id = 1 \
         WHERE r.validate_state = 1 GROUP BY r.hostid ORDER BY r.hostid",
    )
    .fetch_all(p.pool())
    .await
    .unwrap();
    assert_eq!(per_host.len(), 3);
    let mut valid = 0;
    for (host, n, granted, total, max_jobs, pfc_n) in per_host {
        valid += n;
        assert!(
            (granted - total).abs() < 1e-9,
            "host {host}: granted {granted}, total {total}"
        );
        assert_eq!(
            i64::from(max_jobs),
            n,
            "host {host}: every valid result counted once"
        );
        assert_eq!(pfc_n as i64, n, "host {host}: every PFC sample kept");
    }
    assert_eq!(valid, 600);
}

#[tokio::test]
async fn one_pass_validates_one_batch_as_the_cpp_validator() {
    let p = Project::new("", false).await;
    many_jobs(&p, 50, 4).await;
    let validated = async || -> i64 {
        sqlx::query_scalar("SELECT COUNT(*) FROM workunit WHERE need_validate = 0")
            .fetch_one(p.pool())
            .await
            .unwrap()
    };
    let args = |pass: &'static str| ["--app", "mnist", pass, "--batch", "20"];
    p.run("sample_bitwise_validator", &args("--one_pass"));
    assert_eq!(validated().await, 20, "one batch");
    p.run("sample_bitwise_validator", &args("--drain"));
    assert_eq!(validated().await, 50, "everything due");
}

/// BOINC's per-app credit tables (made by its `schema.sql`, not by rboinc's migrations).
const CREDIT_BY_APP_TABLES: &str = "
CREATE TABLE credit_user (userid INTEGER NOT NULL, appid INTEGER NOT NULL, njobs INTEGER NOT NULL,
  total DOUBLE NOT NULL, expavg DOUBLE NOT NULL, expavg_time DOUBLE NOT NULL,
  credit_type INTEGER NOT NULL, PRIMARY KEY (userid, appid, credit_type)) ENGINE=InnoDB;
CREATE TABLE credit_team (teamid INTEGER NOT NULL, appid INTEGER NOT NULL, njobs INTEGER NOT NULL,
  total DOUBLE NOT NULL, expavg DOUBLE NOT NULL, expavg_time DOUBLE NOT NULL,
  credit_type INTEGER NOT NULL, PRIMARY KEY (teamid, appid, credit_type)) ENGINE=InnoDB;
";

#[tokio::test]
async fn credit_by_app_keeps_per_app_user_and_team_credit() {
    let by_app = "<credit_by_app>1</credit_by_app>";
    // Without BOINC's tables the validator says so at start-up.
    let p = Project::new(by_app, false).await;
    let out = p
        .command("validator", &["--app", "mnist", "--one_pass"])
        .output()
        .unwrap();
    assert!(!out.status.success());
    assert!(String::from_utf8_lossy(&out.stderr).contains("credit_user"));

    sqlx::raw_sql(CREDIT_BY_APP_TABLES)
        .execute(p.pool())
        .await
        .unwrap();
    // User 1 already has credit for the app.
    sqlx::query(
        "INSERT INTO credit_user (userid, appid, njobs, total, expavg, expavg_time, credit_type) \
         VALUES (1, 1, 4, 100, 2, ?, 0)",
    )
    .bind(now() as f64 - 86400.0)
    .execute(p.pool())
    .await
    .unwrap();
    let doc = metrics_json(0.9, 1);
    for id in 1..=2 {
        job_with_outputs(&p, id, &doc, &doc).await;
    }
    sqlx::query("UPDATE result SET teamid = 7 WHERE hostid = 2")
        .execute(p.pool())
        .await
        .unwrap();
    p.run(
        "validator",
        &["--app", "mnist", "--one_pass", "--mode", "metrics"],
    );
    let granted: f64 =
        sqlx::query_scalar("SELECT SUM(granted_credit) FROM result WHERE hostid = 1")
            .fetch_one(p.pool())
            .await
            .unwrap();
    assert!(granted > 0.0);
    let users: Vec<(i64, i64, i32, f64, f64)> = sqlx::query_as(
        "SELECT userid, appid, njobs, total, expavg FROM credit_user ORDER BY userid",
    )
    .fetch_all(p.pool())
    .await
    .unwrap();
    assert_eq!(users.len(), 2, "{users:?}");
    assert_eq!((users[0].0, users[0].1, users[0].2), (1, 1, 6));
    assert!((users[0].3 - (100.0 + granted)).abs() < 1e-9, "{users:?}");
    assert!(
        users[0].4 > 0.0 && users[0].4 < 2.0 + granted,
        "decayed: {users:?}"
    );
    assert_eq!((users[1].0, users[1].2), (2, 2));
    assert!((users[1].3 - granted).abs() < 1e-9);
    // Team credit follows the result's team; users in no team count under team 0.
    let teams: Vec<(i64, i32, f64)> =
        sqlx::query_as("SELECT teamid, njobs, total FROM credit_team ORDER BY teamid")
            .fetch_all(p.pool())
            .await
            .unwrap();
    assert_eq!(teams.len(), 2, "{teams:?}");
    assert_eq!((teams[0].0, teams[0].1), (0, 2));
    assert_eq!((teams[1].0, teams[1].1), (7, 2));
    assert!((teams[1].2 - granted).abs() < 1e-9);
}

#[tokio::test]
async fn host_app_version_quota_and_consecutive_valid_follow_boinc() {
    let p = Project::new("", false).await;
    // Host 1 was throttled to one job a day; host 2 has a quota above the project's 100.
    sqlx::query(
        "INSERT INTO host_app_version (host_id, app_version_id, pfc_n, pfc_avg, et_n, et_avg, et_var, \
         et_q, max_jobs_per_day, n_jobs_today, turnaround_n, turnaround_avg, turnaround_var, \
         turnaround_q, consecutive_valid) VALUES \
         (1, 1, 0, 0, 0, 0, 0, 0, 1, 1, 0, 0, 0, 0, 0), (2, 1, 0, 0, 0, 0, 0, 0, 150, 0, 0, 0, 0, 0, 9), \
         (3, 1, 0, 0, 0, 0, 0, 0, 20, 0, 0, 0, 0, 0, 4)",
    )
    .execute(p.pool())
    .await
    .unwrap();
    // Job 1: hosts 1 and 3 agree, host 2 does not.
    let mut wu = WuSpec::fresh(1, "q1");
    wu.need_validate = 1;
    wu.target_nresults = 3;
    // Job 2: sent unreplicated under adaptive replication (app target 2, job target 1).
    let mut single = WuSpec::fresh(2, "q2");
    single.need_validate = 1;
    single.min_quorum = 1;
    single.target_nresults = 1;
    insert_workunits(p.pool(), &[wu, single]).await;
    let results = [
        ResultSpec::returned(1, 1, "q1", 0, 1),
        ResultSpec::returned(2, 1, "q1", 1, 2),
        ResultSpec::returned(3, 1, "q1", 2, 3),
        ResultSpec::returned(4, 2, "q2", 0, 3),
    ];
    for (r, acc) in results.iter().zip([0.9, 0.5, 0.9, 0.9]) {
        fs::write(p.upload_path(&r.output), metrics_json(acc, 1)).unwrap();
    }
    insert_results(p.pool(), &results).await;
    sqlx::query("UPDATE app SET target_nresults = 2")
        .execute(p.pool())
        .await
        .unwrap();
    p.run(
        "validator",
        &["--app", "mnist", "--one_pass", "--mode", "metrics"],
    );
    let havs: Vec<(i64, i32, i32)> = sqlx::query_as(
        "SELECT host_id, max_jobs_per_day, consecutive_valid FROM host_app_version ORDER BY host_id",
    )
    .fetch_all(p.pool())
    .await
    .unwrap();
    assert_eq!(
        havs,
        [
            // Valid: the throttled quota recovers by one, the run of valid results grows.
            (1, 2, 1),
            // Invalid: the run is broken, a quota above the project's drops by one.
            (2, 149, 0),
            // Valid twice; the unreplicated job raises the quota but not the run.
            (3, 22, 5),
        ]
    );
}
