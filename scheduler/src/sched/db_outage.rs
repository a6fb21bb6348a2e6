//! Whether the database is down, as the scheduler's RPCs found it.
//!
//! A database that stops answering would otherwise cost every client request the pool's
//! acquire time-out (30 s) and an ERROR line each. Instead the first RPC that cannot reach the
//! database marks it down (one WARN); while it is marked, RPCs wait only briefly for a
//! connection ([`super::connections::ACQUIRE_WHILE_DOWN`]) and answer "project down" with the
//! short `<db_outage_delay>`; the first RPC that gets a connection again clears the mark (one
//! INFO with the outage's length).

use std::sync::Mutex;
use std::time::{Duration, Instant};

pub use rboinc_core::db::is_unreachable;

/// The "database down since" mark shared by a scheduler's RPCs.
#[derive(Debug, Default)]
pub struct DbOutage {
    since: Mutex<Option<Instant>>,
}

impl DbOutage {
    /// Whether the database is marked down.
    pub fn is_down(&self) -> bool {
        self.since().is_some()
    }

    /// How long it has been marked down, if it is.
    pub fn down_for(&self) -> Option<Duration> {
        self.since().map(|t| t.elapsed())
    }

    fn since(&self) -> Option<Instant> {
        *self.since.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// Marks the database down after `e`; logs the outage's start once.
    pub fn mark_down(&self, e: &sqlx::Error) {
        let mut since = self.since.lock().unwrap_or_else(|e| e.into_inner());
        if since.is_none() {
            *since = Some(Instant::now());
            drop(since);
            tracing::warn!(
                error = %e,
                "database unreachable; clients are told the project is down until it is back"
            );
        }
    }

    /// Clears the mark after a connection was obtained; logs the outage's end once.
    pub fn mark_up(&self) {
        let mut since = self.since.lock().unwrap_or_else(|e| e.into_inner());
        if let Some(start) = since.take() {
            drop(since);
            tracing::info!(
                down_secs = start.elapsed().as_secs_f64(),
                "database reachable again; serving clients"
            );
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_mark_is_set_once_and_cleared_once() {
        let outage = DbOutage::default();
        assert!(!outage.is_down());
        outage.mark_down(&sqlx::Error::PoolTimedOut);
        assert!(outage.is_down());
        outage.mark_down(&sqlx::Error::PoolTimedOut);
        assert!(outage.down_for().is_some());
        outage.mark_up();
        assert!(!outage.is_down());
    }
}
