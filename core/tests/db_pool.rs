//! Connecting from config.xml-style settings, as every binary does.

use std::time::Duration;

use rboinc_core::config::{DbSettings, Secret};
use rboinc_core::db::{self, platform};
use rboinc_core::test_support::TestDb;

/// Stock make_project writes `<db_passwd>` as whitespace only; it means
/// "no password" (the test server's root has none).
#[tokio::test]
async fn whitespace_only_password_means_none() {
    let db = TestDb::new().await;
    if !db.db_settings().password.is_empty() {
        eprintln!("skipped: the test server's account has a password");
        return;
    }
    let settings = DbSettings {
        password: Secret::new("\n            \n        "),
        ..db.db_settings().clone()
    };
    let pool = db::connect(&settings).await.unwrap();
    assert!(platform::active(&pool).await.unwrap().is_empty());
    pool.close().await;
}

#[tokio::test]
async fn connect_errors_name_the_target_but_not_the_password() {
    let settings = DbSettings {
        name: "proj".into(),
        host: "127.0.0.1".into(),
        // Nothing listens on port 1.
        port: Some(1),
        user: "boincadm".into(),
        password: Secret::new("hunter2"),
    };
    // sqlx retries refused connections until the acquire timeout.
    let options = || db::pool_options().acquire_timeout(Duration::from_secs(1));
    let err = db::connect_with(options(), &settings).await.unwrap_err();
    let text = err.to_string();
    assert!(
        text.starts_with("cannot connect to MySQL database `proj` on 127.0.0.1:1 as `boincadm`: "),
        "{text}"
    );
    assert!(
        !text.contains("hunter2") && !format!("{err:?}").contains("hunter2"),
        "{err:?}"
    );

    // A lazy pool starts without the database and fails on use instead.
    let lazy = options().connect_lazy_with(db::pool::connect_options(&settings));
    assert!(platform::active(&lazy).await.is_err());
}

#[tokio::test]
async fn unknown_database_is_a_connect_error() {
    let db = TestDb::empty().await;
    let settings = DbSettings {
        name: format!("{}_missing", db.name()),
        ..db.db_settings().clone()
    };
    let err = db::connect(&settings).await.unwrap_err();
    assert!(err.to_string().contains("_missing"), "{err}");
}

/// How this session reached the server: `localhost` over the Unix socket, `host:port` over TCP.
async fn peer_of(pool: &sqlx::MySqlPool) -> String {
    sqlx::query_scalar(
        "SELECT CAST(HOST AS CHAR) FROM information_schema.PROCESSLIST WHERE ID = CONNECTION_ID()",
    )
    .fetch_one(pool)
    .await
    .unwrap()
}

/// A bare `localhost` is the local server's Unix socket, as for the MySQL C client; with a port
/// it is TCP to that port.
#[tokio::test]
async fn bare_localhost_uses_the_unix_socket_and_a_port_means_tcp() {
    let db = TestDb::new().await;
    let Some(socket) = db::pool::local_socket() else {
        eprintln!("skipped: no MySQL socket file on this machine");
        return;
    };
    let base = db.db_settings().clone();
    if !matches!(base.host.as_str(), "127.0.0.1" | "localhost") {
        eprintln!("skipped: the test server is not on this machine");
        return;
    }
    let over_socket = DbSettings {
        host: "localhost".into(),
        port: None,
        ..base.clone()
    };
    assert_eq!(db::pool::socket_for(&over_socket), Some(socket));
    let pool = db::connect(&over_socket).await.unwrap();
    assert_eq!(peer_of(&pool).await, "localhost");
    assert!(platform::active(&pool).await.unwrap().is_empty());
    pool.close().await;

    let over_tcp = DbSettings {
        host: "localhost".into(),
        port: Some(base.port.unwrap_or(db::pool::DEFAULT_PORT)),
        ..base
    };
    assert_eq!(db::pool::socket_for(&over_tcp), None);
    let pool = db::connect(&over_tcp).await.unwrap();
    let peer = peer_of(&pool).await;
    assert!(peer.contains(':'), "TCP peers are host:port, got {peer}");
    pool.close().await;
}
