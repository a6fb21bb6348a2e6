//! The MySQL connection pool, built from the project's `config.xml` settings.
//!
//! Every binary connects through here so that all connections behave like
//! BOINC's own: UPDATE counts are rows matched (checked on each new
//! connection, see [`super::found_rows`]), `||` is MySQL's OR rather than
//! sqlx's default string concatenation, and text is utf8mb4 with the
//! collation make_project gives the database.
//!
//! [`DbSettings`] (from [`crate::config`]) already applies BOINC's `db_host`
//! rules (`host:port`, empty = `localhost`). One difference from the C++
//! daemons remains: the MySQL C client takes `localhost` to mean the Unix
//! socket, while we always connect over TCP, so the server must listen on
//! the loopback address (Debian's MariaDB does by default).

use std::time::Duration;

use sqlx::mysql::{MySqlConnectOptions, MySqlPool, MySqlPoolOptions};

use super::found_rows;
use crate::config::DbSettings;

/// MySQL's port when `db_host` names none.
pub const DEFAULT_PORT: u16 = 3306;

/// Connecting to the database failed.
#[derive(Debug, thiserror::Error)]
#[error("cannot connect to MySQL database `{name}` on {host}:{port} as `{user}`: {source}")]
pub struct ConnectError {
    pub name: String,
    pub host: String,
    pub port: u16,
    pub user: String,
    #[source]
    pub source: sqlx::Error,
}

/// The driver options for `settings`. A whitespace-only password counts as
/// none, as in BOINC (stock make_project writes `<db_passwd>` that way).
pub fn connect_options(settings: &DbSettings) -> MySqlConnectOptions {
    let mut options = MySqlConnectOptions::new()
        .host(&settings.host)
        .port(settings.port.unwrap_or(DEFAULT_PORT))
        .username(&settings.user)
        .database(&settings.name)
        .charset("utf8mb4")
        .collation("utf8mb4_unicode_ci")
        .pipes_as_concat(false);
    let password = settings.password.expose();
    if !password.trim().is_empty() {
        options = options.password(password);
    }
    options
}

/// Pool options with the per-connection found-rows check installed. Start
/// from these when a binary needs a different size or timeout, so the check
/// stays in place: `pool_options().max_connections(20)`.
pub fn pool_options() -> MySqlPoolOptions {
    MySqlPoolOptions::new()
        .max_connections(5)
        .acquire_timeout(Duration::from_secs(30))
        // A slow acquire (the pool waited for the database to come back, or for a busy
        // connection) is not for the operator to act on: a pass that timed out says so.
        .acquire_slow_level(log::LevelFilter::Info)
        .after_connect(|conn, _meta| {
            Box::pin(async move {
                found_rows::verify(conn).await.map_err(|e| match e {
                    found_rows::FoundRowsError::Sql(e) => e,
                    other => sqlx::Error::Configuration(Box::new(other)),
                })
            })
        })
}

/// Connects now (one connection is opened and checked before returning).
pub async fn connect(settings: &DbSettings) -> Result<MySqlPool, ConnectError> {
    connect_with(pool_options(), settings).await
}

/// Like [`connect`] with the caller's pool options (see [`pool_options`]).
pub async fn connect_with(
    pool: MySqlPoolOptions,
    settings: &DbSettings,
) -> Result<MySqlPool, ConnectError> {
    pool.connect_with(connect_options(settings))
        .await
        .map_err(|source| ConnectError {
            name: settings.name.clone(),
            host: settings.host.clone(),
            port: settings.port.unwrap_or(DEFAULT_PORT),
            user: settings.user.clone(),
            source,
        })
}

/// A pool that connects on first use, for daemons that must start (and
/// retry with backoff) while the database is down.
pub fn connect_lazy(settings: &DbSettings) -> MySqlPool {
    pool_options().connect_lazy_with(connect_options(settings))
}
