//! db_purge's archive files: where the purged rows are written before they are deleted.
//!
//! One *archive set* is four files sharing a Unix time `T` (BOINC's names; the index files end
//! in `.xml` too, as the C++ daemon names them although they are plain text):
//! `wu_archive_T.xml`, `result_archive_T.xml` (records inside `<archive>…</archive>`),
//! `wu_index_T.xml`, `result_index_T.xml` (one `<id> <T> <name>` line per row), in
//! `<project>/archives/` or, with `--daily_dir`, `archives/YYYY_MM_DD/` (UTC). With `--gzip`
//! (or `--zlib`) each file is a gzip stream named `….xml.gz`; with `--zip` a zip archive
//! `….xml.zip` holding one entry named like the file.
//!
//! A new set never reuses a time: BOINC waits for the clock to move past the previous set's
//! second; we also refuse to overwrite files left by an earlier run in the same second (BOINC
//! would truncate them) and wait for the next second instead.

use std::fs::{self, File, OpenOptions};
use std::io::{self, BufWriter, Write};
use std::path::{Path, PathBuf};
use std::time::Duration;

use flate2::Compression as GzLevel;
use flate2::write::GzEncoder;
use rboinc_core::calendar::UtcTime;
use rboinc_core::clock;
use zip::ZipWriter;
use zip::write::{SimpleFileOptions, StreamWriter};

/// `--gzip`/`--zlib`/`--zip`, or none.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Compression {
    #[default]
    None,
    Gzip,
    Zip,
}

impl Compression {
    fn suffix(self) -> &'static str {
        match self {
            Compression::None => "",
            Compression::Gzip => ".gz",
            Compression::Zip => ".zip",
        }
    }
}

/// Where and how archive sets are written.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ArchiveSettings {
    /// `<project>/archives`.
    pub dir: PathBuf,
    pub daily_dir: bool,
    pub compression: Compression,
}

/// The four files of a set, in BOINC's opening order.
const PREFIXES: [&str; 4] = ["wu_archive", "result_archive", "result_index", "wu_index"];
const WU: usize = 0;
const RESULT: usize = 1;
const RESULT_INDEX: usize = 2;
const WU_INDEX: usize = 3;

enum Sink {
    Plain(BufWriter<File>),
    Gzip(Box<GzEncoder<BufWriter<File>>>),
    Zip(Box<ZipWriter<StreamWriter<BufWriter<File>>>>),
}

impl Sink {
    fn open(path: &Path, compression: Compression) -> io::Result<Sink> {
        let file = OpenOptions::new().write(true).create_new(true).open(path)?;
        let out = BufWriter::new(file);
        Ok(match compression {
            Compression::None => Sink::Plain(out),
            Compression::Gzip => Sink::Gzip(Box::new(GzEncoder::new(out, GzLevel::default()))),
            Compression::Zip => {
                let mut zip = ZipWriter::new_stream(out);
                let entry = path
                    .file_stem()
                    .map(|s| s.to_string_lossy().into_owned())
                    .unwrap_or_default();
                zip.start_file(entry, SimpleFileOptions::default())
                    .map_err(io::Error::other)?;
                Sink::Zip(Box::new(zip))
            }
        })
    }

    fn writer(&mut self) -> &mut dyn Write {
        match self {
            Sink::Plain(w) => w,
            Sink::Gzip(w) => w,
            Sink::Zip(w) => w.as_mut(),
        }
    }

    /// Pushes buffered bytes to the file (for gzip/zip: as far as the encoder allows).
    fn flush(&mut self) -> io::Result<()> {
        self.writer().flush()
    }

    fn finish(self) -> io::Result<()> {
        let mut file = match self {
            Sink::Plain(w) => w,
            Sink::Gzip(w) => w.finish()?,
            Sink::Zip(w) => w.finish().map_err(io::Error::other)?.into_inner(),
        };
        file.flush()
    }
}

/// An open archive set.
pub struct ArchiveSet {
    time: i64,
    paths: Vec<PathBuf>,
    sinks: Vec<Sink>,
    workunits: u64,
}

impl std::fmt::Debug for ArchiveSet {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ArchiveSet")
            .field("time", &self.time)
            .field("paths", &self.paths)
            .field("workunits", &self.workunits)
            .finish()
    }
}

impl ArchiveSet {
    /// Opens a new set with a time later than `previous` (blocking: may sleep up to a second
    /// or two; call from `spawn_blocking`).
    pub fn open(settings: &ArchiveSettings, previous: Option<i64>) -> io::Result<ArchiveSet> {
        loop {
            let now = clock::now_i64();
            if previous.is_some_and(|p| now <= p) {
                std::thread::sleep(Duration::from_millis(200));
                continue;
            }
            let dir = if settings.daily_dir {
                settings.dir.join(utc_date_dir(now))
            } else {
                settings.dir.clone()
            };
            fs::create_dir_all(&dir)?;
            let paths: Vec<PathBuf> = PREFIXES
                .iter()
                .map(|p| dir.join(format!("{p}_{now}.xml{}", settings.compression.suffix())))
                .collect();
            let mut sinks = Vec::with_capacity(4);
            let mut clash = false;
            for path in &paths {
                match Sink::open(path, settings.compression) {
                    Ok(s) => sinks.push(s),
                    Err(e) if e.kind() == io::ErrorKind::AlreadyExists => {
                        clash = true;
                        break;
                    }
                    Err(e) => return Err(annotate(e, path)),
                }
            }
            if clash {
                // Another run used this second: remove what we created and wait.
                let created = sinks.len();
                drop(sinks);
                for path in &paths[..created] {
                    let _ = fs::remove_file(path);
                }
                tracing::warn!(time = now, "archive files of this second exist; waiting");
                std::thread::sleep(Duration::from_secs(1));
                continue;
            }
            let mut set = ArchiveSet {
                time: now,
                paths,
                sinks,
                workunits: 0,
            };
            for i in [WU, RESULT] {
                set.write(i, b"<archive>\n")?;
            }
            for path in &set.paths {
                tracing::info!(path = %path.display(), "opened archive");
            }
            return Ok(set);
        }
    }

    /// The set's time `T`, which index lines carry.
    pub fn time(&self) -> i64 {
        self.time
    }

    /// Workunits written to this set so far.
    pub fn workunits(&self) -> u64 {
        self.workunits
    }

    pub fn paths(&self) -> &[PathBuf] {
        &self.paths
    }

    fn write(&mut self, file: usize, bytes: &[u8]) -> io::Result<()> {
        self.sinks[file]
            .writer()
            .write_all(bytes)
            .map_err(|e| annotate(e, &self.paths[file]))
    }

    /// Appends one workunit's records (its results, then itself) and index lines.
    pub fn append(
        &mut self,
        results: &str,
        result_index: &str,
        workunit: &str,
        wu_index: &str,
    ) -> io::Result<()> {
        self.write(RESULT, results.as_bytes())?;
        self.write(RESULT_INDEX, result_index.as_bytes())?;
        self.write(WU, workunit.as_bytes())?;
        self.write(WU_INDEX, wu_index.as_bytes())?;
        self.workunits += 1;
        Ok(())
    }

    /// Writes buffered records to the files; call before deleting the rows they hold.
    pub fn flush(&mut self) -> io::Result<()> {
        for (sink, path) in self.sinks.iter_mut().zip(&self.paths) {
            sink.flush().map_err(|e| annotate(e, path))?;
        }
        Ok(())
    }

    /// Ends the XML documents and closes the files.
    pub fn close(mut self) -> io::Result<()> {
        for i in [WU, RESULT] {
            self.write(i, b"</archive>\n")?;
        }
        for (sink, path) in self.sinks.into_iter().zip(&self.paths) {
            sink.finish().map_err(|e| annotate(e, path))?;
            tracing::info!(path = %path.display(), workunits = self.workunits, "closed archive");
        }
        Ok(())
    }
}

fn annotate(e: io::Error, path: &Path) -> io::Error {
    io::Error::new(e.kind(), format!("{}: {e}", path.display()))
}

/// `YYYY_MM_DD` of a Unix time, in UTC.
pub fn utc_date_dir(t: i64) -> String {
    UtcTime::from_unix(t).format_date('_')
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::io::Read;

    #[test]
    fn dates() {
        assert_eq!(utc_date_dir(0), "1970_01_01");
        assert_eq!(utc_date_dir(951_782_400), "2000_02_29");
        assert_eq!(utc_date_dir(1_795_911_069), "2026_11_29");
        assert_eq!(utc_date_dir(1_704_067_199), "2023_12_31");
    }

    fn settings(dir: &Path, compression: Compression, daily_dir: bool) -> ArchiveSettings {
        ArchiveSettings {
            dir: dir.to_path_buf(),
            daily_dir,
            compression,
        }
    }

    #[test]
    fn a_set_is_four_files_and_never_reuses_a_second() {
        let dir = tempfile::tempdir().unwrap();
        let s = settings(dir.path(), Compression::None, false);
        let mut a = ArchiveSet::open(&s, None).unwrap();
        a.append("<r/>\n", "1     T    r\n", "<w/>\n", "1     T    w\n")
            .unwrap();
        let t = a.time();
        a.close().unwrap();
        let read = |p: &str| fs::read_to_string(dir.path().join(format!("{p}_{t}.xml"))).unwrap();
        assert_eq!(read("wu_archive"), "<archive>\n<w/>\n</archive>\n");
        assert_eq!(read("result_archive"), "<archive>\n<r/>\n</archive>\n");
        assert_eq!(read("wu_index"), "1     T    w\n");
        assert_eq!(read("result_index"), "1     T    r\n");
        // A second set in the same run, and one that finds the files of `t` taken.
        let b = ArchiveSet::open(&s, Some(t)).unwrap();
        assert!(b.time() > t);
        b.close().unwrap();
        assert_eq!(fs::read_dir(dir.path()).unwrap().count(), 8);
    }

    #[test]
    fn existing_files_are_never_overwritten() {
        let dir = tempfile::tempdir().unwrap();
        let s = settings(dir.path(), Compression::None, false);
        let now = clock::now_i64();
        for t in now..now + 3 {
            fs::write(dir.path().join(format!("wu_index_{t}.xml")), "old").unwrap();
        }
        let set = ArchiveSet::open(&s, None).unwrap();
        assert!(set.time() >= now + 3);
        set.close().unwrap();
        for t in now..now + 3 {
            let p = dir.path().join(format!("wu_index_{t}.xml"));
            assert_eq!(fs::read_to_string(p).unwrap(), "old");
        }
    }

    #[test]
    fn gzip_zip_and_daily_dirs() {
        let dir = tempfile::tempdir().unwrap();
        let s = settings(dir.path(), Compression::Gzip, true);
        let mut set = ArchiveSet::open(&s, None).unwrap();
        set.append("", "", "<w/>\n", "").unwrap();
        let (t, path) = (set.time(), set.paths()[WU].clone());
        set.close().unwrap();
        assert_eq!(path.parent().unwrap(), dir.path().join(utc_date_dir(t)));
        assert!(path.to_string_lossy().ends_with(".xml.gz"));
        let mut text = String::new();
        flate2::read::GzDecoder::new(File::open(&path).unwrap())
            .read_to_string(&mut text)
            .unwrap();
        assert_eq!(text, "<archive>\n<w/>\n</archive>\n");

        let s = settings(dir.path(), Compression::Zip, false);
        let mut set = ArchiveSet::open(&s, Some(t)).unwrap();
        set.append("", "", "<w/>\n", "").unwrap();
        let path = set.paths()[WU].clone();
        set.close().unwrap();
        let mut zip = zip::ZipArchive::new(File::open(&path).unwrap()).unwrap();
        let mut entry = zip.by_index(0).unwrap();
        assert_eq!(
            entry.name().unwrap(),
            path.file_stem().unwrap().to_string_lossy()
        );
        let mut text = String::new();
        entry.read_to_string(&mut text).unwrap();
        assert_eq!(text, "<archive>\n<w/>\n</archive>\n");
    }
}
