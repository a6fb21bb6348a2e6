//! What `start`, `stop`, `status` and `start --cron` found and did, and how they print it.

use std::fmt::Write as _;
use std::path::PathBuf;
use std::time::Duration;

use serde::Serialize;

use super::process::format_uptime;

/// One daemon as `start` left it.
#[derive(Debug, Clone, PartialEq)]
pub struct StartEntry {
    pub cmd: String,
    pub log: PathBuf,
    /// `<silent_start>`: not listed when started normally.
    pub silent: bool,
    pub outcome: StartOutcome,
}

#[derive(Debug, Clone, PartialEq)]
pub enum StartOutcome {
    Started(i32),
    /// Its lock was held; the pid is its pid file's, if readable.
    AlreadyRunning(Option<i32>),
    Disabled,
    /// Not started (bad command line, program not found, file error).
    Failed(String),
    /// Started, but gone within the start-up check.
    ExitedAtOnce {
        status: String,
        last_log_line: String,
    },
}

impl StartOutcome {
    /// Whether the daemon is where it should be (running, or disabled on purpose).
    pub fn is_ok(&self) -> bool {
        matches!(
            self,
            StartOutcome::Started(_) | StartOutcome::AlreadyRunning(_) | StartOutcome::Disabled
        )
    }
}

/// One pid file as `stop` handled it.
#[derive(Debug, Clone, PartialEq)]
pub struct StopEntry {
    pub pid_file: PathBuf,
    pub pid: Option<i32>,
    pub outcome: StopOutcome,
    /// Seconds from the signal to the exit.
    pub seconds: f64,
}

#[derive(Debug, Clone, PartialEq)]
pub enum StopOutcome {
    /// Sent SIGHUP (transient, before the wait).
    Signalled,
    /// Exited after SIGHUP.
    Stopped,
    /// Still running at the timeout; its process group got SIGKILL.
    Killed,
    /// The pid file was stale (no such process, or not one of this project's).
    NotRunning,
    Failed(String),
}

/// One daemon as `status` sees it.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct DaemonStatus {
    pub cmd: String,
    pub disabled: bool,
    /// Its lock is held and the pid in its pid file is alive.
    pub running: bool,
    /// Its lock is held (by it, or by something it started that outlived it).
    pub locked: bool,
    pub pid: Option<i32>,
    #[serde(serialize_with = "secs")]
    pub uptime: Option<Duration>,
    pub log: PathBuf,
    pub last_log_line: Option<String>,
}

fn secs<S: serde::Serializer>(d: &Option<Duration>, s: S) -> Result<S::Ok, S::Error> {
    match d {
        Some(d) => s.serialize_some(&d.as_secs_f64()),
        None => s.serialize_none(),
    }
}

impl DaemonStatus {
    /// `running`, `stopped`, `disabled`, or `locked` (lock held but the pid is gone: a child of
    /// the daemon still holds it).
    pub fn state(&self) -> &'static str {
        match (self.running, self.disabled, self.locked) {
            (true, _, _) => "running",
            (false, _, true) => "locked",
            (false, true, false) => "disabled",
            (false, false, false) => "stopped",
        }
    }
}

/// A task as `status` shows it.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct TaskStatus {
    pub cmd: String,
    /// As written in `<period>`.
    pub period: String,
    pub disabled: bool,
    /// Seconds since the epoch; `None` if it never ran.
    pub last_run: Option<f64>,
    /// Seconds since the epoch (due now if in the past).
    pub next_run: f64,
    /// Its lock is held: a run is in progress.
    pub running: bool,
}

/// A task as `start --cron` handled it.
#[derive(Debug, Clone, PartialEq)]
pub enum TaskOutcome {
    NotDue {
        cmd: String,
        in_secs: f64,
    },
    Started {
        cmd: String,
        pid: i32,
    },
    /// Its previous run still holds the lock.
    StillRunning(String),
    Failed {
        cmd: String,
        error: String,
    },
}

fn clip(s: &str, max: usize) -> String {
    if s.chars().count() <= max {
        s.to_string()
    } else {
        let mut out: String = s.chars().take(max.saturating_sub(1)).collect();
        out.push('…');
        out
    }
}

/// `start`'s output.
pub fn render_start(entries: &[StartEntry]) -> String {
    let mut s = String::new();
    for e in entries {
        let line = match &e.outcome {
            StartOutcome::Started(_) if e.silent => continue,
            StartOutcome::Started(pid) => format!("  started          {} (pid {pid})", e.cmd),
            StartOutcome::AlreadyRunning(Some(pid)) => {
                format!("  already running  {} (pid {pid})", e.cmd)
            }
            StartOutcome::AlreadyRunning(None) => format!("  already running  {}", e.cmd),
            StartOutcome::Disabled => format!("  disabled         {}", e.cmd),
            StartOutcome::Failed(why) => format!("  NOT STARTED      {}: {why}", e.cmd),
            StartOutcome::ExitedAtOnce {
                status,
                last_log_line,
            } => format!(
                "  EXITED AT ONCE   {} ({status}); {}: {last_log_line}",
                e.cmd,
                e.log.display()
            ),
        };
        let _ = writeln!(s, "{line}");
    }
    s
}

/// `stop`'s output.
pub fn render_stop(entries: &[StopEntry]) -> String {
    let mut s = String::new();
    if entries.is_empty() {
        s.push_str("  (no daemon was running)\n");
    }
    for e in entries {
        let name = e
            .pid_file
            .file_stem()
            .map_or_else(String::new, |n| n.to_string_lossy().into_owned());
        let pid = e.pid.map_or_else(|| "?".to_string(), |p| p.to_string());
        let line = match &e.outcome {
            StopOutcome::Signalled | StopOutcome::Stopped => {
                format!("  stopped          {name} (pid {pid}, {:.1} s)", e.seconds)
            }
            StopOutcome::Killed => format!(
                "  KILLED           {name} (pid {pid}: still running {:.0} s after SIGHUP)",
                e.seconds
            ),
            StopOutcome::NotRunning => {
                format!("  not running      {name} (stale pid file removed)")
            }
            StopOutcome::Failed(why) => format!("  FAILED           {name} (pid {pid}): {why}"),
        };
        let _ = writeln!(s, "{line}");
    }
    s
}

/// `status`'s table.
pub fn render_status(enabled: bool, rows: &[DaemonStatus]) -> String {
    let mut s = format!(
        "Project is {}\n",
        if enabled { "ENABLED" } else { "DISABLED" }
    );
    if rows.is_empty() {
        s.push_str("(no daemons for this host in config.xml)\n");
        return s;
    }
    let cmd_w = rows
        .iter()
        .map(|r| r.cmd.chars().count().min(48))
        .max()
        .unwrap_or(6)
        .max(6);
    let _ = writeln!(
        s,
        "{:<cmd_w$}  {:<8}  {:>7}  {:>11}  LAST LOG LINE",
        "DAEMON", "STATE", "PID", "UPTIME"
    );
    for r in rows {
        let pid = r.pid.map_or_else(|| "-".into(), |p| p.to_string());
        let up = r.uptime.map_or_else(|| "-".into(), format_uptime);
        let last = r.last_log_line.as_deref().map_or("", str::trim);
        let _ = writeln!(
            s,
            "{:<cmd_w$}  {:<8}  {:>7}  {:>11}  {}",
            clip(&r.cmd, 48),
            r.state(),
            if r.running { pid } else { "-".into() },
            up,
            clip(last, 100)
        );
    }
    s
}

/// `status`'s task table (nothing when there are no tasks).
pub fn render_task_status(tasks: &[TaskStatus], now: f64) -> String {
    let mut s = String::new();
    if tasks.is_empty() {
        return s;
    }
    let cmd_w = tasks
        .iter()
        .map(|t| t.cmd.chars().count().min(48))
        .max()
        .unwrap_or(4)
        .max(4);
    let _ = writeln!(
        s,
        "\n{:<cmd_w$}  {:<10}  {:<19}  {:<19}  STATE",
        "TASK", "PERIOD", "LAST RUN (UTC)", "NEXT RUN (UTC)"
    );
    let when = |t: f64| {
        super::process::timestamp(std::time::UNIX_EPOCH + Duration::from_secs_f64(t.max(0.0)))
    };
    for t in tasks {
        let last = t.last_run.map_or_else(|| "never".to_string(), when);
        let next = if t.next_run <= now {
            "now".to_string()
        } else {
            when(t.next_run)
        };
        let state = match (t.disabled, t.running) {
            (true, _) => "disabled",
            (false, true) => "running",
            (false, false) => "idle",
        };
        let _ = writeln!(
            s,
            "{:<cmd_w$}  {:<10}  {:<19}  {:<19}  {state}",
            clip(&t.cmd, 48),
            t.period,
            last,
            next
        );
    }
    s
}

/// `start --cron`'s task lines.
pub fn render_tasks(tasks: &[TaskOutcome]) -> String {
    let mut s = String::new();
    for t in tasks {
        let line = match t {
            TaskOutcome::NotDue { cmd, in_secs } => {
                format!("  task not due     {cmd} (in {:.0} s)", in_secs.max(0.0))
            }
            TaskOutcome::Started { cmd, pid } => format!("  task started     {cmd} (pid {pid})"),
            TaskOutcome::StillRunning(cmd) => format!("  task running     {cmd} (previous run)"),
            TaskOutcome::Failed { cmd, error } => format!("  TASK FAILED      {cmd}: {error}"),
        };
        let _ = writeln!(s, "{line}");
    }
    s
}

#[cfg(test)]
mod tests {
    use super::*;

    fn row(cmd: &str, running: bool, disabled: bool, locked: bool) -> DaemonStatus {
        DaemonStatus {
            cmd: cmd.into(),
            disabled,
            running,
            locked,
            pid: Some(42),
            uptime: running.then(|| Duration::from_secs(3725)),
            log: PathBuf::from("log_h/x.log"),
            last_log_line: Some("2025-01-01T00:00:00Z  INFO pass done".into()),
        }
    }

    #[test]
    fn status_table_and_states() {
        let rows = [
            row("transitioner -d 3", true, false, true),
            row("validator -d 3 --app mnist", false, false, false),
            row("file_deleter -d 3", false, true, false),
            row("script_assimilator -d 3", false, false, true),
        ];
        let t = render_status(true, &rows);
        let lines: Vec<&str> = t.lines().collect();
        assert_eq!(lines[0], "Project is ENABLED");
        assert!(lines[1].starts_with("DAEMON"));
        assert!(lines[2].contains("running") && lines[2].contains("42"));
        assert!(lines[2].contains("01:02:05") && lines[2].contains("pass done"));
        assert!(lines[3].contains("stopped") && !lines[3].contains(" 42 "));
        assert!(lines[4].contains("disabled"));
        assert!(lines[5].contains("locked"));
        let json = serde_json::to_value(&rows[0]).unwrap();
        assert_eq!(json["uptime"], 3725.0);
        assert_eq!(json["running"], true);
    }

    #[test]
    fn task_table() {
        let t = |last: Option<f64>, next: f64, disabled| TaskStatus {
            cmd: "db_purge -d 2 --one_pass".into(),
            period: "24 hours".into(),
            disabled,
            last_run: last,
            next_run: next,
            running: false,
        };
        assert_eq!(render_task_status(&[], 0.0), "");
        let out = render_task_status(
            &[t(None, 86_400.0, false), t(Some(100.0), 200.0, true)],
            1000.0,
        );
        let lines: Vec<&str> = out.lines().collect();
        assert!(lines[1].starts_with("TASK"), "{out}");
        assert!(lines[2].contains("never") && lines[2].contains("1970/01/02 00:00:00"));
        assert!(lines[2].ends_with("idle"));
        assert!(lines[3].contains("1970/01/01 00:01:40") && lines[3].contains("now"));
        assert!(lines[3].ends_with("disabled"));
    }

    #[test]
    fn start_and_stop_lines() {
        let e = |outcome| StartEntry {
            cmd: "scheduler -d 3".into(),
            log: PathBuf::from("log_h/scheduler.log"),
            silent: false,
            outcome,
        };
        let out = render_start(&[
            e(StartOutcome::Started(7)),
            e(StartOutcome::AlreadyRunning(Some(8))),
            e(StartOutcome::ExitedAtOnce {
                status: "exit status: 1".into(),
                last_log_line: "cannot listen".into(),
            }),
        ]);
        assert!(out.contains("started          scheduler -d 3 (pid 7)"));
        assert!(out.contains("already running  scheduler -d 3 (pid 8)"));
        assert!(out.contains("EXITED AT ONCE") && out.contains("cannot listen"));
        assert!(!StartOutcome::Failed("x".into()).is_ok());

        let stop = render_stop(&[StopEntry {
            pid_file: PathBuf::from("pid_h/transitioner.pid"),
            pid: Some(9),
            outcome: StopOutcome::Stopped,
            seconds: 0.3,
        }]);
        assert_eq!(stop, "  stopped          transitioner (pid 9, 0.3 s)\n");
        assert!(render_stop(&[]).contains("no daemon"));
        assert_eq!(clip("abcdef", 4), "abc…");
    }
}
