//! The page's sections that say whether the project keeps up: each daemon's backlog with its
//! trend, what each daemon did since it started, hosts that return only errors, the
//! validator's last disagreements, and each log's warnings and errors since its start.

use maud::{Markup, html};
use rboinc_core::daemon::stats::DaemonStats;

use super::{PageData, empty, note, num, pill, section, table};
use crate::ops::backlog::Trend;
use crate::ops::clock::{ago, utc};
use crate::ops::queues::Queue;
use crate::ops::snapshot::ErrorHost;

pub(super) fn backlog(d: &PageData) -> Markup {
    let body = match &d.backlog {
        Err(why) => note(why),
        Ok(trends) => table(
            &["Daemon", "Waiting", "#Now", "Trend", ""],
            html! { @for (queue, t) in trends { (backlog_row(*queue, t)) } },
        ),
    };
    section(
        "backlog",
        "Backlog",
        "what each daemon has still to do, all apps; the trend over the last 15 minutes of this \
         server's readings",
        body,
    )
}

fn backlog_row(queue: Queue, t: &Trend) -> Markup {
    // The window covered: seconds while it is short, then whole minutes.
    let minutes = if t.over < 60 {
        format!("{} s", t.over)
    } else {
        format!("{} min", (t.over + 30) / 60)
    };
    let trend = if t.over == 0 {
        pill("off", "no history yet")
    } else if t.delta > 0 {
        pill("warn", &format!("▲ +{} in {minutes}", t.delta))
    } else if t.delta < 0 {
        pill("ok", &format!("▼ {} in {minutes}", t.delta))
    } else {
        pill("off", &format!("steady for {minutes}"))
    };
    html! {
        tr {
            td { b { (queue.owner()) } }
            td { (queue.what()) }
            (num(t.now))
            td { (trend) }
            td { (sparkline(&t.points)) }
        }
    }
}

/// A small line of the values, oldest left (an inline SVG: no script, no outside resource).
fn sparkline(points: &[i64]) -> Markup {
    const W: f64 = 96.0;
    const H: f64 = 18.0;
    if points.len() < 2 {
        return html! {};
    }
    let (min, max) = (
        *points.iter().min().unwrap_or(&0) as f64,
        *points.iter().max().unwrap_or(&0) as f64,
    );
    let span = (max - min).max(1.0);
    let step = W / (points.len() - 1) as f64;
    let coords: Vec<String> = points
        .iter()
        .enumerate()
        .map(|(i, v)| {
            let y = H - 1.0 - (*v as f64 - min) / span * (H - 2.0);
            format!("{:.1},{:.1}", i as f64 * step, y)
        })
        .collect();
    html! {
        svg.spark width="96" height="18" viewBox="0 0 96 18" role="img" aria-label="trend" {
            polyline points=(coords.join(" ")) fill="none" stroke="currentColor" stroke-width="1.5" {}
        }
    }
}

pub(super) fn activity(d: &PageData) -> Markup {
    let body = if d.stats.is_empty() {
        empty("No daemon has written its metrics file yet (pid_<host>/*.metrics.json).")
    } else {
        table(
            &[
                "Daemon",
                "App",
                "#Passes with work",
                "#Idle",
                "#Failed",
                "Items by outcome",
                "#Errors",
                "Last pass",
            ],
            html! { @for s in &d.stats { (activity_row(s, d.now)) } },
        )
    };
    section(
        "activity",
        "Daemon activity",
        "since each daemon started, from its metrics file",
        body,
    )
}

fn activity_row(s: &DaemonStats, now: i64) -> Markup {
    html! {
        tr {
            td { b { (s.daemon) } @if !s.slice.is_empty() { " " span.z { "mod " (s.slice) } } }
            td { (s.app) }
            (num(s.passes.did_work as i64))
            (num(s.passes.idle as i64))
            @if s.passes.failed > 0 { td.n { (pill("bad", &s.passes.failed.to_string())) } } @else { (num(0)) }
            td.mono {
                @if s.items.is_empty() { span.z { "none yet" } }
                @for (outcome, n) in &s.items { span.item { (outcome) " " b { (n) } } " " }
            }
            @if s.errors > 0 { td.n { (pill("bad", &s.errors.to_string())) } } @else { (num(0)) }
            td {
                @if s.last_pass_end <= 0 { "none yet" } @else { (ago(now, s.last_pass_end)) }
            }
        }
    }
}

pub(super) fn error_hosts(d: &PageData) -> Markup {
    let body = match &d.db {
        Err(why) => note(why),
        Ok(s) if s.error_hosts.is_empty() => {
            empty("No host returned only errors in the last 7 days.")
        }
        Ok(s) => table(
            &[
                "#ID",
                "Name",
                "Owner",
                "#Results",
                "#Client error",
                "#Validate error",
                "#Invalid",
                "Last report",
            ],
            html! { @for h in &s.error_hosts { (error_host_row(h, d.now)) } },
        ),
    };
    section(
        "error-hosts",
        "Hosts returning only errors",
        "every result they reported in the last 7 days failed or was invalid",
        body,
    )
}

fn error_host_row(h: &ErrorHost, now: i64) -> Markup {
    html! {
        tr {
            td.n.mono { (h.id) }
            td { b { (h.domain_name) } }
            td { (h.user) }
            (num(h.results))
            (num(h.client_error))
            (num(h.validate_error))
            (num(h.invalid))
            td { (utc(h.last_received)) " " span.z { "(" (ago(now, h.last_received)) ")" } }
        }
    }
}

pub(super) fn disagreements(d: &PageData) -> Markup {
    let body = if d.disagreements.is_empty() {
        empty("No disagreement in the recent validator logs.")
    } else {
        table(
            &[
                "Time",
                "#Workunit",
                "Results",
                "Hosts",
                "What differed",
                "Log",
            ],
            html! {
                @for x in &d.disagreements {
                    tr {
                        td.mono style="white-space:nowrap" { (x.time) }
                        td.n.mono { (x.wu_id) }
                        td.mono { (x.result_a) " / " (x.result_b) }
                        td.mono { (x.host_a) " / " (x.host_b) }
                        td.msg.mono { (x.detail) }
                        td.mono { (x.file) }
                    }
                }
            },
        )
    };
    section(
        "disagreements",
        "Last disagreements",
        "results of one job that the validator found different, newest first",
        body,
    )
}

pub(super) fn log_counts(d: &PageData) -> Markup {
    let body = if d.log_counts.is_empty() {
        empty("No logs yet.")
    } else {
        table(
            &["Log", "#WARN", "#ERROR", "Since start at"],
            html! {
                @for c in &d.log_counts {
                    tr {
                        td.mono { (c.file) }
                        @if c.warn > 0 { td.n { (pill("warn", &c.warn.to_string())) } } @else { (num(0)) }
                        @if c.error > 0 { td.n { (pill("bad", &c.error.to_string())) } } @else { (num(0)) }
                        td.mono {
                            @match &c.since { Some(t) => (t), None => "the log's beginning" }
                            @if c.partial { " " span.z { "(only the log's end was read)" } }
                        }
                    }
                }
            },
        )
    };
    section(
        "logs",
        "Log warnings and errors",
        &format!(
            "WARN and ERROR lines in log_{}/ since each program last started",
            d.host
        ),
        body,
    )
}
