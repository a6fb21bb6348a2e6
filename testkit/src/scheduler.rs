//! The `scheduler` binary serving a test project, as `bin/start` would run it.

use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, ExitStatus, Stdio};
use std::time::{Duration, Instant};

use anyhow::{Context, bail};

/// A running `scheduler`; killed on `Drop` if still running.
#[derive(Debug)]
pub struct SchedulerProcess {
    child: Option<Child>,
    pub addr: SocketAddr,
    /// Its stderr (the log).
    pub log_path: PathBuf,
}

impl SchedulerProcess {
    /// Starts `binary --project-dir ROOT --listen ADDR -d 3 [extra...]` and waits until it
    /// answers `probe_path` (e.g. the master page) with 200.
    pub async fn start(
        binary: &Path,
        project_root: &Path,
        addr: SocketAddr,
        probe_path: &str,
        extra_args: &[&str],
        log_path: &Path,
    ) -> anyhow::Result<SchedulerProcess> {
        let log = std::fs::File::create(log_path)
            .with_context(|| format!("create {}", log_path.display()))?;
        let child = Command::new(binary)
            .arg("--project-dir")
            .arg(project_root)
            .arg("--listen")
            .arg(addr.to_string())
            .args(["-d", "3"])
            .args(extra_args)
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(log)
            .spawn()
            .with_context(|| format!("spawn {}", binary.display()))?;
        let mut p = SchedulerProcess {
            child: Some(child),
            addr,
            log_path: log_path.to_path_buf(),
        };
        let started = Instant::now();
        loop {
            if let Ok(r) = crate::http::get(addr, probe_path).await
                && r.status == 200
            {
                return Ok(p);
            }
            if let Some(status) = p.child.as_mut().and_then(|c| c.try_wait().ok().flatten()) {
                bail!("scheduler exited with {status} at start-up:\n{}", p.log());
            }
            if started.elapsed() > Duration::from_secs(30) {
                bail!("scheduler did not answer within 30 s:\n{}", p.log());
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    }

    /// The log so far.
    pub fn log(&self) -> String {
        std::fs::read_to_string(&self.log_path).unwrap_or_default()
    }

    /// The process id.
    pub fn pid(&self) -> Option<u32> {
        self.child.as_ref().map(Child::id)
    }

    /// Sends SIGTERM and waits (up to 30 s) for the exit status.
    pub async fn stop(&mut self) -> anyhow::Result<ExitStatus> {
        let Some(mut child) = self.child.take() else {
            bail!("already stopped");
        };
        let pid = rustix::process::Pid::from_raw(child.id() as i32).context("pid")?;
        rustix::process::kill_process(pid, rustix::process::Signal::TERM)?;
        let started = Instant::now();
        loop {
            if let Some(status) = child.try_wait()? {
                return Ok(status);
            }
            if started.elapsed() > Duration::from_secs(30) {
                let _ = child.kill();
                bail!("scheduler did not stop within 30 s of SIGTERM");
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    }

    /// Waits (up to `timeout`) for the process to exit by itself.
    pub async fn wait_exit(&mut self, timeout: Duration) -> anyhow::Result<ExitStatus> {
        let started = Instant::now();
        loop {
            let child = self.child.as_mut().context("already stopped")?;
            if let Some(status) = child.try_wait()? {
                self.child = None;
                return Ok(status);
            }
            if started.elapsed() > timeout {
                bail!("scheduler still running after {timeout:?}");
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    }
}

impl Drop for SchedulerProcess {
    fn drop(&mut self) {
        if let Some(mut child) = self.child.take() {
            let _ = child.kill();
            let _ = child.wait();
        }
    }
}
