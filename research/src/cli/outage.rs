//! Waiting out a database outage: a series runs for minutes or hours, and a database restart
//! in the middle must not end `series run`, `wait` or `status` (the daemons and the scheduler
//! wait it out too). While the database cannot be reached ([`db::is_unreachable`]), these say
//! once "database unavailable, retrying" on standard error, try again every
//! [`RETRY_EVERY`], and say when it is back; any other database error still ends the command.
//!
//! The pool `series` uses waits at most [`ACQUIRE_TIMEOUT`] for a connection (the daemons'
//! 30 s would leave the user looking at a silent terminal before the first line).

use std::time::{Duration, Instant};

use rboinc_core::db;
use rboinc_tools::output;
use rboinc_tools::project::{OpenError, Project};

/// How long one attempt waits for a connection.
pub const ACQUIRE_TIMEOUT: Duration = Duration::from_secs(5);
/// Pause between attempts while the database is unavailable.
pub const RETRY_EVERY: Duration = Duration::from_secs(2);

/// Whether `e` (or an error it wraps) says the database cannot be reached.
pub fn is_unreachable(e: &anyhow::Error) -> bool {
    e.chain().any(|c| {
        c.downcast_ref::<sqlx::Error>()
            .is_some_and(db::is_unreachable)
            || c.downcast_ref::<db::ConnectError>()
                .is_some_and(|c| db::is_unreachable(&c.source))
            || matches!(c.downcast_ref::<OpenError>(), Some(OpenError::Connect(c)) if db::is_unreachable(&c.source))
    })
}

/// An outage as this command saw it: when it started, if one is under way.
#[derive(Debug, Default)]
pub struct Outage {
    since: Option<Instant>,
}

impl Outage {
    /// Notes a failed attempt; says so on the first of an outage.
    pub fn down(&mut self, e: &anyhow::Error) {
        if self.since.is_none() {
            self.since = Some(Instant::now());
            output::eprintln(format_args!(
                "series: database unavailable, retrying every {} s ({})",
                RETRY_EVERY.as_secs(),
                e.root_cause()
            ));
        }
    }

    /// Notes a successful attempt; says so if it ends an outage.
    pub fn up(&mut self) {
        if let Some(since) = self.since.take() {
            output::eprintln(format_args!(
                "series: database available again after {:.0} s",
                since.elapsed().as_secs_f64()
            ));
        }
    }

    /// Runs `attempt` until it succeeds or fails for another reason than an unreachable
    /// database.
    pub async fn retry<T>(
        &mut self,
        attempt: impl AsyncFnMut() -> anyhow::Result<T>,
    ) -> anyhow::Result<T> {
        self.retry_within(None, attempt).await
    }

    /// [`Outage::retry`], giving up (with the last error) once `patience` has passed.
    pub async fn retry_within<T>(
        &mut self,
        patience: Option<Duration>,
        mut attempt: impl AsyncFnMut() -> anyhow::Result<T>,
    ) -> anyhow::Result<T> {
        let started = Instant::now();
        loop {
            match attempt().await {
                Ok(v) => {
                    self.up();
                    return Ok(v);
                }
                Err(e) if is_unreachable(&e) && patience.is_none_or(|p| started.elapsed() < p) => {
                    self.down(&e);
                    tokio::time::sleep(RETRY_EVERY).await;
                }
                Err(e) => return Err(e),
            }
        }
    }
}

/// How long the first connection is waited for: a database restarting is back within it,
/// while one that is not running at all (or a wrong `db_host`) should get its error soon.
pub const CONNECT_PATIENCE: Duration = Duration::from_secs(60);

/// The project's database, with [`ACQUIRE_TIMEOUT`]; waits up to [`CONNECT_PATIENCE`] for it
/// while it is unavailable.
pub async fn connect(project: &Project) -> anyhow::Result<db::Pool> {
    let settings = project.config.db_settings();
    Outage::default()
        .retry_within(Some(CONNECT_PATIENCE), async || {
            let options = db::pool_options().acquire_timeout(ACQUIRE_TIMEOUT);
            db::connect_with(options, settings)
                .await
                .map_err(|e| anyhow::Error::new(OpenError::from(e)))
        })
        .await
}
