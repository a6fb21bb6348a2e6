//! `docs/RUNBOOK.md` names every WARN and ERROR message the server's programs can log, with what
//! an operator should do. This test reads the source of the crates whose code runs in the
//! daemons, the scheduler and the tools they run (`core`, `daemons`, `scheduler`, `tools`,
//! `research`), finds each `warn!(` and `error!(` call, takes its message (the macro's last
//! string-literal argument that is not a field value) and checks the runbook's table has it
//! in backquotes. A new WARN or ERROR without a runbook row fails here, and so does a row whose
//! message the code no longer logs at that level.

use std::path::{Path, PathBuf};

use rboinc_e2e::workspace_root;

/// One `warn!`/`error!` call site.
#[derive(Debug)]
struct CallSite {
    level: &'static str,
    place: String,
    message: Option<String>,
}

const CRATES: [&str; 5] = ["core", "daemons", "scheduler", "tools", "research"];

fn rust_files(dir: &Path, out: &mut Vec<PathBuf>) {
    for entry in std::fs::read_dir(dir).unwrap().flatten() {
        let path = entry.path();
        if path.is_dir() {
            rust_files(&path, out);
        } else if path.extension().is_some_and(|e| e == "rs") {
            out.push(path);
        }
    }
}

/// The index just past the string literal starting at `start` (a `"`).
fn end_of_string(text: &[u8], start: usize) -> usize {
    let mut i = start + 1;
    while text[i] != b'"' {
        if text[i] == b'\\' {
            i += 1;
        }
        i += 1;
    }
    i + 1
}

/// The top-level, comma-separated arguments of the macro call whose `(` is at `open`.
fn arguments(text: &str, open: usize) -> Vec<String> {
    let bytes = text.as_bytes();
    let (mut depth, mut i, mut start) = (0usize, open, open + 1);
    let mut args = Vec::new();
    loop {
        match bytes[i] {
            b'"' => {
                i = end_of_string(bytes, i);
                continue;
            }
            b'(' | b'[' | b'{' => depth += 1,
            b')' | b']' | b'}' => {
                depth -= 1;
                if depth == 0 {
                    args.push(text[start..i].trim().to_string());
                    break;
                }
            }
            b',' if depth == 1 => {
                args.push(text[start..i].trim().to_string());
                start = i + 1;
            }
            _ => {}
        }
        i += 1;
    }
    args.retain(|a| !a.is_empty());
    args
}

/// A Rust string literal's text: line continuations joined, `\"` unescaped.
fn literal_text(literal: &str) -> String {
    let inner = &literal[1..literal.len() - 1];
    let mut out = String::new();
    let mut rest = inner;
    while let Some(i) = rest.find("\\\n") {
        out.push_str(&rest[..i]);
        rest = rest[i + 2..].trim_start();
    }
    out.push_str(rest);
    out.replace("\\\"", "\"")
}

fn call_sites() -> Vec<CallSite> {
    let root = workspace_root();
    let mut files = Vec::new();
    for krate in CRATES {
        rust_files(&root.join(krate).join("src"), &mut files);
    }
    files.sort();
    let mut sites = Vec::new();
    for file in files {
        let text = std::fs::read_to_string(&file).unwrap();
        for (level, needle) in [("WARN", "warn!("), ("ERROR", "error!(")] {
            for (at, _) in text.match_indices(needle) {
                let before = &text[..at];
                // A whole word (`tracing::warn!(` or `warn!(`), not in a comment.
                if before
                    .chars()
                    .next_back()
                    .is_some_and(|c| c.is_alphanumeric() || c == '_')
                {
                    continue;
                }
                let line_start = before.rfind('\n').map_or(0, |i| i + 1);
                if text[line_start..at].trim_start().starts_with("//") {
                    continue;
                }
                let line = before.matches('\n').count() + 1;
                let message = arguments(&text, at + needle.len() - 1)
                    .iter()
                    .rev()
                    .find(|a| a.starts_with('"'))
                    .map(|a| literal_text(a));
                sites.push(CallSite {
                    level,
                    place: format!(
                        "{}:{line}",
                        file.strip_prefix(&root).unwrap_or(&file).display()
                    ),
                    message,
                });
            }
        }
    }
    sites
}

#[test]
fn every_warn_and_error_message_is_in_the_runbook_table() {
    let runbook = std::fs::read_to_string(workspace_root().join("docs/RUNBOOK.md")).unwrap();
    let table: Vec<&str> = runbook
        .lines()
        .filter(|l| l.starts_with("| WARN |") || l.starts_with("| ERROR |"))
        .collect();
    let sites = call_sites();
    assert!(
        sites.len() > 50,
        "the scan finds the call sites: {sites:#?}"
    );
    let mut missing = Vec::new();
    for site in &sites {
        let Some(message) = &site.message else {
            missing.push(format!(
                "{}: {} without a literal message",
                site.place, site.level
            ));
            continue;
        };
        let quoted = format!("`{message}`");
        let row = format!("| {} | {quoted} |", site.level);
        if !table.iter().any(|l| l.starts_with(&row)) {
            missing.push(format!("{}: {} {quoted}", site.place, site.level));
        }
    }
    // And no row for a message the code no longer logs at that level.
    for row in &table {
        let mut cells = row.split(" | ");
        let level = cells.next().unwrap_or_default().trim_start_matches("| ");
        let message = cells.next().unwrap_or_default();
        let logged = sites.iter().any(|s| {
            s.level == level
                && s.message
                    .as_ref()
                    .is_some_and(|m| format!("`{m}`") == message)
        });
        if !logged {
            missing.push(format!("stale row: {level} {message}"));
        }
    }
    assert!(
        missing.is_empty(),
        "WARN/ERROR messages without a row in docs/RUNBOOK.md's table \
         (add `| LEVEL | `message` | program | what to do |`), or rows no code logs:\n{}",
        missing.join("\n")
    );
}

#[test]
fn the_scan_reads_messages_as_the_log_shows_them() {
    let args = arguments(
        "warn!(wu_id = %w, reason = \"x\", \"a \\\n     b \\\"c\\\"\");",
        5,
    );
    assert_eq!(args.len(), 3, "{args:?}");
    assert_eq!(literal_text(&args[2]), "a b \"c\"");
    assert_eq!(literal_text(&args[1]["reason = ".len()..]), "x");
}
