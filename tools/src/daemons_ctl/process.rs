//! Processes by pid: "is it ours?", signals, waiting, and BOINC's log timestamp (pid files and
//! "still alive?" are `rboinc_core::run_files::pid`'s).
//!
//! Linux only (`/proc`), like the rest of the server. A pid is only ever signalled after
//! [`is_ours`] confirmed it still runs in the project's `tmp_<host>/`, so a stale pid file whose
//! number the kernel gave to an unrelated process can never get that process killed.

use std::io;
use std::path::Path;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use rboinc_core::calendar::UtcTime;
use rboinc_core::run_files::pid::{is_alive, process_group};
use rustix::process::{Pid, Signal};

/// Removes a file; succeeds if it was not there.
pub fn remove_if_exists(path: &Path) -> io::Result<()> {
    match std::fs::remove_file(path) {
        Err(e) if e.kind() != io::ErrorKind::NotFound => Err(e),
        _ => Ok(()),
    }
}

/// Whether `pid` is alive and runs with `tmp_dir` as its working directory, i.e. is a process
/// that `start` launched for this project (daemons never change directory).
pub fn is_ours(pid: i32, tmp_dir: &Path) -> bool {
    if !is_alive(pid) {
        return false;
    }
    let Ok(cwd) = std::fs::read_link(format!("/proc/{pid}/cwd")) else {
        return false;
    };
    let want = tmp_dir
        .canonicalize()
        .unwrap_or_else(|_| tmp_dir.to_path_buf());
    cwd == want
}

/// The process group of `pid` if it leads its own group (as every process `start` launches
/// does), so that killing the group reaches the scripts it started too.
pub fn own_group(pid: i32) -> Option<i32> {
    process_group(pid).filter(|&pgrp| pgrp == pid)
}

/// Sends `signal` to `pid`; a process that is already gone is not an error.
pub fn signal(pid: i32, signal: Signal) -> io::Result<()> {
    let Some(p) = Pid::from_raw(pid) else {
        return Ok(());
    };
    match rustix::process::kill_process(p, signal) {
        Ok(()) | Err(rustix::io::Errno::SRCH) => Ok(()),
        Err(e) => Err(e.into()),
    }
}

/// Sends `signal` to the process group `pgrp`.
pub fn signal_group(pgrp: i32, signal: Signal) -> io::Result<()> {
    let Some(p) = Pid::from_raw(pgrp) else {
        return Ok(());
    };
    match rustix::process::kill_process_group(p, signal) {
        Ok(()) | Err(rustix::io::Errno::SRCH) => Ok(()),
        Err(e) => Err(e.into()),
    }
}

/// Waits until none of `pids` is alive, or `timeout` passes; returns those still alive.
pub fn wait_all_exit(pids: &[i32], timeout: Duration) -> Vec<i32> {
    let deadline = std::time::Instant::now() + timeout;
    loop {
        let alive: Vec<i32> = pids.iter().copied().filter(|p| is_alive(*p)).collect();
        if alive.is_empty() || std::time::Instant::now() >= deadline {
            return alive;
        }
        std::thread::sleep(Duration::from_millis(50));
    }
}

/// The last non-empty line of a log file (only its last 64 KiB are read).
pub use rboinc_core::logfile::last_line;

/// `YYYY/MM/DD HH:MM:SS` in UTC — `bin/start`'s "Executing command" stamp. (BOINC's script
/// uses local time; our daemons log in UTC, and one clock per log reads better.)
pub fn timestamp(t: SystemTime) -> String {
    let secs = t.duration_since(UNIX_EPOCH).map_or(0, |d| d.as_secs());
    UtcTime::from_unix(secs as i64).format('/')
}

/// A duration as `3d 04:05:06`, `04:05:06` or `5.2s`.
pub fn format_uptime(d: Duration) -> String {
    let s = d.as_secs();
    if s < 60 {
        return format!("{:.1}s", d.as_secs_f64());
    }
    let (days, h, m, sec) = (s / 86_400, s / 3600 % 24, s / 60 % 60, s % 60);
    if days > 0 {
        format!("{days}d {h:02}:{m:02}:{sec:02}")
    } else {
        format!("{h:02}:{m:02}:{sec:02}")
    }
}

/// The name of the user this process runs as, from `/etc/passwd` (else `$USER`).
pub fn user_name() -> Option<String> {
    let uid = rustix::process::getuid().as_raw();
    let from_passwd = std::fs::read_to_string("/etc/passwd")
        .ok()
        .and_then(|text| {
            text.lines().find_map(|line| {
                let mut f = line.split(':');
                let name = f.next()?;
                let _password = f.next()?;
                (f.next()?.parse::<u32>().ok()? == uid).then(|| name.to_string())
            })
        });
    from_passwd.or_else(|| std::env::var("USER").ok())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_current_user_has_a_name() {
        let name = user_name().expect("a user name");
        assert!(!name.is_empty() && !name.contains(':'));
    }

    #[test]
    fn timestamps_are_utc_calendar_dates() {
        assert_eq!(timestamp(UNIX_EPOCH), "1970/01/01 00:00:00");
        let t = UNIX_EPOCH + Duration::from_secs(951_782_400 + 3661); // 2000-02-29 01:01:01
        assert_eq!(timestamp(t), "2000/02/29 01:01:01");
        let t = UNIX_EPOCH + Duration::from_secs(1_767_225_599); // 2025-12-31 23:59:59
        assert_eq!(timestamp(t), "2025/12/31 23:59:59");
    }

    #[test]
    fn uptimes() {
        assert_eq!(format_uptime(Duration::from_millis(5200)), "5.2s");
        assert_eq!(
            format_uptime(Duration::from_secs(3 * 3600 + 65)),
            "03:01:05"
        );
        assert_eq!(
            format_uptime(Duration::from_secs(2 * 86_400 + 7)),
            "2d 00:00:07"
        );
    }

    #[test]
    fn removing_twice_and_last_lines() {
        let dir = tempfile::tempdir().unwrap();
        let p = dir.path().join("a.pid");
        std::fs::write(&p, "1\n").unwrap();
        remove_if_exists(&p).unwrap();
        remove_if_exists(&p).unwrap();
        assert!(!p.exists());

        let log = dir.path().join("x.log");
        std::fs::write(&log, "first\n\u{1b}[32m INFO\u{1b}[0m second line\n\n  \n").unwrap();
        assert_eq!(last_line(&log).as_deref(), Some(" INFO second line"));
        assert_eq!(last_line(&dir.path().join("missing.log")), None);
    }

    #[test]
    fn this_process_is_ours_only_in_its_own_directory() {
        let me = std::process::id() as i32;
        let cwd = std::env::current_dir().unwrap();
        assert!(is_ours(me, &cwd));
        assert!(!is_ours(me, Path::new("/")));
    }
}
