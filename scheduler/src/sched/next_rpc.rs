//! When the client should come back: BOINC's `<next_rpc_delay>`, and this server's shorter
//! `<next_rpc_delay_busy>` while the project has work in flight.
//!
//! A client with nothing to report and no work to ask for would otherwise not contact the
//! project for a day, and a training series waiting on its results would stall. Whether work is
//! in flight is one indexed `EXISTS` query, looked up at most every two seconds per process.

use std::sync::Mutex;
use std::time::{Duration, Instant};

use rboinc_core::state::ServerState;
use sqlx::mysql::MySqlConnection;

use crate::settings::ServerSettings;

/// How long a looked-up answer is used.
const ACTIVITY_TTL: Duration = Duration::from_secs(2);

/// Whether the project has work in flight, looked up at most every `ACTIVITY_TTL`.
#[derive(Debug, Default)]
pub struct Activity {
    checked: Mutex<Option<(Instant, bool)>>,
}

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

/// The `<next_rpc_delay>` of a reply, in seconds, if one is sent.
pub async fn delay(
    settings: &ServerSettings,
    activity: &Activity,
    conn: &mut MySqlConnection,
) -> Option<f64> {
    let mut delay = settings.sched.next_rpc_delay.map(|d| d.as_secs_f64());
    if let Some(busy_delay) = settings.next_rpc_delay_busy
        && activity.busy(conn).await
    {
        let d = busy_delay.as_secs_f64();
        delay = Some(delay.map_or(d, |x| x.min(d)));
    }
    delay
}
