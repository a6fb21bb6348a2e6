//! A project's own comparison for rboinc's validator (the example of `docs/VALIDATOR.md`).
//!
//! The mnist app writes `metrics.json`; this project accepts two results when their final
//! validation accuracies are within `--max_acc_diff` (default 0.01), whatever else differs.
//! It also uses BOINC's two marks: a result whose accuracy is implausibly low (below
//! `--min_acc`, default 0.2: training diverged) is *suspicious*, so it is never trusted alone;
//! a result that ran less than a second is a *runtime outlier*, kept out of the credit
//! statistics.
//!
//! [`filer`] is the same project's assimilator plug-in (the `acc_assimilator` binary).

pub mod filer;

pub use filer::AccuracyFiler;

use std::io::Read;

use anyhow::{Context, bail};
use rboinc_core::db::result::ResultRow;
use rboinc_daemons::validator::PluginArgs;
use rboinc_daemons::validator::plugin::{
    CompareError, Difference, Init, InitError, Outputs, Plugin, Verdict,
};

/// The comparison.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct AccuracyCheck {
    pub max_diff: f64,
    pub min_acc: f64,
}

impl AccuracyCheck {
    /// Reads `--max_acc_diff X` and `--min_acc X` from the arguments the validator left over.
    pub fn from_args(args: &PluginArgs) -> anyhow::Result<Self> {
        let mut check = AccuracyCheck {
            max_diff: 0.01,
            min_acc: 0.2,
        };
        let mut words = args.args.iter();
        let mut unused = Vec::new();
        while let Some(word) = words.next() {
            let slot = match word.as_str() {
                "--max_acc_diff" => &mut check.max_diff,
                "--min_acc" => &mut check.min_acc,
                _ => {
                    unused.push(word.clone());
                    continue;
                }
            };
            let value = words
                .next()
                .with_context(|| format!("{word} needs a value"))?;
            *slot = value
                .parse()
                .ok()
                .filter(|x: &f64| x.is_finite() && *x >= 0.0)
                .with_context(|| format!("{word} {value:?}: not a number ≥ 0"))?;
        }
        if check.max_diff > 1.0 {
            bail!(
                "--max_acc_diff {} accepts any two accuracies",
                check.max_diff
            );
        }
        args.warn_unused(&unused);
        Ok(check)
    }
}

impl Plugin for AccuracyCheck {
    /// The final validation accuracy.
    type Data = f64;

    fn name(&self) -> &str {
        "val_acc"
    }

    fn init_result(&self, outputs: &Outputs<'_>) -> Result<Init<f64>, InitError> {
        let files = outputs.files()?;
        let file = files
            .iter()
            .find(|f| f.open_name == "metrics.json")
            .ok_or_else(|| InitError::Permanent("the result has no metrics.json".into()))?;
        let mut text = String::new();
        outputs
            .open(file)?
            .ok_or_else(|| InitError::Permanent("metrics.json is missing".into()))?
            .take(1 << 20)
            .read_to_string(&mut text)
            .map_err(|e| InitError::Transient(format!("{}: {e}", file.path.display())))?;
        let doc: serde_json::Value = serde_json::from_str(&text)
            .map_err(|e| InitError::Permanent(format!("{}: {e}", file.path.display())))?;
        let acc = doc["val_acc"]
            .as_f64()
            .filter(|a| (0.0..=1.0).contains(a))
            .ok_or_else(|| {
                InitError::Permanent(format!("{}: no val_acc in [0, 1]", file.path.display()))
            })?;
        let mut read = Init::new(acc);
        if acc < self.min_acc {
            read = read.mark_suspicious();
        }
        if outputs.result.elapsed_time < 1.0 {
            read = read.mark_runtime_outlier();
        }
        Ok(read)
    }

    fn compare_results(
        &self,
        _a: &ResultRow,
        a: &f64,
        _b: &ResultRow,
        b: &f64,
    ) -> Result<Verdict, CompareError> {
        if (a - b).abs() <= self.max_diff {
            Ok(Verdict::Match)
        } else {
            Ok(Verdict::Differ(Difference {
                file: "metrics.json".into(),
                field: "val_acc".into(),
                left: a.to_string(),
                right: b.to_string(),
            }))
        }
    }
}
