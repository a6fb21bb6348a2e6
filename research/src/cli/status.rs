//! `series status [NAME] [--json]`: where each round of one series is (per configuration of a
//! sweep), or one line per series; `--json` gives the same facts to scripts, on standard
//! output, without the warnings (and, for a chain, the time per generation: see
//! [`crate::report::generations`]). Through a database outage it waits, saying so
//! ([`super::outage`]).

use rboinc_core::clock::now_i32;
use rboinc_core::db;
use rboinc_tools::output;
use rboinc_tools::project::Project;

use serde_json::{Value, json};

use super::outage::Outage;
use super::{find, hints};
use crate::progress;
use crate::store;

/// One series: its progress table, and the warnings while it is unfinished.
pub async fn one(project: &Project, pool: &db::Pool, name: &str, json: bool) -> anyhow::Result<()> {
    let (s, rounds, configs, chain) = Outage::default()
        .retry(async || {
            let s = find(pool, name).await?;
            let rounds = progress::rounds(pool, &s).await?;
            let configs = store::configs(pool, &s).await?;
            let chain = crate::generations::chain(pool, s.id).await?;
            Ok((s, rounds, configs, chain))
        })
        .await?;
    let labels = store::labels(&configs);
    let elapsed = f64::from(now_i32() - s.create_time);
    if json {
        let mut doc = to_json(&s, &rounds, &labels, elapsed);
        if let Some(c) = &chain {
            let times = crate::report::generations::round_times(pool, s.id).await?;
            doc["generations"] = crate::report::generations::to_json(
                &crate::report::generations::splits(&times, c.shards),
            );
        }
        output::println(serde_json::to_string_pretty(&doc)?)?;
        return Ok(());
    }
    output::print(progress::render(&s, &rounds, elapsed, &labels))?;
    if let Some(c) = chain {
        output::println(crate::generations::describe(&c))?;
    }
    if s.state != store::SERIES_CANCELLED && !progress::Totals::of(&rounds).all_finished() {
        hints::warn(project, pool, &s).await;
        hints::print(&hints::blocked(project, pool, &s).await);
    }
    Ok(())
}

/// Every series, one line each; the warnings for the first unfinished one, and the rounds no
/// host may take of each.
pub async fn all(project: &Project, pool: &db::Pool, json: bool) -> anyhow::Result<()> {
    let mut unfinished = None;
    let mut blocked = Vec::new();
    let mut docs = Vec::new();
    let mut outage = Outage::default();
    for s in outage
        .retry(async || Ok(store::all_series(pool).await?))
        .await?
    {
        let rounds = outage
            .retry(async || Ok(progress::rounds(pool, &s).await?))
            .await?;
        if json {
            let configs = outage
                .retry(async || Ok(store::configs(pool, &s).await?))
                .await?;
            let labels = store::labels(&configs);
            let elapsed = f64::from(now_i32() - s.create_time);
            docs.push(to_json(&s, &rounds, &labels, elapsed));
            continue;
        }
        let t = progress::Totals::of(&rounds);
        if s.state != store::SERIES_CANCELLED && !t.all_finished() {
            unfinished.get_or_insert(s.clone());
            blocked.extend(
                hints::blocked(project, pool, &s)
                    .await
                    .into_iter()
                    .map(|h| format!("{}: {h}", s.name)),
            );
        }
        output::println(format_args!(
            "{}: {}/{} rounds done ({} failed){}",
            s.name,
            t.finished(),
            t.rounds,
            t.failed,
            if s.state == store::SERIES_CANCELLED {
                ", cancelled"
            } else {
                ""
            }
        ))?;
    }
    if json {
        output::println(serde_json::to_string_pretty(&Value::Array(docs))?)?;
        return Ok(());
    }
    if let Some(s) = unfinished {
        hints::warn(project, pool, &s).await;
    }
    hints::print(&blocked);
    Ok(())
}

fn totals_json(t: &progress::Totals) -> Value {
    json!({
        "rounds": t.rounds,
        "finished": t.finished(),
        "assimilated": t.assimilated,
        "failed": t.failed,
        "queued": t.queued,
        "unsent": t.unsent,
        "in_progress": t.in_progress,
        "uploaded": t.uploaded,
        "validated": t.validated,
        "error_results": t.error_results,
    })
}

/// `series status --json` of one series: totals, ETA, hosts, configurations and rounds.
pub fn to_json(
    s: &store::SeriesRow,
    rounds: &[progress::RoundProgress],
    labels: &[String],
    elapsed_s: f64,
) -> Value {
    let t = progress::Totals::of(rounds);
    let configs: Vec<Value> = progress::by_config(rounds)
        .iter()
        .map(|(c, rs)| {
            let mut v = totals_json(&progress::Totals::of(rs));
            v["config"] = json!(c + 1);
            v["label"] = json!(labels.get(*c as usize));
            v
        })
        .collect();
    json!({
        "name": s.name,
        "batch_id": s.batch_id.0,
        "cancelled": s.state == store::SERIES_CANCELLED,
        "elapsed_s": elapsed_s,
        "eta_s": if t.all_finished() { Some(0.0) } else { progress::eta(&t, elapsed_s) },
        "totals": totals_json(&t),
        "hosts_working": progress::hosts_working(rounds)
            .iter()
            .map(|(h, n)| json!({"host": h, "jobs": n}))
            .collect::<Vec<_>>(),
        "configs": configs,
        "rounds": rounds.iter().map(|r| json!({
            "round": r.round,
            "config": r.config + 1,
            "seed": r.seed,
            "wu_name": r.wu_name,
            "state": r.state(),
            "hosts": r.hosts,
            "errors": r.errors,
        })).collect::<Vec<_>>(),
    })
}
