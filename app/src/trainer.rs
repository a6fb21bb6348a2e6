//! The training loop: epochs of shuffled minibatch SGD, each followed by a full evaluation.
//!
//! The generator is used in this order: the [`split`](crate::split) draws, then per epoch one
//! Fisher–Yates shuffle of the training rows (starting from draw order each time), then — only
//! when `noise_std > 0` — 392 normal pairs per training row in batch order, giving pixels
//! `2j` and `2j + 1` their noise; a noisy pixel is `clamp(x + noise_std * n, 0, 1)`, computed in
//! `f64` and rounded to the model's precision. After each
//! epoch the loss and accuracy of the clean training rows and of the validation rows are
//! recorded. The test split is not touched during training: [`Trainer::test_score`] scores the
//! finished model on it once, at the end of the job. The whole state between epochs is [`State`]: the model, the epoch count, the history
//! and the generator's position — exactly what a checkpoint needs to resume bit for bit.

use serde::Serialize;

use crate::dataset::{CLASSES, Dataset, PIXELS, Split};
use crate::job::Job;
use crate::model::{Model, Real, Row, Score, Step, pixel_scale};
use crate::rng::Rng;
use crate::split::{self, Partition, PartitionError};

/// Metrics recorded after one epoch.
#[derive(Debug, Clone, Copy, PartialEq, Serialize)]
pub struct EpochStats {
    /// 1-based epoch number.
    pub epoch: u64,
    pub train_loss: f64,
    pub train_acc: f64,
    pub val_loss: f64,
    pub val_acc: f64,
}

/// Everything that changes between epochs.
#[derive(Debug, Clone, PartialEq)]
pub struct State {
    pub model: Model,
    pub epochs_done: u64,
    /// The generator's word position (see [`Rng::position`]).
    pub rng_position: u128,
    pub history: Vec<EpochStats>,
}

/// What a progress hook tells the trainer.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Flow {
    Continue,
    Stop,
}

/// The hook asked to stop mid-epoch; the state is as it was before the epoch.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Stopped;

/// Rows stored sparsely: only non-zero pixels (about a fifth of an MNIST digit).
#[derive(Debug, Clone)]
struct SparseRows {
    offsets: Vec<usize>,
    index: Vec<u16>,
    value: Vec<u8>,
    labels: Vec<u8>,
}

impl SparseRows {
    fn new(split: &Split, rows: &[u32]) -> SparseRows {
        let mut s = SparseRows {
            offsets: Vec::with_capacity(rows.len() + 1),
            index: Vec::new(),
            value: Vec::new(),
            labels: Vec::with_capacity(rows.len()),
        };
        s.offsets.push(0);
        for &r in rows {
            // Most of a digit is background: skip all-zero runs of 8 pixels at once.
            for (c, chunk) in split.image(r as usize).chunks_exact(8).enumerate() {
                if u64::from_ne_bytes(chunk.try_into().expect("8 bytes")) == 0 {
                    continue;
                }
                for (j, &p) in chunk.iter().enumerate() {
                    if p != 0 {
                        s.index.push((c * 8 + j) as u16);
                        s.value.push(p);
                    }
                }
            }
            s.offsets.push(s.index.len());
            s.labels.push(split.labels[r as usize]);
        }
        s
    }

    fn len(&self) -> usize {
        self.labels.len()
    }

    fn row(&self, i: usize) -> Row<'_> {
        let (a, b) = (self.offsets[i], self.offsets[i + 1]);
        Row::Sparse {
            index: &self.index[a..b],
            value: &self.value[a..b],
        }
    }

    fn score(&self, model: &Model, scale: &[Real; 256]) -> Score {
        let mut score = Score::default();
        let n = self.len();
        for i in (0..n - n % 2).step_by(2) {
            let (za, zb) = model.logits_pair(self.row(i), self.row(i + 1), scale);
            score.add(&za, self.labels[i]);
            score.add(&zb, self.labels[i + 1]);
        }
        if n % 2 == 1 {
            score.add(&model.logits(self.row(n - 1), scale), self.labels[n - 1]);
        }
        score
    }
}

/// A job bound to its dataset, ready to run epochs.
#[derive(Debug)]
pub struct Trainer<'a> {
    job: &'a Job,
    train_split: &'a Split,
    test_split: Option<&'a Split>,
    partition: Partition,
    train: SparseRows,
    val: SparseRows,
    scale: [Real; 256],
    step: Step,
    noisy: Vec<Real>,
}

impl<'a> Trainer<'a> {
    /// Draws the partition and returns the trainer with the initial state (zero model).
    pub fn new(job: &'a Job, ds: &'a Dataset) -> Result<(Trainer<'a>, State), PartitionError> {
        let mut rng = Rng::new(job.seed);
        let partition = split::draw(ds, job, &mut rng)?;
        let trainer = Trainer {
            job,
            train_split: &ds.train,
            test_split: ds.test.as_ref(),
            train: SparseRows::new(&ds.train, &partition.train),
            val: SparseRows::new(&ds.train, &partition.val),
            partition,
            scale: pixel_scale(),
            step: Step::new(),
            noisy: vec![0.0; PIXELS],
        };
        let state = State {
            model: Model::zeros(),
            epochs_done: 0,
            rng_position: rng.position(),
            history: Vec::new(),
        };
        Ok((trainer, state))
    }

    pub fn partition(&self) -> &Partition {
        &self.partition
    }

    /// SGD steps per epoch.
    pub fn batches_per_epoch(&self) -> u64 {
        (self.train.len() as u64).div_ceil(self.job.batch_size)
    }

    /// Runs the next epoch. `hook` is called before every batch with the fraction of the epoch
    /// done; if it answers [`Flow::Stop`] the epoch is abandoned and `state` left unchanged.
    pub fn run_epoch(
        &mut self,
        state: &mut State,
        hook: &mut dyn FnMut(f64) -> Flow,
    ) -> Result<(), Stopped> {
        let mut rng = Rng::at(self.job.seed, state.rng_position);
        let mut order: Vec<u32> = (0..self.train.len() as u32).collect();
        rng.shuffle(&mut order);
        let mut model = state.model.clone();
        let batches = self.batches_per_epoch() as f64;
        let noise = self.job.noise_std;
        for (b, chunk) in order.chunks(self.job.batch_size as usize).enumerate() {
            if hook(b as f64 / batches) == Flow::Stop {
                return Err(Stopped);
            }
            self.step.begin(chunk.len());
            if noise > 0.0 {
                self.add_noisy_rows(&model, chunk, &mut rng);
            } else {
                self.add_clean_rows(&model, chunk);
            }
            self.step.apply(&mut model, self.job.learning_rate as Real);
        }
        let (train, val) = self.evaluate(&model);
        state.epochs_done += 1;
        state.history.push(EpochStats {
            epoch: state.epochs_done,
            train_loss: train.loss(),
            train_acc: train.accuracy(),
            val_loss: val.loss(),
            val_acc: val.accuracy(),
        });
        state.model = model;
        state.rng_position = rng.position();
        Ok(())
    }

    /// Accumulates the gradients of clean rows, two at a time (same bits as one at a time).
    fn add_clean_rows(&mut self, model: &Model, chunk: &[u32]) {
        let rows = &self.train;
        let mut pairs = chunk.chunks_exact(2);
        for pair in &mut pairs {
            let (a, b) = (pair[0] as usize, pair[1] as usize);
            self.step.add_pair(
                model,
                (rows.row(a), rows.labels[a]),
                (rows.row(b), rows.labels[b]),
                &self.scale,
            );
        }
        for &r in pairs.remainder() {
            let r = r as usize;
            self.step
                .add(model, rows.row(r), rows.labels[r], &self.scale);
        }
    }

    /// Accumulates the gradients of rows with fresh Gaussian pixel noise.
    fn add_noisy_rows(&mut self, model: &Model, chunk: &[u32], rng: &mut Rng) {
        let noise = self.job.noise_std;
        for &r in chunk {
            let r = r as usize;
            let pixels = self.train_split.image(self.partition.train[r] as usize);
            for (j, pair) in pixels.chunks_exact(2).enumerate() {
                let (n0, n1) = rng.normal_pair();
                let x0 = f64::from(self.scale[usize::from(pair[0])]) + noise * n0;
                let x1 = f64::from(self.scale[usize::from(pair[1])]) + noise * n1;
                self.noisy[2 * j] = x0.clamp(0.0, 1.0) as Real;
                self.noisy[2 * j + 1] = x1.clamp(0.0, 1.0) as Real;
            }
            self.step.add(
                model,
                Row::Dense(&self.noisy),
                self.train.labels[r],
                &self.scale,
            );
        }
    }

    /// Scores a model on the clean training rows and on the validation rows.
    pub fn evaluate(&self, model: &Model) -> (Score, Score) {
        (
            self.train.score(model, &self.scale),
            self.val.score(model, &self.scale),
        )
    }

    /// Scores a model on the whole test split, in row order; `None` when the dataset has none.
    /// Called once, on the finished model.
    pub fn test_score(&self, model: &Model) -> Option<Score> {
        let test = self.test_split?;
        let rows: Vec<u32> = (0..test.len() as u32).collect();
        Some(SparseRows::new(test, &rows).score(model, &self.scale))
    }

    /// Runs all remaining epochs without interruption.
    pub fn run_to_end(&mut self, state: &mut State) {
        while state.epochs_done < self.job.train_epochs {
            self.run_epoch(state, &mut |_| Flow::Continue)
                .expect("the hook never stops");
        }
    }
}

/// Fraction of the whole job done, given completed epochs and progress within the current one.
pub fn fraction_done(job: &Job, epochs_done: u64, within_epoch: f64) -> f64 {
    ((epochs_done as f64 + within_epoch) / job.train_epochs as f64).min(1.0)
}

/// Number of model parameters (weights then bias) as exported.
pub const PARAMETERS: usize = (PIXELS + 1) * CLASSES;

#[cfg(test)]
mod tests {
    use super::*;
    use crate::dataset::Format;

    /// Thirty training rows (three per class) and a twenty-row test split, each row a class
    /// whose pixels light a distinct block: linearly separable.
    fn toy() -> Dataset {
        let split = |rows: usize| {
            let mut images = vec![0u8; rows * PIXELS];
            let mut labels = Vec::new();
            for r in 0..rows {
                let class = r % 10;
                for i in 0..40 {
                    images[r * PIXELS + class * 70 + i] = (100 + r * 3 + i) as u8;
                }
                labels.push(class as u8);
            }
            Split::new(images, labels, "toy").unwrap()
        };
        Dataset::new(split(30), Some(split(20)), Format::IdxDir)
    }

    fn job(noise: f64) -> Job {
        Job {
            seed: 3,
            sample_count: 20,
            train_epochs: 5,
            batch_size: 6,
            learning_rate: 0.5,
            val_count: None,
            noise_std: noise,
            export_weights: false,
            generation: crate::job::Generation::default(),
        }
    }

    #[test]
    fn learns_a_separable_toy_problem() {
        let ds = toy();
        let job = job(0.0);
        let (mut t, mut s) = Trainer::new(&job, &ds).unwrap();
        assert_eq!(t.batches_per_epoch(), 4);
        t.run_to_end(&mut s);
        assert_eq!(s.history.len(), 5);
        let last = s.history.last().unwrap();
        assert_eq!(last.train_acc, 1.0);
        // Held-out rows of a class the 20 drawn rows may lack cannot all be right; the rest are.
        assert_eq!(t.partition().val.len(), 10);
        assert!(last.val_acc >= 0.5, "{}", last.val_acc);
        let test = t.test_score(&s.model).unwrap();
        assert_eq!(test.rows, 20);
        assert!(test.accuracy() >= 0.5, "{}", test.accuracy());
        assert!(s.history[0].train_loss < libm::log(10.0));
        assert!(last.train_loss < s.history[0].train_loss);
    }

    #[test]
    fn stop_leaves_state_untouched_and_resume_is_bitwise() {
        let ds = toy();
        for noise in [0.0, 0.2] {
            let job = job(noise);
            let (mut t, mut straight) = Trainer::new(&job, &ds).unwrap();
            t.run_to_end(&mut straight);

            let (mut t, mut s) = Trainer::new(&job, &ds).unwrap();
            t.run_epoch(&mut s, &mut |_| Flow::Continue).unwrap();
            let saved = s.clone();
            let mut calls = 0;
            let stopped = t.run_epoch(&mut s, &mut |_| {
                calls += 1;
                if calls == 3 {
                    Flow::Stop
                } else {
                    Flow::Continue
                }
            });
            assert_eq!(stopped, Err(Stopped));
            assert_eq!(s, saved);
            // A fresh trainer (as after a restart) continues from the saved state.
            let (mut t2, _) = Trainer::new(&job, &ds).unwrap();
            t2.run_to_end(&mut s);
            assert_eq!(s, straight, "noise {noise}");
        }
    }

    #[test]
    fn noise_changes_the_result_and_uses_the_generator() {
        let ds = toy();
        let (clean, noisy) = (job(0.0), job(0.3));
        let (mut t, mut a) = Trainer::new(&clean, &ds).unwrap();
        t.run_to_end(&mut a);
        let (mut t, mut b) = Trainer::new(&noisy, &ds).unwrap();
        t.run_to_end(&mut b);
        assert_ne!(a.model, b.model);
        assert!(b.rng_position > a.rng_position);
    }

    #[test]
    fn fraction_done_is_monotone_and_capped() {
        let j = job(0.0);
        assert_eq!(fraction_done(&j, 0, 0.0), 0.0);
        assert_eq!(fraction_done(&j, 2, 0.5), 0.5);
        assert_eq!(fraction_done(&j, 5, 0.0), 1.0);
    }
}
