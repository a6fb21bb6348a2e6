//! The dataset a series trains on, as one bundle file in the download hierarchy.
//!
//! The dataset (an IDX directory, a `.npz` or a bundle) is loaded, checked and encoded as a
//! bundle, staged under a content-addressed name: a host downloads it once (it is sticky), and
//! a changed dataset gets a new name.
//!
//! Encoding (gzip of ~8 MB of pixels) is most of the CPU time of a submission, and researchers
//! submit many series on the same dataset, so the bundle a source became is remembered in
//! `tmp_<host>/series_datasets/<MD5 of the source files>` (its name, sha256 and rows). An entry
//! is trusted only while the bundle is still staged under that name with an MD5 that matches
//! the name; anything else — no entry, an unreadable one, the file gone — bundles again. The
//! encoding is deterministic, so a hit names exactly the bundle a miss would have made.

use std::io::Read;
use std::path::{Path, PathBuf};

use md5::{Digest, Md5};
use rboinc_core::md5file::Md5Hex;

use crate::SeriesError;
use rboinc_tools::stage::{StagedFile, Stager};

/// A dataset staged as a bundle (not synced yet: the caller syncs before its commit).
#[derive(Debug, Clone)]
pub struct StagedDataset {
    pub file: StagedFile,
    /// sha256 of the dataset's content (see `mnist_app::dataset`).
    pub sha256: String,
    pub train_rows: usize,
}

/// Stages `dataset` as a bundle, through the cache in `cache_dir` (see the module docs).
pub fn stage(
    stager: &Stager,
    cache_dir: &Path,
    dataset: &Path,
) -> Result<StagedDataset, SeriesError> {
    if !dataset.exists() {
        return Err(SeriesError::MissingDataset(dataset.to_path_buf()));
    }
    let entry = source_digest(dataset).map(|d| cache_dir.join(d));
    if let Some(hit) = entry.as_deref().and_then(|e| cached(stager, e)) {
        return Ok(hit);
    }
    let staged = bundle(stager, dataset)?;
    if let Some(entry) = &entry {
        remember(entry, &staged);
    }
    Ok(staged)
}

/// Loads, encodes (in memory) and stages the dataset.
fn bundle(stager: &Stager, dataset: &Path) -> Result<StagedDataset, SeriesError> {
    let bad =
        |e: &dyn std::fmt::Display| SeriesError::Dataset(format!("{}: {e}", dataset.display()));
    let ds = mnist_app::dataset::load(dataset).map_err(|e| bad(&e))?;
    let bytes = mnist_app::dataset::bundle::encode(&ds).map_err(|e| bad(&e))?;
    let md5 = Md5Hex::of_bytes(&bytes);
    let file = stager.stage_bytes(&bundle_name(&md5), &bytes)?;
    Ok(StagedDataset {
        file,
        sha256: ds.sha256.clone(),
        train_rows: ds.train.len(),
    })
}

fn bundle_name(md5: &Md5Hex) -> String {
    format!("mnist_dataset_{}.bin", &md5.as_str()[..16])
}

/// MD5 over the source: a file's bytes, or a directory's files (names and bytes, in name
/// order). `None` if something cannot be read (then nothing is cached).
fn source_digest(dataset: &Path) -> Option<String> {
    let mut h = Md5::new();
    h.update(CACHE_FORMAT.as_bytes());
    let mut files = Vec::new();
    if dataset.is_dir() {
        for e in std::fs::read_dir(dataset).ok()? {
            let e = e.ok()?;
            if e.file_type().ok()?.is_file() {
                files.push(e.path());
            }
        }
        files.sort();
    } else {
        files.push(dataset.to_path_buf());
    }
    let mut buf = Vec::new();
    for f in &files {
        buf.clear();
        std::fs::File::open(f).ok()?.read_to_end(&mut buf).ok()?;
        let name = f.file_name()?.as_encoded_bytes();
        h.update((name.len() as u64).to_le_bytes());
        h.update(name);
        h.update((buf.len() as u64).to_le_bytes());
        h.update(&buf);
    }
    Some(hex::encode(h.finalize()))
}

/// Bumped if the cache entry's meaning changes.
const CACHE_FORMAT: &str = "rboinc series dataset 1\n";

/// The bundle a cache entry names, if it is still staged with matching content.
fn cached(stager: &Stager, entry: &Path) -> Option<StagedDataset> {
    let text = std::fs::read_to_string(entry).ok()?;
    let mut words = text.split_whitespace();
    let (name, sha256, rows) = (words.next()?, words.next()?, words.next()?);
    let file = stager.locate(name).ok()?;
    if bundle_name(&file.md5.md5) != name {
        return None;
    }
    Some(StagedDataset {
        file,
        sha256: sha256.to_string(),
        train_rows: rows.parse().ok()?,
    })
}

/// Writes a cache entry (best effort: a failure only costs the next submission an encoding).
fn remember(entry: &Path, d: &StagedDataset) {
    let write = || -> std::io::Result<()> {
        let dir = entry.parent().unwrap_or(Path::new("."));
        std::fs::create_dir_all(dir)?;
        let tmp: PathBuf = dir.join(format!(".{}.tmp", std::process::id()));
        std::fs::write(
            &tmp,
            format!("{} {} {}\n", d.file.name, d.sha256, d.train_rows),
        )?;
        std::fs::rename(&tmp, entry)
    };
    if let Err(e) = write() {
        tracing::debug!(entry = %entry.display(), error = %e, "cannot remember the bundled dataset");
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_bundle_is_made_once_per_source() {
        let tmp = tempfile::tempdir().unwrap();
        let stager = Stager {
            download_dir: tmp.path().join("download"),
            download_url: "http://h/p/download".into(),
            fanout: 1024,
            cache_md5: true,
        };
        std::fs::create_dir(&stager.download_dir).unwrap();
        let cache = tmp.path().join("cache");
        let src = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../app/data/mnist-10k");
        let first = stage(&stager, &cache, &src).unwrap();
        assert_eq!(first.train_rows, 10_000);
        assert_eq!(std::fs::read_dir(&cache).unwrap().count(), 1);
        // A hit names the same file, with the same facts.
        let again = stage(&stager, &cache, &src).unwrap();
        assert_eq!(again.file, first.file);
        assert_eq!(
            (again.sha256.as_str(), again.train_rows),
            (first.sha256.as_str(), 10_000)
        );
        // The bundle gone (or other bytes under its name): bundled again, not trusted.
        std::fs::remove_file(&first.file.path).unwrap();
        std::fs::remove_file(rboinc_core::md5file::cache_path(&first.file.path)).unwrap();
        let remade = stage(&stager, &cache, &src).unwrap();
        assert_eq!(remade.file, first.file);
        assert!(remade.file.path.is_file());
        std::fs::remove_file(&first.file.path).unwrap();
        std::fs::remove_file(rboinc_core::md5file::cache_path(&first.file.path)).unwrap();
        std::fs::write(&first.file.path, b"not a bundle").unwrap();
        assert!(cached(&stager, &cache.join(source_digest(&src).unwrap())).is_none());
    }
}
