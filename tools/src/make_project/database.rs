//! The project database: created (or an existing one adopted), migrated, and given the
//! platform, the app and the submitter's account.

use rboinc_core::auth;
use rboinc_core::config::DbSettings;
use rboinc_core::db::{self, AppId, PlatformId, UserId, user};
use sqlx::mysql::MySqlConnectOptions;
use sqlx::{AssertSqlSafe, ConnectOptions, Connection, Executor};

use super::MakeProjectError;

/// What the database step did.
#[derive(Debug, Clone, PartialEq)]
pub struct DbOutcome {
    /// The database did not exist and was created.
    pub created: bool,
    /// Migrations run now (versions).
    pub migrations_applied: Vec<i64>,
    /// The database held BOINC tables made by stock BOINC, now adopted.
    pub adopted_stock: bool,
    pub platform_id: PlatformId,
    pub app_id: AppId,
}

/// The submitter's account.
#[derive(Debug, Clone, PartialEq)]
pub struct Account {
    pub user_id: UserId,
    pub email: String,
    pub authenticator: String,
    /// False if an account with this email already existed (adopted database).
    pub created: bool,
}

fn server_options(s: &DbSettings) -> MySqlConnectOptions {
    let mut o = MySqlConnectOptions::new()
        .host(&s.host)
        .port(s.port.unwrap_or(db::pool::DEFAULT_PORT))
        .username(&s.user)
        .charset("utf8mb4");
    if !s.password.expose().trim().is_empty() {
        o = o.password(s.password.expose());
    }
    o
}

/// A database name we are willing to put into `CREATE DATABASE` unquoted-safe.
pub fn check_db_name(name: &str) -> Result<(), MakeProjectError> {
    let ok = !name.is_empty()
        && name.len() <= 64
        && name
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'_' || b == b'$');
    if ok {
        Ok(())
    } else {
        Err(MakeProjectError::BadOption(format!(
            "--db_name {name:?}: use letters, digits and '_' only (at most 64)"
        )))
    }
}

/// Creates the database if it does not exist. Returns whether it was created.
pub async fn ensure_database(s: &DbSettings) -> Result<bool, MakeProjectError> {
    check_db_name(&s.name)?;
    let connect_err = |source: sqlx::Error| MakeProjectError::DbServer {
        host: s.host.clone(),
        port: s.port.unwrap_or(db::pool::DEFAULT_PORT),
        user: s.user.clone(),
        source,
    };
    let mut conn = server_options(s).connect().await.map_err(connect_err)?;
    let exists: Option<String> = sqlx::query_scalar(
        "SELECT SCHEMA_NAME FROM information_schema.SCHEMATA WHERE SCHEMA_NAME = ?",
    )
    .bind(&s.name)
    .fetch_optional(&mut conn)
    .await?;
    if exists.is_some() {
        let _ = conn.close().await;
        return Ok(false);
    }
    conn.execute(AssertSqlSafe(format!(
        "CREATE DATABASE `{}` CHARACTER SET utf8mb4 COLLATE utf8mb4_unicode_ci",
        s.name
    )))
    .await?;
    let _ = conn.close().await;
    Ok(true)
}

/// Drops a database this run created (clean-up after a later failure).
pub async fn drop_database(s: &DbSettings) -> Result<(), sqlx::Error> {
    let mut conn = server_options(s).connect().await?;
    conn.execute(AssertSqlSafe(format!(
        "DROP DATABASE IF EXISTS `{}`",
        s.name
    )))
    .await?;
    let _ = conn.close().await;
    Ok(())
}

/// Migrates the database and adds the platform and the app that `project.xml` lists, as
/// `xadd` does (reusing existing rows).
pub async fn prepare(
    pool: &db::Pool,
    created: bool,
    platform_name: &str,
    platform_friendly: &str,
    app_name: &str,
    app_friendly: &str,
    now: i32,
) -> Result<DbOutcome, MakeProjectError> {
    let report = db::migrate(pool).await?;
    let mut conn = pool.acquire().await?;
    let (platform_id, _) = crate::xadd::add_platform(
        &mut conn,
        &crate::xadd::Listed {
            name: platform_name.to_string(),
            user_friendly_name: platform_friendly.to_string(),
        },
        now,
    )
    .await?;
    let (app_id, _) = crate::xadd::add_app(
        &mut conn,
        &crate::xadd::ListedApp {
            name: app_name.to_string(),
            user_friendly_name: app_friendly.to_string(),
            min_version: 0,
        },
        now,
    )
    .await?;
    Ok(DbOutcome {
        created,
        migrations_applied: report.applied.iter().map(|m| m.version).collect(),
        adopted_stock: report.starting == db::migrate::Starting::StockBoinc,
        platform_id,
        app_id,
    })
}

/// Creates the submitter's account (or finds it, in an adopted database).
pub async fn submitter_account(
    pool: &db::Pool,
    email: &str,
    name: &str,
    now: i32,
) -> Result<Account, MakeProjectError> {
    if let Some(u) = user::by_email(pool, email).await? {
        return Ok(Account {
            user_id: u.id,
            email: u.email_addr,
            authenticator: u.authenticator,
            created: false,
        });
    }
    // Nobody logs in with this password (clients attach with the authenticator); it only has
    // to be unguessable.
    let password = super::secrets::random_password(24);
    let mut conn = pool.acquire().await?;
    let row = user::create_account(
        &mut conn,
        &user::NewAccount {
            email_addr: email,
            name,
            client_passwd_hash: &auth::client_passwd_hash(&password, email),
            create_time: now,
            country: "International",
            show_hosts: true,
        },
    )
    .await
    .map_err(|e| MakeProjectError::Account(e.to_string()))?;
    Ok(Account {
        user_id: row.id,
        email: row.email_addr,
        authenticator: row.authenticator,
        created: true,
    })
}
