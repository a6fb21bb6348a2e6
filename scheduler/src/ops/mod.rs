//! The operator's view of a running project: the `/ops` page and `/metrics`.
//!
//! `/ops` is one server-rendered HTML page: the `config.xml` daemons of this host and whether
//! they run, workunits and results by app and state, the progress of training series, the
//! hosts most recently heard from, and the latest error lines of the project's logs. `/metrics`
//! is the same project seen by Prometheus: this process's counters and RPC latencies
//! ([`crate::metrics`]), queue sizes, daemon liveness and build info, in the Prometheus text
//! format as `prometheus-client` writes it.
//!
//! Both sit behind HTTP basic auth against an Apache-compatible htpasswd file ([`access`]):
//! the page shows host names, IP addresses and log lines, which volunteers' privacy and the
//! project's safety keep from the public. There is no default password; without the file the
//! routes answer 503 and say how to create it. `/metrics` takes the same login by default
//! (Prometheus sends it with `basic_auth` in its scrape config); a project that scrapes from a
//! private network can open it with `<ops_metrics_public>1</ops_metrics_public>`.
//!
//! Options (each an optional `config.xml` `<config>` element):
//!
//! | element | meaning | default |
//! |---|---|---|
//! | `<ops_htpasswd>` | the password file; relative paths start at the project directory | `keys/ops.htpasswd` (what `make_project` writes) |
//! | `<ops_metrics_public>` | serve `/metrics` without a login | 0 |
//!
//! The routes are `/ops` and `/metrics` at the server's root, whatever the project's URLs
//! (so a project must not be called `ops` or `metrics`). Behind a TLS proxy, forward them
//! like the project's other paths: basic auth needs TLS on the way in.
//!
//! Map: [`access`] and [`htpasswd`] (the login), [`daemons`] (liveness from pid and lock
//! files), [`daemon_metrics`] (the daemons' counters from their metrics files), [`logs`]
//! (error lines, each log's counts), [`disagreements`] (the validator's), [`snapshot`]
//! (database figures), [`queues`] (each daemon's backlog), [`backlog`] (queue sizes cached,
//! and their trend), [`page`] (HTML), [`exposition`] (the project's gauges for Prometheus),
//! [`clock`] (times as shown).

pub mod access;
pub mod backlog;
pub mod clock;
pub mod daemon_metrics;
pub mod daemons;
pub mod disagreements;
pub mod exposition;
pub mod htpasswd;
pub mod logs;
pub mod page;
pub mod queues;
pub mod snapshot;

use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

use axum::Router;
use axum::extract::{Request, State};
use axum::http::{HeaderMap, HeaderName, HeaderValue, StatusCode, header};
use axum::middleware::{self, Next};
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use rboinc_core::config::{Config, ConfigError};
use rboinc_core::daemon::stats::DaemonStats;
use rboinc_core::db::Pool;
use rboinc_core::db::replicas::ReplicaRule;
use rboinc_core::project::ProjectDir;
use tracing::Span;

use crate::error::chain;
use crate::metrics::{self, Metrics};
use access::Gate;

/// The page's path.
pub const OPS_PATH: &str = "/ops";
/// The Prometheus endpoint's path.
pub const METRICS_PATH: &str = "/metrics";
/// `config.xml` option naming the password file.
pub const HTPASSWD_OPTION: &str = "ops_htpasswd";
/// The password file `make_project` writes, relative to the project directory.
pub const DEFAULT_HTPASSWD: &str = "keys/ops.htpasswd";
/// `config.xml` option opening `/metrics` to anyone who can reach the server.
pub const METRICS_PUBLIC_OPTION: &str = "ops_metrics_public";

/// Error lines shown on the page, at most.
pub const ERROR_LINES: usize = 50;
/// Validator disagreements shown on the page, at most.
pub const DISAGREEMENTS: usize = 20;
/// How long the page and `/metrics` wait for the database before showing it as down.
const DB_TIMEOUT: Duration = Duration::from_secs(5);

/// The ops options of `config.xml`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct OpsSettings {
    pub htpasswd: PathBuf,
    pub metrics_public: bool,
}

impl OpsSettings {
    pub fn from_config(config: &Config, project_root: &Path) -> Result<OpsSettings, ConfigError> {
        let options = config.options();
        let file = options
            .get(HTPASSWD_OPTION)
            .map(str::trim)
            .filter(|s| !s.is_empty())
            .unwrap_or(DEFAULT_HTPASSWD);
        Ok(OpsSettings {
            htpasswd: project_root.join(file),
            metrics_public: options.bool(METRICS_PUBLIC_OPTION)?.unwrap_or(false),
        })
    }

    /// The safe settings: the default file, `/metrics` behind the login.
    pub fn defaults(project_root: &Path) -> OpsSettings {
        OpsSettings {
            htpasswd: project_root.join(DEFAULT_HTPASSWD),
            metrics_public: false,
        }
    }
}

/// What the ops routes read: the project, its database, this process's counters.
#[derive(Debug, Clone)]
pub struct OpsSources {
    pub project_name: String,
    pub project: Arc<ProjectDir>,
    pub pool: Pool,
    pub metrics: Arc<Metrics>,
    /// The scheduler's replica rule (`one_result_per_host/user_per_wu`).
    pub replica_rule: ReplicaRule,
}

/// What the ops handlers share.
#[derive(Debug, Clone)]
struct Ops {
    src: OpsSources,
    gate: Arc<Gate>,
    backlog: Arc<backlog::BacklogCache>,
}

/// The logged-in user, set by the login check for the handlers.
#[derive(Debug, Clone)]
struct Operator(String);

/// The ops routes, for [`crate::server::router`] to merge. Reads the ops options from the
/// project's `config.xml`; if they are unusable it says so in the log and keeps the safe
/// defaults (the default password file, `/metrics` behind the login).
pub fn router<S>(src: OpsSources) -> Router<S> {
    let root = src.project.root();
    let settings = match Config::load(root).and_then(|c| OpsSettings::from_config(&c, root)) {
        Ok(s) => s,
        Err(e) => {
            tracing::error!(error = %chain(&e), "ops options unusable; using the defaults");
            OpsSettings::defaults(root)
        }
    };
    let realm = format!("{} operations", src.project_name);
    let gate = Arc::new(Gate::new(settings.htpasswd.clone(), root, &realm));
    let ops = Ops {
        src,
        gate,
        backlog: Arc::default(),
    };
    let mut protected = Router::new().route(OPS_PATH, get(ops_page));
    if !settings.metrics_public {
        protected = protected.route(METRICS_PATH, get(metrics));
    }
    let protected =
        protected.route_layer(middleware::from_fn_with_state(ops.clone(), require_login));
    let mut routes = Router::new().merge(protected);
    if settings.metrics_public {
        routes = routes.route(METRICS_PATH, get(metrics));
    }
    routes.with_state(ops)
}

async fn require_login(State(ops): State<Ops>, mut req: Request, next: Next) -> Response {
    match ops
        .gate
        .check(req.headers().get(header::AUTHORIZATION))
        .await
    {
        Ok(user) => {
            req.extensions_mut().insert(Operator(user));
            let mut res = next.run(req).await;
            // Nothing behind the login may be kept by a shared cache.
            res.headers_mut()
                .insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
            res
        }
        Err(refusal) => ops.gate.refusal(refusal),
    }
}

/// What the ops routes read from the project's files.
#[derive(Debug)]
struct FilesView {
    /// The daemons of this host, or why config.xml could not be read.
    daemons: Result<Vec<daemons::DaemonView>, String>,
    /// The daemons' metrics files.
    stats: Vec<DaemonStats>,
    /// The project directory's file system: bytes available to the project, and its size.
    disk: Option<(u64, u64)>,
    /// For the page only: recent error lines, each log's counts, the last disagreements.
    errors: Vec<logs::LogError>,
    log_counts: Vec<logs::LogCounts>,
    disagreements: Vec<disagreements::Disagreement>,
}

impl Default for FilesView {
    fn default() -> Self {
        FilesView {
            daemons: Ok(Vec::new()),
            stats: Vec::new(),
            disk: None,
            errors: Vec::new(),
            log_counts: Vec::new(),
            disagreements: Vec::new(),
        }
    }
}

/// The project's files as the ops routes see them (the logs read only for the page); file
/// work, done off the async threads.
async fn files_view(project: &Arc<ProjectDir>, for_page: bool) -> FilesView {
    let project = Arc::clone(project);
    let span = Span::current();
    tokio::task::spawn_blocking(move || {
        span.in_scope(|| {
            let daemons = Config::load(project.root())
                .map(|config| daemons::survey(&config, &project))
                .map_err(|e| format!("Cannot read config.xml: {e}"));
            let stats = rboinc_core::daemon::stats::read_all(&project.pid_dir());
            let disk = rustix::fs::statvfs(project.root()).ok().map(|v| {
                (
                    v.f_bavail.saturating_mul(v.f_frsize),
                    v.f_blocks.saturating_mul(v.f_frsize),
                )
            });
            let mut view = FilesView {
                daemons,
                stats,
                disk,
                ..FilesView::default()
            };
            if for_page {
                let dir = project.log_dir();
                view.errors = logs::recent_errors(&dir, ERROR_LINES);
                view.log_counts = logs::level_counts(&dir);
                view.disagreements = disagreements::recent(&dir, DISAGREEMENTS);
            }
            view
        })
    })
    .await
    .unwrap_or_else(|e| FilesView {
        daemons: Err(format!("internal error: {e}")),
        ..FilesView::default()
    })
}

/// The queue sizes, from the cache while it is fresh.
async fn queue_sizes(ops: &Ops, now: i64) -> Result<queues::QueueSizes, String> {
    if let Some(q) = ops.backlog.fresh() {
        return Ok(q);
    }
    let q = with_db("queues", queues::queues(&ops.src.pool, now)).await?;
    ops.backlog.store(&q, now);
    Ok(q)
}

/// Runs a database read with [`DB_TIMEOUT`]; failures are logged and become a short note.
async fn with_db<T>(
    what: &'static str,
    read: impl Future<Output = Result<T, sqlx::Error>>,
) -> Result<T, String> {
    match tokio::time::timeout(DB_TIMEOUT, read).await {
        Ok(Ok(v)) => Ok(v),
        Ok(Err(e)) => {
            tracing::error!(error = %chain(&e), what, "ops: database query failed");
            Err("The database query failed (the scheduler log has the details).".into())
        }
        Err(_) => {
            tracing::error!(what, "ops: the database did not answer in time");
            Err(format!(
                "The database did not answer within {} s.",
                DB_TIMEOUT.as_secs()
            ))
        }
    }
}

async fn ops_page(
    State(ops): State<Ops>,
    axum::Extension(Operator(user)): axum::Extension<Operator>,
) -> Response {
    let now = rboinc_core::clock::now_i64();
    let (files, db, queues) = tokio::join!(
        files_view(&ops.src.project, true),
        with_db(
            "snapshot",
            snapshot::snapshot(&ops.src.pool, now, ops.src.replica_rule)
        ),
        queue_sizes(&ops, now),
    );
    let backlog = queues.map(|q| ops.backlog.trends(&q, now));
    let data = page::PageData {
        project_name: ops.src.project_name.clone(),
        host: ops.src.project.host().to_string(),
        user,
        now,
        daemons: files.daemons,
        db,
        backlog,
        stats: files.stats,
        log_counts: files.log_counts,
        disagreements: files.disagreements,
        errors: files.errors,
        counters: ops.src.metrics.readings(),
        metrics_path: METRICS_PATH.to_string(),
    };
    let html = page::render(&data);
    (StatusCode::OK, html_headers(), html).into_response()
}

fn html_headers() -> HeaderMap {
    let mut h = HeaderMap::new();
    h.insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("text/html; charset=utf-8"),
    );
    // Inline styles only: no script, no outside resource, no framing.
    h.insert(
        header::CONTENT_SECURITY_POLICY,
        HeaderValue::from_static(
            "default-src 'none'; style-src 'unsafe-inline'; frame-ancestors 'none'; \
             base-uri 'none'; form-action 'none'",
        ),
    );
    h.insert(
        header::X_CONTENT_TYPE_OPTIONS,
        HeaderValue::from_static("nosniff"),
    );
    h.insert(
        header::REFERRER_POLICY,
        HeaderValue::from_static("no-referrer"),
    );
    h.insert(
        HeaderName::from_static("x-frame-options"),
        HeaderValue::from_static("DENY"),
    );
    h
}

async fn metrics(State(ops): State<Ops>) -> Response {
    let now = rboinc_core::clock::now_i64();
    let (files, queues) = tokio::join!(files_view(&ops.src.project, false), queue_sizes(&ops, now));
    let gauges = exposition::ProjectGauges {
        queues: queues.ok(),
        daemons: files.daemons.ok(),
        daemon_stats: files.stats,
        disk: files.disk,
    };
    let mut text = ops.src.metrics.render();
    text.push_str(&exposition::render_gauges(&gauges));
    (
        StatusCode::OK,
        [(
            header::CONTENT_TYPE,
            HeaderValue::from_static(metrics::CONTENT_TYPE),
        )],
        text,
    )
        .into_response()
}
