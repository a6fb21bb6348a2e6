//! Starting one `<daemon>` or `<task>` command the way BOINC's `bin/start` does.
//!
//! For each entry: take its lock file (busy means it already runs: do nothing), append the
//! `[YYYY/MM/DD HH:MM:SS] Executing command: <cmd>` line to its log, start the program
//! detached from the terminal (its own process group, stdin from `/dev/null`, stdout and
//! stderr appended to the log, working directory `tmp_<host>/`, `PATH` with the project's
//! `bin/` first) holding the lock descriptor, and write its pid file. The lock is
//! released by the kernel when the daemon exits, however it exits.
//!
//! `<use_shell>` entries run as `/bin/sh -c 'trap "kill 0" INT QUIT HUP TERM; <cmd> & wait'`,
//! so a stop signal reaches the whole pipeline.

use std::ffi::OsString;
use std::fs::OpenOptions;
use std::io::{self, Write};
use std::os::unix::process::CommandExt;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::SystemTime;

use super::command::{self, CommandError};
use rboinc_core::run_files::{lock, pid};

use super::process;

/// What to run and where its files go.
#[derive(Debug, Clone)]
pub struct LaunchSpec<'a> {
    pub cmd: &'a str,
    pub use_shell: bool,
    /// The lock file (in `pid_<host>/`).
    pub lock_path: PathBuf,
    /// The log (daemons) or output (tasks) file, appended to.
    pub log_path: PathBuf,
    /// Daemons only: where the pid goes.
    pub pid_path: Option<PathBuf>,
    /// The working directory, `tmp_<host>/`.
    pub cwd: &'a Path,
    /// `PATH` for the program (see [`command::daemon_path`]).
    pub path_var: &'a OsString,
}

/// Why an entry was not started.
#[derive(Debug, thiserror::Error)]
pub enum LaunchError {
    #[error(transparent)]
    Command(#[from] CommandError),
    #[error("{what} {}: {source}", path.display())]
    Io {
        what: &'static str,
        path: PathBuf,
        #[source]
        source: io::Error,
    },
}

fn io_err<'a>(what: &'static str, path: &'a Path) -> impl FnOnce(io::Error) -> LaunchError + 'a {
    move |source| LaunchError::Io {
        what,
        path: path.to_path_buf(),
        source,
    }
}

/// The outcome of one launch.
#[derive(Debug)]
pub enum Launched {
    /// Started; the caller may watch the child for an early exit.
    Started(Child),
    /// Its lock was busy: it runs already (with the pid in its pid file, if any).
    AlreadyRunning(Option<i32>),
}

/// Builds the command for `spec`, checking the line first (no file is touched on an error).
fn build(spec: &LaunchSpec<'_>) -> Result<Command, LaunchError> {
    let mut cmd = if spec.use_shell {
        if spec.cmd.trim().is_empty() {
            return Err(CommandError::Empty.into());
        }
        let mut c = Command::new("/bin/sh");
        c.arg("-c").arg(format!(
            "trap \"kill 0\" INT QUIT HUP TERM; {} & wait",
            spec.cmd.trim()
        ));
        c
    } else {
        let words = command::words(spec.cmd)?;
        let program = command::resolve(&words[0], spec.path_var, spec.cwd)?;
        let mut c = Command::new(program);
        // The program sees its own name as BOINC would exec it (`transitioner`, not a path).
        c.arg0(&words[0]).args(&words[1..]);
        c
    };
    cmd.current_dir(spec.cwd)
        .env("PATH", spec.path_var)
        .stdin(Stdio::null())
        // Its own process group: a Ctrl-C in the terminal that ran `start` does not reach the
        // daemons, and `stop` can signal a daemon together with the scripts it started.
        .process_group(0);
    Ok(cmd)
}

/// Starts `spec` unless it already runs (see the module docs).
pub fn launch(spec: &LaunchSpec<'_>) -> Result<Launched, LaunchError> {
    let mut cmd = build(spec)?;
    let Some(held) = lock::try_lock(&spec.lock_path).map_err(io_err("lock", &spec.lock_path))?
    else {
        let pid = spec.pid_path.as_deref().and_then(pid::read_pid_file);
        return Ok(Launched::AlreadyRunning(pid));
    };
    let mut log = OpenOptions::new()
        .create(true)
        .append(true)
        .open(&spec.log_path)
        .map_err(io_err("open log", &spec.log_path))?;
    writeln!(
        log,
        "[{}] Executing command: {}",
        process::timestamp(SystemTime::now()),
        spec.cmd.trim()
    )
    .map_err(io_err("write log", &spec.log_path))?;
    let err_log = log
        .try_clone()
        .map_err(io_err("open log", &spec.log_path))?;
    cmd.stdout(log).stderr(err_log);
    held.make_inheritable()
        .map_err(io_err("lock", &spec.lock_path))?;
    let child = cmd.spawn().map_err(io_err("start", &spec.lock_path))?;
    // Our copy of the lock descriptor closes here; the child's keeps the lock.
    drop(held);
    if let Some(pid_path) = &spec.pid_path {
        pid::write_pid_file(pid_path, child.id()).map_err(io_err("write", pid_path))?;
    }
    Ok(Launched::Started(child))
}
