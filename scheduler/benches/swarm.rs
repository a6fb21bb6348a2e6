//! The emulated swarm: thousands of volunteer hosts against the whole server pipeline at once,
//! for a fixed time, to measure how far one machine goes.
//!
//! ```text
//! cargo build --release --bins -p rboinc-daemons                   # the daemons it runs
//! cargo bench -p rboinc-scheduler --bench swarm                     # 10,000 hosts, 600 s
//! cargo bench -p rboinc-scheduler --bench swarm -- --secs 120 --hosts 10000 --schedulers 2
//! ```
//!
//! What runs: a project made by our `make_project` on a fresh MariaDB database (upload signing
//! on, `one_result_per_host_per_wu`, two replicas per workunit, a short `delay_bound` so the
//! jobs of vanished hosts are reissued within the run), the release `scheduler` (one, or two
//! behind Debian's `haproxy` with `--schedulers 2`), and the release daemons as a project runs
//! them at `-d 3`: `transitioner`, `validator --mode metrics`, `script_assimilator --builtin
//! copy_metrics`, `file_deleter`, and `db_purge --min_age_days 0 --no_archive` as a daemon. A
//! feeder in this process keeps a buffer of unsent work with the `create_work` library (one job
//! file staged from memory per workunit, in batches as `series submit` stages them, and a shared
//! sticky input), as a work generator does.
//!
//! Each emulated host behaves like a stock client with one CPU: its first RPC attaches (a new
//! host row), then it asks for work, honours `request_delay` / `next_rpc_delay` and backs off
//! when it gets none or an RPC fails, "computes" for a sampled time, uploads its output through
//! the real upload handler with the signature the scheduler sent, and reports it in its next
//! RPC together with its next work request. Some results are compute errors, some carry a wrong
//! metric (rejected by the validator; a third replica settles the quorum), and some hosts vanish
//! holding a job (it times out after `delay_bound` and is sent again). Every HTTP request is
//! its own connection, as the client does; at most `--connections` are open at once.
//!
//! It prints sustained throughput per stage over the steady part of the run (after the ramp-up),
//! RPC and upload latency percentiles, rows and files at the end (after a drain), and for each
//! process its CPU seconds and resident memory sampled over time (peak in each quarter of the
//! run: flat or growing), and MariaDB's statements, commits, fsyncs and row lock waits during
//! the run.

use std::collections::BTreeMap;
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use anyhow::{Context, bail, ensure};
use rand::{Rng, SeedableRng};
use rboinc_testkit::http;
use rboinc_testkit::net::free_port;
use rboinc_testkit::project::TestProject;
use rboinc_testkit::sim::{Report, SentJob, SimHost, parse_reply, upload_body};
use rboinc_tools::create_work::{InputArg, JobDesc, JobOverrides, WorkCreator, WorkSpec};
use tokio::sync::Semaphore;

#[derive(Debug, Clone)]
struct Options {
    hosts: usize,
    secs: f64,
    /// Mean "compute" time of a job, seconds (uniform between half and 1.5×).
    compute_secs: f64,
    schedulers: usize,
    connections: usize,
    error_rate: f64,
    wrong_rate: f64,
    vanish_rate: f64,
    delay_bound: i32,
    /// Seconds after the hosts stop for the daemons to finish what was reported.
    drain_secs: f64,
    keep: bool,
    /// Reach MariaDB over loopback TCP instead of its Unix socket.
    db_tcp: bool,
}

fn options() -> anyhow::Result<Options> {
    let mut o = Options {
        hosts: 10_000,
        secs: 600.0,
        compute_secs: 10.0,
        schedulers: 1,
        connections: 256,
        error_rate: 0.01,
        wrong_rate: 0.01,
        vanish_rate: 0.002,
        delay_bound: 60,
        drain_secs: 30.0,
        keep: false,
        db_tcp: false,
    };
    let mut args = std::env::args().skip(1);
    while let Some(a) = args.next() {
        let mut value = || args.next().context("a flag needs a value");
        match a.as_str() {
            "--hosts" => o.hosts = value()?.parse()?,
            "--secs" => o.secs = value()?.parse()?,
            "--compute-secs" => o.compute_secs = value()?.parse()?,
            "--schedulers" => o.schedulers = value()?.parse()?,
            "--connections" => o.connections = value()?.parse()?,
            "--error-rate" => o.error_rate = value()?.parse()?,
            "--wrong-rate" => o.wrong_rate = value()?.parse()?,
            "--vanish-rate" => o.vanish_rate = value()?.parse()?,
            "--delay-bound" => o.delay_bound = value()?.parse()?,
            "--drain-secs" => o.drain_secs = value()?.parse()?,
            "--keep" => o.keep = true,
            "--db-tcp" => o.db_tcp = true,
            "--bench" => {}
            other => bail!("unknown argument {other}"),
        }
    }
    ensure!((1..=2).contains(&o.schedulers), "--schedulers is 1 or 2");
    Ok(o)
}

/// A server process this bench started, with its log; killed on drop.
struct Proc {
    name: String,
    child: Child,
}

impl Proc {
    fn spawn(name: &str, cmd: &mut Command, log: &Path) -> anyhow::Result<Proc> {
        let log = std::fs::File::create(log)?;
        let child = cmd
            .stdin(Stdio::null())
            .stdout(log.try_clone()?)
            .stderr(log)
            .spawn()
            .with_context(|| format!("spawn {name}"))?;
        Ok(Proc {
            name: name.to_string(),
            child,
        })
    }

    fn pid(&self) -> u32 {
        self.child.id()
    }
}

impl Drop for Proc {
    fn drop(&mut self) {
        if let Some(pid) = rustix::process::Pid::from_raw(self.child.id() as i32) {
            let _ = rustix::process::kill_process(pid, rustix::process::Signal::TERM);
        }
        let deadline = Instant::now() + Duration::from_secs(10);
        while self.child.try_wait().ok().flatten().is_none() && Instant::now() < deadline {
            std::thread::sleep(Duration::from_millis(50));
        }
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// The release binaries of the daemons, next to this bench's `scheduler`. They are built by
/// the documented command before the bench (`cargo build --release --bins -p rboinc-daemons`):
/// a build from inside the bench would use another feature set and rebuild the workspace.
fn daemon_bins() -> anyhow::Result<PathBuf> {
    let dir = Path::new(env!("CARGO_BIN_EXE_scheduler"))
        .parent()
        .context("bin dir")?
        .to_path_buf();
    for program in [
        "transitioner",
        "validator",
        "script_assimilator",
        "file_deleter",
        "db_purge",
    ] {
        ensure!(
            dir.join(program).is_file(),
            "{} is missing: run `cargo build --release --bins -p rboinc-daemons` first",
            dir.join(program).display()
        );
    }
    Ok(dir)
}

/// CPU seconds (user + system) and resident set (MiB) of a process, from `/proc`.
fn cpu_and_rss(pid: u32) -> Option<(f64, f64)> {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).ok()?;
    let (_, rest) = stat.rsplit_once(')')?;
    let f: Vec<&str> = rest.split_whitespace().collect();
    // USER_HZ: 100 on every Linux this runs on.
    let ticks = 100.0;
    let cpu = (f.get(11)?.parse::<f64>().ok()? + f.get(12)?.parse::<f64>().ok()?) / ticks;
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).ok()?;
    let rss_kb: f64 = status
        .lines()
        .find_map(|l| l.strip_prefix("VmRSS:"))?
        .trim()
        .trim_end_matches("kB")
        .trim()
        .parse()
        .ok()?;
    Some((cpu, rss_kb / 1024.0))
}

/// The pid of the MariaDB server on this machine, if one runs here.
fn mariadb_pid() -> Option<u32> {
    std::fs::read_dir("/proc").ok()?.flatten().find_map(|e| {
        let pid: u32 = e.file_name().to_str()?.parse().ok()?;
        let comm = std::fs::read_to_string(format!("/proc/{pid}/comm")).ok()?;
        matches!(comm.trim(), "mariadbd" | "mysqld").then_some(pid)
    })
}

/// What the emulated hosts measured.
#[derive(Default)]
struct Stats {
    rpc_ms: Mutex<Vec<f32>>,
    upload_ms: Mutex<Vec<f32>>,
    rpcs: AtomicU64,
    rpc_failures: AtomicU64,
    project_down: AtomicU64,
    uploads: AtomicU64,
    upload_failures: AtomicU64,
    jobs_received: AtomicU64,
    reported_ok: AtomicU64,
    reported_error: AtomicU64,
    reported_wrong: AtomicU64,
    vanished: AtomicU64,
    attached: AtomicU64,
}

/// A deterministic metrics document for a workunit (both honest replicas write the same one;
/// `host` differs per host, as the mnist app's does); `wrong` alters `val_acc`.
fn metrics_doc(wu_name: &str, hostid: i64, wrong: bool) -> Vec<u8> {
    let h = rboinc_core::md5file::Md5Hex::of_bytes(wu_name.as_bytes());
    let seed = u64::from_str_radix(&h.as_str()[..8], 16).unwrap_or(0);
    let acc = 0.8 + (seed % 1000) as f64 / 10_000.0 + if wrong { 0.05 } else { 0.0 };
    format!(
        "{{\n  \"schema\": \"mnist-app/metrics/1\",\n  \"job\": {{\"seed\": {seed}}},\n  \
         \"val_acc\": {acc},\n  \"val_loss\": 0.35,\n  \"history\": [{{\"epoch\": 1, \"val_acc\": {acc}}}],\n  \
         \"host\": {{\"runtime_s\": {}.5, \"cpu_model\": \"swarm-{hostid}\"}}\n}}\n",
        hostid % 97
    )
    .into_bytes()
}

/// `http://host:port/path` → (address, path).
fn split_url(url: &str) -> anyhow::Result<(SocketAddr, String)> {
    let rest = url.strip_prefix("http://").context("http URL")?;
    let (hostport, path) = rest.split_once('/').unwrap_or((rest, ""));
    Ok((hostport.parse()?, format!("/{path}")))
}

fn percentile(sorted: &[f32], p: f64) -> f64 {
    if sorted.is_empty() {
        return f64::NAN;
    }
    let i = ((sorted.len() as f64 - 1.0) * p).round() as usize;
    f64::from(sorted[i.min(sorted.len() - 1)])
}

/// Shared by every emulated host.
struct Swarm {
    opts: Options,
    authenticator: String,
    sched: (SocketAddr, String),
    stats: Stats,
    connections: Semaphore,
    stop: AtomicBool,
}

impl Swarm {
    async fn post(
        &self,
        addr: SocketAddr,
        path: &str,
        body: &[u8],
    ) -> anyhow::Result<(http::Response, f32)> {
        let _permit = self.connections.acquire().await?;
        let t = Instant::now();
        let r = http::post_xml(addr, path, body).await?;
        Ok((r, t.elapsed().as_secs_f32() * 1000.0))
    }

    /// Sleeps `secs`, or less if the run ends first; false if it ended.
    async fn nap(&self, secs: f64) -> bool {
        let end = Instant::now() + Duration::from_secs_f64(secs.max(0.0));
        while Instant::now() < end {
            if self.stop.load(Ordering::Relaxed) {
                return false;
            }
            tokio::time::sleep((end - Instant::now()).min(Duration::from_millis(500))).await;
        }
        !self.stop.load(Ordering::Relaxed)
    }

    /// One host's life until the run ends (or it vanishes).
    async fn host(self: Arc<Self>, index: usize, ramp: f64) {
        let mut rng = rand::rngs::StdRng::seed_from_u64(index as u64);
        let mut sim = SimHost::new(&self.authenticator, &format!("swarm-host-{index}"));
        let mut to_report: Vec<Report> = Vec::new();
        let mut backoff = 0.0f64;
        if !self.nap(rng.gen_range(0.0..ramp)).await {
            return;
        }
        loop {
            let want_work = sim.holding.len() <= to_report.len();
            let body = sim.request(if want_work { 1.0 } else { 0.0 }, &to_report);
            let sent = self
                .post(self.sched.0, &self.sched.1, body.as_bytes())
                .await;
            let reply = match sent {
                Ok((r, ms)) if r.status == 200 => {
                    self.stats.rpcs.fetch_add(1, Ordering::Relaxed);
                    self.stats.rpc_ms.lock().unwrap().push(ms);
                    parse_reply(&r.text())
                }
                _ => {
                    self.stats.rpc_failures.fetch_add(1, Ordering::Relaxed);
                    backoff = (backoff * 2.0).clamp(10.0, 300.0);
                    if !self.nap(backoff * rng.gen_range(0.5..1.0)).await {
                        return;
                    }
                    continue;
                }
            };
            if reply.project_is_down {
                self.stats.project_down.fetch_add(1, Ordering::Relaxed);
                let delay = reply.request_delay.unwrap_or(60.0);
                if !self.nap(delay).await {
                    return;
                }
                continue;
            }
            if sim.hostid == 0 && reply.hostid.is_some() {
                self.stats.attached.fetch_add(1, Ordering::Relaxed);
            }
            sim.absorb(&reply);
            to_report.retain(|r| !reply.acks.contains(&r.job.name));
            let min_delay = reply.request_delay.unwrap_or(0.0);
            let jobs = reply.jobs.clone();
            self.stats
                .jobs_received
                .fetch_add(jobs.len() as u64, Ordering::Relaxed);
            if jobs.is_empty() {
                if want_work {
                    // No work: the client backs off this project's CPU work fetch.
                    backoff = (backoff * 2.0).clamp(5.0, 120.0);
                } else {
                    backoff = 0.0;
                }
                let wait = if to_report.is_empty() {
                    min_delay.max(backoff * rng.gen_range(0.5..1.0))
                } else {
                    min_delay.max(1.0)
                };
                let wait = reply
                    .next_rpc_delay
                    .map_or(wait, |n| wait.min(n.max(min_delay)));
                if !self.nap(wait).await {
                    return;
                }
                continue;
            }
            backoff = 0.0;
            let started = Instant::now();
            for job in jobs {
                if rng.gen_bool(self.opts.vanish_rate) {
                    self.stats.vanished.fetch_add(1, Ordering::Relaxed);
                    return;
                }
                let compute = self.opts.compute_secs * rng.gen_range(0.5..1.5);
                if !self.nap(compute).await {
                    return;
                }
                match self.finish(&job, sim.hostid, &mut rng).await {
                    Some(report) => to_report.push(report),
                    None => return,
                }
            }
            let spent = started.elapsed().as_secs_f64();
            if spent < min_delay && !self.nap(min_delay - spent).await {
                return;
            }
        }
    }

    /// Ends a job: a compute error, or an upload (honest or wrong) ready to report. None if
    /// the run ended meanwhile.
    async fn finish(
        &self,
        job: &SentJob,
        hostid: i64,
        rng: &mut rand::rngs::StdRng,
    ) -> Option<Report> {
        if rng.gen_bool(self.opts.error_rate) {
            self.stats.reported_error.fetch_add(1, Ordering::Relaxed);
            return Some(Report {
                job: job.clone(),
                state: 3,
                exit_status: 1,
                outputs: vec![],
            });
        }
        let wrong = rng.gen_bool(self.opts.wrong_rate);
        let doc = metrics_doc(&job.wu_name, hostid, wrong);
        let out = job.outputs.first()?;
        let Ok((addr, path)) = split_url(&out.url) else {
            return None;
        };
        let mut backoff = 5.0;
        loop {
            match self.post(addr, &path, &upload_body(out, &doc, 0)).await {
                Ok((r, ms)) if r.status == 200 && r.text().contains("<status>0</status>") => {
                    self.stats.uploads.fetch_add(1, Ordering::Relaxed);
                    self.stats.upload_ms.lock().unwrap().push(ms);
                    break;
                }
                _ => {
                    self.stats.upload_failures.fetch_add(1, Ordering::Relaxed);
                    if !self.nap(backoff * rng.gen_range(0.5..1.0)).await {
                        return None;
                    }
                    backoff = (backoff * 2.0f64).min(120.0);
                }
            }
        }
        if wrong {
            self.stats.reported_wrong.fetch_add(1, Ordering::Relaxed);
        } else {
            self.stats.reported_ok.fetch_add(1, Ordering::Relaxed);
        }
        Some(Report {
            job: job.clone(),
            state: 5,
            exit_status: 0,
            outputs: vec![doc],
        })
    }
}

/// Keeps at least `target` unsent results, creating workunits in batches as a work generator
/// does. Returns when `stop` is set; counts what it created in `created`.
async fn feed(
    pool: rboinc_core::db::Pool,
    config: rboinc_core::config::Config,
    opts: &Options,
    target: i64,
    created: &AtomicU64,
    stop: &AtomicBool,
) -> anyhow::Result<()> {
    let mut creator = Some(WorkCreator::new(&pool, Arc::new(config), "mnist").await?);
    // The shared input is staged once; each workunit's job file is staged from memory in
    // batches, as `series submit` stages its job files (one new file per workunit, no
    // temporary copy, no `.md5` cache).
    let dataset = {
        let c = creator.as_ref().context("creator")?;
        c.stager()
            .stage_bytes("swarm_dataset", b"a shared sticky input, staged once\n")?
    };
    let overrides = JobOverrides {
        delay_bound: Some(opts.delay_bound),
        ..Default::default()
    };
    let mut next = 0u64;
    while !stop.load(Ordering::Relaxed) {
        let have: i64 = sqlx::query_scalar("SELECT COUNT(*) FROM result WHERE server_state = 2")
            .fetch_one(&pool)
            .await?;
        if have >= target {
            tokio::time::sleep(Duration::from_millis(500)).await;
            continue;
        }
        let n = ((target - have) / 2).clamp(1, 2000) as u64;
        let mut c = creator.take().context("creator")?;
        let names: Vec<String> = (next..next + n).map(|i| format!("swarm_{i}")).collect();
        next += n;
        let (dataset2, overrides2) = (dataset.clone(), overrides.clone());
        let (c, prepared) = tokio::task::spawn_blocking(move || {
            c.new_batch();
            let files: Vec<(String, Vec<u8>)> = names
                .iter()
                .map(|name| {
                    (
                        format!("{name}_job.json"),
                        rboinc_testkit::mnist::small_job(1).into_bytes(),
                    )
                })
                .collect();
            let staged = c.stager().stage_many(&files);
            let prepared = names
                .iter()
                .zip(staged)
                .map(|(name, job)| {
                    let spec = WorkSpec {
                        name: name.clone(),
                        wu_template: PathBuf::from("templates/mnist_in"),
                        result_template: "templates/mnist_out".to_string(),
                        inputs: vec![InputArg::Staged(job?), InputArg::Staged(dataset2.clone())],
                        command_line: None,
                        desc: JobDesc::default(),
                        overrides: overrides2.clone(),
                        additional_xml: String::new(),
                    };
                    Ok(c.prepare(&spec)?)
                })
                .collect::<anyhow::Result<Vec<_>>>()
                .and_then(|p| {
                    c.stager().sync()?;
                    Ok(p)
                });
            (c, prepared)
        })
        .await?;
        creator = Some(c);
        let prepared = prepared?;
        let mut conn = pool.acquire().await?;
        rboinc_tools::create_work::insert(&mut conn, &prepared, rboinc_core::clock::now_i32())
            .await?;
        created.fetch_add(n, Ordering::Relaxed);
        // The transitioner (1 s passes) makes the results before the next look.
        tokio::time::sleep(Duration::from_secs(2)).await;
    }
    Ok(())
}

/// Cumulative workunits through each stage: rows that left the table were purged after every
/// other stage.
#[derive(Debug, Clone, Copy, Default)]
struct Stages {
    t: f64,
    created: u64,
    decided: u64,
    assimilated: u64,
    files_deleted: u64,
    purged: u64,
}

async fn stages(pool: &sqlx::MySqlPool, created: u64, t: f64) -> anyhow::Result<Stages> {
    let (rows, decided, assimilated, deleted): (i64, i64, i64, i64) = sqlx::query_as(
        "SELECT COUNT(*), \
         CAST(COALESCE(SUM(canonical_resultid <> 0 OR error_mask <> 0), 0) AS SIGNED), \
         CAST(COALESCE(SUM(assimilate_state = 2), 0) AS SIGNED), \
         CAST(COALESCE(SUM(file_delete_state = 2), 0) AS SIGNED) FROM workunit",
    )
    .fetch_one(pool)
    .await?;
    let purged = created.saturating_sub(rows as u64);
    Ok(Stages {
        t,
        created,
        decided: purged + decided as u64,
        assimilated: purged + assimilated as u64,
        files_deleted: purged + deleted as u64,
        purged,
    })
}

fn count_files(dir: &Path) -> u64 {
    let mut n = 0;
    for e in std::fs::read_dir(dir).into_iter().flatten().flatten() {
        match e.file_type() {
            Ok(t) if t.is_dir() => n += count_files(&e.path()),
            Ok(_) => n += 1,
            Err(_) => {}
        }
    }
    n
}

/// Which statements ran, and how many rows they touched (a full scan shows as read_rnd_next).
const STATEMENT_COUNTERS: [&str; 16] = [
    "Com_select",
    "Com_update",
    "Com_update_multi",
    "Com_insert",
    "Com_delete",
    "Com_delete_multi",
    "Com_begin",
    "Com_rollback",
    "Com_stmt_prepare",
    "Com_stmt_execute",
    "Handler_read_key",
    "Handler_read_next",
    "Handler_read_rnd_next",
    "Handler_update",
    "Handler_write",
    "Handler_delete",
];

/// MariaDB's server-wide counters that say where a database's time goes: statements,
/// commits (each a log flush unless grouped), fsyncs, row lock waits.
async fn db_counters(pool: &sqlx::MySqlPool) -> anyhow::Result<BTreeMap<String, i64>> {
    let names: Vec<String> = ["Questions", "Com_commit", "Innodb_data_fsyncs"]
        .iter()
        .chain(&["Innodb_row_lock_waits", "Innodb_row_lock_time"])
        .chain(&STATEMENT_COUNTERS)
        .map(|n| format!("'{n}'"))
        .collect();
    let sql = format!(
        "SHOW GLOBAL STATUS WHERE Variable_name IN ({})",
        names.join(", ")
    );
    let rows: Vec<(String, String)> = sqlx::query_as(sqlx::AssertSqlSafe(sql))
        .fetch_all(pool)
        .await?;
    Ok(rows
        .into_iter()
        .filter_map(|(k, v)| Some((k, v.parse().ok()?)))
        .collect())
}

async fn grouped(pool: &sqlx::MySqlPool, sql: &'static str) -> anyhow::Result<Vec<(i64, i64)>> {
    Ok(sqlx::query_as(sql).fetch_all(pool).await?)
}

#[tokio::main(flavor = "multi_thread", worker_threads = 2)]
async fn main() -> anyhow::Result<()> {
    let o = options()?;
    let t0 = Instant::now();
    let bins = daemon_bins()?;
    let project = TestProject::create().await?;
    // A host asks often; thousands of them share one account here, so the account's quotas
    // must not be what limits the run.
    project.set_option("daily_result_quota", "100000")?;
    // As a project made by make_project on the database's machine: `db_host` localhost, which
    // is the Unix socket (`--db-tcp` keeps the test server's 127.0.0.1:3306).
    let db_via = if o.db_tcp || rboinc_core::db::pool::local_socket().is_none() {
        "TCP"
    } else {
        project.set_option("db_host", "localhost")?;
        "Unix socket"
    };
    let exe = project.temp_dir().join("swarm_app");
    std::fs::write(&exe, b"#!/bin/sh\nexit 0\n")?;
    project.publish_app_binary(&exe, "1.0").await?;
    let dir = project.temp_dir().to_path_buf();
    let root = project.root.clone();

    // The servers.
    let mut procs: Vec<Proc> = Vec::new();
    let sched_bin = Path::new(env!("CARGO_BIN_EXE_scheduler"));
    let backends: Vec<SocketAddr> = if o.schedulers == 1 {
        vec![project.addr()]
    } else {
        (0..o.schedulers)
            .map(|_| SocketAddr::from(([127, 0, 0, 1], free_port())))
            .collect()
    };
    for (i, addr) in backends.iter().enumerate() {
        procs.push(Proc::spawn(
            &format!("scheduler {i}"),
            Command::new(sched_bin)
                .arg("--project-dir")
                .arg(&root)
                .args(["-d", "3", "--listen", &addr.to_string()]),
            &dir.join(format!("scheduler_{i}.log")),
        )?);
    }
    if o.schedulers > 1 {
        let cfg = dir.join("haproxy.cfg");
        let mut text = format!(
            "global\n    maxconn 4000\n\ndefaults\n    mode http\n    timeout connect 2s\n    \
             timeout client 120s\n    timeout server 120s\n    retries 3\n    option redispatch\n\n\
             frontend boinc\n    bind 127.0.0.1:{}\n    default_backend schedulers\n\n\
             backend schedulers\n    balance roundrobin\n",
            project.port
        );
        for (i, a) in backends.iter().enumerate() {
            text.push_str(&format!("    server sched{i} {a} check inter 500ms\n"));
        }
        std::fs::write(&cfg, text)?;
        procs.push(Proc::spawn(
            "haproxy",
            Command::new("/usr/sbin/haproxy")
                .arg("-db")
                .arg("-f")
                .arg(&cfg),
            &dir.join("haproxy.log"),
        )?);
    }
    let daemons: [(&str, Vec<&str>); 5] = [
        ("transitioner", vec![]),
        ("validator", vec!["--app", "mnist", "--mode", "metrics"]),
        (
            "script_assimilator",
            vec!["--app", "mnist", "--builtin", "copy_metrics"],
        ),
        ("file_deleter", vec![]),
        (
            "db_purge",
            vec!["--min_age_days", "0", "--no_archive", "--sleep", "2"],
        ),
    ];
    for (program, args) in &daemons {
        procs.push(Proc::spawn(
            program,
            Command::new(bins.join(program))
                .arg("--project-dir")
                .arg(&root)
                .args(["-d", "3", "--sleep_interval", "1"])
                .args(args),
            &dir.join(format!("{program}.log")),
        )?);
    }
    for _ in 0..100 {
        if http::get(project.addr(), "/testproj/")
            .await
            .is_ok_and(|r| r.status == 200)
        {
            break;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    for p in &mut procs {
        if let Some(status) = p.child.try_wait()? {
            bail!("{} exited at start-up: {status}", p.name);
        }
    }

    // Work first, then the hosts.
    let stop_feed = Arc::new(AtomicBool::new(false));
    let created = Arc::new(AtomicU64::new(0));
    let target = (o.hosts as i64).max(2000);
    let feeder = {
        let (stop, created, o2) = (Arc::clone(&stop_feed), Arc::clone(&created), o.clone());
        let (pool, config) = (project.pool().clone(), project.config()?);
        async move { feed(pool, config, &o2, target, &created, &stop).await }
    };
    tokio::pin!(feeder);
    let prefill = Instant::now();
    loop {
        tokio::select! {
            r = &mut feeder => { r?; bail!("the feeder stopped"); }
            _ = tokio::time::sleep(Duration::from_secs(1)) => {}
        }
        let unsent: i64 = sqlx::query_scalar("SELECT COUNT(*) FROM result WHERE server_state = 2")
            .fetch_one(project.pool())
            .await?;
        if unsent >= target / 2 || prefill.elapsed() > Duration::from_secs(120) {
            break;
        }
    }
    eprintln!(
        "ready in {:.0} s: {} workunits created; {} hosts for {} s",
        t0.elapsed().as_secs_f64(),
        created.load(Ordering::Relaxed),
        o.hosts,
        o.secs
    );

    let swarm = Arc::new(Swarm {
        opts: o.clone(),
        authenticator: project.authenticator.clone(),
        sched: (project.addr(), "/testproj_cgi/cgi".to_string()),
        stats: Stats::default(),
        connections: Semaphore::new(o.connections),
        stop: AtomicBool::new(false),
    });
    let ramp = (o.secs / 5.0).min(30.0);
    let mut hosts = Vec::with_capacity(o.hosts);
    for i in 0..o.hosts {
        hosts.push(tokio::spawn(Arc::clone(&swarm).host(i, ramp)));
    }

    // Sample every 5 s: stages, and each process's CPU and memory.
    let start = Instant::now();
    let bench_pid = std::process::id();
    let db_pid = mariadb_pid();
    let mut watched: Vec<(String, u32)> = procs.iter().map(|p| (p.name.clone(), p.pid())).collect();
    watched.push(("swarm (this bench: hosts + feeder)".into(), bench_pid));
    if let Some(pid) = db_pid {
        watched.push(("mariadbd".into(), pid));
    }
    let db0 = db_counters(project.pool()).await?;
    let cpu0: Vec<f64> = watched
        .iter()
        .map(|(_, pid)| cpu_and_rss(*pid).map_or(0.0, |c| c.0))
        .collect();
    let mut rss: Vec<Vec<(f64, f64)>> = vec![Vec::new(); watched.len()];
    let mut samples: Vec<Stages> = Vec::new();
    let run = Duration::from_secs_f64(o.secs);
    let mut feeder_done = false;
    while start.elapsed() < run {
        if !feeder_done {
            tokio::select! {
                r = &mut feeder => { feeder_done = true; r?; }
                _ = tokio::time::sleep(Duration::from_secs(5)) => {}
            }
        } else {
            tokio::time::sleep(Duration::from_secs(5)).await;
        }
        let t = start.elapsed().as_secs_f64();
        let s = stages(project.pool(), created.load(Ordering::Relaxed), t).await?;
        for (i, (_, pid)) in watched.iter().enumerate() {
            if let Some((_, mb)) = cpu_and_rss(*pid) {
                rss[i].push((t, mb));
            }
        }
        eprintln!(
            "t={t:4.0}s created {} decided {} assimilated {} files deleted {} purged {} | RPCs {} uploads {}",
            s.created,
            s.decided,
            s.assimilated,
            s.files_deleted,
            s.purged,
            swarm.stats.rpcs.load(Ordering::Relaxed),
            swarm.stats.uploads.load(Ordering::Relaxed)
        );
        samples.push(s);
    }
    swarm.stop.store(true, Ordering::Relaxed);
    stop_feed.store(true, Ordering::Relaxed);
    if !feeder_done {
        feeder.await?;
    }
    for h in hosts {
        let _ = h.await;
    }
    let elapsed = start.elapsed().as_secs_f64();
    let db1 = db_counters(project.pool()).await?;
    let cpu: Vec<f64> = watched
        .iter()
        .zip(&cpu0)
        .map(|((_, pid), c0)| cpu_and_rss(*pid).map_or(f64::NAN, |c| c.0 - c0))
        .collect();

    // Drain: what was reported goes through the daemons.
    let drain = Instant::now();
    let mut last = stages(project.pool(), created.load(Ordering::Relaxed), elapsed).await?;
    while drain.elapsed().as_secs_f64() < o.drain_secs {
        tokio::time::sleep(Duration::from_secs(2)).await;
        let s = stages(project.pool(), created.load(Ordering::Relaxed), elapsed).await?;
        let moved = s.purged != last.purged || s.decided != last.decided;
        last = s;
        if !moved && drain.elapsed() > Duration::from_secs(6) {
            break;
        }
    }

    // The report.
    let steady: Vec<&Stages> = samples.iter().filter(|s| s.t >= ramp + 10.0).collect();
    let rate = |f: fn(&Stages) -> u64| -> f64 {
        match (steady.first(), steady.last()) {
            (Some(a), Some(b)) if b.t > a.t => (f(b) as f64 - f(a) as f64) / (b.t - a.t),
            _ => f64::NAN,
        }
    };
    let st = &swarm.stats;
    let mut rpc = st.rpc_ms.lock().unwrap().clone();
    rpc.sort_by(f32::total_cmp);
    let mut up = st.upload_ms.lock().unwrap().clone();
    up.sort_by(f32::total_cmp);
    println!(
        "\nEmulated swarm: {} hosts, {:.0} s ({:.0} s ramp-up), {} scheduler(s){}, compute {:.0} s mean, \
         error {:.1} %, wrong metric {:.1} %, vanish {:.2} % per job, delay_bound {} s, at most {} connections, \
         database over its {db_via}\n",
        o.hosts,
        o.secs,
        ramp,
        o.schedulers,
        if o.schedulers > 1 {
            " behind haproxy"
        } else {
            ""
        },
        o.compute_secs,
        o.error_rate * 100.0,
        o.wrong_rate * 100.0,
        o.vanish_rate * 100.0,
        o.delay_bound,
        o.connections
    );
    println!("| stage (steady part, after the ramp-up) | WU/s |");
    println!("|---|---:|");
    println!("| created | {:.0} |", rate(|s| s.created));
    println!(
        "| validated (canonical result) or failed | {:.0} |",
        rate(|s| s.decided)
    );
    println!("| assimilated | {:.0} |", rate(|s| s.assimilated));
    println!("| files deleted | {:.0} |", rate(|s| s.files_deleted));
    println!("| purged | {:.0} |", rate(|s| s.purged));
    println!("\n| request | count | per s | p50 ms | p90 ms | p99 ms | max ms | failed |");
    println!("|---|---:|---:|---:|---:|---:|---:|---:|");
    for (name, v, failed) in [
        (
            "scheduler RPC",
            &rpc,
            st.rpc_failures.load(Ordering::Relaxed),
        ),
        ("upload", &up, st.upload_failures.load(Ordering::Relaxed)),
    ] {
        println!(
            "| {name} | {} | {:.0} | {:.1} | {:.1} | {:.1} | {:.1} | {failed} |",
            v.len(),
            v.len() as f64 / elapsed,
            percentile(v, 0.5),
            percentile(v, 0.9),
            percentile(v, 0.99),
            percentile(v, 1.0)
        );
    }
    println!(
        "\nhosts attached {}, jobs received {}, reported: {} good, {} wrong metric, {} compute errors; \
         {} hosts vanished; {} 'project down' replies",
        st.attached.load(Ordering::Relaxed),
        st.jobs_received.load(Ordering::Relaxed),
        st.reported_ok.load(Ordering::Relaxed),
        st.reported_wrong.load(Ordering::Relaxed),
        st.reported_error.load(Ordering::Relaxed),
        st.vanished.load(Ordering::Relaxed),
        st.project_down.load(Ordering::Relaxed)
    );

    println!("\n| process | CPU s | CPU % of the run | RSS MiB per quarter of the run (peak) |");
    println!("|---|---:|---:|---|");
    for (i, (name, _)) in watched.iter().enumerate() {
        let quarters: Vec<String> = (0..4)
            .map(|q| {
                let (a, b) = (o.secs * q as f64 / 4.0, o.secs * (q + 1) as f64 / 4.0);
                rss[i]
                    .iter()
                    .filter(|(t, _)| *t >= a && *t <= b + 5.0)
                    .map(|(_, m)| *m)
                    .fold(f64::NAN, f64::max)
            })
            .map(|m| format!("{m:.0}"))
            .collect();
        println!(
            "| {name} | {:.1} | {:.0} | {} |",
            cpu[i],
            cpu[i] / elapsed * 100.0,
            quarters.join(" → ")
        );
    }

    // Rows and files at the end.
    let pool = project.pool();
    let wu_states = grouped(
        pool,
        "SELECT CAST(assimilate_state AS SIGNED), COUNT(*) FROM workunit GROUP BY assimilate_state",
    )
    .await?;
    let res_states = grouped(
        pool,
        "SELECT CAST(server_state AS SIGNED), COUNT(*) FROM result GROUP BY server_state",
    )
    .await?;
    let waiting_validation: i64 =
        sqlx::query_scalar("SELECT COUNT(*) FROM workunit WHERE need_validate = 1")
            .fetch_one(pool)
            .await?;
    let due_transition: i64 = sqlx::query_scalar(
        "SELECT COUNT(*) FROM workunit WHERE transition_time < UNIX_TIMESTAMP()",
    )
    .fetch_one(pool)
    .await?;
    let file_states = grouped(
        pool,
        "SELECT CAST(file_delete_state AS SIGNED), COUNT(*) FROM workunit GROUP BY file_delete_state",
    )
    .await?;
    let uploads_on_disk = count_files(&root.join("upload"));
    let results_with_files: i64 = sqlx::query_scalar(
        "SELECT COUNT(*) FROM result WHERE outcome = 1 AND file_delete_state <> 2",
    )
    .fetch_one(pool)
    .await?;
    let downloads_on_disk = count_files(&root.join("download"));
    let wus_with_files: i64 =
        sqlx::query_scalar("SELECT COUNT(*) FROM workunit WHERE file_delete_state <> 2")
            .fetch_one(pool)
            .await?;
    let total = stages(pool, created.load(Ordering::Relaxed), elapsed).await?;
    let as_map = |v: &[(i64, i64)]| v.iter().copied().collect::<BTreeMap<i64, i64>>();
    println!(
        "\nAt the end ({:.0} s of drain): {} workunits created, {} purged; rows left: workunits by \
         assimilate_state {:?}, by file_delete_state {:?}, results by server_state {:?}; {} \
         workunits flagged for validation, {} with a transition due",
        drain.elapsed().as_secs_f64(),
        total.created,
        total.purged,
        as_map(&wu_states),
        as_map(&file_states),
        as_map(&res_states),
        waiting_validation,
        due_transition
    );
    println!(
        "files: {uploads_on_disk} in upload/ for {results_with_files} successful results whose \
         files are not deleted; {downloads_on_disk} in download/ (app files and the shared input \
         included) for {wus_with_files} workunits whose input files are not deleted"
    );
    let log_errors: Vec<String> = procs
        .iter()
        .map(|p| p.name.replace(' ', "_"))
        .filter_map(|n| {
            let text = std::fs::read_to_string(dir.join(format!("{n}.log"))).ok()?;
            let bad: Vec<&str> = text
                .lines()
                .filter(|l| l.contains(" WARN ") || l.contains(" ERROR "))
                .collect();
            // The first one in full, so the figure says what happened.
            let first = bad.first()?;
            Some(format!("{n}: {} (first: {first})", bad.len()))
        })
        .collect();
    println!("WARN/ERROR lines in the logs: {log_errors:?}");
    let delta = |k: &str| db1.get(k).copied().unwrap_or(0) - db0.get(k).copied().unwrap_or(0);
    println!(
        "MariaDB during the run (server-wide counters: other sessions on the server count too): \
         {} statements, {} commits, {} fsyncs, {} row lock waits ({} ms waited in all)",
        delta("Questions"),
        delta("Com_commit"),
        delta("Innodb_data_fsyncs"),
        delta("Innodb_row_lock_waits"),
        delta("Innodb_row_lock_time")
    );
    let kinds: Vec<String> = STATEMENT_COUNTERS
        .iter()
        .map(|k| format!("{k} {}", delta(k)))
        .collect();
    println!(
        "MariaDB statements and row operations: {}",
        kinds.join(", ")
    );
    drop(procs);
    if o.keep {
        eprintln!(
            "kept: project {} (logs in {}), database {}",
            root.display(),
            dir.display(),
            project.db().name()
        );
        std::mem::forget(project);
    }
    Ok(())
}
