//! The report's two pictures, drawn with `plotters` into PNG files.
//!
//! Text is rendered with the bundled DejaVu Sans (`tools/assets/`, Bitstream Vera licence), so
//! the plots look the same on every machine and need no system fonts.

use std::path::Path;
use std::sync::Once;

use plotters::prelude::*;
use plotters::style::FontStyle;

/// Per-epoch curves of one set of rounds: for each epoch, (mean, min, max) over rounds.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Band {
    pub mean: Vec<f64>,
    pub min: Vec<f64>,
    pub max: Vec<f64>,
}

impl Band {
    /// From per-round series (each one value per epoch); rounds shorter than the longest are
    /// ignored past their end.
    pub fn of(series: &[Vec<f64>]) -> Band {
        let epochs = series.iter().map(Vec::len).max().unwrap_or(0);
        let mut b = Band::default();
        for e in 0..epochs {
            let vals: Vec<f64> = series
                .iter()
                .filter_map(|s| s.get(e).copied())
                .filter(|v| v.is_finite())
                .collect();
            if vals.is_empty() {
                b.mean.push(f64::NAN);
                b.min.push(f64::NAN);
                b.max.push(f64::NAN);
                continue;
            }
            b.mean.push(vals.iter().sum::<f64>() / vals.len() as f64);
            b.min
                .push(vals.iter().copied().fold(f64::INFINITY, f64::min));
            b.max
                .push(vals.iter().copied().fold(f64::NEG_INFINITY, f64::max));
        }
        b
    }
}

/// What the curves picture shows.
#[derive(Debug, Clone, Default)]
pub struct Curves {
    pub val_acc: Band,
    pub train_acc: Band,
    pub val_loss: Band,
    pub train_loss: Band,
    /// Mean over the local runs (empty if there were none).
    pub local_val_acc: Vec<f64>,
    pub local_val_loss: Vec<f64>,
}

static FONT: Once = Once::new();

fn register_font() {
    FONT.call_once(|| {
        let bytes: &'static [u8] = include_bytes!("../../../assets/DejaVuSans.ttf");
        for style in [FontStyle::Normal, FontStyle::Bold] {
            // A bundled, valid font: registration cannot fail.
            let _ = plotters::style::register_font("sans-serif", style, bytes);
        }
    });
}

type DrawResult = Result<(), Box<dyn std::error::Error>>;

fn range_of(values: impl Iterator<Item = f64>, pad: f64) -> (f64, f64) {
    let (lo, hi) = values
        .filter(|v| v.is_finite())
        .fold((f64::INFINITY, f64::NEG_INFINITY), |(a, b), v| {
            (a.min(v), b.max(v))
        });
    if !lo.is_finite() {
        return (0.0, 1.0);
    }
    let span = (hi - lo).max(1e-6);
    (lo - span * pad, hi + span * pad)
}

const BLUE: RGBColor = RGBColor(31, 119, 180);
const ORANGE: RGBColor = RGBColor(255, 127, 14);
const GREEN: RGBColor = RGBColor(44, 160, 44);

/// `acc_loss_curves.png`: accuracy (left) and loss (right) per epoch.
pub fn curves(path: &Path, c: &Curves, title: &str) -> DrawResult {
    register_font();
    let root = BitMapBackend::new(path, (1400, 560)).into_drawing_area();
    root.fill(&WHITE)?;
    let root = root.titled(title, ("sans-serif", 24))?;
    let (left, right) = root.split_horizontally(700);
    panel(
        &left,
        "accuracy",
        &c.val_acc,
        &c.train_acc,
        &c.local_val_acc,
    )?;
    panel(
        &right,
        "loss",
        &c.val_loss,
        &c.train_loss,
        &c.local_val_loss,
    )?;
    root.present()?;
    Ok(())
}

fn panel(
    area: &DrawingArea<BitMapBackend<'_>, plotters::coord::Shift>,
    what: &str,
    val: &Band,
    train: &Band,
    local: &[f64],
) -> DrawResult {
    let epochs = val.mean.len().max(1);
    let all = val
        .min
        .iter()
        .chain(&val.max)
        .chain(&train.mean)
        .chain(local)
        .copied();
    let (lo, hi) = range_of(all, 0.08);
    let mut chart = ChartBuilder::on(area)
        .margin(16)
        .caption(
            format!("{what} per epoch (band: min–max over rounds)"),
            ("sans-serif", 18),
        )
        .x_label_area_size(40)
        .y_label_area_size(60)
        .build_cartesian_2d(0.5f64..(epochs as f64 + 0.5), lo..hi)?;
    chart
        .configure_mesh()
        .x_desc("epoch")
        .y_desc(what)
        .label_style(("sans-serif", 14))
        .axis_desc_style(("sans-serif", 16))
        .draw()?;
    let xs = |v: &[f64]| -> Vec<(f64, f64)> {
        v.iter()
            .enumerate()
            .filter(|(_, y)| y.is_finite())
            .map(|(i, y)| (i as f64 + 1.0, *y))
            .collect()
    };
    let mut band: Vec<(f64, f64)> = xs(&val.max);
    band.extend(xs(&val.min).into_iter().rev());
    if !band.is_empty() {
        chart.draw_series(std::iter::once(Polygon::new(band, BLUE.mix(0.2).filled())))?;
    }
    chart
        .draw_series(LineSeries::new(xs(&val.mean), BLUE.stroke_width(3)))?
        .label(format!("validation {what}, mean of distributed rounds"))
        .legend(|(x, y)| PathElement::new(vec![(x, y), (x + 20, y)], BLUE.stroke_width(3)));
    chart
        .draw_series(LineSeries::new(xs(&train.mean), ORANGE.stroke_width(2)))?
        .label(format!("training {what}, mean"))
        .legend(|(x, y)| PathElement::new(vec![(x, y), (x + 20, y)], ORANGE.stroke_width(2)));
    if !local.is_empty() {
        chart
            .draw_series(
                xs(local)
                    .into_iter()
                    .map(|p| Cross::new(p, 7, GREEN.stroke_width(2))),
            )?
            .label(format!("validation {what}, mean of local runs"))
            .legend(|(x, y)| Cross::new((x + 10, y), 6, GREEN.stroke_width(2)));
    }
    chart
        .configure_series_labels()
        .background_style(WHITE.mix(0.85))
        .border_style(BLACK)
        .label_font(("sans-serif", 14))
        .position(if what == "loss" {
            SeriesLabelPosition::UpperRight
        } else {
            SeriesLabelPosition::LowerRight
        })
        .draw()?;
    Ok(())
}

/// `final_val_acc.png`: final validation accuracy per round, distributed and local.
pub fn final_val_acc(
    path: &Path,
    rounds: &[(i32, Option<f64>, Option<f64>)],
    title: &str,
) -> DrawResult {
    register_font();
    let root = BitMapBackend::new(path, (900, 540)).into_drawing_area();
    root.fill(&WHITE)?;
    let n = rounds.iter().map(|r| r.0).max().unwrap_or(1).max(1);
    let (lo, hi) = range_of(rounds.iter().flat_map(|r| [r.1, r.2]).flatten(), 0.25);
    let mut chart = ChartBuilder::on(&root)
        .margin(16)
        .caption(title, ("sans-serif", 22))
        .x_label_area_size(40)
        .y_label_area_size(70)
        .build_cartesian_2d(0.5f64..(n as f64 + 0.5), lo..hi)?;
    chart
        .configure_mesh()
        .x_desc("round")
        .y_desc("final validation accuracy")
        .label_style(("sans-serif", 14))
        .axis_desc_style(("sans-serif", 16))
        .draw()?;
    chart
        .draw_series(
            rounds.iter().filter_map(|(r, d, _)| {
                d.map(|v| Circle::new((f64::from(*r), v), 7, BLUE.filled()))
            }),
        )?
        .label("distributed (canonical result)")
        .legend(|(x, y)| Circle::new((x + 10, y), 6, BLUE.filled()));
    chart
        .draw_series(rounds.iter().filter_map(|(r, _, l)| {
            l.map(|v| Cross::new((f64::from(*r), v), 9, GREEN.stroke_width(3)))
        }))?
        .label("local run")
        .legend(|(x, y)| Cross::new((x + 10, y), 6, GREEN.stroke_width(3)));
    chart
        .configure_series_labels()
        .background_style(WHITE.mix(0.85))
        .border_style(BLACK)
        .label_font(("sans-serif", 14))
        .draw()?;
    root.present()?;
    Ok(())
}
