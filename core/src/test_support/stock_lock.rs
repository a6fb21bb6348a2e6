//! BOINC's `bin/start` locking, reproduced with the same Python call, for tests that check our
//! locks interoperate with it.
//!
//! The stock script opens a daemon's lock file for writing, marks the descriptor inheritable,
//! takes `fcntl.lockf(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)`, writes the pid file and `exec`s the
//! daemon, which keeps the lock for its life. [`LockfHolder`] is a `python3` process doing
//! exactly that (then `exec`ing `sleep` as the "daemon"), so a test sees a daemon started by
//! the stock supervisor without BOINC's Python package installed; [`lockf_would_block`] asks
//! the question the stock `start` asks before starting a daemon.

use std::io::{BufRead, BufReader};
use std::path::Path;
use std::process::{Child, Command, Stdio};

/// Takes the lock as `bin/start` does, says `held`, writes the pid file if one is named, and
/// becomes the "daemon" (`sleep`), which inherits the lock across `exec`.
const HOLD: &str = r#"
import fcntl, os, sys
lock_path, pid_path = sys.argv[1], sys.argv[2]
f = open(lock_path, 'w')
os.set_inheritable(f.fileno(), True)
try:
    fcntl.lockf(f.fileno(), fcntl.LOCK_EX | fcntl.LOCK_NB)
except OSError:
    print('busy', flush=True)
    sys.exit(3)
if pid_path:
    with open(pid_path, 'w') as p:
        print(os.getpid(), file=p)
print('held', flush=True)
os.execvp('sleep', ['sleep', '600'])
"#;

/// Asks as `bin/start` does whether a lock is free: exit 0 if `lockf` got it (and let it go).
const PROBE: &str = r#"
import fcntl, sys
f = open(sys.argv[1], 'a')
try:
    fcntl.lockf(f.fileno(), fcntl.LOCK_EX | fcntl.LOCK_NB)
except OSError:
    sys.exit(3)
"#;

/// A process holding a lock file's lock the way a daemon started by BOINC's `bin/start` does.
/// Killed on `Drop`.
#[derive(Debug)]
pub struct LockfHolder {
    child: Child,
}

impl LockfHolder {
    /// Locks `lock` from a new `python3` process running in `cwd` (BOINC runs daemons in
    /// `tmp_<host>/`); panics if the lock is busy or Python is missing.
    pub fn start(lock: &Path, cwd: &Path) -> LockfHolder {
        Self::try_start(lock, None, cwd).expect("the lock is free for the stock-style holder")
    }

    /// Like [`LockfHolder::start`], also writing its pid to `pid_file` as `bin/start` does;
    /// `None` when the lock is busy (the stock `start` would report "already running").
    pub fn try_start(lock: &Path, pid_file: Option<&Path>, cwd: &Path) -> Option<LockfHolder> {
        let mut child = Command::new("python3")
            .arg("-c")
            .arg(HOLD)
            .arg(lock)
            .arg(pid_file.map(|p| p.as_os_str()).unwrap_or_default())
            .current_dir(cwd)
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .spawn()
            .expect("spawn python3 (BOINC's start is a Python 3 script)");
        let mut line = String::new();
        BufReader::new(child.stdout.take().expect("piped"))
            .read_line(&mut line)
            .expect("read the holder's answer");
        match line.trim() {
            "held" => Some(LockfHolder { child }),
            "busy" => {
                let _ = child.wait();
                None
            }
            other => panic!("stock-style lock holder said {other:?}"),
        }
    }

    /// The holder's process id (the "daemon" after `exec`).
    pub fn pid(&self) -> i32 {
        self.child.id() as i32
    }

    /// Whether the holder still runs (it ends when signalled, e.g. by `stop`).
    pub fn running(&mut self) -> bool {
        matches!(self.child.try_wait(), Ok(None))
    }
}

impl Drop for LockfHolder {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// Whether Python's `fcntl.lockf(LOCK_EX | LOCK_NB)` — BOINC's `bin/start` — would be refused
/// on `lock` right now (it takes the lock only for an instant if it is free).
pub fn lockf_would_block(lock: &Path) -> bool {
    let status = Command::new("python3")
        .arg("-c")
        .arg(PROBE)
        .arg(lock)
        .status()
        .expect("run python3");
    match status.code() {
        Some(0) => false,
        Some(3) => true,
        _ => panic!("lockf probe failed: {status}"),
    }
}
