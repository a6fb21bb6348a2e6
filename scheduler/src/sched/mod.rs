//! The scheduler RPC: one POST per client visit, answered with a `<scheduler_reply>`.
//!
//! One RPC, in BOINC's order (the C++ `process_request`):
//! 1. `stop_sched` present → "project down" with a delay, no database access;
//! 2. parse the request (raw body; clients label it a form) — errors become a `<message>`;
//! 3. authenticate and find or create the host ([`auth`]);
//! 4. check the platform, handle reported results ([`report`]) and acknowledge them;
//! 5. if the client asks for work: the code-signing key if it lacks one, lost results
//!    ([`resend`]), then new work ([`send`]);
//! 6. update the host record ([`host`]) and write the reply ([`reply`]), with the
//!    `next_rpc_delay` hints that keep clients coming back while work is in flight.
//!
//! Steps 3–6 run on one database connection ([`connections`], kept for the next RPC if this one
//! got through), and everything they write after authentication is one transaction.
//!
//! Every failure is a well-formed reply: clients log its message and back off by its
//! `request_delay`; an HTTP error would only make them retry blindly.

pub mod auth;
pub mod catalog;
pub mod connections;
pub mod elements;
pub mod host;
pub mod jobs;
pub mod reply;
pub mod report;
pub mod request;
pub mod resend;
pub mod send;

use std::collections::HashSet;
use std::time::{SystemTime, UNIX_EPOCH};

use axum::Router;
use axum::body::Body;
use axum::extract::State;
use axum::http::{HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum::routing::post;
use rboinc_core::auth as account_auth;
use rboinc_core::crypt::CodeSignReply;
use sqlx::Connection;
use sqlx::mysql::MySqlConnection;
use tracing::Span;

use crate::error::chain;
use crate::metrics::RpcKind;
use crate::server::{BodyError, ClientAddr, read_body};
use crate::state::AppState;
use auth::{Account, AuthError};
use reply::{AccountInfo, DELAY_MISSING_KEY, DELAY_UNSUPPORTED, Priority, SchedReply};
use request::SchedRequest;
use send::{HostView, SendContext, Versions, WorkPlan};

/// Delay asked of a client whose request was too large to read.
const DELAY_TOO_LARGE: f64 = 3600.0;

/// The scheduler endpoint, at the path of the scheduler URL.
pub fn router(path: &str) -> Router<AppState> {
    Router::new().route(path, post(rpc).get(rpc))
}

fn now() -> i64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| d.as_secs() as i64)
}

async fn rpc(State(state): State<AppState>, addr: ClientAddr, body: Body) -> Response {
    let text = handle(&state, &addr.0, body).await;
    let mut response = (StatusCode::OK, text).into_response();
    response
        .headers_mut()
        .insert(header::CONTENT_TYPE, HeaderValue::from_static("text/xml"));
    response
}

/// Handles one RPC and returns the reply text.
pub async fn handle(state: &AppState, client_addr: &str, body: Body) -> String {
    let settings = &state.settings;
    let render = |reply: &SchedReply| {
        reply.render(
            &settings.project_name,
            &settings.urls.master_url,
            settings.sched.min_sendwork_interval.as_secs_f64(),
        )
    };
    if settings.sched_stopped() {
        state.metrics.rpc(RpcKind::ProjectDown);
        return render(&SchedReply::project_down(
            "Project is temporarily shut down for maintenance",
            settings.sched.maintenance_delay.as_secs_f64(),
        ));
    }
    let bytes = match read_body(body, settings.max_request_bytes).await {
        Ok(b) => b,
        Err(e) => {
            state.metrics.rpc(RpcKind::Refused);
            tracing::warn!(error = %e, "scheduler request not read");
            let delay = if matches!(e, BodyError::TooLarge { .. }) {
                DELAY_TOO_LARGE
            } else {
                0.0
            };
            return render(&SchedReply::refusal(
                format!("Error in request message: {e}"),
                Priority::Low,
                delay,
            ));
        }
    };
    let req = match SchedRequest::parse(&bytes) {
        Ok(r) => r,
        Err(e) => {
            state.metrics.rpc(RpcKind::Refused);
            tracing::warn!(error = %e, bytes = bytes.len(), "malformed scheduler request");
            return render(&SchedReply::refusal(
                format!("Error in request message: {e}"),
                Priority::Low,
                0.0,
            ));
        }
    };
    let span = Span::current();
    span.record("rpc_seqno", req.rpc_seqno);
    if req.hostid > 0 {
        span.record("hostid", req.hostid);
    }
    let min = settings.sched.min_core_client_version;
    if min != 0 && req.core_client_version() < min {
        state.metrics.rpc(RpcKind::Refused);
        return render(&SchedReply::refusal(
            format!(
                "Your BOINC client is too old ({}.{}.{}). Please install the current version.",
                req.core_client_major_version,
                req.core_client_minor_version,
                req.core_client_release
            ),
            Priority::Notice,
            DELAY_UNSUPPORTED,
        ));
    }
    // A deadlock with another writer (the transitioner, another scheduler) is retried once;
    // InnoDB rolled the victim's statement back.
    let mut attempt = 0;
    loop {
        attempt += 1;
        match process(state, &req, client_addr, now()).await {
            Ok((reply, kind)) => {
                state.metrics.rpc(kind);
                return render(&reply);
            }
            Err(e) if attempt == 1 && is_retryable(&e) => {
                tracing::info!(error = %e, "transaction conflict; retrying the RPC once");
            }
            Err(e) => {
                state.metrics.rpc(RpcKind::ProjectDown);
                state.metrics.error();
                tracing::error!(error = %chain(&e), "scheduler RPC failed on the database");
                let mut reply = SchedReply::project_down(
                    "Server can't open database",
                    settings.sched.maintenance_delay.as_secs_f64(),
                );
                reply.project_is_down = true;
                return render(&reply);
            }
        }
    }
}

/// MySQL's deadlock (1213) and lock wait timeout (1205).
fn is_retryable(e: &sqlx::Error) -> bool {
    e.as_database_error()
        .and_then(|d| d.try_downcast_ref::<sqlx::mysql::MySqlDatabaseError>())
        .is_some_and(|m| matches!(m.number(), 1213 | 1205))
}

fn account_info(account: &Account, team: Option<(i64, String)>) -> AccountInfo {
    let u = &account.user;
    let h = &account.host;
    let external_cpid = if u.cross_project_id.is_empty() {
        String::new()
    } else {
        account_auth::email_hash(&format!("{}{}", u.cross_project_id, u.email_addr))
    };
    AccountInfo {
        userid: u.id.get(),
        user_name: u.name.clone(),
        user_total_credit: u.total_credit,
        user_expavg_credit: u.expavg_credit,
        user_create_time: i64::from(u.create_time),
        email_hash: account_auth::email_hash(&u.email_addr),
        cross_project_id: u.cross_project_id.clone(),
        external_cpid,
        project_prefs: u.project_prefs.clone(),
        host_total_credit: h.total_credit,
        host_expavg_credit: h.expavg_credit,
        host_venue: h.venue.clone(),
        host_create_time: i64::from(h.create_time),
        team,
    }
}

/// Steps 3–6 of the module docs. Database errors end the RPC (the caller answers "project
/// down"); everything else is a message in the reply.
async fn process(
    state: &AppState,
    req: &SchedRequest,
    client_addr: &str,
    now: i64,
) -> Result<(SchedReply, RpcKind), sqlx::Error> {
    // One connection for the whole RPC: a request never waits for a second one (a busy pool
    // would deadlock). Kept for the next RPC only if this one got through.
    let mut conn = state.rpc_conns.acquire().await?;
    let done = process_on(state, &mut conn, req, client_addr, now).await?;
    conn.finished();
    Ok(done)
}

async fn process_on(
    state: &AppState,
    conn: &mut MySqlConnection,
    req: &SchedRequest,
    client_addr: &str,
    now: i64,
) -> Result<(SchedReply, RpcKind), sqlx::Error> {
    let settings = &state.settings;
    let sched = &settings.sched;
    let catalog = state.catalog.get(conn).await?;

    let account = match auth::authenticate(conn, req, now).await {
        Ok(a) => a,
        Err(AuthError::BadKey { had_host }) => {
            tracing::warn!(hostid = req.hostid, "bad authenticator");
            let priority = if had_host {
                Priority::Notice
            } else {
                Priority::Low
            };
            return Ok((
                SchedReply::refusal(auth::BAD_KEY_MESSAGE, priority, DELAY_MISSING_KEY),
                RpcKind::Refused,
            ));
        }
        Err(AuthError::Db(e)) => return Err(e),
    };
    let span = Span::current();
    span.record("hostid", account.host.id.get());
    span.record("userid", account.user.id.get());
    if account.host_created {
        state.metrics.host_created();
    }

    let mut reply = SchedReply::default();
    reply.dont_use_dcf = req.core_client_version() >= 70028;
    if account.host.max_results_day == -1 {
        return Ok((
            SchedReply::refusal(
                "Not accepting requests from this host",
                Priority::Low,
                86_400.0,
            ),
            RpcKind::Refused,
        ));
    }
    let team = match auth::team_name(conn, account.user.teamid).await? {
        Some(name) => Some((account.user.teamid.get(), name)),
        None => None,
    };
    auth::update_cross_project_id(conn, &account.user, &req.cross_project_id).await?;
    reply.account = Some(account_info(&account, team));
    if account.announce_hostid {
        reply.new_hostid = Some(account.host.id.get());
    }
    for note in &account.notes {
        reply.message(Priority::Low, note.clone());
    }

    let versions = if req.is_anonymous_platform() {
        Versions::Anonymous(&req.client_app_versions)
    } else {
        let platforms: Vec<_> = std::iter::once(&req.platform_name)
            .chain(&req.alt_platforms)
            .filter_map(|p| catalog.platform_id(p))
            .collect();
        if platforms.is_empty() {
            reply.message(
                Priority::Notice,
                format!(
                    "This project doesn't support computers of type {}",
                    req.platform_name
                ),
            );
            reply.set_delay(DELAY_UNSUPPORTED);
            return Ok((reply, RpcKind::Refused));
        }
        Versions::Project(platforms)
    };

    let requesting = req.requesting_work() && !sched.dont_send_jobs;
    let key_ok = match state
        .code_sign
        .reply_for(&req.code_sign_key, req.core_client_major_version)
    {
        CodeSignReply::UpToDate => true,
        send @ CodeSignReply::Send { .. } => {
            reply.code_sign = send.to_xml();
            true
        }
        CodeSignReply::UnknownKey => {
            reply.message(
                Priority::Notice,
                "The project has changed its security key.  Please remove and add this project.",
            );
            false
        }
    };
    let rpc_seqno = if account.announce_hostid {
        0
    } else {
        req.rpc_seqno
    };
    let external_ip = request::clip_bytes(client_addr, 254);

    let (mut sent, mut resent) = (0, 0);
    if req.results.is_empty() && !(requesting && key_ok) {
        // Nothing but the host's new state: one statement.
        host::update(
            &mut *conn,
            account.host.id,
            req,
            &account.user.email_addr,
            rpc_seqno,
            now,
            external_ip,
        )
        .await?;
    } else {
        // Everything else this RPC writes is one transaction: one commit (one log flush, the
        // dominant cost of a write on a durable MySQL) per RPC, and a reply that is only sent
        // if all of it — reports, claims, the host's new state — is in the database.
        let mut tx = conn.begin().await?;
        // The host row first: the validator locks hosts before results, so taking it before
        // any result row (reports, claims) keeps the two from waiting for each other in a
        // cycle.
        host::update(
            &mut *tx,
            account.host.id,
            req,
            &account.user.email_addr,
            rpc_seqno,
            now,
            external_ip,
        )
        .await?;
        let reported = report::handle(
            &mut tx,
            &catalog,
            req,
            &account,
            sched.dont_store_success_stderr,
            now,
        )
        .await?;
        reply.result_acks = reported.acks;
        if requesting && key_ok {
            let mut plan = WorkPlan::new(req, sched);
            let ctx = SendContext {
                jobs: &state.jobs,
                catalog: &catalog,
                sched,
                metrics: &state.metrics,
                host: HostView {
                    id: account.host.id,
                    userid: account.user.id,
                    p_fpops: req.host.p_fpops,
                    m_nbytes: req.host.m_nbytes,
                },
                versions,
                now,
            };
            let mut in_reply = HashSet::new();
            if let Some(held) = &req.other_results
                && (sched.resend_lost_results || reported.resend_lost)
            {
                resent =
                    resend::resend_lost(&ctx, &mut tx, held, &mut plan, &mut reply, &mut in_reply)
                        .await?;
            }
            if resent == 0 {
                let since_last = now - i64::from(account.host.rpc_time);
                let interval = sched.min_sendwork_interval.as_secs() as i64;
                if interval > 0 && !account.host_created && since_last < interval {
                    let wait = interval - since_last;
                    reply.message(
                        Priority::Low,
                        format!(
                            "Not sending work. Last request too recent. Please wait {wait} seconds."
                        ),
                    );
                    reply.set_delay(1.01 * interval as f64);
                } else {
                    let stats =
                        send::send_work(&ctx, &mut tx, &mut plan, &mut reply, &mut in_reply)
                            .await?;
                    sent = stats.sent;
                    if stats.no_jobs_available {
                        reply.message(Priority::Low, "Project has no tasks available");
                    }
                }
            }
        }
        tx.commit().await?;
        state.metrics.results_reported(reported.written as u64);
    }
    state.metrics.results_sent((sent + resent) as u64);
    state.metrics.results_resent(resent as u64);

    reply.next_rpc_delay = sched.next_rpc_delay.map(|d| d.as_secs_f64());
    if let Some(busy_delay) = settings.next_rpc_delay_busy
        && state.activity.busy(conn).await
    {
        let d = busy_delay.as_secs_f64();
        reply.next_rpc_delay = Some(reply.next_rpc_delay.map_or(d, |x| x.min(d)));
    }
    let kind = if requesting {
        RpcKind::Work
    } else if !req.results.is_empty() {
        RpcKind::Report
    } else {
        RpcKind::NoWork
    };
    tracing::debug!(
        jobs = reply.job_count(),
        acks = reply.result_acks.len(),
        "scheduler reply"
    );
    Ok((reply, kind))
}
