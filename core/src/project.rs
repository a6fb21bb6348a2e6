//! The project directory: where it is, and the host-specific paths and
//! trigger files inside it.
//!
//! Every rboinc binary finds the project the way BOINC's C++ programs do, so
//! the same `bin/start` launch (daemons run with `tmp_<host>/` as their
//! working directory) works unchanged:
//! 1. `--project-dir DIR` if given;
//! 2. the `BOINC_PROJECT_DIR` environment variable if set (an error if it
//!    does not point at a project);
//! 3. the current directory, then its parent.
//!
//! BOINC's C++ rule also requires a `cgi-bin/` directory next to
//! `config.xml`. An rboinc project serves the scheduler from its own binary
//! and may have no `cgi-bin/`, so we accept `config.xml` alone. The cost is
//! small: a stray `config.xml` in a daemon's working directory would be taken
//! for a project, which BOINC's layout (daemons run in `tmp_<host>/`) never
//! produces.
//!
//! Trigger files are BOINC's: `stop_daemons` (every daemon exits at its next
//! check), `stop_sched` (the scheduler refuses RPCs), `reread_db` (the feeder
//! reloads apps and versions, then deletes the file).

use std::ffi::OsString;
use std::io;
use std::path::{Path, PathBuf};

pub const CONFIG_FILE: &str = "config.xml";
pub const CONFIG_AUX_FILE: &str = "config_aux.xml";
pub const STOP_DAEMONS_FILE: &str = "stop_daemons";
pub const STOP_SCHED_FILE: &str = "stop_sched";
pub const REREAD_DB_FILE: &str = "reread_db";
/// The environment variable BOINC's programs read for the project directory.
pub const PROJECT_DIR_ENV: &str = "BOINC_PROJECT_DIR";

/// Why no project directory could be used.
#[derive(Debug, thiserror::Error)]
pub enum ProjectError {
    #[error("{}: not a project directory (no {CONFIG_FILE})", path.display())]
    NotAProject { path: PathBuf },

    #[error("{PROJECT_DIR_ENV}={}: not a project directory (no {CONFIG_FILE})", path.display())]
    EnvNotAProject { path: PathBuf },

    #[error(
        "not in a project directory or subdirectory: no {CONFIG_FILE} in {} or its parent \
         (give --project-dir or set {PROJECT_DIR_ENV})",
        cwd.display()
    )]
    NotFound { cwd: PathBuf },

    #[error("cannot resolve {}: {source}", path.display())]
    Io {
        path: PathBuf,
        #[source]
        source: io::Error,
    },
}

/// A located project directory, with this machine's short host name.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ProjectDir {
    root: PathBuf,
    host: String,
}

fn is_project_dir(dir: &Path) -> bool {
    dir.join(CONFIG_FILE).is_file()
}

impl ProjectDir {
    /// Finds the project as described in the module docs, from the real
    /// environment and working directory.
    pub fn locate(explicit: Option<&Path>) -> Result<Self, ProjectError> {
        let cwd = std::env::current_dir().map_err(|source| ProjectError::Io {
            path: PathBuf::from("."),
            source,
        })?;
        Self::locate_from(explicit, std::env::var_os(PROJECT_DIR_ENV), &cwd)
    }

    /// [`ProjectDir::locate`] with the environment and working directory given.
    pub fn locate_from(
        explicit: Option<&Path>,
        env_dir: Option<OsString>,
        cwd: &Path,
    ) -> Result<Self, ProjectError> {
        if let Some(dir) = explicit {
            return Self::open(&cwd.join(dir));
        }
        if let Some(dir) = env_dir.filter(|d| !d.is_empty()) {
            let path = cwd.join(dir);
            if !is_project_dir(&path) {
                return Err(ProjectError::EnvNotAProject { path });
            }
            return Self::open(&path);
        }
        for candidate in [cwd.to_path_buf(), cwd.join("..")] {
            if is_project_dir(&candidate) {
                return Self::open(&candidate);
            }
        }
        Err(ProjectError::NotFound {
            cwd: cwd.to_path_buf(),
        })
    }

    /// Uses `dir` as the project directory; it must contain `config.xml`.
    /// The path is made absolute (and `..` resolved), so it stays valid
    /// whatever the working directory becomes.
    pub fn open(dir: &Path) -> Result<Self, ProjectError> {
        if !is_project_dir(dir) {
            return Err(ProjectError::NotAProject {
                path: dir.to_path_buf(),
            });
        }
        let root = dir.canonicalize().map_err(|source| ProjectError::Io {
            path: dir.to_path_buf(),
            source,
        })?;
        Ok(ProjectDir {
            root,
            host: short_hostname(),
        })
    }

    /// The same project as seen from another host name (for tools that
    /// manage several hosts' directories, and for tests).
    pub fn with_host(mut self, host: impl Into<String>) -> Self {
        self.host = host.into();
        self
    }

    pub fn root(&self) -> &Path {
        &self.root
    }

    /// This machine's short host name, as used in `pid_<host>` etc.
    pub fn host(&self) -> &str {
        &self.host
    }

    pub fn config_path(&self) -> PathBuf {
        self.root.join(CONFIG_FILE)
    }

    pub fn config_aux_path(&self) -> PathBuf {
        self.root.join(CONFIG_AUX_FILE)
    }

    /// `pid_<host>/`: pid and lock files written by the start tool.
    pub fn pid_dir(&self) -> PathBuf {
        self.root.join(format!("pid_{}", self.host))
    }

    /// `log_<host>/`: daemon logs (`<name>.log`) and task output (`<name>.out`).
    pub fn log_dir(&self) -> PathBuf {
        self.root.join(format!("log_{}", self.host))
    }

    /// `tmp_<host>/`: the working directory of daemons and tasks.
    pub fn tmp_dir(&self) -> PathBuf {
        self.root.join(format!("tmp_{}", self.host))
    }

    pub fn stop_daemons_path(&self) -> PathBuf {
        self.root.join(STOP_DAEMONS_FILE)
    }

    pub fn stop_sched_path(&self) -> PathBuf {
        self.root.join(STOP_SCHED_FILE)
    }

    pub fn reread_db_path(&self) -> PathBuf {
        self.root.join(REREAD_DB_FILE)
    }

    /// Whether `stop_daemons` is present (daemons must exit).
    pub fn stop_daemons_requested(&self) -> bool {
        self.stop_daemons_path().exists()
    }

    /// Whether `stop_sched` is present (the scheduler must refuse RPCs).
    pub fn stop_sched_requested(&self) -> bool {
        self.stop_sched_path().exists()
    }

    /// Creates `stop_daemons` (with BOINC's content, `<stop/>`).
    pub fn request_stop_daemons(&self) -> io::Result<()> {
        std::fs::write(self.stop_daemons_path(), "<stop/>\n")
    }

    /// Creates `stop_sched`.
    pub fn request_stop_sched(&self) -> io::Result<()> {
        std::fs::write(self.stop_sched_path(), "<stop/>\n")
    }

    /// Removes a trigger file; succeeds if it was not there.
    pub fn clear_trigger(&self, name: &str) -> io::Result<()> {
        match std::fs::remove_file(self.root.join(name)) {
            Err(e) if e.kind() != io::ErrorKind::NotFound => Err(e),
            _ => Ok(()),
        }
    }

    /// Creates `reread_db` (after registering app versions).
    pub fn request_reread_db(&self) -> io::Result<()> {
        std::fs::write(self.reread_db_path(), "")
    }

    /// If `reread_db` is present, deletes it and returns true (the feeder's
    /// check: exactly one reader acts on each trigger).
    pub fn take_reread_db(&self) -> io::Result<bool> {
        match std::fs::remove_file(self.reread_db_path()) {
            Ok(()) => Ok(true),
            Err(e) if e.kind() == io::ErrorKind::NotFound => Ok(false),
            Err(e) => Err(e),
        }
    }
}

/// This machine's host name as `gethostname()` returns it.
pub fn hostname() -> String {
    rustix::system::uname()
        .nodename()
        .to_string_lossy()
        .into_owned()
}

/// The host name up to the first dot: BOINC's `<host>` and the suffix of
/// `pid_<host>`, `log_<host>`, `tmp_<host>`.
pub fn short_hostname() -> String {
    short(&hostname()).to_string()
}

fn short(name: &str) -> &str {
    name.split('.').next().unwrap_or(name)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn project(dir: &Path) {
        std::fs::write(dir.join(CONFIG_FILE), "<boinc><config/></boinc>").unwrap();
    }

    #[test]
    fn short_names() {
        assert_eq!(short("server1.example.org"), "server1");
        assert_eq!(short("server1"), "server1");
        assert!(!short_hostname().contains('.'));
        assert!(!hostname().is_empty());
    }

    #[test]
    fn finds_current_then_parent_directory() {
        let tmp = tempfile::tempdir().unwrap();
        let root = tmp.path().canonicalize().unwrap();
        project(&root);
        let sub = root.join("tmp_host");
        std::fs::create_dir(&sub).unwrap();

        let p = ProjectDir::locate_from(None, None, &root).unwrap();
        assert_eq!(p.root(), root);
        let p = ProjectDir::locate_from(None, None, &sub).unwrap();
        assert_eq!(
            p.root(),
            root,
            "daemons run in tmp_<host>/ and find the parent"
        );

        let elsewhere = tempfile::tempdir().unwrap();
        let e = ProjectDir::locate_from(None, None, elsewhere.path()).unwrap_err();
        assert!(matches!(e, ProjectError::NotFound { .. }));
        assert!(
            e.to_string()
                .starts_with("not in a project directory or subdirectory")
        );
    }

    #[test]
    fn explicit_and_env_take_precedence() {
        let a = tempfile::tempdir().unwrap();
        let b = tempfile::tempdir().unwrap();
        project(a.path());
        project(b.path());
        let a_root = a.path().canonicalize().unwrap();
        let b_root = b.path().canonicalize().unwrap();

        let p = ProjectDir::locate_from(None, Some(b_root.clone().into()), &a_root).unwrap();
        assert_eq!(p.root(), b_root);
        let p = ProjectDir::locate_from(Some(&a_root), Some(b_root.into()), &a_root).unwrap();
        assert_eq!(p.root(), a_root);
    }

    #[test]
    fn env_pointing_elsewhere_is_an_error() {
        let a = tempfile::tempdir().unwrap();
        project(a.path());
        let empty = tempfile::tempdir().unwrap();
        let e = ProjectDir::locate_from(None, Some(empty.path().into()), a.path()).unwrap_err();
        assert_eq!(
            e.to_string(),
            format!(
                "BOINC_PROJECT_DIR={}: not a project directory (no config.xml)",
                empty.path().display()
            )
        );
        let e = ProjectDir::locate_from(Some(empty.path()), None, a.path()).unwrap_err();
        assert!(matches!(e, ProjectError::NotAProject { .. }));
    }

    #[test]
    fn host_paths_and_triggers() {
        let tmp = tempfile::tempdir().unwrap();
        project(tmp.path());
        let p = ProjectDir::open(tmp.path()).unwrap().with_host("web1");
        assert!(p.pid_dir().ends_with("pid_web1"));
        assert!(p.log_dir().ends_with("log_web1"));
        assert!(p.tmp_dir().ends_with("tmp_web1"));

        assert!(!p.stop_daemons_requested());
        p.request_stop_daemons().unwrap();
        assert!(p.stop_daemons_requested());
        assert_eq!(
            std::fs::read_to_string(p.stop_daemons_path()).unwrap(),
            "<stop/>\n"
        );
        p.clear_trigger(STOP_DAEMONS_FILE).unwrap();
        p.clear_trigger(STOP_DAEMONS_FILE).unwrap();
        assert!(!p.stop_daemons_requested());

        p.request_stop_sched().unwrap();
        assert!(p.stop_sched_requested());

        assert!(!p.take_reread_db().unwrap());
        p.request_reread_db().unwrap();
        assert!(p.take_reread_db().unwrap());
        assert!(!p.take_reread_db().unwrap());
    }
}
