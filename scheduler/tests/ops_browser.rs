//! The ops page in a real browser: the `scheduler` binary started by the project's own `start`
//! (lock, pid file and log as in production), a simulated client's RPC over HTTP, then
//! Debian's headless Chromium loading `/ops` with the login in the URL. The rendered DOM is
//! checked, and a screenshot is saved for a person to look at (its path is printed).

mod common;

use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use common::Harness;
use rboinc_core::config::Config;
use rboinc_scheduler::ops;
use rboinc_testkit::mnist::small_job;
use rboinc_testkit::project::TestProject;
use rboinc_testkit::sim::{SimHost, parse_reply};
use rboinc_tools::daemons_ctl::Controller;
use rboinc_tools::daemons_ctl::report::StartOutcome;

const CHROMIUM: &str = "/usr/bin/chromium";
const PASSWORD: &str = "ops-browser-pw";

/// Runs headless Chromium on `url` with `mode` (`--dump-dom` or `--screenshot=…`) in a 1400 px
/// wide window; its stdout.
async fn chromium(profile: &Path, mode: &str, url: &str) -> String {
    chromium_at(profile, mode, url, 1400).await
}

/// [`chromium`] in a window `width` px wide (2000 px high).
async fn chromium_at(profile: &Path, mode: &str, url: &str, width: u32) -> String {
    let run = tokio::process::Command::new(CHROMIUM)
        .args([
            "--headless",
            "--no-sandbox",
            "--disable-gpu",
            "--disable-quic",
            "--no-first-run",
            "--disable-background-networking",
            "--disable-component-update",
            "--disable-sync",
            "--hide-scrollbars",
        ])
        .arg(format!("--window-size={width},2000"))
        .arg(format!("--user-data-dir={}", profile.display()))
        .arg(mode)
        .arg(url)
        .stdin(std::process::Stdio::null())
        .kill_on_drop(true)
        .output();
    let out = tokio::time::timeout(Duration::from_secs(120), run)
        .await
        .expect("chromium finished within 120 s")
        .expect("run chromium");
    assert!(
        out.status.success(),
        "chromium {mode} failed: {}\n{}",
        out.status,
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8_lossy(&out.stdout).into_owned()
}

fn basic_auth(user: &str, password: &str) -> String {
    use base64::Engine as _;
    let token = base64::engine::general_purpose::STANDARD.encode(format!("{user}:{password}"));
    format!("Basic {token}")
}

/// The document's widths in a window of `width` px.
#[derive(Debug)]
struct Layout {
    /// `document.documentElement.clientWidth`: the viewport.
    client: u32,
    /// `document.documentElement.scrollWidth`: the laid-out page.
    scroll: u32,
    /// Elements sticking out of the viewport (tag.class), for the failure message.
    wide: String,
}

/// Headless Chromium's narrowest window: a narrower `--window-size` is widened to this.
const MIN_WINDOW: u32 = 500;

/// A page showing `html` (the ops page as served) in a frame exactly `width` px wide, so a phone
/// width narrower than Chromium's narrowest headless window can be laid out: the frame is the
/// page's viewport, and its media queries see `width`. The served page allows no script (its
/// CSP header); this copy, in the frame's `srcdoc` (same origin as the wrapper), gets a small
/// one that writes its widths into the wrapper's DOM, which `--dump-dom` shows.
fn framed(html: &str, width: u32) -> String {
    const PROBE: &str = "<script>\
        const d = document.documentElement;\
        const wide = [...document.querySelectorAll('body *')]\
          .filter(e => e.getBoundingClientRect().right > d.clientWidth + 0.5)\
          .filter(e => !e.closest('section'))\
          .map(e => e.tagName + '.' + e.className).slice(0, 10).join(' ');\
        parent.document.getElementById('probe').textContent =\
          d.clientWidth + ' ' + d.scrollWidth + ' ' + wide;\
        </script>";
    let inner = html
        .replace("</body>", &format!("{PROBE}</body>"))
        .replace('&', "&amp;")
        .replace('"', "&quot;");
    format!(
        "<!DOCTYPE html><html><body style=\"margin:0;background:#fff\">\
         <iframe style=\"border:0;display:block\" width=\"{width}\" height=\"2000\" \
         srcdoc=\"{inner}\"></iframe><pre id=\"probe\"></pre></body></html>"
    )
}

/// Lays the page out at `width` px ([`framed`]) and measures it; also returns the framed
/// page's file, for a screenshot.
async fn measure_layout(profile: &Path, html: &str, width: u32) -> (Layout, PathBuf) {
    let file = profile.with_extension("html");
    std::fs::create_dir_all(profile).unwrap();
    std::fs::write(&file, framed(html, width)).unwrap();
    let dom = chromium_at(
        profile,
        "--dump-dom",
        &format!("file://{}", file.display()),
        (width + 20).max(MIN_WINDOW),
    )
    .await;
    let start =
        dom.find("<pre id=\"probe\">").expect("the probe's place") + "<pre id=\"probe\">".len();
    let text = &dom[start..start + dom[start..].find("</pre>").unwrap()];
    assert!(!text.is_empty(), "the probe did not run:\n{dom}");
    let mut parts = text.splitn(3, ' ');
    let mut num = || parts.next().unwrap().parse::<u32>().unwrap();
    let (client, scroll) = (num(), num());
    let layout = Layout {
        client,
        scroll,
        wide: parts.next().unwrap_or_default().to_string(),
    };
    (layout, file)
}

/// Keeps only `scheduler` and `transitioner` enabled in config.xml's `<daemons>`, so `start`
/// runs the scheduler under test and fails to find a transitioner (this test builds none):
/// the page then has a running, a stopped and several disabled daemons to show.
fn trim_daemons(root: &Path) {
    let path = root.join("config.xml");
    let text = std::fs::read_to_string(&path).unwrap();
    let mut out = String::new();
    for part in text.split_inclusive("</daemon>") {
        let keep = part.contains("<cmd>scheduler ") || part.contains("<cmd>transitioner ");
        if part.contains("<daemon>") && !keep {
            out.push_str(&part.replacen(
                "<daemon>",
                "<daemon>\n            <disabled>1</disabled>",
                1,
            ));
        } else {
            out.push_str(part);
        }
    }
    std::fs::write(&path, out).unwrap();
    Config::load(root).expect("config.xml after the edit");
}

/// `bin/scheduler` → the binary under test, where `start` looks first.
fn link_scheduler(root: &Path) {
    let bin = root.join("bin");
    std::fs::create_dir_all(&bin).unwrap();
    let _ = std::fs::remove_file(bin.join("scheduler"));
    std::os::unix::fs::symlink(env!("CARGO_BIN_EXE_scheduler"), bin.join("scheduler")).unwrap();
}

async fn wait_until_serving(project: &TestProject, master_path: &str) {
    let started = Instant::now();
    loop {
        if let Ok(r) = rboinc_testkit::http::get(project.addr(), master_path).await
            && r.status == 200
        {
            return;
        }
        assert!(
            started.elapsed() < Duration::from_secs(30),
            "the scheduler did not answer within 30 s"
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

async fn add_series(project: &TestProject, wus: &[i64]) {
    let pool = project.pool();
    let series_id = sqlx::query(
        "INSERT INTO rb_series (name, appid, create_time, rounds, params, dataset_file, \
         dataset_sha256, min_quorum, target_nresults, delay_bound) \
         SELECT 'mnist-demo', id, UNIX_TIMESTAMP() - 300, 4, '{}', 'd', 's', 2, 2, 600 FROM app WHERE name = 'mnist'",
    )
    .execute(pool)
    .await
    .unwrap()
    .last_insert_id();
    for round in 0..4usize {
        let wu = wus.get(round).copied().unwrap_or(0);
        sqlx::query(
            "INSERT INTO rb_series_round (series_id, round, seed, state, workunit_id, wu_name, create_time) \
             VALUES (?, ?, ?, ?, ?, ?, UNIX_TIMESTAMP())",
        )
        .bind(series_id)
        .bind(round as i32)
        .bind(round as u64 + 1)
        .bind(i32::from(wu != 0))
        .bind(wu)
        .bind(format!("mnist-demo_{round}"))
        .execute(pool)
        .await
        .unwrap();
    }
    sqlx::query(
        "UPDATE workunit SET assimilate_state = 2, \
         canonical_resultid = (SELECT MIN(id) FROM result WHERE workunitid = ?) WHERE id = ?",
    )
    .bind(wus[0])
    .bind(wus[0])
    .execute(pool)
    .await
    .unwrap();
}

/// Stops the daemons when the test ends, passed or not.
struct Stopper(Option<Controller>);

impl Drop for Stopper {
    fn drop(&mut self) {
        if let Some(c) = self.0.take() {
            let _ = c.stop(Duration::from_secs(10));
        }
    }
}

#[tokio::test]
async fn headless_chromium_shows_the_ops_page_of_a_running_server() {
    assert!(
        Path::new(CHROMIUM).is_file(),
        "this test needs Debian's chromium at {CHROMIUM} (scripts/test.sh installs it)"
    );
    rboinc_core::telemetry::init_for_tests();
    let project = TestProject::create().await.unwrap();
    Harness::publish(&project, "1.0").await;
    let mut wus = Vec::new();
    for i in 0..2 {
        wus.push(
            project
                .create_mnist_work(
                    &format!("wu_browser_{i}"),
                    &small_job(i + 1),
                    Default::default(),
                )
                .await
                .unwrap(),
        );
    }
    project.run_transitioner().await.unwrap();
    let hash = bcrypt::hash_with_result(PASSWORD, 4)
        .unwrap()
        .format_for_version(bcrypt::Version::TwoY);
    std::fs::write(
        project.root.join(ops::DEFAULT_HTPASSWD),
        format!("admin:{hash}\n"),
    )
    .unwrap();
    trim_daemons(&project.root);
    link_scheduler(&project.root);

    // Started as production starts it.
    let ctl = Controller::open(Some(&project.root)).unwrap();
    let entries = ctl.start(Duration::from_millis(700)).unwrap();
    let _stopper = Stopper(Some(Controller::open(Some(&project.root)).unwrap()));
    let sched = entries
        .iter()
        .find(|e| e.cmd.starts_with("scheduler"))
        .unwrap();
    assert!(
        matches!(sched.outcome, StartOutcome::Started(_)),
        "{:?}",
        sched.outcome
    );
    let config = project.config().unwrap();
    let urls = rboinc_scheduler::urls::ProjectUrls::from_config(&config).unwrap();
    wait_until_serving(&project, &urls.master_path).await;

    // A client's first RPC: a host record and a job in progress.
    let mut host = SimHost::new(&project.authenticator, "browser-host");
    let reply = rboinc_testkit::http::post_xml(
        project.addr(),
        &urls.scheduler_path,
        host.request(1.0, &[]).as_bytes(),
    )
    .await
    .unwrap();
    host.absorb(&parse_reply(&reply.text()));
    assert_eq!(host.holding.len(), 1, "{}", reply.text());
    // A series of 4 rounds over the two workunits (two rounds still queued), the first one
    // marked assimilated as the daemons would leave it, so the page has progress to draw.
    add_series(&project, &[wus[0].0, wus[1].0]).await;
    // An error line from a daemon, with markup in it.
    let log_dir = project.project_dir().unwrap().log_dir();
    std::fs::write(
        log_dir.join("transitioner.log"),
        "2025-03-01T10:00:05.000000Z ERROR transitioner: database gone <i>mid-pass</i>\n",
    )
    .unwrap();

    // A daemon's metrics file (as the daemon loop writes it) and a validator log with a
    // disagreement and a warning since its start.
    let dir = project.project_dir().unwrap();
    let tally = rboinc_core::daemon::stats::PassTally::new(
        &dir.pid_dir(),
        rboinc_core::daemon::stats::DaemonStats::new(
            "transitioner",
            None,
            rboinc_core::daemon::ModSlice::ALL,
            rboinc_core::clock::now_i64() - 600,
        ),
    );
    tally.items("transitioned", 2);
    tally.items("results_created", 4);
    tally.flush();
    std::fs::write(
        log_dir.join("validator_mnist.log"),
        "[2025/03/01 09:59:00] Executing command: validator -d 3 --app mnist\n\
         2025-03-01T10:00:00.000000Z  WARN validator: slow\n\
         2025-03-01T10:00:01.000000Z  INFO validator: results disagree wu_id=7 result_a=13 \
         result_b=14 host_a=3 host_b=4 detail=\"history[1].val_acc: 0.9 vs 0.95 and a long \
         explanation of what differed that must wrap on a phone instead of widening the page\"\n",
    )
    .unwrap();

    let profile = tempfile::tempdir().unwrap();
    let port = project.port;
    let dom = chromium(
        &profile.path().join("a"),
        "--dump-dom",
        &format!("http://admin:{PASSWORD}@127.0.0.1:{port}/ops"),
    )
    .await;
    assert!(
        dom.contains("<h1>rboinc Test Project — operations</h1>"),
        "{dom}"
    );
    assert!(
        dom.contains("<td><b>scheduler</b></td><td><span class=\"pill ok\">running</span></td>")
    );
    assert!(
        dom.contains(
            "<td><b>transitioner</b></td><td><span class=\"pill bad\">stopped</span></td>"
        )
    );
    assert!(
        dom.contains("<td><b>validator</b></td><td><span class=\"pill off\">disabled</span></td>")
    );
    assert!(dom.contains(&format!(
        "<td class=\"n mono\">{}</td><td><b>sim</b></td>",
        host.hostid
    )));
    assert!(dom.contains("transitioner: database gone &lt;i&gt;mid-pass&lt;/i&gt;"));
    assert!(!dom.contains("<i>mid-pass</i>"));
    assert!(dom.contains(
        "<td><b>mnist-demo</b></td><td>mnist</td><td><span class=\"pill warn\">running</span>"
    ));
    assert!(
        dom.contains(
            "title=\"1 of 4 rounds finished\"><span style=\"width:25%\"></span></span>25%"
        )
    );
    // The scheduler's log, as `start` captured it, ends with the RPC's line.
    assert!(
        dom.contains(&format!("scheduler RPC host_id={}", host.hostid)),
        "the scheduler log's last line"
    );

    // The issue-11 sections, as the browser built them.
    assert!(dom.contains("<section id=\"backlog\">"), "{dom}");
    assert!(
        dom.contains("<td><b>scheduler</b></td><td>results to send</td><td class=\"n\">3</td>")
    );
    assert!(dom.contains("<span class=\"item\">results_created <b>4</b></span>"));
    assert!(dom.contains("<td class=\"mono\">13 / 14</td><td class=\"mono\">3 / 4</td>"));
    assert!(dom.contains(
        "<td class=\"mono\">validator_mnist.log</td><td class=\"n\"><span class=\"pill warn\">1</span></td>"
    ));
    assert!(dom.contains("No host returned only errors in the last 7 days."));

    // Without the login the browser gets nothing of the page.
    let refused = chromium(
        &profile.path().join("b"),
        "--dump-dom",
        &format!("http://127.0.0.1:{port}/ops"),
    )
    .await;
    assert!(
        !refused.contains("operations") && !refused.contains("<table"),
        "{refused}"
    );

    // Phone and desktop: the page never scrolls sideways (wide tables scroll inside their
    // section), and both screenshots are real renderings of the width asked for.
    let page = rboinc_testkit::http::request(
        project.addr(),
        "GET",
        ops::OPS_PATH,
        &[("authorization", &basic_auth("admin", PASSWORD))],
        &[],
    )
    .await
    .unwrap();
    assert_eq!(page.status, 200);
    for width in [400u32, 1400] {
        let (measured, framed_file) = measure_layout(
            &profile.path().join(format!("m{width}")),
            &page.text(),
            width,
        )
        .await;
        assert_eq!(measured.client, width, "the viewport: {measured:?}");
        assert!(
            measured.scroll <= measured.client && measured.wide.is_empty(),
            "the page is wider than a {width} px window: {measured:?}"
        );
        // The screenshot: the served page itself at 1400 px; at 400 px, the framed copy in
        // Chromium's narrowest window (the frame 400 px, white beside it).
        let shot: PathBuf =
            PathBuf::from(env!("CARGO_TARGET_TMPDIR")).join(format!("ops-page-{width}.png"));
        let _ = std::fs::remove_file(&shot);
        let (url, window) = if width >= MIN_WINDOW {
            (
                format!("http://admin:{PASSWORD}@127.0.0.1:{port}/ops"),
                width,
            )
        } else {
            (format!("file://{}", framed_file.display()), MIN_WINDOW)
        };
        chromium_at(
            &profile.path().join(format!("c{width}")),
            &format!("--screenshot={}", shot.display()),
            &url,
            window,
        )
        .await;
        let png = std::fs::read(&shot).expect("the screenshot was written");
        assert!(png.starts_with(b"\x89PNG\r\n\x1a\n"), "not a PNG");
        let (w, h) = (
            u32::from_be_bytes(png[16..20].try_into().unwrap()),
            u32::from_be_bytes(png[20..24].try_into().unwrap()),
        );
        assert_eq!((w, h), (window, 2000));
        // A blank page compresses to almost nothing; the rendered one does not.
        assert!(
            png.len() > 40_000,
            "suspiciously small screenshot: {} bytes at {width} px",
            png.len()
        );
        println!("ops page screenshot: {}", shot.display());
    }

    let stopped = ctl.stop(Duration::from_secs(10)).unwrap();
    assert!(stopped.iter().all(|e| !matches!(
        e.outcome,
        rboinc_tools::daemons_ctl::report::StopOutcome::Failed(_)
    )));
}
