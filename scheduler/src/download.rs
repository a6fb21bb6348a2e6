//! The download tree: input files and app version files, served from `download_dir` under the
//! path of `download_url`.
//!
//! Files only: a directory (the tree's root or a fan-out directory) is a 404, never a listing,
//! so nobody can enumerate the project's jobs. Paths that try to leave the tree (`..`, also
//! percent-encoded, absolute components) are refused. `Range` requests are answered with 206
//! and the requested bytes, so a client resumes an interrupted download instead of starting
//! over (PROTOCOL.md §5); sizes come from the file system, so `Content-Length` always matches.

use axum::Router;
use tower_http::services::ServeDir;

use crate::settings::ServerSettings;

/// The download tree, under the path of the download URL.
pub fn router<S: Clone + Send + Sync + 'static>(settings: &ServerSettings) -> Router<S> {
    let files = ServeDir::new(&settings.download_dir)
        .append_index_html_on_directories(false)
        .html_as_default_extension(false)
        .redirect_to_trailing_slash(false);
    Router::new().nest_service(&settings.urls.download_path, files)
}
