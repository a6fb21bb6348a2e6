//! The ops page's HTML: one server-rendered document, no script, every value escaped.
//!
//! The page is meant to be read at a glance: summary cards first (is anything down, is work
//! moving), then one section per subject. Zero counts are dimmed so the numbers that matter
//! stand out; states are coloured pills. The markup is a [`maud`] template, checked when the
//! crate compiles and escaping every value it is given; the style sheet (`page.css`) is inline
//! and the response carries a content security policy that allows nothing else, so even a value
//! that escaped escaping could not run code.

use maud::{DOCTYPE, Markup, PreEscaped, html};

use rboinc_core::daemon::stats::DaemonStats;

use super::backlog::Trend;
use super::clock::{ago, uptime, utc};
use super::daemons::DaemonView;
use super::disagreements::Disagreement;
use super::logs::{LogCounts, LogError};
use super::queues::Queue;
use super::snapshot::{AppCounts, HostLine, SeriesProgress, Snapshot};
use crate::metrics::Reading;
use watch::{activity, backlog, disagreements, error_hosts, log_counts};

mod watch;

/// Everything the page shows.
#[derive(Debug, Clone)]
pub struct PageData {
    pub project_name: String,
    /// The host name of `pid_<host>` and `log_<host>`.
    pub host: String,
    /// The logged-in user.
    pub user: String,
    pub now: i64,
    /// Or why config.xml could not be read.
    pub daemons: Result<Vec<DaemonView>, String>,
    /// Or a short note on why the database did not answer.
    pub db: Result<Snapshot, String>,
    /// Each queue with its trend, or why the database did not answer.
    pub backlog: Result<Vec<(Queue, Trend)>, String>,
    /// The daemons' metrics files.
    pub stats: Vec<DaemonStats>,
    /// Each log's warnings and errors since its program started.
    pub log_counts: Vec<LogCounts>,
    /// The validator's last disagreements, newest first.
    pub disagreements: Vec<Disagreement>,
    pub errors: Vec<LogError>,
    /// This process's counters.
    pub counters: Vec<Reading>,
    /// Where `/metrics` is served.
    pub metrics_path: String,
}

const STYLE: &str = include_str!("page.css");

/// A count cell, dimmed when zero.
fn num(n: i64) -> Markup {
    html! {
        @if n == 0 { td.n.z { "0" } } @else { td.n { (n) } }
    }
}

fn pill(class: &str, text: &str) -> Markup {
    html! { span class={ "pill " (class) } { (text) } }
}

fn card(key: &str, value: &str, alert: bool) -> Markup {
    html! {
        div.card.alert[alert] { div.v { (value) } div.k { (key) } }
    }
}

/// A section with its heading (and a note beside it, if any) around `body`.
fn section(id: &str, title: &str, note: &str, body: Markup) -> Markup {
    html! {
        section id=(id) {
            h2 { (title) @if !note.is_empty() { small { (note) } } }
            (body)
        }
    }
}

fn note(why: &str) -> Markup {
    html! { p.note { (why) } }
}

fn empty(text: &str) -> Markup {
    html! { p.empty { (text) } }
}

/// A table with a header row; columns whose heading starts with `#` are numbers.
fn table(heads: &[&str], rows: Markup) -> Markup {
    html! {
        table {
            thead { tr { @for h in heads {
                @if let Some(h) = h.strip_prefix('#') { th.n { (h) } } @else { th { (h) } }
            } } }
            tbody { (rows) }
        }
    }
}

/// The whole document.
pub fn render(d: &PageData) -> String {
    let page = html! {
        (DOCTYPE)
        html lang="en" {
            head {
                meta charset="utf-8";
                meta name="viewport" content="width=device-width, initial-scale=1";
                title { "Ops · " (d.project_name) }
                style { (PreEscaped(STYLE)) }
            }
            body {
                header {
                    h1 { (d.project_name) " — operations" }
                    p {
                        "Generated " (utc(d.now)) " UTC on host " b { (d.host) }
                        " · logged in as " (d.user) " · scheduler " (env!("CARGO_PKG_VERSION"))
                    }
                    nav {
                        a href="#daemons" { "Daemons" }
                        a href="#backlog" { "Backlog" }
                        a href="#workunits" { "Workunits" }
                        a href="#results" { "Results" }
                        a href="#series" { "Series" }
                        a href="#hosts" { "Hosts" }
                        a href="#disagreements" { "Disagreements" }
                        a href="#logs" { "Logs" }
                        a href="#errors" { "Recent errors" }
                        a href="#server" { "This server" }
                        a href=(d.metrics_path) { "Metrics" }
                    }
                }
                main {
                    (summary(d))
                    (daemons(d))
                    (backlog(d))
                    (activity(d))
                    (workunits(d))
                    (results(d))
                    (series(d))
                    (hosts(d))
                    (error_hosts(d))
                    (disagreements(d))
                    (log_counts(d))
                    (errors(d))
                    (server(d))
                }
                footer {
                    "Read-only view. Reload the page for fresh figures; \
                     Prometheus can scrape the metrics link."
                }
            }
        }
    };
    let mut text = page.into_string();
    text.push('\n');
    text
}

fn summary(d: &PageData) -> Markup {
    html! {
        div.cards id="summary" {
            @match &d.daemons {
                Ok(list) => {
                    @let enabled: Vec<&DaemonView> = list.iter().filter(|x| !x.disabled).collect();
                    @let up = enabled.iter().filter(|x| x.running).count();
                    (card("daemons running", &format!("{up} / {}", enabled.len()), up < enabled.len()))
                }
                Err(_) => (card("daemons running", "?", true)),
            }
            @match &d.db {
                Ok(s) => {
                    @let total = |f: fn(&AppCounts) -> i64| s.apps.iter().map(f).sum::<i64>().to_string();
                    (card("results unsent", &total(|a| a.results.unsent), false))
                    (card("results in progress", &total(|a| a.results.in_progress), false))
                    (card("awaiting validation", &total(|a| a.workunits.need_validate), false))
                    (card("awaiting assimilation", &total(|a| a.workunits.assimilate_ready), false))
                    (card("hosts seen in 24 h", &format!("{} / {}", s.host_totals.last_day, s.host_totals.total), false))
                }
                Err(_) => (card("database", "down", true)),
            }
            (card("recent log errors", &d.errors.len().to_string(), !d.errors.is_empty()))
        }
    }
}

fn daemons(d: &PageData) -> Markup {
    let body = match &d.daemons {
        Err(why) => note(why),
        Ok(list) if list.is_empty() => empty("config.xml lists no daemons for this host."),
        Ok(list) => table(
            &[
                "Daemon",
                "State",
                "#PID",
                "#Uptime",
                "Command",
                "Last log line",
            ],
            html! { @for x in list { (daemon_row(x)) } },
        ),
    };
    section(
        "daemons",
        "Daemons",
        &format!("config.xml <daemons> of host {}", d.host),
        body,
    )
}

fn daemon_row(x: &DaemonView) -> Markup {
    let state = if x.disabled {
        pill("off", "disabled")
    } else if x.running {
        pill("ok", "running")
    } else {
        pill("bad", "stopped")
    };
    html! {
        tr {
            td { b { (x.program) } }
            td { (state) }
            td.n.mono { @match x.pid.filter(|_| x.running) { Some(p) => (p), None => "—" } }
            td.n { @match x.uptime { Some(u) => (uptime(u)), None => "—" } }
            td { code { (x.cmd) } }
            td.log.mono {
                @match &x.last_log_line {
                    Some(line) => (line),
                    None => { "no log yet (" (x.log_name) ")" }
                }
            }
        }
    }
}

/// The apps' rows, or the note on why there are none.
fn apps_table(d: &PageData, heads: &[&str], row: fn(&AppCounts) -> Markup) -> Markup {
    match &d.db {
        Err(why) => note(why),
        Ok(s) if s.apps.is_empty() => empty("No apps yet."),
        Ok(s) => table(heads, html! { @for a in &s.apps { (row(a)) } }),
    }
}

fn app_cell(a: &AppCounts) -> Markup {
    html! {
        td { b { (a.name) } @if a.deprecated { " " span.pill.off { "deprecated" } } }
    }
}

fn workunits(d: &PageData) -> Markup {
    let heads = [
        "App",
        "#Workunits",
        "#In progress",
        "#Need validation",
        "#Ready to assimilate",
        "#Assimilated",
        "#Errored",
    ];
    let body = apps_table(d, &heads, |a| {
        let w = &a.workunits;
        html! {
            tr {
                (app_cell(a))
                @for n in [w.total, w.in_progress, w.need_validate, w.assimilate_ready, w.assimilated, w.errored] {
                    (num(n))
                }
            }
        }
    });
    section("workunits", "Workunits by app", "", body)
}

fn results(d: &PageData) -> Markup {
    let heads = [
        "App",
        "#Results",
        "#Inactive",
        "#Unsent",
        "#In progress",
        "#Awaiting validation",
        "#Valid",
        "#Invalid",
        "#Client error",
        "#Timed out",
        "#Not needed",
        "#Validate error",
        "#Other",
    ];
    let body = apps_table(d, &heads, |a| {
        let r = &a.results;
        html! {
            tr {
                (app_cell(a))
                @for n in [
                    r.total, r.inactive, r.unsent, r.in_progress, r.pending_validation, r.valid,
                    r.invalid, r.client_error, r.no_reply, r.didnt_need, r.validate_error, r.other,
                ] {
                    (num(n))
                }
            }
        }
    });
    section("results", "Results by app and state", "", body)
}

fn series(d: &PageData) -> Markup {
    let body = match &d.db {
        Err(why) => note(why),
        Ok(Snapshot { series: None, .. }) => {
            empty("This database has no series tables (rb_series).")
        }
        Ok(Snapshot {
            series: Some(list), ..
        }) if list.is_empty() => empty("No series submitted yet."),
        Ok(
            snap @ Snapshot {
                series: Some(list), ..
            },
        ) => html! {
            (blocked_rounds(snap))
            (table(
                &[
                    "Series",
                    "App",
                    "State",
                    "Progress",
                    "#Rounds",
                    "#Created",
                    "#Validated",
                    "#Assimilated",
                    "#Failed",
                    "#Results running",
                    "Submitted",
                ],
                html! { @for s in list { (series_row(s, d.now)) } },
            ))
        },
    };
    section(
        "series",
        "Series",
        "training series submitted with the series tool, newest first; a sweep's configurations below it",
        body,
    )
}

/// The rounds that wait for a host without a replica, one warning line each (what `series
/// status` says), above the series table.
fn blocked_rounds(snap: &Snapshot) -> Markup {
    let Some(rule) = snap.replica_rule else {
        return html! {};
    };
    html! {
        @for b in &snap.blocked {
            p.note.blocked {
                (pill("bad", "stuck")) " " b { (b.series) } " (" (b.wu_name) "): " (b.message(rule))
            }
        }
    }
}

fn state_pill(state: &str) -> Markup {
    let class = match state {
        "running" => "warn",
        "complete" => "ok",
        "cancelled" => "off",
        _ => "bad",
    };
    pill(class, state)
}

/// The progress bar (rounds finished, red if any failed) and the share assimilated.
fn progress_cell(finished: i64, assimilated: i64, failed: i64, rounds: i64) -> Markup {
    let pct = |n: i64| {
        if rounds > 0 {
            (n.clamp(0, rounds) * 100 / rounds) as u32
        } else {
            0
        }
    };
    html! {
        td {
            span.bar title={ (finished) " of " (rounds) " rounds finished" } {
                span style={ "width:" (pct(finished)) "%" }
                    class=[(failed > 0).then_some("badfill")] {}
            }
            (pct(assimilated)) "%"
        }
    }
}

/// A series' row, then a row per configuration if it is a sweep.
fn series_row(s: &SeriesProgress, now: i64) -> Markup {
    html! {
        tr {
            td { b { (s.name) } }
            td { (s.app) }
            td { (state_pill(s.state())) }
            (progress_cell(s.finished(), s.assimilated, s.failed, s.rounds))
            @for n in [s.rounds, s.created, s.validated, s.assimilated, s.failed, s.results_in_progress] {
                (num(n))
            }
            td { (utc(s.create_time)) " " span.z { "(" (ago(now, s.create_time)) ")" } }
        }
        @for c in &s.configs {
            tr.config {
                td { "config " (c.config + 1) " " code { (c.label) } }
                td.z { "sweep" }
                td { (state_pill(c.state(s.cancelled))) }
                (progress_cell(c.finished(), c.assimilated, c.failed, c.rounds))
                @for n in [c.rounds, c.created, c.validated, c.assimilated, c.failed, c.results_in_progress] {
                    (num(n))
                }
                td {}
            }
        }
    }
}

fn hosts(d: &PageData) -> Markup {
    let snapshot = match &d.db {
        Err(why) => return section("hosts", "Hosts", "", note(why)),
        Ok(s) => s,
    };
    let t = snapshot.host_totals;
    let body = if snapshot.hosts.is_empty() {
        empty("No host has contacted the scheduler yet.")
    } else {
        table(
            &[
                "#ID",
                "Name",
                "Owner",
                "OS",
                "CPU",
                "#CPUs",
                "Last contact",
                "#Results running",
                "Address",
                "Created",
            ],
            html! { @for h in &snapshot.hosts { (host_row(h, d.now)) } },
        )
    };
    section(
        "hosts",
        "Hosts",
        &format!(
            "{} in all · {} in the last hour · {} in the last day · most recent contact first",
            t.total, t.last_hour, t.last_day
        ),
        body,
    )
}

fn host_row(h: &HostLine, now: i64) -> Markup {
    let stale = now - h.rpc_time > 86_400;
    html! {
        tr {
            td.n.mono { (h.id) }
            td { b { (h.domain_name) } }
            td { (h.user) }
            td { (h.os_name) }
            td { (h.p_model) }
            (num(h.ncpus))
            td {
                @if h.rpc_time <= 0 {
                    "never"
                } @else {
                    @if stale { span.pill.warn { (utc(h.rpc_time)) " UTC" } } @else { (utc(h.rpc_time)) " UTC" }
                    " " span.z { "(" (ago(now, h.rpc_time)) ")" }
                }
            }
            (num(h.results_in_progress))
            td.mono { (h.last_ip_addr) }
            td { (utc(h.create_time)) }
        }
    }
}

fn errors(d: &PageData) -> Markup {
    let body = if d.errors.is_empty() {
        empty("No errors in the recent logs.")
    } else {
        table(
            &["Time", "Log", "Level", "Message"],
            html! {
                @for e in &d.errors {
                    tr {
                        td.mono style="white-space:nowrap" { (e.time) }
                        td.mono { (e.file) }
                        td { (pill("bad", &e.level)) }
                        td.msg.mono { (e.message) }
                    }
                }
            },
        )
    };
    section(
        "errors",
        "Recent errors",
        &format!("ERROR and CRITICAL lines in log_{}/, newest first", d.host),
        body,
    )
}

fn server(d: &PageData) -> Markup {
    let rows = html! {
        @for r in &d.counters {
            tr { td { code { (r.name) } } td { (r.help) } (num(r.value as i64)) }
        }
    };
    section(
        "server",
        "This server",
        "counters of this scheduler process since it started",
        table(&["Counter", "Meaning", "#Value"], rows),
    )
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::ops::snapshot::{ErrorHost, HostTotals, ResultCounts, WorkunitCounts};

    fn data() -> PageData {
        PageData {
            project_name: "P <&> \"q\"".into(),
            host: "h1".into(),
            user: "admin".into(),
            now: 1_700_000_000,
            daemons: Ok(vec![DaemonView {
                cmd: "transitioner -d 3 <x>".into(),
                program: "transitioner".into(),
                disabled: false,
                running: false,
                pid: Some(5),
                uptime: None,
                log_name: "transitioner.log".into(),
                last_log_line: Some("<script>alert(1)</script>".into()),
            }]),
            db: Ok(Snapshot {
                apps: vec![AppCounts {
                    appid: 1,
                    name: "mnist".into(),
                    deprecated: false,
                    workunits: WorkunitCounts {
                        total: 4,
                        ..Default::default()
                    },
                    results: ResultCounts {
                        total: 8,
                        unsent: 8,
                        ..Default::default()
                    },
                }],
                series: None,
                hosts: vec![HostLine {
                    id: 7,
                    domain_name: "box".into(),
                    rpc_time: 1_700_000_000 - 2 * 86_400,
                    ..Default::default()
                }],
                host_totals: HostTotals::default(),
                error_hosts: vec![ErrorHost {
                    id: 9,
                    domain_name: "flaky <pc>".into(),
                    results: 3,
                    client_error: 2,
                    invalid: 1,
                    last_received: 1_700_000_000 - 600,
                    ..Default::default()
                }],
                ..Default::default()
            }),
            backlog: Ok(vec![(
                Queue::NeedValidate,
                Trend {
                    now: 5,
                    delta: 3,
                    over: 600,
                    points: vec![2, 4, 5],
                },
            )]),
            stats: vec![{
                let mut s = DaemonStats::new(
                    "validator",
                    Some("mnist"),
                    rboinc_core::daemon::ModSlice::ALL,
                    1_700_000_000 - 3600,
                );
                s.items.insert("valid".into(), 12);
                s.errors = 1;
                s.last_pass_end = 1_700_000_000 - 5;
                s
            }],
            log_counts: vec![LogCounts {
                file: "validator_mnist.log".into(),
                warn: 2,
                error: 0,
                since: Some("2023/11/14 21:00:00".into()),
                partial: false,
            }],
            disagreements: vec![Disagreement {
                time: "2023-11-14 22:00:00".into(),
                file: "validator_mnist.log".into(),
                wu_id: "7".into(),
                result_a: "13".into(),
                result_b: "14".into(),
                host_a: "3".into(),
                host_b: "4".into(),
                detail: "val_acc: 0.9 vs <0.95>".into(),
            }],
            errors: vec![LogError {
                file: "a.log".into(),
                time: "2023-11-14 22:00:00".into(),
                level: "ERROR".into(),
                message: "bad <b>".into(),
            }],
            counters: vec![Reading {
                name: "c_total".into(),
                help: "Things.".into(),
                value: 3,
            }],
            metrics_path: "/metrics".into(),
        }
    }

    #[test]
    fn values_are_escaped_and_states_shown() {
        let html = render(&data());
        assert!(html.starts_with("<!DOCTYPE html><html lang=\"en\">"));
        assert!(html.contains("<title>Ops · P &lt;&amp;&gt; &quot;q&quot;</title>"));
        assert!(html.contains("<h1>P &lt;&amp;&gt; &quot;q&quot; — operations</h1>"));
        assert!(!html.contains("<script>"));
        assert!(html.contains("&lt;script&gt;alert(1)&lt;/script&gt;"));
        assert!(html.contains("<td><code>transitioner -d 3 &lt;x&gt;</code></td>"));
        assert!(html.contains("<span class=\"pill bad\">stopped</span>"));
        // A stopped daemon's stale pid is not shown as if it ran.
        assert!(html.contains("<td class=\"n mono\">—</td>"));
        assert!(!html.contains("<td class=\"n mono\">5</td>"));
        assert!(html.contains("bad &lt;b&gt;"));
        assert!(html.contains("This database has no series tables"));
        assert!(
            html.contains("<td><code>c_total</code></td><td>Things.</td><td class=\"n\">3</td>")
        );
        assert!(html.contains("<div class=\"card alert\"><div class=\"v\">0 / 1</div>"));
        assert!(html.contains("<div class=\"card\"><div class=\"v\">8</div>"));
        assert!(html.contains("<th class=\"n\">Workunits</th>"));
        assert!(html.contains("<td class=\"n z\">0</td>"));
        // A host not heard from for a day is marked.
        assert!(html.contains(
            "<td><span class=\"pill warn\">2023-11-12 22:13:20 UTC</span> <span class=\"z\">(2 d ago)</span></td>"
        ));
        assert!(html.contains("<style>\n:root{"));
        // The sections added for issue 11: backlog with its trend, activity, disagreements,
        // error-only hosts, log counts.
        assert!(html.contains(
            "<td><b>validator</b></td><td>workunits to validate</td><td class=\"n\">5</td>\
             <td><span class=\"pill warn\">▲ +3 in 10 min</span></td>"
        ));
        assert!(html.contains("<polyline points=\"0.0,17.0 48.0,6.3 96.0,1.0\""));
        assert!(html.contains("<span class=\"item\">valid <b>12</b></span>"));
        assert!(html.contains(
            "<td class=\"mono\">3 / 4</td><td class=\"msg mono\">val_acc: 0.9 vs &lt;0.95&gt;</td>"
        ));
        assert!(html.contains("<td><b>flaky &lt;pc&gt;</b></td>"));
        assert!(html.contains(
            "<td class=\"mono\">validator_mnist.log</td><td class=\"n\"><span class=\"pill warn\">2</span></td><td class=\"n z\">0</td><td class=\"mono\">2023/11/14 21:00:00</td>"
        ));
        assert!(html.contains("font:14px/1.45 system-ui,-apple-system,\"Segoe UI\""));
    }

    #[test]
    fn a_database_outage_is_said_in_every_database_section() {
        let mut d = data();
        d.db = Err("the database did not answer".into());
        d.daemons = Err("cannot read config.xml".into());
        d.backlog = Err("the database did not answer".into());
        let html = render(&d);
        assert_eq!(html.matches("the database did not answer").count(), 6);
        assert!(html.contains("cannot read config.xml"));
        assert!(html.contains("<div class=\"v\">down</div>"));
    }
}
