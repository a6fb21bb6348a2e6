//! `/metrics`: what the project looks like to Prometheus, beyond this process's counters.
//!
//! The scheduler's own counters come from [`crate::metrics::Metrics::render`]; this module adds
//! the gauges that describe the project rather than this process (queue sizes from the
//! database, daemon liveness from the pid and lock files) and build information. They are
//! read anew for each scrape, so they go into a registry of their own, written after the
//! process's (the text format has no end marker, so the two concatenate).

use prometheus_client::encoding::EncodeLabelSet;
use prometheus_client::metrics::family::Family;
use prometheus_client::metrics::gauge::Gauge;
use prometheus_client::metrics::info::Info;
use prometheus_client::registry::Registry;

use rboinc_core::daemon::stats::DaemonStats;

use super::daemon_metrics;
use super::daemons::DaemonView;
use super::queues::QueueSizes;

/// What `/metrics` adds to the process counters.
#[derive(Debug, Clone, Default)]
pub struct ProjectGauges {
    /// `None` when the database did not answer.
    pub queues: Option<QueueSizes>,
    /// `None` when config.xml could not be read.
    pub daemons: Option<Vec<DaemonView>>,
    /// The daemons' metrics files in `pid_<host>/`.
    pub daemon_stats: Vec<DaemonStats>,
    /// The project directory's file system: bytes available, size (`None` if unreadable).
    pub disk: Option<(u64, u64)>,
}

#[derive(Debug, Clone, PartialEq, Eq, Hash, EncodeLabelSet)]
struct AppLabel {
    app: String,
}

#[derive(Debug, Clone, PartialEq, Eq, Hash, EncodeLabelSet)]
struct DaemonLabel {
    daemon: String,
    cmd: String,
}

/// The project gauges and build info, in the exposition format.
pub fn render_gauges(g: &ProjectGauges) -> String {
    let mut registry = Registry::default();
    registry.register(
        "rboinc_build",
        "The running scheduler's version (always 1)",
        Info::new(vec![
            ("version", env!("CARGO_PKG_VERSION")),
            ("program", "scheduler"),
        ]),
    );
    let up = Gauge::<i64>::default();
    up.set(i64::from(g.queues.is_some()));
    registry.register(
        "rboinc_database_up",
        "Whether the database answered the latest queue queries (cached up to 5 s)",
        up,
    );
    if let Some(q) = &g.queues {
        for (queue, by_app) in q.all() {
            let (name, help) = queue.gauge();
            let family = Family::<AppLabel, Gauge>::default();
            for (app, n) in by_app {
                family.get_or_create(&AppLabel { app: app.clone() }).set(*n);
            }
            registry.register(name, help, family);
        }
    }
    if let Some(daemons) = &g.daemons {
        let family = Family::<DaemonLabel, Gauge>::default();
        for d in daemons.iter().filter(|d| !d.disabled) {
            let label = DaemonLabel {
                daemon: d.program.clone(),
                cmd: d.cmd.clone(),
            };
            family.get_or_create(&label).set(i64::from(d.running));
        }
        registry.register(
            "rboinc_daemon_up",
            "Whether each enabled config.xml daemon of this host runs (lock held, pid alive)",
            family,
        );
    }
    if let Some((avail, size)) = g.disk {
        for (name, help, v) in [
            (
                "rboinc_project_filesystem_avail_bytes",
                "Bytes available to the project on its directory's file system",
                avail,
            ),
            (
                "rboinc_project_filesystem_size_bytes",
                "Size of the project directory's file system in bytes",
                size,
            ),
        ] {
            let g = Gauge::<i64>::default();
            g.set(i64::try_from(v).unwrap_or(i64::MAX));
            registry.register(name, help, g);
        }
    }
    daemon_metrics::register(&mut registry, &g.daemon_stats);
    let mut out = String::with_capacity(1024);
    prometheus_client::encoding::prometheus_text::encode(&mut out, &registry)
        .expect("writing to a String cannot fail");
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use openmetrics_parser::prometheus::parse_prometheus;

    fn daemon(cmd: &str, running: bool, disabled: bool) -> DaemonView {
        DaemonView {
            cmd: cmd.into(),
            program: cmd.split(' ').next().unwrap().into(),
            disabled,
            running,
            pid: None,
            uptime: None,
            log_name: String::new(),
            last_log_line: None,
        }
    }

    #[test]
    fn gauges_are_prometheus_text_with_awkward_labels_escaped() {
        let mut q = QueueSizes::default();
        q.unsent.insert("mnist".into(), 3);
        q.in_progress.insert("mnist".into(), 2);
        q.need_validate.insert("mnist".into(), 0);
        q.assimilate_ready.insert("odd \"app\"\\\nname".into(), 7);
        let text = render_gauges(&ProjectGauges {
            queues: Some(q),
            daemons: Some(vec![
                daemon("transitioner -d 3", true, false),
                daemon("validator --app \"x\"", false, false),
                daemon("feeder", false, true),
            ]),
            daemon_stats: Vec::new(),
            disk: Some((1024, 4096)),
        });
        for line in [
            "rboinc_database_up 1",
            "rboinc_project_filesystem_avail_bytes 1024",
            "rboinc_results_unsent{app=\"mnist\"} 3",
            "rboinc_workunits_assimilate_ready{app=\"odd \\\"app\\\"\\\\\\nname\"} 7",
            "rboinc_daemon_up{daemon=\"transitioner\",cmd=\"transitioner -d 3\"} 1",
            "rboinc_daemon_up{daemon=\"validator\",cmd=\"validator --app \\\"x\\\"\"} 0",
            &format!(
                "rboinc_build_info{{version=\"{}\",program=\"scheduler\"}} 1",
                env!("CARGO_PKG_VERSION")
            ),
        ] {
            assert!(text.lines().any(|l| l == line), "{line} not in\n{text}");
        }
        // Disabled daemons are not expected to run, so they are not reported.
        assert_eq!(text.matches("rboinc_daemon_up{").count(), 2);
        let parsed = parse_prometheus(&text).expect("a Prometheus parser reads it");
        assert!(parsed.families.contains_key("rboinc_daemon_up"));

        let down = render_gauges(&ProjectGauges::default());
        assert!(down.lines().any(|l| l == "rboinc_database_up 0"));
        assert!(!down.contains("rboinc_results_unsent"));
        parse_prometheus(&down).unwrap();
    }
}
