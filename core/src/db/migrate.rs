//! Bringing a database to the schema this build expects.
//!
//! The migrations in the repository's `migrations/` folder are compiled into
//! every binary. Version 1 (the baseline) creates BOINC's own 17 tables;
//! later versions add rboinc's tables (named `rb_…`, see
//! `migrations/README.md`). The bookkeeping is sqlx's `_sqlx_migrations`.
//!
//! [`migrate`] handles the three databases it can meet:
//!
//! * **empty** (no BOINC table): every migration is applied;
//! * **made by stock BOINC** (BOINC tables, no `_sqlx_migrations`): the
//!   tables are compared with the baseline ([`super::difference::compare`]); if
//!   nothing fatal differs the baseline is *recorded* as applied without
//!   running it, and the later migrations are applied. BOINC's tables and
//!   rows are never dropped or altered; any fatal difference aborts with
//!   [`MigrateError::Incompatible`] listing them all, before anything is
//!   written;
//! * **already managed** (`_sqlx_migrations` present): pending migrations
//!   are applied; sqlx checks that applied ones were not edited since.
//!
//! The whole decision runs under a named lock (`GET_LOCK`) per database,
//! so several binaries starting at once cannot adopt or migrate twice. It
//! is our own lock: sqlx's asks for an infinite wait with a negative
//! timeout, which MariaDB rejects (GET_LOCK returns NULL with a warning and
//! locks nothing), so sqlx's locking is switched off in [`migrator`].

use std::collections::BTreeSet;
use std::sync::LazyLock;

use md5::{Digest, Md5};
use sqlx::migrate::{Migrate, Migrator};
use sqlx::mysql::{MySqlConnection, MySqlPool};

use super::difference::{Difference, compare};
use super::schema::{BOINC_TABLES, Schema};

static EMBEDDED: Migrator = sqlx::migrate!("../migrations");

/// All migrations of this build (embedded from `migrations/`), with sqlx's
/// own locking off. Run them through [`migrate`], which locks and adopts.
pub fn migrator() -> &'static Migrator {
    static MIGRATOR: LazyLock<Migrator> = LazyLock::new(|| {
        let mut m = Migrator::with_migrations(EMBEDDED.iter().cloned().collect());
        m.set_locking(false);
        m
    });
    &MIGRATOR
}

/// How long to wait for another process's migration before giving up.
const LOCK_WAIT_SECS: u32 = 600;

/// Version of the migration that creates BOINC's tables.
pub const BASELINE_VERSION: i64 = 1;

/// sqlx's bookkeeping table.
const BOOKKEEPING_TABLE: &str = "_sqlx_migrations";

/// What the database looked like before [`migrate`] ran.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Starting {
    /// No BOINC tables: everything was created.
    Empty,
    /// BOINC tables made by stock BOINC: the baseline was adopted.
    StockBoinc,
    /// Already migrated by rboinc before.
    Managed,
}

/// One migration applied (or adopted) by this run.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AppliedMigration {
    pub version: i64,
    pub description: String,
}

/// What [`migrate`] did.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct MigrationReport {
    pub starting: Starting,
    /// Migrations executed now, in order (the adopted baseline is not
    /// among them: it was recorded, not run).
    pub applied: Vec<AppliedMigration>,
    /// When adopting: differences from stock BOINC that we can live with
    /// (each worth a log line).
    pub tolerated: Vec<Difference>,
}

impl MigrationReport {
    /// True if the run changed nothing.
    pub fn is_noop(&self) -> bool {
        self.starting == Starting::Managed && self.applied.is_empty()
    }
}

#[derive(Debug, thiserror::Error)]
pub enum MigrateError {
    #[error("database error while migrating: {0}")]
    Sql(#[from] sqlx::Error),
    #[error("{0}")]
    Migrate(#[from] sqlx::migrate::MigrateError),
    #[error("no database selected on the connection")]
    NoDatabase,
    #[error(
        "another process has been migrating database `{0}` for over {LOCK_WAIT_SECS} s; try again later"
    )]
    LockTimeout(String),
    #[error("MySQL refused the migration lock for database `{0}`")]
    LockRefused(String),
    /// The BOINC tables exist but are not what rboinc can work with.
    #[error(
        "database `{database}` has BOINC tables that rboinc cannot adopt; nothing was changed.\n{}",
        list(differences)
    )]
    Incompatible {
        database: String,
        differences: Vec<Difference>,
    },
}

fn list(differences: &[Difference]) -> String {
    differences
        .iter()
        .map(|d| format!("  - {}{d}", if d.fatal { "" } else { "(tolerated) " }))
        .collect::<Vec<_>>()
        .join("\n")
}

/// Brings the pool's database up to date; see the module doc.
pub async fn migrate(pool: &MySqlPool) -> Result<MigrationReport, MigrateError> {
    let mut conn = pool.acquire().await?;
    migrate_connection(&mut conn).await
}

/// [`migrate`] on one connection.
pub async fn migrate_connection(
    conn: &mut MySqlConnection,
) -> Result<MigrationReport, MigrateError> {
    let database: Option<String> = sqlx::query_scalar("SELECT DATABASE()")
        .fetch_one(&mut *conn)
        .await?;
    let database = database.ok_or(MigrateError::NoDatabase)?;
    // Lock names are server-wide and at most 64 characters.
    let lock = format!(
        "rboinc_migrate_{}",
        hex::encode(Md5::digest(database.as_bytes()))
    );
    let got: Option<i64> = sqlx::query_scalar("SELECT GET_LOCK(?, ?)")
        .bind(&lock)
        .bind(LOCK_WAIT_SECS)
        .fetch_one(&mut *conn)
        .await?;
    match got {
        Some(1) => {}
        Some(_) => return Err(MigrateError::LockTimeout(database)),
        None => return Err(MigrateError::LockRefused(database)),
    }
    let outcome = migrate_locked(conn, database).await;
    let released = sqlx::query("SELECT RELEASE_LOCK(?)")
        .bind(&lock)
        .execute(&mut *conn)
        .await;
    let report = outcome?;
    released?;
    Ok(report)
}

async fn migrate_locked(
    conn: &mut MySqlConnection,
    database: String,
) -> Result<MigrationReport, MigrateError> {
    let existing: BTreeSet<String> = sqlx::query_scalar(
        "SELECT TABLE_NAME FROM information_schema.TABLES WHERE TABLE_SCHEMA = DATABASE()",
    )
    .fetch_all(&mut *conn)
    .await?
    .into_iter()
    .collect();
    let migrator = migrator();

    let (starting, tolerated, before) = if existing.contains(BOOKKEEPING_TABLE) {
        let before = applied_versions(conn).await?;
        (Starting::Managed, Vec::new(), before)
    } else if BOINC_TABLES.iter().all(|t| !existing.contains(*t)) {
        (Starting::Empty, Vec::new(), BTreeSet::new())
    } else {
        let live = Schema::read(conn, &BOINC_TABLES).await?;
        let differences = compare(Schema::baseline(), &live);
        if differences.iter().any(|d| d.fatal) {
            return Err(MigrateError::Incompatible {
                database,
                differences,
            });
        }
        // Record the baseline as applied without executing it.
        migrator.skip(&mut *conn, Some(BASELINE_VERSION)).await?;
        (
            Starting::StockBoinc,
            differences,
            applied_versions(conn).await?,
        )
    };

    migrator.run(&mut *conn).await?;

    let after = applied_versions(conn).await?;
    let applied = migrator
        .iter()
        .filter(|m| after.contains(&m.version) && !before.contains(&m.version))
        .map(|m| AppliedMigration {
            version: m.version,
            description: m.description.to_string(),
        })
        .collect();
    Ok(MigrationReport {
        starting,
        applied,
        tolerated,
    })
}

async fn applied_versions(conn: &mut MySqlConnection) -> Result<BTreeSet<i64>, MigrateError> {
    Ok(conn
        .list_applied_migrations(BOOKKEEPING_TABLE)
        .await?
        .into_iter()
        .map(|m| m.version)
        .collect())
}
