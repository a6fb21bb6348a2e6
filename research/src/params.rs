//! A series' training parameters, its seeds, and the `job.json` of each round.

use mnist_app::job::{Job, JobError};
use serde::{Deserialize, Serialize};

/// What every round of a series shares (the original experiment's parameters).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct SeriesParams {
    pub sample_count: u64,
    pub train_epochs: u64,
    pub batch_size: u64,
    pub learning_rate: f64,
    pub val_count: Option<u64>,
    pub noise_std: f64,
    pub export_weights: bool,
}

impl Default for SeriesParams {
    /// The original experiment: 8,000 samples, 10 epochs, batch 256, learning rate 0.05.
    fn default() -> Self {
        SeriesParams {
            sample_count: 8000,
            train_epochs: 10,
            batch_size: 256,
            learning_rate: 0.05,
            val_count: None,
            noise_std: 0.0,
            export_weights: false,
        }
    }
}

impl SeriesParams {
    /// The job of one round.
    pub fn job(&self, seed: u64) -> Job {
        Job {
            seed,
            sample_count: self.sample_count,
            train_epochs: self.train_epochs,
            batch_size: self.batch_size,
            learning_rate: self.learning_rate,
            val_count: self.val_count,
            noise_std: self.noise_std,
            export_weights: self.export_weights,
        }
    }

    /// Checks the parameters with the app's own rules (field-named messages).
    pub fn check(&self) -> Result<(), JobError> {
        self.job(0).validate()
    }

    /// A rough floating-point operation count of one round (forward and backward passes over
    /// the samples, plus validation), for `rsc_fpops_est`.
    pub fn fpops_estimate(&self) -> f64 {
        let per_row = 784.0 * 10.0 * 6.0;
        let train = self.sample_count as f64 * self.train_epochs as f64 * per_row;
        let val =
            self.val_count.unwrap_or(10_000) as f64 * self.train_epochs as f64 * per_row / 3.0;
        (train + val).max(1e9)
    }
}

/// `n` seeds drawn from `base` (six-digit numbers like the original experiment's), all distinct.
pub fn seeds_from_base(base: u64, n: usize) -> Vec<u64> {
    let mut out = Vec::with_capacity(n);
    let mut seen = std::collections::HashSet::new();
    let mut i = 0u64;
    while out.len() < n {
        let s = splitmix64(base.wrapping_add(i.wrapping_mul(0x9e37_79b9_7f4a_7c15))) % 900_000
            + 100_000;
        i += 1;
        if seen.insert(s) || n > 800_000 {
            out.push(s);
        }
    }
    out
}

fn splitmix64(mut z: u64) -> u64 {
    z = z.wrapping_add(0x9e37_79b9_7f4a_7c15);
    z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
    z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
    z ^ (z >> 31)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn seeds_are_reproducible_and_distinct() {
        let a = seeds_from_base(42, 100);
        assert_eq!(a, seeds_from_base(42, 100));
        assert_ne!(a, seeds_from_base(43, 100));
        let set: std::collections::HashSet<_> = a.iter().collect();
        assert_eq!(set.len(), 100);
        assert!(a.iter().all(|s| (100_000..1_000_000).contains(s)));
    }

    #[test]
    fn jobs_are_the_apps() {
        let p = SeriesParams::default();
        let j = p.job(714562);
        assert_eq!(
            j.canonical_json(),
            Job::parse(&j.canonical_json()).unwrap().canonical_json()
        );
        let bad = SeriesParams { batch_size: 0, ..p };
        assert!(bad.check().unwrap_err().to_string().contains("batch_size"));
    }
}
