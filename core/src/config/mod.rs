//! The project's `config.xml`, read once at start-up into a validated [`Config`].
//!
//! BOINC defines the file (see the map in `config/README.md`); we read any
//! stock project's file unchanged. Reading happens in two steps, so code
//! after start-up only ever sees checked values:
//! 1. `document` turns the text into a tree of elements that remember
//!    their line and column, rejecting malformed XML with `file:line:col`;
//! 2. `Config::from_document` picks the settings, applies BOINC's value
//!    rules (trimmed text, `<flag/>` booleans, defaults) and derives paths.
//!
//! Unknown elements are ignored, as BOINC ignores them (many are read only
//! by the PHP web code); every scalar one stays readable by name through
//! [`Config::options`]. The database password is kept in a [`Secret`], so
//! printing a `Config` with `{:?}` or logging it cannot leak it.
//!
//! Relative paths in the file are taken relative to the project directory
//! (BOINC's C++ takes them relative to the working directory, which is
//! `tmp_<host>/` under `bin/start`; stock files use absolute paths, so this
//! only matters for hand-written ones, and ours is the unsurprising reading).

mod daemons;
mod db;
pub mod document;
mod error;
pub mod known;
mod options;
mod sched;
mod secret;

use std::path::{Path, PathBuf};

pub use daemons::{DaemonEntry, TaskEntry, TaskPeriod};
pub use db::DbSettings;
pub use error::{ConfigError, Position};
pub use options::{OptionEntry, Options, parse_c_int};
pub use sched::{AppJobLimit, JobLimit, JobLimits, ResourceLimit, SchedConfig};
pub use secret::Secret;

use crate::project::{CONFIG_AUX_FILE, CONFIG_FILE};
use document::Element;

/// A project's configuration, validated.
#[derive(Debug, Clone)]
pub struct Config {
    /// The project directory: `<project_dir>` if the file sets one (made
    /// absolute against the directory holding `config.xml`), else that
    /// directory.
    pub project_dir: PathBuf,
    /// The file this was read from.
    pub config_path: PathBuf,
    pub long_name: Option<String>,
    /// The project's URL (master page); clients attach with it.
    pub master_url: Option<String>,
    /// Short host name of the main server (`bin/start` runs entries without
    /// their own `<host>` there).
    pub host: Option<String>,
    /// `db_name`, `db_host`, `db_user`, `db_passwd`.
    pub db: DbSettings,
    /// `replica_db_*`, each defaulting to the main database's value.
    pub replica_db: DbSettings,
    /// Root of the upload hierarchy (default `<project>/upload`).
    pub upload_dir: PathBuf,
    /// Root of the download hierarchy (default `<project>/download`).
    pub download_dir: PathBuf,
    /// Key files (`upload_private`, `code_sign_public`, …) (default `<project>/keys`).
    pub key_dir: PathBuf,
    /// App version sources for version registration (default `<project>/apps`).
    pub app_dir: PathBuf,
    pub download_url: Option<String>,
    /// The upload handler's URL (`…/file_upload_handler`).
    pub upload_url: Option<String>,
    /// Fan-out of both file hierarchies; 0 means flat. Must never change on
    /// a live project.
    pub uldl_dir_fanout: u32,
    pub sched: SchedConfig,
    pub daemons: Vec<DaemonEntry>,
    pub tasks: Vec<TaskEntry>,
    options: Options,
}

impl Config {
    /// Reads `<dir>/config.xml` and, if present, `<dir>/config_aux.xml`.
    pub fn load(dir: &Path) -> Result<Config, ConfigError> {
        let path = dir.join(CONFIG_FILE);
        let text = read(&path)?;
        let mut config = Self::from_str_at(&text, &path, dir, &crate::project::hostname())?;
        let aux_path = dir.join(CONFIG_AUX_FILE);
        if aux_path.exists() {
            let aux = read(&aux_path)?;
            config.apply_aux(&aux, &aux_path)?;
        }
        Ok(config)
    }

    /// Parses config text as if read from `path` in project directory `dir`.
    /// `local_hostname` is the machine's full host name (see [`DbSettings`]).
    pub fn from_str_at(
        text: &str,
        path: &Path,
        dir: &Path,
        local_hostname: &str,
    ) -> Result<Config, ConfigError> {
        let root = document::parse(path, text)?;
        Self::from_document(&root, path, dir, local_hostname)
    }

    /// Validates a parsed document (step 2 of the module docs).
    fn from_document(
        root: &Element,
        path: &Path,
        dir: &Path,
        local_hostname: &str,
    ) -> Result<Config, ConfigError> {
        if root.name != "boinc" {
            return Err(ConfigError::Structure {
                path: path.to_path_buf(),
                at: root.at,
                message: format!("the root element is <{}>, expected <boinc>", root.name),
            });
        }
        let config = root.child("config").ok_or_else(|| ConfigError::Structure {
            path: path.to_path_buf(),
            at: root.at,
            message: "<boinc> has no <config> element".into(),
        })?;
        let options = Options::from_config_element(path, config);
        let text = |name: &str| {
            options
                .get(name)
                .filter(|v| !v.is_empty())
                .map(str::to_string)
        };
        // Secrets are not in `options`; read them from the element directly.
        let secret = |name: &str| {
            config
                .children_named(name)
                .last()
                .map(|e| Secret::new(e.value()))
                .unwrap_or_default()
        };
        let position = |name: &str| options.entry(name).map_or(config.at, |e| e.at);

        let project_dir = match text("project_dir") {
            Some(p) => dir.join(p),
            None => dir.to_path_buf(),
        };
        let dir_setting = |name: &str, default: &str| match text(name) {
            Some(p) => project_dir.join(p),
            None => project_dir.join(default),
        };

        let db_name = text("db_name").ok_or_else(|| ConfigError::Missing {
            path: path.to_path_buf(),
            element: "db_name",
        })?;
        let db_user = text("db_user").unwrap_or_default();
        let db_password = secret("db_passwd");
        let db = DbSettings::from_raw(
            path,
            position("db_host"),
            db_name.clone(),
            options.get("db_host").unwrap_or(""),
            db_user.clone(),
            db_password.clone(),
            local_hostname,
        )?;
        // BOINC copies the main values (after the localhost rule) into
        // every replica setting left empty.
        let replica_password = secret("replica_db_passwd");
        let replica_db = match text("replica_db_host") {
            Some(raw) => DbSettings::from_raw(
                path,
                position("replica_db_host"),
                String::new(),
                &raw,
                String::new(),
                Secret::default(),
                "",
            )?,
            None => db.clone(),
        };
        let replica_db = DbSettings {
            name: text("replica_db_name").unwrap_or(db_name),
            user: text("replica_db_user").unwrap_or(db_user),
            password: if replica_password.is_empty() {
                db_password
            } else {
                replica_password
            },
            ..replica_db
        };

        Ok(Config {
            config_path: path.to_path_buf(),
            long_name: text("long_name"),
            master_url: text("master_url"),
            host: text("host"),
            db,
            replica_db,
            upload_dir: dir_setting("upload_dir", "upload"),
            download_dir: dir_setting("download_dir", "download"),
            key_dir: dir_setting("key_dir", "keys"),
            app_dir: dir_setting("app_dir", "apps"),
            download_url: text("download_url"),
            upload_url: text("upload_url"),
            uldl_dir_fanout: options
                .typed::<u32>("uldl_dir_fanout", "a non-negative integer")?
                .unwrap_or(0),
            sched: SchedConfig::from_options(&options)?,
            daemons: daemons::parse_daemons(path, root)?,
            tasks: daemons::parse_tasks(path, root)?,
            project_dir,
            options,
        })
    }

    /// Applies `config_aux.xml` (root `<config>`, which BOINC reads only for
    /// `<max_jobs_in_progress>`).
    pub fn apply_aux(&mut self, text: &str, path: &Path) -> Result<(), ConfigError> {
        let root = document::parse(path, text)?;
        if root.name != "config" {
            return Err(ConfigError::Structure {
                path: path.to_path_buf(),
                at: root.at,
                message: format!("the root element is <{}>, expected <config>", root.name),
            });
        }
        if let Some(limits) = root.child("max_jobs_in_progress") {
            self.sched.max_jobs_in_progress.merge_aux(path, limits)?;
        }
        Ok(())
    }

    /// The main database's connection settings.
    pub fn db_settings(&self) -> &DbSettings {
        &self.db
    }

    /// The read-only replica's settings (the main database unless set).
    pub fn replica_db_settings(&self) -> &DbSettings {
        &self.replica_db
    }

    /// Every scalar `<config>` setting by name, for settings without a
    /// typed field (see [`Options`] for the value rules).
    pub fn options(&self) -> &Options {
        &self.options
    }

    /// The trimmed text of a scalar `<config>` setting, if present.
    pub fn option(&self, name: &str) -> Option<&str> {
        self.options.get(name)
    }

    /// The upload hierarchy: `<upload_dir>` with `<uldl_dir_fanout>`.
    pub fn upload_hier(&self) -> crate::hier::Hierarchy {
        crate::hier::Hierarchy::new(self.upload_dir.clone(), self.uldl_dir_fanout)
    }

    /// The download hierarchy: `<download_dir>` with `<uldl_dir_fanout>`.
    pub fn download_hier(&self) -> crate::hier::Hierarchy {
        crate::hier::Hierarchy::new(self.download_dir.clone(), self.uldl_dir_fanout)
    }
}

fn read(path: &Path) -> Result<String, ConfigError> {
    let bytes = std::fs::read(path).map_err(|source| ConfigError::Io {
        path: path.to_path_buf(),
        source,
    })?;
    String::from_utf8(bytes).map_err(|e| {
        let offset = e.utf8_error().valid_up_to();
        let valid = String::from_utf8_lossy(&e.as_bytes()[..offset]).into_owned();
        ConfigError::Malformed {
            path: path.to_path_buf(),
            at: Position::from_offset(&valid, offset),
            message: "the file is not valid UTF-8".into(),
        }
    })
}
