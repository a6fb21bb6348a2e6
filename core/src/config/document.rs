//! A strict, position-keeping reader for config files.
//!
//! `config.xml` is small, so it is read into a tree of [`Element`]s in one go;
//! every element remembers the line and column of its `<`, so a bad value can
//! be reported where it is. Unlike [`crate::xml`] (tolerant, for BOINC's
//! fragments), this reader rejects anything that is not well-formed XML: a
//! config file is written by an operator, and a typo should stop the daemon
//! with a message rather than be half-read.

use std::path::Path;

use quick_xml::errors::{Error as XmlError, IllFormedError};
use quick_xml::events::Event;
use quick_xml::reader::Reader;

use super::error::{ConfigError, Position};

/// One element of a config file.
#[derive(Debug, Clone, PartialEq)]
pub struct Element {
    pub name: String,
    /// Where the element's `<` is.
    pub at: Position,
    /// The element's own text (entities resolved, CDATA included), untrimmed.
    pub text: String,
    pub children: Vec<Element>,
    /// Written as `<name/>`.
    pub self_closing: bool,
}

impl Element {
    fn new(name: String, at: Position, self_closing: bool) -> Self {
        Element {
            name,
            at,
            text: String::new(),
            children: Vec::new(),
            self_closing,
        }
    }

    /// The first child element with this name.
    pub fn child(&self, name: &str) -> Option<&Element> {
        self.children.iter().find(|c| c.name == name)
    }

    /// Every child element with this name, in document order.
    pub fn children_named<'a>(&'a self, name: &'a str) -> impl Iterator<Item = &'a Element> {
        self.children.iter().filter(move |c| c.name == name)
    }

    /// The trimmed text, as BOINC's parser sees a scalar value.
    pub fn value(&self) -> &str {
        self.text.trim()
    }
}

/// Reads `text` (the contents of `path`) into its root element.
pub fn parse(path: &Path, text: &str) -> Result<Element, ConfigError> {
    let mut reader = Reader::from_str(text);
    let mut stack: Vec<Element> = Vec::new();
    let mut root: Option<Element> = None;

    let malformed = |offset: u64, message: String| ConfigError::Malformed {
        path: path.to_path_buf(),
        at: Position::from_offset(text, usize::try_from(offset).unwrap_or(usize::MAX)),
        message,
    };

    loop {
        let start = reader.buffer_position();
        let at = Position::from_offset(text, usize::try_from(start).unwrap_or(usize::MAX));
        let event = match reader.read_event() {
            Ok(event) => event,
            Err(e) => return Err(malformed(reader.error_position(), describe(&e))),
        };
        match event {
            Event::Start(tag) => {
                check_attributes(&tag).map_err(|(at, m)| malformed(start + at, m))?;
                let name = tag.name().as_ref().to_string();
                if stack.is_empty() && root.is_some() {
                    return Err(second_root(path, at, &name));
                }
                stack.push(Element::new(name, at, false));
            }
            Event::Empty(tag) => {
                check_attributes(&tag).map_err(|(at, m)| malformed(start + at, m))?;
                let name = tag.name().as_ref().to_string();
                let element = Element::new(name, at, true);
                match stack.last_mut() {
                    Some(parent) => parent.children.push(element),
                    None if root.is_some() => return Err(second_root(path, at, &element.name)),
                    None => root = Some(element),
                }
            }
            Event::End(_) => {
                // quick-xml has already checked that the names match.
                let Some(done) = stack.pop() else {
                    return Err(malformed(
                        start,
                        "closing tag without an opening tag".into(),
                    ));
                };
                match stack.last_mut() {
                    Some(parent) => parent.children.push(done),
                    None => root = Some(done),
                }
            }
            Event::Text(t) => {
                let content = t.xml10_content();
                match stack.last_mut() {
                    Some(open) => open.text.push_str(&content),
                    None if content.trim().is_empty() => {}
                    None => {
                        return Err(ConfigError::Structure {
                            path: path.to_path_buf(),
                            at: first_non_space(text, start),
                            message: "text outside the root element".into(),
                        });
                    }
                }
            }
            Event::CData(t) => {
                let content = t.xml10_content();
                match stack.last_mut() {
                    Some(open) => open.text.push_str(&content),
                    None => {
                        return Err(ConfigError::Structure {
                            path: path.to_path_buf(),
                            at,
                            message: "CDATA outside the root element".into(),
                        });
                    }
                }
            }
            Event::GeneralRef(r) => {
                let resolved = match r.resolve_char_ref() {
                    Ok(Some(c)) => c.to_string(),
                    Ok(None) => match quick_xml::escape::resolve_predefined_entity(&r) {
                        Some(s) => s.to_string(),
                        None => {
                            return Err(malformed(start, format!("unknown entity &{};", &*r)));
                        }
                    },
                    Err(e) => return Err(malformed(start, describe(&e))),
                };
                match stack.last_mut() {
                    Some(open) => open.text.push_str(&resolved),
                    None => {
                        return Err(ConfigError::Structure {
                            path: path.to_path_buf(),
                            at,
                            message: "text outside the root element".into(),
                        });
                    }
                }
            }
            Event::Decl(_) | Event::PI(_) | Event::Comment(_) | Event::DocType(_) => {}
            Event::Eof => break,
        }
    }

    if let Some(open) = stack.last() {
        return Err(malformed(
            text.len() as u64,
            format!(
                "end of file inside <{}> (opened at line {}, column {})",
                open.name, open.at.line, open.at.column
            ),
        ));
    }
    root.ok_or_else(|| ConfigError::Structure {
        path: path.to_path_buf(),
        at: Position::from_offset(text, text.len()),
        message: "no root element (the file is empty)".into(),
    })
}

/// Config elements carry no attributes we use, but broken ones (an
/// unclosed quote) mean the file is not what its author thinks it is.
/// On error, returns the offset of the fault from the tag's `<` and a message.
fn check_attributes(tag: &quick_xml::events::BytesStart<'_>) -> Result<(), (u64, String)> {
    for attribute in tag.attributes() {
        attribute.map_err(|e| {
            // quick-xml says "position N: what"; N counts from after the `<`.
            let text = e.to_string();
            let (offset, what) = text
                .strip_prefix("position ")
                .and_then(|rest| rest.split_once(": "))
                .and_then(|(n, what)| Some((n.parse::<u64>().ok()? + 1, what.to_string())))
                .unwrap_or((0, text.clone()));
            (
                offset,
                format!("bad attribute in <{}>: {what}", tag.name().as_ref()),
            )
        })?;
    }
    Ok(())
}

fn second_root(path: &Path, at: Position, name: &str) -> ConfigError {
    ConfigError::Structure {
        path: path.to_path_buf(),
        at,
        message: format!("a second root element <{name}> after the first one ended"),
    }
}

fn first_non_space(text: &str, from: u64) -> Position {
    let from = usize::try_from(from).unwrap_or(text.len()).min(text.len());
    let skip = text[from..].find(|c: char| !c.is_whitespace()).unwrap_or(0);
    Position::from_offset(text, from + skip)
}

/// quick-xml's messages, reworded where ours read better in a config file.
fn describe(e: &XmlError) -> String {
    match e {
        XmlError::IllFormed(IllFormedError::MismatchedEndTag { expected, found }) => {
            // `</name` without its `>` runs on into the next tag.
            match found.split_once(|c: char| c.is_whitespace() || c == '<') {
                Some((name, _)) => format!("closing tag </{name} has no `>`"),
                None => format!("</{found}> does not close <{expected}>"),
            }
        }
        XmlError::IllFormed(IllFormedError::UnmatchedEndTag(name)) => {
            format!("</{name}> closes an element that was never opened")
        }
        other => other.to_string(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn doc(text: &str) -> Result<Element, ConfigError> {
        parse(Path::new("t.xml"), text)
    }

    #[test]
    fn builds_a_tree_with_positions() {
        let root = doc("<?xml version=\"1.0\"?>\n<a>\n  <b>x &amp; y</b>\n  <c/>\n</a>\n").unwrap();
        assert_eq!(root.name, "a");
        assert_eq!(root.at, Position { line: 2, column: 1 });
        let b = root.child("b").unwrap();
        assert_eq!(b.value(), "x & y");
        assert_eq!(b.at, Position { line: 3, column: 3 });
        let c = root.child("c").unwrap();
        assert!(c.self_closing);
        assert_eq!(c.at, Position { line: 4, column: 3 });
    }

    #[test]
    fn comments_cdata_and_char_refs() {
        let root = doc("<a><!-- note --><b><![CDATA[<raw>]]>&#65;</b></a>").unwrap();
        assert_eq!(root.child("b").unwrap().value(), "<raw>A");
    }

    #[test]
    fn rejects_two_roots_and_stray_text() {
        let e = doc("<a/>\n<b/>").unwrap_err().to_string();
        assert_eq!(
            e,
            "t.xml:2:1: a second root element <b> after the first one ended"
        );
        let e = doc("<a></a>\n  junk").unwrap_err().to_string();
        assert_eq!(e, "t.xml:2:3: text outside the root element");
    }

    #[test]
    fn rejects_unknown_entities() {
        let e = doc("<a>\n<b>&nbsp;</b></a>").unwrap_err().to_string();
        assert_eq!(e, "t.xml:2:4: malformed XML: unknown entity &nbsp;");
    }
}
