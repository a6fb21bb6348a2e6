//! The database driver's own "slow statement" line is INFO, not WARN: a statement over a second
//! is a symptom of load (measured by the scheduler's latency histogram), and a WARN in the logs
//! of a busy but healthy server would be one no operator can act on. In a test binary of its
//! own: captured logging needs no other test logging at the same time.

use rboinc_core::db;
use rboinc_core::telemetry::{LogFormat, capture};
use rboinc_core::test_support::TestDb;

#[tokio::test]
async fn a_statement_over_a_second_is_logged_at_info() {
    let db = TestDb::new().await;
    let captured = capture(LogFormat::Text, 3);
    let _guard = tracing::dispatcher::set_default(&captured.dispatch);
    let pool = db::connect(db.db_settings()).await.unwrap();
    let slept: i64 = sqlx::query_scalar("SELECT SLEEP(1.2)")
        .fetch_one(&pool)
        .await
        .unwrap();
    assert_eq!(slept, 0, "SLEEP ran to its end");
    pool.close().await;
    let lines = captured.lines();
    let slow: Vec<&String> = lines
        .iter()
        .filter(|l| l.contains("slow statement"))
        .collect();
    assert_eq!(slow.len(), 1, "the driver reports it once:\n{lines:#?}");
    assert!(slow[0].contains("INFO"), "{}", slow[0]);
    assert!(
        !lines
            .iter()
            .any(|l| l.contains("WARN") || l.contains("ERROR")),
        "{lines:#?}"
    );
}
