//! `series report`: `reports/<series>/` with a markdown summary and two plots.
//!
//! Per round: seed, the host that computed the canonical result, final train/validation
//! accuracy and loss, runtime, and whether the distributed metrics (the assimilated canonical
//! `metrics.json` under `results/<app>/<wu>/`) and the local run's are bit-identical — every
//! field but the `host` object, whose facts (times, CPU) differ by design. Floats are compared
//! as the JSON text the app wrote (shortest round-trip form), so equal text means equal bits.
//! A sweep's report also has the rounds grouped by configuration ([`sweep`]); when rounds
//! exported their weights, the models and their ensemble are scored ([`ensemble`]). Final test
//! figures, when the dataset has a test split, get their own section ([`test_set`]).

pub mod ensemble;
pub mod generations;
pub mod plot;
pub mod round_table;
pub mod scaling;
pub mod sweep;
pub mod test_set;

use std::fmt::Write as _;
use std::path::{Path, PathBuf};

use rboinc_core::db::{self, app};
use serde_json::Value;

use crate::SeriesError;
use crate::local;
use crate::progress;
use crate::store::SeriesRow;
use rboinc_tools::project::Project;

/// One round in the report.
#[derive(Debug, Clone)]
pub struct RoundReport {
    pub round: i32,
    /// The round's configuration (0-based).
    pub config: i32,
    pub seed: u64,
    pub wu_name: String,
    pub state: String,
    /// `host <id> (<name>)` of the canonical result.
    pub host: Option<String>,
    pub distributed: Option<Value>,
    pub local: Option<Value>,
}

impl RoundReport {
    /// `Some(Ok)` if both exist and agree, `Some(Err(first difference))` if they differ.
    pub fn comparison(&self) -> Option<Result<(), String>> {
        let (d, l) = (self.distributed.as_ref()?, self.local.as_ref()?);
        Some(first_difference(
            &mnist_app::metrics::deterministic_part(d),
            &mnist_app::metrics::deterministic_part(l),
            "",
        ))
    }
}

/// The first field where two documents differ (`history[3].val_acc: 0.81 vs 0.8100000000000001`).
pub fn first_difference(a: &Value, b: &Value, at: &str) -> Result<(), String> {
    match (a, b) {
        (Value::Object(x), Value::Object(y)) => {
            let mut keys: Vec<&String> = x.keys().chain(y.keys()).collect();
            keys.sort();
            keys.dedup();
            for k in keys {
                let path = if at.is_empty() {
                    k.clone()
                } else {
                    format!("{at}.{k}")
                };
                match (x.get(k), y.get(k)) {
                    (Some(u), Some(v)) => first_difference(u, v, &path)?,
                    _ => return Err(format!("{path}: present on one side only")),
                }
            }
            Ok(())
        }
        (Value::Array(x), Value::Array(y)) => {
            if x.len() != y.len() {
                return Err(format!("{at}: {} vs {} entries", x.len(), y.len()));
            }
            for (i, (u, v)) in x.iter().zip(y).enumerate() {
                first_difference(u, v, &format!("{at}[{i}]"))?;
            }
            Ok(())
        }
        // Numbers: serde_json keeps the written text's value exactly; compare bit patterns.
        (Value::Number(x), Value::Number(y)) => {
            let same = match (x.as_f64(), y.as_f64()) {
                (Some(p), Some(q)) if x.is_f64() || y.is_f64() => p.to_bits() == q.to_bits(),
                _ => x == y,
            };
            if same {
                Ok(())
            } else {
                Err(format!("{at}: {x} vs {y}"))
            }
        }
        _ if a == b => Ok(()),
        _ => Err(format!("{at}: {a} vs {b}")),
    }
}

fn read_json(path: &Path) -> Option<Value> {
    let bytes = std::fs::read(path).ok()?;
    serde_json::from_slice(&bytes).ok()
}

pub(crate) fn num(v: &Value, key: &str) -> Option<f64> {
    v.get(key)?.as_f64()
}

fn history(v: &Value, key: &str) -> Vec<f64> {
    v.get("history")
        .and_then(Value::as_array)
        .map(|h| {
            h.iter()
                .map(|e| e.get(key).and_then(Value::as_f64).unwrap_or(f64::NAN))
                .collect()
        })
        .unwrap_or_default()
}

/// Mean and sample standard deviation.
pub fn mean_std(xs: &[f64]) -> Option<(f64, f64)> {
    if xs.is_empty() {
        return None;
    }
    let n = xs.len() as f64;
    let mean = xs.iter().sum::<f64>() / n;
    let var = if xs.len() > 1 {
        xs.iter().map(|x| (x - mean).powi(2)).sum::<f64>() / (n - 1.0)
    } else {
        0.0
    };
    Some((mean, var.sqrt()))
}

/// What `series report` wrote.
#[derive(Debug, Clone)]
pub struct Report {
    pub dir: PathBuf,
    pub summary: PathBuf,
    pub curves: PathBuf,
    pub final_val_acc: PathBuf,
    pub rounds: Vec<RoundReport>,
    /// The configurations, summarised (one for a plain series).
    pub configs: Vec<sweep::ConfigSummary>,
    /// The rounds' exported models and their ensemble, if any round exported its weights.
    pub ensemble: Option<ensemble::EnsembleReport>,
    /// A chain's time per generation and per-shard accuracy.
    pub generations: Option<generations::GenerationsReport>,
    labels: Vec<String>,
}

impl Report {
    /// Rounds whose distributed and local metrics are bit-identical / differ / cannot be compared.
    pub fn identical_counts(&self) -> (usize, usize, usize) {
        let mut c = (0, 0, 0);
        for r in &self.rounds {
            match r.comparison() {
                Some(Ok(())) => c.0 += 1,
                Some(Err(_)) => c.1 += 1,
                None => c.2 += 1,
            }
        }
        c
    }
}

/// `<project>/reports/<series>`.
pub fn report_dir(project: &Project, series: &SeriesRow) -> PathBuf {
    project.reports_dir().join(&series.name)
}

/// Gathers the rounds and writes the report.
pub async fn write(
    project: &Project,
    pool: &db::Pool,
    series: &SeriesRow,
) -> Result<Report, SeriesError> {
    let app_name = app::by_id(pool, series.appid)
        .await?
        .map(|a| a.name)
        .unwrap_or_else(|| rboinc_tools::make_project::APP.to_string());
    let dir = report_dir(project, series);
    std::fs::create_dir_all(&dir)
        .map_err(|e| SeriesError::Report(format!("{}: {e}", dir.display())))?;
    let progress = progress::rounds(pool, series).await?;
    let mut rounds = Vec::with_capacity(progress.len());
    for p in &progress {
        let host: Option<(i64, String)> = if p.canonical_resultid != 0 {
            sqlx::query_as(
                "SELECT h.id, h.domain_name FROM result x JOIN host h ON h.id = x.hostid WHERE x.id = ?",
            )
            .bind(p.canonical_resultid)
            .fetch_optional(pool)
            .await?
        } else {
            None
        };
        rounds.push(RoundReport {
            round: p.round,
            config: p.config,
            seed: p.seed,
            wu_name: p.wu_name.clone(),
            state: p.state().to_string(),
            host: host.map(|(id, name)| format!("host {id} ({name})")),
            distributed: read_json(
                &project
                    .results_dir()
                    .join(&app_name)
                    .join(&p.wu_name)
                    .join("metrics.json"),
            ),
            local: read_json(&local::metrics_path(&dir, p.round)),
        });
    }
    let labels = crate::store::labels(&crate::store::configs(pool, series).await?);
    let weights: Vec<(i32, i32, PathBuf)> = progress
        .iter()
        .filter(|p| p.assimilated)
        .map(|p| {
            let w = project
                .results_dir()
                .join(&app_name)
                .join(&p.wu_name)
                .join("weights.npy");
            (p.round, p.config, w)
        })
        .filter(|(_, _, w)| w.is_file())
        .collect();
    let ensemble = if weights.is_empty() {
        None
    } else {
        let stager = rboinc_tools::stage::Stager::from_config(&project.config)?;
        let dataset = stager.path_of(&series.dataset_file)?;
        tokio::task::spawn_blocking(move || ensemble::compute(&dataset, &weights))
            .await
            .expect("scoring does not panic")
            .map_err(|e| SeriesError::Report(format!("cannot score the exported models: {e}")))?
    };
    let generations = generations::gather(pool, series.id, &rounds).await?;
    let report = Report {
        ensemble,
        generations,
        labels: labels.clone(),
        summary: dir.join("summary.md"),
        curves: dir.join("acc_loss_curves.png"),
        final_val_acc: dir.join("final_val_acc.png"),
        configs: sweep::summarise(&rounds, &labels),
        dir,
        rounds,
    };
    std::fs::write(&report.summary, markdown(series, &report))
        .map_err(|e| SeriesError::Report(format!("{}: {e}", report.summary.display())))?;
    draw(series, &report)?;
    Ok(report)
}

fn draw(series: &SeriesRow, report: &Report) -> Result<(), SeriesError> {
    let dist: Vec<&Value> = report
        .rounds
        .iter()
        .filter_map(|r| r.distributed.as_ref())
        .collect();
    let local: Vec<&Value> = report
        .rounds
        .iter()
        .filter_map(|r| r.local.as_ref())
        .collect();
    let band = |set: &[&Value], key: &str| {
        plot::Band::of(&set.iter().map(|v| history(v, key)).collect::<Vec<_>>())
    };
    let curves = plot::Curves {
        val_acc: band(&dist, "val_acc"),
        train_acc: band(&dist, "train_acc"),
        val_loss: band(&dist, "val_loss"),
        train_loss: band(&dist, "train_loss"),
        local_val_acc: band(&local, "val_acc").mean,
        local_val_loss: band(&local, "val_loss").mean,
        distributed_rounds: dist.len(),
        local_runs: local.len(),
    };
    let e = |e: Box<dyn std::error::Error>| SeriesError::Report(format!("cannot draw: {e}"));
    plot::curves(
        &report.curves,
        &curves,
        &format!(
            "Series {}: accuracy and loss per epoch ({} of {} rounds finished, {} local runs)",
            series.name,
            dist.len(),
            report.rounds.len(),
            local.len()
        ),
    )
    .map_err(e)?;
    let finals: Vec<plot::FinalAcc> = report
        .rounds
        .iter()
        .map(|r| plot::FinalAcc {
            round: r.round,
            distributed: r.distributed.as_ref().and_then(|v| num(v, "val_acc")),
            local: r.local.as_ref().and_then(|v| num(v, "val_acc")),
        })
        .collect();
    plot::final_val_acc(
        &report.final_val_acc,
        &finals,
        &format!(
            "Series {}: final validation accuracy per round",
            series.name
        ),
    )
    .map_err(e)?;
    if report.configs.len() > 1 {
        sweep::draw_final(
            &report.dir.join("config_val_acc.png"),
            &report.configs,
            &format!(
                "Series {}: final validation accuracy per configuration (mean ± std, and each seed)",
                series.name
            ),
        )
        .map_err(e)?;
        sweep::draw_curves(
            &report.dir.join("config_curves.png"),
            &report.configs,
            &format!("Series {}: learning curves per configuration", series.name),
        )
        .map_err(e)?;
    }
    Ok(())
}

pub(crate) fn fmt(v: Option<f64>, digits: usize) -> String {
    v.map_or_else(|| "–".to_string(), |x| format!("{x:.digits$}"))
}

fn markdown(series: &SeriesRow, report: &Report) -> String {
    let mut s = String::new();
    let sweep = report.configs.len() > 1;
    let _ = writeln!(s, "# Series `{}`\n", series.name);
    let _ = writeln!(
        s,
        "{} rounds; parameters `{}`{}; quorum {} of {}; dataset sha256 `{}` (staged as `{}`); BOINC batch {}.\n",
        series.rounds,
        series.params,
        if sweep {
            format!(
                " (those of configuration 1; a sweep of {} configurations)",
                report.configs.len()
            )
        } else {
            String::new()
        },
        series.min_quorum,
        series.target_nresults,
        series.dataset_sha256,
        series.dataset_file,
        series.batch_id
    );
    s.push_str(&round_table::markdown(&report.rounds, sweep));
    if report.configs.len() > 1 {
        let _ = writeln!(s);
        s.push_str(&sweep::markdown(&report.configs));
    }
    if let Some(e) = &report.ensemble {
        let _ = writeln!(s);
        s.push_str(&ensemble::markdown(e, &report.labels));
    }
    if let Some(g) = &report.generations {
        let _ = writeln!(s);
        s.push_str(&generations::markdown(g));
    }
    let _ = writeln!(s, "\n## Mean ± standard deviation over rounds\n");
    let _ = writeln!(s, "| metric | distributed | local |\n|---|---:|---:|");
    for key in ["train_acc", "train_loss", "val_acc", "val_loss"] {
        let col = |f: fn(&RoundReport) -> Option<&Value>| {
            let xs: Vec<f64> = report
                .rounds
                .iter()
                .filter_map(|r| f(r).and_then(|v| num(v, key)))
                .collect();
            mean_std(&xs).map_or("–".to_string(), |(m, sd)| {
                format!("{m:.4} ± {sd:.4} (n={})", xs.len())
            })
        };
        let _ = writeln!(
            s,
            "| {key} | {} | {} |",
            col(|r| r.distributed.as_ref()),
            col(|r| r.local.as_ref())
        );
    }
    if let Some(test) = test_set::markdown(&report.rounds) {
        s.push_str(&test);
    }
    let _ = writeln!(s, "\n## Distributed vs local (all fields but `host`)\n");
    for r in &report.rounds {
        let line = match r.comparison() {
            Some(Ok(())) => "distributed and local metrics are bit-identical".to_string(),
            Some(Err(diff)) => {
                format!("distributed and local metrics DIFFER (first difference: {diff})")
            }
            None if r.distributed.is_none() => "no distributed result yet".to_string(),
            None => "no local run (run `series local`)".to_string(),
        };
        let _ = writeln!(s, "- round {}: {line}", r.round);
    }
    let (same, differ, missing) = report.identical_counts();
    let _ = writeln!(
        s,
        "\n{same} bit-identical, {differ} different, {missing} not comparable.\n\n![accuracy and loss](acc_loss_curves.png)\n\n![final validation accuracy](final_val_acc.png)"
    );
    s
}
