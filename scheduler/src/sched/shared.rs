//! What the scheduler RPC takes from the server's state: the settings, its database
//! connections, the per-process caches, the code-signing key and the counters.

use std::sync::Arc;

use rboinc_core::config::ConfigError;
use rboinc_core::crypt::CodeSignKeys;

use super::catalog::{self, CatalogCache};
use super::connections::RpcConnections;
use super::job_cache::JobCache;
use super::next_rpc::Activity;
use crate::metrics::Metrics;
use crate::plan_class::PlanClassFile;
use crate::settings::ServerSettings;

/// The scheduler's copies of the database, per process: the app version catalog, the list of
/// sendable jobs, and whether work is in flight. Nothing in them is authoritative.
#[derive(Debug)]
pub struct Caches {
    pub catalog: CatalogCache,
    pub jobs: JobCache,
    pub activity: Activity,
}

impl Caches {
    /// The caches of a project; its `plan_class_spec.xml` is read here (a mistake in it is
    /// an error).
    pub fn new(settings: &ServerSettings) -> Result<Caches, ConfigError> {
        let plan_classes = PlanClassFile::open(&settings.project_dir)?;
        Ok(Caches {
            catalog: CatalogCache::new(
                settings.reread_db_path.clone(),
                catalog::REFRESH,
                plan_classes,
            ),
            jobs: JobCache::new(settings.sched.shmem_work_items as usize),
            activity: Activity::default(),
        })
    }
}

/// What the scheduler RPC takes from the server's state (`FromRef`); cheap to clone.
#[derive(Debug, Clone)]
pub struct SchedState {
    pub settings: Arc<ServerSettings>,
    /// Connections of scheduler RPCs, kept between them.
    pub conns: Arc<RpcConnections>,
    pub caches: Arc<Caches>,
    pub code_sign: Arc<CodeSignKeys>,
    pub metrics: Arc<Metrics>,
}
