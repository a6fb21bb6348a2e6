//! Which rows train and which validate.
//!
//! The training subset is the first `sample_count` positions of a partial Fisher–Yates shuffle
//! of the training split's row numbers, drawn from the job's generator before anything else. The
//! validation rows are the first `val_count` rows of the test split when the dataset has one,
//! otherwise the training rows not drawn, in ascending order, capped at `val_count`.
//!
//! A federated job (`shard_count` K > 1) trains on shard `shard_index` i of the drawn rows:
//! positions `⌊i·n/K⌋ .. ⌊(i+1)·n/K⌋` of the draw order, so the K shards are disjoint, cover
//! the draw and differ in size by at most one row; validation is the same for every shard.

use crate::dataset::Dataset;
use crate::job::Job;
use crate::rng::Rng;

/// Where the validation rows come from.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize)]
#[serde(rename_all = "snake_case")]
pub enum ValSource {
    /// The dataset's test split.
    Test,
    /// Training-split rows that were not drawn for training.
    Holdout,
}

impl ValSource {
    /// The name metrics.json uses.
    pub fn as_str(self) -> &'static str {
        match self {
            ValSource::Test => "test",
            ValSource::Holdout => "holdout",
        }
    }
}

/// The drawn rows.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Partition {
    /// Training-split row numbers, in draw order.
    pub train: Vec<u32>,
    /// Validation row numbers, in `val_source`'s split.
    pub val: Vec<u32>,
    pub val_source: ValSource,
}

/// A job that does not fit the dataset it was given.
#[derive(Debug, thiserror::Error)]
pub enum PartitionError {
    #[error(
        "job field `sample_count` is invalid: got {asked}, expected at most the {have} training rows of the dataset"
    )]
    TooManySamples { asked: u64, have: usize },
    #[error(
        "no validation rows: the dataset has no test split and `sample_count` ({0}) uses every training row"
    )]
    NoValidation(u64),
    #[error("shard {index} of {count} of {rows} training rows is empty")]
    EmptyShard { index: u64, count: u64, rows: u64 },
}

/// Draws the partition, advancing `rng` past the draws.
pub fn draw(ds: &Dataset, job: &Job, rng: &mut Rng) -> Result<Partition, PartitionError> {
    let n = ds.train.len();
    let k = usize::try_from(job.sample_count)
        .ok()
        .filter(|k| *k <= n)
        .ok_or(PartitionError::TooManySamples {
            asked: job.sample_count,
            have: n,
        })?;
    let mut rows: Vec<u32> = (0..n as u32).collect();
    for i in 0..k {
        let j = i + rng.below((n - i) as u64) as usize;
        rows.swap(i, j);
    }
    let cap = job.val_count.map_or(usize::MAX, |v| v as usize);
    let (val, val_source) = match &ds.test {
        Some(test) => ((0..test.len().min(cap) as u32).collect(), ValSource::Test),
        None => {
            let mut rest = rows[k..].to_vec();
            rest.sort_unstable();
            rest.truncate(cap);
            (rest, ValSource::Holdout)
        }
    };
    if val.is_empty() {
        return Err(PartitionError::NoValidation(job.sample_count));
    }
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
        val_source,
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
        assert_eq!(p.val_source, ValSource::Holdout);
        assert!(p.val.windows(2).all(|w| w[0] < w[1]));
        let mut all: Vec<u32> = p.train.iter().chain(&p.val).copied().collect();
        all.sort_unstable();
        assert_eq!(all, (0..50).collect::<Vec<_>>());
        let capped = draw(&ds(50, None), &job(30, Some(5)), &mut Rng::new(9)).unwrap();
        assert_eq!(capped.val, p.val[..5]);
        assert_eq!(capped.train, p.train);
    }

    #[test]
    fn test_split_validates_when_present() {
        let p = draw(&ds(50, Some(8)), &job(50, Some(3)), &mut Rng::new(1)).unwrap();
        assert_eq!(p.val, vec![0, 1, 2]);
        assert_eq!(p.val_source, ValSource::Test);
        assert_eq!(p.train.len(), 50);
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
    }
}
