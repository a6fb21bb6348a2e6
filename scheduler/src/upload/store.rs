//! Output files on disk: partial uploads kept aside, complete ones renamed into place.
//!
//! BOINC's handler writes straight into the upload hierarchy, so a validator can meet a
//! half-written file. Here an upload in progress lives in `<upload_dir>/.incoming/<name>`
//! (the same file system, so the final `rename` is atomic) and appears at its place in the
//! hierarchy only once it has all its bytes and their MD5 matches what the client declared.
//! A size query reports the complete file's size, or else the partial file's, so an
//! interrupted upload resumes where it stopped (PROTOCOL.md §6).
//!
//! A full file system keeps nothing of the upload it refused ([`Incoming::discard`]).
//!
//! An upload holds an exclusive lock on its partial file, so two requests for one name (a client
//! retrying while its previous attempt is still being read) cannot interleave their bytes; the
//! second is told to retry later.

use std::fs::{File, OpenOptions, TryLockError};
use std::io::{self, Seek, SeekFrom};
use std::path::{Path, PathBuf};

use md5::{Digest, Md5};
use rboinc_core::hier::{self, HierError};
use rboinc_core::md5file;
use tokio::io::AsyncWriteExt;

/// Directory (under the upload root) of uploads in progress.
pub const PARTIAL_DIR: &str = ".incoming";

/// Why a file cannot be stored; `transient` errors are worth a retry by the client.
#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    #[error("invalid filename: {0}")]
    BadName(String),
    #[error("another upload of {0} is in progress")]
    Busy(String),
    #[error("length of file {name} {have} bytes < offset {offset} bytes")]
    Gap {
        name: String,
        have: u64,
        offset: u64,
    },
    #[error("md5 of {name} is {got}, the client declared {declared}; upload it again")]
    Md5Mismatch {
        name: String,
        got: String,
        declared: String,
    },
    #[error("{op} {}: {source}", path.display())]
    Io {
        op: &'static str,
        path: PathBuf,
        #[source]
        source: io::Error,
    },
}

impl StoreError {
    /// Whether the client should simply try again later (BOINC status 1) rather than give up.
    pub fn is_transient(&self) -> bool {
        !matches!(self, StoreError::BadName(_))
    }

    /// Whether the file system ran out of room (`ENOSPC`, or the user's quota).
    pub fn is_disk_full(&self) -> bool {
        matches!(self, StoreError::Io { source, .. }
            if matches!(source.kind(), io::ErrorKind::StorageFull | io::ErrorKind::QuotaExceeded))
    }
}

/// Bytes of the file system holding `dir` that an unprivileged writer may still use, if the
/// system says.
pub fn free_bytes(dir: &Path) -> Option<u64> {
    rustix::fs::statvfs(dir)
        .ok()
        .map(|v| v.f_bavail.saturating_mul(v.f_frsize))
}

fn io_err<'a>(op: &'static str, path: &'a Path) -> impl FnOnce(io::Error) -> StoreError + 'a {
    move |source| StoreError::Io {
        op,
        path: path.to_path_buf(),
        source,
    }
}

/// The upload hierarchy.
#[derive(Debug, Clone)]
pub struct UploadStore {
    root: PathBuf,
    fanout: u32,
}

/// An upload being written; dropping it keeps the bytes written so far for a resume.
#[derive(Debug)]
pub struct Incoming {
    name: String,
    partial: PathBuf,
    file: tokio::fs::File,
    written: u64,
    nbytes: u64,
    /// MD5 of the bytes written, when the upload started at offset 0 (a resumed one is
    /// hashed from the file when complete).
    hasher: Option<Md5>,
}

/// How [`UploadStore::begin`] found things.
#[derive(Debug)]
pub enum Begin {
    /// The complete file is already in place (an earlier attempt finished).
    AlreadyComplete,
    Write(Box<Incoming>),
}

impl UploadStore {
    pub fn new(root: PathBuf, fanout: u32) -> Self {
        UploadStore { root, fanout }
    }

    fn check(&self, name: &str) -> Result<PathBuf, StoreError> {
        if name == PARTIAL_DIR || name.contains('%') {
            return Err(StoreError::BadName(name.to_string()));
        }
        hier::dir_hier_path(&self.root, name, self.fanout).map_err(|e| match e {
            HierError::BadName { .. } => StoreError::BadName(name.to_string()),
            other => StoreError::BadName(other.to_string()),
        })
    }

    fn partial_path(&self, name: &str) -> PathBuf {
        self.root.join(PARTIAL_DIR).join(name)
    }

    /// Where a complete upload of `name` lives.
    pub fn final_path(&self, name: &str) -> Result<PathBuf, StoreError> {
        self.check(name)
    }

    /// Bytes the server has of `name`: the complete file's size, else the partial file's,
    /// else 0.
    pub fn stored_size(&self, name: &str) -> Result<u64, StoreError> {
        let done = self.check(name)?;
        for path in [done, self.partial_path(name)] {
            match std::fs::metadata(&path) {
                Ok(m) => return Ok(m.len()),
                Err(e) if e.kind() == io::ErrorKind::NotFound => {}
                Err(e) => return Err(io_err("cannot stat", &path)(e)),
            }
        }
        Ok(0)
    }

    /// Starts (or resumes at `offset`) an upload of `nbytes` bytes.
    pub async fn begin(&self, name: &str, offset: u64, nbytes: u64) -> Result<Begin, StoreError> {
        let done = self.check(name)?;
        if done.exists() {
            return Ok(Begin::AlreadyComplete);
        }
        let partial = self.partial_path(name);
        let dir = self.root.join(PARTIAL_DIR);
        match std::fs::create_dir(&dir) {
            Ok(()) => {}
            Err(e) if e.kind() == io::ErrorKind::AlreadyExists => {}
            Err(e) => return Err(io_err("cannot create", &dir)(e)),
        }
        let (file, written) = {
            let partial = partial.clone();
            let owned_name = name.to_string();
            let done = done.clone();
            let span = tracing::Span::current();
            tokio::task::spawn_blocking(move || {
                span.in_scope(|| open_partial(&partial, &owned_name, &done, offset))
            })
            .await
            .map_err(|e| StoreError::Io {
                op: "cannot open",
                path: PathBuf::from(name),
                source: io::Error::other(e),
            })??
        };
        let Some(file) = file else {
            return Ok(Begin::AlreadyComplete);
        };
        Ok(Begin::Write(Box::new(Incoming {
            name: name.to_string(),
            partial,
            file: tokio::fs::File::from_std(file),
            written,
            nbytes,
            hasher: (written == 0).then(Md5::new),
        })))
    }

    /// Moves a complete upload into place, after checking its MD5 if the client gave one.
    /// A mismatch deletes the partial file, so the client's retry starts from scratch.
    pub async fn finish(&self, up: Box<Incoming>, md5: Option<&str>) -> Result<(), StoreError> {
        let mut up = *up;
        up.file
            .flush()
            .await
            .map_err(io_err("cannot write", &up.partial))?;
        let done = self.check(&up.name)?;
        let root = self.root.clone();
        let fanout = self.fanout;
        let declared = md5.map(str::to_ascii_lowercase);
        let partial = up.partial.clone();
        let name = up.name.clone();
        let streamed = up.hasher.map(|h| hex::encode(h.finalize()));
        // Keep the lock until the rename: the file must not change under the check.
        let file = up.file.into_std().await;
        let span = tracing::Span::current();
        tokio::task::spawn_blocking(move || {
            span.in_scope(|| {
                if let Some(declared) = declared {
                    let got = match streamed {
                        Some(md5) => md5,
                        None => md5file::md5_file(&partial)
                            .map_err(|e| io_err("cannot read", &partial)(io::Error::other(e)))?
                            .md5
                            .as_str()
                            .to_string(),
                    };
                    if got != declared {
                        let _ = std::fs::remove_file(&partial);
                        return Err(StoreError::Md5Mismatch {
                            name,
                            got,
                            declared,
                        });
                    }
                }
                hier::create_dir_hier_path(&root, &name, fanout).map_err(|e| {
                    io_err("cannot create directory for", &done)(io::Error::other(e))
                })?;
                std::fs::rename(&partial, &done).map_err(io_err("cannot rename into", &done))?;
                drop(file);
                Ok(())
            })
        })
        .await
        .map_err(|e| StoreError::Io {
            op: "cannot finish",
            path: up.partial,
            source: io::Error::other(e),
        })?
    }
}

/// Opens and locks the partial file and positions it at `offset`. `Ok((None, _))` if the
/// complete file appeared meanwhile.
fn open_partial(
    partial: &Path,
    name: &str,
    done: &Path,
    offset: u64,
) -> Result<(Option<File>, u64), StoreError> {
    let mut file = OpenOptions::new()
        .create(true)
        .truncate(false)
        .write(true)
        .read(true)
        .open(partial)
        .map_err(io_err("cannot open", partial))?;
    match file.try_lock() {
        Ok(()) => {}
        Err(TryLockError::WouldBlock) => return Err(StoreError::Busy(name.to_string())),
        Err(TryLockError::Error(e)) => return Err(io_err("cannot lock", partial)(e)),
    }
    if done.exists() {
        // Finished by a request that held the lock before us.
        let _ = std::fs::remove_file(partial);
        return Ok((None, 0));
    }
    let have = file
        .metadata()
        .map_err(io_err("cannot stat", partial))?
        .len();
    if have < offset {
        return Err(StoreError::Gap {
            name: name.to_string(),
            have,
            offset,
        });
    }
    if have > offset {
        // The client resends from `offset`: whatever followed is replaced.
        file.set_len(offset)
            .map_err(io_err("cannot truncate", partial))?;
    }
    file.seek(SeekFrom::Start(offset))
        .map_err(io_err("cannot seek", partial))?;
    Ok((Some(file), offset))
}

impl Incoming {
    /// Bytes still expected.
    pub fn remaining(&self) -> u64 {
        self.nbytes.saturating_sub(self.written)
    }

    /// Writes the next bytes of data (at most [`Incoming::remaining`] of them are kept).
    /// Returns how many were written.
    pub async fn write(&mut self, data: &[u8]) -> Result<usize, StoreError> {
        let n = data.len().min(self.remaining() as usize);
        // Flushed at once: tokio writes in the background, and a size query after an
        // interrupted upload must see every byte acknowledged here.
        self.file
            .write_all(&data[..n])
            .await
            .map_err(io_err("cannot write", &self.partial))?;
        self.file
            .flush()
            .await
            .map_err(io_err("cannot write", &self.partial))?;
        if let Some(h) = &mut self.hasher {
            h.update(&data[..n]);
        }
        self.written += n as u64;
        Ok(n)
    }

    pub fn is_complete(&self) -> bool {
        self.written >= self.nbytes
    }

    /// Drops the upload and its partial file (a full disk: its bytes would only take room the
    /// next upload needs; the client's retry starts from scratch).
    pub async fn discard(self: Box<Self>) {
        let Incoming { partial, file, .. } = *self;
        // Removed while still locked, so no other request reopens it half-gone.
        let _ = tokio::fs::remove_file(&partial).await;
        drop(file);
    }

    pub fn written(&self) -> u64 {
        self.written
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn partial_uploads_resume_and_complete_ones_move_into_place() {
        let dir = tempfile::tempdir().unwrap();
        let store = UploadStore::new(dir.path().to_path_buf(), 16);
        assert_eq!(store.stored_size("out_1").unwrap(), 0);
        let Begin::Write(mut up) = store.begin("out_1", 0, 10).await.unwrap() else {
            panic!()
        };
        up.write(b"01234").await.unwrap();
        drop(up); // connection lost
        assert_eq!(store.stored_size("out_1").unwrap(), 5);
        let final_path = store.final_path("out_1").unwrap();
        assert!(
            !final_path.exists(),
            "nothing in the hierarchy before it is complete"
        );

        let Begin::Write(mut up) = store.begin("out_1", 5, 10).await.unwrap() else {
            panic!()
        };
        assert_eq!(
            up.write(b"56789EXTRA").await.unwrap(),
            5,
            "bytes past nbytes ignored"
        );
        assert!(up.is_complete());
        let md5 = md5file::Md5Hex::of_bytes(b"0123456789");
        store.finish(up, Some(md5.as_str())).await.unwrap();
        assert_eq!(std::fs::read(&final_path).unwrap(), b"0123456789");
        assert_eq!(store.stored_size("out_1").unwrap(), 10);
        assert!(matches!(
            store.begin("out_1", 0, 10).await.unwrap(),
            Begin::AlreadyComplete
        ));
    }

    #[tokio::test]
    async fn gaps_locks_names_and_bad_md5_are_refused() {
        let dir = tempfile::tempdir().unwrap();
        let store = UploadStore::new(dir.path().to_path_buf(), 0);
        assert!(matches!(
            store.begin("x", 3, 10).await.unwrap_err(),
            StoreError::Gap {
                have: 0,
                offset: 3,
                ..
            }
        ));
        let Begin::Write(mut first) = store.begin("x", 0, 4).await.unwrap() else {
            panic!()
        };
        assert!(matches!(
            store.begin("x", 0, 4).await.unwrap_err(),
            StoreError::Busy(_)
        ));
        first.write(b"abcd").await.unwrap();
        let err = store
            .finish(first, Some("00000000000000000000000000000000"))
            .await
            .unwrap_err();
        assert!(matches!(err, StoreError::Md5Mismatch { .. }));
        assert_eq!(store.stored_size("x").unwrap(), 0, "a bad file is dropped");
        for bad in ["../x", "a/b", "..", ".incoming", "a%2e", ""] {
            let e = store.begin(bad, 0, 1).await.unwrap_err();
            assert!(!e.is_transient(), "{bad}: {e}");
        }
        // Nothing was created outside the upload directory.
        assert!(!dir.path().parent().unwrap().join("x").exists());
    }
}
