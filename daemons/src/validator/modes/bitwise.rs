//! `bitwise`: results agree when every output file is byte-for-byte the same (BOINC's
//! `sample_bitwise_validator`: an MD5 per file, files in template order, `<no_validate/>` files
//! skipped, a missing `<optional/>` file different from any present file). With `--is_gzip`
//! the 10-byte gzip header, which holds a time stamp, is skipped.
//!
//! MD5s are all that is kept between reading and comparing. When two files differ, both are
//! read once more to name the first differing byte for the `results disagree` log line; that
//! happens only on a disagreement.

use std::fs::File;
use std::io::{self, BufReader, Read};
use std::path::PathBuf;

use rboinc_core::db::result::ResultRow;
use rboinc_core::md5file::{Md5Hex, md5_reader};

use crate::validator::plugin::{
    CompareError, Difference, Init, InitError, Outputs, Plugin, Verdict, read_error,
};

/// Length of the gzip header skipped with `--is_gzip`.
const GZIP_HEADER: usize = 10;

/// The `bitwise` mode.
#[derive(Debug, Clone, Copy, Default)]
pub struct Bitwise {
    /// Every output file is gzip: skip its header.
    pub is_gzip: bool,
}

/// One output file as read: its MD5, or `None` for a missing optional file.
#[derive(Debug, Clone, PartialEq)]
pub struct FileSum {
    pub open_name: String,
    pub path: PathBuf,
    pub md5: Option<Md5Hex>,
}

impl Plugin for Bitwise {
    type Data = Vec<FileSum>;

    fn name(&self) -> &str {
        "bitwise"
    }

    fn init_result(&self, outputs: &Outputs<'_>) -> Result<Init<Self::Data>, InitError> {
        let mut sums = Vec::new();
        for file in outputs.files()?.into_iter().filter(|f| !f.no_validate) {
            let md5 = match outputs.open(&file)? {
                None => None,
                Some(mut f) => {
                    if self.is_gzip {
                        skip_gzip_header(&mut f).map_err(|e| match e.kind() {
                            io::ErrorKind::UnexpectedEof => InitError::Permanent(format!(
                                "{}: shorter than a gzip header",
                                file.path.display()
                            )),
                            io::ErrorKind::InvalidData => InitError::Permanent(format!(
                                "{}: not a gzip file",
                                file.path.display()
                            )),
                            _ => read_error(&file, e),
                        })?;
                    }
                    Some(md5_reader(f).map_err(|e| read_error(&file, e))?.md5)
                }
            };
            sums.push(FileSum {
                open_name: file.open_name,
                path: file.path,
                md5,
            });
        }
        Ok(Init::new(sums))
    }

    fn compare_results(
        &self,
        _a: &ResultRow,
        a: &Self::Data,
        _b: &ResultRow,
        b: &Self::Data,
    ) -> Result<Verdict, CompareError> {
        if a.len() != b.len() {
            return Ok(Verdict::Differ(Difference {
                file: String::new(),
                field: "number of output files".into(),
                left: a.len().to_string(),
                right: b.len().to_string(),
            }));
        }
        for (x, y) in a.iter().zip(b) {
            if x.md5 == y.md5 {
                continue;
            }
            let describe = |s: &FileSum| {
                s.md5
                    .as_ref()
                    .map_or("(absent)".to_string(), |m| format!("md5 {}", m.as_str()))
            };
            let difference = match (&x.md5, &y.md5) {
                (Some(_), Some(_)) => self.first_difference(x, y),
                _ => None,
            };
            return Ok(Verdict::Differ(difference.unwrap_or_else(|| Difference {
                file: x.open_name.clone(),
                field: "md5".into(),
                left: describe(x),
                right: describe(y),
            })));
        }
        Ok(Verdict::Match)
    }
}

impl Bitwise {
    /// The first byte where two files differ (offsets count from the start of the file, the
    /// gzip header included); `None` if the files cannot be read again or no longer differ.
    fn first_difference(&self, x: &FileSum, y: &FileSum) -> Option<Difference> {
        let open = |p: &PathBuf| -> io::Result<BufReader<File>> {
            let mut f = File::open(p)?;
            if self.is_gzip {
                skip_gzip_header(&mut f)?;
            }
            Ok(BufReader::with_capacity(64 << 10, f))
        };
        let (mut fx, mut fy) = (open(&x.path).ok()?, open(&y.path).ok()?);
        let start = if self.is_gzip { GZIP_HEADER as u64 } else { 0 };
        let (mut bx, mut by) = ([0u8; 8192], [0u8; 8192]);
        let mut offset = start;
        loop {
            let nx = read_full(&mut fx, &mut bx).ok()?;
            let ny = read_full(&mut fy, &mut by).ok()?;
            let n = nx.min(ny);
            if let Some(i) = (0..n).find(|&i| bx[i] != by[i]) {
                return Some(Difference {
                    file: x.open_name.clone(),
                    field: format!("byte {}", offset + i as u64),
                    left: format!("{:#04x}", bx[i]),
                    right: format!("{:#04x}", by[i]),
                });
            }
            if nx != ny {
                let end = |k: usize| {
                    if k == n {
                        "(end of file)".to_string()
                    } else {
                        format!("{:#04x}", if k == nx { bx[n] } else { by[n] })
                    }
                };
                return Some(Difference {
                    file: x.open_name.clone(),
                    field: format!("byte {}", offset + n as u64),
                    left: end(nx),
                    right: end(ny),
                });
            }
            if nx == 0 {
                return None;
            }
            offset += n as u64;
        }
    }
}

/// Reads until `buf` is full or the end of the file.
fn read_full(r: &mut impl Read, buf: &mut [u8]) -> io::Result<usize> {
    let mut n = 0;
    while n < buf.len() {
        match r.read(&mut buf[n..]) {
            Ok(0) => break,
            Ok(k) => n += k,
            Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
            Err(e) => return Err(e),
        }
    }
    Ok(n)
}

/// Reads past a gzip header; `InvalidData` if the file does not start with gzip's magic.
fn skip_gzip_header(f: &mut File) -> io::Result<()> {
    let mut header = [0u8; GZIP_HEADER];
    f.read_exact(&mut header)?;
    if header[..3] != [0x1f, 0x8b, 0x08] {
        return Err(io::Error::new(io::ErrorKind::InvalidData, "not gzip"));
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::validator::modes::test_files::{hier, put, result_with_outputs};
    use crate::validator::plugin::PluginHandle;

    fn read(mode: Bitwise, dir: &std::path::Path, name: &str) -> Result<Vec<FileSum>, InitError> {
        let r = result_with_outputs(&[(name, "out", false)]);
        let h = hier(dir);
        Plugin::init_result(&mode, &Outputs::new(&r, &h)).map(|i| i.data)
    }

    fn compare(mode: Bitwise, a: &[FileSum], b: &[FileSum]) -> Verdict {
        let r = result_with_outputs(&[]);
        mode.compare_results(&r, &a.to_vec(), &r, &b.to_vec())
            .unwrap()
    }

    #[test]
    fn files_must_be_byte_identical_and_the_first_differing_byte_is_named() {
        let dir = tempfile::tempdir().unwrap();
        put(
            dir.path(),
            "a",
            br#"{"val_acc": 0.9, "host": {"runtime_s": 1}}"#,
        );
        put(
            dir.path(),
            "b",
            br#"{"val_acc": 0.9, "host": {"runtime_s": 2}}"#,
        );
        put(
            dir.path(),
            "c",
            br#"{"val_acc": 0.9, "host": {"runtime_s": 1}}"#,
        );
        put(
            dir.path(),
            "d",
            br#"{"val_acc": 0.9, "host": {"runtime_s": 1}} "#,
        );
        let mode = Bitwise::default();
        let [a, b, c, d] = ["a", "b", "c", "d"].map(|n| read(mode, dir.path(), n).unwrap());
        assert_eq!(compare(mode, &a, &c), Verdict::Match);
        // A JSON document whose host object differs is a different file.
        assert_eq!(
            compare(mode, &a, &b),
            Verdict::Differ(Difference {
                file: "out".into(),
                field: "byte 39".into(),
                left: "0x31".into(),
                right: "0x32".into(),
            })
        );
        let Verdict::Differ(longer) = compare(mode, &a, &d) else {
            panic!("a trailing space is a difference")
        };
        assert_eq!(
            (
                longer.field.as_str(),
                longer.left.as_str(),
                longer.right.as_str()
            ),
            ("byte 42", "(end of file)", "0x20")
        );
    }

    #[test]
    fn gzip_headers_are_skipped() {
        let dir = tempfile::tempdir().unwrap();
        let body = b"compressed bytes";
        let gz = |mtime: u8| [&[0x1f, 0x8b, 0x08, 0, mtime, 0, 0, 0, 0, 3][..], body].concat();
        put(dir.path(), "a", &gz(1));
        put(dir.path(), "b", &gz(2));
        put(dir.path(), "c", b"plain text, long enough");
        put(dir.path(), "d", &[0x1f, 0x8b]);
        let gzip = Bitwise { is_gzip: true };
        let (a, b) = (
            read(gzip, dir.path(), "a").unwrap(),
            read(gzip, dir.path(), "b").unwrap(),
        );
        assert_eq!(compare(gzip, &a, &b), Verdict::Match);
        assert!(
            matches!(read(gzip, dir.path(), "c"), Err(InitError::Permanent(m)) if m.contains("not a gzip"))
        );
        assert!(
            matches!(read(gzip, dir.path(), "d"), Err(InitError::Permanent(m)) if m.contains("shorter"))
        );
        let plain = Bitwise::default();
        let (a, b) = (
            read(plain, dir.path(), "a").unwrap(),
            read(plain, dir.path(), "b").unwrap(),
        );
        assert!(
            matches!(compare(plain, &a, &b), Verdict::Differ(d) if d.field == "byte 4"),
            "the time stamp differs"
        );
    }

    #[test]
    fn missing_files_are_permanent_unless_optional_or_the_upload_dir_is_gone() {
        let dir = tempfile::tempdir().unwrap();
        let mode = PluginHandle::new(Bitwise::default());
        let h = hier(dir.path());
        let missing = result_with_outputs(&[("gone", "out", false)]);
        assert!(matches!(
            mode.init_result(&Outputs::new(&missing, &h)),
            Err(InitError::Permanent(m)) if m.contains("gone")
        ));
        let optional = result_with_outputs(&[("gone", "out", true)]);
        let read = mode.init_result(&Outputs::new(&optional, &h)).unwrap();
        assert_eq!(
            read.data.downcast_ref::<Vec<FileSum>>().unwrap()[0].md5,
            None
        );
        let unmounted = hier(&dir.path().join("not-there"));
        assert!(matches!(
            mode.init_result(&Outputs::new(&missing, &unmounted)),
            Err(InitError::Transient(_))
        ));
        // A directory where the file should be is the result's problem.
        std::fs::create_dir_all(rboinc_core::hier::dir_hier_path(dir.path(), "adir", 16).unwrap())
            .unwrap();
        let dir_result = result_with_outputs(&[("adir", "out", false)]);
        assert!(matches!(
            mode.init_result(&Outputs::new(&dir_result, &h)),
            Err(InitError::Permanent(_))
        ));
        // So is an xml_doc_in without usable file_refs.
        let mut broken = crate::validator::test_rows::result(2);
        broken.xml_doc_in = "<file_ref><file_name>x</file_name></file_ref>".into();
        assert!(matches!(
            mode.init_result(&Outputs::new(&broken, &h)),
            Err(InitError::Permanent(_))
        ));
    }
}
