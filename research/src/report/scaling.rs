//! The clients-versus-time study (`scripts/scaling.sh`): the same series run with 1, 2, 4…
//! stock clients on one machine, summarised as `scaling.png` (wall-clock time and rounds per
//! minute against the number of clients, each with its ideal line) and `scaling.md` (the table
//! and what limits the speed-up here).
//!
//! The input is the CSV the script writes, one line per run: `clients,rounds,seconds`, where
//! `seconds` is the distributed part of the series (submit → every round validated and
//! assimilated). The ideal is linear scaling from the run with the fewest clients.

use std::fmt::Write as _;
use std::path::Path;

use plotters::prelude::*;

use super::plot::{BLUE, ORANGE, range_of, register_font};

/// One run of the study.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Run {
    pub clients: u32,
    pub rounds: u32,
    pub seconds: f64,
}

impl Run {
    pub fn rounds_per_minute(&self) -> f64 {
        self.rounds as f64 * 60.0 / self.seconds
    }
}

/// A CSV line or value the study cannot use.
#[derive(Debug, thiserror::Error)]
pub enum ScalingError {
    #[error("line {line}: {why}")]
    Line { line: usize, why: String },
    #[error("no runs in the CSV")]
    Empty,
    #[error("drawing {0}")]
    Draw(String),
}

/// The runs of a `clients,rounds,seconds` CSV (a header line is skipped), sorted by clients.
pub fn parse_csv(text: &str) -> Result<Vec<Run>, ScalingError> {
    let mut runs = Vec::new();
    for (i, line) in text.lines().enumerate() {
        let line = line.trim();
        if line.is_empty() || line.starts_with("clients") {
            continue;
        }
        let bad = |why: &str| ScalingError::Line {
            line: i + 1,
            why: format!("{why}: {line:?}"),
        };
        let f: Vec<&str> = line.split(',').map(str::trim).collect();
        if f.len() != 3 {
            return Err(bad("expected clients,rounds,seconds"));
        }
        let clients: u32 = f[0]
            .parse()
            .map_err(|_| bad("clients is not a whole number"))?;
        let rounds: u32 = f[1]
            .parse()
            .map_err(|_| bad("rounds is not a whole number"))?;
        let seconds: f64 = f[2].parse().map_err(|_| bad("seconds is not a number"))?;
        if clients == 0 || rounds == 0 || !(seconds.is_finite() && seconds > 0.0) {
            return Err(bad("clients, rounds and seconds must be positive"));
        }
        runs.push(Run {
            clients,
            rounds,
            seconds,
        });
    }
    if runs.is_empty() {
        return Err(ScalingError::Empty);
    }
    runs.sort_by_key(|r| r.clients);
    Ok(runs)
}

/// Ideal (linear) time and rate for `clients`, from the run with the fewest clients.
pub fn ideal(base: &Run, clients: u32, rounds: u32) -> (f64, f64) {
    let k = clients as f64 / base.clients as f64;
    let per_round = base.seconds / base.rounds as f64;
    (per_round * rounds as f64 / k, base.rounds_per_minute() * k)
}

/// `scaling.md`: the table (with speed-up and efficiency against the ideal) and the limits.
pub fn summary(runs: &[Run], cores: usize) -> String {
    let base = runs[0];
    let mut s = String::from("# Clients versus wall-clock time\n\n");
    let _ = writeln!(
        s,
        "The same series run with each number of stock BOINC clients on one machine \
         ({cores} CPU cores). Time is the distributed part: submit → every round validated \
         and assimilated. The ideal is linear scaling from {} client(s).\n",
        base.clients
    );
    s.push_str(
        "| clients | rounds | time (s) | ideal (s) | rounds/min | speed-up | efficiency |\n",
    );
    s.push_str("|---:|---:|---:|---:|---:|---:|---:|\n");
    for r in runs {
        let (t_ideal, _) = ideal(&base, r.clients, r.rounds);
        let speedup = r.rounds_per_minute() / base.rounds_per_minute();
        let eff = speedup / (r.clients as f64 / base.clients as f64);
        let _ = writeln!(
            s,
            "| {} | {} | {:.1} | {:.1} | {:.2} | {:.2}× | {:.0} % |",
            r.clients,
            r.rounds,
            r.seconds,
            t_ideal,
            r.rounds_per_minute(),
            speedup,
            eff * 100.0
        );
    }
    let _ = write!(
        s,
        "\n## What limits the speed-up on one machine\n\n\
         - **CPU cores.** All clients share this machine's {cores} cores. A stock client runs \
         one task per core it sees, so a single client already keeps every core busy once it \
         holds enough work; further clients only split the same cores, and beyond {cores} \
         running tasks they time-slice.\n\
         - **Work buffers.** A stock client asks for enough work to fill its buffer, and short \
         jobs look cheap, so without a per-host limit the first client to ask takes every \
         round and the others idle; `scripts/scaling.sh` therefore sets \
         `max_wus_in_progress` to 1 (one job per CPU per host).\n\
         - **Work fetch and turnaround.** A client asks for work when its buffer runs low and \
         reports finished results on its next scheduler request (the project's \
         `next_rpc_delay`), so each round can wait up to that delay (5 s in `scripts/demo.sh`), which does \
         not shrink with more clients.\n\
         - **Fixed per-client costs.** A newly attached client first downloads the app and the \
         dataset bundle; `scripts/scaling.sh` runs a one-round warm-up with the most clients \
         first so that this stays out of the timed runs.\n\
\n\
         Speed-up beyond the number of cores needs more machines: each volunteer host \
         brings its own cores.\n"
    );
    s
}

/// `scaling.png`: time (left) and rounds per minute (right) against clients, with the ideal.
pub fn draw(path: &Path, runs: &[Run]) -> Result<(), ScalingError> {
    draw_inner(path, runs).map_err(|e| ScalingError::Draw(format!("{}: {e}", path.display())))
}

type DrawResult = Result<(), Box<dyn std::error::Error>>;

fn draw_inner(path: &Path, runs: &[Run]) -> DrawResult {
    register_font();
    let base = runs[0];
    let root = BitMapBackend::new(path, (1200, 520)).into_drawing_area();
    root.fill(&WHITE)?;
    let root = root.titled(
        "Clients versus wall-clock time (one machine)",
        ("sans-serif", 22),
    )?;
    let (left, right) = root.split_horizontally(600);
    let xs: Vec<f64> = runs.iter().map(|r| r.clients as f64).collect();
    let x_max = xs.iter().copied().fold(1.0, f64::max) + 0.5;
    let rounds = runs.iter().map(|r| r.rounds).max().unwrap_or(1);
    let measured_t: Vec<(f64, f64)> = runs.iter().map(|r| (r.clients as f64, r.seconds)).collect();
    let ideal_t: Vec<(f64, f64)> = runs
        .iter()
        .map(|r| (r.clients as f64, ideal(&base, r.clients, r.rounds).0))
        .collect();
    let measured_r: Vec<(f64, f64)> = runs
        .iter()
        .map(|r| (r.clients as f64, r.rounds_per_minute()))
        .collect();
    let ideal_r: Vec<(f64, f64)> = runs
        .iter()
        .map(|r| (r.clients as f64, ideal(&base, r.clients, rounds).1))
        .collect();
    panel(
        &left,
        "Wall-clock time",
        "seconds",
        &measured_t,
        &ideal_t,
        x_max,
        BLUE,
    )?;
    panel(
        &right,
        "Rounds per minute",
        "rounds / min",
        &measured_r,
        &ideal_r,
        x_max,
        ORANGE,
    )?;
    root.present()?;
    Ok(())
}

fn panel(
    area: &DrawingArea<BitMapBackend<'_>, plotters::coord::Shift>,
    caption: &str,
    y_desc: &str,
    measured: &[(f64, f64)],
    ideal: &[(f64, f64)],
    x_max: f64,
    colour: RGBColor,
) -> DrawResult {
    let (_, hi) = range_of(measured.iter().chain(ideal).map(|p| p.1), 0.0, 0.1);
    let mut chart = ChartBuilder::on(area)
        .caption(caption, ("sans-serif", 18))
        .margin(14)
        .x_label_area_size(40)
        .y_label_area_size(60)
        .build_cartesian_2d(0.5..x_max, 0.0..hi)?;
    chart
        .configure_mesh()
        .x_desc("stock clients")
        .y_desc(y_desc)
        .x_labels(measured.len().max(2) * 2)
        .x_label_formatter(&super::plot::whole)
        .draw()?;
    chart
        .draw_series(LineSeries::new(
            ideal.iter().copied(),
            BLACK.mix(0.5).stroke_width(2),
        ))?
        .label("ideal (linear)")
        .legend(|(x, y)| PathElement::new(vec![(x, y), (x + 20, y)], BLACK.mix(0.5)));
    chart
        .draw_series(LineSeries::new(
            measured.iter().copied(),
            colour.stroke_width(3),
        ))?
        .label("measured")
        .legend(move |(x, y)| PathElement::new(vec![(x, y), (x + 20, y)], colour));
    chart.draw_series(measured.iter().map(|&p| Circle::new(p, 5, colour.filled())))?;
    chart
        .configure_series_labels()
        .position(SeriesLabelPosition::UpperRight)
        .background_style(WHITE.mix(0.8))
        .border_style(BLACK.mix(0.3))
        .draw()?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn csv_is_parsed_sorted_and_checked() {
        let runs = parse_csv("clients,rounds,seconds\n2,20,60\n1,20,100.5\n").unwrap();
        assert_eq!(runs[0].clients, 1);
        assert_eq!(runs[1].seconds, 60.0);
        assert!(parse_csv("clients,rounds,seconds\n").is_err());
        assert!(parse_csv("1,20,-3\n").is_err());
        assert!(parse_csv("1,x,3\n").is_err());
    }

    #[test]
    fn ideal_scales_linearly_from_the_fewest_clients() {
        let base = Run {
            clients: 1,
            rounds: 20,
            seconds: 120.0,
        };
        assert_eq!(base.rounds_per_minute(), 10.0);
        assert_eq!(ideal(&base, 4, 20), (30.0, 40.0));
        let s = summary(&[base], 2);
        assert!(
            s.contains("| 1 | 20 | 120.0 | 120.0 | 10.00 | 1.00× | 100 % |"),
            "{s}"
        );
    }
}
