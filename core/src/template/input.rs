//! Input templates (`templates/<app>_in`): what a workunit's `xml_doc` is built from.
//!
//! A BOINC input template lists the job's input files (`<file_info>`), how the app opens them
//! (`<file_ref>` inside `<workunit>`) and default job parameters (`<rsc_fpops_est>`,
//! `<min_quorum>`, ...). `create_work` and work generators turn it into the `workunit.xml_doc`
//! that the scheduler sends to clients. A mistake here reaches every host that gets the job, so
//! the template is parsed strictly, up front, into an [`InputTemplate`]; every error names the
//! template file, line and column. Rendering ([`InputTemplate::render`]) cannot fail on the
//! template any more: it only places the resolved files, in the exact text layout of BOINC's
//! `process_input_template` (the scheduler later inserts elements right after `<workunit>\n`,
//! and stock tools compare these documents byte for byte).
//!
//! Format (BOINC's, see the project docs):
//! ```xml
//! <input_template>
//!     <file_info>                <!-- one per input file, in order -->
//!         <number>0</number>     <!-- optional, ignored -->
//!         <sticky/>              <!-- any other element is copied into the workunit -->
//!     </file_info>
//!     <workunit>
//!         <file_ref>             <!-- one per file_info, same order -->
//!             <open_name>in</open_name>
//!         </file_ref>
//!         <command_line>-x</command_line>
//!         <rsc_fpops_est>1e12</rsc_fpops_est>   <!-- job parameters: stored in columns -->
//!     </workunit>
//! </input_template>
//! ```
//! A `<file_info>` is one of three kinds: a *local* file (named by the caller, staged in the
//! download hierarchy), a *constant* file (`<physical_name>`, already staged with its `.md5`),
//! or a *remote* file described in full by the template (`<url>`, `<md5_cksum>`, `<nbytes>`);
//! local and remote-in-template files each take one input name from the caller.
//!
//! Stricter than BOINC, on purpose: the root must be `<input_template>`, unknown elements
//! directly inside it are errors (BOINC skips them, so a typo silently drops a file), and the
//! counts of `<file_info>` and `<file_ref>` must match.

use std::fmt;
use std::path::{Path, PathBuf};

use quick_xml::events::Event;
use quick_xml::reader::Reader;

use crate::config::Position;
use crate::xml;

/// Longest `workunit.xml_doc` BOINC stores (a 64 KiB blob, NUL-terminated in C).
pub const MAX_XML_DOC_LEN: usize = 65_535;

/// A template that cannot be used, with where and why.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
#[error("{}:{at}: {message}", path.display())]
pub struct TemplateError {
    /// The template file (or a label such as `<input template>`).
    pub path: PathBuf,
    pub at: Position,
    pub message: String,
}

/// Where a `<file_info>`'s file comes from.
#[derive(Debug, Clone, PartialEq)]
pub enum FileSource {
    /// Named by the caller (an input file argument), staged in the download hierarchy.
    Local,
    /// `<physical_name>`: a file already staged (with its `.md5` file); takes no input name.
    Constant { physical_name: String },
    /// Fully described by the template (`<nbytes>` > 0): each `<url>` gets the input name
    /// appended, as in BOINC.
    Remote {
        urls: Vec<String>,
        md5: String,
        nbytes: f64,
        gzipped_nbytes: Option<f64>,
    },
}

/// One `<file_info>` of the template.
#[derive(Debug, Clone, PartialEq)]
pub struct FileInfoSpec {
    /// Where the element starts (for messages about this file).
    pub at: Position,
    pub source: FileSource,
    /// `<gzip/>`: the file is also served as `NAME.gz`.
    pub gzip: bool,
    /// Other elements (`<sticky/>`, `<no_delete/>`, ...), verbatim, copied into the workunit.
    pub extra: Vec<String>,
}

impl FileInfoSpec {
    /// Whether this file takes one of the caller's input names.
    pub fn takes_input(&self) -> bool {
        !matches!(self.source, FileSource::Constant { .. })
    }

    /// Whether the template marks the file sticky (kept on the host after the job).
    pub fn is_sticky(&self) -> bool {
        self.extra
            .iter()
            .any(|e| e.starts_with("<sticky/>") || e.starts_with("<sticky>"))
    }
}

/// One item of the template's `<workunit>`, in document order.
#[derive(Debug, Clone, PartialEq)]
pub enum WorkunitItem {
    /// A `<file_ref>`; the n-th one refers to the n-th `<file_info>`.
    FileRef {
        at: Position,
        open_name: Option<String>,
        copy_file: bool,
        /// Other elements, verbatim.
        extra: Vec<String>,
    },
    /// `<command_line>` (raw text, trimmed).
    CommandLine(String),
    /// Any element that is not a job parameter, copied verbatim.
    Verbatim(String),
}

/// Job parameters the template sets (`None` = not in the template). BOINC stores them in
/// `workunit` columns instead of the XML.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct TemplateParams {
    pub rsc_fpops_est: Option<f64>,
    pub rsc_fpops_bound: Option<f64>,
    pub rsc_memory_bound: Option<f64>,
    pub rsc_disk_bound: Option<f64>,
    pub rsc_bandwidth_bound: Option<f64>,
    pub batch: Option<i64>,
    pub delay_bound: Option<i32>,
    pub min_quorum: Option<i32>,
    pub target_nresults: Option<i32>,
    pub max_error_results: Option<i32>,
    pub max_total_results: Option<i32>,
    pub max_success_results: Option<i32>,
    pub size_class: Option<i32>,
}

/// A parsed, checked input template.
#[derive(Debug, Clone, PartialEq)]
pub struct InputTemplate {
    /// The file it was read from (for messages).
    pub path: PathBuf,
    pub file_infos: Vec<FileInfoSpec>,
    pub workunit: Vec<WorkunitItem>,
    pub params: TemplateParams,
    /// Where `<workunit>` starts.
    pub workunit_at: Position,
    /// Things BOINC accepts with a warning (a `<file_name>` in a `<file_ref>`).
    pub warnings: Vec<String>,
}

/// A `<file_info>` resolved by the caller, ready to render.
#[derive(Debug, Clone, PartialEq)]
pub enum ResolvedFile {
    /// A file in the download hierarchy (local or constant).
    Staged {
        name: String,
        url: String,
        md5: String,
        nbytes: u64,
        /// Size of `NAME.gz` (only for `<gzip/>` files).
        gzipped_nbytes: Option<u64>,
    },
    /// A remote file described by the template, under the caller's input name.
    TemplateRemote { name: String },
    /// A remote file given by the caller (`--remote_file URL NBYTES MD5`): named `jf_<MD5>`.
    RemoteArg {
        url: String,
        md5: String,
        nbytes: f64,
    },
}

impl ResolvedFile {
    /// The physical file name the workunit refers to.
    pub fn name(&self) -> String {
        match self {
            ResolvedFile::Staged { name, .. } | ResolvedFile::TemplateRemote { name } => {
                name.clone()
            }
            ResolvedFile::RemoteArg { md5, .. } => format!("jf_{md5}"),
        }
    }
}

/// Rendering failed: the caller's files do not fit the template, or the result is too long.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub enum RenderError {
    #[error(
        "{} input file(s) resolved, but the template has {expected} <file_info>",
        found
    )]
    FileCount { expected: usize, found: usize },
    #[error("{}:{at}: {message}", path.display())]
    Mismatch {
        path: PathBuf,
        at: Position,
        message: String,
    },
    #[error("the command line is given twice: by the caller and by <command_line> in {}", path.display())]
    CommandLineTwice { path: PathBuf },
    #[error("the workunit XML would be {len} bytes; BOINC's limit is {MAX_XML_DOC_LEN}")]
    TooLong { len: usize },
}

impl InputTemplate {
    /// Reads and checks a template file.
    pub fn load(path: &Path) -> Result<InputTemplate, TemplateError> {
        let text = std::fs::read_to_string(path).map_err(|e| TemplateError {
            path: path.to_path_buf(),
            at: Position { line: 1, column: 1 },
            message: format!("cannot read the input template: {e}"),
        })?;
        Self::parse(&text, path)
    }

    /// Parses template text; `path` is used in messages.
    pub fn parse(text: &str, path: &Path) -> Result<InputTemplate, TemplateError> {
        let p = Parser { text, path };
        let root = p.tree()?;
        if root.name != "input_template" {
            return Err(p.err(
                root.start,
                format!(
                    "the root element is <{}>, expected <input_template>",
                    root.name
                ),
            ));
        }
        let mut file_infos = Vec::new();
        let mut workunit = None;
        for child in &root.children {
            match child.name.as_str() {
                "file_info" => file_infos.push(p.file_info(child)?),
                "workunit" if workunit.is_some() => {
                    return Err(p.err(child.start, "a second <workunit> element".into()));
                }
                "workunit" => workunit = Some(child),
                other => {
                    return Err(p.err(
                        child.start,
                        format!(
                            "unknown element <{other}> in <input_template> (expected <file_info> or <workunit>)"
                        ),
                    ));
                }
            }
        }
        let Some(wu) = workunit else {
            return Err(p.err(root.start, "<input_template> has no <workunit>".into()));
        };
        let mut template = InputTemplate {
            path: path.to_path_buf(),
            file_infos,
            workunit: Vec::new(),
            params: TemplateParams::default(),
            workunit_at: p.pos(wu.start),
            warnings: Vec::new(),
        };
        p.workunit(wu, &mut template)?;
        let n_refs = template.file_refs().count();
        if n_refs != template.file_infos.len() {
            return Err(p.err(
                wu.start,
                format!(
                    "the template has {} <file_info> but {} <file_ref>; each file needs one of each, in the same order",
                    template.file_infos.len(),
                    n_refs
                ),
            ));
        }
        Ok(template)
    }

    /// How many input names the caller must supply (local and remote-in-template files).
    pub fn inputs_needed(&self) -> usize {
        self.file_infos.iter().filter(|f| f.takes_input()).count()
    }

    /// The `<file_ref>` items, in order.
    pub fn file_refs(&self) -> impl Iterator<Item = &WorkunitItem> {
        self.workunit
            .iter()
            .filter(|i| matches!(i, WorkunitItem::FileRef { .. }))
    }

    /// Whether the template has its own `<command_line>`.
    pub fn has_command_line(&self) -> bool {
        self.workunit
            .iter()
            .any(|i| matches!(i, WorkunitItem::CommandLine(_)))
    }

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

/// One element of the template, with its place in the text.
#[derive(Debug)]
struct Node {
    name: String,
    /// Byte offset of the `<`.
    start: usize,
    /// Byte offset just past the element's end.
    end: usize,
    /// Direct text, entities resolved.
    text: String,
    children: Vec<Node>,
}

impl Node {
    fn value(&self) -> &str {
        self.text.trim()
    }
}

struct Parser<'a> {
    text: &'a str,
    path: &'a Path,
}

impl Parser<'_> {
    fn pos(&self, offset: usize) -> Position {
        Position::from_offset(self.text, offset)
    }

    fn err(&self, offset: usize, message: String) -> TemplateError {
        TemplateError {
            path: self.path.to_path_buf(),
            at: self.pos(offset),
            message,
        }
    }

    /// The element tree; any XML error is reported where it is.
    fn tree(&self) -> Result<Node, TemplateError> {
        let mut reader = Reader::from_str(self.text);
        let mut stack: Vec<Node> = Vec::new();
        let mut root: Option<Node> = None;
        let offset = |n: u64| usize::try_from(n).unwrap_or(usize::MAX);
        loop {
            let start = offset(reader.buffer_position());
            let event = reader.read_event().map_err(|e| {
                self.err(
                    offset(reader.error_position()),
                    format!("malformed XML: {e}"),
                )
            })?;
            let end = offset(reader.buffer_position());
            match event {
                Event::Start(tag) => stack.push(Node {
                    name: tag.name().as_ref().to_string(),
                    start,
                    end,
                    text: String::new(),
                    children: Vec::new(),
                }),
                Event::Empty(tag) => {
                    let node = Node {
                        name: tag.name().as_ref().to_string(),
                        start,
                        end,
                        text: String::new(),
                        children: Vec::new(),
                    };
                    match stack.last_mut() {
                        Some(parent) => parent.children.push(node),
                        None if root.is_none() => root = Some(node),
                        None => return Err(self.err(start, "a second root element".into())),
                    }
                }
                Event::End(_) => {
                    let mut done = stack
                        .pop()
                        .ok_or_else(|| self.err(start, "closing tag without opening tag".into()))?;
                    done.end = end;
                    match stack.last_mut() {
                        Some(parent) => parent.children.push(done),
                        None if root.is_none() => root = Some(done),
                        None => return Err(self.err(start, "a second root element".into())),
                    }
                }
                Event::Text(t) => {
                    let content = t.xml10_content();
                    match stack.last_mut() {
                        Some(open) => open.text.push_str(&content),
                        None if content.trim().is_empty() => {}
                        None => {
                            return Err(self.err(start, "text outside the root element".into()));
                        }
                    }
                }
                Event::CData(t) => {
                    if let Some(open) = stack.last_mut() {
                        open.text.push_str(&t.xml10_content());
                    }
                }
                Event::GeneralRef(r) => {
                    let resolved = match r.resolve_char_ref() {
                        Ok(Some(c)) => c.to_string(),
                        _ => match quick_xml::escape::resolve_predefined_entity(&r) {
                            Some(s) => s.to_string(),
                            None => {
                                return Err(self.err(start, format!("unknown entity &{};", &*r)));
                            }
                        },
                    };
                    if let Some(open) = stack.last_mut() {
                        open.text.push_str(&resolved);
                    }
                }
                Event::Decl(_) | Event::PI(_) | Event::Comment(_) | Event::DocType(_) => {}
                Event::Eof => break,
            }
        }
        if let Some(open) = stack.last() {
            return Err(self.err(open.start, format!("<{}> is never closed", open.name)));
        }
        root.ok_or_else(|| self.err(0, "the template is empty".into()))
    }

    fn raw(&self, node: &Node) -> &str {
        &self.text[node.start..node.end]
    }

    fn f64_of(&self, node: &Node) -> Result<f64, TemplateError> {
        node.value()
            .parse::<f64>()
            .ok()
            .filter(|x| x.is_finite())
            .ok_or_else(|| {
                self.err(
                    node.start,
                    format!("<{}>: {:?} is not a number", node.name, node.value()),
                )
            })
    }

    fn int_of<T: std::str::FromStr>(&self, node: &Node) -> Result<T, TemplateError> {
        node.value().parse::<T>().map_err(|_| {
            self.err(
                node.start,
                format!("<{}>: {:?} is not an integer", node.name, node.value()),
            )
        })
    }

    fn flag_of(&self, node: &Node) -> Result<bool, TemplateError> {
        match node.value() {
            "" => Ok(true),
            v => v.parse::<i64>().map(|n| n != 0).map_err(|_| {
                self.err(
                    node.start,
                    format!(
                        "<{}>: {v:?} is not a flag (use <{}/>)",
                        node.name, node.name
                    ),
                )
            }),
        }
    }

    fn file_info(&self, node: &Node) -> Result<FileInfoSpec, TemplateError> {
        let mut urls = Vec::new();
        let mut md5 = None;
        let mut nbytes = None;
        let mut gzipped_nbytes = None;
        let mut physical_name = None;
        let mut gzip = false;
        let mut extra = Vec::new();
        for c in &node.children {
            match c.name.as_str() {
                "number" => {
                    self.int_of::<i64>(c)?;
                }
                "gzip" => gzip = self.flag_of(c)?,
                "url" => urls.push(c.value().to_string()),
                "md5_cksum" => md5 = Some(c.value().to_string()),
                "nbytes" => nbytes = Some((c, self.f64_of(c)?)),
                "gzipped_nbytes" => gzipped_nbytes = Some(self.f64_of(c)?),
                "physical_name" => {
                    let name = c.value().to_string();
                    crate::hier::check_file_name(name.as_bytes())
                        .map_err(|e| self.err(c.start, format!("<physical_name>: {e}")))?;
                    physical_name = Some(name);
                }
                "name" => {
                    return Err(self.err(
                        c.start,
                        "<name> does not belong in an input template: file names come from the input files given to create_work (or <physical_name> for a constant file)".into(),
                    ));
                }
                _ => extra.push(self.raw(c).to_string()),
            }
        }
        let at = self.pos(node.start);
        let described = !urls.is_empty() || md5.is_some() || nbytes.is_some();
        let source = if described {
            let (Some(md5), Some((n_node, n)), false) = (md5, nbytes, urls.is_empty()) else {
                return Err(self.err(
                    node.start,
                    "a remote <file_info> needs all of <url>, <md5_cksum> and <nbytes>".into(),
                ));
            };
            if n <= 0.0 {
                return Err(self.err(n_node.start, "<nbytes> must be positive".into()));
            }
            if gzip && gzipped_nbytes.is_none() {
                return Err(self.err(
                    node.start,
                    "a remote <file_info> with <gzip/> needs <gzipped_nbytes>".into(),
                ));
            }
            if physical_name.is_some() {
                return Err(self.err(
                    node.start,
                    "<physical_name> (a constant staged file) cannot be combined with <url>".into(),
                ));
            }
            FileSource::Remote {
                urls,
                md5,
                nbytes: n,
                gzipped_nbytes,
            }
        } else if let Some(physical_name) = physical_name {
            FileSource::Constant { physical_name }
        } else {
            FileSource::Local
        };
        Ok(FileInfoSpec {
            at,
            source,
            gzip,
            extra,
        })
    }

    fn workunit(&self, node: &Node, t: &mut InputTemplate) -> Result<(), TemplateError> {
        for c in &node.children {
            let p = &mut t.params;
            match c.name.as_str() {
                "file_ref" => {
                    let item = self.file_ref(c, &mut t.warnings)?;
                    t.workunit.push(item);
                }
                "command_line" => {
                    if t.has_command_line() {
                        return Err(self.err(c.start, "a second <command_line>".into()));
                    }
                    t.workunit
                        .push(WorkunitItem::CommandLine(c.value().to_string()));
                }
                "rsc_fpops_est" => p.rsc_fpops_est = Some(self.positive(c)?),
                "rsc_fpops_bound" => p.rsc_fpops_bound = Some(self.positive(c)?),
                "rsc_memory_bound" => p.rsc_memory_bound = Some(self.f64_of(c)?),
                "rsc_disk_bound" => p.rsc_disk_bound = Some(self.positive(c)?),
                "rsc_bandwidth_bound" => p.rsc_bandwidth_bound = Some(self.f64_of(c)?),
                "batch" => p.batch = Some(self.int_of(c)?),
                "delay_bound" => p.delay_bound = Some(self.int_of(c)?),
                "min_quorum" => p.min_quorum = Some(self.int_of(c)?),
                "target_nresults" => p.target_nresults = Some(self.int_of(c)?),
                "max_error_results" => p.max_error_results = Some(self.int_of(c)?),
                "max_total_results" => p.max_total_results = Some(self.int_of(c)?),
                "max_success_results" => p.max_success_results = Some(self.int_of(c)?),
                "size_class" => p.size_class = Some(self.int_of(c)?),
                _ => t
                    .workunit
                    .push(WorkunitItem::Verbatim(self.raw(c).to_string())),
            }
        }
        Ok(())
    }

    fn positive(&self, node: &Node) -> Result<f64, TemplateError> {
        let x = self.f64_of(node)?;
        if x <= 0.0 {
            return Err(self.err(node.start, format!("<{}> must be positive", node.name)));
        }
        Ok(x)
    }

    fn file_ref(
        &self,
        node: &Node,
        warnings: &mut Vec<String>,
    ) -> Result<WorkunitItem, TemplateError> {
        let mut open_name = None;
        let mut copy_file = false;
        let mut extra = Vec::new();
        for c in &node.children {
            match c.name.as_str() {
                "file_number" => {
                    self.int_of::<i64>(c)?;
                }
                "open_name" => {
                    let name = c.value();
                    if name.is_empty() {
                        return Err(self.err(c.start, "<open_name> is empty".into()));
                    }
                    open_name = Some(name.to_string());
                }
                "copy_file" => copy_file = self.flag_of(c)?,
                "file_name" => warnings.push(format!(
                    "{}:{}: <file_name> in a <file_ref> is ignored (the name comes from the input file)",
                    self.path.display(),
                    self.pos(c.start)
                )),
                _ => extra.push(self.raw(c).to_string()),
            }
        }
        if open_name.is_none() && !copy_file {
            return Err(self.err(
                node.start,
                "<file_ref> needs an <open_name> (the name the app opens) or <copy_file/>".into(),
            ));
        }
        Ok(WorkunitItem::FileRef {
            at: self.pos(node.start),
            open_name,
            copy_file,
            extra,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse(text: &str) -> Result<InputTemplate, TemplateError> {
        InputTemplate::parse(text, Path::new("t_in"))
    }

    fn staged(name: &str) -> ResolvedFile {
        ResolvedFile::Staged {
            name: name.into(),
            url: format!("http://h/p/download/1/{name}"),
            md5: "0123456789abcdef0123456789abcdef".into(),
            nbytes: 7,
            gzipped_nbytes: None,
        }
    }

    const TWO_FILES: &str = "<input_template>
    <file_info>
        <number>0</number>
    </file_info>
    <file_info>
        <number>1</number>
        <sticky/>
        <no_delete/>
    </file_info>
    <workunit>
        <file_ref>
            <file_number>0</file_number>
            <open_name>in</open_name>
        </file_ref>
        <file_ref>
            <file_number>1</file_number>
            <open_name>shared</open_name>
        </file_ref>
        <command_line>--mode x</command_line>
        <rsc_fpops_est>1e12</rsc_fpops_est>
        <delay_bound>86400</delay_bound>
        <min_quorum>2</min_quorum>
        <credit>5</credit>
    </workunit>
</input_template>
";

    #[test]
    fn renders_in_boinc_layout() {
        let t = parse(TWO_FILES).unwrap();
        assert_eq!(t.inputs_needed(), 2);
        assert!(t.file_infos[1].is_sticky());
        assert_eq!(t.params.rsc_fpops_est, Some(1e12));
        assert_eq!(t.params.delay_bound, Some(86400));
        assert_eq!(t.params.min_quorum, Some(2));
        let doc = t.render(&[staged("a"), staged("b")], Some(""), "").unwrap();
        assert_eq!(
            doc,
            "<file_info>\n    <name>a</name>\n    <url>http://h/p/download/1/a</url>\n    \
             <md5_cksum>0123456789abcdef0123456789abcdef</md5_cksum>\n    <nbytes>7</nbytes>\n</file_info>\n\
             <file_info>\n<sticky/>\n<no_delete/>\n    <name>b</name>\n    <url>http://h/p/download/1/b</url>\n    \
             <md5_cksum>0123456789abcdef0123456789abcdef</md5_cksum>\n    <nbytes>7</nbytes>\n</file_info>\n\
             <workunit>\n<command_line>\n\n</command_line>\n<file_ref>\n    <file_name>a</file_name>\n    \
             <open_name>in</open_name>\n</file_ref>\n<file_ref>\n    <file_name>b</file_name>\n    \
             <open_name>shared</open_name>\n</file_ref>\n<command_line>\n--mode x\n</command_line>\n\
             <credit>5</credit>\n</workunit>"
        );
        // A work generator passes no command line: no empty element.
        let doc = t.render(&[staged("a"), staged("b")], None, "").unwrap();
        assert!(doc.starts_with("<file_info>") && doc.contains("<workunit>\n<file_ref>"));
        let e = t
            .render(&[staged("a"), staged("b")], Some("-y"), "")
            .unwrap_err();
        assert!(matches!(e, RenderError::CommandLineTwice { .. }));
        let e = t.render(&[staged("a")], None, "").unwrap_err();
        assert_eq!(
            e.to_string(),
            "1 input file(s) resolved, but the template has 2 <file_info>"
        );
    }

    #[test]
    fn errors_name_the_line() {
        let cases = [
            (
                "<input_template>\n<file_info/>\n<workunit>\n</workunit>\n</input_template>",
                "t_in:3:1: the template has 1 <file_info> but 0 <file_ref>; each file needs one of each, in the same order",
            ),
            (
                "<input_template>\n<file_info/>\n<workunit>\n  <file_ref>\n  </file_ref>\n</workunit>\n</input_template>",
                "t_in:4:3: <file_ref> needs an <open_name> (the name the app opens) or <copy_file/>",
            ),
            (
                "<input_template>\n<file_infos/>\n</input_template>",
                "t_in:2:1: unknown element <file_infos> in <input_template> (expected <file_info> or <workunit>)",
            ),
            (
                "<input_template>\n<workunit>\n<rsc_fpops_est>lots</rsc_fpops_est>\n</workunit>\n</input_template>",
                "t_in:3:1: <rsc_fpops_est>: \"lots\" is not a number",
            ),
            (
                "<input_template>\n<file_info>\n<url>http://x/</url>\n</file_info>\n<workunit/>\n</input_template>",
                "t_in:2:1: a remote <file_info> needs all of <url>, <md5_cksum> and <nbytes>",
            ),
            (
                "<input_template>\n<workunit>\n</input_template>",
                "t_in:3:1: malformed XML: ill-formed document: expected `</workunit>`",
            ),
            (
                "<workunit/>",
                "t_in:1:1: the root element is <workunit>, expected <input_template>",
            ),
            (
                "<input_template>\n<file_info><name>x</name></file_info>\n<workunit/></input_template>",
                "t_in:2:12: <name> does not belong in an input template",
            ),
        ];
        for (text, want) in cases {
            let e = parse(text).unwrap_err().to_string();
            assert!(e.starts_with(want), "{text:?}\n got: {e}\nwant: {want}");
        }
    }

    #[test]
    fn constant_and_remote_files() {
        let t = parse(
            "<input_template>
<file_info><physical_name>shared.dat</physical_name></file_info>
<file_info><url>http://mirror/x/</url><md5_cksum>abc</md5_cksum><nbytes>10</nbytes></file_info>
<file_info><number>2</number></file_info>
<workunit>
<file_ref><open_name>s</open_name></file_ref>
<file_ref><open_name>r</open_name><copy_file/></file_ref>
<file_ref><open_name>a</open_name><file_name>ignored</file_name></file_ref>
</workunit>
</input_template>",
        )
        .unwrap();
        assert_eq!(t.inputs_needed(), 2);
        assert_eq!(t.warnings.len(), 1);
        let files = [
            staged("shared.dat"),
            ResolvedFile::TemplateRemote {
                name: "big.bin".into(),
            },
            ResolvedFile::RemoteArg {
                url: "http://other/f".into(),
                md5: "ff".repeat(16),
                nbytes: 12.0,
            },
        ];
        let doc = t
            .render(&files, None, "<sub_appname>v</sub_appname>")
            .unwrap();
        assert!(doc.contains("    <name>big.bin</name>\n    <url>http://mirror/x/big.bin</url>\n    <md5_cksum>abc</md5_cksum>\n    <nbytes>10</nbytes>\n"), "{doc}");
        assert!(doc.contains(&format!("<file_name>jf_{}</file_name>", "ff".repeat(16))));
        assert!(doc.contains("<open_name>r</open_name>\n    <copy_file/>\n"));
        assert!(doc.ends_with("<sub_appname>v</sub_appname>\n</workunit>"));
        // Kinds must match.
        let wrong = [
            ResolvedFile::TemplateRemote { name: "x".into() },
            staged("a"),
            staged("b"),
        ];
        assert!(
            t.render(&wrong, None, "")
                .unwrap_err()
                .to_string()
                .starts_with("t_in:2:1: this <file_info> is a constant file")
        );
    }

    #[test]
    fn too_long_documents_are_refused() {
        let t = parse("<input_template><file_info/><workunit><file_ref><open_name>a</open_name></file_ref></workunit></input_template>").unwrap();
        let long = "x".repeat(MAX_XML_DOC_LEN);
        let e = t.render(&[staged("a")], Some(&long), "").unwrap_err();
        assert!(matches!(e, RenderError::TooLong { .. }));
    }
}
