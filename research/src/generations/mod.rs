//! Chained series: one model trained in G generations of E epochs, each generation a workunit
//! that continues from the previous generation's validated state.
//!
//! A chained series is an ordinary series (batch, `rb_series`, one `rb_series_round` per
//! generation, all with the same seed) plus an `rb_series_chain` row (migration 0005). The
//! cushion generator ([`crate::generator`]) leaves its rounds alone; [`advance`] creates them one
//! at a time: generation 1 at once, generation g + 1 as soon as generation g's workunit has a
//! canonical result (two hosts agreed bit for bit), with that result's `state.bin` staged under
//! a content-addressed name as its `start_state.bin` input. Generation g's job is the series'
//! job with `train_epochs` = g × E, `start_from_state` (g > 1) and `export_state`, so the chain
//! computes exactly one run of G × E epochs ([`mnist_app::generation`]) and the series' report
//! compares every generation with [`local`]'s run of the same chain.
//!
//! A generation whose workunit fails for good stops the chain (`rb_series_chain.state` 1, with
//! the reason); [`resume`] recreates that generation under a new workunit name once the cause
//! is fixed. `series cancel` stops a chain like any series: the queued generations are
//! dropped and the running one cancelled.
//!
//! [`fedavg`] is the combination step of federated averaging.

pub mod advance;
pub mod fedavg;
pub mod local;
pub mod release;
pub mod resume;
pub mod templates;

use mnist_app::job::{Generation, Job};
use sqlx::mysql::MySqlExecutor;

use crate::params::SeriesParams;

pub use advance::{Advanced, advance};
pub use resume::resume;

/// Logs and counts what a `work_generator` pass did to the chains.
pub fn log_pass(a: &Advanced, app: &str, tally: &rboinc_core::daemon::PassTally) {
    tally.items("workunits_created", a.created.len() as u64);
    tally.errors(a.failed.len() as u64);
    for (series_id, generation, error) in &a.failed {
        tracing::error!(series_id, generation, app = %app, error = %error, "cannot create the chain's next generation");
    }
    for (series_id, reason) in &a.stopped {
        tracing::warn!(series_id, app = %app, reason = %reason, "chain stopped");
    }
    for (series_id, generation, wu) in &a.created {
        tracing::info!(series_id, generation, wu_id = wu.0, app = %app, "created the chain's next generation");
    }
}

/// `rb_series_chain.state`.
pub const CHAIN_RUNNING: i32 = 0;
pub const CHAIN_STOPPED: i32 = 1;

/// The logical name of a generation's final state (an output) and of the next one's start.
pub const STATE_OUTPUT: &str = mnist_app::run::STATE;

/// What makes a series a chain.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ChainOptions {
    pub generations: u32,
    pub epochs_per_generation: u64,
    /// Workunits per generation, each on its shard of the drawn rows (1: a plain chain).
    pub shards: u32,
}

impl ChainOptions {
    /// Rounds of the series: one per generation and shard.
    pub fn rounds(&self) -> usize {
        self.generations as usize * self.shards.max(1) as usize
    }
}

/// Generation (1-based) and shard (0-based) of round `round` (1-based) of a chain of `shards`.
pub fn generation_of(round: i32, shards: i32) -> (i32, i32) {
    let k = shards.max(1);
    ((round - 1) / k + 1, (round - 1) % k)
}

/// An `rb_series_chain` row.
#[derive(Debug, Clone, PartialEq, sqlx::FromRow)]
pub struct ChainRow {
    pub series_id: i64,
    pub generations: i32,
    pub epochs_per_generation: i32,
    pub shards: i32,
    pub state: i32,
    pub stop_reason: String,
    /// The newest staged state: the generation that computed it and its staged name.
    pub state_round: i32,
    pub state_file: String,
    pub state_time: i32,
}

/// The job of generation `g` (1-based) of a chain with `params` (whose `train_epochs` is the
/// epochs per generation).
pub fn job(params: &SeriesParams, seed: u64, g: u32) -> Job {
    shard_job(params, seed, g, 0, 1)
}

/// The job of shard `shard` (0-based) of `shards` in generation `g`.
pub fn shard_job(params: &SeriesParams, seed: u64, g: u32, shard: u64, shards: u64) -> Job {
    let mut job = params.job(seed);
    job.train_epochs = params.train_epochs * u64::from(g);
    job.generation = Generation {
        start_from_state: g > 1,
        export_state: true,
        shard_index: shard,
        shard_count: shards.max(1),
    };
    job
}

/// The content-addressed name of a staged state file.
pub fn state_file_name(sha256_hex: &str) -> String {
    format!("mnist_state_{sha256_hex}")
}

/// Inserts the chain row of a new series.
pub async fn insert_chain(
    ex: impl MySqlExecutor<'_>,
    series_id: i64,
    c: ChainOptions,
) -> Result<(), sqlx::Error> {
    sqlx::query(
        "INSERT INTO rb_series_chain (series_id, generations, epochs_per_generation, shards) \
         VALUES (?, ?, ?, ?)",
    )
    .bind(series_id)
    .bind(c.generations)
    .bind(c.epochs_per_generation)
    .bind(c.shards.max(1))
    .execute(ex)
    .await?;
    Ok(())
}

/// The chain row of a series, if it is a chain.
pub async fn chain(
    ex: impl MySqlExecutor<'_>,
    series_id: i64,
) -> Result<Option<ChainRow>, sqlx::Error> {
    sqlx::query_as("SELECT * FROM rb_series_chain WHERE series_id = ?")
        .bind(series_id)
        .fetch_optional(ex)
        .await
}

/// One line on a chain for `series status`.
pub fn describe(c: &ChainRow) -> String {
    let head = format!(
        "chained series: {} generations of {} epochs",
        c.generations, c.epochs_per_generation
    );
    let staged = if c.state_round > 0 {
        format!("; newest staged state from generation {}", c.state_round)
    } else {
        String::new()
    };
    if c.state == CHAIN_STOPPED {
        format!(
            "{head}{staged}; STOPPED: {} (fix it, then `series resume`)",
            c.stop_reason
        )
    } else {
        format!("{head}{staged}")
    }
}

/// Why the chain of series `series_id` stopped, if it is a stopped chain.
pub async fn stopped(
    ex: impl MySqlExecutor<'_>,
    series_id: i64,
) -> Result<Option<String>, sqlx::Error> {
    Ok(chain(ex, series_id)
        .await?
        .filter(|c| c.state == CHAIN_STOPPED)
        .map(|c| c.stop_reason))
}

/// Stops a chain with a reason (kept to the column's size).
pub async fn stop(
    ex: impl MySqlExecutor<'_>,
    series_id: i64,
    reason: &str,
) -> Result<(), sqlx::Error> {
    let reason: String = reason.chars().take(1000).collect();
    sqlx::query("UPDATE rb_series_chain SET state = ?, stop_reason = ? WHERE series_id = ?")
        .bind(CHAIN_STOPPED)
        .bind(reason)
        .bind(series_id)
        .execute(ex)
        .await?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn generation_jobs_continue_one_run() {
        let p = SeriesParams {
            train_epochs: 3,
            ..SeriesParams::default()
        };
        let first = job(&p, 7, 1);
        assert_eq!(first.train_epochs, 3);
        assert!(!first.generation.start_from_state && first.generation.export_state);
        let third = job(&p, 7, 3);
        assert_eq!(third.train_epochs, 9);
        assert!(third.generation.start_from_state);
        assert_eq!(third.seed, 7);
        third.validate().unwrap();
        let shard = shard_job(&p, 7, 2, 1, 3);
        assert_eq!(
            (shard.generation.shard_index, shard.generation.shard_count),
            (1, 3)
        );
        assert_eq!(generation_of(1, 3), (1, 0));
        assert_eq!(generation_of(5, 3), (2, 1));
        assert_eq!(generation_of(4, 1), (4, 0));
    }
}
