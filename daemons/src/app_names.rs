//! App names by id, for the `app` field of the daemons' log lines.
//!
//! Rows carry an `appid`; an operator reads names. The app table is tiny and almost never
//! changes, so the names are read once and read again only when a row names an app not seen
//! yet (a new app added while the daemon runs). A lookup then costs a hash probe.

use std::collections::HashMap;
use std::sync::{Arc, RwLock};

use rboinc_core::db::AppId;
use sqlx::mysql::MySqlConnection;

/// The names known so far; cheap to clone (shared).
#[derive(Debug, Clone, Default)]
pub struct AppNames(Arc<RwLock<Arc<HashMap<AppId, String>>>>);

impl AppNames {
    /// The names of every app in `ids`, reading the app table again if one is unknown.
    /// An app missing from the table (deleted) is named by the empty string.
    pub async fn covering(
        &self,
        conn: &mut MySqlConnection,
        ids: impl IntoIterator<Item = AppId>,
    ) -> Result<Arc<HashMap<AppId, String>>, sqlx::Error> {
        let known = self.snapshot();
        if ids.into_iter().all(|id| known.contains_key(&id)) {
            return Ok(known);
        }
        let rows: Vec<(AppId, String)> = sqlx::query_as("SELECT id, name FROM app")
            .fetch_all(conn)
            .await?;
        let fresh = Arc::new(rows.into_iter().collect::<HashMap<_, _>>());
        *self.0.write().unwrap_or_else(|e| e.into_inner()) = Arc::clone(&fresh);
        Ok(fresh)
    }

    fn snapshot(&self) -> Arc<HashMap<AppId, String>> {
        Arc::clone(&self.0.read().unwrap_or_else(|e| e.into_inner()))
    }
}

/// The name of `id` in `names`, or "" (for a log field).
pub fn name_of(names: &HashMap<AppId, String>, id: AppId) -> &str {
    names.get(&id).map_or("", String::as_str)
}
