//! Where a result's output files are: the `<file_ref>`s of its `xml_doc_in`, located in the
//! upload hierarchy (BOINC's `get_output_file_infos`).

use std::path::{Path, PathBuf};

use rboinc_core::hier;
use rboinc_core::xml;

/// One output file of a result, in document order.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct OutputFile {
    /// The physical file name (`<file_name>`), unique per result.
    pub name: String,
    /// The name the application opened (`<open_name>`), e.g. `metrics.json`.
    pub open_name: String,
    /// `<optional/>`: the file may be missing.
    pub optional: bool,
    /// `<no_validate/>`: not compared.
    pub no_validate: bool,
    /// Its path under the upload directory.
    pub path: PathBuf,
}

/// The output file list cannot be read from `xml_doc_in` (a permanent error of the result).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum OutputListError {
    #[error("file_ref {index} has no <file_name>")]
    NoFileName { index: usize },
    #[error("file_ref {index} has no <open_name>")]
    NoOpenName { index: usize },
    #[error("file_ref {index}: {message}")]
    BadName { index: usize, message: String },
}

/// The output files named in `xml_doc_in`, with their paths under `upload_dir`. A name that is
/// not a plain file name (`..`, `/`, ...) is an error, so a result cannot point the validator at
/// files outside the upload directory.
pub fn output_files(
    xml_doc_in: &str,
    upload_dir: &Path,
    fanout: u32,
) -> Result<Vec<OutputFile>, OutputListError> {
    xml::raw_elements(xml_doc_in, "file_ref")
        .into_iter()
        .enumerate()
        .map(|(index, body)| {
            let name = xml::text(body, "file_name")
                .filter(|n| !n.is_empty())
                .ok_or(OutputListError::NoFileName { index })?;
            let open_name = xml::text(body, "open_name")
                .filter(|n| !n.is_empty())
                .ok_or(OutputListError::NoOpenName { index })?;
            let path = hier::dir_hier_path(upload_dir, &name, fanout).map_err(|e| {
                OutputListError::BadName {
                    index,
                    message: e.to_string(),
                }
            })?;
            Ok(OutputFile {
                optional: xml::flag(body, "optional"),
                no_validate: xml::flag(body, "no_validate"),
                name,
                open_name,
                path,
            })
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    const DOC: &str = "<file_info>\n    <name>v15_0_r100001_0</name>\n</file_info>\n<result>\n    \
        <file_ref>\n        <file_name>v15_0_r100001_0</file_name>\n        <open_name>out</open_name>\n    \
        </file_ref>\n    <file_ref>\n        <file_name>w_0</file_name>\n        \
        <open_name>weights.npy</open_name>\n        <optional/>\n        <no_validate/>\n    </file_ref>\n</result>";

    #[test]
    fn file_refs_in_document_order_with_hierarchy_paths() {
        let files = output_files(DOC, Path::new("/p/upload"), 1024).unwrap();
        assert_eq!(files.len(), 2);
        // The oracle's scenario 15 put this file in upload/1fc/.
        assert_eq!(files[0].path, Path::new("/p/upload/1fc/v15_0_r100001_0"));
        assert_eq!(files[0].open_name, "out");
        assert!(!files[0].optional && !files[0].no_validate);
        assert!(files[1].optional && files[1].no_validate);
    }

    #[test]
    fn incomplete_or_dangerous_refs_are_errors() {
        let no_open = "<file_ref><file_name>a</file_name></file_ref>";
        assert_eq!(
            output_files(no_open, Path::new("/u"), 0),
            Err(OutputListError::NoOpenName { index: 0 })
        );
        let no_name = "<file_ref><open_name>a</open_name></file_ref>";
        assert_eq!(
            output_files(no_name, Path::new("/u"), 0),
            Err(OutputListError::NoFileName { index: 0 })
        );
        let escape =
            "<file_ref><file_name>../../etc/passwd</file_name><open_name>a</open_name></file_ref>";
        assert!(matches!(
            output_files(escape, Path::new("/u"), 0),
            Err(OutputListError::BadName { index: 0, .. })
        ));
        assert_eq!(output_files("", Path::new("/u"), 0), Ok(vec![]));
    }
}
