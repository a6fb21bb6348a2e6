//! One pass over the child elements of a BOINC XML fragment.
//!
//! BOINC clients write loose XML: no prolog, unescaped `&` in host names, raw stderr inside
//! CDATA. A strict parser rejects real requests, and looking each field up with a fresh search
//! (as [`rboinc_core::xml::raw_element`] does) reads an 8 KB request dozens of times. This
//! iterator walks the children of one element once, in order, handing out each child's name and
//! raw content; callers recurse into the few compound children (`<host_info>`, `<result>`).
//!
//! Rules, matching how BOINC's own parser sees these documents:
//! - a child is `<name ...>content</name>` or `<name .../>`; its content runs to the first
//!   `</name>` (BOINC elements do not nest inside themselves);
//! - comments, `<?...?>`, `<!...>` and stray closing tags between children are skipped;
//! - an element whose closing tag is missing is an error (the document is truncated or not
//!   BOINC's), and the iteration stops there.

use std::borrow::Cow;

use rboinc_core::xml::unescape;

/// One child element.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Element<'a> {
    pub name: &'a str,
    /// Raw content between the tags, untrimmed and still escaped.
    pub content: &'a str,
    /// Written `<name/>`.
    pub self_closing: bool,
}

impl<'a> Element<'a> {
    /// The trimmed, unescaped text.
    pub fn text(&self) -> Cow<'a, str> {
        unescape(self.content.trim())
    }

    /// A number the way BOINC's `parse_double` reads one; non-finite values and garbage are 0.
    pub fn f64(&self) -> f64 {
        rboinc_core::crypt::parse_c_double(self.content)
            .filter(|x| x.is_finite())
            .unwrap_or(0.0)
    }

    /// An integer; a number with a fraction is truncated, garbage is 0, out-of-range values
    /// saturate.
    pub fn i64(&self) -> i64 {
        let t = self.content.trim();
        t.parse::<i64>().unwrap_or_else(|_| self.f64() as i64)
    }

    pub fn i32(&self) -> i32 {
        self.i64().clamp(i64::from(i32::MIN), i64::from(i32::MAX)) as i32
    }

    /// A BOINC boolean: `<x/>`, or a non-zero number (`<x></x>` is false).
    pub fn flag(&self) -> bool {
        self.self_closing || self.i64() != 0
    }

    /// The children of this element.
    pub fn children(&self) -> Children<'a> {
        Children::new(self.content)
    }
}

/// A closing tag that never came.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("element <{name}> is not closed")]
pub struct Unclosed {
    pub name: String,
}

/// Iterator over the child elements of a fragment (see the module docs).
#[derive(Debug, Clone)]
pub struct Children<'a> {
    rest: &'a str,
    failed: bool,
}

impl<'a> Children<'a> {
    pub fn new(fragment: &'a str) -> Self {
        Children {
            rest: fragment,
            failed: false,
        }
    }
}

/// Byte offset of `</name>` in `body`, without allocating the pattern. Scans for `<` (a
/// `memchr`), not for `"</"`: a string pattern builds a substring searcher on every call,
/// which showed in profiles of compound children such as `<host_info>`.
fn find_close(body: &str, name: &str) -> Option<usize> {
    let bytes = body.as_bytes();
    let mut from = 0;
    while let Some(i) = body[from..].find('<') {
        let at = from + i;
        if bytes.get(at + 1) == Some(&b'/')
            && bytes[at + 2..].starts_with(name.as_bytes())
            && bytes.get(at + 2 + name.len()) == Some(&b'>')
        {
            return Some(at);
        }
        from = at + 1;
    }
    None
}

impl<'a> Iterator for Children<'a> {
    type Item = Result<Element<'a>, Unclosed>;

    fn next(&mut self) -> Option<Self::Item> {
        if self.failed {
            return None;
        }
        loop {
            let lt = self.rest.find('<')?;
            let after = &self.rest[lt + 1..];
            if let Some(comment) = after.strip_prefix("!--") {
                let end = comment.find("-->")?;
                self.rest = &comment[end + 3..];
                continue;
            }
            if after.starts_with(['?', '!', '/']) {
                let end = after.find('>')?;
                self.rest = &after[end + 1..];
                continue;
            }
            let name_len = after
                .find(|c: char| c == '>' || c == '/' || c.is_ascii_whitespace())
                .unwrap_or(after.len());
            let name = &after[..name_len];
            if name.is_empty() {
                // A lone '<' in text: not a tag.
                self.rest = after;
                continue;
            }
            let Some(gt) = after.find('>') else {
                self.failed = true;
                return Some(Err(Unclosed { name: name.into() }));
            };
            if after[..gt].ends_with('/') {
                self.rest = &after[gt + 1..];
                return Some(Ok(Element {
                    name,
                    content: "",
                    self_closing: true,
                }));
            }
            let body = &after[gt + 1..];
            let Some(end) = find_close(body, name) else {
                self.failed = true;
                return Some(Err(Unclosed { name: name.into() }));
            };
            self.rest = &body[end + name.len() + 3..];
            return Some(Ok(Element {
                name,
                content: &body[..end],
                self_closing: false,
            }));
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn names(fragment: &str) -> Vec<String> {
        Children::new(fragment)
            .map(|e| {
                e.map(|e| e.name.to_string())
                    .unwrap_or_else(|e| format!("ERR {e}"))
            })
            .collect()
    }

    #[test]
    fn walks_children_once_in_order() {
        let doc = "<a>1</a>\n<!-- x <b> -->\n<flag/><c attr=\"1\"> t&amp;u </c><d><d2>z</d2></d>";
        assert_eq!(names(doc), ["a", "flag", "c", "d"]);
        let c: Vec<_> = Children::new(doc).map(Result::unwrap).collect();
        assert_eq!(c[2].text(), "t&u");
        assert!(c[1].flag());
        assert_eq!(c[3].children().next().unwrap().unwrap().text(), "z");
    }

    #[test]
    fn similar_names_do_not_close_each_other() {
        let doc = "<app_versions><app_version><x>1</x></app_version></app_versions><n>2</n>";
        let all: Vec<_> = Children::new(doc).map(Result::unwrap).collect();
        assert_eq!(all.len(), 2);
        assert_eq!(all[0].name, "app_versions");
        assert_eq!(all[0].children().count(), 1);
    }

    #[test]
    fn find_close_finds_the_exact_tag_and_survives_truncation() {
        assert_eq!(find_close("x</ab></a>", "a"), Some(6));
        assert_eq!(find_close("<b>1</b> < 2 </a>", "a"), Some(13));
        for cut in ["", "<", "</", "</a", "x</ab>", "</a "] {
            assert_eq!(find_close(cut, "a"), None, "{cut:?}");
        }
    }

    #[test]
    fn numbers_follow_boinc() {
        let e = |c: &'static str| Element {
            name: "n",
            content: c,
            self_closing: false,
        };
        assert_eq!(e(" 1.5 ").f64(), 1.5);
        assert_eq!(e("nan").f64(), 0.0);
        assert_eq!(e("7.9").i64(), 7);
        assert_eq!(e("x").i32(), 0);
        assert_eq!(e("99999999999").i32(), i32::MAX);
        assert!(!e("0").flag());
        assert!(e("1").flag());
    }

    #[test]
    fn an_unclosed_element_is_an_error_and_stops() {
        assert_eq!(
            names("<a>1</a><b>2"),
            ["a", "ERR element <b> is not closed"]
        );
        assert_eq!(names("<a>1</a><b"), ["a", "ERR element <b> is not closed"]);
    }

    #[test]
    fn cdata_and_markup_inside_content_stay_content() {
        let doc =
            "<stderr_out><![CDATA[<stderr_txt>a <b> c</stderr_txt>]]></stderr_out><next>1</next>";
        let all: Vec<_> = Children::new(doc).map(Result::unwrap).collect();
        assert_eq!(all.len(), 2);
        assert!(all[0].content.contains("<b>"));
    }
}
