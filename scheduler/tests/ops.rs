//! The ops page and `/metrics`, in process, on a real project and database: who gets in, what
//! the page shows for real rows, files and processes, and the metrics text read back.

mod common;

use std::collections::BTreeMap;

use axum::body::Body;
use axum::http::{Request, StatusCode};
use base64::Engine as _;
use common::Harness;
use openmetrics_parser::prometheus::parse_prometheus;
use openmetrics_parser::{MetricsExposition, PrometheusType, PrometheusValue};
use rboinc_scheduler::metrics::RpcKind;
use rboinc_scheduler::ops::{self, snapshot};
use rboinc_scheduler::server;
use rboinc_scheduler::state::AppState;
use rboinc_testkit::mnist::small_job;
use rboinc_testkit::sim::{Report, SimHost, parse_reply};

const USER: &str = "admin";
const PASSWORD: &str = "correct horse battery";

/// Replaces the project's password file (make_project wrote one with a random password) with
/// one entry of the given password (bcrypt cost 4: the tests check logic, not cost).
fn set_password(h: &Harness, user: &str, password: &str) {
    let hash = bcrypt::hash_with_result(password, 4)
        .unwrap()
        .format_for_version(bcrypt::Version::TwoY);
    std::fs::write(htpasswd_path(h), format!("{user}:{hash}\n")).unwrap();
}

fn htpasswd_path(h: &Harness) -> std::path::PathBuf {
    h.project.root.join(ops::DEFAULT_HTPASSWD)
}

fn basic(user: &str, password: &str) -> String {
    let token = base64::engine::general_purpose::STANDARD.encode(format!("{user}:{password}"));
    format!("Basic {token}")
}

struct Answer {
    status: StatusCode,
    headers: Vec<(String, String)>,
    body: String,
}

impl Answer {
    fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(k, _)| k.eq_ignore_ascii_case(name))
            .map(|(_, v)| v.as_str())
    }
}

async fn get(h: &Harness, path: &str, authorization: Option<&str>) -> Answer {
    let mut req = Request::get(path);
    if let Some(a) = authorization {
        req = req.header("authorization", a);
    }
    let (status, headers, body) = h.request(req.body(Body::empty()).unwrap()).await;
    Answer {
        status,
        headers,
        body: String::from_utf8(body).unwrap(),
    }
}

async fn login(h: &Harness, path: &str) -> Answer {
    get(h, path, Some(&basic(USER, PASSWORD))).await
}

#[tokio::test]
async fn the_ops_routes_need_a_login_from_the_password_file() {
    let h = Harness::new().await;
    set_password(&h, USER, PASSWORD);
    for path in [ops::OPS_PATH, ops::METRICS_PATH] {
        let none = get(&h, path, None).await;
        assert_eq!(none.status, StatusCode::UNAUTHORIZED, "{path}");
        assert_eq!(
            none.header("www-authenticate"),
            Some("Basic realm=\"rboinc Test Project operations\", charset=\"UTF-8\"")
        );
        assert!(!none.body.contains("<table") && !none.body.contains("rboinc_"));
        for wrong in [
            basic(USER, "correct horse"),
            basic("root", PASSWORD),
            basic(USER, ""),
            "Bearer abc".to_string(),
            "Basic not-base64!".to_string(),
        ] {
            let a = get(&h, path, Some(&wrong)).await;
            assert_eq!(a.status, StatusCode::UNAUTHORIZED, "{path} with {wrong}");
        }
        let ok = login(&h, path).await;
        assert_eq!(ok.status, StatusCode::OK, "{path}: {}", ok.body);
        assert_eq!(ok.header("cache-control"), Some("no-store"));
    }
    // The login guards the ops routes only: clients still reach the master page.
    let master = h.state.settings.urls.master_path.clone();
    assert_eq!(get(&h, &master, None).await.status, StatusCode::OK);
}

#[tokio::test]
async fn without_a_usable_password_file_the_page_is_closed_not_open() {
    let h = Harness::new().await;
    // make_project wrote a file with a random password nobody here knows: closed to guesses.
    let made = std::fs::read_to_string(htpasswd_path(&h)).unwrap();
    assert!(made.starts_with("admin:$2y$"), "{made}");
    assert_eq!(
        login(&h, ops::OPS_PATH).await.status,
        StatusCode::UNAUTHORIZED
    );

    std::fs::remove_file(htpasswd_path(&h)).unwrap();
    for path in [ops::OPS_PATH, ops::METRICS_PATH] {
        for auth in [None, Some(basic(USER, PASSWORD))] {
            let a = get(&h, path, auth.as_deref()).await;
            assert_eq!(a.status, StatusCode::SERVICE_UNAVAILABLE, "{path}");
            assert!(
                a.body.contains("keys/ops.htpasswd does not exist")
                    && a.body.contains("htpasswd -B -c keys/ops.htpasswd admin"),
                "{}",
                a.body
            );
            assert!(!a.body.contains(&h.project.root.display().to_string()));
        }
    }
    // Only bcrypt counts: an MD5 entry leaves the page closed.
    std::fs::write(
        htpasswd_path(&h),
        "admin:$apr1$Qr5j0T9e$0uKaxJ1b3fj9KxBvYwUQg.\n",
    )
    .unwrap();
    let a = login(&h, ops::OPS_PATH).await;
    assert_eq!(a.status, StatusCode::SERVICE_UNAVAILABLE);
    assert!(a.body.contains("no usable entry"), "{}", a.body);
    // A file written now opens it, with no restart.
    set_password(&h, USER, PASSWORD);
    assert_eq!(login(&h, ops::OPS_PATH).await.status, StatusCode::OK);
}

#[tokio::test]
async fn metrics_can_be_opened_by_option_while_the_page_stays_closed() {
    let h = Harness::new().await;
    set_password(&h, USER, PASSWORD);
    h.project
        .set_option(ops::METRICS_PUBLIC_OPTION, "1")
        .unwrap();
    let h = h.reload();
    let m = get(&h, ops::METRICS_PATH, None).await;
    assert_eq!(m.status, StatusCode::OK);
    assert!(parse_prometheus(&m.body).is_ok(), "{}", m.body);
    assert_eq!(
        get(&h, ops::OPS_PATH, None).await.status,
        StatusCode::UNAUTHORIZED
    );
}

/// A project with jobs in several states, two hosts, a series, a "running" transitioner and
/// an error in a log.
struct Busy {
    h: Harness,
    /// Held so the transitioner counts as running (as `start` leaves its lock held).
    _lock: rboinc_core::run_files::HeldLock,
    hosts: Vec<i64>,
}

async fn busy_project() -> Busy {
    let h = Harness::new().await;
    set_password(&h, USER, PASSWORD);
    let mut wus = Vec::new();
    for i in 0..3 {
        wus.push(
            h.project
                .create_mnist_work(
                    &format!("wu_ops_{i}"),
                    &small_job(i + 1),
                    Default::default(),
                )
                .await
                .unwrap(),
        );
    }
    h.project.run_transitioner().await.unwrap();

    // Two hosts take one job each; the first reports its job as a success.
    let mut hosts = Vec::new();
    for seed in ["ops-host-a", "ops-host-b"] {
        let mut host = SimHost::new(&h.project.authenticator, seed);
        host.absorb(&parse_reply(&h.rpc(&host.request(1.0, &[])).await));
        assert_eq!(host.holding.len(), 1, "one job for {seed}");
        hosts.push(host);
    }
    let job = hosts[0].holding[0].clone();
    let report = Report {
        outputs: job.outputs.iter().map(|_| b"{}".to_vec()).collect(),
        job,
        state: 5,
        exit_status: 0,
    };
    let mut a = hosts[0].clone();
    a.absorb(&parse_reply(&h.rpc(&a.request(0.0, &[report])).await));

    // A series of 3 rounds: two made into workunits, one still queued.
    let pool = h.project.pool();
    let series_id = sqlx::query(
        "INSERT INTO rb_series (name, appid, create_time, rounds, params, dataset_file, \
         dataset_sha256, min_quorum, target_nresults, delay_bound) \
         SELECT 'ops-series <1>', id, UNIX_TIMESTAMP(), 3, '{}', 'd', 's', 2, 2, 600 FROM app WHERE name = 'mnist'",
    )
    .execute(pool)
    .await
    .unwrap()
    .last_insert_id();
    for (round, wu) in [(0, wus[0].0), (1, wus[1].0), (2, 0)] {
        sqlx::query(
            "INSERT INTO rb_series_round (series_id, round, seed, state, workunit_id, wu_name, create_time) \
             VALUES (?, ?, ?, ?, ?, ?, UNIX_TIMESTAMP())",
        )
        .bind(series_id)
        .bind(round)
        .bind(round as u64 + 1)
        .bind(if wu == 0 { 0 } else { 1 })
        .bind(wu)
        .bind(format!("ops-series_{round}"))
        .execute(pool)
        .await
        .unwrap();
    }

    // The transitioner "runs": its pid file names a live process (this test) and its lock is
    // held, as `start` leaves them.
    let dir = h.project.project_dir().unwrap();
    std::fs::create_dir_all(dir.pid_dir()).unwrap();
    std::fs::create_dir_all(dir.log_dir()).unwrap();
    std::fs::write(
        dir.pid_dir().join("transitioner.pid"),
        format!("{}\n", std::process::id()),
    )
    .unwrap();
    // The lock kind `start` takes (a record lock), so the probe sees it.
    let lock = rboinc_core::run_files::try_lock(&dir.pid_dir().join("transitioner.lock"))
        .unwrap()
        .expect("the lock is free");
    std::fs::write(
        dir.log_dir().join("validator_mnist.log"),
        "2025-03-01T10:00:00.000000Z  INFO validator: started\n\
         2025-03-01T10:00:05.000000Z ERROR validator: cannot read output <b>x</b> wu_id=7\n\
         2025-03-01T10:00:06.000000Z  INFO validator: pass done\n",
    )
    .unwrap();
    Busy {
        hosts: hosts.iter().map(|x| x.hostid).collect(),
        h,
        _lock: lock,
    }
}

/// `SELECT COUNT(*)` with a condition on the result table.
async fn results_where(h: &Harness, condition: &str) -> i64 {
    sqlx::query_scalar(sqlx::AssertSqlSafe(format!(
        "SELECT COUNT(*) FROM result WHERE {condition}"
    )))
    .fetch_one(h.project.pool())
    .await
    .unwrap()
}

/// A count cell as the page writes it.
fn cell(n: i64) -> String {
    if n == 0 {
        "<td class=\"n z\">0</td>".into()
    } else {
        format!("<td class=\"n\">{n}</td>")
    }
}

#[tokio::test]
async fn the_page_shows_daemons_jobs_series_hosts_and_errors() {
    let b = busy_project().await;
    let h = &b.h;
    let page = login(h, ops::OPS_PATH).await;
    assert_eq!(page.status, StatusCode::OK);
    assert_eq!(
        page.header("content-type"),
        Some("text/html; charset=utf-8")
    );
    let csp = page.header("content-security-policy").unwrap();
    assert!(csp.contains("default-src 'none'") && !csp.contains("script"));
    let html = &page.body;
    assert!(html.starts_with("<!DOCTYPE html>") && html.ends_with("</html>\n"));
    assert!(html.contains("<h1>rboinc Test Project — operations</h1>"));

    // Daemons: config.xml's list, the transitioner running, the others stopped.
    assert!(
        html.contains(
            "<td><b>transitioner</b></td><td><span class=\"pill ok\">running</span></td>"
        )
    );
    for stopped in [
        "scheduler",
        "validator",
        "script_assimilator",
        "file_deleter",
    ] {
        assert!(
            html.contains(&format!(
                "<td><b>{stopped}</b></td><td><span class=\"pill bad\">stopped</span></td>"
            )),
            "{stopped}"
        );
    }
    assert!(
        html.contains("validator: pass done"),
        "the validator log's last line"
    );

    // Results by state, each cell as the database has it.
    let (unsent, running, pending, total) = (
        results_where(h, "server_state = 2").await,
        results_where(h, "server_state = 4").await,
        results_where(h, "server_state = 5 AND outcome = 1 AND validate_state = 0").await,
        results_where(h, "TRUE").await,
    );
    assert_eq!((unsent, running, pending, total), (4, 1, 1, 6));
    let mut row = format!("<tr><td><b>mnist</b></td>{}", cell(total));
    for n in [0, unsent, running, pending, 0, 0, 0, 0, 0, 0, 0] {
        row.push_str(&cell(n));
    }
    assert!(html.contains(&row), "{row} not in the page");
    // Workunits: 3, all in progress, none validated yet.
    let wu_row = format!(
        "<tr><td><b>mnist</b></td>{}{}{}{}{}{}</tr>",
        cell(3),
        cell(3),
        cell(0),
        cell(0),
        cell(0),
        cell(0)
    );
    assert!(html.contains(&wu_row), "{wu_row}");

    // The series, escaped, 2 of 3 rounds made, running.
    assert!(html.contains("<td><b>ops-series &lt;1&gt;</b></td><td>mnist</td><td><span class=\"pill warn\">running</span>"));
    // Hosts: both, by id, with their OS and last contact.
    assert!(html.contains("2 in all · 2 in the last hour"));
    for id in &b.hosts {
        assert!(html.contains(&format!(
            "<tr><td class=\"n mono\">{id}</td><td><b>sim</b></td>"
        )));
    }
    assert!(html.contains("<td>Linux Sim</td>"));
    // The log error, escaped.
    assert!(html.contains("validator: cannot read output &lt;b&gt;x&lt;/b&gt; wu_id=7"));
    assert!(!html.contains("<b>x</b>"));
    assert!(html.contains("<td class=\"mono\">validator_mnist.log</td>"));
    // This process's counters.
    let work = h.state.metrics.rpcs(RpcKind::Work) as i64;
    assert!(work >= 2);
    assert!(html.contains(&format!(
        "<td><code>rboinc_scheduler_rpcs_total kind=work</code></td><td>Scheduler RPCs handled, by outcome.</td>{}",
        cell(work)
    )));
}

#[tokio::test]
async fn the_snapshot_counts_match_the_tables() {
    let b = busy_project().await;
    let h = &b.h;
    let now = rboinc_core::clock::now_i64();
    let s = snapshot::snapshot(
        h.project.pool(),
        now,
        rboinc_core::db::replicas::ReplicaRule::PerHost,
    )
    .await
    .unwrap();
    let mnist = s.apps.iter().find(|a| a.name == "mnist").unwrap();
    let r = &mnist.results;
    assert_eq!(r.total, results_where(h, "TRUE").await);
    assert_eq!(r.unsent, results_where(h, "server_state = 2").await);
    assert_eq!(r.in_progress, results_where(h, "server_state = 4").await);
    assert_eq!(r.pending_validation, 1);
    assert_eq!(r.other, 0);
    assert_eq!(mnist.workunits.total, 3);
    let series = s.series.unwrap();
    assert_eq!(series.len(), 1);
    let x = &series[0];
    assert_eq!((x.rounds, x.created, x.assimilated, x.failed), (3, 2, 0, 0));
    // Of the two hosts' jobs, those in the series' workunits are still running.
    let in_series = results_where(
        h,
        "server_state = 4 AND workunitid IN (SELECT workunit_id FROM rb_series_round)",
    )
    .await;
    assert_eq!(x.results_in_progress, in_series);
    assert_eq!(x.state(), "running");
    assert_eq!(s.host_totals.total, 2);
    assert_eq!(s.hosts.len(), 2);
    assert!(
        s.hosts
            .iter()
            .all(|host| now - host.rpc_time < 600 && host.ncpus == 2)
    );
    let busy_host = s.hosts.iter().find(|x| x.id == b.hosts[1]).unwrap();
    assert_eq!(busy_host.results_in_progress, 1);
}

/// `/metrics` text read by a Prometheus text parser.
struct Scrape(MetricsExposition<PrometheusType, PrometheusValue>);

impl Scrape {
    fn parse(text: &str) -> Scrape {
        Scrape(parse_prometheus(text).unwrap_or_else(|e| panic!("{e:?} in\n{text}")))
    }

    /// The values of `family`'s samples whose labels include `labels` (label values as the
    /// text writes them); a histogram's value is its count.
    fn values(&self, family: &str, labels: &[(&str, &str)]) -> Vec<f64> {
        let Some(f) = self.0.families.get(family) else {
            return Vec::new();
        };
        f.iter_samples()
            .filter(|s| {
                let set = s.get_labelset().unwrap();
                labels
                    .iter()
                    .all(|(k, v)| set.get_label_value(k) == Some(*v))
            })
            .map(|s| match &s.value {
                PrometheusValue::Counter(c) => c.value.as_f64(),
                PrometheusValue::Gauge(n) | PrometheusValue::Unknown(n) => n.as_f64(),
                PrometheusValue::Histogram(h) => h.count.unwrap_or(0) as f64,
                PrometheusValue::Summary(s) => s.count.unwrap_or(0) as f64,
            })
            .collect()
    }

    /// The value of the one sample of `family` whose labels include `labels`.
    fn value(&self, family: &str, labels: &[(&str, &str)]) -> Option<f64> {
        let values = self.values(family, labels);
        assert!(values.len() <= 1, "{family} {labels:?}: {values:?}");
        values.first().copied()
    }

    fn count(&self, family: &str) -> usize {
        self.values(family, &[]).len()
    }

    fn label(&self, family: &str, key: &str) -> Option<String> {
        let f = self.0.families.get(family)?;
        let sample = f.iter_samples().next()?;
        let set = sample.get_labelset().ok()?;
        set.get_label_value(key).map(str::to_string)
    }
}

/// The sample lines of an exposition text, checked without a parser: each belongs to a family
/// declared before it (a histogram's by its suffixes), and its value is a number.
fn samples_by_hand(text: &str) -> BTreeMap<String, f64> {
    let mut declared: Vec<(String, String)> = Vec::new();
    let mut out = BTreeMap::new();
    for line in text.lines() {
        if let Some(rest) = line.strip_prefix("# TYPE ") {
            let (name, kind) = rest.split_once(' ').unwrap();
            assert!(["counter", "gauge", "histogram"].contains(&kind), "{line}");
            assert!(
                !declared.iter().any(|(d, _)| d == name),
                "{name} declared twice"
            );
            declared.push((name.to_string(), kind.to_string()));
            continue;
        }
        if line.starts_with("# HELP ") {
            continue;
        }
        let (series, value) = line.rsplit_once(' ').unwrap();
        let name = series.split('{').next().unwrap();
        let belongs = |(family, kind): &(String, String)| {
            name == family
                || kind == "histogram"
                    && ["_bucket", "_sum", "_count"]
                        .iter()
                        .any(|suffix| name.strip_suffix(suffix) == Some(family))
        };
        assert!(declared.iter().any(belongs), "{line}: undeclared");
        assert!(
            name.chars().all(|c| c.is_ascii_alphanumeric() || c == '_'),
            "{line}"
        );
        let value: f64 = value.parse().unwrap_or_else(|_| panic!("{line}"));
        assert!(
            out.insert(series.to_string(), value).is_none(),
            "{line} twice"
        );
    }
    out
}

#[tokio::test]
async fn metrics_are_prometheus_text_with_the_project_s_figures() {
    let b = busy_project().await;
    let h = &b.h;
    let m = login(h, ops::METRICS_PATH).await;
    assert_eq!(m.status, StatusCode::OK);
    assert_eq!(
        m.header("content-type"),
        Some("text/plain; version=0.0.4; charset=utf-8")
    );
    let by_hand = samples_by_hand(&m.body);
    let parsed = Scrape::parse(&m.body);
    let histogram_lines = by_hand
        .keys()
        .filter(|k| k.starts_with("rboinc_scheduler_rpc_duration_seconds"))
        .count();
    let per_kind = 2 + by_hand
        .keys()
        .filter(|k| k.starts_with("rboinc_scheduler_rpc_duration_seconds_bucket{kind=\"work\""))
        .count();
    assert_eq!(histogram_lines, per_kind * RpcKind::ALL.len());
    let parsed_samples: usize = parsed
        .0
        .families
        .values()
        .map(|f| f.iter_samples().count())
        .sum();
    assert_eq!(
        parsed_samples,
        by_hand.len() - histogram_lines + RpcKind::ALL.len()
    );

    let work = h.state.metrics.rpcs(RpcKind::Work) as f64;
    assert_eq!(by_hand["rboinc_scheduler_rpcs_total{kind=\"work\"}"], work);
    assert_eq!(by_hand["rboinc_results_sent_total"], 2.0);
    assert_eq!(by_hand["rboinc_results_reported_total"], 1.0);
    assert_eq!(by_hand["rboinc_results_unsent{app=\"mnist\"}"], 4.0);
    assert_eq!(by_hand["rboinc_results_in_progress{app=\"mnist\"}"], 1.0);
    assert_eq!(by_hand["rboinc_database_up"], 1.0);
    // Each work RPC's latency is in the histogram, under its kind.
    assert_eq!(
        parsed.value("rboinc_scheduler_rpc_duration_seconds", &[("kind", "work")]),
        Some(work)
    );
    assert_eq!(
        by_hand["rboinc_scheduler_rpc_duration_seconds_bucket{kind=\"work\",le=\"+Inf\"}"],
        work
    );
    let need_validate: i64 =
        sqlx::query_scalar("SELECT COUNT(*) FROM workunit WHERE need_validate <> 0")
            .fetch_one(h.project.pool())
            .await
            .unwrap();
    assert_eq!(
        by_hand["rboinc_workunits_need_validate{app=\"mnist\"}"],
        need_validate as f64
    );
    assert_eq!(
        by_hand["rboinc_workunits_assimilate_ready{app=\"mnist\"}"],
        0.0
    );
    // Daemon liveness: one per enabled daemon, 1 only for the one that runs.
    assert_eq!(
        parsed.value("rboinc_daemon_up", &[("daemon", "transitioner")]),
        Some(1.0)
    );
    for down in [
        "scheduler",
        "validator",
        "work_generator",
        "script_assimilator",
        "file_deleter",
    ] {
        assert_eq!(
            parsed.value("rboinc_daemon_up", &[("daemon", down)]),
            Some(0.0),
            "{down}"
        );
    }
    assert_eq!(parsed.count("rboinc_daemon_up"), 6);
    assert_eq!(
        parsed.label("rboinc_build_info", "version").as_deref(),
        Some(env!("CARGO_PKG_VERSION"))
    );
}

#[tokio::test]
async fn a_database_outage_shows_on_the_page_and_in_metrics() {
    let h = Harness::new().await;
    set_password(&h, USER, PASSWORD);
    // The same project, but its database on a port where nothing listens.
    let mut settings = h.project.db().db_settings().clone();
    settings.port = Some(rboinc_testkit::net::free_port());
    let pool = rboinc_core::db::pool_options()
        .acquire_timeout(std::time::Duration::from_secs(1))
        .connect_lazy_with(rboinc_core::db::pool::connect_options(&settings));
    let config = h.project.config().unwrap();
    let dir = h.project.project_dir().unwrap();
    let state = AppState::new(&config, &dir, pool).unwrap();
    let down = Harness {
        app: server::router(state.clone()),
        state,
        project: h.project,
    };
    let page = login(&down, ops::OPS_PATH).await;
    assert_eq!(page.status, StatusCode::OK);
    assert!(
        page.body
            .contains("<div class=\"v\">down</div><div class=\"k\">database</div>")
    );
    assert!(
        page.body
            .contains("The database query failed (the scheduler log has the details).")
    );
    // The daemons come from files, so they are still there.
    assert!(page.body.contains("<td><b>transitioner</b></td>"));
    let m = login(&down, ops::METRICS_PATH).await;
    assert_eq!(m.status, StatusCode::OK);
    let parsed = Scrape::parse(&m.body);
    assert_eq!(parsed.value("rboinc_database_up", &[]), Some(0.0));
    assert_eq!(parsed.count("rboinc_results_unsent"), 0);
    assert_eq!(parsed.count("rboinc_daemon_up"), 6);
}

/// The issue-11 sections: a daemon's metrics file (written by the daemon loop's own writer),
/// a host whose only report is a compute error, a validator log with a disagreement and a
/// warning: the page shows them, and `/metrics` has the daemon's counters and every backlog.
#[tokio::test]
async fn the_page_and_metrics_show_daemon_activity_backlog_disagreements_and_error_hosts() {
    use rboinc_core::daemon::ModSlice;
    use rboinc_core::daemon::stats::{DaemonStats, PassEnd, PassTally};

    let b = busy_project().await;
    let h = &b.h;
    // Host b's job fails on the client: its only report is an error.
    let mut host_b = SimHost::new(&h.project.authenticator, "ops-host-b");
    host_b.absorb(&parse_reply(&h.rpc(&host_b.request(1.0, &[])).await));
    let job = host_b.holding[0].clone();
    let failed = Report {
        outputs: vec![],
        job,
        state: 3,
        exit_status: 1,
    };
    host_b.absorb(&parse_reply(&h.rpc(&host_b.request(0.0, &[failed])).await));
    assert_eq!(
        results_where(h, &format!("hostid = {} AND outcome = 3", b.hosts[1])).await,
        1
    );

    let dir = h.project.project_dir().unwrap();
    let tally = PassTally::new(
        &dir.pid_dir(),
        DaemonStats::new("validator", Some("mnist"), ModSlice::ALL, 1_700_000_000),
    );
    tally.items("valid", 4);
    tally.items("invalid", 1);
    tally.errors(2);
    tally.pass_done(
        PassEnd::DidWork,
        std::time::Duration::from_millis(40),
        1_700_000_050,
    );
    tally.pass_done(
        PassEnd::Idle,
        std::time::Duration::from_millis(2),
        1_700_000_060,
    );
    std::fs::write(
        dir.log_dir().join("validator_mnist.log"),
        "[2025/03/01 09:59:59] Executing command: validator -d 3 --app mnist\n\
         2025-03-01T10:00:00.000000Z  WARN validator: slow disk\n\
         2025-03-01T10:00:01.000000Z  INFO validator: results disagree wu_id=7 result_a=13 \
         result_b=14 host_a=3 host_b=4 detail=\"history[1].val_acc: 0.9 vs 0.95\"\n",
    )
    .unwrap();

    // The report above set its workunit's transition_time to "now": move every such time out of
    // the next seconds, so the cached gauge and the count below see the same side of the clock.
    sqlx::query(
        "UPDATE workunit SET transition_time = UNIX_TIMESTAMP() - 60 \
         WHERE transition_time BETWEEN UNIX_TIMESTAMP() - 60 AND UNIX_TIMESTAMP() + 60",
    )
    .execute(h.project.pool())
    .await
    .unwrap();
    let html = login(h, ops::OPS_PATH).await.body;
    // Backlog: the scheduler's unsent results now, no history yet.
    let unsent = results_where(h, "server_state = 2").await;
    assert!(html.contains(&format!(
        "<td><b>scheduler</b></td><td>results to send</td>{}<td><span class=\"pill off\">no history yet</span></td>",
        cell(unsent)
    )));
    assert!(html.contains("<td><b>transitioner</b></td><td>workunits due for a transition</td>"));
    // Activity from the metrics file.
    assert!(html.contains(
        "<span class=\"item\">invalid <b>1</b></span> <span class=\"item\">valid <b>4</b></span>"
    ));
    // The disagreement, the host with only errors, the log's counts since its start.
    assert!(html.contains(
        "<td class=\"mono\">13 / 14</td><td class=\"mono\">3 / 4</td><td class=\"msg mono\">history[1].val_acc: 0.9 vs 0.95</td>"
    ));
    let error_row = format!(
        "<tr><td class=\"n mono\">{}</td><td><b>sim</b></td>",
        b.hosts[1]
    );
    let section = &html[html.find("id=\"error-hosts\"").unwrap()..];
    let section = &section[..section.find("</section>").unwrap()];
    assert!(section.contains(&error_row), "{section}");
    assert!(!section.contains(&format!("<td class=\"n mono\">{}</td>", b.hosts[0])));
    assert!(html.contains(
        "<td class=\"mono\">validator_mnist.log</td><td class=\"n\"><span class=\"pill warn\">1</span></td><td class=\"n z\">0</td><td class=\"mono\">2025/03/01 09:59:59</td>"
    ));

    let m = login(h, ops::METRICS_PATH).await;
    let parsed = Scrape::parse(&m.body);
    let by_hand = samples_by_hand(&m.body);
    let v = "daemon=\"validator\",app=\"mnist\",slice=\"\"";
    assert_eq!(
        by_hand[&format!("rboinc_daemon_items_total{{{v},outcome=\"valid\"}}")],
        4.0
    );
    assert_eq!(by_hand[&format!("rboinc_daemon_errors_total{{{v}}}")], 2.0);
    assert_eq!(
        by_hand[&format!("rboinc_daemon_passes_total{{{v},result=\"did_work\"}}")],
        1.0
    );
    assert!(parsed.count("rboinc_daemon_pass_duration_seconds") >= 1);
    // The client error host b reported, among the two reports.
    assert_eq!(by_hand["rboinc_results_reported_total"], 2.0);
    assert_eq!(by_hand["rboinc_results_reported_errors_total"], 1.0);
    assert_eq!(
        by_hand["rboinc_daemon_pass_duration_seconds_count{daemon=\"validator\",app=\"mnist\",slice=\"\"}"],
        2.0
    );
    // Each backlog gauge as the tables count it.
    for (gauge, table, condition) in [
        ("rboinc_results_unsent", "result", "server_state = 2"),
        (
            "rboinc_workunits_transition_due",
            "workunit",
            "transition_time < UNIX_TIMESTAMP()",
        ),
        (
            "rboinc_results_file_delete_ready",
            "result",
            "file_delete_state = 1",
        ),
        (
            "rboinc_workunits_file_delete_ready",
            "workunit",
            "file_delete_state = 1",
        ),
        (
            "rboinc_workunits_purge_ready",
            "workunit",
            "file_delete_state = 2",
        ),
    ] {
        let n: i64 = sqlx::query_scalar(sqlx::AssertSqlSafe(format!(
            "SELECT COUNT(*) FROM {table} WHERE {condition}"
        )))
        .fetch_one(h.project.pool())
        .await
        .unwrap();
        assert_eq!(
            by_hand[&format!("{gauge}{{app=\"mnist\"}}")],
            n as f64,
            "{gauge}"
        );
    }
}

/// `docs/RUNBOOK.md` documents every metric family `/metrics` exports (the process's counters,
/// the project's gauges and the daemons' families, all present in this scrape).
#[tokio::test]
async fn every_exported_metric_family_is_in_the_runbook() {
    use rboinc_core::daemon::ModSlice;
    use rboinc_core::daemon::stats::{DaemonStats, PassTally};

    let b = busy_project().await;
    let h = &b.h;
    let dir = h.project.project_dir().unwrap();
    let tally = PassTally::new(
        &dir.pid_dir(),
        DaemonStats::new("transitioner", None, ModSlice::ALL, 1_700_000_000),
    );
    tally.items("transitioned", 1);
    tally.flush();
    let m = login(h, ops::METRICS_PATH).await;
    let families: Vec<&str> = m
        .body
        .lines()
        .filter_map(|l| l.strip_prefix("# TYPE "))
        .filter_map(|l| l.split_whitespace().next())
        .collect();
    assert!(
        families.contains(&"rboinc_daemon_passes_total"),
        "{families:?}"
    );
    assert!(families.contains(&"rboinc_workunits_purge_ready"));
    let runbook_path = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../docs/RUNBOOK.md");
    let runbook = std::fs::read_to_string(&runbook_path).unwrap();
    let missing: Vec<&&str> = families
        .iter()
        .filter(|f| !runbook.contains(&format!("`{f}`")))
        .collect();
    assert!(
        missing.is_empty(),
        "metric families missing in docs/RUNBOOK.md: {missing:?}"
    );
}

/// Issue 16, point 5 (BOINC's `one_result_per_host_per_wu` rule, as the scheduler applies it):
/// a round whose reissued replica no host asking for work may take — both hosts hold one —
/// is named on the ops page, as `series status` names it; once a host without a replica asks,
/// it is not.
#[tokio::test]
async fn one_result_per_host_per_wu_a_round_no_asking_host_may_take_is_on_the_page() {
    let h = Harness::new().await;
    set_password(&h, USER, PASSWORD);
    assert!(h.state.settings.sched.one_result_per_host_per_wu);
    let wu = h
        .project
        .create_mnist_work("stuck_1", &small_job(1), Default::default())
        .await
        .unwrap();
    h.project.run_transitioner().await.unwrap();
    let pool = h.project.pool();
    let series_id = sqlx::query(
        "INSERT INTO rb_series (name, appid, create_time, rounds, params, dataset_file, \
         dataset_sha256, min_quorum, target_nresults, delay_bound) \
         SELECT 'stuck', id, UNIX_TIMESTAMP(), 1, '{}', 'd', 's', 2, 2, 600 FROM app WHERE name = 'mnist'",
    )
    .execute(pool)
    .await
    .unwrap()
    .last_insert_id();
    sqlx::query(
        "INSERT INTO rb_series_round (series_id, round, seed, state, workunit_id, wu_name, create_time) \
         VALUES (?, 1, 1, 1, ?, 'stuck_1', UNIX_TIMESTAMP())",
    )
    .bind(series_id)
    .bind(wu.0)
    .execute(pool)
    .await
    .unwrap();

    // Two hosts take the two replicas; one fails its job, and the transitioner reissues it.
    let mut hosts = Vec::new();
    for seed in ["stuck-host-a", "stuck-host-b"] {
        let mut host = SimHost::new(&h.project.authenticator, seed);
        host.absorb(&parse_reply(&h.rpc(&host.request(1.0, &[])).await));
        assert_eq!(host.holding.len(), 1, "one job for {seed}");
        hosts.push(host);
    }
    let mut b = hosts[1].clone();
    let failed = Report {
        outputs: Vec::new(),
        job: b.holding[0].clone(),
        state: 3,
        exit_status: 1,
    };
    b.absorb(&parse_reply(&h.rpc(&b.request(0.0, &[failed])).await));
    h.project.run_transitioner().await.unwrap();
    assert_eq!(
        h.count("SELECT COUNT(*) FROM result WHERE server_state = 2")
            .await,
        1,
        "the reissue is unsent"
    );
    // Host b asks again: it may not take the reissue (it held a replica).
    b.absorb(&parse_reply(&h.rpc(&b.request(1.0, &[])).await));
    assert_eq!(
        h.count("SELECT COUNT(*) FROM result WHERE server_state = 2")
            .await,
        1,
        "still unsent"
    );

    let want = "round 1 waits for a host without a replica of it: the 2 host(s) that asked for \
                work in the last hour already hold one and one_result_per_host_per_wu keeps a \
                second from them";
    let page = login(&h, ops::OPS_PATH).await;
    assert_eq!(page.status, StatusCode::OK);
    assert!(
        page.body.contains("<b>stuck</b> (stuck_1): ") && page.body.contains(want),
        "{want}\nnot in the page:\n{}",
        page.body
    );
    let now = rboinc_core::clock::now_i64();
    let rule = rboinc_core::db::replicas::ReplicaRule::PerHost;
    let s = snapshot::snapshot(pool, now, rule).await.unwrap();
    assert_eq!(s.blocked.len(), 1);
    assert_eq!((s.blocked[0].round, s.blocked[0].workunit_id), (1, wu.0));

    // A third host only asks (no work wanted): it could take the reissue, so nothing waits.
    let c = SimHost::new(&h.project.authenticator, "stuck-host-c");
    parse_reply(&h.rpc(&c.request(0.0, &[])).await);
    let page = login(&h, ops::OPS_PATH).await;
    assert!(!page.body.contains(want), "{}", page.body);
    assert!(
        snapshot::snapshot(pool, now, rule)
            .await
            .unwrap()
            .blocked
            .is_empty()
    );
}

/// Issue 17, point 1: a sweep's series has a line per configuration on the page — its swept
/// values named as `series status` names them, and its rounds' progress — under the series'
/// own line; a plain series has none.
#[tokio::test]
async fn a_sweep_shows_each_configuration_s_progress() {
    let h = Harness::new().await;
    set_password(&h, USER, PASSWORD);
    let mut wus = Vec::new();
    for i in 0..4 {
        wus.push(
            h.project
                .create_mnist_work(
                    &format!("sweep_{}", i + 1),
                    &small_job(i + 1),
                    Default::default(),
                )
                .await
                .unwrap()
                .0,
        );
    }
    h.project.run_transitioner().await.unwrap();
    // A host takes one job.
    let host = SimHost::new(&h.project.authenticator, "sweep-host");
    parse_reply(&h.rpc(&host.request(1.0, &[])).await);

    // The 2 × 2 grid `series submit --learning-rate 0.05,0.1 --batch-size 64,256 --rounds 2`
    // writes: every round carries its configuration's parameters (the series row the first's).
    let params = |lr: f64, batch: u64| {
        format!(
            r#"{{"sample_count":8000,"train_epochs":10,"batch_size":{batch},"learning_rate":{lr},"val_count":null,"noise_std":0.0,"export_weights":false}}"#
        )
    };
    let grid = [
        params(0.05, 64),
        params(0.05, 256),
        params(0.1, 64),
        params(0.1, 256),
    ];
    let pool = h.project.pool();
    let series_id = sqlx::query(
        "INSERT INTO rb_series (name, appid, create_time, rounds, params, dataset_file, \
         dataset_sha256, min_quorum, target_nresults, delay_bound) \
         SELECT 'sweep', id, UNIX_TIMESTAMP(), 8, ?, 'd', 's', 2, 2, 600 FROM app WHERE name = 'mnist'",
    )
    .bind(&grid[0])
    .execute(pool)
    .await
    .unwrap()
    .last_insert_id();
    // Configuration 1's rounds have workunits (1 and 2), configuration 2's too (3 and 4),
    // configuration 3's are queued, configuration 4's were cancelled before they got any.
    for round in 1..=8u64 {
        let config = (round - 1) / 2;
        let (state, wu) = match config {
            0 | 1 => (1, wus[round as usize - 1]),
            2 => (0, 0),
            _ => (2, 0),
        };
        sqlx::query(
            "INSERT INTO rb_series_round (series_id, round, seed, state, workunit_id, wu_name, \
             create_time, config, params) VALUES (?, ?, ?, ?, ?, ?, UNIX_TIMESTAMP(), ?, ?)",
        )
        .bind(series_id)
        .bind(round)
        .bind(round % 2 + 1)
        .bind(state)
        .bind(wu)
        .bind(format!("sweep_{round}"))
        .bind(config)
        .bind(&grid[config as usize])
        .execute(pool)
        .await
        .unwrap();
    }
    // Round 1 validated and assimilated, round 2 validated, round 3 failed for good — the
    // states the validator, the assimilator and the transitioner leave.
    for (wu, set) in [
        (
            wus[0],
            "canonical_resultid = (SELECT MIN(r.id) FROM result r WHERE r.workunitid = w.id), assimilate_state = 2",
        ),
        (
            wus[1],
            "canonical_resultid = (SELECT MIN(r.id) FROM result r WHERE r.workunitid = w.id), assimilate_state = 1",
        ),
        (wus[2], "error_mask = 2, assimilate_state = 2"),
    ] {
        sqlx::query(sqlx::AssertSqlSafe(format!(
            "UPDATE workunit w SET {set} WHERE w.id = ?"
        )))
        .bind(wu)
        .execute(pool)
        .await
        .unwrap();
    }
    // A plain series beside it: no configuration lines.
    let plain_id = sqlx::query(
        "INSERT INTO rb_series (name, appid, create_time, rounds, params, dataset_file, \
         dataset_sha256, min_quorum, target_nresults, delay_bound) \
         SELECT 'plain', id, UNIX_TIMESTAMP(), 1, ?, 'd', 's', 2, 2, 600 FROM app WHERE name = 'mnist'",
    )
    .bind(&grid[0])
    .execute(pool)
    .await
    .unwrap()
    .last_insert_id();
    sqlx::query(
        "INSERT INTO rb_series_round (series_id, round, seed, state, workunit_id, wu_name, create_time) \
         VALUES (?, 1, 1, 0, 0, 'plain_1', UNIX_TIMESTAMP())",
    )
    .bind(plain_id)
    .execute(pool)
    .await
    .unwrap();

    let running = |wu: i64| {
        let h = &h;
        async move { results_where(h, &format!("server_state = 4 AND workunitid = {wu}")).await }
    };
    let running_by_config = [
        running(wus[0]).await + running(wus[1]).await,
        running(wus[2]).await + running(wus[3]).await,
    ];
    assert_eq!(running_by_config.iter().sum::<i64>(), 1, "the host's job");

    let now = rboinc_core::clock::now_i64();
    let s = snapshot::snapshot(pool, now, rboinc_core::db::replicas::ReplicaRule::PerHost)
        .await
        .unwrap();
    let list = s.series.unwrap();
    let plain = list.iter().find(|x| x.name == "plain").unwrap();
    assert!(plain.configs.is_empty(), "{plain:?}");
    let sweep = list.iter().find(|x| x.name == "sweep").unwrap();
    let got: Vec<(i64, &str, [i64; 7], &str)> = sweep
        .configs
        .iter()
        .map(|c| {
            (
                c.config,
                c.label.as_str(),
                [
                    c.rounds,
                    c.created,
                    c.cancelled_rounds,
                    c.validated,
                    c.assimilated,
                    c.failed,
                    c.results_in_progress,
                ],
                c.state(sweep.cancelled),
            )
        })
        .collect();
    assert_eq!(
        got,
        [
            (
                0,
                "lr=0.05 batch=64",
                [2, 2, 0, 2, 1, 0, running_by_config[0]],
                "running"
            ),
            (
                1,
                "lr=0.05 batch=256",
                [2, 2, 0, 0, 0, 1, running_by_config[1]],
                "running"
            ),
            (2, "lr=0.1 batch=64", [2, 0, 0, 0, 0, 0, 0], "running"),
            (3, "lr=0.1 batch=256", [2, 0, 2, 0, 0, 0, 0], "complete"),
        ]
    );
    // The configurations add up to the series' line.
    let total = |f: fn(&snapshot::ConfigProgress) -> i64| sweep.configs.iter().map(f).sum::<i64>();
    assert_eq!(
        [
            sweep.rounds,
            sweep.created,
            sweep.validated,
            sweep.assimilated,
            sweep.failed
        ],
        [
            total(|c| c.rounds),
            total(|c| c.created),
            total(|c| c.validated),
            total(|c| c.assimilated),
            total(|c| c.failed)
        ]
    );
    assert_eq!(sweep.results_in_progress, total(|c| c.results_in_progress));

    // The page: a row per configuration under the series' row, in configuration order.
    let page = login(&h, ops::OPS_PATH).await;
    assert_eq!(page.status, StatusCode::OK);
    let html = &page.body;
    let rows: Vec<String> = sweep
        .configs
        .iter()
        .map(|c| {
            let mut row = format!(
                "<tr class=\"config\"><td>config {} <code>{}</code></td><td class=\"z\">sweep</td>",
                c.config + 1,
                c.label
            );
            row.push_str(&format!(
                "<td><span class=\"pill {}\">{}</span></td>",
                if c.state(false) == "complete" {
                    "ok"
                } else {
                    "warn"
                },
                c.state(false)
            ));
            row
        })
        .collect();
    let series_row = html.find("<td><b>sweep</b></td>").expect("the sweep's row");
    let mut at = series_row;
    for row in &rows {
        let found = html[at..]
            .find(row.as_str())
            .unwrap_or_else(|| panic!("{row} not in order in\n{html}"));
        at += found;
    }
    // Configuration 1: 2 rounds, 2 created, 2 validated, 1 assimilated, none failed; half done.
    assert!(html.contains(&format!(
        "<span class=\"bar\" title=\"1 of 2 rounds finished\"><span style=\"width:50%\"></span></span>50%</td>{}{}{}{}{}{}<td></td></tr>",
        cell(2),
        cell(2),
        cell(2),
        cell(1),
        cell(0),
        cell(running_by_config[0])
    )), "{html}");
    // Configuration 2: its failed round shows in red.
    assert!(
        html.contains(
            "title=\"1 of 2 rounds finished\"><span style=\"width:50%\" class=\"badfill\">"
        )
    );
    assert_eq!(
        html.matches("<tr class=\"config\">").count(),
        4,
        "none for the plain series"
    );
}
