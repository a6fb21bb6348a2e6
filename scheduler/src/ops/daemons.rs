//! Which of the project's daemons run, read from the files `start` leaves behind.
//!
//! The rule ("its lock is held and the pid in its pid file is a live process") and the file
//! layout are [`rboinc_core::run_files`]'s, shared with `start`/`stop`/`status`; this module
//! only turns them into what the ops page shows.

use std::path::Path;
use std::time::{Duration, SystemTime};

use rboinc_core::config::Config;
use rboinc_core::logfile;
use rboinc_core::project::ProjectDir;
use rboinc_core::run_files::DaemonFiles;

/// Longest log line shown; the rest is cut.
const MAX_LINE_CHARS: usize = 400;

/// One `<daemon>` of this host.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DaemonView {
    /// The `<cmd>` line.
    pub cmd: String,
    /// Its program name (`transitioner`).
    pub program: String,
    /// `<disabled>` in config.xml.
    pub disabled: bool,
    pub running: bool,
    /// From its pid file, if readable.
    pub pid: Option<i32>,
    /// Since its pid file was written, while it runs.
    pub uptime: Option<Duration>,
    /// `log_<host>/` file name.
    pub log_name: String,
    pub last_log_line: Option<String>,
}

/// The daemons `config.xml` lists for this host, disabled ones included, in file order.
pub fn survey(config: &Config, dir: &ProjectDir) -> Vec<DaemonView> {
    let now = SystemTime::now();
    config
        .daemons
        .iter()
        .filter(|d| d.runs_on(dir.host(), config.host.as_deref()))
        .map(|d| {
            let files = DaemonFiles::of(dir, d);
            let probe = files.probe();
            DaemonView {
                cmd: d.cmd.clone(),
                program: d.program().to_string(),
                disabled: d.disabled,
                running: probe.running,
                pid: probe.pid,
                uptime: probe.started.and_then(|t| now.duration_since(t).ok()),
                last_log_line: last_line(&files.log),
                log_name: d.log_file_name(),
            }
        })
        .collect()
}

/// The last non-empty line of a log (its last 64 KiB are read), without terminal colours,
/// cut to a length the page can show.
pub fn last_line(path: &Path) -> Option<String> {
    logfile::last_line(path).map(|line| cut(&line, MAX_LINE_CHARS))
}

pub use rboinc_core::logfile::strip_ansi;

/// At most `max` characters of `s`, with `…` if cut.
pub fn cut(s: &str, max: usize) -> String {
    match s.char_indices().nth(max) {
        Some((i, _)) => format!("{}…", &s[..i]),
        None => s.to_string(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const CONFIG: &str = "<boinc><config>\
        <master_url>http://127.0.0.1:1/p/</master_url>\
        <db_name>x</db_name><db_user>root</db_user><db_host>127.0.0.1</db_host>\
        </config><daemons>\
        <daemon><cmd>transitioner -d 3</cmd></daemon>\
        <daemon><cmd>feeder -d 3</cmd><disabled>1</disabled></daemon>\
        <daemon><cmd>validator -d 3 --app mnist</cmd><output>validator_mnist.log</output><pid_file>validator_mnist.pid</pid_file></daemon>\
        <daemon><cmd>file_deleter</cmd><host>elsewhere</host></daemon>\
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
    fn running_needs_a_held_lock_and_a_live_pid() {
        let (_tmp, config, dir) = project();
        let me = std::process::id() as i32;
        // transitioner: lock held (by this test), pid alive (this test), a coloured log.
        std::fs::write(dir.pid_dir().join("transitioner.pid"), format!("{me}\n")).unwrap();
        let lock = rboinc_core::run_files::try_lock(&dir.pid_dir().join("transitioner.lock"))
            .unwrap()
            .expect("free");
        std::fs::write(
            dir.log_dir().join("transitioner.log"),
            "first\n\u{1b}[32m INFO\u{1b}[0m pass done\n\n",
        )
        .unwrap();
        // validator: a pid file whose lock nobody holds (it died): not running.
        std::fs::write(dir.pid_dir().join("validator_mnist.pid"), format!("{me}\n")).unwrap();
        std::fs::write(dir.pid_dir().join("validator_mnist.log.lock"), "").unwrap();

        let views = survey(&config, &dir);
        let programs: Vec<&str> = views.iter().map(|v| v.program.as_str()).collect();
        assert_eq!(programs, ["transitioner", "feeder", "validator"]);
        let t = &views[0];
        assert!(t.running && t.pid == Some(me) && t.uptime.is_some());
        assert_eq!(t.last_log_line.as_deref(), Some(" INFO pass done"));
        assert!(!views[1].running && views[1].disabled && views[1].pid.is_none());
        let v = &views[2];
        assert!(!v.running && v.pid == Some(me) && v.uptime.is_none());
        assert_eq!(v.log_name, "validator_mnist.log");
        assert_eq!(v.last_log_line, None);

        // The lock released: the same pid file no longer counts.
        drop(lock);
        assert!(!survey(&config, &dir)[0].running);
    }

    #[test]
    fn a_held_lock_with_a_dead_pid_is_not_running() {
        let (_tmp, config, dir) = project();
        std::fs::write(dir.pid_dir().join("transitioner.pid"), "999999999\n").unwrap();
        let _lock = rboinc_core::run_files::try_lock(&dir.pid_dir().join("transitioner.lock"))
            .unwrap()
            .expect("free");
        assert!(!survey(&config, &dir)[0].running);
    }

    #[test]
    fn long_lines_are_cut() {
        assert_eq!(cut("abcdef", 3), "abc…");
        assert_eq!(cut("abc", 3), "abc");
        assert_eq!(cut("ééé", 2), "éé…");
    }
}
