//! Several apps share the job cache by `app.weight`, as BOINC's feeder does with `--allapps`
//! (`weighted_interleave` and the per-app enumerations in sched/feeder.cpp): a backlog of one
//! app cannot starve hosts that only another app can serve, and the mix sent follows the
//! weights. Real database, real `create_work` and transitioner.

mod common;

use common::Harness;
use common::hosts::Host;
use rboinc_testkit::mnist;
use rboinc_tools::create_work::{InputArg, JobOverrides};

/// Jobs cached per batch (`shmem_work_items`).
const CACHE: usize = 20;

/// A project with the `mnist` app (weight `weight_a`) and a second app `appb` (weight
/// `weight_b`, the same templates), `jobs_a` jobs of `mnist` created first, then `jobs_b` of
/// `appb`, one replica each.
async fn two_apps(weight_a: f64, weight_b: f64, jobs_a: usize, jobs_b: usize) -> Harness {
    let h = common::hosts::project_with(&[("1.0", "")], 0, None).await;
    let p = &h.project;
    p.set_option("shmem_work_items", &CACHE.to_string())
        .unwrap();
    sqlx::query(
        "INSERT INTO app (create_time, name, user_friendly_name, weight) \
         VALUES (UNIX_TIMESTAMP(), 'appb', 'App B', ?)",
    )
    .bind(weight_b)
    .execute(p.pool())
    .await
    .unwrap();
    sqlx::query("UPDATE app SET weight = ? WHERE name = 'mnist'")
        .bind(weight_a)
        .execute(p.pool())
        .await
        .unwrap();
    for t in ["in", "out"] {
        std::fs::copy(
            p.root.join(format!("templates/mnist_{t}")),
            p.root.join(format!("templates/appb_{t}")),
        )
        .unwrap();
    }
    let files = p.temp_dir().join("inputs");
    std::fs::create_dir_all(&files).unwrap();
    let bundle = files.join("mnist10k_test.bundle");
    mnist::write_dataset_bundle(&bundle).unwrap();
    let one_replica = JobOverrides {
        min_quorum: Some(1),
        target_nresults: Some(1),
        ..Default::default()
    };
    for (app, n) in [("mnist", jobs_a), ("appb", jobs_b)] {
        let jobs: Vec<_> = (0..n)
            .map(|i| {
                let name = format!("{app}_{i}");
                let job = files.join(format!("{name}_job.json"));
                std::fs::write(&job, mnist::small_job(i as u64 + 1)).unwrap();
                (
                    name,
                    vec![InputArg::Path(job), InputArg::Path(bundle.clone())],
                )
            })
            .collect();
        p.create_work(app, &jobs, one_replica.clone())
            .await
            .unwrap();
    }
    p.run_transitioner().await.unwrap();
    h.reload()
}

/// An anonymous-platform `<app_version>` of `app` (the client's `app_info.xml`).
fn anonymous_version(app: &str) -> String {
    format!(
        "<app_version>\n    <app_name>{app}</app_name>\n    <version_num>300</version_num>\n    \
         <platform>x86_64-pc-linux-gnu</platform>\n    <avg_ncpus>1.000000</avg_ncpus>\n    \
         <flops>2000000000.000000</flops>\n    <api_version>7.20.0</api_version>\n</app_version>\n"
    )
}

/// A host on the anonymous platform with versions of `apps` only, asking for one job.
fn host_running(h: &Harness, name: &str, apps: &[&str]) -> Host {
    let mut host = Host::new(&h.project.authenticator, name);
    host.platform = "anonymous".into();
    host.app_versions = apps.iter().copied().map(anonymous_version).collect();
    host
}

/// Results sent so far, per app name.
async fn sent_per_app(h: &Harness) -> Vec<(String, i64)> {
    sqlx::query_as(
        "SELECT a.name, COUNT(*) FROM result r JOIN workunit w ON w.id = r.workunitid \
         JOIN app a ON a.id = w.appid WHERE r.server_state = 4 GROUP BY a.name ORDER BY a.name",
    )
    .fetch_all(h.project.pool())
    .await
    .unwrap()
}

#[tokio::test]
async fn feeder_allapps_a_backlog_of_one_app_leaves_slots_for_another() {
    // Three cache-fulls of app A, older than every job of app B.
    let h = two_apps(1.0, 1.0, 3 * CACHE, 4).await;
    let mut only_b = host_running(&h, "only-b", &["appb"]);
    let reply = only_b.rpc(&h).await;
    assert_eq!(
        reply.jobs.len(),
        1,
        "B's work reaches its host:\n{}",
        reply.text
    );
    assert!(
        reply.jobs[0].wu_name.starts_with("appb_"),
        "{:?}",
        reply.jobs
    );
    // And a host of app A alone is served from A's share at the same time.
    let mut only_a = host_running(&h, "only-a", &["mnist"]);
    let reply = only_a.rpc(&h).await;
    assert_eq!(reply.jobs.len(), 1, "{}", reply.text);
    assert!(reply.jobs[0].wu_name.starts_with("mnist_"));
    assert_eq!(
        sent_per_app(&h).await,
        [("appb".to_string(), 1), ("mnist".to_string(), 1)]
    );
}

#[tokio::test]
async fn feeder_weighted_interleave_mix_follows_app_weights() {
    // Weights 3 : 1, both apps with more jobs than the cache holds.
    let h = two_apps(3.0, 1.0, 2 * CACHE, 2 * CACHE).await;
    // One cache-full of one-job requests from hosts that run both apps: exactly the batch.
    for i in 0..CACHE {
        let mut host = host_running(&h, &format!("both-{i}"), &["mnist", "appb"]);
        let reply = host.rpc(&h).await;
        assert_eq!(reply.jobs.len(), 1, "host {i}:\n{}", reply.text);
    }
    assert_eq!(
        sent_per_app(&h).await,
        [("appb".to_string(), 5), ("mnist".to_string(), 15)],
        "the 20 slots split 15 : 5"
    );
}

#[tokio::test]
async fn feeder_allapps_slots_an_app_cannot_fill_go_to_the_others() {
    // App B has 2 jobs for its 10 slots: A's backlog takes the other 8 (BOINC would leave
    // them empty).
    let h = two_apps(1.0, 1.0, 3 * CACHE, 2).await;
    for i in 0..CACHE {
        let mut host = host_running(&h, &format!("both-{i}"), &["mnist", "appb"]);
        let reply = host.rpc(&h).await;
        assert_eq!(reply.jobs.len(), 1, "host {i}:\n{}", reply.text);
    }
    assert_eq!(
        sent_per_app(&h).await,
        [("appb".to_string(), 2), ("mnist".to_string(), 18)]
    );
}
