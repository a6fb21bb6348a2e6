//! Loading the digits: IDX directories, Keras `.npz` files and the single-file dataset bundle.
//!
//! [`load`] auto-detects the format: a directory is read as IDX files under the standard MNIST
//! names (gzip or raw, detected by content), a file starting with the bundle magic as a
//! [`bundle`], and a file starting with a zip signature as an [`npz`]. Whatever the container,
//! the result is the same [`Dataset`] and the same [`Dataset::sha256`]: the hash covers a
//! canonical encoding (the uncompressed IDX bytes of train images, train labels and, when present,
//! test images and test labels), so a reference run on the IDX directory and a BOINC run on the
//! bundle made from it report the same dataset hash.
//!
//! Images must be 28 × 28 unsigned bytes and labels digits 0–9 (MNIST and Fashion-MNIST both
//! qualify); every violation — truncation, trailing bytes, wrong magic, count mismatch between
//! images and labels, a label of 10 — is an error naming the file.

pub mod bundle;
pub mod idx;
pub mod npz;

use std::path::{Path, PathBuf};

use sha2::{Digest, Sha256};

/// Image height and width.
pub const SIDE: usize = 28;
/// Pixels per image (the model's input size).
pub const PIXELS: usize = SIDE * SIDE;
/// Number of classes (the model's output size).
pub const CLASSES: usize = 10;

/// The standard MNIST file names, in canonical order.
pub const TRAIN_IMAGES: &str = "train-images-idx3-ubyte";
pub const TRAIN_LABELS: &str = "train-labels-idx1-ubyte";
pub const TEST_IMAGES: &str = "t10k-images-idx3-ubyte";
pub const TEST_LABELS: &str = "t10k-labels-idx1-ubyte";

/// A labelled set of images: `images` holds `len() × PIXELS` bytes, row-major.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Split {
    pub images: Vec<u8>,
    pub labels: Vec<u8>,
}

impl Split {
    /// Checks that images and labels agree and that every label is a class.
    pub fn new(images: Vec<u8>, labels: Vec<u8>, origin: &str) -> Result<Split, DatasetError> {
        if images.len() != labels.len() * PIXELS {
            return Err(DatasetError::CountMismatch {
                origin: origin.to_string(),
                images: images.len() / PIXELS,
                labels: labels.len(),
            });
        }
        if labels.is_empty() {
            return Err(DatasetError::Empty(origin.to_string()));
        }
        if let Some((index, &value)) = labels
            .iter()
            .enumerate()
            .find(|(_, l)| usize::from(**l) >= CLASSES)
        {
            return Err(DatasetError::BadLabel {
                origin: origin.to_string(),
                index,
                value: u64::from(value),
            });
        }
        Ok(Split { images, labels })
    }

    pub fn len(&self) -> usize {
        self.labels.len()
    }

    pub fn is_empty(&self) -> bool {
        self.labels.is_empty()
    }

    /// The pixels of row `i`.
    pub fn image(&self, i: usize) -> &[u8] {
        &self.images[i * PIXELS..(i + 1) * PIXELS]
    }
}

/// Which container a dataset came from (reported in metrics.json's `host` object only).
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Format {
    IdxDir,
    Npz,
    Bundle,
}

/// A loaded dataset.
#[derive(Debug, Clone)]
pub struct Dataset {
    pub train: Split,
    pub test: Option<Split>,
    /// Hex sha256 of the canonical IDX encoding (see the module docs).
    pub sha256: String,
    pub format: Format,
}

impl Dataset {
    /// Builds a dataset from its splits and computes the canonical hash.
    pub fn new(train: Split, test: Option<Split>, format: Format) -> Dataset {
        let mut hasher = Sha256::new();
        for split in std::iter::once(&train).chain(test.as_ref()) {
            hasher.update(idx::images_header(split.len()));
            hasher.update(&split.images);
            hasher.update(idx::labels_header(split.len()));
            hasher.update(&split.labels);
        }
        let sha256 = hex::encode(hasher.finalize());
        Dataset {
            train,
            test,
            sha256,
            format,
        }
    }
}

/// A dataset that cannot be used, with the file at fault.
#[derive(Debug, thiserror::Error)]
pub enum DatasetError {
    #[error("cannot read {path}: {source}")]
    Io {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
    #[error(
        "{dir}: no {name} or {name}.gz (an IDX dataset directory needs the standard MNIST file names)"
    )]
    MissingFile { dir: PathBuf, name: &'static str },
    #[error("{dir}: both {name} and {name}.gz exist; keep one")]
    Ambiguous { dir: PathBuf, name: &'static str },
    #[error("{dir}: {present} exists but {missing} does not (the test split needs both files)")]
    HalfTestSplit {
        dir: PathBuf,
        present: &'static str,
        missing: &'static str,
    },
    #[error("{origin}: corrupt or truncated gzip data: {source}")]
    Gzip {
        origin: String,
        #[source]
        source: std::io::Error,
    },
    #[error("{origin}: not an IDX {kind} file (magic {found:#010x}, expected {expected:#010x})")]
    BadMagic {
        origin: String,
        kind: &'static str,
        found: u32,
        expected: u32,
    },
    #[error("{origin}: truncated: the header announces {expected} bytes, only {actual} present")]
    Truncated {
        origin: String,
        expected: u64,
        actual: u64,
    },
    #[error("{origin}: unexpected bytes after the {expected} bytes the header announces")]
    TrailingBytes { origin: String, expected: u64 },
    #[error("{origin}: images are {found}, expected {SIDE} x {SIDE}")]
    WrongShape { origin: String, found: String },
    #[error("{origin}: {images} images but {labels} labels")]
    CountMismatch {
        origin: String,
        images: usize,
        labels: usize,
    },
    #[error("{origin}: label {value} at row {index} is not a digit 0-9")]
    BadLabel {
        origin: String,
        index: usize,
        value: u64,
    },
    #[error("{0}: the split has no rows")]
    Empty(String),
    #[error("{origin}: header announces {rows} rows, more than the {max} this app accepts")]
    TooLarge { origin: String, rows: u64, max: u64 },
    #[error("{origin}: invalid .npz: {detail}")]
    Npz { origin: String, detail: String },
    #[error("{origin}: invalid dataset bundle: {detail}")]
    Bundle { origin: String, detail: String },
    #[error(
        "{0}: not a dataset (expected an IDX directory, a dataset bundle or a Keras-style .npz)"
    )]
    UnknownFormat(PathBuf),
}

/// The most rows any split may announce; guards allocations against corrupt headers.
pub const MAX_ROWS: u64 = 1_000_000;

/// Loads a dataset from a directory, bundle or `.npz`, detecting which.
pub fn load(path: &Path) -> Result<Dataset, DatasetError> {
    let io = |source| DatasetError::Io {
        path: path.to_path_buf(),
        source,
    };
    let meta = std::fs::metadata(path).map_err(io)?;
    if meta.is_dir() {
        return idx::load_dir(path);
    }
    let mut head = [0u8; 8];
    let n = {
        use std::io::Read;
        let mut f = std::fs::File::open(path).map_err(io)?;
        let mut n = 0;
        while n < head.len() {
            match f.read(&mut head[n..]).map_err(io)? {
                0 => break,
                k => n += k,
            }
        }
        n
    };
    let head = &head[..n];
    if head.starts_with(bundle::MAGIC) {
        bundle::load(path)
    } else if head.starts_with(b"PK\x03\x04") || head.starts_with(b"PK\x05\x06") {
        npz::load(path)
    } else {
        Err(DatasetError::UnknownFormat(path.to_path_buf()))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn split_rejects_bad_labels_and_counts() {
        let e = Split::new(vec![0; PIXELS * 2], vec![1], "t").unwrap_err();
        assert!(matches!(
            e,
            DatasetError::CountMismatch {
                images: 2,
                labels: 1,
                ..
            }
        ));
        let e = Split::new(vec![0; PIXELS * 2], vec![1, 10], "t").unwrap_err();
        assert!(e.to_string().contains("label 10 at row 1"), "{e}");
        assert!(matches!(
            Split::new(vec![], vec![], "t"),
            Err(DatasetError::Empty(_))
        ));
    }

    #[test]
    fn hash_covers_content_not_container() {
        let a = Split::new(vec![7; PIXELS], vec![3], "a").unwrap();
        let b = Split::new(vec![7; PIXELS], vec![4], "b").unwrap();
        let h1 = Dataset::new(a.clone(), None, Format::IdxDir).sha256;
        let h2 = Dataset::new(a.clone(), None, Format::Npz).sha256;
        let h3 = Dataset::new(b.clone(), None, Format::IdxDir).sha256;
        let h4 = Dataset::new(a, Some(b), Format::IdxDir).sha256;
        assert_eq!(h1, h2);
        assert_ne!(h1, h3);
        assert_ne!(h1, h4);
        assert_eq!(h1.len(), 64);
    }

    #[test]
    fn unknown_file_is_rejected() {
        let dir = tempfile::tempdir().unwrap();
        let p = dir.path().join("x");
        std::fs::write(&p, b"hello world").unwrap();
        assert!(matches!(load(&p), Err(DatasetError::UnknownFormat(_))));
        let e = load(&dir.path().join("absent")).unwrap_err();
        assert!(e.to_string().contains("cannot read"), "{e}");
    }
}
