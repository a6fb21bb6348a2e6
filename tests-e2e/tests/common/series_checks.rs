//! What a finished `series run` must have left, whatever happened on the way (a database
//! outage, daemons killed): every round's workunit assimilated once with its canonical result,
//! no result stuck, lost or sent twice to one host, and the assimilated metrics bit-identical to
//! the local run of the same job.

use std::collections::{BTreeMap, BTreeSet};
use std::path::Path;

use anyhow::{Context, ensure};
use rboinc_core::state::{AssimilateState, Outcome, ServerState, ValidateState};

use super::Stack;

/// `metrics.json` without its `host` object (the only part allowed to differ between runs).
pub fn deterministic(path: &Path) -> anyhow::Result<serde_json::Value> {
    let text = std::fs::read_to_string(path).with_context(|| path.display().to_string())?;
    Ok(metrics_doc::deterministic_part(&serde_json::from_str(
        &text,
    )?))
}

/// `(id, hostid, server_state, outcome, validate_state)` of one result.
type Row = (i64, i64, i32, i32, i32);

/// Checks the series `name` of `rounds` rounds, whose `series run` printed `report` (the
/// report directory, with the local runs under `local/round_N/`). `min_quorum` valid results
/// per round at least.
pub async fn completed_once(
    stack: &Stack,
    name: &str,
    rounds: usize,
    report: &Path,
    min_quorum: usize,
) -> anyhow::Result<()> {
    let pool = stack.db.pool();
    let wus: Vec<(i64, String, i64, i32, i32)> = sqlx::query_as(
        "SELECT CAST(id AS SIGNED), name, CAST(canonical_resultid AS SIGNED), assimilate_state, \
         error_mask FROM workunit ORDER BY id",
    )
    .fetch_all(pool)
    .await?;
    let names: Vec<&str> = wus.iter().map(|w| w.1.as_str()).collect();
    let expected: Vec<String> = (1..=rounds).map(|r| format!("{name}_{r}")).collect();
    ensure!(
        names == expected,
        "one workunit per round, none twice: {names:?}"
    );
    for (round, (id, wu, canonical, assimilate, error_mask)) in wus.iter().enumerate() {
        ensure!(*canonical != 0, "{wu} has no canonical result");
        ensure!(*error_mask == 0, "{wu} has error_mask {error_mask}");
        ensure!(
            *assimilate == AssimilateState::Done as i32,
            "{wu} not assimilated ({assimilate})"
        );
        let results: Vec<Row> = sqlx::query_as(
            "SELECT CAST(id AS SIGNED), CAST(hostid AS SIGNED), server_state, outcome, \
             validate_state FROM result WHERE workunitid = ? ORDER BY id",
        )
        .bind(id)
        .fetch_all(pool)
        .await?;
        // Nothing stuck: every result is over (none unsent or in progress after the end).
        ensure!(
            results.iter().all(|r| r.2 == ServerState::Over as i32),
            "{wu}: a result is not over: {results:?}"
        );
        // Nothing sent twice to one host.
        let mut per_host: BTreeMap<i64, usize> = BTreeMap::new();
        for r in &results {
            *per_host.entry(r.1).or_default() += 1;
        }
        ensure!(
            per_host.values().all(|n| *n == 1),
            "{wu}: a host got two results of it: {results:?}"
        );
        // Nothing lost: every result that ran came back (none timed out for lack of a report)
        // and the successful ones were validated.
        ensure!(
            results.iter().all(|r| r.3 != Outcome::NoReply as i32),
            "{wu}: a result was never reported: {results:?}"
        );
        let valid = results
            .iter()
            .filter(|r| r.3 == Outcome::Success as i32 && r.4 == ValidateState::Valid as i32)
            .count();
        ensure!(
            valid >= min_quorum,
            "{wu}: {valid} valid results: {results:?}"
        );
        ensure!(
            results.iter().any(|r| r.0 == *canonical),
            "{wu}: canonical result {canonical} is not one of {results:?}"
        );
        let hosts: BTreeSet<i64> = results.iter().map(|r| r.1).collect();
        ensure!(!hosts.contains(&0), "{wu}: {results:?}");
        let assimilated = stack.root.join(format!("results/mnist/{wu}/metrics.json"));
        let local = report.join(format!("local/round_{}/metrics.json", round + 1));
        ensure!(
            deterministic(&assimilated)? == deterministic(&local)?,
            "{wu}: distributed and local runs differ"
        );
    }
    let summary = std::fs::read_to_string(report.join("summary.md"))?;
    for round in 1..=rounds {
        ensure!(
            summary.contains(&format!(
                "round {round}: distributed and local metrics are bit-identical"
            )),
            "{summary}"
        );
    }
    Ok(())
}
