//! Walking a template's elements straight from quick-xml's events, with their places.
//!
//! Two steps over the same text. [`check_document`] makes sure it is one well-formed element
//! (quick-xml's own syntax checks, plus: one root, no text outside it, every element closed),
//! so every syntax error is reported first, with its place, whatever the template says.
//! Then [`Elements`] hands the parser (`super::parse`) the elements it needs in document
//! order: a container's children one at a time ([`Elements::next_child`]), a value's text
//! ([`Elements::value`]), or an element kept verbatim ([`Elements::raw`]: the template's own
//! bytes, which the workunit repeats as they are). No tree is built: each element is read once,
//! where it is used.

use std::path::Path;

use quick_xml::events::{BytesRef, BytesStart, Event};
use quick_xml::reader::Reader;

use super::TemplateError;
use crate::config::Position;

/// An element whose start tag was just read.
#[derive(Debug)]
pub(super) struct Open {
    pub name: String,
    /// Byte offset of its `<`.
    pub start: usize,
    /// Written `<name/>`: nothing more to read.
    pub empty: bool,
}

impl Open {
    fn new(tag: &BytesStart<'_>, start: usize, empty: bool) -> Open {
        Open {
            name: tag.name().as_ref().to_string(),
            start,
            empty,
        }
    }
}

/// The events of a template, with byte offsets, and errors that name the template's line.
pub(super) struct Elements<'a> {
    text: &'a str,
    pub path: &'a Path,
    reader: Reader<&'a [u8]>,
}

fn offset(n: u64) -> usize {
    usize::try_from(n).unwrap_or(usize::MAX)
}

impl<'a> Elements<'a> {
    pub(super) fn new(text: &'a str, path: &'a Path) -> Self {
        Elements {
            text,
            path,
            reader: Reader::from_str(text),
        }
    }

    pub(super) fn err(&self, at: usize, message: String) -> TemplateError {
        TemplateError {
            path: self.path.to_path_buf(),
            at: Position::from_offset(self.text, at),
            message,
        }
    }

    pub(super) fn pos(&self, at: usize) -> Position {
        Position::from_offset(self.text, at)
    }

    /// The next event and the offset where it starts.
    fn next(&mut self) -> Result<(usize, Event<'a>), TemplateError> {
        let start = offset(self.reader.buffer_position());
        match self.reader.read_event() {
            Ok(event) => Ok((start, event)),
            Err(e) => Err(self.err(
                offset(self.reader.error_position()),
                format!("malformed XML: {e}"),
            )),
        }
    }

    fn end_offset(&self) -> usize {
        offset(self.reader.buffer_position())
    }

    /// The character or predefined entity a reference stands for.
    fn resolve(&self, at: usize, r: &BytesRef<'_>) -> Result<String, TemplateError> {
        match r.resolve_char_ref() {
            Ok(Some(c)) => Ok(c.to_string()),
            _ => quick_xml::escape::resolve_predefined_entity(r)
                .map(str::to_string)
                .ok_or_else(|| self.err(at, format!("unknown entity &{};", &**r))),
        }
    }

    /// The next child element of `parent` (whose start tag was read), or `None` at its end
    /// tag. Text between the children is not part of the model and is skipped.
    pub(super) fn next_child(&mut self, parent: &Open) -> Result<Option<Open>, TemplateError> {
        if parent.empty {
            return Ok(None);
        }
        loop {
            let (start, event) = self.next()?;
            match event {
                Event::Start(tag) => return Ok(Some(Open::new(&tag, start, false))),
                Event::Empty(tag) => return Ok(Some(Open::new(&tag, start, true))),
                Event::End(_) => return Ok(None),
                Event::GeneralRef(r) => {
                    self.resolve(start, &r)?;
                }
                Event::Eof => {
                    return Err(
                        self.err(parent.start, format!("<{}> is never closed", parent.name))
                    );
                }
                _ => {}
            }
        }
    }

    /// Reads the rest of `element`: its own text (entities resolved, CDATA included; the text
    /// of elements inside it is not), trimmed as BOINC reads a value.
    pub(super) fn value(&mut self, element: &Open) -> Result<String, TemplateError> {
        let mut text = String::new();
        self.read_rest(element, |depth, piece| {
            if depth == 0 {
                text.push_str(piece);
            }
        })?;
        Ok(text.trim().to_string())
    }

    /// Reads the rest of `element` and returns it as written, from its `<` to the end of its
    /// end tag.
    pub(super) fn raw(&mut self, element: &Open) -> Result<&'a str, TemplateError> {
        self.read_rest(element, |_, _| {})?;
        Ok(&self.text[element.start..self.end_offset()])
    }

    /// Reads up to `element`'s end tag, handing each piece of text to `text` with its depth
    /// (0: directly inside `element`).
    fn read_rest(
        &mut self,
        element: &Open,
        mut text: impl FnMut(usize, &str),
    ) -> Result<(), TemplateError> {
        if element.empty {
            return Ok(());
        }
        // Elements opened inside `element`, for "never closed".
        let mut open: Vec<Open> = Vec::new();
        loop {
            let (start, event) = self.next()?;
            match event {
                Event::Start(tag) => open.push(Open::new(&tag, start, false)),
                Event::End(_) if open.is_empty() => return Ok(()),
                Event::End(_) => {
                    open.pop();
                }
                Event::Text(t) => text(open.len(), &t.xml10_content()),
                Event::CData(t) => text(open.len(), &t.xml10_content()),
                Event::GeneralRef(r) => {
                    let resolved = self.resolve(start, &r)?;
                    text(open.len(), &resolved);
                }
                Event::Eof => {
                    let innermost = open.last().unwrap_or(element);
                    return Err(self.err(
                        innermost.start,
                        format!("<{}> is never closed", innermost.name),
                    ));
                }
                _ => {}
            }
        }
    }

    /// The root element's start tag; `None` for a document without elements.
    pub(super) fn root(&mut self) -> Result<Option<Open>, TemplateError> {
        loop {
            let (start, event) = self.next()?;
            match event {
                Event::Start(tag) => return Ok(Some(Open::new(&tag, start, false))),
                Event::Empty(tag) => return Ok(Some(Open::new(&tag, start, true))),
                Event::Eof => return Ok(None),
                _ => {}
            }
        }
    }
}

/// Checks that `text` is one well-formed element (see the module docs).
pub(super) fn check_document(text: &str, path: &Path) -> Result<(), TemplateError> {
    let mut doc = Elements::new(text, path);
    let mut open: Vec<Open> = Vec::new();
    let mut roots = 0;
    loop {
        let (start, event) = doc.next()?;
        let top = open.is_empty();
        match event {
            Event::Start(_) | Event::Empty(_) if top && roots > 0 => {
                return Err(doc.err(start, "a second root element".into()));
            }
            Event::Start(tag) => open.push(Open::new(&tag, start, false)),
            Event::Empty(_) => roots += usize::from(top),
            Event::End(_) => {
                if open.pop().is_none() {
                    return Err(doc.err(start, "closing tag without opening tag".into()));
                }
                roots += usize::from(open.is_empty());
            }
            Event::Text(t) if top && !t.xml10_content().trim().is_empty() => {
                return Err(doc.err(start, "text outside the root element".into()));
            }
            Event::GeneralRef(r) => {
                doc.resolve(start, &r)?;
            }
            Event::Eof => break,
            _ => {}
        }
    }
    if let Some(innermost) = open.last() {
        return Err(doc.err(
            innermost.start,
            format!("<{}> is never closed", innermost.name),
        ));
    }
    if roots == 0 {
        return Err(doc.err(0, "the template is empty".into()));
    }
    Ok(())
}
