//! Malformed, forged and oversize input: each gets a clear error in the form the client expects,
//! and leaves no row and no file behind.

mod common;

use axum::body::Body;
use axum::http::{Request, StatusCode};
use common::{Harness, fixture, fixture_text};
use rboinc_core::crypt::{self, PrivateKey};
use rboinc_core::project::STOP_SCHED_FILE;
use rboinc_scheduler::metrics::RpcKind;
use rboinc_scheduler::upload::request::data_start;
use rboinc_testkit::mnist::small_job;
use rboinc_testkit::sim::{OutputFile, SimHost, get_file_size_body, parse_reply, upload_body};

/// Rows a refused request must not create or change.
async fn footprint(h: &Harness) -> (i64, i64, i64) {
    (
        h.count("SELECT COUNT(*) FROM host").await,
        h.count("SELECT COUNT(*) FROM result WHERE server_state != 2").await,
        h.count("SELECT CAST(COALESCE(SUM(rpc_seqno), 0) + COALESCE(SUM(rpc_time), 0) AS SIGNED) FROM host").await,
    )
}

/// Every file under the upload directory (partial uploads included).
fn upload_files(h: &Harness) -> Vec<String> {
    fn walk(dir: &std::path::Path, out: &mut Vec<String>) {
        for e in std::fs::read_dir(dir).into_iter().flatten().flatten() {
            let p = e.path();
            if p.is_dir() {
                walk(&p, out);
            } else {
                out.push(p.display().to_string());
            }
        }
    }
    let mut out = Vec::new();
    walk(&h.state.settings.upload_dir, &mut out);
    out
}

async fn harness_with_job() -> Harness {
    let h = Harness::new().await;
    h.project
        .create_mnist_work("wu_bad_input", &small_job(7), Default::default())
        .await
        .unwrap();
    h.project.run_transitioner().await.unwrap();
    h
}

#[tokio::test]
async fn malformed_scheduler_requests_get_a_message_and_change_nothing() {
    let h = harness_with_job().await;
    let before = footprint(&h).await;
    let cases: [(&str, Vec<u8>); 5] = [
        ("not XML", b"hello".to_vec()),
        (
            "no end tag",
            b"<scheduler_request><hostid>0</hostid>".to_vec(),
        ),
        (
            "unclosed element",
            b"<scheduler_request><authenticator>x</scheduler_request>".to_vec(),
        ),
        ("not text", vec![0xff, 0xfe, 0x00]),
        ("empty", Vec::new()),
    ];
    for (what, body) in cases {
        let (status, text) = h.post(&h.sched_path(), body).await;
        assert_eq!(status, StatusCode::OK, "{what}");
        assert!(
            text.contains("<message priority=\"low\">Error in request message: "),
            "{what}: {text}"
        );
        assert!(text.ends_with("</scheduler_reply>\n"), "{what}");
        assert!(!text.contains("<result>"), "{what}");
    }
    assert_eq!(footprint(&h).await, before);
    assert_eq!(h.state.metrics.rpcs(RpcKind::Refused), 5);
}

#[tokio::test]
async fn an_oversize_request_is_refused_without_reading_it_all() {
    let h = harness_with_job().await;
    let before = footprint(&h).await;
    let limit = h.state.settings.max_request_bytes;
    let mut huge = fixture_text("05_sched_attach_first_rpc.request.xml").into_bytes();
    huge.resize(limit + 1, b' ');
    let (_, text) = h.post(&h.sched_path(), huge).await;
    assert!(text.contains("request too large"), "{text}");
    assert!(
        text.contains("<request_delay>"),
        "the client is asked to wait: {text}"
    );
    assert_eq!(footprint(&h).await, before);
}

#[tokio::test]
async fn a_wrong_authenticator_is_told_so_and_writes_nothing() {
    let h = harness_with_job().await;
    let before = footprint(&h).await;
    // First contact with an unknown key (the fixture's key is not this project's).
    let text = h
        .rpc(&fixture_text("05_sched_attach_first_rpc.request.xml"))
        .await;
    assert!(
        text.contains(
            "<message priority=\"low\">Invalid or missing account key.  To fix, remove and add this project.</message>"
        ),
        "{text}"
    );
    assert!(text.contains("<request_delay>3600.000000</request_delay>"));
    assert!(!text.contains("<hostid>") && !text.contains("<code_sign_key>"));
    // A known host with a wrong key: a notice this time.
    let mut host = SimHost::new(&h.project.authenticator, "real-host");
    host.absorb(&parse_reply(&h.rpc(&host.request(0.0, &[])).await));
    let known = footprint(&h).await;
    host.authenticator = "f".repeat(32);
    host.rpc_seqno += 1;
    let text = h.rpc(&host.request(1.0, &[])).await;
    assert!(text.contains("<message priority=\"notice\">Invalid or missing account key"));
    assert!(!text.contains("<result>"));
    assert_eq!(
        footprint(&h).await,
        known,
        "nothing written for the bad key"
    );
    assert_eq!(
        before.0 + 1,
        known.0,
        "only the real host's record was made"
    );
}

#[tokio::test]
async fn stop_sched_answers_project_down() {
    let h = harness_with_job().await;
    let before = footprint(&h).await;
    let trigger = h.project.root.join(STOP_SCHED_FILE);
    std::fs::write(&trigger, "<stop/>\n").unwrap();
    let host = SimHost::new(&h.project.authenticator, "down-host");
    let text = h.rpc(&host.request(1.0, &[])).await;
    assert!(text.contains("<project_is_down/>"), "{text}");
    assert!(text.contains("<request_delay>3600.000000</request_delay>"));
    assert!(text.contains("Project is temporarily shut down for maintenance"));
    assert_eq!(footprint(&h).await, before);
    std::fs::remove_file(&trigger).unwrap();
    let text = h.rpc(&host.request(1.0, &[])).await;
    assert!(!text.contains("project_is_down"));
    assert_eq!(parse_reply(&text).jobs.len(), 1);
}

/// A job sent to a simulated host: its output files and their signatures.
async fn sent_output(h: &Harness) -> OutputFile {
    let host = SimHost::new(&h.project.authenticator, "uploading-host");
    let reply = parse_reply(&h.rpc(&host.request(1.0, &[])).await);
    reply.jobs[0].outputs[0].clone()
}

async fn upload(h: &Harness, body: Vec<u8>) -> String {
    let (status, text) = h.post(&h.upload_path(), body).await;
    assert_eq!(status, StatusCode::OK);
    assert!(text.starts_with("<data_server_reply>\n"), "{text}");
    text
}

#[tokio::test]
async fn uploads_need_a_valid_authorization_and_respect_max_nbytes() {
    let h = harness_with_job().await;
    let out = sent_output(&h).await;
    let data = b"{\"metrics\": 1}\n".to_vec();

    // Forged: the signature of another name.
    let mut forged = out.clone();
    forged.name = format!("{}_x", out.name);
    let text = upload(&h, upload_body(&forged, &data, 0)).await;
    assert!(
        text.contains("<status>-1</status>") && text.contains("invalid signature"),
        "{text}"
    );
    // Missing signature.
    let mut unsigned = out.clone();
    unsigned.xml_signature = String::new();
    let body = upload_body(&unsigned, &data, 0);
    let body = String::from_utf8(body)
        .unwrap()
        .replace("<xml_signature>\n</xml_signature>\n", "");
    let text = upload(&h, body.into_bytes()).await;
    assert!(text.contains("missing signature"), "{text}");
    // A raised max_nbytes no longer matches the signature.
    let mut bigger = out.clone();
    bigger.max_nbytes = "999999999".into();
    assert!(
        upload(&h, upload_body(&bigger, &data, 0))
            .await
            .contains("invalid signature")
    );
    // More bytes than the signed limit.
    let max: usize = out.max_nbytes.parse().unwrap();
    let too_big = vec![b'x'; max + 1];
    let text = upload(&h, upload_body(&out, &too_big, 0)).await;
    assert!(
        text.contains("<status>-1</status>") && text.contains("exceeds limit"),
        "{text}"
    );
    // No <data> line.
    let body = upload_body(&out, &data, 0);
    let header_only = body[..data_start(&body).unwrap() - "<data>\n".len()].to_vec();
    let text = upload(&h, header_only).await;
    assert!(text.contains("Missing &lt;data&gt; tag"), "{text}");
    // Garbage.
    assert!(
        upload(&h, b"hello".to_vec())
            .await
            .contains("<status>1</status>")
    );

    assert!(
        upload_files(&h).is_empty(),
        "nothing stored: {:?}",
        upload_files(&h)
    );
    assert_eq!(
        h.count("SELECT COUNT(*) FROM result WHERE server_state = 5")
            .await,
        0
    );

    // The genuine upload is stored where the validator will look.
    let text = upload(&h, upload_body(&out, &data, 0)).await;
    assert!(text.contains("<status>0</status>"), "{text}");
    let stored = rboinc_core::hier::dir_hier_path(
        &h.state.settings.upload_dir,
        &out.name,
        h.state.settings.fanout,
    )
    .unwrap();
    assert_eq!(std::fs::read(stored).unwrap(), data);
}

#[tokio::test]
async fn file_names_that_could_escape_the_upload_directory_are_refused() {
    let h = harness_with_job().await;
    // Signed with the project's own upload key, so only the name check can stop it.
    let key = PrivateKey::read_file(&h.state.settings.key_dir.join("upload_private")).unwrap();
    for name in ["../escaped", "a/../../escaped", "..", ".incoming"] {
        let out = OutputFile {
            name: name.to_string(),
            max_nbytes: "1000".into(),
            xml_signature: crypt::sign_upload(&key, name, 1000.0).unwrap().to_text(),
            url: String::new(),
        };
        let text = upload(&h, upload_body(&out, b"evil", 0)).await;
        assert!(text.contains("<status>-1</status>"), "{name}: {text}");
        assert!(text.contains("invalid filename"), "{name}: {text}");
        let text = upload(&h, get_file_size_body(name)).await;
        assert!(text.contains("<status>-1</status>"), "{name}: {text}");
    }
    assert!(upload_files(&h).is_empty());
    let parent = h.state.settings.upload_dir.parent().unwrap();
    assert!(!parent.join("escaped").exists());
}

#[tokio::test]
async fn an_interrupted_upload_resumes_at_the_offset() {
    let h = harness_with_job().await;
    let out = sent_output(&h).await;
    let data: Vec<u8> = (0..20_000u32).flat_map(|i| i.to_le_bytes()).collect();
    // The first attempt dies after 30,000 bytes of data.
    let mut body = upload_body(&out, &data, 0);
    let cut = data_start(&body).unwrap() + 30_000;
    body.truncate(cut);
    let text = upload(&h, body).await;
    assert!(text.contains("<status>1</status>"), "transient: {text}");
    let size = upload(&h, get_file_size_body(&out.name)).await;
    assert!(size.contains("<file_size>30000</file_size>"), "{size}");
    let stored = rboinc_core::hier::dir_hier_path(
        &h.state.settings.upload_dir,
        &out.name,
        h.state.settings.fanout,
    )
    .unwrap();
    assert!(!stored.exists(), "not in the hierarchy until complete");
    // The client resumes at the size the server reported.
    let text = upload(&h, upload_body(&out, &data, 30_000)).await;
    assert!(text.contains("<status>0</status>"), "{text}");
    assert_eq!(std::fs::read(&stored).unwrap(), data);
    let size = upload(&h, get_file_size_body(&out.name)).await;
    assert!(size.contains(&format!("<file_size>{}</file_size>", data.len())));
    // A repeated upload of a complete file is accepted and changes nothing.
    let text = upload(&h, upload_body(&out, &data, 0)).await;
    assert!(text.contains("<status>0</status>"));
    assert_eq!(std::fs::read(&stored).unwrap(), data);
}

#[tokio::test]
async fn the_real_clients_upload_is_accepted_when_certificates_are_ignored() {
    let h = Harness::new().await;
    h.project
        .set_option("ignore_upload_certificates", "1")
        .unwrap();
    let h = h.reload();
    let size = upload(&h, fixture("09_upload_get_file_size.request.xml")).await;
    assert_eq!(
        size,
        String::from_utf8(fixture("09_upload_get_file_size.reply.xml")).unwrap()
    );
    let text = upload(&h, fixture("10_upload_file_upload.request.body.txt")).await;
    assert_eq!(
        text,
        String::from_utf8(fixture("10_upload_file_upload.reply.xml")).unwrap()
    );
    let stored = rboinc_core::hier::dir_hier_path(
        &h.state.settings.upload_dir,
        "wu_1_0_out",
        h.state.settings.fanout,
    )
    .unwrap();
    assert_eq!(std::fs::metadata(stored).unwrap().len(), 10_033);
}

#[tokio::test]
async fn downloads_serve_files_with_ranges_but_no_listing_and_no_escape() {
    let h = harness_with_job().await;
    let urls = &h.state.settings.urls;
    let host = SimHost::new(&h.project.authenticator, "downloading-host");
    let reply = h.rpc(&host.request(1.0, &[])).await;
    // The executable's URL, from the reply.
    let url = rboinc_core::xml::text(&reply, "url").unwrap();
    let path = url.strip_prefix("http://127.0.0.1:").unwrap();
    let path = &path[path.find('/').unwrap()..];
    let (status, headers, body) = h.get(path).await;
    assert_eq!(status, StatusCode::OK);
    let name = path.rsplit('/').next().unwrap();
    let on_disk = std::fs::read(h.state.settings.download_dir.join(name)).unwrap();
    assert_eq!(body, on_disk);
    let length = headers
        .iter()
        .find(|(k, _)| k == "content-length")
        .map(|(_, v)| v.clone());
    assert_eq!(length, Some(on_disk.len().to_string()));

    // Resume: the tail from byte 10.
    let req = Request::get(path)
        .header("range", "bytes=10-")
        .body(Body::empty())
        .unwrap();
    let (status, _, body) = h.request(req).await;
    assert_eq!(status, StatusCode::PARTIAL_CONTENT);
    assert_eq!(body, on_disk[10..]);

    for bad in [
        format!("{}/", urls.download_path),
        urls.download_path.clone(),
        format!("{}/../config.xml", urls.download_path),
        format!("{}/%2e%2e/config.xml", urls.download_path),
        format!("{}/..%2fconfig.xml", urls.download_path),
        format!("{}/no_such_file", urls.download_path),
    ] {
        let (status, _, body) = h.get(&bad).await;
        assert!(
            status == StatusCode::NOT_FOUND || status == StatusCode::BAD_REQUEST,
            "{bad}: {status}"
        );
        let text = String::from_utf8_lossy(&body);
        assert!(
            !text.contains("<db_name>") && !text.contains(name),
            "{bad} leaked: {text}"
        );
    }
}
