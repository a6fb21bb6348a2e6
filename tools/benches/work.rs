//! Workunit creation throughput of `create_work --stdin` (the real binary): 10,000 jobs on a
//! fresh MariaDB database, next to the stock C++ create_work measured on the same kind of
//! machine, and the file system's own pace for as many new files. Each figure is the median of
//! a few runs (the machine is shared, so single runs vary by up to 2×); the best run is shown
//! too. `series submit` is measured by `research/benches/series.rs`.
//!
//! Run: `cargo bench -p rboinc-tools --bench work`. The projects live under `$TMPDIR` (default
//! `/tmp`), so `TMPDIR=/dev/shm cargo bench ...` shows the same work on a file system whose
//! file creation is cheap.

mod common;

use std::io::Write;
use std::process::{Command, Stdio};
use std::time::Instant;

use common::{N, RUNS, count, load_average, project, row, runs};
use rboinc_core::test_support::TestDb;
use rboinc_tools::stage::Stager;

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

    println!(
        "load average {load_before} before, {} after; projects under {}",
        load_average(),
        tmp.path().display()
    );
    println!(
        "setup: {N} job files staged with Stager::stage_many + sync in {staging:.2} s ({:.0} files/s)\n",
        N as f64 / staging
    );
    common::header();
    row(
        "`create_work --stdin` (real binary, inputs staged, one transaction)",
        N,
        &cw,
        "5,583 (`--stdin`), 95 (one process per WU)",
    );
    println!(
        "| file system alone: {N} new files (create, write, rename), no database | {plain_files:.2} | {:.0} files/s | — | — | — |",
        N as f64 / plain_files
    );
    println!("\nruns in order (s): create_work --stdin {}", runs(&cw));
}
