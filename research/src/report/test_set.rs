//! The final test figures, apart from validation.
//!
//! The app validates on held-out training rows and scores the finished model once on the
//! dataset's whole test split (`test_acc`, `test_loss` in metrics.json; null without a test
//! split). The report shows them in their own section, as mean ± standard deviation over the
//! rounds, so a reader never mistakes the validation figures used to compare configurations for
//! the held-back test result — and a series on a dataset without a test split shows none.

use std::fmt::Write as _;

use serde_json::Value;

use super::{RoundReport, mean_std};

/// The markdown section, or `None` when no round has test figures.
pub fn markdown(rounds: &[RoundReport]) -> Option<String> {
    let rows = |v: &Value| v.get("split")?.get("test")?.as_u64();
    let column = |pick: fn(&RoundReport) -> Option<&Value>, key: &str| {
        let xs: Vec<f64> = rounds
            .iter()
            .filter_map(|r| pick(r)?.get(key)?.as_f64())
            .collect();
        mean_std(&xs).map(|(m, sd)| format!("{m:.4} ± {sd:.4} (n={})", xs.len()))
    };
    type Cells = (&'static str, Option<String>, Option<String>);
    let cells: Vec<Cells> = ["test_acc", "test_loss"]
        .into_iter()
        .map(|k| (k, column(distributed, k), column(local, k)))
        .collect();
    if cells.iter().all(|(_, d, l)| d.is_none() && l.is_none()) {
        return None;
    }
    let test_rows = rounds
        .iter()
        .find_map(|r| r.distributed.as_ref().or(r.local.as_ref()).and_then(rows));
    let mut s = String::new();
    let _ = writeln!(s, "\n## Final test set (apart from validation)\n");
    let _ = writeln!(
        s,
        "Each round's final model scored once on the dataset's whole test split{}; validation \
         above is on held-out training rows. Mean ± standard deviation over rounds.\n",
        test_rows.map_or(String::new(), |n| format!(" ({n} rows)"))
    );
    let _ = writeln!(s, "| metric | distributed | local |\n|---|---:|---:|");
    for (key, d, l) in cells {
        let cell = |c: Option<String>| c.unwrap_or_else(|| "–".to_string());
        let _ = writeln!(s, "| {key} | {} | {} |", cell(d), cell(l));
    }
    Some(s)
}

fn distributed(r: &RoundReport) -> Option<&Value> {
    r.distributed.as_ref()
}

fn local(r: &RoundReport) -> Option<&Value> {
    r.local.as_ref()
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn round(round: i32, metrics: Option<Value>) -> RoundReport {
        RoundReport {
            round,
            config: 0,
            seed: 1,
            wu_name: format!("wu{round}"),
            state: "done".into(),
            host: None,
            distributed: metrics,
            local: None,
        }
    }

    #[test]
    fn test_figures_are_summarised_apart_or_not_at_all() {
        let m = |acc: f64, loss: f64| json!({"val_acc": 0.5, "test_acc": acc, "test_loss": loss, "split": {"test": 10000}});
        let rounds = [
            round(1, Some(m(0.8, 0.6))),
            round(2, Some(m(0.9, 0.4))),
            round(3, None),
        ];
        let s = markdown(&rounds).unwrap();
        assert!(s.contains("## Final test set"), "{s}");
        assert!(s.contains("(10000 rows)"), "{s}");
        assert!(
            s.contains("| test_acc | 0.8500 ± 0.0707 (n=2) | – |"),
            "{s}"
        );
        assert!(
            s.contains("| test_loss | 0.5000 ± 0.1414 (n=2) | – |"),
            "{s}"
        );
        // No test split: null figures, no section.
        let none =
            json!({"val_acc": 0.5, "test_acc": null, "test_loss": null, "split": {"test": 0}});
        assert_eq!(markdown(&[round(1, Some(none))]), None);
    }
}
