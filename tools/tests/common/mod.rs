//! Shared by the integration tests of tools and research (`research/tests` includes this file
//! by path): a real project on a fresh MariaDB database.
#![allow(dead_code)]

use std::path::{Path, PathBuf};
use std::sync::Arc;

use rboinc_core::config::{Config, Secret};
use rboinc_core::test_support::TestDb;
use rboinc_tools::make_project::{self, BinSource, MakeProjectOptions, MakeProjectReport};
use rboinc_tools::project::Project;

/// A project made by `make_project` in a temporary directory, on its own database.
pub struct TestProject {
    pub db: TestDb,
    pub dir: tempfile::TempDir,
    pub report: MakeProjectReport,
    pub project: Project,
}

impl TestProject {
    pub fn root(&self) -> &Path {
        &self.report.root
    }

    pub fn config(&self) -> Arc<Config> {
        self.project.config.clone()
    }

    pub fn pool(&self) -> &sqlx::MySqlPool {
        self.db.pool()
    }
}

pub fn options(db: &TestDb, root: PathBuf, short: &str) -> MakeProjectOptions {
    let s = db.db_settings();
    MakeProjectOptions {
        short_name: short.to_string(),
        long_name: Some("Test Project".into()),
        project_root: root,
        url_base: "http://127.0.0.1:8080/".into(),
        db_host: match s.port {
            Some(p) => format!("{}:{p}", s.host),
            None => s.host.clone(),
        },
        db_name: Some(s.name.clone()),
        db_user: s.user.clone(),
        db_passwd: Secret::new(s.password.expose()),
        project_host: Some("testhost".into()),
        submitter_email: "submitter@example.org".into(),
        submitter_name: "submitter".into(),
        bin: BinSource::None,
    }
}

/// make_project on an empty database (which it adopts and migrates).
pub async fn project(short: &str) -> TestProject {
    let db = TestDb::empty().await;
    let dir = tempfile::tempdir().unwrap();
    let root = dir.path().join(short);
    let report = make_project::create(&options(&db, root.clone(), short))
        .await
        .unwrap();
    let project = Project {
        dir: rboinc_core::project::ProjectDir::open(&root)
            .unwrap()
            .with_host("testhost"),
        config: Arc::new(Config::load(&root).unwrap()),
    };
    TestProject {
        db,
        dir,
        report,
        project,
    }
}

/// The repository's `fixtures/` directory.
pub fn fixtures() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../fixtures")
}

/// Number of rows in a table.
pub async fn count(pool: &sqlx::MySqlPool, table: &str) -> i64 {
    sqlx::query_scalar(sqlx::AssertSqlSafe(format!("SELECT COUNT(*) FROM {table}")))
        .fetch_one(pool)
        .await
        .unwrap()
}
