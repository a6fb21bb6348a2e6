//! The upload handler (BOINC's `file_upload_handler`), at the path of `upload_url`.
//!
//! Two requests (PROTOCOL.md §6): `<get_file_size>` (how much of a file the server has; the
//! client asks before uploading files of 8 KiB or more) and `<file_upload>` (a header, then the
//! bytes from `<offset>` to the end). The answer is always a `<data_server_reply>` with BOINC's
//! status codes: 0 done, 1 try again later, -1 give up (the result becomes an error). Checks, in
//! BOINC's order:
//! - a name and a `<data>` line are present;
//! - unless `<ignore_upload_certificates>`: the `<xml_signature>` over name and `max_nbytes`
//!   verifies with `keys/upload_public` (so only files the project asked for, of the size it
//!   allowed, are accepted), and `nbytes <= max_nbytes`;
//! - the name is a plain file name (no `/`, no `..`);
//! - the body is streamed to a partial file, which is renamed into the upload hierarchy once
//!   complete ([`store`]); a refused upload leaves nothing behind.
//!
//! `stop_upload` in the project directory makes every upload a "try again later", as in BOINC.
//! So does a full upload file system: a size query with less than [`MIN_FREE_SPACE`] free is
//! told "Server is out of disk space" (BOINC's rule), and an upload whose bytes do not fit, or
//! that meets `ENOSPC`, "can't write file NAME: No space left on server"; the refused upload
//! leaves no partial file.

pub mod request;
pub mod store;

use std::sync::Arc;

use axum::Router;
use axum::body::Body;
use axum::extract::{FromRef, State};
use axum::http::{HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum::routing::post;
use rboinc_core::crypt::{self, PublicKey};
use rboinc_core::xml::escape;

use crate::body::next_chunk;
use crate::metrics::Metrics;
use crate::settings::ServerSettings;
use request::{DataServerRequest, FileUpload, MAX_HEADER, data_start};
use store::{Begin, StoreError, UploadStore};

/// The trigger file that pauses uploads (BOINC's name).
pub const STOP_UPLOAD_FILE: &str = "stop_upload";

/// Below this many free bytes in the upload directory's file system, a size query is answered
/// "Server is out of disk space" so that the client does not start a transfer (BOINC's
/// `FUH_MIN_FREE_SPACE`).
pub const MIN_FREE_SPACE: u64 = 1_000_000_000;

/// BOINC's message for a write that found the disk full.
fn no_space(name: &str) -> String {
    format!("can't write file {name}: No space left on server")
}

/// What the upload handler takes from the server's state (`FromRef`); cheap to clone.
#[derive(Debug, Clone)]
pub struct UploadState {
    pub settings: Arc<ServerSettings>,
    pub metrics: Arc<Metrics>,
    /// `None` when upload certificates are ignored.
    pub upload_key: Option<Arc<PublicKey>>,
}

/// The upload endpoint, at the path of the upload URL.
pub fn router<S>(path: &str) -> Router<S>
where
    S: Clone + Send + Sync + 'static,
    UploadState: FromRef<S>,
{
    Router::new().route(path, post(upload))
}

/// BOINC's reply statuses.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Status {
    Ok,
    Transient,
    Permanent,
}

/// A `<data_server_reply>`.
#[derive(Debug, Clone, PartialEq)]
pub struct DataServerReply {
    pub status: Status,
    pub message: Option<String>,
    pub file_size: Option<u64>,
}

impl DataServerReply {
    fn ok() -> Self {
        DataServerReply {
            status: Status::Ok,
            message: None,
            file_size: None,
        }
    }

    fn error(status: Status, message: impl Into<String>) -> Self {
        DataServerReply {
            status,
            message: Some(message.into()),
            file_size: None,
        }
    }

    pub fn render(&self) -> String {
        let code = match self.status {
            Status::Ok => 0,
            Status::Transient => 1,
            Status::Permanent => -1,
        };
        let mut out = format!("<data_server_reply>\n    <status>{code}</status>\n");
        if let Some(size) = self.file_size {
            out.push_str(&format!("    <file_size>{size}</file_size>\n"));
        }
        if let Some(m) = &self.message {
            out.push_str(&format!("    <message>{}</message>\n", escape(m)));
        }
        out.push_str("</data_server_reply>\n");
        out
    }
}

async fn upload(State(state): State<UploadState>, body: Body) -> Response {
    let reply = handle(&state, body).await;
    let mut response = (StatusCode::OK, reply.render()).into_response();
    response
        .headers_mut()
        .insert(header::CONTENT_TYPE, HeaderValue::from_static("text/plain"));
    response
}

/// Handles one upload-handler request.
pub async fn handle(state: &UploadState, mut body: Body) -> DataServerReply {
    if state.settings.project_dir.join(STOP_UPLOAD_FILE).exists() {
        return DataServerReply::error(
            Status::Transient,
            "Maintenance underway: file uploads are temporarily disabled.",
        );
    }
    // Read up to the end of the header (or of a header-only request).
    let mut head = Vec::with_capacity(1024);
    let data_at = loop {
        if let Some(at) = data_start(&head) {
            break Some(at);
        }
        if head.len() > MAX_HEADER {
            state.metrics.upload_failed(0);
            return DataServerReply::error(Status::Permanent, "request header too large");
        }
        match next_chunk(&mut body, state.settings.http_idle_timeout).await {
            Some(Ok(chunk)) => head.extend_from_slice(&chunk),
            Some(Err(e)) => {
                state.metrics.upload_failed(0);
                return DataServerReply::error(Status::Transient, e.to_string());
            }
            None => break None,
        }
    };
    let header_end = data_at.unwrap_or(head.len());
    let header = String::from_utf8_lossy(&head[..header_end]).into_owned();
    let reply = match DataServerRequest::parse(&header) {
        DataServerRequest::GetFileSize { name } => get_file_size(state, &name),
        DataServerRequest::NoCommand => DataServerReply::error(Status::Transient, "no command"),
        DataServerRequest::FileUpload(up) => match data_at {
            None => DataServerReply::error(Status::Permanent, "Missing <data> tag"),
            Some(at) => {
                let first = head.split_off(at);
                let (reply, stored) = file_upload(state, up, first, &mut body).await;
                if reply.status == Status::Ok {
                    state.metrics.upload_ok(stored);
                } else {
                    state.metrics.upload_failed(stored);
                }
                return reply;
            }
        },
    };
    if reply.status != Status::Ok {
        state.metrics.upload_failed(0);
    }
    reply
}

fn store(state: &UploadState) -> UploadStore {
    UploadStore::new(state.settings.upload_dir.clone(), state.settings.fanout)
}

fn get_file_size(state: &UploadState, name: &str) -> DataServerReply {
    // As BOINC: a volume short of room is said before the client starts a transfer.
    if store::free_bytes(&state.settings.upload_dir).is_some_and(|free| free < MIN_FREE_SPACE) {
        tracing::warn!(
            file = name,
            "upload refused: the upload directory's file system is full"
        );
        return DataServerReply::error(Status::Transient, "Server is out of disk space");
    }
    match store(state).stored_size(name) {
        Ok(size) => DataServerReply {
            file_size: Some(size),
            ..DataServerReply::ok()
        },
        Err(StoreError::BadName(_)) => DataServerReply::error(Status::Permanent, "Bad filename"),
        Err(e) => {
            tracing::error!(file = name, error = %e, "get_file_size failed");
            DataServerReply::error(Status::Transient, "can't open file")
        }
    }
}

/// Reads and drops the rest of a refused upload, so the client reads our reply instead of
/// meeting a closed connection; gives up after `limit` bytes.
async fn drain(body: &mut Body, limit: u64, idle: std::time::Duration) {
    let mut seen = 0u64;
    while let Some(Ok(chunk)) = next_chunk(body, idle).await {
        seen += chunk.len() as u64;
        if seen > limit {
            break;
        }
    }
}

/// The checks of the module docs, then the data. Returns the reply and the bytes stored.
async fn file_upload(
    state: &UploadState,
    up: FileUpload,
    first: Vec<u8>,
    body: &mut Body,
) -> (DataServerReply, u64) {
    let settings = &state.settings;
    let permanent = |m: String| (DataServerReply::error(Status::Permanent, m), 0);
    if up.name.is_empty() {
        return permanent("Missing name".into());
    }
    let mut limit = settings.upload_max_bytes as f64;
    if let Some(key) = &state.upload_key {
        let Some(signature) = &up.xml_signature else {
            tracing::warn!(file = %up.name, "upload without signature refused");
            return permanent("missing signature".into());
        };
        let Some(max_text) = &up.max_nbytes else {
            return permanent("missing max_nbytes".into());
        };
        match crypt::verify_upload(key, &up.name, max_text, signature) {
            Ok(max) => limit = limit.min(max),
            Err(e) => {
                tracing::warn!(file = %up.name, error = %e, "upload with a bad signature refused");
                return permanent("invalid signature".into());
            }
        }
    }
    let Some(nbytes) = up.nbytes.filter(|n| *n >= 0.0 && n.is_finite()) else {
        return permanent("nbytes missing or negative".into());
    };
    if nbytes > limit {
        drain(body, settings.upload_max_bytes, settings.http_idle_timeout).await;
        return permanent(format!(
            "file size ({} KB) exceeds limit ({} KB)",
            (nbytes / 1024.0) as i64,
            (limit / 1024.0) as i64
        ));
    }
    let offset = up.offset.max(0.0) as u64;
    let nbytes = nbytes as u64;
    // Bytes that cannot fit are refused before any is written.
    if store::free_bytes(&settings.upload_dir)
        .is_some_and(|free| free < nbytes.saturating_sub(offset))
    {
        tracing::warn!(
            file = %up.name,
            nbytes,
            "upload refused: the upload directory's file system is full"
        );
        drain(body, settings.upload_max_bytes, settings.http_idle_timeout).await;
        return (
            DataServerReply::error(Status::Transient, no_space(&up.name)),
            0,
        );
    }
    let store = store(state);
    let mut incoming = match store.begin(&up.name, offset.min(nbytes), nbytes).await {
        Ok(Begin::AlreadyComplete) => {
            tracing::info!(file = %up.name, "upload of a file already complete; accepted");
            return (DataServerReply::ok(), 0);
        }
        Ok(Begin::Write(w)) => w,
        Err(StoreError::BadName(n)) => {
            return permanent(format!("file_upload_handler: invalid filename: {n}"));
        }
        Err(e) => {
            tracing::warn!(file = %up.name, error = %e, "upload not started");
            return (
                DataServerReply::error(
                    Status::Transient,
                    format!("can't open file {}: {e}", up.name),
                ),
                0,
            );
        }
    };
    let start = incoming.written();
    let mut chunk = first;
    loop {
        if let Err(e) = incoming.write(&chunk).await {
            let stored = incoming.written() - start;
            if e.is_disk_full() {
                tracing::warn!(
                    file = %up.name,
                    nbytes,
                    "upload refused: the upload directory's file system is full"
                );
                incoming.discard().await;
                drain(body, settings.upload_max_bytes, settings.http_idle_timeout).await;
                return (
                    DataServerReply::error(Status::Transient, no_space(&up.name)),
                    stored,
                );
            }
            tracing::error!(file = %up.name, error = %e, "upload write failed");
            return (
                DataServerReply::error(Status::Transient, e.to_string()),
                stored,
            );
        }
        if incoming.is_complete() {
            break;
        }
        match next_chunk(body, settings.http_idle_timeout).await {
            Some(Ok(c)) => chunk = c.to_vec(),
            Some(Err(e)) => {
                let stored = incoming.written() - start;
                tracing::info!(file = %up.name, stored, error = %e, "upload interrupted; kept for resume");
                return (
                    DataServerReply::error(Status::Transient, e.to_string()),
                    stored,
                );
            }
            None => {
                let stored = incoming.written() - start;
                tracing::info!(file = %up.name, stored, "upload body ended early; kept for resume");
                return (
                    DataServerReply::error(
                        Status::Transient,
                        format!(
                            "EOF on socket read: got {} of {} bytes",
                            incoming.written(),
                            nbytes
                        ),
                    ),
                    stored,
                );
            }
        }
    }
    let stored = incoming.written() - start;
    match store.finish(incoming, up.md5_cksum.as_deref()).await {
        Ok(()) => {
            tracing::debug!(file = %up.name, nbytes, "upload complete");
            (DataServerReply::ok(), stored)
        }
        Err(e) => {
            tracing::warn!(file = %up.name, error = %e, "upload not accepted");
            let status = if e.is_transient() {
                Status::Transient
            } else {
                Status::Permanent
            };
            (DataServerReply::error(status, e.to_string()), stored)
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn replies_are_boincs() {
        assert_eq!(
            DataServerReply::ok().render(),
            "<data_server_reply>\n    <status>0</status>\n</data_server_reply>\n"
        );
        let size = DataServerReply {
            file_size: Some(0),
            ..DataServerReply::ok()
        };
        assert_eq!(
            size.render(),
            "<data_server_reply>\n    <status>0</status>\n    <file_size>0</file_size>\n</data_server_reply>\n"
        );
        assert!(
            DataServerReply::error(Status::Permanent, "invalid signature")
                .render()
                .contains("<status>-1</status>\n    <message>invalid signature</message>")
        );
    }
}
