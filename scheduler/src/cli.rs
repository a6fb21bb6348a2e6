//! The `scheduler` command: flags, start-up, and serving until told to stop.
//!
//! Started like BOINC's daemons, from a `config.xml` `<daemon>` line (`scheduler -d 3`): it
//! finds the project directory the same way (see [`rboinc_core::project`]), logs to stderr
//! (`bin/start` appends that to `log_<host>/scheduler.log`), and stops on SIGTERM, SIGINT,
//! SIGHUP or the `stop_daemons` trigger file, finishing the requests in flight first.

use std::net::SocketAddr;

use anyhow::Context as _;
use clap::Parser;
use rboinc_core::daemon::{CommonDaemonArgs, DaemonRuntime};
use rboinc_core::db;
use tokio::net::TcpListener;

use crate::sched::connections::PING_IF_IDLE;
use crate::server;
use crate::state::AppState;

/// Serves a BOINC project to stock clients: master page, scheduler RPC, uploads, downloads
/// and account RPCs, at the URLs in config.xml.
#[derive(Debug, Parser)]
#[command(name = "scheduler", version)]
pub struct Cli {
    #[command(flatten)]
    pub common: CommonDaemonArgs,

    /// Address to listen on [default: the master URL's port, on 127.0.0.1 if the master URL
    /// names a loopback host, else on all addresses].
    #[arg(long, env = "RBOINC_SCHEDULER_LISTEN", value_name = "ADDR:PORT")]
    pub listen: Option<SocketAddr>,
}

/// The host statement folds rows into text with `GROUP_CONCAT` (its `host_app_version`
/// statistics, the tasks the client holds): MySQL cuts such text at 1,024 bytes by default
/// (MariaDB at 1 MiB), so a session setting makes the limit 1 MiB on both.
const GROUP_CONCAT_MAX_LEN: &str = "SET SESSION group_concat_max_len = 1048576";

/// The pool the server uses: core's options (rows-matched check on every new connection) plus
/// `READ COMMITTED` for the session, so each statement of an RPC's transaction sees what other
/// schedulers committed (the job list is refilled inside it) and InnoDB takes no gap locks that
/// could hold up the transitioner. Set once per connection rather than per transaction: it
/// saves a round trip on every RPC. The same goes for [`GROUP_CONCAT_MAX_LEN`].
///
/// A connection is pinged before use only if it sat idle for a while ([`PING_IF_IDLE`]): the
/// pool's default ping on every acquisition is a round trip per request, and one that was in
/// use a moment ago is alive (a broken one fails its request and is dropped when the pool tests
/// it on release). Scheduler RPCs keep their connections apart from the pool
/// ([`crate::sched::connections`]).
pub fn scheduler_pool_options(max_connections: u32) -> sqlx::mysql::MySqlPoolOptions {
    db::pool_options()
        .max_connections(max_connections)
        .test_before_acquire(false)
        .before_acquire(|conn, meta| {
            Box::pin(async move {
                if meta.idle_for >= PING_IF_IDLE {
                    sqlx::Connection::ping(conn).await?;
                }
                Ok(true)
            })
        })
        .after_connect(|conn, _meta| {
            Box::pin(async move {
                db::found_rows::verify(conn).await.map_err(|e| match e {
                    db::found_rows::FoundRowsError::Sql(e) => e,
                    other => sqlx::Error::Configuration(Box::new(other)),
                })?;
                sqlx::Executor::execute(
                    &mut *conn,
                    "SET SESSION TRANSACTION ISOLATION LEVEL READ COMMITTED",
                )
                .await?;
                sqlx::Executor::execute(&mut *conn, GROUP_CONCAT_MAX_LEN).await?;
                Ok(())
            })
        })
}

/// Starts the server and runs it until a stop is requested.
pub async fn run(cli: Cli) -> anyhow::Result<()> {
    let rt = DaemonRuntime::start("scheduler", &cli.common)
        .await
        .context("cannot start")?;
    let config = rt.config();
    // A lazy pool: a database that is down at start-up only makes RPCs answer "project down"
    // until it is back.
    let pool = scheduler_pool_options(
        config
            .options()
            .int(crate::settings::DB_CONNECTIONS_OPTION)
            .ok()
            .flatten()
            .filter(|n| (1..=1000).contains(n))
            .unwrap_or(16) as u32,
    )
    .connect_lazy_with(db::pool::connect_options(config.db_settings()));
    let state =
        AppState::new(config, rt.project(), pool.clone()).context("cannot set up the server")?;
    let listen = match cli.listen {
        Some(addr) => addr,
        None => state
            .settings
            .urls
            .default_listen_addr()
            .context("cannot choose a listen address")?,
    };
    let listener = TcpListener::bind(listen)
        .await
        .with_context(|| format!("cannot listen on {listen}"))?;
    let urls = &state.settings.urls;
    tracing::info!(
        listen = %listener.local_addr().unwrap_or(listen),
        master = %urls.master_url,
        scheduler = %urls.scheduler_url,
        upload = %urls.upload_url,
        download = %urls.download_url,
        "serving"
    );
    let metrics = std::sync::Arc::clone(&state.metrics);
    let idle = state.settings.http_idle_timeout;
    let app = server::router(state);
    tokio::spawn(server::serve(listener, app, rt.shutdown().clone(), idle))
        .await
        .context("server task failed")?
        .context("server failed")?;
    pool.close().await;
    tracing::info!(
        results_sent = metrics.sent(),
        claims_lost_to_other_processes = metrics.collisions(),
        "stopped"
    );
    Ok(())
}
