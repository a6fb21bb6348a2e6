//! A job as the scheduler hands it out: an unsent result ([`Candidate`]) and the workunit fields
//! its reply needs ([`JobWorkunit`]), read by the job cache and by lost-result resending.

use std::sync::Arc;

use rboinc_core::db::{AppId, ResultId, WorkunitId};
use sqlx::Row;
use sqlx::mysql::MySqlRow;

use super::rows::text;

/// The workunit columns [`JobWorkunit::from_row`] reads (the workunit aliased `w`).
pub const COLUMNS: &str = "w.id AS wu_id, w.appid, w.name AS wu_name, w.xml_doc, \
     w.rsc_fpops_est, w.rsc_fpops_bound, w.rsc_memory_bound, w.rsc_disk_bound, w.delay_bound, \
     w.app_version_num, w.keywords, w.hr_class, w.app_version_id AS wu_app_version_id, w.batch, \
     w.target_nresults";

/// The workunit fields a reply needs.
#[derive(Debug, Clone, PartialEq)]
pub struct JobWorkunit {
    pub id: WorkunitId,
    pub appid: AppId,
    pub name: String,
    pub xml_doc: String,
    pub rsc_fpops_est: f64,
    pub rsc_fpops_bound: f64,
    pub rsc_memory_bound: f64,
    pub rsc_disk_bound: f64,
    pub delay_bound: i32,
    /// If nonzero, only this version number may run the job.
    pub app_version_num: i32,
    pub keywords: String,
    /// Homogeneous redundancy: the host class its replicas are committed to (0: none yet).
    pub hr_class: i32,
    /// Homogeneous app version: the version its replicas are committed to (0: none yet).
    pub app_version_id: i64,
    pub batch: i64,
    /// Replicas wanted; 1 for a job that adaptive replication may leave single.
    pub target_nresults: i32,
}

impl JobWorkunit {
    /// Reads the workunit columns of a job query's row, selected as `w.id AS wu_id, w.appid,
    /// w.name AS wu_name, w.xml_doc, w.rsc_fpops_est, w.rsc_fpops_bound, w.rsc_memory_bound,
    /// w.rsc_disk_bound, w.delay_bound, w.app_version_num, w.keywords, w.hr_class,
    /// w.app_version_id AS wu_app_version_id, w.batch, w.target_nresults` ([`COLUMNS`]).
    pub fn from_row(row: &MySqlRow) -> Result<JobWorkunit, sqlx::Error> {
        Ok(JobWorkunit {
            id: row.try_get("wu_id")?,
            appid: row.try_get("appid")?,
            name: row.try_get("wu_name")?,
            xml_doc: text(row, "xml_doc")?,
            rsc_fpops_est: row.try_get("rsc_fpops_est")?,
            rsc_fpops_bound: row.try_get("rsc_fpops_bound")?,
            rsc_memory_bound: row.try_get("rsc_memory_bound")?,
            rsc_disk_bound: row.try_get("rsc_disk_bound")?,
            delay_bound: row.try_get("delay_bound")?,
            app_version_num: row.try_get("app_version_num")?,
            keywords: row.try_get("keywords")?,
            hr_class: row.try_get("hr_class")?,
            app_version_id: row.try_get::<i32, _>("wu_app_version_id")?.into(),
            batch: row.try_get::<i32, _>("batch")?.into(),
            target_nresults: row.try_get("target_nresults")?,
        })
    }
}

/// An unsent result and its workunit.
#[derive(Debug, Clone, PartialEq)]
pub struct Candidate {
    pub result_id: ResultId,
    pub name: String,
    pub xml_doc_in: String,
    pub priority: i32,
    pub wu: Arc<JobWorkunit>,
}
