//! What work sending needs to know of the RPC: the host, its versions, the caches, the
//! settings and the time.

use rboinc_core::config::SchedConfig;
use rboinc_core::db::{HostId, UserId};

use crate::metrics::Metrics;
use crate::sched::catalog::Catalog;
use crate::sched::job_cache::JobCache;
use crate::sched::versions::Versions;

/// The host as work sending sees it.
#[derive(Debug, Clone, PartialEq)]
pub struct HostView {
    pub id: HostId,
    pub userid: UserId,
    /// Peak speed of one CPU.
    pub p_fpops: f64,
    pub m_nbytes: f64,
}

/// Everything work sending needs about this RPC.
#[derive(Debug)]
pub struct SendContext<'a> {
    pub jobs: &'a JobCache,
    pub catalog: &'a Catalog,
    pub sched: &'a SchedConfig,
    pub metrics: &'a Metrics,
    pub host: HostView,
    pub versions: Versions<'a>,
    pub now: i64,
}
