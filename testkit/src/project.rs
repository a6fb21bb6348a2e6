//! A real project in a temporary directory, made and fed by the project's own tools.
//!
//! [`TestProject::create`] runs our `make_project` (library call) against a fresh test database
//! with a master URL on a free loopback port, so the project is what an administrator gets:
//! `config.xml` with upload signing on, fresh code-signing and upload keys, templates, the
//! `mnist` app and platform, the submitter's account. Tests then publish app versions with
//! `update_versions`, create jobs with `create_work`, and let the real transitioner make the
//! results — the same code paths production uses.

use std::path::{Path, PathBuf};
use std::sync::Arc;

use anyhow::{Context, bail};
use rboinc_core::config::{Config, Secret};
use rboinc_core::db::{self, Pool, WorkunitId};
use rboinc_core::project::ProjectDir;
use rboinc_core::test_support::TestDb;
use rboinc_daemons::transitioner::{Options, Transitioner};
use rboinc_tools::create_work::{self, InputArg, JobDesc, JobOverrides, WorkCreator, WorkSpec};
use rboinc_tools::make_project::{self, BinSource, MakeProjectOptions};
use rboinc_tools::project::Project;
use rboinc_tools::update_versions;

use crate::net::free_port;

/// The project's short name (URL path and directory name).
pub const SHORT_NAME: &str = "testproj";

/// A project directory and database; both are removed on `Drop`.
#[derive(Debug)]
pub struct TestProject {
    db: TestDb,
    dir: tempfile::TempDir,
    pub root: PathBuf,
    pub port: u16,
    pub master_url: String,
    /// The submitter's account key (clients attach with it).
    pub authenticator: String,
    pub submitter_email: String,
}

impl TestProject {
    /// Makes a project whose URLs are on a free port of 127.0.0.1.
    pub async fn create() -> anyhow::Result<TestProject> {
        Self::create_with(TestDb::new().await).await
    }

    /// Like [`TestProject::create`], its database on the MariaDB server of `server_url`
    /// (e.g. a test's private server, which it can stop: a database outage).
    pub async fn create_on(server_url: &str) -> anyhow::Result<TestProject> {
        Self::create_with(TestDb::create_on(server_url, true).await?).await
    }

    async fn create_with(db: TestDb) -> anyhow::Result<TestProject> {
        let dir = tempfile::Builder::new().prefix("rboinc-proj-").tempdir()?;
        let root = dir.path().join(SHORT_NAME);
        let port = free_port();
        let s = db.db_settings();
        let options = MakeProjectOptions {
            short_name: SHORT_NAME.to_string(),
            long_name: Some("rboinc Test Project".to_string()),
            project_root: root.clone(),
            url_base: format!("http://127.0.0.1:{port}/"),
            db_host: format!("{}:{}", s.host, s.port.unwrap_or(3306)),
            db_name: Some(s.name.clone()),
            db_user: s.user.clone(),
            db_passwd: Secret::new(s.password.expose().to_string()),
            project_host: None,
            submitter_email: "submitter@example.com".to_string(),
            submitter_name: "Test Submitter".to_string(),
            bin: BinSource::None,
        };
        let report = make_project::create(&options)
            .await
            .context("make_project")?;
        Ok(TestProject {
            db,
            dir,
            root: report.root,
            port,
            master_url: report.master_url,
            authenticator: report.authenticator,
            submitter_email: report.submitter_email,
        })
    }

    /// The project's database pool (the test database's).
    pub fn pool(&self) -> &Pool {
        self.db.pool()
    }

    pub fn db(&self) -> &TestDb {
        &self.db
    }

    /// The temporary directory holding the project (and room for test files next to it).
    pub fn temp_dir(&self) -> &Path {
        self.dir.path()
    }

    pub fn config(&self) -> anyhow::Result<Config> {
        Ok(Config::load(&self.root)?)
    }

    pub fn project_dir(&self) -> anyhow::Result<ProjectDir> {
        Ok(ProjectDir::open(&self.root)?)
    }

    /// Sets a scalar `<config>` option in `config.xml` (replacing an existing one).
    pub fn set_option(&self, name: &str, value: &str) -> anyhow::Result<()> {
        let path = self.root.join("config.xml");
        let text = std::fs::read_to_string(&path)?;
        let open = format!("<{name}>");
        let close = format!("</{name}>");
        let element = format!("{open}{value}{close}");
        let new = match (text.find(&open), text.find(&close)) {
            (Some(a), Some(b)) if b > a => {
                format!("{}{element}{}", &text[..a], &text[b + close.len()..])
            }
            _ => text.replacen(
                "    </config>",
                &format!("        {element}\n    </config>"),
                1,
            ),
        };
        std::fs::write(&path, new)?;
        Config::load(&self.root).context("config.xml after the edit")?;
        Ok(())
    }

    fn tools_project(&self) -> anyhow::Result<Project> {
        Ok(Project {
            dir: self.project_dir()?,
            config: Arc::new(self.config()?),
        })
    }

    /// Publishes `binary` as version `version` of the `mnist` app for x86_64 Linux, signed
    /// with the project's code-signing key (`update_versions --add-app-binary`).
    pub async fn publish_app_binary(&self, binary: &Path, version: &str) -> anyhow::Result<()> {
        let project = self.tools_project()?;
        update_versions::add_app_binary(
            &project.config.app_dir,
            make_project::APP,
            version,
            make_project::PLATFORM,
            binary,
        )?;
        let report = update_versions::run(&project, self.pool()).await?;
        if report.registered.is_empty() {
            bail!("update_versions registered nothing: {:?}", report.skipped);
        }
        Ok(())
    }

    /// Creates an mnist job with the given job file text and the shipped dataset (staged once),
    /// as `create_work` does; results come from [`TestProject::run_transitioner`].
    pub async fn create_mnist_work(
        &self,
        name: &str,
        job_json: &str,
        overrides: JobOverrides,
    ) -> anyhow::Result<WorkunitId> {
        crate::mnist::check_job(job_json)?;
        let files = self.temp_dir().join("inputs");
        std::fs::create_dir_all(&files)?;
        let job = files.join(format!("{name}_job.json"));
        std::fs::write(&job, job_json)?;
        let bundle = files.join("mnist10k_test.bundle");
        if !bundle.exists() {
            crate::mnist::write_dataset_bundle(&bundle)?;
        }
        let ids = self
            .create_work(
                make_project::APP,
                &[(
                    name.to_string(),
                    vec![InputArg::Path(job), InputArg::Path(bundle)],
                )],
                overrides,
            )
            .await?;
        Ok(ids[0])
    }

    /// Creates `n` mnist jobs `<prefix>_<i>` in one `create_work` batch (small jobs, the
    /// shipped dataset).
    pub async fn create_mnist_batch(
        &self,
        prefix: &str,
        n: usize,
        overrides: JobOverrides,
    ) -> anyhow::Result<Vec<WorkunitId>> {
        let files = self.temp_dir().join("inputs");
        std::fs::create_dir_all(&files)?;
        let bundle = files.join("mnist10k_test.bundle");
        if !bundle.exists() {
            crate::mnist::write_dataset_bundle(&bundle)?;
        }
        let mut jobs = Vec::with_capacity(n);
        for i in 0..n {
            let name = format!("{prefix}_{i}");
            let job = files.join(format!("{name}_job.json"));
            std::fs::write(&job, crate::mnist::small_job(i as u64 + 1))?;
            jobs.push((
                name,
                vec![InputArg::Path(job), InputArg::Path(bundle.clone())],
            ));
        }
        self.create_work(make_project::APP, &jobs, overrides).await
    }

    /// Creates jobs of `app` with the project's templates `templates/<app>_in` and
    /// `templates/<app>_out`, one per `(name, inputs)`.
    pub async fn create_work(
        &self,
        app: &str,
        jobs: &[(String, Vec<InputArg>)],
        overrides: JobOverrides,
    ) -> anyhow::Result<Vec<WorkunitId>> {
        let config = Arc::new(self.config()?);
        let mut creator = WorkCreator::new(self.pool(), config, app).await?;
        let mut prepared = Vec::with_capacity(jobs.len());
        for (name, inputs) in jobs {
            let spec = WorkSpec {
                name: name.clone(),
                wu_template: PathBuf::from(format!("templates/{app}_in")),
                result_template: format!("templates/{app}_out"),
                inputs: inputs.clone(),
                command_line: None,
                desc: JobDesc::default(),
                overrides: overrides.clone(),
                additional_xml: String::new(),
            };
            prepared.push(creator.prepare(&spec)?);
        }
        let mut conn = self.pool().acquire().await?;
        let now = rboinc_core::clock::now_i32();
        Ok(create_work::insert(&mut conn, &prepared, now).await?)
    }

    /// One pass of the real transitioner (creates results, flags validation...).
    ///
    /// The transitioner takes jobs whose `transition_time` is strictly in the past; jobs made
    /// (or reported) in this very second are moved back one second first, so a test need not
    /// sleep.
    pub async fn run_transitioner(&self) -> anyhow::Result<()> {
        let now = rboinc_core::clock::now_i32();
        sqlx::query("UPDATE workunit SET transition_time = ? WHERE transition_time >= ? AND transition_time <= ?")
            .bind(now - 1)
            .bind(now - 1)
            .bind(now)
            .execute(self.pool())
            .await?;
        let config = self.config()?;
        let t = Transitioner::new(self.pool().clone(), &config, Options::default())?;
        t.pass(|| false)
            .await
            .map_err(|e| anyhow::anyhow!("transitioner pass: {e}"))?;
        Ok(())
    }

    /// Creates an account the way `create_account.php` does; returns its authenticator.
    pub async fn create_account(&self, email: &str, name: &str) -> anyhow::Result<String> {
        let mut conn = self.pool().acquire().await?;
        let row = db::user::create_account(
            &mut conn,
            &db::user::NewAccount {
                email_addr: email,
                name,
                client_passwd_hash: &rboinc_core::auth::client_passwd_hash("password", email),
                create_time: rboinc_core::clock::now_i32(),
                country: "International",
                show_hosts: true,
            },
        )
        .await?;
        Ok(row.authenticator)
    }

    /// `http://127.0.0.1:<port>`'s socket address.
    pub fn addr(&self) -> std::net::SocketAddr {
        std::net::SocketAddr::from(([127, 0, 0, 1], self.port))
    }
}
