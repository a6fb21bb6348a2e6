//! The validator's last disagreements, read from its log lines.
//!
//! When two results of a job differ, the validator logs one INFO line `results disagree` with
//! the job, both results, both hosts and what differed (`wu_id`, `result_a`, `result_b`,
//! `host_a`, `host_b`, `detail`; older builds wrote `result_id`, `other_result_id`, `field`,
//! `value`, `other_value`, also read here). The ops page lists the newest ones from the tail of
//! every log, in the text or the JSON format, so an operator sees which hosts keep disagreeing
//! without a log search.

use std::collections::BTreeMap;
use std::path::Path;

use super::daemons::{cut, strip_ansi};
use super::logs::{MAX_MESSAGE_CHARS, TAIL_BYTES, file_name, log_files, normalize_time, tail};

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
pub fn recent(log_dir: &Path, limit: usize) -> Vec<Disagreement> {
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
        let mut fields = BTreeMap::new();
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

/// Whether `rest` starts with `identifier=`.
fn starts_key(rest: &[char]) -> bool {
    let n = rest
        .iter()
        .take_while(|c| c.is_ascii_alphanumeric() || **c == '_')
        .count();
    n > 0 && rest.get(n) == Some(&'=')
}

/// `key=value` pairs in `text`, values bare or double-quoted (with `\"` escapes) as tracing's
/// text format writes them; braces and colons of span prefixes are separators.
fn key_values(text: &str) -> BTreeMap<String, String> {
    let mut out = BTreeMap::new();
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
            // A bare value (a `Display` field) may hold spaces: it runs to the next ` key=`.
            while i < chars.len() && !"{}".contains(chars[i]) {
                if chars[i].is_whitespace() && starts_key(&chars[i + 1..]) {
                    break;
                }
                value.push(chars[i]);
                i += 1;
            }
            let trimmed = value.trim_end().len();
            value.truncate(trimmed);
        }
        out.insert(key, value);
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

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
            dir.path().join("validator_bitwise.log"),
            "\u{1b}[2m2025-01-02T02:00:00.000000Z\u{1b}[0m \u{1b}[32m INFO\u{1b}[0m rboinc_daemons::validator::quorum: results disagree wu_id=2 result_a=3 result_b=4 host_a=1 host_b=2 detail=metrics.json: byte 17: 0x31 vs 0x32\n",
        )
        .unwrap();
        std::fs::write(
            dir.path().join("validator_other.log"),
            "{\"timestamp\":\"2025-01-02T03:10:00Z\",\"level\":\"INFO\",\"message\":\"results disagree\",\"wu_id\":9,\"result_a\":17,\"result_b\":18,\"host_a\":5,\"host_b\":6,\"detail\":\"loss\"}\n\
             {\"timestamp\":\"2025-01-02T03:11:00Z\",\"level\":\"INFO\",\"message\":\"mentions results disagree only in passing\"}\n",
        )
        .unwrap();
        let found = recent(dir.path(), 10);
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
                (
                    "2025-01-02 02:00:00",
                    "2",
                    "3",
                    "4",
                    "1",
                    "2",
                    "metrics.json: byte 17: 0x31 vs 0x32"
                ),
            ]
        );
        assert_eq!(found[0].file, "validator_other.log");
        assert_eq!(recent(dir.path(), 1).len(), 1);
    }
}
