//! A stray byte that is not UTF-8 in a request's text, read as BOINC's byte-oriented parser
//! reads it (`parse_str` in lib/parse.cpp, `HOST::parse`/`SCHEDULER_REQUEST::parse` in
//! sched/sched_types.cpp): the request is served and the byte is kept in the column, not the
//! whole request refused.

mod common;

use common::hosts::{Host, Reply};

/// `text` with the first `<tag>…</tag>` content replaced by raw `bytes`.
fn splice(text: &[u8], tag: &str, bytes: &[u8]) -> Vec<u8> {
    let open = format!("<{tag}>");
    let close = format!("</{tag}>");
    let find = |needle: &str| {
        text.windows(needle.len())
            .position(|w| w == needle.as_bytes())
            .unwrap_or_else(|| panic!("no {needle}"))
    };
    let start = find(&open) + open.len();
    let end = find(&close);
    [&text[..start], bytes, &text[end..]].concat()
}

#[tokio::test]
async fn parse_str_keeps_stray_bytes_so_the_host_is_served_and_its_report_stored() {
    let h = common::hosts::project_with(&[("1.0", "")], 1, None).await;
    let mut host = Host::new(&h.project.authenticator, "latin1-host");
    let mut body = host.request().into_bytes();
    body = splice(&body, "domain_name", b"caf\xe9-pc");
    body = splice(&body, "os_name", b"Linux \xff");
    body = splice(&body, "p_model", b"CPU \xe2\x82 model \xc3\xa9");
    let (status, text) = h.post(&h.sched_path(), body).await;
    assert_eq!(status, axum::http::StatusCode::OK);
    assert!(!text.contains("Error in request message"), "{text}");
    let reply = Reply::parse(&text);
    assert_eq!(reply.jobs.len(), 1, "the host gets work:\n{text}");
    let hostid: i64 = rboinc_core::xml::parse(&text, "hostid").expect("a host record");

    // Each stray byte is the Latin-1 character of its value; valid UTF-8 around it unchanged.
    let (domain, os, model): (String, String, String) =
        sqlx::query_as("SELECT domain_name, os_name, p_model FROM host WHERE id = ?")
            .bind(hostid)
            .fetch_one(h.project.pool())
            .await
            .unwrap();
    assert_eq!(domain, "café-pc");
    assert_eq!(os, "Linux ÿ");
    assert_eq!(model, "CPU â\u{82} model é");

    // The task's report carries a stray byte in its stderr: stored, the report accepted.
    host.hostid = hostid;
    host.rpc_seqno = 1;
    let name = &reply.jobs[0].name;
    let report = format!(
        "<result>\n    <name>{name}</name>\n    <final_cpu_time>1.0</final_cpu_time>\n    \
         <final_elapsed_time>2.0</final_elapsed_time>\n    <exit_status>0</exit_status>\n    \
         <state>5</state>\n    <app_version_num>100</app_version_num>\n    \
         <stderr_out>\n<![CDATA[\nstarting\nna@ve output\n]]>\n</stderr_out>\n</result>\n"
    );
    // 0xEF: 'ï' in Latin-1, a lone lead byte in UTF-8.
    let report: Vec<u8> = report
        .bytes()
        .map(|b| if b == b'@' { 0xef } else { b })
        .collect();
    let body = host.request().into_bytes();
    let at = body
        .windows(15)
        .position(|w| w == b"<other_results>")
        .unwrap();
    let body = [&body[..at], &report[..], &body[at..]].concat();
    let (status, text) = h.post(&h.sched_path(), body).await;
    assert_eq!(status, axum::http::StatusCode::OK);
    assert!(
        text.contains(&format!("<result_ack>\n    <name>{name}</name>")),
        "{text}"
    );
    let (outcome, stderr): (i32, Vec<u8>) =
        sqlx::query_as("SELECT outcome, stderr_out FROM result WHERE name = ?")
            .bind(name)
            .fetch_one(h.project.pool())
            .await
            .unwrap();
    assert_eq!(outcome, 1, "success");
    let stderr = String::from_utf8(stderr).unwrap();
    assert!(stderr.contains("naïve output"), "{stderr}");
}
