//! The project directory tree, as stock BOINC lays it out, and the `bin/` links.
//!
//! Same folders as stock `make_project` minus the PHP web site (`html/`, `py/`), plus three of
//! ours: `results/` (assimilated outputs), `reports/` (series reports) and `archives/`
//! (`db_purge`). `cgi-bin/` stays, empty, because stock C++ tools only recognise a project
//! directory that has one. `upload/` and `log_<host>/` are setgid and group-writable (2770) as
//! in stock BOINC, so a web server account in the project's group can write there; `keys/` is
//! private to the owner (stock leaves it world-readable).
//!
//! `bin/` holds symbolic links (or copies, with `--copy-bin`) to rboinc's binaries, found in the
//! directory of the running `make_project` (cargo puts them all in one `target/<profile>/`):
//! `bin/start` and the daemons' `<cmd>` lines find them there.

use std::io;
use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};

/// Folders created in every project (relative to the root), with their modes.
pub fn directories(host: &str) -> Vec<(String, u32)> {
    let mut dirs: Vec<(String, u32)> = [
        ("apps", 0o755),
        ("archives", 0o755),
        ("bin", 0o755),
        ("cgi-bin", 0o755),
        ("download", 0o755),
        ("keys", 0o700),
        ("reports", 0o755),
        ("results", 0o755),
        ("templates", 0o755),
        ("upload", 0o2770),
    ]
    .iter()
    .map(|(d, m)| (d.to_string(), *m))
    .collect();
    dirs.push((format!("log_{host}"), 0o2770));
    dirs.push((format!("pid_{host}"), 0o755));
    dirs.push((format!("tmp_{host}"), 0o755));
    dirs
}

/// rboinc's binaries that a project links into `bin/` when they exist.
pub const BINARIES: &[&str] = &[
    "scheduler",
    "transitioner",
    "validator",
    "sample_bitwise_validator",
    "sample_trivial_validator",
    "script_validator",
    "script_assimilator",
    "sample_dummy_assimilator",
    "file_deleter",
    "db_purge",
    "work_generator",
    "create_work",
    "update_versions",
    "xadd",
    "make_project",
    "series",
    "sign_executable",
    "crypt_prog",
    "start",
    "stop",
    "status",
];

/// Creates the folders under `root` (which must exist).
pub fn create_directories(root: &Path, host: &str) -> io::Result<()> {
    for (dir, mode) in directories(host) {
        let path = root.join(&dir);
        std::fs::create_dir(&path)?;
        // Set explicitly: the umask would otherwise strip the setgid and group bits.
        std::fs::set_permissions(&path, std::fs::Permissions::from_mode(mode))?;
    }
    Ok(())
}

/// What linking `bin/` did.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct BinLinks {
    /// Names linked (or copied) into `bin/`.
    pub linked: Vec<String>,
    /// Names not found in the source directory.
    pub missing: Vec<String>,
}

/// Links (or copies) every binary of [`BINARIES`] found in `source` into `bin_dir`.
pub fn link_binaries(source: &Path, bin_dir: &Path, copy: bool) -> io::Result<BinLinks> {
    let mut out = BinLinks::default();
    let source = source.canonicalize()?;
    for name in BINARIES {
        let from = source.join(name);
        if !from.is_file() {
            out.missing.push(name.to_string());
            continue;
        }
        let to = bin_dir.join(name);
        if copy {
            std::fs::copy(&from, &to)?;
        } else {
            std::os::unix::fs::symlink(&from, &to)?;
        }
        out.linked.push(name.to_string());
    }
    Ok(out)
}

/// The directory of the running executable (where cargo puts all of rboinc's binaries).
pub fn own_binary_dir() -> io::Result<PathBuf> {
    let exe = std::env::current_exe()?;
    exe.parent()
        .map(Path::to_path_buf)
        .ok_or_else(|| io::Error::other("the executable has no parent directory"))
}
