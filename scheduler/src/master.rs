//! The master page: what a client fetches when it attaches, to learn the scheduler URL.
//!
//! The client scans the page line by line, in 256-byte pieces, for
//! `<scheduler>URL</scheduler>` (usually inside an HTML comment) or the literal
//! `<link rel="boinc_scheduler" href="URL">` (PROTOCOL.md §2). Both forms are written, each on a
//! short line of its own, as stock `make_project` writes them.

use std::sync::Arc;

use axum::Router;
use axum::extract::{FromRef, State};
use axum::http::{HeaderValue, header};
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use rboinc_core::xml::escape;

use crate::settings::ServerSettings;
use crate::urls::ProjectUrls;

/// The master page routes: the master URL's path, with and without its trailing slash.
pub fn router<S>(urls: &ProjectUrls) -> Router<S>
where
    S: Clone + Send + Sync + 'static,
    Arc<ServerSettings>: FromRef<S>,
{
    let mut r = Router::new().route(&urls.master_path, get(page));
    if let Some(bare) = urls.master_path_without_slash() {
        r = r.route(bare, get(page));
    }
    r
}

/// The page's HTML.
pub fn render(settings: &ServerSettings) -> String {
    let name = escape(&settings.project_name);
    let sched = escape(&settings.urls.scheduler_url);
    format!(
        "<!DOCTYPE html>\n<html>\n<head>\n<meta charset=\"utf-8\">\n<title>{name}</title>\n\
         <!-- <scheduler>{sched}</scheduler> -->\n\
         <link rel=\"boinc_scheduler\" href=\"{sched}\">\n\
         </head>\n<body>\n<h1>{name}</h1>\n\
         <p>This is a BOINC project. To take part, install BOINC and attach to this URL:\n\
         <code>{master}</code></p>\n</body>\n</html>\n",
        master = escape(&settings.urls.master_url)
    )
}

async fn page(State(settings): State<Arc<ServerSettings>>) -> Response {
    let mut response = render(&settings).into_response();
    response.headers_mut().insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("text/html; charset=utf-8"),
    );
    response
}
