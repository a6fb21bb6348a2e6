//! Input files in the download hierarchy: finding them, putting them there, and their MD5.
//!
//! A staged file is *immutable*: clients cache files by name, so a name must always mean the
//! same bytes (the original experiment broke when hosts kept an old file under a reused name).
//! Staging the same content again is fine; staging different content under an existing name is
//! an error. New files are written under a temporary name and renamed into place with
//! `RENAME_NOREPLACE` (a hard link where the file system lacks it), which fails instead of
//! replacing a file another process put there meanwhile; a reader never sees a half-written
//! file.
//!
//! Nothing is synced per file: one `fsync` per file cost 3–5 ms here and made staging, not the
//! database, the limit of workunit creation. Instead a caller that is about to commit rows
//! naming files it staged calls [`Stager::sync`] once (a `syncfs` of the download file system),
//! so a committed workunit never names a file a crash could lose.
//!
//! Names are checked before any path is built: a name is one path component (no `/`, no `..`)
//! and contains nothing a BOINC client or a URL would mangle (`%`, `&`, `<`, `>`, quotes,
//! whitespace, control characters).

use std::io::{self, Write};
use std::path::{Path, PathBuf};

use rboinc_core::config::Config;
use rboinc_core::hier::{self, HierError};
use rboinc_core::md5file::{self, Md5FileError, Md5Info};

/// Why a file could not be staged or found.
#[derive(Debug, thiserror::Error)]
pub enum StageError {
    #[error("input file name {name:?}: {problem}")]
    BadName { name: String, problem: String },
    #[error(transparent)]
    Hier(#[from] HierError),
    #[error("config.xml has no <download_url>; input files cannot be given a URL")]
    NoDownloadUrl,
    #[error(
        "input file {name:?} is not staged: neither {} nor {} exists (stage it first, or give its path, e.g. ./{name})",
        hier_path.display(), top_path.display()
    )]
    Missing {
        name: String,
        hier_path: PathBuf,
        top_path: PathBuf,
    },
    #[error(
        "{} already holds different content under the name {name:?}; staged files are immutable, so give the new file a new name",
        path.display()
    )]
    Immutable { name: String, path: PathBuf },
    #[error("constant file {name:?} at {} has no .md5 file; stage it with its MD5 info first", path.display())]
    NoMd5Info { name: String, path: PathBuf },
    #[error("<gzip/> file {name:?} needs {} staged next to it", path.display())]
    NoGzip { name: String, path: PathBuf },
    #[error("cannot read {}: {source}", path.display())]
    Read {
        path: PathBuf,
        #[source]
        source: io::Error,
    },
    #[error("cannot write {}: {source}", path.display())]
    Write {
        path: PathBuf,
        #[source]
        source: io::Error,
    },
    #[error(transparent)]
    Md5(#[from] Md5FileError),
}

/// A file in the download hierarchy.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StagedFile {
    pub name: String,
    pub path: PathBuf,
    pub url: String,
    pub md5: Md5Info,
}

/// A staged file, and whether staging put it there (false: it was there with the same bytes).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Placed {
    pub file: StagedFile,
    pub placed: bool,
}

/// Checks an input file name (see the module docs).
pub fn check_input_name(name: &str) -> Result<(), StageError> {
    hier::check_file_name(name.as_bytes())?;
    if let Some(c) = name
        .chars()
        .find(|c| matches!(c, '%' | '&' | '<' | '>' | '"' | '\'' | '\\') || c.is_whitespace())
    {
        return Err(StageError::BadName {
            name: name.to_string(),
            problem: format!("it contains {c:?}, which clients or URLs would not keep intact"),
        });
    }
    Ok(())
}

/// Where and how a project stages input files.
#[derive(Debug, Clone)]
pub struct Stager {
    pub download_dir: PathBuf,
    pub download_url: String,
    pub fanout: u32,
    /// `<cache_md5_info>`: keep `NAME.md5` next to each file.
    pub cache_md5: bool,
}

impl Stager {
    /// The project's settings.
    pub fn from_config(config: &Config) -> Result<Stager, StageError> {
        let download_url = config
            .download_url
            .clone()
            .ok_or(StageError::NoDownloadUrl)?;
        Ok(Stager {
            download_dir: config.download_dir.clone(),
            download_url: download_url.trim_end_matches('/').to_string(),
            fanout: config.uldl_dir_fanout,
            cache_md5: config.options().bool("cache_md5_info").ok().flatten() == Some(true),
        })
    }

    /// The path a name has in the hierarchy (the fan-out directory is created).
    pub fn path_of(&self, name: &str) -> Result<PathBuf, StageError> {
        check_input_name(name)?;
        Ok(hier::create_dir_hier_path(
            &self.download_dir,
            name,
            self.fanout,
        )?)
    }

    /// The path a name has in the hierarchy, touching nothing (for lookups).
    pub fn lookup_path(&self, name: &str) -> Result<PathBuf, StageError> {
        check_input_name(name)?;
        Ok(hier::dir_hier_path(&self.download_dir, name, self.fanout)?)
    }

    /// The URL clients download `name` from.
    pub fn url_of(&self, name: &str) -> Result<String, StageError> {
        Ok(hier::dir_hier_url(&self.download_url, name, self.fanout)?)
    }

    fn staged(&self, name: &str, path: PathBuf, md5: Md5Info) -> Result<StagedFile, StageError> {
        Ok(StagedFile {
            name: name.to_string(),
            url: self.url_of(name)?,
            path,
            md5,
        })
    }

    /// MD5 of a staged file, through the `.md5` cache when the project keeps one.
    fn md5_of(&self, path: &Path) -> Result<Md5Info, StageError> {
        Ok(md5file::md5_cached(path, self.cache_md5)?)
    }

    /// A file already in the download directory, as `create_work` finds input names: in the
    /// hierarchy, or at the top of `download/` (then copied into the hierarchy).
    pub fn locate(&self, name: &str) -> Result<StagedFile, StageError> {
        self.locate_or_copy(name).map(|(f, _)| f)
    }

    /// [`Stager::locate`], also saying whether the file was copied into the hierarchy.
    pub fn locate_or_copy(&self, name: &str) -> Result<(StagedFile, bool), StageError> {
        let path = self.lookup_path(name)?;
        if !path.is_file() {
            let top = self.download_dir.join(name);
            if !top.is_file() {
                return Err(StageError::Missing {
                    name: name.to_string(),
                    hier_path: path,
                    top_path: top,
                });
            }
            return Ok((self.stage_copy(&top, name)?, true));
        }
        let md5 = self.md5_of(&path)?;
        Ok((self.staged(name, path, md5)?, false))
    }

    /// A constant file (`<physical_name>`): must be staged with its `.md5` file.
    pub fn constant(&self, name: &str) -> Result<StagedFile, StageError> {
        let path = self.lookup_path(name)?;
        if !path.is_file() {
            return Err(StageError::Missing {
                name: name.to_string(),
                top_path: self.download_dir.join(name),
                hier_path: path,
            });
        }
        let md5 = md5file::read_cache(&path)?.ok_or_else(|| StageError::NoMd5Info {
            name: name.to_string(),
            path: path.clone(),
        })?;
        self.staged(name, path, md5)
    }

    /// Copies the file at `src` into the hierarchy under `name`.
    pub fn stage_copy(&self, src: &Path, name: &str) -> Result<StagedFile, StageError> {
        let bytes = std::fs::read(src).map_err(|source| StageError::Read {
            path: src.to_path_buf(),
            source,
        })?;
        self.stage_bytes(name, &bytes)
    }

    /// Puts `bytes` into the hierarchy under `name` (see the module docs on immutability),
    /// with a `NAME.md5` cache when the project keeps them.
    pub fn stage_bytes(&self, name: &str, bytes: &[u8]) -> Result<StagedFile, StageError> {
        let path = self.path_of(name)?;
        self.stage_at(name, path, bytes, self.cache_md5)
            .map(|p| p.file)
    }

    fn stage_at(
        &self,
        name: &str,
        path: PathBuf,
        bytes: &[u8],
        write_cache: bool,
    ) -> Result<Placed, StageError> {
        let md5 = Md5Info {
            md5: md5file::Md5Hex::of_bytes(bytes),
            nbytes: bytes.len() as u64,
        };
        let placed = place(&path, bytes)?;
        if !placed {
            let existing = self.md5_of(&path)?;
            if existing != md5 {
                return Err(StageError::Immutable {
                    name: name.to_string(),
                    path,
                });
            }
        } else if write_cache {
            md5file::write_cache(&path, &md5)?;
        }
        Ok(Placed {
            file: self.staged(name, path, md5)?,
            placed,
        })
    }

    /// Stages many small files at once (a series' job files): hashed and written by a few
    /// threads, each fan-out directory created once. No `.md5` caches are written — the
    /// caller carries each file's MD5 straight into its workunit, and a later `create_work`
    /// that looks a file up writes the cache then, as BOINC's does. Results are in input order.
    pub fn stage_many(&self, files: &[(String, Vec<u8>)]) -> Vec<Result<StagedFile, StageError>> {
        self.stage_many_placed(files)
            .into_iter()
            .map(|r| r.map(|p| p.file))
            .collect()
    }

    /// [`Stager::stage_many`], also saying which files this call put in place (rather than
    /// found there with the same content), so that a caller whose transaction fails can take
    /// back exactly those ([`Stager::remove_placed`]).
    pub fn stage_many_placed(
        &self,
        files: &[(String, Vec<u8>)],
    ) -> Vec<Result<Placed, StageError>> {
        let threads = std::thread::available_parallelism()
            .map_or(1, usize::from)
            .clamp(1, 4)
            .min(files.len().div_ceil(MIN_FILES_PER_THREAD))
            .max(1);
        let per_thread = files.len().div_ceil(threads).max(1);
        std::thread::scope(|scope| {
            let workers: Vec<_> = files
                .chunks(per_thread)
                .map(|chunk| scope.spawn(move || self.stage_chunk(chunk)))
                .collect();
            workers
                .into_iter()
                .flat_map(|w| w.join().expect("staging threads do not panic"))
                .collect()
        })
    }

    fn stage_chunk(&self, chunk: &[(String, Vec<u8>)]) -> Vec<Result<Placed, StageError>> {
        let mut made_dirs = std::collections::HashSet::new();
        chunk
            .iter()
            .map(|(name, bytes)| {
                let path = self.lookup_path(name)?;
                if let Some(dir) = path.parent()
                    && self.fanout != 0
                    && !made_dirs.contains(dir)
                {
                    hier::create_dir_hier_path(&self.download_dir, name, self.fanout)?;
                    made_dirs.insert(dir.to_path_buf());
                }
                self.stage_at(name, path, bytes, false)
            })
            .collect()
    }

    /// Removes files a failed caller put in place (see [`Stager::stage_many_placed`]); files
    /// that were already there are left alone. Best effort: a file that cannot be removed is
    /// only an orphan, named by no row.
    pub fn remove_placed(&self, placed: &[PathBuf]) {
        for path in placed {
            if let Err(e) = std::fs::remove_file(path)
                && e.kind() != io::ErrorKind::NotFound
            {
                tracing::warn!(path = %path.display(), error = %e, "cannot remove a staged file");
            }
        }
    }

    /// Makes every file staged so far durable: one `syncfs` of the download file system.
    /// Call it before committing rows that name newly staged files (see the module docs).
    pub fn sync(&self) -> Result<(), StageError> {
        let write_err = |source: io::Error| StageError::Write {
            path: self.download_dir.clone(),
            source,
        };
        let dir = std::fs::File::open(&self.download_dir).map_err(write_err)?;
        rustix::fs::syncfs(&dir).map_err(|e| write_err(e.into()))
    }

    /// Size of `NAME.gz` next to a staged file (for `<gzip/>` inputs).
    pub fn gzipped_nbytes(&self, file: &StagedFile) -> Result<u64, StageError> {
        let mut gz = file.path.clone().into_os_string();
        gz.push(".gz");
        let gz = PathBuf::from(gz);
        std::fs::metadata(&gz)
            .map(|m| m.len())
            .map_err(|_| StageError::NoGzip {
                name: file.name.clone(),
                path: gz,
            })
    }
}

/// Below this many files per thread, [`Stager::stage_many`] does not start another thread.
const MIN_FILES_PER_THREAD: usize = 64;

/// Writes `bytes` at `path` unless something is there. Returns false if a file existed.
fn place(path: &Path, bytes: &[u8]) -> Result<bool, StageError> {
    if path.exists() {
        return Ok(false);
    }
    let dir = path.parent().unwrap_or(Path::new("."));
    let tmp = dir.join(format!(
        ".stage.{}.{}.tmp",
        std::process::id(),
        rand::random::<u64>()
    ));
    let result = (|| {
        let mut f = std::fs::OpenOptions::new()
            .write(true)
            .create_new(true)
            .open(&tmp)?;
        f.write_all(bytes)?;
        drop(f);
        publish(&tmp, path)
    })();
    if !matches!(result, Ok(Published::Renamed)) {
        let _ = std::fs::remove_file(&tmp);
    }
    match result {
        Ok(Published::Renamed | Published::Linked) => Ok(true),
        Ok(Published::Exists) => Ok(false),
        Err(source) => Err(StageError::Write {
            path: path.to_path_buf(),
            source,
        }),
    }
}

enum Published {
    /// `tmp` is now `path`.
    Renamed,
    /// `path` is a second link to `tmp` (which the caller removes).
    Linked,
    /// Something was at `path` already; `tmp` is untouched.
    Exists,
}

/// Gives the complete file `tmp` the name `path` without replacing anything there.
fn publish(tmp: &Path, path: &Path) -> io::Result<Published> {
    use rustix::fs::{CWD, RenameFlags, renameat_with};
    use rustix::io::Errno;
    match renameat_with(CWD, tmp, CWD, path, RenameFlags::NOREPLACE) {
        Ok(()) => Ok(Published::Renamed),
        Err(Errno::EXIST) => Ok(Published::Exists),
        // File systems without RENAME_NOREPLACE: a hard link is just as exclusive.
        Err(Errno::INVAL | Errno::NOSYS | Errno::OPNOTSUPP) => {
            match std::fs::hard_link(tmp, path) {
                Ok(()) => Ok(Published::Linked),
                Err(e) if e.kind() == io::ErrorKind::AlreadyExists => Ok(Published::Exists),
                Err(e) => Err(e),
            }
        }
        Err(e) => Err(e.into()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn stager(dir: &Path) -> Stager {
        Stager {
            download_dir: dir.to_path_buf(),
            download_url: "http://h/p/download".into(),
            fanout: 1024,
            cache_md5: true,
        }
    }

    #[test]
    fn names_are_checked() {
        for bad in ["", "a/b", "..", "x y", "a%20", "a&b", "<x>", "a\nb"] {
            assert!(check_input_name(bad).is_err(), "{bad:?}");
        }
        check_input_name("mnist_job_7.json").unwrap();
    }

    #[test]
    fn staging_is_immutable_and_idempotent() {
        let tmp = tempfile::tempdir().unwrap();
        let s = stager(tmp.path());
        let a = s.stage_bytes("fx_in_0.txt", b"hello\n").unwrap();
        // The fan-out directory is the one stock BOINC computes (fixtures/stock-server).
        assert_eq!(a.path, tmp.path().join("a6/fx_in_0.txt"));
        assert_eq!(a.url, "http://h/p/download/a6/fx_in_0.txt");
        assert_eq!(
            std::fs::read_to_string(tmp.path().join("a6/fx_in_0.txt.md5")).unwrap(),
            format!("{} 6.000000000000000e+00\n", a.md5.md5)
        );
        let again = s.stage_bytes("fx_in_0.txt", b"hello\n").unwrap();
        assert_eq!(again, a);
        let e = s.stage_bytes("fx_in_0.txt", b"other\n").unwrap_err();
        assert!(matches!(e, StageError::Immutable { .. }), "{e}");
        assert_eq!(std::fs::read(&a.path).unwrap(), b"hello\n");
        // No temporary files left behind.
        let names: Vec<_> = std::fs::read_dir(tmp.path().join("a6"))
            .unwrap()
            .map(|e| e.unwrap().file_name().into_string().unwrap())
            .collect();
        assert_eq!(names.len(), 2, "{names:?}");
    }

    #[test]
    fn stage_many_keeps_order_and_immutability() {
        let tmp = tempfile::tempdir().unwrap();
        let s = stager(tmp.path());
        s.stage_bytes("job_3.json", b"three").unwrap();
        // Enough files for several threads; one clashes with a staged file, one repeats it.
        let mut files: Vec<(String, Vec<u8>)> = (0..300)
            .map(|i| {
                (
                    format!("job_{i}.json"),
                    format!("{{\"seed\": {i}}}").into_bytes(),
                )
            })
            .collect();
        files[7] = ("job_3.json".into(), b"three".to_vec());
        let out = s.stage_many(&files);
        assert_eq!(out.len(), files.len());
        for (i, ((name, bytes), r)) in files.iter().zip(&out).enumerate() {
            if i == 3 {
                assert!(matches!(r, Err(StageError::Immutable { .. })), "{r:?}");
                continue;
            }
            let f = r.as_ref().unwrap();
            assert_eq!(&f.name, name);
            assert_eq!(f.path, hier::dir_hier_path(tmp.path(), name, 1024).unwrap());
            assert_eq!(f.md5.md5, md5file::Md5Hex::of_bytes(bytes));
            assert_eq!(&std::fs::read(&f.path).unwrap(), bytes);
            // No cache for these (the caller carries the MD5), except the one staged before.
            let cache = md5file::cache_path(&f.path);
            assert_eq!(cache.exists(), name == "job_3.json", "{}", cache.display());
        }
        assert_eq!(
            std::fs::read(s.lookup_path("job_3.json").unwrap()).unwrap(),
            b"three"
        );
        s.sync().unwrap();
        // No temporary file anywhere.
        let mut stack = vec![tmp.path().to_path_buf()];
        while let Some(d) = stack.pop() {
            for e in std::fs::read_dir(&d).unwrap() {
                let e = e.unwrap();
                if e.file_type().unwrap().is_dir() {
                    stack.push(e.path());
                } else {
                    let n = e.file_name().into_string().unwrap();
                    assert!(!n.ends_with(".tmp"), "{n}");
                }
            }
        }
        assert!(s.stage_many(&[]).is_empty());
    }

    #[test]
    fn lookups_create_nothing() {
        let tmp = tempfile::tempdir().unwrap();
        let s = stager(tmp.path());
        assert!(s.locate("absent.json").is_err());
        assert_eq!(std::fs::read_dir(tmp.path()).unwrap().count(), 0);
    }

    #[test]
    fn locate_copies_from_the_top_level() {
        let tmp = tempfile::tempdir().unwrap();
        let s = stager(tmp.path());
        std::fs::write(tmp.path().join("fx_in_1.txt"), b"abc").unwrap();
        let f = s.locate("fx_in_1.txt").unwrap();
        assert_eq!(f.path, tmp.path().join("9f/fx_in_1.txt"));
        assert_eq!(f.md5.nbytes, 3);
        let e = s.locate("nothing_here").unwrap_err().to_string();
        assert!(e.contains("is not staged"), "{e}");
        let e = s.constant("fx_in_9.txt").unwrap_err();
        assert!(matches!(e, StageError::Missing { .. }));
    }
}
