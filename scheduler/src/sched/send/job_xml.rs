//! What a job looks like in the reply: the app, the app version (its files carry their code
//! signatures), the workunit with its `<rsc_*>` bounds, name and app name inserted, and the
//! result with its name, workunit name, deadline, platform and version.
//!
//! Whether a client reports a finished job at once is the project's choice, made as in BOINC:
//! `<report_immediately/>` in the result template reaches the client through the stored
//! `xml_doc_in`, and nothing is added here (the C++ scheduler adds nothing either). Without it a
//! stock client reports on its next RPC for work, within an hour, or when the deadline is less
//! than a day away; a project with many hosts saves one RPC per result by leaving it out.
//!
//! The stored XML (`workunit.xml_doc`, `result.xml_doc_in`) is what BOINC's tools write, and
//! the reply must be what BOINC's scheduler makes of it, byte for byte where the client cares:
//! so the pieces are inserted into the stored text rather than re-serialized.

use std::fmt::Write as _;

use rboinc_core::xml::escape;

use crate::sched::catalog::Catalog;
use crate::sched::job::JobWorkunit;
use crate::sched::reply::SchedReply;
use crate::sched::versions::{Build, Chosen};

/// The reply pieces of one job, built before it is claimed (so a job whose stored XML is
/// broken is never marked sent).
#[derive(Debug, Clone)]
pub struct JobXml {
    pub app: Option<String>,
    pub app_version: Option<(i64, String)>,
    pub workunit: String,
    pub result: String,
}

/// A job's stored XML is not what BOINC's tools write.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum JobXmlError {
    #[error("workunit {0} xml_doc has no <workunit> element")]
    Workunit(String),
    #[error("result {0} xml_doc_in has no <result> element")]
    Result(String),
}

/// Inserts `text` right after the first `tag` (plus its newline, if any).
fn insert_after_open(doc: &str, tag: &str, text: &str) -> Option<String> {
    let at = doc.find(tag)? + tag.len();
    let at = if doc[at..].starts_with('\n') {
        at + 1
    } else {
        at
    };
    let mut out = String::with_capacity(doc.len() + text.len());
    out.push_str(&doc[..at]);
    out.push_str(text);
    out.push_str(&doc[at..]);
    Some(out)
}

/// Builds the reply pieces for sending result `name` (with `xml_doc_in`) of `wu`, run with
/// `chosen` by a client of version `client_version`. As in BOINC: the version's usage may
/// replace the memory bound, and on the anonymous platform the FLOP counts are scaled.
pub fn job_xml(
    catalog: &Catalog,
    wu: &JobWorkunit,
    name: &str,
    xml_doc_in: &str,
    chosen: &Chosen<'_>,
    client_version: u32,
    client_deadline: i64,
) -> Result<JobXml, JobXmlError> {
    let app = catalog.app(wu.appid);
    let app_name = app.map_or("", |a| a.row.name.as_str());
    let mut tags = String::with_capacity(256);
    let _ = write!(
        tags,
        "    <rsc_fpops_est>{:.6}</rsc_fpops_est>\n    <rsc_fpops_bound>{:.6}</rsc_fpops_bound>\n    \
         <rsc_memory_bound>{:.6}</rsc_memory_bound>\n    <rsc_disk_bound>{:.6}</rsc_disk_bound>\n    \
         <name>{}</name>\n    <app_name>{}</app_name>\n",
        wu.rsc_fpops_est * chosen.fpops_scale,
        wu.rsc_fpops_bound * chosen.fpops_scale,
        if chosen.usage.mem_usage > 0.0 {
            chosen.usage.mem_usage
        } else {
            wu.rsc_memory_bound
        },
        wu.rsc_disk_bound,
        escape(&wu.name),
        escape(app_name),
    );
    if !wu.keywords.trim().is_empty() {
        let _ = writeln!(
            tags,
            "    <job_keyword_ids>{}</job_keyword_ids>",
            escape(&wu.keywords)
        );
    }
    let workunit = insert_after_open(&wu.xml_doc, "<workunit>", &tags)
        .ok_or_else(|| JobXmlError::Workunit(wu.name.clone()))?;

    let head = format!(
        "<report_deadline>{client_deadline}</report_deadline>\n<wu_name>{}</wu_name>\n<name>{}</name>\n",
        escape(&wu.name),
        escape(name)
    );
    let with_names = insert_after_open(xml_doc_in, "<result>", &head)
        .ok_or_else(|| JobXmlError::Result(name.to_string()))?;
    let end = with_names
        .rfind("</result>")
        .ok_or_else(|| JobXmlError::Result(name.to_string()))?;
    let mut result = String::with_capacity(with_names.len() + 200);
    result.push_str(&with_names[..end]);
    result.push('\n');
    let (platform, version_num, plan_class) = chosen.identity();
    let _ = write!(
        result,
        "    <platform>{}</platform>\n    <version_num>{version_num}</version_num>\n    \
         <plan_class>{}</plan_class>\n",
        escape(platform),
        escape(plan_class)
    );
    result.push_str("</result>\n");

    let (app_xml, version_xml) = match &chosen.build {
        Build::Project(v) => (
            app.map(|a| a.reply_xml()),
            Some((v.id.get(), v.reply_xml(&chosen.usage, client_version))),
        ),
        // Anonymous-platform clients have their own app and version.
        Build::Client(_) => (None, None),
    };
    Ok(JobXml {
        app: app_xml,
        app_version: version_xml,
        workunit,
        result,
    })
}

/// Puts a claimed job's pieces into the reply.
pub fn add_to_reply(reply: &mut SchedReply, wu: &JobWorkunit, xml: JobXml) {
    if let Some(app) = xml.app {
        reply.add_app(wu.appid.get(), || app);
    }
    if let Some((id, v)) = xml.app_version {
        reply.add_app_version(id, || v);
    }
    reply.add_workunit(wu.id.get(), || xml.workunit);
    reply.add_result(xml.result);
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::plan_class::{HostUsage, PlanClasses};
    use rboinc_core::db::{AppId, AppVersionId, PlatformId, WorkunitId};
    use std::sync::Arc;

    #[test]
    fn job_xml_inserts_boincs_tags() {
        let catalog = Catalog::from_rows(
            vec![(PlatformId(1), "x86_64-pc-linux-gnu".into(), "Linux".into())],
            vec![rboinc_core::db::app::AppRow {
                id: AppId(1),
                name: "mnist".into(),
                user_friendly_name: "MNIST".into(),
                ..Default::default()
            }],
            vec![rboinc_core::db::app_version::AppVersionRow {
                id: rboinc_core::db::AppVersionId(5),
                appid: AppId(1),
                version_num: 104,
                platformid: PlatformId(1),
                xml_doc: "<file_info>\n<name>mnist_1.04</name>\n</file_info>\n<app_version>\n<app_name>mnist</app_name>\n<version_num>104</version_num>\n</app_version>\n".into(),
                ..Default::default()
            }],
            Arc::new(PlanClasses::BuiltIn),
        );
        let wu = JobWorkunit {
            id: WorkunitId(9),
            appid: AppId(1),
            name: "wu_9".into(),
            xml_doc: "<file_info>\n<name>in</name>\n</file_info>\n<workunit>\n<file_ref>\n<file_name>in</file_name>\n</file_ref>\n</workunit>".into(),
            rsc_fpops_est: 1e12,
            rsc_fpops_bound: 1e14,
            rsc_memory_bound: 1e8,
            rsc_disk_bound: 1e9,
            delay_bound: 3600,
            app_version_num: 0,
            keywords: String::new(),
            hr_class: 0,
            app_version_id: 0,
            batch: 0,
            target_nresults: 1,
        };
        let chosen = Chosen {
            build: Build::Project(Arc::clone(catalog.version(AppVersionId(5)).unwrap())),
            usage: HostUsage::sequential(1e9),
            fpops_scale: 1.0,
        };
        let xml = job_xml(
            &catalog,
            &wu,
            "wu_9_0",
            "<file_info>\n<name>wu_9_0_r0</name>\n</file_info>\n<result>\n<file_ref>\n<file_name>wu_9_0_r0</file_name>\n</file_ref>\n</result>\n",
            &chosen,
            72005,
            1_700_000_000,
        )
        .unwrap();
        assert!(xml.workunit.starts_with("<file_info>\n<name>in</name>\n</file_info>\n<workunit>\n    <rsc_fpops_est>1000000000000.000000</rsc_fpops_est>\n"));
        assert!(
            xml.workunit
                .contains("    <name>wu_9</name>\n    <app_name>mnist</app_name>\n<file_ref>")
        );
        assert!(xml.result.contains("<result>\n<report_deadline>1700000000</report_deadline>\n<wu_name>wu_9</wu_name>\n<name>wu_9_0</name>\n<file_ref>"));
        assert!(xml.result.ends_with("    <platform>x86_64-pc-linux-gnu</platform>\n    <version_num>104</version_num>\n    <plan_class></plan_class>\n</result>\n"));
        assert!(
            !xml.result.contains("report_immediately"),
            "the template does not ask for it, so the reply does not either"
        );
        assert_eq!(xml.app_version.as_ref().unwrap().0, 5);
        assert!(
            xml.app
                .unwrap()
                .contains("<user_friendly_name>MNIST</user_friendly_name>")
        );

        // A result template that asks for prompt reports is passed on once, where it stood.
        let prompt = job_xml(
            &catalog,
            &wu,
            "wu_9_0",
            "<file_info>\n<name>wu_9_0_r0</name>\n</file_info>\n<result>\n<report_immediately/>\n<file_ref>\n<file_name>wu_9_0_r0</file_name>\n</file_ref>\n</result>\n",
            &chosen,
            72005,
            1_700_000_000,
        )
        .unwrap();
        assert_eq!(prompt.result.matches("<report_immediately/>").count(), 1);
        assert!(
            prompt
                .result
                .contains("<name>wu_9_0</name>\n<report_immediately/>\n<file_ref>")
        );

        let broken = job_xml(&catalog, &wu, "r", "<nothing/>", &chosen, 72005, 0).unwrap_err();
        assert_eq!(broken, JobXmlError::Result("r".into()));
    }
}
