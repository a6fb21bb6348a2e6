//! Database connections kept from one scheduler RPC to the next.
//!
//! The pool (`sqlx`) pings every connection as it comes back, to catch one left broken or
//! mid-statement: a round trip per use, as costly on both sides as a short query, and the
//! commonest statement of a scheduler RPC after our own few. RPCs know better: a connection
//! whose RPC finished (committed, or never opened a transaction) is clean, and anything else —
//! a database error, a request dropped half-way — is not reused at all. So RPCs keep their own
//! small stack of idle connections, taken from the pool (which opens them with its per-connection
//! setup: rows-matched check, `READ COMMITTED`) and given back only when clean. A connection that
//! sat idle for a while is pinged before use, and one idle for long is closed.
//!
//! At most `max` connections are out at once (the pool's own limit, `sched_db_connections`):
//! a request waits for a free one, never for a second while holding one.

use std::ops::{Deref, DerefMut};
use std::sync::Mutex;
use std::time::{Duration, Instant};

use rboinc_core::db::Pool;
use sqlx::Connection;
use sqlx::mysql::MySqlConnection;
use tokio::sync::{Semaphore, SemaphorePermit};

/// An idle connection this old is pinged before it serves a request.
pub const PING_IF_IDLE: Duration = Duration::from_secs(1);
/// An idle connection this old is closed rather than used (servers drop idle sessions).
pub const CLOSE_IF_IDLE: Duration = Duration::from_secs(600);

/// The connections of scheduler RPCs. See the module docs.
#[derive(Debug)]
pub struct RpcConnections {
    pool: Pool,
    idle: Mutex<Vec<(MySqlConnection, Instant)>>,
    slots: Semaphore,
    ping_after: Duration,
}

impl RpcConnections {
    /// Connections from `pool`, at most `max` at once.
    pub fn new(pool: Pool, max: usize) -> Self {
        Self::with_ping_after(pool, max, PING_IF_IDLE)
    }

    /// Like [`RpcConnections::new`], pinging connections idle at least `ping_after`.
    pub fn with_ping_after(pool: Pool, max: usize, ping_after: Duration) -> Self {
        RpcConnections {
            pool,
            idle: Mutex::new(Vec::new()),
            slots: Semaphore::new(max.max(1)),
            ping_after,
        }
    }

    fn pop_idle(&self) -> Option<(MySqlConnection, Instant)> {
        self.idle.lock().unwrap_or_else(|e| e.into_inner()).pop()
    }

    /// A connection for one RPC: the most recently used idle one, else a new one.
    pub async fn acquire(&self) -> Result<RpcConn<'_>, sqlx::Error> {
        let permit = self
            .slots
            .acquire()
            .await
            .map_err(|_| sqlx::Error::PoolClosed)?;
        while let Some((mut conn, since)) = self.pop_idle() {
            let idle = since.elapsed();
            if idle >= CLOSE_IF_IDLE {
                tokio::spawn(async move { conn.close().await });
                continue;
            }
            if idle >= self.ping_after
                && let Err(e) = conn.ping().await
            {
                tracing::info!(error = %e, "idle database connection is gone; opening another");
                continue;
            }
            return Ok(RpcConn {
                conn: Some(conn),
                owner: self,
                clean: false,
                _slot: permit,
            });
        }
        let conn = self.pool.acquire().await?.detach();
        Ok(RpcConn {
            conn: Some(conn),
            owner: self,
            clean: false,
            _slot: permit,
        })
    }

    /// Connections waiting for the next RPC.
    pub fn idle_count(&self) -> usize {
        self.idle.lock().unwrap_or_else(|e| e.into_inner()).len()
    }
}

/// One RPC's connection. Reused by later RPCs only if [`RpcConn::finished`] was called;
/// otherwise dropped (closing it), which also rolls back anything left open.
#[derive(Debug)]
pub struct RpcConn<'a> {
    conn: Option<MySqlConnection>,
    owner: &'a RpcConnections,
    clean: bool,
    _slot: SemaphorePermit<'a>,
}

impl RpcConn<'_> {
    /// The RPC is done with the connection and left no transaction or result open.
    pub fn finished(&mut self) {
        self.clean = true;
    }
}

impl Deref for RpcConn<'_> {
    type Target = MySqlConnection;

    fn deref(&self) -> &MySqlConnection {
        self.conn.as_ref().expect("connection present until drop")
    }
}

impl DerefMut for RpcConn<'_> {
    fn deref_mut(&mut self) -> &mut MySqlConnection {
        self.conn.as_mut().expect("connection present until drop")
    }
}

impl Drop for RpcConn<'_> {
    fn drop(&mut self) {
        let Some(conn) = self.conn.take() else {
            return;
        };
        if self.clean {
            self.owner
                .idle
                .lock()
                .unwrap_or_else(|e| e.into_inner())
                .push((conn, Instant::now()));
        }
        // Else the connection is dropped: its socket closes and the server rolls back.
    }
}
