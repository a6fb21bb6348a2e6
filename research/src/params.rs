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
            generation: mnist_app::job::Generation::default(),
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

    /// The `delay_bound` a round gets when the researcher gives none: long enough for a slow
    /// host, short enough that a round held by a client that vanished is sent to another host
    /// within minutes rather than the hour a fixed default would cost.
    ///
    /// The run time is [`Self::fpops_estimate`] at [`SLOW_HOST_FLOPS`], times
    /// [`DELAY_BOUND_FACTOR`] for the queue, the download and the upload around it; never less
    /// than [`MIN_DELAY_BOUND_SECS`] nor more than [`MAX_DELAY_BOUND_SECS`]. A short deadline
    /// also makes stock clients report at once: they report a finished task when its deadline
    /// is less than a day away.
    pub fn default_delay_bound(&self) -> i32 {
        let secs = (self.fpops_estimate() / SLOW_HOST_FLOPS * DELAY_BOUND_FACTOR).ceil();
        secs.clamp(
            f64::from(MIN_DELAY_BOUND_SECS),
            f64::from(MAX_DELAY_BOUND_SECS),
        ) as i32
    }
}

/// Floating-point operations per second assumed of a slow volunteer host: a tenth of the
/// 1 GFLOPS a BOINC client claims without benchmarks, since the trainer's plain loops reach far
/// less than a core's peak and a host may run other projects' work at the same time.
pub const SLOW_HOST_FLOPS: f64 = 1e8;

/// How many slow-host run times a host gets for a round: waiting in the client's queue,
/// downloading the dataset and uploading the results take time besides the run.
pub const DELAY_BOUND_FACTOR: f64 = 4.0;

/// The shortest default `delay_bound` (5 minutes): a client that backs off after a failed
/// scheduler request or transfer retries after a minute or more, so a healthy host must not
/// miss a deadline over one retry; tiny jobs get this.
pub const MIN_DELAY_BOUND_SECS: i32 = 300;

/// The longest default `delay_bound` (one week, as BOINC's `create_work` default); a job that
/// needs longer is given `--delay-bound` explicitly.
pub const MAX_DELAY_BOUND_SECS: i32 = 7 * 86_400;

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
    fn the_default_delay_bound_fits_the_job() {
        // The original experiment: about 5.3e9 operations, under a minute on a slow host.
        let original = SeriesParams::default();
        assert_eq!(original.default_delay_bound(), MIN_DELAY_BOUND_SECS);
        // A tiny job gets the floor too, not an hour.
        let tiny = SeriesParams {
            sample_count: 100,
            train_epochs: 1,
            val_count: Some(100),
            ..SeriesParams::default()
        };
        assert_eq!(tiny.default_delay_bound(), 300);
        // A big one: 60,000 samples × 100 epochs ≈ 2.8e11 + 1.6e10 operations, 3.3 hours.
        let big = SeriesParams {
            sample_count: 60_000,
            train_epochs: 100,
            ..SeriesParams::default()
        };
        let expected = (big.fpops_estimate() / SLOW_HOST_FLOPS * DELAY_BOUND_FACTOR).ceil();
        assert_eq!(f64::from(big.default_delay_bound()), expected);
        assert!((3_000..30_000).contains(&big.default_delay_bound()));
        // Absurd sizes stop at a week.
        let huge = SeriesParams {
            sample_count: 60_000,
            train_epochs: 1_000_000,
            ..SeriesParams::default()
        };
        assert_eq!(huge.default_delay_bound(), MAX_DELAY_BOUND_SECS);
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
