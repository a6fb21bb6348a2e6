//! The migrations against a real MariaDB: an empty database ends up exactly
//! like the one stock BOINC's make_project creates, as recorded in
//! `fixtures/stock-server/make_project/{columns,indexes,tables}.tsv`.

use rboinc_core::db::migrate::{BASELINE_VERSION, Starting, migrate_connection, migrator};
use rboinc_core::db::schema::{BOINC_TABLES, Schema};
use rboinc_core::db::{self, migrate};
use rboinc_core::test_support::TestDb;
use sqlx::AssertSqlSafe;

const FIXTURE_TABLES: &str = include_str!("../../fixtures/stock-server/make_project/tables.tsv");
const FIXTURE_COLUMNS: &str = include_str!("../../fixtures/stock-server/make_project/columns.tsv");
const FIXTURE_INDEXES: &str = include_str!("../../fixtures/stock-server/make_project/indexes.tsv");

/// The fixture's rows for our 17 tables, first `fields` fields, sorted.
fn fixture_rows(text: &str, fields: usize) -> Vec<String> {
    let mut rows: Vec<String> = text
        .lines()
        .skip(1)
        .map(|l| l.split('\t').take(fields).collect::<Vec<_>>())
        .filter(|f| BOINC_TABLES.contains(&f[0]))
        .map(|f| f.join("\t"))
        .collect();
    rows.sort();
    rows
}

fn truncated(lines: Vec<String>, fields: usize) -> Vec<String> {
    let mut rows: Vec<String> = lines
        .iter()
        .map(|l| l.split('\t').take(fields).collect::<Vec<_>>().join("\t"))
        .collect();
    rows.sort();
    rows
}

async fn live_schema(db: &TestDb) -> Schema {
    let mut conn = db.pool().acquire().await.unwrap();
    Schema::read(&mut conn, &BOINC_TABLES).await.unwrap()
}

/// The expected data we carry is the fixture's, for our 17 tables: 278
/// columns and 58 indexes (75 index columns).
#[test]
fn expected_schema_is_the_fixture_subset() {
    let baseline = Schema::baseline();
    let columns = fixture_rows(FIXTURE_COLUMNS, 8);
    assert_eq!(columns.len(), 278);
    assert_eq!(truncated(baseline.column_lines(), 8), columns);
    let indexes = fixture_rows(FIXTURE_INDEXES, 6);
    assert_eq!(indexes.len(), 75);
    assert_eq!(truncated(baseline.index_lines(), 6), indexes);
    assert_eq!(
        truncated(baseline.table_lines(), 4),
        fixture_rows(FIXTURE_TABLES, 4)
    );
}

#[tokio::test]
async fn empty_database_gets_the_stock_boinc_tables() {
    let db = TestDb::empty().await;
    let report = migrate(db.pool()).await.unwrap();
    assert_eq!(report.starting, Starting::Empty);
    let versions: Vec<i64> = report.applied.iter().map(|m| m.version).collect();
    let all: Vec<i64> = migrator().iter().map(|m| m.version).collect();
    assert_eq!(versions, all);
    assert_eq!(versions[0], BASELINE_VERSION);
    assert!(report.tolerated.is_empty());

    let live = live_schema(&db).await;
    // Exactly the fixture's information_schema rows...
    assert_eq!(
        truncated(live.column_lines(), 8),
        fixture_rows(FIXTURE_COLUMNS, 8)
    );
    assert_eq!(
        truncated(live.index_lines(), 6),
        fixture_rows(FIXTURE_INDEXES, 6)
    );
    assert_eq!(
        truncated(live.table_lines(), 4),
        fixture_rows(FIXTURE_TABLES, 4)
    );
    // ...and the index directions and FULLTEXT type the dump left out.
    let mut want = Schema::baseline().index_lines();
    let mut got = live.index_lines();
    want.sort();
    got.sort();
    assert_eq!(got, want);
    assert_eq!(&live, Schema::baseline());
}

#[tokio::test]
async fn running_again_changes_nothing() {
    let db = TestDb::new().await;
    let before = live_schema(&db).await;
    let report = migrate(db.pool()).await.unwrap();
    assert_eq!(report.starting, Starting::Managed);
    assert!(report.applied.is_empty(), "{report:?}");
    assert!(report.is_noop());
    assert_eq!(live_schema(&db).await, before);
}

/// Two binaries starting together: the lock makes one migrate and the
/// other find the work done.
#[tokio::test]
async fn concurrent_runs_migrate_once() {
    let db = TestDb::empty().await;
    let (mut a, mut b) = (db.connect().await.unwrap(), db.connect().await.unwrap());
    let (ra, rb) = tokio::join!(migrate_connection(&mut a), migrate_connection(&mut b));
    let (ra, rb) = (ra.unwrap(), rb.unwrap());
    let mut starts = [ra.starting, rb.starting];
    starts.sort_by_key(|s| format!("{s:?}"));
    assert_eq!(starts, [Starting::Empty, Starting::Managed]);
    assert_eq!(
        ra.applied.len() + rb.applied.len(),
        migrator().iter().count()
    );
    let applied: i64 = sqlx::query_scalar("SELECT COUNT(*) FROM _sqlx_migrations WHERE success")
        .fetch_one(db.pool())
        .await
        .unwrap();
    assert_eq!(applied as usize, migrator().iter().count());
}

#[tokio::test]
async fn a_connection_without_a_database_is_refused() {
    let db = TestDb::empty().await;
    let mut conn = db.connect().await.unwrap();
    // Dropping the selected database leaves the session with none.
    sqlx::query(AssertSqlSafe(format!("DROP DATABASE `{}`", db.name())))
        .execute(&mut conn)
        .await
        .unwrap();
    let err = migrate_connection(&mut conn).await.unwrap_err();
    assert!(matches!(err, db::MigrateError::NoDatabase), "{err}");
}
