//! Global (computing) preferences between the account and its hosts, as BOINC's
//! `handle_global_prefs` does it.
//!
//! Three copies may exist: the account's (`user.global_prefs`, edited on the web), the
//! client's master copy (`<global_preferences>` in the request, the last one it received from
//! any project of the account) and the working copy it uses (`<working_global_preferences>`);
//! each carries a `<mod_time>` (clamped to now). Then:
//!
//! - the client's master copy replaces the account's when it is newer (or the account has
//!   none) and it came from this account (`<global_prefs_source_email_hash>` is the account's
//!   email hash) — unless the client authenticated with a weak key;
//! - the account's copy is sent in the reply when it is newer than both of the client's, so a
//!   change made on the web reaches every host at its next RPC.

use rboinc_core::xml;
use sqlx::mysql::MySqlConnection;

use super::auth::Account;
use super::request::SchedRequest;

/// What to do with the preferences in this RPC.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct PrefsDecision {
    /// Store the client's master copy as the account's.
    pub store: Option<String>,
    /// Send the account's copy (as stored) in the reply.
    pub send: Option<String>,
}

fn mod_time(xml_text: &str, now: f64) -> f64 {
    xml::parse::<f64>(xml_text, "mod_time")
        .unwrap_or(0.0)
        .min(now)
}

/// BOINC's decision for a request of the `account`'s host whose email hash is `email_hash`.
pub fn decide(req: &SchedRequest, account: &Account, email_hash: &str, now: f64) -> PrefsDecision {
    let db = account.user.global_prefs.as_str();
    let have_db = !db.trim().is_empty();
    let master = req.global_prefs_xml.as_deref();
    let master_mod = master.map_or(0.0, |m| mod_time(m, now));
    let working_mod = req.working_prefs_mod_time.min(now);
    let db_mod = if have_db { mod_time(db, now) } else { 0.0 };
    let weak = req.authenticator != account.user.authenticator;
    let same_account = req.global_prefs_source_email_hash == email_hash;
    let mut decision = PrefsDecision::default();
    if let Some(master) = master
        && !weak
        && same_account
        && (!have_db || master_mod > db_mod)
    {
        decision.store = Some(master.to_string());
    }
    if have_db && db_mod > master_mod && db_mod > working_mod {
        decision.send = Some(db.to_string());
    }
    decision
}

/// Stores the client's copy as the account's.
pub async fn store(
    conn: &mut MySqlConnection,
    account: &Account,
    prefs: &str,
) -> Result<(), sqlx::Error> {
    sqlx::query("UPDATE user SET global_prefs = ? WHERE id = ?")
        .bind(prefs)
        .bind(account.user.id)
        .execute(conn)
        .await?;
    Ok(())
}
