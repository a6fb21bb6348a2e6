//! `#[sqlx::test(migrations = "../migrations")]` works with our migrations
//! (the alternative to `TestDb` described in `rboinc_core::test_support`):
//! sqlx's own migrator builds the same tables on its fresh database.

use rboinc_core::db::app::{self, NewApp};
use rboinc_core::db::schema::{BOINC_TABLES, Schema};
use sqlx::MySqlPool;

#[sqlx::test(migrations = "../migrations")]
async fn sqlx_test_databases_get_our_schema(pool: MySqlPool) {
    let mut conn = pool.acquire().await.unwrap();
    let live = Schema::read(&mut conn, &BOINC_TABLES).await.unwrap();
    assert_eq!(live.column_lines(), Schema::baseline().column_lines());
    let id = app::insert(
        &pool,
        &NewApp {
            create_time: 1,
            name: "mnist",
            user_friendly_name: "MNIST",
        },
    )
    .await
    .unwrap();
    assert_eq!(app::by_name(&pool, "mnist").await.unwrap().unwrap().id, id);
}
