//! Homogeneous redundancy and homogeneous app version, with requests in the real 7.20.5
//! client's format: the first replica sent commits its workunit (to the host's class, to the
//! version it went out with), later replicas go only to hosts and with versions that match,
//! and the commit is atomic across scheduler processes (BOINC's conditional `UPDATE` of the
//! workunit in `update_wu_on_send`).

mod common;

use std::sync::Arc;

use common::Harness;
use common::hosts::{Host, project_with};
use rboinc_core::db::{HostId, ResultId, UserId};
use rboinc_scheduler::sched::claim::{Claim, Replicas, claim};

const INTEL_CORE: (&str, &str) = ("GenuineIntel", "Intel(R) Core(TM) i5-9400F CPU @ 2.90GHz");

async fn set_app(h: &Harness, column: &str, value: i32) {
    sqlx::query(sqlx::AssertSqlSafe(format!(
        "UPDATE app SET {column} = ? WHERE name = 'mnist'"
    )))
    .bind(value)
    .execute(h.project.pool())
    .await
    .unwrap();
}

async fn workunit(h: &Harness) -> (i32, i32) {
    sqlx::query_as("SELECT hr_class, app_version_id FROM workunit")
        .fetch_one(h.project.pool())
        .await
        .unwrap()
}

#[tokio::test]
async fn hr_fine_two_hosts_of_different_classes_never_share_a_workunit_a_third_of_the_first_class_completes_it()
 {
    let h = project_with(&[("1.0", "")], 1, None).await;
    set_app(&h, "homogeneous_redundancy", 1).await;
    let h = h.reload();
    // Linux on AMD EPYC: fine class 256 + 3.
    let mut a = Host::new(&h.project.authenticator, "epyc-a");
    let r = a.rpc(&h).await;
    assert_eq!(r.jobs.len(), 1, "{}", r.text);
    assert_eq!(
        workunit(&h).await.0,
        259,
        "the first send commits the class"
    );

    // Linux on Intel Core: fine class 256 + 21. Never the other replica.
    let mut b = Host::new(&h.project.authenticator, "core-b");
    (b.vendor, b.model) = (INTEL_CORE.0.into(), INTEL_CORE.1.into());
    let r = b.rpc(&h).await;
    assert!(r.jobs.is_empty(), "{}", r.text);
    assert!(
        r.text.contains("Tasks are committed to other platforms"),
        "{}",
        r.text
    );

    // Another AMD EPYC host gets it, and the workunit is complete.
    let mut c = Host::new(&h.project.authenticator, "epyc-c");
    let r = c.rpc(&h).await;
    assert_eq!(r.jobs.len(), 1, "{}", r.text);
    let hosts: Vec<i32> =
        sqlx::query_scalar("SELECT hostid FROM result WHERE server_state = 4 ORDER BY hostid")
            .fetch_all(h.project.pool())
            .await
            .unwrap();
    assert_eq!(hosts, [a.hostid as i32, c.hostid as i32]);
}

#[tokio::test]
async fn hr_coarse_puts_intel_and_amd_in_one_class_and_unknown_hosts_get_nothing() {
    let h = project_with(&[("1.0", "")], 1, None).await;
    set_app(&h, "homogeneous_redundancy", 2).await;
    let h = h.reload();
    let mut a = Host::new(&h.project.authenticator, "epyc");
    assert_eq!(a.rpc(&h).await.jobs.len(), 1);
    assert_eq!(workunit(&h).await.0, 258);
    // A host whose OS BOINC's HR tables do not know: no work at all for an all-HR project.
    let mut odd = Host::new(&h.project.authenticator, "haiku");
    odd.os_name = "Haiku".into();
    let r = odd.rpc(&h).await;
    assert!(r.jobs.is_empty());
    assert!(
        r.text
            .contains("Your computer type is not supported by this project"),
        "{}",
        r.text
    );
    let mut b = Host::new(&h.project.authenticator, "core");
    (b.vendor, b.model) = (INTEL_CORE.0.into(), INTEL_CORE.1.into());
    assert_eq!(b.rpc(&h).await.jobs.len(), 1, "coarse: x86 is x86");
}

#[tokio::test]
async fn homogeneous_app_version_later_replicas_go_only_with_the_first_replicas_version() {
    let h = project_with(&[("1.0", ""), ("1.0", "mt")], 1, None).await;
    set_app(&h, "homogeneous_app_version", 1).await;
    let h = h.reload();
    let mt_id: i32 = sqlx::query_scalar("SELECT id FROM app_version WHERE plan_class = 'mt'")
        .fetch_one(h.project.pool())
        .await
        .unwrap();
    let mut four = Host::new(&h.project.authenticator, "four-cpus");
    four.ncpus = 4;
    let r = four.rpc(&h).await;
    assert_eq!(r.job_classes(), ["mt"], "{}", r.text);
    assert_eq!(workunit(&h).await.1, mt_id, "committed to the mt version");

    // One CPU cannot run mt: the other replica is not for this host.
    let mut one = Host::new(&h.project.authenticator, "one-cpu");
    one.ncpus = 1;
    assert!(one.rpc(&h).await.jobs.is_empty());
    // The anonymous platform never gets work of such an app.
    let mut anon = Host::new(&h.project.authenticator, "anonymous");
    anon.platform = "anonymous".into();
    anon.app_versions = "<app_version>\n    <app_name>mnist</app_name>\n    <version_num>100</version_num>\n    \
        <platform>x86_64-pc-linux-gnu</platform>\n    <avg_ncpus>1.000000</avg_ncpus>\n</app_version>\n"
        .into();
    assert!(anon.rpc(&h).await.jobs.is_empty());
    // Another multi-core host runs it with the same version.
    let mut two = Host::new(&h.project.authenticator, "two-cpus");
    let r = two.rpc(&h).await;
    assert_eq!(r.job_classes(), ["mt"], "{}", r.text);
    assert_eq!(r.version("mt").unwrap().avg_ncpus, 2.0);
}

/// Two scheduler processes sending the two replicas of each workunit at the same moment to
/// hosts of different classes: at most one class ever commits a workunit, and only its
/// replica is sent.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn hr_commit_is_atomic_when_two_claims_race() {
    let h = project_with(&[("1.0", "")], 12, None).await;
    let pool = h.project.pool().clone();
    let wus: Vec<(i32, i32, i32)> = sqlx::query_as(
        "SELECT w.id, MIN(r.id), MAX(r.id) FROM workunit w JOIN result r ON r.workunitid = w.id \
         GROUP BY w.id",
    )
    .fetch_all(&pool)
    .await
    .unwrap();
    assert_eq!(wus.len(), 12);
    for (wu, first, second) in wus {
        let barrier = Arc::new(tokio::sync::Barrier::new(2));
        let mut tasks = Vec::new();
        for (result, class, host) in [(first, 259, 1), (second, 277, 2)] {
            let pool = pool.clone();
            let barrier = Arc::clone(&barrier);
            tasks.push(tokio::spawn(async move {
                let mut conn = pool.acquire().await.unwrap();
                barrier.wait().await;
                let c = Claim {
                    result_id: ResultId(result.into()),
                    hostid: HostId(host),
                    userid: UserId(1),
                    sent_time: 1000,
                    db_deadline: 5000,
                    flops_estimate: 1e9,
                    app_version_id: 1,
                    hr_class: Some(class),
                    commit_version: None,
                };
                (
                    class,
                    claim(&mut conn, &c, Replicas::Anywhere).await.unwrap(),
                )
            }));
        }
        let mut won = Vec::new();
        for t in tasks {
            let (class, ok) = t.await.unwrap();
            if ok {
                won.push(class);
            }
        }
        assert!(won.len() <= 1, "workunit {wu}: both classes won: {won:?}");
        let (hr_class, sent): (i32, i64) = sqlx::query_as(
            "SELECT w.hr_class, (SELECT COUNT(*) FROM result r WHERE r.workunitid = w.id \
             AND r.server_state = 4) FROM workunit w WHERE w.id = ?",
        )
        .bind(wu)
        .fetch_one(&pool)
        .await
        .unwrap();
        assert_eq!(sent as usize, won.len());
        assert_eq!(hr_class, won.first().copied().unwrap_or(0));
    }
}
