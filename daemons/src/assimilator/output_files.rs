//! The canonical result's output files: their names, logical names and upload paths.
//!
//! A result's `xml_doc_in` (written by the transitioner from the output template) lists its
//! output files twice: as `<file_info>` (physical name, upload URL, size limit) and, inside
//! `<result>`, as `<file_ref>` (physical name plus the *open name* the app writes, such as
//! `metrics.json`). Assimilators want the second view, in template order: that is what
//! BOINC's `files`/`files2` script arguments are made of. The files themselves sit in the
//! upload hierarchy under their physical name.

use std::path::{Path, PathBuf};

use rboinc_core::hier::{self, HierError};
use rboinc_core::xml;

/// One output file of a result.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct OutputFile {
    /// The physical name (`<file_name>`), unique per result: `<result>_r<random>_<n>`.
    pub name: String,
    /// The logical name the app opened (`<open_name>`), e.g. `metrics.json`.
    pub open_name: String,
}

/// Why a result's output file list cannot be used.
#[derive(Debug, thiserror::Error)]
pub enum OutputFilesError {
    #[error("output file reference number {index} has no <{element}>")]
    MissingElement { index: usize, element: &'static str },
    #[error(transparent)]
    BadName(#[from] HierError),
}

/// The `<file_ref>`s of `xml_doc_in`, in document order.
pub fn output_files(xml_doc_in: &str) -> Result<Vec<OutputFile>, OutputFilesError> {
    xml::raw_elements(xml_doc_in, "file_ref")
        .into_iter()
        .enumerate()
        .map(|(index, file_ref)| {
            let get = |element: &'static str| {
                xml::text(file_ref, element)
                    .filter(|v| !v.is_empty())
                    .ok_or(OutputFilesError::MissingElement {
                        index: index + 1,
                        element,
                    })
            };
            Ok(OutputFile {
                name: get("file_name")?,
                open_name: get("open_name")?,
            })
        })
        .collect()
}

/// Where uploaded files live: the upload root and the fan-out of its hierarchy.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct UploadHier {
    pub dir: PathBuf,
    pub fanout: u32,
}

impl UploadHier {
    /// The path of an uploaded file. Refuses names that are not a single plain path component
    /// (`..`, `/`, control characters), so a forged name cannot point outside the upload root.
    pub fn path(&self, name: &str) -> Result<PathBuf, HierError> {
        hier::dir_hier_path(&self.dir, name, self.fanout)
    }

    pub fn dir(&self) -> &Path {
        &self.dir
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const MNIST_DOC: &str = "<file_info>
    <name>wu_0_r12_0</name>
    <url>http://x/upload</url>
</file_info>
<file_info>
    <name>wu_0_r12_1</name>
    <url>http://x/upload</url>
</file_info>
<result>
    <file_ref>
        <file_name>wu_0_r12_0</file_name>
        <open_name>metrics.json</open_name>
    </file_ref>
    <file_ref>
        <file_name>wu_0_r12_1</file_name>
        <open_name>weights.npy</open_name>
        <optional/>
    </file_ref>
</result>";

    #[test]
    fn file_refs_in_template_order() {
        let files = output_files(MNIST_DOC).unwrap();
        assert_eq!(
            files,
            [
                OutputFile {
                    name: "wu_0_r12_0".into(),
                    open_name: "metrics.json".into()
                },
                OutputFile {
                    name: "wu_0_r12_1".into(),
                    open_name: "weights.npy".into()
                },
            ]
        );
    }

    #[test]
    fn no_file_refs_is_an_empty_list() {
        assert!(output_files("").unwrap().is_empty());
    }

    #[test]
    fn a_file_ref_without_open_name_is_an_error() {
        let e = output_files("<file_ref><file_name>a</file_name></file_ref>").unwrap_err();
        assert_eq!(
            e.to_string(),
            "output file reference number 1 has no <open_name>"
        );
    }

    #[test]
    fn upload_paths_use_the_hierarchy_and_refuse_path_tricks() {
        let up = UploadHier {
            dir: PathBuf::from("/p/upload"),
            fanout: 1024,
        };
        // The oracle's scenario 23 file.
        assert_eq!(
            up.path("a23_0_r100001_0").unwrap(),
            Path::new("/p/upload/11d/a23_0_r100001_0")
        );
        assert!(up.path("../../etc/passwd").is_err());
        assert!(up.path("a/b").is_err());
    }
}
