//! `result`: the replicas of jobs ("results" in BOINC's words; the row type
//! is [`ResultRow`] so it does not shadow `std::result::Result`).

use sqlx::MySqlConnection;
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

/// All replicas of the jobs `wus`, by job and id (the validator reads a batch's results with
/// this). The ids come from the caller's own query and are written into the statement.
pub async fn for_workunits(
    conn: &mut MySqlConnection,
    wus: impl IntoIterator<Item = WorkunitId>,
) -> Result<Vec<ResultRow>, sqlx::Error> {
    let ids: Vec<String> = wus.into_iter().map(|w| w.get().to_string()).collect();
    if ids.is_empty() {
        return Ok(Vec::new());
    }
    let sql = format!(
        "SELECT * FROM result WHERE workunitid IN ({}) ORDER BY workunitid, id",
        ids.join(",")
    );
    sqlx::query_as(sqlx::AssertSqlSafe(sql))
        .fetch_all(&mut *conn)
        .await
}

/// Inserts a replica; a duplicate name is a unique violation. (One row of [`insert_many`].)
pub async fn insert(
    ex: impl MySqlExecutor<'_>,
    new: &NewResult<'_>,
) -> Result<ResultId, sqlx::Error> {
    let done = insert_chunk(ex, std::slice::from_ref(new)).await?;
    Ok(ResultId(done.last_insert_id() as i64))
}

/// Rows per INSERT of [`insert_many`]: a result's xml_doc_in is usually under 1 KB (about 1.3 KB
/// signed, twice that as hex), so this stays far below `max_allowed_packet`.
const ROWS_PER_INSERT: usize = 1000;

/// Inserts `rows` (the transitioner's new replicas) with multi-row INSERTs, in order, so ids
/// follow the order. Sent as one text statement per chunk (values as literals): the server
/// parses it once, where a prepared statement with thousands of parameters costs a prepare, an
/// execute and a close.
pub async fn insert_many(
    conn: &mut MySqlConnection,
    rows: &[NewResult<'_>],
) -> Result<(), sqlx::Error> {
    for chunk in rows.chunks(ROWS_PER_INSERT) {
        insert_chunk(&mut *conn, chunk).await?;
    }
    Ok(())
}

async fn insert_chunk(
    ex: impl MySqlExecutor<'_>,
    chunk: &[NewResult<'_>],
) -> Result<sqlx::mysql::MySqlQueryResult, sqlx::Error> {
    use std::fmt::Write as _;
    let mut sql = String::with_capacity(chunk.len() * 1400 + 600);
    sql.push_str(
        "INSERT INTO result (create_time, workunitid, server_state, outcome, client_state, \
         hostid, userid, report_deadline, sent_time, received_time, name, cpu_time, xml_doc_in, \
         xml_doc_out, stderr_out, batch, file_delete_state, validate_state, claimed_credit, \
         granted_credit, opaque, random, app_version_num, appid, exit_status, teamid, priority, \
         elapsed_time, flops_estimate, app_version_id, runtime_outlier, size_class, \
         peak_working_set_size, peak_swap_size, peak_disk_usage) VALUES ",
    );
    for (i, r) in chunk.iter().enumerate() {
        if i > 0 {
            sql.push(',');
        }
        write!(
            sql,
            "({}, {}, {}, {}, {}, 0, 0, 0, 0, 0, ",
            r.create_time,
            r.workunitid,
            r.server_state as i32,
            Outcome::Init as i32,
            ClientState::New as i32
        )
        .expect("writing to a String");
        push_hex(&mut sql, r.name.as_bytes(), true);
        sql.push_str(", 0, ");
        push_hex(&mut sql, r.xml_doc_in.as_bytes(), false);
        write!(
            sql,
            ", '', '', {}, {}, {}, 0, 0, 0, {}, 0, {}, 0, 0, {}, 0, 0, 0, 0, {}, 0, 0, 0)",
            r.batch,
            FileDeleteState::Init as i32,
            ValidateState::Init as i32,
            r.random,
            r.appid,
            r.priority,
            r.size_class
        )
        .expect("writing to a String");
    }
    sqlx::raw_sql(sqlx::AssertSqlSafe(sql)).execute(ex).await
}

/// Appends `bytes` as a hex literal (`X'…'`, with `_utf8mb4` for a text column): no escaping
/// rules to get wrong, whatever the session's `sql_mode`.
fn push_hex(sql: &mut String, bytes: &[u8], text: bool) {
    if text {
        sql.push_str("_utf8mb4 ");
    }
    sql.push_str("X'");
    sql.push_str(&hex::encode(bytes));
    sql.push('\'');
}
