//! `script_validator` on MariaDB with real scripts: scripts that agree, disagree, fail, crash,
//! hang and print junk; BOINC's argument words; unknown flags passed on; no shell between the
//! daemon and the script.

mod transitioner_support;

use std::fs;
use std::os::unix::fs::PermissionsExt;
use std::time::{Duration, Instant};

use sqlx::MySqlPool;
use transitioner_support::{
    Project, ResultSpec, WuSpec, insert_results, insert_workunits, metrics_json, now,
};

const INIT: i32 = 0;
const VALID: i32 = 1;
const INVALID: i32 = 2;
const INCONCLUSIVE: i32 = 4;
const SUCCESS: i32 = 1;
const VALIDATE_ERROR: i32 = 6;

/// Writes an executable shell script `name` into the project's `bin/`.
fn script(p: &Project, name: &str, body: &str) {
    let bin = p.root.join("bin");
    fs::create_dir_all(&bin).unwrap();
    let path = bin.join(name);
    fs::write(&path, format!("#!/bin/sh\n{body}\n")).unwrap();
    fs::set_permissions(&path, fs::Permissions::from_mode(0o755)).unwrap();
}

/// Job `id` with two returned results (ids 2id-1, 2id, hosts 1 and 2) whose output files hold
/// `a` and `b`.
async fn job(p: &Project, id: i64, a: &str, b: &str) -> [ResultSpec; 2] {
    let name = format!("s{id}");
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
    results
}

async fn states(pool: &MySqlPool, wu: i64) -> Vec<(i32, i32)> {
    sqlx::query_as("SELECT outcome, validate_state FROM result WHERE workunitid = ? ORDER BY id")
        .bind(wu)
        .fetch_all(pool)
        .await
        .unwrap()
}

async fn canonical_and_transition(pool: &MySqlPool, wu: i64) -> (i64, i64) {
    sqlx::query_as("SELECT canonical_resultid, transition_time FROM workunit WHERE id = ?")
        .bind(wu)
        .fetch_one(pool)
        .await
        .unwrap()
}

fn validate(p: &Project, extra: &[&str]) -> String {
    let mut args = vec!["--app", "mnist", "--one_pass", "-d", "3"];
    args.extend_from_slice(extra);
    let out = p.run("script_validator", &args);
    String::from_utf8_lossy(&out.stderr).into_owned()
}

#[tokio::test]
async fn compare_scripts_that_agree_and_disagree() {
    let p = Project::new("", false).await;
    script(
        &p,
        "same",
        r#"cmp -s "$1" "$2" || { echo "$1 and $2 differ"; exit 1; }"#,
    );
    let doc = metrics_json(0.9, 1);
    job(&p, 1, &doc, &doc).await;
    job(&p, 2, &doc, &metrics_json(0.95, 1)).await;
    let log = validate(&p, &["--compare_script", "same"]);
    assert_eq!(
        states(p.pool(), 1).await,
        [(SUCCESS, VALID), (SUCCESS, VALID)]
    );
    assert_eq!(canonical_and_transition(p.pool(), 1).await.0, 1);
    assert_eq!(
        states(p.pool(), 2).await,
        [(SUCCESS, INCONCLUSIVE), (SUCCESS, INCONCLUSIVE)]
    );
    let line = log
        .lines()
        .find(|l| l.contains("results disagree"))
        .unwrap_or_else(|| panic!("no disagreement logged:\n{log}"));
    for part in [
        "wu_id=2",
        "result_a=3",
        "result_b=4",
        "host_a=1",
        "host_b=2",
        "detail=compare script: exit status 1, printed: ",
        " differ",
    ] {
        assert!(line.contains(part), "{part} missing in: {line}");
    }
    assert!(
        !log.contains("WARN"),
        "a normal run is warning-free:\n{log}"
    );
}

#[tokio::test]
async fn init_script_words_failures_crashes_and_junk() {
    let p = Project::new("", false).await;
    // The init script gets BOINC's words; it records them, prints junk, and fails on
    // results whose file says so.
    script(
        &p,
        "check",
        r#"echo "$@" >> "$BOINC_PROJECT_DIR/init_args"
head -c 100000 /dev/zero | tr '\0' 'j'
case "$(cat "$1")" in
  bad) exit 1 ;;
  crash) kill -SEGV $$ ;;
  *) exit 0 ;;
esac"#,
    );
    let ok = job(&p, 1, "good", "good").await;
    job(&p, 2, "good", "bad").await;
    job(&p, 3, "crash", "good").await;
    let log = validate(&p, &["--init_script", "check files result_id runtime"]);
    assert_eq!(
        states(p.pool(), 1).await,
        [(SUCCESS, VALID), (SUCCESS, VALID)]
    );
    // Job 2: one result is invalid, and the other alone is no quorum.
    assert_eq!(
        states(p.pool(), 2).await,
        [(SUCCESS, INCONCLUSIVE), (VALIDATE_ERROR, INVALID)]
    );
    assert_eq!(
        states(p.pool(), 3).await,
        [(VALIDATE_ERROR, INVALID), (SUCCESS, INCONCLUSIVE)]
    );
    let args = fs::read_to_string(p.root.join("init_args")).unwrap();
    let first = format!("{} 1 100.000000", p.upload_path(&ok[0].output).display());
    assert!(args.lines().any(|l| l == first), "{first} not in:\n{args}");
    // The failure names the result, the script, its status and the start of its output,
    // cut to a bounded size.
    let failed = log
        .lines()
        .find(|l| l.contains("result_id=4") && l.contains("exited with status 1"))
        .unwrap_or_else(|| panic!("no failure line for result 4:\n{log}"));
    assert!(
        failed.contains("bin/check") && failed.contains("jjjj"),
        "{failed}"
    );
    assert!(
        failed.len() < 6000,
        "the output is cut: {} bytes",
        failed.len()
    );
    assert!(
        log.lines()
            .any(|l| l.contains("result_id=5") && l.contains("killed by signal 11")),
        "{log}"
    );
}

#[tokio::test]
async fn a_hanging_script_is_killed_and_the_job_retried_later() {
    let p = Project::new("", false).await;
    script(&p, "hang", "sleep 600");
    job(&p, 1, "a", "a").await;
    let before = now();
    let started = Instant::now();
    let log = validate(&p, &["--init_script", "hang", "--script_timeout", "1"]);
    assert!(
        started.elapsed() < Duration::from_secs(30),
        "the daemon went on"
    );
    assert_eq!(
        states(p.pool(), 1).await,
        [(SUCCESS, INIT), (SUCCESS, INIT)]
    );
    let (canonical, tt) = canonical_and_transition(p.pool(), 1).await;
    assert_eq!(canonical, 0);
    assert!(
        (before + 6 * 3600..=now() + 6 * 3600).contains(&tt),
        "retry in 6 hours, got {}",
        tt - before
    );
    assert!(log.contains("ran longer than 1 s and was killed"), "{log}");
    // Exit status 3 is BOINC's "transient error": the same.
    let q = Project::new("", false).await;
    script(&q, "busy", "exit 3");
    job(&q, 1, "a", "a").await;
    validate(&q, &["--compare_script", "busy"]);
    assert_eq!(
        states(q.pool(), 1).await,
        [(SUCCESS, INIT), (SUCCESS, INIT)]
    );
    assert_eq!(canonical_and_transition(q.pool(), 1).await.0, 0);
}

#[tokio::test]
async fn missing_outputs_are_the_results_error_and_file_names_never_reach_a_shell() {
    let p = Project::new("", false).await;
    script(&p, "same", r#"exec cmp -s "$1" "$2""#);
    // A file name with shell syntax in it.
    let name = "s1";
    let mut wu = WuSpec::fresh(1, name);
    wu.need_validate = 1;
    wu.transition_time = now() + 864_000;
    insert_workunits(p.pool(), &[wu]).await;
    let mut a = ResultSpec::returned(1, 1, name, 0, 1);
    a.output = "s1_0;touch INJECTED;_0".into();
    let b = ResultSpec::returned(2, 1, name, 1, 2);
    let c = ResultSpec::returned(3, 1, name, 2, 3);
    fs::write(p.upload_path(&a.output), "x").unwrap();
    fs::write(p.upload_path(&b.output), "x").unwrap();
    // c's file never arrived.
    insert_results(p.pool(), &[a, b, c.clone()]).await;
    sqlx::query("UPDATE workunit SET target_nresults = 3")
        .execute(p.pool())
        .await
        .unwrap();
    let log = validate(&p, &["--compare_script", "same", "--project_option", "7"]);
    assert_eq!(
        states(p.pool(), 1).await,
        [
            (SUCCESS, VALID),
            (SUCCESS, VALID),
            (VALIDATE_ERROR, INVALID)
        ]
    );
    // The name reached `cmp` as one argument (the pair agreed), and nothing ran it.
    assert!(!std::env::current_dir().unwrap().join("INJECTED").exists());
    let missing = p.upload_path(&c.output);
    assert!(
        log.lines()
            .any(|l| l.contains("result_id=3") && l.contains(&missing.display().to_string())),
        "the missing file is named:\n{log}"
    );
    // The unknown flag reached the plug-in, which did not use it.
    assert!(
        log.lines()
            .any(|l| l.contains("WARN") && l.contains("--project_option")),
        "{log}"
    );
}

#[tokio::test]
async fn bad_script_flags_stop_the_daemon_at_start() {
    let p = Project::new("", false).await;
    script(&p, "same", "exit 0");
    for (args, expected) in [
        (vec![], "--init_script or --compare_script"),
        (vec!["--init_script", "nothere"], "no such program"),
        (
            vec!["--compare_script", "same files3"],
            "unknown word \"files3\"",
        ),
    ] {
        let mut all = vec!["--app", "mnist", "--one_pass"];
        all.extend(args);
        let out = p.command("script_validator", &all).output().unwrap();
        let err = String::from_utf8_lossy(&out.stderr);
        assert!(!out.status.success(), "{all:?} started");
        assert!(err.contains(expected), "{all:?}: {err}");
    }
}
