//! The ops page's HTML: one server-rendered document, no script, every value escaped.
//!
//! The page is meant to be read at a glance: summary cards first (is anything down, is work
//! moving), then one section per subject. Zero counts are dimmed so the numbers that matter
//! stand out; states are coloured pills. The style sheet is inline and the response carries a
//! content security policy that allows nothing else, so even a value that escaped escaping
//! could not run code.

use std::fmt::Write as _;

use rboinc_core::xml::escape;

use super::clock::{ago, uptime, utc};
use super::daemons::DaemonView;
use super::exposition::Parsed;
use super::logs::LogError;
use super::snapshot::{AppCounts, HostLine, SeriesProgress, Snapshot};

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
    pub errors: Vec<LogError>,
    /// This process's counters, read back from their exposition text.
    pub counters: Parsed,
    /// Where `/metrics` is served.
    pub metrics_path: String,
}

const STYLE: &str = r#"
:root{--fg:#1f2328;--muted:#59636e;--line:#d1d9e0;--soft:#eef1f4;--bg:#f6f8fa;--ok:#1a7f37;--bad:#cf222e;--warn:#9a6700}
*{box-sizing:border-box}
body{margin:0;font:14px/1.45 system-ui,-apple-system,"Segoe UI",Roboto,"Helvetica Neue",Arial,sans-serif;color:var(--fg);background:var(--bg)}
header{background:#24292f;color:#fff;padding:18px 32px 12px}
header h1{margin:0;font-size:20px;font-weight:600}
header p{margin:4px 0 10px;color:#c9d1d9;font-size:13px}
nav a{color:#c9d1d9;margin-right:18px;text-decoration:none;font-size:13px}
nav a:hover{color:#fff;text-decoration:underline}
main{padding:24px 32px;max-width:1440px}
.cards{display:grid;grid-template-columns:repeat(auto-fill,minmax(165px,1fr));gap:12px;margin-bottom:24px}
.card{background:#fff;border:1px solid var(--line);border-radius:8px;padding:12px 16px}
.card .v{font-size:24px;font-weight:600;font-variant-numeric:tabular-nums}
.card .k{color:var(--muted);font-size:12px;text-transform:uppercase;letter-spacing:.04em}
.card.alert{border-color:#ff8182;background:#fff5f5}
.card.alert .v{color:var(--bad)}
section{background:#fff;border:1px solid var(--line);border-radius:8px;margin-bottom:24px;overflow-x:auto}
section h2{font-size:15px;margin:0;padding:11px 16px;border-bottom:1px solid var(--line);background:#fafbfc}
section h2 small{font-weight:400;color:var(--muted);margin-left:8px}
table{border-collapse:collapse;width:100%}
th,td{padding:6px 14px;text-align:left;border-bottom:1px solid var(--soft);vertical-align:top}
th{font-weight:600;color:var(--muted);font-size:12px;white-space:nowrap;background:#fff}
td.n,th.n{text-align:right;font-variant-numeric:tabular-nums;white-space:nowrap}
tr:last-child td{border-bottom:0}
tbody tr:hover td{background:#f9fafb}
.z{color:#b6bec7}
.pill{display:inline-block;padding:1px 9px;border-radius:10px;font-size:12px;font-weight:600;white-space:nowrap}
.ok{background:#dafbe1;color:var(--ok)}.bad{background:#ffebe9;color:var(--bad)}.off{background:#eaeef2;color:var(--muted)}.warn{background:#fff8c5;color:var(--warn)}
code,.mono{font-family:ui-monospace,SFMono-Regular,Menlo,Consolas,monospace;font-size:12px}
.log{color:var(--muted);max-width:560px;overflow-wrap:anywhere}
.msg{overflow-wrap:anywhere}
.bar{background:#eaeef2;border-radius:4px;height:8px;width:140px;overflow:hidden;display:inline-block;vertical-align:middle;margin-right:8px}
.bar span{display:block;height:100%;background:#2da44e}
.bar span.badfill{background:#cf222e}
.empty{padding:12px 16px;color:var(--muted);margin:0}
.note{padding:10px 16px;margin:0;color:var(--bad)}
footer{color:var(--muted);font-size:12px;padding:0 32px 32px}
"#;

fn esc(s: &str) -> std::borrow::Cow<'_, str> {
    escape(s)
}

/// A count cell, dimmed when zero.
fn num(out: &mut String, n: i64) {
    if n == 0 {
        out.push_str("<td class=\"n z\">0</td>");
    } else {
        let _ = write!(out, "<td class=\"n\">{n}</td>");
    }
}

fn pill(class: &str, text: &str) -> String {
    format!("<span class=\"pill {class}\">{}</span>", esc(text))
}

fn card(out: &mut String, key: &str, value: &str, alert: bool) {
    let _ = write!(
        out,
        "<div class=\"card{}\"><div class=\"v\">{}</div><div class=\"k\">{}</div></div>",
        if alert { " alert" } else { "" },
        esc(value),
        esc(key)
    );
}

fn section_start(out: &mut String, id: &str, title: &str, note: &str) {
    let _ = write!(out, "<section id=\"{id}\"><h2>{}", esc(title));
    if !note.is_empty() {
        let _ = write!(out, "<small>{}</small>", esc(note));
    }
    out.push_str("</h2>");
}

/// The whole document.
pub fn render(d: &PageData) -> String {
    let mut out = String::with_capacity(32 * 1024);
    let name = esc(&d.project_name);
    let _ = write!(
        out,
        "<!DOCTYPE html>\n<html lang=\"en\">\n<head>\n<meta charset=\"utf-8\">\n\
         <meta name=\"viewport\" content=\"width=device-width, initial-scale=1\">\n\
         <title>Ops · {name}</title>\n<style>{STYLE}</style>\n</head>\n<body>\n\
         <header><h1>{name} — operations</h1>\
         <p>Generated {} UTC on host <b>{}</b> · logged in as {} · scheduler {}</p>\
         <nav><a href=\"#daemons\">Daemons</a><a href=\"#workunits\">Workunits</a><a href=\"#results\">Results</a><a href=\"#series\">Series</a>\
         <a href=\"#hosts\">Hosts</a><a href=\"#errors\">Recent errors</a><a href=\"#server\">This server</a>\
         <a href=\"{}\">Metrics</a></nav></header>\n<main>\n",
        utc(d.now),
        esc(&d.host),
        esc(&d.user),
        env!("CARGO_PKG_VERSION"),
        esc(&d.metrics_path),
    );
    summary(&mut out, d);
    daemons(&mut out, d);
    workunits(&mut out, d);
    results(&mut out, d);
    series(&mut out, d);
    hosts(&mut out, d);
    errors(&mut out, d);
    server(&mut out, d);
    out.push_str(
        "</main>\n<footer>Read-only view. Reload the page for fresh figures; \
         Prometheus can scrape the metrics link.</footer>\n</body>\n</html>\n",
    );
    out
}

fn summary(out: &mut String, d: &PageData) {
    out.push_str("<div class=\"cards\" id=\"summary\">");
    match &d.daemons {
        Ok(list) => {
            let enabled: Vec<&DaemonView> = list.iter().filter(|x| !x.disabled).collect();
            let up = enabled.iter().filter(|x| x.running).count();
            card(
                out,
                "daemons running",
                &format!("{up} / {}", enabled.len()),
                up < enabled.len(),
            );
        }
        Err(_) => card(out, "daemons running", "?", true),
    }
    match &d.db {
        Ok(s) => {
            let total = |f: fn(&AppCounts) -> i64| s.apps.iter().map(f).sum::<i64>();
            card(
                out,
                "results unsent",
                &total(|a| a.results.unsent).to_string(),
                false,
            );
            card(
                out,
                "results in progress",
                &total(|a| a.results.in_progress).to_string(),
                false,
            );
            card(
                out,
                "awaiting validation",
                &total(|a| a.workunits.need_validate).to_string(),
                false,
            );
            card(
                out,
                "awaiting assimilation",
                &total(|a| a.workunits.assimilate_ready).to_string(),
                false,
            );
            card(
                out,
                "hosts seen in 24 h",
                &format!("{} / {}", s.host_totals.last_day, s.host_totals.total),
                false,
            );
        }
        Err(_) => card(out, "database", "down", true),
    }
    card(
        out,
        "recent log errors",
        &d.errors.len().to_string(),
        !d.errors.is_empty(),
    );
    out.push_str("</div>\n");
}

fn daemons(out: &mut String, d: &PageData) {
    section_start(
        out,
        "daemons",
        "Daemons",
        &format!("config.xml <daemons> of host {}", d.host),
    );
    match &d.daemons {
        Err(why) => {
            let _ = write!(out, "<p class=\"note\">{}</p>", esc(why));
        }
        Ok(list) if list.is_empty() => {
            out.push_str("<p class=\"empty\">config.xml lists no daemons for this host.</p>");
        }
        Ok(list) => {
            out.push_str(
                "<table><thead><tr><th>Daemon</th><th>State</th><th class=\"n\">PID</th>\
                 <th class=\"n\">Uptime</th><th>Command</th><th>Last log line</th></tr></thead><tbody>",
            );
            for x in list {
                let state = if x.disabled {
                    pill("off", "disabled")
                } else if x.running {
                    pill("ok", "running")
                } else {
                    pill("bad", "stopped")
                };
                let _ = write!(
                    out,
                    "<tr><td><b>{}</b></td><td>{state}</td><td class=\"n mono\">{}</td>\
                     <td class=\"n\">{}</td><td><code>{}</code></td><td class=\"log mono\">{}</td></tr>",
                    esc(&x.program),
                    x.pid
                        .filter(|_| x.running)
                        .map_or(String::from("—"), |p| p.to_string()),
                    x.uptime.map_or(String::from("—"), uptime),
                    esc(&x.cmd),
                    x.last_log_line.as_deref().map_or_else(
                        || format!("no log yet ({})", esc(&x.log_name)),
                        |l| esc(l).into_owned()
                    ),
                );
            }
            out.push_str("</tbody></table>");
        }
    }
    out.push_str("</section>\n");
}

/// The apps, or the note on why the database did not answer (the section is closed then).
fn apps_or_note<'a>(out: &mut String, d: &'a PageData) -> Option<&'a [AppCounts]> {
    let apps = match &d.db {
        Err(why) => {
            let _ = writeln!(out, "<p class=\"note\">{}</p></section>", esc(why));
            return None;
        }
        Ok(s) => &s.apps,
    };
    if apps.is_empty() {
        out.push_str("<p class=\"empty\">No apps yet.</p></section>\n");
        return None;
    }
    Some(apps)
}

fn workunits(out: &mut String, d: &PageData) {
    section_start(out, "workunits", "Workunits by app", "");
    let Some(apps) = apps_or_note(out, d) else {
        return;
    };
    out.push_str(
        "<table><thead><tr><th>App</th><th class=\"n\">Workunits</th><th class=\"n\">In progress</th>\
         <th class=\"n\">Need validation</th><th class=\"n\">Ready to assimilate</th>\
         <th class=\"n\">Assimilated</th><th class=\"n\">Errored</th></tr></thead><tbody>",
    );
    for a in apps {
        let w = &a.workunits;
        let _ = write!(out, "<tr><td><b>{}</b>{}</td>", esc(&a.name), deprecated(a));
        for n in [
            w.total,
            w.in_progress,
            w.need_validate,
            w.assimilate_ready,
            w.assimilated,
            w.errored,
        ] {
            num(out, n);
        }
        out.push_str("</tr>");
    }
    out.push_str("</tbody></table></section>\n");
}

fn results(out: &mut String, d: &PageData) {
    section_start(out, "results", "Results by app and state", "");
    let Some(apps) = apps_or_note(out, d) else {
        return;
    };
    out.push_str(
        "<table><thead><tr><th>App</th><th class=\"n\">Results</th><th class=\"n\">Inactive</th>\
         <th class=\"n\">Unsent</th><th class=\"n\">In progress</th><th class=\"n\">Awaiting validation</th>\
         <th class=\"n\">Valid</th><th class=\"n\">Invalid</th><th class=\"n\">Client error</th>\
         <th class=\"n\">Timed out</th><th class=\"n\">Not needed</th><th class=\"n\">Validate error</th>\
         <th class=\"n\">Other</th></tr></thead><tbody>",
    );
    for a in apps {
        let r = &a.results;
        let _ = write!(out, "<tr><td><b>{}</b>{}</td>", esc(&a.name), deprecated(a));
        for n in [
            r.total,
            r.inactive,
            r.unsent,
            r.in_progress,
            r.pending_validation,
            r.valid,
            r.invalid,
            r.client_error,
            r.no_reply,
            r.didnt_need,
            r.validate_error,
            r.other,
        ] {
            num(out, n);
        }
        out.push_str("</tr>");
    }
    out.push_str("</tbody></table></section>\n");
}

fn deprecated(a: &AppCounts) -> &'static str {
    if a.deprecated {
        " <span class=\"pill off\">deprecated</span>"
    } else {
        ""
    }
}

fn series(out: &mut String, d: &PageData) {
    section_start(
        out,
        "series",
        "Series",
        "training series submitted with the series tool, newest first",
    );
    let list = match &d.db {
        Err(why) => {
            let _ = writeln!(out, "<p class=\"note\">{}</p></section>", esc(why));
            return;
        }
        Ok(Snapshot { series: None, .. }) => {
            out.push_str(
                "<p class=\"empty\">This database has no series tables (rb_series).</p></section>\n",
            );
            return;
        }
        Ok(Snapshot {
            series: Some(list), ..
        }) => list,
    };
    if list.is_empty() {
        out.push_str("<p class=\"empty\">No series submitted yet.</p></section>\n");
        return;
    }
    out.push_str(
        "<table><thead><tr><th>Series</th><th>App</th><th>State</th><th>Progress</th>\
         <th class=\"n\">Rounds</th><th class=\"n\">Created</th><th class=\"n\">Validated</th>\
         <th class=\"n\">Assimilated</th><th class=\"n\">Failed</th><th class=\"n\">Results running</th>\
         <th>Submitted</th></tr></thead><tbody>",
    );
    for s in list {
        series_row(out, s, d.now);
    }
    out.push_str("</tbody></table></section>\n");
}

fn series_row(out: &mut String, s: &SeriesProgress, now: i64) {
    let state = s.state();
    let class = match state {
        "running" => "warn",
        "complete" => "ok",
        "cancelled" => "off",
        _ => "bad",
    };
    let pct = |n: i64| {
        if s.rounds > 0 {
            (n.clamp(0, s.rounds) * 100 / s.rounds) as u32
        } else {
            0
        }
    };
    let _ = write!(
        out,
        "<tr><td><b>{}</b></td><td>{}</td><td>{}</td>\
         <td><span class=\"bar\" title=\"{} of {} rounds finished\"><span style=\"width:{}%\"{}></span></span>{}%</td>",
        esc(&s.name),
        esc(&s.app),
        pill(class, state),
        s.finished(),
        s.rounds,
        pct(s.finished()),
        if s.failed > 0 {
            " class=\"badfill\""
        } else {
            ""
        },
        pct(s.assimilated),
    );
    for n in [
        s.rounds,
        s.created,
        s.validated,
        s.assimilated,
        s.failed,
        s.results_in_progress,
    ] {
        num(out, n);
    }
    let _ = write!(
        out,
        "<td>{} <span class=\"z\">({})</span></td></tr>",
        utc(s.create_time),
        ago(now, s.create_time)
    );
}

fn hosts(out: &mut String, d: &PageData) {
    let Ok(snapshot) = &d.db else {
        section_start(out, "hosts", "Hosts", "");
        if let Err(why) = &d.db {
            let _ = write!(out, "<p class=\"note\">{}</p>", esc(why));
        }
        out.push_str("</section>\n");
        return;
    };
    let t = snapshot.host_totals;
    section_start(
        out,
        "hosts",
        "Hosts",
        &format!(
            "{} in all · {} in the last hour · {} in the last day · most recent contact first",
            t.total, t.last_hour, t.last_day
        ),
    );
    if snapshot.hosts.is_empty() {
        out.push_str("<p class=\"empty\">No host has contacted the scheduler yet.</p></section>\n");
        return;
    }
    out.push_str(
        "<table><thead><tr><th class=\"n\">ID</th><th>Name</th><th>Owner</th><th>OS</th><th>CPU</th>\
         <th class=\"n\">CPUs</th><th>Last contact</th><th class=\"n\">Results running</th>\
         <th>Address</th><th>Created</th></tr></thead><tbody>",
    );
    for h in &snapshot.hosts {
        host_row(out, h, d.now);
    }
    out.push_str("</tbody></table></section>\n");
}

fn host_row(out: &mut String, h: &HostLine, now: i64) {
    let contact = if h.rpc_time > 0 {
        let stale = now - h.rpc_time > 86_400;
        format!(
            "{}{} UTC{} <span class=\"z\">({})</span>",
            if stale {
                "<span class=\"pill warn\">"
            } else {
                ""
            },
            utc(h.rpc_time),
            if stale { "</span>" } else { "" },
            ago(now, h.rpc_time)
        )
    } else {
        "never".into()
    };
    let _ = write!(
        out,
        "<tr><td class=\"n mono\">{}</td><td><b>{}</b></td><td>{}</td><td>{}</td><td>{}</td>",
        h.id,
        esc(&h.domain_name),
        esc(&h.user),
        esc(&h.os_name),
        esc(&h.p_model),
    );
    num(out, h.ncpus);
    let _ = write!(out, "<td>{contact}</td>");
    num(out, h.results_in_progress);
    let _ = write!(
        out,
        "<td class=\"mono\">{}</td><td>{}</td></tr>",
        esc(&h.last_ip_addr),
        utc(h.create_time)
    );
}

fn errors(out: &mut String, d: &PageData) {
    section_start(
        out,
        "errors",
        "Recent errors",
        &format!("ERROR and CRITICAL lines in log_{}/, newest first", d.host),
    );
    if d.errors.is_empty() {
        out.push_str("<p class=\"empty\">No errors in the recent logs.</p></section>\n");
        return;
    }
    out.push_str(
        "<table><thead><tr><th>Time</th><th>Log</th><th>Level</th><th>Message</th></tr></thead><tbody>",
    );
    for e in &d.errors {
        let _ = write!(
            out,
            "<tr><td class=\"mono\" style=\"white-space:nowrap\">{}</td><td class=\"mono\">{}</td>\
             <td>{}</td><td class=\"msg mono\">{}</td></tr>",
            esc(&e.time),
            esc(&e.file),
            pill("bad", &e.level),
            esc(&e.message)
        );
    }
    out.push_str("</tbody></table></section>\n");
}

fn server(out: &mut String, d: &PageData) {
    section_start(
        out,
        "server",
        "This server",
        "counters of this scheduler process since it started",
    );
    out.push_str(
        "<table><thead><tr><th>Counter</th><th>Meaning</th><th class=\"n\">Value</th></tr></thead><tbody>",
    );
    for f in &d.counters.families {
        for s in d.counters.get(&f.name) {
            let labels: Vec<String> = s.labels.iter().map(|(k, v)| format!("{k}={v}")).collect();
            let name = if labels.is_empty() {
                f.name.clone()
            } else {
                format!("{} {}", f.name, labels.join(" "))
            };
            let _ = write!(
                out,
                "<tr><td><code>{}</code></td><td>{}</td>",
                esc(&name),
                esc(&f.help)
            );
            num(out, s.value as i64);
            out.push_str("</tr>");
        }
    }
    out.push_str("</tbody></table></section>\n");
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::ops::exposition;
    use crate::ops::snapshot::{HostTotals, ResultCounts, WorkunitCounts};

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
                hosts: vec![],
                host_totals: HostTotals::default(),
            }),
            errors: vec![LogError {
                file: "a.log".into(),
                time: "2023-11-14 22:00:00".into(),
                level: "ERROR".into(),
                message: "bad <b>".into(),
            }],
            counters: exposition::parse(
                "# HELP c_total Things.\n# TYPE c_total counter\nc_total 3\n",
            )
            .unwrap(),
            metrics_path: "/metrics".into(),
        }
    }

    #[test]
    fn values_are_escaped_and_states_shown() {
        let html = render(&data());
        assert!(html.contains("<title>Ops · P &lt;&amp;&gt; &quot;q&quot;</title>"));
        assert!(!html.contains("<script>"));
        assert!(html.contains("&lt;script&gt;alert(1)&lt;/script&gt;"));
        assert!(html.contains("<code>transitioner -d 3 &lt;x&gt;</code>"));
        assert!(html.contains("<span class=\"pill bad\">stopped</span>"));
        // A stopped daemon's stale pid is not shown as if it ran.
        assert!(!html.contains("<td class=\"n mono\">5</td>"));
        assert!(html.contains("bad &lt;b&gt;"));
        assert!(html.contains("This database has no series tables"));
        assert!(
            html.contains("<td><code>c_total</code></td><td>Things.</td><td class=\"n\">3</td>")
        );
        assert!(html.contains("<div class=\"card alert\"><div class=\"v\">0 / 1</div>"));
    }

    #[test]
    fn a_database_outage_is_said_in_every_database_section() {
        let mut d = data();
        d.db = Err("the database did not answer".into());
        d.daemons = Err("cannot read config.xml".into());
        let html = render(&d);
        assert_eq!(html.matches("the database did not answer").count(), 4);
        assert!(html.contains("cannot read config.xml"));
        assert!(html.contains("<div class=\"v\">down</div>"));
    }
}
