//! A database outage seen by a running daemon (the transitioner), on a private MariaDB the
//! test stops for longer than the pool's 30 s acquire time-out and starts again: the daemon
//! keeps running, logs exactly one WARN when its passes start failing and one INFO when they
//! succeed again — not one line per pass, no ERROR — and goes on with its passes.

use std::path::Path;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use rboinc_core::test_support::TestDb;
use rboinc_core::test_support::private_mariadb::PrivateMariaDb;

/// Longer than the pool's acquire time-out (30 s), so a pass fails during the outage.
const OUTAGE: Duration = Duration::from_secs(36);

fn config_xml(db: &TestDb, root: &Path) -> String {
    let s = db.db_settings();
    format!(
        "<boinc>\n  <config>\n    <long_name>outage</long_name>\n    <db_name>{}</db_name>\n    \
         <db_host>{}:{}</db_host>\n    <db_user>{}</db_user>\n    <project_dir>{}</project_dir>\n    \
         <upload_url>http://127.0.0.1/upload</upload_url>\n    \
         <dont_generate_upload_certificates>1</dont_generate_upload_certificates>\n  </config>\n</boinc>\n",
        s.name,
        s.host,
        s.port.unwrap_or(3306),
        s.user,
        root.display()
    )
}

fn count(log: &str, level: &str, message: &str) -> usize {
    log.lines()
        .filter(|l| l.contains(level) && l.contains(message))
        .count()
}

/// Waits until the log contains `message`, up to `within`; the log.
async fn wait_for(log_path: &Path, message: &str, within: Duration) -> String {
    let started = Instant::now();
    loop {
        let log = std::fs::read_to_string(log_path).unwrap_or_default();
        if log.contains(message) {
            return log;
        }
        assert!(
            started.elapsed() < within,
            "no {message:?} within {within:?}:\n{log}"
        );
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
}

#[tokio::test]
async fn a_daemon_logs_one_warn_and_one_info_for_an_outage_and_resumes() {
    let Some(mut server) = PrivateMariaDb::start_or_skip().await else {
        return;
    };
    let db = TestDb::create_on(&server.url(), true)
        .await
        .expect("database on the private server");
    let dir = tempfile::tempdir().unwrap();
    let root = dir.path().canonicalize().unwrap();
    for d in ["upload", "download", "keys", "templates", "log", "tmp"] {
        std::fs::create_dir_all(root.join(d)).unwrap();
    }
    std::fs::write(root.join("config.xml"), config_xml(&db, &root)).unwrap();
    let log_path = root.join("transitioner.log");
    let mut daemon = Command::new(env!("CARGO_BIN_EXE_transitioner"))
        .arg("--project-dir")
        .arg(&root)
        .args(["--sleep_interval", "1", "-d", "3"])
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(std::fs::File::create(&log_path).unwrap())
        .spawn()
        .expect("start the transitioner");
    // A few idle passes on the database.
    tokio::time::sleep(Duration::from_secs(3)).await;
    assert!(
        daemon.try_wait().unwrap().is_none(),
        "running before the outage:\n{}",
        std::fs::read_to_string(&log_path).unwrap()
    );

    server.stop();
    tokio::time::sleep(OUTAGE).await;
    let during = std::fs::read_to_string(&log_path).unwrap();
    server.start_again().await.expect("restart the server");
    let log = wait_for(
        &log_path,
        "resuming normal operation",
        Duration::from_secs(30),
    )
    .await;
    assert!(
        daemon.try_wait().unwrap().is_none(),
        "still running:\n{log}"
    );
    let _ = Command::new("kill")
        .args(["-TERM", &daemon.id().to_string()])
        .status();
    let _ = daemon.wait();
    let log = std::fs::read_to_string(&log_path).unwrap();

    assert_eq!(
        count(&during, "WARN", "pass failed; retrying after a pause"),
        1,
        "the outage's start, once:\n{during}"
    );
    assert_eq!(
        count(&log, "WARN", "pass failed; retrying after a pause"),
        1,
        "{log}"
    );
    assert_eq!(
        count(
            &log,
            "INFO",
            "pass succeeded after failures; resuming normal operation"
        ),
        1,
        "{log}"
    );
    assert_eq!(count(&log, "ERROR", ""), 0, "no ERROR:\n{log}");
    drop(db);
}
