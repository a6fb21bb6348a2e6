//! Fashion-MNIST, as Debian's `dataset-fashion-mnist` installs it, through the same loader and
//! trainer as the digits: 60,000 training and 10,000 test images in gzip IDX files. Validation
//! holds out training rows; the test split is scored once, on the final model.
//!
//! `scripts/test.sh` installs the package; run without it, the test fails and says so, because
//! a silently skipped test would prove nothing.

mod common;

use std::path::PathBuf;

use std::process::Command;

use common::{assert_ok, deterministic, run_standalone, write_job};

/// Where Debian's package puts the four files.
fn fashion_dir() -> PathBuf {
    let dir = PathBuf::from("/usr/share/datasets/fashion-mnist");
    assert!(
        dir.join("train-images-idx3-ubyte.gz").is_file(),
        "Fashion-MNIST not found in {}: install the Debian package dataset-fashion-mnist \
         (scripts/test.sh does)",
        dir.display()
    );
    dir
}

#[test]
fn fashion_mnist_loads_with_its_test_split() {
    let ds = mnist_app::dataset::load(&fashion_dir()).unwrap();
    assert_eq!(ds.train.len(), 60_000);
    assert_eq!(ds.test.as_ref().map(|t| t.len()), Some(10_000));
    // Ten classes, each present in the training split.
    let mut seen = [0usize; 10];
    for &label in &ds.train.labels {
        seen[usize::from(label)] += 1;
    }
    assert!(seen.iter().all(|&n| n == 6_000), "{seen:?}");
}

#[test]
fn the_binary_trains_on_fashion_mnist_reproducibly() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    let job = write_job(
        d,
        "job.json",
        r#"{"seed": 714562, "sample_count": 8000, "train_epochs": 10, "batch_size": 256,
            "learning_rate": 0.05}"#,
    );
    for run in ["a", "b"] {
        assert_ok(&run_standalone(
            &job,
            &fashion_dir(),
            &d.join(format!("{run}.json")),
            &[],
        ));
    }
    assert_eq!(
        common::bytes_before_host(&d.join("a.json")),
        common::bytes_before_host(&d.join("b.json"))
    );
    let m = deterministic(&d.join("a.json"));
    assert_eq!(m["dataset"]["train_rows"], 60_000);
    assert_eq!(m["dataset"]["test_rows"], 10_000);
    assert_eq!(m["split"]["train"], 8_000);
    assert_eq!(m["split"]["val"], 52_000, "every training row not drawn");
    assert_eq!(m["split"]["test"], 10_000);
    // A different dataset from the shipped digits: a different hash.
    let digits = mnist_app::dataset::load(&common::mnist_10k()).unwrap();
    assert_ne!(m["dataset"]["sha256"], digits.sha256.as_str());
    // Softmax regression learns clothing well above chance but below its digit accuracy
    // (published linear baselines on Fashion-MNIST reach about 0.84 with full training; 10
    // epochs on 8,000 rows give about 0.78).
    let val_acc = m["val_acc"].as_f64().unwrap();
    assert!((0.72..0.86).contains(&val_acc), "val_acc {val_acc}");
    let test_acc = m["test_acc"].as_f64().unwrap();
    assert!((0.72..0.86).contains(&test_acc), "test_acc {test_acc}");
    assert!(m["test_loss"].as_f64().unwrap() > 0.0);
}

/// All 60,000 training rows in use (50,000 to train, 10,000 to validate) and the 10,000 test
/// rows scored at the end; `mnist evaluate` on the exported weights reproduces `test_acc`.
#[test]
fn the_full_set_trains_validates_and_tests_apart() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    let job = write_job(
        d,
        "job.json",
        r#"{"seed": 910552, "sample_count": 50000, "val_count": 10000, "train_epochs": 1,
            "batch_size": 256, "learning_rate": 0.05, "export_weights": true}"#,
    );
    let out = d.join("m.json");
    let weights = d.join("w.npy");
    assert_ok(&run_standalone(
        &job,
        &fashion_dir(),
        &out,
        &["--weights-out", weights.to_str().unwrap()],
    ));
    let m = deterministic(&out);
    assert_eq!(m["split"]["train"], 50_000);
    assert_eq!(m["split"]["val"], 10_000);
    assert_eq!(m["split"]["test"], 10_000);
    assert_ne!(m["test_acc"], m["val_acc"], "two different sets of rows");

    let eval = Command::new(common::bin())
        .args(["evaluate", "--weights"])
        .arg(&weights)
        .arg("--dataset")
        .arg(fashion_dir())
        .arg("--confusion")
        .arg(d.join("c.png"))
        .output()
        .unwrap();
    assert_ok(&eval);
    let line = String::from_utf8_lossy(&eval.stdout);
    assert!(
        line.contains("of 10000 rows") && line.contains("test split"),
        "{line}"
    );
    let acc: f64 = line
        .strip_prefix("accuracy ")
        .and_then(|r| r.split_whitespace().next())
        .and_then(|a| a.parse().ok())
        .unwrap_or_else(|| panic!("no accuracy in {line}"));
    assert_eq!(acc.to_bits(), m["test_acc"].as_f64().unwrap().to_bits());

    // Validation rows are training rows: the samples and the validation rows must fit in them.
    for (fields, needle) in [
        (r#""sample_count": 60000"#, "no validation rows"),
        (
            r#""sample_count": 55000, "val_count": 10000"#,
            "55000 + 10000 = 65000",
        ),
    ] {
        let text = format!(
            r#"{{"seed": 1, {fields}, "train_epochs": 1, "batch_size": 256, "learning_rate": 0.05}}"#
        );
        let bad = write_job(d, "bad.json", &text);
        let run = run_standalone(&bad, &fashion_dir(), &d.join("bad-m.json"), &[]);
        let stderr = String::from_utf8_lossy(&run.stderr);
        assert_eq!(run.status.code(), Some(4), "{text}: {stderr}");
        assert!(stderr.contains(needle), "{text}: {stderr}");
        assert!(!d.join("bad-m.json").exists());
    }
}
