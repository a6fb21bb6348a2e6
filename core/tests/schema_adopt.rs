//! Adopting a database stock BOINC's make_project created: the runner must
//! verify it, record the baseline without running it, and leave BOINC's
//! tables and rows exactly as they were — or refuse, changing nothing.

use rboinc_core::db::migrate::{BASELINE_VERSION, Starting, migrator};
use rboinc_core::db::schema::Schema;
use rboinc_core::db::{MigrateError, migrate, platform, user};
use rboinc_core::test_support::{TestDb, stock_boinc_ddl};
use sqlx::MySqlPool;

const FIXTURE_COLUMNS: &str = include_str!("../../fixtures/stock-server/make_project/columns.tsv");
const FIXTURE_INDEXES: &str = include_str!("../../fixtures/stock-server/make_project/indexes.tsv");

/// information_schema rows of every base table in the database except ours
/// (`_sqlx_migrations`, `rb_*`), sorted.
async fn snapshot(pool: &MySqlPool) -> (Vec<String>, Vec<String>, Vec<String>) {
    let names: Vec<String> = sqlx::query_scalar(
        "SELECT TABLE_NAME FROM information_schema.TABLES WHERE TABLE_SCHEMA = DATABASE() \
         AND TABLE_NAME <> '_sqlx_migrations' AND TABLE_NAME NOT LIKE 'rb\\_%'",
    )
    .fetch_all(pool)
    .await
    .unwrap();
    let names: Vec<&str> = names.iter().map(String::as_str).collect();
    let mut conn = pool.acquire().await.unwrap();
    let s = Schema::read(&mut conn, &names).await.unwrap();
    let sorted = |mut v: Vec<String>| {
        v.sort();
        v
    };
    (
        sorted(s.table_lines()),
        sorted(s.column_lines()),
        sorted(s.index_lines()),
    )
}

fn fixture_rows(text: &str, fields: usize, skip_table: &str) -> Vec<String> {
    let mut rows: Vec<String> = text
        .lines()
        .skip(1)
        .map(|l| l.split('\t').take(fields).collect::<Vec<_>>())
        .filter(|f| f[0] != skip_table)
        .map(|f| f.join("\t"))
        .collect();
    rows.sort();
    rows
}

fn first_fields(lines: &[String], fields: usize) -> Vec<String> {
    let mut rows: Vec<String> = lines
        .iter()
        .map(|l| l.split('\t').take(fields).collect::<Vec<_>>().join("\t"))
        .collect();
    rows.sort();
    rows
}

/// The stock-style database really is the fixture's: all 46 tables with
/// the same columns and indexes (the view is not rebuilt).
#[tokio::test]
async fn stock_style_database_matches_the_fixture() {
    assert_eq!(stock_boinc_ddl().len(), 46);
    let db = TestDb::stock_boinc().await;
    let (tables, columns, indexes) = snapshot(db.pool()).await;
    assert_eq!(tables.len(), 46);
    assert_eq!(
        first_fields(&columns, 8),
        fixture_rows(FIXTURE_COLUMNS, 8, "latest_consent")
    );
    assert_eq!(
        first_fields(&indexes, 6),
        fixture_rows(FIXTURE_INDEXES, 6, "latest_consent")
    );
}

#[tokio::test]
async fn stock_database_is_adopted_without_changes() {
    let db = TestDb::stock_boinc().await;
    sqlx::query("INSERT INTO platform (create_time, name, user_friendly_name) VALUES (1, 'x86_64-pc-linux-gnu', 'Linux')")
        .execute(db.pool())
        .await
        .unwrap();
    sqlx::query(
        "INSERT INTO user (create_time, email_addr, name, authenticator, total_credit, expavg_credit, \
         expavg_time, teamid, venue, send_email, show_hosts, posts, seti_id, seti_nresults, \
         seti_last_result_time, seti_total_cpu, has_profile, cross_project_id, passwd_hash, \
         email_validated, donated) VALUES (2, 'v@example.com', 'Vol', 'k3y', 12.5, 1, 2, 0, '', 1, 1, 0, \
         0, 0, 0, 0, 0, 'cp', 'h', 0, 0)",
    )
    .execute(db.pool())
    .await
    .unwrap();
    sqlx::query("INSERT INTO consent_type (shortname, description, enabled, project_specific, privacypref) VALUES ('X', 'x', 1, 0, 0)")
        .execute(db.pool())
        .await
        .unwrap();
    let before = snapshot(db.pool()).await;

    let report = migrate(db.pool()).await.unwrap();
    assert_eq!(report.starting, Starting::StockBoinc);
    // Everything after the baseline ran; the baseline itself did not.
    let later: Vec<i64> = migrator()
        .iter()
        .map(|m| m.version)
        .filter(|v| *v != BASELINE_VERSION)
        .collect();
    assert_eq!(
        report.applied.iter().map(|m| m.version).collect::<Vec<_>>(),
        later
    );
    // The dumps carry no index directions, so the stock-style tables have
    // ascending indexes where today's BOINC asks for descending ones: noted,
    // not refused.
    let tolerated: Vec<String> = report.tolerated.iter().map(ToString::to_string).collect();
    assert_eq!(
        tolerated,
        [
            "host: index `host_avg` (expavg_credit) differs in type or direction",
            "host: index `host_tot` (total_credit) differs in type or direction",
            "result: index `res_hostid_id` (hostid, id) differs in type or direction",
            "result: index `res_userid_id` (userid, id) differs in type or direction",
            "team: index `team_avg` (expavg_credit) differs in type or direction",
            "team: index `team_tot` (total_credit) differs in type or direction",
            "user: index `user_avg` (expavg_credit) differs in type or direction",
            "user: index `user_tot` (total_credit) differs in type or direction",
        ]
    );

    assert_eq!(snapshot(db.pool()).await, before, "BOINC's tables changed");
    let recorded: Vec<(i64, bool)> =
        sqlx::query_as("SELECT version, success FROM _sqlx_migrations ORDER BY version")
            .fetch_all(db.pool())
            .await
            .unwrap();
    assert_eq!(recorded[0], (BASELINE_VERSION, true));
    assert_eq!(recorded.len(), migrator().iter().count());

    // The rows are still there and readable through our types.
    let p = platform::by_name(db.pool(), "x86_64-pc-linux-gnu")
        .await
        .unwrap()
        .unwrap();
    assert_eq!(p.user_friendly_name, "Linux");
    let u = user::by_authenticator(db.pool(), "k3y")
        .await
        .unwrap()
        .unwrap();
    assert_eq!(
        (u.email_addr.as_str(), u.total_credit, u.country.as_str()),
        ("v@example.com", 12.5, "")
    );
    let consent: i64 = sqlx::query_scalar("SELECT COUNT(*) FROM consent_type")
        .fetch_one(db.pool())
        .await
        .unwrap();
    assert_eq!(consent, 1);

    // Adopted once; afterwards it is ours like any other.
    let again = migrate(db.pool()).await.unwrap();
    assert!(again.is_noop(), "{again:?}");
    assert_eq!(snapshot(db.pool()).await, before);
}

/// A database whose BOINC tables we could not work with is refused with
/// every problem listed, and nothing is written (not even bookkeeping).
#[tokio::test]
async fn incompatible_schema_is_refused_with_the_differences() {
    let db = TestDb::stock_boinc().await;
    for change in [
        "ALTER TABLE workunit DROP COLUMN keywords",
        "ALTER TABLE result MODIFY name INTEGER NOT NULL",
        "ALTER TABLE result DROP INDEX res_batch",
        "ALTER TABLE app_version DROP INDEX apvp",
        "ALTER TABLE host ADD COLUMN gpu_serial VARCHAR(64) NOT NULL",
        "DROP TABLE credited_job",
    ] {
        sqlx::query(change).execute(db.pool()).await.unwrap();
    }
    let before = snapshot(db.pool()).await;

    let err = migrate(db.pool()).await.unwrap_err();
    assert!(matches!(err, MigrateError::Incompatible { .. }));
    let message = err.to_string();
    let name = db.name();
    let expected = format!(
        "database `{name}` has BOINC tables that rboinc cannot adopt; nothing was changed.
  - app_version: unique index `apvp` (appid, platformid, version_num, plan_class) is missing
  - credited_job: table is missing
  - host: extra column `gpu_serial` (varchar(64)) is NOT NULL without a default
  - result: column `name` is int(11), expected varchar(191)
  - workunit: column `keywords` (varchar(254)) is missing
  - (tolerated) host: index `host_avg` (expavg_credit) differs in type or direction
  - (tolerated) host: index `host_tot` (total_credit) differs in type or direction
  - (tolerated) result: index `res_batch` (batch) is missing
  - (tolerated) result: index `res_hostid_id` (hostid, id) differs in type or direction
  - (tolerated) result: index `res_userid_id` (userid, id) differs in type or direction
  - (tolerated) team: index `team_avg` (expavg_credit) differs in type or direction
  - (tolerated) team: index `team_tot` (total_credit) differs in type or direction
  - (tolerated) user: index `user_avg` (expavg_credit) differs in type or direction
  - (tolerated) user: index `user_tot` (total_credit) differs in type or direction"
    );
    assert_eq!(message, expected);

    assert_eq!(snapshot(db.pool()).await, before);
    let bookkeeping: i64 = sqlx::query_scalar(
        "SELECT COUNT(*) FROM information_schema.TABLES WHERE TABLE_SCHEMA = DATABASE() AND TABLE_NAME = '_sqlx_migrations'",
    )
    .fetch_one(db.pool())
    .await
    .unwrap();
    assert_eq!(bookkeeping, 0);
}

/// Some BOINC tables but not all is not a database we adopt.
#[tokio::test]
async fn partial_boinc_schema_is_refused() {
    let db = TestDb::empty().await;
    for statement in stock_boinc_ddl()
        .into_iter()
        .filter(|s| s.starts_with("CREATE TABLE `workunit`"))
    {
        sqlx::query(sqlx::AssertSqlSafe(statement))
            .execute(db.pool())
            .await
            .unwrap();
    }
    let err = migrate(db.pool()).await.unwrap_err();
    let MigrateError::Incompatible { differences, .. } = err else {
        panic!("{err}")
    };
    let missing: Vec<&str> = differences
        .iter()
        .filter(|d| d.fatal)
        .map(|d| d.table.as_str())
        .collect();
    assert_eq!(missing.len(), 16, "{missing:?}");
    assert!(
        differences
            .iter()
            .filter(|d| d.fatal)
            .all(|d| d.detail == "table is missing")
    );
    assert!(!missing.contains(&"workunit"));
}
