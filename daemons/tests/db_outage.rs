//! A database outage seen by running daemons (transitioner, file_deleter, db_purge), on a
//! private MariaDB the test stops for longer than the pool's 30 s acquire time-out and starts
//! again: each daemon keeps running, logs exactly one WARN when its passes start failing and
//! one INFO when they succeed again — not one line per pass, no other WARN, no ERROR — and goes
//! on with its passes.

use std::path::Path;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use rboinc_core::test_support::TestDb;
use rboinc_core::test_support::private_mariadb::PrivateMariaDb;

/// The daemons run through the outage (those that need no `--app`).
const DAEMONS: [(&str, &str); 3] = [
    ("transitioner", env!("CARGO_BIN_EXE_transitioner")),
    ("file_deleter", env!("CARGO_BIN_EXE_file_deleter")),
    ("db_purge", env!("CARGO_BIN_EXE_db_purge")),
];

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
    let mut daemons: Vec<(&str, std::path::PathBuf, std::process::Child)> = DAEMONS
        .iter()
        .map(|(name, binary)| {
            let log_path = root.join(format!("{name}.log"));
            let child = Command::new(binary)
                .arg("--project-dir")
                .arg(&root)
                .args(["--sleep_interval", "1", "-d", "3"])
                .stdin(Stdio::null())
                .stdout(Stdio::null())
                .stderr(std::fs::File::create(&log_path).unwrap())
                .spawn()
                .unwrap_or_else(|e| panic!("start {name}: {e}"));
            (*name, log_path, child)
        })
        .collect();
    // A few idle passes on the database.
    tokio::time::sleep(Duration::from_secs(3)).await;
    for (name, log_path, child) in &mut daemons {
        assert!(
            child.try_wait().unwrap().is_none(),
            "{name} running before the outage:\n{}",
            std::fs::read_to_string(log_path).unwrap()
        );
    }

    server.stop();
    tokio::time::sleep(OUTAGE).await;
    let during: Vec<String> = daemons
        .iter()
        .map(|(_, log_path, _)| std::fs::read_to_string(log_path).unwrap())
        .collect();
    server.start_again().await.expect("restart the server");
    for ((name, log_path, child), during) in daemons.iter_mut().zip(during) {
        let log = wait_for(
            log_path,
            "resuming normal operation",
            Duration::from_secs(30),
        )
        .await;
        assert!(
            child.try_wait().unwrap().is_none(),
            "{name} still running:\n{log}"
        );
        let _ = Command::new("kill")
            .args(["-TERM", &child.id().to_string()])
            .status();
        let _ = child.wait();
        let log = std::fs::read_to_string(&*log_path).unwrap();

        assert_eq!(
            count(&during, "WARN", "pass failed; retrying after a pause"),
            1,
            "{name}: the outage's start, once:\n{during}"
        );
        assert_eq!(
            count(&log, "WARN", "pass failed; retrying after a pause"),
            1,
            "{name}:\n{log}"
        );
        assert_eq!(
            count(
                &log,
                "INFO",
                "pass succeeded after failures; resuming normal operation"
            ),
            1,
            "{name}:\n{log}"
        );
        assert_eq!(count(&log, "WARN", ""), 1, "{name}: no other WARN:\n{log}");
        assert_eq!(count(&log, "ERROR", ""), 0, "{name}: no ERROR:\n{log}");
    }
    drop(db);
}
