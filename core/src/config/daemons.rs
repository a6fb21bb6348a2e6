//! The `<daemons>` and `<tasks>` sections: what `bin/start` launches.
//!
//! The daemons themselves ignore these sections; the start/stop tool reads
//! them. The file-name rules below (log, pid and lock file defaults) are
//! those of BOINC's `bin/start`, so a project keeps its log and pid layout
//! when it switches to rboinc.

use std::path::Path;
use std::time::Duration;

use super::document::Element;
use super::error::{ConfigError, Position};
use super::options::parse_c_int;

/// One `<daemon>` entry.
#[derive(Debug, Clone, PartialEq)]
pub struct DaemonEntry {
    /// The command line, trimmed (`feeder -d 3`).
    pub cmd: String,
    /// Run only on this host (default: the project's `<host>`).
    pub host: Option<String>,
    pub disabled: bool,
    /// Log file name inside `log_<host>/`.
    pub output: Option<String>,
    pub pid_file: Option<String>,
    pub lock_file: Option<String>,
    /// Run through `/bin/sh -c` (allows pipes and redirections).
    pub use_shell: bool,
    pub silent_start: bool,
    pub at: Position,
}

/// One `<task>` entry: a command run every `period`.
#[derive(Debug, Clone, PartialEq)]
pub struct TaskEntry {
    pub cmd: String,
    pub period: TaskPeriod,
    pub output: Option<String>,
    pub host: Option<String>,
    pub disabled: bool,
    /// Run even when the project is disabled.
    pub always_run: bool,
    pub use_shell: bool,
    pub lock_file: Option<String>,
    pub at: Position,
}

/// A task period as `bin/start` reads it: `N` (minutes) or `N unit`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TaskPeriod {
    /// The text as written (`24 hours`).
    pub text: String,
    pub duration: Duration,
}

impl TaskPeriod {
    /// Parses `N` or `N unit`. The unit is chosen by its first letter, in
    /// BOINC's order: `s` seconds, `m` minutes, `h` hours, `d` days, `w`
    /// weeks. Because `m` is tested first, `mo`/`month` means **minutes** in
    /// stock BOINC; we keep that so a project's tasks run on the same
    /// schedule after switching.
    pub fn parse(text: &str) -> Option<TaskPeriod> {
        let words: Vec<&str> = text.split_whitespace().collect();
        let n: u64 = match words.first()?.parse::<i64>() {
            Ok(n) if n >= 0 => n.unsigned_abs(),
            _ => return None,
        };
        let seconds = match words.as_slice() {
            [_] => n * 60,
            [_, unit] => {
                let unit = unit.to_lowercase();
                let scale = match unit.chars().next()? {
                    's' => 1,
                    'm' => 60,
                    'h' => 3600,
                    'd' => 86_400,
                    'w' => 7 * 86_400,
                    _ => return None,
                };
                n * scale
            }
            _ => return None,
        };
        Some(TaskPeriod {
            text: text.trim().to_string(),
            duration: Duration::from_secs(seconds),
        })
    }
}

/// The program's base name, as `bin/start` derives file names from it:
/// the first word of the command, directories stripped; a leading
/// `run_in_ops` wrapper is skipped.
fn command_basename(cmd: &str) -> &str {
    let mut words = cmd.split_whitespace();
    let mut first = words.next().unwrap_or("");
    if first == "run_in_ops" {
        first = words.next().unwrap_or(first);
    }
    first.rsplit('/').next().unwrap_or(first)
}

/// Whether `<output>` names a real file (not `/dev/null` and friends).
fn output_is_file(output: &str) -> bool {
    !output.is_empty() && !output.starts_with("/dev/")
}

fn lock_name(lock_file: Option<&str>, output: Option<&str>, cmd: &str) -> String {
    if let Some(lock) = lock_file {
        return lock.to_string();
    }
    match output {
        Some(out) if output_is_file(out) => format!("{out}.lock"),
        _ => format!("{}.lock", command_basename(cmd)),
    }
}

impl DaemonEntry {
    /// The program name (`feeder` for `feeder -d 3`).
    pub fn program(&self) -> &str {
        command_basename(&self.cmd)
    }

    /// Log file name in `log_<host>/`: `<output>` or `<program>.log`.
    pub fn log_file_name(&self) -> String {
        self.output
            .clone()
            .unwrap_or_else(|| format!("{}.log", self.program()))
    }

    /// PID file name in `pid_<host>/`: `<pid_file>` or `<program>.pid`.
    pub fn pid_file_name(&self) -> String {
        self.pid_file
            .clone()
            .unwrap_or_else(|| format!("{}.pid", self.program()))
    }

    /// Lock file name in `pid_<host>/`: `<lock_file>`, else `<output>.lock`
    /// if the output is a real file, else `<program>.lock`. Two daemons
    /// with the same program need distinct outputs or lock files, or the
    /// second one is taken as already running.
    pub fn lock_file_name(&self) -> String {
        lock_name(self.lock_file.as_deref(), self.output.as_deref(), &self.cmd)
    }

    /// Whether this entry runs on `local_host`, given the project's `<host>`.
    pub fn runs_on(&self, local_host: &str, project_host: Option<&str>) -> bool {
        runs_on(self.host.as_deref(), local_host, project_host)
    }
}

impl TaskEntry {
    pub fn program(&self) -> &str {
        command_basename(&self.cmd)
    }

    /// Output file name in `log_<host>/`: `<output>` or `<program>.out`.
    pub fn output_file_name(&self) -> String {
        self.output
            .clone()
            .unwrap_or_else(|| format!("{}.out", self.program()))
    }

    /// Lock file name in `pid_<host>/` (same rule as for daemons).
    pub fn lock_file_name(&self) -> String {
        lock_name(self.lock_file.as_deref(), self.output.as_deref(), &self.cmd)
    }

    pub fn runs_on(&self, local_host: &str, project_host: Option<&str>) -> bool {
        runs_on(self.host.as_deref(), local_host, project_host)
    }
}

fn runs_on(entry_host: Option<&str>, local_host: &str, project_host: Option<&str>) -> bool {
    match entry_host.or(project_host) {
        Some(host) => host == local_host,
        // No host anywhere: a single-machine project.
        None => true,
    }
}

/// Reads the children of one `<daemon>` or `<task>` element.
struct Fields<'a> {
    path: &'a Path,
    element: &'a Element,
}

impl Fields<'_> {
    fn text(&self, name: &str) -> Option<String> {
        self.element
            .children_named(name)
            .last()
            .map(|e| e.value().to_string())
            .filter(|v| !v.is_empty())
    }

    /// An integer flag (`<disabled>1</disabled>`), `<flag/>` meaning set.
    /// `bin/start` takes any text other than `0` as set; we take integers
    /// the same way and reject words, which it would silently read as set.
    fn flag(&self, name: &str) -> Result<bool, ConfigError> {
        let Some(e) = self.element.children_named(name).last() else {
            return Ok(false);
        };
        if e.self_closing || e.value().is_empty() {
            return Ok(e.self_closing);
        }
        parse_c_int(e.value())
            .map(|n| n != 0)
            .ok_or_else(|| ConfigError::InvalidValue {
                path: self.path.to_path_buf(),
                at: e.at,
                element: name.to_string(),
                value: e.value().to_string(),
                expected: "a boolean (0 or 1, or <flag/>)",
            })
    }

    fn cmd(&self) -> Result<String, ConfigError> {
        self.text("cmd").ok_or_else(|| ConfigError::Structure {
            path: self.path.to_path_buf(),
            at: self.element.at,
            message: format!("<{}> without a <cmd>", self.element.name),
        })
    }
}

pub(crate) fn parse_daemons(path: &Path, root: &Element) -> Result<Vec<DaemonEntry>, ConfigError> {
    let mut out = Vec::new();
    for section in root.children_named("daemons") {
        for element in section.children_named("daemon") {
            let f = Fields { path, element };
            out.push(DaemonEntry {
                cmd: f.cmd()?,
                host: f.text("host"),
                disabled: f.flag("disabled")?,
                output: f.text("output"),
                pid_file: f.text("pid_file"),
                lock_file: f.text("lock_file"),
                use_shell: f.flag("use_shell")?,
                silent_start: f.flag("silent_start")?,
                at: element.at,
            });
        }
    }
    Ok(out)
}

pub(crate) fn parse_tasks(path: &Path, root: &Element) -> Result<Vec<TaskEntry>, ConfigError> {
    let mut out = Vec::new();
    for section in root.children_named("tasks") {
        for element in section.children_named("task") {
            let f = Fields { path, element };
            let cmd = f.cmd()?;
            let period_el =
                element
                    .children_named("period")
                    .last()
                    .ok_or_else(|| ConfigError::Structure {
                        path: path.to_path_buf(),
                        at: element.at,
                        message: format!("<task> {cmd:?} without a <period>"),
                    })?;
            let period =
                TaskPeriod::parse(period_el.value()).ok_or_else(|| ConfigError::InvalidValue {
                    path: path.to_path_buf(),
                    at: period_el.at,
                    element: "period".into(),
                    value: period_el.value().to_string(),
                    expected: "a period such as `30 min`, `1 hour`, `1 day` or `5`",
                })?;
            out.push(TaskEntry {
                cmd,
                period,
                output: f.text("output"),
                host: f.text("host"),
                disabled: f.flag("disabled")?,
                always_run: f.flag("always_run")?,
                use_shell: f.flag("use_shell")?,
                lock_file: f.text("lock_file"),
                at: element.at,
            });
        }
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn periods() {
        let secs = |s: &str| TaskPeriod::parse(s).map(|p| p.duration.as_secs());
        assert_eq!(secs("5"), Some(300));
        assert_eq!(secs("30 s"), Some(30));
        assert_eq!(secs("30 sec"), Some(30));
        assert_eq!(secs("10 min"), Some(600));
        assert_eq!(secs("1 hour"), Some(3600));
        assert_eq!(secs("24 hours"), Some(86_400));
        assert_eq!(secs("1 days"), Some(86_400));
        assert_eq!(secs(" 2 Weeks "), Some(14 * 86_400));
        // Stock quirk kept on purpose: "mo…" starts with "m", so minutes.
        assert_eq!(secs("1 month"), Some(60));
        for bad in ["", "hour", "1 fortnight", "1 2 3", "-1 hour", "1.5 hours"] {
            assert_eq!(secs(bad), None, "{bad:?}");
        }
    }

    fn daemon(cmd: &str) -> DaemonEntry {
        DaemonEntry {
            cmd: cmd.into(),
            host: None,
            disabled: false,
            output: None,
            pid_file: None,
            lock_file: None,
            use_shell: false,
            silent_start: false,
            at: Position { line: 1, column: 1 },
        }
    }

    #[test]
    fn file_names_follow_bin_start() {
        let d = daemon("feeder -d 3");
        assert_eq!(d.program(), "feeder");
        assert_eq!(d.log_file_name(), "feeder.log");
        assert_eq!(d.pid_file_name(), "feeder.pid");
        assert_eq!(d.lock_file_name(), "feeder.lock");

        let mut v = daemon("../bin/validator --app mnist");
        v.output = Some("validator_mnist.log".into());
        assert_eq!(v.program(), "validator");
        assert_eq!(v.log_file_name(), "validator_mnist.log");
        assert_eq!(v.lock_file_name(), "validator_mnist.log.lock");
        v.output = Some("/dev/null".into());
        assert_eq!(v.lock_file_name(), "validator.lock");
        v.lock_file = Some("v.lock".into());
        assert_eq!(v.lock_file_name(), "v.lock");

        assert_eq!(daemon("run_in_ops ./notify.php").program(), "notify.php");
    }

    #[test]
    fn host_selection() {
        let mut d = daemon("feeder");
        assert!(d.runs_on("a", Some("a")));
        assert!(!d.runs_on("b", Some("a")));
        assert!(d.runs_on("b", None));
        d.host = Some("b".into());
        assert!(d.runs_on("b", Some("a")));
    }
}
