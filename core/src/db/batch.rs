//! `batch`: groups of jobs (remote job submission; also a plain grouping
//! our tools use). Jobs point at it through `workunit.batch`.

use sqlx::mysql::MySqlExecutor;

use super::found_rows;
use super::ids::{AppId, BatchId, UserId};
use crate::state::BatchState;

#[derive(Debug, Clone, PartialEq, sqlx::FromRow)]
pub struct BatchRow {
    pub id: BatchId,
    /// The submitter.
    pub user_id: UserId,
    pub create_time: i32,
    pub logical_start_time: f64,
    pub logical_end_time: f64,
    pub est_completion_time: f64,
    pub njobs: i32,
    pub fraction_done: f64,
    pub nerror_jobs: i32,
    pub state: BatchState,
    pub completion_time: f64,
    pub credit_estimate: f64,
    pub credit_canonical: f64,
    pub credit_total: f64,
    pub name: String,
    pub app_id: AppId,
    pub project_state: i32,
    pub description: String,
    pub expire_time: f64,
}

/// A new batch; progress and credit columns start at 0.
#[derive(Debug, Clone, PartialEq)]
pub struct NewBatch<'a> {
    pub user_id: UserId,
    pub create_time: i32,
    pub name: &'a str,
    pub app_id: AppId,
    pub njobs: i32,
    pub state: BatchState,
    pub description: &'a str,
}

pub async fn by_id(
    ex: impl MySqlExecutor<'_>,
    id: BatchId,
) -> Result<Option<BatchRow>, sqlx::Error> {
    sqlx::query_as("SELECT * FROM batch WHERE id = ?")
        .bind(id)
        .fetch_optional(ex)
        .await
}

/// The newest batch with this name (names are not unique in BOINC).
pub async fn by_name(
    ex: impl MySqlExecutor<'_>,
    name: &str,
) -> Result<Option<BatchRow>, sqlx::Error> {
    sqlx::query_as("SELECT * FROM batch WHERE name = ? ORDER BY id DESC LIMIT 1")
        .bind(name)
        .fetch_optional(ex)
        .await
}

pub async fn insert(
    ex: impl MySqlExecutor<'_>,
    new: &NewBatch<'_>,
) -> Result<BatchId, sqlx::Error> {
    let done = sqlx::query(
        "INSERT INTO batch (user_id, create_time, logical_start_time, logical_end_time, est_completion_time, \
         njobs, fraction_done, nerror_jobs, state, completion_time, credit_estimate, credit_canonical, \
         credit_total, name, app_id, project_state, description, expire_time) \
         VALUES (?, ?, 0, 0, 0, ?, 0, 0, ?, 0, 0, 0, 0, ?, ?, 0, ?, 0)",
    )
    .bind(new.user_id)
    .bind(new.create_time)
    .bind(new.njobs)
    .bind(new.state)
    .bind(new.name)
    .bind(new.app_id)
    .bind(new.description)
    .execute(ex)
    .await?;
    Ok(BatchId(done.last_insert_id() as i64))
}

/// Sets the batch's state; false if no such batch.
pub async fn set_state(
    ex: impl MySqlExecutor<'_>,
    id: BatchId,
    state: BatchState,
) -> Result<bool, sqlx::Error> {
    let done = sqlx::query("UPDATE batch SET state = ? WHERE id = ?")
        .bind(state)
        .bind(id)
        .execute(ex)
        .await?;
    Ok(found_rows::applied(&done))
}
