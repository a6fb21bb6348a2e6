//! A complete daemon on the shared runtime, small enough to read in one go.
//!
//! Its "work items" are files `<id>.job` in a queue directory; handling one
//! takes `--item-ms` milliseconds and renames it to `<id>.done`. With
//! `--check-db` every pass first runs `SELECT 1` on the project database,
//! so an unreachable database shows the runtime's backoff. The integration
//! tests (`core/tests/daemon_process.rs`) run this binary with real signals,
//! a real stop trigger file and a real (or closed) database port.
//!
//! ```text
//! cargo run -p rboinc-core --example demo_daemon -- --project-dir P -d 4 --queue Q
//! ```

use std::path::{Path, PathBuf};
use std::process::ExitCode;
use std::time::Duration;

use clap::Parser;
use rboinc_core::daemon::{
    self, Backoff, CommonDaemonArgs, DaemonRuntime, InfraError, PassOutcome,
};
use rboinc_core::db::pool::connect_options;
use sqlx::Connection;
use sqlx::mysql::{MySqlConnectOptions, MySqlConnection};

/// Renames `<id>.job` files to `<id>.done`, one at a time (a demo daemon).
#[derive(Debug, Parser)]
#[command(name = "demo_daemon", version)]
struct Cli {
    #[command(flatten)]
    common: CommonDaemonArgs,
    /// Directory of `<id>.job` files [default: <project>/demo_queue].
    #[arg(long = "queue", value_name = "DIR")]
    queue: Option<PathBuf>,
    /// Time one item takes, in milliseconds.
    #[arg(long = "item_ms", alias = "item-ms", default_value_t = 0)]
    item_ms: u64,
    /// Run `SELECT 1` on the project database at the start of every pass.
    #[arg(long = "check_db", alias = "check-db")]
    check_db: bool,
    /// First retry delay after a failed pass, in milliseconds.
    #[arg(long = "backoff_ms", alias = "backoff-ms", default_value_t = 1000)]
    backoff_ms: u64,
    /// Longest retry delay, in milliseconds.
    #[arg(
        long = "backoff_max_ms",
        alias = "backoff-max-ms",
        default_value_t = 60_000
    )]
    backoff_max_ms: u64,
}

/// Checks the database with a fresh connection. (A pool would report only
/// "pool timed out"; a direct connection shows the cause, such as
/// "Connection refused", which is what this demo wants to log.)
async fn check_database(options: &MySqlConnectOptions) -> Result<(), InfraError> {
    let mut conn = MySqlConnection::connect_with(options)
        .await
        .map_err(|e| InfraError::new("database check", e))?;
    sqlx::query("SELECT 1")
        .execute(&mut conn)
        .await
        .map_err(|e| InfraError::new("database check", e))?;
    conn.close()
        .await
        .map_err(|e| InfraError::new("database check", e))
}

/// The ids of `<id>.job` files in `queue`, in ascending order.
fn queued_ids(queue: &Path) -> std::io::Result<Vec<u64>> {
    let mut ids = Vec::new();
    for entry in std::fs::read_dir(queue)? {
        let name = entry?.file_name();
        let name = name.to_string_lossy();
        if let Some(id) = name.strip_suffix(".job").and_then(|s| s.parse().ok()) {
            ids.push(id);
        }
    }
    ids.sort_unstable();
    Ok(ids)
}

#[tokio::main]
async fn main() -> ExitCode {
    let cli: Cli = daemon::parse_args();
    daemon::exit("demo_daemon", run(cli).await)
}

async fn run(cli: Cli) -> anyhow::Result<()> {
    let rt = DaemonRuntime::start("demo_daemon", &cli.common)
        .await?
        .with_backoff(Backoff::new(
            Duration::from_millis(cli.backoff_ms),
            Duration::from_millis(cli.backoff_max_ms),
        ));
    let queue = cli
        .queue
        .clone()
        .unwrap_or_else(|| rt.project().root().join("demo_queue"));
    let db = cli
        .check_db
        .then(|| connect_options(rt.config().db_settings()));
    let item_time = Duration::from_millis(cli.item_ms);

    rt.run(async |rt| {
        if let Some(options) = &db {
            check_database(options).await?;
        }
        let ids = queued_ids(&queue).map_err(|e| InfraError::new("reading the queue", e))?;
        let mut handled = 0;
        for id in ids.into_iter().filter(|&id| rt.modulo().contains(id)) {
            if rt.should_stop() {
                break;
            }
            tracing::info!(item_id = id, "item started");
            tokio::time::sleep(item_time).await;
            let job = queue.join(format!("{id}.job"));
            if let Err(e) = std::fs::rename(&job, queue.join(format!("{id}.done"))) {
                // A per-item error: log it and go on with the next item.
                tracing::error!(item_id = id, error = %e, "cannot finish item");
                continue;
            }
            tracing::info!(item_id = id, "item finished");
            handled += 1;
        }
        Ok(if handled > 0 {
            PassOutcome::DidWork
        } else {
            PassOutcome::Idle
        })
    })
    .await?;
    Ok(())
}
