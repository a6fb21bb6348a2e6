//! The HTTP server: one router for every public URL of the project, request spans, graceful
//! shutdown.
//!
//! Routes come from `config.xml` (see [`crate::urls`]): the master page, the scheduler, the
//! upload handler, the download tree and the account web RPCs, plus `/ops` and `/metrics`. Each
//! module contributes its own `router()`; [`router`] merges them, gives them their state and
//! wraps them in a `tracing` span per request, which the scheduler fills in with `host_id`,
//! `user_id` and `rpc_seqno` once it knows them. [`serve`] bounds how long a connection may
//! stall.

use std::time::Duration;

use axum::Router;
use axum::body::Body;
use axum::extract::{ConnectInfo, FromRef};
use axum::http::{Request, header};
use hyper::body::Incoming;
use hyper_util::rt::{TokioExecutor, TokioIo, TokioTimer};
use hyper_util::server::conn::auto::Builder as ConnectionBuilder;
use hyper_util::server::graceful::GracefulShutdown;
use hyper_util::service::TowerToHyperService;
use rboinc_core::daemon::Shutdown;
use tokio::net::TcpListener;
use tower::ServiceExt;
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
///
/// Run it as a task of the runtime (not on the thread that started the runtime): a connection
/// accepted on a worker thread is spawned onto that worker's own queue and served there, where
/// one accepted on the main thread must wake a worker through the shared queue — a thread
/// hand-off per request on a two-core machine.
///
/// A connection that stalls is dropped after `idle`: headers not complete within it (also
/// a keep-alive connection with no new request), or a request body with no data for that long
/// (see [`crate::body`]). So a trickling or vanished client cannot hold a connection, or an
/// upload's file, for ever; its retry finds the file free.
pub async fn serve(
    listener: TcpListener,
    app: Router,
    shutdown: Shutdown,
    idle: Duration,
) -> std::io::Result<()> {
    let graceful = GracefulShutdown::new();
    // One stop watch for the whole loop: a new one per connection would look for the trigger
    // file and arm an hour-long timer on every accept.
    let stop = shutdown.wait();
    tokio::pin!(stop);
    loop {
        let (stream, peer) = tokio::select! {
            accepted = listener.accept() => match accepted {
                Ok(pair) => pair,
                Err(e) => {
                    // Out of file descriptors and the like: wait a little, keep serving.
                    tracing::debug!(error = %e, "accept failed");
                    tokio::time::sleep(Duration::from_millis(50)).await;
                    continue;
                }
            },
            reason = &mut stop => {
                tracing::info!(%reason, "stopping: finishing requests in flight");
                break;
            }
        };
        let service = app.clone().map_request(move |req: Request<Incoming>| {
            let mut req = req.map(Body::new);
            req.extensions_mut().insert(ConnectInfo(peer));
            req
        });
        let mut builder = ConnectionBuilder::new(TokioExecutor::new());
        builder
            .http1()
            .timer(TokioTimer::new())
            .header_read_timeout(idle);
        let conn = builder
            .serve_connection_with_upgrades(TokioIo::new(stream), TowerToHyperService::new(service))
            .into_owned();
        let conn = graceful.watch(conn);
        tokio::spawn(async move {
            if let Err(e) = conn.await {
                tracing::debug!(error = %e, %peer, "connection ended");
            }
        });
    }
    drop(listener);
    graceful.shutdown().await;
    Ok(())
}
