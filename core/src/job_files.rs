//! The files a job's XML documents name: the `<file_info>`s of any `xml_doc`, and a result's
//! output files as its `xml_doc_in` lists them.
//!
//! A result's `xml_doc_in` (written by the transitioner from the output template) names each
//! output file twice: as a `<file_info>` (physical name, upload URL, `<max_nbytes>`,
//! `<no_delete/>`) and, inside `<result>`, as a `<file_ref>` (the same physical name as
//! `<file_name>`, plus the *open name* the app writes, `<optional/>`, `<no_validate/>`):
//!
//! ```xml
//! <file_info><name>wu_0_r12_0</name><url>…</url><max_nbytes>1000000</max_nbytes></file_info>
//! <result>
//!     <file_ref><file_name>wu_0_r12_0</file_name><open_name>metrics.json</open_name></file_ref>
//! </result>
//! ```
//!
//! [`output_files`] is the one model of that list the daemons share: one [`OutputFile`] per
//! `<file_ref>`, in document order (the order of BOINC's `get_output_file_infos`, of the
//! script assimilator's `files` words and of the validator's comparison), indexed from 0, with
//! its path in the upload hierarchy. [`file_infos`] is the file deleter's view: every
//! `<file_info>` of a workunit's or a result's document, which is what BOINC deletes.
//!
//! Names come from the database, which clients and submitters fill: a name that is not one plain
//! path component (`..`, `/`, control characters) is an error here, so no daemon can be pointed
//! at a file outside the hierarchy.

use std::path::PathBuf;

use crate::hier::{HierError, Hierarchy};
use crate::xml;

/// One output file of a result.
#[derive(Debug, Clone, PartialEq)]
pub struct OutputFile {
    /// Its place in the result's `<file_ref>` list, counting from 0.
    pub index: usize,
    /// The physical name (`<file_name>`), unique per result: `<result>_r<random>_<n>`.
    pub name: String,
    /// The name the application opened (`<open_name>`), e.g. `metrics.json`.
    pub open_name: String,
    /// `<optional/>`: the file may be missing.
    pub optional: bool,
    /// `<no_validate/>`: validators do not compare it.
    pub no_validate: bool,
    /// The size limit of its `<file_info>`, if the document has one.
    pub max_nbytes: Option<f64>,
    /// Where it is in the upload hierarchy.
    pub path: PathBuf,
}

/// A result's output file list cannot be used (a permanent problem of the result).
#[derive(Debug, thiserror::Error)]
pub enum OutputFileError {
    #[error("output file {index} (<file_ref> counted from 0) has no <{element}>")]
    MissingElement { index: usize, element: &'static str },
    #[error("output file {index}: {source}")]
    BadName {
        index: usize,
        #[source]
        source: HierError,
    },
}

/// The output files `xml_doc_in` names, in `<file_ref>` order, located in `upload`.
pub fn output_files(
    xml_doc_in: &str,
    upload: &Hierarchy,
) -> Result<Vec<OutputFile>, OutputFileError> {
    let infos = file_infos(xml_doc_in);
    xml::raw_elements(xml_doc_in, "file_ref")
        .into_iter()
        .enumerate()
        .map(|(index, body)| {
            let get = |element: &'static str| {
                xml::text(body, element)
                    .filter(|v| !v.is_empty())
                    .ok_or(OutputFileError::MissingElement { index, element })
            };
            let name = get("file_name")?;
            let open_name = get("open_name")?;
            let path = upload
                .path(&name)
                .map_err(|source| OutputFileError::BadName { index, source })?;
            Ok(OutputFile {
                index,
                max_nbytes: infos
                    .iter()
                    .find(|i| i.name == name)
                    .and_then(|i| i.max_nbytes),
                optional: xml::flag(body, "optional"),
                no_validate: xml::flag(body, "no_validate"),
                name,
                open_name,
                path,
            })
        })
        .collect()
}

/// A `<file_info>` of a workunit's `xml_doc` or a result's `xml_doc_in`.
#[derive(Debug, Clone, PartialEq)]
pub struct FileInfo {
    /// `<name>` (empty if missing: the file deleter refuses it by name).
    pub name: String,
    /// `<no_delete/>`: the file deleter keeps the file.
    pub no_delete: bool,
    /// `<max_nbytes>` (output files), if present and a number.
    pub max_nbytes: Option<f64>,
}

/// The `<file_info>` entries of `doc`, in document order.
pub fn file_infos(doc: &str) -> Vec<FileInfo> {
    xml::raw_elements(doc, "file_info")
        .into_iter()
        .map(|fi| FileInfo {
            name: xml::text(fi, "name").unwrap_or_default(),
            no_delete: xml::flag(fi, "no_delete"),
            max_nbytes: xml::parse::<f64>(fi, "max_nbytes"),
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::path::Path;

    const MNIST_DOC: &str = "<file_info>
    <name>wu_0_r12_0</name>
    <url>http://x/upload</url>
    <max_nbytes>1000000</max_nbytes>
</file_info>
<file_info>
    <name>wu_0_r12_1</name>
    <url>http://x/upload</url>
    <no_delete/>
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
        <no_validate/>
    </file_ref>
</result>";

    fn upload(fanout: u32) -> Hierarchy {
        Hierarchy::new("/p/upload", fanout)
    }

    #[test]
    fn file_refs_in_document_order_with_their_file_info_and_path() {
        let files = output_files(MNIST_DOC, &upload(0)).unwrap();
        assert_eq!(
            files,
            [
                OutputFile {
                    index: 0,
                    name: "wu_0_r12_0".into(),
                    open_name: "metrics.json".into(),
                    optional: false,
                    no_validate: false,
                    max_nbytes: Some(1e6),
                    path: "/p/upload/wu_0_r12_0".into(),
                },
                OutputFile {
                    index: 1,
                    name: "wu_0_r12_1".into(),
                    open_name: "weights.npy".into(),
                    optional: true,
                    no_validate: true,
                    max_nbytes: None,
                    path: "/p/upload/wu_0_r12_1".into(),
                },
            ]
        );
    }

    #[test]
    fn paths_use_the_hierarchy() {
        // The oracle's scenario 15 put this file in upload/1fc/, scenario 23's in upload/11d/.
        let doc = "<file_ref><file_name>v15_0_r100001_0</file_name><open_name>out</open_name></file_ref>\
                   <file_ref><file_name>a23_0_r100001_0</file_name><open_name>o</open_name></file_ref>";
        let files = output_files(doc, &upload(1024)).unwrap();
        assert_eq!(files[0].path, Path::new("/p/upload/1fc/v15_0_r100001_0"));
        assert_eq!(files[1].path, Path::new("/p/upload/11d/a23_0_r100001_0"));
    }

    #[test]
    fn incomplete_or_dangerous_refs_are_errors() {
        let e =
            output_files("<file_ref><file_name>a</file_name></file_ref>", &upload(0)).unwrap_err();
        assert_eq!(
            e.to_string(),
            "output file 0 (<file_ref> counted from 0) has no <open_name>"
        );
        let e =
            output_files("<file_ref><open_name>a</open_name></file_ref>", &upload(0)).unwrap_err();
        assert!(matches!(
            e,
            OutputFileError::MissingElement {
                index: 0,
                element: "file_name"
            }
        ));
        for name in ["../../etc/passwd", "a/b", ".."] {
            let doc = format!(
                "<file_ref><file_name>{name}</file_name><open_name>a</open_name></file_ref>"
            );
            assert!(matches!(
                output_files(&doc, &upload(1024)),
                Err(OutputFileError::BadName { index: 0, .. })
            ));
        }
        assert!(output_files("", &upload(0)).unwrap().is_empty());
    }

    #[test]
    fn file_infos_for_the_file_deleter() {
        let d = "<file_info><name>a</name></file_info>\
                 <file_info><name>b</name><no_delete/></file_info><file_info></file_info>";
        let names: Vec<(String, bool)> = file_infos(d)
            .into_iter()
            .map(|f| (f.name, f.no_delete))
            .collect();
        assert_eq!(
            names,
            [
                ("a".into(), false),
                ("b".into(), true),
                (String::new(), false)
            ]
        );
        assert_eq!(file_infos(MNIST_DOC)[0].max_nbytes, Some(1e6));
    }
}
