//! Upload authorization: the `<xml_signature>` in an output file's `<file_info>`.
//!
//! When the transitioner creates a result it signs, for each output file, the text
//! `<name>NAME</name><max_nbytes>N</max_nbytes>` with the project's upload private key (N printed
//! like C's `%.0f`). The client echoes name, max_nbytes and signature when it uploads, and the
//! upload handler rebuilds the text and checks the signature with the upload public key. That
//! stops clients from uploading files the project never asked for, or larger ones.
//!
//! The signed text is rebuilt from the *parsed* number, not copied from the XML: a template value
//! `1e9` is signed as `1000000000` and `12345.6` as `12346`, while the XML keeps `1e9`.

use std::borrow::Cow;

use super::CryptError;
use super::key::{PrivateKey, PublicKey};
use super::signature::Signature;

const FILE_INFO_OPEN: &str = "<file_info>\n";
const FILE_INFO_CLOSE: &str = "</file_info>";
const NAME_TAG: &str = "<name>";
const MAX_NBYTES_TAG: &str = "<max_nbytes>";

/// A result template `<file_info>` that cannot be signed. `index` counts file_infos from 0.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum TemplateError {
    #[error("file_info {index} has no closing </file_info>")]
    UnclosedFileInfo { index: usize },
    #[error("file_info {index} has no <name>")]
    MissingName { index: usize },
    #[error("file_info {index} has no usable <max_nbytes>")]
    MissingMaxNbytes { index: usize },
}

/// The text that is signed for one output file: `<name>NAME</name><max_nbytes>N</max_nbytes>`,
/// N formatted like C's `%.0f`. `max_nbytes` must be finite.
pub fn upload_signed_text(name: &str, max_nbytes: f64) -> Result<String, CryptError> {
    if !max_nbytes.is_finite() {
        return Err(CryptError::BadMaxNbytes {
            text: max_nbytes.to_string(),
        });
    }
    // Rust's `{:.0}` rounds the exact binary value half-to-even, as glibc's printf does.
    Ok(format!(
        "<name>{name}</name><max_nbytes>{max_nbytes:.0}</max_nbytes>"
    ))
}

/// Signs one output file's upload authorization with the upload private key.
pub fn sign_upload(key: &PrivateKey, name: &str, max_nbytes: f64) -> Result<Signature, CryptError> {
    key.sign_bytes(upload_signed_text(name, max_nbytes)?.as_bytes())
}

/// Inserts an `<xml_signature>` into every `<file_info>` of a result template whose `<OUTFILE_n/>`
/// and `<UPLOAD_URL/>` macros are already replaced, the way BOINC's transitioner does it:
///
/// * only `<file_info>` immediately followed by `\n` counts;
/// * the name is the text after `<name>` up to the next `<`, whitespace-trimmed and XML-unescaped;
///   max_nbytes is the number right after `<max_nbytes>` (C `strtod` rules);
/// * `<xml_signature>\n` + signature text + `</xml_signature>\n` goes immediately before
///   `</file_info>`, after whatever indentation preceded it (so `</file_info>` loses its indent).
///
/// It may run before or after the `<output_template>` wrapper is stripped; the output is the
/// same. A file_info without `<name>` or `<max_nbytes>` is an error and nothing is returned.
pub fn add_upload_signatures(xml: &str, key: &PrivateKey) -> Result<String, CryptError> {
    let mut doc = xml.to_owned();
    let mut search_from = 0;
    let mut index = 0;
    while let Some(found) = doc[search_from..].find(FILE_INFO_OPEN) {
        let body_start = search_from + found + FILE_INFO_OPEN.len();
        let body_end = doc[body_start..]
            .find(FILE_INFO_CLOSE)
            .map(|i| body_start + i)
            .ok_or(TemplateError::UnclosedFileInfo { index })?;
        let body = &doc[body_start..body_end];
        let name = element_text(body, NAME_TAG).ok_or(TemplateError::MissingName { index })?;
        let max_nbytes = body
            .find(MAX_NBYTES_TAG)
            .and_then(|i| parse_c_double(&body[i + MAX_NBYTES_TAG.len()..]))
            .ok_or(TemplateError::MissingMaxNbytes { index })?;
        let signature = sign_upload(key, &name, max_nbytes)?;
        let element = format!("<xml_signature>\n{}</xml_signature>\n", signature.to_text());
        doc.insert_str(body_end, &element);
        search_from = body_start;
        index += 1;
    }
    Ok(doc)
}

/// Checks an uploaded file's authorization, as the upload handler does before accepting data.
///
/// `name` is the file_info's `<name>` (unescaped, whitespace-trimmed, as an XML parser gives it),
/// `max_nbytes_text` the content of `<max_nbytes>`, `signature_text` the content of
/// `<xml_signature>`. Returns the signed size limit; the caller must still refuse uploads with
/// `nbytes > max_nbytes`.
pub fn verify_upload(
    key: &PublicKey,
    name: &str,
    max_nbytes_text: &str,
    signature_text: &str,
) -> Result<f64, CryptError> {
    // BOINC treats a negative limit like a missing one.
    let max_nbytes = parse_c_double(max_nbytes_text)
        .filter(|x| *x >= 0.0)
        .ok_or_else(|| CryptError::BadMaxNbytes {
            text: max_nbytes_text.chars().take(40).collect(),
        })?;
    let signature = Signature::from_text(signature_text)?;
    key.verify_bytes(upload_signed_text(name, max_nbytes)?.as_bytes(), &signature)?;
    Ok(max_nbytes)
}

/// BOINC's `parse_str` on a fragment: text after `tag` up to the next `<`, trimmed, unescaped.
fn element_text<'a>(body: &'a str, tag: &str) -> Option<Cow<'a, str>> {
    let start = body.find(tag)? + tag.len();
    let len = body[start..].find('<')?;
    let raw = body[start..start + len].trim_ascii();
    // An undecodable entity stays as written, as BOINC's xml_unescape leaves it.
    Some(quick_xml::escape::unescape(raw).unwrap_or(Cow::Borrowed(raw)))
}

/// A number the way C's `strtod` reads the start of `text`: leading whitespace, then the longest
/// decimal floating-point prefix; anything after it is ignored. `None` when there is no number,
/// when it is not finite (BOINC's `parse_double` refuses those), or for hex floats, which we do
/// not read.
pub fn parse_c_double(text: &str) -> Option<f64> {
    let s = text.trim_ascii_start().as_bytes();
    let mut end = 0;
    if matches!(s.first(), Some(b'+' | b'-')) {
        end += 1;
    }
    if s[end..].starts_with(b"0x") || s[end..].starts_with(b"0X") {
        return None;
    }
    let int_digits = count_digits(&s[end..]);
    end += int_digits;
    let mut frac_digits = 0;
    if s.get(end) == Some(&b'.') {
        frac_digits = count_digits(&s[end + 1..]);
        end += 1 + frac_digits;
    }
    if int_digits + frac_digits == 0 {
        return None;
    }
    if matches!(s.get(end), Some(b'e' | b'E')) {
        let mut exp_end = end + 1;
        if matches!(s.get(exp_end), Some(b'+' | b'-')) {
            exp_end += 1;
        }
        let exp_digits = count_digits(&s[exp_end..]);
        if exp_digits > 0 {
            end = exp_end + exp_digits;
        }
    }
    let number = std::str::from_utf8(&s[..end]).ok()?;
    number.parse::<f64>().ok().filter(|x| x.is_finite())
}

fn count_digits(s: &[u8]) -> usize {
    s.iter().take_while(|b| b.is_ascii_digit()).count()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn max_nbytes_prints_like_printf_percent_point_0_f() {
        // Expected values are glibc printf("%.0f") output.
        let cases = [
            (5e6, "5000000"),
            (1e9, "1000000000"),
            (12345.6, "12346"),
            (0.5, "0"),
            (1.5, "2"),
            (2.5, "2"),
            (3.5, "4"),
            (1e20, "100000000000000000000"),
            (4503599627370497.5, "4503599627370498"),
        ];
        for (x, want) in cases {
            let text = upload_signed_text("f", x).unwrap();
            assert_eq!(
                text,
                format!("<name>f</name><max_nbytes>{want}</max_nbytes>"),
                "{x}"
            );
        }
        assert!(upload_signed_text("f", f64::INFINITY).is_err());
        assert!(upload_signed_text("f", f64::NAN).is_err());
    }

    #[test]
    fn c_double_prefixes() {
        let cases: [(&str, Option<f64>); 14] = [
            ("5000000", Some(5e6)),
            ("1e9", Some(1e9)),
            ("12345.6</max_nbytes>", Some(12345.6)),
            ("  \n 42 ", Some(42.0)),
            ("+7", Some(7.0)),
            ("-1", Some(-1.0)),
            ("5.", Some(5.0)),
            (".5", Some(0.5)),
            ("3e", Some(3.0)),
            ("3e+x", Some(3.0)),
            ("", None),
            ("abc", None),
            ("1e999", None),
            ("0x10", None),
        ];
        for (text, want) in cases {
            assert_eq!(parse_c_double(text), want, "{text:?}");
        }
        assert_eq!(parse_c_double("inf"), None);
        assert_eq!(parse_c_double("nan"), None);
    }

    #[test]
    fn element_text_trims_and_unescapes() {
        assert_eq!(
            element_text("  <name> a&amp;b </name>", "<name>").as_deref(),
            Some("a&b")
        );
        assert_eq!(
            element_text("<name>x&bogus;</name>", "<name>").as_deref(),
            Some("x&bogus;")
        );
        assert_eq!(element_text("<nam>x</nam>", "<name>"), None);
        assert_eq!(element_text("<name>no end", "<name>"), None);
    }
}
