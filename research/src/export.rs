//! `series export`: the validated models of a series gathered into one folder.
//!
//! For every assimilated round whose job exported its weights (`--export-weights`; the
//! assimilator files them as `results/<app>/<wu>/weights.npy`), the folder gets
//! `round_<n>.npy` (the canonical result's weights, `<f4` of shape 785 × 10, the bias last),
//! `round_<n>_job.json` (the job, which `mnist evaluate --job` takes to score the weights on the
//! very validation rows the round reported) and `round_<n>.json`, the model card: parameters,
//! seed, dataset hash, final metrics and per-epoch history, and the hosts whose results the
//! validator found valid — the two (or more) that agreed.

use std::path::{Path, PathBuf};

use rboinc_core::db::{self, app};
use serde_json::{Value, json};

use crate::SeriesError;
use crate::progress;
use crate::store::{self, SeriesRow};
use rboinc_tools::project::Project;

/// What was exported.
#[derive(Debug, Clone)]
pub struct Exported {
    /// Round numbers written, and those skipped with why.
    pub written: Vec<i32>,
    pub skipped: Vec<(i32, String)>,
}

/// `results/<app>/<wu>/`, where the assimilator files a round's outputs.
pub async fn results_dir(
    project: &Project,
    pool: &db::Pool,
    series: &SeriesRow,
) -> Result<PathBuf, SeriesError> {
    let app_name = app::by_id(pool, series.appid)
        .await?
        .map(|a| a.name)
        .unwrap_or_else(|| rboinc_tools::make_project::APP.to_string());
    Ok(project.results_dir().join(app_name))
}

/// Exports `series` into `out` (created if missing).
pub async fn export(
    project: &Project,
    pool: &db::Pool,
    series: &SeriesRow,
    out: &Path,
) -> Result<Exported, SeriesError> {
    let io = |p: &Path, e: std::io::Error| SeriesError::Report(format!("{}: {e}", p.display()));
    std::fs::create_dir_all(out).map_err(|e| io(out, e))?;
    let results = results_dir(project, pool, series).await?;
    let rounds = store::rounds(pool, series.id).await?;
    let state: std::collections::HashMap<i32, progress::RoundProgress> =
        progress::rounds(pool, series)
            .await?
            .into_iter()
            .map(|p| (p.round, p))
            .collect();
    let mut e = Exported {
        written: Vec::new(),
        skipped: Vec::new(),
    };
    for r in &rounds {
        let p = state.get(&r.round);
        if !p.is_some_and(|p| p.assimilated) {
            let what = p.map_or("unknown", |p| p.state());
            e.skipped
                .push((r.round, format!("not assimilated ({what})")));
            continue;
        }
        let dir = results.join(&r.wu_name);
        let weights = dir.join("weights.npy");
        if !weights.is_file() {
            e.skipped.push((
                r.round,
                "no weights filed (submit with --export-weights)".into(),
            ));
            continue;
        }
        let metrics: Value = std::fs::read(dir.join("metrics.json"))
            .ok()
            .and_then(|b| serde_json::from_slice(&b).ok())
            .unwrap_or(Value::Null);
        let params = r
            .params_of(series)
            .map_err(|err| SeriesError::Invalid(format!("round {}: {err}", r.round)))?;
        let hosts: Vec<(i64, String, i64)> = sqlx::query_as(
            "SELECT CAST(h.id AS SIGNED), h.domain_name, CAST(x.id AS SIGNED) FROM result x \
             JOIN host h ON h.id = x.hostid WHERE x.workunitid = ? AND x.validate_state = 1 \
             ORDER BY x.id",
        )
        .bind(r.workunit_id)
        .fetch_all(pool)
        .await?;
        let canonical = p.map_or(0, |p| p.canonical_resultid);
        let job = params.job(r.seed);
        let card = json!({
            "series": series.name,
            "round": r.round,
            "config": r.config + 1,
            "workunit": r.wu_name,
            "seed": r.seed,
            "parameters": params,
            "job": serde_json::from_str::<Value>(&job.canonical_json()).unwrap_or(Value::Null),
            "dataset": {"sha256": series.dataset_sha256, "file": series.dataset_file},
            "weights": {
                "file": format!("round_{}.npy", r.round),
                "format": "float32, shape (785, 10): rows 0-783 the pixels' weights, row 784 the bias",
            },
            "metrics": {
                "train_acc": metrics.get("train_acc"),
                "train_loss": metrics.get("train_loss"),
                "val_acc": metrics.get("val_acc"),
                "val_loss": metrics.get("val_loss"),
                "history": metrics.get("history"),
            },
            "validated_by": hosts.iter().map(|(id, name, result)| json!({
                "host": id, "name": name, "result": result, "canonical": *result == canonical,
            })).collect::<Vec<_>>(),
        });
        let base = out.join(format!("round_{}", r.round));
        let npy = base.with_extension("npy");
        std::fs::copy(&weights, &npy).map_err(|err| io(&npy, err))?;
        let job_path = out.join(format!("round_{}_job.json", r.round));
        std::fs::write(&job_path, job.canonical_json()).map_err(|err| io(&job_path, err))?;
        let card_path = base.with_extension("json");
        let mut text = serde_json::to_vec_pretty(&card).expect("a card serialises");
        text.push(b'\n');
        std::fs::write(&card_path, text).map_err(|err| io(&card_path, err))?;
        e.written.push(r.round);
    }
    Ok(e)
}
