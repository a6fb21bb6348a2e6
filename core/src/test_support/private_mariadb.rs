//! A MariaDB server of a test's own, on a free port with its data in a temporary directory,
//! that the test may stop and start again (a database outage) without touching the shared
//! server the other tests use.
//!
//! ```no_run
//! # async fn demo() {
//! use rboinc_core::test_support::{TestDb, private_mariadb::PrivateMariaDb};
//! let Some(mut server) = PrivateMariaDb::start_or_skip().await else { return };
//! let db = TestDb::create_on(&server.url(), true).await.unwrap();
//! server.stop();            // the outage
//! server.start_again().await.unwrap();
//! # }
//! ```
//!
//! It needs `mariadb-install-db` and `mariadbd` (Debian's `mariadb-server`);
//! [`PrivateMariaDb::start_or_skip`] says on stderr that the test is skipped when they are
//! missing. Root has no password and connects over TCP on 127.0.0.1.

use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use sqlx::{ConnectOptions, Connection};

/// The binaries, searched in `PATH` and the usual Debian places.
const INSTALL_DB: &str = "mariadb-install-db";
const SERVER: &str = "mariadbd";
const START_TIMEOUT: Duration = Duration::from_secs(60);

/// A private server; stopped and its data removed on `Drop`.
#[derive(Debug)]
pub struct PrivateMariaDb {
    dir: PathBuf,
    port: u16,
    server_bin: PathBuf,
    child: Option<Child>,
}

/// Where `name` is installed, if it is.
fn find_binary(name: &str) -> Option<PathBuf> {
    let path = std::env::var_os("PATH").unwrap_or_default();
    std::env::split_paths(&path)
        .chain(["/usr/sbin", "/usr/bin", "/usr/local/sbin"].map(PathBuf::from))
        .map(|dir| dir.join(name))
        .find(|p| p.is_file())
}

fn free_port() -> std::io::Result<u16> {
    Ok(std::net::TcpListener::bind("127.0.0.1:0")?
        .local_addr()?
        .port())
}

impl PrivateMariaDb {
    /// Initialises and starts a server, or `None` (with a line on stderr saying the test is
    /// skipped) when the MariaDB binaries are not installed. Panics if they are installed but
    /// the server does not start.
    pub async fn start_or_skip() -> Option<PrivateMariaDb> {
        let (Some(install), Some(server)) = (find_binary(INSTALL_DB), find_binary(SERVER)) else {
            eprintln!(
                "SKIPPED: {INSTALL_DB} and {SERVER} are needed for a private MariaDB \
                 (apt-get install mariadb-server)"
            );
            return None;
        };
        match Self::start(&install, &server).await {
            Ok(db) => Some(db),
            Err(e) => panic!("private MariaDB: {e}"),
        }
    }

    async fn start(install: &Path, server: &Path) -> Result<PrivateMariaDb, String> {
        let dir = std::env::temp_dir().join(format!(
            "rboinc-mariadb-{}-{}",
            std::process::id(),
            crate::clock::now_i64()
        ));
        std::fs::create_dir_all(&dir).map_err(|e| format!("{}: {e}", dir.display()))?;
        let mut db = PrivateMariaDb {
            port: free_port().map_err(|e| format!("no free port: {e}"))?,
            dir,
            server_bin: server.to_path_buf(),
            child: None,
        };
        let out = Command::new(install)
            .arg("--no-defaults")
            .arg(format!("--datadir={}", db.data_dir().display()))
            .args([
                "--auth-root-authentication-method=normal",
                "--skip-test-db",
                "--innodb-log-file-size=4M",
            ])
            .args(Self::user_arg())
            .output()
            .map_err(|e| format!("{}: {e}", install.display()))?;
        if !out.status.success() {
            return Err(format!(
                "{INSTALL_DB} failed: {}",
                String::from_utf8_lossy(&out.stderr)
            ));
        }
        db.start_again().await?;
        Ok(db)
    }

    /// `--user=root` when running as root (mariadbd refuses otherwise).
    fn user_arg() -> Vec<String> {
        use std::os::unix::fs::MetadataExt;
        // /proc/self belongs to the process's effective user.
        if std::fs::metadata("/proc/self").is_ok_and(|m| m.uid() == 0) {
            vec!["--user=root".to_string()]
        } else {
            Vec::new()
        }
    }

    fn data_dir(&self) -> PathBuf {
        self.dir.join("data")
    }

    /// `mysql://root@127.0.0.1:PORT/mysql`, for [`super::TestDb::create_on`].
    pub fn url(&self) -> String {
        format!("mysql://root@127.0.0.1:{}/mysql", self.port)
    }

    /// Whether the server process is running.
    pub fn is_running(&self) -> bool {
        self.child.is_some()
    }

    /// Starts the server (again) on the same port and data, and waits until it accepts
    /// connections.
    pub async fn start_again(&mut self) -> Result<(), String> {
        if self.child.is_some() {
            return Ok(());
        }
        let log = std::fs::File::create(self.dir.join("mariadbd.log"))
            .map_err(|e| format!("server log: {e}"))?;
        let child = Command::new(&self.server_bin)
            .arg("--no-defaults")
            .args(Self::user_arg())
            .arg(format!("--datadir={}", self.data_dir().display()))
            .arg(format!("--port={}", self.port))
            .arg(format!(
                "--socket={}",
                self.dir.join("mysqld.sock").display()
            ))
            .arg(format!(
                "--pid-file={}",
                self.dir.join("mysqld.pid").display()
            ))
            .args([
                "--bind-address=127.0.0.1",
                "--innodb-log-file-size=4M",
                "--innodb-buffer-pool-size=16M",
                "--skip-grant-tables",
            ])
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(log)
            .spawn()
            .map_err(|e| format!("{}: {e}", self.server_bin.display()))?;
        self.child = Some(child);
        let options: sqlx::mysql::MySqlConnectOptions =
            self.url().parse().map_err(|e| format!("{e}"))?;
        let started = Instant::now();
        loop {
            if let Ok(conn) = options.connect().await {
                let _ = conn.close().await;
                return Ok(());
            }
            if let Some(child) = self.child.as_mut()
                && let Ok(Some(status)) = child.try_wait()
            {
                self.child = None;
                return Err(format!("{SERVER} exited ({status}); see {}", self.log()));
            }
            if started.elapsed() > START_TIMEOUT {
                return Err(format!("{SERVER} not ready after 60 s; see {}", self.log()));
            }
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
    }

    fn log(&self) -> String {
        self.dir.join("mariadbd.log").display().to_string()
    }

    /// Stops the server (SIGTERM, as a service manager does) and waits for it to exit.
    pub fn stop(&mut self) {
        if let Some(mut child) = self.child.take() {
            let termed = Command::new("kill")
                .args(["-TERM", &child.id().to_string()])
                .status()
                .is_ok_and(|s| s.success());
            if !termed {
                let _ = child.kill();
            }
            let _ = child.wait();
        }
    }
}

impl Drop for PrivateMariaDb {
    fn drop(&mut self) {
        if let Some(mut child) = self.child.take() {
            let _ = child.kill();
            let _ = child.wait();
        }
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}
