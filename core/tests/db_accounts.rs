//! Typed rows and queries for the people side (accounts, teams, hosts,
//! per-host statistics, credited jobs) against a migrated MariaDB.

use rboinc_core::auth;
use rboinc_core::db::host::{self, HostRow};
use rboinc_core::db::host_app_version::{self, HostAppVersionRow};
use rboinc_core::db::team::{self, NewTeam};
use rboinc_core::db::user::{self, CreateAccountError, NewAccount};
use rboinc_core::db::{UserId, WorkunitId, credited_job, workunit};
use rboinc_core::test_support::TestDb;

fn is_duplicate(e: &sqlx::Error) -> bool {
    e.as_database_error()
        .is_some_and(|d| d.is_unique_violation())
}
#[tokio::test]
async fn accounts_are_created_like_boinc_does() {
    let db = TestDb::new().await;
    let client_hash = auth::client_passwd_hash("secret", "Test@Example.com");
    let mut conn = db.pool().acquire().await.unwrap();
    let new = NewAccount {
        email_addr: "Test@Example.com",
        name: "Tester",
        client_passwd_hash: &client_hash,
        create_time: 1_700_000_000,
        country: "International",
        show_hosts: true,
    };
    let u = user::create_account(&mut conn, &new).await.unwrap();
    assert_eq!(
        (u.email_addr.as_str(), u.name.as_str(), u.country.as_str()),
        ("test@example.com", "Tester", "International")
    );
    assert_eq!(u.authenticator.len(), 32);
    assert_eq!(u.cross_project_id.len(), 32);
    assert_ne!(u.authenticator, u.cross_project_id);
    assert!(u.passwd_hash.starts_with("$2y$10$"));
    assert_eq!(
        (
            u.send_email,
            u.show_hosts,
            u.teamid.0,
            u.total_credit,
            u.expavg_time
        ),
        (1, 1, 0, 0.0, 1_700_000_000.0)
    );
    assert_eq!(
        (
            u.venue.as_str(),
            u.global_prefs.as_str(),
            u.project_prefs.as_str()
        ),
        ("", "", "")
    );
    // The client's later lookup_account succeeds with the same hash.
    assert!(auth::passwd_hash_matches(&u.secrets(), &client_hash));
    assert!(!auth::passwd_hash_matches(
        &u.secrets(),
        &auth::client_passwd_hash("wrong", "test@example.com")
    ));
    assert_eq!(
        user::by_authenticator(db.pool(), &u.authenticator)
            .await
            .unwrap()
            .unwrap()
            .id,
        u.id
    );
    assert_eq!(
        user::by_email(db.pool(), "test@example.com")
            .await
            .unwrap()
            .unwrap()
            .id,
        u.id
    );
    assert_eq!(user::by_id(db.pool(), u.id).await.unwrap().unwrap(), u);

    let again = user::create_account(
        &mut conn,
        &NewAccount {
            name: "Other",
            ..new.clone()
        },
    )
    .await
    .unwrap_err();
    assert!(
        matches!(again, CreateAccountError::EmailTaken(ref e) if e == "test@example.com"),
        "{again}"
    );
    let same_name = NewAccount {
        email_addr: "other@example.com",
        ..new.clone()
    };
    let err = user::create_account(&mut conn, &same_name)
        .await
        .unwrap_err();
    assert_eq!(
        err.to_string(),
        "an account named \"Tester\" already exists"
    );
    let count: i64 = sqlx::query_scalar("SELECT COUNT(*) FROM user")
        .fetch_one(db.pool())
        .await
        .unwrap();
    assert_eq!(count, 1);

    assert!(
        user::set_cross_project_id(db.pool(), u.id, "abc")
            .await
            .unwrap()
    );
    assert_eq!(
        user::by_id(db.pool(), u.id)
            .await
            .unwrap()
            .unwrap()
            .cross_project_id,
        "abc"
    );
    assert!(
        !user::set_cross_project_id(db.pool(), UserId(u.id.0 + 1), "abc")
            .await
            .unwrap()
    );
}

#[tokio::test]
async fn teams_hosts_and_credit_records() {
    let db = TestDb::new().await;
    let tid = team::insert(
        db.pool(),
        &NewTeam {
            create_time: 5,
            userid: UserId(1),
            name: "Crunchers",
            team_type: 1,
        },
    )
    .await
    .unwrap();
    let t = team::by_name(db.pool(), "Crunchers")
        .await
        .unwrap()
        .unwrap();
    assert_eq!(
        (
            t.id,
            t.name_lc.as_str(),
            t.team_type,
            t.joinable,
            t.url.as_str()
        ),
        (tid, "crunchers", 1, 1, "")
    );
    assert_eq!(team::by_id(db.pool(), tid).await.unwrap(), Some(t));

    let cpid = auth::host_cpid_for_account("0123456789abcdef0123456789abcdef", "v@example.com");
    let h = HostRow {
        create_time: 20,
        userid: UserId(7),
        host_cpid: cpid.clone(),
        domain_name: "box".into(),
        p_ncpus: 2,
        p_fpops: 3e9,
        os_name: "Linux Debian".into(),
        product_name: String::new(),
        misc: "{}".into(),
        max_results_day: 0,
        ..Default::default()
    };
    let hid = host::insert(db.pool(), &h).await.unwrap();
    let got = host::by_id(db.pool(), hid).await.unwrap().unwrap();
    assert_eq!(
        got,
        HostRow {
            id: hid,
            ..h.clone()
        }
    );
    let second = host::insert(db.pool(), &h).await.unwrap();
    assert_eq!(
        host::by_user_and_cpid(db.pool(), UserId(7), &cpid)
            .await
            .unwrap()
            .unwrap()
            .id,
        second
    );
    assert!(
        host::by_user_and_cpid(db.pool(), UserId(8), &cpid)
            .await
            .unwrap()
            .is_none()
    );
    assert_eq!(host::for_user(db.pool(), UserId(7)).await.unwrap().len(), 2);

    let hav = HostAppVersionRow {
        max_jobs_per_day: 8,
        et_avg: 1.5,
        ..HostAppVersionRow::zero(hid, 3_000_002)
    };
    host_app_version::insert(db.pool(), &hav).await.unwrap();
    assert_eq!(
        host_app_version::get(db.pool(), hid, 3_000_002)
            .await
            .unwrap(),
        Some(hav.clone())
    );
    assert!(is_duplicate(
        &host_app_version::insert(db.pool(), &hav).await.unwrap_err()
    ));
    assert_eq!(
        host_app_version::for_host(db.pool(), hid).await.unwrap(),
        vec![hav]
    );

    assert!(
        credited_job::insert(db.pool(), UserId(7), 55)
            .await
            .unwrap()
    );
    assert!(
        !credited_job::insert(db.pool(), UserId(7), 55)
            .await
            .unwrap()
    );
    assert!(
        credited_job::insert(db.pool(), UserId(7), 1 << 40)
            .await
            .unwrap()
    );
    let jobs = credited_job::for_user(db.pool(), UserId(7)).await.unwrap();
    assert_eq!(
        jobs.iter().map(|j| j.workunitid).collect::<Vec<_>>(),
        [55, 1 << 40]
    );
    assert!(
        workunit::by_id(db.pool(), WorkunitId(1))
            .await
            .unwrap()
            .is_none()
    );
}
