//! The MySQL connection pool, built from the project's `config.xml` settings.
//!
//! Every binary connects through here so that all connections behave like
//! BOINC's own: UPDATE counts are rows matched (checked on each new
//! connection, see [`super::found_rows`]), `||` is MySQL's OR rather than
//! sqlx's default string concatenation, and text is utf8mb4 with the
//! collation make_project gives the database.
//!
//! [`DbSettings`] (from [`crate::config`]) already applies BOINC's `db_host`
//! rules (`host:port`, empty = `localhost`). Like the MySQL C client the C++
//! daemons use, a bare `localhost` means the local server's Unix socket (see
//! [`local_socket`]): a server started with `skip-networking` works, and a
//! socket costs the database less CPU per statement than loopback TCP. Two
//! deliberate differences: `localhost:PORT` is TCP to that port (the C client
//! would ignore the port and use the socket, which reaches a different server
//! when several run on one machine), and when no socket file exists a bare
//! `localhost` falls back to TCP port 3306 instead of failing.

use std::path::PathBuf;
use std::time::Duration;

use sqlx::ConnectOptions;
use sqlx::mysql::{MySqlConnectOptions, MySqlPool, MySqlPoolOptions};

use super::found_rows;
use crate::config::DbSettings;

/// MySQL's port when `db_host` names none.
pub const DEFAULT_PORT: u16 = 3306;

/// Where the MySQL C client looks for the local server's socket when no
/// `MYSQL_UNIX_PORT` is set: Debian's and Ubuntu's path first, then the
/// upstream default.
const SOCKET_PATHS: [&str; 3] = [
    "/run/mysqld/mysqld.sock",
    "/var/run/mysqld/mysqld.sock",
    "/tmp/mysql.sock",
];

/// Connecting to the database failed.
#[derive(Debug, thiserror::Error)]
#[error("cannot connect to MySQL database `{name}` on {} as `{user}`: {source}", place(.host, *.port, .socket.as_ref()))]
pub struct ConnectError {
    pub name: String,
    pub host: String,
    pub port: u16,
    /// The Unix socket tried, when `db_host` was a bare `localhost`.
    pub socket: Option<PathBuf>,
    pub user: String,
    #[source]
    pub source: sqlx::Error,
}

fn place(host: &str, port: u16, socket: Option<&PathBuf>) -> String {
    match socket {
        Some(path) => format!("{host} (socket {})", path.display()),
        None => format!("{host}:{port}"),
    }
}

/// The Unix socket a bare `localhost` connects through: `MYSQL_UNIX_PORT`
/// when set (as the C client reads it), else the first of [`SOCKET_PATHS`]
/// that exists. `None`: connect over TCP.
pub fn local_socket() -> Option<PathBuf> {
    if let Some(path) = std::env::var_os("MYSQL_UNIX_PORT").filter(|p| !p.is_empty()) {
        return Some(PathBuf::from(path));
    }
    SOCKET_PATHS.iter().map(PathBuf::from).find(|p| p.exists())
}

/// The socket `settings` connect through, if any (see the module docs).
pub fn socket_for(settings: &DbSettings) -> Option<PathBuf> {
    (settings.host == "localhost" && settings.port.is_none())
        .then(local_socket)
        .flatten()
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
    if let Some(socket) = socket_for(settings) {
        options = options.socket(socket);
    }
    // The driver's own "slow statement" line (over 1 s) is a WARN by default. A slow statement
    // is a symptom of load or of a lock held elsewhere, which the scheduler's latency histogram
    // (`rboinc_scheduler_rpc_duration_seconds`) measures; at WARN it would put a line no operator can act on into the
    // logs of a busy but healthy server.
    options.log_slow_statements(log::LevelFilter::Info, Duration::from_secs(1))
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
            socket: socket_for(settings),
            user: settings.user.clone(),
            source,
        })
}

/// A pool that connects on first use, for daemons that must start (and
/// retry with backoff) while the database is down.
pub fn connect_lazy(settings: &DbSettings) -> MySqlPool {
    pool_options().connect_lazy_with(connect_options(settings))
}
