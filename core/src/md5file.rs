//! MD5 of files, and the `.md5` cache files that sit next to staged input files.
//!
//! BOINC identifies every downloadable file by the lowercase hex MD5 of its bytes (`<md5_cksum>`
//! in a workunit's `<file_info>`), and it signs that same hex text (see [`crate::crypt`]). Hashing a
//! large input on every `create_work` would be wasteful, so the stock tools keep the digest and
//! the size in `NAME.md5` next to the staged file. Two writers exist and both formats must be read:
//! the stager writes `"<md5> <nbytes as integer>\n"`, `create_work` writes
//! `"<md5> <nbytes as %.15e>\n"` (for example `2.900000000000000e+01`). We write the latter.
//!
//! All functions here do blocking file I/O; async callers run them in
//! `tokio::task::spawn_blocking`.

use std::ffi::OsString;
use std::fmt;
use std::fs::{self, File, OpenOptions};
use std::io::{self, Read, Write};
use std::path::{Path, PathBuf};
use std::str::FromStr;

use md5::{Digest, Md5};

/// Read size for streaming a file through MD5.
const CHUNK: usize = 64 * 1024;

/// The three magic bytes a gzip member starts with (ID1, ID2, CM = deflate).
const GZIP_MAGIC: [u8; 3] = [0x1f, 0x8b, 0x08];

/// Length of the fixed gzip header that the `is_gzip` variant skips.
const GZIP_HEADER_LEN: usize = 10;

/// Sizes above this cannot be written exactly with 16 significant digits in `%.15e`.
const MAX_EXACT_NBYTES: u64 = 1 << 53;

/// Errors of this module. Every variant that touches a file names it.
#[derive(Debug, thiserror::Error)]
pub enum Md5FileError {
    #[error("cannot read {path}")]
    Read {
        path: PathBuf,
        #[source]
        source: io::Error,
    },
    #[error("cannot write {path}")]
    Write {
        path: PathBuf,
        #[source]
        source: io::Error,
    },
    #[error("{path} is not a gzip file (needs a 10-byte header starting 1f 8b 08)")]
    NotGzip { path: PathBuf },
    #[error("bad MD5 cache file {path}; remove it and stage the file again")]
    BadCache {
        path: PathBuf,
        #[source]
        source: Md5CacheFormatError,
    },
    #[error("file {path} is {nbytes} bytes, too large to record exactly in a .md5 file")]
    TooLarge { path: PathBuf, nbytes: u64 },
}

/// What is wrong with the text of a `.md5` cache file or an MD5 hex string.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum Md5CacheFormatError {
    #[error("an MD5 must be 32 lowercase hex characters, got {0:?}")]
    BadMd5(String),
    #[error("the file must be one line ending in a newline")]
    NotOneLine,
    #[error("expected \"<md5> <nbytes>\", got {0:?}")]
    BadFields(String),
    #[error("nbytes {0:?} is not a non-negative whole number")]
    BadNbytes(String),
}

/// A lowercase hex MD5 digest (32 ASCII characters), the form BOINC stores, sends and signs.
#[derive(Clone, PartialEq, Eq, Hash)]
pub struct Md5Hex(String);

impl Md5Hex {
    /// The MD5 of a byte string (BOINC's `md5_block` / `md5_string`).
    pub fn of_bytes(data: &[u8]) -> Self {
        Self::from_digest(Md5::digest(data))
    }

    fn from_digest(digest: impl AsRef<[u8]>) -> Self {
        Md5Hex(hex::encode(digest))
    }

    /// Checks that `text` is exactly 32 lowercase hex characters.
    pub fn parse(text: &str) -> Result<Self, Md5CacheFormatError> {
        let ok = text.len() == 32 && text.bytes().all(|b| matches!(b, b'0'..=b'9' | b'a'..=b'f'));
        if ok {
            Ok(Md5Hex(text.to_owned()))
        } else {
            Err(Md5CacheFormatError::BadMd5(text.to_owned()))
        }
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }

    pub fn as_bytes(&self) -> &[u8] {
        self.0.as_bytes()
    }
}

impl FromStr for Md5Hex {
    type Err = Md5CacheFormatError;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        Self::parse(s)
    }
}

impl fmt::Display for Md5Hex {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

impl fmt::Debug for Md5Hex {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "Md5Hex({})", self.0)
    }
}

/// The digest and size of a file, as a `<file_info>` carries them.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Md5Info {
    pub md5: Md5Hex,
    /// Number of bytes read. For [`md5_gzip_file`] this includes the skipped header, as in BOINC.
    pub nbytes: u64,
}

/// MD5 and length of everything `reader` yields, read in chunks (constant memory).
pub fn md5_reader<R: Read>(mut reader: R) -> io::Result<Md5Info> {
    let mut hasher = Md5::new();
    let mut buf = vec![0u8; CHUNK];
    let mut nbytes = 0u64;
    loop {
        let n = match reader.read(&mut buf) {
            Ok(0) => break,
            Ok(n) => n,
            Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
            Err(e) => return Err(e),
        };
        hasher.update(&buf[..n]);
        nbytes += n as u64;
    }
    Ok(Md5Info {
        md5: Md5Hex::from_digest(hasher.finalize()),
        nbytes,
    })
}

/// MD5 of a file's whole content (BOINC's `md5_file` with `is_gzip = false`).
pub fn md5_file(path: &Path) -> Result<Md5Info, Md5FileError> {
    let read_err = |source| Md5FileError::Read {
        path: path.to_owned(),
        source,
    };
    let file = File::open(path).map_err(read_err)?;
    md5_reader(file).map_err(read_err)
}

/// MD5 of a gzip file's content after its 10-byte fixed header (BOINC's `md5_file` with
/// `is_gzip = true`, used by the bitwise validator so that the header's timestamp and OS byte do
/// not matter). Fails unless the file starts with `1f 8b 08`. `nbytes` counts the header too.
pub fn md5_gzip_file(path: &Path) -> Result<Md5Info, Md5FileError> {
    let read_err = |source| Md5FileError::Read {
        path: path.to_owned(),
        source,
    };
    let mut file = File::open(path).map_err(read_err)?;
    let mut header = [0u8; GZIP_HEADER_LEN];
    match file.read_exact(&mut header) {
        Ok(()) => {}
        Err(e) if e.kind() == io::ErrorKind::UnexpectedEof => {
            return Err(Md5FileError::NotGzip {
                path: path.to_owned(),
            });
        }
        Err(e) => return Err(read_err(e)),
    }
    if header[..3] != GZIP_MAGIC {
        return Err(Md5FileError::NotGzip {
            path: path.to_owned(),
        });
    }
    let mut info = md5_reader(file).map_err(read_err)?;
    info.nbytes += GZIP_HEADER_LEN as u64;
    Ok(info)
}

/// `PATH.md5`: where the cache file for `path` lives.
pub fn cache_path(path: &Path) -> PathBuf {
    let mut s = OsString::from(path.as_os_str());
    s.push(".md5");
    PathBuf::from(s)
}

/// The text `create_work` writes into a `.md5` file: `"<md5> <nbytes %.15e>\n"`.
pub fn format_cache(info: &Md5Info) -> String {
    // Exact for every size up to 2^53 (checked by `write_cache`); `as` is the C double conversion.
    let nbytes = info.nbytes as f64;
    format!("{} {}\n", info.md5, format_c_exp(nbytes, 15))
}

/// Parses either `.md5` format (integer or `%.15e` size). Like BOINC's reader it wants exactly one
/// line: the digest, whitespace, the size, a newline, nothing after. Stricter than BOINC, the digest
/// must be 32 lowercase hex characters and the size a whole non-negative number.
pub fn parse_cache(text: &str) -> Result<Md5Info, Md5CacheFormatError> {
    let line = text
        .strip_suffix('\n')
        .ok_or(Md5CacheFormatError::NotOneLine)?;
    if line.contains(['\n', '\r']) {
        return Err(Md5CacheFormatError::NotOneLine);
    }
    let fields: Vec<&str> = line.split_ascii_whitespace().collect();
    let [md5, nbytes] = fields[..] else {
        return Err(Md5CacheFormatError::BadFields(line.to_owned()));
    };
    let md5 = Md5Hex::parse(md5)?;
    let bad = || Md5CacheFormatError::BadNbytes(nbytes.to_owned());
    let value: f64 = nbytes.parse().map_err(|_| bad())?;
    let in_range = value.is_finite() && value >= 0.0 && value <= MAX_EXACT_NBYTES as f64;
    if !in_range || value.fract() != 0.0 {
        return Err(bad());
    }
    let nbytes = value as u64;
    Ok(Md5Info { md5, nbytes })
}

/// Reads `PATH.md5` if it exists and is not older than `path` itself.
///
/// Returns `Ok(None)` when there is no cache file or when it is stale (older than the data file;
/// BOINC then deletes it and hashes again, see [`md5_cached`]). A cache file that exists but cannot
/// be parsed is an error, because it means someone else wrote something we do not understand.
pub fn read_cache(path: &Path) -> Result<Option<Md5Info>, Md5FileError> {
    let md5_path = cache_path(path);
    let text = match fs::read_to_string(&md5_path) {
        Ok(text) => text,
        Err(e) if e.kind() == io::ErrorKind::NotFound => return Ok(None),
        Err(source) => {
            return Err(Md5FileError::Read {
                path: md5_path,
                source,
            });
        }
    };
    if is_older(&md5_path, path)? {
        return Ok(None);
    }
    parse_cache(&text)
        .map(Some)
        .map_err(|source| Md5FileError::BadCache {
            path: md5_path,
            source,
        })
}

/// Writes `PATH.md5` in `create_work`'s format unless it already exists (BOINC never rewrites an
/// existing cache file). Returns whether a file was written. A failed write leaves no file behind.
pub fn write_cache(path: &Path, info: &Md5Info) -> Result<bool, Md5FileError> {
    let md5_path = cache_path(path);
    if info.nbytes > MAX_EXACT_NBYTES {
        return Err(Md5FileError::TooLarge {
            path: path.to_owned(),
            nbytes: info.nbytes,
        });
    }
    let mut file = match OpenOptions::new()
        .write(true)
        .create_new(true)
        .open(&md5_path)
    {
        Ok(f) => f,
        Err(e) if e.kind() == io::ErrorKind::AlreadyExists => return Ok(false),
        Err(source) => {
            return Err(Md5FileError::Write {
                path: md5_path,
                source,
            });
        }
    };
    if let Err(source) = file.write_all(format_cache(info).as_bytes()) {
        drop(file);
        let _ = fs::remove_file(&md5_path);
        return Err(Md5FileError::Write {
            path: md5_path,
            source,
        });
    }
    Ok(true)
}

/// The digest of a staged file, the way `create_work` gets it.
///
/// With `use_cache` (config `<cache_md5_info>`): a fresh `.md5` file is trusted; a stale one is
/// removed; otherwise the file is hashed and a new `.md5` written. An unreadable cache file is
/// logged and ignored (the file is hashed; the bad cache file is left for the operator, as BOINC
/// does). Without `use_cache` the file is always hashed and no cache file is touched.
pub fn md5_cached(path: &Path, use_cache: bool) -> Result<Md5Info, Md5FileError> {
    if !use_cache {
        return md5_file(path);
    }
    match read_cache(path) {
        Ok(Some(info)) => return Ok(info),
        Ok(None) => {
            let md5_path = cache_path(path);
            match fs::remove_file(&md5_path) {
                Ok(()) => tracing::info!(path = %md5_path.display(), "removed stale .md5 file"),
                Err(e) if e.kind() == io::ErrorKind::NotFound => {}
                Err(source) => {
                    return Err(Md5FileError::Write {
                        path: md5_path,
                        source,
                    });
                }
            }
        }
        Err(e @ Md5FileError::BadCache { .. }) => {
            tracing::warn!(error = %e, "ignoring bad .md5 cache file");
        }
        Err(e) => return Err(e),
    }
    let info = md5_file(path)?;
    write_cache(path, &info)?;
    Ok(info)
}

/// True when `a` was modified before `b`.
fn is_older(a: &Path, b: &Path) -> Result<bool, Md5FileError> {
    let mtime = |p: &Path| {
        fs::metadata(p)
            .and_then(|m| m.modified())
            .map_err(|source| Md5FileError::Read {
                path: p.to_owned(),
                source,
            })
    };
    Ok(mtime(a)? < mtime(b)?)
}

/// C's `%.<prec>e`: Rust's `{:e}` gives the same digits but writes the exponent as `e1`/`e-1`
/// where C writes `e+01`/`e-01` (sign always, at least two digits).
pub(crate) fn format_c_exp(x: f64, prec: usize) -> String {
    let rust = format!("{x:.prec$e}");
    let Some((mantissa, exp)) = rust.split_once('e') else {
        return rust; // inf / NaN have no exponent
    };
    let (sign, digits) = match exp.strip_prefix('-') {
        Some(d) => ('-', d),
        None => ('+', exp),
    };
    format!("{mantissa}e{sign}{digits:0>2}")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn c_exponent_format_matches_printf() {
        // Expected values are what glibc printf("%.15e") prints.
        let cases = [
            (29.0, "2.900000000000000e+01"),
            (0.0, "0.000000000000000e+00"),
            (1.0, "1.000000000000000e+00"),
            (102400.0, "1.024000000000000e+05"),
            (0.5, "5.000000000000000e-01"),
            (1e300, "1.000000000000000e+300"),
            (9007199254740992.0, "9.007199254740992e+15"),
        ];
        for (x, want) in cases {
            assert_eq!(format_c_exp(x, 15), want, "{x}");
        }
    }

    #[test]
    fn md5_hex_rejects_wrong_shapes() {
        assert!(Md5Hex::parse("d41d8cd98f00b204e9800998ecf8427e").is_ok());
        for bad in [
            "",
            "D41D8CD98F00B204E9800998ECF8427E",
            "d41d8cd98f00b204e9800998ecf8427",
            "g41d8cd98f00b204e9800998ecf8427e",
        ] {
            assert!(Md5Hex::parse(bad).is_err(), "{bad:?}");
        }
    }

    #[test]
    fn known_digests() {
        assert_eq!(
            Md5Hex::of_bytes(b"").as_str(),
            "d41d8cd98f00b204e9800998ecf8427e"
        );
        assert_eq!(
            Md5Hex::of_bytes(b"A").as_str(),
            "7fc56270e7a70fa81a5935b72eacbe29"
        );
    }
}
