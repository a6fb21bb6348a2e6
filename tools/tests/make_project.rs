//! make_project into a temporary directory, on a real MariaDB database.

mod common;

use std::os::unix::fs::PermissionsExt;

use rboinc_core::config::Config;
use rboinc_core::crypt::{PrivateKey, PublicKey};
use rboinc_core::db::{app, platform, user};
use rboinc_tools::make_project::{self, MakeProjectError};

#[tokio::test]
async fn makes_a_project_the_loader_accepts() {
    let p = common::project("mnistproj").await;
    let root = p.root();

    // The foundation's loader accepts it, with the settings we promise.
    let c = Config::load(root).unwrap();
    assert_eq!(
        c.master_url.as_deref(),
        Some("http://127.0.0.1:8080/mnistproj/")
    );
    assert_eq!(
        c.download_url.as_deref(),
        Some("http://127.0.0.1:8080/mnistproj/download")
    );
    assert_eq!(
        c.upload_url.as_deref(),
        Some("http://127.0.0.1:8080/mnistproj_cgi/file_upload_handler")
    );
    assert_eq!(c.uldl_dir_fanout, 1024);
    assert_eq!(c.download_dir, root.join("download"));
    assert_eq!(c.db_settings().name, p.db.name());
    let o = c.options();
    assert_eq!(
        o.bool("dont_generate_upload_certificates").unwrap(),
        Some(false)
    );
    assert_eq!(o.bool("ignore_upload_certificates").unwrap(), Some(false));
    assert_eq!(o.bool("one_result_per_host_per_wu").unwrap(), Some(true));
    assert_eq!(o.bool("cache_md5_info").unwrap(), Some(true));
    let programs: Vec<&str> = c.daemons.iter().map(|d| d.program()).collect();
    for want in [
        "scheduler",
        "transitioner",
        "work_generator",
        "validator",
        "script_assimilator",
        "file_deleter",
    ] {
        assert!(programs.contains(&want), "{want} missing from {programs:?}");
    }
    // Per-app daemons have their own log (and so lock) files.
    let logs: Vec<String> = c.daemons.iter().map(|d| d.log_file_name()).collect();
    assert!(
        logs.contains(&"validator_mnist.log".to_string()),
        "{logs:?}"
    );
    assert_eq!(c.tasks.len(), 1);
    assert_eq!(c.tasks[0].program(), "db_purge");

    // The tree: stock BOINC's folders (fixtures/stock-server/make_project/dirs.txt) minus the
    // PHP web site, with stock modes where they matter.
    let stock =
        std::fs::read_to_string(common::fixtures().join("stock-server/make_project/dirs.txt"))
            .unwrap();
    for d in stock.lines().map(|l| l.trim_start_matches("./")) {
        if d == "." || d.starts_with("html") || d.starts_with("py") {
            continue;
        }
        let d = d.replace("HOSTNAME", "testhost");
        assert!(root.join(&d).is_dir(), "{d} missing");
    }
    for d in [
        "pid_testhost",
        "tmp_testhost",
        "results",
        "reports",
        "apps/mnist",
    ] {
        assert!(root.join(d).is_dir(), "{d} missing");
    }
    let mode = |rel: &str| {
        std::fs::metadata(root.join(rel))
            .unwrap()
            .permissions()
            .mode()
            & 0o7777
    };
    assert_eq!(mode("upload"), 0o2770);
    assert_eq!(mode("log_testhost"), 0o2770);
    assert_eq!(mode("keys"), 0o700);
    assert_eq!(
        mode("config.xml") & 0o007,
        0,
        "config.xml holds the db password"
    );

    // Templates are the shipped ones.
    assert_eq!(
        std::fs::read_to_string(root.join("templates/mnist_in")).unwrap(),
        make_project::MNIST_IN
    );

    // Fresh keys whose pairs match.
    for pair in ["code_sign", "upload"] {
        let private = PrivateKey::read_file(&root.join(format!("keys/{pair}_private"))).unwrap();
        let public = PublicKey::read_file(&root.join(format!("keys/{pair}_public"))).unwrap();
        let sig = private.sign_bytes(b"hello").unwrap();
        public.verify_bytes(b"hello", &sig).unwrap();
        assert!(public.verify_bytes(b"other", &sig).is_err());
    }
    let a = PublicKey::read_file(&root.join("keys/code_sign_public")).unwrap();
    let b = PublicKey::read_file(&root.join("keys/upload_public")).unwrap();
    assert_ne!(a.to_text(), b.to_text(), "two different key pairs");

    // The ops login: bcrypt $2y$, user admin, the printed password, private file.
    let ht = std::fs::read_to_string(root.join("keys/ops.htpasswd")).unwrap();
    let (u, hash) = ht.trim_end().split_once(':').unwrap();
    assert_eq!(u, "admin");
    assert!(hash.starts_with("$2y$"));
    assert!(bcrypt::verify(p.report.ops_password.expose(), hash).unwrap());
    assert_eq!(mode("keys/ops.htpasswd"), 0o600);

    // Database rows.
    let pool = p.pool();
    assert!(
        platform::by_name(pool, "x86_64-pc-linux-gnu")
            .await
            .unwrap()
            .is_some()
    );
    assert_eq!(
        app::by_name(pool, "mnist").await.unwrap().unwrap().id,
        p.report.app_id
    );
    let u = user::by_authenticator(pool, &p.report.authenticator)
        .await
        .unwrap()
        .unwrap();
    assert_eq!(u.email_addr, "submitter@example.org");
    assert_eq!(p.report.authenticator.len(), 32);

    // The summary shows the secrets once and says what to do next.
    let s = make_project::summary(&p.report);
    assert!(s.contains(&p.report.authenticator));
    assert!(s.contains(p.report.ops_password.expose()));
    assert!(s.contains("update_versions"));
}

#[tokio::test]
async fn refuses_to_overwrite_a_project() {
    let p = common::project("again").await;
    let before = std::fs::read(p.root().join("config.xml")).unwrap();
    let users = common::count(p.pool(), "user").await;
    let e = make_project::create(&common::options(&p.db, p.root().to_path_buf(), "again"))
        .await
        .unwrap_err();
    assert!(matches!(e, MakeProjectError::Exists(_)), "{e}");
    assert!(e.to_string().contains("refusing to overwrite"));
    assert_eq!(std::fs::read(p.root().join("config.xml")).unwrap(), before);
    assert_eq!(common::count(p.pool(), "user").await, users);
}

#[tokio::test]
async fn bad_options_write_nothing() {
    let db = rboinc_core::test_support::TestDb::empty().await;
    let dir = tempfile::tempdir().unwrap();
    let root = dir.path().join("p");
    let mut o = common::options(&db, root.clone(), "p");
    o.url_base = "ftp://x/".into();
    let e = make_project::create(&o).await.unwrap_err();
    assert!(e.to_string().contains("--url_base"), "{e}");
    assert!(!root.exists());
    let mut o = common::options(&db, root.clone(), "bad/name");
    o.project_root = root.clone();
    assert!(make_project::create(&o).await.is_err());
    assert!(!root.exists());
    // A database server that does not answer: a clear message, and no directory.
    let mut o = common::options(&db, root.clone(), "p");
    o.db_host = "127.0.0.1:1".into();
    let e = make_project::create(&o).await.unwrap_err();
    assert!(e.to_string().contains("is MariaDB running?"), "{e}");
    assert!(!root.exists());
}
