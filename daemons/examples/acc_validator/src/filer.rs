//! The example's assimilator plug-in: files one line per finished workunit in
//! `<project>/results/<app>/<wu_name>.txt`: `val_acc=…` from the canonical result's
//! metrics.json, or `error_mask=…` and each result's outcome for a workunit that failed.
//! Rewriting the file makes it idempotent, as an assimilator must be.

use std::path::PathBuf;

use anyhow::Context;
use rboinc_daemons::assimilator::plugin::{AssimilatorPlugin, FinishedWorkunit};

/// The assimilator plug-in.
#[derive(Debug, Clone)]
pub struct AccuracyFiler {
    pub dir: PathBuf,
}

impl AssimilatorPlugin for AccuracyFiler {
    fn name(&self) -> &str {
        "accuracy_filer"
    }

    fn assimilate(&self, job: &FinishedWorkunit<'_>) -> anyhow::Result<()> {
        let line = if job.canonical().is_some() {
            let files = job.canonical_outputs()?;
            let metrics = files
                .iter()
                .find(|f| f.open_name == "metrics.json")
                .context("the canonical result has no metrics.json")?;
            let text = std::fs::read_to_string(&metrics.path)
                .with_context(|| format!("reading {}", metrics.path.display()))?;
            let doc: serde_json::Value = serde_json::from_str(&text)?;
            format!("val_acc={}\n", doc["val_acc"])
        } else {
            let outcomes: Vec<String> = job
                .results
                .iter()
                .map(|r| format!("{}:{}", r.id, r.outcome as i32))
                .collect();
            format!(
                "error_mask={} outcomes={}\n",
                job.wu.error_mask.bits(),
                outcomes.join(",")
            )
        };
        std::fs::create_dir_all(&self.dir)?;
        let path = self.dir.join(format!("{}.txt", job.wu.name));
        std::fs::write(&path, line).with_context(|| format!("writing {}", path.display()))
    }
}
