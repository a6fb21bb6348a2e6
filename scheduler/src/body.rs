//! Reading request bodies and the client's address: what the scheduler and the upload handler
//! both need from a raw request.
//!
//! Bodies are read by the handlers themselves with explicit limits (clients label raw XML as a
//! form, so no form or JSON extractor is involved): the scheduler reads a whole request up to
//! `<sched_max_request_bytes>`, the upload handler streams chunk by chunk to disk. Both give up
//! on a body that sends nothing for `<http_idle_timeout>` seconds (default 30).

use std::convert::Infallible;
use std::net::SocketAddr;
use std::time::Duration;

use axum::body::{Body, Bytes};
use axum::extract::{ConnectInfo, FromRequestParts};
use axum::http::request::Parts;
use http_body_util::BodyExt;

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
    #[error("request body stalled: no data for {} s", idle.as_secs())]
    Stalled { idle: Duration },
}

/// Reads a whole body, refusing more than `limit` bytes (by `Content-Length` at once, or
/// while reading) and a body that sends nothing for `idle`.
pub async fn read_body(body: Body, limit: usize, idle: Duration) -> Result<Bytes, BodyError> {
    if axum::body::HttpBody::size_hint(&body).lower() > limit as u64 {
        return Err(BodyError::TooLarge { limit });
    }
    let mut body = http_body_util::Limited::new(body, limit);
    let mut out = Vec::new();
    loop {
        match tokio::time::timeout(idle, body.frame()).await {
            Err(_) => return Err(BodyError::Stalled { idle }),
            Ok(None) => return Ok(Bytes::from(out)),
            Ok(Some(Ok(frame))) => {
                if let Ok(data) = frame.into_data() {
                    out.extend_from_slice(&data);
                }
            }
            Ok(Some(Err(e))) => {
                return Err(if e.is::<http_body_util::LengthLimitError>() {
                    BodyError::TooLarge { limit }
                } else {
                    BodyError::Read(e.to_string())
                });
            }
        }
    }
}

/// Reads the next chunk of a streamed body (`None` at the end).
pub async fn next_chunk(body: &mut Body, idle: Duration) -> Option<Result<Bytes, BodyError>> {
    loop {
        let frame = match tokio::time::timeout(idle, body.frame()).await {
            Ok(frame) => frame?,
            Err(_) => return Some(Err(BodyError::Stalled { idle })),
        };
        match frame {
            Ok(frame) => {
                if let Ok(data) = frame.into_data() {
                    return Some(Ok(data));
                }
            }
            Err(e) => return Some(Err(BodyError::Read(e.to_string()))),
        }
    }
}
