//! The files an app leaves in its slot to tell the client how it ended.
//!
//! - `boinc_finish_called`: first line the exit status, optionally a message line and a line
//!   `notice`. Without it, an exit 0 counts as a premature exit and the client restarts the task.
//! - `boinc_temporary_exit`: first line a delay in seconds, then a reason; the client restarts
//!   the task after the delay.

use std::path::Path;

/// The finish marker's name.
pub const FINISH_FILE: &str = "boinc_finish_called";
/// The temporary-exit marker's name.
pub const TEMPORARY_EXIT_FILE: &str = "boinc_temporary_exit";

/// Writes the finish marker with `status` and an optional message.
pub fn write_finish(slot: &Path, status: i32, message: Option<&str>) -> std::io::Result<()> {
    let mut text = format!("{status}\n");
    if let Some(m) = message {
        text.push_str(&one_line(m));
        text.push_str("\n\n");
    }
    std::fs::write(slot.join(FINISH_FILE), text)
}

/// Writes the temporary-exit marker.
pub fn write_temporary_exit(slot: &Path, delay_s: u32, reason: &str) -> std::io::Result<()> {
    std::fs::write(
        slot.join(TEMPORARY_EXIT_FILE),
        format!("{delay_s}\n{}\n", one_line(reason)),
    )
}

fn one_line(s: &str) -> String {
    s.replace(['\n', '\r'], " ")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn formats() {
        let dir = tempfile::tempdir().unwrap();
        write_finish(dir.path(), 0, None).unwrap();
        assert_eq!(
            std::fs::read_to_string(dir.path().join(FINISH_FILE)).unwrap(),
            "0\n"
        );
        write_finish(dir.path(), 3, Some("bad\njob")).unwrap();
        assert_eq!(
            std::fs::read_to_string(dir.path().join(FINISH_FILE)).unwrap(),
            "3\nbad job\n\n"
        );
        write_temporary_exit(dir.path(), 300, "disk full").unwrap();
        assert_eq!(
            std::fs::read_to_string(dir.path().join(TEMPORARY_EXIT_FILE)).unwrap(),
            "300\ndisk full\n"
        );
    }
}
