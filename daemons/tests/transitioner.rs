//! The transitioner on MariaDB, beyond the oracle scenarios: concurrent changes, `--mod`,
//! batches, upload signatures, and a SIGKILL in the middle of a pass.

mod transitioner_support;

use std::collections::{BTreeMap, BTreeSet};
use std::time::{Duration, Instant};

use rboinc_core::config::Config;
use rboinc_core::crypt::{PublicKey, verify_upload};
use rboinc_core::daemon::ModSlice;
use rboinc_core::xml;
use rboinc_daemons::transitioner::load::{Selection, load_batch};
use rboinc_daemons::transitioner::{Options, Transitioner};
use sqlx::MySqlPool;
use transitioner_support::{
    Project, ResultSpec, WuSpec, dump, insert_results, insert_workunits, now,
};

async fn transition_time(pool: &MySqlPool, wu: i64) -> i64 {
    sqlx::query_scalar("SELECT transition_time FROM workunit WHERE id = ?")
        .bind(wu)
        .fetch_one(pool)
        .await
        .unwrap()
}

async fn result_count(pool: &MySqlPool) -> i64 {
    sqlx::query_scalar("SELECT COUNT(*) FROM result")
        .fetch_one(pool)
        .await
        .unwrap()
}

fn transitioner(p: &Project) -> Transitioner {
    let config = Config::load(&p.root).unwrap();
    Transitioner::new(p.pool().clone(), &config, Options::default()).unwrap()
}

#[tokio::test]
async fn a_concurrent_change_of_transition_time_is_never_overwritten() {
    let p = Project::new("", false).await;
    insert_workunits(p.pool(), &[WuSpec::fresh(1, "c1"), WuSpec::fresh(2, "c2")]).await;
    let t = transitioner(&p);
    let mut conn = p.pool().acquire().await.unwrap();
    let groups = load_batch(
        &mut conn,
        Selection::Due {
            before: now() as i32 + 1,
            after: None,
            slice: ModSlice::ALL,
        },
        100,
    )
    .await
    .unwrap();
    assert_eq!(groups.len(), 2);

    // Between our read and our write, the scheduler touches job 1 (e.g. a result was reported).
    let touched = now() - 1;
    sqlx::query("UPDATE workunit SET transition_time = ? WHERE id = 1")
        .bind(touched)
        .execute(p.pool())
        .await
        .unwrap();
    let before_write = now();
    let report = t.handle_batch(&mut conn, groups).await.unwrap();
    assert_eq!(report.written.results_created, 4);

    // Job 2 gets the planned safety-net time; job 1 is set to "now" so the next pass looks at
    // it again, instead of getting the value computed from stale data.
    let tt1 = transition_time(p.pool(), 1).await;
    let tt2 = transition_time(p.pool(), 2).await;
    assert!(
        (before_write..=now()).contains(&tt1),
        "job 1: {tt1}, expected now ({before_write})"
    );
    assert!(tt2 >= before_write + 864_000, "job 2: {tt2}");

    // The next pass sees job 1 again, creates nothing more and settles it.
    tokio::time::sleep(Duration::from_millis(1100)).await;
    let report = t.pass(|| false).await.unwrap();
    assert_eq!(report.workunits, 1);
    assert_eq!(report.written.results_created, 0);
    assert!(transition_time(p.pool(), 1).await >= now() + 864_000 - 5);
    assert_eq!(result_count(p.pool()).await, 4);
}

#[tokio::test]
async fn a_result_reported_meanwhile_is_not_timed_out() {
    let p = Project::new("", false).await;
    let mut wu = WuSpec::fresh(1, "r1");
    wu.target_nresults = 1;
    wu.min_quorum = 1;
    insert_workunits(p.pool(), &[wu]).await;
    let mut late = ResultSpec::returned(1, 1, "r1", 0, 1);
    late.server_state = 4; // IN_PROGRESS, past its deadline
    late.outcome = 0;
    late.report_deadline = now() - 100;
    late.received_time = 0;
    insert_results(p.pool(), &[late]).await;

    let t = transitioner(&p);
    let mut conn = p.pool().acquire().await.unwrap();
    let groups = load_batch(
        &mut conn,
        Selection::Due {
            before: now() as i32 + 1,
            after: None,
            slice: ModSlice::ALL,
        },
        100,
    )
    .await
    .unwrap();
    // The client reports just before the deadline is acted on.
    sqlx::query("UPDATE result SET server_state = 5, outcome = 1, received_time = ? WHERE id = 1")
        .bind(now())
        .execute(p.pool())
        .await
        .unwrap();
    sqlx::query("UPDATE workunit SET transition_time = ? WHERE id = 1")
        .bind(now())
        .execute(p.pool())
        .await
        .unwrap();
    let report = t.handle_batch(&mut conn, groups).await.unwrap();
    assert_eq!(report.written.results_skipped, 1);
    let (state, outcome): (i32, i32) =
        sqlx::query_as("SELECT server_state, outcome FROM result WHERE id = 1")
            .fetch_one(p.pool())
            .await
            .unwrap();
    assert_eq!((state, outcome), (5, 1), "the reported success survives");
    assert!(transition_time(p.pool(), 1).await <= now(), "job due again");
}

#[tokio::test]
async fn drain_handles_every_batch_and_one_pass_only_one_as_the_cpp_transitioner() {
    let p = Project::new("", false).await;
    let wus: Vec<_> = (1..=250)
        .map(|i| WuSpec::fresh(i, &format!("b{i}")))
        .collect();
    insert_workunits(p.pool(), &wus).await;
    // --one_pass: one batch (the C++ transitioner's one pass is one query of 1000 rows).
    let out = p.run("transitioner", &["--one_pass", "--batch", "40", "-d", "3"]);
    assert!(out.status.success());
    let handled: i64 = sqlx::query_scalar("SELECT COUNT(DISTINCT workunitid) FROM result")
        .fetch_one(p.pool())
        .await
        .unwrap();
    assert_eq!(handled, 40, "--one_pass handled exactly one batch");
    // --drain: everything due, batch after batch.
    let out = p.run("transitioner", &["--drain", "--batch", "40", "-d", "3"]);
    assert!(out.status.success());
    let per_wu: Vec<(i64, i64)> = sqlx::query_as(
        "SELECT w.id, COUNT(r.id) FROM workunit w LEFT JOIN result r ON r.workunitid = w.id \
         GROUP BY w.id ORDER BY w.id",
    )
    .fetch_all(p.pool())
    .await
    .unwrap();
    assert_eq!(per_wu.len(), 250);
    assert!(per_wu.iter().all(|(_, n)| *n == 2), "{per_wu:?}");
    // A second pass finds nothing due.
    let report = transitioner(&p).pass(|| false).await.unwrap();
    assert_eq!(report.workunits, 0);
}

/// The `wu_id=` values of the log lines saying results were created.
fn generated_for(log: &str) -> BTreeSet<i64> {
    log.lines()
        .filter(|l| l.contains("workunit transitioned") && l.contains("created "))
        .filter_map(|l| {
            let at = l.find("wu_id=")? + 6;
            let digits: String = l[at..].chars().take_while(char::is_ascii_digit).collect();
            digits.parse().ok()
        })
        .collect()
}

#[tokio::test]
async fn two_transitioners_with_mod_2_split_the_work_without_overlap() {
    let p = Project::new("", false).await;
    let n = 600;
    let wus: Vec<_> = (1..=n)
        .map(|i| WuSpec::fresh(i, &format!("m{i}")))
        .collect();
    insert_workunits(p.pool(), &wus).await;
    let even = p.spawn(
        "transitioner",
        &["--drain", "--mod", "2", "0", "--batch", "25"],
    );
    let odd = p.spawn(
        "transitioner",
        &["--drain", "--mod", "2", "1", "--batch", "25"],
    );
    let even = even.wait_with_output().unwrap();
    let odd = odd.wait_with_output().unwrap();
    assert!(
        even.status.success(),
        "{}",
        String::from_utf8_lossy(&even.stderr)
    );
    assert!(
        odd.status.success(),
        "{}",
        String::from_utf8_lossy(&odd.stderr)
    );
    let even_ids = generated_for(&String::from_utf8_lossy(&even.stderr));
    let odd_ids = generated_for(&String::from_utf8_lossy(&odd.stderr));
    assert!(even_ids.iter().all(|id| id % 2 == 0));
    assert!(odd_ids.iter().all(|id| id % 2 == 1));
    assert!(even_ids.is_disjoint(&odd_ids));
    let all: BTreeSet<i64> = even_ids.union(&odd_ids).copied().collect();
    assert_eq!(all, (1..=n).collect::<BTreeSet<_>>());
    // Each job got exactly its two results.
    let counts: Vec<i64> =
        sqlx::query_scalar("SELECT COUNT(*) FROM result GROUP BY workunitid ORDER BY workunitid")
            .fetch_all(p.pool())
            .await
            .unwrap();
    assert_eq!(counts.len() as i64, n);
    assert!(counts.iter().all(|c| *c == 2));
}

#[tokio::test]
async fn created_results_carry_valid_upload_signatures() {
    let p = Project::new("", true).await;
    insert_workunits(p.pool(), &[WuSpec::fresh(1, "s1"), WuSpec::fresh(2, "s2")]).await;
    p.run("transitioner", &["--drain"]);
    let key = PublicKey::read_file(&p.root.join("keys/upload_public")).unwrap();
    let docs: Vec<(String, String)> =
        sqlx::query_as("SELECT name, CAST(xml_doc_in AS CHAR) FROM result ORDER BY id")
            .fetch_all(p.pool())
            .await
            .unwrap();
    assert_eq!(docs.len(), 4);
    for (name, doc) in &docs {
        let info = xml::raw_element(doc, "file_info").unwrap();
        let file = xml::text(info, "name").unwrap();
        assert!(file.starts_with(&format!("{name}_r")), "{file}");
        let max = xml::raw_element(info, "max_nbytes").unwrap();
        let sig = xml::raw_element(info, "xml_signature").unwrap();
        assert_eq!(verify_upload(&key, &file, max, sig).unwrap(), 5_000_000.0);
        // The signature covers the name and the size limit.
        assert!(verify_upload(&key, &format!("{file}x"), max, sig).is_err());
        assert!(verify_upload(&key, &file, "5000001", sig).is_err());
        // Same layout as the stock transitioner's signed results.
        assert!(doc.contains("</url>\n    <xml_signature>\n"), "{doc}");
        assert!(doc.contains(".\n</xml_signature>\n</file_info>"), "{doc}");
    }
}

#[tokio::test]
async fn a_missing_template_skips_only_that_workunit() {
    let p = Project::new("", false).await;
    insert_workunits(
        p.pool(),
        &[WuSpec::fresh(1, "ok1"), WuSpec::fresh(2, "bad2")],
    )
    .await;
    sqlx::query("UPDATE workunit SET result_template_file = 'templates/nope' WHERE id = 2")
        .execute(p.pool())
        .await
        .unwrap();
    let out = p.run("transitioner", &["--drain"]);
    let log = String::from_utf8_lossy(&out.stderr);
    assert!(log.contains("cannot create results"), "{log}");
    let names: Vec<String> = sqlx::query_scalar("SELECT name FROM result ORDER BY name")
        .fetch_all(p.pool())
        .await
        .unwrap();
    assert_eq!(names, ["ok1_0", "ok1_1"]);
    assert!(
        transition_time(p.pool(), 2).await < now(),
        "job 2 left as it was"
    );
}

/// The state of a project after the transitioner, without what differs between two runs of the
/// same work (random numbers, auto-increment ids, the second the run happened).
async fn normalised_state(pool: &MySqlPool) -> (Vec<Vec<String>>, BTreeMap<String, Vec<String>>) {
    let columns = format!(
        "name, need_validate, error_mask, file_delete_state, assimilate_state, hr_class, \
         IF(transition_time = 2147483647, 'NEVER', ROUND((transition_time - {}) / 1000))",
        now()
    );
    let wus = dump(pool, &columns, "workunit", "id").await;
    let rows = dump(
        pool,
        "name, server_state, outcome, validate_state, file_delete_state, priority, hostid, \
         REGEXP_REPLACE(CAST(xml_doc_in AS CHAR), '_r[0-9]+_', '_r<R>_')",
        "result",
        "name",
    )
    .await;
    let results = rows.into_iter().map(|r| (r[0].clone(), r)).collect();
    (wus, results)
}

#[tokio::test]
async fn sigkill_in_the_middle_of_a_pass_then_restart_equals_an_uninterrupted_run() {
    let n = 3000;
    let setup = |p: &Project| {
        let pool = p.pool().clone();
        async move {
            let wus: Vec<_> = (1..=n)
                .map(|i| WuSpec::fresh(i, &format!("k{i}")))
                .collect();
            insert_workunits(&pool, &wus).await;
            // Every 10th job also has a result that has timed out (a replacement is made).
            let late: Vec<_> = (1..=n)
                .filter(|i| i % 10 == 0)
                .map(|i| {
                    let mut r = ResultSpec::returned(i, i, &format!("k{i}"), 0, 1 + i % 3);
                    r.server_state = 4;
                    r.outcome = 0;
                    r.received_time = 0;
                    r.report_deadline = now() - 100;
                    r
                })
                .collect();
            insert_results(&pool, &late).await;
        }
    };
    let whole = Project::new("", false).await;
    setup(&whole).await;
    let killed = Project::new("", false).await;
    setup(&killed).await;

    whole.run("transitioner", &["--drain", "--batch", "25"]);

    let mut child = killed.spawn("transitioner", &["--drain", "--batch", "25"]);
    let started = Instant::now();
    let initial = result_count(killed.pool()).await;
    loop {
        let count = result_count(killed.pool()).await;
        if count >= initial + 200 {
            break;
        }
        assert!(
            started.elapsed() < Duration::from_secs(60),
            "the transitioner made no progress"
        );
        tokio::time::sleep(Duration::from_millis(5)).await;
    }
    child.kill().unwrap(); // SIGKILL
    child.wait().unwrap();
    let at_kill = result_count(killed.pool()).await;
    // Each job ends with two fresh results (plus its timed-out one, counted in `initial`).
    let total = initial + 2 * n;
    assert!(
        at_kill < total,
        "the pass had already finished ({at_kill} of {total} results): the kill came too late"
    );
    killed.run("transitioner", &["--drain", "--batch", "25"]);

    let (w1, r1) = normalised_state(whole.pool()).await;
    let (w2, r2) = normalised_state(killed.pool()).await;
    assert_eq!(r1.len() as i64, total);
    assert_eq!(w1, w2);
    assert_eq!(r1, r2);
    // Host statistics: the timeout penalties were applied once each.
    let hav = "host_id, app_version_id, turnaround_n, turnaround_avg, max_jobs_per_day";
    assert_eq!(
        dump(whole.pool(), hav, "host_app_version", "host_id").await,
        dump(killed.pool(), hav, "host_app_version", "host_id").await
    );
}

#[tokio::test]
async fn wu_id_handles_one_workunit_due_or_not() {
    let p = Project::new("", false).await;
    let mut later = WuSpec::fresh(2, "later");
    later.transition_time = now() + 3600; // not due
    insert_workunits(p.pool(), &[WuSpec::fresh(1, "due"), later]).await;
    p.run("transitioner", &["--wu_id", "2"]);
    let names: Vec<String> = sqlx::query_scalar("SELECT name FROM result ORDER BY name")
        .fetch_all(p.pool())
        .await
        .unwrap();
    assert_eq!(names, ["later_0", "later_1"]);
}

/// One INFO line per workunit the transitioner changes, with `wu_id` and `app`: in text, and
/// in JSON (`--log-format json`) as top-level keys of the object; nothing at `-d 2`.
#[tokio::test]
async fn each_changed_workunit_gets_one_info_line_in_text_and_json() {
    let p = Project::new("", false).await;
    insert_workunits(p.pool(), &[WuSpec::fresh(1, "l1"), WuSpec::fresh(2, "l2")]).await;
    let out = p.run(
        "transitioner",
        &["--one_pass", "-d", "3", "--log-format", "json"],
    );
    let lines: Vec<serde_json::Value> = String::from_utf8_lossy(&out.stderr)
        .lines()
        .map(|l| serde_json::from_str(l).unwrap_or_else(|e| panic!("not JSON: {l}: {e}")))
        .collect();
    let changed: Vec<&serde_json::Value> = lines
        .iter()
        .filter(|l| l["message"] == "workunit transitioned")
        .collect();
    assert_eq!(changed.len(), 2, "{lines:#?}");
    for (line, wu_id) in changed.iter().zip([1, 2]) {
        assert_eq!(line["level"], "INFO");
        assert_eq!(line["wu_id"], wu_id, "top-level wu_id: {line}");
        assert_eq!(line["app"], "mnist");
        assert_eq!(line["changes"], "created 2 results");
    }

    // The next pass changes nothing: no line. A new job in text format: one line.
    insert_workunits(p.pool(), &[WuSpec::fresh(3, "l3")]).await;
    let out = p.run("transitioner", &["--one_pass", "-d", "3"]);
    let text = String::from_utf8_lossy(&out.stderr);
    let changed: Vec<&str> = text
        .lines()
        .filter(|l| l.contains("workunit transitioned"))
        .collect();
    assert_eq!(changed.len(), 1, "{text}");
    assert!(
        changed[0].contains(" INFO ")
            && changed[0].contains("wu_id=3 app=mnist changes=created 2 results"),
        "{text}"
    );

    // At -d 2 (warnings) the transitioner is silent on the normal path.
    insert_workunits(p.pool(), &[WuSpec::fresh(4, "l4")]).await;
    let out = p.run("transitioner", &["--one_pass", "-d", "2"]);
    assert_eq!(String::from_utf8_lossy(&out.stderr), "");
}
