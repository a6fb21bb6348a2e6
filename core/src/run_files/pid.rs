//! Pid files and processes by pid: what `start` writes, and whether that pid still runs.
//!
//! Linux only (`/proc`), like the rest of the server. A pid file alone says little: it can be
//! stale, or name a pid the kernel has since given to another process; "is the daemon running"
//! is answered by its lock ([`super::DaemonFiles::probe`]), the pid only names the process.

use std::io;
use std::path::{Path, PathBuf};

/// Reads the pid written by `start` (a decimal number and a newline).
pub fn read_pid_file(path: &Path) -> Option<i32> {
    std::fs::read_to_string(path)
        .ok()?
        .trim()
        .parse::<i32>()
        .ok()
        .filter(|p| *p > 0)
}

/// Writes `pid` to `path` atomically (a reader never sees a half-written number).
pub fn write_pid_file(path: &Path, pid: u32) -> io::Result<()> {
    let tmp = path.with_extension("pid.tmp");
    std::fs::write(&tmp, format!("{pid}\n"))?;
    std::fs::rename(&tmp, path)
}

/// Every `*.pid` file in `dir`, sorted.
pub fn pid_files(dir: &Path) -> io::Result<Vec<PathBuf>> {
    let mut out = Vec::new();
    for e in std::fs::read_dir(dir)? {
        let p = e?.path();
        if p.extension().is_some_and(|x| x == "pid") && p.is_file() {
            out.push(p);
        }
    }
    out.sort();
    Ok(out)
}

/// The state letter and process group of `/proc/<pid>/stat`, if the process exists.
fn stat(pid: i32) -> Option<(char, i32)> {
    let text = std::fs::read_to_string(format!("/proc/{pid}/stat")).ok()?;
    // "pid (comm) S ppid pgrp ...": comm may contain spaces and parentheses; the state follows
    // the last ')'.
    let after = &text[text.rfind(')')? + 1..];
    let mut fields = after.split_whitespace();
    let state = fields.next()?.chars().next()?;
    let _ppid = fields.next()?;
    let pgrp = fields.next()?.parse().ok()?;
    Some((state, pgrp))
}

/// Whether the process exists and has not exited (a zombie waiting to be reaped has exited).
pub fn is_alive(pid: i32) -> bool {
    matches!(stat(pid), Some((state, _)) if state != 'Z' && state != 'X')
}

/// The process group of `pid`, if the process exists.
pub fn process_group(pid: i32) -> Option<i32> {
    stat(pid).map(|(_, pgrp)| pgrp)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn pid_files_round_trip() {
        let dir = tempfile::tempdir().unwrap();
        let p = dir.path().join("a.pid");
        write_pid_file(&p, 1234).unwrap();
        assert_eq!(std::fs::read_to_string(&p).unwrap(), "1234\n");
        assert_eq!(read_pid_file(&p), Some(1234));
        std::fs::write(dir.path().join("b.pid"), "garbage").unwrap();
        std::fs::write(dir.path().join("c.log"), "1").unwrap();
        assert_eq!(read_pid_file(&dir.path().join("b.pid")), None);
        assert_eq!(read_pid_file(&dir.path().join("none.pid")), None);
        assert_eq!(
            pid_files(dir.path()).unwrap(),
            [dir.path().join("a.pid"), dir.path().join("b.pid")]
        );
    }

    #[test]
    fn this_process_is_alive() {
        let me = std::process::id() as i32;
        assert!(is_alive(me));
        assert!(process_group(me).is_some());
        assert!(!is_alive(i32::MAX - 1));
        assert_eq!(process_group(i32::MAX - 1), None);
    }
}
