//! The `config.xml` a new project starts with.
//!
//! Same elements, order and URL scheme as stock BOINC's `make_project` (see
//! `fixtures/stock-server/make_project/config.xml`), so BOINC's own tools and web code can share
//! the project; the differences are deliberate:
//! - upload signing is ON (`dont_generate_upload_certificates` and `ignore_upload_certificates`
//!   0): the scheduler only accepts uploads it asked for;
//! - `one_result_per_host_per_wu` 1: the replicas of a quorum run on different hosts;
//! - fast-turnaround scheduler hints (`next_rpc_delay_busy`, `min_sendwork_interval` 0), so clients
//!   come back within seconds while a series runs;
//! - `<daemons>` lists rboinc's binaries (no feeder: the scheduler reads the database itself),
//!   plus the mnist app's work generator, validator and assimilator; `<tasks>` has `db_purge`.

use rboinc_core::xml::escape;

/// What goes into the file.
#[derive(Debug, Clone)]
pub struct ConfigValues<'a> {
    pub long_name: &'a str,
    pub db_name: &'a str,
    pub db_host: &'a str,
    pub db_user: &'a str,
    pub db_passwd: &'a str,
    pub shmem_key: u32,
    pub host: &'a str,
    pub master_url: &'a str,
    pub download_url: &'a str,
    pub upload_url: &'a str,
    pub root: &'a str,
    pub app: &'a str,
}

/// One `<daemon>` entry.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DaemonLine {
    pub cmd: String,
    /// `<output>`; needed when two daemons share a program name.
    pub output: Option<String>,
}

/// The daemons a new project runs, for the app `app`.
pub fn daemons(app: &str) -> Vec<DaemonLine> {
    let plain = |cmd: &str| DaemonLine {
        cmd: cmd.to_string(),
        output: None,
    };
    let per_app = |program: &str, args: &str| DaemonLine {
        cmd: format!("{program} -d 3 --app {app}{args}"),
        output: Some(format!("{program}_{app}.log")),
    };
    vec![
        plain("scheduler -d 3"),
        plain("transitioner -d 3"),
        per_app("work_generator", ""),
        per_app("validator", " --mode metrics"),
        per_app("script_assimilator", " --builtin copy_metrics"),
        plain("file_deleter -d 3"),
    ]
}

/// The text of `config.xml`.
pub fn render(v: &ConfigValues<'_>) -> String {
    let mut s = String::with_capacity(4096);
    s.push_str("<?xml version=\"1.0\" ?>\n<boinc>\n    <config>\n");
    let root = v.root.trim_end_matches('/');
    let shmem = format!("0x1111{:x}", v.shmem_key & 0xffff);
    let log_dir = format!("{root}/log_{}", v.host);
    let key_dir = format!("{root}/keys/");
    let download_dir = format!("{root}/download");
    let upload_dir = format!("{root}/upload");
    let app_dir = format!("{root}/apps");
    let settings: [(&str, &str); 39] = [
        ("long_name", v.long_name),
        ("db_user", v.db_user),
        ("db_name", v.db_name),
        ("db_passwd", v.db_passwd),
        ("db_host", v.db_host),
        ("shmem_key", &shmem),
        ("uldl_dir_fanout", "1024"),
        ("host", v.host),
        // Fast turnaround: no minimum gap between work requests, and clients told to come
        // back after a few seconds while there is work in flight (the scheduler's
        // `next_rpc_delay_busy`; an idle project sends no such hint).
        ("min_sendwork_interval", "0"),
        ("next_rpc_delay_busy", "5"),
        ("max_wus_to_send", "50"),
        ("daily_result_quota", "500"),
        ("disable_account_creation", "0"),
        ("disable_account_creation_rpc", "0"),
        ("account_creation_rpc_require_consent", "0"),
        ("disable_web_account_creation", "0"),
        ("enable_login_mustagree_termsofuse", "0"),
        ("enable_privacy_by_default", "0"),
        ("show_results", "1"),
        ("cache_md5_info", "1"),
        ("sched_debug_level", "3"),
        ("fuh_debug_level", "3"),
        ("one_result_per_user_per_wu", "0"),
        ("one_result_per_host_per_wu", "1"),
        ("send_result_abort", "1"),
        ("resend_lost_results", "1"),
        ("dont_generate_upload_certificates", "0"),
        ("ignore_upload_certificates", "0"),
        ("enable_delete_account", "0"),
        ("report_grace_period", "0"),
        ("delete_delay_hours", "0"),
        ("master_url", v.master_url),
        ("download_url", v.download_url),
        ("upload_url", v.upload_url),
        ("download_dir", &download_dir),
        ("upload_dir", &upload_dir),
        ("key_dir", &key_dir),
        ("app_dir", &app_dir),
        ("log_dir", &log_dir),
    ];
    for (tag, value) in settings {
        s.push_str(&format!("        <{tag}>{}</{tag}>\n", escape(value)));
    }
    s.push_str("    </config>\n    <tasks>\n");
    s.push_str(
        "        <task>\n            <period>24 hours</period>\n            <output>db_purge.out</output>\n            \
         <cmd>db_purge -d 2 --drain --min_age_days 30</cmd>\n            <disabled>0</disabled>\n        </task>\n",
    );
    s.push_str("    </tasks>\n    <daemons>\n");
    for d in daemons(v.app) {
        s.push_str("        <daemon>\n");
        s.push_str(&format!("            <cmd>{}</cmd>\n", escape(&d.cmd)));
        if let Some(out) = &d.output {
            s.push_str(&format!("            <output>{}</output>\n", escape(out)));
        }
        s.push_str("        </daemon>\n");
    }
    s.push_str("    </daemons>\n</boinc>\n");
    s
}

/// `project.xml`: the platform and app lists BOINC's `xadd` reads (the daemons do not).
pub fn project_xml(platform: &str, platform_name: &str, app: &str, app_name: &str) -> String {
    format!(
        "<?xml version=\"1.0\" ?>\n<boinc>\n    <platform>\n        <name>{}</name>\n        \
         <user_friendly_name>{}</user_friendly_name>\n    </platform>\n    <app>\n        <name>{}</name>\n        \
         <user_friendly_name>{}</user_friendly_name>\n    </app>\n</boinc>\n",
        escape(platform),
        escape(platform_name),
        escape(app),
        escape(app_name)
    )
}
