//! The state handlers share, built once at start-up and split by concern.
//!
//! | part | concern | used by |
//! |---|---|---|
//! | `Arc<ServerSettings>` | what `config.xml` says | every route |
//! | [`Database`] (and its `Pool`) | the connection pool, and the connections scheduler RPCs keep (and the outage mark) | scheduler, account RPCs, ops |
//! | `Arc<sched::Caches>` | the job list, the app version catalog, the activity hint | scheduler, `get_project_config` |
//! | [`Keys`] | the code-signing and upload keys | scheduler, uploads |
//! | `Arc<Metrics>` | this process's counters | every route, `/metrics` |
//! | `Arc<ProjectDir>` | the project directory's layout | ops |
//!
//! Each handler takes only its parts (`State<Part>`, through axum's `FromRef`); the scheduler's
//! are gathered in [`SchedState`], the upload handler's in [`UploadState`]. The feature modules never name [`AppState`]: their routers
//! are generic over any state their parts can be taken from, so the modules do not depend on
//! each other through it.
//!
//! Nothing here is authoritative: the caches are copies of the database, and the counters are
//! per process. Any number of scheduler processes can serve one project side by side (behind a
//! load balancer); the database is the only shared state.

use std::sync::Arc;

use axum::extract::FromRef;
use rboinc_core::config::Config;
use rboinc_core::db::Pool;
use rboinc_core::db::replicas::ReplicaRule;
use rboinc_core::project::ProjectDir;

use crate::keys::{KeyError, Keys};
use crate::metrics::Metrics;
use crate::ops::OpsSources;
use crate::sched::connections::RpcConnections;
use crate::sched::{Caches, SchedState};
use crate::settings::{ServerSettings, SettingsError};
use crate::upload::UploadState;

/// Start-up failed: a setting or a key file is unusable.
#[derive(Debug, thiserror::Error)]
pub enum StateError {
    #[error(transparent)]
    Settings(#[from] SettingsError),
    #[error(transparent)]
    Keys(#[from] KeyError),
    #[error(transparent)]
    PlanClasses(#[from] rboinc_core::config::ConfigError),
}

/// The database: the pool, and the connections scheduler RPCs keep between them (from it).
#[derive(Debug, Clone)]
pub struct Database {
    pub pool: Pool,
    pub rpc_conns: Arc<RpcConnections>,
}

/// Everything handlers share (see the module docs); cheap to clone.
#[derive(Debug, Clone)]
pub struct AppState {
    pub settings: Arc<ServerSettings>,
    pub db: Database,
    pub caches: Arc<Caches>,
    pub keys: Keys,
    pub metrics: Arc<Metrics>,
    pub project: Arc<ProjectDir>,
}

impl AppState {
    /// Builds the state for a project: settings, keys, caches. `db` may be a lazy pool.
    pub fn new(config: &Config, project: &ProjectDir, db: Pool) -> Result<AppState, StateError> {
        let settings = ServerSettings::from_config(config, project)?;
        let keys = Keys::load(&settings)?;
        Ok(AppState {
            caches: Arc::new(Caches::new(&settings)?),
            settings: Arc::new(settings),
            db: Database {
                rpc_conns: Arc::new(RpcConnections::new(db.clone())),
                pool: db,
            },
            keys,
            metrics: Arc::new(Metrics::new()),
            project: Arc::new(project.clone()),
        })
    }
}

impl FromRef<AppState> for Arc<ServerSettings> {
    fn from_ref(s: &AppState) -> Self {
        Arc::clone(&s.settings)
    }
}

impl FromRef<AppState> for Pool {
    fn from_ref(s: &AppState) -> Self {
        s.db.pool.clone()
    }
}

impl FromRef<AppState> for Arc<RpcConnections> {
    fn from_ref(s: &AppState) -> Self {
        Arc::clone(&s.db.rpc_conns)
    }
}

impl FromRef<AppState> for Arc<Caches> {
    fn from_ref(s: &AppState) -> Self {
        Arc::clone(&s.caches)
    }
}

impl FromRef<AppState> for Keys {
    fn from_ref(s: &AppState) -> Self {
        s.keys.clone()
    }
}

impl FromRef<AppState> for Arc<Metrics> {
    fn from_ref(s: &AppState) -> Self {
        Arc::clone(&s.metrics)
    }
}

impl FromRef<AppState> for Arc<ProjectDir> {
    fn from_ref(s: &AppState) -> Self {
        Arc::clone(&s.project)
    }
}

impl FromRef<AppState> for SchedState {
    fn from_ref(s: &AppState) -> Self {
        SchedState {
            settings: Arc::clone(&s.settings),
            conns: Arc::clone(&s.db.rpc_conns),
            caches: Arc::clone(&s.caches),
            code_sign: Arc::clone(&s.keys.code_sign),
            metrics: Arc::clone(&s.metrics),
        }
    }
}

impl FromRef<AppState> for OpsSources {
    fn from_ref(s: &AppState) -> Self {
        OpsSources {
            project_name: s.settings.project_name.clone(),
            project: Arc::clone(&s.project),
            pool: s.db.pool.clone(),
            metrics: Arc::clone(&s.metrics),
            replica_rule: ReplicaRule::of(&s.settings.sched),
        }
    }
}

impl FromRef<AppState> for UploadState {
    fn from_ref(s: &AppState) -> Self {
        UploadState {
            settings: Arc::clone(&s.settings),
            metrics: Arc::clone(&s.metrics),
            upload_key: s.keys.upload.clone(),
        }
    }
}
