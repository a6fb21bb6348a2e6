//! `mnist evaluate`: trained weights scored on a dataset — accuracy, loss and the confusion
//! matrix — alone or as an ensemble.
//!
//! Which rows: with a job, the job's own validation rows, held-out training rows (so the
//! `val_acc` `metrics.json` reported is reproduced exactly from the exported `weights.npy`);
//! without one, the dataset's whole test split (reproducing `test_acc`), or every training row
//! when it has none. The arithmetic is the trainer's
//! ([`crate::model`]), so a single model's figures are the trainer's bit for bit.
//!
//! An ensemble averages its models' softmax outputs per row (models in the given order, `f64`
//! sums) and predicts the class of the highest mean probability (the first on a tie); its loss
//! is `-ln` of the mean probability of the true class.

use std::path::Path;

use crate::dataset::{CLASSES, Dataset, PIXELS, Split};
use crate::job::Job;
use crate::model::{Model, Real, Row, Score, argmax, pixel_scale, softmax_parts};
use crate::rng::Rng;
use crate::split::{self, PartitionError};

/// Why weights cannot be evaluated.
#[derive(Debug, thiserror::Error)]
pub enum EvalError {
    #[error("cannot read {path}: {source}")]
    Io {
        path: String,
        #[source]
        source: std::io::Error,
    },
    #[error("{path}: {msg}")]
    Weights { path: String, msg: String },
    #[error(transparent)]
    Partition(#[from] PartitionError),
}

/// Reads a `weights.npy` (`<f4`, shape `(785, 10)`: the weights, then the bias row).
pub fn load_weights(path: &Path) -> Result<Model, EvalError> {
    let bytes = std::fs::read(path).map_err(|source| EvalError::Io {
        path: path.display().to_string(),
        source,
    })?;
    let bad = |msg: String| EvalError::Weights {
        path: path.display().to_string(),
        msg,
    };
    let (h, data) = crate::npy::parse(&bytes).map_err(bad)?;
    let want = [PIXELS as u64 + 1, CLASSES as u64];
    if h.descr != "<f4" || h.fortran_order || h.shape != want {
        return Err(bad(format!(
            "expected a C-order <f4 array of shape (785, 10), got {} {:?}{}",
            h.descr,
            h.shape,
            if h.fortran_order {
                " (Fortran order)"
            } else {
                ""
            }
        )));
    }
    if data.len() != (PIXELS + 1) * CLASSES * 4 {
        return Err(bad(format!("{} data bytes, expected 31400", data.len())));
    }
    let v: Vec<Real> = data
        .chunks_exact(4)
        .map(|c| Real::from_le_bytes(c.try_into().expect("4 bytes")))
        .collect();
    let mut m = Model::zeros();
    for (i, row) in m.weights.iter_mut().enumerate() {
        row.copy_from_slice(&v[i * CLASSES..(i + 1) * CLASSES]);
    }
    m.bias.copy_from_slice(&v[PIXELS * CLASSES..]);
    Ok(m)
}

/// The rows evaluated, and what they are.
#[derive(Debug, Clone)]
pub struct EvalRows<'a> {
    pub split: &'a Split,
    pub rows: Vec<u32>,
    /// `validation rows of job seed N`, `test split`, `every training row`.
    pub what: String,
}

/// The rows to evaluate on (see the module docs).
pub fn rows<'a>(ds: &'a Dataset, job: Option<&Job>) -> Result<EvalRows<'a>, EvalError> {
    if let Some(job) = job {
        let p = split::draw(ds, job, &mut Rng::new(job.seed))?;
        return Ok(EvalRows {
            split: &ds.train,
            what: format!(
                "the {} validation rows of job seed {} (held-out training rows)",
                p.val.len(),
                job.seed,
            ),
            rows: p.val,
        });
    }
    Ok(match &ds.test {
        Some(test) => EvalRows {
            split: test,
            rows: (0..test.len() as u32).collect(),
            what: format!("the {} rows of the test split", test.len()),
        },
        None => EvalRows {
            split: &ds.train,
            rows: (0..ds.train.len() as u32).collect(),
            what: format!(
                "all {} training rows (the dataset has no test split)",
                ds.train.len()
            ),
        },
    })
}

/// Accuracy, mean loss and the confusion matrix (`confusion[true][predicted]`).
#[derive(Debug, Clone, PartialEq)]
pub struct Evaluation {
    pub rows: u64,
    pub correct: u64,
    pub loss: f64,
    pub confusion: [[u64; CLASSES]; CLASSES],
}

impl Evaluation {
    pub fn accuracy(&self) -> f64 {
        self.correct as f64 / self.rows as f64
    }
}

fn scaled(split: &Split, r: u32, scale: &[Real; 256], out: &mut [Real]) {
    for (o, p) in out.iter_mut().zip(split.image(r as usize)) {
        *o = scale[usize::from(*p)];
    }
}

/// One model on `rows`.
pub fn evaluate(model: &Model, rows: &EvalRows<'_>) -> Evaluation {
    let scale = pixel_scale();
    let mut x = vec![0.0; PIXELS];
    let mut score = Score::default();
    let mut confusion = [[0u64; CLASSES]; CLASSES];
    for &r in &rows.rows {
        scaled(rows.split, r, &scale, &mut x);
        let z = model.logits(Row::Dense(&x), &scale);
        let y = rows.split.labels[r as usize];
        score.add(&z, y);
        confusion[usize::from(y)][argmax(&z)] += 1;
    }
    Evaluation {
        rows: score.rows,
        correct: score.correct,
        loss: score.loss(),
        confusion,
    }
}

/// The ensemble of `models` (mean of their softmax outputs) on `rows`.
pub fn ensemble(models: &[Model], rows: &EvalRows<'_>) -> Evaluation {
    let scale = pixel_scale();
    let mut x = vec![0.0; PIXELS];
    let mut e = Evaluation {
        rows: 0,
        correct: 0,
        loss: 0.0,
        confusion: [[0; CLASSES]; CLASSES],
    };
    let mut loss_sum = 0.0;
    for &r in &rows.rows {
        scaled(rows.split, r, &scale, &mut x);
        let mut p = [0f64; CLASSES];
        for m in models {
            let (_, ex, s) = softmax_parts(&m.logits(Row::Dense(&x), &scale));
            for k in 0..CLASSES {
                p[k] += f64::from(ex[k] / s);
            }
        }
        let n = models.len().max(1) as f64;
        let y = usize::from(rows.split.labels[r as usize]);
        let mut best = 0;
        for k in 1..CLASSES {
            if p[k] > p[best] {
                best = k;
            }
        }
        loss_sum -= (p[y] / n).max(f64::MIN_POSITIVE).ln();
        e.correct += u64::from(best == y);
        e.confusion[y][best] += 1;
        e.rows += 1;
    }
    e.loss = loss_sum / e.rows.max(1) as f64;
    e
}

/// Writes the confusion matrix as a PNG heat map: true class down, predicted across, each
/// cell's shade its share of the true class's rows, digits along both edges.
pub fn confusion_png(e: &Evaluation, path: &Path) -> std::io::Result<()> {
    const CELL: usize = 40;
    const MARGIN: usize = 30;
    let size = MARGIN + CLASSES * CELL + 4;
    let mut px = vec![255u8; size * size * 3];
    let mut put = |x: usize, y: usize, rgb: [u8; 3]| {
        if x < size && y < size {
            px[(y * size + x) * 3..(y * size + x) * 3 + 3].copy_from_slice(&rgb);
        }
    };
    for (t, row) in e.confusion.iter().enumerate() {
        let total: u64 = row.iter().sum::<u64>().max(1);
        for (p, &n) in row.iter().enumerate() {
            let share = n as f64 / total as f64;
            // White to dark blue; the diagonal in blue, mistakes in red.
            let fade = |c: u8| (255.0 - (255.0 - f64::from(c)) * share.sqrt()).round() as u8;
            let rgb = if t == p {
                [fade(31), fade(119), fade(180)]
            } else {
                [fade(214), fade(39), fade(40)]
            };
            for dy in 1..CELL {
                for dx in 1..CELL {
                    put(MARGIN + p * CELL + dx, MARGIN + t * CELL + dy, rgb);
                }
            }
        }
        // Labels: the digit of the class, left (true) and top (predicted).
        for (bx, by) in [
            (8, MARGIN + t * CELL + CELL / 2 - 7),
            (MARGIN + t * CELL + CELL / 2 - 4, 6),
        ] {
            for (gy, bits) in DIGITS[t].iter().enumerate() {
                for gx in 0..3 {
                    if bits & (0b100 >> gx) != 0 {
                        for sy in 0..3 {
                            for sx in 0..3 {
                                put(bx + gx * 3 + sx, by + gy * 3 + sy, [0, 0, 0]);
                            }
                        }
                    }
                }
            }
        }
    }
    std::fs::write(path, png_rgb(size, size, &px))
}

/// 3 × 5 glyphs of the digits, a row of three bits per line.
const DIGITS: [[u8; 5]; 10] = [
    [0b111, 0b101, 0b101, 0b101, 0b111],
    [0b010, 0b110, 0b010, 0b010, 0b111],
    [0b111, 0b001, 0b111, 0b100, 0b111],
    [0b111, 0b001, 0b111, 0b001, 0b111],
    [0b101, 0b101, 0b111, 0b001, 0b001],
    [0b111, 0b100, 0b111, 0b001, 0b111],
    [0b111, 0b100, 0b111, 0b101, 0b111],
    [0b111, 0b001, 0b010, 0b010, 0b010],
    [0b111, 0b101, 0b111, 0b101, 0b111],
    [0b111, 0b101, 0b111, 0b001, 0b111],
];

/// An 8-bit RGB PNG of `rgb` (row-major, no filter).
fn png_rgb(w: usize, h: usize, rgb: &[u8]) -> Vec<u8> {
    use std::io::Write as _;
    fn chunk(out: &mut Vec<u8>, kind: &[u8; 4], data: &[u8]) {
        out.extend_from_slice(&(data.len() as u32).to_be_bytes());
        let mut crc = flate2::Crc::new();
        crc.update(kind);
        crc.update(data);
        out.extend_from_slice(kind);
        out.extend_from_slice(data);
        out.extend_from_slice(&crc.sum().to_be_bytes());
    }
    let mut raw = Vec::with_capacity((w * 3 + 1) * h);
    for row in rgb.chunks_exact(w * 3) {
        raw.push(0);
        raw.extend_from_slice(row);
    }
    let mut z = flate2::write::ZlibEncoder::new(Vec::new(), flate2::Compression::default());
    z.write_all(&raw).expect("writing to a Vec cannot fail");
    let idat = z.finish().expect("writing to a Vec cannot fail");
    let mut out = b"\x89PNG\r\n\x1a\n".to_vec();
    let mut ihdr = Vec::with_capacity(13);
    ihdr.extend_from_slice(&(w as u32).to_be_bytes());
    ihdr.extend_from_slice(&(h as u32).to_be_bytes());
    ihdr.extend_from_slice(&[8, 2, 0, 0, 0]);
    chunk(&mut out, b"IHDR", &ihdr);
    chunk(&mut out, b"IDAT", &idat);
    chunk(&mut out, b"IEND", &[]);
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::trainer::Trainer;

    fn data() -> Dataset {
        crate::dataset::load(&Path::new(env!("CARGO_MANIFEST_DIR")).join("data/mnist-10k")).unwrap()
    }

    #[test]
    fn exported_weights_reproduce_the_trainers_validation_figures() {
        let ds = data();
        let job = Job {
            seed: 714562,
            sample_count: 600,
            train_epochs: 2,
            batch_size: 60,
            learning_rate: 0.1,
            val_count: Some(500),
            noise_std: 0.0,
            export_weights: true,
            generation: crate::job::Generation::default(),
        };
        let (mut t, mut state) = Trainer::new(&job, &ds).unwrap();
        t.run_to_end(&mut state);
        let (_, val) = t.evaluate(&state.model);
        let dir = tempfile::tempdir().unwrap();
        let w = dir.path().join("weights.npy");
        std::fs::write(&w, crate::metrics::weights_npy(&state)).unwrap();
        let model = load_weights(&w).unwrap();
        assert_eq!(model, state.model);
        let rows = rows(&ds, Some(&job)).unwrap();
        assert_eq!(rows.rows.len(), 500);
        let e = evaluate(&model, &rows);
        assert_eq!(e.accuracy().to_bits(), val.accuracy().to_bits());
        assert_eq!(e.loss.to_bits(), val.loss().to_bits());
        let diagonal: u64 = (0..CLASSES).map(|k| e.confusion[k][k]).sum();
        assert_eq!(diagonal, e.correct);
        assert_eq!(e.confusion.iter().flatten().sum::<u64>(), 500);
        // An ensemble of one model is that model.
        let one = ensemble(std::slice::from_ref(&model), &rows);
        assert_eq!((one.correct, one.confusion), (e.correct, e.confusion));
        assert!((one.loss - e.loss).abs() < 1e-5, "{} {}", one.loss, e.loss);
        // The picture is a PNG of the expected size.
        let png = dir.path().join("c.png");
        confusion_png(&e, &png).unwrap();
        let bytes = std::fs::read(&png).unwrap();
        assert!(bytes.starts_with(b"\x89PNG\r\n\x1a\n"));
        assert_eq!(&bytes[16..24], &[0, 0, 1, 178, 0, 0, 1, 178]);
    }

    #[test]
    fn weights_of_another_shape_are_refused() {
        let dir = tempfile::tempdir().unwrap();
        let w = dir.path().join("w.npy");
        let mut out = Vec::new();
        crate::npy::write_f32(&mut out, &[784, 10], &[0.0; 7840]).unwrap();
        std::fs::write(&w, out).unwrap();
        let e = load_weights(&w).unwrap_err().to_string();
        assert!(e.contains("shape (785, 10)"), "{e}");
    }
}
