//! The loop every daemon shares: flags, passes, sleeping, backoff, stopping.
//!
//! A BOINC daemon (transitioner, validator, assimilator, file deleter, …)
//! repeats one *pass* over the rows that need it: when a pass did
//! something it runs the next one at once; when it found nothing it sleeps
//! `--sleep_interval` seconds. This module owns everything around the pass,
//! so each daemon's code is only its pass:
//!
//! - [`CommonDaemonArgs`]: the C++ daemons' flags in both spellings
//!   (`-d 3`, `--debug_level 3`, `-app x`, `--one_pass`, `--mod N I`, …),
//!   for a daemon's clap `Cli` to flatten; [`parse_args`] accepts
//!   single-dash long flags as BOINC does.
//! - [`DaemonRuntime`]: start-up (logging, project, `config.xml`, signal
//!   handlers) and [`DaemonRuntime::run`], the loop.
//! - [`Shutdown`]: SIGTERM, SIGINT, SIGHUP and the `stop_daemons` trigger
//!   file end the daemon after the current item, with exit status 0.
//! - An infrastructure failure (database unreachable) ends the pass with
//!   [`InfraError`]; the loop logs it, backs off (1 s doubling to 60 s) and
//!   retries, so a daemon never crash-loops while the database restarts.
//! - [`ModSlice`]: `--mod N I` as an SQL predicate and a Rust check.
//! - [`stats`]: what the daemon did (passes, items by outcome, errors, pass durations), written
//!   to `pid_<host>/<instance>.metrics.json` for the scheduler's `/metrics`; a pass counts its
//!   items with [`DaemonRuntime::tally`].
//! - [`exit`]: the end of every daemon's `main`: the run's result as an exit status, the
//!   error chain logged and printed.
//!
//! # Writing a daemon
//!
//! A daemon's `main.rs` (here, a made-up one that marks workunits):
//!
//! ```no_run
//! use std::process::ExitCode;
//!
//! use clap::Parser;
//! use rboinc_core::daemon::{self, CommonDaemonArgs, DaemonRuntime, InfraError, PassOutcome};
//!
//! /// Marks workunits that need it (example).
//! #[derive(Debug, Parser)]
//! #[command(name = "marker", version)] // name: what --version prints
//! struct Cli {
//!     #[command(flatten)]
//!     common: CommonDaemonArgs,
//!     /// Rows to read per query.
//!     #[arg(long = "batch", default_value_t = 100)]
//!     batch: u32,
//! }
//!
//! #[tokio::main]
//! async fn main() -> ExitCode {
//!     let cli: Cli = daemon::parse_args();
//!     daemon::exit("marker", run(cli).await) // 0, or 1 with the error chain logged
//! }
//!
//! async fn run(cli: Cli) -> anyhow::Result<()> {
//!     use anyhow::Context;
//!     let rt = DaemonRuntime::start("marker", &cli.common).await.context("starting")?;
//!     // Build the pool lazily: it connects on first use, so a database
//!     // that is down at start-up is just a failed pass, retried.
//!     // let pool = rboinc_core::db::connect_lazy(rt.config().db_settings());
//!     rt.run(async |rt| {
//!         let predicate = rt.modulo().sql_predicate("id"); // "id % 2 = 0" or "TRUE"
//!         let ids: Vec<u64> = fetch_due(&predicate, cli.batch).await?; // `?`: InfraError
//!         for id in &ids {
//!             if rt.should_stop() {
//!                 break; // finish nothing half-way: the stop is seen between items
//!             }
//!             if let Err(e) = handle(*id).await {
//!                 tracing::error!(wu_id = id, error = %e, "cannot handle workunit");
//!             }
//!         }
//!         Ok(if ids.is_empty() { PassOutcome::Idle } else { PassOutcome::DidWork })
//!     })
//!     .await
//!     .context("running")?;
//!     Ok(())
//! }
//! # async fn fetch_due(_p: &str, _n: u32) -> Result<Vec<u64>, std::io::Error> { Ok(vec![]) }
//! # async fn handle(_id: u64) -> Result<(), std::io::Error> { Ok(()) }
//! ```
//!
//! # Servers
//!
//! A server (the scheduler) has no passes but shares the start-up and the
//! stop rules: take [`DaemonRuntime::start`] for logging, project, config
//! and signals, and hand its [`Shutdown`] to the server's graceful shutdown
//! (core does not depend on axum, so this is not compiled here):
//!
//! ```ignore
//! let rt = DaemonRuntime::start("scheduler", &cli.common).await?;
//! let shutdown = rt.shutdown().clone();
//! axum::serve(listener, router)
//!     .with_graceful_shutdown(async move {
//!         let reason = shutdown.wait().await; // signal or stop_daemons
//!         tracing::info!(%reason, "stopping");
//!     })
//!     .await?;
//! ```
//!
//! `core/examples/demo_daemon.rs` is a complete, runnable daemon on this
//! runtime; the integration tests drive it with real signals and a real
//! (or deliberately unreachable) database.

mod args;
mod backoff;
mod error;
mod exit;
mod modulo;
mod runtime;
mod shutdown;
pub mod stats;

pub use args::{CommonDaemonArgs, normalize_args, parse_args, try_parse_args_from};
pub use backoff::Backoff;
pub use error::{BoxError, DaemonError, InfraError};
pub use exit::exit;
pub use modulo::{ModError, ModSlice};
pub use runtime::{DaemonRuntime, PassOutcome, Stopped};
pub use shutdown::{Shutdown, StopReason, StopSignal};
pub use stats::PassTally;
