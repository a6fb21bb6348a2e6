//! A real Prometheus (Debian's `prometheus` package) scrapes a real project, and the alert rules
//! of `docker/prometheus/` pass `promtool`.
//!
//! The project is made and started by the binaries (`make_project`, `update_versions`,
//! `start`), a short series is submitted (no client is attached: the work generator and the
//! transitioner have work, nothing is computed), and Prometheus, started here on a free
//! loopback port with a generated configuration, scrapes the scheduler's `/metrics` with the ops
//! login `make_project` printed. The test then asks Prometheus's HTTP API for a daemon's
//! counter, which only the daemon's metrics file could have put there.

mod common;

use std::ffi::OsStr;
use std::net::SocketAddr;
use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use anyhow::{Context, ensure};
use common::{Stack, Tuning};
use rboinc_e2e::workspace_root;
use rboinc_testkit::net::free_port;

const PROMETHEUS: &str = "/usr/bin/prometheus";
const PROMTOOL: &str = "/usr/bin/promtool";

fn run(cmd: &str, args: &[&OsStr]) -> (bool, String) {
    let out = Command::new(cmd)
        .args(args)
        .output()
        .unwrap_or_else(|e| panic!("{cmd}: {e} (scripts/test.sh installs the prometheus package)"));
    let text = format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    (out.status.success(), text)
}

#[test]
fn the_alert_rules_and_the_compose_configuration_pass_promtool() {
    let dir = workspace_root().join("docker/prometheus");
    let (ok, text) = run(
        PROMTOOL,
        &[
            OsStr::new("check"),
            OsStr::new("rules"),
            dir.join("alerts.yml").as_os_str(),
        ],
    );
    assert!(ok, "promtool check rules: {text}");
    assert!(text.contains("SUCCESS: 8 rules found"), "{text}");
    // The unit tests: each alert fires on its condition and not on a healthy series.
    let (ok, text) = run(
        PROMTOOL,
        &[
            OsStr::new("test"),
            OsStr::new("rules"),
            dir.join("alerts_test.yml").as_os_str(),
        ],
    );
    assert!(
        ok && text.contains("SUCCESS"),
        "promtool test rules: {text}"
    );
    let (ok, text) = run(
        PROMTOOL,
        &[
            OsStr::new("check"),
            OsStr::new("config"),
            dir.join("prometheus.yml").as_os_str(),
        ],
    );
    assert!(ok, "promtool check config: {text}");
    // Every alert is explained in the runbook.
    let runbook = std::fs::read_to_string(workspace_root().join("docs/RUNBOOK.md")).unwrap();
    let rules = std::fs::read_to_string(dir.join("alerts.yml")).unwrap();
    let alerts: Vec<&str> = rules
        .lines()
        .filter_map(|l| l.trim().strip_prefix("- alert: "))
        .collect();
    assert_eq!(alerts.len(), 7);
    for alert in alerts {
        assert!(
            runbook.contains(&format!("`{alert}`")),
            "{alert} not in the runbook"
        );
    }
}

/// Prometheus, killed when the test ends.
struct Prom(Child);

impl Drop for Prom {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

/// One PromQL instant query through the HTTP API: the values of the result vector.
async fn query(addr: SocketAddr, promql: &str) -> anyhow::Result<Vec<(serde_json::Value, f64)>> {
    let mut q = String::new();
    for b in promql.bytes() {
        if b.is_ascii_alphanumeric() || b"-_.~".contains(&b) {
            q.push(b as char);
        } else {
            q.push_str(&format!("%{b:02X}"));
        }
    }
    let r = rboinc_testkit::http::get(addr, &format!("/api/v1/query?query={q}")).await?;
    ensure!(
        r.status == 200,
        "query {promql}: HTTP {}: {}",
        r.status,
        r.text()
    );
    let v: serde_json::Value = serde_json::from_str(&r.text())?;
    ensure!(v["status"] == "success", "{v}");
    Ok(v["data"]["result"]
        .as_array()
        .into_iter()
        .flatten()
        .map(|s| {
            let value = s["value"][1]
                .as_str()
                .and_then(|x| x.parse().ok())
                .unwrap_or(f64::NAN);
            (s["metric"].clone(), value)
        })
        .collect())
}

/// Waits (up to 90 s) until the first sample of `promql` satisfies `ok`; its value.
async fn wait_for(
    addr: SocketAddr,
    promql: &str,
    ok: impl Fn(f64) -> bool,
    context: &dyn Fn() -> String,
) -> anyhow::Result<f64> {
    let started = Instant::now();
    let mut last = Vec::new();
    loop {
        if let Ok(v) = query(addr, promql).await {
            if let Some((_, n)) = v.first()
                && ok(*n)
            {
                return Ok(*n);
            }
            last = v;
        }
        ensure!(
            started.elapsed() < Duration::from_secs(90),
            "Prometheus: {promql} not as expected after 90 s (last {last:?})\n{}",
            context()
        );
        tokio::time::sleep(Duration::from_millis(500)).await;
    }
}

fn write_config(
    dir: &Path,
    scheduler_port: u16,
    password: &str,
) -> anyhow::Result<std::path::PathBuf> {
    let pw = dir.join("ops-password");
    std::fs::write(&pw, password)?;
    let rules = workspace_root().join("docker/prometheus/alerts.yml");
    let config = format!(
        "global:\n  scrape_interval: 1s\n  evaluation_interval: 1s\n\
         rule_files:\n  - {rules}\n\
         scrape_configs:\n  - job_name: rboinc\n    metrics_path: /metrics\n\
         \x20   basic_auth:\n      username: admin\n      password_file: {pw}\n\
         \x20   static_configs:\n      - targets: ['127.0.0.1:{scheduler_port}']\n",
        rules = rules.display(),
        pw = pw.display(),
    );
    let path = dir.join("prometheus.yml");
    std::fs::write(&path, config)?;
    Ok(path)
}

#[tokio::test]
async fn a_real_prometheus_scrapes_the_daemons_counters_through_the_ops_login() -> anyhow::Result<()>
{
    assert!(
        Path::new(PROMETHEUS).is_file(),
        "this test needs Debian's prometheus at {PROMETHEUS} (scripts/test.sh installs it)"
    );
    let mut stack = Stack::start(Tuning::default()).await?;
    let out = Command::new(common::bins().join("series"))
        .arg("--project-dir")
        .arg(&stack.root)
        .args([
            "submit",
            "--name",
            "prom",
            "--rounds",
            "2",
            "--sample-count",
            "600",
        ])
        .args(["--train-epochs", "2", "--batch-size", "60"])
        .output()?;
    ensure!(
        out.status.success(),
        "series submit: {}",
        common::text(&out)
    );

    let work = stack.temp().join("prometheus");
    std::fs::create_dir_all(work.join("data"))?;
    let config = write_config(&work, stack.port, &stack.ops_password)?;
    let prom_port = free_port();
    let prom_addr: SocketAddr = ([127, 0, 0, 1], prom_port).into();
    let log = std::fs::File::create(work.join("prometheus.log"))?;
    let _prom = Prom(
        Command::new(PROMETHEUS)
            .arg(format!("--config.file={}", config.display()))
            .arg(format!(
                "--storage.tsdb.path={}",
                work.join("data").display()
            ))
            .arg(format!("--web.listen-address=127.0.0.1:{prom_port}"))
            .stdin(Stdio::null())
            .stdout(log.try_clone()?)
            .stderr(log)
            .spawn()
            .context("start prometheus")?,
    );

    // The transitioner's counter of handled workunits, scraped from the scheduler: the two
    // rounds' workunits were given their results.
    let logs = || {
        format!(
            "--- prometheus log ---\n{}\n{}",
            std::fs::read_to_string(work.join("prometheus.log")).unwrap_or_default(),
            stack.logs()
        )
    };
    let transitioned = wait_for(
        prom_addr,
        "rboinc_daemon_items_total{job=\"rboinc\",daemon=\"transitioner\",outcome=\"transitioned\"}",
        |n| n >= 2.0,
        &logs,
    )
    .await?;
    let results: i64 = sqlx::query_scalar("SELECT COUNT(*) FROM result")
        .fetch_one(stack.db.pool())
        .await?;
    assert!(results >= 4, "{results} results");
    assert!(transitioned >= 2.0);
    let created = wait_for(
        prom_addr,
        "rboinc_daemon_items_total{daemon=\"transitioner\",outcome=\"results_created\"}",
        |n| n >= results as f64,
        &logs,
    )
    .await?;
    assert_eq!(created, results as f64, "one count per result row");

    // The scrape went through the login, and the scheduler's and the project's figures are
    // there too: a live transitioner, passes, a backlog gauge, the latency histogram.
    wait_for(prom_addr, "up{job=\"rboinc\"}", |n| n == 1.0, &logs).await?;
    wait_for(
        prom_addr,
        "rboinc_daemon_up{daemon=\"transitioner\"}",
        |n| n == 1.0,
        &logs,
    )
    .await?;
    wait_for(
        prom_addr,
        "sum(rboinc_daemon_passes_total{daemon=\"work_generator\"})",
        |n| n >= 1.0,
        &logs,
    )
    .await?;
    // No client is attached: every result waits to be sent.
    wait_for(
        prom_addr,
        "sum(rboinc_results_unsent)",
        |n| n == results as f64,
        &logs,
    )
    .await?;
    wait_for(
        prom_addr,
        "count(rboinc_scheduler_rpc_duration_seconds_bucket)",
        |n| n > 0.0,
        &logs,
    )
    .await?;
    // The alert rules loaded and evaluate without error.
    let rules = rboinc_testkit::http::get(prom_addr, "/api/v1/rules")
        .await?
        .text();
    let rules: serde_json::Value = serde_json::from_str(&rules)?;
    let health: Vec<&str> = rules["data"]["groups"]
        .as_array()
        .into_iter()
        .flatten()
        .flat_map(|g| g["rules"].as_array().into_iter().flatten())
        .filter_map(|r| r["health"].as_str())
        .collect();
    assert_eq!(health.len(), 8, "{rules}");
    assert!(
        health.iter().all(|h| *h == "ok" || *h == "unknown"),
        "{rules}"
    );

    // With a wrong password the scrape is refused: the login really is in the way.
    std::fs::write(work.join("ops-password"), "wrong")?;
    let started = Instant::now();
    loop {
        let up = query(prom_addr, "up{job=\"rboinc\"}").await?;
        if up.first().map(|x| x.1) == Some(0.0) {
            break;
        }
        ensure!(
            started.elapsed() < Duration::from_secs(30),
            "the scrape still succeeds with a wrong password: {up:?}"
        );
        tokio::time::sleep(Duration::from_millis(500)).await;
    }
    stack.stop()?;
    Ok(())
}
