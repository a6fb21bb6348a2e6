//! file_deleter on MariaDB, beyond the oracle: batches, `--mod`, the ERROR retry, path tricks
//! in names, the input/output-only flags, and a SIGKILL in the middle of a pass.

mod finished_jobs;

use std::fs;
use std::time::Duration;

use finished_jobs::{FANOUT, Project, Stage, input_name, output_name};
use rboinc_core::hier;

const READY: i64 = 1;
const DONE: i64 = 2;
const ERROR: i64 = 3;

async fn result_states(p: &Project) -> Vec<(i64, i32)> {
    sqlx::query_as("SELECT id, file_delete_state FROM result ORDER BY id")
        .fetch_all(p.pool())
        .await
        .unwrap()
}

#[tokio::test]
async fn batches_delete_every_file_and_record_done() {
    let p = Project::new().await;
    p.load(1, 23, Stage::DeleteFiles).await;
    assert_eq!(p.snapshot().await.files.len(), 23 * 4);
    p.run(
        "file_deleter",
        &[
            "--drain",
            "--results_per_query",
            "7",
            "--wus_per_query",
            "4",
        ],
    );
    let snap = p.snapshot().await;
    assert!(snap.files.is_empty(), "{:?}", snap.files.keys());
    assert_eq!(p.count_wus("file_delete_state", DONE).await, 23);
    assert!(result_states(&p).await.iter().all(|&(_, s)| s == 2));
}

#[tokio::test]
async fn mod_and_input_output_only_select_rows() {
    let p = Project::new().await;
    p.load(1, 10, Stage::DeleteFiles).await;
    p.run(
        "file_deleter",
        &["--drain", "--mod", "2", "0", "--output_files_only"],
    );
    assert_eq!(
        p.count_wus("file_delete_state", READY).await,
        10,
        "no workunit touched"
    );
    for (id, state) in result_states(&p).await {
        assert_eq!(state, if id % 2 == 0 { 2 } else { 1 }, "result {id}");
        let wu = (id as u64).div_ceil(2);
        let name = output_name(wu, (id as u64 + 1) % 2, id as u64);
        let path = hier::dir_hier_path(&p.root.join("upload"), &name, FANOUT).unwrap();
        assert_eq!(path.exists(), id % 2 == 1, "{}", path.display());
    }
    p.run("file_deleter", &["--drain", "--input_files_only"]);
    assert_eq!(p.count_wus("file_delete_state", DONE).await, 10);
    let odd_results = result_states(&p).await.iter().filter(|r| r.1 == 1).count();
    assert_eq!(odd_results, 10, "results untouched by --input_files_only");
}

#[tokio::test]
async fn a_missing_directory_is_an_error_retried_until_it_is_back() {
    let p = Project::new().await;
    p.load(1, 3, Stage::DeleteFiles).await;
    // w2's input directory disappears (an unmounted disk, say).
    let input = hier::dir_hier_path(&p.root.join("download"), &input_name(2), FANOUT).unwrap();
    let dir = input.parent().unwrap().to_path_buf();
    let moved = p.root.join("moved_away");
    fs::rename(&dir, &moved).unwrap();
    p.run("file_deleter", &["--drain"]);
    let wus: Vec<(i64, i32)> =
        sqlx::query_as("SELECT id, file_delete_state FROM workunit ORDER BY id")
            .fetch_all(p.pool())
            .await
            .unwrap();
    assert_eq!(wus[1], (2, ERROR as i32), "{wus:?}");
    // (Another workunit whose input hashes to the same directory fails with it.)
    let sharing = [1, 3]
        .iter()
        .filter(|&&i| hash(&input_name(i)) == hash(&input_name(2)))
        .count();
    assert_eq!(
        p.count_wus("file_delete_state", ERROR).await,
        1 + sharing as i64
    );
    // Still missing: a run with --dont_retry_errors leaves it, a normal run retries in vain.
    p.run("file_deleter", &["--drain", "--dont_retry_errors"]);
    assert_eq!(
        p.count_wus("file_delete_state", ERROR).await,
        1 + sharing as i64
    );
    // The directory is back: the next start retries ERROR rows and deletes the file.
    fs::rename(&moved, &dir).unwrap();
    assert!(input.exists());
    p.run("file_deleter", &["--drain"]);
    assert_eq!(p.count_wus("file_delete_state", DONE).await, 3);
    assert!(!input.exists());
    assert!(!std::path::Path::new(&format!("{}.md5", input.display())).exists());
}

fn hash(name: &str) -> Option<String> {
    hier::hash_dir(name.as_bytes(), FANOUT)
}

#[tokio::test]
async fn names_that_point_outside_the_hierarchy_are_refused() {
    let p = Project::new().await;
    p.load(1, 2, Stage::DeleteFiles).await;
    let victim = p.root.join("config.xml");
    let before = fs::read(&victim).unwrap();
    // Forged names in a result's and a workunit's XML.
    sqlx::query(
        "UPDATE result SET xml_doc_in = '<file_info><name>../../config.xml</name></file_info>' \
         WHERE id = 1",
    )
    .execute(p.pool())
    .await
    .unwrap();
    sqlx::query(
        "UPDATE workunit SET xml_doc = '<file_info><name>../config.xml</name></file_info>\
         <file_info><name>/etc/hostname</name></file_info>' WHERE id = 1",
    )
    .execute(p.pool())
    .await
    .unwrap();
    let out = p.run("file_deleter", &["--drain"]);
    let log = String::from_utf8_lossy(&out.stderr);
    assert!(log.contains("refusing"), "{log}");
    assert_eq!(fs::read(&victim).unwrap(), before);
    assert_eq!(result_states(&p).await[0], (1, ERROR as i32));
    assert_eq!(p.count_wus("file_delete_state", ERROR).await, 1);
    assert_eq!(p.count_wus("file_delete_state", DONE).await, 1);
}

#[tokio::test]
async fn xml_doc_like_and_dry_run() {
    let p = Project::new().await;
    p.load(1, 12, Stage::DeleteFiles).await;
    p.run(
        "file_deleter",
        &[
            "--drain",
            "--input_files_only",
            "--xml_doc_like",
            "%<name>w1_in</name>%",
        ],
    );
    assert_eq!(p.count_wus("file_delete_state", DONE).await, 1);
    p.run("file_deleter", &["--drain", "--dry_run"]);
    assert_eq!(p.count_wus("file_delete_state", READY).await, 11);
    assert!(p.snapshot().await.files.is_empty(), "files deleted");
}

#[tokio::test]
async fn sigkill_mid_pass_then_restart_equals_an_uninterrupted_run() {
    const N: u64 = 300;
    let killed = Project::new().await;
    let clean = Project::new().await;
    for p in [&killed, &clean] {
        p.load(1, N, Stage::DeleteFiles).await;
    }
    let args = ["--results_per_query", "8", "--wus_per_query", "4"];
    let mut child = killed.spawn("file_deleter", &args);
    // Results come first: kill while they are being done.
    let done_results = async |p: &Project| {
        sqlx::query_scalar::<_, i64>("SELECT COUNT(*) FROM result WHERE file_delete_state = 2")
            .fetch_one(p.pool())
            .await
            .unwrap()
    };
    let started = finished_jobs::wait_until(Duration::from_secs(60), async || {
        done_results(&killed).await >= (N / 100) as i64
    })
    .await;
    child.kill().unwrap();
    child.wait().unwrap();
    assert!(started, "the daemon made no progress");
    let done_at_kill = done_results(&killed).await;
    eprintln!("killed with {done_at_kill} of {} results done", 2 * N);
    assert!(
        done_at_kill < 2 * N as i64,
        "the pass ended before the kill"
    );

    let mut one_pass = args.to_vec();
    one_pass.push("--drain");
    killed.run("file_deleter", &one_pass);
    clean.run("file_deleter", &one_pass);
    let (a, b) = (killed.snapshot().await, clean.snapshot().await);
    assert_eq!(a, b);
    assert!(a.files.is_empty());
    assert_eq!(killed.count_wus("file_delete_state", DONE).await, N as i64);
}

/// The mnist app's `weights.npy` is an `<optional/>` output a client may never upload: its
/// absence (even with no hash directory) is normal — the row is DONE, nothing is logged above
/// INFO, and the row's one INFO line counts it as `not_uploaded`, with `result_id`, `wu_id` and
/// `app` at the top level of the JSON object.
#[tokio::test]
async fn an_optional_output_never_uploaded_is_done_quietly() {
    let p = Project::new().await;
    p.load(1, 1, Stage::DeleteFiles).await;
    sqlx::query(
        "UPDATE result SET xml_doc_in = REPLACE(CONCAT('<file_info>\\n    <name>w1_weights</name>\\n\
         </file_info>\\n', xml_doc_in), '</result>', '    <file_ref>\\n        \
         <file_name>w1_weights</file_name>\\n        <open_name>weights.npy</open_name>\\n        \
         <optional/>\\n    </file_ref>\\n</result>') WHERE id = 1",
    )
    .execute(p.pool())
    .await
    .unwrap();
    let app: String = sqlx::query_scalar(
        "SELECT name FROM app WHERE id = (SELECT appid FROM result WHERE id = 1)",
    )
    .fetch_one(p.pool())
    .await
    .unwrap();

    assert!(!app.is_empty());
    let out = p.run("file_deleter", &["--one_pass", "--log-format", "json"]);
    let lines: Vec<serde_json::Value> = String::from_utf8_lossy(&out.stderr)
        .lines()
        .map(|l| serde_json::from_str(l).unwrap_or_else(|e| panic!("not JSON: {l}: {e}")))
        .collect();
    assert!(
        lines
            .iter()
            .all(|l| l["level"] != "WARN" && l["level"] != "ERROR"),
        "{lines:#?}"
    );
    assert!(
        result_states(&p)
            .await
            .iter()
            .all(|&(_, s)| s == DONE as i32)
    );
    assert_eq!(p.count_wus("file_delete_state", DONE).await, 1);
    let row = |message: &str, key: &str, id: i64| {
        lines
            .iter()
            .find(|l| l["message"] == message && l[key] == id)
            .unwrap_or_else(|| panic!("no {message:?} line with {key} = {id}: {lines:#?}"))
            .clone()
    };
    let first = row("output files deleted", "result_id", 1);
    assert_eq!(first["wu_id"], 1);
    assert_eq!(first["app"], app.as_str());
    assert_eq!(first["deleted"], 1);
    assert_eq!(first["not_uploaded"], 1);
    assert_eq!(
        row("output files deleted", "result_id", 2)["not_uploaded"],
        0
    );
    let input = row("input files deleted", "wu_id", 1);
    assert_eq!(input["app"], app.as_str());
}

#[tokio::test]
async fn one_pass_reads_one_batch_of_each_as_the_cpp_file_deleter() {
    let p = Project::new().await;
    p.load(1, 23, Stage::DeleteFiles).await;
    let args = ["--results_per_query", "7", "--wus_per_query", "4"];
    let mut one = args.to_vec();
    one.push("--one_pass");
    p.run("file_deleter", &one);
    let results_done: i64 =
        sqlx::query_scalar("SELECT COUNT(*) FROM result WHERE file_delete_state = 2")
            .fetch_one(p.pool())
            .await
            .unwrap();
    assert_eq!(results_done, 7, "one query of results");
    assert_eq!(
        p.count_wus("file_delete_state", DONE).await,
        4,
        "one query of workunits"
    );
    let mut drain = args.to_vec();
    drain.push("--drain");
    p.run("file_deleter", &drain);
    assert_eq!(p.count_wus("file_delete_state", DONE).await, 23);
    assert!(p.snapshot().await.files.is_empty());
}

/// Whether the file of workunit `id`'s input, or of result `rid`'s output, is on disk.
fn input_exists(p: &Project, id: u64) -> bool {
    hier::dir_hier_path(&p.root.join("download"), &input_name(id), FANOUT)
        .unwrap()
        .exists()
}

fn output_exists(p: &Project, id: u64, k: u64) -> bool {
    let name = output_name(id, k, 2 * id - 1 + k);
    hier::dir_hier_path(&p.root.join("upload"), &name, FANOUT)
        .unwrap()
        .exists()
}

/// BOINC's transitioner marks files READY only once a workunit is assimilated and all its
/// results are over; the file deleter holds to that even when a row's state says otherwise:
/// a workunit with a result unsent or in progress keeps its input (a client may still
/// download it), and the canonical result of a workunit not yet assimilated keeps its output
/// (the assimilator reads it). Once the job is done, they go.
#[tokio::test]
async fn files_a_live_result_or_workunit_still_needs_are_never_deleted() {
    let p = Project::new().await;
    p.load(1, 4, Stage::DeleteFiles).await;
    let pool = p.pool();
    // Workunit 1: its second result is in progress again (a reissue sent).
    sqlx::query("UPDATE result SET server_state = 4 WHERE id = 2")
        .execute(pool)
        .await
        .unwrap();
    // Workunit 2: not assimilated yet; its canonical result is result 3.
    sqlx::query("UPDATE workunit SET assimilate_state = 1 WHERE id = 2")
        .execute(pool)
        .await
        .unwrap();
    // Workunit 3: a result unsent.
    sqlx::query("UPDATE result SET server_state = 2 WHERE id = 6")
        .execute(pool)
        .await
        .unwrap();
    p.run("file_deleter", &["--drain"]);

    assert!(input_exists(&p, 1), "workunit 1 has a result in progress");
    assert!(input_exists(&p, 2), "workunit 2 is not assimilated");
    assert!(input_exists(&p, 3), "workunit 3 has an unsent result");
    assert!(!input_exists(&p, 4), "workunit 4 is done");
    assert!(
        output_exists(&p, 2, 0),
        "the canonical output awaits the assimilator"
    );
    assert!(
        !output_exists(&p, 2, 1),
        "the other result of workunit 2 is not needed"
    );
    for (id, k) in [(1, 0), (1, 1), (3, 0), (3, 1), (4, 0), (4, 1)] {
        assert!(!output_exists(&p, id, k), "result {k} of workunit {id}");
    }
    // The held rows stay READY, to be deleted when the job is done.
    let held: Vec<(i64,)> =
        sqlx::query_as("SELECT id FROM workunit WHERE file_delete_state = 1 ORDER BY id")
            .fetch_all(pool)
            .await
            .unwrap();
    assert_eq!(held, vec![(1,), (2,), (3,)]);
    assert_eq!(
        result_states(&p).await,
        vec![
            (1, 2),
            (2, 2),
            (3, 1),
            (4, 2),
            (5, 2),
            (6, 2),
            (7, 2),
            (8, 2)
        ]
    );

    // The jobs end: everything goes.
    sqlx::query("UPDATE result SET server_state = 5")
        .execute(pool)
        .await
        .unwrap();
    sqlx::query("UPDATE workunit SET assimilate_state = 2")
        .execute(pool)
        .await
        .unwrap();
    p.run("file_deleter", &["--drain"]);
    assert!(p.snapshot().await.files.is_empty());
    assert_eq!(p.count_wus("file_delete_state", DONE).await, 4);
}
