//! Database connections kept from one scheduler RPC to the next.
//!
//! The pool (`sqlx`) pings every connection as it comes back, to catch one left broken or
//! mid-statement: a round trip per use, as costly on both sides as a short query, and the
//! commonest statement of a scheduler RPC after our own few. RPCs know better: a connection
//! whose RPC finished (committed, or never opened a transaction) is clean, and anything else —
//! a database error, a request dropped half-way — is closed rather than reused. So RPCs keep a
//! small stack of the pool's connections between them, given back to it only when clean and
//! the stack is full. They stay the pool's (it opens them with its per-connection setup:
//! rows-matched check, `READ COMMITTED`), so `sched_db_connections` still bounds them all. A
//! connection that sat idle for a while is pinged before use, and one idle for long is closed.
//!
//! RPCs take turns, first come first served: an RPC waits for a turn ([`RpcConnections::share`]
//! of them, three quarters of the pool, so the other routes always find a connection) before
//! it takes a connection, and gives the turn back with the connection. Without turns, an RPC
//! that found the stack empty waited inside the pool while connections that finished went onto
//! the stack for the next RPC to arrive: under load, late arrivals overtook the waiting ones
//! again and again, which left some waiting for seconds (the swarm bench measured a p50 of
//! 37 ms and a p99 of 6.7 s) and connections idle on the stack while RPCs waited. With turns,
//! the RPC-side connections never outnumber the turns, so every finished connection goes onto
//! the stack, an RPC with a turn finds one there or the pool has room to open one, and the
//! waiting RPCs are served in order.
//!
//! They also know when the database is down ([`DbOutage`]): a failure to get a connection, or
//! an RPC that lost its connection, marks it down; while it is marked, a connection is waited
//! for at most [`ACQUIRE_WHILE_DOWN`] rather than the pool's 30 s, so clients get their
//! "project down" reply at once instead of holding a request (and a worker) for the pool's
//! time-out; the first connection obtained again clears the mark. Before the mark is set, a
//! connection the pool must open (it is below its limit, or an idle one was found dead) is
//! waited for at most [`CONNECT_WITHIN`]: the pool would otherwise retry a refused connection
//! for its whole time-out. Only waiting for a connection in use takes the pool's time-out.

use std::ops::{Deref, DerefMut};
use std::sync::Mutex;
use std::time::{Duration, Instant};

pub use super::db_outage::DbOutage;

use rboinc_core::db::Pool;
use sqlx::Connection;
use sqlx::MySql;
use sqlx::mysql::MySqlConnection;
use sqlx::pool::PoolConnection;
use tokio::sync::{Semaphore, SemaphorePermit};

/// An idle connection this old is pinged before it serves a request.
pub const PING_IF_IDLE: Duration = Duration::from_secs(1);
/// An idle connection this old is closed rather than used (servers drop idle sessions).
pub const CLOSE_IF_IDLE: Duration = Duration::from_secs(600);
/// The longest wait for a new connection while the database is known to be down.
pub const ACQUIRE_WHILE_DOWN: Duration = Duration::from_millis(500);
/// The longest wait for a connection the pool has to open (rather than wait for one in use):
/// generous for a connection, far below the pool's time-out, which it would spend retrying a
/// server that refuses connections.
pub const CONNECT_WITHIN: Duration = Duration::from_secs(3);

/// The connections of scheduler RPCs. See the module docs.
#[derive(Debug)]
pub struct RpcConnections {
    pool: Pool,
    idle: Mutex<Vec<(PoolConnection<MySql>, Instant)>>,
    /// RPCs holding a connection at once, and connections kept idle: at most this many.
    share: usize,
    /// The turns (a fair semaphore: waiters are served in order).
    turns: Semaphore,
    ping_after: Duration,
    outage: DbOutage,
}

impl RpcConnections {
    /// Connections of `pool`: RPCs hold up to three quarters of its maximum (see
    /// [`RpcConnections::share`]).
    pub fn new(pool: Pool) -> Self {
        Self::with_ping_after(pool, PING_IF_IDLE)
    }

    /// Like [`RpcConnections::new`], pinging connections idle at least `ping_after`.
    pub fn with_ping_after(pool: Pool, ping_after: Duration) -> Self {
        let max = pool.options().get_max_connections() as usize;
        let share = (max - max / 4).max(1);
        RpcConnections {
            pool,
            idle: Mutex::new(Vec::new()),
            share,
            turns: Semaphore::new(share),
            ping_after,
            outage: DbOutage::default(),
        }
    }

    /// Whether the database is known to be down, and since when.
    pub fn outage(&self) -> &DbOutage {
        &self.outage
    }

    fn pop_idle(&self) -> Option<(PoolConnection<MySql>, Instant)> {
        self.idle.lock().unwrap_or_else(|e| e.into_inner()).pop()
    }

    /// How many RPCs hold a connection at once (at most; the others wait for a turn): three
    /// quarters of the pool's maximum, at least one.
    pub fn share(&self) -> usize {
        self.share
    }

    /// A connection for one RPC, once it is this RPC's turn: the most recently used idle one,
    /// else a new one from the pool. A turn is waited for as long as the pool would wait for a
    /// connection, or [`ACQUIRE_WHILE_DOWN`] while the database is known to be down.
    pub async fn acquire(&self) -> Result<RpcConn<'_>, sqlx::Error> {
        let wait = if self.outage.is_down() {
            ACQUIRE_WHILE_DOWN
        } else {
            self.pool.options().get_acquire_timeout()
        };
        let turn = match tokio::time::timeout(wait, self.turns.acquire()).await {
            Ok(Ok(turn)) => turn,
            Ok(Err(_closed)) => return Err(sqlx::Error::PoolClosed),
            Err(_) => return Err(sqlx::Error::PoolTimedOut),
        };
        let mut lost_one = false;
        while let Some((mut conn, since)) = self.pop_idle() {
            let idle = since.elapsed();
            let alive = idle < CLOSE_IF_IDLE
                && (idle < self.ping_after || {
                    let pinged = conn.ping().await;
                    if let Err(e) = &pinged {
                        tracing::info!(error = %e, "idle database connection is gone");
                    }
                    pinged.is_ok()
                });
            if alive {
                return Ok(RpcConn {
                    conn: Some(conn),
                    owner: self,
                    clean: false,
                    _turn: turn,
                });
            }
            lost_one = true;
            conn.close_on_drop();
        }
        let conn = self.pool_connection(lost_one).await?;
        Ok(RpcConn {
            conn: Some(conn),
            owner: self,
            clean: false,
            _turn: turn,
        })
    }

    /// A connection straight from the pool for the other routes that use the database (the
    /// account web RPCs): bounded and outage-marking as [`RpcConnections::acquire`] is, so they
    /// too fail at once while the database is known to be down.
    pub async fn acquire_pooled(&self) -> Result<PoolConnection<MySql>, sqlx::Error> {
        self.pool_connection(false).await
    }

    /// A connection from the pool, waited for as the module docs say; marks the outage.
    async fn pool_connection(&self, lost_one: bool) -> Result<PoolConnection<MySql>, sqlx::Error> {
        let limit = if self.outage.is_down() {
            Some(ACQUIRE_WHILE_DOWN)
        } else if lost_one || self.pool.size() < self.pool.options().get_max_connections() {
            // A connection is to be opened, not waited for: that is quick unless the server
            // is gone (then the pool would retry for its whole time-out).
            Some(CONNECT_WITHIN)
        } else {
            None
        };
        let conn = match limit {
            Some(limit) => match tokio::time::timeout(limit, self.pool.acquire()).await {
                Ok(got) => got,
                Err(_) => Err(sqlx::Error::PoolTimedOut),
            },
            None => self.pool.acquire().await,
        };
        match conn {
            Ok(conn) => {
                self.outage.mark_up();
                Ok(conn)
            }
            Err(e) => {
                if super::db_outage::is_unreachable(&e) {
                    self.outage.mark_down(&e);
                }
                Err(e)
            }
        }
    }

    /// Connections waiting for the next RPC.
    pub fn idle_count(&self) -> usize {
        self.idle.lock().unwrap_or_else(|e| e.into_inner()).len()
    }
}

/// One RPC's connection, and its turn. Reused only if [`RpcConn::finished`] was called;
/// otherwise closed, which also rolls back anything left open.
#[derive(Debug)]
pub struct RpcConn<'a> {
    conn: Option<PoolConnection<MySql>>,
    owner: &'a RpcConnections,
    clean: bool,
    /// Given back after `drop` has put the connection on the stack (fields drop after it).
    _turn: SemaphorePermit<'a>,
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
        self.conn.as_deref().expect("connection present until drop")
    }
}

impl DerefMut for RpcConn<'_> {
    fn deref_mut(&mut self) -> &mut MySqlConnection {
        self.conn
            .as_deref_mut()
            .expect("connection present until drop")
    }
}

impl Drop for RpcConn<'_> {
    fn drop(&mut self) {
        let Some(mut conn) = self.conn.take() else {
            return;
        };
        if !self.clean {
            // Closed, not given back: the server rolls back whatever it left open.
            conn.close_on_drop();
            return;
        }
        let mut idle = self.owner.idle.lock().unwrap_or_else(|e| e.into_inner());
        if idle.len() < self.owner.share {
            idle.push((conn, Instant::now()));
        }
        // Else (not expected: RPC-side connections never outnumber the turns) it goes back to
        // the pool, which pings it, when dropped here.
    }
}
