//! A database outage, on a private MariaDB the test stops and starts again: while it is down,
//! every scheduler RPC is answered at once (not after the pool's 30 s time-out) with BOINC's
//! "project down" reply and the short `<db_outage_delay>`, never an HTTP error; the outage is
//! one WARN and its end one INFO; RPCs are served again once the database is back. The
//! account web RPCs answer 503 at once meanwhile; uploads, which need no database, go on.

mod common;

use std::time::{Duration, Instant};

use common::Harness;
use rboinc_core::telemetry::{self, LogFormat};
use rboinc_core::test_support::private_mariadb::PrivateMariaDb;
use rboinc_testkit::project::TestProject;
use rboinc_testkit::sim::{SimHost, parse_reply};

/// The most an RPC may take while the database is down (the pool's time-out is 30 s).
const FAST: Duration = Duration::from_secs(2);

fn is_down(reply: &str) -> bool {
    reply.contains("<project_is_down/>")
}

#[tokio::test]
async fn rpcs_during_an_outage_get_project_down_at_once_and_work_again_after() {
    let Some(mut server) = PrivateMariaDb::start_or_skip().await else {
        return;
    };
    let project = TestProject::create_on(&server.url())
        .await
        .expect("project on the private server");
    Harness::publish(&project, "1.0").await;
    project.set_option("db_outage_delay", "42").unwrap();
    let h = Harness::with_project(project);
    assert_eq!(h.state.settings.db_outage_delay, Duration::from_secs(42));
    let captured = telemetry::capture(LogFormat::Text, 3);
    let _guard = tracing::dispatcher::set_default(&captured.dispatch);

    let mut host = SimHost::new(&h.project.authenticator, "outage-host");
    let reply = h.rpc(&host.request(0.0, &[])).await;
    assert!(!is_down(&reply), "{reply}");
    host.absorb(&parse_reply(&reply));
    assert!(host.hostid > 0);

    server.stop();
    // The first RPC finds the kept connection dead; later ones find the database marked down;
    // one after a pause finds the idle connections' ping failing. All are fast.
    for pause in [0, 0, 1500, 0] {
        tokio::time::sleep(Duration::from_millis(pause)).await;
        let started = Instant::now();
        let reply = h.rpc(&host.request(0.0, &[])).await;
        let took = started.elapsed();
        assert!(is_down(&reply), "{reply}");
        assert!(
            reply.contains("<request_delay>42"),
            "the outage delay, not maintenance_delay:\n{reply}"
        );
        assert!(reply.contains("Server can&apos;t open database"), "{reply}");
        assert!(took < FAST, "answered after {took:?}");
    }
    assert!(h.state.db.rpc_conns.outage().is_down());
    // The account web RPCs fail as fast, with 503 and a Retry-After (never a 500 after 30 s).
    let urls = &h.state.settings.urls;
    for path in [
        urls.web_rpc_path("get_project_config.php"),
        format!(
            "{}?email_addr=someone%40example.com",
            urls.web_rpc_path("lookup_account.php")
        ),
    ] {
        let started = Instant::now();
        let (status, headers, _) = h.get(&path).await;
        let took = started.elapsed();
        assert_eq!(status.as_u16(), 503, "{path}");
        assert!(
            headers
                .iter()
                .any(|(k, v)| k == "retry-after" && v.parse::<u32>().is_ok()),
            "{path}: {headers:?}"
        );
        assert!(took < FAST, "{path} answered after {took:?}");
    }
    // The upload handler does not need the database: a size query is answered as usual.
    let (status, text) = h
        .post(
            &h.upload_path(),
            rboinc_testkit::sim::get_file_size_body("outage_out_0"),
        )
        .await;
    assert_eq!(status.as_u16(), 200);
    assert!(text.contains("<status>0</status>"), "{text}");

    server.start_again().await.expect("restart the server");
    let reply = h.rpc(&host.request(0.0, &[])).await;
    assert!(!is_down(&reply), "served again:\n{reply}");
    assert!(!h.state.db.rpc_conns.outage().is_down());

    let lines = captured.lines();
    let count = |level: &str, message: &str| {
        lines
            .iter()
            .filter(|l| l.contains(level) && l.contains(message))
            .count()
    };
    assert_eq!(
        count("WARN", "database unreachable"),
        1,
        "one WARN for the outage:\n{lines:#?}"
    );
    assert_eq!(count("INFO", "database reachable again"), 1, "{lines:#?}");
    assert_eq!(count("WARN", ""), 1, "no other WARN:\n{lines:#?}");
    assert_eq!(count("ERROR", ""), 0, "{lines:#?}");
    drop(h);
}

#[tokio::test]
async fn the_outage_delay_defaults_to_a_minute_and_nonsense_is_refused() {
    let h = Harness::new().await;
    assert_eq!(h.state.settings.db_outage_delay, Duration::from_secs(60));
    assert_eq!(
        h.state.settings.sched.maintenance_delay,
        Duration::from_secs(3600),
        "stop_sched keeps BOINC's maintenance_delay"
    );
    for bad in ["0", "-5", "86401", "soon"] {
        h.project.set_option("db_outage_delay", bad).unwrap();
        let config = h.project.config().unwrap();
        let dir = h.project.project_dir().unwrap();
        let e = rboinc_scheduler::state::AppState::new(&config, &dir, h.project.pool().clone())
            .err()
            .unwrap_or_else(|| panic!("<db_outage_delay>{bad} accepted"));
        assert!(
            e.to_string().contains("db_outage_delay"),
            "{bad}: the error names the element: {e}"
        );
    }
}
