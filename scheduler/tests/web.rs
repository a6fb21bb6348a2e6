//! The master page and the account web RPCs, with the real client's requests
//! (`fixtures/client-7.20.5/01_…` to `04_…`).

mod common;

use axum::http::StatusCode;
use common::{Harness, fixture_text};
use rboinc_core::auth;
use rboinc_scheduler::metrics::Metrics;

/// The request line's path of a captured request.
fn captured_path(name: &str) -> String {
    let text = fixture_text(name);
    let line = text.lines().next().unwrap();
    line.split(' ').nth(1).unwrap().to_string()
}

/// The captured path, moved from the fixture server's `/proj/` to this project's master path.
fn for_project(h: &Harness, name: &str) -> String {
    captured_path(name).replacen("/proj/", &h.state.settings.urls.master_path, 1)
}

fn text(body: &[u8]) -> String {
    String::from_utf8(body.to_vec()).unwrap()
}

#[tokio::test]
async fn the_master_page_names_the_scheduler_in_both_forms() {
    let h = Harness::new().await;
    let urls = h.state.settings.urls.clone();
    for path in [
        urls.master_path.clone(),
        urls.master_path_without_slash().unwrap().to_string(),
    ] {
        let (status, headers, body) = h.get(&path).await;
        assert_eq!(status, StatusCode::OK);
        assert!(
            headers
                .iter()
                .any(|(k, v)| k == "content-type" && v.starts_with("text/html"))
        );
        let page = text(&body);
        // The client reads 256-byte lines and matches these literally (PROTOCOL.md §2).
        let sched = format!("<scheduler>{}</scheduler>", urls.scheduler_url);
        let link = format!(
            "<link rel=\"boinc_scheduler\" href=\"{}\">",
            urls.scheduler_url
        );
        for needle in [&sched, &link] {
            let line = page
                .lines()
                .find(|l| l.contains(needle.as_str()))
                .unwrap_or_else(|| panic!("{needle} not in\n{page}"));
            assert!(line.len() < 256);
        }
    }
    assert_eq!(
        urls.scheduler_url,
        format!("http://127.0.0.1:{}/testproj_cgi/cgi", h.project.port)
    );
}

#[tokio::test]
async fn project_config_lists_the_platforms_with_versions() {
    let h = Harness::new().await;
    let (status, _, body) = h
        .get(&for_project(&h, "01_get_project_config.request.http.txt"))
        .await;
    assert_eq!(status, StatusCode::OK);
    let doc = text(&body);
    assert!(doc.contains("<name>rboinc Test Project</name>"), "{doc}");
    assert!(doc.contains(&format!(
        "<master_url>{}</master_url>",
        h.project.master_url
    )));
    assert!(doc.contains("<min_passwd_length>6</min_passwd_length>"));
    assert!(doc.contains("<platform_name>x86_64-pc-linux-gnu</platform_name>"));
    assert!(doc.contains("<sched_stopped>0</sched_stopped>"));
}

#[tokio::test]
async fn accounts_are_created_and_looked_up_as_boinc_does() {
    let h = Harness::new().await;
    // boinccmd --create_account URL fixture.user@example.com pass1234 "Fixture User"
    let create = for_project(&h, "03_create_account.request.http.txt");
    let (status, _, body) = h.get(&create).await;
    assert_eq!(status, StatusCode::OK);
    let doc = text(&body);
    let key = rboinc_core::xml::text(&doc, "authenticator").unwrap_or_else(|| panic!("{doc}"));
    assert_eq!(key.len(), 32);
    let (email, name, hash): (String, String, String) =
        sqlx::query_as("SELECT email_addr, name, passwd_hash FROM user WHERE authenticator = ?")
            .bind(&key)
            .fetch_one(h.project.pool())
            .await
            .unwrap();
    assert_eq!(email, "fixture.user@example.com");
    assert_eq!(name, "Fixture User");
    assert!(hash.starts_with("$2y$"), "bcrypt as the web code stores it");

    // The same request again: the same account (the password matches).
    let (_, _, again) = h.get(&create).await;
    assert_eq!(
        rboinc_core::xml::text(&text(&again), "authenticator"),
        Some(key.clone())
    );
    // Taken email, another password: -137.
    let other = create.replace(
        "62a9b0ff8eef99d6c46160e6f76cd25e",
        &auth::client_passwd_hash("other", "fixture.user@example.com"),
    );
    let (_, _, taken) = h.get(&other).await;
    assert!(
        text(&taken).contains("<error_num>-137</error_num>"),
        "{}",
        text(&taken)
    );

    // Look it up: right password, wrong password, unknown address.
    let lookup = format!(
        "{}lookup_account.php?email_addr=fixture%2Euser%40example%2Ecom&passwd_hash={}",
        h.state.settings.urls.master_path,
        auth::client_passwd_hash("pass1234", "fixture.user@example.com")
    );
    let (_, _, found) = h.get(&lookup).await;
    assert_eq!(
        rboinc_core::xml::text(&text(&found), "authenticator"),
        Some(key)
    );
    let (_, _, wrong) = h
        .get(&lookup.replace("passwd_hash=", "passwd_hash=0"))
        .await;
    assert!(text(&wrong).contains("<error_num>-206</error_num>"));
    // The fixture's lookup is for an address this project has never seen.
    let (_, _, missing) = h
        .get(&for_project(&h, "02_lookup_account.request.http.txt"))
        .await;
    assert!(text(&missing).contains("<error_num>-136</error_num>"));

    // Bad names and addresses.
    let bad_email = create.replace("fixture%2Euser%40example%2Ecom", "nobody");
    assert!(text(&h.get(&bad_email).await.2).contains("<error_num>-205</error_num>"));
    let bad_name = create.replace("user_name=Fixture%20User", "user_name=%20");
    assert!(text(&h.get(&bad_name).await.2).contains("<error_num>-188</error_num>"));
    let bad_hash = create.replace("62a9b0ff8eef99d6c46160e6f76cd25e", "short");
    assert!(text(&h.get(&bad_hash).await.2).contains("password hash length not 32"));
}

#[tokio::test]
async fn account_creation_can_be_disabled() {
    let h = Harness::new().await;
    h.project
        .set_option("disable_account_creation", "1")
        .unwrap();
    let h = h.reload();
    let (_, _, body) = h
        .get(&for_project(&h, "03_create_account.request.http.txt"))
        .await;
    assert!(text(&body).contains("not accepting new accounts"));
    assert_eq!(
        h.count("SELECT COUNT(*) FROM user").await,
        1,
        "only the submitter"
    );
    let (_, _, config) = h
        .get(&for_project(&h, "01_get_project_config.request.http.txt"))
        .await;
    assert!(text(&config).contains("<account_creation_disabled/>"));
}

#[tokio::test]
async fn metrics_render_after_traffic() {
    let h = Harness::new().await;
    let _ = h
        .get(&for_project(&h, "01_get_project_config.request.http.txt"))
        .await;
    let rendered = h.state.metrics.render();
    assert!(
        rendered.contains("rboinc_account_rpcs_total 1\n"),
        "{rendered}"
    );
    assert!(
        Metrics::default()
            .render()
            .contains("rboinc_results_sent_total 0\n")
    );
}
