//! Where each round of a series is: queued, unsent, in progress, uploaded, validated,
//! assimilated, or failed — from the job tables, in one query; the same per configuration of
//! a sweep, the hosts working on it, and the estimated time left.

use std::fmt::Write as _;

use rboinc_core::db;
use sqlx::Row;

use crate::store::{ROUND_CANCELLED, ROUND_QUEUED, SeriesRow};

/// One round's state.
#[derive(Debug, Clone, PartialEq)]
pub struct RoundProgress {
    pub round: i32,
    /// The round's configuration (0-based; see [`crate::sweep`]).
    pub config: i32,
    /// Hosts holding a replica in progress, by id.
    pub hosts: Vec<i64>,
    pub seed: u64,
    pub wu_name: String,
    pub workunit_id: i64,
    /// Results by state.
    pub unsent: i64,
    pub in_progress: i64,
    /// Reported successfully, not validated yet.
    pub uploaded: i64,
    pub validated: i64,
    /// Client errors, timeouts, validation errors, invalid results.
    pub errors: i64,
    /// The workunit's canonical result was assimilated (its metrics are in `results/`).
    pub assimilated: bool,
    /// The workunit failed for good (`error_mask`), or the round was cancelled.
    pub failed: bool,
    pub queued: bool,
    pub canonical_resultid: i64,
    /// When the workunit was created and (if assimilated) last changed.
    pub created_time: i32,
}

impl RoundProgress {
    /// A word for the round's state.
    pub fn state(&self) -> &'static str {
        if self.failed {
            "failed"
        } else if self.assimilated {
            "assimilated"
        } else if self.queued {
            "queued"
        } else if self.validated > 0 {
            "validated"
        } else if self.uploaded > 0 {
            "uploaded"
        } else if self.in_progress > 0 {
            "in progress"
        } else {
            "unsent"
        }
    }

    /// Whether nothing more will happen to the round.
    pub fn is_finished(&self) -> bool {
        self.failed || self.assimilated
    }
}

/// Every round of a series.
pub async fn rounds(
    pool: &db::Pool,
    series: &SeriesRow,
) -> Result<Vec<RoundProgress>, sqlx::Error> {
    let rows = sqlx::query(
        "SELECT r.round, r.config, r.seed, r.state, r.workunit_id, r.wu_name, r.created_time, \
         CAST(COALESCE(GROUP_CONCAT(DISTINCT CASE WHEN x.server_state = 4 THEN x.hostid END \
           ORDER BY x.hostid), '') AS CHAR) AS hosts, \
         COALESCE(w.assimilate_state, 0) AS assimilate_state, COALESCE(w.error_mask, 0) AS error_mask, \
         COALESCE(w.canonical_resultid, 0) AS canonical_resultid, \
         CAST(COALESCE(SUM(x.server_state = 2), 0) AS SIGNED) AS unsent, \
         CAST(COALESCE(SUM(x.server_state = 4), 0) AS SIGNED) AS in_progress, \
         CAST(COALESCE(SUM(x.server_state = 5 AND x.outcome = 1 AND x.validate_state IN (0, 4)), 0) AS SIGNED) AS uploaded, \
         CAST(COALESCE(SUM(x.validate_state = 1), 0) AS SIGNED) AS validated, \
         CAST(COALESCE(SUM(x.outcome IN (2, 3, 4, 6) OR (x.outcome = 1 AND x.validate_state = 2)), 0) AS SIGNED) AS errors \
         FROM rb_series_round r \
         LEFT JOIN workunit w ON w.id = r.workunit_id \
         LEFT JOIN result x ON x.workunitid = w.id \
         WHERE r.series_id = ? GROUP BY r.id ORDER BY r.round",
    )
    .bind(series.id)
    .fetch_all(pool)
    .await?;
    rows.iter()
        .map(|r| {
            let state: i32 = r.try_get("state")?;
            let error_mask: i32 = r.try_get("error_mask")?;
            let assimilate_state: i32 = r.try_get("assimilate_state")?;
            let hosts: String = r.try_get("hosts")?;
            Ok(RoundProgress {
                round: r.try_get("round")?,
                config: r.try_get("config")?,
                hosts: hosts
                    .split(',')
                    .filter_map(|h| h.trim().parse().ok())
                    .collect(),
                seed: r.try_get("seed")?,
                wu_name: r.try_get("wu_name")?,
                workunit_id: r.try_get("workunit_id")?,
                unsent: r.try_get("unsent")?,
                in_progress: r.try_get("in_progress")?,
                uploaded: r.try_get("uploaded")?,
                validated: r.try_get("validated")?,
                errors: r.try_get("errors")?,
                assimilated: assimilate_state == 2 && error_mask == 0,
                failed: error_mask != 0 || state == ROUND_CANCELLED,
                queued: state == ROUND_QUEUED,
                canonical_resultid: r.try_get("canonical_resultid")?,
                created_time: r.try_get("created_time")?,
            })
        })
        .collect()
}

/// Counts over all rounds.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Totals {
    pub rounds: usize,
    pub queued: usize,
    pub unsent: usize,
    pub in_progress: usize,
    pub uploaded: usize,
    pub validated: usize,
    pub assimilated: usize,
    pub failed: usize,
    /// Error results, summed over rounds.
    pub error_results: i64,
}

impl Totals {
    pub fn of(rounds: &[RoundProgress]) -> Totals {
        let mut t = Totals {
            rounds: rounds.len(),
            ..Totals::default()
        };
        for r in rounds {
            t.error_results += r.errors;
            match r.state() {
                "queued" => t.queued += 1,
                "unsent" => t.unsent += 1,
                "in progress" => t.in_progress += 1,
                "uploaded" => t.uploaded += 1,
                "validated" => t.validated += 1,
                "assimilated" => t.assimilated += 1,
                _ => t.failed += 1,
            }
        }
        t
    }

    pub fn finished(&self) -> usize {
        self.assimilated + self.failed
    }

    pub fn all_finished(&self) -> bool {
        self.finished() == self.rounds
    }
}

/// Seconds left, from the rate rounds have finished since the series started.
pub fn eta(totals: &Totals, elapsed_s: f64) -> Option<f64> {
    let done = totals.finished();
    if done == 0 || elapsed_s <= 0.0 {
        return None;
    }
    Some((totals.rounds - done) as f64 * elapsed_s / done as f64)
}

/// The rounds of each configuration, in configuration order.
pub fn by_config(rounds: &[RoundProgress]) -> Vec<(i32, Vec<RoundProgress>)> {
    let mut out: std::collections::BTreeMap<i32, Vec<RoundProgress>> = Default::default();
    for r in rounds {
        out.entry(r.config).or_default().push(r.clone());
    }
    out.into_iter().collect()
}

/// The hosts holding replicas in progress, with how many each holds, by host id.
pub fn hosts_working(rounds: &[RoundProgress]) -> Vec<(i64, usize)> {
    let mut out: std::collections::BTreeMap<i64, usize> = Default::default();
    for h in rounds.iter().flat_map(|r| &r.hosts) {
        *out.entry(*h).or_default() += 1;
    }
    out.into_iter().collect()
}

/// The table `series status` prints; `labels` names the configurations of a sweep (by index;
/// empty for a plain series).
pub fn render(
    series: &SeriesRow,
    rounds: &[RoundProgress],
    elapsed_s: f64,
    labels: &[String],
) -> String {
    let t = Totals::of(rounds);
    let mut s = String::new();
    let _ = writeln!(
        s,
        "series {} (batch {}): {}/{} rounds done — {} assimilated, {} failed; {} queued, {} unsent, {} in progress, {} uploaded, {} validated; {} error results",
        series.name,
        series.batch_id,
        t.finished(),
        t.rounds,
        t.assimilated,
        t.failed,
        t.queued,
        t.unsent,
        t.in_progress,
        t.uploaded,
        t.validated,
        t.error_results
    );
    let eta = match eta(&t, elapsed_s) {
        _ if t.all_finished() => "done".to_string(),
        Some(s) => format!("ETA {}", human_duration(s)),
        None => "ETA unknown (no round finished yet)".to_string(),
    };
    let _ = writeln!(s, "elapsed {}, {eta}", human_duration(elapsed_s));
    let hosts = hosts_working(rounds);
    if !hosts.is_empty() {
        let list: Vec<String> = hosts
            .iter()
            .map(|(h, n)| format!("host {h} ({n} job{})", if *n == 1 { "" } else { "s" }))
            .collect();
        let _ = writeln!(s, "hosts working: {}", list.join(", "));
    }
    if labels.len() > 1 {
        let _ = writeln!(
            s,
            "{:>6}  {:<32} {:>6} {:>6} {:>11} {:>6}",
            "config", "parameters", "done", "rounds", "in progress", "failed"
        );
        for (c, rs) in by_config(rounds) {
            let ct = Totals::of(&rs);
            let label = labels.get(c as usize).map_or("?", String::as_str);
            let _ = writeln!(
                s,
                "{:>6}  {:<32} {:>6} {:>6} {:>11} {:>6}",
                c + 1,
                label,
                ct.finished(),
                ct.rounds,
                ct.in_progress,
                ct.failed
            );
        }
    }
    if rounds.len() <= 40 {
        let _ = writeln!(
            s,
            "{:>5} {:>6}  {:>7}  {:<12} {:>6} {:>11} {:>8} {:>9} {:>6}  hosts",
            "round",
            "config",
            "seed",
            "state",
            "unsent",
            "in progress",
            "uploaded",
            "validated",
            "errors",
        );
        for r in rounds {
            let hosts: Vec<String> = r.hosts.iter().map(i64::to_string).collect();
            let _ = writeln!(
                s,
                "{:>5} {:>6}  {:>7}  {:<12} {:>6} {:>11} {:>8} {:>9} {:>6}  {}",
                r.round,
                r.config + 1,
                r.seed,
                r.state(),
                r.unsent,
                r.in_progress,
                r.uploaded,
                r.validated,
                r.errors,
                hosts.join(",")
            );
        }
    }
    s
}

/// `1h 02m 03s`-style text.
pub fn human_duration(s: f64) -> String {
    let s = s.max(0.0).round() as u64;
    match (s / 3600, (s / 60) % 60, s % 60) {
        (0, 0, sec) => format!("{sec}s"),
        (0, m, sec) => format!("{m}m {sec:02}s"),
        (h, m, sec) => format!("{h}h {m:02}m {sec:02}s"),
    }
}
