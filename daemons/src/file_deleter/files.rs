//! Deleting the files one workunit or result names, and nothing else.
//!
//! The rules are BOINC's (`sched/file_deleter.cpp`, spec file_deleter_purge.md 2.4–2.5):
//!
//! - the files are the `<file_info>`s of the row's XML (`workunit.xml_doc` for inputs in the
//!   download hierarchy, `result.xml_doc_in` for outputs in the upload hierarchy), except those
//!   marked `<no_delete/>`;
//! - a file that is already gone while its hash directory exists is fine (a failed result may
//!   never have uploaded anything); a missing hash directory is an error, because it usually
//!   means a file system is not mounted, and the row is retried later;
//! - an output file the result template marks `<optional/>` (its `<file_ref>` in
//!   `result.xml_doc_in`) that the client never uploaded is not an error, even when its hash
//!   directory was never created: the app did not write it, which is normal. BOINC's file
//!   deleter logs it as critical (and as an error, leaving the row in ERROR, when the
//!   directory is missing); here it is a debug line and the row is DONE;
//! - an input file also takes its compressed copy `<name>.gz` and, with `<cache_md5_info>`, its
//!   checksum cache `<name>.md5` along; a missing checksum cache is normal (only tools that
//!   hash a file write one) and is a debug line, where BOINC logs a critical one;
//! - a workunit whose name contains `nodelete` keeps its input files.
//!
//! Names come from the database, which clients and submitters fill, so every name must be a
//! single plain path component (see `rboinc_core::hier::check_file_name`); anything else (`..`,
//! `/`, control characters) is refused, logged, and counted as an error: this module never
//! removes a file outside the two hierarchies.

use std::fs;
use std::io;
use std::path::{Path, PathBuf};

use rboinc_core::hier::HierError;
pub use rboinc_core::hier::Hierarchy;
use rboinc_core::job_files::file_infos;
use rboinc_core::xml;

/// Something that makes the row's deletion fail (its state becomes ERROR).
#[derive(Debug, thiserror::Error)]
pub enum DeleteError {
    #[error("refusing to delete: {0}")]
    BadName(#[from] HierError),
    #[error("missing directory {}", .0.display())]
    MissingDir(PathBuf),
    #[error("cannot delete {}: {source}", path.display())]
    Unlink {
        path: PathBuf,
        #[source]
        source: io::Error,
    },
}

/// What happened to the files of one row.
#[derive(Debug, Default)]
pub struct Deletion {
    /// Files removed (siblings `.gz`/`.md5` not counted).
    pub deleted: Vec<PathBuf>,
    /// Files already gone (their directory exists).
    pub missing: Vec<PathBuf>,
    /// Optional outputs the client never uploaded (not errors, not counted as missing).
    pub never_uploaded: Vec<PathBuf>,
    pub errors: Vec<DeleteError>,
}

impl Deletion {
    pub fn ok(&self) -> bool {
        self.errors.is_empty()
    }
}

enum Removal {
    Deleted,
    Missing,
    MissingDir,
}

/// Removes `path`; tells a missing file from a missing directory.
fn remove(path: &Path) -> Result<Removal, DeleteError> {
    match fs::remove_file(path) {
        Ok(()) => Ok(Removal::Deleted),
        Err(e) if e.kind() == io::ErrorKind::NotFound => {
            if path.parent().is_some_and(Path::is_dir) {
                Ok(Removal::Missing)
            } else {
                Ok(Removal::MissingDir)
            }
        }
        Err(source) => Err(DeleteError::Unlink {
            path: path.to_path_buf(),
            source,
        }),
    }
}

/// Deletes a result's output files (`result.xml_doc_in`) from the upload hierarchy.
pub fn delete_output_files(xml_doc_in: &str, upload: &Hierarchy) -> Deletion {
    // Read only when a file is missing (rare): most rows have every file.
    let optional = std::cell::OnceCell::new();
    delete_files(
        xml_doc_in,
        upload,
        |name| {
            optional
                .get_or_init(|| optional_outputs(xml_doc_in))
                .iter()
                .any(|o| o == name)
        },
        |_, _| {},
    )
}

/// The physical names of the outputs whose `<file_ref>` says `<optional/>`.
fn optional_outputs(xml_doc_in: &str) -> Vec<String> {
    xml::raw_elements(xml_doc_in, "file_ref")
        .into_iter()
        .filter(|body| xml::flag(body, "optional"))
        .filter_map(|body| xml::text(body, "file_name"))
        .collect()
}

/// Deletes a workunit's input files (`workunit.xml_doc`) from the download hierarchy, with
/// their `.gz` copies and (if `cache_md5` is set) `.md5` caches.
pub fn delete_input_files(
    wu_name: &str,
    xml_doc: &str,
    download: &Hierarchy,
    cache_md5: bool,
) -> Deletion {
    if wu_name.contains("nodelete") {
        tracing::debug!("the workunit's name contains \"nodelete\": keeping its input files");
        return Deletion::default();
    }
    delete_files(
        xml_doc,
        download,
        |_| false,
        |path, existed| {
            let sibling = |suffix: &str| {
                let mut p = path.as_os_str().to_owned();
                p.push(suffix);
                let p = PathBuf::from(p);
                match fs::remove_file(&p) {
                    Ok(()) => tracing::debug!(path = %p.display(), "deleted"),
                    Err(e) if e.kind() == io::ErrorKind::NotFound => {
                        tracing::debug!(path = %p.display(), "no such file");
                    }
                    Err(e) => {
                        // As in BOINC, a sibling that cannot be removed does not fail the row.
                        tracing::error!(path = %p.display(), error = %e, "cannot delete a compressed copy or checksum cache");
                    }
                }
            };
            sibling(".gz");
            if cache_md5 && existed {
                sibling(".md5");
            }
        },
    )
}

/// The shared loop: `after_file(path, existed)` runs after each named file was deleted
/// (`existed`) or found missing with its directory present, for the siblings of input files.
/// A missing file `optional(name)` accepts goes to `never_uploaded`.
fn delete_files(
    doc: &str,
    hierarchy: &Hierarchy,
    optional: impl Fn(&str) -> bool,
    after_file: impl Fn(&Path, bool),
) -> Deletion {
    let mut deletion = Deletion::default();
    for entry in file_infos(doc) {
        if entry.no_delete {
            continue;
        }
        let path = match hierarchy.path(&entry.name) {
            Ok(p) => p,
            Err(e) => {
                tracing::error!(error = %e, "refusing to delete a file with this name");
                deletion.errors.push(e.into());
                continue;
            }
        };
        match remove(&path) {
            Ok(Removal::Deleted) => {
                tracing::debug!(path = %path.display(), "deleted");
                after_file(&path, true);
                deletion.deleted.push(path);
            }
            Ok(Removal::Missing | Removal::MissingDir) if optional(&entry.name) => {
                tracing::debug!(path = %path.display(), "optional output never uploaded");
                deletion.never_uploaded.push(path);
            }
            Ok(Removal::Missing) => {
                tracing::debug!(path = %path.display(), "already gone");
                after_file(&path, false);
                deletion.missing.push(path);
            }
            Ok(Removal::MissingDir) => {
                tracing::error!(path = %path.display(), "the file's directory is missing");
                let dir = path.parent().unwrap_or(&hierarchy.root).to_path_buf();
                deletion.errors.push(DeleteError::MissingDir(dir));
            }
            Err(e) => {
                tracing::error!(error = %e, "cannot delete");
                deletion.errors.push(e);
            }
        }
    }
    deletion
}

#[cfg(test)]
mod tests {
    use super::*;
    use rboinc_core::hier;

    fn hierarchy(root: &Path) -> Hierarchy {
        Hierarchy {
            root: root.to_path_buf(),
            fanout: 1024,
        }
    }

    fn doc(names: &[&str]) -> String {
        names
            .iter()
            .map(|n| format!("<file_info>\n    <name>{n}</name>\n</file_info>\n"))
            .collect()
    }

    fn put(h: &Hierarchy, name: &str) -> PathBuf {
        let p = hier::create_dir_hier_path(&h.root, name, h.fanout).unwrap();
        fs::write(&p, name).unwrap();
        p
    }

    #[test]
    fn inputs_go_with_their_gz_and_md5() {
        let dir = tempfile::tempdir().unwrap();
        let h = hierarchy(dir.path());
        let p = put(&h, "in");
        let gz = PathBuf::from(format!("{}.gz", p.display()));
        let md5 = PathBuf::from(format!("{}.md5", p.display()));
        fs::write(&gz, "").unwrap();
        fs::write(&md5, "").unwrap();
        let d = delete_input_files("wu", &doc(&["in"]), &h, true);
        assert!(d.ok());
        assert_eq!(d.deleted, std::slice::from_ref(&p));
        assert!(!p.exists() && !gz.exists() && !md5.exists());
        // Without cache_md5_info the .md5 file stays.
        let p = put(&h, "in");
        fs::write(&md5, "").unwrap();
        assert!(delete_input_files("wu", &doc(&["in"]), &h, false).ok());
        assert!(!p.exists() && md5.exists());
    }

    #[test]
    fn missing_file_is_fine_missing_directory_is_an_error() {
        let dir = tempfile::tempdir().unwrap();
        let h = hierarchy(dir.path());
        let present = put(&h, "here");
        // A file in the same hash directory as "gone" would be; find a name that hashes to
        // another directory, which does not exist.
        let gone_same_dir = (0..)
            .map(|i| format!("gone{i}"))
            .find(|n| hier::hash_dir(n.as_bytes(), 1024) == hier::hash_dir(b"here", 1024))
            .unwrap();
        let d = delete_output_files(&doc(&["here", &gone_same_dir]), &h);
        assert!(d.ok(), "{:?}", d.errors);
        assert_eq!(d.deleted, [present]);
        assert_eq!(d.missing.len(), 1);

        let d = delete_output_files(&doc(&["nowhere"]), &h);
        assert!(matches!(d.errors.as_slice(), [DeleteError::MissingDir(_)]));
    }

    #[test]
    fn an_optional_output_never_uploaded_is_not_an_error() {
        let dir = tempfile::tempdir().unwrap();
        let h = hierarchy(dir.path());
        let metrics = put(&h, "r_0");
        // "r_1" (optional) was never uploaded, and its hash directory never created.
        assert!(!h.path("r_1").unwrap().parent().unwrap().exists());
        let d = "<file_info><name>r_0</name></file_info>\n<file_info><name>r_1</name></file_info>\n\
                 <result><file_ref><file_name>r_0</file_name><open_name>metrics.json</open_name></file_ref>\
                 <file_ref><file_name>r_1</file_name><open_name>weights.npy</open_name><optional/></file_ref></result>";
        let deletion = delete_output_files(d, &h);
        assert!(deletion.ok(), "{:?}", deletion.errors);
        assert_eq!(deletion.deleted, [metrics]);
        assert!(deletion.missing.is_empty());
        assert_eq!(deletion.never_uploaded, [h.path("r_1").unwrap()]);
        // The same file without <optional/> is an error (its directory is missing).
        let required = d.replace("<optional/>", "");
        put(&h, "r_0");
        assert!(matches!(
            delete_output_files(&required, &h).errors.as_slice(),
            [DeleteError::MissingDir(_)]
        ));
    }

    #[test]
    fn a_missing_checksum_cache_is_fine() {
        let dir = tempfile::tempdir().unwrap();
        let h = hierarchy(dir.path());
        let p = put(&h, "in");
        let d = delete_input_files("wu", &doc(&["in"]), &h, true);
        assert!(d.ok() && d.missing.is_empty());
        assert_eq!(d.deleted, [p]);
    }

    #[test]
    fn no_delete_and_nodelete_names_keep_files() {
        let dir = tempfile::tempdir().unwrap();
        let h = hierarchy(dir.path());
        let p = put(&h, "keep");
        let d = "<file_info><name>keep</name><no_delete/></file_info>";
        assert!(delete_output_files(d, &h).ok());
        assert!(p.exists());
        assert!(delete_input_files("x_nodelete_1", &doc(&["keep"]), &h, false).ok());
        assert!(p.exists());
    }

    #[test]
    fn path_tricks_are_refused_and_nothing_outside_is_touched() {
        let dir = tempfile::tempdir().unwrap();
        let root = dir.path().join("upload");
        fs::create_dir(&root).unwrap();
        let victim = dir.path().join("victim");
        fs::write(&victim, "keep me").unwrap();
        let h = Hierarchy {
            root: root.clone(),
            fanout: 0,
        };
        for name in ["../victim", "..", "/etc/passwd", "a/../../victim", ""] {
            let d = delete_output_files(&doc(&[name]), &h);
            assert!(
                matches!(d.errors.as_slice(), [DeleteError::BadName(_)]),
                "{name}: {:?}",
                d.errors
            );
        }
        assert_eq!(fs::read_to_string(&victim).unwrap(), "keep me");
    }

    #[test]
    fn a_directory_in_place_of_a_file_is_an_error() {
        let dir = tempfile::tempdir().unwrap();
        let h = Hierarchy {
            root: dir.path().to_path_buf(),
            fanout: 0,
        };
        fs::create_dir(dir.path().join("odd")).unwrap();
        let d = delete_output_files(&doc(&["odd"]), &h);
        assert!(matches!(d.errors.as_slice(), [DeleteError::Unlink { .. }]));
        assert!(dir.path().join("odd").is_dir());
    }
}
