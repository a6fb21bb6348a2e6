//! An existing project as the tools see it: its directory, its validated `config.xml` and a
//! database pool.
//!
//! Every tool but `make_project` starts here. The directory is found as the daemons find it
//! (`--project-dir`, `BOINC_PROJECT_DIR`, `.`, `..`), so the tools work when run from the project
//! root the way BOINC's are, and from anywhere with `--project-dir`.

use std::path::{Path, PathBuf};
use std::sync::Arc;

use rboinc_core::config::{Config, ConfigError};
use rboinc_core::db::{self, Pool};
use rboinc_core::project::{ProjectDir, ProjectError};

/// Why a project could not be opened.
#[derive(Debug, thiserror::Error)]
pub enum OpenError {
    #[error(transparent)]
    Locate(#[from] ProjectError),
    #[error(transparent)]
    Config(Box<ConfigError>),
    #[error("{0}\n(is MariaDB running, and are db_host/db_user/db_passwd in config.xml right?)")]
    Connect(Box<db::ConnectError>),
}

impl From<ConfigError> for OpenError {
    fn from(e: ConfigError) -> Self {
        OpenError::Config(Box::new(e))
    }
}

impl From<db::ConnectError> for OpenError {
    fn from(e: db::ConnectError) -> Self {
        OpenError::Connect(Box::new(e))
    }
}

/// A project opened by a tool.
#[derive(Debug, Clone)]
pub struct Project {
    pub dir: ProjectDir,
    pub config: Arc<Config>,
}

impl Project {
    /// Locates the project (see the module docs) and reads its configuration.
    pub fn open(explicit: Option<&Path>) -> Result<Project, OpenError> {
        let dir = ProjectDir::locate(explicit)?;
        let config = Config::load(dir.root())?;
        Ok(Project {
            dir,
            config: Arc::new(config),
        })
    }

    /// The project directory.
    pub fn root(&self) -> &Path {
        self.dir.root()
    }

    /// Connects to the project database.
    pub async fn connect(&self) -> Result<Pool, OpenError> {
        Ok(db::connect(self.config.db_settings()).await?)
    }

    /// `<project>/results`: where the assimilator puts canonical outputs.
    pub fn results_dir(&self) -> PathBuf {
        self.root().join("results")
    }

    /// `<project>/reports`: where `series report` writes.
    pub fn reports_dir(&self) -> PathBuf {
        self.root().join("reports")
    }
}
