//! Job templates: the files a project writes once per application, filled in per job or result.
//!
//! - [`input`]: an input template into a workunit's `xml_doc` (`create_work`, work generators).
//! - [`output`]: a result (output) template into one result's `xml_doc_in` (the transitioner).

pub mod input;
pub mod output;
