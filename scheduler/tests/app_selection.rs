//! Project preferences that choose apps, as BOINC's scheduler reads and applies them over a
//! real database: `<app_id>` and `<allow_non_preferred_apps>` (sched/sched_types.cpp
//! `PROJECT_PREFS::parse`), `app_not_selected` (sched/sched_check.cpp) in the score-based
//! scheduler (sched/sched_score.cpp: a job of an app not selected is refused, or ranked lower
//! when others are allowed), the "No tasks are available for …" messages of
//! `send_user_messages` (sched/sched_send.cpp), and lost results of an app no longer selected
//! (sched/sched_resend.cpp).

mod common;

use common::Harness;
use common::hosts::Host;

/// A project with two apps, `mnist` and `other` ("Other app"), each with a version and
/// `jobs_each` jobs; returns the app ids too.
async fn project(jobs_each: usize) -> (Harness, i64, i64) {
    let h = common::hosts::project_with(&[("1.0", "")], 0, None).await;
    let pool = h.project.pool();
    let other = rboinc_core::db::app::insert(
        pool,
        &rboinc_core::db::app::NewApp {
            create_time: rboinc_core::clock::now_i32(),
            name: "other",
            user_friendly_name: "Other app",
        },
    )
    .await
    .unwrap()
    .0;
    let dir = h.project.root.join("apps/other/1.0/x86_64-pc-linux-gnu");
    std::fs::create_dir_all(&dir).unwrap();
    std::fs::write(
        dir.join("other_1.0_x86_64-pc-linux-gnu"),
        "#!/bin/sh\nexit 0\n",
    )
    .unwrap();
    let report = common::hosts::register(&h.project).await;
    assert_eq!(report.registered.len(), 1, "{:?}", report.skipped);
    let mnist: i64 = sqlx::query_scalar("SELECT id FROM app WHERE name = 'mnist'")
        .fetch_one(pool)
        .await
        .unwrap();
    if jobs_each > 0 {
        h.project
            .create_mnist_batch("wu", 2 * jobs_each, Default::default())
            .await
            .unwrap();
        // Half the jobs belong to the other app (their results come from the transitioner).
        sqlx::query(
            "UPDATE workunit SET appid = ? WHERE id IN \
             (SELECT id FROM (SELECT id FROM workunit ORDER BY id LIMIT ?) w)",
        )
        .bind(other)
        .bind(jobs_each as i64)
        .execute(pool)
        .await
        .unwrap();
        h.project.run_transitioner().await.unwrap();
    }
    (h.reload(), mnist, other)
}

async fn set_prefs(h: &Harness, prefs: &str) {
    sqlx::query("UPDATE user SET project_prefs = ? WHERE authenticator = ?")
        .bind(format!(
            "<project_preferences>{prefs}</project_preferences>"
        ))
        .bind(&h.project.authenticator)
        .execute(h.project.pool())
        .await
        .unwrap();
}

/// The app names of the reply's jobs.
async fn apps_of(h: &Harness, reply: &common::hosts::Reply) -> Vec<String> {
    let mut out = Vec::new();
    for j in &reply.jobs {
        let app: String = sqlx::query_scalar(
            "SELECT a.name FROM result r JOIN app a ON a.id = r.appid WHERE r.name = ?",
        )
        .bind(&j.name)
        .fetch_one(h.project.pool())
        .await
        .unwrap();
        out.push(app);
    }
    out
}

fn hungry(h: &Harness, name: &str) -> Host {
    let mut host = Host::new(&h.project.authenticator, name);
    host.cpu_req_secs = 1e7;
    host.cpu_req_instances = 2.0;
    host
}

#[tokio::test]
async fn app_not_selected_only_the_selected_apps_jobs_are_sent() {
    let (h, _, other) = project(3).await;
    set_prefs(&h, &format!("<app_id>{other}</app_id>")).await;
    let mut host = hungry(&h, "picky");
    let got = host.rpc(&h).await;
    assert_eq!(
        apps_of(&h, &got).await,
        ["other", "other", "other"],
        "{}",
        got.text
    );
    // The other app's jobs are gone: nothing more, and BOINC's message says why.
    let again = host.rpc(&h).await;
    assert!(again.jobs.is_empty(), "{}", again.text);
    assert!(
        again.text.contains(
            "<message priority=\"low\">No tasks are available for the applications you have selected.</message>"
        ),
        "{}",
        again.text
    );
    assert!(
        !again.text.contains("No tasks are available for Other app"),
        "jobs of the selected app were looked at"
    );
}

#[tokio::test]
async fn app_not_selected_a_selected_app_without_jobs_is_named() {
    let (h, mnist, other) = project(0).await;
    set_prefs(
        &h,
        &format!("<app_id>{mnist}</app_id><app_id>{other}</app_id>"),
    )
    .await;
    let mut host = hungry(&h, "waiting");
    let got = host.rpc(&h).await;
    assert!(got.jobs.is_empty());
    let mnist_name: String = sqlx::query_scalar(
        "SELECT IF(user_friendly_name = '', name, user_friendly_name) FROM app WHERE id = ?",
    )
    .bind(mnist)
    .fetch_one(h.project.pool())
    .await
    .unwrap();
    for app in [mnist_name.as_str(), "Other app"] {
        assert!(
            got.text.contains(&format!(
                "<message priority=\"low\">No tasks are available for {app}</message>"
            )),
            "{app}:\n{}",
            got.text
        );
    }
}

#[tokio::test]
async fn allow_non_preferred_apps_other_apps_fill_what_the_selected_ones_cannot() {
    let (h, mnist, _) = project(2).await;
    set_prefs(
        &h,
        &format!("<app_id>{mnist}</app_id><allow_non_preferred_apps>1</allow_non_preferred_apps>"),
    )
    .await;
    let mut host = hungry(&h, "flexible");
    let got = host.rpc(&h).await;
    let apps = apps_of(&h, &got).await;
    assert_eq!(
        apps,
        ["mnist", "mnist", "other", "other"],
        "the selected app's jobs first:\n{}",
        got.text
    );
    assert!(!got.text.contains("No tasks are available for"));
}

#[tokio::test]
async fn app_not_selected_no_selection_means_every_app() {
    let (h, _, _) = project(2).await;
    set_prefs(&h, "<allow_beta_work>0</allow_beta_work>").await;
    let mut host = hungry(&h, "anything");
    let got = host.rpc(&h).await;
    let mut apps = apps_of(&h, &got).await;
    apps.sort();
    assert_eq!(apps, ["mnist", "mnist", "other", "other"], "{}", got.text);
}

#[tokio::test]
async fn resend_lost_work_an_app_no_longer_selected_is_not_resent() {
    let (h, mnist, other) = project(1).await;
    h.project.set_option("resend_lost_results", "1").unwrap();
    let h = h.reload();
    let mut host = hungry(&h, "forgetful");
    let got = host.rpc(&h).await;
    assert_eq!(got.jobs.len(), 2, "{}", got.text);
    let other_deadline = || async {
        sqlx::query_scalar::<_, i64>(
            "SELECT report_deadline FROM result WHERE appid = ? AND hostid = ?",
        )
        .bind(other)
        .bind(host.hostid)
        .fetch_one(h.project.pool())
        .await
        .unwrap()
    };
    let before = other_deadline().await;
    // The client loses both tasks; meanwhile its user deselected the other app.
    host.holding.clear();
    set_prefs(&h, &format!("<app_id>{mnist}</app_id>")).await;
    let again = host.clone().rpc(&h).await;
    assert_eq!(apps_of(&h, &again).await, ["mnist"], "{}", again.text);
    let after = other_deadline().await;
    assert!(
        after < before - 1000,
        "made to time out now: {before} → {after}"
    );
    assert!(
        again.text.contains("Didn&apos;t resend lost task"),
        "{}",
        again.text
    );
}
