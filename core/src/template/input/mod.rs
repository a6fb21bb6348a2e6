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
//! Files: `elements` walks the text's elements on quick-xml's events, `parse` reads the model
//! from them, `render` writes the workunit document.
//!
//! Stricter than BOINC, on purpose: the root must be `<input_template>`, unknown elements
//! directly inside it are errors (BOINC skips them, so a typo silently drops a file), and the
//! counts of `<file_info>` and `<file_ref>` must match.

use std::path::{Path, PathBuf};

use crate::config::Position;

mod elements;
mod parse;
mod render;

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
        parse::parse(text, path)
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
    fn structural_errors_come_first_and_name_their_place() {
        let cases = [
            ("", "t_in:1:1: the template is empty"),
            ("<!-- nothing -->\n", "t_in:1:1: the template is empty"),
            (
                "<input_template>\n<workunit>\n",
                "t_in:2:1: <workunit> is never closed",
            ),
            (
                "<input_template><workunit/></input_template>\n<input_template/>",
                "t_in:2:1: a second root element",
            ),
            (
                "oops <input_template><workunit/></input_template>",
                "t_in:1:1: text outside the root element",
            ),
            (
                "<input_template><workunit><credit>&bogus;</credit></workunit></input_template>",
                "t_in:1:35: unknown entity &bogus;",
            ),
            // A syntax error is reported even after a semantic one.
            (
                "<input_template><file_infos/><workunit></input_template>",
                "t_in:1:40: malformed XML: ill-formed document: expected `</workunit>`",
            ),
        ];
        for (text, want) in cases {
            let e = parse(text).unwrap_err().to_string();
            assert!(e.starts_with(want), "{text:?}\n got: {e}\nwant: {want}");
        }
    }

    #[test]
    fn values_are_trimmed_with_entities_and_cdata_and_verbatim_elements_keep_their_bytes() {
        let t = parse(
            "<?xml version=\"1.0\"?>\n<input_template>\n<file_info><sticky />\n<extra a=\"1\">x<y/>&amp;</extra></file_info>\n\
             <workunit><file_ref><open_name> a&amp;b </open_name></file_ref>\n\
             <command_line><![CDATA[--x <1>]]> &#65;</command_line>\n\
             <rsc_fpops_est> 2e9 </rsc_fpops_est><!-- note --><credit>1</credit></workunit>\n</input_template>\n",
        )
        .unwrap();
        assert_eq!(
            t.file_infos[0].extra,
            ["<sticky />", "<extra a=\"1\">x<y/>&amp;</extra>"]
        );
        assert!(matches!(
            &t.workunit[0],
            WorkunitItem::FileRef { open_name: Some(n), .. } if n == "a&b"
        ));
        assert_eq!(t.workunit[1], WorkunitItem::CommandLine("--x <1> A".into()));
        assert_eq!(
            t.workunit[2],
            WorkunitItem::Verbatim("<credit>1</credit>".into())
        );
        assert_eq!(t.params.rsc_fpops_est, Some(2e9));
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
