//! The upload/download fan-out hierarchy: which subdirectory of `download/` or `upload/` a file
//! lives in.
//!
//! A project may hold millions of files, too many for one directory, so BOINC spreads them over
//! `<uldl_dir_fanout>` subdirectories chosen from the MD5 of the *file name*: skip the first hex
//! character of the digest, read the next seven as a hex number, reduce it modulo the fanout and
//! print the remainder in lowercase hex without padding. Fanout 0 means a flat directory. Every
//! part of the server (create_work, the upload handler, validator, assimilator, file_deleter) must
//! agree on this byte for byte, and so must a stock BOINC tool running against the same project.
//!
//! Names come from outside (clients upload files by name, researchers submit input files), so
//! the path builders refuse names that could leave the root: see [`check_file_name`]. Names are
//! hashed as raw bytes with no normalisation; on Unix a name need not be UTF-8.

use std::ffi::OsStr;
use std::fmt;
use std::fs;
use std::io;
use std::os::unix::ffi::OsStrExt;
use std::path::{Path, PathBuf};

use crate::md5file::Md5Hex;

/// Longest accepted name in bytes: a single path component (`NAME_MAX` on Linux).
pub const MAX_NAME_LEN: usize = 255;

/// Why a file name is refused.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum NameProblem {
    Empty,
    /// `.` alone names the directory itself.
    Dot,
    /// BOINC's upload handler refuses any name containing `..`; so do we.
    DotDot,
    Slash,
    Nul,
    /// A control character other than NUL (BOINC refuses these too).
    Control(u8),
    TooLong(usize),
}

impl fmt::Display for NameProblem {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            NameProblem::Empty => f.write_str("it is empty"),
            NameProblem::Dot => f.write_str("it is \".\""),
            NameProblem::DotDot => f.write_str("it contains \"..\""),
            NameProblem::Slash => f.write_str("it contains '/'"),
            NameProblem::Nul => f.write_str("it contains a NUL byte"),
            NameProblem::Control(b) => write!(f, "it contains control character 0x{b:02x}"),
            NameProblem::TooLong(n) => write!(f, "it is {n} bytes long (at most {MAX_NAME_LEN})"),
        }
    }
}

/// Errors of this module.
#[derive(Debug, thiserror::Error)]
pub enum HierError {
    #[error("refusing file name {name:?}: {problem}")]
    BadName { name: String, problem: NameProblem },
    #[error("cannot create hierarchy directory {path}")]
    CreateDir {
        path: PathBuf,
        #[source]
        source: io::Error,
    },
}

/// Checks that `name` is a single, harmless path component: not empty, not `.`, no `..`, no `/`,
/// no NUL or other control characters, at most [`MAX_NAME_LEN`] bytes.
pub fn check_file_name(name: &[u8]) -> Result<(), HierError> {
    name_problem(name).map_or(Ok(()), |problem| {
        Err(HierError::BadName {
            name: String::from_utf8_lossy(name).into_owned(),
            problem,
        })
    })
}

fn name_problem(name: &[u8]) -> Option<NameProblem> {
    if name.is_empty() {
        return Some(NameProblem::Empty);
    }
    if name.len() > MAX_NAME_LEN {
        return Some(NameProblem::TooLong(name.len()));
    }
    if name == b"." {
        return Some(NameProblem::Dot);
    }
    if name.windows(2).any(|w| w == b"..") {
        return Some(NameProblem::DotDot);
    }
    for &b in name {
        match b {
            b'/' => return Some(NameProblem::Slash),
            0 => return Some(NameProblem::Nul),
            b if b.is_ascii_control() => return Some(NameProblem::Control(b)),
            _ => {}
        }
    }
    None
}

/// One file hierarchy on disk (the project's `download/` or `upload/`) with its fan-out: where
/// the daemons find a file by its name.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Hierarchy {
    pub root: PathBuf,
    pub fanout: u32,
}

impl Hierarchy {
    pub fn new(root: impl Into<PathBuf>, fanout: u32) -> Hierarchy {
        Hierarchy {
            root: root.into(),
            fanout,
        }
    }

    /// The path of the file `name` ([`dir_hier_path`]): refuses names that are not one plain
    /// path component, so a forged name cannot point outside the root.
    pub fn path<N: AsRef<[u8]> + ?Sized>(&self, name: &N) -> Result<PathBuf, HierError> {
        dir_hier_path(&self.root, name, self.fanout)
    }

    pub fn root(&self) -> &Path {
        &self.root
    }
}

/// The fan-out subdirectory for `name` (`None` for fanout 0, the flat layout). Pure: any bytes
/// are hashed; callers that build paths use [`dir_hier_path`], which also checks the name.
pub fn hash_dir(name: &[u8], fanout: u32) -> Option<String> {
    if fanout == 0 {
        return None;
    }
    let md5 = Md5Hex::of_bytes(name);
    // Seven hex digits fit in 28 bits; the digest is valid hex by construction.
    let x = u32::from_str_radix(&md5.as_str()[1..8], 16).unwrap_or(0);
    Some(format!("{:x}", x % fanout))
}

/// `<root>/<dir>/<name>` (or `<root>/<name>` for fanout 0), after checking the name.
/// Does not touch the file system.
pub fn dir_hier_path<N: AsRef<[u8]> + ?Sized>(
    root: &Path,
    name: &N,
    fanout: u32,
) -> Result<PathBuf, HierError> {
    let name = name.as_ref();
    check_file_name(name)?;
    let mut path = root.to_path_buf();
    if let Some(dir) = hash_dir(name, fanout) {
        path.push(dir);
    }
    path.push(OsStr::from_bytes(name));
    Ok(path)
}

/// Like [`dir_hier_path`], and also creates the fan-out directory if it is missing (the root
/// itself must exist: a missing `download/` is a configuration error, not something to paper over).
pub fn create_dir_hier_path<N: AsRef<[u8]> + ?Sized>(
    root: &Path,
    name: &N,
    fanout: u32,
) -> Result<PathBuf, HierError> {
    let path = dir_hier_path(root, name, fanout)?;
    if fanout != 0 {
        let dir = path.parent().unwrap_or(root);
        match fs::create_dir(dir) {
            Ok(()) => {}
            Err(e) if e.kind() == io::ErrorKind::AlreadyExists && dir.is_dir() => {}
            Err(source) => {
                return Err(HierError::CreateDir {
                    path: dir.to_owned(),
                    source,
                });
            }
        }
    }
    Ok(path)
}

/// `<url_base>/<dir>/<name>`, the download URL of a file in the hierarchy. Like BOINC, nothing is
/// URL-escaped; pass the base without a trailing slash.
pub fn dir_hier_url(url_base: &str, name: &str, fanout: u32) -> Result<String, HierError> {
    check_file_name(name.as_bytes())?;
    Ok(match hash_dir(name.as_bytes(), fanout) {
        Some(dir) => format!("{url_base}/{dir}/{name}"),
        None => format!("{url_base}/{name}"),
    })
}

/// [`dir_hier_url`] for names that are not UTF-8: the URL as raw bytes, as BOINC builds it.
pub fn dir_hier_url_bytes(url_base: &[u8], name: &[u8], fanout: u32) -> Result<Vec<u8>, HierError> {
    check_file_name(name)?;
    let mut url = url_base.to_vec();
    url.push(b'/');
    if let Some(dir) = hash_dir(name, fanout) {
        url.extend_from_slice(dir.as_bytes());
        url.push(b'/');
    }
    url.extend_from_slice(name);
    Ok(url)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn spec_examples_at_fanout_1024() {
        assert_eq!(
            hash_dir(b"example_app_1700000000_0", 1024).as_deref(),
            Some("348")
        );
        assert_eq!(hash_dir(b"wu_1_0_r12345_0", 1024).as_deref(), Some("3ea"));
        assert_eq!(hash_dir(b"input.txt", 1024).as_deref(), Some("347"));
        assert_eq!(hash_dir(b"input.txt", 0), None);
    }

    #[test]
    fn refused_names_say_why() {
        let cases: [(&[u8], NameProblem); 8] = [
            (b"", NameProblem::Empty),
            (b".", NameProblem::Dot),
            (b"..", NameProblem::DotDot),
            (b"a..b", NameProblem::DotDot),
            (b"../etc/passwd", NameProblem::DotDot),
            (b"dir/file", NameProblem::Slash),
            (b"a\0b", NameProblem::Nul),
            (b"a\nb", NameProblem::Control(b'\n')),
        ];
        for (name, want) in cases {
            match check_file_name(name) {
                Err(HierError::BadName { problem, .. }) => assert_eq!(problem, want, "{name:?}"),
                other => panic!("{name:?}: {other:?}"),
            }
        }
        let long = vec![b'a'; MAX_NAME_LEN + 1];
        assert!(check_file_name(&long).is_err());
        assert!(check_file_name(&long[..MAX_NAME_LEN]).is_ok());
        let err = dir_hier_path(Path::new("/r"), "/etc/passwd", 1024).unwrap_err();
        assert_eq!(
            err.to_string(),
            "refusing file name \"/etc/passwd\": it contains '/'"
        );
    }
}
