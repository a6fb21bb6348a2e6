//! BOINC counts an UPDATE's affected rows as rows *matched*. These tests
//! show our connections do too, so "did my update apply?" checks are right
//! when the update writes values the row already has.

use rboinc_core::db::found_rows;
use rboinc_core::db::platform::{self, NewPlatform};
use rboinc_core::db::workunit;
use rboinc_core::db::{PlatformId, WorkunitId};
use rboinc_core::test_support::TestDb;
use sqlx::Connection;

async fn one_platform(db: &TestDb) -> PlatformId {
    platform::insert(
        db.pool(),
        &NewPlatform {
            create_time: 1,
            name: "x86_64-pc-linux-gnu",
            user_friendly_name: "Linux",
        },
    )
    .await
    .unwrap()
}

#[tokio::test]
async fn a_no_op_update_of_one_row_counts_as_applied() {
    let db = TestDb::new().await;
    let id = one_platform(&db).await;

    // deprecated is already 0: nothing changes, one row matches.
    let done = sqlx::query("UPDATE platform SET deprecated = 0 WHERE id = ?")
        .bind(id)
        .execute(db.pool())
        .await
        .unwrap();
    assert_eq!(found_rows::matched(&done), 1);
    assert!(found_rows::applied(&done));
    assert!(
        platform::set_deprecated(db.pool(), id, false)
            .await
            .unwrap()
    );

    // A real change and a missing row, for contrast.
    assert!(platform::set_deprecated(db.pool(), id, true).await.unwrap());
    assert!(
        !platform::set_deprecated(db.pool(), PlatformId(id.0 + 1), true)
            .await
            .unwrap()
    );
    assert!(
        !workunit::set_transition_time(db.pool(), WorkunitId(42), 0)
            .await
            .unwrap()
    );
}

/// The same inside a transaction (daemons update under `FOR UPDATE` locks).
#[tokio::test]
async fn matched_rows_inside_a_transaction() {
    let db = TestDb::new().await;
    let id = one_platform(&db).await;
    let mut tx = db.pool().begin().await.unwrap();
    let row = sqlx::query("SELECT id FROM platform WHERE id = ? FOR UPDATE")
        .bind(id)
        .fetch_optional(&mut *tx)
        .await
        .unwrap();
    assert!(row.is_some());
    assert!(platform::set_deprecated(&mut *tx, id, false).await.unwrap());
    tx.commit().await.unwrap();
}

/// The check every pooled connection runs at connect time passes on a
/// plain connection too (sqlx always asks for CLIENT_FOUND_ROWS).
#[tokio::test]
async fn plain_connections_count_matched_rows() {
    let db = TestDb::new().await;
    let mut conn = db.connect().await.unwrap();
    found_rows::verify(&mut conn).await.unwrap();
    // The probe leaves nothing behind, and can run again on the same session.
    found_rows::verify(&mut conn).await.unwrap();
    conn.close().await.unwrap();
}
