//! The `work_generator` daemon's pass: [`top_up`] and the chains' [`advance`](crate::generations::advance)
//! run in `rboinc-core`'s daemon loop, with a
//! failed round logged by its id and the pass going on, and the database's failures handed to
//! the loop (which backs off and tries again).
//!
//! The app is looked up on the first pass rather than at start-up, so a daemon started before
//! its app exists waits with backoff instead of exiting.

use std::sync::Arc;

use rboinc_core::config::Config;
use rboinc_core::daemon::{InfraError, PassOutcome, PassTally};
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
}

impl WorkGenerator {
    pub fn new(pool: db::Pool, config: Arc<Config>, app: String, cushion: usize) -> Self {
        WorkGenerator {
            pool,
            config,
            app,
            cushion,
            creator: None,
        }
    }

    /// Tops the cushion up once; [`PassOutcome::DidWork`] if it created workunits.
    /// One pass; the workunits created (and the rounds that failed) go into `tally`.
    pub async fn pass(&mut self, tally: &PassTally) -> Result<PassOutcome, InfraError> {
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
        let chains = crate::generations::advance(&self.pool, c, &self.config)
            .await
            .map_err(|e| InfraError::new("chain pass", e))?;
        crate::generations::log_pass(&chains, app, tally);
        Ok(if created.workunits.is_empty() && chains.created.is_empty() {
            PassOutcome::Idle
        } else {
            PassOutcome::DidWork
        })
    }
}
