//! The dataset bundle: the whole dataset as ONE file, which is how a BOINC workunit carries it
//! (the logical input `dataset`, staged once as a sticky file and shared by every job).
//!
//! Layout (all integers big-endian, like IDX):
//!
//! | bytes | content |
//! |---|---|
//! | 8 | magic `MNISTBD1` |
//! | 4 | entry count `n` (2 or 4) |
//! | per entry: 1 | name length `k` |
//! | per entry: `k` | name: a standard MNIST file name plus `.gz` (`train-images-idx3-ubyte.gz`, …) |
//! | per entry: 8 | payload length `m` |
//! | per entry: `m` | payload: the gzip-compressed canonical IDX file |
//! | 32 | sha256 of every byte before it |
//!
//! The trailing hash makes a damaged or cut-off download fail with a clear message before any
//! parsing; the entries are then read by the same IDX code as a dataset directory (raw payloads
//! under the name without `.gz` are accepted too). [`write`] produces a bundle from any dataset
//! [`load`](super::load) accepts, re-encoding it canonically, so the same digits always give the
//! same bundle bytes.

use std::fs::File;
use std::io::{Read, Write};
use std::path::{Path, PathBuf};

use flate2::Compression;
use flate2::write::GzEncoder;
use sha2::{Digest, Sha256};

use super::idx::{self, Opened, Source};
use super::{
    Dataset, DatasetError, Format, Split, TEST_IMAGES, TEST_LABELS, TRAIN_IMAGES, TRAIN_LABELS,
};

/// The first eight bytes of every bundle.
pub const MAGIC: &[u8; 8] = b"MNISTBD1";

const NAMES: [&str; 4] = [TRAIN_IMAGES, TRAIN_LABELS, TEST_IMAGES, TEST_LABELS];

/// What [`write`] produced.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct BundleInfo {
    /// The bundle file.
    pub path: PathBuf,
    /// Its size in bytes.
    pub nbytes: u64,
    /// Hex sha256 of the canonical dataset (the `dataset.sha256` that metrics.json reports).
    pub dataset_sha256: String,
    pub train_rows: usize,
    /// 0 when the dataset has no test split.
    pub test_rows: usize,
}

/// Writes a bundle of the dataset at `dataset` (an IDX directory, `.npz` or bundle) to `out`.
///
/// The dataset is fully loaded and validated first, and the bundle is written to a temporary
/// file next to `out` and renamed into place, so `out` is either a complete valid bundle or
/// untouched.
pub fn write(dataset: &Path, out: &Path) -> Result<BundleInfo, DatasetError> {
    let ds = super::load(dataset)?;
    write_dataset(&ds, out)
}

/// Writes an already loaded dataset as a bundle (see [`write`]).
pub fn write_dataset(ds: &Dataset, out: &Path) -> Result<BundleInfo, DatasetError> {
    let io = |source| DatasetError::Io {
        path: out.to_path_buf(),
        source,
    };
    let bytes = encode(ds).map_err(io)?;
    let tmp = tmp_path(out);
    let result = (|| {
        let mut f = File::create(&tmp)?;
        f.write_all(&bytes)?;
        f.sync_all()?;
        std::fs::rename(&tmp, out)
    })();
    if let Err(e) = result {
        let _ = std::fs::remove_file(&tmp);
        return Err(io(e));
    }
    Ok(BundleInfo {
        path: out.to_path_buf(),
        nbytes: bytes.len() as u64,
        dataset_sha256: ds.sha256.clone(),
        train_rows: ds.train.len(),
        test_rows: ds.test.as_ref().map_or(0, Split::len),
    })
}

fn tmp_path(out: &Path) -> PathBuf {
    let mut name = out.file_name().unwrap_or_default().to_os_string();
    name.push(format!(".tmp{}", std::process::id()));
    out.with_file_name(name)
}

/// Encodes a dataset as bundle bytes.
pub fn encode(ds: &Dataset) -> std::io::Result<Vec<u8>> {
    let mut entries: Vec<(String, Vec<u8>)> = Vec::new();
    for (split, images_name, labels_name) in
        std::iter::once((&ds.train, TRAIN_IMAGES, TRAIN_LABELS))
            .chain(ds.test.as_ref().map(|t| (t, TEST_IMAGES, TEST_LABELS)))
    {
        entries.push((
            format!("{images_name}.gz"),
            gzip(&[&idx::images_header(split.len()), &split.images])?,
        ));
        entries.push((
            format!("{labels_name}.gz"),
            gzip(&[&idx::labels_header(split.len()), &split.labels])?,
        ));
    }
    let mut out = Vec::new();
    out.extend_from_slice(MAGIC);
    out.extend_from_slice(&(entries.len() as u32).to_be_bytes());
    for (name, payload) in &entries {
        out.push(name.len() as u8);
        out.extend_from_slice(name.as_bytes());
        out.extend_from_slice(&(payload.len() as u64).to_be_bytes());
        out.extend_from_slice(payload);
    }
    let digest = Sha256::digest(&out);
    out.extend_from_slice(&digest);
    Ok(out)
}

fn gzip(parts: &[&[u8]]) -> std::io::Result<Vec<u8>> {
    // GzBuilder's default header has mtime 0 and no name: the output depends only on the data.
    let mut e = GzEncoder::new(Vec::new(), Compression::new(6));
    for p in parts {
        e.write_all(p)?;
    }
    e.finish()
}

/// Loads a bundle file.
pub fn load(path: &Path) -> Result<Dataset, DatasetError> {
    let mut bytes = Vec::new();
    File::open(path)
        .and_then(|mut f| f.read_to_end(&mut bytes))
        .map_err(|source| DatasetError::Io {
            path: path.to_path_buf(),
            source,
        })?;
    decode(&bytes, &path.display().to_string())
}

/// Parses bundle bytes; `origin` names the file in errors.
pub fn decode(bytes: &[u8], origin: &str) -> Result<Dataset, DatasetError> {
    let bad = |detail: String| DatasetError::Bundle {
        origin: origin.to_string(),
        detail,
    };
    if !bytes.starts_with(MAGIC) {
        return Err(bad("bad magic".into()));
    }
    if bytes.len() < MAGIC.len() + 4 + 32 {
        return Err(bad(format!("truncated ({} bytes)", bytes.len())));
    }
    let (body, digest) = bytes.split_at(bytes.len() - 32);
    if Sha256::digest(body)[..] != digest[..] {
        return Err(bad(
            "checksum mismatch: the file is truncated or corrupt".into()
        ));
    }
    let mut at = MAGIC.len();
    let mut take = |n: usize| -> Result<&[u8], DatasetError> {
        let s = body
            .get(at..at + n)
            .ok_or_else(|| bad("entry table runs past the end".into()))?;
        at += n;
        Ok(s)
    };
    let count = u32::from_be_bytes(take(4)?.try_into().expect("4 bytes"));
    if count as usize > NAMES.len() * 2 {
        return Err(bad(format!("{count} entries")));
    }
    let mut entries = Vec::new();
    for _ in 0..count {
        let name_len = take(1)?[0] as usize;
        let name = std::str::from_utf8(take(name_len)?)
            .map_err(|_| bad("entry name is not text".into()))?
            .to_string();
        let base = name.strip_suffix(".gz").unwrap_or(&name);
        if !NAMES.contains(&base) {
            return Err(bad(format!("unexpected entry {name:?}")));
        }
        if entries
            .iter()
            .any(|(n, _): &(String, &[u8])| n.strip_suffix(".gz").unwrap_or(n) == base)
        {
            return Err(bad(format!("duplicate entry {name:?}")));
        }
        let len = u64::from_be_bytes(take(8)?.try_into().expect("8 bytes"));
        let payload = take(usize::try_from(len).map_err(|_| bad("entry too large".into()))?)?;
        entries.push((name, payload));
    }
    if at != body.len() {
        return Err(bad("bytes after the last entry".into()));
    }
    idx::assemble(
        &Entries {
            origin: origin.to_string(),
            entries,
        },
        Format::Bundle,
    )
}

struct Entries<'a> {
    origin: String,
    entries: Vec<(String, &'a [u8])>,
}

impl Source for Entries<'_> {
    fn open(&self, name: &'static str) -> Result<Option<Opened<'_>>, DatasetError> {
        Ok(self
            .entries
            .iter()
            .find(|(n, _)| n.strip_suffix(".gz").unwrap_or(n) == name)
            .map(|(n, data)| {
                (
                    Box::new(*data) as Box<dyn Read>,
                    format!("{}: {n}", self.origin),
                )
            }))
    }

    fn location(&self) -> PathBuf {
        PathBuf::from(&self.origin)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::dataset::PIXELS;

    fn dataset(test: bool) -> Dataset {
        let train = Split::new(
            (0..3 * PIXELS).map(|i| (i % 256) as u8).collect(),
            vec![1, 2, 3],
            "t",
        )
        .unwrap();
        let test = test.then(|| Split::new(vec![9; PIXELS], vec![9], "t").unwrap());
        Dataset::new(train, test, Format::IdxDir)
    }

    #[test]
    fn roundtrip_keeps_content_and_hash() {
        for with_test in [false, true] {
            let ds = dataset(with_test);
            let bytes = encode(&ds).unwrap();
            assert!(bytes.starts_with(MAGIC));
            let back = decode(&bytes, "b").unwrap();
            assert_eq!(back.format, Format::Bundle);
            assert_eq!(back.train, ds.train);
            assert_eq!(back.test, ds.test);
            assert_eq!(back.sha256, ds.sha256);
            assert_eq!(encode(&back).unwrap(), bytes, "encoding is canonical");
        }
    }

    #[test]
    fn damage_is_detected() {
        let bytes = encode(&dataset(true)).unwrap();
        let e = decode(&bytes[..bytes.len() - 100], "cut").unwrap_err();
        assert!(e.to_string().contains("checksum mismatch"), "{e}");
        let mut flipped = bytes.clone();
        flipped[40] ^= 1;
        assert!(decode(&flipped, "flip").is_err());
        let e = decode(b"MNISTBD1", "tiny").unwrap_err();
        assert!(e.to_string().contains("truncated"), "{e}");
    }

    #[test]
    fn entry_table_is_checked() {
        // A well-hashed bundle with a bogus entry name.
        let mut body = MAGIC.to_vec();
        body.extend(1u32.to_be_bytes());
        body.push(4);
        body.extend(b"evil");
        body.extend(0u64.to_be_bytes());
        let mut bytes = body.clone();
        bytes.extend(Sha256::digest(&body));
        let e = decode(&bytes, "b").unwrap_err();
        assert!(e.to_string().contains("unexpected entry"), "{e}");

        // A length running past the end.
        let mut body = MAGIC.to_vec();
        body.extend(1u32.to_be_bytes());
        body.push(TRAIN_LABELS.len() as u8);
        body.extend(TRAIN_LABELS.as_bytes());
        body.extend(1000u64.to_be_bytes());
        let mut bytes = body.clone();
        bytes.extend(Sha256::digest(&body));
        let e = decode(&bytes, "b").unwrap_err();
        assert!(e.to_string().contains("past the end"), "{e}");
    }

    #[test]
    fn write_is_atomic_and_reports() {
        let dir = tempfile::tempdir().unwrap();
        let out = dir.path().join("ds.bundle");
        let info = write_dataset(&dataset(false), &out).unwrap();
        assert_eq!(info.train_rows, 3);
        assert_eq!(info.test_rows, 0);
        assert_eq!(info.nbytes, std::fs::metadata(&out).unwrap().len());
        assert_eq!(
            std::fs::read_dir(dir.path()).unwrap().count(),
            1,
            "no temp file left"
        );
        let ds = crate::dataset::load(&out).unwrap();
        assert_eq!(ds.sha256, info.dataset_sha256);
    }
}
