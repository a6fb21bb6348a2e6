//! The account part of a reply: the account the client is attached as, its credit and team,
//! and the host's record as the project sees it.
//!
//! BOINC sends it in every reply that gets past authentication: the client shows it and keeps
//! the project preferences from it. The cross-project id a client reports is recorded on the
//! way, as BOINC does.

use rboinc_core::auth as account_auth;
use rboinc_core::clock;
use rboinc_core::db::{self, TeamId};
use sqlx::mysql::MySqlConnection;

use super::auth::{Account, UserAccount};
use super::global_prefs;
use super::reply::AccountInfo;
use super::request::SchedRequest;

/// Reads the account's team and records the client's cross-project id if it changed.
#[tracing::instrument(level = "debug", skip_all)]
pub async fn describe(
    conn: &mut MySqlConnection,
    req: &SchedRequest,
    account: &Account,
) -> Result<AccountInfo, sqlx::Error> {
    let team = team_name(conn, account.user.teamid)
        .await?
        .map(|name| (account.user.teamid.get(), name));
    update_cross_project_id(conn, &account.user, &req.cross_project_id).await?;
    let mut info = account_info(account, team);
    let prefs = global_prefs::decide(req, account, &info.email_hash, clock::now_f64());
    if let Some(stored) = &prefs.store {
        global_prefs::store(conn, account, stored).await?;
    }
    info.global_prefs = prefs.send;
    Ok(info)
}

fn account_info(account: &Account, team: Option<(i64, String)>) -> AccountInfo {
    let u = &account.user;
    let h = &account.host;
    let external_cpid = if u.cross_project_id.is_empty() {
        String::new()
    } else {
        account_auth::email_hash(&format!("{}{}", u.cross_project_id, u.email_addr))
    };
    AccountInfo {
        userid: u.id.get(),
        user_name: u.name.clone(),
        user_total_credit: u.total_credit,
        user_expavg_credit: u.expavg_credit,
        user_create_time: i64::from(u.create_time),
        email_hash: account_auth::email_hash(&u.email_addr),
        cross_project_id: u.cross_project_id.clone(),
        external_cpid,
        project_prefs: u.project_prefs.clone(),
        global_prefs: None,
        host_total_credit: h.total_credit,
        host_expavg_credit: h.expavg_credit,
        host_venue: h.venue.clone(),
        host_create_time: i64::from(h.create_time),
        team,
    }
}

/// The account's team name, if it has a team.
async fn team_name(
    conn: &mut MySqlConnection,
    team: TeamId,
) -> Result<Option<String>, sqlx::Error> {
    if team.get() == 0 {
        return Ok(None);
    }
    sqlx::query_scalar("SELECT name FROM team WHERE id = ?")
        .bind(team)
        .fetch_optional(conn)
        .await
}

/// Records the cross-project id a client reports, if it changed (BOINC does the same).
async fn update_cross_project_id(
    conn: &mut MySqlConnection,
    user: &UserAccount,
    reported: &str,
) -> Result<(), sqlx::Error> {
    if reported.is_empty() || reported == user.cross_project_id {
        return Ok(());
    }
    db::user::set_cross_project_id(conn, user.id, reported).await?;
    Ok(())
}
