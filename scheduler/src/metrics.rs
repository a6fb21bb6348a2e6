//! Counters of what this server did, for the ops page and `/metrics`.
//!
//! Plain atomics: a scheduler RPC bumps a few of them and must not wait for a lock, and every
//! process keeps its own (Prometheus adds up the processes behind a load balancer). [`Metrics::render`]
//! writes them in the Prometheus text exposition format; the ops module serves that text (it
//! owns the route and its access rules) and may append gauges of its own.

use std::fmt::Write as _;
use std::sync::atomic::{AtomicU64, Ordering};

/// What a scheduler RPC turned out to be, for counting.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
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
    const ALL: [RpcKind; 5] = [
        RpcKind::Work,
        RpcKind::Report,
        RpcKind::NoWork,
        RpcKind::ProjectDown,
        RpcKind::Refused,
    ];

    fn label(self) -> &'static str {
        match self {
            RpcKind::Work => "work",
            RpcKind::Report => "report",
            RpcKind::NoWork => "no_work",
            RpcKind::ProjectDown => "project_down",
            RpcKind::Refused => "refused",
        }
    }

    fn index(self) -> usize {
        self as usize
    }
}

/// The server's counters. Cheap to share: `Arc<Metrics>` in the app state.
#[derive(Debug, Default)]
pub struct Metrics {
    rpcs: [AtomicU64; 5],
    results_sent: AtomicU64,
    results_resent: AtomicU64,
    results_reported: AtomicU64,
    hosts_created: AtomicU64,
    uploads_ok: AtomicU64,
    uploads_failed: AtomicU64,
    upload_bytes: AtomicU64,
    account_rpcs: AtomicU64,
    /// Internal failures (database errors, file system errors) answered with an error.
    errors: AtomicU64,
    /// Claims lost to another scheduler process (the job had been sent meanwhile).
    claim_collisions: AtomicU64,
}

fn add(counter: &AtomicU64, n: u64) {
    counter.fetch_add(n, Ordering::Relaxed);
}

impl Metrics {
    pub fn rpc(&self, kind: RpcKind) {
        add(&self.rpcs[kind.index()], 1);
    }
    pub fn results_sent(&self, n: u64) {
        add(&self.results_sent, n);
    }
    pub fn results_resent(&self, n: u64) {
        add(&self.results_resent, n);
    }
    pub fn results_reported(&self, n: u64) {
        add(&self.results_reported, n);
    }
    pub fn host_created(&self) {
        add(&self.hosts_created, 1);
    }
    pub fn upload_ok(&self, bytes: u64) {
        add(&self.uploads_ok, 1);
        add(&self.upload_bytes, bytes);
    }
    /// A failed upload still counts the bytes it stored (they stay for a resumed upload).
    pub fn upload_failed(&self, bytes: u64) {
        add(&self.uploads_failed, 1);
        add(&self.upload_bytes, bytes);
    }
    pub fn account_rpc(&self) {
        add(&self.account_rpcs, 1);
    }
    pub fn error(&self) {
        add(&self.errors, 1);
    }
    pub fn claim_collision(&self) {
        add(&self.claim_collisions, 1);
    }

    /// Scheduler RPCs of one kind so far.
    pub fn rpcs(&self, kind: RpcKind) -> u64 {
        self.rpcs[kind.index()].load(Ordering::Relaxed)
    }

    /// Results sent to clients so far (first sends and resends).
    pub fn sent(&self) -> u64 {
        self.results_sent.load(Ordering::Relaxed)
    }

    /// Claims lost to another scheduler process so far.
    pub fn collisions(&self) -> u64 {
        self.claim_collisions.load(Ordering::Relaxed)
    }

    /// All counters in the Prometheus text exposition format (version 0.0.4).
    pub fn render(&self) -> String {
        let mut out = String::with_capacity(2048);
        let get = |c: &AtomicU64| c.load(Ordering::Relaxed);
        let _ = writeln!(
            out,
            "# HELP rboinc_scheduler_rpcs_total Scheduler RPCs handled, by outcome.\n\
             # TYPE rboinc_scheduler_rpcs_total counter"
        );
        for kind in RpcKind::ALL {
            let _ = writeln!(
                out,
                "rboinc_scheduler_rpcs_total{{kind=\"{}\"}} {}",
                kind.label(),
                self.rpcs(kind)
            );
        }
        let counters: [(&str, &str, &AtomicU64); 10] = [
            (
                "rboinc_results_sent_total",
                "Results sent to clients (including resends).",
                &self.results_sent,
            ),
            (
                "rboinc_results_resent_total",
                "Lost results sent again to the host that had them.",
                &self.results_resent,
            ),
            (
                "rboinc_results_reported_total",
                "Reported results accepted and written.",
                &self.results_reported,
            ),
            (
                "rboinc_hosts_created_total",
                "Host records created on first contact.",
                &self.hosts_created,
            ),
            (
                "rboinc_uploads_ok_total",
                "Upload requests answered with success.",
                &self.uploads_ok,
            ),
            (
                "rboinc_uploads_failed_total",
                "Upload requests answered with an error status.",
                &self.uploads_failed,
            ),
            (
                "rboinc_upload_bytes_total",
                "Bytes of output files stored.",
                &self.upload_bytes,
            ),
            (
                "rboinc_account_rpcs_total",
                "Account web RPCs (get_project_config, lookup_account, create_account).",
                &self.account_rpcs,
            ),
            (
                "rboinc_server_errors_total",
                "Requests that failed on an internal error (database, file system).",
                &self.errors,
            ),
            (
                "rboinc_claim_collisions_total",
                "Jobs another scheduler process sent first.",
                &self.claim_collisions,
            ),
        ];
        for (name, help, counter) in counters {
            let _ = writeln!(
                out,
                "# HELP {name} {help}\n# TYPE {name} counter\n{name} {}",
                get(counter)
            );
        }
        out
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn render_is_prometheus_text() {
        let m = Metrics::default();
        m.rpc(RpcKind::Work);
        m.rpc(RpcKind::Work);
        m.rpc(RpcKind::Refused);
        m.results_sent(3);
        m.upload_ok(4096);
        let text = m.render();
        assert!(text.contains("rboinc_scheduler_rpcs_total{kind=\"work\"} 2\n"));
        assert!(text.contains("rboinc_scheduler_rpcs_total{kind=\"refused\"} 1\n"));
        assert!(text.contains("rboinc_results_sent_total 3\n"));
        assert!(text.contains("rboinc_upload_bytes_total 4096\n"));
        // Every sample line belongs to a declared metric family.
        for line in text.lines().filter(|l| !l.starts_with('#')) {
            let name = line.split(['{', ' ']).next().unwrap();
            assert!(
                text.contains(&format!("# TYPE {name} counter")),
                "undeclared sample {line}"
            );
        }
    }
}
