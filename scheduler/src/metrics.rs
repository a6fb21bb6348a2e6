//! Counters of what this server did, for the ops page and `/metrics`.
//!
//! Kept in a [`prometheus_client`] registry, which writes the Prometheus text format: its
//! counters are atomics, so a scheduler RPC bumps a few and never waits for a lock. Every
//! process keeps its own (Prometheus adds up the processes behind a load balancer). The ops
//! module serves [`Metrics::render`] (it owns the route and its access rules) and appends the
//! project's gauges; the ops page reads the values here ([`Metrics::readings`]).
//!
//! Besides the counters: `rboinc_scheduler_rpc_duration_seconds`, a latency histogram of
//! scheduler RPCs by kind, from the request read to the reply written.

use std::time::Duration;

use prometheus_client::encoding::{EncodeLabelSet, EncodeLabelValue, LabelValueEncoder};
use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::family::Family;
use prometheus_client::metrics::histogram::Histogram;
use prometheus_client::registry::Registry;

/// The format's content type.
pub use prometheus_client::encoding::prometheus_text::CONTENT_TYPE;

/// What a scheduler RPC turned out to be, for counting.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum RpcKind {
    /// Asked for work (and possibly reported results).
    Work,
    /// Reported results without asking for work.
    Report,
    /// Neither reported nor asked for work (attach bookkeeping, preference updates).
    NoWork,
    /// Answered "project down" (`stop_sched`, database unreachable).
    ProjectDown,
    /// Refused: unparsable, oversize, or a bad account key.
    Refused,
}

impl RpcKind {
    pub const ALL: [RpcKind; 5] = [
        RpcKind::Work,
        RpcKind::Report,
        RpcKind::NoWork,
        RpcKind::ProjectDown,
        RpcKind::Refused,
    ];

    /// The `kind` label.
    pub fn label(self) -> &'static str {
        match self {
            RpcKind::Work => "work",
            RpcKind::Report => "report",
            RpcKind::NoWork => "no_work",
            RpcKind::ProjectDown => "project_down",
            RpcKind::Refused => "refused",
        }
    }
}

impl EncodeLabelValue for RpcKind {
    fn encode(&self, encoder: &mut LabelValueEncoder) -> Result<(), std::fmt::Error> {
        std::fmt::Write::write_str(encoder, self.label())
    }
}

#[derive(Debug, Clone, PartialEq, Eq, Hash, EncodeLabelSet)]
struct KindLabel {
    kind: RpcKind,
}

/// The plain counters, in the order `/metrics` and the ops page list them.
#[derive(Debug, Clone, Copy)]
enum Plain {
    ResultsSent,
    ResultsResent,
    ResultsReported,
    ResultsReportedErrors,
    HostsCreated,
    UploadsOk,
    UploadsFailed,
    UploadBytes,
    AccountRpcs,
    Errors,
    ClaimCollisions,
}

/// Name (the crate adds `_total`) and help (the crate adds the full stop) of each [`Plain`].
const PLAIN: [(&str, &str); 11] = [
    (
        "rboinc_results_sent",
        "Results sent to clients (including resends)",
    ),
    (
        "rboinc_results_resent",
        "Lost results sent again to the host that had them",
    ),
    (
        "rboinc_results_reported",
        "Reported results accepted and written",
    ),
    (
        "rboinc_results_reported_errors",
        "Reported results written with an error outcome (the client failed the job)",
    ),
    (
        "rboinc_hosts_created",
        "Host records created on first contact",
    ),
    ("rboinc_uploads_ok", "Upload requests answered with success"),
    (
        "rboinc_uploads_failed",
        "Upload requests answered with an error status",
    ),
    ("rboinc_upload_bytes", "Bytes of output files stored"),
    (
        "rboinc_account_rpcs",
        "Account web RPCs (get_project_config, lookup_account, create_account)",
    ),
    (
        "rboinc_server_errors",
        "Requests that failed on an internal error (database, file system)",
    ),
    (
        "rboinc_claim_collisions",
        "Jobs another scheduler process sent first",
    ),
];

const RPCS: (&str, &str) = (
    "rboinc_scheduler_rpcs",
    "Scheduler RPCs handled, by outcome",
);

const RPC_SECONDS: (&str, &str) = (
    "rboinc_scheduler_rpc_duration_seconds",
    "Time to answer a scheduler RPC, by outcome",
);

/// Upper bounds of the latency buckets, in seconds: a work RPC takes a few milliseconds on an
/// idle server, a report with many results or a lock conflict tens to hundreds.
const LATENCY_BUCKETS: [f64; 12] = [
    0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 10.0,
];

/// One counter's current value, as the ops page lists it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Reading {
    /// The sample's name in `/metrics`, then its labels as `key=value`.
    pub name: String,
    pub help: String,
    pub value: u64,
}

/// The server's counters. Cheap to share: `Arc<Metrics>` in the app state.
#[derive(Debug)]
pub struct Metrics {
    registry: Registry,
    rpcs: Family<KindLabel, Counter>,
    rpc_seconds: Family<KindLabel, Histogram, fn() -> Histogram>,
    plain: [Counter; 11],
}

impl Default for Metrics {
    fn default() -> Self {
        Self::new()
    }
}

fn latency_histogram() -> Histogram {
    Histogram::new(LATENCY_BUCKETS)
}

impl Metrics {
    pub fn new() -> Metrics {
        let mut registry = Registry::default();
        let rpcs = Family::<KindLabel, Counter>::default();
        let rpc_seconds: Family<KindLabel, Histogram, fn() -> Histogram> =
            Family::new_with_constructor(latency_histogram);
        // Every kind from the start, so a scrape shows zeros rather than missing series.
        for kind in RpcKind::ALL {
            let _ = rpcs.get_or_create(&KindLabel { kind });
            let _ = rpc_seconds.get_or_create(&KindLabel { kind });
        }
        registry.register(RPCS.0, RPCS.1, rpcs.clone());
        let plain: [Counter; 11] = Default::default();
        for ((name, help), counter) in PLAIN.iter().zip(&plain) {
            registry.register(*name, *help, counter.clone());
        }
        registry.register(RPC_SECONDS.0, RPC_SECONDS.1, rpc_seconds.clone());
        Metrics {
            registry,
            rpcs,
            rpc_seconds,
            plain,
        }
    }

    fn add(&self, which: Plain, n: u64) {
        self.plain[which as usize].inc_by(n);
    }

    /// A scheduler RPC of `kind` answered in `took`.
    pub fn rpc(&self, kind: RpcKind, took: Duration) {
        let label = KindLabel { kind };
        self.rpcs.get_or_create(&label).inc();
        self.rpc_seconds
            .get_or_create(&label)
            .observe(took.as_secs_f64());
    }
    pub fn results_sent(&self, n: u64) {
        self.add(Plain::ResultsSent, n);
    }
    pub fn results_resent(&self, n: u64) {
        self.add(Plain::ResultsResent, n);
    }
    pub fn results_reported(&self, n: u64) {
        self.add(Plain::ResultsReported, n);
    }
    pub fn results_reported_errors(&self, n: u64) {
        self.add(Plain::ResultsReportedErrors, n);
    }
    pub fn host_created(&self) {
        self.add(Plain::HostsCreated, 1);
    }
    pub fn upload_ok(&self, bytes: u64) {
        self.add(Plain::UploadsOk, 1);
        self.add(Plain::UploadBytes, bytes);
    }
    /// A failed upload still counts the bytes it stored (they stay for a resumed upload).
    pub fn upload_failed(&self, bytes: u64) {
        self.add(Plain::UploadsFailed, 1);
        self.add(Plain::UploadBytes, bytes);
    }
    pub fn account_rpc(&self) {
        self.add(Plain::AccountRpcs, 1);
    }
    pub fn error(&self) {
        self.add(Plain::Errors, 1);
    }
    pub fn claim_collision(&self) {
        self.add(Plain::ClaimCollisions, 1);
    }

    /// Scheduler RPCs of one kind so far.
    pub fn rpcs(&self, kind: RpcKind) -> u64 {
        self.rpcs.get_or_create(&KindLabel { kind }).get()
    }

    /// Results sent to clients so far (first sends and resends).
    pub fn sent(&self) -> u64 {
        self.plain[Plain::ResultsSent as usize].get()
    }

    /// Claims lost to another scheduler process so far.
    pub fn collisions(&self) -> u64 {
        self.plain[Plain::ClaimCollisions as usize].get()
    }

    /// Every counter with its value, in `/metrics` order (the latency histogram aside).
    pub fn readings(&self) -> Vec<Reading> {
        let rpcs = RpcKind::ALL.into_iter().map(|kind| Reading {
            name: format!("{}_total kind={}", RPCS.0, kind.label()),
            help: format!("{}.", RPCS.1),
            value: self.rpcs(kind),
        });
        let plain = PLAIN
            .iter()
            .zip(&self.plain)
            .map(|((name, help), counter)| Reading {
                name: format!("{name}_total"),
                help: format!("{help}."),
                value: counter.get(),
            });
        rpcs.chain(plain).collect()
    }

    /// All metrics in the Prometheus text exposition format (version 0.0.4).
    pub fn render(&self) -> String {
        let mut out = String::with_capacity(4096);
        prometheus_client::encoding::prometheus_text::encode(&mut out, &self.registry)
            .expect("writing to a String cannot fail");
        out
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn counts_show_in_the_text_and_the_readings() {
        let m = Metrics::new();
        m.rpc(RpcKind::Work, Duration::from_millis(3));
        m.rpc(RpcKind::Work, Duration::from_millis(30));
        m.rpc(RpcKind::Refused, Duration::ZERO);
        m.results_sent(3);
        m.upload_ok(4096);
        let text = m.render();
        assert!(text.contains("# TYPE rboinc_scheduler_rpcs_total counter\n"));
        assert!(text.contains("rboinc_scheduler_rpcs_total{kind=\"work\"} 2\n"));
        assert!(text.contains("rboinc_scheduler_rpcs_total{kind=\"refused\"} 1\n"));
        assert!(text.contains("rboinc_scheduler_rpcs_total{kind=\"no_work\"} 0\n"));
        assert!(text.contains(
            "# HELP rboinc_results_sent_total Results sent to clients (including resends).\n"
        ));
        assert!(text.contains("rboinc_results_sent_total 3\n"));
        assert!(text.contains("rboinc_upload_bytes_total 4096\n"));
        assert!(text.contains(
            "rboinc_scheduler_rpc_duration_seconds_bucket{kind=\"work\",le=\"0.005\"} 1\n"
        ));
        assert!(text.contains("rboinc_scheduler_rpc_duration_seconds_count{kind=\"work\"} 2\n"));

        let readings = m.readings();
        let value = |name: &str| readings.iter().find(|r| r.name == name).unwrap().value;
        assert_eq!(value("rboinc_scheduler_rpcs_total kind=work"), 2);
        assert_eq!(value("rboinc_results_sent_total"), 3);
        assert_eq!(value("rboinc_uploads_ok_total"), 1);
        assert_eq!(readings.len(), RpcKind::ALL.len() + PLAIN.len());
        assert!(readings.iter().all(|r| r.help.ends_with('.')));
        assert_eq!((m.rpcs(RpcKind::Work), m.sent()), (2, 3));
    }
}
