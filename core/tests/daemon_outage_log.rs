//! A daemon's loop through database outages logs one WARN when passes start failing (again
//! every ten minutes while they keep failing) and one INFO when one succeeds — not one line per
//! pass. In a test binary of its own: captured logging needs no other test touching the same
//! call sites at the same time.

use std::time::Duration;

use rboinc_core::daemon::{
    Backoff, CommonDaemonArgs, DaemonRuntime, InfraError, PassOutcome, StopReason,
    try_parse_args_from,
};

fn project() -> (tempfile::TempDir, DaemonRuntime) {
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(
        dir.path().join("config.xml"),
        "<boinc><config><db_name>t</db_name></config></boinc>",
    )
    .unwrap();
    #[derive(clap::Parser)]
    struct Cli {
        #[command(flatten)]
        common: CommonDaemonArgs,
    }
    let args = [
        "demo".to_string(),
        "--project-dir".into(),
        dir.path().display().to_string(),
    ];
    let cli: Cli = try_parse_args_from(args).unwrap();
    let rt = DaemonRuntime::new("demo", &cli.common).unwrap();
    (dir, rt)
}

#[tokio::test(start_paused = true)]
async fn an_outage_is_one_warn_and_one_info_not_a_line_per_pass() {
    let captured = rboinc_core::telemetry::capture(rboinc_core::telemetry::LogFormat::Text, 3);
    let _guard = tracing::dispatcher::set_default(&captured.dispatch);
    let (_dir, rt) = project();
    let rt = rt.with_backoff(Backoff::new(Duration::from_secs(1), Duration::from_secs(4)));
    let mut n = 0;
    rt.run(async |rt| {
        n += 1;
        match n {
            // An outage of 6 failed passes, a recovery, then a second outage of 200
            // passes (about 13 minutes at the 4 s cap: the WARN is repeated once).
            1..=6 | 8..=207 => Err(InfraError::new(
                "query",
                std::io::Error::new(std::io::ErrorKind::ConnectionRefused, "refused"),
            )),
            208 => {
                rt.shutdown().request(StopReason::Requested);
                Ok(PassOutcome::Idle)
            }
            _ => Ok(PassOutcome::DidWork),
        }
    })
    .await
    .unwrap();
    let lines = captured.lines();
    let count = |level: &str, message: &str| {
        lines
            .iter()
            .filter(|l| l.contains(level) && l.contains(message))
            .count()
    };
    assert_eq!(
        count("WARN", "pass failed; retrying after a pause"),
        3,
        "one per outage, plus one reminder after 10 minutes:\n{lines:#?}"
    );
    assert_eq!(count("INFO", "resuming normal operation"), 2, "{lines:#?}");
    assert_eq!(count("ERROR", ""), 0, "{lines:#?}");
    assert!(
        lines.iter().any(|l| l.contains("failed_passes=6")),
        "{lines:#?}"
    );
}
