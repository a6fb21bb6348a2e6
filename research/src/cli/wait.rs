//! `series wait NAME`: follows a series until every round is finished — redrawn in place on a
//! terminal, a line per change otherwise — with the warnings that say why it does not move,
//! and through a database outage ([`super::outage`]).

use std::io::IsTerminal;
use std::time::{Duration, Instant};

use clap::Args;
use rboinc_core::clock::now_i32;
use rboinc_core::db;
use rboinc_tools::output;
use rboinc_tools::project::Project;

use super::outage::{Outage, RETRY_EVERY};
use super::{find, hints};
use crate::progress;
use crate::store::{self, SeriesRow};

#[derive(Debug, Args)]
pub struct WaitArgs {
    name: String,
    #[command(flatten)]
    opts: WaitOpts,
}

#[derive(Debug, Args, Clone)]
pub struct WaitOpts {
    /// Seconds between progress updates.
    #[arg(long = "poll", default_value_t = 2.0)]
    poll: f64,
    /// Give up after this many seconds [default: never].
    #[arg(long)]
    timeout: Option<f64>,
}

/// `series wait`.
pub async fn command(project: &Project, pool: &db::Pool, w: &WaitArgs) -> anyhow::Result<()> {
    let s = find(pool, &w.name).await?;
    wait(project, pool, &s, &w.opts, Vec::new()).await
}

/// Follows `s` until every round is finished, or fails after `--timeout`.
pub async fn wait(
    project: &Project,
    pool: &db::Pool,
    s: &SeriesRow,
    o: &WaitOpts,
    // What `submit` has just said (kept under the progress on a terminal).
    mut hints: Vec<String>,
) -> anyhow::Result<()> {
    let tty = std::io::stderr().is_terminal();
    let start = Instant::now();
    let mut last = String::new();
    let (mut first, mut checked_late) = (true, false);
    // The rounds no host may take, as last said (checked every poll: a replica can get stuck
    // at any time, when a host vanishes or fails).
    let mut blocked: Vec<String> = Vec::new();
    let labels = Outage::default()
        .retry(async || Ok(store::configs(pool, s).await?))
        .await
        .map(|c| store::labels(&c))?;
    // Each round's state as last said (a line per change when not on a terminal).
    let mut states: Vec<(i32, String)> = Vec::new();
    let mut outage = Outage::default();
    loop {
        let rounds = match progress::rounds(pool, s).await {
            Ok(rounds) => {
                outage.up();
                rounds
            }
            Err(e) if rboinc_core::db::is_unreachable(&e) => {
                // The daemons and the scheduler wait it out; so does the series.
                outage.down(&e.into());
                give_up_after(o, start, None)?;
                tokio::time::sleep(RETRY_EVERY.max(Duration::from_secs_f64(o.poll.max(0.1)))).await;
                continue;
            }
            Err(e) => return Err(e.into()),
        };
        let totals = progress::Totals::of(&rounds);
        let elapsed = f64::from(now_i32() - s.create_time);
        let text = progress::render(s, &rounds, elapsed, &labels);
        let now_blocked = if totals.all_finished() {
            Vec::new()
        } else {
            hints::blocked(project, pool, s).await
        };
        if tty {
            // Redraw in place, the warnings under the progress.
            output::eprint(format_args!("\x1b[H\x1b[2J{text}"));
            hints::print(&hints);
            hints::print(&now_blocked);
        } else {
            let head = text.lines().next().unwrap_or("").to_string();
            if head != last {
                output::eprintln(&head);
                // The ETA and the hosts working.
                for line in text
                    .lines()
                    .skip(1)
                    .take_while(|l| l.starts_with("elapsed ") || l.starts_with("hosts working:"))
                {
                    output::eprintln(line);
                }
                last = head;
            }
            for line in round_changes(&mut states, &rounds) {
                output::eprintln(line);
            }
            if now_blocked != blocked {
                hints::print(&now_blocked);
            }
        }
        blocked = now_blocked;
        if totals.all_finished() {
            return Ok(());
        }
        match crate::generations::stopped(pool, s.id).await {
            Ok(Some(reason)) => anyhow::bail!(
                "the chain stopped: {reason}; fix the cause, then `series resume {}`",
                s.name
            ),
            Ok(None) => {}
            // The database went away since the rounds were read: the next poll waits it out.
            Err(e) if rboinc_core::db::is_unreachable(&e) => {}
            Err(e) => return Err(e.into()),
        }
        // Say what keeps the series from moving: at once, and (if all looked fine then) again
        // when nothing has finished after a short grace period.
        let late = start.elapsed() > Duration::from_secs(20) && totals.finished() == 0;
        if hints.is_empty() && (first || (late && !checked_late)) {
            hints = hints::warn(project, pool, s).await;
            checked_late |= late;
        }
        first = false;
        give_up_after(o, start, Some(&totals))?;
        tokio::time::sleep(Duration::from_secs_f64(o.poll.max(0.1))).await;
    }
}

/// `round N (seed S): STATE [on hosts …]` for each round whose state changed since `states`
/// (which is updated); nothing for a series of more than 40 rounds (the head line says enough).
fn round_changes(
    states: &mut Vec<(i32, String)>,
    rounds: &[progress::RoundProgress],
) -> Vec<String> {
    let mut out = Vec::new();
    if rounds.len() > 40 {
        return out;
    }
    for r in rounds {
        let now = if r.hosts.is_empty() {
            r.state().to_string()
        } else {
            let hosts: Vec<String> = r.hosts.iter().map(i64::to_string).collect();
            format!(
                "{} on host{} {}",
                r.state(),
                if hosts.len() == 1 { "" } else { "s" },
                hosts.join(", ")
            )
        };
        match states.iter_mut().find(|(n, _)| *n == r.round) {
            Some((_, was)) if *was == now => {}
            Some((_, was)) => {
                out.push(format!("round {} (seed {}): {now}", r.round, r.seed));
                *was = now;
            }
            None => {
                out.push(format!("round {} (seed {}): {now}", r.round, r.seed));
                states.push((r.round, now));
            }
        }
    }
    out
}

/// Fails once `--timeout` has passed, with the rounds finished when they are known.
fn give_up_after(
    o: &WaitOpts,
    start: Instant,
    totals: Option<&progress::Totals>,
) -> anyhow::Result<()> {
    let Some(t) = o.timeout.filter(|t| start.elapsed().as_secs_f64() > *t) else {
        return Ok(());
    };
    match totals {
        Some(totals) => anyhow::bail!(
            "gave up waiting after {t} s ({} of {} rounds finished)",
            totals.finished(),
            totals.rounds
        ),
        None => anyhow::bail!("gave up waiting after {t} s (the database is unavailable)"),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::progress::RoundProgress;

    fn round(n: i32, in_progress: i64, hosts: Vec<i64>) -> RoundProgress {
        RoundProgress {
            round: n,
            config: 0,
            hosts,
            seed: 100 + n as u64,
            wu_name: format!("s_{n}"),
            workunit_id: i64::from(n),
            unsent: 2 - in_progress,
            in_progress,
            uploaded: 0,
            validated: 0,
            errors: 0,
            assimilated: false,
            failed: false,
            queued: false,
            canonical_resultid: 0,
            created_time: 0,
        }
    }

    #[test]
    fn a_line_per_round_whose_state_or_hosts_changed() {
        let mut states = Vec::new();
        let first = [round(1, 0, vec![]), round(2, 0, vec![])];
        assert_eq!(
            round_changes(&mut states, &first),
            ["round 1 (seed 101): unsent", "round 2 (seed 102): unsent"]
        );
        assert!(round_changes(&mut states, &first).is_empty(), "nothing new");
        let later = [round(1, 2, vec![3, 4]), round(2, 1, vec![3])];
        assert_eq!(
            round_changes(&mut states, &later),
            [
                "round 1 (seed 101): in progress on hosts 3, 4",
                "round 2 (seed 102): in progress on host 3"
            ]
        );
        assert_eq!(progress::hosts_working(&later), [(3, 2), (4, 1)]);
        let many: Vec<RoundProgress> = (1..=41).map(|n| round(n, 0, vec![])).collect();
        assert!(round_changes(&mut Vec::new(), &many).is_empty());
    }
}
