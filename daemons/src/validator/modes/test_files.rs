//! Output files and result rows for the modes' unit tests.

use std::path::Path;

use rboinc_core::db::result::ResultRow;
use rboinc_core::hier::Hierarchy;

/// A result whose `xml_doc_in` names `files` (physical name, open name, optional).
pub fn result_with_outputs(files: &[(&str, &str, bool)]) -> ResultRow {
    let mut r = crate::validator::test_rows::result(1);
    let mut doc = String::from("<result>\n");
    for (name, open_name, optional) in files {
        doc.push_str(&format!(
            "<file_ref><file_name>{name}</file_name><open_name>{open_name}</open_name>{}</file_ref>\n",
            if *optional { "<optional/>" } else { "" }
        ));
    }
    doc.push_str("</result>");
    r.xml_doc_in = doc;
    r
}

/// An upload hierarchy in `dir` (fan-out 16).
pub fn hier(dir: &Path) -> Hierarchy {
    Hierarchy::new(dir, 16)
}

/// Writes an output file `name` into the hierarchy in `dir`.
pub fn put(dir: &Path, name: &str, bytes: &[u8]) {
    let path = rboinc_core::hier::create_dir_hier_path(dir, name, 16).unwrap();
    std::fs::write(path, bytes).unwrap();
}
