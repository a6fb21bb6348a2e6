//! Daemon throughput next to the stock C++ daemons (`BENCHMARKS.md`, "Daemons").
//!
//! `cargo bench -p rboinc-daemons --bench daemons [-- KIND... [--n N] [--repeat R]]`
//!
//! Each kind loads N workunits (default 20,000, two results each where the work needs results)
//! into a fresh MariaDB database (`DATABASE_URL`, as the tests), runs one pass of the daemon's
//! library code in this process, and prints workunits per second next to the C++ figure measured
//! on this kind of machine with the stock daemons (BOINC c5c6cb79, one process). Kinds:
//! `transitioner-fresh`, `transitioner-validate`, `transitioner-delete`, `validator` (bitwise),
//! `validator-metrics`, `validator-tolerance`, `validator-script` (`script_validator` with
//! `cmp` as compare script: one process per workunit), `validator-script-init` (plus `true` as
//! init script: three processes per workunit); no kind runs them all. With `--repeat R` each kind runs R times on fresh databases and the table shows
//! the median and the best run (the machine and the MariaDB server are shared, so single runs
//! vary a lot). This is a benchmark, not a test: it asserts only that the work was done.

mod bench_args;

#[path = "../tests/transitioner_support/mod.rs"]
mod support;

use std::fs;
use std::time::Instant;

use bench_args::BenchArgs;

use rboinc_core::config::Config;
use rboinc_daemons::transitioner::{self, Transitioner};
use rboinc_daemons::validator::handle::CreditPolicy;
use rboinc_daemons::validator::modes::script::{ScriptCommand, Word};
use rboinc_daemons::validator::modes::tolerance::Tolerances;
use rboinc_daemons::validator::modes::{Bitwise, Metrics, Scripts, Tolerance};
use rboinc_daemons::validator::plugin::PluginHandle;
use rboinc_daemons::validator::{self, Validator};
use support::{Project, ResultSpec, WuSpec, insert_results, insert_workunits, metrics_json, now};

/// One row of the table.
struct Row {
    kind: &'static str,
    work: &'static str,
    n: i64,
    secs: f64,
    /// The C++ anchor, if one was measured.
    cpp: Option<f64>,
    goal: f64,
}

const KINDS: &[&str] = &[
    "transitioner-fresh",
    "transitioner-validate",
    "transitioner-delete",
    "validator",
    "validator-metrics",
    "validator-tolerance",
    "validator-script",
    "validator-script-init",
];

fn main() {
    let args = BenchArgs::from_env(KINDS);
    let (kinds, n, repeat) = (args.kinds, args.n as i64, args.repeat);
    // RUST_LOG=rboinc_daemons=debug shows per-batch timings.
    if std::env::var_os("RUST_LOG").is_some() {
        rboinc_core::telemetry::init(rboinc_core::telemetry::LogFormat::Text, 3);
    }
    let rt = tokio::runtime::Runtime::new().unwrap();
    let mut rows: Vec<(Row, f64)> = Vec::new();
    for kind in &kinds {
        let mut runs = Vec::new();
        for _ in 0..repeat.max(1) {
            let row = rt.block_on(async {
                match kind.as_str() {
                    "transitioner-fresh" => transitioner_fresh(n).await,
                    "transitioner-validate" => transitioner_validate(n).await,
                    "transitioner-delete" => transitioner_delete(n).await,
                    "validator" => validator_mode(n, "bitwise").await,
                    "validator-metrics" => validator_mode(n, "metrics").await,
                    "validator-tolerance" => validator_mode(n, "tolerance").await,
                    "validator-script" => validator_mode(n, "script").await,
                    "validator-script-init" => validator_mode(n, "script-init").await,
                    other => panic!("unknown kind {other:?}; kinds: {KINDS:?}"),
                }
            });
            eprintln!(
                "{} ({}): {:.0} WU/s",
                row.kind,
                row.work,
                row.n as f64 / row.secs
            );
            runs.push(row);
        }
        runs.sort_by(|a, b| a.secs.total_cmp(&b.secs));
        let median = runs[runs.len() / 2].secs;
        let best = runs[0].secs;
        let mut row = runs.swap_remove(0);
        row.secs = median;
        rows.push((row, best));
    }
    println!(
        "\ncommand: cargo bench -p rboinc-daemons --bench daemons -- {} --n {n} --repeat {repeat}",
        kinds.join(" ")
    );
    println!(
        "| daemon | work | WU | median WU/s | best WU/s | C++ WU/s | median × C++ | goal |\n|---|---|---:|---:|---:|---:|---:|---:|"
    );
    for (r, best) in rows {
        let rate = r.n as f64 / r.secs;
        // Without a C++ anchor there is nothing to compare with, and no goal.
        let (cpp, times, goal) = match r.cpp {
            Some(cpp) => (
                format!("{cpp:.0}"),
                format!("{:.1}", rate / cpp),
                format!("≥ {}×", r.goal),
            ),
            None => ("not measured".into(), "—".into(), "—".into()),
        };
        println!(
            "| {} | {} | {} | {:.0} | {:.0} | {cpp} | {times} | {goal} |",
            r.kind,
            r.work,
            r.n,
            rate,
            r.n as f64 / best,
        );
    }
}

async fn transitioner_pass(p: &Project) -> f64 {
    let config = Config::load(&p.root).unwrap();
    let mut options = transitioner::Options::default();
    if let Ok(n) = std::env::var("BENCH_IN_FLIGHT") {
        options.in_flight = n.parse().expect("BENCH_IN_FLIGHT is a number");
    }
    let t = Transitioner::new(p.pool().clone(), &config, options).unwrap();
    let started = Instant::now();
    let report = t.pass(|| false).await.unwrap();
    let secs = started.elapsed().as_secs_f64();
    assert!(report.workunits > 0);
    secs
}

async fn count(p: &Project, sql: &'static str) -> i64 {
    sqlx::query_scalar(sql).fetch_one(p.pool()).await.unwrap()
}

/// Fresh workunits: the pass creates two results each.
async fn transitioner_fresh(n: i64) -> Row {
    let p = Project::new("", false).await;
    let wus: Vec<_> = (1..=n)
        .map(|i| WuSpec::fresh(i, &format!("f{i}")))
        .collect();
    insert_workunits(p.pool(), &wus).await;
    let secs = transitioner_pass(&p).await;
    assert_eq!(count(&p, "SELECT COUNT(*) FROM result").await, 2 * n);
    Row {
        kind: "transitioner",
        work: "fresh WU → 2 results",
        n,
        secs,
        cpp: Some(799.0),
        goal: 10.0,
    }
}

fn returned(n: i64, validate_state: i32) -> Vec<ResultSpec> {
    (1..=n)
        .flat_map(|i| {
            (0..2).map(move |k| {
                let mut r = ResultSpec::returned(2 * i - 1 + k, i, &format!("w{i}"), k, 1 + k);
                r.validate_state = validate_state;
                r
            })
        })
        .collect()
}

/// Both results came back: the pass flags each workunit for the validator.
async fn transitioner_validate(n: i64) -> Row {
    let p = Project::new("", false).await;
    let wus: Vec<_> = (1..=n)
        .map(|i| WuSpec::fresh(i, &format!("w{i}")))
        .collect();
    insert_workunits(p.pool(), &wus).await;
    insert_results(p.pool(), &returned(n, 0)).await;
    let secs = transitioner_pass(&p).await;
    assert_eq!(
        count(&p, "SELECT COUNT(*) FROM workunit WHERE need_validate = 1").await,
        n
    );
    Row {
        kind: "transitioner",
        work: "results returned → need_validate",
        n,
        secs,
        cpp: Some(1506.0),
        goal: 10.0,
    }
}

/// Validated and assimilated: the pass releases the input and both outputs for deletion.
async fn transitioner_delete(n: i64) -> Row {
    let p = Project::new("", false).await;
    let wus: Vec<_> = (1..=n)
        .map(|i| {
            let mut w = WuSpec::fresh(i, &format!("w{i}"));
            w.canonical_resultid = 2 * i - 1;
            w.assimilate_state = 2;
            w
        })
        .collect();
    insert_workunits(p.pool(), &wus).await;
    insert_results(p.pool(), &returned(n, 1)).await;
    let secs = transitioner_pass(&p).await;
    assert_eq!(
        count(
            &p,
            "SELECT COUNT(*) FROM workunit WHERE file_delete_state = 1"
        )
        .await,
        n
    );
    assert_eq!(
        count(
            &p,
            "SELECT COUNT(*) FROM result WHERE file_delete_state = 1"
        )
        .await,
        2 * n
    );
    Row {
        kind: "transitioner",
        work: "assimilated → files marked for deletion",
        n,
        secs,
        cpp: Some(752.0),
        goal: 10.0,
    }
}

/// Two agreeing results per workunit, 200 hosts with statistics rows: canonical result,
/// credit to results, hosts, users, statistics.
async fn validator_mode(n: i64, mode: &str) -> Row {
    let p = Project::new("", false).await;
    let hosts = 200;
    p.add_hosts(4, hosts + 1).await;
    sqlx::raw_sql(sqlx::AssertSqlSafe(format!(
        "INSERT INTO host_app_version (host_id, app_version_id, pfc_n, pfc_avg, et_n, et_avg, et_var, \
         et_q, max_jobs_per_day, n_jobs_today, turnaround_n, turnaround_avg, turnaround_var, \
         turnaround_q, consecutive_valid) \
         SELECT id, 1, 5, 0.2, 5, 1e-10, 0, 0, 50, 0, 5, 7000, 0, 0, 5 FROM host WHERE id <= {hosts}"
    )))
    .execute(p.pool())
    .await
    .unwrap();
    let mut wus = Vec::new();
    let mut results = Vec::new();
    let doc = metrics_json(0.9, 1);
    for i in 1..=n {
        let name = format!("v{i}");
        let mut w = WuSpec::fresh(i, &name);
        w.need_validate = 1;
        w.transition_time = now() + 864_000;
        wus.push(w);
        for k in 0..2 {
            let host = 1 + (i * 7 + k * 13) % hosts;
            let r = ResultSpec::returned(2 * i - 1 + k, i, &name, k, host);
            fs::write(p.upload_path(&r.output), &doc).unwrap();
            results.push(r);
        }
    }
    insert_workunits(p.pool(), &wus).await;
    insert_results(p.pool(), &results).await;
    let config = Config::load(&p.root).unwrap();
    let script = |init: bool| Scripts {
        init: init.then(|| ScriptCommand {
            program: "/bin/true".into(),
            words: vec![Word::Files],
        }),
        compare: Some(ScriptCommand {
            program: "/usr/bin/cmp".into(),
            words: vec![Word::Files, Word::Files2],
        }),
        timeout: std::time::Duration::from_secs(300),
        env: Vec::new(),
    };
    let (plugin, kind, cpp) = match mode {
        "bitwise" => (
            PluginHandle::new(Bitwise::default()),
            "validator (bitwise)",
            Some(138.0),
        ),
        "metrics" => (
            PluginHandle::new(Metrics),
            "validator (metrics)",
            Some(138.0),
        ),
        "tolerance" => {
            let path = support::workspace_root().join("config/validator_tolerances.json");
            let t = Tolerances::load(&path).unwrap();
            (
                PluginHandle::new(Tolerance(std::sync::Arc::new(t))),
                "validator (tolerance)",
                Some(138.0),
            )
        }
        "script" => (
            PluginHandle::new(script(false)),
            "script_validator (compare: cmp)",
            None,
        ),
        "script-init" => (
            PluginHandle::new(script(true)),
            "script_validator (init: true, compare: cmp)",
            None,
        ),
        other => panic!("no validator mode {other}"),
    };
    let options = validator::Options {
        app: "mnist".into(),
        plugin,
        policy: CreditPolicy::default(),
        batch: validator::DEFAULT_BATCH,
        slice: Default::default(),
        min_wu_id: None,
        max_wu_id: None,
        wu_id: None,
        max_jobs: None,
        dry_run: false,
        single_batch: false,
    };
    let v = Validator::new(p.pool().clone(), &config, options).unwrap();
    let started = Instant::now();
    let report = v.pass(|| false).await.unwrap();
    let secs = started.elapsed().as_secs_f64();
    assert_eq!(report.canonical_found as i64, n);
    assert_eq!(
        count(
            &p,
            "SELECT COUNT(*) FROM result WHERE validate_state = 1 AND granted_credit > 0"
        )
        .await,
        2 * n
    );
    Row {
        kind,
        work: "2 agreeing results, with credit",
        n,
        secs,
        cpp,
        goal: 10.0,
    }
}
