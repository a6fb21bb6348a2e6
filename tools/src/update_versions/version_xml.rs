//! What a version says about itself: its `version.xml` (which file is the main program, logical
//! names, `<copy_file/>`, the API version and version-level flags), or, without an API version
//! there, the `API_VERSION_x.y.z` string BOINC's API library embeds in the main program.

use std::path::Path;

use rboinc_core::xml;

use super::plan_class::Declared;
use super::{UpdateError, io};

/// What `version.xml` says about one file.
#[derive(Debug, Clone, Default)]
pub struct FileDesc {
    pub physical_name: String,
    pub logical_name: Option<String>,
    pub main_program: bool,
    pub copy_file: bool,
}

/// What `version.xml` says (all empty if the directory has none).
#[derive(Debug, Clone, Default)]
pub struct VersionXml {
    /// The `<file>` elements, in order.
    pub files: Vec<FileDesc>,
    pub api_version: String,
    pub beta: bool,
    /// `<dont_throttle/>`, `<needs_network/>`, `<is_wrapper/>`, `<file_prefix>`.
    pub flags_xml: String,
    /// `<avg_ncpus>` and `<coproc>`, checked against the plan class (not sent as such).
    pub declared: Declared,
}

/// Reads `dir/version.xml`, if there is one.
pub fn read(dir: &Path) -> Result<VersionXml, UpdateError> {
    let verr = |message: String| UpdateError::Version {
        dir: dir.to_path_buf(),
        message,
    };
    let vfile = dir.join("version.xml");
    let mut v = VersionXml::default();
    if !vfile.is_file() {
        return Ok(v);
    }
    let text = std::fs::read_to_string(&vfile).map_err(io(&vfile))?;
    let Some(body) = xml::raw_element(&text, "version") else {
        return Err(verr("version.xml has no <version> element".into()));
    };
    for f in xml::raw_elements(body, "file") {
        let physical_name = xml::text(f, "physical_name")
            .filter(|n| !n.is_empty())
            .ok_or_else(|| verr("a <file> in version.xml has no <physical_name>".into()))?;
        if xml::flag(f, "gzip") {
            return Err(verr(format!(
                "{physical_name}: <gzip/> is not supported; serve the file uncompressed"
            )));
        }
        if xml::raw_element(f, "url").is_some() {
            return Err(verr(format!(
                "{physical_name}: <url> in version.xml is not supported; files are served from this project"
            )));
        }
        v.files.push(FileDesc {
            physical_name,
            logical_name: xml::text(f, "logical_name").filter(|n| !n.is_empty()),
            main_program: xml::flag(f, "main_program"),
            copy_file: xml::flag(f, "copy_file"),
        });
    }
    // Version-level settings live outside the <file> elements.
    let mut outside = body.to_string();
    for f in xml::raw_elements(body, "file") {
        outside = outside.replacen(f, "", 1);
    }
    v.api_version = xml::text(&outside, "api_version").unwrap_or_default();
    v.beta = xml::flag(&outside, "beta");
    if let Some(n) = xml::text(&outside, "avg_ncpus") {
        let n: f64 = n
            .trim()
            .parse()
            .ok()
            .filter(|n: &f64| n.is_finite() && *n > 0.0)
            .ok_or_else(|| {
                verr(format!(
                    "<avg_ncpus>{n}</avg_ncpus> is not a positive number"
                ))
            })?;
        v.declared.avg_ncpus = Some(n);
    }
    if let Some(c) = xml::raw_element(&outside, "coproc") {
        let kind = xml::text(c, "type")
            .filter(|t| !t.is_empty())
            .ok_or_else(|| verr("a <coproc> in version.xml has no <type>".into()))?;
        let count = match xml::text(c, "count") {
            None => 1.0,
            Some(n) => n
                .trim()
                .parse()
                .ok()
                .filter(|n: &f64| n.is_finite() && *n > 0.0)
                .ok_or_else(|| {
                    verr(format!(
                        "<coproc><count>{n}</count> is not a positive number"
                    ))
                })?,
        };
        v.declared.coproc = Some((kind, count));
    }
    for flag in ["dont_throttle", "needs_network", "is_wrapper"] {
        if xml::flag(&outside, flag) {
            v.flags_xml.push_str(&format!("    <{flag}/>\n"));
        }
    }
    if let Some(prefix) = xml::text(&outside, "file_prefix") {
        v.flags_xml.push_str(&format!(
            "    <file_prefix>{}</file_prefix>\n",
            xml::escape(&prefix)
        ));
    }
    Ok(v)
}

/// The `API_VERSION_x.y.z` string BOINC's API library embeds in an app, if any.
pub fn find_api_version(path: &Path) -> Option<String> {
    let bytes = std::fs::read(path).ok()?;
    let tag = b"API_VERSION_";
    let at = bytes.windows(tag.len()).position(|w| w == tag)? + tag.len();
    let v: String = bytes[at..]
        .iter()
        .take_while(|b| b.is_ascii_digit() || **b == b'.')
        .map(|&b| b as char)
        .collect();
    (!v.is_empty()).then_some(v)
}
