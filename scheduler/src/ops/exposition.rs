//! `/metrics`: the Prometheus text exposition format (version 0.0.4), written and read back.
//!
//! The scheduler's own counters come from [`crate::metrics::Metrics::render`]; this module adds
//! the gauges that describe the project rather than this process (queue sizes from the
//! database, daemon liveness from the pid and lock files) and build information. The parser is
//! the reader the ops page uses to show the counters, and what the tests check the output with.

use std::fmt::Write as _;

use super::daemons::DaemonView;
use super::snapshot::QueueSizes;

/// The format's content type.
pub const CONTENT_TYPE: &str = "text/plain; version=0.0.4; charset=utf-8";

/// One metric family being written.
struct Family<'a> {
    out: &'a mut String,
    name: &'static str,
}

impl<'a> Family<'a> {
    fn new(out: &'a mut String, name: &'static str, kind: &str, help: &str) -> Family<'a> {
        let _ = writeln!(out, "# HELP {name} {help}\n# TYPE {name} {kind}");
        Family { out, name }
    }

    fn sample(&mut self, labels: &[(&str, &str)], value: f64) {
        self.out.push_str(self.name);
        if !labels.is_empty() {
            self.out.push('{');
            for (i, (k, v)) in labels.iter().enumerate() {
                if i > 0 {
                    self.out.push(',');
                }
                let _ = write!(self.out, "{k}=\"{}\"", escape_label(v));
            }
            self.out.push('}');
        }
        let _ = writeln!(self.out, " {}", format_value(value));
    }
}

/// A label value as the format writes it: `\`, `"` and newlines escaped.
pub fn escape_label(v: &str) -> String {
    v.replace('\\', "\\\\")
        .replace('"', "\\\"")
        .replace('\n', "\\n")
}

fn format_value(v: f64) -> String {
    if v.is_nan() {
        "NaN".into()
    } else if v.is_infinite() {
        if v > 0.0 {
            "+Inf".into()
        } else {
            "-Inf".into()
        }
    } else {
        format!("{v}")
    }
}

/// What `/metrics` adds to the process counters.
#[derive(Debug, Clone, Default)]
pub struct ProjectGauges {
    /// `None` when the database did not answer.
    pub queues: Option<QueueSizes>,
    /// `None` when config.xml could not be read.
    pub daemons: Option<Vec<DaemonView>>,
}

/// The project gauges and build info, in the exposition format.
pub fn render_gauges(g: &ProjectGauges) -> String {
    let mut out = String::with_capacity(1024);
    Family::new(
        &mut out,
        "rboinc_build_info",
        "gauge",
        "The running scheduler's version (always 1).",
    )
    .sample(
        &[
            ("version", env!("CARGO_PKG_VERSION")),
            ("program", "scheduler"),
        ],
        1.0,
    );
    Family::new(
        &mut out,
        "rboinc_database_up",
        "gauge",
        "Whether the database answered the queue queries of this scrape.",
    )
    .sample(&[], if g.queues.is_some() { 1.0 } else { 0.0 });
    if let Some(q) = &g.queues {
        let queues: [(&'static str, &str, &std::collections::BTreeMap<String, i64>); 4] = [
            (
                "rboinc_results_unsent",
                "Results waiting to be sent (server_state UNSENT).",
                &q.unsent,
            ),
            (
                "rboinc_results_in_progress",
                "Results sent and not yet reported or timed out (server_state IN_PROGRESS).",
                &q.in_progress,
            ),
            (
                "rboinc_workunits_need_validate",
                "Workunits flagged for the validator.",
                &q.need_validate,
            ),
            (
                "rboinc_workunits_assimilate_ready",
                "Workunits waiting for the assimilator (assimilate_state READY).",
                &q.assimilate_ready,
            ),
        ];
        for (name, help, by_app) in queues {
            let mut f = Family::new(&mut out, name, "gauge", help);
            for (app, n) in by_app {
                f.sample(&[("app", app)], *n as f64);
            }
        }
    }
    if let Some(daemons) = &g.daemons {
        let mut f = Family::new(
            &mut out,
            "rboinc_daemon_up",
            "gauge",
            "Whether each enabled config.xml daemon of this host runs (lock held, pid alive).",
        );
        for d in daemons.iter().filter(|d| !d.disabled) {
            f.sample(
                &[("daemon", &d.program), ("cmd", &d.cmd)],
                if d.running { 1.0 } else { 0.0 },
            );
        }
    }
    out
}

/// One sample read back.
#[derive(Debug, Clone, PartialEq)]
pub struct Sample {
    pub name: String,
    pub labels: Vec<(String, String)>,
    pub value: f64,
}

impl Sample {
    pub fn label(&self, key: &str) -> Option<&str> {
        self.labels
            .iter()
            .find(|(k, _)| k == key)
            .map(|(_, v)| v.as_str())
    }
}

/// A line the parser refused, with its number (1-based).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("line {line}: {message}")]
pub struct ParseError {
    pub line: usize,
    pub message: String,
}

/// A metric family read back.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct FamilyInfo {
    pub name: String,
    /// `counter`, `gauge`, …
    pub kind: String,
    /// Its `# HELP` text, if given before its `# TYPE` line.
    pub help: String,
}

/// Text read back: the families in declaration order and the samples.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct Parsed {
    pub families: Vec<FamilyInfo>,
    pub samples: Vec<Sample>,
}

impl Parsed {
    /// The samples named `name`.
    pub fn get<'a>(&'a self, name: &'a str) -> impl Iterator<Item = &'a Sample> + 'a {
        self.samples.iter().filter(move |s| s.name == name)
    }

    /// The value of the one sample named `name` whose labels include `labels`.
    pub fn value(&self, name: &str, labels: &[(&str, &str)]) -> Option<f64> {
        self.get(name)
            .find(|s| labels.iter().all(|(k, v)| s.label(k) == Some(*v)))
            .map(|s| s.value)
    }
}

fn valid_name(name: &str) -> bool {
    let mut chars = name.chars();
    chars
        .next()
        .is_some_and(|c| c.is_ascii_alphabetic() || c == '_' || c == ':')
        && chars.all(|c| c.is_ascii_alphanumeric() || c == '_' || c == ':')
}

/// Reads text in the exposition format strictly: every sample must belong to a family declared
/// by a `# TYPE` line before it, names and labels must be well formed, values numbers, and no
/// family may be declared twice.
pub fn parse(text: &str) -> Result<Parsed, ParseError> {
    let mut parsed = Parsed::default();
    let mut help: Option<(String, String)> = None;
    for (i, line) in text.lines().enumerate() {
        let err = |message: String| ParseError {
            line: i + 1,
            message,
        };
        if line.is_empty() {
            continue;
        }
        if let Some(rest) = line.strip_prefix("# ") {
            let mut parts = rest.splitn(3, ' ');
            match (parts.next(), parts.next(), parts.next()) {
                (Some("TYPE"), Some(name), Some(kind)) => {
                    if !valid_name(name) {
                        return Err(err(format!("bad metric name {name:?}")));
                    }
                    if !["counter", "gauge", "histogram", "summary", "untyped"].contains(&kind) {
                        return Err(err(format!("unknown type {kind:?}")));
                    }
                    if parsed.families.iter().any(|f| f.name == name) {
                        return Err(err(format!("{name} declared twice")));
                    }
                    let help = match help.take() {
                        Some((n, text)) if n == name => text,
                        _ => String::new(),
                    };
                    parsed.families.push(FamilyInfo {
                        name: name.to_string(),
                        kind: kind.to_string(),
                        help,
                    });
                }
                (Some("HELP"), Some(name), text) if valid_name(name) => {
                    help = Some((name.to_string(), text.unwrap_or("").to_string()));
                }
                _ => return Err(err(format!("malformed comment {line:?}"))),
            }
            continue;
        }
        if line.starts_with('#') {
            continue;
        }
        let sample = parse_sample(line).map_err(err)?;
        if !parsed.families.iter().any(|f| f.name == sample.name) {
            return Err(err(format!("{} has no # TYPE line before it", sample.name)));
        }
        parsed.samples.push(sample);
    }
    Ok(parsed)
}

fn parse_sample(line: &str) -> Result<Sample, String> {
    let name_end = line.find(['{', ' ']).ok_or("no value")?;
    let name = &line[..name_end];
    if !valid_name(name) {
        return Err(format!("bad metric name {name:?}"));
    }
    let mut rest = &line[name_end..];
    let mut labels = Vec::new();
    if let Some(after) = rest.strip_prefix('{') {
        let mut chars = after.char_indices();
        let mut key = String::new();
        let mut end = None;
        while let Some((i, c)) = chars.next() {
            match c {
                '}' if key.is_empty() => {
                    end = Some(i + 1);
                    break;
                }
                ',' if key.is_empty() => {}
                '=' => {
                    if !valid_name(&key) {
                        return Err(format!("bad label name {key:?}"));
                    }
                    if chars.next().map(|(_, c)| c) != Some('"') {
                        return Err("label value not quoted".into());
                    }
                    let mut value = String::new();
                    loop {
                        match chars.next().map(|(_, c)| c) {
                            Some('"') => break,
                            Some('\\') => match chars.next().map(|(_, c)| c) {
                                Some('\\') => value.push('\\'),
                                Some('"') => value.push('"'),
                                Some('n') => value.push('\n'),
                                other => return Err(format!("bad escape {other:?}")),
                            },
                            Some('\n') | None => return Err("unterminated label value".into()),
                            Some(c) => value.push(c),
                        }
                    }
                    labels.push((std::mem::take(&mut key), value));
                }
                c => key.push(c),
            }
        }
        let end = end.ok_or("unterminated label set")?;
        rest = &after[end..];
    }
    let value_text = rest
        .strip_prefix(' ')
        .ok_or("no space before the value")?
        .split(' ')
        .next()
        .unwrap_or("");
    let value = match value_text {
        "+Inf" => f64::INFINITY,
        "-Inf" => f64::NEG_INFINITY,
        "NaN" => f64::NAN,
        v => v.parse().map_err(|_| format!("bad value {v:?}"))?,
    };
    Ok(Sample {
        name: name.to_string(),
        labels,
        value,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn gauges_round_trip_with_awkward_labels() {
        let mut q = QueueSizes::default();
        q.unsent.insert("mnist".into(), 3);
        q.in_progress.insert("mnist".into(), 2);
        q.need_validate.insert("mnist".into(), 0);
        q.assimilate_ready.insert("odd \"app\"\\\nname".into(), 7);
        let daemon = |cmd: &str, running, disabled| DaemonView {
            cmd: cmd.into(),
            program: cmd.split(' ').next().unwrap().into(),
            disabled,
            running,
            pid: None,
            uptime: None,
            log_name: String::new(),
            last_log_line: None,
        };
        let text = render_gauges(&ProjectGauges {
            queues: Some(q),
            daemons: Some(vec![
                daemon("transitioner -d 3", true, false),
                daemon("validator --app \"x\"", false, false),
                daemon("feeder", false, true),
            ]),
        });
        let p = parse(&text).unwrap();
        assert_eq!(p.value("rboinc_database_up", &[]), Some(1.0));
        assert_eq!(
            p.value("rboinc_results_unsent", &[("app", "mnist")]),
            Some(3.0)
        );
        assert_eq!(
            p.value(
                "rboinc_workunits_assimilate_ready",
                &[("app", "odd \"app\"\\\nname")]
            ),
            Some(7.0)
        );
        assert_eq!(
            p.value("rboinc_daemon_up", &[("daemon", "transitioner")]),
            Some(1.0)
        );
        assert_eq!(
            p.value("rboinc_daemon_up", &[("cmd", "validator --app \"x\"")]),
            Some(0.0)
        );
        // Disabled daemons are not expected to run, so they are not reported.
        assert_eq!(p.get("rboinc_daemon_up").count(), 2);
        assert_eq!(
            p.get("rboinc_build_info").next().unwrap().label("version"),
            Some(env!("CARGO_PKG_VERSION"))
        );

        let down = parse(&render_gauges(&ProjectGauges::default())).unwrap();
        assert_eq!(down.value("rboinc_database_up", &[]), Some(0.0));
        assert_eq!(down.get("rboinc_results_unsent").count(), 0);
    }

    #[test]
    fn the_parser_is_strict() {
        let ok =
            "# HELP a_total x\n# TYPE a_total counter\na_total{k=\"v\",j=\"w\"} 1.5\na_total 2\n";
        let p = parse(ok).unwrap();
        assert_eq!(p.samples.len(), 2);
        assert_eq!(p.samples[0].label("j"), Some("w"));
        assert_eq!(p.families[0].help, "x");
        assert_eq!(p.families[0].kind, "counter");
        for (bad, why) in [
            ("a 1\n", "no # TYPE"),
            ("# TYPE a gauge\na{k=v} 1\n", "not quoted"),
            ("# TYPE a gauge\na{k=\"v} 1\n", "unterminated"),
            ("# TYPE a gauge\na{k=\"v\"} x\n", "bad value"),
            ("# TYPE a gauge\n# TYPE a gauge\n", "twice"),
            ("# TYPE 1a gauge\n", "bad metric name"),
            ("# TYPE a thing\n", "unknown type"),
            ("# TYPE a gauge\na{k=\"\\x\"} 1\n", "bad escape"),
            ("# TYPE a gauge\na1\n", "no value"),
        ] {
            let e = parse(bad).unwrap_err();
            assert!(e.message.contains(why), "{bad:?}: {e}");
        }
    }
}
