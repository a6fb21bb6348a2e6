//! The scheduler RPC: one POST per client visit, answered with a `<scheduler_reply>`.
//!
//! [`handle`] does what concerns the request as a whole: `stop_sched` present → "project down"
//! with a delay and no database access; the body read within its limit and parsed (raw body:
//! clients label it a form) — errors become a `<message>`; clients too old refused; a deadlock
//! with another writer retried once; a database failure answered "project down" (with the
//! short `<db_outage_delay>` when the database is unreachable: [`db_outage`]). The RPC
//! itself is [`rpc::process`], a short sequence of named steps, one module each, in BOINC's
//! order (the C++ `process_request`):
//!
//! | step | module |
//! |---|---|
//! | authenticate; find or create the host record | [`auth`] |
//! | the account part of the reply | [`account_info`] |
//! | the platforms whose versions the host can run | [`versions`] (over the [`catalog`]) |
//! | update the host record | [`host`] |
//! | handle reported results | [`report`] |
//! | resend lost results | [`resend`] |
//! | tell the client which tasks to abort (`send_result_abort`) | [`abort`] |
//! | send work: how much per processor type, which jobs with which version ([`versions`]), their XML | [`send`] (from the [`job_cache`], by [`claim`]) |
//! | when to come back; write the reply | [`next_rpc`], [`reply`] |
//! | the RPC's one INFO line | [`rpc_log`] |
//!
//! The steps run on one database connection ([`connections`], kept for the next RPC if this one
//! got through), and everything they write after authentication is one transaction (an RPC
//! that only updates its host row does so in one statement).
//!
//! Tracing: the request's span (see [`crate::server`]) gets `host_id` and `user_id` once
//! authentication has established them. Each step has a span of its own, and each job sent or
//! resent and each report written one with its `result_id` and `wu_id` (and `app`), all at
//! DEBUG level (`-d 4`): at the default INFO level they are never built, so they cost an RPC
//! nothing. At the default level an RPC leaves exactly one INFO line, written by [`rpc_log`]
//! when the reply is ready; the steps' own lines are DEBUG, except WARN and ERROR lines
//! (something an operator must look at), which carry their ids as fields.
//!
//! Every failure is a well-formed reply: clients log its message and back off by its
//! `request_delay`; an HTTP error would only make them retry blindly.
//!
//! Also here: [`shared`] (what the RPC takes from the server's state), [`request`] and
//! [`request_bytes`] (a stray non-UTF-8 byte read as BOINC reads it, not refused),
//! [`coprocs`] and [`elements`] (reading the request, its GPUs and their work requests),
//! [`project_prefs`] (the user's beta, app and processor-type choices), [`reliability`]
//! (adaptive replication and reliable hosts), [`hr`] (homogeneous
//! redundancy host classes), [`job`] and [`rows`] (what the job queries read). Plan classes —
//! which builds a host can run, and how — are [`crate::plan_class`].

pub mod abort;
pub mod account_info;
pub mod app_shares;
pub mod auth;
pub mod catalog;
pub mod claim;
pub mod connections;
pub mod coprocs;
pub mod db_outage;
pub mod elements;
pub mod global_prefs;
pub mod host;
pub mod hr;
pub mod job;
pub mod job_cache;
pub mod next_rpc;
pub mod perf;
pub mod project_prefs;
pub mod quota;
pub mod reliability;
pub mod reply;
pub mod report;
pub mod request;
pub mod request_bytes;
pub mod resend;
pub mod rows;
pub mod rpc;
pub mod rpc_log;
pub mod send;
pub mod shared;
pub mod versions;

use std::time::Instant;

use axum::Router;
use axum::body::Body;
use axum::extract::{FromRef, State};
use axum::http::{HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum::routing::post;
use rboinc_core::clock;
use rboinc_core::db::is_retryable;
use tracing::Span;

use crate::body::{BodyError, ClientAddr, read_body};
use crate::error::chain;
use crate::metrics::RpcKind;
use reply::{DELAY_UNSUPPORTED, Priority, SchedReply};
use request::SchedRequest;
use rpc::Rpc;
use rpc_log::RpcLog;
pub use shared::{Caches, SchedState};

/// Delay asked of a client whose request was too large to read.
const DELAY_TOO_LARGE: f64 = 3600.0;

/// The scheduler endpoint, at the path of the scheduler URL.
pub fn router<S>(path: &str) -> Router<S>
where
    S: Clone + Send + Sync + 'static,
    SchedState: FromRef<S>,
{
    Router::new().route(path, post(rpc).get(rpc))
}

async fn rpc(State(state): State<SchedState>, addr: ClientAddr, body: Body) -> Response {
    let text = handle(&state, &addr.0, body).await;
    let mut response = (StatusCode::OK, text).into_response();
    response
        .headers_mut()
        .insert(header::CONTENT_TYPE, HeaderValue::from_static("text/xml"));
    response
}

/// Handles one RPC and returns the reply text. Counts it by kind, with its latency, and logs
/// its one INFO line ([`rpc_log`]).
pub async fn handle(state: &SchedState, client_addr: &str, body: Body) -> String {
    let started = Instant::now();
    let mut log = RpcLog::default();
    let (reply, kind) = answer(state, client_addr, body, &mut log).await;
    let settings = &state.settings;
    let text = reply.render(
        &settings.project_name,
        &settings.urls.master_url,
        settings.sched.min_sendwork_interval.as_secs_f64(),
    );
    let took = started.elapsed();
    state.metrics.rpc(kind, took);
    rpc_log::emit(&log, &reply, kind, took);
    text
}

/// The request-level checks of the module docs, then [`rpc::process`].
async fn answer(
    state: &SchedState,
    client_addr: &str,
    body: Body,
    log: &mut RpcLog,
) -> (SchedReply, RpcKind) {
    let settings = &state.settings;
    if settings.sched_stopped() {
        let reply = SchedReply::project_down(
            "Project is temporarily shut down for maintenance",
            settings.sched.maintenance_delay.as_secs_f64(),
        );
        return (reply, RpcKind::ProjectDown);
    }
    let req = match read_request(body, settings.max_request_bytes, settings.http_idle_timeout).await
    {
        Ok(req) => req,
        Err(refusal) => return (refusal, RpcKind::Refused),
    };
    log.client_version = Some((
        req.core_client_major_version,
        req.core_client_minor_version,
        req.core_client_release,
    ));
    log.platform = req.platform_name.clone();
    // The host and user ids go into the span once authentication has established them.
    let span = Span::current();
    span.record("rpc_seqno", req.rpc_seqno);
    let min = settings.sched.min_core_client_version;
    if min != 0 && req.core_client_version() < min {
        let reply = SchedReply::refusal(
            format!(
                "Your BOINC client is too old ({}.{}.{}). Please install the current version.",
                req.core_client_major_version,
                req.core_client_minor_version,
                req.core_client_release
            ),
            Priority::Notice,
            DELAY_UNSUPPORTED,
        );
        return (reply, RpcKind::Refused);
    }
    let rpc = Rpc {
        state,
        req: &req,
        client_addr,
        now: clock::now_i64(),
        span: &span,
    };
    // A deadlock with another writer (the transitioner, another scheduler) is retried once;
    // InnoDB rolled the victim's statement back.
    let mut attempt = 0;
    loop {
        attempt += 1;
        match rpc::process(&rpc, log).await {
            Ok(done) => {
                state.conns.outage().mark_up();
                return done;
            }
            Err(e) if attempt == 1 && is_retryable(&e) => {
                tracing::debug!(error = %e, "transaction conflict; retrying the RPC once");
            }
            Err(e) if db_outage::is_unreachable(&e) => {
                state.conns.outage().mark_down(&e);
                tracing::debug!(error = %chain(&e), "database unreachable; project down");
                let reply = SchedReply::project_down(
                    "Server can't open database",
                    settings.db_outage_delay.as_secs_f64(),
                );
                return (reply, RpcKind::ProjectDown);
            }
            Err(e) => {
                state.metrics.error();
                tracing::error!(error = %chain(&e), "scheduler RPC failed on the database");
                let reply = SchedReply::project_down(
                    "Server can't open database",
                    settings.sched.maintenance_delay.as_secs_f64(),
                );
                return (reply, RpcKind::ProjectDown);
            }
        }
    }
}

/// Reads and parses the body; the refusal to send if it cannot be read or understood.
async fn read_request(
    body: Body,
    limit: usize,
    idle: std::time::Duration,
) -> Result<SchedRequest, SchedReply> {
    let bytes = match read_body(body, limit, idle).await {
        Ok(b) => b,
        Err(e) => {
            tracing::warn!(error = %e, "scheduler request not read");
            let delay = if matches!(e, BodyError::TooLarge { .. }) {
                DELAY_TOO_LARGE
            } else {
                0.0
            };
            return Err(SchedReply::refusal(
                format!("Error in request message: {e}"),
                Priority::Low,
                delay,
            ));
        }
    };
    SchedRequest::parse(&bytes).map_err(|e| {
        tracing::warn!(error = %e, bytes = bytes.len(), "malformed scheduler request");
        SchedReply::refusal(format!("Error in request message: {e}"), Priority::Low, 0.0)
    })
}
