//! What the workunit-creation benches share (`tools/benches/work.rs` and
//! `research/benches/series.rs`, which includes this file by path): the run counts, fresh
//! projects made by `make_project`, and the table they print, next to the stock C++
//! create_work measured on the same kind of machine.
#![allow(dead_code)]

use std::path::Path;

use rboinc_core::config::Secret;
use rboinc_core::test_support::TestDb;
use rboinc_tools::make_project::{self, BinSource, MakeProjectOptions};
use rboinc_tools::project::Project;

/// Workunits per run.
pub const N: usize = 10_000;
/// Runs per figure (the median is shown).
pub const RUNS: usize = 3;
/// The stock C++ create_work in `--stdin` bulk mode, WU/s.
pub const CPP_BULK: f64 = 5583.0;

/// A new project on `db` at `root`.
pub async fn project(db: &TestDb, root: &Path, short: &str) -> Project {
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

/// The table's header.
pub fn header() {
    println!(
        "| operation ({N} per run, median of {RUNS}) | seconds | WU/s | best run WU/s | C++ create_work | vs C++ bulk |"
    );
    println!("|---|---:|---:|---:|---:|---:|");
}

/// One row of the table: `count` workunits per run.
pub fn row(what: &str, count: usize, secs: &[f64], cpp: &str) {
    let (median, best) = summary(secs);
    let rate = count as f64 / median;
    println!(
        "| {what} | {median:.2} | {rate:.0} | {:.0} | {cpp} | {:.1}× |",
        count as f64 / best,
        rate / CPP_BULK
    );
}

/// The runs' seconds, in order.
pub fn runs(secs: &[f64]) -> String {
    secs.iter()
        .map(|s| format!("{s:.2}"))
        .collect::<Vec<_>>()
        .join(", ")
}

/// The 1-minute load average (the machine may be shared).
pub fn load_average() -> String {
    std::fs::read_to_string("/proc/loadavg")
        .ok()
        .and_then(|t| t.split_whitespace().next().map(str::to_string))
        .unwrap_or_else(|| "?".into())
}

/// A `SELECT COUNT(*)`'s answer.
pub async fn count(pool: &sqlx::MySqlPool, sql: &'static str) -> usize {
    let n: i64 = sqlx::query_scalar(sql).fetch_one(pool).await.unwrap();
    n as usize
}
