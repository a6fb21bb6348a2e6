//! Helpers shared by the integration tests: paths, job files, running the real binary.
#![allow(dead_code)]

use std::path::{Path, PathBuf};
use std::process::{Command, Output};

/// The `mnist` binary cargo built for these tests.
pub fn bin() -> PathBuf {
    PathBuf::from(env!("CARGO_BIN_EXE_mnist"))
}

/// The crate directory (`app/`).
pub fn crate_dir() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
}

/// The shipped MNIST-10k IDX directory.
pub fn mnist_10k() -> PathBuf {
    crate_dir().join("data/mnist-10k")
}

/// A test data file under `app/tests/data`.
pub fn data(name: &str) -> PathBuf {
    crate_dir().join("tests/data").join(name)
}

/// The repository's `fixtures/` directory.
pub fn fixtures() -> PathBuf {
    crate_dir().join("../fixtures")
}

/// Writes a job file and returns its path.
pub fn write_job(dir: &Path, name: &str, json: &str) -> PathBuf {
    let path = dir.join(name);
    std::fs::write(&path, json).unwrap();
    path
}

/// Runs `mnist` standalone and returns its output.
pub fn run_standalone(job: &Path, dataset: &Path, out: &Path, extra: &[&str]) -> Output {
    Command::new(bin())
        .arg("--job")
        .arg(job)
        .arg("--dataset")
        .arg(dataset)
        .arg("--out")
        .arg(out)
        .args(extra)
        .output()
        .unwrap()
}

/// Asserts success and shows stderr otherwise.
pub fn assert_ok(out: &Output) {
    assert!(
        out.status.success(),
        "exit {:?}\nstderr:\n{}",
        out.status,
        String::from_utf8_lossy(&out.stderr)
    );
}

/// A metrics file parsed, with its nondeterministic `host` object removed.
pub fn deterministic(path: &Path) -> serde_json::Value {
    let v: serde_json::Value = serde_json::from_slice(&std::fs::read(path).unwrap()).unwrap();
    mnist_app::metrics::deterministic_part(&v)
}

/// A metrics file's `host` object.
pub fn host(path: &Path) -> serde_json::Value {
    let v: serde_json::Value = serde_json::from_slice(&std::fs::read(path).unwrap()).unwrap();
    metrics_doc::host_part(&v).cloned().unwrap_or_default()
}

/// The metrics file's bytes up to the `host` object: what must be identical byte for byte.
pub fn bytes_before_host(path: &Path) -> Vec<u8> {
    let bytes = std::fs::read(path).unwrap();
    let at = bytes
        .windows(8)
        .position(|w| w == b"\"host\": ")
        .expect("metrics has a host object");
    bytes[..at].to_vec()
}
