//! The real 7.20.5 client's requests (`fixtures/client-7.20.5/`), replayed in process against
//! a real project and database: the replies must carry everything the replies it accepted
//! carried, correctly signed, and the database must end as BOINC's scheduler leaves it.

mod common;

use common::{Harness, fixture_text, shape, top_level};
use rboinc_core::auth;
use rboinc_core::crypt::{self, PublicKey, Signature};
use rboinc_core::md5file;
use rboinc_scheduler::metrics::RpcKind;
use rboinc_testkit::mnist::small_job;
use rboinc_testkit::sim::{SimHost, parse_reply};
use sqlx::Row;

/// The account key in the fixtures.
const FIXTURE_KEY: &str = "0123456789abcdef0123456789abcdef";
/// The client CPID in the fixtures' `<host_info>`.
const FIXTURE_CPID: &str = "0f137975014a2816cb09d0ceae1a584d";

fn now() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_secs() as i64
}

/// A harness whose submitter has the fixtures' account key, with `jobs` mnist workunits
/// (two results each, from the real transitioner).
async fn harness_with_work(jobs: usize) -> Harness {
    let h = Harness::new().await;
    sqlx::query("UPDATE user SET authenticator = ? WHERE email_addr = ?")
        .bind(FIXTURE_KEY)
        .bind(&h.project.submitter_email)
        .execute(h.project.pool())
        .await
        .unwrap();
    for i in 0..jobs {
        h.project
            .create_mnist_work(
                &format!("wu_replay_{i}"),
                &small_job(i as u64 + 1),
                Default::default(),
            )
            .await
            .unwrap();
    }
    h.project.run_transitioner().await.unwrap();
    h
}

fn key_text(h: &Harness, name: &str) -> String {
    std::fs::read_to_string(h.state.settings.key_dir.join(name)).unwrap()
}

/// The fixture's later requests name the fixture server's host id and key; put ours in.
fn adapt(request: &str, hostid: i64, seqno: i32, our_key: &str) -> String {
    let start = request.find("    <code_sign_key>").unwrap();
    let end = request.find("</code_sign_key>\n").unwrap() + "</code_sign_key>\n".len();
    let with_key = format!(
        "{}    <code_sign_key>\n{}\n</code_sign_key>\n{}",
        &request[..start],
        our_key.trim(),
        &request[end..]
    );
    with_key
        .replacen(
            "<hostid>1</hostid>",
            &format!("<hostid>{hostid}</hostid>"),
            1,
        )
        .replacen(
            "<rpc_seqno>1</rpc_seqno>",
            &format!("<rpc_seqno>{seqno}</rpc_seqno>"),
            1,
        )
        .replacen(
            "<rpc_seqno>0</rpc_seqno>",
            &format!("<rpc_seqno>{seqno}</rpc_seqno>"),
            1,
        )
}

#[tokio::test]
async fn the_first_request_gets_a_reply_equivalent_to_the_accepted_one() {
    let h = harness_with_work(1).await;
    let before = now();
    let reply = h
        .rpc(&fixture_text("05_sched_attach_first_rpc.request.xml"))
        .await;
    let accepted = fixture_text("05_sched_attach_first_rpc.reply.xml");

    // Every element of the accepted reply, with every child it had, is in ours — except what
    // the fixture's test server added and BOINC's scheduler does not send: a workunit's
    // `<version_num>` (the client takes the version from the result) and an empty
    // `<command_line>` (the mnist app takes no arguments).
    let (ours, theirs) = (shape(&reply), shape(&accepted));
    for (element, children) in &theirs {
        let Some(mine) = ours.get(element) else {
            panic!("<{element}> missing from the reply:\n{reply}");
        };
        let optional: &[&str] = match element.as_str() {
            "workunit" => &["version_num", "command_line"],
            _ => &[],
        };
        let missing: Vec<_> = children
            .difference(mine)
            .filter(|c| !optional.contains(&c.as_str()))
            .collect();
        assert!(
            missing.is_empty(),
            "<{element}> lacks {missing:?}:\n{reply}"
        );
    }
    let names = top_level(&reply);
    assert_eq!(
        names.iter().filter(|n| *n == "result").count(),
        1,
        "one job for a 1 s request"
    );
    assert_eq!(names.iter().filter(|n| *n == "hostid").count(), 1);

    let r = parse_reply(&reply);
    // The host record was created, and its id sent.
    let host = sqlx::query("SELECT id, userid, rpc_seqno, host_cpid, p_ncpus, os_name, domain_name, rpc_time FROM host")
        .fetch_one(h.project.pool())
        .await
        .unwrap();
    let hostid: i64 = host.get::<i32, _>("id").into();
    assert_eq!(r.hostid, Some(hostid));
    assert_eq!(host.get::<i32, _>("rpc_seqno"), 0);
    assert_eq!(
        host.get::<String, _>("host_cpid"),
        auth::host_cpid_for_account(FIXTURE_CPID, &h.project.submitter_email)
    );
    assert_eq!(host.get::<i32, _>("p_ncpus"), 2);
    assert_eq!(host.get::<String, _>("os_name"), "Linux Debian");
    assert!(i64::from(host.get::<i32, _>("rpc_time")) >= before);

    // The code-signing key is the project's, and the app's files verify with it.
    let code_key = key_text(&h, "code_sign_public");
    assert_eq!(
        r.code_sign_key.as_deref().map(str::trim),
        Some(code_key.trim())
    );
    let code_key = PublicKey::from_text(&code_key).unwrap();
    assert_eq!(r.signed_files.len(), 1, "{reply}");
    let exe = h.state.settings.download_dir.join(&r.signed_files[0]);
    let file_signature = reply
        .split("<file_signature>")
        .nth(1)
        .and_then(|s| s.split("</file_signature>").next())
        .unwrap();
    code_key
        .verify_file(&exe, &Signature::from_text(file_signature).unwrap())
        .expect("the executable's signature verifies with the code-signing key");

    // The job: the right workunit, deadline, version; outputs signed with the upload key.
    let job = &r.jobs[0];
    assert_eq!(job.wu_name, "wu_replay_0");
    assert_eq!(job.version_num, 100);
    assert_eq!(job.platform, "x86_64-pc-linux-gnu");
    assert!(
        (job.report_deadline - (before + 3600)).abs() <= 5,
        "delay_bound 3600"
    );
    // The mnist result template asks for prompt reports; the reply carries the project's choice.
    assert!(reply.contains("<report_immediately/>"));
    let upload_key = PublicKey::from_text(&key_text(&h, "upload_public")).unwrap();
    assert_eq!(job.outputs.len(), 2, "metrics.json and weights.npy");
    for out in &job.outputs {
        crypt::verify_upload(&upload_key, &out.name, &out.max_nbytes, &out.xml_signature)
            .expect("upload authorization verifies");
        assert!(out.url.contains("file_upload_handler"));
    }

    // The database: sent as BOINC sends (mark_as_sent), and the workunit will time it out.
    let row = sqlx::query(
        "SELECT r.server_state, r.hostid, r.userid, r.sent_time, r.report_deadline, r.app_version_id, \
         r.outcome, r.client_state, w.transition_time, w.delay_bound FROM result r \
         JOIN workunit w ON w.id = r.workunitid WHERE r.name = ?",
    )
    .bind(&job.name)
    .fetch_one(h.project.pool())
    .await
    .unwrap();
    assert_eq!(row.get::<i32, _>("server_state"), 4);
    assert_eq!(i64::from(row.get::<i32, _>("hostid")), hostid);
    assert_eq!(row.get::<i32, _>("outcome"), 0);
    assert_eq!(row.get::<i32, _>("client_state"), 0);
    let sent = i64::from(row.get::<i32, _>("sent_time"));
    assert!(sent >= before);
    assert_eq!(
        i64::from(row.get::<i32, _>("report_deadline")),
        sent + i64::from(row.get::<i32, _>("delay_bound")),
        "grace period 0"
    );
    assert!(row.get::<i32, _>("transition_time") <= row.get::<i32, _>("report_deadline"));
    let version_id: i32 = sqlx::query_scalar("SELECT id FROM app_version WHERE version_num = 100")
        .fetch_one(h.project.pool())
        .await
        .unwrap();
    assert_eq!(row.get::<i32, _>("app_version_id"), version_id);
    // The other replica of the workunit is still unsent.
    assert_eq!(
        h.count("SELECT COUNT(*) FROM result WHERE server_state = 2")
            .await,
        1
    );
    assert_eq!(h.state.metrics.rpcs(RpcKind::Work), 1);
    assert_eq!(h.state.metrics.sent(), 1);
}

#[tokio::test]
async fn reports_are_processed_and_acknowledged() {
    let h = harness_with_work(2).await;
    let first = parse_reply(
        &h.rpc(&fixture_text("05_sched_attach_first_rpc.request.xml"))
            .await,
    );
    let hostid = first.hostid.unwrap();
    let job = first.jobs[0].clone();
    let our_key = key_text(&h, "code_sign_public");

    // The real report, naming our job and its output file. The job ran 5 s: make it look
    // sent a minute ago, so the elapsed time is plausible.
    sqlx::query("UPDATE result SET sent_time = sent_time - 60 WHERE name = ?")
        .bind(&job.name)
        .execute(h.project.pool())
        .await
        .unwrap();
    let report = adapt(
        &fixture_text("11_sched_report.request.xml"),
        hostid,
        1,
        &our_key,
    )
    .replace("wu_1_0_out", &job.outputs[0].name)
    .replace("wu_1_0", &job.name);
    let before = now();
    let reply = h.rpc(&report).await;
    let r = parse_reply(&reply);
    assert_eq!(r.acks, vec![job.name.clone()], "{reply}");
    assert!(r.hostid.is_none(), "no hostid for a known host: {reply}");
    assert!(r.code_sign_key.is_none(), "the client has the key: {reply}");

    let row = sqlx::query(
        "SELECT r.server_state, r.outcome, r.client_state, r.exit_status, r.cpu_time, r.elapsed_time, \
         r.received_time, r.validate_state, r.app_version_num, r.stderr_out, r.xml_doc_out, \
         w.transition_time FROM result r JOIN workunit w ON w.id = r.workunitid WHERE r.name = ?",
    )
    .bind(&job.name)
    .fetch_one(h.project.pool())
    .await
    .unwrap();
    assert_eq!(row.get::<i32, _>("server_state"), 5, "OVER");
    assert_eq!(row.get::<i32, _>("outcome"), 1, "SUCCESS");
    assert_eq!(row.get::<i32, _>("client_state"), 5, "FILES_UPLOADED");
    assert_eq!(row.get::<i32, _>("exit_status"), 0);
    assert_eq!(
        row.get::<i32, _>("validate_state"),
        0,
        "INIT: for the validator"
    );
    assert_eq!(row.get::<i32, _>("app_version_num"), 100);
    assert_eq!(row.get::<f64, _>("cpu_time"), 0.044774);
    assert_eq!(row.get::<f64, _>("elapsed_time"), 5.020007);
    assert!(i64::from(row.get::<i32, _>("received_time")) >= before);
    let stderr = String::from_utf8(row.get::<Vec<u8>, _>("stderr_out")).unwrap();
    assert!(stderr.contains("testapp: exiting with 0"), "{stderr}");
    let doc_out = String::from_utf8(row.get::<Vec<u8>, _>("xml_doc_out")).unwrap();
    assert!(doc_out.contains(&format!("<name>{}</name>", job.outputs[0].name)));
    assert!(doc_out.contains("<md5_cksum>57edc415bbc47861f76775179654a4ff</md5_cksum>"));
    assert!(
        i64::from(row.get::<i32, _>("transition_time")) <= now(),
        "the transitioner is woken"
    );

    // The report also asked for work: the other workunit's job came with it (never the
    // second replica of the workunit this host already had).
    assert_eq!(r.jobs.len(), 1, "{reply}");
    assert_ne!(r.jobs[0].wu_name, job.wu_name, "{reply}");
    let second = r.jobs[0].clone();

    // Reported twice (a lost reply): acknowledged again, not written again.
    let again = h
        .rpc(&report.replace("<rpc_seqno>1</rpc_seqno>", "<rpc_seqno>2</rpc_seqno>"))
        .await;
    assert_eq!(parse_reply(&again).acks, vec![job.name.clone()]);
    let received: i32 = sqlx::query_scalar("SELECT received_time FROM result WHERE name = ?")
        .bind(&job.name)
        .fetch_one(h.project.pool())
        .await
        .unwrap();
    assert_eq!(
        i64::from(received),
        i64::from(row.get::<i32, _>("received_time"))
    );

    // A compute error (the real client's report of an app that exited with 7).
    let error_report = adapt(
        &fixture_text("25_sched_request_report_compute_error_exit7.xml"),
        hostid,
        3,
        &our_key,
    );
    let reported_name =
        rboinc_core::xml::text(error_report.split("<result>").nth(1).unwrap(), "name").unwrap();
    let error_report = error_report.replace(&reported_name, &second.name);
    let reply = parse_reply(&h.rpc(&error_report).await);
    assert!(reply.acks.contains(&second.name));
    let (outcome, validate, exit): (i32, i32, i32) =
        sqlx::query_as("SELECT outcome, validate_state, exit_status FROM result WHERE name = ?")
            .bind(&second.name)
            .fetch_one(h.project.pool())
            .await
            .unwrap();
    assert_eq!(
        (outcome, validate, exit),
        (3, 2, 7),
        "CLIENT_ERROR, INVALID, exit 7"
    );

    // Unknown names are acknowledged (so the client forgets them) and change nothing.
    let unknown = report
        .replace(&job.name, "no_such_result_0")
        .replace("<rpc_seqno>1</rpc_seqno>", "<rpc_seqno>4</rpc_seqno>");
    assert_eq!(
        parse_reply(&h.rpc(&unknown).await).acks,
        vec!["no_such_result_0".to_string()]
    );
    assert_eq!(h.state.metrics.rpcs(RpcKind::Work), 5);
}

#[tokio::test]
async fn the_code_signing_key_is_sent_only_to_clients_without_it() {
    let h = harness_with_work(0).await;
    let first = h
        .rpc(&fixture_text("05_sched_attach_first_rpc.request.xml"))
        .await;
    let r = parse_reply(&first);
    assert!(r.code_sign_key.is_some());
    assert!(
        r.messages
            .iter()
            .any(|m| m == "Project has no tasks available")
    );
    let hostid = r.hostid.unwrap();
    let our_key = key_text(&h, "code_sign_public");
    // The fixture's second request carries a key: ours, it gets none; the fixture server's,
    // it is told to re-attach (there is no rotation chain to its key).
    let second = adapt(
        &fixture_text("08_sched_workfetch_nowork.request.xml"),
        hostid,
        1,
        &our_key,
    );
    let reply = h.rpc(&second).await;
    assert!(!reply.contains("<code_sign_key>"), "{reply}");
    let foreign = fixture_text("08_sched_workfetch_nowork.request.xml")
        .replacen(
            "<hostid>1</hostid>",
            &format!("<hostid>{hostid}</hostid>"),
            1,
        )
        .replacen("<rpc_seqno>0</rpc_seqno>", "<rpc_seqno>2</rpc_seqno>", 1);
    let reply = h.rpc(&foreign).await;
    assert!(!reply.contains("<code_sign_key>"));
    assert!(
        reply.contains("The project has changed its security key"),
        "{reply}"
    );
}

#[tokio::test]
async fn lost_results_are_resent_and_hosts_keep_their_records() {
    let h = harness_with_work(1).await;
    let mut host = SimHost::new(FIXTURE_KEY, "lost-results-host");
    let reply = parse_reply(&h.rpc(&host.request(1.0, &[])).await);
    host.absorb(&reply);
    assert_eq!(reply.jobs.len(), 1);
    let job = reply.jobs[0].clone();
    // The client lost the reply: it holds nothing, and asks again.
    host.holding.clear();
    let reply_text = h.rpc(&host.request(1.0, &[])).await;
    let again = parse_reply(&reply_text);
    assert_eq!(again.jobs.len(), 1, "{reply_text}");
    assert_eq!(again.jobs[0].name, job.name, "the same job, resent");
    assert!(
        again
            .messages
            .iter()
            .any(|m| m == &format!("Resent lost task {}", job.name))
    );
    assert!(again.hostid.is_none());
    assert_eq!(
        h.count("SELECT COUNT(*) FROM result WHERE server_state = 4")
            .await,
        1,
        "still one job in progress"
    );
    assert_eq!(h.count("SELECT COUNT(*) FROM host").await, 1);

    // A state file copied to another machine (rpc_seqno goes back) gets a new host record.
    host.absorb(&again);
    host.absorb(&parse_reply(&h.rpc(&host.request(0.0, &[])).await));
    let mut copy = host.clone();
    copy.rpc_seqno = 0;
    copy.holding.clear();
    let reply = parse_reply(&h.rpc(&copy.request(0.0, &[])).await);
    let new_id = reply.hostid.expect("a new host id");
    assert_ne!(new_id, host.hostid);
    assert_eq!(h.count("SELECT COUNT(*) FROM host").await, 2);
}

#[tokio::test]
async fn a_new_app_version_is_used_for_new_work_without_a_client_reset() {
    let h = harness_with_work(2).await;
    let mut host = SimHost::new(FIXTURE_KEY, "upgrade-host");
    let r1 = parse_reply(&h.rpc(&host.request(1.0, &[])).await);
    host.absorb(&r1);
    assert_eq!(r1.jobs[0].version_num, 100);
    assert_eq!(r1.app_versions, vec![100]);
    let old_file = r1.signed_files[0].clone();

    Harness::publish(&h.project, "1.4").await;
    // update_versions touched reread_db; the catalog notices within a second.
    tokio::time::sleep(std::time::Duration::from_millis(1100)).await;
    let r2 = parse_reply(&h.rpc(&host.request(1.0, &[])).await);
    assert_eq!(r2.jobs.len(), 1);
    assert_eq!(r2.jobs[0].version_num, 104, "new work goes out with 1.4");
    assert_eq!(r2.app_versions, vec![104]);
    assert_ne!(
        r2.signed_files[0], old_file,
        "a new version has new file names"
    );
    assert!(r2.signed_files[0].contains("1.4"));
    let version_ids: Vec<i32> = sqlx::query_scalar(
        "SELECT r.app_version_id FROM result r WHERE r.server_state = 4 ORDER BY r.sent_time, r.id",
    )
    .fetch_all(h.project.pool())
    .await
    .unwrap();
    assert_eq!(version_ids.len(), 2);
    assert_ne!(version_ids[0], version_ids[1]);
}

#[tokio::test]
async fn anonymous_platform_clients_get_work_for_their_own_version() {
    let h = harness_with_work(1).await;
    let host = SimHost::new(FIXTURE_KEY, "anonymous-host");
    let request = host
        .request(1.0, &[])
        .replace(
            "<platform_name>x86_64-pc-linux-gnu</platform_name>",
            "<platform_name>anonymous</platform_name>",
        )
        .replace(
            "<other_results>",
            "<app_versions>\n<app_version>\n    <app_name>mnist</app_name>\n    <version_num>300</version_num>\n    \
             <platform>x86_64-pc-linux-gnu</platform>\n    <avg_ncpus>1.000000</avg_ncpus>\n    \
             <flops>2000000000.000000</flops>\n    <api_version>7.20.0</api_version>\n</app_version>\n</app_versions>\n<other_results>",
        );
    let text = h.rpc(&request).await;
    let r = parse_reply(&text);
    assert_eq!(r.jobs.len(), 1, "{text}");
    assert_eq!(r.jobs[0].version_num, 300);
    assert!(
        r.app_versions.is_empty(),
        "the client has its own app: {text}"
    );
    assert!(!text.contains("<app>"));
    let avid: i32 = sqlx::query_scalar("SELECT app_version_id FROM result WHERE server_state = 4")
        .fetch_one(h.project.pool())
        .await
        .unwrap();
    assert_eq!(avid, -2, "BOINC's ANON_PLATFORM_CPU");

    // A client whose app_info.xml has no version of the app gets nothing.
    let other = SimHost::new(FIXTURE_KEY, "anonymous-host-2")
        .request(1.0, &[])
        .replace(
            "<platform_name>x86_64-pc-linux-gnu</platform_name>",
            "<platform_name>anonymous</platform_name>",
        );
    assert!(parse_reply(&h.rpc(&other).await).jobs.is_empty());
}

/// The md5 helper is the one the server uses for its checks.
#[test]
fn fixture_output_md5_is_what_the_client_declared() {
    let body = common::fixture("10_upload_file_upload.request.body.txt");
    let data = &body[689..];
    assert_eq!(
        md5file::Md5Hex::of_bytes(data).as_str(),
        "57edc415bbc47861f76775179654a4ff"
    );
}

#[tokio::test]
async fn clients_are_asked_back_quickly_only_while_work_is_in_flight() {
    let h = Harness::new().await;
    h.project.set_option("next_rpc_delay", "0").unwrap();
    h.project.set_option("next_rpc_delay_busy", "3").unwrap();
    let h = h.reload();
    let mut host = SimHost::new(&h.project.authenticator, "polling-host");
    let idle = parse_reply(&h.rpc(&host.request(1.0, &[])).await);
    host.absorb(&idle);
    assert_eq!(
        idle.next_rpc_delay, None,
        "an idle project keeps clients quiet"
    );

    h.project
        .create_mnist_work("wu_busy", &small_job(3), Default::default())
        .await
        .unwrap();
    h.project.run_transitioner().await.unwrap();
    // The project's activity is looked up at most every two seconds.
    tokio::time::sleep(std::time::Duration::from_millis(2100)).await;
    let busy = parse_reply(&h.rpc(&host.request(1.0, &[])).await);
    assert_eq!(busy.jobs.len(), 1);
    assert_eq!(
        busy.next_rpc_delay,
        Some(3.0),
        "work in flight: come back in 3 s"
    );
}
