//! The `work_generator` daemon's pass: [`top_up`] and the chains' [`advance`](crate::generations::advance)
//! run in `rboinc-core`'s daemon loop, with a
//! failed round logged by its id and the pass going on, and the database's failures handed to
//! the loop (which backs off and tries again).
//!
//! The app is looked up on the first pass rather than at start-up, so a daemon started before
//! its app exists waits with backoff instead of exiting.

use std::sync::Arc;
use std::time::{Duration, Instant};

use rboinc_core::config::Config;
use rboinc_core::daemon::{InfraError, PassOutcome, PassTally, Shutdown};
use rboinc_core::db;
use rboinc_tools::create_work::WorkCreator;

use super::top_up;

/// One `work_generator`: the app it creates work for and its cushion.
#[derive(Debug)]
pub struct WorkGenerator {
    pool: db::Pool,
    config: Arc<Config>,
    app: String,
    cushion: usize,
    creator: Option<WorkCreator>,
    chain_poll_window: Duration,
}

/// How often a pass looks at chains waiting for validation, within the chain poll window.
pub const CHAIN_POLL: Duration = Duration::from_millis(100);

impl WorkGenerator {
    pub fn new(pool: db::Pool, config: Arc<Config>, app: String, cushion: usize) -> Self {
        WorkGenerator {
            pool,
            config,
            app,
            cushion,
            creator: None,
            chain_poll_window: Duration::ZERO,
        }
    }

    /// Makes a pass that finds chains waiting for validation keep polling them every
    /// [`CHAIN_POLL`] for up to `window` (the daemon passes its sleep interval, so the pass
    /// replaces the sleep); `Duration::ZERO` (the default) polls once per pass.
    pub fn with_chain_poll(mut self, window: Duration) -> Self {
        self.chain_poll_window = window;
        self
    }

    /// Tops the cushion up once; [`PassOutcome::DidWork`] if it created workunits.
    /// One pass; the workunits created (and the rounds that failed) go into `tally`.
    ///
    /// With a chain poll window, a pass that finds chains waiting for validation watches them
    /// until the window ends or `shutdown` asks to stop, and then counts as busy, so the
    /// daemon does not sleep on top of the window.
    pub async fn pass(
        &mut self,
        tally: &PassTally,
        shutdown: Option<&Shutdown>,
    ) -> Result<PassOutcome, InfraError> {
        let app = &self.app;
        if self.creator.is_none() {
            let c = WorkCreator::new(&self.pool, self.config.clone(), app)
                .await
                .map_err(|e| InfraError::new("cannot look up the app", e))?;
            self.creator = Some(c);
        }
        let c = self.creator.as_mut().expect("set above");
        let created = top_up(&self.pool, c, self.cushion)
            .await
            .map_err(|e| InfraError::new("work generation pass", e))?;
        tally.items("workunits_created", created.workunits.len() as u64);
        tally.errors(created.failed.len() as u64);
        for f in &created.failed {
            tracing::error!(round_id = f.round_id, wu_name = %f.wu_name, app = %app, error = %f.error, "cannot create the round's workunit");
        }
        if !created.workunits.is_empty() {
            tracing::info!(app = %app, created = created.workunits.len(), "created workunits");
        }
        let mut chains = crate::generations::advance(&self.pool, c, &self.config)
            .await
            .map_err(|e| InfraError::new("chain pass", e))?;
        crate::generations::log_pass(&chains, app, tally);
        // A chain whose generation is with the hosts is watched closely for up to the chain
        // poll window, so its next generation follows within CHAIN_POLL of the validation
        // instead of after a whole sleep interval.
        let deadline = Instant::now() + self.chain_poll_window;
        let mut watched = false;
        while created.workunits.is_empty()
            && chains.created.is_empty()
            && chains.waiting > 0
            && Instant::now() + CHAIN_POLL < deadline
            && shutdown.is_none_or(|s| s.check().is_none())
        {
            watched = true;
            tokio::time::sleep(CHAIN_POLL).await;
            chains = crate::generations::advance(&self.pool, c, &self.config)
                .await
                .map_err(|e| InfraError::new("chain pass", e))?;
            crate::generations::log_pass(&chains, app, tally);
        }
        Ok(
            if created.workunits.is_empty() && chains.created.is_empty() && !watched {
                PassOutcome::Idle
            } else {
                PassOutcome::DidWork
            },
        )
    }
}
