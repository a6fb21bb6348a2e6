//! The database disappears for 30 s in the middle of a series (issue 16, point 1): the project
//! runs on a private MariaDB server of the test's own, two stock BOINC clients work on a
//! `series run`, and the test stops the server (SIGTERM, as a service manager does) once the
//! first result is reported, and starts it again 30 s later.
//!
//! The series completes: `series run` says "database unavailable, retrying" instead of exiting;
//! the scheduler answered clients "project down" meanwhile (one WARN when the outage started);
//! every round is assimilated once, bit-identical to the local run, and no result is stuck,
//! lost or sent twice.

mod common;

use std::path::PathBuf;
use std::time::Duration;

use common::series_checks::completed_once;
use common::{
    SmallSeries, Stack, Tuning, Volunteer, text, wait_output, wait_until, warnings_and_errors,
};
use rboinc_core::test_support::TestDb;
use rboinc_core::test_support::private_mariadb::PrivateMariaDb;

const ROUNDS: usize = 4;
const OUTAGE: Duration = Duration::from_secs(30);

/// The WARN lines a database outage may leave (docs/RUNBOOK.md's rows for them).
const OUTAGE_WARNINGS: [&str; 2] = [
    "database unreachable; clients are told the project is down until it is back",
    "pass failed; retrying after a pause",
];

#[tokio::test(flavor = "multi_thread")]
async fn a_series_waits_out_a_30_s_database_outage_and_completes_bit_identical()
-> anyhow::Result<()> {
    // Declared first, dropped last: the project's database lives on it.
    let Some(mut server) = PrivateMariaDb::start_or_skip().await else {
        return Ok(());
    };
    let db = TestDb::create_on(&server.url(), false).await?;
    let mut stack = Stack::start_on(
        Tuning {
            // Clients told "project down" come back after 10 s rather than the default 60 s.
            options: vec![("db_outage_delay".into(), "10".into())],
            ..Tuning::default()
        },
        db,
    )
    .await?;
    let a = Volunteer::start("a", |_| {}).await?;
    let b = Volunteer::start("b", |_| {}).await?;
    a.attach(&stack.master_url, &stack.authenticator)?;
    b.attach(&stack.master_url, &stack.authenticator)?;

    let series = stack.small_series(&SmallSeries {
        name: "outage",
        rounds: ROUNDS,
        base_seed: 4242,
        timeout_secs: 400,
        extra: &[],
    })?;
    let context = || {
        format!(
            "{}\n--- a ---\n{}\n--- b ---\n{}",
            stack.logs(),
            a.log(),
            b.log()
        )
    };
    // Mid-series: the first result is back, the others are out or unsent.
    wait_until(
        Duration::from_secs(180),
        "a first result reported",
        async || {
            let reported: i64 = sqlx::query_scalar(
                "SELECT COUNT(*) FROM result WHERE server_state = 5 AND outcome = 1",
            )
            .fetch_one(stack.db.pool())
            .await?;
            Ok((reported > 0).then_some(()))
        },
        context,
    )
    .await?;
    server.stop();
    eprintln!("database stopped");
    tokio::time::sleep(OUTAGE).await;
    server
        .start_again()
        .await
        .map_err(|e| anyhow::anyhow!("restart the database: {e}"))?;
    eprintln!("database started again");

    let out = wait_output(series, Duration::from_secs(420)).await?;
    assert!(
        out.status.success(),
        "series run failed: {}\n{}",
        text(&out),
        context()
    );
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        stderr.contains("series: database unavailable, retrying"),
        "series run said it waited for the database: {}",
        text(&out)
    );
    assert!(
        stderr.contains("series: database available again after"),
        "{}",
        text(&out)
    );
    let report = PathBuf::from(
        String::from_utf8_lossy(&out.stdout)
            .lines()
            .last()
            .unwrap_or_default(),
    );
    completed_once(&stack, "outage", ROUNDS, &report, 2).await?;

    // The outage left its WARN lines and nothing else: the scheduler's once, the daemons'
    // once per daemon (repeats are DEBUG), no ERROR.
    let warnings = warnings_and_errors(&stack);
    let unexpected: Vec<&String> = warnings
        .iter()
        .filter(|l| !OUTAGE_WARNINGS.iter().any(|w| l.contains(w)))
        .collect();
    assert!(
        unexpected.is_empty(),
        "only the outage's WARN lines: {unexpected:#?}"
    );
    let scheduler_warns = warnings
        .iter()
        .filter(|l| l.contains(OUTAGE_WARNINGS[0]))
        .count();
    assert_eq!(
        scheduler_warns, 1,
        "the scheduler said once that the database was down: {warnings:#?}"
    );
    stack.stop()?;
    Ok(())
}
