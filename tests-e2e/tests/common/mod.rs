//! The whole system, started the way an administrator starts it: the real binaries
//! (`make_project`, `update_versions`, `start`, `series`, `stop`), a fresh MariaDB database, and
//! stock BOINC clients (`/usr/bin/boinc`) in private data directories on loopback.
//!
//! [`Stack`] is a project made and run by the binaries; [`Volunteer`] a stock client. Both clean
//! up on `Drop`, and [`Stack`] checks on the way that `stop` left no process behind.
#![allow(dead_code)]

pub mod series_checks;

use std::ffi::OsStr;
use std::os::unix::process::CommandExt;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Output, Stdio};
use std::sync::OnceLock;
use std::time::{Duration, Instant};

use anyhow::{Context, bail, ensure};
use rboinc_core::test_support::TestDb;
use rboinc_e2e::{target_dir, workspace_root};
use rboinc_testkit::client;
use rboinc_testkit::net::free_port;

/// The rboinc binaries, built by cargo (debug) once per test process. `cargo test --workspace`
/// has built them already, so this is a quick up-to-date check; alone
/// (`cargo test -p rboinc-e2e`) it builds them.
pub fn bins() -> &'static Path {
    static DIR: OnceLock<PathBuf> = OnceLock::new();
    DIR.get_or_init(|| {
        let cargo = std::env::var_os("CARGO").unwrap_or_else(|| "cargo".into());
        let out = Command::new(cargo)
            .current_dir(workspace_root())
            .args([
                "build",
                "--bins",
                "-p",
                "rboinc-scheduler",
                "-p",
                "rboinc-daemons",
            ])
            .args(["-p", "rboinc-tools", "-p", "rboinc-research"])
            .output()
            .expect("run cargo build");
        assert!(
            out.status.success(),
            "cargo build of the binaries failed:\n{}",
            String::from_utf8_lossy(&out.stderr)
        );
        target_dir().expect("target dir")
    })
}

/// The static mnist app clients download (release build, once per test process).
pub fn app_binary() -> PathBuf {
    rboinc_testkit::mnist::static_binary().expect("static mnist binary")
}

/// A command's output as text, for assertion messages.
pub fn text(o: &Output) -> String {
    format!(
        "{}\n--- stdout ---\n{}\n--- stderr ---\n{}",
        o.status,
        String::from_utf8_lossy(&o.stdout),
        String::from_utf8_lossy(&o.stderr)
    )
}

/// Processes whose working directory is `dir` or below it (daemons run in `tmp_<host>/`, client
/// tasks in `slots/N/`), zombies excluded.
pub fn processes_in(dir: &Path) -> Vec<(i32, String)> {
    let Ok(dir) = dir.canonicalize() else {
        return vec![];
    };
    let mut out = vec![];
    for e in std::fs::read_dir("/proc").into_iter().flatten().flatten() {
        let Some(pid) = e.file_name().to_str().and_then(|s| s.parse::<i32>().ok()) else {
            continue;
        };
        let Ok(cwd) = std::fs::read_link(format!("/proc/{pid}/cwd")) else {
            continue;
        };
        if !cwd.starts_with(&dir) {
            continue;
        }
        let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).unwrap_or_default();
        let state = stat
            .rsplit_once(')')
            .and_then(|(_, r)| r.trim_start().chars().next());
        if matches!(state, Some('Z') | Some('X') | None) {
            continue;
        }
        let cmd = std::fs::read_to_string(format!("/proc/{pid}/cmdline"))
            .unwrap_or_default()
            .replace('\0', " ");
        out.push((pid, cmd));
    }
    out
}

/// Whether `pid` names a live process (not a zombie).
pub fn alive(pid: i64) -> bool {
    std::fs::read_to_string(format!("/proc/{pid}/stat"))
        .ok()
        .and_then(|s| {
            s.rsplit_once(')')
                .and_then(|(_, r)| r.trim_start().chars().next())
        })
        .is_some_and(|state| state != 'Z' && state != 'X')
}

fn kill_all_in(dir: &Path) {
    for (pid, _) in processes_in(dir) {
        if let Some(p) = rustix::process::Pid::from_raw(pid) {
            let _ = rustix::process::kill_process(p, rustix::process::Signal::KILL);
        }
    }
}

/// Tuning for fast tests, written into `config.xml` as an administrator would: clients poll
/// every few seconds even when idle (BOINC's `<next_rpc_delay>`), and the daemons a result
/// passes through look for work every second.
#[derive(Debug, Clone)]
pub struct Tuning {
    pub next_rpc_delay: u32,
    pub sleep_interval: u32,
    /// Another validator in place of `make_project`'s: its `<cmd>` after the program's `-d 3
    /// --app mnist`, and scripts (name, text) installed in the project's `bin/` first.
    pub validator: Option<(String, Vec<(String, String)>)>,
    /// More `<config>` options, `(name, value)`, e.g. a small `daily_result_quota`.
    pub options: Vec<(String, String)>,
}

impl Default for Tuning {
    fn default() -> Self {
        Tuning {
            next_rpc_delay: 3,
            sleep_interval: 1,
            validator: None,
            options: Vec::new(),
        }
    }
}

/// A project made by `make_project` on its own test database, its app published by
/// `update_versions`, its daemons run by `start`.
#[derive(Debug)]
pub struct Stack {
    pub db: TestDb,
    dir: tempfile::TempDir,
    pub root: PathBuf,
    pub port: u16,
    pub master_url: String,
    pub authenticator: String,
    /// The ops page's password (user `admin`), as `make_project` printed it.
    pub ops_password: String,
    stopped: bool,
}

impl Stack {
    /// Makes, publishes and starts a project.
    pub async fn start(tuning: Tuning) -> anyhow::Result<Stack> {
        Self::start_on(tuning, TestDb::empty().await).await
    }

    /// [`Stack::start`] on a database of the caller's (e.g. on a private MariaDB server the
    /// test stops and starts: `TestDb::create_on(&server.url(), false)`).
    pub async fn start_on(tuning: Tuning, db: TestDb) -> anyhow::Result<Stack> {
        let dir = tempfile::Builder::new().prefix("rboinc-e2e-").tempdir()?;
        let root = dir.path().canonicalize()?.join("proj");
        let port = free_port();
        let s = db.db_settings();
        let out = Command::new(bins().join("make_project"))
            .arg("e2eproj")
            .arg("--project_root")
            .arg(&root)
            .args(["--url_base", &format!("http://127.0.0.1:{port}/")])
            .args([
                "--db_host",
                &format!("{}:{}", s.host, s.port.unwrap_or(3306)),
            ])
            .args(["--db_user", &s.user, "--db_name", &s.name])
            .args(["--submitter-email", "researcher@e2e.invalid"])
            .arg("--bin-dir")
            .arg(bins())
            .env("RBOINC_DB_PASSWD", s.password.expose())
            .output()?;
        ensure!(out.status.success(), "make_project failed: {}", text(&out));
        let summary = String::from_utf8_lossy(&out.stdout).into_owned();
        let field = |name: &str| {
            summary
                .lines()
                .find_map(|l| l.trim().strip_prefix(name).map(|v| v.trim().to_string()))
        };
        let authenticator = field("authenticator").context("no authenticator printed")?;
        let master_url = field("master URL").context("no master URL printed")?;
        let ops_password = summary
            .lines()
            .find_map(|l| l.trim().strip_prefix("user admin  password "))
            .map(|p| p.trim().to_string())
            .context("no ops password printed")?;
        let stack = Stack {
            db,
            dir,
            root,
            port,
            master_url,
            authenticator,
            ops_password,
            stopped: false,
        };
        stack.tune(&tuning)?;
        let out = stack.tool(
            "update_versions",
            &[
                OsStr::new("--add-app-binary"),
                app_binary().as_os_str(),
                OsStr::new("--app"),
                OsStr::new("mnist"),
                OsStr::new("--version"),
                OsStr::new("1.0"),
            ],
        )?;
        ensure!(
            out.status.success(),
            "update_versions failed: {}",
            text(&out)
        );
        stack.start_daemons()?;
        Ok(stack)
    }

    fn tune(&self, t: &Tuning) -> anyhow::Result<()> {
        let path = self.root.join("config.xml");
        let mut xml = std::fs::read_to_string(&path)?;
        xml = xml.replacen(
            "    </config>",
            &format!(
                "        <next_rpc_delay>{}</next_rpc_delay>\n    </config>",
                t.next_rpc_delay
            ),
            1,
        );
        for (name, value) in &t.options {
            let open = format!("<{name}>");
            let close = format!("</{name}>");
            let element = format!("{open}{value}{close}");
            xml = match (xml.find(&open), xml.find(&close)) {
                (Some(a), Some(b)) if b > a => {
                    format!("{}{element}{}", &xml[..a], &xml[b + close.len()..])
                }
                _ => xml.replacen(
                    "    </config>",
                    &format!("        {element}\n    </config>"),
                    1,
                ),
            };
        }
        if let Some((cmd, scripts)) = &t.validator {
            use std::os::unix::fs::PermissionsExt;
            for (name, text) in scripts {
                let path = self.root.join("bin").join(name);
                std::fs::write(&path, text)?;
                std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o755))?;
            }
            let line = xml
                .lines()
                .find(|l| l.contains("<cmd>validator "))
                .context("no validator <daemon> in config.xml")?
                .to_string();
            let indent = &line[..line.find("<cmd>").unwrap_or(0)];
            xml = xml.replace(&line, &format!("{indent}<cmd>{cmd}</cmd>"));
        }
        for daemon in [
            "transitioner",
            "work_generator",
            "validator",
            "script_assimilator",
        ] {
            xml = xml.replace(
                &format!("<cmd>{daemon} -d 3"),
                &format!("<cmd>{daemon} -d 3 --sleep_interval {}", t.sleep_interval),
            );
        }
        std::fs::write(&path, xml)?;
        Ok(())
    }

    /// Runs one of the project's tools (from the build) with `--project-dir`.
    pub fn tool(&self, name: &str, args: &[&OsStr]) -> anyhow::Result<Output> {
        Command::new(bins().join(name))
            .arg("--project-dir")
            .arg(&self.root)
            .args(args)
            .output()
            .with_context(|| format!("run {name}"))
    }

    /// `start`; fails if a daemon did not come up.
    pub fn start_daemons(&self) -> anyhow::Result<()> {
        let out = self.tool("start", &[])?;
        ensure!(out.status.success(), "start failed: {}", text(&out));
        Ok(())
    }

    /// `status --json`.
    pub fn status(&self) -> anyhow::Result<serde_json::Value> {
        let out = self.tool("status", &[OsStr::new("--json")])?;
        serde_json::from_slice(&out.stdout).with_context(|| text(&out))
    }

    /// The pid of a running daemon, by its program name.
    pub fn daemon_pid(&self, program: &str) -> anyhow::Result<i32> {
        let status = self.status()?;
        status["daemons"]
            .as_array()
            .into_iter()
            .flatten()
            .find(|d| {
                d["cmd"]
                    .as_str()
                    .is_some_and(|c| c.split_whitespace().next() == Some(program))
                    && d["running"] == true
            })
            .and_then(|d| d["pid"].as_i64())
            .map(|p| p as i32)
            .with_context(|| format!("{program} is not running: {status}"))
    }

    /// Starts `series run` of a [`SmallSeries`] (stdout and stderr captured).
    pub fn small_series(&self, series: &SmallSeries<'_>) -> anyhow::Result<Child> {
        self.series(&series.args())
    }

    /// Starts `series <args>` (stdout and stderr captured).
    pub fn series<S: AsRef<OsStr>>(&self, args: &[S]) -> anyhow::Result<Child> {
        Command::new(bins().join("series"))
            .arg("--project-dir")
            .arg(&self.root)
            .args(args)
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .context("spawn series")
    }

    /// `stop`, then checks that no process is left in the project directory.
    pub fn stop(&mut self) -> anyhow::Result<Output> {
        self.stopped = true;
        let out = self.tool("stop", &[OsStr::new("--timeout"), OsStr::new("20")])?;
        ensure!(out.status.success(), "stop failed: {}", text(&out));
        let left = processes_in(&self.root);
        ensure!(left.is_empty(), "processes left behind by stop: {left:?}");
        Ok(out)
    }

    /// What a failed `series run` leaves to read: its output, the project's logs and each
    /// named client's log.
    pub fn series_failure(&self, out: &Output, clients: &[(&str, &Volunteer)]) -> String {
        let mut s = format!("series run failed: {}\n{}", text(out), self.logs());
        for (name, client) in clients {
            s.push_str(&format!("\n--- client {name} ---\n{}", client.log()));
        }
        s
    }

    /// The project's log files, for failure messages.
    pub fn logs(&self) -> String {
        let mut s = String::new();
        let host = rboinc_core::project::short_hostname();
        for e in std::fs::read_dir(self.root.join(format!("log_{host}")))
            .into_iter()
            .flatten()
            .flatten()
        {
            let text = std::fs::read_to_string(e.path()).unwrap_or_default();
            let tail: Vec<&str> = text.lines().rev().take(40).collect();
            s.push_str(&format!("--- {} (last 40 lines) ---\n", e.path().display()));
            for l in tail.iter().rev() {
                s.push_str(l);
                s.push('\n');
            }
        }
        s
    }

    /// Every log file of the project (`log_<host>/*`), with its text.
    pub fn log_files(&self) -> Vec<(PathBuf, String)> {
        let host = rboinc_core::project::short_hostname();
        let mut files: Vec<(PathBuf, String)> =
            std::fs::read_dir(self.root.join(format!("log_{host}")))
                .into_iter()
                .flatten()
                .flatten()
                .map(|e| {
                    let text = std::fs::read_to_string(e.path()).unwrap_or_default();
                    (e.path(), text)
                })
                .collect();
        files.sort();
        files
    }

    pub fn temp(&self) -> &Path {
        self.dir.path()
    }
}

impl Drop for Stack {
    fn drop(&mut self) {
        if !self.stopped {
            let _ = self.tool("stop", &[OsStr::new("--timeout"), OsStr::new("5")]);
        }
        kill_all_in(&self.root);
    }
}

/// Waits for `child` to exit (up to `timeout`), returning its output.
pub async fn wait_output(mut child: Child, timeout: Duration) -> anyhow::Result<Output> {
    let started = Instant::now();
    loop {
        if child.try_wait()?.is_some() {
            return Ok(child.wait_with_output()?);
        }
        if started.elapsed() > timeout {
            let _ = child.kill();
            let out = child.wait_with_output()?;
            bail!("still running after {timeout:?}: {}", text(&out));
        }
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
}

/// A stock BOINC client (`/usr/bin/boinc`) in a private data directory, set up as
/// PROTOCOL.md §10.3 says (own GUI RPC port and password, `--allow_multiple_clients`,
/// `--skip_cpu_benchmarks`, short retry delays, `no_info_fetch`, no CPU-load suspension) and
/// with nothing weakened: apps must be signed.
#[derive(Debug)]
pub struct Volunteer {
    child: Option<Child>,
    dir: tempfile::TempDir,
    pub gui_port: u16,
    password: String,
    pub label: String,
}

impl Volunteer {
    /// Starts a client; `prepare` may put files into its data directory first.
    pub async fn start(label: &str, prepare: impl FnOnce(&Path)) -> anyhow::Result<Volunteer> {
        let dir = tempfile::Builder::new()
            .prefix(&format!("rboinc-e2e-client-{label}-"))
            .tempdir()?;
        let password = format!("pw{}", free_port());
        client::prepare_data_dir(dir.path(), &password)?;
        prepare(dir.path());
        let mut v = Volunteer {
            child: None,
            dir,
            gui_port: free_port(),
            password,
            label: label.to_string(),
        };
        v.spawn().await?;
        Ok(v)
    }

    /// Starts `boinc` on this data directory and waits for its GUI RPC.
    async fn spawn(&mut self) -> anyhow::Result<()> {
        let log = std::fs::OpenOptions::new()
            .create(true)
            .append(true)
            .open(self.dir.path().join("client.log"))?;
        let child = client::boinc_command(self.dir.path(), self.gui_port)
            .stdin(Stdio::null())
            .stdout(log.try_clone()?)
            .stderr(log)
            // Its own process group: the test's terminal signals stay with the test.
            .process_group(0)
            .spawn()
            .context("spawn /usr/bin/boinc (is Debian's boinc-client installed?)")?;
        self.child = Some(child);
        let started = Instant::now();
        while !self
            .cmd(&["--get_cc_status"])
            .is_ok_and(|o| o.status.success())
        {
            if let Some(status) = self
                .child
                .as_mut()
                .and_then(|c| c.try_wait().ok().flatten())
            {
                bail!(
                    "{}: boinc exited with {status}:\n{}",
                    self.label,
                    self.log()
                );
            }
            ensure!(
                started.elapsed() < Duration::from_secs(30),
                "{}: no GUI RPC within 30 s:\n{}",
                self.label,
                self.log()
            );
            tokio::time::sleep(Duration::from_millis(200)).await;
        }
        Ok(())
    }

    /// Quits the client (`--quit`), lets `prepare` change its data directory, and starts it
    /// again (a client reads `app_info.xml` only at start-up).
    pub async fn restart(&mut self, prepare: impl FnOnce(&Path)) -> anyhow::Result<()> {
        let _ = self.cmd(&["--quit"]);
        if let Some(mut child) = self.child.take() {
            let deadline = Instant::now() + Duration::from_secs(20);
            while child.try_wait()?.is_none() {
                ensure!(Instant::now() < deadline, "{}: did not quit", self.label);
                tokio::time::sleep(Duration::from_millis(100)).await;
            }
        }
        kill_all_in(self.dir.path());
        prepare(self.dir.path());
        self.spawn().await
    }

    pub fn dir(&self) -> &Path {
        self.dir.path()
    }

    pub fn cmd(&self, args: &[&str]) -> anyhow::Result<Output> {
        Command::new("/usr/bin/boinccmd")
            .args(["--host", &format!("127.0.0.1:{}", self.gui_port)])
            .args(["--passwd", &self.password])
            .args(args)
            .output()
            .context("run boinccmd")
    }

    /// `boinccmd --project_attach URL KEY`.
    pub fn attach(&self, url: &str, key: &str) -> anyhow::Result<()> {
        let out = self.cmd(&["--project_attach", url, key])?;
        ensure!(
            out.status.success(),
            "{}: attach failed: {}",
            self.label,
            text(&out)
        );
        Ok(())
    }

    pub fn log(&self) -> String {
        std::fs::read_to_string(self.dir.path().join("client.log")).unwrap_or_default()
    }

    /// The attached project's directory in the client (`projects/127.0.0.1_PORT_name`).
    pub fn project_dir(dir: &Path, master_url: &str) -> PathBuf {
        let rest = master_url.split_once("://").map_or(master_url, |(_, r)| r);
        dir.join("projects")
            .join(rest.trim_end_matches('/').replace(['/', ':'], "_"))
    }

    /// Kills the client and every task it runs at once, as a crash or a pulled plug would.
    pub fn kill_hard(&mut self) {
        if let Some(mut child) = self.child.take() {
            let _ = child.kill();
            let _ = child.wait();
        }
        kill_all_in(self.dir.path());
    }
}

impl Drop for Volunteer {
    fn drop(&mut self) {
        let _ = self.cmd(&["--quit"]);
        if let Some(mut child) = self.child.take() {
            let deadline = Instant::now() + Duration::from_secs(5);
            while child.try_wait().ok().flatten().is_none() && Instant::now() < deadline {
                std::thread::sleep(Duration::from_millis(100));
            }
            let _ = child.kill();
            let _ = child.wait();
        }
        kill_all_in(self.dir.path());
    }
}

/// Polls `check` every half second until it returns `Some`, or fails after `timeout` with
/// `what` and `context()` (e.g. the logs) in the message.
pub async fn wait_until<T>(
    timeout: Duration,
    what: &str,
    mut check: impl AsyncFnMut() -> anyhow::Result<Option<T>>,
    context: impl Fn() -> String,
) -> anyhow::Result<T> {
    let started = Instant::now();
    loop {
        if let Some(v) = check().await? {
            return Ok(v);
        }
        if started.elapsed() > timeout {
            bail!("not within {timeout:?}: {what}\n{}", context());
        }
        tokio::time::sleep(Duration::from_millis(500)).await;
    }
}

/// The level of a text log line (`2026-01-02T03:04:05.678Z  WARN target: message`), if it has
/// one (`start`'s `[date] Executing command` lines do not).
pub fn log_level(line: &str) -> Option<&str> {
    let mut words = line.split_whitespace();
    let stamp = words.next()?;
    if !stamp.starts_with(|c: char| c.is_ascii_digit()) || !stamp.contains('T') {
        return None;
    }
    words
        .next()
        .filter(|l| ["TRACE", "DEBUG", "INFO", "WARN", "ERROR"].contains(l))
}

/// The WARN and ERROR lines of every log of `stack`, as `file: line`.
pub fn warnings_and_errors(stack: &Stack) -> Vec<String> {
    let mut out = vec![];
    for (path, text) in stack.log_files() {
        let name = path.file_name().unwrap_or_default().to_string_lossy();
        for line in text.lines() {
            if matches!(log_level(line), Some("WARN" | "ERROR")) {
                out.push(format!("{name}: {line}"));
            }
        }
    }
    out
}

/// A series small enough for the fault tests: 600 samples, 2 epochs, batch 60 (each job well
/// under a second), polled every second. What differs between tests is named here.
#[derive(Debug, Clone)]
pub struct SmallSeries<'a> {
    pub name: &'a str,
    pub rounds: usize,
    pub base_seed: u64,
    /// `--timeout` of `series run`, seconds.
    pub timeout_secs: u64,
    /// More `series run` arguments (`--delay-bound 30`, ...).
    pub extra: &'a [&'a str],
}

impl SmallSeries<'_> {
    /// The `series` arguments, `run` first.
    pub fn args(&self) -> Vec<String> {
        let mut v: Vec<String> = [
            "run",
            "--name",
            self.name,
            "--rounds",
            &self.rounds.to_string(),
            "--sample-count",
            "600",
            "--train-epochs",
            "2",
            "--batch-size",
            "60",
            "--base-seed",
            &self.base_seed.to_string(),
            "--poll",
            "1",
            "--timeout",
            &self.timeout_secs.to_string(),
        ]
        .iter()
        .map(|a| a.to_string())
        .collect();
        v.extend(self.extra.iter().map(|a| a.to_string()));
        v
    }
}
