//! Softmax regression 784 → 10 and its arithmetic, written as plain loops in a fixed order.
//!
//! Why no BLAS or `ndarray::dot`: those pick SIMD/FMA kernels at run time from the CPU they find,
//! and a fused multiply-add rounds differently from a multiply then an add, so two volunteers'
//! results would differ in the last bits. Here every sum runs in a documented order with separate
//! multiplies and adds (Rust never contracts them into FMA), `exp`/`ln` come from `libm`, and the
//! compiler may only vectorise the element-wise inner loops over the 10 classes, which does not
//! change any result. Under these rules the same inputs give the same bits on every x86_64 CPU.
//!
//! Order of operations (this is the definition, tests pin it):
//! - logits: `z[k] = b[k]`, then for pixel `i` ascending `z[k] += x[i] * W[i][k]`. Zero pixels are
//!   skipped: adding `0 * w` to a sum that is never `-0.0` leaves it unchanged, so the sparse and
//!   the dense loop give identical bits (a test checks this).
//! - softmax: `m = max z`, `e[k] = exp(z[k] - m)`, `s = Σ e[k]` (k ascending), `p[k] = e[k] / s`.
//! - loss of one row: `ln(s) - (z[y] - m)`; accuracy counts `argmax z == y` (first maximum wins).
//! - SGD step on a batch of `B` rows: `d[k] = (p[k] - [k == y]) / B`; `gW[i][k] += x[i] * d[k]`
//!   and `gb[k] += d[k]`, rows in batch order; then `W -= lr * gW`, `b -= lr * gb`.

// Index loops over the 10 classes mirror the formulas above and touch several arrays at once.
#![allow(clippy::needless_range_loop)]

use crate::dataset::{CLASSES, PIXELS};

/// The floating-point type of the model and its arithmetic.
///
/// Single precision: the weights (31 KB) then fit in a core's L1 cache and twice as many lanes
/// fit in a vector register, which is most of the app's speed. Softmax regression on [0, 1]
/// pixels is well conditioned, so accuracy is unaffected; losses are summed in `f64`.
pub type Real = f32;

/// `exp` in [`Real`] precision (the pure-Rust `libm`, the same on every CPU).
#[inline]
pub fn exp(x: Real) -> Real {
    libm::expf(x)
}

/// Natural logarithm in [`Real`] precision (`libm`).
#[inline]
pub fn ln(x: Real) -> Real {
    libm::logf(x)
}

/// `pixel / 255` for every byte value: inputs scaled to [0, 1].
pub fn pixel_scale() -> [Real; 256] {
    std::array::from_fn(|p| p as Real / 255.0)
}

/// Weights `W` (`PIXELS` rows; row `i` holds pixel `i`'s 10 weights) and bias.
#[derive(Debug, Clone, PartialEq)]
pub struct Model {
    pub weights: Vec<[Real; CLASSES]>,
    pub bias: [Real; CLASSES],
}

impl Default for Model {
    fn default() -> Self {
        Model::zeros()
    }
}

/// One row as the model sees it.
#[derive(Debug, Clone, Copy)]
pub enum Row<'a> {
    /// Non-zero pixels only: ascending indices and their byte values.
    Sparse { index: &'a [u16], value: &'a [u8] },
    /// All 784 scaled pixels.
    Dense(&'a [Real]),
}

impl Model {
    /// The zero-initialised model.
    pub fn zeros() -> Model {
        Model {
            weights: vec![[0.0; CLASSES]; PIXELS],
            bias: [0.0; CLASSES],
        }
    }

    /// The logits of one row.
    #[inline]
    pub fn logits(&self, row: Row<'_>, scale: &[Real; 256]) -> [Real; CLASSES] {
        let mut z = self.bias;
        match row {
            Row::Sparse { index, value } => {
                for (&i, &v) in index.iter().zip(value) {
                    let x = scale[usize::from(v)];
                    let w = &self.weights[usize::from(i)];
                    for k in 0..CLASSES {
                        z[k] += x * w[k];
                    }
                }
            }
            Row::Dense(xs) => {
                for (x, w) in xs.iter().zip(&self.weights) {
                    if *x != 0.0 {
                        for k in 0..CLASSES {
                            z[k] += x * w[k];
                        }
                    }
                }
            }
        }
        z
    }

    /// The logits of two rows. Each row's sums run in exactly the order [`Model::logits`] uses, so
    /// the results are bit-identical to two single calls; interleaving the two independent
    /// chains of additions only lets the CPU overlap them.
    #[inline]
    pub fn logits_pair(
        &self,
        a: Row<'_>,
        b: Row<'_>,
        scale: &[Real; 256],
    ) -> ([Real; CLASSES], [Real; CLASSES]) {
        let (
            Row::Sparse {
                index: ia,
                value: va,
            },
            Row::Sparse {
                index: ib,
                value: vb,
            },
        ) = (a, b)
        else {
            return (self.logits(a, scale), self.logits(b, scale));
        };
        let mut za = self.bias;
        let mut zb = self.bias;
        let n = ia.len().min(ib.len());
        for ((&i1, &v1), (&i2, &v2)) in ia.iter().zip(va).zip(ib.iter().zip(vb)) {
            let (x1, x2) = (scale[usize::from(v1)], scale[usize::from(v2)]);
            let (w1, w2) = (
                &self.weights[usize::from(i1)],
                &self.weights[usize::from(i2)],
            );
            for k in 0..CLASSES {
                za[k] += x1 * w1[k];
                zb[k] += x2 * w2[k];
            }
        }
        for (z, index, value) in [(&mut za, ia, va), (&mut zb, ib, vb)] {
            for (&i, &v) in index[n..].iter().zip(&value[n..]) {
                let x = scale[usize::from(v)];
                let w = &self.weights[usize::from(i)];
                for k in 0..CLASSES {
                    z[k] += x * w[k];
                }
            }
        }
        (za, zb)
    }

    /// Flattens weights then bias into the `(PIXELS + 1) × CLASSES` matrix that
    /// `weights.npy` holds (the last row is the bias).
    pub fn to_matrix(&self) -> Vec<Real> {
        let mut m: Vec<Real> = self.weights.iter().flatten().copied().collect();
        m.extend_from_slice(&self.bias);
        m
    }
}

/// Softmax pieces of a logit vector: the max, the shifted exponentials and their sum.
#[inline]
pub fn softmax_parts(z: &[Real; CLASSES]) -> (Real, [Real; CLASSES], Real) {
    let m = z.iter().copied().fold(Real::NEG_INFINITY, Real::max);
    let mut e = [0.0; CLASSES];
    let mut s = 0.0;
    for k in 0..CLASSES {
        e[k] = exp(z[k] - m);
        s += e[k];
    }
    (m, e, s)
}

/// Index of the first maximum.
#[inline]
pub fn argmax(z: &[Real; CLASSES]) -> usize {
    let mut best = 0;
    for k in 1..CLASSES {
        if z[k] > z[best] {
            best = k;
        }
    }
    best
}

/// Accumulated loss and accuracy over rows, summed in row order.
#[derive(Debug, Clone, Copy, Default, PartialEq)]
pub struct Score {
    pub rows: u64,
    pub correct: u64,
    pub loss_sum: f64,
}

impl Score {
    pub fn add(&mut self, z: &[Real; CLASSES], label: u8) {
        let (m, _, s) = softmax_parts(z);
        let y = usize::from(label);
        self.loss_sum += f64::from(ln(s) - (z[y] - m));
        self.correct += u64::from(argmax(z) == y);
        self.rows += 1;
    }

    pub fn accuracy(&self) -> f64 {
        self.correct as f64 / self.rows as f64
    }

    pub fn loss(&self) -> f64 {
        self.loss_sum / self.rows as f64
    }
}

/// Gradient buffers for one SGD step, reused across steps.
#[derive(Debug, Clone)]
pub struct Step {
    grad_w: Vec<[Real; CLASSES]>,
    grad_b: [Real; CLASSES],
    batch: Real,
}

impl Step {
    pub fn new() -> Step {
        Step {
            grad_w: vec![[0.0; CLASSES]; PIXELS],
            grad_b: [0.0; CLASSES],
            batch: 1.0,
        }
    }

    /// Starts a batch of `size` rows.
    pub fn begin(&mut self, size: usize) {
        self.grad_w.fill([0.0; CLASSES]);
        self.grad_b = [0.0; CLASSES];
        self.batch = size as Real;
    }

    /// Adds one row's gradient (computed with the model as it was at the start of the batch).
    #[inline]
    pub fn add(&mut self, model: &Model, row: Row<'_>, label: u8, scale: &[Real; 256]) {
        let z = model.logits(row, scale);
        self.add_with_logits(&z, row, label, scale);
    }

    /// Adds the gradients of two consecutive rows of the batch, in order (the same result as two
    /// [`Step::add`] calls, with the two forward passes overlapped).
    #[inline]
    pub fn add_pair(
        &mut self,
        model: &Model,
        (a, label_a): (Row<'_>, u8),
        (b, label_b): (Row<'_>, u8),
        scale: &[Real; 256],
    ) {
        let (za, zb) = model.logits_pair(a, b, scale);
        self.add_with_logits(&za, a, label_a, scale);
        self.add_with_logits(&zb, b, label_b, scale);
    }

    fn add_with_logits(
        &mut self,
        z: &[Real; CLASSES],
        row: Row<'_>,
        label: u8,
        scale: &[Real; 256],
    ) {
        let (_, e, s) = softmax_parts(z);
        let mut d = [0.0; CLASSES];
        for k in 0..CLASSES {
            let target = if k == usize::from(label) { 1.0 } else { 0.0 };
            d[k] = (e[k] / s - target) / self.batch;
        }
        match row {
            Row::Sparse { index, value } => {
                for (&i, &v) in index.iter().zip(value) {
                    let x = scale[usize::from(v)];
                    let g = &mut self.grad_w[usize::from(i)];
                    for k in 0..CLASSES {
                        g[k] += x * d[k];
                    }
                }
            }
            Row::Dense(xs) => {
                for (x, g) in xs.iter().zip(self.grad_w.iter_mut()) {
                    if *x != 0.0 {
                        for k in 0..CLASSES {
                            g[k] += x * d[k];
                        }
                    }
                }
            }
        }
        for k in 0..CLASSES {
            self.grad_b[k] += d[k];
        }
    }

    /// Applies the accumulated gradient: `W -= lr * gW`, `b -= lr * gb`.
    pub fn apply(&self, model: &mut Model, lr: Real) {
        for (w, g) in model.weights.iter_mut().zip(&self.grad_w) {
            for k in 0..CLASSES {
                w[k] -= lr * g[k];
            }
        }
        for k in 0..CLASSES {
            model.bias[k] -= lr * self.grad_b[k];
        }
    }
}

impl Default for Step {
    fn default() -> Self {
        Step::new()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn sparse_of(pixels: &[u8]) -> (Vec<u16>, Vec<u8>) {
        pixels
            .iter()
            .enumerate()
            .filter(|(_, p)| **p != 0)
            .map(|(i, p)| (i as u16, *p))
            .unzip()
    }

    #[test]
    fn zero_model_gives_uniform_softmax_and_ln10_loss() {
        let m = Model::zeros();
        let scale = pixel_scale();
        let x = vec![0.5; PIXELS];
        let z = m.logits(Row::Dense(&x), &scale);
        assert_eq!(z, [0.0; CLASSES]);
        let mut s = Score::default();
        s.add(&z, 3);
        assert_eq!(s.loss(), f64::from(ln(10.0)));
        assert_eq!(argmax(&z), 0, "ties go to the first class");
        assert_eq!(s.accuracy(), 0.0);
    }

    /// Hand-computed first step: two rows, each with a single lit pixel, batch 2, lr 1.
    /// With zero weights p = 0.1 everywhere, so d[k] = (0.1 - [k == y]) / 2.
    #[test]
    fn first_sgd_step_by_hand() {
        let scale = pixel_scale();
        let mut m = Model::zeros();
        let mut a = vec![0u8; PIXELS];
        a[5] = 255; // x = 1.0
        let mut b = vec![0u8; PIXELS];
        b[7] = 51; // x = 0.2
        let (ai, av) = sparse_of(&a);
        let (bi, bv) = sparse_of(&b);
        let mut step = Step::new();
        step.begin(2);
        step.add(
            &m,
            Row::Sparse {
                index: &ai,
                value: &av,
            },
            2,
            &scale,
        );
        step.add(
            &m,
            Row::Sparse {
                index: &bi,
                value: &bv,
            },
            9,
            &scale,
        );
        step.apply(&mut m, 1.0);
        let p = exp(0.0) / 10.0; // exactly how the code forms 0.1
        let d = |k: usize, y: usize| (p - if k == y { 1.0 } else { 0.0 }) / 2.0;
        for k in 0..CLASSES {
            assert_eq!(m.weights[5][k], 0.0 - 1.0 * (1.0 * d(k, 2)));
            assert_eq!(m.weights[7][k], 0.0 - 1.0 * ((51.0 / 255.0) * d(k, 9)));
            assert_eq!(m.bias[k], 0.0 - (0.0 + d(k, 2) + d(k, 9)));
        }
        // Untouched pixels keep zero weights; the true classes gained.
        assert!(m.weights[..5].iter().flatten().all(|w| *w == 0.0));
        assert!((m.weights[5][2] - 0.45).abs() < 1e-7);
        assert!((m.bias[0] - -0.1).abs() < 1e-7);
        assert!((m.bias[2] - 0.4).abs() < 1e-7);
        // After the step the first row scores its own class highest.
        let z = m.logits(
            Row::Sparse {
                index: &ai,
                value: &av,
            },
            &scale,
        );
        assert_eq!(argmax(&z), 2);
    }

    #[test]
    fn sparse_and_dense_paths_agree_bitwise() {
        let scale = pixel_scale();
        let mut rng = crate::rng::Rng::new(5);
        let mut m = Model::zeros();
        for w in m.weights.iter_mut().flatten() {
            *w = (rng.unit() - 0.5) as Real;
        }
        m.bias = std::array::from_fn(|k| k as Real * 0.01);
        let pixels: Vec<u8> = (0..PIXELS)
            .map(|_| {
                if rng.below(4) == 0 {
                    rng.below(256) as u8
                } else {
                    0
                }
            })
            .collect();
        let (idx, val) = sparse_of(&pixels);
        let dense: Vec<Real> = pixels.iter().map(|p| scale[usize::from(*p)]).collect();
        let zs = m.logits(
            Row::Sparse {
                index: &idx,
                value: &val,
            },
            &scale,
        );
        let zd = m.logits(Row::Dense(&dense), &scale);
        assert_eq!(zs.map(Real::to_bits), zd.map(Real::to_bits));

        let (mut s1, mut s2) = (Step::new(), Step::new());
        s1.begin(1);
        s2.begin(1);
        s1.add(
            &m,
            Row::Sparse {
                index: &idx,
                value: &val,
            },
            4,
            &scale,
        );
        s2.add(&m, Row::Dense(&dense), 4, &scale);
        let (mut m1, mut m2) = (m.clone(), m.clone());
        s1.apply(&mut m1, 0.3);
        s2.apply(&mut m2, 0.3);
        assert_eq!(m1, m2);
    }

    #[test]
    fn paired_rows_match_single_rows_bitwise() {
        let scale = pixel_scale();
        let mut rng = crate::rng::Rng::new(11);
        let mut m = Model::zeros();
        for w in m.weights.iter_mut().flatten() {
            *w = (rng.unit() - 0.5) as Real;
        }
        let mut image = |density: u64| -> Vec<u8> {
            (0..PIXELS)
                .map(|_| {
                    if rng.below(density) == 0 {
                        rng.below(256) as u8
                    } else {
                        0
                    }
                })
                .collect()
        };
        let (a, b) = (image(3), image(7)); // different lengths: both tails are exercised
        let (ai, av) = sparse_of(&a);
        let (bi, bv) = sparse_of(&b);
        let ra = Row::Sparse {
            index: &ai,
            value: &av,
        };
        let rb = Row::Sparse {
            index: &bi,
            value: &bv,
        };
        let (za, zb) = m.logits_pair(ra, rb, &scale);
        assert_eq!(
            za.map(Real::to_bits),
            m.logits(ra, &scale).map(Real::to_bits)
        );
        let (zb2, za2) = m.logits_pair(rb, ra, &scale);
        assert_eq!(
            zb.map(Real::to_bits),
            m.logits(rb, &scale).map(Real::to_bits)
        );
        assert_eq!((za2, zb2), (za, zb));

        let (mut single, mut paired) = (Step::new(), Step::new());
        single.begin(2);
        paired.begin(2);
        single.add(&m, ra, 1, &scale);
        single.add(&m, rb, 8, &scale);
        paired.add_pair(&m, (ra, 1), (rb, 8), &scale);
        let (mut m1, mut m2) = (m.clone(), m.clone());
        single.apply(&mut m1, 0.7);
        paired.apply(&mut m2, 0.7);
        assert_eq!(m1, m2);
    }

    #[test]
    fn softmax_is_stable_for_large_logits() {
        let mut z = [0.0; CLASSES];
        z[4] = 1000.0;
        z[1] = 999.0;
        let (m, e, s) = softmax_parts(&z);
        assert_eq!(m, 1000.0);
        assert_eq!(e[4], 1.0);
        assert!(s.is_finite() && s > 1.0);
        let mut score = Score::default();
        score.add(&z, 1);
        assert!((score.loss() - (1.0 + (1.0 + (-1.0f64).exp()).ln())).abs() < 1e-6);
    }
}
