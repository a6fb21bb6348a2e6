//! The whole loop, as a user runs it: `make_project` → `update_versions` → `start` → two stock
//! BOINC clients attach → `series run` of a small sweep (two learning rates, one seed: two
//! rounds) → every result validated, the canonical
//! one assimilated to `results/mnist/<wu>/metrics.json`, the report written, distributed ==
//! local bit for bit → a second series on the same dataset, which the clients run without
//! downloading the dataset again → `stop` leaves no process behind.

mod common;

use std::collections::BTreeSet;
use std::os::unix::fs::MetadataExt;
use std::path::PathBuf;
use std::time::Duration;

use common::{
    SmallSeries, Stack, Tuning, Volunteer, alive, processes_in, text, wait_output, wait_until,
    warnings_and_errors,
};
use rboinc_core::state::{AssimilateState, FileDeleteState, Outcome, ServerState, ValidateState};

/// The files a client finished downloading, in order, from its log (the stock client's
/// `Finished download of NAME (N bytes)` line).
fn downloads(v: &Volunteer) -> Vec<String> {
    v.log()
        .lines()
        .filter_map(|l| l.split_once("] Finished download of ").map(|(_, r)| r))
        .filter_map(|r| r.split(" (").next())
        .map(str::to_string)
        .collect()
}

/// `metrics.json` without its `host` object (the only part allowed to differ between runs).
fn deterministic(path: &std::path::Path) -> serde_json::Value {
    let text = std::fs::read_to_string(path).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
    metrics_doc::deterministic_part(&serde_json::from_str(&text).unwrap())
}

#[tokio::test(flavor = "multi_thread")]
async fn two_stock_clients_run_a_series_from_make_project_to_stop() -> anyhow::Result<()> {
    let t0 = std::time::Instant::now();
    let mut stack = Stack::start(Tuning::default()).await?;
    eprintln!(
        "[{:6.1}s] project made, app published, daemons started",
        t0.elapsed().as_secs_f64()
    );
    let daemons: Vec<i64> = stack.status()?["daemons"]
        .as_array()
        .unwrap()
        .iter()
        .map(|d| {
            assert_eq!(d["running"], true, "every daemon runs after start: {d}");
            d["pid"].as_i64().unwrap()
        })
        .collect();
    assert_eq!(daemons.len(), 6, "scheduler and five daemons");

    let a = Volunteer::start("a", |_| {}).await?;
    let b = Volunteer::start("b", |_| {}).await?;
    a.attach(&stack.master_url, &stack.authenticator)?;
    b.attach(&stack.master_url, &stack.authenticator)?;
    eprintln!("[{:6.1}s] two clients attached", t0.elapsed().as_secs_f64());

    let series = stack.small_series(&SmallSeries {
        name: "e2e",
        rounds: 1,
        base_seed: 20240601,
        timeout_secs: 300,
        extra: &["--learning-rate", "0.05,0.2", "--export-weights"],
    })?;
    let out = wait_output(series, Duration::from_secs(330)).await?;
    assert!(
        out.status.success(),
        "{}",
        stack.series_failure(&out, &[("a", &a), ("b", &b)])
    );
    eprintln!("[{:6.1}s] series run finished", t0.elapsed().as_secs_f64());
    let stdout = String::from_utf8_lossy(&out.stdout);
    let report = PathBuf::from(stdout.lines().last().unwrap_or_default());
    assert_eq!(report, stack.root.join("reports/e2e"), "{}", text(&out));

    // The database: each round's workunit has two successful, valid results from two different
    // hosts, a canonical result, and is assimilated.
    let pool = stack.db.pool();
    let wus: Vec<(i64, String, i64, i32, i32)> = sqlx::query_as(
        "SELECT CAST(id AS SIGNED), name, CAST(canonical_resultid AS SIGNED), assimilate_state, \
         error_mask FROM workunit ORDER BY id",
    )
    .fetch_all(pool)
    .await?;
    assert_eq!(wus.len(), 2, "{wus:?}");
    for (round, (id, name, canonical, assimilate, error_mask)) in wus.iter().enumerate() {
        assert_eq!(name, &format!("e2e_{}", round + 1));
        assert_ne!(*canonical, 0, "{name} has a canonical result");
        assert_eq!(
            *assimilate,
            AssimilateState::Done as i32,
            "{name} assimilated"
        );
        assert_eq!(*error_mask, 0, "{name} has no error");
        let results: Vec<(i64, i64, i32, i32, i32)> = sqlx::query_as(
            "SELECT CAST(id AS SIGNED), CAST(hostid AS SIGNED), server_state, outcome, \
             validate_state FROM result WHERE workunitid = ? ORDER BY id",
        )
        .bind(id)
        .fetch_all(pool)
        .await?;
        assert_eq!(results.len(), 2, "{name}: {results:?}");
        let hosts: BTreeSet<i64> = results.iter().map(|r| r.1).collect();
        assert_eq!(
            hosts.len(),
            2,
            "{name}: the replicas ran on two hosts: {results:?}"
        );
        assert!(!hosts.contains(&0));
        for r in &results {
            assert_eq!(r.2, ServerState::Over as i32, "{name}: {r:?}");
            assert_eq!(r.3, Outcome::Success as i32, "{name}: {r:?}");
            assert_eq!(r.4, ValidateState::Valid as i32, "{name}: {r:?}");
        }
        assert!(results.iter().any(|r| r.0 == *canonical));

        // The assimilated canonical output, and the same job run locally: identical bits
        // outside the `host` object.
        let assimilated = stack
            .root
            .join(format!("results/mnist/{name}/metrics.json"));
        let local = report.join(format!("local/round_{}/metrics.json", round + 1));
        assert_eq!(
            deterministic(&assimilated),
            deterministic(&local),
            "{name}: distributed and local runs differ"
        );
        let m = deterministic(&assimilated);
        assert_eq!(m["job"]["sample_count"], 600);
        assert_eq!(m["job"]["train_epochs"], 2);
        // The sweep: round 1 is the first learning rate, round 2 the second, same seed.
        assert_eq!(m["job"]["learning_rate"], [0.05, 0.2][round]);
    }

    // The report: the summary says so too, and both plots are there.
    let summary = std::fs::read_to_string(report.join("summary.md"))?;
    for round in 1..=2 {
        assert!(
            summary.contains(&format!(
                "round {round}: distributed and local metrics are bit-identical"
            )),
            "{summary}"
        );
    }
    for png in [
        "acc_loss_curves.png",
        "final_val_acc.png",
        "config_val_acc.png",
        "config_curves.png",
    ] {
        let bytes = std::fs::read(report.join(png))?;
        assert!(bytes.starts_with(b"\x89PNG") && bytes.len() > 1000, "{png}");
    }
    // The sweep's report: a row per configuration with n = 1, the best one named.
    for label in [
        "| 1 | lr=0.05 | 1 of 1 |",
        "| 2 | lr=0.2 | 1 of 1 |",
        "**Best: configuration ",
    ] {
        assert!(summary.contains(label), "{label:?} not in\n{summary}");
    }
    // `series status --json`: both configurations finished, for scripts.
    let out = wait_output(
        stack.series(&["status", "e2e", "--json"])?,
        Duration::from_secs(60),
    )
    .await?;
    assert!(out.status.success(), "{}", text(&out));
    let status: serde_json::Value = serde_json::from_slice(&out.stdout)?;
    assert_eq!(status["totals"]["assimilated"], 2, "{status}");
    assert_eq!(status["eta_s"], 0.0, "{status}");
    let configs = status["configs"].as_array().expect("configs");
    assert_eq!(configs.len(), 2, "{status}");
    for (i, c) in configs.iter().enumerate() {
        assert_eq!(c["label"], ["lr=0.05", "lr=0.2"][i], "{status}");
        assert_eq!(
            (c["rounds"].as_u64(), c["finished"].as_u64()),
            (Some(1), Some(1)),
            "{status}"
        );
    }

    // `series export`: each round's validated weights with its model card; the static app's
    // `mnist evaluate` scores them to exactly the accuracy the round reported.
    let export = stack.temp().join("export");
    let out = wait_output(
        stack.series(&["export", "e2e", "--out", export.to_str().unwrap()])?,
        Duration::from_secs(60),
    )
    .await?;
    assert!(out.status.success(), "{}", text(&out));
    for round in 1..=2 {
        let card: serde_json::Value =
            serde_json::from_slice(&std::fs::read(export.join(format!("round_{round}.json")))?)?;
        assert_eq!(
            card["validated_by"].as_array().map(Vec::len),
            Some(2),
            "{card}"
        );
        let out = std::process::Command::new(common::app_binary())
            .arg("evaluate")
            .arg("--weights")
            .arg(export.join(format!("round_{round}.npy")))
            .arg("--dataset")
            .arg(rboinc_testkit::mnist::dataset_dir())
            .arg("--job")
            .arg(export.join(format!("round_{round}_job.json")))
            .output()?;
        assert!(out.status.success(), "{}", text(&out));
        let said = String::from_utf8_lossy(&out.stdout);
        let acc: f64 = said
            .strip_prefix("accuracy ")
            .and_then(|s| s.split_whitespace().next())
            .and_then(|s| s.parse().ok())
            .unwrap_or_else(|| panic!("no accuracy in {said}"));
        // The same figure as metrics.json's (to the last digit serde_json's float parsing
        // keeps).
        let reported = card["metrics"]["val_acc"].as_f64().unwrap();
        assert!(
            (acc - reported).abs() <= 1e-15,
            "round {round}: {said} vs {reported}"
        );
        assert!(export.join("confusion.png").is_file());
    }
    assert!(
        summary.contains("## Ensemble of the rounds' models"),
        "{summary}"
    );

    // A second series on the same dataset downloads nothing new (issue 17): the dataset bundle
    // is content-addressed and sticky, so each client fetched it once, for the sweep, and keeps
    // it; the second series' replicas bring only their job files.
    let (dataset,): (String,) =
        sqlx::query_as("SELECT dataset_file FROM rb_series WHERE name = 'e2e'")
            .fetch_one(pool)
            .await?;
    let clients = [&a, &b];
    let kept = |v: &Volunteer| {
        let path = Volunteer::project_dir(v.dir(), &stack.master_url).join(&dataset);
        let meta = std::fs::metadata(&path)
            .unwrap_or_else(|e| panic!("{}: {}: {e}", v.label, path.display()));
        (meta.ino(), meta.modified().unwrap())
    };
    let first: Vec<(Vec<String>, (u64, std::time::SystemTime))> =
        clients.iter().map(|v| (downloads(v), kept(v))).collect();
    for (v, (names, _)) in clients.iter().zip(&first) {
        assert_eq!(
            names.iter().filter(|n| **n == dataset).count(),
            1,
            "{}: the dataset downloaded once for two rounds: {names:?}",
            v.label
        );
    }
    let out = wait_output(
        stack.series(&[
            "run",
            "--name",
            "again",
            "--rounds",
            "1",
            "--sample-count",
            "600",
            "--train-epochs",
            "1",
            "--batch-size",
            "60",
            "--base-seed",
            "20240602",
            "--poll",
            "1",
            "--timeout",
            "300",
        ])?,
        Duration::from_secs(330),
    )
    .await?;
    assert!(
        out.status.success(),
        "second series failed: {}\n{}\n--- client a ---\n{}\n--- client b ---\n{}",
        text(&out),
        stack.logs(),
        a.log(),
        b.log()
    );
    eprintln!(
        "[{:6.1}s] second series finished",
        t0.elapsed().as_secs_f64()
    );
    let (again_dataset,): (String,) =
        sqlx::query_as("SELECT dataset_file FROM rb_series WHERE name = 'again'")
            .fetch_one(pool)
            .await?;
    assert_eq!(again_dataset, dataset, "the same bundle, by content");
    let (again_xml,): (String,) =
        sqlx::query_as("SELECT CAST(xml_doc AS CHAR) FROM workunit WHERE name = 'again_1'")
            .fetch_one(pool)
            .await?;
    let job_file = "again_1_job.json";
    assert!(
        again_xml.contains(&format!("<name>{dataset}</name>"))
            && again_xml.contains(&format!("<name>{job_file}</name>")),
        "{again_xml}"
    );
    for (v, (before, file)) in clients.iter().zip(&first) {
        let after = downloads(v);
        assert_eq!(
            &after[before.len()..],
            [job_file],
            "{}: the second series downloaded only its job file",
            v.label
        );
        assert_eq!(
            &kept(v),
            file,
            "{}: the dataset file is the one downloaded first",
            v.label
        );
    }

    // The file deleter finishes the job: every input and output file deleted, no row in an
    // error state (an optional output the app did not write is not an error).
    let error_rows = |table: &'static str| {
        format!(
            "SELECT CAST(COUNT(*) AS SIGNED) FROM {table} WHERE file_delete_state = {}",
            FileDeleteState::Error as i32
        )
    };
    wait_until(
        Duration::from_secs(60),
        "every workunit's and result's files deleted",
        async || {
            let (not_done,): (i64,) = sqlx::query_as(sqlx::AssertSqlSafe(format!(
                "SELECT CAST((SELECT COUNT(*) FROM workunit WHERE file_delete_state <> {done}) + \
                 (SELECT COUNT(*) FROM result WHERE file_delete_state <> {done}) AS SIGNED)",
                done = FileDeleteState::Done as i32
            )))
            .fetch_one(pool)
            .await?;
            Ok((not_done == 0).then_some(()))
        },
        || stack.logs(),
    )
    .await?;
    for table in ["workunit", "result"] {
        let (n,): (i64,) = sqlx::query_as(sqlx::AssertSqlSafe(error_rows(table)))
            .fetch_one(pool)
            .await?;
        assert_eq!(n, 0, "{table} rows in file_delete_state ERROR");
    }
    let (bad,): (i64,) = sqlx::query_as(sqlx::AssertSqlSafe(format!(
        "SELECT CAST(COUNT(*) AS SIGNED) FROM result WHERE outcome <> {} OR validate_state <> {}",
        Outcome::Success as i32,
        ValidateState::Valid as i32
    )))
    .fetch_one(pool)
    .await?;
    assert_eq!(bad, 0, "every result succeeded and is valid");

    // stop: every daemon gone, nothing left running in the project directory.
    let out = stack.stop()?;
    let stopped = String::from_utf8_lossy(&out.stdout);
    assert_eq!(stopped.matches("stopped  ").count(), 6, "{stopped}");
    assert!(
        !stopped.contains("KILLED"),
        "every daemon obeyed SIGHUP: {stopped}"
    );
    for pid in daemons {
        assert!(!alive(pid), "daemon {pid} still running after stop");
    }
    assert!(processes_in(&stack.root).is_empty());

    // One INFO line per event: each scheduler RPC, and each workunit's state changes in the
    // daemon that made them, with the workunit's id.
    let logs = stack.log_files();
    let log = |file: &str| -> String {
        logs.iter()
            .find(|(p, _)| p.file_name().is_some_and(|n| n == file))
            .map(|(_, t)| t.clone())
            .unwrap_or_else(|| panic!("no {file} in {logs:?}"))
    };
    let has = |file: &str, parts: &[&str]| {
        let text = log(file);
        assert!(
            text.lines()
                .any(|l| l.contains(" INFO ") && parts.iter().all(|p| l.contains(p))),
            "{file} has no INFO line with {parts:?}:\n{text}"
        );
    };
    for (id, ..) in &wus {
        let wu = format!("wu_id={id}");
        let wu_in_sent = format!("(wu {id}, mnist 100)");
        has(
            "scheduler.log",
            &["scheduler RPC", "client=7.20.5", &wu_in_sent],
        );
        has(
            "transitioner.log",
            &[
                "workunit transitioned",
                &wu,
                "app=mnist",
                "created 2 results",
            ],
        );
        has(
            "transitioner.log",
            &["workunit transitioned", &wu, "ready to validate"],
        );
        has(
            "transitioner.log",
            &["workunit transitioned", &wu, "input files deletable"],
        );
        has(
            "validator_mnist.log",
            &["canonical result found", &wu, "app=mnist"],
        );
        has(
            "script_assimilator_mnist.log",
            &["workunit assimilated", &wu, "app=mnist"],
        );
        has(
            "file_deleter.log",
            &["input files deleted", &wu, "app=mnist"],
        );
        // Both outputs were uploaded (the series exported its weights); an optional output a
        // client never uploads is daemons/tests/file_deleter.rs's case.
        has(
            "file_deleter.log",
            &[
                "output files deleted",
                &wu,
                "app=mnist",
                "deleted=2",
                "not_uploaded=0",
            ],
        );
    }
    let reports = log("scheduler.log")
        .lines()
        .filter(|l| l.contains("scheduler RPC") && l.contains(" SUCCESS"))
        .count();
    assert!(
        reports >= 1,
        "an RPC line names the reported results' outcomes"
    );

    // The normal path is log-clean: a WARN or ERROR line means an operator must act.
    let noisy = warnings_and_errors(&stack);
    assert!(
        noisy.is_empty(),
        "WARN/ERROR lines after a clean series:\n{}",
        noisy.join("\n")
    );
    Ok(())
}
