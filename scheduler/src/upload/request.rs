//! The header of a `<data_server_request>` (PROTOCOL.md §6).
//!
//! An upload POST is an XML header immediately followed by raw file bytes: the header ends with
//! a line holding `<data>`, and the data starts after that line's newline. A size query is the
//! header alone, with `<get_file_size>NAME</get_file_size>`.

use rboinc_core::crypt::parse_c_double;
use rboinc_core::xml::{raw_element, text};

/// Longest header accepted before `<data>` (the real client's is under 1 KB).
pub const MAX_HEADER: usize = 64 * 1024;

/// Where the header ends in `buf`: the byte offset of the data, if `<data>` and its line's
/// newline have arrived.
pub fn data_start(buf: &[u8]) -> Option<usize> {
    let tag = b"<data>";
    let at = buf.windows(tag.len()).position(|w| w == tag)?;
    let nl = buf[at..].iter().position(|&b| b == b'\n')?;
    Some(at + nl + 1)
}

/// What the client asks for.
#[derive(Debug, Clone, PartialEq)]
pub enum DataServerRequest {
    GetFileSize {
        name: String,
    },
    FileUpload(FileUpload),
    /// Neither command: BOINC answers "no command" (transient).
    NoCommand,
}

/// An upload's header fields.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct FileUpload {
    pub name: String,
    /// The `<xml_signature>` content, as echoed by the client.
    pub xml_signature: Option<String>,
    /// The `<max_nbytes>` text, as signed.
    pub max_nbytes: Option<String>,
    pub offset: f64,
    /// Size of the whole file.
    pub nbytes: Option<f64>,
    pub md5_cksum: Option<String>,
}

impl DataServerRequest {
    pub fn parse(header: &str) -> DataServerRequest {
        // The client never closes <file_upload> before <data>: look for the opening tag only.
        if header.contains("<file_upload>") {
            let number = |tag: &str| raw_element(header, tag).and_then(parse_c_double);
            return DataServerRequest::FileUpload(FileUpload {
                name: text(header, "name").unwrap_or_default(),
                xml_signature: raw_element(header, "xml_signature")
                    .filter(|s| !s.is_empty())
                    .map(str::to_string),
                max_nbytes: raw_element(header, "max_nbytes").map(str::to_string),
                offset: number("offset").unwrap_or(0.0),
                nbytes: number("nbytes"),
                md5_cksum: text(header, "md5_cksum").filter(|s| !s.is_empty()),
            });
        }
        if let Some(name) = text(header, "get_file_size") {
            return DataServerRequest::GetFileSize { name };
        }
        DataServerRequest::NoCommand
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn fixture(name: &str) -> Vec<u8> {
        let path = std::path::Path::new(env!("CARGO_MANIFEST_DIR"))
            .join("../fixtures/client-7.20.5")
            .join(name);
        std::fs::read(path).unwrap()
    }

    #[test]
    fn the_real_clients_upload_header() {
        let body = fixture("10_upload_file_upload.request.body.txt");
        let start = data_start(&body).unwrap();
        assert_eq!(start, 689, "PROTOCOL.md: a 689-byte header");
        assert_eq!(body.len() - start, 10_033);
        let header = std::str::from_utf8(&body[..start]).unwrap();
        let DataServerRequest::FileUpload(u) = DataServerRequest::parse(header) else {
            panic!("not an upload");
        };
        assert_eq!(u.name, "wu_1_0_out");
        assert_eq!(u.nbytes, Some(10_033.0));
        assert_eq!(u.offset, 0.0);
        assert_eq!(u.max_nbytes.as_deref(), Some("1000000"));
        assert_eq!(
            u.md5_cksum.as_deref(),
            Some("57edc415bbc47861f76775179654a4ff")
        );
        let sig = u.xml_signature.unwrap();
        assert!(sig.starts_with("60993753db991eea") && sig.ends_with("\n."));
    }

    #[test]
    fn the_real_clients_size_query() {
        let body = fixture("09_upload_get_file_size.request.xml");
        assert_eq!(data_start(&body), None);
        assert_eq!(
            DataServerRequest::parse(std::str::from_utf8(&body).unwrap()),
            DataServerRequest::GetFileSize {
                name: "wu_1_0_out".into()
            }
        );
        assert_eq!(
            DataServerRequest::parse("<data_server_request></data_server_request>"),
            DataServerRequest::NoCommand
        );
    }

    #[test]
    fn data_starts_after_the_data_line() {
        assert_eq!(data_start(b"<x/>\n<data>\nABC"), Some(12));
        assert_eq!(data_start(b"<data>"), None, "the newline has not arrived");
    }
}
