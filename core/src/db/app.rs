//! `app`: the project's applications; daemons find theirs by `--app` name.

use sqlx::mysql::MySqlExecutor;

use super::found_rows;
use super::ids::AppId;

#[derive(Debug, Clone, PartialEq, Default, sqlx::FromRow)]
pub struct AppRow {
    pub id: AppId,
    pub create_time: i32,
    /// Short name, as in `--app` and app version directory names.
    pub name: String,
    /// If nonzero, the scheduler may use any version >= this one.
    pub min_version: i32,
    /// Nonzero: the feeder skips the app and its jobs.
    pub deprecated: i32,
    pub user_friendly_name: String,
    pub homogeneous_redundancy: i32,
    /// Feeder slot share.
    pub weight: f64,
    pub beta: i32,
    /// Adaptive-replication quorum hint read by the validator.
    pub target_nresults: i32,
    pub min_avg_pfc: f64,
    pub host_scale_check: i32,
    pub homogeneous_app_version: i32,
    pub non_cpu_intensive: i32,
    pub locality_scheduling: i32,
    pub n_size_classes: i32,
    pub fraction_done_exact: i32,
}

/// A new app; every other column takes BOINC's default.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct NewApp<'a> {
    pub create_time: i32,
    pub name: &'a str,
    pub user_friendly_name: &'a str,
}

pub async fn by_id(ex: impl MySqlExecutor<'_>, id: AppId) -> Result<Option<AppRow>, sqlx::Error> {
    sqlx::query_as("SELECT * FROM app WHERE id = ?")
        .bind(id)
        .fetch_optional(ex)
        .await
}

pub async fn by_name(
    ex: impl MySqlExecutor<'_>,
    name: &str,
) -> Result<Option<AppRow>, sqlx::Error> {
    sqlx::query_as("SELECT * FROM app WHERE name = ?")
        .bind(name)
        .fetch_optional(ex)
        .await
}

/// All apps, by id.
pub async fn all(ex: impl MySqlExecutor<'_>) -> Result<Vec<AppRow>, sqlx::Error> {
    sqlx::query_as("SELECT * FROM app ORDER BY id")
        .fetch_all(ex)
        .await
}

/// Apps not deprecated, by id.
pub async fn active(ex: impl MySqlExecutor<'_>) -> Result<Vec<AppRow>, sqlx::Error> {
    sqlx::query_as("SELECT * FROM app WHERE deprecated = 0 ORDER BY id")
        .fetch_all(ex)
        .await
}

/// Inserts an app; a duplicate name is a unique violation.
pub async fn insert(ex: impl MySqlExecutor<'_>, new: &NewApp<'_>) -> Result<AppId, sqlx::Error> {
    let done =
        sqlx::query("INSERT INTO app (create_time, name, user_friendly_name) VALUES (?, ?, ?)")
            .bind(new.create_time)
            .bind(new.name)
            .bind(new.user_friendly_name)
            .execute(ex)
            .await?;
    Ok(AppId(done.last_insert_id() as i64))
}

/// Sets `user_friendly_name` (what `project.xml` says, through `xadd`).
pub async fn set_user_friendly_name(
    ex: impl MySqlExecutor<'_>,
    id: AppId,
    name: &str,
) -> Result<(), sqlx::Error> {
    sqlx::query("UPDATE app SET user_friendly_name = ? WHERE id = ?")
        .bind(name)
        .bind(id)
        .execute(ex)
        .await?;
    Ok(())
}

/// Sets `min_version` (`project.xml`'s `<min_version>`, through `xadd`).
pub async fn set_min_version(
    ex: impl MySqlExecutor<'_>,
    id: AppId,
    min_version: i32,
) -> Result<(), sqlx::Error> {
    sqlx::query("UPDATE app SET min_version = ? WHERE id = ?")
        .bind(min_version)
        .bind(id)
        .execute(ex)
        .await?;
    Ok(())
}

/// Sets or clears `deprecated`; false if no such app.
pub async fn set_deprecated(
    ex: impl MySqlExecutor<'_>,
    id: AppId,
    deprecated: bool,
) -> Result<bool, sqlx::Error> {
    let done = sqlx::query("UPDATE app SET deprecated = ? WHERE id = ?")
        .bind(i32::from(deprecated))
        .bind(id)
        .execute(ex)
        .await?;
    Ok(found_rows::applied(&done))
}
