//! `result`: the replicas of jobs ("results" in BOINC's words; the row type
//! is [`ResultRow`] so it does not shadow `std::result::Result`).

use sqlx::mysql::MySqlExecutor;

use super::ids::{AppId, AppVersionId, BatchId, HostId, ResultId, TeamId, UserId, WorkunitId};
use super::text::NullableText;
use crate::state::{ClientState, FileDeleteState, Outcome, ServerState, ValidateState};

/// A `result` row (all columns but `mod_time`).
#[derive(Debug, Clone, PartialEq, sqlx::FromRow)]
pub struct ResultRow {
    pub id: ResultId,
    pub create_time: i32,
    pub workunitid: WorkunitId,
    pub server_state: ServerState,
    pub outcome: Outcome,
    pub client_state: ClientState,
    pub hostid: HostId,
    pub userid: UserId,
    /// Send time + delay bound + the configured grace period.
    pub report_deadline: i32,
    pub sent_time: i32,
    pub received_time: i32,
    /// `<workunit name>_<n>`.
    pub name: String,
    pub cpu_time: f64,
    /// Output `<file_info>`s and the `<result>` element, from the output template.
    #[sqlx(try_from = "NullableText")]
    pub xml_doc_in: String,
    /// The `<file_info>`s the client reported.
    #[sqlx(try_from = "NullableText")]
    pub xml_doc_out: String,
    #[sqlx(try_from = "NullableText")]
    pub stderr_out: String,
    pub batch: BatchId,
    pub file_delete_state: FileDeleteState,
    pub validate_state: ValidateState,
    pub claimed_credit: f64,
    pub granted_credit: f64,
    pub opaque: f64,
    pub random: i32,
    pub app_version_num: i32,
    pub appid: AppId,
    pub exit_status: i32,
    pub teamid: TeamId,
    pub priority: i32,
    pub elapsed_time: f64,
    pub flops_estimate: f64,
    /// The version the scheduler chose; negative for anonymous platform.
    pub app_version_id: AppVersionId,
    pub runtime_outlier: i32,
    pub size_class: i32,
    pub peak_working_set_size: f64,
    pub peak_swap_size: f64,
    pub peak_disk_usage: f64,
}

/// A new replica, as the transitioner creates it: not sent, no outcome,
/// nothing reported; everything else starts at 0 / ''.
#[derive(Debug, Clone, PartialEq)]
pub struct NewResult<'a> {
    pub create_time: i32,
    pub workunitid: WorkunitId,
    /// `Unsent`, or `Inactive` for jobs with a size class.
    pub server_state: ServerState,
    pub name: &'a str,
    pub xml_doc_in: &'a str,
    pub batch: BatchId,
    pub appid: AppId,
    pub priority: i32,
    pub random: i32,
    pub size_class: i32,
}

pub async fn by_id(
    ex: impl MySqlExecutor<'_>,
    id: ResultId,
) -> Result<Option<ResultRow>, sqlx::Error> {
    sqlx::query_as("SELECT * FROM result WHERE id = ?")
        .bind(id)
        .fetch_optional(ex)
        .await
}

/// Lookup by name (how the scheduler finds reported replicas).
pub async fn by_name(
    ex: impl MySqlExecutor<'_>,
    name: &str,
) -> Result<Option<ResultRow>, sqlx::Error> {
    sqlx::query_as("SELECT * FROM result WHERE name = ?")
        .bind(name)
        .fetch_optional(ex)
        .await
}

/// All replicas of a job, by id.
pub async fn for_workunit(
    ex: impl MySqlExecutor<'_>,
    wu: WorkunitId,
) -> Result<Vec<ResultRow>, sqlx::Error> {
    sqlx::query_as("SELECT * FROM result WHERE workunitid = ? ORDER BY id")
        .bind(wu)
        .fetch_all(ex)
        .await
}

/// Replicas of an app waiting to be sent (work generators keep this above
/// a threshold; uses index `res_app_state`).
pub async fn count_unsent(ex: impl MySqlExecutor<'_>, appid: AppId) -> Result<i64, sqlx::Error> {
    sqlx::query_scalar("SELECT COUNT(*) FROM result WHERE appid = ? AND server_state = ?")
        .bind(appid)
        .bind(ServerState::Unsent)
        .fetch_one(ex)
        .await
}

/// Inserts a replica; a duplicate name is a unique violation.
pub async fn insert(
    ex: impl MySqlExecutor<'_>,
    new: &NewResult<'_>,
) -> Result<ResultId, sqlx::Error> {
    let done = sqlx::query(
        "INSERT INTO result (create_time, workunitid, server_state, outcome, client_state, hostid, userid, \
         report_deadline, sent_time, received_time, name, cpu_time, xml_doc_in, xml_doc_out, stderr_out, \
         batch, file_delete_state, validate_state, claimed_credit, granted_credit, opaque, random, \
         app_version_num, appid, exit_status, teamid, priority, elapsed_time, flops_estimate, \
         app_version_id, runtime_outlier, size_class, peak_working_set_size, peak_swap_size, \
         peak_disk_usage) \
         VALUES (?, ?, ?, ?, ?, 0, 0, 0, 0, 0, ?, 0, ?, '', '', ?, ?, ?, 0, 0, 0, ?, 0, ?, 0, 0, ?, 0, 0, \
         0, 0, ?, 0, 0, 0)",
    )
    .bind(new.create_time)
    .bind(new.workunitid)
    .bind(new.server_state)
    .bind(Outcome::Init)
    .bind(ClientState::New)
    .bind(new.name)
    .bind(new.xml_doc_in)
    .bind(new.batch)
    .bind(FileDeleteState::Init)
    .bind(ValidateState::Init)
    .bind(new.random)
    .bind(new.appid)
    .bind(new.priority)
    .bind(new.size_class)
    .execute(ex)
    .await?;
    Ok(ResultId(done.last_insert_id() as i64))
}
