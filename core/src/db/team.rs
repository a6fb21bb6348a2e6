//! `team`: volunteers' teams; the validator adds granted credit to them.

use sqlx::mysql::MySqlExecutor;

use super::ids::{TeamId, UserId};
use super::text::NullableText;

#[derive(Debug, Clone, PartialEq, Default, sqlx::FromRow)]
pub struct TeamRow {
    pub id: TeamId,
    pub create_time: i32,
    /// The founder.
    pub userid: UserId,
    pub name: String,
    #[sqlx(try_from = "NullableText")]
    pub name_lc: String,
    #[sqlx(try_from = "NullableText")]
    pub url: String,
    #[sqlx(rename = "type")]
    pub team_type: i32,
    #[sqlx(try_from = "NullableText")]
    pub name_html: String,
    #[sqlx(try_from = "NullableText")]
    pub description: String,
    pub nusers: i32,
    #[sqlx(try_from = "NullableText")]
    pub country: String,
    pub total_credit: f64,
    pub expavg_credit: f64,
    pub expavg_time: f64,
    pub seti_id: i32,
    pub ping_user: i32,
    pub ping_time: u32,
    pub joinable: i32,
}

/// A new team; the optional text columns stay NULL, credit starts at 0.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct NewTeam<'a> {
    pub create_time: i32,
    pub userid: UserId,
    pub name: &'a str,
    pub team_type: i32,
}

pub async fn by_id(ex: impl MySqlExecutor<'_>, id: TeamId) -> Result<Option<TeamRow>, sqlx::Error> {
    sqlx::query_as("SELECT * FROM team WHERE id = ?")
        .bind(id)
        .fetch_optional(ex)
        .await
}

pub async fn by_name(
    ex: impl MySqlExecutor<'_>,
    name: &str,
) -> Result<Option<TeamRow>, sqlx::Error> {
    sqlx::query_as("SELECT * FROM team WHERE name = ?")
        .bind(name)
        .fetch_optional(ex)
        .await
}

pub async fn insert(ex: impl MySqlExecutor<'_>, new: &NewTeam<'_>) -> Result<TeamId, sqlx::Error> {
    let done = sqlx::query(
        "INSERT INTO team (create_time, userid, name, name_lc, type, nusers, expavg_time) VALUES (?, ?, ?, ?, ?, 0, ?)",
    )
    .bind(new.create_time)
    .bind(new.userid)
    .bind(new.name)
    .bind(new.name.to_lowercase())
    .bind(new.team_type)
    .bind(f64::from(new.create_time))
    .execute(ex)
    .await?;
    Ok(TeamId(done.last_insert_id() as i64))
}
