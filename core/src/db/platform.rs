//! `platform`: the CPU/OS combinations the project has app versions for.

use sqlx::mysql::MySqlExecutor;

use super::found_rows;
use super::ids::PlatformId;

#[derive(Debug, Clone, PartialEq, Default, sqlx::FromRow)]
pub struct PlatformRow {
    pub id: PlatformId,
    pub create_time: i32,
    /// BOINC's platform name, e.g. `x86_64-pc-linux-gnu`.
    pub name: String,
    pub user_friendly_name: String,
    /// Nonzero: ignored by the feeder.
    pub deprecated: i32,
}

#[derive(Debug, Clone, PartialEq, Default)]
pub struct NewPlatform<'a> {
    pub create_time: i32,
    pub name: &'a str,
    pub user_friendly_name: &'a str,
}

pub async fn by_id(
    ex: impl MySqlExecutor<'_>,
    id: PlatformId,
) -> Result<Option<PlatformRow>, sqlx::Error> {
    sqlx::query_as("SELECT * FROM platform WHERE id = ?")
        .bind(id)
        .fetch_optional(ex)
        .await
}

pub async fn by_name(
    ex: impl MySqlExecutor<'_>,
    name: &str,
) -> Result<Option<PlatformRow>, sqlx::Error> {
    sqlx::query_as("SELECT * FROM platform WHERE name = ?")
        .bind(name)
        .fetch_optional(ex)
        .await
}

/// Platforms not deprecated, by id (what the feeder and scheduler offer).
pub async fn active(ex: impl MySqlExecutor<'_>) -> Result<Vec<PlatformRow>, sqlx::Error> {
    sqlx::query_as("SELECT * FROM platform WHERE deprecated = 0 ORDER BY id")
        .fetch_all(ex)
        .await
}

/// Inserts a platform; a duplicate name is a unique violation
/// (`e.as_database_error().is_some_and(|d| d.is_unique_violation())`).
pub async fn insert(
    ex: impl MySqlExecutor<'_>,
    new: &NewPlatform<'_>,
) -> Result<PlatformId, sqlx::Error> {
    let done = sqlx::query("INSERT INTO platform (create_time, name, user_friendly_name, deprecated) VALUES (?, ?, ?, 0)")
        .bind(new.create_time)
        .bind(new.name)
        .bind(new.user_friendly_name)
        .execute(ex)
        .await?;
    Ok(PlatformId(done.last_insert_id() as i64))
}

/// Sets `user_friendly_name` (what `project.xml` says, through `xadd`).
pub async fn set_user_friendly_name(
    ex: impl MySqlExecutor<'_>,
    id: PlatformId,
    name: &str,
) -> Result<(), sqlx::Error> {
    sqlx::query("UPDATE platform SET user_friendly_name = ? WHERE id = ?")
        .bind(name)
        .bind(id)
        .execute(ex)
        .await?;
    Ok(())
}

/// Sets or clears `deprecated`; false if no such platform.
pub async fn set_deprecated(
    ex: impl MySqlExecutor<'_>,
    id: PlatformId,
    deprecated: bool,
) -> Result<bool, sqlx::Error> {
    let done = sqlx::query("UPDATE platform SET deprecated = ? WHERE id = ?")
        .bind(i32::from(deprecated))
        .bind(id)
        .execute(ex)
        .await?;
    Ok(found_rows::applied(&done))
}
