//! The report's ensemble section: every round's validated model and their ensemble (the mean
//! of their softmax outputs, [`mnist_app::evaluate::ensemble`]) scored on the same rows — the
//! dataset's test split, or every training row when it has none (then each model has seen most
//! of them in training, which the report says). Rounds whose weights were not exported are
//! left out; without any, there is no section.

use std::fmt::Write as _;
use std::path::{Path, PathBuf};

use mnist_app::evaluate::{self, Evaluation};

/// The scores.
#[derive(Debug, Clone)]
pub struct EnsembleReport {
    /// What the rows are.
    pub rows: String,
    /// (round, configuration, its model's score).
    pub singles: Vec<(i32, i32, Evaluation)>,
    /// The ensemble of all the models.
    pub all: Evaluation,
    /// One ensemble per configuration, for a sweep.
    pub per_config: Vec<(i32, Evaluation)>,
}

/// Scores the models `weights` (round, configuration, `weights.npy`) on `dataset`.
pub fn compute(
    dataset: &Path,
    weights: &[(i32, i32, PathBuf)],
) -> Result<Option<EnsembleReport>, String> {
    if weights.is_empty() {
        return Ok(None);
    }
    let ds = mnist_app::dataset::load(dataset).map_err(|e| e.to_string())?;
    let rows = evaluate::rows(&ds, None).map_err(|e| e.to_string())?;
    let mut models = Vec::with_capacity(weights.len());
    for (round, config, path) in weights {
        models.push((
            *round,
            *config,
            evaluate::load_weights(path).map_err(|e| e.to_string())?,
        ));
    }
    let singles = models
        .iter()
        .map(|(r, c, m)| (*r, *c, evaluate::evaluate(m, &rows)))
        .collect();
    let all: Vec<_> = models.iter().map(|(_, _, m)| m.clone()).collect();
    let mut configs: Vec<i32> = models.iter().map(|(_, c, _)| *c).collect();
    configs.dedup();
    let per_config = if configs.len() > 1 {
        configs
            .iter()
            .map(|c| {
                let of: Vec<_> = models
                    .iter()
                    .filter(|(_, k, _)| k == c)
                    .map(|(_, _, m)| m.clone())
                    .collect();
                (*c, evaluate::ensemble(&of, &rows))
            })
            .collect()
    } else {
        Vec::new()
    };
    Ok(Some(EnsembleReport {
        rows: rows.what.clone(),
        singles,
        all: evaluate::ensemble(&all, &rows),
        per_config,
    }))
}

/// The markdown section.
pub fn markdown(e: &EnsembleReport, labels: &[String]) -> String {
    let mut s = String::new();
    let _ = writeln!(
        s,
        "## Ensemble of the rounds' models\n\nEach round's exported model and the ensemble (mean of the models' softmax outputs) on {}.\n",
        e.rows
    );
    let _ = writeln!(s, "| model | accuracy | loss |\n|---|---:|---:|");
    for (round, config, ev) in &e.singles {
        let label = if labels.len() > 1 {
            format!(
                " ({})",
                labels.get(*config as usize).map_or("?", String::as_str)
            )
        } else {
            String::new()
        };
        let _ = writeln!(
            s,
            "| round {round}{label} | {:.4} | {:.4} |",
            ev.accuracy(),
            ev.loss
        );
    }
    for (config, ev) in &e.per_config {
        let _ = writeln!(
            s,
            "| ensemble of configuration {} ({}) | {:.4} | {:.4} |",
            config + 1,
            labels.get(*config as usize).map_or("?", String::as_str),
            ev.accuracy(),
            ev.loss
        );
    }
    let mean =
        e.singles.iter().map(|(_, _, v)| v.accuracy()).sum::<f64>() / e.singles.len().max(1) as f64;
    let _ = writeln!(
        s,
        "| **ensemble of all {} models** | **{:.4}** | **{:.4}** |\n\nMean single-model accuracy {mean:.4}; the ensemble {:+.4} against it.\n",
        e.singles.len(),
        e.all.accuracy(),
        e.all.loss,
        e.all.accuracy() - mean
    );
    s
}
