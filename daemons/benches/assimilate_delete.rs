//! Throughput of the assimilators, file_deleter and db_purge next to the stock C++ daemons
//! (`BENCHMARKS.md`, "Daemons").
//!
//! `cargo bench -p rboinc-daemons --bench assimilate_delete [-- KIND... [--n N] [--repeat R]]`
//!
//! Each kind loads N workunits (default 20,000) with two results each into a fresh MariaDB
//! database (`DATABASE_URL`, as the tests) and a temporary project directory, with their files
//! on disk, then runs the real daemon binary once with `--drain` (everything due; `--one_pass`
//! would be one batch) and times the process from start to exit. The C++ figures were measured the same way (one process, stock daemons of
//! BOINC c5c6cb79, this kind of 2-core machine). Kinds: `script` (script_assimilator with a
//! trivial shell script), `builtin` (`--builtin copy_metrics`: 20,000 metrics.json files
//! written), `dummy` (sample_dummy_assimilator), `file_deleter` (workunit + 2 results, 4 files
//! each), `db_purge` (with archives), `db_purge_no_archive`; no kind runs them all. With
//! `--repeat R` each kind runs R times on fresh data and the table shows the best and the
//! median run (the machine is shared: other work slows single runs down, never speeds them
//! up). This is a benchmark, not a test: it only checks that the work was done.

mod bench_args;

#[path = "../tests/finished_jobs/mod.rs"]
mod finished_jobs;

use std::time::Instant;

use bench_args::BenchArgs;

use finished_jobs::{Project, Stage};

struct Row {
    kind: &'static str,
    daemon: &'static str,
    command: String,
    n: u64,
    /// Seconds of each run, sorted.
    secs: Vec<f64>,
    /// The C++ figure and our goal as a multiple of it (from issue 5's table).
    cpp: Option<(f64, f64)>,
}

const KINDS: &[&str] = &[
    "script",
    "builtin",
    "dummy",
    "file_deleter",
    "db_purge",
    "db_purge_no_archive",
];

fn main() {
    let args = BenchArgs::from_env(KINDS);
    let (kinds, n, repeat) = (args.kinds, args.n, args.repeat);
    let rt = tokio::runtime::Runtime::new().unwrap();
    let mut rows = Vec::new();
    for kind in &kinds {
        let mut row = rt.block_on(run_kind(kind, n));
        for _ in 1..repeat {
            row.secs.extend(rt.block_on(run_kind(kind, n)).secs);
        }
        row.secs.sort_by(f64::total_cmp);
        rows.push(row);
    }
    println!(
        "\ncommand: cargo bench -p rboinc-daemons --bench assimilate_delete -- {} --n {n} \
         --repeat {repeat}",
        kinds.join(" ")
    );
    println!(
        "| daemon, work | command | WU | runs | best s | ours WU/s (best) | median WU/s | \
         C++ WU/s | × C++ (best) | goal |\n|---|---|---:|---:|---:|---:|---:|---:|---:|---:|"
    );
    for r in &rows {
        let best = r.secs[0];
        let median = r.secs[r.secs.len() / 2];
        let rate = r.n as f64 / best;
        let (cpp, ratio, goal) = match r.cpp {
            Some((cpp, goal)) => (
                format!("{cpp:.0}"),
                format!("{:.1}", rate / cpp),
                format!("≥ {goal}×"),
            ),
            None => ("—".into(), "—".into(), "—".into()),
        };
        println!(
            "| {}, {} | `{}` | {} | {} | {best:.2} | {rate:.0} | {:.0} | {cpp} | {ratio} | {goal} |",
            r.daemon,
            r.kind,
            r.command,
            r.n,
            r.secs.len(),
            r.n as f64 / median,
        );
    }
}

async fn run_kind(kind: &str, n: u64) -> Row {
    let p = Project::new().await;
    let (stage, daemon, args, cpp, kind): (Stage, &str, Vec<&str>, _, &'static str) = match kind {
        "script" => {
            p.install_script("trivial.sh", "#!/bin/sh\nexit 0\n");
            (
                Stage::Assimilate { failed_every: None },
                "script_assimilator",
                vec!["--app", "mnist", "--drain", "--script", "trivial.sh"],
                Some((242.0, 3.0)),
                "trivial shell script",
            )
        }
        "builtin" => (
            Stage::Assimilate { failed_every: None },
            "script_assimilator",
            vec!["--app", "mnist", "--drain", "--builtin", "copy_metrics"],
            Some((704.0, 5.0)),
            "built-in copy_metrics (vs C++ dummy)",
        ),
        "dummy" => (
            Stage::Assimilate { failed_every: None },
            "sample_dummy_assimilator",
            vec!["--app", "mnist", "--drain"],
            Some((704.0, 5.0)),
            "no script",
        ),
        "file_deleter" => (
            Stage::DeleteFiles,
            "file_deleter",
            vec!["--drain"],
            Some((391.0, 10.0)),
            "WU + 2 results, 4 files",
        ),
        "db_purge" => (
            Stage::Purge,
            "db_purge",
            vec!["--drain"],
            None,
            "WU + 2 results, archived",
        ),
        "db_purge_no_archive" => (
            Stage::Purge,
            "db_purge",
            vec!["--drain", "--no_archive"],
            None,
            "WU + 2 results, --no_archive",
        ),
        other => panic!("unknown kind {other:?}; kinds: {KINDS:?}"),
    };
    eprintln!("{daemon} ({kind}): loading {n} workunits…");
    p.load(1, n, stage).await;
    let start = Instant::now();
    p.run(daemon, &args);
    let secs = start.elapsed().as_secs_f64();
    eprintln!("{daemon} ({kind}): {:.0} WU/s", n as f64 / secs);
    let done = match stage {
        Stage::Assimilate { .. } => p.count_wus("assimilate_state", 2).await,
        Stage::DeleteFiles => p.count_wus("file_delete_state", 2).await,
        Stage::Purge => n as i64 - p.count_wus("file_delete_state", 2).await,
    };
    assert_eq!(done, n as i64, "{daemon} did not finish the work");
    if stage == Stage::DeleteFiles {
        assert!(p.snapshot().await.files.is_empty(), "files left behind");
    }
    Row {
        kind,
        daemon,
        command: format!("{daemon} {}", args.join(" ")),
        n,
        secs: vec![secs],
        cpp,
    }
}
