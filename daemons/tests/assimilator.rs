//! script_assimilator and sample_dummy_assimilator on MariaDB, beyond the oracle: failing
//! scripts and their retry, the built-in against the shipped script, concurrency, `--mod`,
//! batches, and a SIGKILL in the middle of a pass.

mod finished_jobs;

use std::fs;
use std::time::Duration;

use finished_jobs::{Project, Stage, metrics_json};

const READY: i64 = 1;
const DONE: i64 = 2;

fn log(out: &std::process::Output) -> String {
    String::from_utf8_lossy(&out.stderr).into_owned()
}

#[tokio::test]
async fn a_failing_script_leaves_the_workunit_ready_and_a_later_run_assimilates_it() {
    let p = Project::new().await;
    p.load(1, 3, Stage::Assimilate { failed_every: None }).await;
    // Fails for w2 while the marker file exists.
    p.install_script(
        "flaky.sh",
        "#!/bin/sh\nif [ \"$1\" = 2 ] && [ -e ../broken ]; then echo \"disk full for $1\" >&2; exit 5; fi\n\
         echo \"$@\" >> ../done.txt\n",
    );
    fs::write(p.root.join("broken"), "").unwrap();
    let out = p.run(
        "script_assimilator",
        &["--app", "mnist", "--drain", "--script", "flaky.sh"],
    );
    let log = log(&out);
    assert!(log.contains("exited with status 5"), "{log}");
    assert!(log.contains("disk full for 2"), "stderr is logged: {log}");
    assert!(log.contains("wu_id=2"), "{log}");
    let snap = p.snapshot().await;
    assert!(snap.rows[0].contains("assim=2") && snap.rows[0].contains("tt=set"));
    assert!(
        snap.rows[1].contains("assim=1") && snap.rows[1].contains("tt=NEVER"),
        "nothing is marked done that was not done: {}",
        snap.rows[1]
    );
    assert!(snap.rows[2].contains("assim=2"));

    fs::remove_file(p.root.join("broken")).unwrap();
    p.run(
        "script_assimilator",
        &["--app", "mnist", "--drain", "--script", "flaky.sh"],
    );
    assert_eq!(p.count_wus("assimilate_state", DONE).await, 3);
    let calls = fs::read_to_string(p.root.join("done.txt")).unwrap();
    assert_eq!(calls.lines().filter(|l| l.starts_with("2 ")).count(), 1);
}

#[tokio::test]
async fn a_missing_script_is_refused_at_start() {
    let p = Project::new().await;
    let out = p.run_any(
        "script_assimilator",
        &["--app", "mnist", "--drain", "--script", "nope.sh"],
    );
    assert_eq!(out.status.code(), Some(1));
    assert!(
        log(&out).contains("nope.sh does not exist"),
        "{}",
        log(&out)
    );
    let out = p.run_any(
        "sample_dummy_assimilator",
        &["--app", "nosuchapp", "--drain"],
    );
    assert_eq!(out.status.code(), Some(1));
    assert!(log(&out).contains("there is no app named"), "{}", log(&out));
}

#[tokio::test]
async fn the_builtin_files_the_same_bytes_as_the_shipped_script() {
    let script = Project::new().await;
    let builtin = Project::new().await;
    for p in [&script, &builtin] {
        p.load(
            1,
            12,
            Stage::Assimilate {
                failed_every: Some(4),
            },
        )
        .await;
    }
    script.install_shipped_script();
    script.run(
        "script_assimilator",
        &[
            "--app",
            "mnist",
            "--drain",
            "--script",
            "assimilate_metrics.sh wu_name files2",
        ],
    );
    builtin.run(
        "script_assimilator",
        &["--app", "mnist", "--drain", "--builtin", "copy_metrics"],
    );
    let (a, b) = (script.snapshot().await, builtin.snapshot().await);
    assert_eq!(a, b);
    assert_eq!(
        a.files["results/mnist/w1/metrics.json"],
        metrics_json(1, 0).into_bytes(),
        "the canonical result's metrics"
    );
    assert_eq!(
        String::from_utf8_lossy(&a.files["results/mnist/w4/error.txt"]),
        "error_mask=2\nwu_name=w4\nwu_id=4\nbatch=1\n"
    );
    let results: Vec<_> = a
        .files
        .keys()
        .filter(|k| k.starts_with("results/"))
        .collect();
    assert_eq!(results.len(), 12, "{results:?}");
    assert_eq!(script.count_wus("assimilate_state", DONE).await, 12);
}

#[tokio::test]
async fn scripts_run_concurrently_up_to_the_limit() {
    let p = Project::new().await;
    p.load(1, 12, Stage::Assimilate { failed_every: None })
        .await;
    // Each run marks itself running, waits, and records how many were running at once.
    p.install_script(
        "slow.sh",
        "#!/bin/sh\nmkdir -p ../running\ntouch ../running/$1\nsleep 0.3\n\
         ls ../running | wc -l >> ../overlap.txt\nrm ../running/$1\n",
    );
    p.run(
        "script_assimilator",
        &[
            "--app",
            "mnist",
            "--drain",
            "--concurrency",
            "3",
            "--script",
            "slow.sh",
        ],
    );
    let overlap: Vec<u32> = fs::read_to_string(p.root.join("overlap.txt"))
        .unwrap()
        .lines()
        .map(|l| l.trim().parse().unwrap())
        .collect();
    assert_eq!(overlap.len(), 12);
    let max = *overlap.iter().max().unwrap();
    assert!(max > 1, "scripts ran one at a time: {overlap:?}");
    assert!(
        max <= 3,
        "more scripts than --concurrency at once: {overlap:?}"
    );
    assert_eq!(p.count_wus("assimilate_state", DONE).await, 12);
}

#[tokio::test]
async fn mod_splits_the_work_and_batches_cover_everything() {
    let p = Project::new().await;
    p.load(
        1,
        25,
        Stage::Assimilate {
            failed_every: Some(5),
        },
    )
    .await;
    p.run(
        "sample_dummy_assimilator",
        &[
            "--app",
            "mnist",
            "--drain",
            "--mod",
            "2",
            "1",
            "--batch_size",
            "4",
        ],
    );
    let done: Vec<i64> =
        sqlx::query_scalar("SELECT id FROM workunit WHERE assimilate_state = 2 ORDER BY id")
            .fetch_all(p.pool())
            .await
            .unwrap();
    assert_eq!(done, (1..=25).step_by(2).collect::<Vec<i64>>());
    p.run(
        "sample_dummy_assimilator",
        &[
            "--app",
            "mnist",
            "--drain",
            "--mod",
            "2",
            "0",
            "--batch_size",
            "4",
        ],
    );
    assert_eq!(p.count_wus("assimilate_state", DONE).await, 25);
    // Workunits without a canonical result kept their error (2), not NO_CANONICAL_RESULT.
    assert_eq!(p.count_wus("error_mask", 2).await, 5);
    assert_eq!(p.count_wus("error_mask", 32).await, 0);
}

#[tokio::test]
async fn one_pass_n_wu_and_dont_update_db() {
    let p = Project::new().await;
    p.load(1, 10, Stage::Assimilate { failed_every: None })
        .await;
    p.install_script("count.sh", "#!/bin/sh\necho \"$1\" >> ../calls.txt\n");
    p.run(
        "script_assimilator",
        &[
            "--app",
            "mnist",
            "--dont_update_db",
            "--drain",
            "--script",
            "count.sh",
        ],
    );
    assert_eq!(p.count_wus("assimilate_state", DONE).await, 0);
    let calls = fs::read_to_string(p.root.join("calls.txt")).unwrap();
    assert_eq!(calls.lines().count(), 10);
    p.run(
        "script_assimilator",
        &[
            "--app",
            "mnist",
            "--one_pass_N_WU",
            "4",
            "--script",
            "count.sh",
        ],
    );
    assert_eq!(p.count_wus("assimilate_state", DONE).await, 4);
    assert_eq!(p.count_wus("assimilate_state", READY).await, 6);
}

#[tokio::test]
async fn a_canonical_result_that_vanished_gets_no_canonical_result_and_the_error_form() {
    let p = Project::new().await;
    p.load(1, 2, Stage::Assimilate { failed_every: None }).await;
    sqlx::query("DELETE FROM result WHERE id = 1")
        .execute(p.pool())
        .await
        .unwrap();
    p.install_script("args.sh", "#!/bin/sh\necho \"$@\" >> ../args.txt\n");
    p.run(
        "script_assimilator",
        &[
            "--app",
            "mnist",
            "--drain",
            "--script",
            "args.sh wu_name files",
        ],
    );
    let args = fs::read_to_string(p.root.join("args.txt")).unwrap();
    let mut lines: Vec<&str> = args.lines().collect();
    lines.sort();
    assert_eq!(lines[0], "--error 32 w1 1 1");
    assert!(lines[1].starts_with("w2 ") && lines[1].ends_with("/w2_0_r100003_0"));
    assert_eq!(p.count_wus("error_mask", 32).await, 1);
}

/// Kills the daemon (SIGKILL) once some but not all workunits are done, finishes the work with
/// a second run, and compares the whole state with an uninterrupted run's.
async fn killed_mid_pass_equals_uninterrupted(
    daemon: &str,
    args: &[&str],
    n: u64,
    shipped_script: bool,
) {
    let killed = Project::new().await;
    let clean = Project::new().await;
    for p in [&killed, &clean] {
        p.load(
            1,
            n,
            Stage::Assimilate {
                failed_every: Some(7),
            },
        )
        .await;
        if shipped_script {
            p.install_shipped_script();
        }
    }
    let mut child = killed.spawn(daemon, args);
    let started = finished_jobs::wait_until(Duration::from_secs(60), async || {
        killed.count_wus("assimilate_state", DONE).await >= (n / 100).max(1) as i64
    })
    .await;
    child.kill().unwrap(); // SIGKILL
    child.wait().unwrap();
    assert!(started, "the daemon made no progress");
    let done_at_kill = killed.count_wus("assimilate_state", DONE).await;
    eprintln!("killed with {done_at_kill} of {n} workunits done");
    assert!(
        done_at_kill < n as i64,
        "the pass ended before the kill ({done_at_kill} of {n} done); make it longer"
    );

    let mut one_pass = args.to_vec();
    one_pass.push("--drain");
    killed.run(daemon, &one_pass);
    clean.run(daemon, &one_pass);
    assert_eq!(killed.count_wus("assimilate_state", DONE).await, n as i64);
    let (a, b) = (killed.snapshot().await, clean.snapshot().await);
    assert_eq!(a.rows, b.rows);
    assert_eq!(
        a.files.keys().collect::<Vec<_>>(),
        b.files.keys().collect::<Vec<_>>(),
        "no temporary file is left behind"
    );
    assert_eq!(a.files, b.files);
}

#[tokio::test]
async fn sigkill_mid_pass_then_restart_equals_an_uninterrupted_run_script() {
    killed_mid_pass_equals_uninterrupted(
        "script_assimilator",
        &[
            "--app",
            "mnist",
            "--batch_size",
            "10",
            "--concurrency",
            "2",
            "--script",
            "assimilate_metrics.sh wu_name files2",
        ],
        200,
        true,
    )
    .await;
}

#[tokio::test]
async fn sigkill_mid_pass_then_restart_equals_an_uninterrupted_run_builtin() {
    killed_mid_pass_equals_uninterrupted(
        "script_assimilator",
        &[
            "--app",
            "mnist",
            "--batch_size",
            "5",
            "--builtin",
            "copy_metrics",
        ],
        600,
        false,
    )
    .await;
}

#[tokio::test]
async fn sigkill_mid_pass_then_restart_equals_an_uninterrupted_run_dummy() {
    killed_mid_pass_equals_uninterrupted(
        "sample_dummy_assimilator",
        &["--app", "mnist", "--batch_size", "1"],
        300,
        false,
    )
    .await;
}

#[tokio::test]
async fn one_pass_assimilates_one_batch_as_the_cpp_assimilator() {
    let p = Project::new().await;
    p.load(1, 10, Stage::Assimilate { failed_every: None })
        .await;
    let args = |pass: &'static str| ["--app", "mnist", pass, "--batch_size", "4"];
    p.run("sample_dummy_assimilator", &args("--one_pass"));
    assert_eq!(p.count_wus("assimilate_state", DONE).await, 4);
    p.run("sample_dummy_assimilator", &args("--drain"));
    assert_eq!(p.count_wus("assimilate_state", DONE).await, 10);
}

/// What the test plug-in saw of one workunit.
#[derive(Debug, Clone, PartialEq)]
struct Seen {
    wu: String,
    error_mask: i32,
    canonical_file: Option<Vec<u8>>,
    result_outcomes: Vec<i32>,
}

/// A project's assimilator plug-in that records what it is given and fails on `w5`.
#[derive(Default, Clone)]
struct Recorder(std::sync::Arc<std::sync::Mutex<Vec<Seen>>>);

impl rboinc_daemons::assimilator::plugin::AssimilatorPlugin for Recorder {
    fn name(&self) -> &str {
        "recorder"
    }

    fn assimilate(
        &self,
        job: &rboinc_daemons::assimilator::plugin::FinishedWorkunit<'_>,
    ) -> anyhow::Result<()> {
        let files = job.canonical_outputs()?;
        let canonical_file = match files.first() {
            Some(f) => Some(fs::read(&f.path)?),
            None => None,
        };
        assert_eq!(job.canonical().is_some(), canonical_file.is_some());
        self.0.lock().unwrap().push(Seen {
            wu: job.wu.name.clone(),
            error_mask: job.wu.error_mask.bits(),
            canonical_file,
            result_outcomes: job.results.iter().map(|r| r.outcome as i32).collect(),
        });
        anyhow::ensure!(job.wu.name != "w5", "the archive for w5 is full");
        Ok(())
    }
}

#[tokio::test]
async fn a_plugin_gets_every_finished_workunit_with_its_results_and_error_mask() {
    use rboinc_daemons::assimilator::handler::{Handler, InProcess};
    use rboinc_daemons::assimilator::plugin::AssimilatorPluginHandle;
    use rboinc_daemons::assimilator::{Assimilator, AssimilatorOptions};

    let p = Project::new().await;
    p.load(
        1,
        6,
        Stage::Assimilate {
            failed_every: Some(3),
        },
    )
    .await;
    let recorder = Recorder::default();
    let handler = Handler::InProcess(InProcess::Plugin {
        plugin: AssimilatorPluginHandle::new(recorder.clone()),
        upload: rboinc_core::hier::Hierarchy::new(p.root.join("upload"), finished_jobs::FANOUT),
    });
    let mut assimilator = Assimilator::new(
        p.pool().clone(),
        rboinc_core::db::AppId(1),
        "mnist",
        handler,
        AssimilatorOptions::default(),
    );
    let stop = rboinc_core::daemon::Shutdown::new(None);
    let report = assimilator
        .pass(rboinc_core::daemon::ModSlice::ALL, &stop)
        .await
        .unwrap();
    assert_eq!((report.assimilated, report.failed), (5, 1));
    let mut seen = recorder.0.lock().unwrap().clone();
    seen.sort_by(|a, b| a.wu.cmp(&b.wu));
    assert_eq!(seen.len(), 6);
    for s in &seen {
        let id: u64 = s.wu[1..].parse().unwrap();
        if id.is_multiple_of(3) {
            // A failed workunit arrives with its error mask and its failed results.
            assert_eq!((s.error_mask, &s.canonical_file), (2, &None), "{s:?}");
            assert_eq!(s.result_outcomes, [3, 3]);
        } else {
            assert_eq!(s.error_mask, 0);
            assert_eq!(
                s.canonical_file.as_deref(),
                Some(metrics_json(id, 0).as_bytes())
            );
            assert_eq!(s.result_outcomes, [1, 1]);
        }
    }
    assert_eq!(p.count_wus("assimilate_state", DONE).await, 5);
    assert_eq!(
        p.count_wus("assimilate_state", READY).await,
        1,
        "w5 is retried later"
    );
}
