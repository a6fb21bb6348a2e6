//! Fashion-MNIST, as Debian's `dataset-fashion-mnist` installs it, through the same loader and
//! trainer as the digits: 60,000 training and 10,000 test images in gzip IDX files.
//!
//! `scripts/test.sh` installs the package; run without it, the test fails and says so, because
//! a silently skipped test would prove nothing.

mod common;

use std::path::PathBuf;

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
    assert_eq!(m["split"]["val"], 10_000);
    assert_eq!(m["split"]["val_source"], "test");
    // A different dataset from the shipped digits: a different hash.
    let digits = mnist_app::dataset::load(&common::mnist_10k()).unwrap();
    assert_ne!(m["dataset"]["sha256"], digits.sha256.as_str());
    // Softmax regression learns clothing well above chance but below its digit accuracy
    // (published linear baselines on Fashion-MNIST reach about 0.84 with full training; 10
    // epochs on 8,000 rows give about 0.78).
    let val_acc = m["val_acc"].as_f64().unwrap();
    assert!((0.72..0.86).contains(&val_acc), "val_acc {val_acc}");
}
