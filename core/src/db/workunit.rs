//! `workunit`: jobs. Created by work generators, driven by the transitioner
//! through `transition_time`, then validated, assimilated and purged.

use sqlx::mysql::MySqlExecutor;

use super::found_rows;
use super::ids::{AppId, AppVersionId, BatchId, ResultId, WorkunitId};
use super::text::NullableText;
use crate::state::{AssimilateState, ErrorMask, FileDeleteState, TransitionerFlags};

/// A `workunit` row (all columns but `mod_time`).
#[derive(Debug, Clone, PartialEq, sqlx::FromRow)]
pub struct WorkunitRow {
    pub id: WorkunitId,
    pub create_time: i32,
    pub appid: AppId,
    pub name: String,
    /// The client-facing job description (`<file_ref>`s, command line...).
    #[sqlx(try_from = "NullableText")]
    pub xml_doc: String,
    pub batch: BatchId,
    pub rsc_fpops_est: f64,
    pub rsc_fpops_bound: f64,
    pub rsc_memory_bound: f64,
    pub rsc_disk_bound: f64,
    /// 1 = the validator should look at this job.
    pub need_validate: i32,
    /// 0 until the validator picks a canonical result.
    pub canonical_resultid: ResultId,
    pub canonical_credit: f64,
    /// When the transitioner should next look; [`crate::state::TRANSITION_TIME_NEVER`] = never.
    pub transition_time: i32,
    /// Seconds from sending a replica to its deadline.
    pub delay_bound: i32,
    pub error_mask: ErrorMask,
    pub file_delete_state: FileDeleteState,
    pub assimilate_state: AssimilateState,
    pub hr_class: i32,
    pub opaque: f64,
    pub min_quorum: i32,
    pub target_nresults: i32,
    pub max_error_results: i32,
    pub max_total_results: i32,
    pub max_success_results: i32,
    /// Output template path, relative to the project directory.
    pub result_template_file: String,
    pub priority: i32,
    pub rsc_bandwidth_bound: f64,
    pub fileset_id: i32,
    /// Homogeneous-app-version commitment; 0 = none.
    pub app_version_id: AppVersionId,
    pub transitioner_flags: TransitionerFlags,
    /// -1 = none.
    pub size_class: i32,
    pub keywords: String,
    /// If nonzero, only this app version number may run the job.
    pub app_version_num: i32,
}

/// What a work generator decides about a new job; the state columns start
/// at their initial values (no canonical result, no error, nothing to
/// validate, assimilate or delete).
#[derive(Debug, Clone, PartialEq)]
pub struct NewWorkunit<'a> {
    pub create_time: i32,
    pub appid: AppId,
    pub name: &'a str,
    pub xml_doc: &'a str,
    pub batch: BatchId,
    pub rsc_fpops_est: f64,
    pub rsc_fpops_bound: f64,
    pub rsc_memory_bound: f64,
    pub rsc_disk_bound: f64,
    pub rsc_bandwidth_bound: f64,
    /// `create_work --credit`; 0 otherwise.
    pub canonical_credit: f64,
    /// Usually `create_time`; [`crate::state::TRANSITION_TIME_NEVER`] with
    /// `TransitionNone`.
    pub transition_time: i32,
    pub delay_bound: i32,
    pub opaque: f64,
    pub min_quorum: i32,
    pub target_nresults: i32,
    pub max_error_results: i32,
    pub max_total_results: i32,
    pub max_success_results: i32,
    pub result_template_file: &'a str,
    pub priority: i32,
    pub transitioner_flags: TransitionerFlags,
    pub size_class: i32,
    pub keywords: &'a str,
    pub app_version_num: i32,
}

pub async fn by_id(
    ex: impl MySqlExecutor<'_>,
    id: WorkunitId,
) -> Result<Option<WorkunitRow>, sqlx::Error> {
    sqlx::query_as("SELECT * FROM workunit WHERE id = ?")
        .bind(id)
        .fetch_optional(ex)
        .await
}

pub async fn by_name(
    ex: impl MySqlExecutor<'_>,
    name: &str,
) -> Result<Option<WorkunitRow>, sqlx::Error> {
    sqlx::query_as("SELECT * FROM workunit WHERE name = ?")
        .bind(name)
        .fetch_optional(ex)
        .await
}

/// Inserts a job; a duplicate name is a unique violation.
pub async fn insert(
    ex: impl MySqlExecutor<'_>,
    new: &NewWorkunit<'_>,
) -> Result<WorkunitId, sqlx::Error> {
    let done = sqlx::query(
        "INSERT INTO workunit (create_time, appid, name, xml_doc, batch, rsc_fpops_est, rsc_fpops_bound, \
         rsc_memory_bound, rsc_disk_bound, need_validate, canonical_resultid, canonical_credit, \
         transition_time, delay_bound, error_mask, file_delete_state, assimilate_state, hr_class, opaque, \
         min_quorum, target_nresults, max_error_results, max_total_results, max_success_results, \
         result_template_file, priority, rsc_bandwidth_bound, fileset_id, app_version_id, \
         transitioner_flags, size_class, keywords, app_version_num) \
         VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, 0, 0, ?, ?, ?, 0, 0, 0, 0, ?, ?, ?, ?, ?, ?, ?, ?, ?, 0, 0, \
         ?, ?, ?, ?)",
    )
    .bind(new.create_time)
    .bind(new.appid)
    .bind(new.name)
    .bind(new.xml_doc)
    .bind(new.batch)
    .bind(new.rsc_fpops_est)
    .bind(new.rsc_fpops_bound)
    .bind(new.rsc_memory_bound)
    .bind(new.rsc_disk_bound)
    .bind(new.canonical_credit)
    .bind(new.transition_time)
    .bind(new.delay_bound)
    .bind(new.opaque)
    .bind(new.min_quorum)
    .bind(new.target_nresults)
    .bind(new.max_error_results)
    .bind(new.max_total_results)
    .bind(new.max_success_results)
    .bind(new.result_template_file)
    .bind(new.priority)
    .bind(new.rsc_bandwidth_bound)
    .bind(new.transitioner_flags)
    .bind(new.size_class)
    .bind(new.keywords)
    .bind(new.app_version_num)
    .execute(ex)
    .await?;
    Ok(WorkunitId(done.last_insert_id() as i64))
}

/// Sets `transition_time` (e.g. to now, to wake the transitioner); false if
/// no such job. An unchanged value still counts as applied.
pub async fn set_transition_time(
    ex: impl MySqlExecutor<'_>,
    id: WorkunitId,
    transition_time: i32,
) -> Result<bool, sqlx::Error> {
    let done = sqlx::query("UPDATE workunit SET transition_time = ? WHERE id = ?")
        .bind(transition_time)
        .bind(id)
        .execute(ex)
        .await?;
    Ok(found_rows::applied(&done))
}
