//! Generations: a job that continues from the state an earlier job wrote equals one
//! uninterrupted run, bit for bit — in the trainer, and through the real binary on job files.

mod common;

use std::path::Path;

use common::{assert_ok, deterministic, run_standalone, write_job};
use mnist_app::dataset;
use mnist_app::generation;
use mnist_app::job::Job;
use mnist_app::trainer::Trainer;

fn job(epochs: u64, start: bool, noise: f64) -> String {
    format!(
        r#"{{"seed": 77, "sample_count": 1500, "train_epochs": {epochs}, "batch_size": 100,
            "learning_rate": 0.1, "val_count": 500, "noise_std": {noise},
            "start_from_state": {start}, "export_state": true}}"#
    )
}

/// E epochs, then E more from the state, equal 2E epochs in one run: same state (model,
/// generator position, history) — with and without noise (which draws from the generator).
#[test]
fn e_epochs_then_e_more_from_the_state_equal_2e_in_one_run() {
    let ds = dataset::load(&common::mnist_10k()).unwrap();
    for noise in [0.0, 0.1] {
        let straight_job = Job::parse(&job(4, false, noise)).unwrap();
        let (mut t, mut straight) = Trainer::new(&straight_job, &ds).unwrap();
        t.run_to_end(&mut straight);

        let first_job = Job::parse(&job(2, false, noise)).unwrap();
        let (mut t, mut first) = Trainer::new(&first_job, &ds).unwrap();
        t.run_to_end(&mut first);
        let fp = generation::fingerprint(&first_job, &ds.sha256);
        let bytes = generation::encode(&first, &fp);

        let second_job = Job::parse(&job(4, true, noise)).unwrap();
        assert_eq!(generation::fingerprint(&second_job, &ds.sha256), fp);
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("s.bin");
        std::fs::write(&path, &bytes).unwrap();
        let mut second = generation::load(&path, &second_job, &fp).unwrap();
        assert_eq!(second, first);
        let (mut t, _) = Trainer::new(&second_job, &ds).unwrap();
        t.run_to_end(&mut second);
        assert_eq!(second, straight, "noise {noise}");
        assert_eq!(
            generation::encode(&second, &fp),
            generation::encode(&straight, &fp)
        );
    }
}

fn run(d: &Path, name: &str, job_json: &str, start: Option<&Path>) -> std::process::Output {
    let job = write_job(d, &format!("{name}_job.json"), job_json);
    let state_out = d.join(format!("{name}_state.bin"));
    let weights = d.join(format!("{name}.npy"));
    let mut extra = vec![
        "--state-out",
        state_out.to_str().unwrap(),
        "--weights-out",
        weights.to_str().unwrap(),
    ];
    if let Some(s) = start {
        extra.extend(["--start-state", s.to_str().unwrap()]);
    }
    run_standalone(
        &job,
        &common::mnist_10k(),
        &d.join(format!("{name}.json")),
        &extra,
    )
}

/// Three generations of one epoch through the binary equal one run of three epochs: the
/// metrics (all but the job echo and `host`), the weights and the state file.
#[test]
fn the_binary_chains_generations_on_job_files() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    let with_weights = |j: String| j.replace('}', r#", "export_weights": true}"#);
    assert_ok(&run(d, "straight", &with_weights(job(3, false, 0.0)), None));
    assert_ok(&run(d, "g1", &with_weights(job(1, false, 0.0)), None));
    for g in 2..=3 {
        let prev = d.join(format!("g{}_state.bin", g - 1));
        let out = run(
            d,
            &format!("g{g}"),
            &with_weights(job(g, true, 0.0)),
            Some(&prev),
        );
        assert_ok(&out);
        assert!(
            String::from_utf8_lossy(&out.stderr).contains(&format!(
                "starting from the given state after epoch {}",
                g - 1
            )),
            "{}",
            String::from_utf8_lossy(&out.stderr)
        );
    }
    let without_job = |name: &str| {
        let mut m = deterministic(&d.join(format!("{name}.json")));
        m.as_object_mut().unwrap().remove("job");
        m
    };
    let (straight, chained) = (without_job("straight"), without_job("g3"));
    assert_eq!(straight["history"].as_array().unwrap().len(), 3);
    assert_eq!(straight, chained);
    let read = |n: &str| std::fs::read(d.join(n)).unwrap();
    assert_eq!(read("straight.npy"), read("g3.npy"));
    assert_eq!(read("straight_state.bin"), read("g3_state.bin"));
    assert_ne!(read("g1_state.bin"), read("g3_state.bin"));
    // The state file of a run is the same bytes on every run (no CPU time in it).
    assert_ok(&run(d, "again", &with_weights(job(1, false, 0.0)), None));
    assert_eq!(read("g1_state.bin"), read("again_state.bin"));
}

/// A missing or foreign start state fails the job with exit 4 and a message naming it.
#[test]
fn a_missing_or_foreign_start_state_is_refused() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    let out = run(
        d,
        "nostate",
        &job(2, true, 0.0),
        Some(&d.join("absent.bin")),
    );
    assert_eq!(out.status.code(), Some(4));
    assert!(String::from_utf8_lossy(&out.stderr).contains("start state"));
    assert_ok(&run(
        d,
        "other",
        &job(1, false, 0.0).replace("77", "78"),
        None,
    ));
    let out = run(
        d,
        "foreign",
        &job(2, true, 0.0),
        Some(&d.join("other_state.bin")),
    );
    assert_eq!(out.status.code(), Some(4));
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("belongs to another job"), "{err}");
    assert!(!d.join("foreign.json").exists(), "no metrics on failure");
}
