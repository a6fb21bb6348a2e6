//! What work sending needs to know of the RPC: the host, its version choices, the caches, the
//! settings and the time.

use std::sync::{Mutex, MutexGuard};

use rand::rngs::StdRng;
use rboinc_core::config::SchedConfig;
use rboinc_core::db::{HostId, UserId};

use crate::metrics::Metrics;
use crate::sched::catalog::Catalog;
use crate::sched::coprocs::ProcType;
use crate::sched::hr::HostKind;
use crate::sched::job_cache::JobCache;
use crate::sched::project_prefs::{AppSelection, ProjectPrefs};
use crate::sched::reliability::Trust;
use crate::sched::versions::Chooser;

/// The host as work sending sees it.
#[derive(Debug, Clone, PartialEq)]
pub struct HostView {
    pub id: HostId,
    pub userid: UserId,
    /// RAM jobs may use (BOINC's `usable_ram`).
    pub usable_ram: f64,
    /// Share of the time the host computes on its CPUs and on its GPUs, 0.1..=1
    /// (BOINC's `cpu_available_frac`, `gpu_available_frac`).
    pub cpu_available_frac: f64,
    pub gpu_available_frac: f64,
}

/// Everything work sending needs about this RPC.
#[derive(Debug)]
pub struct SendContext<'a> {
    pub jobs: &'a JobCache,
    pub catalog: &'a Catalog,
    pub sched: &'a SchedConfig,
    pub metrics: &'a Metrics,
    pub host: HostView,
    /// What homogeneous redundancy looks at.
    pub kind: HostKind<'a>,
    pub prefs: &'a ProjectPrefs,
    /// The user's app selection as this RPC uses it (a lock for the job cache's filter, as
    /// the chooser's).
    pub selection: Mutex<AppSelection>,
    /// Which of the host's versions are reliable and trusted in this RPC.
    pub trust: Trust,
    /// `major*10000 + minor*100 + release` of the client.
    pub client_version: u32,
    /// The RPC's version choices (a lock only to share it with the job cache's filter; an RPC
    /// never contends for it).
    pub chooser: Mutex<Chooser<'a, StdRng>>,
    pub now: i64,
}

impl<'a> SendContext<'a> {
    pub fn chooser(&self) -> MutexGuard<'_, Chooser<'a, StdRng>> {
        self.chooser.lock().unwrap_or_else(|e| e.into_inner())
    }

    pub fn selection(&self) -> MutexGuard<'_, AppSelection> {
        self.selection.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// The share of time jobs of type `pt` can run.
    pub fn available_frac(&self, pt: ProcType) -> f64 {
        if pt == ProcType::Cpu {
            self.host.cpu_available_frac
        } else {
            self.host.gpu_available_frac
        }
    }
}
