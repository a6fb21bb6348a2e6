//! Small XML helpers shared by the server parts.
//!
//! BOINC speaks a loose dialect of XML: clients and the C++ server find a
//! value by looking for `<tag>` and reading up to `</tag>`, without caring
//! where in the document it sits, and they escape only `&`, `<` and `>` (plus
//! quotes in some places). Strict parsers reject fragments that BOINC accepts
//! (several roots, stray text, a lone `<flag/>`), so the server parts that read
//! BOINC-generated fragments (`xml_doc` columns, templates, client requests)
//! use these tolerant helpers; whole documents that we own, such as
//! `config.xml`, go through a strict parser with line and column errors
//! instead (see [`crate::config`]).
//!
//! Rules of the tolerant extractor, matching BOINC's own `parse_str` style:
//! - the first `<tag>` (or `<tag attr="…">`) anywhere in the fragment wins;
//! - the value runs to the next `</tag>` and is trimmed, then unescaped;
//! - `<tag/>` is an empty value (and `true` for [`flag`]);
//! - a tag name must match exactly: `<name>` does not match `<name_x>`.

use std::borrow::Cow;

/// Escapes text for use inside an element or a double-quoted attribute.
///
/// Escapes `&`, `<`, `>`, `"` and `'`, which is a superset of what BOINC's
/// `xml_escape` produces and is read back identically by every XML reader,
/// BOINC's included.
pub fn escape(text: &str) -> Cow<'_, str> {
    if !text.contains(['&', '<', '>', '"', '\'']) {
        return Cow::Borrowed(text);
    }
    let mut out = String::with_capacity(text.len() + 16);
    for c in text.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&apos;"),
            c => out.push(c),
        }
    }
    Cow::Owned(out)
}

/// Replaces the five predefined entities and numeric character references
/// (`&#65;`, `&#x41;`) with the characters they stand for.
///
/// Tolerant like BOINC's `xml_unescape`: an `&` that does not start a known
/// reference is kept as it is rather than rejected, because BOINC clients
/// send such text (for example unescaped `&` in host names).
pub fn unescape(text: &str) -> Cow<'_, str> {
    if !text.contains('&') {
        return Cow::Borrowed(text);
    }
    let mut out = String::with_capacity(text.len());
    let mut rest = text;
    while let Some(amp) = rest.find('&') {
        out.push_str(&rest[..amp]);
        let after = &rest[amp..];
        match decode_reference(after) {
            Some((c, used)) => {
                out.push(c);
                rest = &after[used..];
            }
            None => {
                out.push('&');
                rest = &after[1..];
            }
        }
    }
    out.push_str(rest);
    Cow::Owned(out)
}

/// Decodes the reference at the start of `s` (which begins with `&`).
/// Returns the character and the number of bytes consumed.
fn decode_reference(s: &str) -> Option<(char, usize)> {
    // The longest reference we accept is `&#x10FFFF;` (10 bytes). `;` is
    // ASCII, so its byte position is always a char boundary.
    let semi = s.bytes().take(12).position(|b| b == b';')?;
    let body = &s[1..semi];
    let c = match body {
        "amp" => '&',
        "lt" => '<',
        "gt" => '>',
        "quot" => '"',
        "apos" => '\'',
        _ => {
            let num = body.strip_prefix('#')?;
            let code = match num.strip_prefix(['x', 'X']) {
                Some(hex) => u32::from_str_radix(hex, 16).ok()?,
                None => num.parse::<u32>().ok()?,
            };
            char::from_u32(code).filter(|&c| c != '\0')?
        }
    };
    Some((c, semi + 1))
}

/// Where an element sits inside a fragment: the byte range of its content.
struct Located {
    content_start: usize,
    content_end: usize,
    /// Byte offset just past the closing tag (or the self-closing tag).
    end: usize,
}

/// Finds the first element named `tag` at or after byte `from`.
fn locate(fragment: &str, tag: &str, from: usize) -> Option<Located> {
    let mut pos = from;
    while let Some(found) = fragment[pos..].find('<') {
        let lt = pos + found;
        let after_name = lt + 1 + tag.len();
        pos = lt + 1;
        if !fragment[lt + 1..].starts_with(tag) {
            continue;
        }
        // The name must end here: `>`, `/>`, or whitespace before attributes.
        let rest = &fragment[after_name..];
        let next = rest.chars().next()?;
        if !(next == '>' || next == '/' || next.is_ascii_whitespace()) {
            continue;
        }
        let gt = after_name + rest.find('>')?;
        if fragment[..gt].ends_with('/') {
            return Some(Located {
                content_start: gt + 1,
                content_end: gt + 1,
                end: gt + 1,
            });
        }
        let close = format!("</{tag}>");
        let close_at = gt + 1 + fragment[gt + 1..].find(&close)?;
        return Some(Located {
            content_start: gt + 1,
            content_end: close_at,
            end: close_at + close.len(),
        });
    }
    None
}

/// The raw (still escaped), trimmed content of the first `<tag>` element.
///
/// Nested markup is returned as it is, which makes this usable for
/// sub-documents such as `<file_info>…</file_info>`.
pub fn raw_element<'a>(fragment: &'a str, tag: &str) -> Option<&'a str> {
    let at = locate(fragment, tag, 0)?;
    Some(fragment[at.content_start..at.content_end].trim())
}

/// The raw content of every `<tag>` element, in document order.
pub fn raw_elements<'a>(fragment: &'a str, tag: &str) -> Vec<&'a str> {
    let mut out = Vec::new();
    let mut from = 0;
    while let Some(at) = locate(fragment, tag, from) {
        out.push(fragment[at.content_start..at.content_end].trim());
        from = at.end;
    }
    out
}

/// The trimmed, unescaped text of the first `<tag>` element.
pub fn text(fragment: &str, tag: &str) -> Option<String> {
    raw_element(fragment, tag).map(|raw| unescape(raw).into_owned())
}

/// The first `<tag>` element parsed as a number (or anything `FromStr`).
///
/// `None` if the element is missing or its text does not parse; an empty
/// element is treated as missing.
pub fn parse<T: std::str::FromStr>(fragment: &str, tag: &str) -> Option<T> {
    let raw = raw_element(fragment, tag)?;
    if raw.is_empty() {
        return None;
    }
    unescape(raw).parse().ok()
}

/// A BOINC boolean: `<tag/>` or `<tag>N</tag>` with N non-zero is true;
/// `<tag>0</tag>`, an empty element, anything unparsable and a missing
/// element are false.
pub fn flag(fragment: &str, tag: &str) -> bool {
    match raw_element(fragment, tag) {
        None => false,
        Some("") => locate(fragment, tag, 0).is_some_and(|at| at.content_start == at.end),
        Some(raw) => raw.parse::<i64>().is_ok_and(|n| n != 0),
    }
}

/// Writes `<tag>escaped text</tag>` followed by a newline, as BOINC lays out
/// its replies.
pub fn push_element(out: &mut String, tag: &str, value: &str) {
    out.push('<');
    out.push_str(tag);
    out.push('>');
    out.push_str(&escape(value));
    out.push_str("</");
    out.push_str(tag);
    out.push_str(">\n");
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn escape_covers_markup_and_quotes() {
        assert_eq!(escape("plain"), "plain");
        assert_eq!(
            escape(r#"a<b>&"c"'d'"#),
            "a&lt;b&gt;&amp;&quot;c&quot;&apos;d&apos;"
        );
    }

    #[test]
    fn unescape_reverses_escape() {
        for s in ["", "x", "a<b>&\"c\"'d'", "ünïcødé & <more>", "&&&"] {
            assert_eq!(unescape(&escape(s)), s);
        }
    }

    #[test]
    fn unescape_handles_numeric_references() {
        assert_eq!(unescape("&#65;&#x42;&#X43;&#x1F600;"), "ABC😀");
    }

    #[test]
    fn unescape_keeps_unknown_or_broken_references() {
        assert_eq!(unescape("fish & chips"), "fish & chips");
        assert_eq!(unescape("&nbsp;x"), "&nbsp;x");
        assert_eq!(unescape("&#0;"), "&#0;");
        assert_eq!(unescape("&#xZZ;"), "&#xZZ;");
        assert_eq!(unescape("trailing &amp"), "trailing &amp");
    }

    #[test]
    fn text_finds_first_element_anywhere_and_trims() {
        let doc = "<a><name>\n  first &amp; best \n</name></a><name>second</name>";
        assert_eq!(text(doc, "name").as_deref(), Some("first & best"));
        assert_eq!(
            raw_elements(doc, "name"),
            vec!["first &amp; best", "second"]
        );
    }

    #[test]
    fn tag_names_must_match_exactly() {
        let doc = "<name_x>no</name_x><names>no</names><name>yes</name>";
        assert_eq!(text(doc, "name").as_deref(), Some("yes"));
        assert_eq!(text(doc, "nam"), None);
    }

    #[test]
    fn attributes_are_tolerated() {
        let doc = r#"<file_ref kind="x"><file_name>in.txt</file_name></file_ref>"#;
        assert_eq!(
            raw_element(doc, "file_ref"),
            Some("<file_name>in.txt</file_name>")
        );
    }

    #[test]
    fn missing_or_unclosed_elements_are_none() {
        assert_eq!(text("<a>1</a>", "b"), None);
        assert_eq!(text("<a>1", "a"), None);
        assert_eq!(text("<a", "a"), None);
    }

    #[test]
    fn numbers() {
        let doc = "<rsc_fpops_est> 1e12 </rsc_fpops_est><n>42</n><bad>x</bad><e></e>";
        assert_eq!(parse::<f64>(doc, "rsc_fpops_est"), Some(1e12));
        assert_eq!(parse::<i64>(doc, "n"), Some(42));
        assert_eq!(parse::<i64>(doc, "bad"), None);
        assert_eq!(parse::<i64>(doc, "e"), None);
    }

    #[test]
    fn flags_follow_boinc_rules() {
        assert!(flag("<x><f/></x>", "f"));
        assert!(flag("<f />", "f"));
        assert!(flag("<f>1</f>", "f"));
        assert!(flag("<f> 2 </f>", "f"));
        assert!(!flag("<f>0</f>", "f"));
        assert!(!flag("<f></f>", "f"));
        assert!(!flag("<f>yes</f>", "f"));
        assert!(!flag("<g/>", "f"));
    }

    #[test]
    fn push_element_escapes() {
        let mut s = String::new();
        push_element(&mut s, "message", "a < b");
        assert_eq!(s, "<message>a &lt; b</message>\n");
    }
}
