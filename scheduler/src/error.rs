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
        HttpError::internal(e)
    }
}

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
            HttpError::Internal(e) => {
                tracing::error!(error = %chain(e.as_ref()), "request failed");
                (StatusCode::INTERNAL_SERVER_ERROR, "internal server error\n").into_response()
            }
        }
    }
}
