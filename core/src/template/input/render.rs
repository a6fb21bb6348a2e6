//! Writing a workunit's `xml_doc` from a parsed template and the caller's resolved files.
//!
//! The text layout is BOINC's `process_input_template`, byte for byte (the scheduler later
//! inserts elements right after `<workunit>\n`, and the stock tools compare these documents), so
//! it is written by hand rather than by an XML writer: every line break and indent is part of
//! the format.

use std::fmt;

use super::{
    FileInfoSpec, FileSource, InputTemplate, MAX_XML_DOC_LEN, RenderError, ResolvedFile,
    WorkunitItem,
};
use crate::xml;

impl InputTemplate {
    /// Builds `workunit.xml_doc`.
    ///
    /// `files` holds one resolved file per `<file_info>`, in order. `command_line`: `Some` puts
    /// a `<command_line>` first in `<workunit>` — BOINC's `create_work` program always passes
    /// one, even empty; work generators pass `None`. It is an error together with a template
    /// `<command_line>` unless empty (BOINC's rule: only a non-empty one counts as given).
    /// `additional_xml` (e.g. `<sub_appname>`) goes last inside `<workunit>`.
    pub fn render(
        &self,
        files: &[ResolvedFile],
        command_line: Option<&str>,
        additional_xml: &str,
    ) -> Result<String, RenderError> {
        if files.len() != self.file_infos.len() {
            return Err(RenderError::FileCount {
                expected: self.file_infos.len(),
                found: files.len(),
            });
        }
        if command_line.is_some_and(|c| !c.is_empty()) && self.has_command_line() {
            return Err(RenderError::CommandLineTwice {
                path: self.path.clone(),
            });
        }
        let mut out = String::with_capacity(512 + 256 * files.len());
        for (spec, file) in self.file_infos.iter().zip(files) {
            self.render_file_info(&mut out, spec, file)?;
        }
        out.push_str("<workunit>\n");
        if let Some(cmd) = command_line {
            push_command_line(&mut out, cmd);
        }
        let mut refs = files.iter();
        for item in &self.workunit {
            match item {
                WorkunitItem::FileRef {
                    open_name,
                    copy_file,
                    extra,
                    ..
                } => {
                    let file = refs.next().expect("counts checked at parse time");
                    out.push_str("<file_ref>\n    <file_name>");
                    out.push_str(&xml::escape(&file.name()));
                    out.push_str("</file_name>\n");
                    if let Some(open) = open_name {
                        out.push_str("    <open_name>");
                        out.push_str(&xml::escape(open));
                        out.push_str("</open_name>\n");
                    }
                    if *copy_file {
                        out.push_str("    <copy_file/>\n");
                    }
                    for e in extra {
                        out.push_str(e);
                        out.push('\n');
                    }
                    out.push_str("</file_ref>\n");
                }
                WorkunitItem::CommandLine(cmd) => push_command_line(&mut out, cmd),
                WorkunitItem::Verbatim(e) => {
                    out.push_str(e);
                    out.push('\n');
                }
            }
        }
        if !additional_xml.is_empty() {
            out.push_str(additional_xml);
            out.push('\n');
        }
        out.push_str("</workunit>");
        if out.len() > MAX_XML_DOC_LEN {
            return Err(RenderError::TooLong { len: out.len() });
        }
        Ok(out)
    }

    fn render_file_info(
        &self,
        out: &mut String,
        spec: &FileInfoSpec,
        file: &ResolvedFile,
    ) -> Result<(), RenderError> {
        let mismatch = |message: String| RenderError::Mismatch {
            path: self.path.clone(),
            at: spec.at,
            message,
        };
        out.push_str("<file_info>\n");
        for e in &spec.extra {
            out.push_str(e);
            out.push('\n');
        }
        match (&spec.source, file) {
            (
                FileSource::Local | FileSource::Constant { .. },
                ResolvedFile::Staged {
                    name,
                    url,
                    md5,
                    nbytes,
                    gzipped_nbytes,
                },
            ) => {
                push_line(out, "name", name);
                push_line(out, "url", url);
                if spec.gzip {
                    let gz = gzipped_nbytes.ok_or_else(|| {
                        mismatch(format!("<gzip/> file {name} has no {name}.gz staged"))
                    })?;
                    push_line(out, "gzipped_url", &format!("{url}.gz"));
                    push_line(out, "gzipped_nbytes", &gz.to_string());
                }
                push_line(out, "md5_cksum", md5);
                push_line(out, "nbytes", &nbytes.to_string());
            }
            (FileSource::Local, ResolvedFile::RemoteArg { url, md5, nbytes }) => {
                push_line(out, "name", &file.name());
                push_line(out, "url", url);
                push_line(out, "md5_cksum", md5);
                push_line(out, "nbytes", &format_count(*nbytes));
            }
            (
                FileSource::Remote {
                    urls,
                    md5,
                    nbytes,
                    gzipped_nbytes,
                },
                ResolvedFile::TemplateRemote { name },
            ) => {
                push_line(out, "name", name);
                for u in urls {
                    push_line(out, "url", &format!("{u}{name}"));
                    if spec.gzip {
                        push_line(out, "gzipped_url", &format!("{u}{name}.gz"));
                    }
                }
                push_line(out, "md5_cksum", md5);
                push_line(out, "nbytes", &format_count(*nbytes));
                if let (true, Some(gz)) = (spec.gzip, gzipped_nbytes) {
                    push_line(out, "gzipped_nbytes", &format_count(*gz));
                }
            }
            (source, file) => {
                return Err(mismatch(format!(
                    "this <file_info> is a {} file but was resolved as {}",
                    source_kind(source),
                    resolved_kind(file)
                )));
            }
        }
        out.push_str("</file_info>\n");
        Ok(())
    }
}

fn source_kind(s: &FileSource) -> &'static str {
    match s {
        FileSource::Local => "local",
        FileSource::Constant { .. } => "constant",
        FileSource::Remote { .. } => "remote (template)",
    }
}

fn resolved_kind(f: &ResolvedFile) -> &'static str {
    match f {
        ResolvedFile::Staged { .. } => "a staged file",
        ResolvedFile::TemplateRemote { .. } => "a template-remote file",
        ResolvedFile::RemoteArg { .. } => "a --remote_file",
    }
}

fn push_line(out: &mut String, tag: &str, value: &str) {
    out.push_str("    <");
    out.push_str(tag);
    out.push('>');
    out.push_str(&xml::escape(value));
    out.push_str("</");
    out.push_str(tag);
    out.push_str(">\n");
}

fn push_command_line(out: &mut String, cmd: &str) {
    out.push_str("<command_line>\n");
    out.push_str(cmd);
    out.push_str("\n</command_line>\n");
}

/// A byte count printed like C's `%.0f`.
fn format_count(x: f64) -> String {
    format!("{x:.0}")
}

impl fmt::Display for FileSource {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(source_kind(self))
    }
}
