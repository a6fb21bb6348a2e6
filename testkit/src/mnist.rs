//! The mnist app as the end-to-end tests serve it: its static binary, the shipped dataset as
//! a bundle, and small job files.

use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::OnceLock;

use anyhow::{Context, bail};

/// The workspace root (`testkit/..`).
pub fn workspace_root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .parent()
        .expect("testkit lives in the workspace")
        .to_path_buf()
}

/// The static `mnist` binary volunteers download, built once per test process by
/// `app/build-static.sh` (a no-op when it is up to date).
pub fn static_binary() -> anyhow::Result<PathBuf> {
    static BIN: OnceLock<Result<PathBuf, String>> = OnceLock::new();
    BIN.get_or_init(|| {
        let out = Command::new("bash")
            .arg(workspace_root().join("app/build-static.sh"))
            .output()
            .map_err(|e| format!("cannot run app/build-static.sh: {e}"))?;
        if !out.status.success() {
            return Err(format!(
                "app/build-static.sh failed:\n{}",
                String::from_utf8_lossy(&out.stderr)
            ));
        }
        let stdout = String::from_utf8_lossy(&out.stdout);
        let path = PathBuf::from(stdout.lines().last().unwrap_or("").trim());
        if path.is_file() {
            Ok(path)
        } else {
            Err(format!(
                "build-static.sh named {} which is not a file",
                path.display()
            ))
        }
    })
    .clone()
    .map_err(anyhow::Error::msg)
}

/// The shipped MNIST-10k dataset (IDX directory).
pub fn dataset_dir() -> PathBuf {
    workspace_root().join("app/data/mnist-10k")
}

/// Writes the shipped dataset as a single-file bundle (the `dataset` input of a job).
pub fn write_dataset_bundle(out: &Path) -> anyhow::Result<()> {
    mnist_app::dataset::bundle::write(&dataset_dir(), out)
        .with_context(|| format!("writing the dataset bundle {}", out.display()))?;
    Ok(())
}

/// A job that trains for well under a second on the 10k digits.
pub fn small_job(seed: u64) -> String {
    format!(
        "{{\"seed\": {seed}, \"sample_count\": 600, \"train_epochs\": 2, \"batch_size\": 60, \
         \"learning_rate\": 0.05, \"val_count\": 300}}"
    )
}

/// Checks a job text the way the app will (so a test fails early on a bad job).
pub fn check_job(text: &str) -> anyhow::Result<()> {
    if let Err(e) = mnist_app::job::Job::parse(text) {
        bail!("bad job: {e}");
    }
    Ok(())
}
