//! The HTTP server: one router for every public URL of the project, request spans, graceful
//! shutdown.
//!
//! Routes come from `config.xml` (see [`crate::urls`]): the master page, the scheduler, the
//! upload handler, the download tree and the account web RPCs. Each module contributes its own
//! `router()`; [`router`] merges them and wraps them in a `tracing` span per request, which the
//! scheduler fills in with `hostid`, `userid` and `rpc_seqno` once it knows them. Bodies are
//! read by the handlers themselves with explicit limits (clients label raw XML as a form, so no
//! form or JSON extractor is involved).

use std::convert::Infallible;
use std::net::SocketAddr;
use std::time::Duration;

use axum::Router;
use axum::body::{Body, Bytes};
use axum::extract::{ConnectInfo, FromRequestParts};
use axum::http::request::Parts;
use axum::http::{Request, header};
use http_body_util::BodyExt;
use rboinc_core::daemon::Shutdown;
use tokio::net::TcpListener;
use tower_http::trace::TraceLayer;
use tracing::{Level, Span, field};

use crate::state::AppState;
use crate::{account, download, master, ops, sched, upload};

/// The client's address: the first `X-Forwarded-For` entry when behind a proxy, else the
/// peer address, else empty (in-process tests).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ClientAddr(pub String);

impl<S: Send + Sync> FromRequestParts<S> for ClientAddr {
    type Rejection = Infallible;

    async fn from_request_parts(parts: &mut Parts, _: &S) -> Result<Self, Infallible> {
        if let Some(forwarded) = parts
            .headers
            .get("x-forwarded-for")
            .and_then(|v| v.to_str().ok())
            .and_then(|v| v.split(',').next())
            .map(str::trim)
            .filter(|v| !v.is_empty())
        {
            return Ok(ClientAddr(forwarded.to_string()));
        }
        let peer = parts
            .extensions
            .get::<ConnectInfo<SocketAddr>>()
            .map(|c| c.0.ip().to_string())
            .unwrap_or_default();
        Ok(ClientAddr(peer))
    }
}

/// A request body that could not be read whole.
#[derive(Debug, thiserror::Error)]
pub enum BodyError {
    #[error("request too large (over {limit} bytes)")]
    TooLarge { limit: usize },
    #[error("request body interrupted: {0}")]
    Read(String),
}

/// Reads a whole body, refusing more than `limit` bytes (by `Content-Length` at once, or
/// while reading).
pub async fn read_body(body: Body, limit: usize) -> Result<Bytes, BodyError> {
    match axum::body::to_bytes(body, limit).await {
        Ok(bytes) => Ok(bytes),
        Err(e) => {
            let too_large = std::error::Error::source(&e)
                .is_some_and(|s| s.is::<http_body_util::LengthLimitError>());
            if too_large {
                Err(BodyError::TooLarge { limit })
            } else {
                Err(BodyError::Read(e.to_string()))
            }
        }
    }
}

/// Reads the next chunk of a streamed body (`None` at the end).
pub async fn next_chunk(body: &mut Body) -> Option<Result<Bytes, BodyError>> {
    loop {
        match body.frame().await? {
            Ok(frame) => {
                if let Ok(data) = frame.into_data() {
                    return Some(Ok(data));
                }
            }
            Err(e) => return Some(Err(BodyError::Read(e.to_string()))),
        }
    }
}

/// Every public route of the project, with a span per request.
pub fn router(state: AppState) -> Router {
    let urls = &state.settings.urls;
    let app = Router::new()
        .merge(master::router(urls))
        .merge(sched::router(&urls.scheduler_path))
        .merge(upload::router(&urls.upload_path))
        .merge(account::router(urls))
        .merge(download::router(&state.settings))
        .merge(ops::router(&state));
    app.layer(
        TraceLayer::new_for_http()
            .make_span_with(|req: &Request<Body>| {
                tracing::span!(
                    Level::INFO,
                    "request",
                    method = %req.method(),
                    path = %req.uri().path(),
                    hostid = field::Empty,
                    userid = field::Empty,
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
