//! Scheduler throughput under the project's load generator (`bench/schedload.py`), next to
//! the stock C++ scheduler's figures measured on this kind of machine.
//!
//! ```text
//! cargo bench -p rboinc-scheduler --bench sched_load            # 15 s per phase, 8 clients
//! cargo bench -p rboinc-scheduler --bench sched_load -- --seconds 30 --concurrency 4
//! cargo bench -p rboinc-scheduler --bench sched_load -- --scheduler-bin OLD/scheduler  # another build
//! ```
//!
//! The protective checks of issue 14 are on in the main phases: `daily_result_quota` and
//! `send_result_abort` (as `make_project` writes them) and `max_wus_in_progress` (set here, high
//! enough never to refuse a job, so its count is paid on every work RPC). The generator's hosts
//! list the tasks they hold (up to 16, `schedload.py --remember`) in `<other_results>`, so
//! every RPC also pays the abort check. After the main phases the scheduler is restarted with
//! the three options removed and the phases "work (1 job), 3 versions" and "report 1 + get 1
//! job" run again: the "checks off" figures, side by side with the "checks on" ones of the
//! same run.
//!
//! What it does: makes a project with our `make_project` on a fresh MariaDB database, publishes
//! an app version, creates `--workunits` jobs (two results each, by the real transitioner),
//! starts the release-built `scheduler` binary, creates 200 accounts with hosts
//! (`schedload.py --make-accounts`), and times five phases, each reported by `schedload.py`:
//! a work request that gets one job; the same with three versions of the app published (plain
//! CPU, `mt` and `cuda_fermi`, BOINC's built-in plan classes), so every work request chooses
//! among them (the generator's hosts have 8 CPUs and no GPU: they get the `mt` version, the
//! GPU one is checked and refused); a report of one result plus a request for one job, a
//! request for no work, and a 4 KiB upload. The project runs with BOINC's stock settings for
//! the things the C++ figures were measured with: no lost-result resending and upload
//! certificates ignored (`schedload.py` uploads unsigned files, as it did against the C++
//! handler).

use std::path::PathBuf;
use std::process::Command;
use std::time::Instant;

use anyhow::{Context, bail};
use rboinc_testkit::mnist::workspace_root;
use rboinc_testkit::project::TestProject;
use rboinc_testkit::scheduler::SchedulerProcess;
use serde_json::Value;

/// C++ figures (`bench/README` of the project's benchmark notes; the issue's table): one CGI
/// process at a time, and concurrent (lighttpd, C=8) plain CGI.
struct Anchor {
    phase: &'static str,
    sequential: f64,
    concurrent: f64,
    /// Compare jobs handed out per second instead of RPCs for this phase.
    by_jobs: bool,
}

const ANCHORS: [Anchor; 5] = [
    Anchor {
        phase: "work (1 job)",
        sequential: 43.7,
        concurrent: 95.0,
        by_jobs: true,
    },
    Anchor {
        phase: "work (1 job), 3 versions",
        sequential: 43.7,
        concurrent: 95.0,
        by_jobs: true,
    },
    Anchor {
        phase: "report 1 + get 1 job",
        sequential: 12.9,
        concurrent: 84.0,
        by_jobs: false,
    },
    Anchor {
        phase: "no work",
        sequential: 51.6,
        concurrent: 150.0,
        by_jobs: false,
    },
    Anchor {
        phase: "upload 4 KiB",
        sequential: 126.0,
        concurrent: 422.0,
        by_jobs: false,
    },
];

struct Options {
    seconds: f64,
    concurrency: usize,
    workunits: usize,
    /// Leave the project directory and database behind (for reading the scheduler's log).
    keep: bool,
    /// The scheduler binary to measure (default: this build's), e.g. an older build to compare.
    scheduler_bin: PathBuf,
}

fn options() -> anyhow::Result<Options> {
    let mut o = Options {
        seconds: 15.0,
        concurrency: 8,
        // Two results each: enough for the three job phases and the two with the checks off
        // at well over 1,000 jobs/s.
        workunits: 45_000,
        keep: false,
        scheduler_bin: PathBuf::from(env!("CARGO_BIN_EXE_scheduler")),
    };
    let mut args = std::env::args().skip(1);
    while let Some(a) = args.next() {
        let mut value = || args.next().context("a flag needs a value");
        match a.as_str() {
            "--seconds" => o.seconds = value()?.parse()?,
            "--concurrency" => o.concurrency = value()?.parse()?,
            "--workunits" => o.workunits = value()?.parse()?,
            "--keep" => o.keep = true,
            "--scheduler-bin" => o.scheduler_bin = value()?.into(),
            "--bench" => {}
            other => bail!("unknown argument {other}"),
        }
    }
    Ok(o)
}

fn schedload(args: &[String]) -> anyhow::Result<Value> {
    let script = workspace_root().join("bench/schedload.py");
    let out = Command::new("python3")
        .arg(&script)
        .args(args)
        .output()
        .context("run bench/schedload.py")?;
    let stdout = String::from_utf8_lossy(&out.stdout);
    let json = stdout
        .lines()
        .rev()
        .find(|l| l.trim_start().starts_with('{'))
        .with_context(|| {
            format!(
                "no JSON summary from schedload.py {args:?}:\n{stdout}{}",
                String::from_utf8_lossy(&out.stderr)
            )
        })?;
    Ok(serde_json::from_str(json)?)
}

/// CPU time (all threads) a process has used so far, from `/proc/<pid>/task/*/schedstat`.
fn cpu_seconds(pid: u32) -> f64 {
    let Ok(tasks) = std::fs::read_dir(format!("/proc/{pid}/task")) else {
        return f64::NAN;
    };
    tasks
        .flatten()
        .filter_map(|t| std::fs::read_to_string(t.path().join("schedstat")).ok())
        .filter_map(|s| s.split_whitespace().next()?.parse::<f64>().ok())
        .sum::<f64>()
        / 1e9
}

/// Publishes `mt` and `cuda_fermi` builds next to the plain one (`update_versions` touches
/// `reread_db`, so the running scheduler offers them within a second).
async fn publish_plan_class_versions(project: &TestProject) -> anyhow::Result<()> {
    for class in ["mt", "cuda_fermi"] {
        let dir = project
            .root
            .join("apps/mnist/1.0")
            .join(format!("x86_64-pc-linux-gnu__{class}"));
        std::fs::create_dir_all(&dir)?;
        std::fs::write(
            dir.join(format!("bench_app_{class}")),
            b"#!/bin/sh\nexit 0\n",
        )?;
    }
    let tools = rboinc_tools::project::Project {
        dir: project.project_dir()?,
        config: std::sync::Arc::new(project.config()?),
    };
    let report = rboinc_tools::update_versions::run(&tools, project.pool()).await?;
    anyhow::ensure!(report.registered.len() == 2, "{:?}", report.skipped);
    tokio::time::sleep(std::time::Duration::from_millis(1500)).await;
    Ok(())
}

/// The options the "checks off" run removes from `config.xml`.
const CHECKS: [&str; 3] = [
    "daily_result_quota",
    "send_result_abort",
    "max_wus_in_progress",
];

/// `config.xml` without the `<name>` elements of [`CHECKS`] (each on a line of its own, as
/// `make_project` and `set_option` write them).
fn without_checks(xml: &str) -> String {
    xml.lines()
        .filter(|l| {
            !CHECKS
                .iter()
                .any(|name| l.trim_start().starts_with(&format!("<{name}>")))
        })
        .map(|l| format!("{l}\n"))
        .collect()
}

/// Runs one phase against the scheduler `pid`; its `schedload.py` summary plus the server's
/// CPU per request.
fn run_phase(name: &str, args: &[String], pid: u32) -> anyhow::Result<Value> {
    let cpu0 = cpu_seconds(pid);
    let mut v = schedload(args)?;
    let server_ms = (cpu_seconds(pid) - cpu0) * 1000.0 / num(&v, "requests");
    v["server_cpu_ms_per_request"] = serde_json::json!(server_ms);
    eprintln!("{name}: {v}");
    Ok(v)
}

/// The 1-minute load average, for the report (the machine may be shared).
fn load_average() -> String {
    std::fs::read_to_string("/proc/loadavg")
        .ok()
        .and_then(|s| s.split_whitespace().next().map(str::to_string))
        .unwrap_or_else(|| "?".into())
}

fn num(v: &Value, key: &str) -> f64 {
    v.get(key).and_then(Value::as_f64).unwrap_or(f64::NAN)
}

#[tokio::main(flavor = "multi_thread", worker_threads = 2)]
async fn main() -> anyhow::Result<()> {
    let o = options()?;
    let t0 = Instant::now();
    let project = TestProject::create().await?;
    for (name, value) in [
        ("resend_lost_results", "0"),
        ("ignore_upload_certificates", "1"),
        ("next_rpc_delay", "0"),
        // Per CPU: 8,000 on the generator's 8-CPU hosts, never reached in a run.
        ("max_wus_in_progress", "1000"),
    ] {
        project.set_option(name, value)?;
    }
    let exe = project.temp_dir().join("bench_app");
    std::fs::write(&exe, b"#!/bin/sh\nexit 0\n")?;
    project.publish_app_binary(&exe, "1.0").await?;
    project
        .create_mnist_batch("bench", o.workunits, Default::default())
        .await?;
    project.run_transitioner().await?;
    let unsent: i64 = sqlx::query_scalar("SELECT COUNT(*) FROM result WHERE server_state = 2")
        .fetch_one(project.pool())
        .await?;
    eprintln!(
        "project ready in {:.0} s: {} unsent results",
        t0.elapsed().as_secs_f64(),
        unsent
    );

    let dir = project.temp_dir().to_path_buf();
    let mut sched = SchedulerProcess::start(
        &o.scheduler_bin,
        &project.root,
        project.addr(),
        "/testproj/",
        &[],
        &dir.join("scheduler.log"),
    )
    .await?;
    let s = project.db().db_settings();
    let mut mysql_opts = format!("-u{} -h{} -P{}", s.user, s.host, s.port.unwrap_or(3306));
    if !s.password.expose().is_empty() {
        mysql_opts.push_str(&format!(" -p{}", s.password.expose()));
    }
    let accounts: PathBuf = dir.join("accounts.txt");
    let accounts_arg = accounts.display().to_string();
    let made = Command::new("python3")
        .arg(workspace_root().join("bench/schedload.py"))
        .args([
            "--make-accounts",
            "200",
            "--db",
            &s.name,
            "--mysql-opts",
            &mysql_opts,
        ])
        .args(["--accounts", &accounts_arg])
        .output()?;
    if !made.status.success() {
        bail!(
            "schedload.py --make-accounts failed: {}",
            String::from_utf8_lossy(&made.stderr)
        );
    }

    let base = format!("http://127.0.0.1:{}", project.port);
    let sched_url = format!("{base}/testproj_cgi/cgi");
    let upload_url = format!("{base}/testproj_cgi/file_upload_handler");
    let common = |mode: &str, url: &str| -> Vec<String> {
        vec![
            "--url".into(),
            url.into(),
            "--mode".into(),
            mode.into(),
            "-c".into(),
            o.concurrency.to_string(),
            "-d".into(),
            o.seconds.to_string(),
            "--accounts".into(),
            accounts_arg.clone(),
            "--json".into(),
            // One job per reply: a job is 2e10 flops, 5 s on the generator's 4 GFLOPS hosts.
            "--work-seconds".into(),
            "4".into(),
        ]
    };
    let phases: [(&str, Vec<String>); 5] = [
        ("work (1 job)", common("work", &sched_url)),
        ("work (1 job), 3 versions", common("work", &sched_url)),
        ("report 1 + get 1 job", common("report", &sched_url)),
        ("no work", common("nowork", &sched_url)),
        ("upload 4 KiB", common("upload", &upload_url)),
    ];
    let mut rows = Vec::new();
    let load_start = load_average();
    let pid = sched.pid().context("scheduler pid")?;
    for (name, args) in &phases {
        if name.contains("3 versions") {
            publish_plan_class_versions(&project).await?;
        }
        rows.push((*name, run_phase(name, args, pid)?));
    }
    let stopped = sched.stop().await?;

    // The job phases that run with every version published, again with the checks off: a
    // scheduler started on a config without them.
    let config = project.root.join("config.xml");
    let with_checks = std::fs::read_to_string(&config)?;
    std::fs::write(&config, without_checks(&with_checks))?;
    let mut sched = SchedulerProcess::start(
        &o.scheduler_bin,
        &project.root,
        project.addr(),
        "/testproj/",
        &[],
        &dir.join("scheduler-checks-off.log"),
    )
    .await?;
    let pid = sched.pid().context("scheduler pid")?;
    let mut off_rows = Vec::new();
    for (name, args) in phases
        .iter()
        .filter(|(n, _)| n.contains("3 versions") || n.starts_with("report"))
    {
        off_rows.push((*name, run_phase(name, args, pid)?));
    }
    sched.stop().await?;
    std::fs::write(&config, with_checks)?;
    let load_end = load_average();

    println!(
        "\nScheduler under bench/schedload.py: {} concurrent clients, {:.0} s per phase, \
         {} unsent results at the start, one scheduler process (scheduler exit: {stopped})\n",
        o.concurrency, o.seconds, unsent
    );
    println!(
        "| request | RPC/s | jobs/s | p50 ms | p99 ms | server CPU ms/RPC | errors | C++ one at a time | C++ CGI C=8 | × sequential | × C=8 |"
    );
    println!("|---|---|---|---|---|---|---|---|---|---|---|");
    for ((name, v), anchor) in rows.iter().zip(ANCHORS.iter()) {
        assert_eq!(*name, anchor.phase);
        let rps = num(v, "rps");
        let jobs = num(v, "jobs") / num(v, "seconds");
        let ours = if anchor.by_jobs { jobs } else { rps };
        println!(
            "| {name} | {rps:.0} | {} | {:.1} | {:.1} | {:.2} | {} | {:.1} | {:.0} | {:.0}× | {:.1}× |",
            if name.starts_with("upload") || name.starts_with("no work") {
                "–".to_string()
            } else {
                format!("{jobs:.0}")
            },
            num(v, "p50_ms"),
            num(v, "p99_ms"),
            num(v, "server_cpu_ms_per_request"),
            v.get("errors").cloned().unwrap_or(Value::Null),
            anchor.sequential,
            anchor.concurrent,
            ours / anchor.sequential,
            ours / anchor.concurrent,
        );
    }
    println!(
        "\n(work: jobs handed out per second, as the C++ notes compare; the load generator \
         shares the 2 cores: see its client_cpu_s in the lines above)"
    );
    println!(
        "\nThe job phases with the checks ({}) on, as above, and off (a scheduler restarted \
         without them), same run; load average {load_start} at the start, {load_end} at the end:\n",
        CHECKS.join(", ")
    );
    println!(
        "| request | checks | RPC/s | jobs/s | p50 ms | p99 ms | server CPU ms/RPC | held tasks listed | errors |"
    );
    println!("|---|---|---|---|---|---|---|---|---|");
    for (name, off) in &off_rows {
        let on = rows
            .iter()
            .find(|(n, _)| n == name)
            .map(|(_, v)| v)
            .context("phase run with the checks on")?;
        for (label, v) in [("on", on), ("off", off)] {
            println!(
                "| {name} | {label} | {:.0} | {:.0} | {:.1} | {:.1} | {:.2} | {:.1} | {} |",
                num(v, "rps"),
                num(v, "jobs") / num(v, "seconds"),
                num(v, "p50_ms"),
                num(v, "p99_ms"),
                num(v, "server_cpu_ms_per_request"),
                num(v, "held_per_rpc"),
                v.get("errors").cloned().unwrap_or(Value::Null),
            );
        }
    }
    for (name, v) in rows
        .iter()
        .chain(off_rows.iter())
        .filter(|(name, _)| name.contains("job"))
    {
        let short = num(v, "requests") - num(v, "jobs");
        if short > 0.01 * num(v, "requests") {
            println!(
                "WARNING: {short:.0} replies in \"{name}\" carried no job (work ran out?): \
                 its figures are not comparable; raise --workunits"
            );
        }
    }
    if o.keep {
        eprintln!(
            "kept: project {} (scheduler log: {}), database {}",
            project.root.display(),
            dir.join("scheduler.log").display(),
            project.db().name()
        );
        std::mem::forget(project);
    }
    Ok(())
}
