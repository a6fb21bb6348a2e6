//! Where the daemon tests and benchmarks find the workspace and the binaries cargo built next
//! to them (each support module includes this file, so there is one copy of the rule).
#![allow(dead_code)] // each test binary uses a different part

use std::path::{Path, PathBuf};

/// The workspace root: the nearest directory above the crate holding `Cargo.lock` (this
/// crate, or the example plug-in crate under `daemons/examples/`).
pub fn workspace_root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .ancestors()
        .skip(1)
        .find(|d| d.join("Cargo.lock").is_file())
        .expect("crate is inside the workspace")
        .to_path_buf()
}

/// Our executable with the given name, built by cargo next to this test or bench binary
/// (`target/<profile>/deps/<test>` → `target/<profile>/<name>`).
pub fn binary(name: &str) -> PathBuf {
    let exe = std::env::current_exe().expect("test executable path");
    let mut dir = exe.parent().expect("deps dir").to_path_buf();
    if dir.ends_with("deps") {
        dir.pop();
    }
    let path = dir.join(name);
    assert!(
        path.exists(),
        "daemon binary {} was not built (is `{name}` a [[bin]] of the crate under test?)",
        path.display()
    );
    path
}
