//! The daemon runtime driven from outside, as `bin/start` and operators
//! drive a real daemon: the `demo_daemon` example binary is started in a
//! temporary project, then stopped with real signals and the real
//! `stop_daemons` file, and pointed at a closed port or the real MariaDB.
//!
//! The example is built by `cargo test -p rboinc-core` (cargo builds
//! examples for a package's tests); when running this file alone, build it
//! first: `cargo build -p rboinc-core --example demo_daemon`.

use std::fs::File;
use std::net::{TcpListener, TcpStream};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, ExitStatus, Stdio};
use std::thread;
use std::time::{Duration, Instant};

use rustix::process::{Pid, Signal, kill_process};

fn demo_daemon() -> PathBuf {
    let exe = std::env::current_exe().unwrap();
    // target/<profile>/deps/daemon_process-<hash> → target/<profile>/examples/demo_daemon
    let bin = exe
        .parent()
        .unwrap()
        .parent()
        .unwrap()
        .join("examples/demo_daemon");
    assert!(
        bin.exists(),
        "{} not built: run `cargo test -p rboinc-core` or \
         `cargo build -p rboinc-core --example demo_daemon`",
        bin.display()
    );
    bin
}

/// A temporary project with a queue of `<id>.job` files.
struct Project {
    dir: tempfile::TempDir,
}

impl Project {
    fn new(db_host: &str) -> Self {
        Self::with_db(db_host, "demo", "root")
    }

    fn with_db(db_host: &str, db_name: &str, db_user: &str) -> Self {
        let dir = tempfile::tempdir().unwrap();
        std::fs::write(
            dir.path().join("config.xml"),
            format!(
                "<boinc>\n  <config>\n    <db_name>{db_name}</db_name>\n    <db_host>{db_host}</db_host>\n    \
                 <db_user>{db_user}</db_user>\n    <db_passwd></db_passwd>\n  </config>\n</boinc>\n"
            ),
        )
        .unwrap();
        std::fs::create_dir(dir.path().join("demo_queue")).unwrap();
        Project { dir }
    }

    fn root(&self) -> &Path {
        self.dir.path()
    }

    fn queue(&self, ids: impl IntoIterator<Item = u64>) {
        for id in ids {
            std::fs::write(self.root().join(format!("demo_queue/{id}.job")), "").unwrap();
        }
    }

    fn state(&self, id: u64) -> &'static str {
        let q = self.root().join("demo_queue");
        match (
            q.join(format!("{id}.job")).exists(),
            q.join(format!("{id}.done")).exists(),
        ) {
            (true, false) => "queued",
            (false, true) => "done",
            other => panic!("item {id} in a strange state {other:?}"),
        }
    }

    fn log_path(&self) -> PathBuf {
        self.root().join("demo.log")
    }

    fn log(&self) -> String {
        std::fs::read_to_string(self.log_path()).unwrap_or_default()
    }

    fn touch_stop_daemons(&self) {
        std::fs::write(self.root().join("stop_daemons"), "<stop/>\n").unwrap();
    }

    /// Starts the daemon with stderr going to `demo.log`, like bin/start.
    fn spawn(&self, args: &[&str]) -> Child {
        self.spawn_with_env(args, &[])
    }

    fn spawn_with_env(&self, args: &[&str], env: &[(&str, &str)]) -> Child {
        let log = File::create(self.log_path()).unwrap();
        let mut cmd = Command::new(demo_daemon());
        cmd.arg("--project-dir")
            .arg(self.root())
            .args(args)
            .env_remove("RUST_LOG")
            .env_remove("RBOINC_LOG_FORMAT")
            .env_remove("BOINC_PROJECT_DIR")
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(log);
        for (k, v) in env {
            cmd.env(k, v);
        }
        cmd.spawn().unwrap()
    }

    /// Waits until the log contains `needle` (or panics with the log).
    fn wait_for_log(&self, needle: &str) {
        let deadline = Instant::now() + Duration::from_secs(30);
        while Instant::now() < deadline {
            if self.log().contains(needle) {
                return;
            }
            thread::sleep(Duration::from_millis(20));
        }
        panic!("log never showed {needle:?}:\n{}", self.log());
    }
}

/// Waits for the process to exit (killing it and panicking after `limit`).
fn wait_exit(child: &mut Child, limit: Duration, log: &str) -> ExitStatus {
    let deadline = Instant::now() + limit;
    loop {
        if let Some(status) = child.try_wait().unwrap() {
            return status;
        }
        if Instant::now() > deadline {
            let _ = child.kill();
            let _ = child.wait();
            panic!("daemon did not exit within {limit:?}; log:\n{log}");
        }
        thread::sleep(Duration::from_millis(20));
    }
}

fn signal(child: &Child, sig: Signal) {
    kill_process(Pid::from_child(child), sig).unwrap();
}

/// A local port with nothing listening on it.
fn closed_port() -> u16 {
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    listener.local_addr().unwrap().port()
}

#[test]
fn each_stop_signal_finishes_the_current_item_and_exits_0() {
    for (sig, name) in [
        (Signal::TERM, "SIGTERM"),
        (Signal::HUP, "SIGHUP"),
        (Signal::INT, "SIGINT"),
    ] {
        let p = Project::new("127.0.0.1");
        p.queue([1, 2, 3]);
        let mut child = p.spawn(&["-d", "3", "--item_ms", "1500"]);
        p.wait_for_log("item started item_id=1");
        signal(&child, sig);
        let status = wait_exit(&mut child, Duration::from_secs(15), &p.log());

        let log = p.log();
        assert_eq!(status.code(), Some(0), "{name}; log:\n{log}");
        assert_eq!(
            p.state(1),
            "done",
            "{name}: the item in flight was finished"
        );
        assert_eq!(p.state(2), "queued", "{name}: no new item was started");
        assert_eq!(p.state(3), "queued");
        assert!(log.contains("item finished item_id=1"), "{log}");
        assert!(
            log.contains(&format!("stopping reason=received {name}")),
            "{log}"
        );
        assert!(!log.contains("item_id=2"), "{log}");
    }
}

#[test]
fn a_signal_wakes_a_sleeping_daemon_at_once() {
    let p = Project::new("127.0.0.1");
    let mut child = p.spawn(&["-d", "4", "--sleep_interval", "3600"]);
    p.wait_for_log("nothing to do; sleeping");
    signal(&child, Signal::TERM);
    // Exiting at all shows it: the sleep was an hour long.
    let status = wait_exit(&mut child, Duration::from_secs(10), &p.log());
    assert_eq!(status.code(), Some(0));
}

#[test]
fn stop_daemons_file_stops_a_sleeping_daemon() {
    let p = Project::new("127.0.0.1");
    let mut child = p.spawn(&["-d", "4", "-sleep_interval", "3600"]);
    p.wait_for_log("nothing to do; sleeping");
    p.touch_stop_daemons();
    let status = wait_exit(&mut child, Duration::from_secs(10), &p.log());
    assert_eq!(status.code(), Some(0));
    assert!(
        p.log()
            .contains("stopping reason=the stop_daemons trigger file is present"),
        "{}",
        p.log()
    );
}

#[test]
fn stop_daemons_file_is_seen_between_items() {
    let p = Project::new("127.0.0.1");
    p.queue([1, 2, 3]);
    let mut child = p.spawn(&["--item_ms", "1000"]);
    p.wait_for_log("item started item_id=1");
    p.touch_stop_daemons();
    let status = wait_exit(&mut child, Duration::from_secs(15), &p.log());
    assert_eq!(status.code(), Some(0));
    assert_eq!(
        [p.state(1), p.state(2), p.state(3)],
        ["done", "queued", "queued"],
        "{}",
        p.log()
    );
}

#[test]
fn stop_daemons_present_at_start_means_no_work() {
    let p = Project::new("127.0.0.1");
    p.queue([1]);
    p.touch_stop_daemons();
    let mut child = p.spawn(&[]);
    let status = wait_exit(&mut child, Duration::from_secs(10), &p.log());
    assert_eq!(status.code(), Some(0));
    assert_eq!(p.state(1), "queued");
}

#[test]
fn mod_splits_the_items_between_instances() {
    let p = Project::new("127.0.0.1");
    p.queue(1..=6);
    let mut child = p.spawn(&["--mod", "2", "1", "--one_pass"]);
    assert_eq!(
        wait_exit(&mut child, Duration::from_secs(10), &p.log()).code(),
        Some(0)
    );
    let states: Vec<_> = (1..=6).map(|id| p.state(id)).collect();
    assert_eq!(
        states,
        ["done", "queued", "done", "queued", "done", "queued"]
    );

    // The other instance, spelled as a config.xml line might spell it.
    let mut child = p.spawn(&["-mod", "2", "0", "-one_pass"]);
    assert_eq!(
        wait_exit(&mut child, Duration::from_secs(10), &p.log()).code(),
        Some(0)
    );
    assert!((1..=6).all(|id| p.state(id) == "done"));
}

#[test]
fn config_xml_spellings_and_debug_levels() {
    let p = Project::new("127.0.0.1");
    // -d 4 shows debug lines.
    let mut child = p.spawn(&[
        "-d",
        "4",
        "-one_pass",
        "-sleep_interval",
        "1",
        "-app",
        "demo",
    ]);
    assert_eq!(
        wait_exit(&mut child, Duration::from_secs(10), &p.log()).code(),
        Some(0)
    );
    let log = p.log();
    assert!(log.contains("starting a pass"), "{log}");
    assert!(log.contains(r#"app="demo""#), "{log}");
    assert!(log.contains("one pass done"), "{log}");

    // --debug_level 1 shows errors only.
    let mut child = p.spawn(&["--debug_level", "1", "--one_pass"]);
    assert_eq!(
        wait_exit(&mut child, Duration::from_secs(10), &p.log()).code(),
        Some(0)
    );
    assert_eq!(p.log(), "", "nothing below error level is printed");

    // RUST_LOG overrides -d.
    let mut child = p.spawn_with_env(&["-d", "1", "--one_pass"], &[("RUST_LOG", "debug")]);
    assert_eq!(
        wait_exit(&mut child, Duration::from_secs(10), &p.log()).code(),
        Some(0)
    );
    assert!(p.log().contains("starting a pass"), "{}", p.log());
}

#[test]
fn json_logs_by_flag_or_environment() {
    let p = Project::new("127.0.0.1");
    for (item, args, env) in [
        (7, vec!["--log-format", "json", "--one_pass"], vec![]),
        (8, vec!["--one_pass"], vec![("RBOINC_LOG_FORMAT", "json")]),
    ] {
        p.queue([item]);
        let mut child = p.spawn_with_env(&args, &env);
        assert_eq!(
            wait_exit(&mut child, Duration::from_secs(10), &p.log()).code(),
            Some(0)
        );
        let log = p.log();
        let lines: Vec<serde_json::Value> = log
            .lines()
            .map(|l| serde_json::from_str(l).unwrap_or_else(|e| panic!("{e}: {l}")))
            .collect();
        assert!(
            lines
                .iter()
                .all(|v| v["level"].is_string() && v["timestamp"].is_string())
        );
        assert!(
            lines
                .iter()
                .any(|v| v["message"] == "starting" && v["daemon"] == "demo_daemon"),
            "{log}"
        );
        assert!(
            lines
                .iter()
                .any(|v| v["message"] == "item finished" && v["item_id"] == item),
            "event fields are top-level JSON fields: {log}"
        );
    }
}

#[test]
fn help_version_and_bad_flags() {
    let run = |args: &[&str]| Command::new(demo_daemon()).args(args).output().unwrap();
    let out = run(&["-h"]);
    assert_eq!(out.status.code(), Some(0));
    let help = String::from_utf8(out.stdout).unwrap();
    for flag in [
        "--debug_level",
        "--app",
        "--one_pass",
        "--sleep_interval",
        "--mod <N> <I>",
        "--queue",
    ] {
        assert!(help.contains(flag), "{flag} missing from help:\n{help}");
    }
    let out = run(&["-v"]);
    assert_eq!(out.status.code(), Some(0));
    assert!(
        String::from_utf8(out.stdout)
            .unwrap()
            .starts_with("demo_daemon ")
    );

    let out = run(&["-no_such_flag"]);
    assert_eq!(out.status.code(), Some(2), "clap's usage error");
    assert!(
        String::from_utf8(out.stderr)
            .unwrap()
            .contains("--no_such_flag")
    );
}

#[test]
fn outside_a_project_it_exits_1_with_a_clear_message() {
    let empty = tempfile::tempdir().unwrap();
    let out = Command::new(demo_daemon())
        .current_dir(empty.path())
        .env_remove("BOINC_PROJECT_DIR")
        .env_remove("RUST_LOG")
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(1));
    let err = String::from_utf8(out.stderr).unwrap();
    assert!(
        err.contains("not in a project directory or subdirectory"),
        "{err}"
    );

    // And it finds the project from tmp_<host>/, where bin/start runs it.
    let p = Project::new("127.0.0.1");
    let tmp = p.root().join("tmp_host");
    std::fs::create_dir(&tmp).unwrap();
    let out = Command::new(demo_daemon())
        .arg("--one_pass")
        .current_dir(&tmp)
        .env_remove("BOINC_PROJECT_DIR")
        .output()
        .unwrap();
    assert_eq!(
        out.status.code(),
        Some(0),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
}

#[test]
fn database_down_logs_backs_off_and_keeps_retrying_until_stopped() {
    let port = closed_port();
    let p = Project::new(&format!("127.0.0.1:{port}"));
    // -d 4: after the first failure's WARN, the retries are logged at debug level.
    let mut child = p.spawn(&[
        "-d",
        "4",
        "--check_db",
        "--backoff_ms",
        "100",
        "--backoff_max_ms",
        "400",
    ]);
    p.wait_for_log("attempt=5");
    assert!(
        child.try_wait().unwrap().is_none(),
        "still running, not crash-looping"
    );

    let log = p.log();
    let failures: Vec<&str> = log.lines().filter(|l| l.contains("pass failed")).collect();
    assert!(
        failures.iter().all(|l| l.contains("database check")),
        "{log}"
    );
    assert!(failures[0].contains("refused"), "{}", failures[0]);
    // Delays double and are capped: 0.1, 0.2, 0.4, 0.4, …
    let delays: Vec<&str> = failures
        .iter()
        .take(4)
        .map(|l| {
            l.split("retry_in_secs=")
                .nth(1)
                .unwrap()
                .split_whitespace()
                .next()
                .unwrap()
        })
        .collect();
    assert_eq!(delays, ["0.1", "0.2", "0.4", "0.4"], "{log}");

    p.touch_stop_daemons();
    let status = wait_exit(&mut child, Duration::from_secs(10), &p.log());
    assert_eq!(
        status.code(),
        Some(0),
        "a stop while backing off is a clean exit"
    );
}

#[test]
fn database_down_with_one_pass_exits_1() {
    let port = closed_port();
    let p = Project::new(&format!("127.0.0.1:{port}"));
    let mut child = p.spawn(&["--check_db", "--one_pass"]);
    let status = wait_exit(&mut child, Duration::from_secs(20), &p.log());
    assert_eq!(status.code(), Some(1));
    assert!(
        p.log().contains("the pass failed: database check"),
        "{}",
        p.log()
    );
}

/// host, port, user, database from `DATABASE_URL` (mysql://user@host:port/db).
fn test_database() -> (String, u16, String, String) {
    let url = std::env::var("DATABASE_URL")
        .unwrap_or_else(|_| "mysql://root@127.0.0.1:3306/mysql".into());
    let rest = url
        .strip_prefix("mysql://")
        .expect("a mysql:// DATABASE_URL");
    let (creds, rest) = rest.split_once('@').unwrap();
    let user = creds.split(':').next().unwrap().to_string();
    let (hostport, db) = rest.split_once('/').unwrap();
    let (host, port) = hostport.split_once(':').unwrap_or((hostport, "3306"));
    (
        host.into(),
        port.parse().unwrap(),
        user,
        db.split('?').next().unwrap().into(),
    )
}

#[test]
fn database_up_pass_succeeds() {
    let (host, port, user, db) = test_database();
    let p = Project::with_db(&format!("{host}:{port}"), &db, &user);
    p.queue([1]);
    let mut child = p.spawn(&["--check_db", "--one_pass"]);
    let status = wait_exit(&mut child, Duration::from_secs(20), &p.log());
    assert_eq!(status.code(), Some(0), "{}", p.log());
    assert_eq!(p.state(1), "done");
}

/// Forwards every connection on `listener` to `target` until the process ends.
fn forward(listener: TcpListener, target: (String, u16)) {
    thread::spawn(move || {
        for client in listener.incoming() {
            let Ok(client) = client else { continue };
            let Ok(server) = TcpStream::connect((target.0.as_str(), target.1)) else {
                continue;
            };
            for (mut from, mut to) in [
                (client.try_clone().unwrap(), server.try_clone().unwrap()),
                (server, client),
            ] {
                thread::spawn(move || {
                    let _ = std::io::copy(&mut from, &mut to);
                    let _ = to.shutdown(std::net::Shutdown::Write);
                });
            }
        }
    });
}

#[test]
fn database_outage_then_recovery() {
    let (host, port, user, db) = test_database();
    // A port that refuses connections until a forwarder to MariaDB opens it.
    let proxy_port = closed_port();
    let p = Project::with_db(&format!("127.0.0.1:{proxy_port}"), &db, &user);
    p.queue([1, 2]);
    let mut child = p.spawn(&[
        "-d",
        "4",
        "--check_db",
        "--backoff_ms",
        "100",
        "--backoff_max_ms",
        "200",
    ]);
    p.wait_for_log("attempt=2");
    assert_eq!(p.state(1), "queued", "no work while the database is down");

    forward(
        TcpListener::bind(("127.0.0.1", proxy_port)).unwrap(),
        (host, port),
    );
    p.wait_for_log("pass succeeded after failures");
    p.wait_for_log("item finished item_id=2");
    p.touch_stop_daemons();
    let status = wait_exit(&mut child, Duration::from_secs(10), &p.log());
    assert_eq!(status.code(), Some(0));
    assert_eq!([p.state(1), p.state(2)], ["done", "done"]);
}
