//! The account web RPCs the client calls for `boinccmd` (PROTOCOL.md §11):
//! `get_project_config.php`, `lookup_account.php` and `create_account.php`, under the master
//! URL, with BOINC's PHP answers and error numbers.
//!
//! The client computes `passwd_hash = md5(password + lowercase(email))` itself; the server
//! never sees a password. Stored hashes are bcrypt over that value, as the stock web code stores
//! them (slow by design: checked off the async executor). Errors are
//! `<error><error_num>N</error_num><error_msg>…</error_msg></error>`: -136 no such account,
//! -206 bad password, -137 email address taken, -188 bad user name, -205 bad email address.
//!
//! Their connections come from the scheduler's [`RpcConnections`], so while the database is
//! known to be down they answer at once with 503 and `Retry-After` instead of holding the
//! request for the pool's time-out.

use std::collections::HashMap;
use std::fmt::Write as _;
use std::sync::Arc;

use axum::Router;
use axum::extract::{FromRef, Query, State};
use axum::http::{HeaderValue, header};
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use rboinc_core::auth;
use rboinc_core::db::user::{self, CreateAccountError, NewAccount};
use rboinc_core::state::error_code::{ERR_BAD_PASSWD, ERR_DB_NOT_FOUND, ERR_DB_NOT_UNIQUE};
use rboinc_core::xml::escape;

use tracing::Span;

use crate::error::HttpError;
use crate::metrics::Metrics;
use crate::sched::Caches;
use crate::sched::connections::RpcConnections;
use crate::settings::ServerSettings;
use crate::urls::ProjectUrls;

/// BOINC's `ERR_BAD_USER_NAME`.
pub const ERR_BAD_USER_NAME: i32 = -188;
/// BOINC's `ERR_BAD_EMAIL_ADDR`.
pub const ERR_BAD_EMAIL_ADDR: i32 = -205;

/// The three account RPCs, under the project's web RPC path.
pub fn router<S>(urls: &ProjectUrls) -> Router<S>
where
    S: Clone + Send + Sync + 'static,
    Arc<ServerSettings>: FromRef<S>,
    Arc<Caches>: FromRef<S>,
    Arc<Metrics>: FromRef<S>,
    Arc<RpcConnections>: FromRef<S>,
{
    Router::new()
        .route(
            &urls.web_rpc_path("get_project_config.php"),
            get(project_config),
        )
        .route(
            &urls.web_rpc_path("lookup_account.php"),
            get(lookup_account),
        )
        .route(
            &urls.web_rpc_path("create_account.php"),
            get(create_account),
        )
}

/// Runs CPU-heavy work (bcrypt) off the async threads, in the request's span.
async fn blocking<T: Send + 'static>(
    work: impl FnOnce() -> T + Send + 'static,
) -> Result<T, HttpError> {
    let span = Span::current();
    tokio::task::spawn_blocking(move || span.in_scope(work))
        .await
        .map_err(HttpError::internal)
}

fn xml(text: String) -> Response {
    let mut r = text.into_response();
    r.headers_mut()
        .insert(header::CONTENT_TYPE, HeaderValue::from_static("text/xml"));
    r
}

/// BOINC's `xml_error()`, with PHP's default messages.
fn error(num: i32, msg: Option<&str>) -> Response {
    let default = match num {
        ERR_DB_NOT_FOUND => "Not found",
        ERR_DB_NOT_UNIQUE => "Name or email address is not unique",
        ERR_BAD_EMAIL_ADDR => "Email address has invalid syntax",
        ERR_BAD_PASSWD => "Invalid password",
        _ => "Unknown error",
    };
    xml(format!(
        "<error>\n    <error_num>{num}</error_num>\n    <error_msg>{}</error_msg>\n</error>\n",
        escape(msg.unwrap_or(default))
    ))
}

fn account_out(authenticator: &str) -> Response {
    xml(format!(
        "<account_out>\n    <authenticator>{}</authenticator>\n</account_out>\n",
        escape(authenticator)
    ))
}

async fn project_config(
    State(s): State<Arc<ServerSettings>>,
    State(caches): State<Arc<Caches>>,
    State(metrics): State<Arc<Metrics>>,
    State(conns): State<Arc<RpcConnections>>,
) -> Result<Response, HttpError> {
    metrics.account_rpc();
    let catalog = caches
        .catalog
        .get(&mut *conns.acquire_pooled().await?)
        .await?;
    let mut out = String::with_capacity(1024);
    let _ = write!(
        out,
        "<project_config>\n    <name>{}</name>\n    <master_url>{}</master_url>\n    \
         <web_rpc_url_base>{}</web_rpc_url_base>\n    <web_stopped>0</web_stopped>\n",
        escape(&s.project_name),
        escape(&s.urls.master_url),
        escape(&s.urls.master_url),
    );
    if s.sched.disable_account_creation {
        out.push_str("    <account_creation_disabled/>\n");
    }
    if s.sched.disable_account_creation_rpc {
        out.push_str("    <client_account_creation_disabled/>\n");
    }
    let _ = writeln!(
        out,
        "    <min_passwd_length>{}</min_passwd_length>\n    <sched_stopped>{}</sched_stopped>",
        s.min_passwd_length,
        i32::from(s.sched_stopped())
    );
    if s.sched.min_core_client_version != 0 {
        let _ = writeln!(
            out,
            "    <min_client_version>{}</min_client_version>",
            s.sched.min_core_client_version
        );
    }
    out.push_str("    <platforms>\n");
    for (name, label) in catalog.platforms_with_versions() {
        let _ = write!(
            out,
            "        <platform>\n            <platform_name>{}</platform_name>\n            \
             <user_friendly_name>{}</user_friendly_name>\n        </platform>\n",
            escape(&name),
            escape(&label)
        );
    }
    out.push_str("    </platforms>\n</project_config>\n");
    Ok(xml(out))
}

async fn lookup_account(
    State(metrics): State<Arc<Metrics>>,
    State(conns): State<Arc<RpcConnections>>,
    Query(q): Query<HashMap<String, String>>,
) -> Result<Response, HttpError> {
    metrics.account_rpc();
    let Some(email) = q.get("email_addr").filter(|e| !e.is_empty()) else {
        return Err(HttpError::BadRequest("email_addr is required".into()));
    };
    let mut conn = conns.acquire_pooled().await?;
    let Some(found) = user::by_email(&mut *conn, email).await? else {
        return Ok(error(ERR_DB_NOT_FOUND, None));
    };
    // Without a hash the caller only asks whether the account exists.
    let Some(given) = q.get("passwd_hash").filter(|h| !h.is_empty()).cloned() else {
        return Ok(xml("<account_out>\n   <success/>\n</account_out>\n".into()));
    };
    let row = found.clone();
    let ok = blocking(move || auth::passwd_hash_matches(&row.secrets(), &given)).await?;
    if !ok {
        tracing::info!(user_id = %found.id, "lookup_account: wrong password");
        return Ok(error(ERR_BAD_PASSWD, None));
    }
    Ok(account_out(&found.authenticator))
}

/// BOINC's `is_valid_user_name`: not empty, no surrounding blanks, no markup.
fn user_name_problem(name: &str) -> Option<&'static str> {
    if name.trim().is_empty() {
        return Some("user name must be nonempty");
    }
    if name.trim() != name {
        return Some("user name may not have leading or trailing white space");
    }
    if name.contains(['<', '>']) {
        return Some("user name may not contain < or >");
    }
    if name.chars().count() > 191 {
        return Some("user name is too long");
    }
    None
}

/// A plausible address: one `@`, something before it, a dotted domain after it, no blanks.
fn email_ok(email: &str) -> bool {
    let Some((local, domain)) = email.split_once('@') else {
        return false;
    };
    !local.is_empty()
        && domain.contains('.')
        && !domain.starts_with('.')
        && !domain.ends_with('.')
        && !email.contains(char::is_whitespace)
        && !domain.contains('@')
        && email.len() <= 191
}

async fn create_account(
    State(settings): State<Arc<ServerSettings>>,
    State(metrics): State<Arc<Metrics>>,
    State(conns): State<Arc<RpcConnections>>,
    Query(q): Query<HashMap<String, String>>,
) -> Result<Response, HttpError> {
    metrics.account_rpc();
    let sched = &settings.sched;
    if sched.disable_account_creation {
        return Ok(error(
            -1,
            Some("The project is not accepting new accounts."),
        ));
    }
    if sched.disable_account_creation_rpc {
        return Ok(error(
            -1,
            Some("Please visit the project web site to create an account, then try again."),
        ));
    }
    let get = |k: &str| q.get(k).map(String::as_str).unwrap_or("");
    let email = get("email_addr").to_ascii_lowercase();
    let passwd_hash = get("passwd_hash");
    let user_name = get("user_name");
    if let Some(why) = user_name_problem(user_name) {
        return Ok(error(ERR_BAD_USER_NAME, Some(why)));
    }
    if !email_ok(&email) {
        return Ok(error(ERR_BAD_EMAIL_ADDR, None));
    }
    if passwd_hash.len() != 32 || !passwd_hash.bytes().all(|b| b.is_ascii_hexdigit()) {
        return Ok(error(-1, Some("password hash length not 32")));
    }
    // An existing account with the same password is simply returned (BOINC does this, so a
    // repeated create is harmless).
    let mut conn = conns.acquire_pooled().await?;
    if let Some(existing) = user::by_email(&mut *conn, &email).await? {
        let row = existing.clone();
        let given = passwd_hash.to_string();
        let same = blocking(move || auth::passwd_hash_matches(&row.secrets(), &given)).await?;
        return Ok(if same {
            account_out(&existing.authenticator)
        } else {
            error(ERR_DB_NOT_UNIQUE, None)
        });
    }
    let now = rboinc_core::clock::now_i32();
    let created = user::create_account(
        &mut conn,
        &NewAccount {
            email_addr: &email,
            name: user_name,
            client_passwd_hash: passwd_hash,
            create_time: now,
            country: "International",
            show_hosts: true,
        },
    )
    .await;
    let row = match created {
        Ok(row) => row,
        Err(CreateAccountError::EmailTaken(_) | CreateAccountError::NameTaken(_)) => {
            return Ok(error(ERR_DB_NOT_UNIQUE, None));
        }
        Err(CreateAccountError::Sql(e)) => return Err(e.into()),
        Err(e) => return Err(HttpError::internal(e)),
    };
    tracing::info!(user_id = %row.id, "account created");
    let team = get("team_name");
    if !team.is_empty() {
        let joined = sqlx::query(
            "UPDATE user u JOIN team t ON t.name = ? AND t.joinable != 0 SET u.teamid = t.id \
             WHERE u.id = ?",
        )
        .bind(team)
        .bind(row.id)
        .execute(&mut *conn)
        .await?;
        if joined.rows_affected() == 0 {
            tracing::info!(user_id = %row.id, team, "no joinable team of that name");
        }
    }
    Ok(account_out(&row.authenticator))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_and_addresses() {
        assert!(user_name_problem("Fixture User").is_none());
        assert!(user_name_problem(" x").is_some());
        assert!(user_name_problem("").is_some());
        assert!(user_name_problem("<b>").is_some());
        assert!(email_ok("fixture.user@example.com"));
        for bad in ["", "a", "a@b", "@b.c", "a b@c.d", "a@.c", "a@b.", "a@b@c.d"] {
            assert!(!email_ok(bad), "{bad}");
        }
    }
}
