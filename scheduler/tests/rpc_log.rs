//! Each scheduler RPC leaves exactly one INFO line — who asked, what it reported with which
//! outcome, which jobs went out with which version, the reply's messages, how long it took —
//! in text and in JSON, where every field is at the top level of the object.

mod common;

use common::Harness;
use rboinc_core::telemetry::{self, Captured, LogFormat};
use rboinc_testkit::mnist::small_job;
use rboinc_testkit::sim::{Report, SimHost, parse_reply};

/// A harness with one mnist workunit (two results, from the real transitioner).
async fn harness_with_one_job() -> Harness {
    let h = Harness::new().await;
    h.project
        .create_mnist_work("wu_log_0", &small_job(1), Default::default())
        .await
        .unwrap();
    h.project.run_transitioner().await.unwrap();
    h
}

async fn id_of(h: &Harness, sql: &str, name: &str) -> i64 {
    sqlx::query_scalar(sqlx::AssertSqlSafe(sql.to_string()))
        .bind(name)
        .fetch_one(h.project.pool())
        .await
        .unwrap()
}

/// A host's first RPC (gets the job), then its report (the job succeeded), captured at the
/// default level `-d 3`. Returns the lines of each RPC, with the ids they should name.
async fn two_rpcs(format: LogFormat) -> (Vec<String>, Vec<String>, Ids) {
    let h = harness_with_one_job().await;
    let captured: Captured = telemetry::capture(format, 3);
    let _guard = tracing::dispatcher::set_default(&captured.dispatch);

    let mut host = SimHost::new(&h.project.authenticator, "rpc-log-host");
    let reply = parse_reply(&h.rpc(&host.request(1.0, &[])).await);
    host.absorb(&reply);
    assert_eq!(reply.jobs.len(), 1);
    let first = captured.lines();

    let job = reply.jobs[0].clone();
    let report = Report {
        outputs: job.outputs.iter().map(|_| b"{}".to_vec()).collect(),
        job: job.clone(),
        state: 5,
        exit_status: 0,
    };
    host.absorb(&parse_reply(&h.rpc(&host.request(0.0, &[report])).await));
    let second = captured.lines()[first.len()..].to_vec();

    let ids = Ids {
        host: host.hostid,
        user: id_of(
            &h,
            "SELECT CAST(id AS SIGNED) FROM user WHERE authenticator = ?",
            &h.project.authenticator,
        )
        .await,
        result: id_of(
            &h,
            "SELECT CAST(id AS SIGNED) FROM result WHERE name = ?",
            &job.name,
        )
        .await,
        wu: id_of(
            &h,
            "SELECT CAST(id AS SIGNED) FROM workunit WHERE name = ?",
            "wu_log_0",
        )
        .await,
    };
    (first, second, ids)
}

#[derive(Debug)]
struct Ids {
    host: i64,
    user: i64,
    result: i64,
    wu: i64,
}

/// The INFO lines among `lines` (text format).
fn info_lines(lines: &[String]) -> Vec<&String> {
    lines
        .iter()
        .filter(|l| l.split_whitespace().nth(1) == Some("INFO"))
        .collect()
}

#[tokio::test]
async fn one_text_line_per_rpc_names_the_host_the_jobs_and_the_outcomes() {
    let (first, second, ids) = two_rpcs(LogFormat::Text).await;

    let info = info_lines(&first);
    assert_eq!(
        info.len(),
        1,
        "exactly one INFO line for the RPC: {first:#?}"
    );
    let line = info[0];
    assert!(line.contains("scheduler RPC"), "{line}");
    for part in [
        format!("host_id={}", ids.host),
        format!("user_id={}", ids.user),
        "new_host=true".to_string(),
        "client=7.20.5".to_string(),
        "platform=x86_64-pc-linux-gnu".to_string(),
        "kind=\"work\"".to_string(),
        format!("sent={} (wu {}, mnist 100)", ids.result, ids.wu),
        " ms=".to_string(),
    ] {
        assert!(line.contains(&part), "{part:?} not in {line}");
    }

    let info = info_lines(&second);
    assert_eq!(info.len(), 1, "{second:#?}");
    let line = info[0];
    for part in [
        format!("host_id={}", ids.host),
        "new_host=false".to_string(),
        format!("reported={} SUCCESS", ids.result),
        "acks=1".to_string(),
    ] {
        assert!(line.contains(&part), "{part:?} not in {line}");
    }
    // Nothing but the RPC's lines (no warning either) at the default level.
    assert_eq!(
        (first.len(), second.len()),
        (1, 1),
        "{first:#?}\n{second:#?}"
    );
}

#[tokio::test]
async fn the_json_line_has_every_field_at_the_top_level() {
    let (first, second, ids) = two_rpcs(LogFormat::Json).await;
    let parse = |lines: &[String]| -> Vec<serde_json::Value> {
        lines
            .iter()
            .map(|l| serde_json::from_str(l).unwrap_or_else(|e| panic!("{l}: {e}")))
            .collect()
    };
    let first = parse(&first);
    assert_eq!(first.len(), 1, "{first:#?}");
    let line = &first[0];
    assert_eq!(line["level"], "INFO");
    assert_eq!(line["message"], "scheduler RPC");
    assert_eq!(line["host_id"], ids.host);
    assert_eq!(line["user_id"], ids.user);
    assert_eq!(line["client"], "7.20.5");
    assert_eq!(line["kind"], "work");
    assert_eq!(
        line["sent"],
        format!("{} (wu {}, mnist 100)", ids.result, ids.wu)
    );
    assert!(line["ms"].as_f64().unwrap() >= 0.0);
    // The request span's fields are there too.
    assert_eq!(line["method"], "POST");

    let second = parse(&second);
    assert_eq!(second.len(), 1, "{second:#?}");
    assert_eq!(second[0]["reported"], format!("{} SUCCESS", ids.result));
    assert_eq!(second[0]["host_id"], ids.host);
}
