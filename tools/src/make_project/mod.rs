//! `make_project`: a new project directory and database, ready for `update_versions` and `start`.
//!
//! What [`create`] does, in order, so that a failure leaves nothing half-made:
//! 1. checks the options and that the target directory is new (or empty) — an existing project
//!    is never overwritten;
//! 2. creates the database if it does not exist (an existing one is adopted: a stock BOINC
//!    database is recognised, see `core::db::migrate`), runs the migrations, adds the platform
//!    `x86_64-pc-linux-gnu`, the app and the submitter's account;
//! 3. lays out the tree (`layout`), writes `config.xml` (`config_xml`), `project.xml`, the
//!    app's templates, fresh code-signing and upload keys, the ops page's htpasswd file with a
//!    random password (`secrets`), and links the binaries into `bin/`.
//!
//! If step 3 fails, the directory is removed again, and the database too if step 2 created it.
//! The returned [`MakeProjectReport`] carries the secrets to print once (the submitter's
//! authenticator, the ops password); nothing else ever shows them. [`cli`] is the
//! `make_project` command line.

pub mod cli;
mod config_xml;
mod database;
mod layout;
pub mod secrets;

use std::path::{Path, PathBuf};

use rboinc_core::config::{Config, DbSettings, Secret};
use rboinc_core::crypt;
use rboinc_core::db::{self, AppId, PlatformId, UserId};

pub use config_xml::{DaemonLine, daemons};
pub use layout::{BINARIES, BinLinks, directories, own_binary_dir};

use rboinc_core::clock::now_i32;

/// The platform every project gets.
pub const PLATFORM: &str = "x86_64-pc-linux-gnu";
const PLATFORM_FRIENDLY: &str = "Linux running on an AMD x86_64 or Intel EM64T CPU";
/// The app every project gets, and its templates (shipped in `config/templates/`).
pub const APP: &str = "mnist";
const APP_FRIENDLY: &str = "MNIST softmax trainer";
/// `templates/mnist_in`.
pub const MNIST_IN: &str = include_str!("../../../config/templates/mnist_in");
/// `templates/mnist_out`.
pub const MNIST_OUT: &str = include_str!("../../../config/templates/mnist_out");
/// Where the ops page's credentials go, relative to the project root.
pub const OPS_HTPASSWD: &str = "keys/ops.htpasswd";

/// Where the binaries for `bin/` come from.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum BinSource {
    /// Leave `bin/` empty.
    None,
    /// Link (or copy) the binaries found in this directory.
    Dir { dir: PathBuf, copy: bool },
}

/// Everything `make_project` is told.
#[derive(Debug, Clone)]
pub struct MakeProjectOptions {
    /// Short name: URL path component and default database name.
    pub short_name: String,
    /// Long (display) name; defaults to the short name.
    pub long_name: Option<String>,
    pub project_root: PathBuf,
    /// `http://host[:port]/`; the project lives at `<url_base><short_name>/`.
    pub url_base: String,
    /// `host` or `host:port`; empty means localhost.
    pub db_host: String,
    /// Defaults to the short name.
    pub db_name: Option<String>,
    pub db_user: String,
    pub db_passwd: Secret,
    /// The server's short host name (default: this machine's).
    pub project_host: Option<String>,
    pub submitter_email: String,
    pub submitter_name: String,
    pub bin: BinSource,
}

/// What was made, including the secrets to show once.
#[derive(Debug, Clone)]
pub struct MakeProjectReport {
    pub root: PathBuf,
    pub config_path: PathBuf,
    pub master_url: String,
    pub db_name: String,
    pub db: database::DbOutcome,
    pub platform_id: PlatformId,
    pub app_id: AppId,
    pub submitter_id: UserId,
    pub submitter_email: String,
    /// The account key clients attach with (`boinccmd --project_attach URL KEY`).
    pub authenticator: String,
    pub ops_user: String,
    pub ops_password: Secret,
    pub htpasswd_path: PathBuf,
    pub bin: BinLinks,
}

/// Why no project was made.
#[derive(Debug, thiserror::Error)]
pub enum MakeProjectError {
    #[error("{0}")]
    BadOption(String),
    #[error(
        "{} already exists and is not empty; refusing to overwrite it (choose another --project_root)",
        .0.display()
    )]
    Exists(PathBuf),
    #[error("cannot create {}: {source}", path.display())]
    Io {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
    #[error(
        "cannot connect to MySQL on {host}:{port} as `{user}`: {source}\n(is MariaDB running? check --db_host, --db_user, --db_passwd)"
    )]
    DbServer {
        host: String,
        port: u16,
        user: String,
        #[source]
        source: sqlx::Error,
    },
    #[error(transparent)]
    Connect(Box<db::ConnectError>),
    #[error(transparent)]
    Migrate(#[from] db::MigrateError),
    #[error("database error: {0}")]
    Sql(#[from] sqlx::Error),
    #[error("cannot create the submitter's account: {0}")]
    Account(String),
    #[error("cannot generate keys: {0}")]
    Keys(#[from] crypt::CryptError),
    #[error("cannot hash the ops password: {0}")]
    Hash(#[from] bcrypt::BcryptError),
    #[error("the config.xml written does not load back: {0}")]
    Config(Box<rboinc_core::config::ConfigError>),
}

impl From<db::ConnectError> for MakeProjectError {
    fn from(e: db::ConnectError) -> Self {
        MakeProjectError::Connect(Box::new(e))
    }
}

impl From<rboinc_core::config::ConfigError> for MakeProjectError {
    fn from(e: rboinc_core::config::ConfigError) -> Self {
        MakeProjectError::Config(Box::new(e))
    }
}

fn io_err(path: &Path) -> impl FnOnce(std::io::Error) -> MakeProjectError + '_ {
    move |source| MakeProjectError::Io {
        path: path.to_path_buf(),
        source,
    }
}

/// Splits `host[:port]`.
fn parse_db_host(raw: &str) -> Result<(String, Option<u16>), MakeProjectError> {
    match raw.rsplit_once(':') {
        Some((h, p)) if !h.contains(':') => p
            .parse::<u16>()
            .map(|port| (h.to_string(), Some(port)))
            .map_err(|_| MakeProjectError::BadOption(format!("--db_host {raw:?}: bad port"))),
        _ => Ok((raw.to_string(), None)),
    }
}

fn check_options(o: &MakeProjectOptions) -> Result<(), MakeProjectError> {
    let bad = |m: String| Err(MakeProjectError::BadOption(m));
    let short_ok = !o.short_name.is_empty()
        && o.short_name
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'_' || b == b'-');
    if !short_ok {
        return bad(format!(
            "project name {:?}: use letters, digits, '_' and '-' only",
            o.short_name
        ));
    }
    if !(o.url_base.starts_with("http://") || o.url_base.starts_with("https://")) {
        return bad(format!(
            "--url_base {:?} must start with http:// or https://",
            o.url_base
        ));
    }
    if !o.submitter_email.contains('@') {
        return bad(format!(
            "--submitter-email {:?} is not an email address",
            o.submitter_email
        ));
    }
    Ok(())
}

/// The target directory must be new or empty; returns whether it already existed.
fn check_target(root: &Path) -> Result<bool, MakeProjectError> {
    match std::fs::read_dir(root) {
        Ok(mut entries) => {
            if entries.next().is_some() {
                Err(MakeProjectError::Exists(root.to_path_buf()))
            } else {
                Ok(true)
            }
        }
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(false),
        Err(e) => Err(io_err(root)(e)),
    }
}

/// Makes a project; see the module docs.
pub async fn create(o: &MakeProjectOptions) -> Result<MakeProjectReport, MakeProjectError> {
    check_options(o)?;
    let root = if o.project_root.is_absolute() {
        o.project_root.clone()
    } else {
        std::env::current_dir()
            .map_err(io_err(&o.project_root))?
            .join(&o.project_root)
    };
    let existed = check_target(&root)?;
    let (host, port) = parse_db_host(&o.db_host)?;
    let db_name = o.db_name.clone().unwrap_or_else(|| o.short_name.clone());
    let settings = DbSettings {
        name: db_name.clone(),
        host: if host.is_empty() {
            "localhost".into()
        } else {
            host
        },
        port,
        user: o.db_user.clone(),
        password: o.db_passwd.clone(),
    };

    // Step 2: the database.
    let created_db = database::ensure_database(&settings).await?;
    let result = async {
        let pool = db::connect(&settings).await?;
        let now = now_i32();
        let outcome = database::prepare(
            &pool,
            created_db,
            PLATFORM,
            PLATFORM_FRIENDLY,
            APP,
            APP_FRIENDLY,
            now,
        )
        .await?;
        let account =
            database::submitter_account(&pool, &o.submitter_email, &o.submitter_name, now).await?;
        pool.close().await;
        // Step 3: the files.
        let files = write_tree(o, &root, &db_name).await;
        if files.is_err() {
            remove_tree(&root, existed);
        }
        let (master_url, ops_password, bin) = files?;
        Ok::<_, MakeProjectError>(MakeProjectReport {
            config_path: root.join("config.xml"),
            htpasswd_path: root.join(OPS_HTPASSWD),
            root: root.clone(),
            master_url,
            db_name: db_name.clone(),
            platform_id: outcome.platform_id,
            app_id: outcome.app_id,
            db: outcome,
            submitter_id: account.user_id,
            submitter_email: account.email,
            authenticator: account.authenticator,
            ops_user: secrets::OPS_USER.to_string(),
            ops_password,
            bin,
        })
    }
    .await;
    if result.is_err() && created_db {
        let _ = database::drop_database(&settings).await;
    }
    result
}

fn remove_tree(root: &Path, existed: bool) {
    if existed {
        if let Ok(entries) = std::fs::read_dir(root) {
            for e in entries.flatten() {
                let p = e.path();
                let _ = if p.is_dir() && !p.is_symlink() {
                    std::fs::remove_dir_all(&p)
                } else {
                    std::fs::remove_file(&p)
                };
            }
        }
    } else {
        let _ = std::fs::remove_dir_all(root);
    }
}

/// Step 3; returns the master URL, the ops password and the bin links.
async fn write_tree(
    o: &MakeProjectOptions,
    root: &Path,
    db_name: &str,
) -> Result<(String, Secret, BinLinks), MakeProjectError> {
    let host = o
        .project_host
        .clone()
        .unwrap_or_else(rboinc_core::project::short_hostname);
    std::fs::create_dir_all(root).map_err(io_err(root))?;
    layout::create_directories(root, &host).map_err(io_err(root))?;

    let url_base = if o.url_base.ends_with('/') {
        o.url_base.clone()
    } else {
        format!("{}/", o.url_base)
    };
    let master_url = format!("{url_base}{}/", o.short_name);
    let download_url = format!("{master_url}download");
    let upload_url = format!("{url_base}{}_cgi/file_upload_handler", o.short_name);
    let root_text = root.to_string_lossy();
    let long_name = o.long_name.clone().unwrap_or_else(|| o.short_name.clone());
    let config_text = config_xml::render(&config_xml::ConfigValues {
        long_name: &long_name,
        db_name,
        db_host: &o.db_host,
        db_user: &o.db_user,
        db_passwd: o.db_passwd.expose(),
        shmem_key: rand::random::<u32>(),
        host: &host,
        master_url: &master_url,
        download_url: &download_url,
        upload_url: &upload_url,
        root: &root_text,
        app: APP,
    });
    let config_path = root.join("config.xml");
    // It holds the database password: owner and group only.
    secrets::write_private(&config_path, &config_text).map_err(io_err(&config_path))?;
    // What we wrote must load with the same reader every daemon uses.
    Config::load(root)?;

    let write = |rel: &str, text: &str| {
        let p = root.join(rel);
        std::fs::write(&p, text).map_err(io_err(&p))
    };
    write(
        "project.xml",
        &config_xml::project_xml(PLATFORM, PLATFORM_FRIENDLY, APP, APP_FRIENDLY),
    )?;
    write(&format!("templates/{APP}_in"), MNIST_IN)?;
    write(&format!("templates/{APP}_out"), MNIST_OUT)?;
    std::fs::create_dir(root.join("apps").join(APP)).map_err(io_err(root))?;

    // Keys: RSA generation takes a moment; keep it off the async executor.
    let keys = root.join("keys");
    tokio::task::spawn_blocking(move || {
        for pair in ["code_sign", "upload"] {
            crypt::generate_key_files(
                &keys.join(format!("{pair}_private")),
                &keys.join(format!("{pair}_public")),
            )?;
        }
        Ok::<_, crypt::CryptError>(())
    })
    .await
    .expect("key generation does not panic")?;

    let ops_password = secrets::random_password(20);
    let line = {
        let pw = ops_password.clone();
        tokio::task::spawn_blocking(move || secrets::htpasswd_line(secrets::OPS_USER, &pw))
            .await
            .expect("hashing does not panic")?
    };
    let htpasswd = root.join(OPS_HTPASSWD);
    secrets::write_private(&htpasswd, &line).map_err(io_err(&htpasswd))?;

    let bin = match &o.bin {
        BinSource::None => BinLinks::default(),
        BinSource::Dir { dir, copy } => {
            layout::link_binaries(dir, &root.join("bin"), *copy).map_err(io_err(dir))?
        }
    };
    Ok((master_url, Secret::new(ops_password), bin))
}

/// The summary `make_project` prints: where things are, and the secrets, once.
pub fn summary(r: &MakeProjectReport) -> String {
    let mut s = String::new();
    s.push_str(&format!("Created project at {}\n", r.root.display()));
    s.push_str(&format!("  master URL       {}\n", r.master_url));
    s.push_str(&format!("  config           {}\n", r.config_path.display()));
    let db_state = if r.db.created {
        "created"
    } else if r.db.adopted_stock {
        "adopted (stock BOINC tables kept)"
    } else {
        "existing, reused"
    };
    s.push_str(&format!(
        "  database         {} ({db_state}; migrations run: {:?})\n",
        r.db_name, r.db.migrations_applied
    ));
    s.push_str(&format!(
        "  platform         {PLATFORM} (id {}), app {APP} (id {})\n",
        r.platform_id, r.app_id
    ));
    s.push_str(&format!(
        "  bin/             {} linked{}\n",
        r.bin.linked.len(),
        if r.bin.missing.is_empty() {
            String::new()
        } else {
            format!(
                " ({} not built yet: {})",
                r.bin.missing.len(),
                r.bin.missing.join(" ")
            )
        }
    ));
    s.push_str("  upload signing   on (clients must present the project's upload authorization)\n");
    s.push('\n');
    s.push_str(&format!(
        "Submitter account {} (id {})\n  authenticator    {}\n",
        r.submitter_email, r.submitter_id, r.authenticator
    ));
    s.push_str(&format!(
        "Ops page login (shown only now; stored as a bcrypt hash in {})\n  user {}  password {}\n",
        r.htpasswd_path.display(),
        r.ops_user,
        r.ops_password.expose()
    ));
    s.push_str(&format!(
        "\nNext: put the app in apps/{APP}/<version>/{PLATFORM}/ (or run \
         `update_versions --add-app-binary PATH --app {APP} --version 1.0`), then `update_versions` and `start`.\n\
         Attach a client: boinccmd --project_attach {} {}\n",
        r.master_url, r.authenticator
    ));
    s
}
