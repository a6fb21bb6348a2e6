//! Workunit creation throughput: `create_work --stdin` (the real binary) and `series submit`
//! of 10,000 rounds, on fresh MariaDB databases, next to the stock C++ create_work measured on
//! the same kind of machine. Each figure is the median of a few runs (the machine is shared,
//! so single runs vary by up to 2×); the best run is shown too.
//!
//! Run: `cargo bench -p rboinc-tools --bench work`. The projects live under `$TMPDIR` (default
//! `/tmp`), so `TMPDIR=/dev/shm cargo bench ...` shows the same work on a file system whose
//! file creation is cheap.

use std::io::Write;
use std::path::Path;
use std::process::{Command, Stdio};
use std::time::Instant;

use rboinc_core::config::Secret;
use rboinc_core::test_support::TestDb;
use rboinc_tools::make_project::{self, BinSource, MakeProjectOptions};
use rboinc_tools::project::Project;
use rboinc_tools::series::{self, SeriesParams, SubmitOptions};
use rboinc_tools::stage::Stager;

const N: usize = 10_000;
const RUNS: usize = 3;
/// The stock C++ create_work in `--stdin` bulk mode, WU/s.
const CPP_BULK: f64 = 5583.0;

async fn project(db: &TestDb, root: &Path, short: &str) -> Project {
    let s = db.db_settings();
    make_project::create(&MakeProjectOptions {
        short_name: short.into(),
        long_name: None,
        project_root: root.to_path_buf(),
        url_base: "http://127.0.0.1:8080/".into(),
        db_host: format!("{}:{}", s.host, s.port.unwrap_or(3306)),
        db_name: Some(s.name.clone()),
        db_user: s.user.clone(),
        db_passwd: Secret::new(s.password.expose()),
        project_host: None,
        submitter_email: "bench@example.org".into(),
        submitter_name: "bench".into(),
        bin: BinSource::None,
    })
    .await
    .expect("make_project");
    Project::open(Some(root)).expect("open")
}

/// Median and best of the runs' seconds.
fn summary(secs: &[f64]) -> (f64, f64) {
    let mut v = secs.to_vec();
    v.sort_by(f64::total_cmp);
    (v[v.len() / 2], v[0])
}

fn row(what: &str, count: usize, secs: &[f64], cpp: &str) {
    let (median, best) = summary(secs);
    let rate = count as f64 / median;
    println!(
        "| {what} | {median:.2} | {rate:.0} | {:.0} | {cpp} | {:.1}× |",
        count as f64 / best,
        rate / CPP_BULK
    );
}

fn load_average() -> String {
    std::fs::read_to_string("/proc/loadavg")
        .ok()
        .and_then(|t| t.split_whitespace().next().map(str::to_string))
        .unwrap_or_else(|| "?".into())
}

async fn count(pool: &sqlx::MySqlPool, sql: &'static str) -> usize {
    let n: i64 = sqlx::query_scalar(sql).fetch_one(pool).await.unwrap();
    n as usize
}

#[tokio::main]
async fn main() {
    rboinc_core::telemetry::init_for_tests();
    let tmp = tempfile::tempdir().unwrap();
    let load_before = load_average();

    // create_work --stdin: N jobs, each a staged job file plus the shared dataset file.
    let db = TestDb::empty().await;
    let root = tmp.path().join("cw");
    let p = project(&db, &root, "cw").await;
    let stager = Stager::from_config(&p.config).unwrap();
    stager
        .stage_bytes("dataset.bin", &vec![7u8; 1 << 20])
        .unwrap();
    let jobs: Vec<(String, Vec<u8>)> = (0..N)
        .map(|i| {
            (
                format!("job_{i}.json"),
                format!("{{\"seed\": {i}}}").into_bytes(),
            )
        })
        .collect();
    let t = Instant::now();
    for r in stager.stage_many(&jobs) {
        r.unwrap();
    }
    stager.sync().unwrap();
    let staging = t.elapsed().as_secs_f64();
    let mut cw = Vec::new();
    for run in 0..RUNS {
        let mut input = String::new();
        for (name, _) in &jobs {
            input.push_str(&format!("--wu_name r{run}_{name} {name} dataset.bin\n"));
        }
        let t = Instant::now();
        let mut child = Command::new(env!("CARGO_BIN_EXE_create_work"))
            .args(["--appname", "mnist", "--stdin", "--config_dir"])
            .arg(&root)
            .stdin(Stdio::piped())
            .stdout(Stdio::null())
            .spawn()
            .unwrap();
        child
            .stdin
            .take()
            .unwrap()
            .write_all(input.as_bytes())
            .unwrap();
        assert!(child.wait().unwrap().success());
        cw.push(t.elapsed().as_secs_f64());
        assert_eq!(
            count(db.pool(), "SELECT COUNT(*) FROM workunit").await,
            N * (run + 1)
        );
    }

    // The file system's own pace: N new files (create, write, rename) with std::fs alone.
    let plain = tmp.path().join("plain");
    std::fs::create_dir(&plain).unwrap();
    let t = Instant::now();
    for (i, (name, bytes)) in jobs.iter().enumerate() {
        let dir = plain.join(format!("{:x}", i % 1024));
        if i < 1024 {
            std::fs::create_dir(&dir).unwrap();
        }
        let tmp_path = dir.join(format!(".{name}.tmp"));
        std::fs::write(&tmp_path, bytes).unwrap();
        std::fs::rename(&tmp_path, dir.join(name)).unwrap();
    }
    let plain_files = t.elapsed().as_secs_f64();

    // series submit of N rounds, every workunit created at once (cushion N): N job files
    // staged, the dataset bundled once, N workunits.
    let db2 = TestDb::empty().await;
    let root2 = tmp.path().join("sr");
    let p2 = project(&db2, &root2, "sr").await;
    let pool2 = p2.connect().await.unwrap();
    let mut o = SubmitOptions::original(
        std::path::PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../app/data/mnist-10k"),
        N,
    );
    o.params = SeriesParams::default();
    o.base_seed = Some(1);
    let mut all = Vec::new();
    for run in 0..RUNS {
        o.name = Some(format!("all_{run}"));
        // The cushion counts the earlier runs' unsent workunits too.
        o.cushion = N * (run + 1);
        let t = Instant::now();
        let s = series::submit(&p2, &pool2, &o).await.unwrap();
        all.push(t.elapsed().as_secs_f64());
        assert_eq!(s.created, N);
    }
    assert_eq!(
        count(db2.pool(), "SELECT COUNT(*) FROM workunit").await,
        N * RUNS
    );

    // series submit as used: the rounds queued, a cushion of workunits created (the
    // work_generator daemon creates the rest as hosts take work).
    let db3 = TestDb::empty().await;
    let root3 = tmp.path().join("sq");
    let p3 = project(&db3, &root3, "sq").await;
    let pool3 = p3.connect().await.unwrap();
    let mut queued = Vec::new();
    for run in 0..RUNS {
        o.name = Some(format!("queued_{run}"));
        o.cushion = series::generator::DEFAULT_CUSHION;
        let t = Instant::now();
        let s = series::submit(&p3, &pool3, &o).await.unwrap();
        queued.push(t.elapsed().as_secs_f64());
        // The cushion counts waiting workunits of all series, so only the first run creates.
        assert_eq!(
            s.created,
            if run == 0 {
                series::generator::DEFAULT_CUSHION
            } else {
                0
            }
        );
    }

    println!(
        "load average {load_before} before, {} after; projects under {}",
        load_average(),
        tmp.path().display()
    );
    println!(
        "setup: {N} job files staged with Stager::stage_many + sync in {staging:.2} s ({:.0} files/s)\n",
        N as f64 / staging
    );
    println!(
        "| operation ({N} per run, median of {RUNS}) | seconds | WU/s | best run WU/s | C++ create_work | vs C++ bulk |"
    );
    println!("|---|---:|---:|---:|---:|---:|");
    row(
        "`create_work --stdin` (real binary, inputs staged, one transaction)",
        N,
        &cw,
        "5,583 (`--stdin`), 95 (one process per WU)",
    );
    row(
        "`series submit`, every workunit created (job files staged + synced, one transaction)",
        N,
        &all,
        "—",
    );
    row(
        "`series submit` as used: rounds queued + a cushion of 100 workunits",
        N,
        &queued,
        "—",
    );
    println!(
        "| file system alone: {N} new files (create, write, rename), no database | {plain_files:.2} | {:.0} files/s | — | — | — |",
        N as f64 / plain_files
    );
    let runs = |secs: &[f64]| {
        secs.iter()
            .map(|s| format!("{s:.2}"))
            .collect::<Vec<_>>()
            .join(", ")
    };
    println!(
        "\nruns in order (s): create_work --stdin {}; series submit, every workunit {}; series submit as used {}",
        runs(&cw),
        runs(&all),
        runs(&queued)
    );
}
