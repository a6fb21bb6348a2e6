//! The `rb_series` and `rb_series_round` tables (migrations 0002, 0003 and 0004).

use rboinc_core::db::{AppId, BatchId, UserId, WorkunitId};
use sqlx::mysql::MySqlExecutor;

/// `rb_series.state`.
pub const SERIES_ACTIVE: i32 = 0;
pub const SERIES_CANCELLED: i32 = 1;
/// `rb_series_round.state`.
pub const ROUND_QUEUED: i32 = 0;
pub const ROUND_CREATED: i32 = 1;
pub const ROUND_CANCELLED: i32 = 2;

#[derive(Debug, Clone, PartialEq, sqlx::FromRow)]
pub struct SeriesRow {
    pub id: i64,
    pub name: String,
    pub batch_id: BatchId,
    pub appid: AppId,
    pub user_id: UserId,
    pub create_time: i32,
    pub state: i32,
    pub rounds: i32,
    /// JSON of [`crate::SeriesParams`].
    pub params: String,
    pub dataset_file: String,
    pub dataset_sha256: String,
    pub min_quorum: i32,
    pub target_nresults: i32,
    pub delay_bound: i32,
    pub priority: i32,
}

#[derive(Debug, Clone, PartialEq, sqlx::FromRow)]
pub struct RoundRow {
    pub id: i64,
    pub series_id: i64,
    pub round: i32,
    pub seed: u64,
    pub state: i32,
    pub workunit_id: WorkunitId,
    pub wu_name: String,
    pub create_time: i32,
    pub created_time: i32,
    /// The round's configuration in a sweep (0-based; 0 for a plain series).
    pub config: i32,
    /// The round's parameters (JSON) in a sweep; `None`: the series' own.
    pub params: Option<String>,
}

impl RoundRow {
    /// The parameters the round runs with.
    pub fn params_of(&self, series: &SeriesRow) -> Result<crate::SeriesParams, serde_json::Error> {
        serde_json::from_str(self.params.as_deref().unwrap_or(&series.params))
    }
}

pub async fn series_by_name(
    ex: impl MySqlExecutor<'_>,
    name: &str,
) -> Result<Option<SeriesRow>, sqlx::Error> {
    sqlx::query_as("SELECT * FROM rb_series WHERE name = ?")
        .bind(name)
        .fetch_optional(ex)
        .await
}

pub async fn series_by_id(
    ex: impl MySqlExecutor<'_>,
    id: i64,
) -> Result<Option<SeriesRow>, sqlx::Error> {
    sqlx::query_as("SELECT * FROM rb_series WHERE id = ?")
        .bind(id)
        .fetch_optional(ex)
        .await
}

/// All series, newest first.
pub async fn all_series(ex: impl MySqlExecutor<'_>) -> Result<Vec<SeriesRow>, sqlx::Error> {
    sqlx::query_as("SELECT * FROM rb_series ORDER BY id DESC")
        .fetch_all(ex)
        .await
}

pub async fn rounds(
    ex: impl MySqlExecutor<'_>,
    series_id: i64,
) -> Result<Vec<RoundRow>, sqlx::Error> {
    sqlx::query_as("SELECT * FROM rb_series_round WHERE series_id = ? ORDER BY round")
        .bind(series_id)
        .fetch_all(ex)
        .await
}

/// Sets a series' state; false if no such series.
pub async fn set_series_state(
    ex: impl MySqlExecutor<'_>,
    id: i64,
    state: i32,
) -> Result<bool, sqlx::Error> {
    let done = sqlx::query("UPDATE rb_series SET state = ? WHERE id = ?")
        .bind(state)
        .bind(id)
        .execute(ex)
        .await?;
    Ok(done.rows_affected() > 0)
}

/// A series' configurations, by index (see [`crate::sweep`]); a plain series has one, its own
/// parameters.
pub async fn configs(
    ex: impl MySqlExecutor<'_>,
    series: &SeriesRow,
) -> Result<Vec<crate::SeriesParams>, crate::SeriesError> {
    let rows: Vec<(i32, Option<String>)> = sqlx::query_as(
        "SELECT config, MIN(params) FROM rb_series_round WHERE series_id = ? \
         GROUP BY config ORDER BY config",
    )
    .bind(series.id)
    .fetch_all(ex)
    .await?;
    let parse = |text: &str| {
        serde_json::from_str(text).map_err(|e| {
            crate::SeriesError::Invalid(format!("series {}: parameters: {e}", series.name))
        })
    };
    if rows.is_empty() {
        return Ok(vec![parse(&series.params)?]);
    }
    rows.iter()
        .map(|(_, p)| parse(p.as_deref().unwrap_or(&series.params)))
        .collect()
}

/// The configurations' names for tables and legends (see [`crate::sweep::label`]).
pub fn labels(configs: &[crate::SeriesParams]) -> Vec<String> {
    configs
        .iter()
        .map(|c| crate::sweep::label(c, configs))
        .collect()
}
