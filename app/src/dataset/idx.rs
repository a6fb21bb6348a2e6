//! The IDX format of the MNIST distribution, plain or gzip-compressed.
//!
//! An IDX file is a big-endian header — magic `0x0000_08NN` (unsigned bytes, `NN` dimensions) and
//! one `u32` per dimension — followed by exactly the announced number of bytes. Compression is
//! detected from the gzip signature rather than the file name, so a raw file called `.gz` (or the
//! reverse) still loads. Reads are bounded by the announced size, so a corrupt header cannot make
//! the loader allocate more than the data that is actually there.

use std::fs::File;
use std::io::{BufReader, Read};
use std::path::{Path, PathBuf};

use flate2::read::GzDecoder;

use super::{
    DatasetError, Format, MAX_ROWS, SIDE, Split, TEST_IMAGES, TEST_LABELS, TRAIN_IMAGES,
    TRAIN_LABELS,
};
use crate::dataset::Dataset;

/// Magic of an IDX file of unsigned bytes with three dimensions (images).
pub const IMAGES_MAGIC: u32 = 0x0000_0803;
/// Magic of an IDX file of unsigned bytes with one dimension (labels).
pub const LABELS_MAGIC: u32 = 0x0000_0801;

/// The header of a canonical images file holding `rows` 28 × 28 images.
pub fn images_header(rows: usize) -> [u8; 16] {
    let mut h = [0u8; 16];
    h[..4].copy_from_slice(&IMAGES_MAGIC.to_be_bytes());
    h[4..8].copy_from_slice(&(rows as u32).to_be_bytes());
    h[8..12].copy_from_slice(&(SIDE as u32).to_be_bytes());
    h[12..16].copy_from_slice(&(SIDE as u32).to_be_bytes());
    h
}

/// The header of a canonical labels file holding `rows` labels.
pub fn labels_header(rows: usize) -> [u8; 8] {
    let mut h = [0u8; 8];
    h[..4].copy_from_slice(&LABELS_MAGIC.to_be_bytes());
    h[4..8].copy_from_slice(&(rows as u32).to_be_bytes());
    h
}

/// Which of the two IDX files a reader expects.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Kind {
    Images,
    Labels,
}

impl Kind {
    fn magic(self) -> u32 {
        match self {
            Kind::Images => IMAGES_MAGIC,
            Kind::Labels => LABELS_MAGIC,
        }
    }
    fn name(self) -> &'static str {
        match self {
            Kind::Images => "images",
            Kind::Labels => "labels",
        }
    }
}

/// Reads one IDX file (gzip or raw) and returns its payload: `rows × 784` pixels for images,
/// `rows` labels for labels. `origin` names the file in errors.
pub(crate) fn read(reader: impl Read, kind: Kind, origin: &str) -> Result<Vec<u8>, DatasetError> {
    let mut reader = reader;
    let mut sig = [0u8; 2];
    let got = fill(&mut reader, &mut sig).map_err(|source| io_err(origin, source))?;
    let chained = (&sig[..got]).chain(reader);
    if got == 2 && sig == [0x1f, 0x8b] {
        read_plain(GzDecoder::new(chained), kind, origin).map_err(|e| match e {
            DatasetError::Io { source, .. } => DatasetError::Gzip {
                origin: origin.to_string(),
                source,
            },
            other => other,
        })
    } else {
        read_plain(chained, kind, origin)
    }
}

fn read_plain(mut r: impl Read, kind: Kind, origin: &str) -> Result<Vec<u8>, DatasetError> {
    let ndims = if kind == Kind::Images { 3 } else { 1 };
    let header_len = 4 + 4 * ndims;
    let mut header = [0u8; 16];
    let got = fill(&mut r, &mut header[..header_len]).map_err(|e| io_err(origin, e))?;
    if got < 4 {
        return Err(DatasetError::Truncated {
            origin: origin.to_string(),
            expected: header_len as u64,
            actual: got as u64,
        });
    }
    let magic = u32::from_be_bytes(header[..4].try_into().expect("4 bytes"));
    if magic != kind.magic() {
        return Err(DatasetError::BadMagic {
            origin: origin.to_string(),
            kind: kind.name(),
            found: magic,
            expected: kind.magic(),
        });
    }
    if got < header_len {
        return Err(DatasetError::Truncated {
            origin: origin.to_string(),
            expected: header_len as u64,
            actual: got as u64,
        });
    }
    let dims: Vec<u64> = header[4..header_len]
        .chunks_exact(4)
        .map(|c| u64::from(u32::from_be_bytes(c.try_into().expect("4 bytes"))))
        .collect();
    if kind == Kind::Images && (dims[1] != SIDE as u64 || dims[2] != SIDE as u64) {
        return Err(DatasetError::WrongShape {
            origin: origin.to_string(),
            found: format!("{} x {}", dims[1], dims[2]),
        });
    }
    let rows = dims[0];
    if rows > MAX_ROWS {
        return Err(DatasetError::TooLarge {
            origin: origin.to_string(),
            rows,
            max: MAX_ROWS,
        });
    }
    let expected: u64 = dims.iter().product();
    read_payload(r, expected, origin)
}

/// Reads exactly `expected` bytes and checks that nothing follows them.
pub(crate) fn read_payload(
    r: impl Read,
    expected: u64,
    origin: &str,
) -> Result<Vec<u8>, DatasetError> {
    // Start small: the header may lie; the vector grows only as real bytes arrive.
    let mut data = Vec::with_capacity(expected.min(1 << 24) as usize);
    r.take(expected + 1)
        .read_to_end(&mut data)
        .map_err(|e| io_err(origin, e))?;
    let actual = data.len() as u64;
    if actual < expected {
        return Err(DatasetError::Truncated {
            origin: origin.to_string(),
            expected,
            actual,
        });
    }
    if actual > expected {
        return Err(DatasetError::TrailingBytes {
            origin: origin.to_string(),
            expected,
        });
    }
    Ok(data)
}

/// Reads until `buf` is full or the stream ends; returns the bytes read.
pub(crate) fn fill(r: &mut impl Read, buf: &mut [u8]) -> std::io::Result<usize> {
    let mut n = 0;
    while n < buf.len() {
        match r.read(&mut buf[n..]) {
            Ok(0) => break,
            Ok(k) => n += k,
            Err(e) if e.kind() == std::io::ErrorKind::Interrupted => {}
            Err(e) => return Err(e),
        }
    }
    Ok(n)
}

fn io_err(origin: &str, source: std::io::Error) -> DatasetError {
    DatasetError::Io {
        path: PathBuf::from(origin),
        source,
    }
}

/// An opened IDX file and its name for error messages.
pub(crate) type Opened<'a> = (Box<dyn Read + 'a>, String);

/// A source of IDX files by standard name: a directory or a bundle.
pub(crate) trait Source {
    /// Opens `name` (without `.gz`); `None` if absent. Returns a reader and its name for errors.
    fn open(&self, name: &'static str) -> Result<Option<Opened<'_>>, DatasetError>;
    /// What to call the source in errors about missing files.
    fn location(&self) -> PathBuf;
}

/// Assembles a dataset from the standard files of `source`.
pub(crate) fn assemble(source: &dyn Source, format: Format) -> Result<Dataset, DatasetError> {
    let missing = |name| DatasetError::MissingFile {
        dir: source.location(),
        name,
    };
    let train = read_split(
        source
            .open(TRAIN_IMAGES)?
            .ok_or_else(|| missing(TRAIN_IMAGES))?,
        source
            .open(TRAIN_LABELS)?
            .ok_or_else(|| missing(TRAIN_LABELS))?,
    )?;
    let test = match (source.open(TEST_IMAGES)?, source.open(TEST_LABELS)?) {
        (None, None) => None,
        (Some(images), Some(labels)) => Some(read_split(images, labels)?),
        (Some(_), None) => {
            return Err(DatasetError::HalfTestSplit {
                dir: source.location(),
                present: TEST_IMAGES,
                missing: TEST_LABELS,
            });
        }
        (None, Some(_)) => {
            return Err(DatasetError::HalfTestSplit {
                dir: source.location(),
                present: TEST_LABELS,
                missing: TEST_IMAGES,
            });
        }
    };
    Ok(Dataset::new(train, test, format))
}

fn read_split(
    (images, images_origin): Opened<'_>,
    (labels, labels_origin): Opened<'_>,
) -> Result<Split, DatasetError> {
    let images = read(images, Kind::Images, &images_origin)?;
    let labels = read(labels, Kind::Labels, &labels_origin)?;
    Split::new(
        images,
        labels,
        &format!("{images_origin} / {labels_origin}"),
    )
}

/// A directory holding the standard file names.
struct Dir<'a>(&'a Path);

impl Source for Dir<'_> {
    fn open(&self, name: &'static str) -> Result<Option<Opened<'_>>, DatasetError> {
        let raw = self.0.join(name);
        let gz = self.0.join(format!("{name}.gz"));
        let path = match (raw.is_file(), gz.is_file()) {
            (false, false) => return Ok(None),
            (true, true) => {
                return Err(DatasetError::Ambiguous {
                    dir: self.0.to_path_buf(),
                    name,
                });
            }
            (true, false) => raw,
            (false, true) => gz,
        };
        let file = File::open(&path).map_err(|source| DatasetError::Io {
            path: path.clone(),
            source,
        })?;
        Ok(Some((
            Box::new(BufReader::with_capacity(1 << 16, file)),
            path.display().to_string(),
        )))
    }

    fn location(&self) -> PathBuf {
        self.0.to_path_buf()
    }
}

/// Loads an IDX dataset directory.
pub fn load_dir(dir: &Path) -> Result<Dataset, DatasetError> {
    assemble(&Dir(dir), Format::IdxDir)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::dataset::PIXELS;
    use std::io::Write;

    fn images_file(rows: usize) -> Vec<u8> {
        let mut v = images_header(rows).to_vec();
        v.extend((0..rows * PIXELS).map(|i| (i % 251) as u8));
        v
    }

    fn labels_file(rows: usize) -> Vec<u8> {
        let mut v = labels_header(rows).to_vec();
        v.extend((0..rows).map(|i| (i % 10) as u8));
        v
    }

    fn gz(data: &[u8]) -> Vec<u8> {
        let mut e = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::fast());
        e.write_all(data).unwrap();
        e.finish().unwrap()
    }

    #[test]
    fn reads_raw_and_gzip_alike() {
        let file = images_file(3);
        let raw = read(&file[..], Kind::Images, "raw").unwrap();
        let z = read(&gz(&file)[..], Kind::Images, "gz").unwrap();
        assert_eq!(raw.len(), 3 * PIXELS);
        assert_eq!(raw, z);
        assert_eq!(raw[..], file[16..]);
    }

    #[test]
    fn truncated_and_trailing_are_reported() {
        let file = labels_file(5);
        let e = read(&file[..file.len() - 1], Kind::Labels, "l").unwrap_err();
        assert!(matches!(
            e,
            DatasetError::Truncated {
                expected: 5,
                actual: 4,
                ..
            }
        ));
        let mut long = file.clone();
        long.push(0);
        assert!(matches!(
            read(&long[..], Kind::Labels, "l"),
            Err(DatasetError::TrailingBytes { expected: 5, .. })
        ));
        let e = read(&file[..6], Kind::Labels, "l").unwrap_err();
        assert!(e.to_string().contains("truncated"), "{e}");
    }

    #[test]
    fn truncated_and_corrupt_gzip_is_reported() {
        let z = gz(&images_file(4));
        let e = read(&z[..z.len() / 2], Kind::Images, "half.gz").unwrap_err();
        assert!(
            matches!(
                e,
                DatasetError::Gzip { .. } | DatasetError::Truncated { .. }
            ),
            "{e}"
        );
        let mut bad = z.clone();
        let n = bad.len();
        bad[n - 6] ^= 0xff; // inside the CRC32 trailer
        let e = read(&bad[..], Kind::Images, "crc.gz").unwrap_err();
        assert!(matches!(e, DatasetError::Gzip { .. }), "{e}");
        assert!(e.to_string().contains("crc.gz"), "{e}");
    }

    #[test]
    fn wrong_magic_and_shape() {
        let e = read(&labels_file(2)[..], Kind::Images, "x").unwrap_err();
        assert!(matches!(e, DatasetError::BadMagic { .. }), "{e}");
        let mut f = images_file(1);
        f[11] = 27;
        let e = read(&f[..], Kind::Images, "x").unwrap_err();
        assert!(matches!(e, DatasetError::WrongShape { .. }), "{e}");
    }

    #[test]
    fn lying_header_does_not_allocate() {
        let mut f = labels_header(0).to_vec();
        f[4..8].copy_from_slice(&900_000u32.to_be_bytes());
        f.extend([1, 2, 3]);
        assert!(matches!(
            read(&f[..], Kind::Labels, "x"),
            Err(DatasetError::Truncated {
                expected: 900_000,
                actual: 3,
                ..
            })
        ));
        f[4..8].copy_from_slice(&u32::MAX.to_be_bytes());
        assert!(matches!(
            read(&f[..], Kind::Labels, "x"),
            Err(DatasetError::TooLarge { .. })
        ));
    }

    #[test]
    fn directory_with_and_without_test_split() {
        let dir = tempfile::tempdir().unwrap();
        let d = dir.path();
        std::fs::write(d.join(format!("{TRAIN_IMAGES}.gz")), gz(&images_file(4))).unwrap();
        let e = load_dir(d).unwrap_err();
        assert!(e.to_string().contains(TRAIN_LABELS), "{e}");
        std::fs::write(d.join(TRAIN_LABELS), labels_file(4)).unwrap();
        let ds = load_dir(d).unwrap();
        assert_eq!(ds.train.len(), 4);
        assert!(ds.test.is_none());
        assert_eq!(ds.format, Format::IdxDir);

        std::fs::write(d.join(TEST_IMAGES), images_file(2)).unwrap();
        let e = load_dir(d).unwrap_err();
        assert!(matches!(e, DatasetError::HalfTestSplit { .. }), "{e}");
        std::fs::write(d.join(TEST_LABELS), labels_file(3)).unwrap();
        let e = load_dir(d).unwrap_err();
        assert!(
            matches!(
                e,
                DatasetError::CountMismatch {
                    images: 2,
                    labels: 3,
                    ..
                }
            ),
            "{e}"
        );
        std::fs::write(d.join(TEST_LABELS), labels_file(2)).unwrap();
        let with_test = load_dir(d).unwrap();
        assert_eq!(with_test.test.as_ref().unwrap().len(), 2);
        assert_ne!(with_test.sha256, ds.sha256);

        std::fs::write(d.join(format!("{TRAIN_LABELS}.gz")), gz(&labels_file(4))).unwrap();
        assert!(matches!(load_dir(d), Err(DatasetError::Ambiguous { .. })));
    }
}
