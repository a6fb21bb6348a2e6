//! The report's table of rounds: one row per round (a chain's: per generation), with its
//! seed, state, host, final training and validation figures, run time and the local twin's
//! validation accuracy — and, when the dataset has a test split, each round's final test
//! figures in columns of their own (the app scores the finished model once on it).

use std::fmt::Write as _;

use super::{RoundReport, fmt, num};

/// The markdown table (`sweep`: with each round's configuration).
pub fn markdown(rounds: &[RoundReport], sweep: bool) -> String {
    let mut s = String::new();
    // Each round's (a chain's: each generation's) final test figures, when the dataset has a
    // test split.
    let with_test = rounds.iter().any(|r| {
        r.distributed
            .as_ref()
            .is_some_and(|v| num(v, "test_acc").is_some())
    });
    let _ = writeln!(
        s,
        "| round |{} seed | state | host | train acc | train loss | val acc | val loss |{} runtime (s) | local val acc |\n|---:|{}---:|---|---|---:|---:|---:|---:|{}---:|---:|",
        if sweep { " config |" } else { "" },
        if with_test {
            " test acc | test loss |"
        } else {
            ""
        },
        if sweep { "---:|" } else { "" },
        if with_test { "---:|---:|" } else { "" },
    );
    for r in rounds {
        let d = r.distributed.as_ref();
        let get = |k: &str| d.and_then(|v| num(v, k));
        let runtime = d.and_then(|v| metrics_doc::host_part(v)?.get("runtime_s")?.as_f64());
        let test = if with_test {
            format!(
                " {} | {} |",
                fmt(get("test_acc"), 4),
                fmt(get("test_loss"), 4)
            )
        } else {
            String::new()
        };
        let _ = writeln!(
            s,
            "| {} |{} {} | {} | {} | {} | {} | {} | {} |{test} {} | {} |",
            r.round,
            if sweep {
                format!(" {} |", r.config + 1)
            } else {
                String::new()
            },
            r.seed,
            r.state,
            r.host.as_deref().unwrap_or("–"),
            fmt(get("train_acc"), 4),
            fmt(get("train_loss"), 4),
            fmt(get("val_acc"), 4),
            fmt(get("val_loss"), 4),
            fmt(runtime, 2),
            fmt(r.local.as_ref().and_then(|v| num(v, "val_acc")), 4),
        );
    }
    s
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::{Value, json};

    fn round(round: i32, metrics: Value) -> RoundReport {
        RoundReport {
            round,
            config: 0,
            seed: 7,
            wu_name: format!("wu{round}"),
            state: "done".into(),
            host: Some("host 3".into()),
            distributed: Some(metrics),
            local: None,
        }
    }

    #[test]
    fn test_columns_only_with_a_test_split() {
        let with = |acc: f64| {
            json!({"train_acc": 0.9, "train_loss": 0.3, "val_acc": 0.85, "val_loss": 0.5,
                   "test_acc": acc, "test_loss": 0.55})
        };
        let s = markdown(&[round(1, with(0.8412)), round(2, with(0.8501))], false);
        assert!(
            s.contains("| val loss | test acc | test loss | runtime (s) |"),
            "{s}"
        );
        assert!(
            s.contains(
                "| 2 | 7 | done | host 3 | 0.9000 | 0.3000 | 0.8500 | 0.5000 | 0.8501 | 0.5500 |"
            ),
            "{s}"
        );
        let without = json!({"val_acc": 0.85, "test_acc": null, "test_loss": null});
        let s = markdown(&[round(1, without)], false);
        assert!(!s.contains("test acc"), "{s}");
        assert!(s.contains("| val loss | runtime (s) |"), "{s}");
    }
}
