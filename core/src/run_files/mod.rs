//! The files a project's daemons run with, laid out as BOINC's `bin/start` lays them out.
//!
//! `start` (ours, or BOINC's) runs each `config.xml` `<daemon>` of this host with an exclusive
//! lock on `pid_<host>/<lock file>` that the daemon inherits, writes its pid to
//! `pid_<host>/<pid file>` and appends its output to `log_<host>/<log file>` (the names are
//! [`DaemonEntry`]'s: `<program>.lock|pid|log` unless `config.xml` says otherwise). It keeps
//! whether the project is enabled, and when each task last ran, in `run_state_<host>.xml`
//! ([`RunState`]), and serialises itself on `pid_<host>/start.lock.<host>`.
//!
//! A daemon runs when its lock is held *and* the pid in its pid file is a live process: a pid
//! file alone can be stale or name a recycled pid, a lock lives exactly as long as the daemon
//! ([`DaemonFiles::probe`]). `start`/`stop`/`status` and the scheduler's ops page both answer
//! "is it running?" with this rule.
//!
//! Map: [`lock`] (taking and probing locks), [`pid`] (pid files, live processes),
//! [`run_state`] (`run_state_<host>.xml`).

pub mod lock;
pub mod pid;
pub mod run_state;

use std::path::PathBuf;
use std::time::SystemTime;

use crate::config::DaemonEntry;
use crate::project::ProjectDir;

pub use lock::{HeldLock, is_locked, try_lock};
pub use run_state::RunState;

/// Where one daemon's pid, lock and log files are.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DaemonFiles {
    /// `pid_<host>/<pid file>`.
    pub pid: PathBuf,
    /// `pid_<host>/<lock file>`.
    pub lock: PathBuf,
    /// `log_<host>/<log file>`.
    pub log: PathBuf,
}

/// What a daemon's files say about it right now.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct DaemonProbe {
    /// The pid in its pid file, if readable.
    pub pid: Option<i32>,
    /// Some process holds its lock.
    pub locked: bool,
    /// Locked and the pid is a live process: the daemon runs.
    pub running: bool,
    /// When its pid file was written (its start), while it runs.
    pub started: Option<SystemTime>,
}

impl DaemonFiles {
    /// The files of `daemon` in the project `dir` (for `dir`'s host).
    pub fn of(dir: &ProjectDir, daemon: &DaemonEntry) -> DaemonFiles {
        let (pid_dir, log_dir) = (dir.pid_dir(), dir.log_dir());
        DaemonFiles {
            pid: pid_dir.join(daemon.pid_file_name()),
            lock: pid_dir.join(daemon.lock_file_name()),
            log: log_dir.join(daemon.log_file_name()),
        }
    }

    /// Whether the daemon runs, by its lock and its pid. Probing takes the lock for an instant
    /// when it is free; a `start` racing with the probe then reports "already running" once,
    /// which is harmless.
    pub fn probe(&self) -> DaemonProbe {
        let pid = pid::read_pid_file(&self.pid);
        let locked = lock::is_locked(&self.lock).unwrap_or(false);
        let running = locked && pid.is_some_and(pid::is_alive);
        let started = running
            .then(|| self.pid.metadata().and_then(|m| m.modified()).ok())
            .flatten();
        DaemonProbe {
            pid,
            locked,
            running,
            started,
        }
    }
}

/// `run_state_<host>.xml` of the project `dir`.
pub fn run_state_path(dir: &ProjectDir) -> PathBuf {
    run_state::path(dir.root(), dir.host())
}

/// `pid_<host>/start.lock.<host>`, which serialises `start`, `stop` and `start --cron`.
pub fn start_lock_path(dir: &ProjectDir) -> PathBuf {
    dir.pid_dir().join(format!("start.lock.{}", dir.host()))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::Config;

    const CONFIG: &str = "<boinc><config>\
        <master_url>http://127.0.0.1:1/p/</master_url>\
        <db_name>x</db_name><db_user>root</db_user><db_host>127.0.0.1</db_host>\
        </config><daemons>\
        <daemon><cmd>transitioner -d 3</cmd></daemon>\
        <daemon><cmd>validator -d 3 --app mnist</cmd><output>validator_mnist.log</output><pid_file>validator_mnist.pid</pid_file></daemon>\
        </daemons></boinc>";

    fn project() -> (tempfile::TempDir, Config, ProjectDir) {
        let tmp = tempfile::tempdir().unwrap();
        std::fs::write(tmp.path().join("config.xml"), CONFIG).unwrap();
        let config = Config::load(tmp.path()).unwrap();
        let dir = ProjectDir::open(tmp.path()).unwrap().with_host("here");
        std::fs::create_dir_all(dir.pid_dir()).unwrap();
        std::fs::create_dir_all(dir.log_dir()).unwrap();
        (tmp, config, dir)
    }

    #[test]
    fn files_are_laid_out_as_bin_start_does() {
        let (tmp, config, dir) = project();
        let t = DaemonFiles::of(&dir, &config.daemons[0]);
        assert_eq!(t.pid, tmp.path().join("pid_here/transitioner.pid"));
        assert_eq!(t.lock, tmp.path().join("pid_here/transitioner.lock"));
        assert_eq!(t.log, tmp.path().join("log_here/transitioner.log"));
        let v = DaemonFiles::of(&dir, &config.daemons[1]);
        assert_eq!(v.pid, tmp.path().join("pid_here/validator_mnist.pid"));
        assert_eq!(v.lock, tmp.path().join("pid_here/validator_mnist.log.lock"));
        assert_eq!(v.log, tmp.path().join("log_here/validator_mnist.log"));
        assert_eq!(run_state_path(&dir), tmp.path().join("run_state_here.xml"));
        assert_eq!(
            start_lock_path(&dir),
            tmp.path().join("pid_here/start.lock.here")
        );
    }

    #[test]
    fn running_needs_a_held_lock_and_a_live_pid() {
        let (_tmp, config, dir) = project();
        let files = DaemonFiles::of(&dir, &config.daemons[0]);
        let me = std::process::id() as i32;
        assert_eq!(
            files.probe(),
            DaemonProbe {
                pid: None,
                locked: false,
                running: false,
                started: None
            }
        );
        pid::write_pid_file(&files.pid, me as u32).unwrap();
        // A pid file whose lock nobody holds (the daemon died): not running.
        let p = files.probe();
        assert!(p.pid == Some(me) && !p.locked && !p.running && p.started.is_none());
        let held = try_lock(&files.lock).unwrap().unwrap();
        let p = files.probe();
        assert!(p.locked && p.running && p.started.is_some());
        // A held lock with a dead pid is not running either.
        pid::write_pid_file(&files.pid, 999_999_999).unwrap();
        assert!(!files.probe().running && files.probe().locked);
        drop(held);
        assert!(!files.probe().locked);
    }
}
