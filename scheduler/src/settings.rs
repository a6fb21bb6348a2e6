//! What the server takes from `config.xml`, checked once at start-up.
//!
//! Stock settings keep their BOINC meaning (see [`rboinc_core::config::SchedConfig`]). The
//! settings below are this server's own; each is an optional `<config>` element:
//!
//! | element | meaning | default |
//! |---|---|---|
//! | `<scheduler_url>` | the scheduler endpoint advertised on the master page | `<master_url>../<short>_cgi/cgi` |
//! | `<next_rpc_delay_busy>` | seconds after which clients should come back while the project has unsent or in-progress results (so a series keeps moving); none is sent when the project is idle | not sent |
//! | `<sched_max_request_bytes>` | largest scheduler request body | 16 MiB |
//! | `<upload_max_bytes>` | largest upload body when upload certificates are ignored (with certificates, each file's signed `max_nbytes` is the limit) | 256 MiB |
//! | `<sched_db_connections>` | database connections this process may open | 16 |
//! | `<min_passwd_length>` | advertised by `get_project_config.php` (read by the stock web code too) | 6 |
//! | `<db_outage_delay>` | seconds clients are asked to wait when the database cannot be reached (an unplanned outage, usually short; `<maintenance_delay>` is for a planned `stop_sched`) | 60 |
//! | `<http_idle_timeout>` | seconds a connection may stall (headers not complete, keep-alive idle, a request body sending nothing) before it is dropped | 30 |
//!
//! BOINC's own `<next_rpc_delay>` is honoured as in BOINC: it is sent in every reply, and so
//! are BOINC's version-choice options ([`VersionSelect`]) and `<gpu_multiplier>`.

use std::path::PathBuf;
use std::time::Duration;

use rboinc_core::config::{Config, ConfigError, SchedConfig};
use rboinc_core::project::ProjectDir;

use crate::urls::{ProjectUrls, UrlError};

pub const NEXT_RPC_DELAY_BUSY_OPTION: &str = "next_rpc_delay_busy";
pub const MAX_REQUEST_BYTES_OPTION: &str = "sched_max_request_bytes";
pub const UPLOAD_MAX_BYTES_OPTION: &str = "upload_max_bytes";
pub const DB_CONNECTIONS_OPTION: &str = "sched_db_connections";
pub const DB_OUTAGE_DELAY_OPTION: &str = "db_outage_delay";

const DEFAULT_MAX_REQUEST_BYTES: u64 = 16 << 20;
const DEFAULT_UPLOAD_MAX_BYTES: u64 = 256 << 20;
const DEFAULT_DB_CONNECTIONS: u32 = 16;
/// Long enough not to hammer a database coming back, short enough that a restart of a minute
/// or so costs clients little.
const DEFAULT_DB_OUTAGE_DELAY: Duration = Duration::from_secs(60);

/// A setting the server cannot run with.
#[derive(Debug, thiserror::Error)]
pub enum SettingsError {
    #[error(transparent)]
    Url(#[from] UrlError),
    #[error(transparent)]
    Config(#[from] ConfigError),
    #[error("<{element}> must be {expected}")]
    Range {
        element: &'static str,
        expected: &'static str,
    },
}

/// BOINC's options for choosing among a host's app versions.
#[derive(Debug, Clone, PartialEq)]
pub struct VersionSelect {
    /// `<version_select_random_factor>`: spread of the random factor each version's projected
    /// speed is multiplied by (`1 + factor × N(0,1) / samples`, at least 0.1). BOINC's default
    /// is 1; 0 makes the choice deterministic (the fastest projected version always wins).
    pub random_factor: f64,
    /// `<prefer_primary_platform>`: stop at the first platform with a usable version.
    pub prefer_primary_platform: bool,
    /// `<rte_no_stats>`: run times from plan-class speeds only, never from statistics.
    pub rte_no_stats: bool,
    /// `<estimate_flops_from_hav_pfc>`: host statistics from credit rather than elapsed time.
    pub estimate_flops_from_hav_pfc: bool,
}

impl Default for VersionSelect {
    fn default() -> Self {
        VersionSelect {
            random_factor: 1.0,
            prefer_primary_platform: false,
            rte_no_stats: false,
            estimate_flops_from_hav_pfc: false,
        }
    }
}

/// The server's view of the project.
#[derive(Debug, Clone)]
pub struct ServerSettings {
    /// `<long_name>`, shown by clients as the project's name.
    pub project_name: String,
    pub urls: ProjectUrls,
    pub project_dir: PathBuf,
    pub upload_dir: PathBuf,
    pub download_dir: PathBuf,
    pub key_dir: PathBuf,
    pub fanout: u32,
    pub sched: SchedConfig,
    pub select: VersionSelect,
    /// `<gpu_multiplier>`: GPUs count this many times a CPU in the jobs per RPC (default 0).
    pub gpu_multiplier: i64,
    /// `<default_disk_min_free_gb>`: the least free disk a host keeps, whatever its
    /// preferences say (default 1).
    pub default_disk_min_free_gb: f64,
    /// `<http_idle_timeout>` (rboinc's, seconds): a connection that sends no complete headers,
    /// or a request body that sends no data, for this long is dropped (default 30).
    pub http_idle_timeout: Duration,
    /// `<db_outage_delay>` (rboinc's, seconds): the `request_delay` of the "project down"
    /// reply sent while the database cannot be reached (default 60).
    pub db_outage_delay: Duration,
    pub next_rpc_delay_busy: Option<Duration>,
    pub max_request_bytes: usize,
    pub upload_max_bytes: u64,
    pub db_connections: u32,
    pub min_passwd_length: u32,
    /// The `stop_sched` trigger file: while it exists, RPCs get a "project down" reply.
    pub stop_sched_path: PathBuf,
    /// The `reread_db` trigger file: its change makes the app version cache reload at once.
    pub reread_db_path: PathBuf,
}

impl ServerSettings {
    pub fn from_config(config: &Config, project: &ProjectDir) -> Result<Self, SettingsError> {
        let options = config.options();
        let positive_u64 = |element: &'static str, default: u64| -> Result<u64, SettingsError> {
            match options.int(element)? {
                None => Ok(default),
                Some(n) if n > 0 => Ok(n as u64),
                Some(_) => Err(SettingsError::Range {
                    element,
                    expected: "a positive number of bytes",
                }),
            }
        };
        let next_rpc_delay_busy = match options.float(NEXT_RPC_DELAY_BUSY_OPTION)? {
            None => None,
            Some(x) if x > 0.0 => Some(Duration::from_secs_f64(x)),
            Some(0.0) => None,
            Some(_) => {
                return Err(SettingsError::Range {
                    element: NEXT_RPC_DELAY_BUSY_OPTION,
                    expected: "a non-negative number of seconds",
                });
            }
        };
        let db_connections = match options.int(DB_CONNECTIONS_OPTION)? {
            None => DEFAULT_DB_CONNECTIONS,
            Some(n) if (1..=1000).contains(&n) => n as u32,
            Some(_) => {
                return Err(SettingsError::Range {
                    element: DB_CONNECTIONS_OPTION,
                    expected: "between 1 and 1000",
                });
            }
        };
        let min_passwd_length = options
            .int("min_passwd_length")?
            .filter(|n| *n > 0)
            .map_or(6, |n| n.min(1000) as u32);
        let flag = |name: &str| options.bool(name).map(|v| v.unwrap_or(false));
        let select = VersionSelect {
            random_factor: match options.float("version_select_random_factor")? {
                None => 1.0,
                Some(x) if x >= 0.0 => x,
                Some(_) => {
                    return Err(SettingsError::Range {
                        element: "version_select_random_factor",
                        expected: "a non-negative number",
                    });
                }
            },
            prefer_primary_platform: flag("prefer_primary_platform")?,
            rte_no_stats: flag("rte_no_stats")?,
            estimate_flops_from_hav_pfc: flag("estimate_flops_from_hav_pfc")?,
        };
        let gpu_multiplier = options.int("gpu_multiplier")?.unwrap_or(0).clamp(0, 1000);
        let default_disk_min_free_gb = match options.float("default_disk_min_free_gb")? {
            None => 1.0,
            Some(x) if x >= 0.0 => x,
            Some(_) => {
                return Err(SettingsError::Range {
                    element: "default_disk_min_free_gb",
                    expected: "a non-negative number of GB",
                });
            }
        };
        let http_idle_timeout = match options.float("http_idle_timeout")? {
            None => Duration::from_secs(30),
            Some(x) if x > 0.0 && x <= 86_400.0 => Duration::from_secs_f64(x),
            Some(_) => {
                return Err(SettingsError::Range {
                    element: "http_idle_timeout",
                    expected: "a number of seconds between 0 and 86400",
                });
            }
        };
        let db_outage_delay = match options.float(DB_OUTAGE_DELAY_OPTION)? {
            None => DEFAULT_DB_OUTAGE_DELAY,
            Some(x) if x > 0.0 && x <= 86_400.0 => Duration::from_secs_f64(x),
            Some(_) => {
                return Err(SettingsError::Range {
                    element: DB_OUTAGE_DELAY_OPTION,
                    expected: "a number of seconds between 0 and 86400",
                });
            }
        };
        Ok(ServerSettings {
            select,
            db_outage_delay,
            http_idle_timeout,
            gpu_multiplier,
            default_disk_min_free_gb,
            project_name: config
                .long_name
                .clone()
                .unwrap_or_else(|| "BOINC project".to_string()),
            urls: ProjectUrls::from_config(config)?,
            project_dir: project.root().to_path_buf(),
            upload_dir: config.upload_dir.clone(),
            download_dir: config.download_dir.clone(),
            key_dir: config.key_dir.clone(),
            fanout: config.uldl_dir_fanout,
            sched: config.sched.clone(),
            next_rpc_delay_busy,
            max_request_bytes: positive_u64(MAX_REQUEST_BYTES_OPTION, DEFAULT_MAX_REQUEST_BYTES)?
                .min(usize::MAX as u64) as usize,
            upload_max_bytes: positive_u64(UPLOAD_MAX_BYTES_OPTION, DEFAULT_UPLOAD_MAX_BYTES)?,
            db_connections,
            min_passwd_length,
            stop_sched_path: project.stop_sched_path(),
            reread_db_path: project.reread_db_path(),
        })
    }

    /// Whether the `stop_sched` trigger is present (one `stat`).
    pub fn sched_stopped(&self) -> bool {
        self.stop_sched_path.exists()
    }
}
