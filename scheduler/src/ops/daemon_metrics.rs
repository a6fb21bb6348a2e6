//! The daemons' own counters in `/metrics`, read from the files they leave in `pid_<host>/`.
//!
//! Each daemon rewrites `pid_<host>/<instance>.metrics.json` after its passes
//! ([`rboinc_core::daemon::stats`] says why a file and not a port of its own); this module turns
//! those files into Prometheus families labelled by `daemon`, `app` and `slice` (`--mod N I` as
//! `N/I`), so one scrape of the scheduler covers every daemon of its host. The values are the
//! daemon's, copied: the counters reset when a daemon restarts, as any process's do.

use prometheus_client::encoding::{EncodeLabelSet, EncodeMetric, MetricEncoder, NoLabelSet};
use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::family::Family;
use prometheus_client::metrics::gauge::Gauge;
use prometheus_client::metrics::{MetricType, TypedMetric};
use prometheus_client::registry::Registry;
use rboinc_core::daemon::stats::DaemonStats;

#[derive(Debug, Clone, PartialEq, Eq, Hash, EncodeLabelSet)]
struct Instance {
    daemon: String,
    app: String,
    slice: String,
}

#[derive(Debug, Clone, PartialEq, Eq, Hash, EncodeLabelSet)]
struct WithResult {
    daemon: String,
    app: String,
    slice: String,
    result: String,
}

#[derive(Debug, Clone, PartialEq, Eq, Hash, EncodeLabelSet)]
struct WithOutcome {
    daemon: String,
    app: String,
    slice: String,
    outcome: String,
}

/// One recorded histogram: its labels, sum, count and `(upper bound, count)` buckets.
type Recorded = (Instance, f64, u64, Vec<(f64, u64)>);

/// Histograms recorded elsewhere, one per label set, encoded as they are.
#[derive(Debug, Default)]
struct RecordedHistograms(Vec<Recorded>);

impl TypedMetric for RecordedHistograms {
    const TYPE: MetricType = MetricType::Histogram;
}

impl EncodeMetric for RecordedHistograms {
    fn encode(&self, mut encoder: MetricEncoder) -> Result<(), std::fmt::Error> {
        for (labels, sum, count, buckets) in &self.0 {
            encoder
                .encode_family(labels)?
                .encode_histogram::<NoLabelSet>(*sum, *count, buckets, None)?;
        }
        Ok(())
    }

    fn metric_type(&self) -> MetricType {
        MetricType::Histogram
    }
}

fn instance(s: &DaemonStats) -> Instance {
    Instance {
        daemon: s.daemon.clone(),
        app: s.app.clone(),
        slice: s.slice.clone(),
    }
}

/// Registers the daemons' families in `registry` (nothing when no daemon wrote a file).
pub fn register(registry: &mut Registry, all: &[DaemonStats]) {
    if all.is_empty() {
        return;
    }
    let passes = Family::<WithResult, Counter>::default();
    let items = Family::<WithOutcome, Counter>::default();
    let errors = Family::<Instance, Counter>::default();
    let last_pass = Family::<Instance, Gauge>::default();
    let started = Family::<Instance, Gauge>::default();
    let mut durations = RecordedHistograms::default();
    for s in all {
        let at = instance(s);
        for (result, n) in [
            ("did_work", s.passes.did_work),
            ("idle", s.passes.idle),
            ("failed", s.passes.failed),
        ] {
            let label = WithResult {
                daemon: at.daemon.clone(),
                app: at.app.clone(),
                slice: at.slice.clone(),
                result: result.into(),
            };
            passes.get_or_create(&label).inc_by(n);
        }
        for (outcome, n) in &s.items {
            let label = WithOutcome {
                daemon: at.daemon.clone(),
                app: at.app.clone(),
                slice: at.slice.clone(),
                outcome: outcome.clone(),
            };
            items.get_or_create(&label).inc_by(*n);
        }
        errors.get_or_create(&at).inc_by(s.errors);
        last_pass.get_or_create(&at).set(s.last_pass_end);
        started.get_or_create(&at).set(s.start_time);
        if let Some(buckets) = s.pass_seconds.buckets() {
            durations
                .0
                .push((at, s.pass_seconds.sum, s.pass_seconds.count, buckets));
        }
    }
    registry.register(
        "rboinc_daemon_passes",
        "Daemon passes by how they ended (did_work, idle, failed)",
        passes,
    );
    registry.register(
        "rboinc_daemon_items",
        "Items a daemon handled, by outcome",
        items,
    );
    registry.register(
        "rboinc_daemon_errors",
        "Items a daemon could not handle (logged; the pass went on)",
        errors,
    );
    registry.register(
        "rboinc_daemon_pass_duration_seconds",
        "How long daemon passes took",
        durations,
    );
    registry.register(
        "rboinc_daemon_last_pass_timestamp_seconds",
        "When a daemon's last pass ended (Unix time; 0 before the first)",
        last_pass,
    );
    registry.register(
        "rboinc_daemon_start_time_seconds",
        "When the daemon process started (Unix time)",
        started,
    );
}

#[cfg(test)]
mod tests {
    use super::*;
    use openmetrics_parser::prometheus::parse_prometheus;
    use rboinc_core::daemon::ModSlice;

    #[test]
    fn daemon_files_become_labelled_families() {
        let mut v = DaemonStats::new("validator", Some("mnist"), ModSlice::ALL, 1_700_000_000);
        v.passes.did_work = 3;
        v.passes.idle = 7;
        v.items.insert("valid".into(), 4);
        v.items.insert("invalid".into(), 1);
        v.errors = 2;
        v.last_pass_end = 1_700_000_100;
        v.pass_seconds.observe(0.003);
        v.pass_seconds.observe(0.2);
        let t = DaemonStats::new(
            "transitioner",
            None,
            ModSlice::new(2, 1).unwrap(),
            1_700_000_000,
        );
        let mut registry = Registry::default();
        register(&mut registry, &[v, t]);
        let mut text = String::new();
        prometheus_client::encoding::prometheus_text::encode(&mut text, &registry).unwrap();
        for line in [
            "rboinc_daemon_passes_total{daemon=\"validator\",app=\"mnist\",slice=\"\",result=\"did_work\"} 3",
            "rboinc_daemon_passes_total{daemon=\"validator\",app=\"mnist\",slice=\"\",result=\"idle\"} 7",
            "rboinc_daemon_passes_total{daemon=\"transitioner\",app=\"\",slice=\"2/1\",result=\"failed\"} 0",
            "rboinc_daemon_items_total{daemon=\"validator\",app=\"mnist\",slice=\"\",outcome=\"valid\"} 4",
            "rboinc_daemon_errors_total{daemon=\"validator\",app=\"mnist\",slice=\"\"} 2",
            "rboinc_daemon_last_pass_timestamp_seconds{daemon=\"validator\",app=\"mnist\",slice=\"\"} 1700000100",
            "rboinc_daemon_pass_duration_seconds_bucket{daemon=\"validator\",app=\"mnist\",slice=\"\",le=\"0.005\"} 1",
            "rboinc_daemon_pass_duration_seconds_bucket{daemon=\"validator\",app=\"mnist\",slice=\"\",le=\"0.25\"} 2",
            "rboinc_daemon_pass_duration_seconds_count{daemon=\"validator\",app=\"mnist\",slice=\"\"} 2",
            "# TYPE rboinc_daemon_pass_duration_seconds histogram",
        ] {
            assert!(text.lines().any(|l| l == line), "{line} not in\n{text}");
        }
        parse_prometheus(&text).expect("a Prometheus parser reads it");

        let mut empty = Registry::default();
        register(&mut empty, &[]);
        let mut text = String::new();
        prometheus_client::encoding::prometheus_text::encode(&mut text, &empty).unwrap();
        assert!(!text.contains("rboinc_daemon"));
    }
}
