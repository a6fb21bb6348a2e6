//! The `mnist` binary in standalone mode: reproducibility, equivalence of dataset containers,
//! error exits, and checkpoint/resume after a SIGKILL.

mod common;

use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use common::{assert_ok, deterministic, run_standalone, write_job};

const SMALL: &str = r#"{"seed": 42, "sample_count": 3000, "train_epochs": 3, "batch_size": 128,
    "learning_rate": 0.05, "export_weights": true}"#;

#[test]
fn two_runs_give_identical_results() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    let job = write_job(d, "job.json", SMALL);
    for run in ["a", "b"] {
        let out = run_standalone(
            &job,
            &common::mnist_10k(),
            &d.join(format!("{run}.json")),
            &[
                "--weights-out",
                d.join(format!("{run}.npy")).to_str().unwrap(),
            ],
        );
        assert_ok(&out);
    }
    assert_eq!(
        common::bytes_before_host(&d.join("a.json")),
        common::bytes_before_host(&d.join("b.json"))
    );
    let weights = std::fs::read(d.join("a.npy")).unwrap();
    assert_eq!(weights, std::fs::read(d.join("b.npy")).unwrap());
    assert_eq!(weights.len(), 128 + 785 * 10 * 4, "float32 (785, 10)");

    let m = deterministic(&d.join("a.json"));
    assert_eq!(m["schema"], "mnist-app/metrics/2");
    assert_eq!(m["job"]["seed"], 42);
    assert_eq!(m["split"]["train"], 3000);
    assert_eq!(m["split"]["val"], 7000);
    assert_eq!(m["split"]["test"], 0, "mnist-10k has no test split");
    assert_eq!(m["test_acc"], serde_json::Value::Null);
    assert_eq!(m["test_loss"], serde_json::Value::Null);
    assert_eq!(m["history"].as_array().unwrap().len(), 3);
    assert_eq!(m["weights"]["exported"], true);
    use sha2::Digest;
    assert_eq!(
        m["weights"]["sha256"],
        hex::encode(sha2::Sha256::digest(&weights))
    );
    let host = common::host(&d.join("a.json"));
    assert_eq!(host["mode"], "standalone");
    assert!(host["runtime_s"].as_f64().unwrap() > 0.0);
}

#[test]
fn another_seed_gives_another_result() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    let a = write_job(d, "a.json", SMALL);
    let b = write_job(d, "b.json", &SMALL.replace("42", "43"));
    assert_ok(&run_standalone(
        &a,
        &common::mnist_10k(),
        &d.join("ma.json"),
        &[],
    ));
    assert_ok(&run_standalone(
        &b,
        &common::mnist_10k(),
        &d.join("mb.json"),
        &[],
    ));
    let (ma, mb) = (
        deterministic(&d.join("ma.json")),
        deterministic(&d.join("mb.json")),
    );
    assert_ne!(ma["history"], mb["history"]);
    assert_eq!(ma["dataset"], mb["dataset"]);
}

#[test]
fn an_npz_and_its_bundle_give_the_same_metrics() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    let job = write_job(
        d,
        "job.json",
        r#"{"seed": 5, "sample_count": 80, "train_epochs": 2, "batch_size": 16,
            "learning_rate": 0.1, "noise_std": 0.05}"#,
    );
    // The npz fixture's rows as an IDX directory and as a bundle.
    let npz = common::data("mnist-tiny.npz");
    let bundle = d.join("tiny.bundle");
    mnist_app::dataset::bundle::write(&npz, &bundle).unwrap();
    for (name, path) in [("npz", &npz), ("bundle", &bundle)] {
        assert_ok(&run_standalone(
            &job,
            path,
            &d.join(format!("{name}.json")),
            &[],
        ));
    }
    assert_eq!(
        common::bytes_before_host(&d.join("npz.json")),
        common::bytes_before_host(&d.join("bundle.json"))
    );
    assert_eq!(common::host(&d.join("npz.json"))["dataset_format"], "npz");
    assert_eq!(
        common::host(&d.join("bundle.json"))["dataset_format"],
        "bundle"
    );
    let m = deterministic(&d.join("npz.json"));
    // Validation holds out the 20 training rows not drawn; the 20 test rows are scored once.
    assert_eq!(m["split"]["val"], 20);
    assert_eq!(m["split"]["test"], 20);
    assert_eq!(m["dataset"]["test_rows"], 20);
    assert!(m["test_acc"].is_f64() && m["test_loss"].is_f64(), "{m}");
}

#[test]
fn bad_inputs_exit_with_a_clear_message_and_no_output() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    let out = d.join("m.json");
    let cases = [
        (
            r#"{"seed": 1, "sample_count": 10, "train_epochs": 1, "learning_rate": 0.1}"#,
            3,
            "batch_size",
        ),
        (&SMALL.replace("0.05", "-1.0"), 3, "learning_rate"),
        (&SMALL.replace("3000", "20000"), 4, "sample_count"),
        (&SMALL.replace("3000", "10000"), 4, "no validation rows"),
        (
            &SMALL
                .replace("3000", "9000")
                .replace('}', r#", "val_count": 1001}"#),
            4,
            "9000 + 1001 = 10001",
        ),
        ("not json", 3, "not valid JSON"),
    ];
    for (text, code, needle) in cases {
        let job = write_job(d, "job.json", text);
        let run = run_standalone(&job, &common::mnist_10k(), &out, &[]);
        let stderr = String::from_utf8_lossy(&run.stderr);
        assert_eq!(run.status.code(), Some(code), "{text}: {stderr}");
        assert!(stderr.contains(needle), "{text}: {stderr}");
        assert!(!out.exists());
    }
    let job = write_job(d, "job.json", SMALL);
    let run = run_standalone(&job, &d.join("nope"), &out, &[]);
    assert_eq!(run.status.code(), Some(4));
    assert!(String::from_utf8_lossy(&run.stderr).contains("nope"));

    let usage = Command::new(common::bin())
        .arg("--job")
        .arg(&job)
        .output()
        .unwrap();
    assert_eq!(usage.status.code(), Some(2), "clap usage error");
}

/// Kills the run with SIGKILL once a checkpoint exists, restarts it, and expects the same bytes
/// as an uninterrupted run.
#[test]
fn killed_run_resumes_from_its_checkpoint_bit_identically() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    // Noise makes epochs slow enough (~0.1 s) to kill the run between checkpoints.
    let job = write_job(
        d,
        "job.json",
        r#"{"seed": 7, "sample_count": 2000, "train_epochs": 12, "batch_size": 50,
            "learning_rate": 0.05, "noise_std": 0.1, "export_weights": true}"#,
    );
    let straight = d.join("straight.json");
    assert_ok(&run_standalone(&job, &common::mnist_10k(), &straight, &[]));

    let checkpoint = d.join("cp.bin");
    let resumed = d.join("resumed.json");
    let args = |c: &mut Command| {
        c.arg("--job")
            .arg(&job)
            .arg("--dataset")
            .arg(common::mnist_10k())
            .arg("--out")
            .arg(&resumed)
            .arg("--weights-out")
            .arg(d.join("resumed.npy"))
            .arg("--checkpoint")
            .arg(&checkpoint);
    };
    let mut cmd = Command::new(common::bin());
    args(&mut cmd);
    let mut child = cmd.stderr(Stdio::null()).spawn().unwrap();
    let deadline = Instant::now() + Duration::from_secs(60);
    while !checkpoint.exists() {
        assert!(Instant::now() < deadline, "no checkpoint appeared");
        assert!(
            child.try_wait().unwrap().is_none(),
            "finished before a checkpoint was seen"
        );
        std::thread::sleep(Duration::from_millis(5));
    }
    child.kill().unwrap(); // SIGKILL
    child.wait().unwrap();
    assert!(!resumed.exists(), "killed before the end");

    let mut cmd = Command::new(common::bin());
    args(&mut cmd);
    let out = cmd.output().unwrap();
    assert_ok(&out);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        stderr.contains("resuming from checkpoint after epoch"),
        "{stderr}"
    );
    let epoch = common::host(&resumed)["resumed_from_epoch"]
        .as_u64()
        .unwrap();
    assert!((1..12).contains(&epoch), "{epoch}");
    assert_eq!(
        common::bytes_before_host(&straight),
        common::bytes_before_host(&resumed)
    );
    assert_eq!(
        std::fs::read(d.join("weights.npy")).unwrap(),
        std::fs::read(d.join("resumed.npy")).unwrap()
    );
}

#[test]
fn a_damaged_checkpoint_is_ignored() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    let job = write_job(d, "job.json", SMALL);
    let checkpoint = d.join("cp.bin");
    std::fs::write(&checkpoint, b"MNISTCK1 garbage").unwrap();
    let out = run_standalone(
        &job,
        &common::mnist_10k(),
        &d.join("m.json"),
        &["--checkpoint", checkpoint.to_str().unwrap()],
    );
    assert_ok(&out);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(stderr.contains("ignoring checkpoint"), "{stderr}");
    assert!(common::host(&d.join("m.json"))["resumed_from_epoch"].is_null());
    // The run replaced it with a valid one, which a rerun resumes from (and finishes at once).
    let again = run_standalone(
        &job,
        &common::mnist_10k(),
        &d.join("m2.json"),
        &["--checkpoint", checkpoint.to_str().unwrap()],
    );
    assert_ok(&again);
    assert_eq!(common::host(&d.join("m2.json"))["resumed_from_epoch"], 3);
    assert_eq!(
        common::bytes_before_host(&d.join("m.json")),
        common::bytes_before_host(&d.join("m2.json"))
    );
}
