//! The one HTTP error type of the plain web routes (master page, downloads, account RPCs).
//!
//! Internal failures are logged in the request's span with their cause chain and answered with
//! a bare status: a volunteer's client has no use for a SQL error, and it must not learn
//! anything about the server from it. The scheduler and upload endpoints do not use this type:
//! BOINC clients expect their errors inside a well-formed `<scheduler_reply>` or
//! `<data_server_reply>`, which those modules write themselves.

use std::error::Error as StdError;
use std::fmt::Write as _;

use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};

#[derive(Debug, thiserror::Error)]
pub enum HttpError {
    #[error("not found")]
    NotFound,
    #[error("bad request: {0}")]
    BadRequest(String),
    /// The database cannot be reached (an outage): 503 with a `Retry-After`, logged at INFO
    /// (the scheduler logs the outage itself once, with its start and end).
    #[error("database unavailable: {0}")]
    Unavailable(sqlx::Error),
    /// Something on our side failed; the text is for the log only.
    #[error("internal error: {0}")]
    Internal(Box<dyn StdError + Send + Sync>),
}

impl HttpError {
    pub fn internal(e: impl Into<Box<dyn StdError + Send + Sync>>) -> Self {
        HttpError::Internal(e.into())
    }
}

impl From<sqlx::Error> for HttpError {
    fn from(e: sqlx::Error) -> Self {
        if rboinc_core::db::is_unreachable(&e) {
            HttpError::Unavailable(e)
        } else {
            HttpError::internal(e)
        }
    }
}

/// Seconds a client is asked to wait (`Retry-After`) when the database is unavailable.
pub const UNAVAILABLE_RETRY_AFTER_SECS: u32 = 60;

/// `error: cause: cause...` for logs.
pub fn chain(e: &(dyn StdError + 'static)) -> String {
    let mut text = e.to_string();
    let mut cause = e.source();
    while let Some(c) = cause {
        let _ = write!(text, ": {c}");
        cause = c.source();
    }
    text
}

impl IntoResponse for HttpError {
    fn into_response(self) -> Response {
        match self {
            HttpError::NotFound => (StatusCode::NOT_FOUND, "not found\n").into_response(),
            HttpError::BadRequest(msg) => {
                (StatusCode::BAD_REQUEST, format!("bad request: {msg}\n")).into_response()
            }
            HttpError::Unavailable(e) => {
                tracing::info!(error = %e, "request refused: database unavailable");
                let mut r = (
                    StatusCode::SERVICE_UNAVAILABLE,
                    "database unavailable; try again later\n",
                )
                    .into_response();
                r.headers_mut().insert(
                    axum::http::header::RETRY_AFTER,
                    axum::http::HeaderValue::from(UNAVAILABLE_RETRY_AFTER_SECS),
                );
                r
            }
            HttpError::Internal(e) => {
                tracing::error!(error = %chain(e.as_ref()), "request failed");
                (StatusCode::INTERNAL_SERVER_ERROR, "internal server error\n").into_response()
            }
        }
    }
}
