//! `app_version`: one build of an app for one platform (and plan class).

use sqlx::mysql::MySqlExecutor;

use super::found_rows;
use super::ids::{AppId, AppVersionId, PlatformId};
use super::text::NullableText;

#[derive(Debug, Clone, PartialEq, Default, sqlx::FromRow)]
pub struct AppVersionRow {
    pub id: AppVersionId,
    pub create_time: i32,
    pub appid: AppId,
    /// `major * 100 + minor`: "1.23" is 123.
    pub version_num: i32,
    pub platformid: PlatformId,
    /// The `<file_info>`s and `<app_version>` element sent to clients.
    #[sqlx(try_from = "NullableText")]
    pub xml_doc: String,
    pub min_core_version: i32,
    pub max_core_version: i32,
    pub deprecated: i32,
    /// Empty for the plain CPU version.
    pub plan_class: String,
    pub pfc_n: f64,
    pub pfc_avg: f64,
    pub pfc_scale: f64,
    pub expavg_credit: f64,
    pub expavg_time: f64,
    pub beta: i32,
}

#[derive(Debug, Clone, PartialEq, Default)]
pub struct NewAppVersion<'a> {
    pub create_time: i32,
    pub appid: AppId,
    pub version_num: i32,
    pub platformid: PlatformId,
    pub plan_class: &'a str,
    pub xml_doc: &'a str,
    pub min_core_version: i32,
    pub max_core_version: i32,
    pub beta: bool,
}

pub async fn by_id(
    ex: impl MySqlExecutor<'_>,
    id: AppVersionId,
) -> Result<Option<AppVersionRow>, sqlx::Error> {
    sqlx::query_as("SELECT * FROM app_version WHERE id = ?")
        .bind(id)
        .fetch_optional(ex)
        .await
}

/// The version with this unique key (`apvp`), if registered.
pub async fn by_key(
    ex: impl MySqlExecutor<'_>,
    appid: AppId,
    platformid: PlatformId,
    version_num: i32,
    plan_class: &str,
) -> Result<Option<AppVersionRow>, sqlx::Error> {
    sqlx::query_as(
        "SELECT * FROM app_version WHERE appid = ? AND platformid = ? AND version_num = ? AND plan_class = ?",
    )
    .bind(appid)
    .bind(platformid)
    .bind(version_num)
    .bind(plan_class)
    .fetch_optional(ex)
    .await
}

/// All versions of an app, deprecated or not, by id.
pub async fn for_app(
    ex: impl MySqlExecutor<'_>,
    appid: AppId,
) -> Result<Vec<AppVersionRow>, sqlx::Error> {
    sqlx::query_as("SELECT * FROM app_version WHERE appid = ? ORDER BY id")
        .bind(appid)
        .fetch_all(ex)
        .await
}

/// Versions not deprecated, of all apps, by id (the feeder's list).
pub async fn active(ex: impl MySqlExecutor<'_>) -> Result<Vec<AppVersionRow>, sqlx::Error> {
    sqlx::query_as("SELECT * FROM app_version WHERE deprecated = 0 ORDER BY id")
        .fetch_all(ex)
        .await
}

/// Inserts a version; an existing (app, platform, version, plan class) is a
/// unique violation.
pub async fn insert(
    ex: impl MySqlExecutor<'_>,
    new: &NewAppVersion<'_>,
) -> Result<AppVersionId, sqlx::Error> {
    let done = sqlx::query(
        "INSERT INTO app_version (create_time, appid, version_num, platformid, xml_doc, \
         min_core_version, max_core_version, deprecated, plan_class, beta) \
         VALUES (?, ?, ?, ?, ?, ?, ?, 0, ?, ?)",
    )
    .bind(new.create_time)
    .bind(new.appid)
    .bind(new.version_num)
    .bind(new.platformid)
    .bind(new.xml_doc)
    .bind(new.min_core_version)
    .bind(new.max_core_version)
    .bind(new.plan_class)
    .bind(i32::from(new.beta))
    .execute(ex)
    .await?;
    Ok(AppVersionId(done.last_insert_id() as i64))
}

/// Sets or clears `deprecated`; false if no such version.
pub async fn set_deprecated(
    ex: impl MySqlExecutor<'_>,
    id: AppVersionId,
    deprecated: bool,
) -> Result<bool, sqlx::Error> {
    let done = sqlx::query("UPDATE app_version SET deprecated = ? WHERE id = ?")
        .bind(i32::from(deprecated))
        .bind(id)
        .execute(ex)
        .await?;
    Ok(found_rows::applied(&done))
}
