//! What goes wrong in volunteer computing, each with three stock BOINC clients on a project run
//! by the real binaries:
//! - a client dies holding a job: its result times out after the job's short delay bound and
//!   is reissued — to a host that has no result of that workunit;
//! - a client returns one wrong metric (an anonymous-platform `app_info.xml` runs a modified
//!   build that alters `val_acc` before upload): the validator rejects it, a third result goes
//!   to the third host, the series completes;
//! - the scheduler crashes in the middle of a series and is started again: clients retry,
//!   nothing is lost or done twice (this project validates with `script_validator` and a
//!   Python compare script instead of `validator --mode metrics`);
//! - a "black hole" (an anonymous-platform build that always exits with an error) is throttled
//!   by its daily quota, told so, while the other clients finish the series.

mod common;

use std::collections::BTreeSet;
use std::os::unix::fs::PermissionsExt;
use std::path::Path;
use std::time::Duration;

use common::{SmallSeries, Stack, Tuning, Volunteer, text, wait_output, wait_until};
use rboinc_core::state::{AssimilateState, Outcome, ServerState, ValidateState};

/// `(id, hostid, server_state, outcome, validate_state, app_version_id)` of every result.
type Row = (i64, i64, i32, i32, i32, i64);

async fn results(stack: &Stack) -> anyhow::Result<Vec<(String, Vec<Row>)>> {
    let wus: Vec<(i64, String)> =
        sqlx::query_as("SELECT CAST(id AS SIGNED), name FROM workunit ORDER BY id")
            .fetch_all(stack.db.pool())
            .await?;
    let mut out = vec![];
    for (id, name) in wus {
        let rows: Vec<Row> = sqlx::query_as(
            "SELECT CAST(id AS SIGNED), CAST(hostid AS SIGNED), server_state, outcome, \
             validate_state, CAST(app_version_id AS SIGNED) FROM result WHERE workunitid = ? \
             ORDER BY id",
        )
        .bind(id)
        .fetch_all(stack.db.pool())
        .await?;
        out.push((name, rows));
    }
    Ok(out)
}

async fn count(stack: &Stack, sql: &str) -> anyhow::Result<i64> {
    // Test-written SQL only.
    Ok(sqlx::query_scalar(sqlx::AssertSqlSafe(sql.to_string()))
        .fetch_one(stack.db.pool())
        .await?)
}

/// Every workunit of the series has a canonical result and is assimilated.
async fn all_assimilated(stack: &Stack, n: i64) -> anyhow::Result<()> {
    let done = count(
        stack,
        &format!(
            "SELECT COUNT(*) FROM workunit WHERE canonical_resultid <> 0 AND error_mask = 0 \
             AND assimilate_state = {}",
            AssimilateState::Done as i32
        ),
    )
    .await?;
    anyhow::ensure!(done == n, "{done} of {n} workunits assimilated");
    Ok(())
}

/// This file's small series: seed 777, 400 s to finish.
fn small_series<'a>(name: &'a str, rounds: usize, extra: &'a [&'a str]) -> SmallSeries<'a> {
    SmallSeries {
        name,
        rounds,
        base_seed: 777,
        timeout_secs: 400,
        extra,
    }
}

fn task_names(v: &Volunteer) -> Vec<String> {
    let out = v
        .cmd(&["--get_tasks"])
        .map(|o| String::from_utf8_lossy(&o.stdout).into_owned());
    out.unwrap_or_default()
        .lines()
        .filter_map(|l| l.trim().strip_prefix("name: ").map(str::to_string))
        .collect()
}

#[tokio::test(flavor = "multi_thread")]
async fn a_client_killed_holding_a_job_times_out_and_the_job_goes_to_another_host()
-> anyhow::Result<()> {
    let mut stack = Stack::start(Tuning::default()).await?;
    let mut a = Volunteer::start("a", |_| {}).await?;
    let b = Volunteer::start("b", |_| {}).await?;
    let c = Volunteer::start("c", |_| {}).await?;

    // One round, two replicas, 30 s to return a result.
    let series = stack.small_series(&small_series("killed", 1, &["--delay-bound", "30"]))?;
    a.attach(&stack.master_url, &stack.authenticator)?;
    // A dies as soon as it holds the job (downloading or running it): a crash mid-job.
    wait_until(
        Duration::from_secs(90),
        "client a receives a task",
        async || Ok((!task_names(&a).is_empty()).then_some(())),
        || a.log(),
    )
    .await?;
    a.kill_hard();
    b.attach(&stack.master_url, &stack.authenticator)?;
    c.attach(&stack.master_url, &stack.authenticator)?;

    let out = wait_output(series, Duration::from_secs(420)).await?;
    assert!(
        out.status.success(),
        "{}",
        stack.series_failure(&out, &[("b", &b), ("c", &c)])
    );
    all_assimilated(&stack, 1).await?;
    let rows = results(&stack).await?;
    let (name, rs) = &rows[0];
    assert_eq!(rs.len(), 3, "{name}: two replicas and one reissue: {rs:?}");
    let timed_out: Vec<&Row> = rs
        .iter()
        .filter(|r| r.3 == Outcome::NoReply as i32)
        .collect();
    assert_eq!(timed_out.len(), 1, "A's result timed out: {rs:?}");
    assert_eq!(timed_out[0].2, ServerState::Over as i32);
    let valid: Vec<&Row> = rs
        .iter()
        .filter(|r| r.3 == Outcome::Success as i32 && r.4 == ValidateState::Valid as i32)
        .collect();
    assert_eq!(valid.len(), 2, "{rs:?}");
    let hosts: BTreeSet<i64> = rs.iter().map(|r| r.1).collect();
    assert_eq!(
        hosts.len(),
        3,
        "the reissued result went to a host without a result of {name}: {rs:?}"
    );
    assert!(
        stack
            .root
            .join(format!("results/mnist/{name}/metrics.json"))
            .is_file(),
        "assimilated"
    );
    stack.stop()?;
    Ok(())
}

/// A volunteer's modified build: runs the real trainer, then changes `val_acc` in the output
/// before the client uploads it (the output's logical name is a link file in the slot).
fn tampering_wrapper(real_app: &Path) -> String {
    format!(
        "#!/bin/sh\n\"{}\" \"$@\"\nrc=$?\n[ $rc -eq 0 ] || exit $rc\n\
         out=$(sed -n 's|.*<soft_link>\\(.*\\)</soft_link>.*|\\1|p' metrics.json)\n\
         [ -n \"$out\" ] || out=metrics.json\n\
         sed -i 's/^  \"val_acc\": [0-9.eE+-]*/  \"val_acc\": 0.123456/' \"$out\"\nexit 0\n",
        real_app.display()
    )
}

const APP_INFO: &str = "<app_info>\n  <app>\n    <name>mnist</name>\n  </app>\n  <file_info>\n    \
<name>mnist_tampered.sh</name>\n    <executable/>\n  </file_info>\n  <app_version>\n    \
<app_name>mnist</app_name>\n    <version_num>100</version_num>\n    \
<platform>x86_64-pc-linux-gnu</platform>\n    <api_version>7.20.0</api_version>\n    \
<file_ref>\n      <file_name>mnist_tampered.sh</file_name>\n      <main_program/>\n    \
</file_ref>\n  </app_version>\n</app_info>\n";

#[tokio::test(flavor = "multi_thread")]
async fn a_wrong_metric_is_rejected_and_a_third_host_settles_the_quorum() -> anyhow::Result<()> {
    let mut stack = Stack::start(Tuning::default()).await?;
    let master_url = stack.master_url.clone();
    let wrapper = tampering_wrapper(&common::app_binary());
    let mut a = Volunteer::start("a", |_| {}).await?;
    let b = Volunteer::start("b", |_| {}).await?;
    let c = Volunteer::start("c", |_| {}).await?;
    a.attach(&stack.master_url, &stack.authenticator)?;
    wait_until(
        Duration::from_secs(60),
        "client a's first scheduler RPC",
        async || {
            Ok(a.log()
                .contains("Scheduler request completed")
                .then_some(()))
        },
        || a.log(),
    )
    .await?;
    // The anonymous platform: the client reads app_info.xml from the project's directory at
    // start-up and from then on runs its own build instead of the project's.
    a.restart(|dir| {
        let p = Volunteer::project_dir(dir, &master_url);
        std::fs::write(p.join("app_info.xml"), APP_INFO).unwrap();
        let w = p.join("mnist_tampered.sh");
        std::fs::write(&w, &wrapper).unwrap();
        std::fs::set_permissions(&w, std::fs::Permissions::from_mode(0o755)).unwrap();
    })
    .await?;
    b.attach(&stack.master_url, &stack.authenticator)?;

    let series = stack.small_series(&small_series("tampered", 1, &[]))?;
    // Both replicas out, to A and B, before C joins.
    wait_until(
        Duration::from_secs(120),
        "both replicas sent to a and b",
        async || {
            let sent = count(&stack, "SELECT COUNT(*) FROM result WHERE hostid <> 0").await?;
            Ok((sent >= 2).then_some(()))
        },
        || {
            format!(
                "{}\n--- a ---\n{}\n--- b ---\n{}",
                stack.logs(),
                a.log(),
                b.log()
            )
        },
    )
    .await?;
    c.attach(&stack.master_url, &stack.authenticator)?;

    let out = wait_output(series, Duration::from_secs(420)).await?;
    assert!(
        out.status.success(),
        "{}",
        stack.series_failure(&out, &[("a", &a), ("c", &c)])
    );
    assert!(
        a.log().contains("using anonymous platform"),
        "client a ran the anonymous platform:\n{}",
        a.log()
    );
    all_assimilated(&stack, 1).await?;
    let rows = results(&stack).await?;
    let (name, rs) = &rows[0];
    assert_eq!(rs.len(), 3, "{name}: a third result was needed: {rs:?}");
    let invalid: Vec<&Row> = rs
        .iter()
        .filter(|r| r.4 == ValidateState::Invalid as i32)
        .collect();
    assert_eq!(invalid.len(), 1, "the tampered result is rejected: {rs:?}");
    assert!(
        invalid[0].5 < 0,
        "the rejected result is the anonymous-platform one (negative app_version_id): {rs:?}"
    );
    let valid: Vec<&Row> = rs
        .iter()
        .filter(|r| r.4 == ValidateState::Valid as i32 && r.3 == Outcome::Success as i32)
        .collect();
    assert_eq!(valid.len(), 2, "{rs:?}");
    let hosts: BTreeSet<i64> = rs.iter().map(|r| r.1).collect();
    assert_eq!(hosts.len(), 3, "three different hosts: {rs:?}");

    // What was assimilated is the honest result, identical to the local run.
    let metrics = std::fs::read_to_string(
        stack
            .root
            .join(format!("results/mnist/{name}/metrics.json")),
    )?;
    assert!(!metrics.contains("0.123456"), "{metrics}");
    let summary = std::fs::read_to_string(stack.root.join("reports/tampered/summary.md"))?;
    assert!(
        summary.contains("round 1: distributed and local metrics are bit-identical"),
        "{summary}"
    );
    let host = rboinc_core::project::short_hostname();
    let validator_log =
        std::fs::read_to_string(stack.root.join(format!("log_{host}/validator_mnist.log")))?;
    assert!(
        validator_log.contains("val_acc"),
        "the validator names the field that differed:\n{validator_log}"
    );
    stack.stop()?;
    Ok(())
}

/// An anonymous-platform `app_info.xml` whose only version of `mnist` runs `file`.
fn app_info_running(file: &str) -> String {
    APP_INFO.replace("mnist_tampered.sh", file)
}

/// BOINC's daily quota against a black hole (`got_bad_result` in sched/sched_result.cpp,
/// `daily_quota_exceeded` in sched/sched_send.cpp): client a runs a build that fails at once.
/// Its error report lowers its `host_app_version.max_jobs_per_day` from the project's
/// `daily_result_quota` of 2 to 1, with one job today it is over quota, and the scheduler tells
/// it "This computer has finished a daily quota of 1 tasks"; b and c finish the series.
#[tokio::test(flavor = "multi_thread")]
async fn a_black_hole_host_is_throttled_by_its_daily_quota_while_the_others_finish()
-> anyhow::Result<()> {
    let mut stack = Stack::start(Tuning {
        options: vec![("daily_result_quota".into(), "2".into())],
        ..Tuning::default()
    })
    .await?;
    let master_url = stack.master_url.clone();
    let mut a = Volunteer::start("a", |_| {}).await?;
    let b = Volunteer::start("b", |_| {}).await?;
    let c = Volunteer::start("c", |_| {}).await?;
    a.attach(&stack.master_url, &stack.authenticator)?;
    wait_until(
        Duration::from_secs(60),
        "client a's first scheduler RPC",
        async || {
            Ok(a.log()
                .contains("Scheduler request completed")
                .then_some(()))
        },
        || a.log(),
    )
    .await?;
    a.restart(|dir| {
        let p = Volunteer::project_dir(dir, &master_url);
        std::fs::write(p.join("app_info.xml"), app_info_running("black_hole.sh")).unwrap();
        let w = p.join("black_hole.sh");
        std::fs::write(&w, "#!/bin/sh\necho 'black hole: failing' >&2\nexit 1\n").unwrap();
        std::fs::set_permissions(&w, std::fs::Permissions::from_mode(0o755)).unwrap();
    })
    .await?;

    // A alone takes the round's first replica, fails it and reports the error.
    let series = stack.small_series(&small_series("blackhole", 1, &[]))?;
    wait_until(
        Duration::from_secs(120),
        "client a is told its daily quota is used up",
        async || {
            Ok(a.log()
                .contains("This computer has finished a daily quota of 1 tasks")
                .then_some(()))
        },
        || format!("{}\n--- a ---\n{}", stack.logs(), a.log()),
    )
    .await?;
    b.attach(&stack.master_url, &stack.authenticator)?;
    c.attach(&stack.master_url, &stack.authenticator)?;

    let out = wait_output(series, Duration::from_secs(300)).await?;
    assert!(
        out.status.success(),
        "{}",
        stack.series_failure(&out, &[("a", &a), ("b", &b), ("c", &c)])
    );
    all_assimilated(&stack, 1).await?;
    let rows = results(&stack).await?;
    let (name, rs) = &rows[0];
    let failed: Vec<&Row> = rs
        .iter()
        .filter(|r| r.3 == Outcome::ClientError as i32)
        .collect();
    assert_eq!(failed.len(), 1, "{name}: a's error: {rs:?}");
    assert!(failed[0].5 < 0, "from the anonymous platform: {rs:?}");
    let black_hole = failed[0].1;
    let valid: Vec<&Row> = rs
        .iter()
        .filter(|r| r.3 == Outcome::Success as i32 && r.4 == ValidateState::Valid as i32)
        .collect();
    assert_eq!(valid.len(), 2, "b and c: {rs:?}");
    assert!(valid.iter().all(|r| r.1 != black_hole), "{rs:?}");
    let (max_jobs, today): (i32, i32) = sqlx::query_as(
        "SELECT max_jobs_per_day, n_jobs_today FROM host_app_version WHERE host_id = ?",
    )
    .bind(black_hole)
    .fetch_one(stack.db.pool())
    .await?;
    assert_eq!((max_jobs, today), (1, 1), "a's quota fell from 2 to 1");
    stack.stop()?;
    Ok(())
}

#[tokio::test(flavor = "multi_thread")]
async fn the_scheduler_restarted_mid_series_loses_nothing() -> anyhow::Result<()> {
    let validator = (
        "script_validator -d 3 --app mnist --compare_script compare_metrics.py --sleep_interval 1"
            .to_string(),
        vec![(
            "compare_metrics.py".to_string(),
            COMPARE_METRICS.to_string(),
        )],
    );
    let mut stack = Stack::start(Tuning {
        validator: Some(validator),
        ..Tuning::default()
    })
    .await?;
    let clients = [
        Volunteer::start("a", |_| {}).await?,
        Volunteer::start("b", |_| {}).await?,
        Volunteer::start("c", |_| {}).await?,
    ];
    for c in &clients {
        c.attach(&stack.master_url, &stack.authenticator)?;
    }
    let series = stack.small_series(&small_series("restart", 4, &[]))?;
    wait_until(
        Duration::from_secs(120),
        "a first result reported",
        async || {
            let n = count(
                &stack,
                "SELECT COUNT(*) FROM result WHERE received_time > 0",
            )
            .await?;
            Ok((n >= 1).then_some(()))
        },
        || stack.logs(),
    )
    .await?;
    // A crash: SIGKILL, no graceful shutdown. Down long enough for every client to run into it.
    let old = stack.daemon_pid("scheduler")?;
    rustix::process::kill_process(
        rustix::process::Pid::from_raw(old).unwrap(),
        rustix::process::Signal::KILL,
    )?;
    let unfinished = count(
        &stack,
        &format!(
            "SELECT COUNT(*) FROM workunit WHERE assimilate_state <> {}",
            AssimilateState::Done as i32
        ),
    )
    .await?;
    assert!(unfinished > 0, "the restart happens mid-series");
    tokio::time::sleep(Duration::from_secs(12)).await;
    let out = stack.tool("start", &[])?;
    assert!(out.status.success(), "{}", text(&out));
    let restarted = String::from_utf8_lossy(&out.stdout);
    assert!(
        restarted.contains("started          scheduler"),
        "{restarted}"
    );
    assert!(
        restarted.contains("already running  transitioner"),
        "{restarted}"
    );
    assert_ne!(stack.daemon_pid("scheduler")?, old);

    let out = wait_output(series, Duration::from_secs(420)).await?;
    assert!(
        out.status.success(),
        "series run failed after the restart: {}\n{}",
        text(&out),
        stack.logs()
    );
    assert!(
        clients.iter().any(|c| {
            let log = c.log();
            log.contains("Scheduler request failed") || log.contains("Couldn't connect")
        }),
        "at least one client ran into the outage and retried"
    );
    all_assimilated(&stack, 4).await?;
    for (name, rs) in results(&stack).await? {
        assert_eq!(rs.len(), 2, "{name}: no result lost or sent twice: {rs:?}");
        for r in &rs {
            assert_eq!(r.3, Outcome::Success as i32, "{name}: {rs:?}");
            assert_eq!(r.4, ValidateState::Valid as i32, "{name}: {rs:?}");
        }
        let hosts: BTreeSet<i64> = rs.iter().map(|r| r.1).collect();
        assert_eq!(hosts.len(), 2, "{name}: {rs:?}");
    }
    let host = rboinc_core::project::short_hostname();
    let validator_log =
        std::fs::read_to_string(stack.root.join(format!("log_{host}/validator_mnist.log")))?;
    assert!(
        validator_log.contains("comparison=\"script\""),
        "script_validator compared the results:\n{validator_log}"
    );
    stack.stop()?;
    Ok(())
}

/// `series cancel` while both clients compute: the scheduler's `<result_abort>` (BOINC's
/// `send_result_abort`: the workunit is cancelled) makes each client abort its running task and
/// report it with `EXIT_ABORTED_BY_PROJECT`; no round of the series is computed afterwards.
#[tokio::test(flavor = "multi_thread")]
async fn a_cancelled_series_is_aborted_on_the_clients() -> anyhow::Result<()> {
    let mut stack = Stack::start(Tuning::default()).await?;
    let a = Volunteer::start("a", |_| {}).await?;
    let b = Volunteer::start("b", |_| {}).await?;
    // Jobs that run for minutes: long enough to be cancelled mid-run.
    let out = stack.tool(
        "series",
        &[
            "submit",
            "--name",
            "doomed",
            "--rounds",
            "3",
            "--sample-count",
            "8000",
            "--train-epochs",
            "5000",
            "--base-seed",
            "5",
        ]
        .map(std::ffi::OsStr::new),
    )?;
    anyhow::ensure!(out.status.success(), "submit failed: {}", text(&out));
    a.attach(&stack.master_url, &stack.authenticator)?;
    b.attach(&stack.master_url, &stack.authenticator)?;
    let executing = |v: &Volunteer| {
        v.cmd(&["--get_tasks"])
            .map(|o| String::from_utf8_lossy(&o.stdout).contains("active_task_state: EXECUTING"))
            .unwrap_or(false)
    };
    wait_until(
        Duration::from_secs(120),
        "both clients run a task",
        async || Ok((executing(&a) && executing(&b)).then_some(())),
        || format!("{}\n--- b ---\n{}", a.log(), b.log()),
    )
    .await?;

    let out = stack.tool("series", &["cancel", "doomed"].map(std::ffi::OsStr::new))?;
    anyhow::ensure!(out.status.success(), "cancel failed: {}", text(&out));
    for v in [&a, &b] {
        let _ = v.cmd(&["--project", &stack.master_url, "update"]);
    }
    // Every result the clients held comes back aborted by the project, and nothing else of
    // the series is running anywhere.
    let sql = format!(
        "SELECT COUNT(*) FROM result WHERE hostid > 0 AND server_state = {} AND exit_status = {}",
        ServerState::Over as i32,
        rboinc_core::state::EXIT_ABORTED_BY_PROJECT
    );
    let waited = wait_until(
        Duration::from_secs(90),
        "the clients report their tasks aborted by the project",
        async || {
            let aborted = count(&stack, &sql).await?;
            let held = count(&stack, "SELECT COUNT(*) FROM result WHERE hostid > 0").await?;
            Ok((aborted > 0 && aborted == held && !executing(&a) && !executing(&b)).then_some(()))
        },
        || {
            format!(
                "{}\n--- a ---\n{}\n--- b ---\n{}",
                stack.logs(),
                a.log(),
                b.log()
            )
        },
    )
    .await;
    if let Err(e) = waited {
        let rows: Vec<(String, i64, i32, i32, i32, i32, i32)> = sqlx::query_as(
            "SELECT r.name, CAST(r.hostid AS SIGNED), r.server_state, r.outcome, r.exit_status, \
             w.error_mask, w.assimilate_state FROM result r JOIN workunit w ON w.id = r.workunitid",
        )
        .fetch_all(stack.db.pool())
        .await?;
        anyhow::bail!(
            "{e:?}\n(name, hostid, server_state, outcome, exit_status, error_mask, assimilate_state): {rows:?}"
        );
    }
    assert_eq!(
        count(&stack, "SELECT COUNT(*) FROM result WHERE outcome = 1").await?,
        0,
        "nothing of the cancelled series was computed"
    );
    assert_eq!(
        count(
            &stack,
            "SELECT COUNT(*) FROM workunit WHERE error_mask & 16 = 0"
        )
        .await?,
        0,
        "every workunit created is cancelled"
    );
    // The client's own words: the server's message, and the task aborted mid-run.
    for v in [&a, &b] {
        let log = v.log();
        assert!(
            log.contains("is no longer usable") && log.contains("from abort_task"),
            "{} does not say it aborted a running task: {log}",
            v.label
        );
    }
    stack.stop()?;
    Ok(())
}

/// A project's compare script for `script_validator`: `files files2` gives both results' output
/// files (metrics.json, weights.npy); two results agree when their metrics documents are equal
/// but for the per-host `host` object and their other files are byte-identical.
const COMPARE_METRICS: &str = r#"#!/usr/bin/env python3
import json
import sys


def content(path):
    try:
        with open(path, "rb") as f:
            data = f.read()
    except FileNotFoundError:
        return None  # an optional output (weights.npy) that was not written
    try:
        doc = json.loads(data)
    except ValueError:
        return data
    if isinstance(doc, dict):
        doc.pop("host", None)
    return doc


files = sys.argv[1:]
half = len(files) // 2
same = len(files) % 2 == 0 and all(
    content(a) == content(b) for a, b in zip(files[:half], files[half:])
)
sys.exit(0 if same else 1)
"#;
