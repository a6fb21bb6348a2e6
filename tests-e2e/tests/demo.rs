//! `scripts/demo.sh`, the README's main command, run as a user runs it — with a small series,
//! the binaries cargo built for the tests (`--bin-dir`, so the test does not make a release
//! build) and the embedded default database (`--private-db`: a private mariadbd whose data
//! lives in the work directory). Then run again in the same directory (it reuses the project
//! and clients), then `--stop`, which must leave no process behind.

mod common;

use std::path::{Path, PathBuf};
use std::process::{Command, Output};

use common::{app_binary, bins, processes_in, text};
use rboinc_e2e::workspace_root;

fn demo(dir: &Path, extra: &[&str]) -> Output {
    Command::new(workspace_root().join("scripts/demo.sh"))
        .arg("--dir")
        .arg(dir)
        .arg("--bin-dir")
        .arg(bins())
        .arg("--app-binary")
        .arg(app_binary())
        .args(["--no-install", "--private-db", "--timeout", "400"])
        .args([
            "--rounds",
            "2",
            "--sample-count",
            "600",
            "--train-epochs",
            "2",
        ])
        .args(["--batch-size", "60", "--learning-rate", "0.1"])
        .args(extra)
        .output()
        .expect("run scripts/demo.sh")
}

fn report_dir(out: &Output) -> PathBuf {
    let stdout = String::from_utf8_lossy(&out.stdout);
    PathBuf::from(stdout.lines().last().unwrap_or_default().trim())
}

struct StopOnDrop<'a>(&'a Path);

impl Drop for StopOnDrop<'_> {
    fn drop(&mut self) {
        let _ = Command::new(workspace_root().join("scripts/demo.sh"))
            .arg("--stop")
            .arg("--dir")
            .arg(self.0)
            .arg("--bin-dir")
            .arg(bins())
            .output();
    }
}

#[test]
fn the_demo_runs_a_series_reruns_and_stops_cleanly() {
    let tmp = tempfile::Builder::new()
        .prefix("rboinc-demo-")
        .tempdir()
        .unwrap();
    let dir = tmp.path().join("work");
    let _guard = StopOnDrop(&dir);

    let out = demo(&dir, &[]);
    assert!(out.status.success(), "{}", text(&out));
    let stderr = String::from_utf8_lossy(&out.stderr);
    for step in 1..=8 {
        assert!(
            stderr.contains(&format!("==> [{step}/8] ")),
            "progress step {step}: {stderr}"
        );
    }
    assert!(
        stderr.contains("starting a private mariadbd"),
        "the embedded default database: {stderr}"
    );
    assert!(
        stderr.contains("Ops page login"),
        "make_project's output is shown: {stderr}"
    );
    assert!(
        stderr.contains("distributed part (submit → every round validated and assimilated): "),
        "the timing is printed: {stderr}"
    );
    let report = report_dir(&out);
    assert!(
        report.starts_with(dir.join("project/reports")),
        "{}",
        report.display()
    );
    let summary = std::fs::read_to_string(report.join("summary.md")).unwrap();
    assert!(
        summary.contains("\"learning_rate\":0.1"),
        "the options reach the series: {summary}"
    );
    for round in 1..=2 {
        assert!(
            summary.contains(&format!(
                "round {round}: distributed and local metrics are bit-identical"
            )),
            "{summary}"
        );
    }
    assert!(report.join("acc_loss_curves.png").is_file());
    assert_eq!(
        std::fs::read_to_string(dir.join(".gitignore")).unwrap(),
        "*\n",
        "the work directory keeps itself out of git"
    );

    // Again in the same directory: the project, database and clients are reused.
    let again = demo(&dir, &[]);
    assert!(again.status.success(), "{}", text(&again));
    let stderr = String::from_utf8_lossy(&again.stderr);
    assert!(stderr.contains("reusing the project"), "{stderr}");
    assert!(stderr.contains("client a already running"), "{stderr}");
    assert!(
        stderr.contains("the published mnist app is up to date"),
        "{stderr}"
    );
    let second = report_dir(&again);
    assert_ne!(second, report, "a new series");
    assert!(second.join("summary.md").is_file());

    // --stop: clients, daemons and the private database, and nothing else is left.
    let stop = Command::new(workspace_root().join("scripts/demo.sh"))
        .arg("--stop")
        .arg("--dir")
        .arg(&dir)
        .output()
        .unwrap();
    assert!(stop.status.success(), "{}", text(&stop));
    let stdout = String::from_utf8_lossy(&stop.stdout);
    assert!(
        stdout.contains("stopped          BOINC client a"),
        "{stdout}"
    );
    assert!(stdout.contains("stopped          scheduler"), "{stdout}");
    assert!(
        stdout.contains("stopped          private mariadbd"),
        "{stdout}"
    );
    let left = processes_in(&dir);
    assert!(left.is_empty(), "left behind: {left:?}");
}

#[test]
fn bad_options_are_refused_before_anything_starts() {
    let tmp = tempfile::tempdir().unwrap();
    for (args, msg) in [
        (
            &["--rounds", "0"][..],
            "--rounds must be a positive integer",
        ),
        (
            &["--sample-count", "many"][..],
            "--sample-count must be a positive integer",
        ),
        (
            &["--learning-rate", "fast"][..],
            "--learning-rate must be a number",
        ),
        (&["--frobnicate"][..], "unknown option --frobnicate"),
    ] {
        let out = Command::new(workspace_root().join("scripts/demo.sh"))
            .arg("--dir")
            .arg(tmp.path().join("w"))
            .args(args)
            .output()
            .unwrap();
        assert_eq!(out.status.code(), Some(2), "{args:?}: {}", text(&out));
        assert!(
            String::from_utf8_lossy(&out.stderr).contains(msg),
            "{}",
            text(&out)
        );
        assert!(
            !tmp.path().join("w").exists(),
            "nothing created for {args:?}"
        );
    }
}
