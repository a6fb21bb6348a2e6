//! Chained and federated series end to end: two stock BOINC clients, `series run --generations
//! 3 --epochs-per-generation 1`, and `--generations 2 --shards 2`. Every generation is validated by both hosts before the next one
//! starts from its state; each generation's assimilated metrics equal `series local`'s bit for
//! bit. (That the chain equals one uninterrupted run is tested in `app/tests/generations.rs`
//! and `research/tests/series_chain.rs`.)

mod common;

use std::collections::BTreeSet;
use std::path::PathBuf;
use std::time::Duration;

use common::{Stack, Tuning, Volunteer, text, wait_output, wait_until, warnings_and_errors};
use rboinc_core::state::{AssimilateState, Outcome, ValidateState};

fn deterministic(path: &std::path::Path) -> serde_json::Value {
    let text = std::fs::read_to_string(path).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
    metrics_doc::deterministic_part(&serde_json::from_str(&text).unwrap())
}

/// The staged states (`mnist_state_*`) and the shards' kept states (`<workunit>_state.bin`)
/// under the project's `download/`.
fn staged_states(root: &std::path::Path) -> BTreeSet<String> {
    let mut out = BTreeSet::new();
    let mut dirs = vec![root.join("download")];
    while let Some(d) = dirs.pop() {
        for e in std::fs::read_dir(&d).into_iter().flatten().flatten() {
            let name = e.file_name().to_string_lossy().into_owned();
            if e.path().is_dir() {
                dirs.push(e.path());
            } else if name.starts_with("mnist_state_") || name.ends_with("_state.bin") {
                out.insert(name);
            }
        }
    }
    out
}

/// `series status NAME --json`'s time per generation: every part known, none negative, the
/// parts adding up to the total (the last generation has nothing to prepare).
async fn check_time_split(stack: &Stack, name: &str, generations: usize) -> anyhow::Result<()> {
    let out = wait_output(
        stack.series(&["status", name, "--json"])?,
        Duration::from_secs(60),
    )
    .await?;
    assert!(out.status.success(), "{}", text(&out));
    let doc: serde_json::Value = serde_json::from_slice(&out.stdout)?;
    let splits = doc["generations"].as_array().expect("generations").clone();
    assert_eq!(splits.len(), generations, "{doc}");
    for (i, x) in splits.iter().enumerate() {
        let part = |k: &str| {
            x[k].as_i64()
                .unwrap_or_else(|| panic!("generation {}: {k} missing: {x}", i + 1))
        };
        let mut sum = 0;
        for k in ["waiting_for_hosts_s", "with_hosts_s", "validating_s"] {
            assert!(part(k) >= 0, "{x}");
            sum += part(k);
        }
        if i + 1 < generations {
            assert!(part("preparing_next_s") >= 0, "{x}");
            sum += part("preparing_next_s");
        } else {
            assert!(x["preparing_next_s"].is_null(), "{x}");
        }
        assert_eq!(sum, part("total_s"), "{x}");
        let computing = x["computing_s"].as_f64().expect("computing");
        assert!(
            computing > 0.0 && computing <= part("with_hosts_s") as f64 + 1.0,
            "{x}"
        );
        assert!(x["replicas"].as_u64().unwrap() >= 2, "both hosts: {x}");
    }
    Ok(())
}

#[tokio::test(flavor = "multi_thread")]
async fn two_stock_clients_run_a_three_generation_chain_bit_identical_to_local()
-> anyhow::Result<()> {
    let t0 = std::time::Instant::now();
    let mut stack = Stack::start(Tuning::default()).await?;
    let a = Volunteer::start("a", |_| {}).await?;
    let b = Volunteer::start("b", |_| {}).await?;
    a.attach(&stack.master_url, &stack.authenticator)?;
    b.attach(&stack.master_url, &stack.authenticator)?;
    eprintln!(
        "[{:6.1}s] stack up, two clients attached",
        t0.elapsed().as_secs_f64()
    );

    let series = stack.series(&[
        "run",
        "--name",
        "chain",
        "--generations",
        "3",
        "--epochs-per-generation",
        "1",
        "--sample-count",
        "600",
        "--batch-size",
        "60",
        "--base-seed",
        "20240607",
        "--poll",
        "1",
        "--timeout",
        "500",
    ])?;
    let out = wait_output(series, Duration::from_secs(530)).await?;
    assert!(
        out.status.success(),
        "{}",
        stack.series_failure(&out, &[("a", &a), ("b", &b)])
    );
    eprintln!(
        "[{:6.1}s] chained series finished",
        t0.elapsed().as_secs_f64()
    );
    let stdout = String::from_utf8_lossy(&out.stdout);
    let report = PathBuf::from(stdout.lines().last().unwrap_or_default());
    assert_eq!(report, stack.root.join("reports/chain"), "{}", text(&out));

    let pool = stack.db.pool();
    let wus: Vec<(i64, String, i64, i32, i32, String)> = sqlx::query_as(
        "SELECT CAST(id AS SIGNED), name, CAST(canonical_resultid AS SIGNED), assimilate_state, \
         error_mask, CAST(xml_doc AS CHAR) FROM workunit ORDER BY id",
    )
    .fetch_all(pool)
    .await?;
    assert_eq!(wus.len(), 3, "one workunit per generation");
    let mut previous_state_inputs = BTreeSet::new();
    for (i, (id, name, canonical, assimilate, error_mask, xml_doc)) in wus.iter().enumerate() {
        let g = i + 1;
        assert_eq!(name, &format!("chain_{g}"));
        assert_ne!(*canonical, 0, "{name} has a canonical result");
        assert_eq!(*assimilate, AssimilateState::Done as i32, "{name}");
        assert_eq!(*error_mask, 0, "{name}");
        // Generations after the first take a staged state, each a different one.
        let state_input = xml_doc
            .split("<name>")
            .filter_map(|s| s.split("</name>").next())
            .find(|n| n.starts_with("mnist_state_"));
        assert_eq!(state_input.is_some(), g > 1, "{name}: {xml_doc}");
        if let Some(s) = state_input {
            assert!(previous_state_inputs.insert(s.to_string()));
        }
        // Validated by two hosts.
        let results: Vec<(i64, i32, i32)> = sqlx::query_as(
            "SELECT CAST(hostid AS SIGNED), outcome, validate_state FROM result \
             WHERE workunitid = ? ORDER BY id",
        )
        .bind(id)
        .fetch_all(pool)
        .await?;
        let hosts: BTreeSet<i64> = results.iter().map(|r| r.0).collect();
        assert_eq!(hosts.len(), 2, "{name}: two hosts: {results:?}");
        for r in &results {
            assert_eq!(r.1, Outcome::Success as i32, "{name}: {r:?}");
            assert_eq!(r.2, ValidateState::Valid as i32, "{name}: {r:?}");
        }
        // Distributed == local, generation by generation.
        let assimilated = stack
            .root
            .join(format!("results/mnist/{name}/metrics.json"));
        let local = report.join(format!("local/round_{g}/metrics.json"));
        let m = deterministic(&assimilated);
        assert_eq!(
            m,
            deterministic(&local),
            "{name}: distributed and local differ"
        );
        assert_eq!(m["job"]["train_epochs"], g);
        assert_eq!(m["history"].as_array().unwrap().len(), g);
    }
    let summary = std::fs::read_to_string(report.join("summary.md"))?;
    assert!(summary.contains("## Time per generation (s)"), "{summary}");
    check_time_split(&stack, "chain", 3).await?;
    // Every staged state goes by the normal file deletion once its next generation is
    // validated and assimilated.
    let root = stack.root.clone();
    wait_until(
        Duration::from_secs(120),
        "the staged states deleted",
        async || Ok(staged_states(&root).is_empty().then_some(())),
        || format!("{:?}\n{}", staged_states(&root), stack.logs()),
    )
    .await?;
    for g in 1..=3 {
        assert!(
            summary.contains(&format!(
                "round {g}: distributed and local metrics are bit-identical"
            )),
            "{summary}"
        );
    }
    let noisy = warnings_and_errors(&stack);
    assert!(
        noisy.is_empty(),
        "WARN/ERROR lines after a clean chain:\n{}",
        noisy.join("\n")
    );
    stack.stop()?;
    Ok(())
}

/// Federated averaging: two generations of two shards. Generation 2's workunits start from
/// one staged state (the average the work generator made), and every round equals the local
/// twin, which averages the same way.
#[tokio::test(flavor = "multi_thread")]
async fn two_stock_clients_run_a_federated_series_bit_identical_to_local() -> anyhow::Result<()> {
    let mut stack = Stack::start(Tuning::default()).await?;
    let a = Volunteer::start("fa", |_| {}).await?;
    let b = Volunteer::start("fb", |_| {}).await?;
    a.attach(&stack.master_url, &stack.authenticator)?;
    b.attach(&stack.master_url, &stack.authenticator)?;
    let series = stack.series(&[
        "run",
        "--name",
        "fed",
        "--generations",
        "2",
        "--shards",
        "2",
        "--epochs-per-generation",
        "1",
        "--sample-count",
        "600",
        "--batch-size",
        "60",
        "--base-seed",
        "20240608",
        "--poll",
        "1",
        "--timeout",
        "500",
    ])?;
    let out = wait_output(series, Duration::from_secs(530)).await?;
    assert!(
        out.status.success(),
        "{}",
        stack.series_failure(&out, &[("a", &a), ("b", &b)])
    );
    let report = stack.root.join("reports/fed");
    let pool = stack.db.pool();
    let wus: Vec<(String, i64, String)> = sqlx::query_as(
        "SELECT name, CAST(canonical_resultid AS SIGNED), CAST(xml_doc AS CHAR) FROM workunit ORDER BY id",
    )
    .fetch_all(pool)
    .await?;
    assert_eq!(wus.len(), 4, "two generations of two shards");
    let state_input = |xml: &str| {
        xml.split("<name>")
            .filter_map(|s| s.split("</name>").next())
            .find(|n| n.starts_with("mnist_state_"))
            .map(str::to_string)
    };
    assert_eq!(state_input(&wus[0].2), None);
    assert_eq!(state_input(&wus[1].2), None);
    let start = state_input(&wus[2].2).expect("generation 2 starts from a state");
    assert_eq!(state_input(&wus[3].2), Some(start.clone()));
    for (round, (name, canonical, _)) in wus.iter().enumerate() {
        assert_ne!(*canonical, 0, "{name}");
        let m = deterministic(
            &stack
                .root
                .join(format!("results/mnist/{name}/metrics.json")),
        );
        let local = report.join(format!("local/round_{}/metrics.json", round + 1));
        assert_eq!(
            m,
            deterministic(&local),
            "{name}: distributed and local differ"
        );
        assert_eq!(
            m["job"]["shard_index"].as_u64().unwrap_or(0),
            (round % 2) as u64
        );
        assert_eq!(m["split"]["train"], 300);
    }
    check_time_split(&stack, "fed", 2).await?;
    let summary = std::fs::read_to_string(report.join("summary.md"))?;
    assert!(
        summary.contains("## Validation accuracy per shard (federated, 2 shards)"),
        "{summary}"
    );
    for g in 1..=2 {
        let row = summary
            .lines()
            .skip_while(|l| !l.starts_with("## Validation accuracy per shard"))
            .find(|l| l.starts_with(&format!("| {g} |")))
            .unwrap_or_else(|| panic!("generation {g}: {summary}"));
        let cells: Vec<f64> = row
            .split('|')
            .filter_map(|c| c.trim().parse().ok())
            .collect();
        // generation, shard 1, shard 2, mean, spread
        assert_eq!(cells.len(), 5, "{row}");
        assert!(cells[1..3].iter().all(|a| (0.0..=1.0).contains(a)), "{row}");
    }
    let root = stack.root.clone();
    wait_until(
        Duration::from_secs(120),
        "the staged average and the shards' kept states deleted",
        async || Ok(staged_states(&root).is_empty().then_some(())),
        || format!("{:?}\n{}", staged_states(&root), stack.logs()),
    )
    .await?;
    let noisy = warnings_and_errors(&stack);
    assert!(noisy.is_empty(), "WARN/ERROR lines:\n{}", noisy.join("\n"));
    stack.stop()?;
    Ok(())
}
