//! Recent errors from the project's logs (`log_<host>/*.log`, `*.out`).
//!
//! An operator opening the ops page wants to know what went wrong lately without logging in to
//! the machine. Each log's tail is scanned for error lines in any of the formats the project's
//! programs write:
//! - our text format (`2025-01-02T03:04:05.678Z ERROR target: message key=value`);
//! - our JSON format (`{"timestamp":…,"level":"ERROR","message":…}`), for log shippers;
//! - the C++ daemons' format (`2025-01-02 03:04:05.6789 [CRITICAL] message`), for projects that
//!   still run some of BOINC's own daemons;
//! - a Rust panic (`thread 'main' panicked at …`), which ends a daemon without a log line.
//!
//! The same reading counts each log's WARN and ERROR lines since its program last started
//! (the `Executing command` line `start` writes): a number that should stay zero on a healthy
//! project, so any other value is worth a look.

use std::fs::File;
use std::io::{Read, Seek, SeekFrom};
use std::path::Path;

use super::daemons::{cut, strip_ansi};

/// Bytes read from the end of each log.
pub(super) const TAIL_BYTES: u64 = 256 * 1024;
/// Longest message shown.
pub(super) const MAX_MESSAGE_CHARS: usize = 600;

/// One error line.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LogError {
    /// The log file's name (`transitioner.log`).
    pub file: String,
    /// `YYYY-MM-DD HH:MM:SS` as the line wrote it (the C++ daemons write local time, ours
    /// UTC), or empty if the line had none and no earlier line did either.
    pub time: String,
    /// `ERROR`, `CRITICAL`, `FATAL` or `PANIC`.
    pub level: String,
    pub message: String,
}

/// An error line's parts: time (raw), level, message.
type Parsed = (String, String, String);

const ERROR_LEVELS: [&str; 3] = ["ERROR", "CRITICAL", "FATAL"];
const OTHER_LEVELS: [&str; 6] = ["TRACE", "DEBUG", "INFO", "WARN", "WARNING", "NORMAL"];

/// What a log line is: `Some(Ok(error))`, `Some(Err((time, level)))` for another line with a
/// level, `None` for a line that says nothing we can use.
fn classify(line: &str) -> Option<Result<Parsed, (String, String)>> {
    let line = line.trim();
    if line.starts_with('{') {
        return classify_json(line);
    }
    if line.starts_with("thread '") && line.contains("panicked at") {
        return Some(Ok((String::new(), "PANIC".into(), line.to_string())));
    }
    // Text: a level word among the first few tokens, the time before it.
    let tokens: Vec<&str> = line.splitn(10, char::is_whitespace).collect();
    for (i, token) in tokens.iter().enumerate().take(8) {
        let word = token
            .trim_matches(|c| c == '[' || c == ']' || c == ':')
            .to_ascii_uppercase();
        let is_error = ERROR_LEVELS.contains(&word.as_str());
        if !is_error && !OTHER_LEVELS.contains(&word.as_str()) {
            continue;
        }
        let time = tokens[..i].join(" ");
        if !looks_like_time(&time) {
            return None;
        }
        if !is_error {
            return Some(Err((time, word)));
        }
        let rest = tokens[i + 1..].join(" ");
        return Some(Ok((time, word, rest.trim().to_string())));
    }
    None
}

/// `2025-01-02…`: a date first, as every format here writes it.
fn looks_like_time(s: &str) -> bool {
    let b = s.as_bytes();
    b.len() >= 10 && b[..4].iter().all(u8::is_ascii_digit) && b[4] == b'-' && b[7] == b'-'
}

fn classify_json(line: &str) -> Option<Result<Parsed, (String, String)>> {
    let value: serde_json::Value = serde_json::from_str(line).ok()?;
    let obj = value.as_object()?;
    let time = obj
        .get("timestamp")
        .and_then(|t| t.as_str())
        .unwrap_or_default()
        .to_string();
    let level = obj.get("level")?.as_str()?.to_ascii_uppercase();
    if !ERROR_LEVELS.contains(&level.as_str()) {
        return Some(Err((time, level)));
    }
    // The event's fields are at the top level (flattened) or under "fields".
    let fields = obj.get("fields").and_then(|f| f.as_object()).unwrap_or(obj);
    let mut message = fields
        .get("message")
        .map(|m| m.as_str().map_or_else(|| m.to_string(), str::to_string))
        .unwrap_or_default();
    for (k, v) in fields {
        if matches!(
            k.as_str(),
            "message" | "timestamp" | "level" | "target" | "span" | "spans" | "fields"
        ) {
            continue;
        }
        let v = v.as_str().map_or_else(|| v.to_string(), str::to_string);
        message.push_str(&format!(" {k}={v}"));
    }
    Some(Ok((time, level, message)))
}

/// `YYYY-MM-DD HH:MM:SS` from the start of a raw time, or the raw text if it is shorter.
pub(super) fn normalize_time(raw: &str) -> String {
    let t: String = raw.chars().take(19).collect();
    t.replace('T', " ")
}

/// The error lines in the tail of one log, oldest first.
pub fn errors_in(path: &Path) -> std::io::Result<Vec<LogError>> {
    let mut f = File::open(path)?;
    let len = f.metadata()?.len();
    let start = len.saturating_sub(TAIL_BYTES);
    f.seek(SeekFrom::Start(start))?;
    let mut buf = Vec::new();
    f.read_to_end(&mut buf)?;
    let text = String::from_utf8_lossy(&buf);
    let mut lines = text.lines();
    if start > 0 {
        lines.next(); // cut in the middle
    }
    let file = path
        .file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_default();
    let mut last_time = String::new();
    let mut out = Vec::new();
    for raw in lines {
        let line = strip_ansi(raw);
        match classify(&line) {
            Some(Ok((time, level, message))) => {
                if !time.is_empty() {
                    last_time = normalize_time(&time);
                }
                out.push(LogError {
                    file: file.clone(),
                    time: last_time.clone(),
                    level,
                    message: cut(&message, MAX_MESSAGE_CHARS),
                });
            }
            Some(Err((time, _))) if !time.is_empty() => last_time = normalize_time(&time),
            _ => {}
        }
    }
    Ok(out)
}

/// The newest `limit` error lines of every `*.log` and `*.out` file in `log_dir`, newest
/// first. A missing directory has no errors; an unreadable file is skipped.
pub fn recent_errors(log_dir: &Path, limit: usize) -> Vec<LogError> {
    let Ok(entries) = std::fs::read_dir(log_dir) else {
        return Vec::new();
    };
    let mut all = Vec::new();
    for entry in entries.flatten() {
        let path = entry.path();
        let is_log = path.extension().is_some_and(|e| e == "log" || e == "out");
        if !is_log || !path.is_file() {
            continue;
        }
        match errors_in(&path) {
            Ok(errors) => {
                let skip = errors.len().saturating_sub(limit);
                // (order within the file, to keep it for equal times)
                all.extend(errors.into_iter().skip(skip).enumerate());
            }
            Err(e) => tracing::debug!(path = %path.display(), error = %e, "cannot read a log"),
        }
    }
    all.sort_by(|(ia, a), (ib, b)| {
        (b.time.as_str(), ib, b.file.as_str()).cmp(&(a.time.as_str(), ia, a.file.as_str()))
    });
    all.into_iter().take(limit).map(|(_, e)| e).collect()
}

/// Bytes read from the end of a log to count its lines since the last start.
const COUNT_BYTES: u64 = 16 * 1024 * 1024;
/// The line `start` writes before each start of a program.
const START_MARKER: &str = "] Executing command: ";

/// A log's warnings and errors since its program last started.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct LogCounts {
    pub file: String,
    /// WARN (and WARNING) lines.
    pub warn: u64,
    /// ERROR, CRITICAL, FATAL lines and panics.
    pub error: u64,
    /// The last start's time as `start` wrote it, if its line was seen.
    pub since: Option<String>,
    /// The log is longer than what was read and no start line was found in it: the counts
    /// cover only its last 16 MiB.
    pub partial: bool,
}

/// The counts of one log: lines after the last `Executing command` line (or all of them).
pub fn counts_in(path: &Path) -> std::io::Result<LogCounts> {
    let text = tail(path, COUNT_BYTES)?;
    let mut counts = LogCounts {
        file: file_name(path),
        partial: text.cut,
        ..LogCounts::default()
    };
    for raw in text.lines() {
        if let Some(i) = raw.find(START_MARKER) {
            counts.since = Some(raw[..i].trim_start_matches('[').to_string());
            counts.warn = 0;
            counts.error = 0;
            counts.partial = false;
            continue;
        }
        match classify(&strip_ansi(raw)) {
            Some(Ok(_)) => counts.error += 1,
            Some(Err((_, level))) if level == "WARN" || level == "WARNING" => counts.warn += 1,
            _ => {}
        }
    }
    Ok(counts)
}

/// The counts of every `*.log` and `*.out` file in `log_dir`, by file name.
pub fn level_counts(log_dir: &Path) -> Vec<LogCounts> {
    let mut all: Vec<LogCounts> = log_files(log_dir)
        .iter()
        .filter_map(|p| counts_in(p).ok())
        .collect();
    all.sort_by(|a, b| a.file.cmp(&b.file));
    all
}

/// The end of a file as text, and whether it was cut.
pub(super) struct Tail {
    text: String,
    cut: bool,
}

impl Tail {
    pub(super) fn lines(&self) -> impl Iterator<Item = &str> {
        let mut lines = self.text.lines();
        if self.cut {
            lines.next(); // cut in the middle
        }
        lines
    }
}

pub(super) fn tail(path: &Path, bytes: u64) -> std::io::Result<Tail> {
    let mut f = File::open(path)?;
    let len = f.metadata()?.len();
    let start = len.saturating_sub(bytes);
    f.seek(SeekFrom::Start(start))?;
    let mut buf = Vec::new();
    f.read_to_end(&mut buf)?;
    Ok(Tail {
        text: String::from_utf8_lossy(&buf).into_owned(),
        cut: start > 0,
    })
}

pub(super) fn file_name(path: &Path) -> String {
    path.file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_default()
}

/// The `*.log` and `*.out` files of `log_dir` (none if it is missing).
pub(super) fn log_files(log_dir: &Path) -> Vec<std::path::PathBuf> {
    let Ok(entries) = std::fs::read_dir(log_dir) else {
        return Vec::new();
    };
    entries
        .flatten()
        .map(|e| e.path())
        .filter(|p| p.extension().is_some_and(|e| e == "log" || e == "out") && p.is_file())
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn err(line: &str) -> Parsed {
        match classify(line) {
            Some(Ok(p)) => p,
            other => panic!("{line}: {other:?}"),
        }
    }

    #[test]
    fn every_format_is_recognised() {
        assert_eq!(
            err("2025-01-02T03:04:05.678901Z ERROR transitioner: pass failed wu_id=7"),
            (
                "2025-01-02T03:04:05.678901Z".into(),
                "ERROR".into(),
                "transitioner: pass failed wu_id=7".into()
            )
        );
        assert_eq!(
            err("2025-01-02 03:04:05.6789 [CRITICAL] can't open db"),
            (
                "2025-01-02 03:04:05.6789".into(),
                "CRITICAL".into(),
                "can't open db".into()
            )
        );
        let (t, l, m) = err(
            r#"{"timestamp":"2025-01-02T03:04:05Z","level":"ERROR","message":"upload failed","result_id":12,"target":"x"}"#,
        );
        assert_eq!((t.as_str(), l.as_str()), ("2025-01-02T03:04:05Z", "ERROR"));
        assert_eq!(m, "upload failed result_id=12");
        let (_, l, m) = err(
            r#"{"timestamp":"2025-01-02T03:04:05Z","level":"ERROR","fields":{"message":"m","app":"mnist"}}"#,
        );
        assert_eq!((l.as_str(), m.as_str()), ("ERROR", "m app=mnist"));
        assert_eq!(err("thread 'main' panicked at src/x.rs:1:2:").1, "PANIC");

        for quiet in [
            "2025-01-02T03:04:05.678Z  INFO transitioner: ERROR is just a word here",
            "2025-01-02 03:04:05.6789 [normal  ] sent 2 results",
            r#"{"timestamp":"2025-01-02T03:04:05Z","level":"WARN","message":"slow"}"#,
        ] {
            assert!(matches!(classify(quiet), Some(Err(_))), "{quiet}");
        }
        for nothing in [
            "",
            "  at src/main.rs:3",
            "ERROR without a time",
            "{not json",
            "Executing command: transitioner -d 3",
        ] {
            assert!(classify(nothing).is_none(), "{nothing}");
        }
    }

    #[test]
    fn newest_errors_of_all_logs_first() {
        let dir = tempfile::tempdir().unwrap();
        std::fs::write(
            dir.path().join("transitioner.log"),
            "2025-01-02T03:00:00.000Z ERROR a: old <b>\n\
             2025-01-02T03:10:00.000Z  INFO a: fine\n\
             thread 'main' panicked at src/x.rs:1:2:\n\
             2025-01-02T03:30:00.000Z ERROR a: newest\n",
        )
        .unwrap();
        std::fs::write(
            dir.path().join("feeder.out"),
            "2025-01-02 03:20:00.0000 [CRITICAL] middle\n",
        )
        .unwrap();
        std::fs::write(
            dir.path().join("notes.txt"),
            "2025-01-02T04:00:00.000Z ERROR ignored\n",
        )
        .unwrap();
        let errors = recent_errors(dir.path(), 10);
        let got: Vec<(&str, &str, &str)> = errors
            .iter()
            .map(|e| (e.file.as_str(), e.time.as_str(), e.level.as_str()))
            .collect();
        assert_eq!(
            got,
            [
                ("transitioner.log", "2025-01-02 03:30:00", "ERROR"),
                ("feeder.out", "2025-01-02 03:20:00", "CRITICAL"),
                // A panic takes the time of the line before it.
                ("transitioner.log", "2025-01-02 03:10:00", "PANIC"),
                ("transitioner.log", "2025-01-02 03:00:00", "ERROR"),
            ]
        );
        assert_eq!(errors[3].message, "a: old <b>");
        assert_eq!(recent_errors(dir.path(), 2).len(), 2);
        assert!(recent_errors(&dir.path().join("missing"), 5).is_empty());
    }

    #[test]
    fn only_the_tail_of_a_big_log_is_read() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("big.log");
        let mut text = String::from("2025-01-01T00:00:00.000Z ERROR x: far back\n");
        let filler = "2025-01-01T00:00:01.000Z  INFO x: filler line to push the first one out\n";
        while text.len() < (TAIL_BYTES as usize) * 2 {
            text.push_str(filler);
        }
        text.push_str("2025-01-01T00:00:02.000Z ERROR x: recent\n");
        std::fs::write(&path, text).unwrap();
        let errors = errors_in(&path).unwrap();
        assert_eq!(errors.len(), 1);
        assert_eq!(errors[0].message, "x: recent");
    }

    #[test]
    fn counts_start_over_at_each_start_of_the_program() {
        let dir = tempfile::tempdir().unwrap();
        std::fs::write(
            dir.path().join("validator_mnist.log"),
            "[2025/01/02 03:00:00] Executing command: validator -d 3\n\
             2025-01-02T03:00:01.000Z ERROR v: before the restart\n\
             [2025/01/02 04:00:00] Executing command: validator -d 3\n\
             2025-01-02T04:00:01.000Z  WARN v: slow\n\
             2025-01-02T04:00:02.000Z  INFO v: WARN in a message is not a warning\n\
             {\"timestamp\":\"2025-01-02T04:00:03Z\",\"level\":\"WARN\",\"message\":\"m\"}\n\
             2025-01-02 04:00:04.0000 [CRITICAL] stock daemon\n\
             thread 'main' panicked at src/x.rs:1:2:\n",
        )
        .unwrap();
        std::fs::write(dir.path().join("transitioner.log"), "").unwrap();
        let counts = level_counts(dir.path());
        assert_eq!(
            counts,
            [
                LogCounts {
                    file: "transitioner.log".into(),
                    ..LogCounts::default()
                },
                LogCounts {
                    file: "validator_mnist.log".into(),
                    warn: 2,
                    error: 2,
                    since: Some("2025/01/02 04:00:00".into()),
                    partial: false,
                },
            ]
        );
    }
}
