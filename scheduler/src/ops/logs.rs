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

use std::fs::File;
use std::io::{Read, Seek, SeekFrom};
use std::path::Path;

use super::daemons::{cut, strip_ansi};

/// Bytes read from the end of each log.
const TAIL_BYTES: u64 = 256 * 1024;
/// Longest message shown.
const MAX_MESSAGE_CHARS: usize = 600;

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
fn normalize_time(raw: &str) -> String {
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
    /// cover only its last [`COUNT_BYTES`].
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

/// One disagreement the validator logged (`results disagree`).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Disagreement {
    pub time: String,
    pub file: String,
    pub wu_id: String,
    pub result_a: String,
    pub result_b: String,
    pub host_a: String,
    pub host_b: String,
    /// What differed (the validator's `detail`, or its field and values).
    pub detail: String,
}

/// The message the validator logs when two results of a job differ.
pub const DISAGREE_MESSAGE: &str = "results disagree";

/// The newest `limit` disagreements in the logs of `log_dir`, newest first.
pub fn recent_disagreements(log_dir: &Path, limit: usize) -> Vec<Disagreement> {
    let mut all = Vec::new();
    for path in log_files(log_dir) {
        let Ok(text) = tail(&path, TAIL_BYTES) else {
            continue;
        };
        let file = file_name(&path);
        for raw in text.lines() {
            if !raw.contains(DISAGREE_MESSAGE) {
                continue;
            }
            if let Some(mut d) = parse_disagreement(&strip_ansi(raw)) {
                d.file = file.clone();
                all.push(d);
            }
        }
    }
    // Stable: lines of equal time keep their order in the file, newest last, then reversed.
    all.sort_by(|a, b| a.time.cmp(&b.time));
    all.into_iter().rev().take(limit).collect()
}

/// A `results disagree` line's fields, in the text or the JSON format.
pub fn parse_disagreement(line: &str) -> Option<Disagreement> {
    let line = line.trim();
    let (time, fields) = if line.starts_with('{') {
        let value: serde_json::Value = serde_json::from_str(line).ok()?;
        let obj = value.as_object()?;
        let mut fields = std::collections::BTreeMap::new();
        // Event fields at the top level or under "fields"; span fields under "span"/"spans".
        let mut sources = vec![value.clone()];
        sources.extend(obj.get("fields").cloned());
        sources.extend(obj.get("span").cloned());
        if let Some(spans) = obj.get("spans").and_then(|s| s.as_array()) {
            sources.extend(spans.iter().cloned());
        }
        for source in sources.iter().filter_map(|s| s.as_object()) {
            for (k, v) in source {
                let v = v.as_str().map_or_else(|| v.to_string(), str::to_string);
                fields.entry(k.clone()).or_insert(v);
            }
        }
        if fields.get("message").map(String::as_str) != Some(DISAGREE_MESSAGE) {
            return None;
        }
        let time = fields.get("timestamp").cloned().unwrap_or_default();
        (time, fields)
    } else {
        let at = line.find(DISAGREE_MESSAGE)?;
        let time = line
            .split_whitespace()
            .next()
            .unwrap_or_default()
            .to_string();
        // Span fields (`validator{app=mnist}:`) before the message, event fields after.
        let mut fields = key_values(&line[at + DISAGREE_MESSAGE.len()..]);
        for (k, v) in key_values(&line[..at]) {
            fields.entry(k).or_insert(v);
        }
        (time, fields)
    };
    let get = |keys: &[&str]| {
        keys.iter()
            .find_map(|k| fields.get(*k).cloned())
            .unwrap_or_default()
    };
    let detail = match fields.get("detail") {
        Some(d) => d.clone(),
        None => {
            let field = get(&["field"]);
            let (a, b) = (get(&["value"]), get(&["other_value"]));
            if field.is_empty() {
                String::new()
            } else {
                format!("{field}: {a} vs {b}")
            }
        }
    };
    Some(Disagreement {
        time: normalize_time(&time),
        file: String::new(),
        wu_id: get(&["wu_id"]),
        result_a: get(&["result_a", "result_id"]),
        result_b: get(&["result_b", "other_result_id"]),
        host_a: get(&["host_a"]),
        host_b: get(&["host_b"]),
        detail: cut(&detail, MAX_MESSAGE_CHARS),
    })
}

/// `key=value` pairs in `text`, values bare or double-quoted (with `\"` escapes) as tracing's
/// text format writes them; braces and colons of span prefixes are separators.
fn key_values(text: &str) -> std::collections::BTreeMap<String, String> {
    let mut out = std::collections::BTreeMap::new();
    let chars: Vec<char> = text.chars().collect();
    let mut i = 0;
    while i < chars.len() {
        // A key: identifier characters followed by '='.
        let start = i;
        while i < chars.len() && (chars[i].is_ascii_alphanumeric() || chars[i] == '_') {
            i += 1;
        }
        if i == start || i >= chars.len() || chars[i] != '=' {
            i = i.max(start + 1);
            continue;
        }
        let key: String = chars[start..i].iter().collect();
        i += 1;
        let mut value = String::new();
        if chars.get(i) == Some(&'"') {
            i += 1;
            while i < chars.len() && chars[i] != '"' {
                if chars[i] == '\\' && i + 1 < chars.len() {
                    i += 1;
                }
                value.push(chars[i]);
                i += 1;
            }
            i += 1;
        } else {
            while i < chars.len() && !chars[i].is_whitespace() && !"{}".contains(chars[i]) {
                value.push(chars[i]);
                i += 1;
            }
        }
        out.insert(key, value);
    }
    out
}

/// The end of a file as text, and whether it was cut.
struct Tail {
    text: String,
    cut: bool,
}

impl Tail {
    fn lines(&self) -> impl Iterator<Item = &str> {
        let mut lines = self.text.lines();
        if self.cut {
            lines.next(); // cut in the middle
        }
        lines
    }
}

fn tail(path: &Path, bytes: u64) -> std::io::Result<Tail> {
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

fn file_name(path: &Path) -> String {
    path.file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_default()
}

/// The `*.log` and `*.out` files of `log_dir` (none if it is missing).
fn log_files(log_dir: &Path) -> Vec<std::path::PathBuf> {
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

    #[test]
    fn disagreements_are_read_from_text_and_json_lines() {
        let dir = tempfile::tempdir().unwrap();
        std::fs::write(
            dir.path().join("validator_mnist.log"),
            "2025-01-02T03:00:00.000Z  INFO validator{app=mnist}: rboinc_daemons::validator: results disagree wu_id=7 result_a=13 result_b=14 host_a=3 host_b=4 detail=\"metrics.json history[1].val_acc: 0.9 vs 0.95 <b>\"\n\
             2025-01-02T03:05:00.000Z  INFO validator: results disagree wu_id=8 result_id=15 other_result_id=16 file=metrics.json field=val_acc value=0.5 other_value=0.6\n\
             2025-01-02T03:06:00.000Z  INFO validator: pass done\n",
        )
        .unwrap();
        std::fs::write(
            dir.path().join("validator_other.log"),
            "{\"timestamp\":\"2025-01-02T03:10:00Z\",\"level\":\"INFO\",\"message\":\"results disagree\",\"wu_id\":9,\"result_a\":17,\"result_b\":18,\"host_a\":5,\"host_b\":6,\"detail\":\"loss\"}\n\
             {\"timestamp\":\"2025-01-02T03:11:00Z\",\"level\":\"INFO\",\"message\":\"mentions results disagree only in passing\"}\n",
        )
        .unwrap();
        let found = recent_disagreements(dir.path(), 10);
        let short: Vec<_> = found
            .iter()
            .map(|d| {
                (
                    d.time.as_str(),
                    d.wu_id.as_str(),
                    d.result_a.as_str(),
                    d.result_b.as_str(),
                    d.host_a.as_str(),
                    d.host_b.as_str(),
                    d.detail.as_str(),
                )
            })
            .collect();
        assert_eq!(
            short,
            [
                ("2025-01-02 03:10:00", "9", "17", "18", "5", "6", "loss"),
                (
                    "2025-01-02 03:05:00",
                    "8",
                    "15",
                    "16",
                    "",
                    "",
                    "val_acc: 0.5 vs 0.6"
                ),
                (
                    "2025-01-02 03:00:00",
                    "7",
                    "13",
                    "14",
                    "3",
                    "4",
                    "metrics.json history[1].val_acc: 0.9 vs 0.95 <b>"
                ),
            ]
        );
        assert_eq!(found[0].file, "validator_other.log");
        assert_eq!(recent_disagreements(dir.path(), 1).len(), 1);
    }
}
