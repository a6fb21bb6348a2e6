//! The report's two pictures, drawn with `plotters` into PNG files.
//!
//! - `acc_loss_curves.png`: accuracy (left) and loss (right) per epoch — the mean over the
//!   distributed rounds as a solid line inside its min–max band, for validation and training,
//!   and the mean of the local runs as a dashed line with crosses, so that a local run that
//!   reproduces the distributed ones sits exactly on the validation line.
//! - `final_val_acc.png`: each round's final validation accuracy, distributed (dot) and local
//!   (ring around the dot when equal); a red bar joins the two when they differ; dashed lines
//!   give the means.
//!
//! Epochs and rounds are whole numbers and are labelled so. Text is rendered with the bundled
//! DejaVu Sans (`research/assets/`, Bitstream Vera licence), so the plots look the same on every
//! machine and need no system fonts.

use std::path::Path;
use std::sync::Once;

use plotters::coord::Shift;
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

    fn is_empty(&self) -> bool {
        !self.mean.iter().any(|v| v.is_finite())
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
    /// How many distributed rounds and local runs the curves summarise.
    pub distributed_rounds: usize,
    pub local_runs: usize,
}

/// One round in the final-accuracy picture.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct FinalAcc {
    pub round: i32,
    pub distributed: Option<f64>,
    pub local: Option<f64>,
}

/// Validation, distributed: the main line and the dots.
pub const BLUE: RGBColor = RGBColor(31, 119, 180);
/// Training, distributed.
pub const ORANGE: RGBColor = RGBColor(255, 127, 14);
/// Local runs.
pub const GREEN: RGBColor = RGBColor(44, 160, 44);
/// A round whose distributed and local results differ.
pub const RED: RGBColor = RGBColor(214, 39, 40);
/// Opacity of the min–max bands.
pub const BAND_ALPHA: f64 = 0.2;
const GRID: RGBColor = RGBColor(225, 225, 225);

static FONT: Once = Once::new();

pub(crate) fn register_font() {
    FONT.call_once(|| {
        let bytes: &'static [u8] = include_bytes!("../../assets/DejaVuSans.ttf");
        for style in [FontStyle::Normal, FontStyle::Bold] {
            // A bundled, valid font: registration cannot fail.
            let _ = plotters::style::register_font("sans-serif", style, bytes);
        }
    });
}

type DrawResult = Result<(), Box<dyn std::error::Error>>;
type Area<'a> = DrawingArea<BitMapBackend<'a>, Shift>;

/// The range of the finite values, padded by `below`/`above` times their span.
pub(crate) fn range_of(values: impl Iterator<Item = f64>, below: f64, above: f64) -> (f64, f64) {
    let (lo, hi) = values
        .filter(|v| v.is_finite())
        .fold((f64::INFINITY, f64::NEG_INFINITY), |(a, b), v| {
            (a.min(v), b.max(v))
        });
    if !lo.is_finite() {
        return (0.0, 1.0);
    }
    let span = (hi - lo).max(0.01 * hi.abs().max(1e-3));
    (lo - span * below, hi + span * above)
}

/// Labels for an axis of whole numbers (epochs, rounds): nothing between them.
pub(crate) fn whole(x: &f64) -> String {
    if (x - x.round()).abs() < 1e-9 {
        format!("{}", x.round() as i64)
    } else {
        String::new()
    }
}

fn points(v: &[f64]) -> Vec<(f64, f64)> {
    v.iter()
        .enumerate()
        .filter(|(_, y)| y.is_finite())
        .map(|(i, y)| (i as f64 + 1.0, *y))
        .collect()
}

/// A message in the middle of an empty panel.
fn say_empty(area: &Area<'_>, text: &str) -> DrawResult {
    let (w, h) = area.dim_in_pixel();
    let style = ("sans-serif", 18).into_font().color(&BLACK.mix(0.6)).pos(
        plotters::style::text_anchor::Pos::new(
            plotters::style::text_anchor::HPos::Center,
            plotters::style::text_anchor::VPos::Center,
        ),
    );
    area.draw(&Text::new(text, (w as i32 / 2, h as i32 / 2), style))?;
    Ok(())
}

/// `acc_loss_curves.png`: accuracy (left) and loss (right) per epoch.
pub fn curves(path: &Path, c: &Curves, title: &str) -> DrawResult {
    register_font();
    let root = BitMapBackend::new(path, (1400, 560)).into_drawing_area();
    root.fill(&WHITE)?;
    let root = root.titled(title, ("sans-serif", 22))?;
    let (left, right) = root.split_horizontally(700);
    panel(
        &left,
        "accuracy",
        &c.val_acc,
        &c.train_acc,
        &c.local_val_acc,
        c,
    )?;
    panel(
        &right,
        "loss",
        &c.val_loss,
        &c.train_loss,
        &c.local_val_loss,
        c,
    )?;
    root.present()?;
    Ok(())
}

fn panel(
    area: &Area<'_>,
    what: &str,
    val: &Band,
    train: &Band,
    local: &[f64],
    c: &Curves,
) -> DrawResult {
    let caption = format!("{}{} per epoch", what[..1].to_uppercase(), &what[1..]);
    if val.is_empty() && train.is_empty() && !local.iter().any(|v| v.is_finite()) {
        area.titled(&caption, ("sans-serif", 18))?;
        return say_empty(area, "no finished rounds yet");
    }
    let epochs = val.mean.len().max(train.mean.len()).max(local.len()).max(1);
    let all = [&val.min, &val.max, &train.min, &train.max]
        .into_iter()
        .flatten()
        .chain(local)
        .copied();
    let (lo, hi) = range_of(all, 0.06, 0.06);
    let mut chart = ChartBuilder::on(area)
        .margin(16)
        .caption(&caption, ("sans-serif", 18))
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
        .bold_line_style(GRID)
        .light_line_style(TRANSPARENT)
        .label_style(("sans-serif", 14))
        .axis_desc_style(("sans-serif", 16))
        .draw()?;
    let n = c.distributed_rounds;
    // Bands first, then the lines thick to thin, so that lines that coincide all show.
    let sets = [(val, BLUE, "validation", 3), (train, ORANGE, "training", 2)];
    for (band, colour, _, _) in sets {
        if band.is_empty() {
            continue;
        }
        let mut outline = points(&band.max);
        outline.extend(points(&band.min).into_iter().rev());
        chart.draw_series(std::iter::once(Polygon::new(
            outline,
            colour.mix(BAND_ALPHA).filled(),
        )))?;
    }
    for (band, colour, who, width) in sets {
        if band.is_empty() {
            continue;
        }
        chart
            .draw_series(LineSeries::new(
                points(&band.mean),
                colour.stroke_width(width),
            ))?
            .label(format!(
                "{who}, mean of {n} distributed round{} (band: min–max)",
                if n == 1 { "" } else { "s" }
            ))
            .legend(move |(x, y)| {
                EmptyElement::at((x, y))
                    + Rectangle::new([(0, -7), (22, 7)], colour.mix(BAND_ALPHA).filled())
                    + PathElement::new(vec![(0, 0), (22, 0)], colour.stroke_width(width))
            });
    }
    let local_points = points(local);
    if !local_points.is_empty() {
        // Thin, so that the distributed line it reproduces still shows around it.
        chart.draw_series(DashedLineSeries::new(
            local_points.clone(),
            6,
            4,
            GREEN.stroke_width(1),
        ))?;
        chart
            .draw_series(
                local_points
                    .into_iter()
                    .map(|p| Cross::new(p, 6, GREEN.stroke_width(2))),
            )?
            .label(format!(
                "validation, mean of {} local run{}",
                c.local_runs,
                if c.local_runs == 1 { "" } else { "s" }
            ))
            .legend(|(x, y)| {
                EmptyElement::at((x, y))
                    + PathElement::new(vec![(0, 0), (22, 0)], GREEN.stroke_width(1))
                    + Cross::new((11, 0), 5, GREEN.stroke_width(2))
            });
    }
    chart
        .configure_series_labels()
        .background_style(WHITE.mix(0.9))
        .border_style(BLACK.mix(0.4))
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
pub fn final_val_acc(path: &Path, rounds: &[FinalAcc], title: &str) -> DrawResult {
    register_font();
    let root = BitMapBackend::new(path, (900, 540)).into_drawing_area();
    root.fill(&WHITE)?;
    let values = || {
        rounds
            .iter()
            .flat_map(|r| [r.distributed, r.local])
            .flatten()
    };
    if values().next().is_none() {
        let root = root.titled(title, ("sans-serif", 20))?;
        say_empty(&root, "no finished rounds yet")?;
        root.present()?;
        return Ok(());
    }
    let first = rounds.iter().map(|r| r.round).min().unwrap_or(1);
    let last = rounds.iter().map(|r| r.round).max().unwrap_or(1);
    // Room above the points for the legend.
    let (lo, hi) = range_of(values(), 0.12, 0.45);
    let mut chart = ChartBuilder::on(&root)
        .margin(16)
        .caption(title, ("sans-serif", 20))
        .x_label_area_size(44)
        .y_label_area_size(70)
        .build_cartesian_2d(f64::from(first) - 0.5..f64::from(last) + 0.5, lo..hi)?;
    let count = usize::try_from(last - first + 1).unwrap_or(1);
    chart
        .configure_mesh()
        .x_desc("round")
        .y_desc("final validation accuracy")
        .x_labels(count.min(20))
        .x_label_formatter(&whole)
        .y_labels(8)
        .bold_line_style(GRID)
        .light_line_style(TRANSPARENT)
        .label_style(("sans-serif", 14))
        .axis_desc_style(("sans-serif", 16))
        .draw()?;
    // Smaller marks when there are many rounds.
    let size = (400 / count.max(1)).clamp(2, 7) as i32;
    let x_span = (f64::from(first) - 0.5, f64::from(last) + 0.5);
    let mean = |f: fn(&FinalAcc) -> Option<f64>| {
        let xs: Vec<f64> = rounds.iter().filter_map(f).collect();
        (!xs.is_empty()).then(|| (xs.iter().sum::<f64>() / xs.len() as f64, xs.len()))
    };
    let differ: Vec<(f64, f64, f64)> = rounds
        .iter()
        .filter_map(|r| match (r.distributed, r.local) {
            (Some(d), Some(l)) if d.to_bits() != l.to_bits() => Some((f64::from(r.round), d, l)),
            _ => None,
        })
        .collect();
    if !differ.is_empty() {
        chart
            .draw_series(
                differ
                    .iter()
                    .map(|&(x, d, l)| PathElement::new(vec![(x, d), (x, l)], RED.stroke_width(3))),
            )?
            .label(format!(
                "distributed ≠ local ({} round{})",
                differ.len(),
                if differ.len() == 1 { "" } else { "s" }
            ))
            .legend(|(x, y)| {
                PathElement::new(vec![(x + 11, y - 7), (x + 11, y + 7)], RED.stroke_width(3))
            });
    }
    if let Some((m, k)) = mean(|r| r.local) {
        chart
            .draw_series(DashedLineSeries::new(
                vec![(x_span.0, m), (x_span.1, m)],
                4,
                6,
                GREEN.stroke_width(1),
            ))?
            .label(format!(
                "local: {k} run{}, mean {m:.4}",
                if k == 1 { "" } else { "s" }
            ))
            .legend(move |(x, y)| {
                EmptyElement::at((x, y))
                    + PathElement::new(vec![(0, 0), (22, 0)], GREEN.stroke_width(1))
                    + Circle::new((11, 0), size + 4, GREEN.stroke_width(2))
            });
        chart.draw_series(rounds.iter().filter_map(|r| {
            r.local
                .map(|v| Circle::new((f64::from(r.round), v), size + 4, GREEN.stroke_width(2)))
        }))?;
    }
    if let Some((m, k)) = mean(|r| r.distributed) {
        chart
            .draw_series(DashedLineSeries::new(
                vec![(x_span.0, m), (x_span.1, m)],
                8,
                4,
                BLUE.stroke_width(1),
            ))?
            .label(format!(
                "distributed (canonical result): {k} round{}, mean {m:.4}",
                if k == 1 { "" } else { "s" }
            ))
            .legend(move |(x, y)| {
                EmptyElement::at((x, y))
                    + PathElement::new(vec![(0, 0), (22, 0)], BLUE.stroke_width(1))
                    + Circle::new((11, 0), size, BLUE.filled())
            });
        chart.draw_series(rounds.iter().filter_map(|r| {
            r.distributed
                .map(|v| Circle::new((f64::from(r.round), v), size, BLUE.filled()))
        }))?;
    }
    chart
        .configure_series_labels()
        .background_style(WHITE.mix(0.9))
        .border_style(BLACK.mix(0.4))
        .label_font(("sans-serif", 14))
        .position(SeriesLabelPosition::UpperRight)
        .draw()?;
    root.present()?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn bands_and_labels() {
        let b = Band::of(&[vec![0.5, 0.7, 0.9], vec![0.7, f64::NAN], vec![]]);
        assert_eq!(b.mean[..2], [0.6, 0.7]);
        assert_eq!((b.min[0], b.max[0]), (0.5, 0.7));
        assert_eq!((b.min[1], b.max[1]), (0.7, 0.7), "NaN ignored");
        assert_eq!(b.mean[2], 0.9, "the shorter round ends");
        assert!(Band::of(&[]).is_empty());
        assert_eq!([whole(&3.0), whole(&2.5), whole(&-0.0)], ["3", "", "0"]);
        let (lo, hi) = range_of([0.8, 0.9, f64::NAN].into_iter(), 0.1, 0.5);
        assert!(
            (lo - 0.79).abs() < 1e-9 && (hi - 0.95).abs() < 1e-9,
            "{lo} {hi}"
        );
        assert_eq!(range_of(std::iter::empty(), 0.1, 0.1), (0.0, 1.0));
    }
}
