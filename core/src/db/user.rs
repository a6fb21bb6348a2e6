//! `user`: volunteers' accounts.

use sqlx::mysql::{MySqlConnection, MySqlExecutor};

use super::found_rows;
use super::ids::{TeamId, UserId};
use super::text::NullableText;
use crate::auth;

#[derive(Debug, Clone, PartialEq, Default, sqlx::FromRow)]
pub struct UserRow {
    pub id: UserId,
    pub create_time: i32,
    pub email_addr: String,
    #[sqlx(try_from = "NullableText")]
    pub name: String,
    /// The account key clients send; see [`crate::auth`].
    #[sqlx(try_from = "NullableText")]
    pub authenticator: String,
    #[sqlx(try_from = "NullableText")]
    pub country: String,
    #[sqlx(try_from = "NullableText")]
    pub postal_code: String,
    pub total_credit: f64,
    pub expavg_credit: f64,
    pub expavg_time: f64,
    #[sqlx(try_from = "NullableText")]
    pub global_prefs: String,
    #[sqlx(try_from = "NullableText")]
    pub project_prefs: String,
    /// 0 = no team.
    pub teamid: TeamId,
    pub venue: String,
    #[sqlx(try_from = "NullableText")]
    pub url: String,
    pub send_email: i32,
    pub show_hosts: i32,
    /// Reused by BOINC as the weak-authenticator salt.
    pub posts: i32,
    pub seti_id: i32,
    pub seti_nresults: i32,
    pub seti_last_result_time: i32,
    pub seti_total_cpu: f64,
    #[sqlx(try_from = "NullableText")]
    pub signature: String,
    pub has_profile: i32,
    pub cross_project_id: String,
    /// Stored password hash (bcrypt, or a legacy client hash); see [`crate::auth`].
    pub passwd_hash: String,
    pub email_validated: i32,
    pub donated: i32,
    pub login_token: String,
    pub login_token_time: f64,
    pub previous_email_addr: String,
    pub email_addr_change_time: f64,
}

impl UserRow {
    /// The fields [`auth::passwd_hash_matches`] checks a login against.
    pub fn secrets(&self) -> auth::AccountSecrets<'_> {
        auth::AccountSecrets {
            email_addr: &self.email_addr,
            authenticator: (!self.authenticator.is_empty()).then_some(self.authenticator.as_str()),
            passwd_hash: &self.passwd_hash,
        }
    }
}

/// A complete new `user` row, for [`insert`]. Columns not listed get 0 / ''
/// (as BOINC's account creation gives them), except `expavg_time`, which
/// starts at `create_time`.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct NewUser<'a> {
    pub create_time: i32,
    pub email_addr: &'a str,
    pub name: &'a str,
    pub authenticator: &'a str,
    pub country: &'a str,
    /// Stored password hash, e.g. from [`auth::stored_passwd_hash`].
    pub passwd_hash: &'a str,
    pub cross_project_id: &'a str,
    pub teamid: TeamId,
    pub send_email: bool,
    pub show_hosts: bool,
}

pub async fn by_id(ex: impl MySqlExecutor<'_>, id: UserId) -> Result<Option<UserRow>, sqlx::Error> {
    sqlx::query_as("SELECT * FROM user WHERE id = ?")
        .bind(id)
        .fetch_optional(ex)
        .await
}

/// The account a scheduler request's `<authenticator>` names.
pub async fn by_authenticator(
    ex: impl MySqlExecutor<'_>,
    authenticator: &str,
) -> Result<Option<UserRow>, sqlx::Error> {
    sqlx::query_as("SELECT * FROM user WHERE authenticator = ?")
        .bind(authenticator)
        .fetch_optional(ex)
        .await
}

/// Lookup by email address (compared with the column's case-insensitive
/// collation, as BOINC's lookups are).
pub async fn by_email(
    ex: impl MySqlExecutor<'_>,
    email_addr: &str,
) -> Result<Option<UserRow>, sqlx::Error> {
    sqlx::query_as("SELECT * FROM user WHERE email_addr = ?")
        .bind(email_addr)
        .fetch_optional(ex)
        .await
}

/// Inserts a user row with every NOT NULL column filled.
pub async fn insert(ex: impl MySqlExecutor<'_>, new: &NewUser<'_>) -> Result<UserId, sqlx::Error> {
    let done = sqlx::query(
        "INSERT INTO user (create_time, email_addr, name, authenticator, country, postal_code, \
         total_credit, expavg_credit, expavg_time, project_prefs, teamid, venue, send_email, show_hosts, \
         posts, seti_id, seti_nresults, seti_last_result_time, seti_total_cpu, has_profile, \
         cross_project_id, passwd_hash, email_validated, donated) \
         VALUES (?, ?, ?, ?, ?, '', 0, 0, ?, '', ?, '', ?, ?, 0, 0, 0, 0, 0, 0, ?, ?, 0, 0)",
    )
    .bind(new.create_time)
    .bind(new.email_addr)
    .bind(new.name)
    .bind(new.authenticator)
    .bind(new.country)
    .bind(f64::from(new.create_time))
    .bind(new.teamid)
    .bind(i32::from(new.send_email))
    .bind(i32::from(new.show_hosts))
    .bind(new.cross_project_id)
    .bind(new.passwd_hash)
    .execute(ex)
    .await?;
    Ok(UserId(done.last_insert_id() as i64))
}

/// What a volunteer asks for when creating an account (the
/// `create_account` RPC or a tool).
#[derive(Debug, Clone, PartialEq)]
pub struct NewAccount<'a> {
    pub email_addr: &'a str,
    pub name: &'a str,
    /// The client's `md5(password + lowercase(email))`
    /// ([`auth::client_passwd_hash`]).
    pub client_passwd_hash: &'a str,
    pub create_time: i32,
    /// BOINC's account RPC writes `International`.
    pub country: &'a str,
    /// `false` if the project sets `enable_privacy_by_default`.
    pub show_hosts: bool,
}

#[derive(Debug, thiserror::Error)]
pub enum CreateAccountError {
    /// BOINC answers ERR_DB_NOT_UNIQUE (-137).
    #[error("an account with email address {0} already exists")]
    EmailTaken(String),
    #[error("an account named {0:?} already exists")]
    NameTaken(String),
    #[error(transparent)]
    Hash(#[from] auth::HashError),
    #[error("database error creating an account: {0}")]
    Sql(#[from] sqlx::Error),
}

/// Creates an account as BOINC's `make_user()` does: lowercased email,
/// fresh authenticator and cross-project id, bcrypt-stored password hash,
/// `send_email = 1`. Returns the new row. Taken email addresses and names
/// are reported as such; nothing is written then.
pub async fn create_account(
    conn: &mut MySqlConnection,
    new: &NewAccount<'_>,
) -> Result<UserRow, CreateAccountError> {
    let email_addr = new.email_addr.to_ascii_lowercase();
    let client_hash = new.client_passwd_hash.to_string();
    let passwd_hash = tokio::task::spawn_blocking(move || auth::stored_passwd_hash(&client_hash))
        .await
        .expect("password hashing does not panic")?;
    let authenticator = auth::new_authenticator();
    let cross_project_id = auth::new_cross_project_id();
    let row = NewUser {
        create_time: new.create_time,
        email_addr: &email_addr,
        name: new.name,
        authenticator: &authenticator,
        country: new.country,
        passwd_hash: &passwd_hash,
        cross_project_id: &cross_project_id,
        teamid: TeamId(0),
        send_email: true,
        show_hosts: new.show_hosts,
    };
    let id = match insert(&mut *conn, &row).await {
        Ok(id) => id,
        Err(e)
            if e.as_database_error()
                .is_some_and(|d| d.is_unique_violation()) =>
        {
            if by_email(&mut *conn, &email_addr).await?.is_some() {
                return Err(CreateAccountError::EmailTaken(email_addr));
            }
            return Err(CreateAccountError::NameTaken(new.name.to_string()));
        }
        Err(e) => return Err(e.into()),
    };
    by_id(&mut *conn, id)
        .await?
        .ok_or(CreateAccountError::Sql(sqlx::Error::RowNotFound))
}

/// Records the cross-project id a client reported; false if no such user.
pub async fn set_cross_project_id(
    ex: impl MySqlExecutor<'_>,
    id: UserId,
    cpid: &str,
) -> Result<bool, sqlx::Error> {
    let done = sqlx::query("UPDATE user SET cross_project_id = ? WHERE id = ?")
        .bind(cpid)
        .bind(id)
        .execute(ex)
        .await?;
    Ok(found_rows::applied(&done))
}
