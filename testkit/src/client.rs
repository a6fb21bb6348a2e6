//! A stock BOINC client (`/usr/bin/boinc`) in a private data directory, driven by `boinccmd`.
//!
//! Set up as PROTOCOL.md §10.3 recommends, so a test runs in seconds and never touches anything
//! but loopback: `--allow_multiple_clients`, its own GUI RPC port and password,
//! `--skip_cpu_benchmarks` (the client refuses scheduler RPCs until it has benchmarks),
//! `--no_gpus`, short retry delays, `<no_info_fetch>` (no project list fetched from the
//! internet), and a `global_prefs_override.xml` with `suspend_cpu_usage` 0 so a busy CI
//! machine does not suspend the task. Nothing weakens security: apps must still be signed
//! (no `unsigned_apps_ok`).

use std::path::{Path, PathBuf};
use std::process::{Child, Command, Output, Stdio};
use std::time::{Duration, Instant};

use anyhow::{Context, bail};

use crate::net::free_port;

/// The stock client binaries (Debian `boinc-client`).
pub const BOINC: &str = "/usr/bin/boinc";
pub const BOINCCMD: &str = "/usr/bin/boinccmd";

/// A running client; killed on `Drop`.
#[derive(Debug)]
pub struct BoincClient {
    child: Option<Child>,
    dir: tempfile::TempDir,
    pub gui_port: u16,
    password: String,
    /// A label for messages (`client A`).
    pub label: String,
}

/// Whether the stock client is installed here.
pub fn available() -> bool {
    Path::new(BOINC).is_file() && Path::new(BOINCCMD).is_file()
}

const CC_CONFIG: &str = "<cc_config>\n  <log_flags>\n    <sched_op_debug>1</sched_op_debug>\n    \
<task_debug>1</task_debug>\n    <file_xfer_debug>1</file_xfer_debug>\n  </log_flags>\n  <options>\n    \
<no_info_fetch>1</no_info_fetch>\n  </options>\n</cc_config>\n";

const PREFS: &str = "<global_preferences>\n  <suspend_cpu_usage>0</suspend_cpu_usage>\n  \
<run_if_user_active>1</run_if_user_active>\n  <work_buf_min_days>0</work_buf_min_days>\n  \
<work_buf_additional_days>0.01</work_buf_additional_days>\n  <max_ncpus_pct>100</max_ncpus_pct>\n  \
<disk_min_free_gb>0.1</disk_min_free_gb>\n</global_preferences>\n";

/// Writes what makes a data directory a quiet test client: its GUI RPC password,
/// `cc_config.xml` (debug log flags, no project-list fetch) and a preferences override (never
/// suspend for CPU load, a small work buffer).
pub fn prepare_data_dir(dir: &Path, password: &str) -> std::io::Result<()> {
    std::fs::write(dir.join("gui_rpc_auth.cfg"), password)?;
    std::fs::write(dir.join("cc_config.xml"), CC_CONFIG)?;
    std::fs::write(dir.join("global_prefs_override.xml"), PREFS)
}

/// The command that starts the stock client on `dir` with its own GUI RPC port, no GPUs, no
/// benchmarks and 5 s retry delays (the caller sets its stdio).
pub fn boinc_command(dir: &Path, gui_port: u16) -> Command {
    let mut cmd = Command::new(BOINC);
    cmd.arg("--dir")
        .arg(dir)
        .args([
            "--allow_multiple_clients",
            "--no_gpus",
            "--skip_cpu_benchmarks",
        ])
        .args(["--gui_rpc_port", &gui_port.to_string()])
        .args([
            "--sched_retry_delay_min",
            "5",
            "--pers_retry_delay_min",
            "5",
        ]);
    cmd
}

impl BoincClient {
    /// Starts a client in a fresh data directory and waits until its GUI RPC answers.
    pub async fn start(label: &str) -> anyhow::Result<BoincClient> {
        let dir = tempfile::Builder::new()
            .prefix("rboinc-client-")
            .tempdir()?;
        let password = format!("pw-{label}-{}", std::process::id()).replace(' ', "_");
        prepare_data_dir(dir.path(), &password)?;
        let gui_port = free_port();
        let log = std::fs::File::create(dir.path().join("client.log"))?;
        let child = boinc_command(dir.path(), gui_port)
            .stdin(Stdio::null())
            .stdout(log.try_clone()?)
            .stderr(log)
            .spawn()
            .context("spawn boinc")?;
        let mut c = BoincClient {
            child: Some(child),
            dir,
            gui_port,
            password,
            label: label.to_string(),
        };
        let started = Instant::now();
        loop {
            if c.cmd(&["--get_cc_status"])
                .is_ok_and(|o| o.status.success())
            {
                return Ok(c);
            }
            if let Some(status) = c.child.as_mut().and_then(|ch| ch.try_wait().ok().flatten()) {
                bail!("{label}: boinc exited with {status}:\n{}", c.log());
            }
            if started.elapsed() > Duration::from_secs(30) {
                bail!("{label}: GUI RPC did not answer within 30 s:\n{}", c.log());
            }
            tokio::time::sleep(Duration::from_millis(200)).await;
        }
    }

    /// The client's data directory.
    pub fn dir(&self) -> &Path {
        self.dir.path()
    }

    /// Runs `boinccmd` against this client.
    pub fn cmd(&self, args: &[&str]) -> anyhow::Result<Output> {
        Command::new(BOINCCMD)
            .args(["--host", &format!("127.0.0.1:{}", self.gui_port)])
            .args(["--passwd", &self.password])
            .args(args)
            .output()
            .context("run boinccmd")
    }

    /// Runs `boinccmd` and returns its stdout; a failure is an error with its output.
    pub fn cmd_ok(&self, args: &[&str]) -> anyhow::Result<String> {
        let out = self.cmd(args)?;
        let stdout = String::from_utf8_lossy(&out.stdout).into_owned();
        if !out.status.success() {
            bail!(
                "{}: boinccmd {args:?} failed ({}): {stdout}{}",
                self.label,
                out.status,
                String::from_utf8_lossy(&out.stderr)
            );
        }
        Ok(stdout)
    }

    /// `boinccmd --project_attach URL KEY`.
    pub fn attach(&self, master_url: &str, authenticator: &str) -> anyhow::Result<()> {
        self.cmd_ok(&["--project_attach", master_url, authenticator])?;
        Ok(())
    }

    /// `boinccmd --get_tasks`.
    pub fn tasks(&self) -> anyhow::Result<String> {
        self.cmd_ok(&["--get_tasks"])
    }

    /// `boinccmd --get_project_status`.
    pub fn project_status(&self) -> anyhow::Result<String> {
        self.cmd_ok(&["--get_project_status"])
    }

    /// `boinccmd --project URL update`: an RPC now, ignoring backoffs.
    pub fn update(&self, master_url: &str) -> anyhow::Result<()> {
        self.cmd_ok(&["--project", master_url, "update"])?;
        Ok(())
    }

    /// The client's messages (its stdout and stderr).
    pub fn log(&self) -> String {
        std::fs::read_to_string(self.dir.path().join("client.log")).unwrap_or_default()
    }

    /// Polls `check` on the log every half second until it holds or `timeout` passes.
    pub async fn wait_for_log(
        &self,
        timeout: Duration,
        what: &str,
        check: impl Fn(&str) -> bool,
    ) -> anyhow::Result<()> {
        let started = Instant::now();
        loop {
            let log = self.log();
            if check(&log) {
                return Ok(());
            }
            if started.elapsed() > timeout {
                bail!(
                    "{}: not seen within {timeout:?}: {what}\n--- client log ---\n{log}",
                    self.label
                );
            }
            tokio::time::sleep(Duration::from_millis(500)).await;
        }
    }

    /// A file of the attached project's directory (`projects/<url-derived name>/`).
    pub fn project_file(&self, master_url: &str, name: &str) -> PathBuf {
        let without_scheme = master_url
            .split_once("://")
            .map_or(master_url, |(_, rest)| rest);
        let dir_name = without_scheme
            .trim_end_matches('/')
            .replace(['/', ':'], "_");
        self.dir.path().join("projects").join(dir_name).join(name)
    }

    /// Asks the client to exit (`--quit`) and waits for it; kills it after 20 s.
    pub async fn quit(&mut self) -> anyhow::Result<()> {
        let _ = self.cmd(&["--quit"]);
        let Some(mut child) = self.child.take() else {
            return Ok(());
        };
        let started = Instant::now();
        while child.try_wait()?.is_none() {
            if started.elapsed() > Duration::from_secs(20) {
                let _ = child.kill();
                let _ = child.wait();
                bail!("{}: did not quit within 20 s", self.label);
            }
            tokio::time::sleep(Duration::from_millis(200)).await;
        }
        Ok(())
    }
}

impl Drop for BoincClient {
    fn drop(&mut self) {
        if let Some(mut child) = self.child.take() {
            let _ = child.kill();
            let _ = child.wait();
        }
    }
}
