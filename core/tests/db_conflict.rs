//! `db::is_retryable` against a real server: a lock wait timeout and a deadlock are worth
//! running the transaction again; other errors (a duplicate key) are not.

use rboinc_core::db::platform::{self, NewPlatform};
use rboinc_core::db::{self, PlatformId};
use rboinc_core::test_support::TestDb;
use sqlx::{Acquire, Executor};

async fn platform(db: &TestDb, name: &str) -> PlatformId {
    platform::insert(
        db.pool(),
        &NewPlatform {
            create_time: 1,
            name,
            user_friendly_name: name,
        },
    )
    .await
    .unwrap()
}

fn error_number(e: &sqlx::Error) -> Option<u16> {
    e.as_database_error()
        .and_then(|d| d.try_downcast_ref::<sqlx::mysql::MySqlDatabaseError>())
        .map(|m| m.number())
}

#[tokio::test]
async fn a_lock_wait_timeout_is_retryable() {
    let db = TestDb::new().await;
    let id = platform(&db, "a").await;
    let mut holder = db.pool().acquire().await.unwrap();
    let mut tx = holder.begin().await.unwrap();
    sqlx::query("UPDATE platform SET deprecated = 1 WHERE id = ?")
        .bind(id)
        .execute(&mut *tx)
        .await
        .unwrap();

    let mut waiter = db.pool().acquire().await.unwrap();
    waiter
        .execute("SET SESSION innodb_lock_wait_timeout = 1")
        .await
        .unwrap();
    let e = sqlx::query("UPDATE platform SET deprecated = 0 WHERE id = ?")
        .bind(id)
        .execute(&mut *waiter)
        .await
        .unwrap_err();
    assert_eq!(error_number(&e), Some(db::conflict::ER_LOCK_WAIT_TIMEOUT));
    assert!(db::is_retryable(&e));
    tx.rollback().await.unwrap();
}

#[tokio::test]
async fn a_deadlock_is_retryable() {
    let db = TestDb::new().await;
    let (a, b) = (platform(&db, "a").await, platform(&db, "b").await);
    let mut c1 = db.pool().acquire().await.unwrap();
    let mut c2 = db.pool().acquire().await.unwrap();
    let mut t1 = c1.begin().await.unwrap();
    let mut t2 = c2.begin().await.unwrap();
    let lock = "UPDATE platform SET deprecated = 1 WHERE id = ?";
    sqlx::query(lock).bind(a).execute(&mut *t1).await.unwrap();
    sqlx::query(lock).bind(b).execute(&mut *t2).await.unwrap();
    // Each waits for the other's row: InnoDB picks one victim at once.
    let (r1, r2) = tokio::join!(
        sqlx::query(lock).bind(b).execute(&mut *t1),
        sqlx::query(lock).bind(a).execute(&mut *t2),
    );
    let e = match (r1, r2) {
        (Err(e), Ok(_)) | (Ok(_), Err(e)) => e,
        other => panic!("expected exactly one deadlock victim, got {other:?}"),
    };
    assert_eq!(error_number(&e), Some(db::conflict::ER_LOCK_DEADLOCK));
    assert!(db::is_retryable(&e));
}

#[tokio::test]
async fn other_errors_are_not_retryable() {
    let db = TestDb::new().await;
    platform(&db, "a").await;
    let e = platform::insert(
        db.pool(),
        &NewPlatform {
            create_time: 1,
            name: "a",
            user_friendly_name: "again",
        },
    )
    .await
    .unwrap_err();
    assert!(
        e.as_database_error()
            .is_some_and(|d| d.is_unique_violation())
    );
    assert!(!db::is_retryable(&e));
    assert!(!db::is_retryable(&sqlx::Error::RowNotFound));
}
