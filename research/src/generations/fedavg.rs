//! Federated averaging's combination step: the shards' models of one generation averaged,
//! weighted by shard size, into the next generation's start model.
//!
//! The result must be the same bits on every machine, so the arithmetic is fixed: for every
//! parameter, the products `rows_k × x_k` are summed in `f64` in the order given (shard index
//! order), the sum divided by the total rows, and the quotient rounded once to the model's
//! precision ([`Real`]). Each product is exact (a `Real` times an integer below 2^29 fits an
//! `f64`'s mantissa), so only the additions and the one division round, always in the same
//! order.

use mnist_app::model::{Model, Real};
use mnist_app::trainer::{EpochStats, State};

/// Why models cannot be averaged.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum FedAvgError {
    #[error("no models to average")]
    Empty,
    #[error("the shards have no rows between them")]
    NoRows,
    #[error("shard {0} has {1} rows, more than the 2^29 an exact product allows")]
    TooManyRows(usize, u64),
    #[error("the shards' states disagree on the epochs done ({0} and {1})")]
    EpochsDiffer(u64, u64),
}

/// Rows of shard `index` of `count` shards of `rows` drawn rows (the app's rule, see
/// `mnist_app::split`).
pub fn shard_rows(rows: u64, index: u64, count: u64) -> u64 {
    rows * (index + 1) / count - rows * index / count
}

/// The next generation's start state from the shards' final states (rows, state), in shard
/// order: the [`average`] model; the epochs done (which must agree); the furthest generator
/// position (so no generator word is used twice); and a history whose entries the shards share
/// (those of the start state) are kept and whose new entries are the shard-size-weighted means
/// of the shards' figures (each shard's model on its own rows and on the shared validation
/// rows — not the averaged model's).
pub fn combine(shards: &[(u64, &State)]) -> Result<State, FedAvgError> {
    let first = shards.first().ok_or(FedAvgError::Empty)?.1;
    for (_, s) in shards {
        if s.epochs_done != first.epochs_done || s.history.len() != first.history.len() {
            return Err(FedAvgError::EpochsDiffer(first.epochs_done, s.epochs_done));
        }
    }
    let models: Vec<(u64, &Model)> = shards.iter().map(|(n, s)| (*n, &s.model)).collect();
    let model = average(&models)?;
    let total = shards.iter().map(|(n, _)| *n as f64).sum::<f64>();
    let history = (0..first.history.len())
        .map(|i| {
            let e = first.history[i];
            if shards.iter().all(|(_, s)| s.history[i] == e) {
                return e;
            }
            let mean = |f: fn(&EpochStats) -> f64| {
                shards
                    .iter()
                    .map(|(n, s)| *n as f64 * f(&s.history[i]))
                    .sum::<f64>()
                    / total
            };
            EpochStats {
                epoch: e.epoch,
                train_loss: mean(|e| e.train_loss),
                train_acc: mean(|e| e.train_acc),
                val_loss: mean(|e| e.val_loss),
                val_acc: mean(|e| e.val_acc),
            }
        })
        .collect();
    Ok(State {
        model,
        epochs_done: first.epochs_done,
        rng_position: shards
            .iter()
            .map(|(_, s)| s.rng_position)
            .max()
            .unwrap_or(0),
        history,
    })
}

/// Largest shard size for which every product `rows × x` is exact in `f64`.
pub const MAX_SHARD_ROWS: u64 = 1 << 29;

/// The shard-size-weighted average of `models` (rows, model), in the given order.
pub fn average(models: &[(u64, &Model)]) -> Result<Model, FedAvgError> {
    let first = models.first().ok_or(FedAvgError::Empty)?.1;
    let mut total = 0u64;
    for (k, (rows, _)) in models.iter().enumerate() {
        if *rows > MAX_SHARD_ROWS {
            return Err(FedAvgError::TooManyRows(k, *rows));
        }
        total += rows;
    }
    if total == 0 {
        return Err(FedAvgError::NoRows);
    }
    let params =
        |m: &Model| -> Vec<Real> { m.weights.iter().flatten().chain(&m.bias).copied().collect() };
    let mut acc = vec![0f64; params(first).len()];
    for (rows, m) in models {
        let w = *rows as f64;
        for (a, x) in acc.iter_mut().zip(params(m)) {
            *a += w * f64::from(x);
        }
    }
    let total = total as f64;
    let mut out = first.clone();
    let mut it = acc.into_iter().map(|a| (a / total) as Real);
    for x in out.weights.iter_mut().flatten().chain(out.bias.iter_mut()) {
        *x = it.next().expect("same parameter count");
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn filled(v: Real) -> Model {
        let mut m = Model::zeros();
        for x in m.weights.iter_mut().flatten().chain(m.bias.iter_mut()) {
            *x = v;
        }
        m
    }

    #[test]
    fn one_model_is_returned_exactly() {
        let mut m = filled(0.1);
        m.weights[5][3] = -1.0e-30;
        m.bias[9] = Real::from_bits(0x3f80_0001);
        assert_eq!(average(&[(777, &m)]).unwrap(), m);
    }

    #[test]
    fn weights_are_shard_sizes() {
        let (a, b) = (filled(1.0), filled(2.0));
        let avg = average(&[(1, &a), (3, &b)]).unwrap();
        assert_eq!(avg, filled(1.75));
        assert_eq!(average(&[(2, &a), (2, &b)]).unwrap(), filled(1.5));
        assert_eq!(
            average(&[(0, &a), (5, &b)]).unwrap(),
            b,
            "an empty shard counts for nothing"
        );
    }

    #[test]
    fn accumulates_in_f64_and_rounds_once() {
        // 2^24 + 1 + 1: in f32 each 1 is lost to rounding (2^24 + 1 is not a Real); in f64
        // the sum is exact and the mean 5,592,406 is a Real.
        let xs: [Real; 3] = [16_777_216.0, 1.0, 1.0];
        let models: Vec<Model> = xs.iter().map(|&x| filled(x)).collect();
        let refs: Vec<(u64, &Model)> = models.iter().map(|m| (1, m)).collect();
        let expected = ((f64::from(xs[0]) + f64::from(xs[1]) + f64::from(xs[2])) / 3.0) as Real;
        let single = (xs[0] + xs[1] + xs[2]) / 3.0;
        assert_ne!(
            expected.to_bits(),
            single.to_bits(),
            "the test values must tell them apart"
        );
        assert_eq!(expected, 5_592_406.0);
        assert_eq!(average(&refs).unwrap(), filled(expected));
    }

    #[test]
    fn the_order_is_the_given_one_and_deterministic() {
        let models: Vec<Model> = (0..5).map(|i| filled(0.3 * i as Real + 0.01)).collect();
        let refs: Vec<(u64, &Model)> = models
            .iter()
            .enumerate()
            .map(|(i, m)| (100 + i as u64, m))
            .collect();
        let once = average(&refs).unwrap();
        assert_eq!(average(&refs).unwrap(), once);
        let mut expected = 0f64;
        for (rows, m) in &refs {
            expected += *rows as f64 * f64::from(m.bias[0]);
        }
        let expected = (expected / 510.0) as Real;
        assert_eq!(once.bias[0].to_bits(), expected.to_bits());
    }

    fn state(v: Real, epochs: u64, rng: u128, last_acc: f64) -> State {
        let mut history: Vec<EpochStats> = (1..=epochs)
            .map(|epoch| EpochStats {
                epoch,
                train_loss: 1.0,
                train_acc: 0.5,
                val_loss: 1.0,
                val_acc: 0.5,
            })
            .collect();
        if let Some(l) = history.last_mut() {
            l.val_acc = last_acc;
        }
        State {
            model: filled(v),
            epochs_done: epochs,
            rng_position: rng,
            history,
        }
    }

    #[test]
    fn combined_states_average_the_model_and_the_new_history() {
        let (a, b) = (state(1.0, 2, 50, 0.6), state(2.0, 2, 70, 0.9));
        let c = combine(&[(1, &a), (3, &b)]).unwrap();
        assert_eq!(c.model, filled(1.75));
        assert_eq!((c.epochs_done, c.rng_position), (2, 70));
        assert_eq!(c.history[0], a.history[0], "shared entries are kept");
        assert_eq!(c.history[1].val_acc, (0.6 + 3.0 * 0.9) / 4.0);
        assert_eq!(c.history[1].train_acc, 0.5);
        let behind = state(1.0, 1, 1, 0.5);
        assert_eq!(
            combine(&[(1, &a), (1, &behind)]),
            Err(FedAvgError::EpochsDiffer(2, 1))
        );
        assert_eq!(combine(&[]), Err(FedAvgError::Empty));
    }

    #[test]
    fn shard_rows_match_the_apps_split() {
        assert_eq!(
            (0..3).map(|i| shard_rows(31, i, 3)).collect::<Vec<_>>(),
            [10, 10, 11]
        );
        assert_eq!((0..3).map(|i| shard_rows(31, i, 3)).sum::<u64>(), 31);
        assert_eq!(shard_rows(500, 0, 1), 500);
    }

    #[test]
    fn nothing_to_average_is_an_error() {
        assert_eq!(average(&[]), Err(FedAvgError::Empty));
        let m = filled(1.0);
        assert_eq!(average(&[(0, &m), (0, &m)]), Err(FedAvgError::NoRows));
        assert_eq!(
            average(&[(1, &m), (MAX_SHARD_ROWS + 1, &m)]),
            Err(FedAvgError::TooManyRows(1, MAX_SHARD_ROWS + 1))
        );
    }
}
