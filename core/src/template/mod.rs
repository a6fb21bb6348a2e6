//! Job templates: the files a project writes once per application, filled in per job or result.
//!
//! - [`output`]: a result (output) template into one result's `xml_doc_in` (the transitioner).
//!
//! The input template (`create_work`'s workunit `xml_doc`) lives next to it in `input`.

pub mod output;
