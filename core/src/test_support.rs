//! Helpers for tests that need a real MariaDB: a fresh database per test.
//!
//! [`TestDb::new`] creates a uniquely named database (`rbt_<time>_<pid>_<n>`)
//! on the server named by the `DATABASE_URL` environment variable (the
//! repository's `.cargo/config.toml` sets `mysql://root@127.0.0.1:3306/mysql`
//! for `cargo test`; only its server and credentials are used), applies our
//! migrations through the same [`crate::db::migrate`] the binaries use, and
//! drops the database when the `TestDb` is dropped — also when the test
//! panics. Tests that spawn real binaries hand them [`TestDb::url`] or
//! [`TestDb::db_settings`] (e.g. to write a `config.xml`).
//!
//! ```no_run
//! use rboinc_core::db::{self, app};
//! use rboinc_core::test_support::TestDb;
//!
//! #[tokio::test]
//! async fn finds_an_app_by_name() {
//!     let db = TestDb::new().await; // fresh, migrated
//!     let id = app::insert(db.pool(), &app::NewApp { create_time: 1, name: "mnist", user_friendly_name: "MNIST" })
//!         .await
//!         .unwrap();
//!     assert_eq!(app::by_name(db.pool(), "mnist").await.unwrap().unwrap().id, id);
//!     // To run a binary against it: `.env("DATABASE_URL", db.url())`, or
//!     // put `db.db_settings()` into the project's config.xml.
//! } // the database is dropped here
//! ```
//!
//! * `RBOINC_KEEP_TEST_DB=1` keeps the databases for inspection (their names
//!   are printed to stderr); leftovers older than a day, e.g. from a killed
//!   run, are removed by the next `TestDb`.
//! * [`private_mariadb`]: a MariaDB server of the test's own, which it can stop and start
//!   again (a database outage); [`TestDb::create_on`] makes a database on it.
//! * [`stock_lock`]: a process holding a lock file's lock as BOINC's Python `bin/start` does.
//! * [`TestDb::empty`] gives a database without tables, [`TestDb::stock_boinc`]
//!   one with the 46 tables stock BOINC's make_project creates (not migrated).
//! * `#[sqlx::test(migrations = "../migrations")]` also works in crates one
//!   level below the workspace root (it runs sqlx's own migrator, which
//!   on an empty database does what ours does), but gives only a pool, keeps
//!   its bookkeeping table `_sqlx_test_databases` in DATABASE_URL's database,
//!   and creates databases with the server's default collation. Prefer
//!   `TestDb`.

pub mod private_mariadb;
pub mod stock_lock;

use std::str::FromStr;
use std::sync::atomic::{AtomicU32, Ordering};
use std::time::Duration;

use sqlx::mysql::{MySqlConnectOptions, MySqlConnection, MySqlPool};
use sqlx::{AssertSqlSafe, ConnectOptions, Connection, Executor};

use crate::config::{DbSettings, Secret};
use crate::db;

/// Environment variable naming the MySQL server for tests.
pub const DATABASE_URL_VAR: &str = "DATABASE_URL";
/// Set (to anything but `0`) to keep test databases after the test.
pub const KEEP_VAR: &str = "RBOINC_KEEP_TEST_DB";
/// Prefix of every test database's name.
pub const NAME_PREFIX: &str = "rbt_";

const STALE_AFTER: Duration = Duration::from_secs(24 * 3600);

#[derive(Debug, thiserror::Error)]
pub enum TestDbError {
    #[error(
        "{DATABASE_URL_VAR} is not set (the workspace's .cargo/config.toml sets it for cargo test)"
    )]
    NoUrl,
    #[error("{DATABASE_URL_VAR}={url:?} is not a mysql:// URL: {reason}")]
    BadUrl { url: String, reason: String },
    #[error("cannot reach the test MySQL server at {url}: {source}")]
    Server { url: String, source: sqlx::Error },
    #[error(transparent)]
    Connect(Box<db::ConnectError>),
    #[error(transparent)]
    Migrate(#[from] db::MigrateError),
}

impl From<db::ConnectError> for TestDbError {
    fn from(e: db::ConnectError) -> Self {
        TestDbError::Connect(Box::new(e))
    }
}

/// A fresh database on the test server, dropped on `Drop`. See the module doc.
#[derive(Debug)]
pub struct TestDb {
    pool: MySqlPool,
    name: String,
    url: String,
    settings: DbSettings,
    server: MySqlConnectOptions,
    keep: bool,
}

impl TestDb {
    /// A fresh database with all migrations applied. Panics with the reason
    /// if the server cannot be used.
    pub async fn new() -> TestDb {
        match Self::create(true).await {
            Ok(db) => db,
            Err(e) => panic!("TestDb: {e}"),
        }
    }

    /// A fresh database with no tables.
    pub async fn empty() -> TestDb {
        match Self::create(false).await {
            Ok(db) => db,
            Err(e) => panic!("TestDb: {e}"),
        }
    }

    /// A fresh database holding what stock BOINC's make_project creates —
    /// all 46 tables, no rows, not migrated by us — for adoption tests and
    /// for running our binaries against a stock project's database.
    pub async fn stock_boinc() -> TestDb {
        let db = Self::empty().await;
        for statement in stock_boinc_ddl() {
            if let Err(e) = db.pool.execute(AssertSqlSafe(statement.clone())).await {
                panic!("TestDb: stock table failed: {e}\n{statement}");
            }
        }
        db
    }

    /// Like [`TestDb::new`] / [`TestDb::empty`], returning the error.
    pub async fn create(migrated: bool) -> Result<TestDb, TestDbError> {
        let raw = std::env::var(DATABASE_URL_VAR).map_err(|_| TestDbError::NoUrl)?;
        Self::create_on(&raw, migrated).await
    }

    /// Like [`TestDb::create`] on the server of `server_url` (a `mysql://` URL, e.g.
    /// [`private_mariadb::PrivateMariaDb::url`]) rather than `DATABASE_URL`'s.
    pub async fn create_on(server_url: &str, migrated: bool) -> Result<TestDb, TestDbError> {
        let raw = server_url;
        let base = ServerUrl::parse(raw)?;
        let server = base.connect_options()?;
        let mut conn = server
            .connect()
            .await
            .map_err(|source| TestDbError::Server {
                url: base.redacted(),
                source,
            })?;
        remove_stale(&mut conn).await;
        let name = unique_name();
        conn.execute(AssertSqlSafe(format!(
            "CREATE DATABASE `{name}` CHARACTER SET utf8mb4 COLLATE utf8mb4_unicode_ci"
        )))
        .await
        .map_err(|source| TestDbError::Server {
            url: base.redacted(),
            source,
        })?;
        let _ = conn.close().await;

        let keep = std::env::var(KEEP_VAR).is_ok_and(|v| v != "0");
        if keep {
            eprintln!("TestDb: created {name} (kept: {KEEP_VAR} is set)");
        }
        let settings = base.settings(&name);
        let url = base.url_for(&name);
        // From here on `Drop` cleans up, whatever fails next.
        let mut db = TestDb {
            pool: db::pool::connect_lazy(&settings),
            name,
            url,
            settings,
            server,
            keep,
        };
        db.pool = db::connect_with(db::pool_options().max_connections(8), &db.settings).await?;
        if migrated {
            db::migrate(&db.pool).await?;
        }
        Ok(db)
    }

    /// A pool on the database (checked connections, as the binaries get).
    pub fn pool(&self) -> &MySqlPool {
        &self.pool
    }

    /// The database's name.
    pub fn name(&self) -> &str {
        &self.name
    }

    /// `mysql://user[:password]@host:port/<name>`, for child processes.
    pub fn url(&self) -> &str {
        &self.url
    }

    /// The settings a `config.xml` for this database would give
    /// (`db_host`, `db_name`, `db_user`, `db_passwd`).
    pub fn db_settings(&self) -> &DbSettings {
        &self.settings
    }

    /// A new single connection (outside the pool), e.g. to hold a lock.
    pub async fn connect(&self) -> Result<MySqlConnection, sqlx::Error> {
        db::pool::connect_options(&self.settings).connect().await
    }
}

impl Drop for TestDb {
    fn drop(&mut self) {
        if self.keep {
            eprintln!("TestDb: keeping database {}", self.name);
            return;
        }
        let server = self.server.clone();
        let name = self.name.clone();
        // Drop may run inside a runtime (the usual case) or outside one; a
        // thread with its own runtime works in both, and the test's runtime
        // is not needed because the pool's connections are killed, not closed.
        let outcome = std::thread::spawn(move || {
            let rt = tokio::runtime::Builder::new_current_thread()
                .enable_all()
                .build()?;
            rt.block_on(drop_database(&server, &name))
                .map_err(std::io::Error::other)
        })
        .join();
        match outcome {
            Ok(Ok(())) => {}
            Ok(Err(e)) => eprintln!("TestDb: could not drop database {}: {e}", self.name),
            Err(_) => eprintln!("TestDb: dropping database {} panicked", self.name),
        }
    }
}

/// Kills the sessions still using `name` (pool connections, or a test's
/// child processes), so an open transaction cannot block the DROP, then drops it.
async fn drop_database(server: &MySqlConnectOptions, name: &str) -> Result<(), sqlx::Error> {
    let mut conn = server.connect().await?;
    let sessions: Vec<i64> = sqlx::query_scalar(
        "SELECT ID FROM information_schema.PROCESSLIST WHERE DB = ? AND ID <> CONNECTION_ID()",
    )
    .bind(name)
    .fetch_all(&mut conn)
    .await?;
    for id in sessions {
        // It may have ended meanwhile.
        let _ = conn
            .execute(AssertSqlSafe(format!("KILL CONNECTION {id}")))
            .await;
    }
    conn.execute(AssertSqlSafe(format!("DROP DATABASE IF EXISTS `{name}`")))
        .await?;
    let _ = conn.close().await;
    Ok(())
}

/// Drops test databases left over from runs killed before their `Drop`.
/// Best effort: a failure only leaves them for next time.
async fn remove_stale(conn: &mut MySqlConnection) {
    let Ok(names) = sqlx::query_scalar::<_, String>("SHOW DATABASES LIKE 'rbt\\_%'")
        .fetch_all(&mut *conn)
        .await
    else {
        return;
    };
    let now = u64::try_from(crate::clock::now_i64()).unwrap_or(0);
    for name in names {
        let created = name
            .strip_prefix(NAME_PREFIX)
            .and_then(|rest| rest.split('_').next()?.parse::<u64>().ok());
        if created.is_some_and(|t| t + STALE_AFTER.as_secs() < now) {
            let _ = conn
                .execute(AssertSqlSafe(format!("DROP DATABASE IF EXISTS `{name}`")))
                .await;
        }
    }
}

/// `rbt_<unix time>_<pid>_<counter>`: unique across concurrent test
/// processes on one machine, and dated for [`remove_stale`].
fn unique_name() -> String {
    static COUNTER: AtomicU32 = AtomicU32::new(0);
    let n = COUNTER.fetch_add(1, Ordering::Relaxed);
    format!(
        "{NAME_PREFIX}{}_{}_{n}",
        crate::clock::now_i64(),
        std::process::id()
    )
}

/// The parts of DATABASE_URL we use.
#[derive(Debug, Clone)]
struct ServerUrl {
    url: url::Url,
    host: String,
    port: Option<u16>,
    user: String,
    password: String,
}

impl ServerUrl {
    fn parse(raw: &str) -> Result<ServerUrl, TestDbError> {
        let bad = |reason: &str| TestDbError::BadUrl {
            url: raw.to_string(),
            reason: reason.to_string(),
        };
        let url = url::Url::parse(raw).map_err(|e| bad(&e.to_string()))?;
        if url.scheme() != "mysql" && url.scheme() != "mariadb" {
            return Err(bad("the scheme must be mysql://"));
        }
        let host = url.host_str().ok_or_else(|| bad("no host"))?;
        let host = host
            .trim_start_matches('[')
            .trim_end_matches(']')
            .to_string();
        Ok(ServerUrl {
            host,
            port: url.port(),
            user: match url.username() {
                "" => "root".to_string(),
                u => percent_decode(u),
            },
            password: url.password().map(percent_decode).unwrap_or_default(),
            url,
        })
    }

    /// Options for the server without a database selected.
    fn connect_options(&self) -> Result<MySqlConnectOptions, TestDbError> {
        let mut u = self.url.clone();
        u.set_path("");
        MySqlConnectOptions::from_str(u.as_str())
            .map(|o| o.pipes_as_concat(false))
            .map_err(|e| TestDbError::BadUrl {
                url: self.redacted(),
                reason: e.to_string(),
            })
    }

    fn url_for(&self, name: &str) -> String {
        let mut u = self.url.clone();
        u.set_path(&format!("/{name}"));
        u.to_string()
    }

    fn settings(&self, name: &str) -> DbSettings {
        DbSettings {
            name: name.to_string(),
            host: self.host.clone(),
            port: self.port,
            user: self.user.clone(),
            password: Secret::new(self.password.clone()),
        }
    }

    fn redacted(&self) -> String {
        let mut u = self.url.clone();
        if u.password().is_some() {
            let _ = u.set_password(Some("****"));
        }
        u.to_string()
    }
}

const STOCK_TABLES: &str = include_str!("../../fixtures/stock-server/make_project/tables.tsv");
const STOCK_COLUMNS: &str = include_str!("../../fixtures/stock-server/make_project/columns.tsv");
const STOCK_INDEXES: &str = include_str!("../../fixtures/stock-server/make_project/indexes.tsv");

/// `CREATE TABLE` statements for the 46 tables of a stock make_project
/// database, rebuilt from the `information_schema` dumps in
/// `fixtures/stock-server/make_project/` (BOINC's own SQL is not in the
/// repository). The dumps do not record index direction or type: indexes
/// come out ascending, and FULLTEXT where they cover a whole TEXT column
/// (which a BTREE index cannot), as BOINC declares them; the view
/// `latest_consent` and the one foreign key are left out.
pub fn stock_boinc_ddl() -> Vec<String> {
    fn rows(text: &str) -> impl Iterator<Item = Vec<&str>> {
        text.lines().skip(1).map(|l| l.split('\t').collect())
    }
    let mut statements = Vec::new();
    for table in rows(STOCK_TABLES).filter(|t| t[1] == "BASE TABLE") {
        let (name, engine, collation) = (table[0], table[2], table[3]);
        let mut columns: Vec<Vec<&str>> = rows(STOCK_COLUMNS).filter(|c| c[0] == name).collect();
        columns.sort_by_key(|c| c[1].parse::<u32>().unwrap_or(0));
        let mut defs: Vec<String> = columns
            .iter()
            .map(|c| {
                let mut def = format!(
                    "`{}` {} {}",
                    c[2],
                    c[3],
                    if c[4] == "YES" { "NULL" } else { "NOT NULL" }
                );
                if c[5] != "NULL" {
                    def += &format!(" DEFAULT {}", c[5]);
                }
                if !c[7].is_empty() {
                    def += &format!(" {}", c[7]);
                }
                def
            })
            .collect();
        let mut index_names: Vec<&str> = rows(STOCK_INDEXES)
            .filter(|i| i[0] == name)
            .map(|i| i[1])
            .collect();
        index_names.dedup();
        for index in index_names {
            let mut parts: Vec<Vec<&str>> = rows(STOCK_INDEXES)
                .filter(|i| i[0] == name && i[1] == index)
                .collect();
            parts.sort_by_key(|p| p[3].parse::<u32>().unwrap_or(0));
            let whole_text = parts.iter().any(|p| {
                p[5] == "NULL"
                    && columns
                        .iter()
                        .any(|c| c[2] == p[4] && (c[3].ends_with("text") || c[3].ends_with("blob")))
            });
            let cols: Vec<String> = parts
                .iter()
                .map(|p| {
                    if p[5] == "NULL" {
                        format!("`{}`", p[4])
                    } else {
                        format!("`{}`({})", p[4], p[5])
                    }
                })
                .collect();
            let kind = if index == "PRIMARY" {
                "PRIMARY KEY".to_string()
            } else if whole_text {
                format!("FULLTEXT KEY `{index}`")
            } else if parts[0][2] == "0" {
                format!("UNIQUE KEY `{index}`")
            } else {
                format!("KEY `{index}`")
            };
            defs.push(format!("{kind} ({})", cols.join(", ")));
        }
        statements.push(format!(
            "CREATE TABLE `{name}` (\n    {}\n) ENGINE={engine} DEFAULT CHARSET=utf8mb4 COLLATE={collation}",
            defs.join(",\n    ")
        ));
    }
    statements
}

/// Decodes `%XX` escapes (URL user info); other bytes pass through.
fn percent_decode(s: &str) -> String {
    let bytes = s.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        let hex = bytes
            .get(i + 1..i + 3)
            .and_then(|h| u8::from_str_radix(std::str::from_utf8(h).ok()?, 16).ok());
        match (bytes[i], hex) {
            (b'%', Some(b)) => {
                out.push(b);
                i += 3;
            }
            (c, _) => {
                out.push(c);
                i += 1;
            }
        }
    }
    String::from_utf8_lossy(&out).into_owned()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn urls_are_parsed_and_rebuilt() {
        let s =
            ServerUrl::parse("mysql://bo%40x:p%3Aw@db.example.org:3307/mysql?ssl-mode=disabled")
                .unwrap();
        assert_eq!(
            (
                s.host.as_str(),
                s.port,
                s.user.as_str(),
                s.password.as_str()
            ),
            ("db.example.org", Some(3307), "bo@x", "p:w")
        );
        assert_eq!(
            s.url_for("rbt_1"),
            "mysql://bo%40x:p%3Aw@db.example.org:3307/rbt_1?ssl-mode=disabled"
        );
        assert_eq!(
            s.redacted(),
            "mysql://bo%40x:****@db.example.org:3307/mysql?ssl-mode=disabled"
        );
        let d = s.settings("rbt_1");
        assert_eq!((d.name.as_str(), d.password.expose()), ("rbt_1", "p:w"));

        let s = ServerUrl::parse("mysql://root@127.0.0.1:3306/mysql").unwrap();
        assert_eq!(
            (s.host.as_str(), s.port, s.password.as_str()),
            ("127.0.0.1", Some(3306), "")
        );
        assert_eq!(s.url_for("rbt_2"), "mysql://root@127.0.0.1:3306/rbt_2");
        assert!(ServerUrl::parse("postgres://x@y/z").is_err());
    }

    #[test]
    fn names_are_unique_and_dated() {
        let a = unique_name();
        let b = unique_name();
        assert_ne!(a, b);
        let t: u64 = a
            .strip_prefix(NAME_PREFIX)
            .unwrap()
            .split('_')
            .next()
            .unwrap()
            .parse()
            .unwrap();
        assert!(t.abs_diff(u64::try_from(crate::clock::now_i64()).unwrap()) < 5);
    }
}
