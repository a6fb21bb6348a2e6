//! Which rows train, which validate, and which test.
//!
//! Validation rows are always training-split rows, never test rows: the test split is kept for
//! one final evaluation of the finished model, reported apart from validation (metrics.json's
//! `test_acc` / `test_loss`), so nothing chosen by looking at validation figures has seen it.
//!
//! The rule, all from the job's seed:
//! - The training subset is the first `sample_count` positions of a partial Fisher–Yates
//!   shuffle of the training split's row numbers, drawn from the job's generator before
//!   anything else.
//! - The validation rows are the training rows not drawn, in ascending order, the first
//!   `val_count` of them (all of them when `val_count` is absent). `sample_count + val_count`
//!   must fit in the training split, and at least one row must be left to validate on.
//! - The test rows are the whole test split, when the dataset has one; none otherwise.
//!
//! A federated job (`shard_count` K > 1) trains on shard `shard_index` i of the drawn rows:
//! positions `⌊i·n/K⌋ .. ⌊(i+1)·n/K⌋` of the draw order, so the K shards are disjoint, cover
//! the draw and differ in size by at most one row; validation is the same for every shard.

use crate::dataset::Dataset;
use crate::job::Job;
use crate::rng::Rng;

/// The drawn rows.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Partition {
    /// Training-split row numbers, in draw order.
    pub train: Vec<u32>,
    /// Training-split row numbers held out for validation, ascending.
    pub val: Vec<u32>,
    /// Rows of the test split evaluated once at the end (all of them; 0 = no test split).
    pub test: usize,
}

/// A job that does not fit the dataset it was given.
#[derive(Debug, thiserror::Error)]
pub enum PartitionError {
    #[error(
        "job field `sample_count` is invalid: got {asked}, expected at most the {have} training rows of the dataset"
    )]
    TooManySamples { asked: u64, have: usize },
    #[error(
        "job fields `sample_count` + `val_count` are invalid: got {samples} + {val} = {}, expected at most the {have} training rows of the dataset (validation rows are training rows held out)",
        samples + val
    )]
    TooManyValidation { samples: u64, val: u64, have: usize },
    #[error(
        "no validation rows: `sample_count` ({0}) uses every training row (validation rows are training rows held out; lower `sample_count`)"
    )]
    NoValidation(u64),
    #[error("shard {index} of {count} of {rows} training rows is empty")]
    EmptyShard { index: u64, count: u64, rows: u64 },
}

/// Checks that a job's row counts fit a training split of `train_rows` rows (the checks
/// [`draw`] makes, for callers that know only the split's size).
pub fn check_fits(job: &Job, train_rows: usize) -> Result<(), PartitionError> {
    let n = train_rows as u64;
    if job.sample_count > n {
        return Err(PartitionError::TooManySamples {
            asked: job.sample_count,
            have: train_rows,
        });
    }
    match job.val_count {
        Some(val) if job.sample_count.saturating_add(val) > n => {
            Err(PartitionError::TooManyValidation {
                samples: job.sample_count,
                val,
                have: train_rows,
            })
        }
        None if job.sample_count == n => Err(PartitionError::NoValidation(job.sample_count)),
        _ => Ok(()),
    }
}

/// Draws the partition, advancing `rng` past the draws.
pub fn draw(ds: &Dataset, job: &Job, rng: &mut Rng) -> Result<Partition, PartitionError> {
    let n = ds.train.len();
    check_fits(job, n)?;
    let k = job.sample_count as usize;
    let mut rows: Vec<u32> = (0..n as u32).collect();
    for i in 0..k {
        let j = i + rng.below((n - i) as u64) as usize;
        rows.swap(i, j);
    }
    let mut val = rows[k..].to_vec();
    val.sort_unstable();
    val.truncate(job.val_count.map_or(usize::MAX, |v| v as usize));
    rows.truncate(k);
    let (i, shards) = (job.generation.shard_index, job.generation.shard_count);
    let bound = |i: u64| (k as u64 * i / shards) as usize;
    let (lo, hi) = (bound(i), bound(i + 1));
    if lo == hi {
        return Err(PartitionError::EmptyShard {
            index: i,
            count: shards,
            rows: k as u64,
        });
    }
    let train = rows[lo..hi].to_vec();
    Ok(Partition {
        train,
        val,
        test: ds.test.as_ref().map_or(0, |t| t.len()),
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::dataset::{Format, PIXELS, Split};

    fn ds(n: usize, test: Option<usize>) -> Dataset {
        let split = |n: usize| Split::new(vec![0; n * PIXELS], vec![0; n], "t").unwrap();
        Dataset::new(split(n), test.map(split), Format::IdxDir)
    }

    fn job(samples: u64, val: Option<u64>) -> Job {
        Job {
            seed: 9,
            sample_count: samples,
            train_epochs: 1,
            batch_size: 1,
            learning_rate: 0.1,
            val_count: val,
            noise_std: 0.0,
            export_weights: false,
            generation: crate::job::Generation::default(),
        }
    }

    #[test]
    fn holdout_is_the_complement_in_order() {
        let p = draw(&ds(50, None), &job(30, None), &mut Rng::new(9)).unwrap();
        assert_eq!(p.train.len(), 30);
        assert_eq!(p.val.len(), 20);
        assert!(p.val.windows(2).all(|w| w[0] < w[1]));
        let mut all: Vec<u32> = p.train.iter().chain(&p.val).copied().collect();
        all.sort_unstable();
        assert_eq!(all, (0..50).collect::<Vec<_>>());
        let capped = draw(&ds(50, None), &job(30, Some(5)), &mut Rng::new(9)).unwrap();
        assert_eq!(capped.val, p.val[..5]);
        assert_eq!(capped.train, p.train);
    }

    #[test]
    fn a_test_split_never_validates() {
        // The same draw with and without a test split: validation is held-out training rows.
        let with = draw(&ds(50, Some(8)), &job(30, Some(3)), &mut Rng::new(1)).unwrap();
        let without = draw(&ds(50, None), &job(30, Some(3)), &mut Rng::new(1)).unwrap();
        assert_eq!(with.train, without.train);
        assert_eq!(with.val, without.val);
        assert!(with.val.iter().all(|r| !with.train.contains(r)));
        assert_eq!((with.test, without.test), (8, 0));
        // Every training row drawn leaves none to validate on, test split or not.
        assert!(matches!(
            draw(&ds(50, Some(8)), &job(50, None), &mut Rng::new(1)),
            Err(PartitionError::NoValidation(50))
        ));
    }

    #[test]
    fn shards_are_disjoint_and_cover_the_draw() {
        let whole = draw(&ds(50, None), &job(31, None), &mut Rng::new(4)).unwrap();
        let mut joined = Vec::new();
        for i in 0..3 {
            let mut j = job(31, None);
            j.generation.shard_index = i;
            j.generation.shard_count = 3;
            let p = draw(&ds(50, None), &j, &mut Rng::new(4)).unwrap();
            assert_eq!(p.val, whole.val, "every shard validates on the same rows");
            assert!((10..=11).contains(&p.train.len()));
            joined.extend(p.train);
        }
        assert_eq!(joined, whole.train);
        let mut j = job(2, None);
        j.generation.shard_index = 0;
        j.generation.shard_count = 3;
        assert!(matches!(
            draw(&ds(50, None), &j, &mut Rng::new(4)),
            Err(PartitionError::EmptyShard { .. })
        ));
    }

    #[test]
    fn impossible_jobs_are_refused() {
        let e = draw(&ds(10, None), &job(11, None), &mut Rng::new(1)).unwrap_err();
        assert!(e.to_string().contains("`sample_count`"), "{e}");
        assert!(matches!(
            draw(&ds(10, None), &job(10, None), &mut Rng::new(1)),
            Err(PartitionError::NoValidation(10))
        ));
        let e = draw(&ds(10, Some(5)), &job(8, Some(3)), &mut Rng::new(1)).unwrap_err();
        assert!(
            matches!(
                e,
                PartitionError::TooManyValidation {
                    samples: 8,
                    val: 3,
                    have: 10
                }
            ),
            "{e}"
        );
        assert!(e.to_string().contains("8 + 3 = 11"), "{e}");
        assert!(draw(&ds(10, None), &job(8, Some(2)), &mut Rng::new(1)).is_ok());
        assert!(check_fits(&job(8, Some(2)), 10).is_ok());
        assert!(check_fits(&job(8, Some(3)), 10).is_err());
    }
}
