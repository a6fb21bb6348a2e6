//! `host_app_version`: per (host, app version) statistics and daily quota,
//! kept by the scheduler, transitioner and validator.
//!
//! The key is the *generalized* app version id
//! ([`crate::state::generalized_app_version_id`]), so anonymous-platform
//! versions get a row per app.

use sqlx::mysql::MySqlExecutor;

use super::ids::HostId;

#[derive(Debug, Clone, PartialEq, Default, sqlx::FromRow)]
pub struct HostAppVersionRow {
    pub host_id: HostId,
    /// Generalized app version id.
    pub app_version_id: i64,
    pub pfc_n: f64,
    pub pfc_avg: f64,
    pub et_n: f64,
    pub et_avg: f64,
    pub et_var: f64,
    pub et_q: f64,
    /// Dynamic daily quota; 0 = not set yet (the configured quota applies).
    pub max_jobs_per_day: i32,
    pub n_jobs_today: i32,
    pub turnaround_n: f64,
    pub turnaround_avg: f64,
    pub turnaround_var: f64,
    pub turnaround_q: f64,
    pub consecutive_valid: i32,
}

impl HostAppVersionRow {
    /// The all-zero row BOINC inserts when a host first uses a version.
    pub fn zero(host_id: HostId, app_version_id: i64) -> Self {
        HostAppVersionRow {
            host_id,
            app_version_id,
            ..Default::default()
        }
    }
}

pub async fn get(
    ex: impl MySqlExecutor<'_>,
    host_id: HostId,
    app_version_id: i64,
) -> Result<Option<HostAppVersionRow>, sqlx::Error> {
    sqlx::query_as("SELECT * FROM host_app_version WHERE host_id = ? AND app_version_id = ?")
        .bind(host_id)
        .bind(app_version_id)
        .fetch_optional(ex)
        .await
}

/// All rows of a host.
pub async fn for_host(
    ex: impl MySqlExecutor<'_>,
    host_id: HostId,
) -> Result<Vec<HostAppVersionRow>, sqlx::Error> {
    sqlx::query_as("SELECT * FROM host_app_version WHERE host_id = ? ORDER BY app_version_id")
        .bind(host_id)
        .fetch_all(ex)
        .await
}

/// Throttles a host that keeps failing with this app version to one job a day (the validator's
/// `--check_punitive`); false if the host has no row for the version.
pub async fn throttle(
    ex: impl MySqlExecutor<'_>,
    host_id: HostId,
    app_version_id: i64,
) -> Result<bool, sqlx::Error> {
    let done = sqlx::query(
        "UPDATE host_app_version SET max_jobs_per_day = 1, n_jobs_today = 1 \
         WHERE host_id = ? AND app_version_id = ?",
    )
    .bind(host_id)
    .bind(app_version_id)
    .execute(ex)
    .await?;
    Ok(done.rows_affected() != 0)
}

/// Inserts `row`; an existing (host, version) pair is a unique violation.
pub async fn insert(
    ex: impl MySqlExecutor<'_>,
    row: &HostAppVersionRow,
) -> Result<(), sqlx::Error> {
    sqlx::query(
        "INSERT INTO host_app_version (host_id, app_version_id, pfc_n, pfc_avg, et_n, et_avg, et_var, et_q, \
         max_jobs_per_day, n_jobs_today, turnaround_n, turnaround_avg, turnaround_var, turnaround_q, \
         consecutive_valid) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
    )
    .bind(row.host_id)
    .bind(row.app_version_id)
    .bind(row.pfc_n)
    .bind(row.pfc_avg)
    .bind(row.et_n)
    .bind(row.et_avg)
    .bind(row.et_var)
    .bind(row.et_q)
    .bind(row.max_jobs_per_day)
    .bind(row.n_jobs_today)
    .bind(row.turnaround_n)
    .bind(row.turnaround_avg)
    .bind(row.turnaround_var)
    .bind(row.turnaround_q)
    .bind(row.consecutive_valid)
    .execute(ex)
    .await?;
    Ok(())
}
