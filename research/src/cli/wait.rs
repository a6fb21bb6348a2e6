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
use crate::store::SeriesRow;

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
        let text = progress::render(s, &rounds, elapsed);
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
                last = head;
            }
            if now_blocked != blocked {
                hints::print(&now_blocked);
            }
        }
        blocked = now_blocked;
        if totals.all_finished() {
            return Ok(());
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
