//! Reading the tail of a daemon's log: `status` and the ops page both show each daemon's last
//! line, and a log written to a terminal-capable sink may hold colour sequences.

use std::fs::File;
use std::io::{Read, Seek, SeekFrom};
use std::path::Path;

/// How much of a log's end is read to find its last line.
const TAIL_BYTES: u64 = 64 * 1024;

/// The last non-empty line of a log file (only its last 64 KiB are read), trailing space and
/// colour sequences removed; `None` if the file cannot be read or holds no text.
pub fn last_line(path: &Path) -> Option<String> {
    let mut f = File::open(path).ok()?;
    let len = f.metadata().ok()?.len();
    f.seek(SeekFrom::Start(len.saturating_sub(TAIL_BYTES)))
        .ok()?;
    let mut buf = Vec::new();
    f.read_to_end(&mut buf).ok()?;
    let text = String::from_utf8_lossy(&buf);
    text.lines()
        .rev()
        .map(str::trim_end)
        .find(|l| !l.trim().is_empty())
        .map(strip_ansi)
}

/// Removes terminal colour sequences (`ESC [ … letter`).
pub fn strip_ansi(line: &str) -> String {
    let mut out = String::with_capacity(line.len());
    let mut chars = line.chars().peekable();
    while let Some(c) = chars.next() {
        if c == '\u{1b}' && chars.peek() == Some(&'[') {
            for d in chars.by_ref() {
                if d.is_ascii_alphabetic() {
                    break;
                }
            }
        } else {
            out.push(c);
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn last_line_skips_blank_lines_and_colours() {
        let dir = tempfile::tempdir().unwrap();
        let log = dir.path().join("d.log");
        std::fs::write(&log, "first\n\u{1b}[32m INFO\u{1b}[0m second  \n\n  \n").unwrap();
        assert_eq!(last_line(&log).as_deref(), Some(" INFO second"));
        assert_eq!(last_line(&dir.path().join("none.log")), None);
        std::fs::write(&log, "\n\n").unwrap();
        assert_eq!(last_line(&log), None);
    }

    #[test]
    fn only_the_tail_is_read() {
        let dir = tempfile::tempdir().unwrap();
        let log = dir.path().join("big.log");
        let mut text = "x".repeat(200 * 1024);
        text.push_str("\nlast\n");
        std::fs::write(&log, text).unwrap();
        assert_eq!(last_line(&log).as_deref(), Some("last"));
    }
}
