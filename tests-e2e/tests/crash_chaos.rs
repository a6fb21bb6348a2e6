//! Crash chaos (issue 16, point 2): while three stock BOINC clients work on an 8-round series
//! and `start --foreground` supervises the project, the test kills a random daemon — the
//! scheduler included — with SIGKILL every few seconds (each daemon in turn, in a random order
//! each round). The series completes; every round is
//! assimilated exactly once (one `workunit assimilated` line per workunit across every
//! restart, its `results/` file in place) and bit-identical to the local run; no result is
//! lost, stuck or sent twice; and the supervisor's output names each daemon it started again.

mod common;

use std::ffi::OsStr;
use std::path::PathBuf;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use common::series_checks::completed_once;
use common::{SmallSeries, Stack, Tuning, Volunteer, bins, text, wait_output};

const ROUNDS: usize = 8;
/// A kill every this often…
const KILL_EVERY: Duration = Duration::from_secs(4);
/// …for at most this long (then the series is left to finish).
const CHAOS_FOR: Duration = Duration::from_secs(90);

/// A small deterministic generator (xorshift), seeded from the clock and printed, so a
/// failing run can be told apart.
struct Dice(u64);

impl Dice {
    fn roll(&mut self, n: usize) -> usize {
        self.0 ^= self.0 << 13;
        self.0 ^= self.0 >> 7;
        self.0 ^= self.0 << 17;
        (self.0 % n as u64) as usize
    }
}

/// `(program, pid)` of each running daemon, from `status --json`.
fn running(stack: &Stack) -> Vec<(String, i32)> {
    let Ok(status) = stack.status() else {
        return Vec::new();
    };
    status["daemons"]
        .as_array()
        .into_iter()
        .flatten()
        .filter(|d| d["running"] == true)
        .filter_map(|d| {
            let program = d["cmd"].as_str()?.split_whitespace().next()?.to_string();
            Some((program, d["pid"].as_i64()? as i32))
        })
        .collect()
}

#[tokio::test(flavor = "multi_thread")]
async fn sigkill_of_random_daemons_under_start_foreground_loses_and_repeats_nothing()
-> anyhow::Result<()> {
    let mut stack = Stack::start(Tuning::default()).await?;
    // The supervisor takes over from the detached daemons `start` left.
    let out = stack.tool("stop", &[OsStr::new("--timeout"), OsStr::new("20")])?;
    anyhow::ensure!(out.status.success(), "stop: {}", text(&out));
    let supervisor_log = stack.temp().join("supervisor.out");
    let mut supervisor = Command::new(bins().join("start"))
        .arg("--project-dir")
        .arg(&stack.root)
        .args(["--foreground", "--interval", "1"])
        .stdout(std::fs::File::create(&supervisor_log)?)
        .stderr(Stdio::piped())
        .spawn()?;

    let clients = [
        Volunteer::start("a", |_| {}).await?,
        Volunteer::start("b", |_| {}).await?,
        Volunteer::start("c", |_| {}).await?,
    ];
    for c in &clients {
        c.attach(&stack.master_url, &stack.authenticator)?;
    }
    let series = stack.small_series(&SmallSeries {
        name: "chaos",
        rounds: ROUNDS,
        base_seed: 9001,
        timeout_secs: 500,
        extra: &[],
    })?;

    let seed = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)?
        .as_nanos() as u64
        | 1;
    eprintln!("chaos seed {seed}");
    let mut dice = Dice(seed);
    let mut killed: Vec<String> = Vec::new();
    let mut bag: Vec<String> = Vec::new();
    let started = Instant::now();
    let mut series = Some(series);
    while started.elapsed() < CHAOS_FOR {
        tokio::time::sleep(KILL_EVERY).await;
        if series
            .as_mut()
            .is_some_and(|s| s.try_wait().ok().flatten().is_some())
        {
            break;
        }
        // Every daemon in turn, in a random order each round: the scheduler is among them.
        let daemons = running(&stack);
        if bag.is_empty() {
            bag = daemons.iter().map(|(p, _)| p.clone()).collect();
            for i in (1..bag.len()).rev() {
                bag.swap(i, dice.roll(i + 1));
            }
        }
        let Some(program) = bag.pop() else {
            continue;
        };
        let Some((_, pid)) = daemons.iter().find(|(p, _)| *p == program) else {
            continue;
        };
        if let Some(p) = rustix::process::Pid::from_raw(*pid)
            && rustix::process::kill_process(p, rustix::process::Signal::KILL).is_ok()
        {
            eprintln!(
                "[{:5.1}s] SIGKILL {program} ({pid})",
                started.elapsed().as_secs_f64()
            );
            killed.push(program);
        }
    }
    let series = series.take().expect("the series child");
    let out = wait_output(series, Duration::from_secs(500)).await?;
    let context = || {
        let clients: String = clients
            .iter()
            .map(|c| format!("--- {} ---\n{}\n", c.label, c.log()))
            .collect();
        format!(
            "{}\n--- supervisor ---\n{}\n{clients}",
            stack.logs(),
            std::fs::read_to_string(&supervisor_log).unwrap_or_default()
        )
    };
    assert!(
        out.status.success(),
        "series run failed: {}\n{}",
        text(&out),
        context()
    );
    assert!(
        killed.iter().any(|p| p == "scheduler"),
        "the chaos killed the scheduler among others: {killed:?}"
    );
    let report = PathBuf::from(
        String::from_utf8_lossy(&out.stdout)
            .lines()
            .last()
            .unwrap_or_default(),
    );
    if let Err(e) = completed_once(&stack, "chaos", ROUNDS, &report, 2).await {
        panic!("{e:#}\n{}", context());
    }

    // Assimilated exactly once: one "workunit assimilated" line per workunit, over every
    // restart of the assimilator (its log is appended to).
    let ids: Vec<(i64,)> = sqlx::query_as("SELECT CAST(id AS SIGNED) FROM workunit ORDER BY id")
        .fetch_all(stack.db.pool())
        .await?;
    let assimilator_log: String = stack
        .log_files()
        .into_iter()
        .filter(|(p, _)| {
            p.file_name()
                .is_some_and(|n| n.to_string_lossy().starts_with("script_assimilator"))
        })
        .map(|(_, t)| t)
        .collect();
    for (id,) in ids {
        let lines = assimilator_log
            .lines()
            .filter(|l| l.contains("workunit assimilated") && l.contains(&format!("wu_id={id} ")))
            .count();
        assert_eq!(
            lines, 1,
            "workunit {id} assimilated once\n{assimilator_log}"
        );
    }

    // The supervisor said what it started again: each killed daemon at least once.
    let said = std::fs::read_to_string(&supervisor_log)?;
    for program in &killed {
        assert!(
            said.lines()
                .any(|l| l.trim_start().starts_with("started") && l.contains(program.as_str())),
            "the supervisor names the restart of {program}:\n{said}"
        );
    }

    // Stop the supervisor (SIGTERM): it stops every daemon.
    rustix::process::kill_process(
        rustix::process::Pid::from_raw(supervisor.id() as i32).expect("pid"),
        rustix::process::Signal::TERM,
    )?;
    let deadline = Instant::now() + Duration::from_secs(30);
    while supervisor.try_wait()?.is_none() && Instant::now() < deadline {
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    anyhow::ensure!(
        supervisor.try_wait()?.is_some(),
        "the supervisor stops on SIGTERM"
    );
    stack.stop()?;
    Ok(())
}
