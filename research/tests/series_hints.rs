//! What the `series` command tells a researcher when something is missing: an unknown app, a
//! missing dataset, a project that is not running, no hosts attached. The first two stop a
//! submission; the last two are warnings (queueing work first is normal), repeated by `status`.

#[path = "../../tools/tests/common/mod.rs"]
mod common;

use std::path::{Path, PathBuf};
use std::process::{Command, Output};

use rboinc_core::db::host;
use rboinc_core::run_files::lock;
use rboinc_research::{health, store};
use rboinc_tools::daemons_ctl::Controller;

fn mnist_10k() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../app/data/mnist-10k")
}

/// Runs the real `series` binary in the project.
fn series(root: &Path, args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_series"))
        .arg("--project-dir")
        .arg(root)
        .args(args)
        .output()
        .unwrap()
}

fn stderr(o: &Output) -> String {
    String::from_utf8_lossy(&o.stderr).into_owned()
}

/// A project whose daemons are meant for this machine (`common::project`'s are for another
/// host name), so that the `series` binary sees them as its own.
async fn on_this_host(short: &str) -> common::TestProject {
    let db = rboinc_core::test_support::TestDb::empty().await;
    let dir = tempfile::tempdir().unwrap();
    let root = dir.path().join(short);
    let mut o = common::options(&db, root.clone(), short);
    o.project_host = Some(rboinc_core::project::short_hostname());
    let report = rboinc_tools::make_project::create(&o).await.unwrap();
    let project = rboinc_tools::project::Project::open(Some(&root)).unwrap();
    common::TestProject {
        db,
        dir,
        report,
        project,
    }
}

const SMALL: [&str; 8] = [
    "--rounds",
    "2",
    "--sample-count",
    "500",
    "--train-epochs",
    "1",
    "--val-count",
    "100",
];

#[tokio::test]
async fn an_unknown_app_names_the_projects_apps() {
    let p = common::project("hint1").await;
    let ds = mnist_10k();
    let mut args = vec![
        "submit",
        "--app",
        "mnsit",
        "--dataset",
        ds.to_str().unwrap(),
    ];
    args.extend(SMALL);
    let o = series(p.root(), &args);
    let err = stderr(&o);
    assert!(!o.status.success(), "{err}");
    assert!(
        err.contains(
            "unknown app \"mnsit\": the project's apps are mnist; give one of them with --app"
        ),
        "{err}"
    );
    assert_eq!(common::count(p.pool(), "rb_series").await, 0);
}

#[tokio::test]
async fn a_missing_dataset_says_to_give_one() {
    let p = common::project("hint2").await;
    let missing = p.dir.path().join("no-such-dataset");
    let mut args = vec!["submit", "--dataset", missing.to_str().unwrap()];
    args.extend(SMALL);
    let o = series(p.root(), &args);
    let err = stderr(&o);
    assert!(!o.status.success(), "{err}");
    assert!(
        err.contains(&format!(
            "dataset {} not found: give --dataset PATH",
            missing.display()
        )),
        "{err}"
    );
    assert_eq!(common::count(p.pool(), "rb_series").await, 0);
}

/// A project that is not started, with no hosts and no app version: the series is submitted
/// all the same, and `submit` and `status` say what to do about each.
#[tokio::test]
async fn a_stopped_project_without_hosts_still_takes_a_series_with_warnings() {
    let p = on_this_host("hint3").await;
    let ds = mnist_10k();
    let mut args = vec![
        "submit",
        "--name",
        "h3",
        "--cushion",
        "1",
        "--dataset",
        ds.to_str().unwrap(),
    ];
    args.extend(SMALL);
    let o = series(p.root(), &args);
    let err = stderr(&o);
    assert!(o.status.success(), "{err}");
    assert_eq!(String::from_utf8_lossy(&o.stdout).trim(), "h3");
    let master = p.config().master_url.clone().unwrap();
    let not_running = "series: warning: the project is not running: start it with `bin/start` in";
    let no_hosts = format!(
        "series: warning: no hosts have contacted the scheduler yet: attach a client with `boinccmd --project_attach {master} <account key>`"
    );
    let no_version = "series: warning: no version of app \"mnist\" is published, so hosts get no work: run `bin/update_versions --add-app-binary PATH --app mnist --version 1.0`";
    for want in [not_running, &no_hosts, no_version] {
        assert!(err.contains(want), "{want}\nnot in:\n{err}");
    }
    let s = store::series_by_name(p.pool(), "h3")
        .await
        .unwrap()
        .unwrap();
    assert_eq!(common::count(p.pool(), "workunit").await, 1);

    let o = series(p.root(), &["status", "h3"]);
    let err = stderr(&o);
    assert!(o.status.success(), "{err}");
    for want in [not_running, &no_hosts, no_version] {
        assert!(err.contains(want), "{want}\nnot in:\n{err}");
    }

    // With a host and one daemon running, those hints go; the other daemons are named.
    host::insert(
        p.pool(),
        &host::HostRow {
            userid: rboinc_core::db::UserId(1),
            domain_name: "volunteer".into(),
            ..Default::default()
        },
    )
    .await
    .unwrap();
    let ctl = Controller::new(p.project.dir.clone(), (*p.config()).clone());
    let daemons = p.config().daemons.clone();
    let first = &daemons[0];
    std::fs::create_dir_all(p.project.dir.pid_dir()).unwrap();
    let _held = lock::try_lock(&p.project.dir.pid_dir().join(first.lock_file_name()))
        .unwrap()
        .unwrap();
    std::fs::write(
        p.project.dir.pid_dir().join(first.pid_file_name()),
        format!("{}\n", std::process::id()),
    )
    .unwrap();
    assert!(ctl.status()[0].running);
    let hints = health::hints(&p.project, p.pool(), s.appid).await;
    assert!(!hints.iter().any(|h| h.contains("no hosts")), "{hints:?}");
    assert!(
        !hints.iter().any(|h| h.contains("project is not running")),
        "{hints:?}"
    );
    for d in &daemons[1..] {
        let want = format!("daemon `{}` is not running: `bin/start` in", d.cmd);
        assert!(hints.iter().any(|h| h.contains(&want)), "{want}: {hints:?}");
    }
}

/// Run on a machine that is not the project's host, `series` says so instead of calling the
/// project stopped.
#[tokio::test]
async fn another_hosts_project_is_named_as_such() {
    let p = common::project("hint4").await;
    let o = series(p.root(), &["status"]);
    assert!(o.status.success(), "{}", stderr(&o));
    let appid = rboinc_core::db::app::by_name(p.pool(), "mnist")
        .await
        .unwrap()
        .unwrap()
        .id;
    let mut project = rboinc_tools::project::Project::open(Some(p.root())).unwrap();
    project.dir = project.dir.with_host("elsewhere");
    let hints = health::hints(&project, p.pool(), appid).await;
    assert!(
        hints
            .iter()
            .any(|h| h.contains("config.xml lists no daemons for host \"elsewhere\"")),
        "{hints:?}"
    );
}
