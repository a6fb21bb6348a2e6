//! Sweeps: a series over a grid of training parameters.
//!
//! `series submit --learning-rate 0.01,0.1 --batch-size 64,256 --rounds 5` runs every
//! combination of the listed values — a *configuration* — with each of the 5 seeds, 20 rounds in
//! one series. The seeds are the same for every configuration, so configurations are compared
//! on the same initialisations and shuffles. Rounds are numbered configuration by configuration
//! (round `c × seeds + s + 1` is configuration `c` with seed `s`).
//!
//! [`Grid::check`] finds every mistake in the grid at once (a value the app refuses, a value
//! given twice, too many jobs), so that a sweep is refused before anything is written.

use rboinc_core::sweep::SweepPoint;
use serde::{Deserialize, Serialize};

use crate::params::SeriesParams;

/// Jobs (configurations × seeds) a sweep may have unless the researcher raises `--max-jobs`.
pub const DEFAULT_MAX_JOBS: usize = 1000;

/// The lists of a sweep; an empty list takes the base parameters' value.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct Grid {
    pub learning_rate: Vec<f64>,
    pub batch_size: Vec<u64>,
    pub train_epochs: Vec<u64>,
    pub sample_count: Vec<u64>,
}

impl Grid {
    /// Every configuration, learning rate varying slowest, then batch size, epochs, samples.
    pub fn configs(&self, base: &SeriesParams) -> Vec<SeriesParams> {
        let or = |v: &Vec<u64>, d: u64| if v.is_empty() { vec![d] } else { v.clone() };
        let lrs = if self.learning_rate.is_empty() {
            vec![base.learning_rate]
        } else {
            self.learning_rate.clone()
        };
        let mut out = Vec::new();
        for &learning_rate in &lrs {
            for &batch_size in &or(&self.batch_size, base.batch_size) {
                for &train_epochs in &or(&self.train_epochs, base.train_epochs) {
                    for &sample_count in &or(&self.sample_count, base.sample_count) {
                        out.push(SeriesParams {
                            learning_rate,
                            batch_size,
                            train_epochs,
                            sample_count,
                            ..base.clone()
                        });
                    }
                }
            }
        }
        out
    }

    /// Every problem of the grid with `seeds` seeds per configuration, one per line; `Ok` if
    /// none. The dataset's size is checked once it is read ([`check_samples`]).
    pub fn check(&self, base: &SeriesParams, seeds: usize, max_jobs: usize) -> Result<(), String> {
        let mut problems = Vec::new();
        let twice = |name: &str, texts: Vec<String>, problems: &mut Vec<String>| {
            let mut seen = std::collections::HashSet::new();
            for t in texts {
                if !seen.insert(t.clone()) {
                    problems.push(format!("--{name}: {t} is listed twice"));
                }
            }
        };
        twice(
            "learning-rate",
            self.learning_rate.iter().map(|v| v.to_string()).collect(),
            &mut problems,
        );
        for (name, v) in [
            ("batch-size", &self.batch_size),
            ("train-epochs", &self.train_epochs),
            ("sample-count", &self.sample_count),
        ] {
            twice(
                name,
                v.iter().map(|v| v.to_string()).collect(),
                &mut problems,
            );
        }
        let configs = self.configs(base);
        let mut refused = std::collections::BTreeSet::new();
        for c in &configs {
            if let Err(e) = c.check() {
                refused.insert(e.to_string());
            }
        }
        problems.extend(refused);
        let jobs = configs.len().saturating_mul(seeds);
        if jobs > max_jobs {
            problems.push(format!(
                "the sweep has {} configuration{} × {seeds} seed{} = {jobs} jobs, more than --max-jobs {max_jobs}; raise --max-jobs if you mean it",
                configs.len(),
                plural(configs.len()),
                plural(seeds),
            ));
        }
        if problems.is_empty() {
            Ok(())
        } else {
            Err(problems.join("\n"))
        }
    }
}

/// The configurations asking for more training rows than the dataset has (one line each);
/// `Ok` if none. Validation rows are training rows held out (the app's rule,
/// `mnist_app::split`): `sample_count + val_count` must fit, and without a `val_count` at least
/// one row is left for validation.
pub fn check_samples(configs: &[SeriesParams], train_rows: usize) -> Result<(), String> {
    let mut problems = Vec::new();
    let mut seen = std::collections::BTreeSet::new();
    for c in configs {
        let needed = c.sample_count.saturating_add(c.val_count.unwrap_or(1));
        if needed > train_rows as u64 && seen.insert((c.sample_count, c.val_count)) {
            problems.push(match c.val_count {
                Some(v) => format!(
                    "--sample-count {} does not fit the dataset's {train_rows} training rows with --val-count {v} held out of them (validation rows are training rows)",
                    c.sample_count
                ),
                None => format!(
                    "--sample-count {} does not fit the dataset's {train_rows} training rows",
                    c.sample_count
                ),
            });
        }
    }
    if problems.is_empty() {
        Ok(())
    } else {
        Err(problems.join("\n"))
    }
}

fn plural(n: usize) -> &'static str {
    if n == 1 { "" } else { "s" }
}

/// A configuration's name for tables and legends: the swept values only (`lr=0.05 batch=64`),
/// or all four when nothing varies ([`rboinc_core::sweep::label`], which the ops page uses too).
pub fn label(c: &SeriesParams, all: &[SeriesParams]) -> String {
    let all: Vec<SweepPoint> = all.iter().map(point).collect();
    rboinc_core::sweep::label(&point(c), &all)
}

fn point(p: &SeriesParams) -> SweepPoint {
    SweepPoint {
        learning_rate: p.learning_rate,
        batch_size: p.batch_size,
        train_epochs: p.train_epochs,
        sample_count: p.sample_count,
    }
}

/// Round numbers (1-based) as (configuration, seed index) for `configs` × `seeds`.
pub fn round_plan(configs: usize, seeds: usize) -> Vec<(usize, usize)> {
    (0..configs)
        .flat_map(|c| (0..seeds).map(move |s| (c, s)))
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn grid() -> Grid {
        Grid {
            learning_rate: vec![0.01, 0.05, 0.1],
            batch_size: vec![64, 256],
            ..Grid::default()
        }
    }

    #[test]
    fn the_grid_is_every_combination_learning_rate_slowest() {
        let base = SeriesParams::default();
        let c = grid().configs(&base);
        let pairs: Vec<(f64, u64)> = c.iter().map(|p| (p.learning_rate, p.batch_size)).collect();
        assert_eq!(
            pairs,
            [
                (0.01, 64),
                (0.01, 256),
                (0.05, 64),
                (0.05, 256),
                (0.1, 64),
                (0.1, 256)
            ]
        );
        assert!(
            c.iter()
                .all(|p| p.train_epochs == base.train_epochs && p.sample_count == 8000)
        );
        assert_eq!(Grid::default().configs(&base), std::slice::from_ref(&base));
        assert_eq!(
            round_plan(2, 3),
            [(0, 0), (0, 1), (0, 2), (1, 0), (1, 1), (1, 2)]
        );
    }

    #[test]
    fn labels_name_what_varies() {
        let base = SeriesParams::default();
        let c = grid().configs(&base);
        assert_eq!(label(&c[1], &c), "lr=0.01 batch=256");
        let one = [base.clone()];
        assert_eq!(
            label(&base, &one),
            "lr=0.05 batch=256 epochs=10 samples=8000"
        );
    }

    #[test]
    fn every_mistake_is_listed_before_anything_is_queued() {
        let base = SeriesParams::default();
        let bad = Grid {
            learning_rate: vec![-0.1, 0.05, 0.05],
            batch_size: vec![0, 64],
            ..Grid::default()
        };
        let e = bad.check(&base, 5, 10).unwrap_err();
        assert!(e.contains("--learning-rate: 0.05 is listed twice"), "{e}");
        assert!(e.contains("learning_rate") && e.contains("-0.1"), "{e}");
        assert!(e.contains("batch_size") && e.contains("got 0"), "{e}");
        assert!(
            e.contains("6 configurations × 5 seeds = 30 jobs, more than --max-jobs 10"),
            "{e}"
        );
        assert!(grid().check(&base, 5, 30).is_ok());
        assert!(
            grid()
                .check(&base, 5, 29)
                .unwrap_err()
                .contains("--max-jobs 29")
        );
    }

    #[test]
    fn more_samples_than_the_dataset_has_is_refused() {
        let base = SeriesParams::default();
        let g = Grid {
            sample_count: vec![100, 9000, 20000],
            ..Grid::default()
        };
        let e = check_samples(&g.configs(&base), 9000).unwrap_err();
        assert_eq!(
            e,
            "--sample-count 9000 does not fit the dataset's 9000 training rows\n\
             --sample-count 20000 does not fit the dataset's 9000 training rows"
        );
        assert!(check_samples(&g.configs(&base), 20001).is_ok());
        // With a validation count, the held-out rows must fit too.
        let with_val = SeriesParams {
            val_count: Some(10_000),
            ..base
        };
        let g = Grid {
            sample_count: vec![50_000, 55_000],
            ..Grid::default()
        };
        let e = check_samples(&g.configs(&with_val), 60_000).unwrap_err();
        assert_eq!(
            e,
            "--sample-count 55000 does not fit the dataset's 60000 training rows with --val-count 10000 held out of them (validation rows are training rows)"
        );
    }
}
