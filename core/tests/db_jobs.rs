//! Typed rows and queries for the job side (platforms, apps, versions,
//! workunits, results, batches) against a migrated MariaDB: what is
//! inserted reads back field for field, lookups by name/id/key work, and
//! rows written the way BOINC's C++ code writes them (NULLs, raw blobs)
//! decode.

use rboinc_core::db::app::{self, NewApp};
use rboinc_core::db::app_version::{self, NewAppVersion};
use rboinc_core::db::batch::{self, NewBatch};
use rboinc_core::db::platform::{self, NewPlatform};
use rboinc_core::db::result::{self, NewResult};
use rboinc_core::db::workunit::{self, NewWorkunit};
use rboinc_core::db::{AppId, BatchId, HostId, ResultId, UserId};
use rboinc_core::state::{
    AssimilateState, BatchState, ClientState, ErrorMask, FileDeleteState, Outcome, ServerState,
    TRANSITION_TIME_NEVER, TransitionerFlags, ValidateState,
};
use rboinc_core::test_support::TestDb;
use sqlx::MySqlPool;

fn is_duplicate(e: &sqlx::Error) -> bool {
    e.as_database_error()
        .is_some_and(|d| d.is_unique_violation())
}

async fn app_with_version(pool: &MySqlPool) -> (AppId, rboinc_core::db::AppVersionId) {
    let pf = platform::insert(
        pool,
        &NewPlatform {
            create_time: 10,
            name: "x86_64-pc-linux-gnu",
            user_friendly_name: "Linux 64",
        },
    )
    .await
    .unwrap();
    let appid = app::insert(
        pool,
        &NewApp {
            create_time: 11,
            name: "mnist",
            user_friendly_name: "MNIST",
        },
    )
    .await
    .unwrap();
    let avid = app_version::insert(
        pool,
        &NewAppVersion {
            create_time: 12,
            appid,
            version_num: 101,
            platformid: pf,
            plan_class: "",
            xml_doc: "<app_version>\n</app_version>\n",
            min_core_version: 0,
            max_core_version: 0,
            beta: false,
        },
    )
    .await
    .unwrap();
    (appid, avid)
}

fn new_wu<'a>(appid: AppId, name: &'a str, batch: BatchId) -> NewWorkunit<'a> {
    NewWorkunit {
        create_time: 100,
        appid,
        name,
        xml_doc: "<workunit>\n    <file_ref/>\n</workunit>\n",
        batch,
        rsc_fpops_est: 1e12,
        rsc_fpops_bound: 1e13,
        rsc_memory_bound: 5e8,
        rsc_disk_bound: 1e9,
        rsc_bandwidth_bound: 0.0,
        canonical_credit: 0.0,
        transition_time: 100,
        delay_bound: 86400,
        opaque: 7.0,
        min_quorum: 2,
        target_nresults: 2,
        max_error_results: 3,
        max_total_results: 10,
        max_success_results: 6,
        result_template_file: "templates/mnist_out",
        priority: 0,
        transitioner_flags: TransitionerFlags::Normal,
        size_class: -1,
        keywords: "",
        app_version_num: 0,
    }
}

#[tokio::test]
async fn platform_app_and_version_lookups() {
    let db = TestDb::new().await;
    let (appid, avid) = app_with_version(db.pool()).await;

    let pf = platform::by_name(db.pool(), "x86_64-pc-linux-gnu")
        .await
        .unwrap()
        .unwrap();
    assert_eq!(
        (
            pf.create_time,
            pf.user_friendly_name.as_str(),
            pf.deprecated
        ),
        (10, "Linux 64", 0)
    );
    assert_eq!(
        platform::by_id(db.pool(), pf.id).await.unwrap(),
        Some(pf.clone())
    );
    assert_eq!(platform::active(db.pool()).await.unwrap(), vec![pf.clone()]);
    let dup = platform::insert(
        db.pool(),
        &NewPlatform {
            create_time: 1,
            name: "x86_64-pc-linux-gnu",
            user_friendly_name: "",
        },
    );
    assert!(is_duplicate(&dup.await.unwrap_err()));

    let a = app::by_name(db.pool(), "mnist").await.unwrap().unwrap();
    assert_eq!(a.id, appid);
    // BOINC's column defaults apply to what the insert leaves out.
    assert_eq!(
        (a.weight, a.min_avg_pfc, a.deprecated, a.target_nresults),
        (1.0, 1.0, 0, 0)
    );
    assert!(app::by_name(db.pool(), "nope").await.unwrap().is_none());
    assert!(app::set_deprecated(db.pool(), appid, true).await.unwrap());
    assert!(app::active(db.pool()).await.unwrap().is_empty());
    assert_eq!(app::all(db.pool()).await.unwrap().len(), 1);

    let v = app_version::by_key(db.pool(), appid, pf.id, 101, "")
        .await
        .unwrap()
        .unwrap();
    assert_eq!(v.id, avid);
    assert_eq!(v.xml_doc, "<app_version>\n</app_version>\n");
    assert_eq!(
        app_version::by_id(db.pool(), avid).await.unwrap(),
        Some(v.clone())
    );
    assert_eq!(
        app_version::for_app(db.pool(), appid).await.unwrap(),
        vec![v.clone()]
    );
    assert!(
        app_version::by_key(db.pool(), appid, pf.id, 101, "cuda")
            .await
            .unwrap()
            .is_none()
    );
    assert!(
        app_version::set_deprecated(db.pool(), avid, true)
            .await
            .unwrap()
    );
    assert!(app_version::active(db.pool()).await.unwrap().is_empty());
}

#[tokio::test]
async fn workunits_and_results_round_trip() {
    let db = TestDb::new().await;
    let (appid, _) = app_with_version(db.pool()).await;
    let b = batch::insert(
        db.pool(),
        &NewBatch {
            user_id: UserId(0),
            create_time: 99,
            name: "series-1",
            app_id: appid,
            njobs: 1,
            state: BatchState::InProgress,
            description: "first",
        },
    )
    .await
    .unwrap();
    let wu = new_wu(appid, "mnist_0001", b);
    let wuid = workunit::insert(db.pool(), &wu).await.unwrap();
    let row = workunit::by_name(db.pool(), "mnist_0001")
        .await
        .unwrap()
        .unwrap();
    assert_eq!(row.id, wuid);
    assert_eq!(
        (
            row.appid,
            row.batch,
            row.xml_doc.as_str(),
            row.delay_bound,
            row.min_quorum,
            row.opaque
        ),
        (appid, b, wu.xml_doc, 86400, 2, 7.0)
    );
    assert_eq!(
        (
            row.error_mask,
            row.file_delete_state,
            row.assimilate_state,
            row.canonical_resultid,
            row.need_validate
        ),
        (
            ErrorMask::NONE,
            FileDeleteState::Init,
            AssimilateState::Init,
            ResultId(0),
            0
        )
    );
    assert_eq!(
        (row.size_class, row.transitioner_flags),
        (-1, TransitionerFlags::Normal)
    );
    assert_eq!(workunit::by_id(db.pool(), wuid).await.unwrap(), Some(row));
    assert!(is_duplicate(
        &workunit::insert(db.pool(), &wu).await.unwrap_err()
    ));
    assert!(
        workunit::set_transition_time(db.pool(), wuid, TRANSITION_TIME_NEVER)
            .await
            .unwrap()
    );
    assert_eq!(
        workunit::by_id(db.pool(), wuid)
            .await
            .unwrap()
            .unwrap()
            .transition_time,
        i32::MAX
    );

    let new = |n: &'static str, state| NewResult {
        create_time: 101,
        workunitid: wuid,
        server_state: state,
        name: n,
        xml_doc_in: "<file_info/><result/>",
        batch: b,
        appid,
        priority: 3,
        random: 12345,
        size_class: -1,
    };
    let r0 = result::insert(db.pool(), &new("mnist_0001_0", ServerState::Unsent))
        .await
        .unwrap();
    let r1 = result::insert(db.pool(), &new("mnist_0001_1", ServerState::Inactive))
        .await
        .unwrap();
    let r = result::by_name(db.pool(), "mnist_0001_0")
        .await
        .unwrap()
        .unwrap();
    assert_eq!(
        (r.id, r.workunitid, r.server_state, r.outcome),
        (r0, wuid, ServerState::Unsent, Outcome::Init)
    );
    assert_eq!(
        (r.client_state, r.validate_state, r.file_delete_state),
        (ClientState::New, ValidateState::Init, FileDeleteState::Init)
    );
    assert_eq!(
        (
            r.xml_doc_in.as_str(),
            r.xml_doc_out.as_str(),
            r.stderr_out.as_str()
        ),
        ("<file_info/><result/>", "", "")
    );
    assert_eq!(
        (r.batch, r.priority, r.random, r.hostid),
        (b, 3, 12345, HostId(0))
    );
    let all = result::for_workunit(db.pool(), wuid).await.unwrap();
    assert_eq!(all.iter().map(|r| r.id).collect::<Vec<_>>(), [r0, r1]);
    assert!(
        result::by_id(db.pool(), ResultId(r1.0 + 100))
            .await
            .unwrap()
            .is_none()
    );

    let batch_row = batch::by_id(db.pool(), b).await.unwrap().unwrap();
    assert_eq!(
        (batch_row.name.as_str(), batch_row.state, batch_row.njobs),
        ("series-1", BatchState::InProgress, 1)
    );
    assert!(
        batch::set_state(db.pool(), b, BatchState::Retired)
            .await
            .unwrap()
    );
    assert_eq!(
        batch::by_name(db.pool(), "series-1")
            .await
            .unwrap()
            .unwrap()
            .state,
        BatchState::Retired
    );
}

/// BOINC's own writers leave text columns NULL and fill blobs with bytes
/// that need not be UTF-8; both must read (NULL as "", as in BOINC).
#[tokio::test]
async fn nulls_and_raw_blobs_decode() {
    let db = TestDb::new().await;
    let (appid, _) = app_with_version(db.pool()).await;
    let wuid = workunit::insert(db.pool(), &new_wu(appid, "wu_raw", BatchId(0)))
        .await
        .unwrap();
    sqlx::query("UPDATE workunit SET xml_doc = NULL WHERE id = ?")
        .bind(wuid)
        .execute(db.pool())
        .await
        .unwrap();
    assert_eq!(
        workunit::by_id(db.pool(), wuid)
            .await
            .unwrap()
            .unwrap()
            .xml_doc,
        ""
    );

    let rid = result::insert(
        db.pool(),
        &NewResult {
            create_time: 1,
            workunitid: wuid,
            server_state: ServerState::Over,
            name: "wu_raw_0",
            xml_doc_in: "",
            batch: BatchId(0),
            appid,
            priority: 0,
            random: 0,
            size_class: -1,
        },
    )
    .await
    .unwrap();
    sqlx::query("UPDATE result SET stderr_out = X'6F6BFF0A', xml_doc_out = NULL, outcome = 3, client_state = 3 WHERE id = ?")
        .bind(rid)
        .execute(db.pool())
        .await
        .unwrap();
    let r = result::by_id(db.pool(), rid).await.unwrap().unwrap();
    assert_eq!(
        (r.stderr_out.as_str(), r.xml_doc_out.as_str()),
        ("ok\u{FFFD}\n", "")
    );
    assert_eq!(
        (r.outcome, r.client_state),
        (Outcome::ClientError, ClientState::ComputeError)
    );

    // A number that is no BOINC state is an error naming the column, not a guess.
    sqlx::query("UPDATE result SET server_state = 3 WHERE id = ?")
        .bind(rid)
        .execute(db.pool())
        .await
        .unwrap();
    let err = result::by_id(db.pool(), rid).await.unwrap_err().to_string();
    assert!(
        err.contains("server_state") && err.contains("3 is not a valid BOINC result.server_state"),
        "{err}"
    );
}
