//! The state every handler shares, built once at start-up.
//!
//! Nothing here is authoritative: the job list and the app version catalog are caches of the
//! database, and the counters are per process. Any number of scheduler processes can serve one
//! project side by side (behind a load balancer); the database is the only shared state.

use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use axum::extract::FromRef;
use rboinc_core::config::Config;
use rboinc_core::crypt::{CodeSignKeys, CryptError, PublicKey};
use rboinc_core::db::Pool;
use rboinc_core::project::ProjectDir;
use rboinc_core::state::ServerState;
use sqlx::mysql::MySqlConnection;

use crate::metrics::Metrics;
use crate::sched::catalog::{self, CatalogCache};
use crate::sched::connections::RpcConnections;
use crate::sched::jobs::JobCache;
use crate::settings::{ServerSettings, SettingsError};

/// Start-up failed: a setting or a key file is unusable.
#[derive(Debug, thiserror::Error)]
pub enum StateError {
    #[error(transparent)]
    Settings(#[from] SettingsError),
    #[error("cannot load the code-signing key (clients refuse unsigned apps): {0}")]
    CodeSign(#[source] CryptError),
    #[error(
        "cannot load the upload public key, needed to check upload authorizations \
         (set <ignore_upload_certificates> to accept unsigned uploads): {0}"
    )]
    UploadKey(#[source] CryptError),
}

/// Whether the project has work in flight, looked up at most every two seconds.
#[derive(Debug, Default)]
pub struct Activity {
    checked: Mutex<Option<(Instant, bool)>>,
}

const ACTIVITY_TTL: Duration = Duration::from_secs(2);

impl Activity {
    /// True if any result is unsent or in progress. A database error counts as "no".
    /// Takes the caller's connection: a request never holds one connection while waiting for
    /// another (a full pool would deadlock).
    pub async fn busy(&self, conn: &mut MySqlConnection) -> bool {
        if let Some((at, busy)) = *self.checked.lock().unwrap_or_else(|e| e.into_inner())
            && at.elapsed() < ACTIVITY_TTL
        {
            return busy;
        }
        let busy = sqlx::query_scalar::<_, i64>(
            "SELECT EXISTS (SELECT 1 FROM result WHERE server_state IN (?, ?))",
        )
        .bind(ServerState::Unsent)
        .bind(ServerState::InProgress)
        .fetch_one(conn)
        .await
        .map(|n| n != 0)
        .unwrap_or(false);
        *self.checked.lock().unwrap_or_else(|e| e.into_inner()) = Some((Instant::now(), busy));
        busy
    }
}

/// Shared by all handlers (`State<AppState>`); cheap to clone.
#[derive(Debug, Clone)]
pub struct AppState {
    pub settings: Arc<ServerSettings>,
    pub db: Pool,
    /// Connections of scheduler RPCs, kept between them (from `db`).
    pub rpc_conns: Arc<RpcConnections>,
    pub metrics: Arc<Metrics>,
    pub catalog: Arc<CatalogCache>,
    pub jobs: Arc<JobCache>,
    pub code_sign: Arc<CodeSignKeys>,
    /// `None` when upload certificates are ignored.
    pub upload_key: Option<Arc<PublicKey>>,
    pub activity: Arc<Activity>,
    pub project: Arc<ProjectDir>,
}

impl AppState {
    /// Builds the state for a project: settings, keys, caches. `db` may be a lazy pool.
    pub fn new(config: &Config, project: &ProjectDir, db: Pool) -> Result<AppState, StateError> {
        let settings = ServerSettings::from_config(config, project)?;
        let code_sign = CodeSignKeys::load(&settings.key_dir).map_err(StateError::CodeSign)?;
        let upload_key = if settings.sched.ignore_upload_certificates {
            None
        } else {
            let path = settings.key_dir.join("upload_public");
            Some(Arc::new(
                PublicKey::read_file(&path).map_err(StateError::UploadKey)?,
            ))
        };
        Ok(AppState {
            catalog: Arc::new(CatalogCache::new(
                settings.reread_db_path.clone(),
                catalog::REFRESH,
            )),
            jobs: Arc::new(JobCache::new(settings.sched.shmem_work_items as usize)),
            settings: Arc::new(settings),
            rpc_conns: Arc::new(RpcConnections::new(db.clone())),
            db,
            metrics: Arc::new(Metrics::default()),
            code_sign: Arc::new(code_sign),
            upload_key,
            activity: Arc::new(Activity::default()),
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
        s.db.clone()
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
