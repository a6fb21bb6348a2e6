//! The connections scheduler RPCs keep between them: reused only after an RPC that finished,
//! replaced when the server dropped them, and within the pool's limit.

use std::time::Duration;

use rboinc_core::test_support::TestDb;
use rboinc_scheduler::sched::connections::RpcConnections;
use sqlx::Executor;
use sqlx::mysql::MySqlConnection;

async fn session_id(conn: &mut MySqlConnection) -> u64 {
    sqlx::query_scalar("SELECT CONNECTION_ID()")
        .fetch_one(conn)
        .await
        .unwrap()
}

#[tokio::test]
async fn a_finished_connection_is_reused_and_an_unfinished_one_is_not() {
    let db = TestDb::new().await;
    let conns = RpcConnections::new(db.pool().clone());
    let first = {
        let mut c = conns.acquire().await.unwrap();
        let id = session_id(&mut c).await;
        c.finished();
        id
    };
    assert_eq!(conns.idle_count(), 1);
    {
        let mut c = conns.acquire().await.unwrap();
        assert_eq!(session_id(&mut c).await, first, "the idle one is reused");
        // An RPC that fails inside its transaction: the connection is not given back.
        c.execute("BEGIN").await.unwrap();
        c.execute("UPDATE platform SET deprecated = deprecated")
            .await
            .unwrap();
    }
    assert_eq!(conns.idle_count(), 0);
    let mut c = conns.acquire().await.unwrap();
    assert_ne!(session_id(&mut c).await, first, "a new session");
    let in_tx: u64 = sqlx::query_scalar("SELECT @@in_transaction")
        .fetch_one(&mut *c)
        .await
        .unwrap();
    assert_eq!(in_tx, 0);
}

#[tokio::test]
async fn a_connection_the_server_dropped_is_replaced() {
    let db = TestDb::new().await;
    let conns = RpcConnections::with_ping_after(db.pool().clone(), Duration::ZERO);
    let first = {
        let mut c = conns.acquire().await.unwrap();
        let id = session_id(&mut c).await;
        c.finished();
        id
    };
    sqlx::query("KILL ?")
        .bind(first)
        .execute(db.pool())
        .await
        .unwrap();
    let mut c = conns.acquire().await.unwrap();
    assert_ne!(session_id(&mut c).await, first);
}

async fn pool_of(db: &TestDb, max: u32) -> rboinc_core::db::Pool {
    rboinc_core::db::connect_with(
        rboinc_core::db::pool_options().max_connections(max),
        db.db_settings(),
    )
    .await
    .unwrap()
}

#[tokio::test]
async fn the_pools_limit_holds_and_a_quarter_is_left_for_other_routes() {
    let db = TestDb::new().await;
    let conns = RpcConnections::new(pool_of(&db, 1).await);
    assert_eq!(conns.share(), 1);
    let held = conns.acquire().await.unwrap();
    // The second request is not served while the only connection is out (polled once).
    assert!(
        tokio::time::timeout(Duration::ZERO, conns.acquire())
            .await
            .is_err()
    );
    drop(held);
    let mut c = conns.acquire().await.unwrap();
    session_id(&mut c).await;
    drop(c);

    let pool = pool_of(&db, 4).await;
    let conns = RpcConnections::new(pool.clone());
    assert_eq!(conns.share(), 3);
    let mut out = Vec::new();
    for _ in 0..3 {
        out.push(conns.acquire().await.unwrap());
    }
    assert!(
        tokio::time::timeout(Duration::ZERO, conns.acquire())
            .await
            .is_err(),
        "a fourth RPC waits for its turn"
    );
    // The other routes still get a connection from the pool meanwhile.
    let mut other = pool.acquire().await.unwrap();
    session_id(&mut other).await;
    for mut c in out {
        c.finished();
    }
    assert_eq!(conns.idle_count(), 3, "every finished connection is kept");
}

#[tokio::test]
async fn waiting_rpcs_are_served_in_order() {
    let db = TestDb::new().await;
    let conns = RpcConnections::new(pool_of(&db, 1).await);
    let mut held = conns.acquire().await.unwrap();
    let id = session_id(&mut held).await;
    // A first RPC waits for the connection in use.
    let first = conns.acquire();
    tokio::pin!(first);
    assert!(
        tokio::time::timeout(Duration::ZERO, first.as_mut())
            .await
            .is_err()
    );
    held.finished();
    drop(held);
    assert_eq!(conns.idle_count(), 1, "the finished connection is kept");
    // One that comes later does not take it from the first, although it is idle.
    assert!(
        tokio::time::timeout(Duration::ZERO, conns.acquire())
            .await
            .is_err(),
        "a later RPC overtook a waiting one"
    );
    let mut c = first.await.unwrap();
    assert_eq!(
        session_id(&mut c).await,
        id,
        "the first gets the kept connection"
    );
}
