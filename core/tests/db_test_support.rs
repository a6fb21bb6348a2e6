//! `TestDb` cleans up after itself: other crates' tests rely on it to leave
//! nothing behind on the shared server.

use rboinc_core::db::{self, platform};
use rboinc_core::test_support::TestDb;
use sqlx::{Connection, MySqlConnection};

async fn exists(conn: &mut MySqlConnection, name: &str) -> bool {
    let n: i64 = sqlx::query_scalar(
        "SELECT COUNT(*) FROM information_schema.SCHEMATA WHERE SCHEMA_NAME = ?",
    )
    .bind(name)
    .fetch_one(conn)
    .await
    .unwrap();
    n == 1
}

/// Regression: the drop once failed (a decode error, only printed) and
/// left every test database behind.
#[tokio::test]
async fn dropping_removes_the_database_even_with_a_transaction_open() {
    let witness = TestDb::empty().await;
    let mut conn = witness.connect().await.unwrap();

    let db = TestDb::new().await;
    let name = db.name().to_string();
    assert!(exists(&mut conn, &name).await);
    assert!(db.url().ends_with(&format!("/{name}")), "{}", db.url());
    assert_eq!(db.db_settings().name, name);

    // An open transaction holding a row lock would block a plain DROP.
    let mut other = db.connect().await.unwrap();
    let mut tx = other.begin().await.unwrap();
    platform::insert(
        &mut *tx,
        &platform::NewPlatform {
            create_time: 1,
            name: "p",
            user_friendly_name: "P",
        },
    )
    .await
    .unwrap();
    drop(db);
    assert!(!exists(&mut conn, &name).await, "{name} is still there");
    drop(tx);
}

#[tokio::test]
async fn each_test_database_is_separate_and_migrated() {
    let (a, b) = (TestDb::new().await, TestDb::new().await);
    assert_ne!(a.name(), b.name());
    platform::insert(
        a.pool(),
        &platform::NewPlatform {
            create_time: 1,
            name: "only-in-a",
            user_friendly_name: "",
        },
    )
    .await
    .unwrap();
    assert!(
        platform::by_name(b.pool(), "only-in-a")
            .await
            .unwrap()
            .is_none()
    );
    assert!(db::migrate(b.pool()).await.unwrap().is_noop());
    // The URL is what a child process would get: it reaches the same database.
    let mut via_url = MySqlConnection::connect(a.url()).await.unwrap();
    let n: i64 = sqlx::query_scalar("SELECT COUNT(*) FROM platform")
        .fetch_one(&mut via_url)
        .await
        .unwrap();
    assert_eq!(n, 1);
}
