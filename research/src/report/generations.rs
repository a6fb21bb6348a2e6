//! A chained or federated series' report part: where each generation's time went, and (with
//! K shards) each shard's validated accuracy per generation.
//!
//! The time of generation g runs from its workunits' creation to generation g + 1's (for the
//! last generation: to its validation), cut at three moments, so the four parts add up to the
//! total exactly (whole seconds, as BOINC stores times):
//!
//! - **waiting for hosts**: created (`rb_series_round.created_time`, = `workunit.create_time`)
//!   → the first replica sent (`result.sent_time`);
//! - **with the hosts**: → the last replica reported (`result.received_time`) before the
//!   generation was validated. *Of which computing* is the longest of those replicas' run
//!   times (`result.elapsed_time`, the critical path when the hosts run in parallel); the rest
//!   is scheduler RPC spacing, downloads and uploads. CPU is the sum of their `cpu_time`;
//! - **validating**: → the moment the work generator saw the last workunit of the generation
//!   with its canonical result (`rb_series_round.validated_time`, migration 0006: BOINC keeps
//!   no time of validation). It includes the validator's pass and the work generator's poll
//!   (every 100 ms while a generation is with the hosts);
//! - **preparing the next one**: → generation g + 1's workunits created (staging the state,
//!   averaging the shards, inserting the workunits).
//!
//! A generation queued again by `series resume` is timed from its new workunits. Parts not
//! reached yet are empty.

use std::fmt::Write as _;

use rboinc_core::db;
use serde::Serialize;
use serde_json::Value;

use super::{RoundReport, fmt, num};
use crate::generations::generation_of;
use crate::store::ROUND_CREATED;

/// The timestamps of one created round and its replicas.
#[derive(Debug, Clone, PartialEq)]
pub struct RoundTimes {
    pub round: i32,
    pub created: i32,
    /// 0: not seen validated yet; -1: validated before the time was recorded (migration 0006).
    pub validated: i32,
    pub replicas: Vec<ReplicaTimes>,
}

/// One replica (`result` row): 0 for times not reached.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct ReplicaTimes {
    pub sent: i32,
    pub received: i32,
    pub cpu_s: f64,
    pub elapsed_s: f64,
}

/// Where one generation's time went (see the module docs); seconds.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Split {
    pub generation: i32,
    pub created: i32,
    pub waiting_for_hosts_s: Option<i64>,
    pub with_hosts_s: Option<i64>,
    /// The longest run time among the replicas reported before validation.
    pub computing_s: Option<f64>,
    /// Their CPU time, summed.
    pub cpu_s: f64,
    /// Replicas reported before validation.
    pub replicas: usize,
    pub validating_s: Option<i64>,
    pub preparing_next_s: Option<i64>,
    /// Created → next generation created (the last one: → validated).
    pub total_s: Option<i64>,
}

/// The splits of every generation with a created round, in order.
pub fn splits(rounds: &[RoundTimes], shards: i32) -> Vec<Split> {
    let mut gens: Vec<(i32, Vec<&RoundTimes>)> = Vec::new();
    for r in rounds {
        let g = generation_of(r.round, shards).0;
        match gens.last_mut() {
            Some((last, rs)) if *last == g => rs.push(r),
            _ => gens.push((g, vec![r])),
        }
    }
    let k = shards.max(1) as usize;
    let created: Vec<i32> = gens
        .iter()
        .map(|(_, rs)| rs.iter().map(|r| r.created).min().unwrap_or(0))
        .collect();
    gens.iter()
        .enumerate()
        .map(|(i, (g, rs))| {
            let created_at = created[i];
            let whole = rs.len() == k;
            let validated = (whole && rs.iter().all(|r| r.validated > 0))
                .then(|| rs.iter().map(|r| r.validated).max().unwrap_or(0));
            let replicas: Vec<&ReplicaTimes> = rs.iter().flat_map(|r| &r.replicas).collect();
            let first_sent = replicas.iter().map(|x| x.sent).filter(|&t| t > 0).min();
            let reported: Vec<&&ReplicaTimes> = replicas
                .iter()
                .filter(|x| x.received > 0 && validated.is_none_or(|v| x.received <= v))
                .collect();
            let last_reported = validated.and(reported.iter().map(|x| x.received).max());
            let next = created
                .get(i + 1)
                .copied()
                .filter(|&t| t > 0 && gens[i + 1].0 == g + 1);
            let d = |a: Option<i32>, b: Option<i32>| Some(i64::from(b?) - i64::from(a?));
            let end = next.or(validated);
            Split {
                generation: *g,
                created: created_at,
                waiting_for_hosts_s: d(Some(created_at), first_sent),
                with_hosts_s: d(first_sent, last_reported),
                computing_s: last_reported.and(
                    reported
                        .iter()
                        .map(|x| x.elapsed_s)
                        .fold(None, |m: Option<f64>, e| Some(m.map_or(e, |m| m.max(e)))),
                ),
                cpu_s: reported.iter().map(|x| x.cpu_s).sum(),
                replicas: reported.len(),
                validating_s: d(last_reported, validated),
                preparing_next_s: validated.and(d(validated, next)),
                total_s: validated.and(d(Some(created_at), end)),
            }
        })
        .collect()
}

/// Reads the timestamps of series `series_id`'s created rounds.
pub async fn round_times(pool: &db::Pool, series_id: i64) -> Result<Vec<RoundTimes>, sqlx::Error> {
    type Row = (
        i32,
        i32,
        i32,
        Option<i32>,
        Option<i32>,
        Option<f64>,
        Option<f64>,
    );
    let rows: Vec<Row> = sqlx::query_as(
        "SELECT r.round, r.created_time, r.validated_time, x.sent_time, x.received_time, \
         x.cpu_time, x.elapsed_time \
         FROM rb_series_round r LEFT JOIN result x ON x.workunitid = r.workunit_id \
         WHERE r.series_id = ? AND r.state = ? ORDER BY r.round, x.id",
    )
    .bind(series_id)
    .bind(ROUND_CREATED)
    .fetch_all(pool)
    .await?;
    let mut out: Vec<RoundTimes> = Vec::new();
    for (round, created, validated, sent, received, cpu, elapsed) in rows {
        if out.last().is_none_or(|r| r.round != round) {
            out.push(RoundTimes {
                round,
                created,
                validated,
                replicas: Vec::new(),
            });
        }
        if let (Some(sent), Some(received)) = (sent, received) {
            let last = out.last_mut().expect("pushed above");
            last.replicas.push(ReplicaTimes {
                sent,
                received,
                cpu_s: cpu.unwrap_or(0.0),
                elapsed_s: elapsed.unwrap_or(0.0),
            });
        }
    }
    Ok(out)
}

/// The validated accuracy of each shard of one generation.
#[derive(Debug, Clone, PartialEq)]
pub struct ShardAccuracy {
    pub generation: i32,
    /// Final validation accuracy of shard i's canonical result, by shard.
    pub val_acc: Vec<Option<f64>>,
}

/// Per generation, every shard's final validation accuracy from its assimilated metrics.
pub fn shard_accuracy(rounds: &[RoundReport], shards: i32) -> Vec<ShardAccuracy> {
    let k = shards.max(1);
    let mut out: Vec<ShardAccuracy> = Vec::new();
    for r in rounds {
        let (g, shard) = generation_of(r.round, k);
        if out.last().is_none_or(|a| a.generation != g) {
            out.push(ShardAccuracy {
                generation: g,
                val_acc: vec![None; k as usize],
            });
        }
        let acc = r.distributed.as_ref().and_then(|v| num(v, "val_acc"));
        out.last_mut().expect("pushed above").val_acc[shard as usize] = acc;
    }
    out
}

/// The report's part for a chain.
#[derive(Debug, Clone)]
pub struct GenerationsReport {
    pub shards: i32,
    pub splits: Vec<Split>,
    pub shard_accuracy: Vec<ShardAccuracy>,
}

/// Gathers the part for `series_id` if it is a chain.
pub async fn gather(
    pool: &db::Pool,
    series_id: i64,
    rounds: &[RoundReport],
) -> Result<Option<GenerationsReport>, sqlx::Error> {
    let Some(chain) = crate::generations::chain(pool, series_id).await? else {
        return Ok(None);
    };
    let times = round_times(pool, series_id).await?;
    Ok(Some(GenerationsReport {
        shards: chain.shards,
        splits: splits(&times, chain.shards),
        shard_accuracy: shard_accuracy(rounds, chain.shards),
    }))
}

/// The splits as `series status --json` gives them.
pub fn to_json(splits: &[Split]) -> Value {
    serde_json::to_value(splits).expect("plain numbers serialize")
}

fn secs(v: Option<i64>) -> String {
    v.map_or_else(|| "–".to_string(), |x| x.to_string())
}

/// The markdown tables.
pub fn markdown(r: &GenerationsReport) -> String {
    let mut s = String::new();
    let _ = writeln!(s, "## Time per generation (s)\n");
    let _ = writeln!(
        s,
        "Created → first replica sent (waiting for hosts) → last replica reported (with the \
         hosts; of it, the longest replica's run time is computing) → seen validated by the \
         work generator (validating) → next generation's workunits created (preparing); the \
         four parts add up to the total. Whole seconds from BOINC's `workunit`/`result` times \
         and `rb_series_round.validated_time`.\n"
    );
    let _ = writeln!(
        s,
        "| generation | waiting for hosts | with the hosts | of which computing | CPU (all replicas) | validating | preparing next | total |\n|---:|---:|---:|---:|---:|---:|---:|---:|"
    );
    for x in &r.splits {
        let _ = writeln!(
            s,
            "| {} | {} | {} | {} | {} ({} replicas) | {} | {} | {} |",
            x.generation,
            secs(x.waiting_for_hosts_s),
            secs(x.with_hosts_s),
            fmt(x.computing_s, 2),
            fmt(Some(x.cpu_s), 2),
            x.replicas,
            secs(x.validating_s),
            secs(x.preparing_next_s),
            secs(x.total_s),
        );
    }
    let sum = |f: fn(&Split) -> Option<i64>| r.splits.iter().filter_map(f).sum::<i64>();
    let _ = writeln!(
        s,
        "| all | {} | {} | {} | {} | {} | {} | {} |",
        sum(|x| x.waiting_for_hosts_s),
        sum(|x| x.with_hosts_s),
        fmt(Some(r.splits.iter().filter_map(|x| x.computing_s).sum()), 2),
        fmt(Some(r.splits.iter().map(|x| x.cpu_s).sum()), 2),
        sum(|x| x.validating_s),
        sum(|x| x.preparing_next_s),
        sum(|x| x.total_s),
    );
    if r.shards > 1 {
        let _ = writeln!(
            s,
            "\n## Validation accuracy per shard (federated, {} shards)\n",
            r.shards
        );
        let _ = writeln!(
            s,
            "Each shard's canonical result, before averaging: the shard's own model after the \
             generation's local epochs.\n"
        );
        let head: String = (1..=r.shards).map(|i| format!(" shard {i} |")).collect();
        let rule: String = (0..r.shards).map(|_| "---:|").collect();
        let _ = writeln!(
            s,
            "| generation |{head} mean | max − min |\n|---:|{rule}---:|---:|"
        );
        for a in &r.shard_accuracy {
            let cells: String = a
                .val_acc
                .iter()
                .map(|v| format!(" {} |", fmt(*v, 4)))
                .collect();
            let got: Vec<f64> = a.val_acc.iter().flatten().copied().collect();
            let (mean, spread) = if got.len() == a.val_acc.len() && !got.is_empty() {
                let max = got.iter().copied().fold(f64::MIN, f64::max);
                let min = got.iter().copied().fold(f64::MAX, f64::min);
                (
                    Some(got.iter().sum::<f64>() / got.len() as f64),
                    Some(max - min),
                )
            } else {
                (None, None)
            };
            let _ = writeln!(
                s,
                "| {} |{cells} {} | {} |",
                a.generation,
                fmt(mean, 4),
                fmt(spread, 4)
            );
        }
    }
    s
}

#[cfg(test)]
mod tests {
    use super::*;

    fn rep(sent: i32, received: i32, elapsed_s: f64) -> ReplicaTimes {
        ReplicaTimes {
            sent,
            received,
            cpu_s: elapsed_s / 2.0,
            elapsed_s,
        }
    }

    #[test]
    fn a_chain_splits_at_sent_reported_validated_and_next_created() {
        let rounds = [
            RoundTimes {
                round: 1,
                created: 100,
                validated: 112,
                replicas: vec![rep(102, 109, 5.0), rep(103, 111, 6.5)],
            },
            RoundTimes {
                round: 2,
                created: 113,
                validated: 0,
                replicas: vec![rep(113, 120, 6.0), rep(0, 0, 0.0)],
            },
        ];
        let s = splits(&rounds, 1);
        assert_eq!(s.len(), 2);
        let g1 = &s[0];
        assert_eq!(
            (
                g1.waiting_for_hosts_s,
                g1.with_hosts_s,
                g1.validating_s,
                g1.preparing_next_s,
                g1.total_s
            ),
            (Some(2), Some(9), Some(1), Some(1), Some(13))
        );
        assert_eq!(g1.computing_s, Some(6.5));
        assert_eq!((g1.cpu_s, g1.replicas), (5.75, 2));
        // Not validated yet: only the first part is known.
        let g2 = &s[1];
        assert_eq!(g2.waiting_for_hosts_s, Some(0));
        assert_eq!(
            (g2.with_hosts_s, g2.validating_s, g2.total_s),
            (None, None, None)
        );
    }

    #[test]
    fn a_federated_generation_waits_for_its_last_shard() {
        let rounds = [
            RoundTimes {
                round: 1,
                created: 10,
                validated: 20,
                replicas: vec![rep(11, 18, 3.0)],
            },
            RoundTimes {
                round: 2,
                created: 10,
                validated: 25,
                // A straggler reported after the generation was validated is not counted.
                replicas: vec![rep(12, 24, 4.0), rep(12, 30, 9.0)],
            },
            RoundTimes {
                round: 3,
                created: 26,
                validated: 0,
                replicas: vec![],
            },
        ];
        let s = splits(&rounds, 2);
        assert_eq!(s.len(), 2);
        let g = &s[0];
        assert_eq!(
            (
                g.waiting_for_hosts_s,
                g.with_hosts_s,
                g.validating_s,
                g.preparing_next_s,
                g.total_s
            ),
            (Some(1), Some(13), Some(1), Some(1), Some(16))
        );
        assert_eq!((g.computing_s, g.replicas), (Some(4.0), 2));
        // Generation 2 has one of its two shards created: nothing is validated.
        assert_eq!(s[1].total_s, None);
    }
}
