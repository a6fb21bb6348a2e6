//! The report of a sweep: the rounds grouped by configuration.
//!
//! - a table per configuration: mean ± standard deviation of every metric over its finished
//!   rounds, and n; the best configuration (highest mean final validation accuracy) named;
//! - `config_val_acc.png`: each configuration's final validation accuracies (small dots in the
//!   configuration's colour), their mean (large black dot) and ± one standard deviation (bar);
//! - `config_curves.png`: validation accuracy (left) and training loss (right) per epoch, the
//!   mean over each configuration's rounds, a line per configuration.

use std::fmt::Write as _;
use std::path::Path;

use plotters::prelude::*;
use serde_json::Value;

use super::plot::{range_of, register_font, whole};
use super::{RoundReport, history, mean_std, num};

/// The metrics summarised per configuration, as named in `metrics.json`.
pub const METRICS: [&str; 4] = ["train_acc", "train_loss", "val_acc", "val_loss"];

/// One configuration's rounds, summarised.
#[derive(Debug, Clone)]
pub struct ConfigSummary {
    /// 0-based index.
    pub config: i32,
    pub label: String,
    /// Rounds of the configuration, and those with a distributed result.
    pub rounds: usize,
    pub n: usize,
    /// (mean, std) of each of [`METRICS`] and of the run time, over the distributed results.
    pub stats: Vec<(String, Option<(f64, f64)>)>,
    pub final_val_acc: Vec<f64>,
    /// Per-epoch mean validation accuracy and training loss.
    pub val_acc_curve: Vec<f64>,
    pub train_loss_curve: Vec<f64>,
}

impl ConfigSummary {
    pub fn stat(&self, metric: &str) -> Option<(f64, f64)> {
        self.stats.iter().find(|(m, _)| m == metric)?.1
    }
}

/// The rounds grouped by configuration (`labels` by index).
pub fn summarise(rounds: &[RoundReport], labels: &[String]) -> Vec<ConfigSummary> {
    let mut out = Vec::new();
    for (i, label) in labels.iter().enumerate() {
        let config = i as i32;
        let of: Vec<&Value> = rounds
            .iter()
            .filter(|r| r.config == config)
            .filter_map(|r| r.distributed.as_ref())
            .collect();
        let mut stats: Vec<(String, Option<(f64, f64)>)> = METRICS
            .iter()
            .map(|m| {
                let xs: Vec<f64> = of.iter().filter_map(|v| num(v, m)).collect();
                (m.to_string(), mean_std(&xs))
            })
            .collect();
        let runtimes: Vec<f64> = of
            .iter()
            .filter_map(|v| metrics_doc::host_part(v)?.get("runtime_s")?.as_f64())
            .collect();
        stats.push(("runtime_s".into(), mean_std(&runtimes)));
        let band = |key: &str| {
            super::plot::Band::of(&of.iter().map(|v| history(v, key)).collect::<Vec<_>>()).mean
        };
        out.push(ConfigSummary {
            config,
            label: label.clone(),
            rounds: rounds.iter().filter(|r| r.config == config).count(),
            n: of.len(),
            final_val_acc: of.iter().filter_map(|v| num(v, "val_acc")).collect(),
            val_acc_curve: band("val_acc"),
            train_loss_curve: band("train_loss"),
            stats,
        });
    }
    out
}

/// The configuration with the highest mean final validation accuracy (the first on a tie).
pub fn best(configs: &[ConfigSummary]) -> Option<&ConfigSummary> {
    configs
        .iter()
        .filter_map(|c| Some((c, c.stat("val_acc")?.0)))
        .fold(None, |b: Option<(&ConfigSummary, f64)>, (c, m)| match b {
            Some((_, bm)) if bm >= m => b,
            _ => Some((c, m)),
        })
        .map(|(c, _)| c)
}

/// The markdown section: the table, the best configuration, the two pictures.
pub fn markdown(configs: &[ConfigSummary]) -> String {
    let mut s = String::new();
    let _ = writeln!(
        s,
        "## Per configuration (distributed results, mean ± standard deviation over seeds)\n"
    );
    let _ = write!(s, "| config | parameters | n |");
    for m in METRICS.iter().chain(&["runtime_s"]) {
        let _ = write!(s, " {m} |");
    }
    let _ = writeln!(s, "\n|---:|---|---:|---:|---:|---:|---:|---:|");
    for c in configs {
        let _ = write!(
            s,
            "| {} | {} | {} of {} |",
            c.config + 1,
            c.label,
            c.n,
            c.rounds
        );
        for (m, stat) in &c.stats {
            let digits = if m == "runtime_s" { 2 } else { 4 };
            let cell = stat.map_or("–".to_string(), |(mean, sd)| {
                format!("{mean:.digits$} ± {sd:.digits$}")
            });
            let _ = write!(s, " {cell} |");
        }
        let _ = writeln!(s);
    }
    match best(configs) {
        Some(b) => {
            let (m, sd) = b.stat("val_acc").unwrap_or_default();
            let _ = writeln!(
                s,
                "\n**Best: configuration {} ({}), final validation accuracy {m:.4} ± {sd:.4} over {} seed{}.**",
                b.config + 1,
                b.label,
                b.n,
                if b.n == 1 { "" } else { "s" }
            );
        }
        None => {
            let _ = writeln!(s, "\nNo configuration has a finished round yet.");
        }
    }
    let _ = writeln!(
        s,
        "\n![final validation accuracy per configuration](config_val_acc.png)\n\n![learning curves per configuration](config_curves.png)\n"
    );
    s
}

type DrawResult = Result<(), Box<dyn std::error::Error>>;

/// `config_val_acc.png`: final validation accuracy per configuration with its spread.
pub fn draw_final(path: &Path, configs: &[ConfigSummary], title: &str) -> DrawResult {
    register_font();
    let root = BitMapBackend::new(path, (1000, 560)).into_drawing_area();
    root.fill(&WHITE)?;
    let all = configs.iter().flat_map(|c| c.final_val_acc.iter().copied());
    let (lo, hi) = range_of(all, 0.15, 0.15);
    let n = configs.len().max(1);
    let mut chart = ChartBuilder::on(&root)
        .margin(16)
        .caption(title, ("sans-serif", 20))
        .x_label_area_size(60)
        .y_label_area_size(70)
        .build_cartesian_2d(0.5f64..(n as f64 + 0.5), lo..hi)?;
    let labels: Vec<String> = configs.iter().map(|c| c.label.clone()).collect();
    let label_of = move |x: &f64| {
        let w = whole(x);
        w.parse::<usize>()
            .ok()
            .and_then(|i| labels.get(i.wrapping_sub(1)).cloned())
            .unwrap_or_default()
    };
    chart
        .configure_mesh()
        .x_desc("configuration")
        .y_desc("final validation accuracy")
        .x_labels(n.min(20))
        .x_label_formatter(&label_of)
        .y_labels(8)
        .bold_line_style(RGBColor(225, 225, 225))
        .light_line_style(TRANSPARENT)
        .label_style(("sans-serif", 13))
        .axis_desc_style(("sans-serif", 16))
        .draw()?;
    for c in configs {
        let x = f64::from(c.config) + 1.0;
        let colour = Palette99::pick(c.config as usize).to_rgba();
        chart.draw_series(
            c.final_val_acc
                .iter()
                .map(|v| Circle::new((x - 0.15, *v), 4, colour.filled())),
        )?;
        if let Some((m, sd)) = mean_std(&c.final_val_acc) {
            chart.draw_series(std::iter::once(PathElement::new(
                vec![(x, m - sd), (x, m + sd)],
                BLACK.stroke_width(3),
            )))?;
            chart.draw_series(std::iter::once(Circle::new((x, m), 8, BLACK.filled())))?;
        }
    }
    root.present()?;
    Ok(())
}

/// `config_curves.png`: mean validation accuracy and training loss per epoch, a line per
/// configuration.
pub fn draw_curves(path: &Path, configs: &[ConfigSummary], title: &str) -> DrawResult {
    register_font();
    let root = BitMapBackend::new(path, (1400, 560)).into_drawing_area();
    root.fill(&WHITE)?;
    let root = root.titled(title, ("sans-serif", 22))?;
    let (left, right) = root.split_horizontally(700);
    for (area, what, curve) in [
        (
            &left,
            "validation accuracy",
            (|c: &ConfigSummary| &c.val_acc_curve) as fn(&ConfigSummary) -> &Vec<f64>,
        ),
        (&right, "training loss", |c: &ConfigSummary| {
            &c.train_loss_curve
        }),
    ] {
        let epochs = configs
            .iter()
            .map(|c| curve(c).len())
            .max()
            .unwrap_or(1)
            .max(1);
        let (lo, hi) = range_of(
            configs.iter().flat_map(|c| curve(c).iter().copied()),
            0.06,
            0.06,
        );
        let mut chart = ChartBuilder::on(area)
            .margin(16)
            .caption(
                format!("{what} per epoch (mean over seeds)"),
                ("sans-serif", 18),
            )
            .x_label_area_size(44)
            .y_label_area_size(64)
            .build_cartesian_2d(0.75f64..(epochs as f64 + 0.25), lo..hi)?;
        chart
            .configure_mesh()
            .x_desc("epoch")
            .y_desc(what)
            .x_labels(epochs.min(20))
            .x_label_formatter(&whole)
            .y_labels(8)
            .bold_line_style(RGBColor(225, 225, 225))
            .light_line_style(TRANSPARENT)
            .label_style(("sans-serif", 14))
            .axis_desc_style(("sans-serif", 16))
            .draw()?;
        for c in configs {
            let pts: Vec<(f64, f64)> = curve(c)
                .iter()
                .enumerate()
                .filter(|(_, y)| y.is_finite())
                .map(|(i, y)| (i as f64 + 1.0, *y))
                .collect();
            if pts.is_empty() {
                continue;
            }
            let colour = Palette99::pick(c.config as usize).to_rgba();
            chart
                .draw_series(LineSeries::new(pts, colour.stroke_width(2)))?
                .label(format!("{} ({}, n={})", c.config + 1, c.label, c.n))
                .legend(move |(x, y)| {
                    PathElement::new(vec![(x, y), (x + 22, y)], colour.stroke_width(2))
                });
        }
        if configs.iter().any(|c| c.n > 0) {
            chart
                .configure_series_labels()
                .background_style(WHITE.mix(0.9))
                .border_style(BLACK.mix(0.4))
                .label_font(("sans-serif", 13))
                .position(if what == "training loss" {
                    SeriesLabelPosition::UpperRight
                } else {
                    SeriesLabelPosition::LowerRight
                })
                .draw()?;
        }
    }
    root.present()?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn round(config: i32, val_acc: Option<f64>) -> RoundReport {
        RoundReport {
            round: 0,
            config,
            seed: 1,
            wu_name: String::new(),
            state: String::new(),
            host: None,
            distributed: val_acc.map(|a| {
                serde_json::json!({
                    "val_acc": a, "train_acc": a + 0.01, "val_loss": 1.0 - a, "train_loss": 0.5,
                    "history": [{"val_acc": a - 0.1, "train_loss": 0.9}, {"val_acc": a, "train_loss": 0.5}],
                })
            }),
            local: None,
        }
    }

    #[test]
    fn rounds_are_grouped_by_configuration_and_the_best_named() {
        let rounds = [
            round(0, Some(0.80)),
            round(0, Some(0.84)),
            round(1, Some(0.90)),
            round(1, Some(0.86)),
            round(1, None),
            round(2, None),
        ];
        let labels = ["lr=0.01".to_string(), "lr=0.1".into(), "lr=1".into()];
        let c = summarise(&rounds, &labels);
        assert_eq!(c.len(), 3);
        assert_eq!((c[0].n, c[0].rounds), (2, 2));
        assert_eq!((c[1].n, c[1].rounds), (2, 3));
        assert_eq!((c[2].n, c[2].rounds), (0, 1));
        let (m, sd) = c[1].stat("val_acc").unwrap();
        assert!((m - 0.88).abs() < 1e-12 && (sd - 0.0008f64.sqrt()).abs() < 1e-12);
        assert!(c[2].stat("val_acc").is_none());
        assert_eq!(c[1].val_acc_curve.len(), 2);
        assert!((c[1].val_acc_curve[0] - 0.78).abs() < 1e-12);
        assert_eq!(best(&c).unwrap().label, "lr=0.1");
        let md = markdown(&c);
        assert!(
            md.contains("| 2 | lr=0.1 | 2 of 3 | 0.8900 ± 0.0283 |"),
            "{md}"
        );
        assert!(md.contains("| 3 | lr=1 | 0 of 1 | – |"), "{md}");
        assert!(
            md.contains("**Best: configuration 2 (lr=0.1), final validation accuracy 0.8800 ± 0.0283 over 2 seeds.**"),
            "{md}"
        );
    }
}
