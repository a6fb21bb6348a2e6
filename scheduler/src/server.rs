//! The HTTP server: one router for every public URL of the project, request spans, graceful
//! shutdown.
//!
//! Routes come from `config.xml` (see [`crate::urls`]): the master page, the scheduler, the
//! upload handler, the download tree and the account web RPCs, plus `/ops` and `/metrics`. Each
//! module contributes its own `router()`; [`router`] merges them, gives them their state and
//! wraps them in a `tracing` span per request, which the scheduler fills in with `host_id`,
//! `user_id` and `rpc_seqno` once it knows them.

use std::net::SocketAddr;
use std::time::Duration;

use axum::Router;
use axum::body::Body;
use axum::extract::FromRef;
use axum::http::{Request, header};
use rboinc_core::daemon::Shutdown;
use tokio::net::TcpListener;
use tower_http::trace::TraceLayer;
use tracing::{Level, Span, field};

use crate::ops::{self, OpsSources};
use crate::state::AppState;
use crate::{account, download, master, sched, upload};

/// Every public route of the project, with a span per request.
pub fn router(state: AppState) -> Router {
    let urls = &state.settings.urls;
    let app = Router::new()
        .merge(master::router(urls))
        .merge(sched::router(&urls.scheduler_path))
        .merge(upload::router(&urls.upload_path))
        .merge(account::router(urls))
        .merge(download::router(&state.settings))
        .merge(ops::router(OpsSources::from_ref(&state)));
    app.layer(
        TraceLayer::new_for_http()
            .make_span_with(|req: &Request<Body>| {
                tracing::span!(
                    Level::INFO,
                    "request",
                    method = %req.method(),
                    path = %req.uri().path(),
                    host_id = field::Empty,
                    user_id = field::Empty,
                    rpc_seqno = field::Empty,
                )
            })
            .on_request(|req: &Request<Body>, _span: &Span| {
                tracing::debug!(
                    length = req
                        .headers()
                        .get(header::CONTENT_LENGTH)
                        .and_then(|v| v.to_str().ok())
                        .unwrap_or(""),
                    "request started"
                );
            })
            .on_response(
                |res: &axum::http::Response<Body>, latency: Duration, _span: &Span| {
                    tracing::debug!(
                        status = res.status().as_u16(),
                        ms = latency.as_secs_f64() * 1000.0,
                        "request done"
                    );
                },
            )
            .on_failure(()),
    )
    .with_state(state)
}

/// Serves `app` on `listener` until `shutdown` fires, then lets requests in flight finish.
pub async fn serve(listener: TcpListener, app: Router, shutdown: Shutdown) -> std::io::Result<()> {
    axum::serve(
        listener,
        app.into_make_service_with_connect_info::<SocketAddr>(),
    )
    .with_graceful_shutdown(async move {
        let reason = shutdown.wait().await;
        tracing::info!(%reason, "stopping: finishing requests in flight");
    })
    .await
}
