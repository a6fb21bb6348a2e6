//! Keras-style `mnist.npz`: a zip of `x_train.npy`, `y_train.npy` and optionally `x_test.npy`,
//! `y_test.npy` (stored or deflated, as `np.savez` / `np.savez_compressed` write them).
//!
//! Images must be `uint8` of shape `(n, 28, 28)` or `(n, 784)` in C order; labels may be any
//! little-endian integer dtype of shape `(n,)` holding digits 0–9.

use std::fs::File;
use std::io::{BufReader, Read};
use std::path::Path;

use super::{DatasetError, Format, MAX_ROWS, PIXELS, SIDE, Split};
use crate::dataset::Dataset;
use crate::npy;

/// Loads a `.npz` dataset.
pub fn load(path: &Path) -> Result<Dataset, DatasetError> {
    let origin = path.display().to_string();
    let bad = |detail: String| DatasetError::Npz {
        origin: origin.clone(),
        detail,
    };
    let file = File::open(path).map_err(|source| DatasetError::Io {
        path: path.to_path_buf(),
        source,
    })?;
    let mut zip =
        zip::ZipArchive::new(BufReader::new(file)).map_err(|e| bad(format!("not a zip: {e}")))?;
    let mut entry = |name: &str| -> Result<Option<Vec<u8>>, DatasetError> {
        let mut f = match zip.by_name(name) {
            Ok(f) => f,
            Err(zip::result::ZipError::FileNotFound) => return Ok(None),
            Err(e) => return Err(bad(format!("{name}: {e}"))),
        };
        let limit = MAX_ROWS * PIXELS as u64 + 4096;
        if f.size() > limit {
            return Err(bad(format!("{name}: {} bytes is too large", f.size())));
        }
        let mut data = Vec::with_capacity(f.size() as usize);
        f.read_to_end(&mut data)
            .map_err(|e| bad(format!("{name}: corrupt or truncated: {e}")))?;
        Ok(Some(data))
    };
    let x_train = entry("x_train.npy")?.ok_or_else(|| bad("no x_train.npy".into()))?;
    let y_train = entry("y_train.npy")?.ok_or_else(|| bad("no y_train.npy".into()))?;
    let train = split(&x_train, &y_train, &origin, "x_train.npy", "y_train.npy")?;
    drop((x_train, y_train));
    let test = match (entry("x_test.npy")?, entry("y_test.npy")?) {
        (None, None) => None,
        (Some(x), Some(y)) => Some(split(&x, &y, &origin, "x_test.npy", "y_test.npy")?),
        _ => return Err(bad("x_test.npy and y_test.npy must come together".into())),
    };
    Ok(Dataset::new(train, test, Format::Npz))
}

fn split(
    x: &[u8],
    y: &[u8],
    origin: &str,
    x_name: &str,
    y_name: &str,
) -> Result<Split, DatasetError> {
    let bad = |name: &str, detail: String| DatasetError::Npz {
        origin: origin.to_string(),
        detail: format!("{name}: {detail}"),
    };
    let (xh, xd) = npy::parse(x).map_err(|e| bad(x_name, e))?;
    if !matches!(xh.descr.as_str(), "|u1" | "<u1" | ">u1") {
        return Err(bad(x_name, format!("dtype {} (expected uint8)", xh.descr)));
    }
    if xh.fortran_order {
        return Err(bad(x_name, "Fortran order is not supported".into()));
    }
    let rows = match xh.shape[..] {
        [n, h, w] if h == SIDE as u64 && w == SIDE as u64 => n,
        [n, p] if p == PIXELS as u64 => n,
        _ => {
            return Err(DatasetError::WrongShape {
                origin: format!("{origin}: {x_name}"),
                found: format!("shape {:?}", xh.shape),
            });
        }
    };
    let images = exact(xd, xh.len(), origin, x_name)?.to_vec();

    let (yh, yd) = npy::parse(y).map_err(|e| bad(y_name, e))?;
    let size = match (yh.descr.as_bytes().first(), yh.descr.as_bytes().get(1)) {
        (Some(b'|' | b'<'), Some(b'u' | b'i')) => yh.item_size(),
        _ => None,
    }
    .filter(|s| [1, 2, 4, 8].contains(s))
    .ok_or_else(|| {
        bad(
            y_name,
            format!("dtype {} (expected a little-endian integer)", yh.descr),
        )
    })?;
    if yh.shape.len() != 1 {
        return Err(bad(y_name, format!("shape {:?} (expected (n,))", yh.shape)));
    }
    if yh.shape[0] != rows {
        return Err(DatasetError::CountMismatch {
            origin: origin.to_string(),
            images: rows as usize,
            labels: yh.shape[0] as usize,
        });
    }
    let signed = yh.descr.as_bytes()[1] == b'i';
    let yd = exact(yd, yh.len() * size, origin, y_name)?;
    let mut labels = Vec::with_capacity(rows as usize);
    for (index, chunk) in yd.chunks_exact(size as usize).enumerate() {
        let mut b = [0u8; 8];
        b[..chunk.len()].copy_from_slice(chunk);
        let negative = signed && chunk[chunk.len() - 1] & 0x80 != 0;
        let value = u64::from_le_bytes(b);
        if negative || value > 9 {
            return Err(DatasetError::BadLabel {
                origin: format!("{origin}: {y_name}"),
                index,
                value,
            });
        }
        labels.push(value as u8);
    }
    Split::new(images, labels, &format!("{origin}: {x_name} / {y_name}"))
}

fn exact<'a>(
    data: &'a [u8],
    expected: u64,
    origin: &str,
    name: &str,
) -> Result<&'a [u8], DatasetError> {
    let actual = data.len() as u64;
    if actual < expected {
        Err(DatasetError::Truncated {
            origin: format!("{origin}: {name}"),
            expected,
            actual,
        })
    } else if actual > expected {
        Err(DatasetError::TrailingBytes {
            origin: format!("{origin}: {name}"),
            expected,
        })
    } else {
        Ok(data)
    }
}
