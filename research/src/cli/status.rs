//! `series status [NAME]`: where each round of one series is, or one line per series; through
//! a database outage it waits, saying so ([`super::outage`]).

use rboinc_core::clock::now_i32;
use rboinc_core::db;
use rboinc_tools::output;
use rboinc_tools::project::Project;

use super::outage::Outage;
use super::{find, hints};
use crate::progress;
use crate::store;

/// One series: its progress table, and the warnings while it is unfinished.
pub async fn one(project: &Project, pool: &db::Pool, name: &str) -> anyhow::Result<()> {
    let (s, rounds) = Outage::default()
        .retry(async || {
            let s = find(pool, name).await?;
            let rounds = progress::rounds(pool, &s).await?;
            Ok((s, rounds))
        })
        .await?;
    output::print(progress::render(
        &s,
        &rounds,
        f64::from(now_i32() - s.create_time),
    ))?;
    if s.state != store::SERIES_CANCELLED && !progress::Totals::of(&rounds).all_finished() {
        hints::warn(project, pool, &s).await;
        hints::print(&hints::blocked(project, pool, &s).await);
    }
    Ok(())
}

/// Every series, one line each; the warnings for the first unfinished one, and the rounds no
/// host may take of each.
pub async fn all(project: &Project, pool: &db::Pool) -> anyhow::Result<()> {
    let mut unfinished = None;
    let mut blocked = Vec::new();
    let mut outage = Outage::default();
    for s in outage
        .retry(async || Ok(store::all_series(pool).await?))
        .await?
    {
        let rounds = outage
            .retry(async || Ok(progress::rounds(pool, &s).await?))
            .await?;
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
    if let Some(s) = unfinished {
        hints::warn(project, pool, &s).await;
    }
    hints::print(&blocked);
    Ok(())
}
