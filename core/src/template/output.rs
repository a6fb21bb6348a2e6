//! Output (result) templates: turning a job's result template into one result's `xml_doc_in`.
//!
//! Every result the transitioner creates gets its own copy of the job's output template, with the
//! macros filled in (BOINC's rules, checked against the stock transitioner's output in
//! `fixtures/stock-server/create_work/`):
//!
//! 1. `<OUTFILE_x/>` becomes `<base>x`, where the base is `<result name>_r<R>_` and R is a random
//!    31-bit number. The random part makes output file names unguessable, so a volunteer cannot
//!    upload a file in place of a wingman's result.
//! 2. `<UPLOAD_URL/>` becomes the project's `<upload_url>`.
//! 3. Unless the project sets `<dont_generate_upload_certificates>`, every `<file_info>` gets an
//!    `<xml_signature>` made with the upload private key ([`crate::crypt::add_upload_signatures`]),
//!    which the upload handler checks.
//! 4. Only the inside of `<output_template>` is kept, and surrounding whitespace is trimmed.
//!
//! The result must fit BOINC's 64 KiB blob. Unlike the C++ transitioner, which logs a malformed
//! macro or a signing failure and stores the half-processed text anyway, every failure here is an
//! error: a result whose output files cannot be named or uploaded is worse than no result.

use crate::crypt::{self, CryptError, PrivateKey};

/// The largest `result.xml_doc_in` BOINC accepts (its blob buffer is 64 KiB with a final NUL).
pub const MAX_XML_DOC_IN: usize = 65535;

const OUTFILE_MACRO: &str = "<OUTFILE_";
const UPLOAD_URL_MACRO: &str = "<UPLOAD_URL/>";
const OUTPUT_TEMPLATE_OPEN: &str = "<output_template>";
const OUTPUT_TEMPLATE_CLOSE: &str = "</output_template>";

/// Why an output template could not be processed.
#[derive(Debug, thiserror::Error)]
pub enum OutputTemplateError {
    #[error("malformed <OUTFILE_ macro at byte {offset} (expected <OUTFILE_name/>)")]
    MalformedOutfile { offset: usize },
    #[error("the template uses <UPLOAD_URL/> but config.xml has no <upload_url>")]
    NoUploadUrl,
    #[error("cannot add upload signatures")]
    Sign(#[source] CryptError),
    #[error("the processed template is {len} bytes; BOINC's limit is {MAX_XML_DOC_IN}")]
    TooLong { len: usize },
}

/// The prefix of a result's output file names: `<result_name>_r<random>_`.
pub fn output_base_name(result_name: &str, random: u32) -> String {
    format!("{result_name}_r{random}_")
}

/// What the project contributes to every processed template.
#[derive(Debug, Clone, Copy)]
pub struct OutputSettings<'a> {
    /// `<upload_url>` from config.xml.
    pub upload_url: Option<&'a str>,
    /// The upload private key, or `None` with `<dont_generate_upload_certificates>`.
    pub signing_key: Option<&'a PrivateKey>,
}

/// Processes `template` (the text of a job's result template file) for the result whose output
/// files are named `<base>x`; see the module docs for the steps.
pub fn process_output_template(
    template: &str,
    base: &str,
    settings: OutputSettings<'_>,
) -> Result<String, OutputTemplateError> {
    let mut doc = replace_outfile_macros(template, base)?;
    if doc.contains(UPLOAD_URL_MACRO) {
        let url = settings
            .upload_url
            .ok_or(OutputTemplateError::NoUploadUrl)?;
        doc = doc.replace(UPLOAD_URL_MACRO, url);
    }
    if let Some(key) = settings.signing_key {
        doc = crypt::add_upload_signatures(&doc, key).map_err(OutputTemplateError::Sign)?;
    }
    let inner = match doc.find(OUTPUT_TEMPLATE_OPEN) {
        Some(open) => {
            let rest = &doc[open + OUTPUT_TEMPLATE_OPEN.len()..];
            rest.find(OUTPUT_TEMPLATE_CLOSE)
                .map_or(rest, |close| &rest[..close])
        }
        None => doc.as_str(),
    };
    // BOINC trims with isspace(); XML whitespace is ASCII.
    let trimmed = inner.trim_ascii();
    if trimmed.len() > MAX_XML_DOC_IN {
        return Err(OutputTemplateError::TooLong { len: trimmed.len() });
    }
    Ok(trimmed.to_string())
}

/// Replaces each `<OUTFILE_x/>` with `<base>x`. `x` runs up to the first `/>` and may not contain
/// `>` (BOINC's rule); anything else is a malformed macro.
fn replace_outfile_macros(template: &str, base: &str) -> Result<String, OutputTemplateError> {
    let mut out = String::with_capacity(template.len() + 64);
    let mut rest = template;
    let mut consumed = 0;
    while let Some(at) = rest.find(OUTFILE_MACRO) {
        let after = &rest[at + OUTFILE_MACRO.len()..];
        let malformed = OutputTemplateError::MalformedOutfile {
            offset: consumed + at,
        };
        let end = after.find("/>").ok_or(malformed)?;
        let suffix = &after[..end];
        if suffix.contains('>') {
            return Err(OutputTemplateError::MalformedOutfile {
                offset: consumed + at,
            });
        }
        out.push_str(&rest[..at]);
        out.push_str(base);
        out.push_str(suffix);
        let advance = at + OUTFILE_MACRO.len() + end + 2;
        consumed += advance;
        rest = &rest[advance..];
    }
    out.push_str(rest);
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::path::Path;

    fn fixture(path: &str) -> String {
        let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("../fixtures/stock-server");
        std::fs::read_to_string(root.join(path)).unwrap()
    }

    /// The random part of a stock output file name, e.g. 526945529 in `fx_wu_0_0_r526945529_0`.
    fn stock_random(doc: &str, result_name: &str) -> u32 {
        let start = doc.find(&format!("{result_name}_r")).unwrap() + result_name.len() + 2;
        let len = doc[start..].find('_').unwrap();
        doc[start..start + len].parse().unwrap()
    }

    const STOCK_UPLOAD_URL: &str = "http://127.0.0.1:8080/stockproj_cgi/file_upload_handler";

    #[test]
    fn matches_the_stock_transitioner_byte_for_byte() {
        let template = fixture("create_work/templates/fxapp_out");
        for name in ["fx_wu_0_0", "fx_wu_0_1", "fx_wu_1_0", "fx_wu_2_1"] {
            let expected = fixture(&format!(
                "create_work/result_xml_doc_in/{name}.xml_doc_in.txt"
            ));
            let base = output_base_name(name, stock_random(&expected, name));
            let settings = OutputSettings {
                upload_url: Some(STOCK_UPLOAD_URL),
                signing_key: None,
            };
            let got = process_output_template(&template, &base, settings).unwrap();
            assert_eq!(got, expected, "{name}");
        }
    }

    #[test]
    fn signed_variant_matches_the_stock_transitioner() {
        let template = fixture("create_work/templates/fxapp_out");
        let key = PrivateKey::read_file(
            &Path::new(env!("CARGO_MANIFEST_DIR"))
                .join("../fixtures/stock-server/create_work/signed_variant/keys/upload_private"),
        )
        .unwrap();
        for name in ["fx_wu_sig_0", "fx_wu_sig_1"] {
            let expected = fixture(&format!(
                "create_work/signed_variant/result_xml_doc_in/{name}.xml_doc_in.txt"
            ));
            let base = output_base_name(name, stock_random(&expected, name));
            let settings = OutputSettings {
                upload_url: Some(STOCK_UPLOAD_URL),
                signing_key: Some(&key),
            };
            let got = process_output_template(&template, &base, settings).unwrap();
            assert_eq!(got, expected, "{name}");
        }
    }

    #[test]
    fn every_outfile_macro_is_replaced_with_its_suffix() {
        let doc = process_output_template(
            "<a><OUTFILE_0/></a><b><OUTFILE_log/></b><c><OUTFILE_0/></c>",
            "wu_3_r7_",
            OutputSettings {
                upload_url: None,
                signing_key: None,
            },
        )
        .unwrap();
        assert_eq!(doc, "<a>wu_3_r7_0</a><b>wu_3_r7_log</b><c>wu_3_r7_0</c>");
    }

    #[test]
    fn malformed_macros_are_errors() {
        let settings = OutputSettings {
            upload_url: Some("u"),
            signing_key: None,
        };
        for bad in ["<OUTFILE_0>", "<OUTFILE_0 x>y/>", "x<OUTFILE_"] {
            let e = process_output_template(bad, "b_", settings).unwrap_err();
            assert!(
                matches!(e, OutputTemplateError::MalformedOutfile { .. }),
                "{bad}: {e}"
            );
        }
        let e = process_output_template("<OUTFILE_0> <OUTFILE_1/>", "b_", settings).unwrap_err();
        assert!(matches!(
            e,
            OutputTemplateError::MalformedOutfile { offset: 0 }
        ));
    }

    #[test]
    fn upload_url_is_required_when_used() {
        let none = OutputSettings {
            upload_url: None,
            signing_key: None,
        };
        let e = process_output_template("<url><UPLOAD_URL/></url>", "b_", none).unwrap_err();
        assert!(matches!(e, OutputTemplateError::NoUploadUrl));
        let some = OutputSettings {
            upload_url: Some("http://x/up"),
            ..none
        };
        assert_eq!(
            process_output_template("<url><UPLOAD_URL/></url>", "b_", some).unwrap(),
            "<url>http://x/up</url>"
        );
    }

    #[test]
    fn oversize_results_are_refused() {
        let big = format!("<output_template>{}</output_template>", "x".repeat(70_000));
        let settings = OutputSettings {
            upload_url: None,
            signing_key: None,
        };
        let e = process_output_template(&big, "b_", settings).unwrap_err();
        assert!(matches!(e, OutputTemplateError::TooLong { len: 70_000 }));
    }

    #[test]
    fn a_template_without_the_wrapper_is_only_trimmed() {
        let settings = OutputSettings {
            upload_url: None,
            signing_key: None,
        };
        assert_eq!(
            process_output_template("\n  <file_info>\n</file_info>\n", "b_", settings).unwrap(),
            "<file_info>\n</file_info>"
        );
    }
}
