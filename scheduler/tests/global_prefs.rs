//! Global preferences between the account and its hosts (BOINC's `handle_global_prefs` in
//! sched/handle_request.cpp) over a real database.

mod common;

use common::Harness;
use common::hosts::Host;

fn prefs(mod_time: i64, ncpus_pct: u32) -> String {
    format!(
        "<global_preferences>\n   <mod_time>{mod_time}.000000</mod_time>\n   \
         <max_ncpus_pct>{ncpus_pct}.000000</max_ncpus_pct>\n</global_preferences>\n"
    )
}

async fn account_prefs(h: &Harness) -> String {
    sqlx::query_scalar::<_, Vec<u8>>("SELECT global_prefs FROM user WHERE id = 1")
        .fetch_one(h.project.pool())
        .await
        .map(|b| String::from_utf8(b).unwrap())
        .unwrap()
}

async fn email_hash(h: &Harness) -> String {
    let email: String = sqlx::query_scalar("SELECT email_addr FROM user WHERE id = 1")
        .fetch_one(h.project.pool())
        .await
        .unwrap();
    rboinc_core::auth::email_hash(&email)
}

/// The `<mod_time>` of a preferences text, as written.
fn mod_time_of(prefs: &str) -> &str {
    let start = prefs.find("<mod_time>").unwrap() + "<mod_time>".len();
    &prefs[start..prefs[start..].find('.').unwrap() + start]
}

fn now() -> i64 {
    rboinc_core::clock::now_i64()
}

/// The host's request carrying a master copy of the preferences from the account `source`.
fn with_master(host: &Host, master: &str, source: &str) -> String {
    host.request().replacen(
        "<working_global_preferences>",
        &format!(
            "{master}<global_prefs_source_email_hash>{source}</global_prefs_source_email_hash>\n\
             <working_global_preferences>"
        ),
        1,
    )
}

#[tokio::test]
async fn the_accounts_newer_preferences_reach_the_host() {
    let h = Harness::new().await;
    let web = prefs(now() - 60, 50);
    sqlx::query("UPDATE user SET global_prefs = ? WHERE id = 1")
        .bind(&web)
        .execute(h.project.pool())
        .await
        .unwrap();
    let mut host = Host::new(&h.project.authenticator, "prefs-host");
    host.cpu_req_secs = 0.0;
    // The client's working copy has mod_time 0: the account's is newer.
    let reply = host.rpc(&h).await;
    assert!(reply.text.contains(web.trim_end()), "{}", reply.text);
    let at = reply.text.find("<global_preferences>").unwrap();
    assert!(
        at < reply.text.find("<project_preferences>").unwrap(),
        "before the project preferences, as BOINC writes them"
    );
}

#[tokio::test]
async fn the_hosts_newer_copy_is_stored_and_not_sent_back() {
    let h = Harness::new().await;
    sqlx::query("UPDATE user SET global_prefs = ? WHERE id = 1")
        .bind(prefs(now() - 600, 50))
        .execute(h.project.pool())
        .await
        .unwrap();
    let host = Host::new(&h.project.authenticator, "prefs-host");
    let newer = prefs(now() - 5, 75);
    let reply = h
        .rpc(&with_master(&host, &newer, &email_hash(&h).await))
        .await;
    assert!(!reply.contains("<global_preferences>"), "{reply}");
    let stored = account_prefs(&h).await;
    assert!(
        stored.starts_with("<global_preferences>")
            && stored.contains(&format!(
                "<mod_time>{}.000000</mod_time>",
                mod_time_of(&newer)
            ))
            && stored.contains("<max_ncpus_pct>75.000000</max_ncpus_pct>"),
        "{stored}"
    );
}

#[tokio::test]
async fn another_accounts_copy_or_an_older_one_is_not_stored() {
    let h = Harness::new().await;
    let stored = prefs(now() - 100, 50);
    sqlx::query("UPDATE user SET global_prefs = ? WHERE id = 1")
        .bind(&stored)
        .execute(h.project.pool())
        .await
        .unwrap();
    let host = Host::new(&h.project.authenticator, "prefs-host");
    // Newer, but from another account's project.
    let foreign = prefs(now() - 5, 10);
    let reply = h
        .rpc(&with_master(
            &host,
            &foreign,
            "0123456789abcdef0123456789abcdef",
        ))
        .await;
    assert!(!reply.contains("<global_preferences>"), "{reply}");
    assert_eq!(account_prefs(&h).await, stored);
    // From this account, but older than the stored copy: the stored one is sent instead.
    let older = prefs(now() - 1000, 10);
    let reply = h
        .rpc(&with_master(&host, &older, &email_hash(&h).await))
        .await;
    assert_eq!(account_prefs(&h).await, stored);
    assert!(reply.contains(stored.trim_end()), "{reply}");
}
