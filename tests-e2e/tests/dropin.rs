//! The README's "Dropping the daemons into an existing BOINC project", run as written.
//!
//! The test reads the numbered steps of that README section and runs their code blocks in
//! order (`sh` blocks with bash in the project directory; the `xml` block replaces
//! `<daemons>` in `config.xml`; the `boinccmd` block goes to a private stock client), on a
//! stock project: the tree, `config.xml` and `project.xml` BOINC's `make_project` wrote
//! (`fixtures/stock-server/make_project/`), a database with BOINC's schema, keys in BOINC's
//! format. BOINC's C++ programs are not shipped, so the project's `bin/` starts with
//! `dropin_stock/start.py` — a stand-in for BOINC's Python `start` that locks, launches and
//! stops daemons the way the real script does (`fcntl.lockf`) — as `bin/start` with the stock
//! links `bin/stop` and `bin/status`, and `sleep`-like stand-ins for the C++ daemons. Between
//! steps the test checks what the walk promises: no step leaves two copies of a daemon (our
//! `start` against the stock supervisor's locks, the stock `start --cron` against ours), each
//! side's status shows the other's daemons, a job goes through with a stock client, and after
//! our `stop` nothing of ours is left for BOINC's `start` to trip over.

mod common;

use std::collections::BTreeSet;
use std::path::{Path, PathBuf};
use std::process::{Command, Output};
use std::time::Duration;

use anyhow::{Context, bail, ensure};
use common::{Volunteer, app_binary, bins, processes_in, text, wait_until};
use rboinc_core::project::short_hostname;
use rboinc_core::test_support::TestDb;
use rboinc_core::test_support::stock_lock::lockf_would_block;
use rboinc_e2e::workspace_root;
use rboinc_testkit::net::free_port;

/// One numbered step of the walk and its code blocks (language, text).
#[derive(Debug)]
struct Step {
    number: u32,
    blocks: Vec<(String, String)>,
}

/// The numbered steps of the README's drop-in section.
fn walk() -> anyhow::Result<Vec<Step>> {
    let readme = std::fs::read_to_string(workspace_root().join("README.md"))?;
    let start = readme
        .find("## Dropping the daemons into an existing BOINC project")
        .context("no drop-in section in README.md")?;
    let section = &readme[start..];
    let section = &section[..section[3..].find("\n## ").map_or(section.len(), |i| i + 3)];
    let mut steps: Vec<Step> = Vec::new();
    let mut lines = section.lines();
    while let Some(line) = lines.next() {
        if let Some((n, _)) = line.split_once(". ")
            && let Ok(number) = n.parse::<u32>()
            && !line.starts_with(' ')
        {
            steps.push(Step {
                number,
                blocks: Vec::new(),
            });
            continue;
        }
        let trimmed = line.trim_start();
        if let Some(lang) = trimmed.strip_prefix("```")
            && !lang.is_empty()
        {
            let indent = line.len() - trimmed.len();
            let mut body = String::new();
            for l in lines.by_ref() {
                if l.trim_start() == "```" {
                    break;
                }
                body.push_str(l.get(indent..).unwrap_or(l.trim_start()));
                body.push('\n');
            }
            steps
                .last_mut()
                .context("a code block before the first step")?
                .blocks
                .push((lang.to_string(), body));
        }
    }
    let numbers: Vec<u32> = steps.iter().map(|s| s.number).collect();
    ensure!(
        numbers == (1..=10).collect::<Vec<_>>(),
        "the walk's steps: {numbers:?}"
    );
    Ok(steps)
}

/// A stock project on a database with BOINC's schema, and where rboinc's things are.
struct StockProject {
    db: TestDb,
    _dir: tempfile::TempDir,
    root: PathBuf,
    url: String,
    host: String,
}

const STOCK_DAEMONS: [&str; 3] = ["feeder", "transitioner", "file_deleter"];

impl StockProject {
    async fn make() -> anyhow::Result<StockProject> {
        let db = TestDb::stock_boinc().await;
        let dir = tempfile::Builder::new()
            .prefix("rboinc-dropin-")
            .tempdir()?;
        let root = dir.path().canonicalize()?.join("stockproj");
        let host = short_hostname();
        let fixtures = workspace_root().join("fixtures/stock-server/make_project");
        let port = free_port();
        // The tree, with the modes make_project gave it.
        std::fs::create_dir(&root)?;
        for line in std::fs::read_to_string(fixtures.join("dirs_with_modes.tsv"))?.lines() {
            let (mode, path) = line.split_once('\t').context("dirs_with_modes.tsv")?;
            let path = root.join(path.replace("HOSTNAME", &host));
            std::fs::create_dir_all(&path)?;
            let mode = u32::from_str_radix(mode, 8)?;
            std::fs::set_permissions(&path, std::os::unix::fs::PermissionsExt::from_mode(mode))?;
        }
        let s = db.db_settings();
        let mut config = std::fs::read_to_string(fixtures.join("config.xml"))?
            .replace("PROJECT_ROOT", &root.to_string_lossy())
            .replace("HOSTNAME", &host)
            .replace("SHMEM_KEY", "0x1111e001")
            .replace("127.0.0.1:8080", &format!("127.0.0.1:{port}"))
            .replace(
                "<db_name>fx_stock</db_name>",
                &format!("<db_name>{}</db_name>", s.name),
            )
            .replace(
                "<db_host>localhost</db_host>",
                &format!("<db_host>{}:{}</db_host>", s.host, s.port.unwrap_or(3306)),
            )
            .replace(
                "<db_user>root</db_user>",
                &format!("<db_user>{}</db_user>", s.user),
            );
        let password = s.password.expose();
        if !password.is_empty() {
            let (a, b) = (
                config.find("<db_passwd>").context("db_passwd")?,
                config.find("</db_passwd>").context("db_passwd")?,
            );
            config.replace_range(a..b, &format!("<db_passwd>{password}"));
        }
        std::fs::write(root.join("config.xml"), config)?;
        std::fs::copy(fixtures.join("project.xml"), root.join("project.xml"))?;
        // Keys in BOINC's format (make_project runs `crypt_prog -genkey 1024`).
        for pair in ["upload", "code_sign"] {
            rboinc_core::crypt::generate_key_files(
                &root.join(format!("keys/{pair}_private")),
                &root.join(format!("keys/{pair}_public")),
            )?;
        }
        // bin/: the stand-in for BOINC's start, its links, and stand-ins for the C++ daemons.
        let bin = root.join("bin");
        let start = bin.join("start");
        std::fs::copy(
            workspace_root().join("tests-e2e/tests/dropin_stock/start.py"),
            &start,
        )?;
        executable(&start)?;
        for link in ["stop", "status"] {
            std::os::unix::fs::symlink(&start, bin.join(link))?;
        }
        for daemon in STOCK_DAEMONS {
            let path = bin.join(daemon);
            std::fs::write(
                &path,
                format!("#!/bin/sh\n# stands in for BOINC's C++ {daemon}\nexec sleep 600\n"),
            )?;
            executable(&path)?;
        }
        Ok(StockProject {
            db,
            _dir: dir,
            url: format!("http://127.0.0.1:{port}/stockproj/"),
            root,
            host,
        })
    }

    fn pid_dir(&self) -> PathBuf {
        self.root.join(format!("pid_{}", self.host))
    }

    /// The names of the pid files in `pid_<host>/`.
    fn pid_files(&self) -> BTreeSet<String> {
        std::fs::read_dir(self.pid_dir())
            .into_iter()
            .flatten()
            .flatten()
            .map(|e| e.file_name().to_string_lossy().into_owned())
            .filter(|n| n.ends_with(".pid"))
            .collect()
    }

    /// Runs a program of the project's `bin/` (whoever's it is now), in the project directory.
    fn bin(&self, name: &str, args: &[&str]) -> anyhow::Result<Output> {
        Command::new(self.root.join("bin").join(name))
            .args(args)
            .current_dir(&self.root)
            .output()
            .with_context(|| format!("run bin/{name}"))
    }

    /// One of our programs from the build, on this project.
    fn ours(&self, name: &str, args: &[&str]) -> anyhow::Result<Output> {
        Command::new(bins().join(name))
            .arg("--project-dir")
            .arg(&self.root)
            .args(args)
            .output()
            .with_context(|| format!("run {name}"))
    }

    /// Our `status --json`: each daemon's command, running?, pid.
    fn status(&self) -> anyhow::Result<Vec<(String, bool, Option<i64>)>> {
        let out = self.ours("status", &["--json"])?;
        let doc: serde_json::Value =
            serde_json::from_slice(&out.stdout).with_context(|| text(&out))?;
        Ok(doc["daemons"]
            .as_array()
            .context("daemons")?
            .iter()
            .map(|d| {
                (
                    d["cmd"].as_str().unwrap_or_default().to_string(),
                    d["running"] == true,
                    d["pid"].as_i64(),
                )
            })
            .collect())
    }

    /// The processes running in the project directory, by pid.
    fn processes(&self) -> BTreeSet<i32> {
        processes_in(&self.root)
            .into_iter()
            .map(|(p, _)| p)
            .collect()
    }

    fn logs(&self) -> String {
        let mut s = String::new();
        for e in std::fs::read_dir(self.root.join(format!("log_{}", self.host)))
            .into_iter()
            .flatten()
            .flatten()
        {
            let t = std::fs::read_to_string(e.path()).unwrap_or_default();
            let tail: Vec<&str> = t.lines().rev().take(30).collect();
            s.push_str(&format!("--- {} ---\n", e.path().display()));
            for l in tail.iter().rev() {
                s.push_str(l);
                s.push('\n');
            }
        }
        s
    }

    /// Runs a step's `sh` and `xml` blocks; `boinccmd` blocks are returned for the client.
    fn run_step(&self, step: &Step) -> anyhow::Result<Vec<String>> {
        let mut client_blocks = Vec::new();
        for (lang, body) in &step.blocks {
            match lang.as_str() {
                "xml" => {
                    let path = self.root.join("config.xml");
                    let config = std::fs::read_to_string(&path)?;
                    let (a, b) = (
                        config.find("<daemons>").context("<daemons>")?,
                        config.find("</daemons>").context("</daemons>")? + "</daemons>".len(),
                    );
                    let mut new = config.clone();
                    new.replace_range(a..b, body.trim());
                    std::fs::write(&path, new)?;
                }
                "sh" if body.trim_start().starts_with("boinccmd") => {
                    client_blocks.push(body.clone());
                }
                "sh" => {
                    let out = Command::new("bash")
                        .args(["-euo", "pipefail", "-c", body])
                        .current_dir(&self.root)
                        .env("RBOINC", workspace_root())
                        .env("RBOINC_BIN", bins())
                        .env("MNIST_APP", app_binary())
                        .env("URL", &self.url)
                        .output()?;
                    ensure!(
                        out.status.success(),
                        "step {}: {body}\n{}\n{}",
                        step.number,
                        text(&out),
                        self.logs()
                    );
                    eprintln!(
                        "step {}: ok\n{}",
                        step.number,
                        String::from_utf8_lossy(&out.stdout)
                    );
                }
                other => bail!("step {}: a block of {other:?}", step.number),
            }
        }
        Ok(client_blocks)
    }
}

fn executable(path: &Path) -> std::io::Result<()> {
    std::fs::set_permissions(path, std::os::unix::fs::PermissionsExt::from_mode(0o755))
}

/// The lines of a `boinccmd` block as argument lists, `$URL` and `$KEY` filled in.
fn boinccmd_lines(block: &str, url: &str, key: &str) -> Vec<Vec<String>> {
    block
        .lines()
        .filter_map(|l| l.trim().strip_prefix("boinccmd "))
        .map(|rest| {
            rest.split_whitespace()
                .map(|w| {
                    w.trim_matches('"')
                        .replace("$URL", url)
                        .replace("$KEY", key)
                })
                .collect()
        })
        .collect()
}

#[tokio::test(flavor = "multi_thread")]
async fn the_readme_drop_in_walk_on_a_stock_project() -> anyhow::Result<()> {
    let steps = walk()?;
    let p = StockProject::make().await?;

    // Before the walk: the project runs under BOINC's start, its daemons holding their locks.
    let out = p.bin("start", &[])?;
    ensure!(out.status.success(), "stock start: {}", text(&out));
    let stock_pids = p.processes();
    assert_eq!(stock_pids.len(), STOCK_DAEMONS.len(), "{}", text(&out));
    let status = p.status()?;
    assert!(
        status.iter().all(|(_, running, _)| *running),
        "our status sees the stock daemons running: {status:?}"
    );
    // Our start, run by mistake now, doubles nothing.
    let out = p.ours("start", &["--start-check", "0.3"])?;
    ensure!(out.status.success(), "{}", text(&out));
    assert_eq!(
        String::from_utf8_lossy(&out.stdout)
            .matches("already running")
            .count(),
        3,
        "{}",
        text(&out)
    );
    assert_eq!(p.processes(), stock_pids, "no second copy");

    // 1-2: keep BOINC's bin/ and config; BOINC's stop.
    p.run_step(&steps[0])?;
    p.run_step(&steps[1])?;
    assert!(p.processes().is_empty(), "stock stop stopped its daemons");
    assert!(p.pid_files().is_empty());

    // 3: our programs over bin/; the stock links now reach our start.
    p.run_step(&steps[2])?;
    let start = std::fs::read(p.root.join("bin/start"))?;
    assert!(start.starts_with(b"\x7fELF"), "bin/start is ours");
    assert!(p.root.join("bin/stop").is_symlink() && p.root.join("bin/status").is_symlink());

    // 4-6: daemons, the app (project.xml + xadd), the published version and templates.
    p.run_step(&steps[3])?;
    p.run_step(&steps[4])?;
    let pool = p.db.pool();
    let apps: Vec<String> = sqlx::query_scalar("SELECT name FROM app")
        .fetch_all(pool)
        .await?;
    assert_eq!(apps, ["mnist"]);
    p.run_step(&steps[5])?;
    let versions: i64 = sqlx::query_scalar("SELECT COUNT(*) FROM app_version")
        .fetch_one(pool)
        .await?;
    assert_eq!(versions, 1, "update_versions published the app");

    // 7: our start and status: every daemon runs (status exits 0 only then).
    p.run_step(&steps[6])?;
    let status = p.status()?;
    assert_eq!(status.len(), 5, "{status:?}");
    assert!(
        status.iter().all(|(_, r, _)| *r),
        "{status:?}\n{}",
        p.logs()
    );
    let ours = p.processes();
    // BOINC's start from an operator's old crontab line (`start --cron`) doubles nothing.
    let out = Command::new("python3")
        .arg(p.root.join("bin.boinc/start"))
        .arg("--cron")
        .output()?;
    ensure!(out.status.success(), "stock cron: {}", text(&out));
    assert_eq!(
        String::from_utf8_lossy(&out.stdout)
            .matches("Daemon already running")
            .count(),
        5,
        "{}",
        text(&out)
    );
    assert_eq!(
        p.processes(),
        ours,
        "the stock start started no second copy"
    );
    // And the stock status sees ours as running: every lock file held.
    let out = Command::new("python3")
        .arg(p.root.join("bin.boinc/start"))
        .arg("--status")
        .output()?;
    let shown = String::from_utf8_lossy(&out.stdout);
    assert_eq!(shown.matches("  locked ").count(), 5, "{}", text(&out));
    assert!(!shown.contains("UNLOCKED"), "{}", text(&out));

    // 8: a job, through a stock client.
    let client_blocks = p.run_step(&steps[7])?;
    ensure!(client_blocks.len() == 1, "step 8's client block");
    let volunteer = Volunteer::start("dropin", |_| {}).await?;
    let lines = boinccmd_lines(&client_blocks[0], &p.url, "");
    ensure!(lines.len() == 2, "{lines:?}");
    let args: Vec<&str> = lines[0].iter().map(String::as_str).collect();
    let out = volunteer.cmd(&args)?;
    let created = String::from_utf8_lossy(&out.stdout).into_owned();
    let key = created
        .lines()
        .find_map(|l| l.trim().strip_prefix("account key:"))
        .map(|k| k.trim().to_string())
        .with_context(|| format!("no account key: {}", text(&out)))?;
    let lines = boinccmd_lines(&client_blocks[0], &p.url, &key);
    let args: Vec<&str> = lines[1].iter().map(String::as_str).collect();
    let out = volunteer.cmd(&args)?;
    ensure!(out.status.success(), "attach: {}", text(&out));
    let metrics = p.root.join("results/mnist/dropin_1/metrics.json");
    wait_until(
        Duration::from_secs(300),
        "the job assimilated",
        async || {
            if metrics.is_file() {
                return Ok(Some(()));
            }
            // Report finished work at once rather than at the client's next scheduled RPC.
            let _ = volunteer.cmd(&["--project", &p.url, "update"]);
            tokio::time::sleep(Duration::from_secs(2)).await;
            Ok(None)
        },
        || format!("{}\n--- client ---\n{}", p.logs(), volunteer.log()),
    )
    .await?;
    let m: serde_json::Value = serde_json::from_str(&std::fs::read_to_string(&metrics)?)?;
    assert_eq!(m["job"]["sample_count"], 600, "{m}");
    let (canonical, assimilated): (i64, i32) = sqlx::query_as(
        "SELECT CAST(canonical_resultid AS SIGNED), assimilate_state FROM workunit \
         WHERE name = 'dropin_1'",
    )
    .fetch_one(pool)
    .await?;
    assert!(
        canonical > 0 && assimilated == 2,
        "{canonical} {assimilated}"
    );
    let valid: i64 = sqlx::query_scalar("SELECT COUNT(*) FROM result WHERE validate_state = 1")
        .fetch_one(pool)
        .await?;
    assert_eq!(valid, 2, "both replicas validated\n{}", p.logs());
    drop(volunteer);

    // 9: roll back. Our stop leaves nothing of ours: no process, no pid file, every lock free
    // for BOINC's start, which then runs its daemons.
    p.run_step(&steps[8])?;
    let now = p.processes();
    assert_eq!(now.len(), STOCK_DAEMONS.len(), "only the stock daemons run");
    assert!(now.is_disjoint(&ours), "none of ours is left");
    assert_eq!(
        p.pid_files(),
        STOCK_DAEMONS
            .iter()
            .map(|d| format!("{d}.pid"))
            .collect::<BTreeSet<_>>()
    );
    for lock in [
        "scheduler.lock",
        "validator_mnist.log.lock",
        "script_assimilator_mnist.log.lock",
    ] {
        assert!(
            !lockf_would_block(&p.pid_dir().join(lock)),
            "{lock} is free for BOINC's start"
        );
    }
    let status = p.status()?;
    assert!(status.iter().all(|(_, r, _)| *r), "{status:?}");
    // Our start, with the stock config, refuses to double any of them.
    let out = p.ours("start", &["--start-check", "0.3"])?;
    assert_eq!(
        String::from_utf8_lossy(&out.stdout)
            .matches("already running")
            .count(),
        3,
        "{}",
        text(&out)
    );
    assert_eq!(p.processes(), now);

    // 10: roll forward; then stop with ours and nothing is left.
    p.run_step(&steps[9])?;
    let status = p.status()?;
    assert_eq!(status.len(), 5, "{status:?}");
    assert!(
        status.iter().all(|(_, r, _)| *r),
        "{status:?}\n{}",
        p.logs()
    );
    assert!(
        p.processes().is_disjoint(&now),
        "the stock daemons are gone"
    );
    let out = p.bin("stop", &["--timeout", "20"])?;
    ensure!(out.status.success(), "{}", text(&out));
    assert!(p.processes().is_empty(), "{:?}", processes_in(&p.root));
    assert!(p.pid_files().is_empty());
    Ok(())
}

impl Drop for StockProject {
    fn drop(&mut self) {
        for (pid, _) in processes_in(&self.root) {
            if let Some(p) = rustix::process::Pid::from_raw(pid) {
                let _ = rustix::process::kill_process(p, rustix::process::Signal::KILL);
            }
        }
    }
}
