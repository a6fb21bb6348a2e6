//! Two schedulers behind a real load balancer (Debian's `haproxy`), the way a project grows past
//! one scheduler process: the master, scheduler, upload and download URLs all name the
//! balancer's port; two `scheduler` daemons listen on private ports behind it; the transitioner
//! and the validator run as two instances each, sharded with BOINC's `--mod 2 I`. Three stock
//! clients run a series through the balancer, one scheduler is killed (SIGKILL) in the middle,
//! and the series completes: every round validated and assimilated exactly once, no result sent
//! twice, each shard's daemon handling only its own workunits.
//!
//! Skips (with a message) where `haproxy` is not installed.

mod common;

use std::collections::BTreeSet;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::Duration;

use anyhow::{Context, ensure};
use common::{SmallSeries, Stack, Tuning, Volunteer, text, wait_output, wait_until};
use rboinc_core::state::{AssimilateState, Outcome, ValidateState};
use rboinc_testkit::net::free_port;

/// Where Debian's package puts it; else whatever `PATH` has.
fn haproxy_binary() -> Option<PathBuf> {
    let debian = PathBuf::from("/usr/sbin/haproxy");
    if debian.is_file() {
        return Some(debian);
    }
    std::env::var_os("PATH").and_then(|paths| {
        std::env::split_paths(&paths)
            .map(|d| d.join("haproxy"))
            .find(|p| p.is_file())
    })
}

/// The balancer's configuration: `docker/haproxy.cfg` (round robin, a dead server out after one
/// failed TCP check every 500 ms, a refused request sent to the other server) with its front
/// end on the project's port and its servers on the schedulers' ports.
fn haproxy_cfg(front: u16, backends: &[u16]) -> anyhow::Result<String> {
    let example = std::fs::read_to_string(rboinc_e2e::workspace_root().join("docker/haproxy.cfg"))?;
    let mut servers = backends.iter();
    let mut out = String::new();
    for line in example.lines() {
        let words: Vec<&str> = line.split_whitespace().collect();
        match words.as_slice() {
            ["bind", ..] => out.push_str(&format!("    bind 127.0.0.1:{front}")),
            ["server", name, _addr, rest @ ..] => {
                let port = servers.next().context("more servers than schedulers")?;
                out.push_str(&format!(
                    "    server {name} 127.0.0.1:{port} {}",
                    rest.join(" ")
                ));
            }
            _ => out.push_str(line),
        }
        out.push('\n');
    }
    ensure!(
        servers.next().is_none(),
        "docker/haproxy.cfg has fewer servers than schedulers"
    );
    Ok(out)
}

/// A running haproxy (foreground, `-db`), killed on drop.
struct Balancer(Child);

impl Balancer {
    fn start(binary: &Path, cfg: &Path, log: &Path) -> anyhow::Result<Balancer> {
        let check = Command::new(binary).arg("-c").arg("-f").arg(cfg).output()?;
        ensure!(
            check.status.success(),
            "haproxy refuses its configuration: {}",
            text(&check)
        );
        let log = std::fs::File::create(log)?;
        let child = Command::new(binary)
            .arg("-db")
            .arg("-f")
            .arg(cfg)
            .stdin(Stdio::null())
            .stdout(log.try_clone()?)
            .stderr(log)
            .spawn()
            .context("spawn haproxy")?;
        Ok(Balancer(child))
    }
}

impl Drop for Balancer {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

/// Replaces the `<daemon>` block whose command starts with `program ` by one block per
/// `(cmd, name)`: each with its own `<output>name.log</output>` and `<pid_file>name.pid`, as two
/// instances of one program need.
fn split_daemon(
    xml: &str,
    program: &str,
    instances: &[(String, String)],
) -> anyhow::Result<String> {
    let cmd_at = xml
        .find(&format!("<cmd>{program} "))
        .with_context(|| format!("no {program} daemon in config.xml"))?;
    let start = xml[..cmd_at].rfind("<daemon>").context("no <daemon>")?;
    let end = cmd_at + xml[cmd_at..].find("</daemon>").context("no </daemon>")? + "</daemon>".len();
    let indent = "        ";
    let blocks: Vec<String> = instances
        .iter()
        .map(|(cmd, name)| {
            format!(
                "<daemon>\n{indent}    <cmd>{cmd}</cmd>\n{indent}    <output>{name}.log</output>\n\
                 {indent}    <pid_file>{name}.pid</pid_file>\n{indent}</daemon>"
            )
        })
        .collect();
    Ok(format!(
        "{}{}{}",
        &xml[..start],
        blocks.join(&format!("\n{indent}")),
        &xml[end..]
    ))
}

/// The `<cmd>` text of the daemon whose command starts with `program `.
fn daemon_cmd(xml: &str, program: &str) -> anyhow::Result<String> {
    let at = xml
        .find(&format!("<cmd>{program} "))
        .with_context(|| format!("no {program} daemon"))?
        + "<cmd>".len();
    let end = at + xml[at..].find("</cmd>").context("no </cmd>")?;
    Ok(xml[at..end].to_string())
}

/// The `wu_id` of a log line (a field of the line or of its span), if it has one.
fn wu_id(line: &str) -> Option<i64> {
    let (_, rest) = line.split_once("wu_id=")?;
    let digits: String = rest.chars().take_while(char::is_ascii_digit).collect();
    digits.parse().ok()
}

/// The `wu_id`s on the lines of `log` that contain `message`.
fn wu_ids(log: &str, message: &str) -> BTreeSet<i64> {
    log.lines()
        .filter(|l| l.contains(message))
        .filter_map(wu_id)
        .collect()
}

async fn count(stack: &Stack, sql: &str) -> anyhow::Result<i64> {
    // Test-written SQL only.
    Ok(sqlx::query_scalar(sqlx::AssertSqlSafe(sql.to_string()))
        .fetch_one(stack.db.pool())
        .await?)
}

const ROUNDS: i64 = 6;

#[tokio::test(flavor = "multi_thread")]
async fn a_series_through_haproxy_survives_one_of_two_schedulers_killed() -> anyhow::Result<()> {
    let Some(haproxy) = haproxy_binary() else {
        eprintln!("SKIPPED: haproxy is not installed (Debian: apt-get install haproxy)");
        return Ok(());
    };
    let mut stack = Stack::start(Tuning::default()).await?;
    // Made as one machine; stopped and laid out again as a balanced pair.
    let out = stack.tool("stop", &["--timeout", "20"].map(std::ffi::OsStr::new))?;
    ensure!(out.status.success(), "stop failed: {}", text(&out));
    let backends = [free_port(), free_port()];
    let config = stack.root.join("config.xml");
    let mut xml = std::fs::read_to_string(&config)?;
    let sched = daemon_cmd(&xml, "scheduler")?;
    xml = split_daemon(
        &xml,
        "scheduler",
        &[0, 1].map(|i| {
            (
                format!("{sched} --listen 127.0.0.1:{}", backends[i]),
                format!("scheduler_{i}"),
            )
        }),
    )?;
    for program in ["transitioner", "validator"] {
        let cmd = daemon_cmd(&xml, program)?;
        xml = split_daemon(
            &xml,
            program,
            &[0, 1].map(|i| (format!("{cmd} --mod 2 {i}"), format!("{program}_{i}"))),
        )?;
    }
    std::fs::write(&config, &xml)?;

    let cfg = stack.temp().join("haproxy.cfg");
    std::fs::write(&cfg, haproxy_cfg(stack.port, &backends)?)?;
    let _balancer = Balancer::start(&haproxy, &cfg, &stack.temp().join("haproxy.log"))?;
    stack.start_daemons()?;
    let status = stack.status()?;
    let running = |needle: &str| -> Vec<i64> {
        status["daemons"]
            .as_array()
            .into_iter()
            .flatten()
            .filter(|d| {
                d["cmd"].as_str().is_some_and(|c| c.contains(needle)) && d["running"] == true
            })
            .filter_map(|d| d["pid"].as_i64())
            .collect()
    };
    ensure!(
        running("scheduler ").len() == 2,
        "two schedulers run: {status}"
    );
    ensure!(
        running("--mod 2 ").len() == 4,
        "two transitioners and two validators: {status}"
    );
    let victim = running(&format!("--listen 127.0.0.1:{}", backends[0]))
        .first()
        .copied()
        .context("the first scheduler's pid")?;

    let clients = [
        Volunteer::start("a", |_| {}).await?,
        Volunteer::start("b", |_| {}).await?,
        Volunteer::start("c", |_| {}).await?,
    ];
    // The master URL is the balancer's: the clients never see a scheduler's own port.
    ensure!(stack.master_url.contains(&format!(":{}/", stack.port)));
    for c in &clients {
        c.attach(&stack.master_url, &stack.authenticator)?;
    }
    let series = stack.small_series(&SmallSeries {
        name: "balanced",
        rounds: ROUNDS as usize,
        base_seed: 4242,
        timeout_secs: 400,
        extra: &[],
    })?;
    wait_until(
        Duration::from_secs(150),
        "a first result reported",
        async || {
            let n = count(
                &stack,
                "SELECT COUNT(*) FROM result WHERE received_time > 0",
            )
            .await?;
            Ok((n >= 1).then_some(()))
        },
        || stack.logs(),
    )
    .await?;
    let unfinished = count(
        &stack,
        &format!(
            "SELECT COUNT(*) FROM workunit WHERE assimilate_state <> {}",
            AssimilateState::Done as i32
        ),
    )
    .await?;
    ensure!(unfinished > 0, "the kill happens mid-series");
    rustix::process::kill_process(
        rustix::process::Pid::from_raw(victim as i32).context("pid")?,
        rustix::process::Signal::KILL,
    )?;
    let host = rboinc_core::project::short_hostname();
    let log_dir = stack.root.join(format!("log_{host}"));
    let survivor_log = log_dir.join("scheduler_1.log");
    let rpcs_before = std::fs::read_to_string(&survivor_log)?
        .matches("scheduler RPC")
        .count();

    let out = wait_output(series, Duration::from_secs(420)).await?;
    assert!(
        out.status.success(),
        "series run failed: {}\n{}",
        text(&out),
        stack.logs()
    );
    ensure!(!common::alive(victim), "the killed scheduler stayed down");

    // Every round validated and assimilated exactly once.
    let wus: Vec<(i64, String, i64, i32)> = sqlx::query_as(
        "SELECT CAST(id AS SIGNED), name, CAST(canonical_resultid AS SIGNED), assimilate_state \
         FROM workunit ORDER BY id",
    )
    .fetch_all(stack.db.pool())
    .await?;
    assert_eq!(wus.len() as i64, ROUNDS, "{wus:?}");
    let assimilator_log = std::fs::read_to_string(log_dir.join("script_assimilator_mnist.log"))?;
    for (id, name, canonical, state) in &wus {
        assert!(*canonical > 0, "{name} has a canonical result");
        assert_eq!(*state, AssimilateState::Done as i32, "{name}");
        let rows: Vec<(i64, i32, i32)> = sqlx::query_as(
            "SELECT CAST(hostid AS SIGNED), outcome, validate_state FROM result \
             WHERE workunitid = ?",
        )
        .bind(id)
        .fetch_all(stack.db.pool())
        .await?;
        assert_eq!(
            rows.len(),
            2,
            "{name}: no result lost or sent twice: {rows:?}"
        );
        for r in &rows {
            assert_eq!(r.1, Outcome::Success as i32, "{name}: {rows:?}");
            assert_eq!(r.2, ValidateState::Valid as i32, "{name}: {rows:?}");
        }
        let hosts: BTreeSet<i64> = rows.iter().map(|r| r.0).collect();
        assert_eq!(hosts.len(), 2, "{name}: two hosts: {rows:?}");
        assert!(
            stack
                .root
                .join(format!("results/mnist/{name}/metrics.json"))
                .is_file(),
            "{name} assimilated"
        );
        let filed = assimilator_log
            .lines()
            .filter(|l| l.contains("workunit assimilated") && wu_id(l) == Some(*id))
            .count();
        assert_eq!(filed, 1, "{name} assimilated once:\n{assimilator_log}");
    }

    // Each shard handled its own workunits, and both shards worked.
    for program in ["transitioner", "validator"] {
        let message = if program == "transitioner" {
            "workunit transitioned"
        } else {
            "canonical result found"
        };
        for i in 0..2i64 {
            let log = std::fs::read_to_string(log_dir.join(format!("{program}_{i}.log")))?;
            let ids = wu_ids(&log, message);
            assert!(
                !ids.is_empty(),
                "{program} --mod 2 {i} did some work:\n{log}"
            );
            assert!(
                ids.iter().all(|id| id % 2 == i),
                "{program} --mod 2 {i} handled only ids ≡ {i} (mod 2): {ids:?}"
            );
        }
    }
    // The survivor served the clients after the kill.
    let rpcs_after = std::fs::read_to_string(&survivor_log)?
        .matches("scheduler RPC")
        .count();
    assert!(
        rpcs_after > rpcs_before,
        "the second scheduler answered RPCs after the first was killed ({rpcs_before} → {rpcs_after})"
    );
    let first = std::fs::read_to_string(log_dir.join("scheduler_0.log"))?;
    assert!(
        first.contains("scheduler RPC"),
        "the balancer sent RPCs to the first scheduler before it was killed:\n{first}"
    );
    stack.stop()?;
    Ok(())
}
