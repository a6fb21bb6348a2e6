//! Reading request bodies and the client's address: what the scheduler and the upload handler
//! both need from a raw request.
//!
//! Bodies are read by the handlers themselves with explicit limits (clients label raw XML as a
//! form, so no form or JSON extractor is involved): the scheduler reads a whole request up to
//! `<sched_max_request_bytes>`, the upload handler streams chunk by chunk to disk.

use std::convert::Infallible;
use std::net::SocketAddr;

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
