//! `start`, `stop` and `status`: BOINC's `bin/start` for a project's `<daemons>` and `<tasks>`.
//!
//! A project lists its long-running programs in `config.xml` (`<daemon><cmd>transitioner -d
//! 3</cmd></daemon>`; the scheduler is one of them here, a server rather than a CGI program) and
//! its periodic jobs in `<tasks>`. This module runs them as BOINC's script does, so an operator's
//! habits, file names and cron line carry over:
//!
//! - **start** (`--enable`): marks the project enabled in `run_state_<host>.xml`, removes
//!   `stop_daemons`, starts every enabled daemon meant for this host that is not running yet
//!   ([`launch`] has the details: lock file, log, pid file, `tmp_<host>/`, `PATH`), then removes
//!   `stop_sched` so the scheduler serves RPCs again. A daemon that dies within the first
//!   moment is reported with the last line of its log.
//! - **stop** (`--disable`): marks the project disabled, creates `stop_sched` and
//!   `stop_daemons`, sends SIGHUP to every process named by a `pid_<host>/*.pid` file, waits for
//!   them (BOINC's script forgets to), kills the process groups of stragglers with SIGKILL after
//!   the timeout, and removes the pid files.
//! - **status**: each daemon with whether it runs (its lock is held), its pid, uptime and the
//!   last line of its log.
//! - **cron** (`--cron`): if the project is enabled, starts daemons that are not running and
//!   runs the tasks that are due; meant for a crontab line every few minutes.
//!
//! Files: [`command`] (the `<cmd>` line), [`launch`], [`process`] (signals), [`report`] (what
//! the commands print). The file layout (pid, lock and log files, `run_state_<host>.xml`) and
//! the "is it running?" rule are `rboinc_core::run_files`'s, shared with the scheduler's ops
//! page; its locks are the kind BOINC's script takes (`fcntl` record locks), so our `start`
//! and BOINC's never run a second copy of each other's daemons. The three binaries are one
//! program, [`cli::main`], acting by the name it is called by.

pub mod cli;
pub mod command;
pub mod launch;
pub mod process;
pub mod report;

use std::ffi::OsString;
use std::path::{Path, PathBuf};
use std::process::Child;
use std::time::{Duration, SystemTime};

use rboinc_core::config::{Config, ConfigError, DaemonEntry, TaskEntry};
use rboinc_core::project::{ProjectDir, ProjectError, STOP_DAEMONS_FILE, STOP_SCHED_FILE};
use rboinc_core::run_files::lock;
use rboinc_core::run_files::{self, DaemonFiles, RunState, pid};
use rustix::process::Signal;

use launch::{LaunchSpec, Launched};
use report::{
    DaemonStatus, StartEntry, StartOutcome, StopEntry, StopOutcome, TaskOutcome, TaskStatus,
};

/// Why a command could not do its job at all (per-daemon problems are in the reports).
#[derive(Debug, thiserror::Error)]
pub enum CtlError {
    #[error(transparent)]
    Locate(#[from] ProjectError),
    #[error(transparent)]
    Config(Box<ConfigError>),
    #[error("{what} {}: {source}", path.display())]
    Io {
        what: &'static str,
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
    #[error(
        "config.xml says the project runs as user `{want}` (<project_user_name>); you are `{have}`"
    )]
    WrongUser { want: String, have: String },
    #[error(
        "another start/stop has been working on this project for 30 s ({} is locked); is one stuck?",
        .0.display()
    )]
    Busy(PathBuf),
}

impl From<ConfigError> for CtlError {
    fn from(e: ConfigError) -> Self {
        CtlError::Config(Box::new(e))
    }
}

fn io_err<'a>(what: &'static str, path: &'a Path) -> impl FnOnce(std::io::Error) -> CtlError + 'a {
    move |source| CtlError::Io {
        what,
        path: path.to_path_buf(),
        source,
    }
}

/// How long `start` watches new daemons for an immediate exit.
pub const DEFAULT_START_CHECK: Duration = Duration::from_millis(700);
/// How long one `start`/`stop` waits for another to finish with the project.
pub const EXCLUSIVE_WAIT: Duration = Duration::from_secs(30);
/// How long `stop` waits after SIGHUP before SIGKILL.
pub const DEFAULT_STOP_TIMEOUT: Duration = Duration::from_secs(30);

/// A project's daemons and tasks on this host.
#[derive(Debug)]
pub struct Controller {
    dir: ProjectDir,
    config: Config,
    path_var: OsString,
    /// `tmp_<host>/`, the working directory of everything started.
    tmp: PathBuf,
}

impl Controller {
    /// Finds the project (`--project-dir`, `BOINC_PROJECT_DIR`, `.`, `..`) and reads its
    /// `config.xml`.
    pub fn open(explicit: Option<&Path>) -> Result<Controller, CtlError> {
        let dir = ProjectDir::locate(explicit)?;
        let config = Config::load(dir.root())?;
        // As BOINC's script: a project owned by one account is not run by another (files
        // created by the wrong user break the daemons later).
        if let Some(want) = config.option("project_user_name").filter(|u| !u.is_empty()) {
            let have = process::user_name();
            if have.as_deref() != Some(want) {
                return Err(CtlError::WrongUser {
                    want: want.to_string(),
                    have: have.unwrap_or_else(|| "?".into()),
                });
            }
        }
        Ok(Self::new(dir, config))
    }

    /// A controller over an already-read project.
    pub fn new(dir: ProjectDir, config: Config) -> Controller {
        let path_var = command::daemon_path(&dir.root().join("bin"), std::env::var_os("PATH"));
        let tmp = dir.tmp_dir();
        Controller {
            dir,
            config,
            path_var,
            tmp,
        }
    }

    pub fn project(&self) -> &ProjectDir {
        &self.dir
    }

    pub fn config(&self) -> &Config {
        &self.config
    }

    fn run_state_path(&self) -> PathBuf {
        run_files::run_state_path(&self.dir)
    }

    /// Whether the project is enabled on this host (`start` ran more recently than `stop`).
    pub fn enabled(&self) -> Result<bool, CtlError> {
        let p = self.run_state_path();
        Ok(RunState::load(&p).map_err(io_err("read", &p))?.enabled)
    }

    /// The daemons meant for this host, disabled ones included.
    pub fn local_daemons(&self) -> Vec<&DaemonEntry> {
        let host = self.dir.host();
        self.config
            .daemons
            .iter()
            .filter(|d| d.runs_on(host, self.config.host.as_deref()))
            .collect()
    }

    fn local_tasks(&self) -> Vec<&TaskEntry> {
        let host = self.dir.host();
        self.config
            .tasks
            .iter()
            .filter(|t| t.runs_on(host, self.config.host.as_deref()))
            .collect()
    }

    /// `tmp_<host>`, `log_<host>` and `pid_<host>`, created if missing.
    fn ensure_dirs(&self) -> Result<(), CtlError> {
        for d in [self.dir.tmp_dir(), self.dir.log_dir(), self.dir.pid_dir()] {
            std::fs::create_dir_all(&d).map_err(io_err("create", &d))?;
        }
        Ok(())
    }

    /// Serialises `start`/`stop`/`cron` on this project and host, as BOINC's script does with
    /// `pid_<host>/start.lock.<host>`. Unlike BOINC's, it waits up to
    /// [`EXCLUSIVE_WAIT`] for the other one to finish (a `stop` typed while a `--foreground`
    /// supervisor is in one of its rounds should just happen), then gives up with
    /// [`CtlError::Busy`].
    fn exclusive(&self) -> Result<lock::HeldLock, CtlError> {
        let p = run_files::start_lock_path(&self.dir);
        let deadline = std::time::Instant::now() + EXCLUSIVE_WAIT;
        loop {
            if let Some(held) = lock::try_lock(&p).map_err(io_err("lock", &p))? {
                return Ok(held);
            }
            if std::time::Instant::now() >= deadline {
                return Err(CtlError::Busy(p));
            }
            std::thread::sleep(Duration::from_millis(100));
        }
    }

    fn set_enabled(&self, enabled: bool) -> Result<(), CtlError> {
        let p = self.run_state_path();
        let mut s = RunState::load(&p).map_err(io_err("read", &p))?;
        s.enabled = enabled;
        s.save(&p).map_err(io_err("write", &p))
    }

    fn daemon_spec<'a>(&'a self, d: &'a DaemonEntry) -> LaunchSpec<'a> {
        let files = DaemonFiles::of(&self.dir, d);
        LaunchSpec {
            cmd: &d.cmd,
            use_shell: d.use_shell,
            lock_path: files.lock,
            log_path: files.log,
            pid_path: Some(files.pid),
            cwd: &self.tmp,
            path_var: &self.path_var,
        }
    }

    /// Starts every enabled daemon of this host that is not running (see the module docs);
    /// `check` is how long new daemons are watched for an immediate exit.
    pub fn start(&self, check: Duration) -> Result<Vec<StartEntry>, CtlError> {
        self.ensure_dirs()?;
        let _guard = self.exclusive()?;
        self.set_enabled(true)?;
        self.dir
            .clear_trigger(STOP_DAEMONS_FILE)
            .map_err(io_err("remove", &self.dir.stop_daemons_path()))?;
        let (mut entries, children) = self.start_daemons();
        watch_early_exits(&mut entries, children, check);
        self.dir
            .clear_trigger(STOP_SCHED_FILE)
            .map_err(io_err("remove", &self.dir.stop_sched_path()))?;
        Ok(entries)
    }

    /// Starts the daemons that are not running; returns the report and the new children.
    fn start_daemons(&self) -> (Vec<StartEntry>, Vec<(usize, Child)>) {
        let mut entries = Vec::new();
        let mut children = Vec::new();
        let mut claimed: Vec<(String, String, &str)> = Vec::new();
        for d in self.local_daemons() {
            let clash = claimed.iter().find_map(|(lock, pid, other)| {
                if *lock == d.lock_file_name() {
                    Some(format!(
                        "shares its lock file {lock} with `{other}`; give one of them its own \
                         <output> or <lock_file>"
                    ))
                } else if *pid == d.pid_file_name() {
                    Some(format!(
                        "shares its pid file {pid} with `{other}`; give one of them its own <pid_file>"
                    ))
                } else {
                    None
                }
            });
            if !d.disabled {
                claimed.push((d.lock_file_name(), d.pid_file_name(), &d.cmd));
            }
            let outcome = if d.disabled {
                StartOutcome::Disabled
            } else if let Some(why) = clash {
                // BOINC's script would report the first case as "already running" and let the
                // second overwrite the pid file, so that `stop` misses one daemon: refuse.
                StartOutcome::Failed(why)
            } else {
                match launch::launch(&self.daemon_spec(d)) {
                    Ok(Launched::Started(child)) => {
                        let pid = child.id() as i32;
                        children.push((entries.len(), child));
                        StartOutcome::Started(pid)
                    }
                    Ok(Launched::AlreadyRunning(pid)) => StartOutcome::AlreadyRunning(pid),
                    Err(e) => StartOutcome::Failed(e.to_string()),
                }
            };
            entries.push(StartEntry {
                cmd: d.cmd.clone(),
                log: self.dir.log_dir().join(d.log_file_name()),
                silent: d.silent_start,
                outcome,
            });
        }
        (entries, children)
    }

    /// Stops every daemon with a pid file (see the module docs); `timeout` is how long to wait
    /// after SIGHUP before SIGKILL.
    pub fn stop(&self, timeout: Duration) -> Result<Vec<StopEntry>, CtlError> {
        self.ensure_dirs()?;
        let _guard = self.exclusive()?;
        self.set_enabled(false)?;
        self.dir
            .request_stop_sched()
            .map_err(io_err("create", &self.dir.stop_sched_path()))?;
        self.dir
            .request_stop_daemons()
            .map_err(io_err("create", &self.dir.stop_daemons_path()))?;
        let pid_dir = self.dir.pid_dir();
        let files = pid::pid_files(&pid_dir).map_err(io_err("list", &pid_dir))?;
        let tmp = self.dir.tmp_dir();
        let mut entries = Vec::new();
        for file in files {
            let pid = pid::read_pid_file(&file);
            let outcome = match pid {
                Some(pid) if process::is_ours(pid, &tmp) => {
                    match process::signal(pid, Signal::HUP) {
                        Ok(()) => StopOutcome::Signalled,
                        Err(e) => StopOutcome::Failed(format!("cannot signal: {e}")),
                    }
                }
                _ => StopOutcome::NotRunning,
            };
            entries.push(StopEntry {
                pid_file: file,
                pid,
                outcome,
                seconds: 0.0,
            });
        }
        let started = std::time::Instant::now();
        let signalled: Vec<i32> = entries
            .iter()
            .filter(|e| matches!(e.outcome, StopOutcome::Signalled))
            .filter_map(|e| e.pid)
            .collect();
        let stragglers = process::wait_all_exit(&signalled, timeout);
        for pid in &stragglers {
            // Kill the group: a use_shell pipeline or a script the daemon runs goes too.
            let r = match process::own_group(*pid) {
                Some(g) => process::signal_group(g, Signal::KILL),
                None => process::signal(*pid, Signal::KILL),
            };
            if let Err(e) = r
                && let Some(entry) = entries.iter_mut().find(|x| x.pid == Some(*pid))
            {
                entry.outcome = StopOutcome::Failed(format!("cannot SIGKILL: {e}"));
            }
        }
        let survivors = process::wait_all_exit(&stragglers, Duration::from_secs(5));
        for e in &mut entries {
            let Some(pid) = e.pid else { continue };
            if !matches!(e.outcome, StopOutcome::Signalled) {
                continue;
            }
            e.seconds = started.elapsed().as_secs_f64();
            if survivors.contains(&pid) {
                e.outcome = StopOutcome::Failed("still running after SIGKILL".into());
            } else if stragglers.contains(&pid) {
                e.outcome = StopOutcome::Killed;
            } else {
                e.outcome = StopOutcome::Stopped;
            }
        }
        for e in &entries {
            if !matches!(e.outcome, StopOutcome::Failed(_)) {
                process::remove_if_exists(&e.pid_file).map_err(io_err("remove", &e.pid_file))?;
            }
        }
        Ok(entries)
    }

    /// The state of each daemon of this host.
    pub fn status(&self) -> Vec<DaemonStatus> {
        let now = SystemTime::now();
        self.local_daemons()
            .into_iter()
            .map(|d| {
                let files = DaemonFiles::of(&self.dir, d);
                let probe = files.probe();
                DaemonStatus {
                    cmd: d.cmd.clone(),
                    disabled: d.disabled,
                    running: probe.running,
                    locked: probe.locked,
                    pid: probe.pid,
                    uptime: probe.started.and_then(|t| now.duration_since(t).ok()),
                    last_log_line: process::last_line(&files.log),
                    log: files.log,
                }
            })
            .collect()
    }

    /// The tasks of this host with when they last ran and run next (`None`: never ran).
    pub fn task_status(&self) -> Result<Vec<TaskStatus>, CtlError> {
        let p = self.run_state_path();
        let state = RunState::load(&p).map_err(io_err("read", &p))?;
        Ok(self
            .local_tasks()
            .into_iter()
            .map(|t| {
                let last = state.last_run(&t.cmd);
                TaskStatus {
                    cmd: t.cmd.clone(),
                    period: t.period.text.clone(),
                    disabled: t.disabled,
                    last_run: (last > 0.0).then_some(last),
                    next_run: last + t.period.duration.as_secs_f64(),
                    running: lock::is_locked(&self.dir.pid_dir().join(t.lock_file_name()))
                        .unwrap_or(false),
                }
            })
            .collect())
    }

    /// `--cron`: if enabled, starts the daemons that are not running; runs due tasks (and
    /// `<always_run>` tasks even when disabled; every task with `ignore_timestamps`). Returns
    /// `None` for the daemons when disabled.
    pub fn cron(
        &self,
        check: Duration,
        ignore_timestamps: bool,
    ) -> Result<(Option<Vec<StartEntry>>, Vec<TaskOutcome>), CtlError> {
        self.ensure_dirs()?;
        let _guard = self.exclusive()?;
        let p = self.run_state_path();
        let mut state = RunState::load(&p).map_err(io_err("read", &p))?;
        let daemons = if state.enabled {
            let (mut entries, children) = self.start_daemons();
            watch_early_exits(&mut entries, children, check);
            Some(entries)
        } else {
            None
        };
        let now = rboinc_core::clock::now_f64();
        let mut tasks = Vec::new();
        for t in self.local_tasks() {
            if t.disabled || !(state.enabled || t.always_run) {
                continue;
            }
            let next = state.last_run(&t.cmd) + t.period.duration.as_secs_f64();
            if now < next && !ignore_timestamps {
                tasks.push(TaskOutcome::NotDue {
                    cmd: t.cmd.clone(),
                    in_secs: next - now,
                });
                continue;
            }
            let spec = LaunchSpec {
                cmd: &t.cmd,
                use_shell: t.use_shell,
                lock_path: self.dir.pid_dir().join(t.lock_file_name()),
                log_path: self.dir.log_dir().join(t.output_file_name()),
                pid_path: None,
                cwd: &self.tmp,
                path_var: &self.path_var,
            };
            tasks.push(match launch::launch(&spec) {
                Ok(Launched::Started(child)) => {
                    state.set_last_run(&t.cmd, now);
                    TaskOutcome::Started {
                        cmd: t.cmd.clone(),
                        pid: child.id() as i32,
                    }
                }
                Ok(Launched::AlreadyRunning(_)) => TaskOutcome::StillRunning(t.cmd.clone()),
                Err(e) => TaskOutcome::Failed {
                    cmd: t.cmd.clone(),
                    error: e.to_string(),
                },
            });
        }
        state.save(&p).map_err(io_err("write", &p))?;
        Ok((daemons, tasks))
    }
}

/// Gives new daemons `check` to fail at start-up (bad flags, unreadable config, port in use) and
/// turns those that did into [`StartOutcome::ExitedAtOnce`], with their log's last line.
fn watch_early_exits(
    entries: &mut [StartEntry],
    mut children: Vec<(usize, Child)>,
    check: Duration,
) {
    if children.is_empty() {
        return;
    }
    let deadline = std::time::Instant::now() + check;
    loop {
        children.retain_mut(|(i, child)| match child.try_wait() {
            Ok(Some(status)) => {
                let last = process::last_line(&entries[*i].log).unwrap_or_default();
                entries[*i].outcome = StartOutcome::ExitedAtOnce {
                    status: status.to_string(),
                    last_log_line: last,
                };
                false
            }
            _ => true,
        });
        if children.is_empty() || std::time::Instant::now() >= deadline {
            break;
        }
        std::thread::sleep(Duration::from_millis(50));
    }
    // The survivors keep running after this process exits (they are reparented); dropping a
    // `Child` neither kills nor waits for it.
}
