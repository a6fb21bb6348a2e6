//! `update_versions`: registers app versions laid out as BOINC lays them out.
//!
//! First, apps and platforms that version directories need but the database lacks are added
//! from `project.xml`, as BOINC's `xadd` would, or refused by name if it does not list them
//! (`catalog.rs`). Then, for every `apps/<app>/<version>/<platform>[__<plan_class>]/` whose app
//! and platform are in the database, whose plan class (if any) the project defines, and which is not registered
//! yet, every file in the directory (except
//! `version.xml` and `*.sig`) is signed with `keys/code_sign_private` (or its `NAME.sig` is
//! used, for projects that sign offline), staged flat into `download/` under its own name, and
//! described in a new `app_version` row; then `reread_db` is touched.
//!
//! All versions found are checked first (files, signatures, main program, and that no staged
//! file with the same name holds different bytes: files are immutable, since clients cache them
//! by name) and only then staged and inserted, in one transaction — a mistake in one directory
//! registers nothing. Because the scheduler sends each host the newest version, publishing 1.4
//! after 1.3 moves new work to 1.4; the version's files must have new names, which
//! [`add_app_binary`] ensures by naming the file `<app>_<version>_<platform>`.
//!
//! The steps, one file each: `scan.rs` finds the new version directories, `version_xml.rs`
//! reads what a version says about its files, `sign.rs` checks, hashes and signs one file,
//! `plan_class.rs` checks the version's plan class (the project must define it) and what
//! `version.xml` declares about CPUs and GPUs against it,
//! `plan.rs` puts a version together with nothing written yet ([`plan`]), `xml_doc.rs` renders
//! its `app_version.xml_doc`, `register.rs` stages the files and inserts the rows ([`run`]);
//! `add_binary.rs` lays out a single-file app as a new version ([`add_app_binary`]), and
//! [`cli`] is the `update_versions` command line.

mod add_binary;
mod catalog;
pub mod cli;
mod plan;
pub mod plan_class;
mod register;
mod scan;
mod sign;
mod version_xml;
mod xml_doc;

use std::path::{Path, PathBuf};

use rboinc_core::crypt;
use rboinc_core::md5file;

pub use add_binary::{DEFAULT_API_VERSION, add_app_binary};
pub use plan::{PlannedVersion, plan};
pub use register::{Registered, UpdateReport, run};
pub use scan::parse_version;
pub use sign::VersionFile;

/// Why nothing was registered.
#[derive(Debug, thiserror::Error)]
pub enum UpdateError {
    #[error("{}: {message}", dir.display())]
    Version { dir: PathBuf, message: String },
    #[error(
        "{}: no .sig file for {name}, and no code-signing key at {}",
        dir.display(), key.display()
    )]
    NoSignature {
        dir: PathBuf,
        name: String,
        key: PathBuf,
    },
    #[error(
        "files {} and {} differ: staged files are immutable; give the new file a new name (e.g. a new version number in its name)",
        src.display(), staged.display()
    )]
    Immutable { src: PathBuf, staged: PathBuf },
    #[error("unknown app {app:?}; the project's apps are: {known}")]
    UnknownApp { app: String, known: String },
    #[error("unknown platform {0:?}")]
    UnknownPlatform(String),
    #[error("{0:?} is not a version number (use MAJOR or MAJOR.MINOR, e.g. 1.4)")]
    BadVersion(String),
    #[error("{}: {source}", path.display())]
    Io {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
    #[error(transparent)]
    Crypt(#[from] crypt::CryptError),
    #[error(transparent)]
    Md5(#[from] md5file::Md5FileError),
    #[error("database error: {0}")]
    Sql(#[from] sqlx::Error),
    #[error("config.xml has no <download_url>")]
    NoDownloadUrl,
    #[error("{0}")]
    PlanClasses(String),
    #[error("project.xml: {0}")]
    ProjectXml(String),
    #[error(
        "apps/ has versions for {kind} {}, which is not in the database and not listed in \
         project.xml; add <{kind}><name>NAME</name><user_friendly_name>…</user_friendly_name></{kind}> \
         to project.xml, then run `bin/xadd` (or update_versions again, which adds what \
         project.xml lists)",
        names.join(", ")
    )]
    NotListed {
        kind: &'static str,
        names: Vec<String>,
    },
}

fn io(path: &Path) -> impl FnOnce(std::io::Error) -> UpdateError + '_ {
    move |source| UpdateError::Io {
        path: path.to_path_buf(),
        source,
    }
}
