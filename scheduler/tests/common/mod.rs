//! Shared set-up of the scheduler's integration tests: a real project (our make_project, a
//! fresh MariaDB database), a published app version, and the server's router in process.
#![allow(dead_code)]

pub mod hosts;

use std::collections::{BTreeMap, BTreeSet};
use std::path::PathBuf;

use axum::Router;
use axum::body::Body;
use axum::http::{Request, StatusCode};
use rboinc_scheduler::sched::elements::Children;
use rboinc_scheduler::server;
use rboinc_scheduler::state::AppState;
use rboinc_testkit::project::TestProject;
use tower::ServiceExt;

/// The repository's `fixtures/client-7.20.5/` file `name`.
pub fn fixture(name: &str) -> Vec<u8> {
    let path = PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("../fixtures/client-7.20.5")
        .join(name);
    std::fs::read(&path).unwrap_or_else(|e| panic!("{}: {e}", path.display()))
}

pub fn fixture_text(name: &str) -> String {
    String::from_utf8(fixture(name)).unwrap()
}

/// A project with an app version and the server's router.
pub struct Harness {
    pub project: TestProject,
    pub state: AppState,
    pub app: Router,
}

/// A tiny stand-in executable (tests that do not run the app).
pub const FAKE_APP: &[u8] = b"#!/bin/sh\necho stand-in app\nexit 0\n";

impl Harness {
    /// A project with `mnist` version `version` published (a stand-in executable).
    pub async fn new() -> Harness {
        rboinc_core::telemetry::init_for_tests();
        let project = TestProject::create().await.expect("make the project");
        Self::publish(&project, "1.0").await;
        Self::with_project(project)
    }

    pub async fn publish(project: &TestProject, version: &str) {
        let exe = project.temp_dir().join(format!("fake_app_{version}"));
        std::fs::write(&exe, [FAKE_APP, version.as_bytes()].concat()).unwrap();
        project
            .publish_app_binary(&exe, version)
            .await
            .expect("publish the app version");
    }

    /// (Re)builds the state and router from the project's current config.xml.
    pub fn with_project(project: TestProject) -> Harness {
        let config = project.config().unwrap();
        let dir = project.project_dir().unwrap();
        let state = AppState::new(&config, &dir, project.pool().clone()).expect("state");
        let app = server::router(state.clone());
        Harness {
            project,
            state,
            app,
        }
    }

    pub fn reload(self) -> Harness {
        Self::with_project(self.project)
    }

    pub async fn request(
        &self,
        req: Request<Body>,
    ) -> (StatusCode, Vec<(String, String)>, Vec<u8>) {
        let res = self.app.clone().oneshot(req).await.unwrap();
        let status = res.status();
        let headers = res
            .headers()
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_str().unwrap_or("").to_string()))
            .collect();
        let body = axum::body::to_bytes(res.into_body(), usize::MAX)
            .await
            .unwrap()
            .to_vec();
        (status, headers, body)
    }

    /// POSTs raw XML labelled as a form, as the client does.
    pub async fn post(&self, path: &str, body: impl Into<Body>) -> (StatusCode, String) {
        let req = Request::post(path)
            .header("content-type", "application/x-www-form-urlencoded")
            .body(body.into())
            .unwrap();
        let (status, _, body) = self.request(req).await;
        (status, String::from_utf8(body).unwrap())
    }

    pub async fn get(&self, path: &str) -> (StatusCode, Vec<(String, String)>, Vec<u8>) {
        self.request(Request::get(path).body(Body::empty()).unwrap())
            .await
    }

    pub fn sched_path(&self) -> String {
        self.state.settings.urls.scheduler_path.clone()
    }

    pub fn upload_path(&self) -> String {
        self.state.settings.urls.upload_path.clone()
    }

    /// A scheduler RPC; the reply text.
    pub async fn rpc(&self, body: &str) -> String {
        let (status, text) = self.post(&self.sched_path(), body.to_string()).await;
        assert_eq!(status, StatusCode::OK, "{text}");
        assert!(
            text.starts_with("<scheduler_reply>\n") && text.ends_with("</scheduler_reply>\n"),
            "not a well-formed reply:\n{text}"
        );
        text
    }

    pub async fn count(&self, sql: &'static str) -> i64 {
        sqlx::query_scalar(sql)
            .fetch_one(self.project.pool())
            .await
            .unwrap()
    }
}

/// For each top-level element of a reply, the names of its child elements (over all of its
/// occurrences): the reply's shape, to compare with the reply the real client accepted.
pub fn shape(reply: &str) -> BTreeMap<String, BTreeSet<String>> {
    let body = reply
        .split_once("<scheduler_reply>")
        .and_then(|(_, r)| r.rsplit_once("</scheduler_reply>"))
        .map(|(b, _)| b)
        .unwrap_or("");
    let mut map: BTreeMap<String, BTreeSet<String>> = BTreeMap::new();
    for e in Children::new(body) {
        let e = e.unwrap();
        let children = map.entry(e.name.to_string()).or_default();
        for c in e.children() {
            children.insert(c.unwrap().name.to_string());
        }
    }
    map
}

/// Top-level element names in order.
pub fn top_level(reply: &str) -> Vec<String> {
    let body = reply
        .split_once("<scheduler_reply>")
        .map(|(_, r)| r)
        .unwrap_or("");
    Children::new(body)
        .map(|e| e.unwrap().name.to_string())
        .collect()
}
