//! What a template means: the model read from its elements (see the module docs of
//! [`super`] for the format and the rules).

use std::path::Path;

use super::elements::{Elements, Open, check_document};
use super::{FileInfoSpec, FileSource, InputTemplate, TemplateError, TemplateParams, WorkunitItem};
use crate::config::Position;

/// Parses template text (see [`InputTemplate::parse`]).
pub(super) fn parse(text: &str, path: &Path) -> Result<InputTemplate, TemplateError> {
    check_document(text, path)?;
    let mut doc = Elements::new(text, path);
    let root = doc
        .root()?
        .ok_or_else(|| doc.err(0, "the template is empty".into()))?;
    if root.name != "input_template" {
        return Err(doc.err(
            root.start,
            format!(
                "the root element is <{}>, expected <input_template>",
                root.name
            ),
        ));
    }
    let mut template = InputTemplate {
        path: path.to_path_buf(),
        file_infos: Vec::new(),
        workunit: Vec::new(),
        params: TemplateParams::default(),
        workunit_at: Position { line: 1, column: 1 },
        warnings: Vec::new(),
    };
    let mut workunit_start = None;
    while let Some(child) = doc.next_child(&root)? {
        match child.name.as_str() {
            "file_info" => {
                let spec = file_info(&mut doc, &child)?;
                template.file_infos.push(spec);
            }
            "workunit" if workunit_start.is_some() => {
                return Err(doc.err(child.start, "a second <workunit> element".into()));
            }
            "workunit" => {
                workunit_start = Some(child.start);
                template.workunit_at = doc.pos(child.start);
                workunit(&mut doc, &child, &mut template)?;
            }
            other => {
                return Err(doc.err(
                    child.start,
                    format!(
                        "unknown element <{other}> in <input_template> (expected <file_info> or <workunit>)"
                    ),
                ));
            }
        }
    }
    let Some(wu_start) = workunit_start else {
        return Err(doc.err(root.start, "<input_template> has no <workunit>".into()));
    };
    let n_refs = template.file_refs().count();
    if n_refs != template.file_infos.len() {
        return Err(doc.err(
            wu_start,
            format!(
                "the template has {} <file_info> but {} <file_ref>; each file needs one of each, in the same order",
                template.file_infos.len(),
                n_refs
            ),
        ));
    }
    Ok(template)
}

fn f64_of(doc: &Elements<'_>, el: &Open, value: &str) -> Result<f64, TemplateError> {
    value
        .parse::<f64>()
        .ok()
        .filter(|x| x.is_finite())
        .ok_or_else(|| {
            doc.err(
                el.start,
                format!("<{}>: {value:?} is not a number", el.name),
            )
        })
}

fn positive(doc: &Elements<'_>, el: &Open, value: &str) -> Result<f64, TemplateError> {
    let x = f64_of(doc, el, value)?;
    if x <= 0.0 {
        return Err(doc.err(el.start, format!("<{}> must be positive", el.name)));
    }
    Ok(x)
}

fn int_of<T: std::str::FromStr>(
    doc: &Elements<'_>,
    el: &Open,
    value: &str,
) -> Result<T, TemplateError> {
    value.parse::<T>().map_err(|_| {
        doc.err(
            el.start,
            format!("<{}>: {value:?} is not an integer", el.name),
        )
    })
}

fn flag_of(doc: &Elements<'_>, el: &Open, value: &str) -> Result<bool, TemplateError> {
    match value {
        "" => Ok(true),
        v => v.parse::<i64>().map(|n| n != 0).map_err(|_| {
            doc.err(
                el.start,
                format!("<{}>: {v:?} is not a flag (use <{}/>)", el.name, el.name),
            )
        }),
    }
}

fn file_info(doc: &mut Elements<'_>, node: &Open) -> Result<FileInfoSpec, TemplateError> {
    let mut urls = Vec::new();
    let mut md5 = None;
    let mut nbytes = None;
    let mut gzipped_nbytes = None;
    let mut physical_name = None;
    let mut gzip = false;
    let mut extra = Vec::new();
    while let Some(c) = doc.next_child(node)? {
        match c.name.as_str() {
            "number" => {
                let v = doc.value(&c)?;
                int_of::<i64>(doc, &c, &v)?;
            }
            "gzip" => {
                let v = doc.value(&c)?;
                gzip = flag_of(doc, &c, &v)?;
            }
            "url" => urls.push(doc.value(&c)?),
            "md5_cksum" => md5 = Some(doc.value(&c)?),
            "nbytes" => {
                let v = doc.value(&c)?;
                nbytes = Some((c.start, f64_of(doc, &c, &v)?));
            }
            "gzipped_nbytes" => {
                let v = doc.value(&c)?;
                gzipped_nbytes = Some(f64_of(doc, &c, &v)?);
            }
            "physical_name" => {
                let name = doc.value(&c)?;
                crate::hier::check_file_name(name.as_bytes())
                    .map_err(|e| doc.err(c.start, format!("<physical_name>: {e}")))?;
                physical_name = Some(name);
            }
            "name" => {
                return Err(doc.err(
                    c.start,
                    "<name> does not belong in an input template: file names come from the input files given to create_work (or <physical_name> for a constant file)".into(),
                ));
            }
            _ => extra.push(doc.raw(&c)?.to_string()),
        }
    }
    let described = !urls.is_empty() || md5.is_some() || nbytes.is_some();
    let source = if described {
        let (Some(md5), Some((n_start, n)), false) = (md5, nbytes, urls.is_empty()) else {
            return Err(doc.err(
                node.start,
                "a remote <file_info> needs all of <url>, <md5_cksum> and <nbytes>".into(),
            ));
        };
        if n <= 0.0 {
            return Err(doc.err(n_start, "<nbytes> must be positive".into()));
        }
        if gzip && gzipped_nbytes.is_none() {
            return Err(doc.err(
                node.start,
                "a remote <file_info> with <gzip/> needs <gzipped_nbytes>".into(),
            ));
        }
        if physical_name.is_some() {
            return Err(doc.err(
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
        at: doc.pos(node.start),
        source,
        gzip,
        extra,
    })
}

fn workunit(
    doc: &mut Elements<'_>,
    node: &Open,
    t: &mut InputTemplate,
) -> Result<(), TemplateError> {
    while let Some(c) = doc.next_child(node)? {
        if c.name == "file_ref" {
            let item = file_ref(doc, &c, &mut t.warnings)?;
            t.workunit.push(item);
            continue;
        }
        if c.name == "command_line" {
            if t.has_command_line() {
                return Err(doc.err(c.start, "a second <command_line>".into()));
            }
            let v = doc.value(&c)?;
            t.workunit.push(WorkunitItem::CommandLine(v));
            continue;
        }
        let p = &mut t.params;
        let slot: Option<Param<'_>> = match c.name.as_str() {
            "rsc_fpops_est" => Some(Param::Positive(&mut p.rsc_fpops_est)),
            "rsc_fpops_bound" => Some(Param::Positive(&mut p.rsc_fpops_bound)),
            "rsc_memory_bound" => Some(Param::Number(&mut p.rsc_memory_bound)),
            "rsc_disk_bound" => Some(Param::Positive(&mut p.rsc_disk_bound)),
            "rsc_bandwidth_bound" => Some(Param::Number(&mut p.rsc_bandwidth_bound)),
            "batch" => Some(Param::I64(&mut p.batch)),
            "delay_bound" => Some(Param::I32(&mut p.delay_bound)),
            "min_quorum" => Some(Param::I32(&mut p.min_quorum)),
            "target_nresults" => Some(Param::I32(&mut p.target_nresults)),
            "max_error_results" => Some(Param::I32(&mut p.max_error_results)),
            "max_total_results" => Some(Param::I32(&mut p.max_total_results)),
            "max_success_results" => Some(Param::I32(&mut p.max_success_results)),
            "size_class" => Some(Param::I32(&mut p.size_class)),
            _ => None,
        };
        match slot {
            Some(slot) => {
                let v = doc.value(&c)?;
                match slot {
                    Param::Positive(x) => *x = Some(positive(doc, &c, &v)?),
                    Param::Number(x) => *x = Some(f64_of(doc, &c, &v)?),
                    Param::I64(x) => *x = Some(int_of(doc, &c, &v)?),
                    Param::I32(x) => *x = Some(int_of(doc, &c, &v)?),
                }
            }
            None => {
                let raw = doc.raw(&c)?.to_string();
                t.workunit.push(WorkunitItem::Verbatim(raw));
            }
        }
    }
    Ok(())
}

/// Where a job parameter of `<workunit>` goes, and how it is read.
enum Param<'p> {
    Positive(&'p mut Option<f64>),
    Number(&'p mut Option<f64>),
    I64(&'p mut Option<i64>),
    I32(&'p mut Option<i32>),
}

fn file_ref(
    doc: &mut Elements<'_>,
    node: &Open,
    warnings: &mut Vec<String>,
) -> Result<WorkunitItem, TemplateError> {
    let mut open_name = None;
    let mut copy_file = false;
    let mut extra = Vec::new();
    while let Some(c) = doc.next_child(node)? {
        match c.name.as_str() {
            "file_number" => {
                let v = doc.value(&c)?;
                int_of::<i64>(doc, &c, &v)?;
            }
            "open_name" => {
                let name = doc.value(&c)?;
                if name.is_empty() {
                    return Err(doc.err(c.start, "<open_name> is empty".into()));
                }
                open_name = Some(name);
            }
            "copy_file" => {
                let v = doc.value(&c)?;
                copy_file = flag_of(doc, &c, &v)?;
            }
            "file_name" => {
                doc.raw(&c)?;
                warnings.push(format!(
                    "{}:{}: <file_name> in a <file_ref> is ignored (the name comes from the input file)",
                    doc.path.display(),
                    doc.pos(c.start)
                ));
            }
            _ => extra.push(doc.raw(&c)?.to_string()),
        }
    }
    if open_name.is_none() && !copy_file {
        return Err(doc.err(
            node.start,
            "<file_ref> needs an <open_name> (the name the app opens) or <copy_file/>".into(),
        ));
    }
    Ok(WorkunitItem::FileRef {
        at: doc.pos(node.start),
        open_name,
        copy_file,
        extra,
    })
}
