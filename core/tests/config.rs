//! `config.xml` as real BOINC tools write it, minimal and complete files of
//! our own, and malformed files with the exact message each one produces.

use std::path::{Path, PathBuf};
use std::time::Duration;

use rboinc_core::config::{Config, ConfigError, JobLimit, Position, ResourceLimit};
use rboinc_core::project::ProjectDir;

fn repo() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("..")
}

fn data(name: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("tests/data/config")
        .join(name)
}

/// A project directory holding `text` as its config.xml.
fn project_with(text: &str) -> tempfile::TempDir {
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(dir.path().join("config.xml"), text).unwrap();
    dir
}

/// The stock make_project file with its placeholders filled in the way
/// make_project fills them on a real machine.
fn stock_config_text(file: &Path, root: &Path) -> String {
    std::fs::read_to_string(file)
        .unwrap()
        .replace("PROJECT_ROOT", &root.display().to_string())
        .replace("HOSTNAME", "boincserver")
        .replace("SHMEM_KEY", "0x1111e001")
}

#[test]
fn stock_make_project_config() {
    let dir = tempfile::tempdir().unwrap();
    let root = dir.path().canonicalize().unwrap();
    let stock = repo().join("fixtures/stock-server/make_project/config.xml");
    std::fs::write(root.join("config.xml"), stock_config_text(&stock, &root)).unwrap();

    let c = Config::load(&root).unwrap();

    assert_eq!(c.long_name.as_deref(), Some("Stock Fixture Project"));
    assert_eq!(
        c.master_url.as_deref(),
        Some("http://127.0.0.1:8080/stockproj/")
    );
    assert_eq!(c.host.as_deref(), Some("boincserver"));
    // The database: make_project's whitespace-only password is empty.
    assert_eq!(c.db.name, "fx_stock");
    assert_eq!(c.db.user, "root");
    assert_eq!(c.db.host, "localhost");
    assert_eq!(c.db.port, None);
    assert!(
        c.db.password.is_empty(),
        "the minidom whitespace is trimmed"
    );
    assert_eq!(c.db_settings(), &c.db);
    assert_eq!(
        c.replica_db_settings(),
        &c.db,
        "replica defaults to the main DB"
    );
    // Paths (key_dir keeps make_project's trailing slash harmlessly).
    assert_eq!(c.project_dir, root);
    assert_eq!(c.config_path, root.join("config.xml"));
    assert_eq!(c.download_dir, root.join("download"));
    assert_eq!(c.upload_dir, root.join("upload"));
    assert_eq!(c.key_dir, root.join("keys"));
    assert_eq!(
        c.key_dir.join("upload_private"),
        root.join("keys/upload_private")
    );
    assert_eq!(c.app_dir, root.join("apps"));
    assert_eq!(
        c.download_url.as_deref(),
        Some("http://127.0.0.1:8080/stockproj/download")
    );
    assert_eq!(
        c.upload_url.as_deref(),
        Some("http://127.0.0.1:8080/stockproj_cgi/file_upload_handler")
    );
    assert_eq!(c.uldl_dir_fanout, 1024);
    // make_project's choices, and BOINC's defaults for what it leaves out.
    let s = &c.sched;
    assert_eq!(s.min_sendwork_interval, Duration::from_secs(6));
    assert_eq!(s.max_wus_to_send, 50);
    assert_eq!(s.daily_result_quota, 500);
    assert!(s.cache_md5_info);
    assert!(s.send_result_abort);
    assert!(s.dont_generate_upload_certificates);
    assert!(s.ignore_upload_certificates);
    assert!(!s.one_result_per_user_per_wu);
    assert!(!s.one_result_per_host_per_wu);
    assert!(!s.disable_account_creation);
    assert!(!s.disable_account_creation_rpc);
    assert_eq!(s.sched_debug_level, 3);
    assert_eq!(s.fuh_debug_level, 3);
    assert_eq!(s.shmem_work_items, 100);
    assert_eq!(s.feeder_query_size, 200);
    assert_eq!(s.report_grace_period, Duration::ZERO);
    assert_eq!(s.delete_delay, Duration::ZERO);
    assert_eq!(s.next_rpc_delay, None);
    assert_eq!(s.max_jobs_in_progress, Default::default());
    // Settings without a typed field are there by name.
    assert_eq!(c.option("shmem_key"), Some("0x1111e001"));
    assert_eq!(c.options().bool("show_results").unwrap(), Some(true));
    assert_eq!(
        c.option("log_dir"),
        Some(&*format!("{}/log_boincserver", root.display()))
    );
    assert_eq!(c.option("db_passwd"), None, "secrets are not options");

    // Daemons and tasks, in file order.
    let cmds: Vec<_> = c.daemons.iter().map(|d| d.cmd.as_str()).collect();
    assert_eq!(
        cmds,
        ["feeder -d 3", "transitioner -d 3", "file_deleter -d 3"]
    );
    assert!(c.daemons.iter().all(|d| !d.disabled && d.host.is_none()));
    assert_eq!(c.daemons[1].log_file_name(), "transitioner.log");
    assert_eq!(c.tasks.len(), 11);
    let t = &c.tasks[0];
    assert_eq!(t.cmd, "antique_file_deleter -d 2");
    assert_eq!(t.period.duration, Duration::from_secs(86_400));
    assert_eq!(t.output.as_deref(), Some("antique_file_deleter.out"));
    assert!(!t.disabled);
    assert!(c.tasks[1].disabled, "db_dump is disabled");
    assert_eq!(c.tasks[2].cmd, "run_in_ops ./update_uotd.php");
    assert_eq!(c.tasks[2].program(), "update_uotd.php");
    assert_eq!(c.tasks[3].period.duration, Duration::from_secs(3600));
    let disabled: Vec<_> = c
        .tasks
        .iter()
        .filter(|t| t.disabled)
        .map(|t| t.program())
        .collect();
    assert_eq!(disabled, ["db_dump", "team_import.php"]);
}

#[test]
fn stock_file_with_placeholders_still_parses() {
    // Verbatim fixture: PROJECT_ROOT is then a relative path (resolved
    // against the project directory) and SHMEM_KEY an unused string.
    let dir = tempfile::tempdir().unwrap();
    let root = dir.path().canonicalize().unwrap();
    std::fs::copy(
        repo().join("fixtures/stock-server/make_project/config.xml"),
        root.join("config.xml"),
    )
    .unwrap();
    let c = Config::load(&root).unwrap();
    assert_eq!(c.download_dir, root.join("PROJECT_ROOT/download"));
    assert_eq!(c.option("shmem_key"), Some("SHMEM_KEY"));
    assert_eq!(c.host.as_deref(), Some("HOSTNAME"));
}

#[test]
fn stock_test_app_variant_daemons() {
    let dir = tempfile::tempdir().unwrap();
    let root = dir.path().canonicalize().unwrap();
    let file = repo().join("fixtures/stock-server/make_project/test_app_variant/config.xml");
    std::fs::write(root.join("config.xml"), stock_config_text(&file, &root)).unwrap();
    let c = Config::load(&root).unwrap();
    assert_eq!(c.db.name, "fx_stock_testapp");
    let programs: Vec<_> = c.daemons.iter().map(|d| d.program()).collect();
    assert_eq!(
        programs,
        [
            "feeder",
            "transitioner",
            "file_deleter",
            "sample_work_generator",
            "sample_bitwise_validator",
            "batch_collect_assimilator"
        ]
    );
    assert_eq!(
        c.daemons[4].cmd,
        "sample_bitwise_validator -d 3 --app example_app"
    );
}

#[test]
fn daemon_oracle_config_and_each_scenario_extra() {
    let template = std::fs::read_to_string(
        repo().join("fixtures/daemon-oracle/oracle_tools/config.xml.template"),
    )
    .unwrap();
    let scenarios = repo().join("fixtures/daemon-oracle/scenarios");
    let mut checked = 0;
    for entry in std::fs::read_dir(&scenarios).unwrap() {
        let scenario = entry.unwrap().path();
        let extra = std::fs::read_to_string(scenario.join("config_extra.xml")).unwrap_or_default();
        let dir = tempfile::tempdir().unwrap();
        let root = dir.path().canonicalize().unwrap();
        let text = template
            .replace("@DB@", "oracle_db")
            .replace("@EXTRA@", &extra)
            .replace("PROJECT", &root.display().to_string());
        std::fs::write(root.join("config.xml"), text).unwrap();
        let c = Config::load(&root).unwrap_or_else(|e| panic!("{}: {e}", scenario.display()));
        assert_eq!(c.db.name, "oracle_db");
        assert_eq!(c.key_dir, root.join("keys"));
        assert_eq!(c.sched.daily_result_quota, 100);
        let name = scenario.file_name().unwrap().to_str().unwrap().to_string();
        match name.as_str() {
            "02_trans_timeout_replacement" => assert_eq!(c.sched.reliable_priority_on_over, 10),
            "09_trans_delete_delay" => assert_eq!(c.sched.delete_delay, Duration::from_secs(3600)),
            _ => {
                assert_eq!(c.sched.reliable_priority_on_over, 0, "{name}");
                assert_eq!(c.sched.delete_delay, Duration::ZERO, "{name}");
            }
        }
        checked += 1;
    }
    assert!(checked >= 29, "all oracle scenarios were read ({checked})");
}

#[test]
fn minimal_config_gets_boinc_defaults() {
    let dir = tempfile::tempdir().unwrap();
    std::fs::copy(data("minimal.xml"), dir.path().join("config.xml")).unwrap();
    let root = dir.path();
    let c = Config::load(root).unwrap();
    assert_eq!(c.db.name, "mini");
    assert_eq!(c.db.host, "localhost");
    assert_eq!(c.db.user, "");
    assert_eq!(c.master_url, None);
    assert_eq!(c.download_url, None);
    assert_eq!(c.upload_dir, root.join("upload"));
    assert_eq!(c.download_dir, root.join("download"));
    assert_eq!(c.key_dir, root.join("keys"));
    assert_eq!(c.app_dir, root.join("apps"));
    assert_eq!(c.uldl_dir_fanout, 0);
    assert_eq!(c.sched.max_wus_to_send, 10);
    assert_eq!(c.sched.max_ncpus, 64);
    assert_eq!(c.sched.maintenance_delay, Duration::from_secs(3600));
    assert_eq!(c.sched.sched_debug_level, 3);
    assert!(!c.sched.send_result_abort);
    assert!(c.daemons.is_empty() && c.tasks.is_empty());
}

#[test]
fn full_config_with_aux_file() {
    let dir = tempfile::tempdir().unwrap();
    let root = dir.path();
    std::fs::copy(data("full/config.xml"), root.join("config.xml")).unwrap();
    std::fs::copy(data("full/config_aux.xml"), root.join("config_aux.xml")).unwrap();
    let c = Config::load(root).unwrap();

    assert_eq!(c.long_name.as_deref(), Some("Full & Complete"));
    assert_eq!(c.db.host, "db.example.org");
    assert_eq!(c.db.port, Some(3307));
    assert_eq!(c.db.password.expose(), "correct horse battery staple");
    assert_eq!(c.replica_db.host, "replica.example.org");
    assert_eq!(c.replica_db.port, None);
    assert_eq!(c.replica_db.user, "reader");
    assert_eq!(
        c.replica_db.name, "full",
        "unset replica values come from the main DB"
    );
    assert_eq!(
        c.replica_db.password.expose(),
        "correct horse battery staple"
    );
    assert_eq!(
        c.upload_dir,
        root.join("upload_area"),
        "relative to the project"
    );
    assert_eq!(c.download_dir, PathBuf::from("/srv/full/download"));
    assert_eq!(c.key_dir, PathBuf::from("/srv/full/keys"));

    let s = &c.sched;
    assert!(s.one_result_per_user_per_wu, "<flag/> is true");
    assert!(s.one_result_per_host_per_wu);
    assert_eq!(s.max_wus_to_send, 50);
    assert_eq!(s.min_sendwork_interval, Duration::from_secs(6));
    assert_eq!(s.report_grace_period, Duration::from_secs(5400));
    assert!(s.resend_lost_results);
    assert_eq!(s.next_rpc_delay, Some(Duration::from_secs(86_400)));
    assert_eq!(
        s.min_core_client_version, 72_000,
        "BOINC multiplies values < 10000 by 100"
    );
    assert_eq!(s.report_max, Some(64));
    assert!(s.dont_store_success_stderr);
    assert!(!s.disable_account_creation);
    assert!(s.disable_account_creation_rpc);
    assert_eq!(s.delete_delay, Duration::from_secs(7200));
    assert_eq!(s.reliable_priority_on_over, 10);
    assert_eq!(s.reliable_priority_on_over_except_error, 5);
    assert!(s.hr_class_static);
    assert_eq!(s.homogeneous_redundancy, 2);
    assert!(s.credit_by_app);
    assert_eq!(s.shmem_work_items, 250);
    assert_eq!(s.feeder_query_size, 500);
    assert_eq!(s.sched_debug_level, 4);

    // max_wus_in_progress(_gpu) from config.xml, refined by config_aux.xml.
    let limits = &s.max_jobs_in_progress;
    let per_proc = |jobs| {
        Some(ResourceLimit {
            jobs,
            per_proc: true,
        })
    };
    assert_eq!(
        limits.project,
        JobLimit {
            total: Some(ResourceLimit {
                jobs: 100,
                per_proc: false
            }),
            cpu: per_proc(4),
            gpu: per_proc(2),
        }
    );
    assert_eq!(
        limits.for_app("mnist"),
        Some(&JobLimit {
            total: None,
            cpu: per_proc(3),
            gpu: None
        })
    );
    assert_eq!(limits.for_app("other"), None);

    // Generic access for what has no field.
    let o = c.options();
    assert_eq!(
        o.all("ban_os").collect::<Vec<_>>(),
        ["Darwin", "Windows 95"]
    );
    assert_eq!(o.int("some_future_option").unwrap(), Some(42));
    assert_eq!(o.int("shmem_key").unwrap(), Some(0x1111_e001));
    assert_eq!(
        o.get("nested_unknown"),
        None,
        "only scalar elements are options"
    );
    let e = o.entry("some_future_option").unwrap();
    assert_eq!(
        e.at,
        Position {
            line: 51,
            column: 5
        }
    );

    // Daemons with every field.
    let v = &c.daemons[1];
    assert_eq!(v.cmd, "validator -d 3 -app mnist");
    assert_eq!(v.host.as_deref(), Some("worker2"));
    assert!(v.disabled && v.use_shell && v.silent_start);
    assert_eq!(v.log_file_name(), "validator_mnist.log");
    assert_eq!(v.pid_file_name(), "validator_mnist.pid");
    assert_eq!(v.lock_file_name(), "validator_mnist.lock");
    assert!(v.runs_on("worker2", c.host.as_deref()));
    assert!(!c.daemons[0].runs_on("worker2", c.host.as_deref()));
    assert!(c.daemons[0].runs_on("web1", c.host.as_deref()));
    // Tasks with every field.
    let t = &c.tasks[0];
    assert!(t.always_run && !t.disabled);
    let t = &c.tasks[1];
    assert_eq!(t.period.duration, Duration::from_secs(1800));
    assert_eq!(t.period.text, "30 min");
    assert_eq!(t.lock_file_name(), "purge.lock");
    assert_eq!(t.output_file_name(), "db_purge.out");
}

#[test]
fn the_password_never_shows_in_debug_output() {
    let dir = tempfile::tempdir().unwrap();
    std::fs::copy(data("full/config.xml"), dir.path().join("config.xml")).unwrap();
    let c = Config::load(dir.path()).unwrap();
    let debug = format!("{c:?}");
    assert!(!debug.contains("horse"), "password leaked: {debug}");
    assert!(debug.contains("Secret([redacted])"));
    assert!(!format!("{:?}", c.db_settings()).contains("horse"));
    assert!(!format!("{:#?}", c.options()).contains("horse"));
}

#[test]
fn db_host_equal_to_this_machine_becomes_localhost() {
    let me = rboinc_core::project::hostname();
    let text =
        format!("<boinc><config><db_name>x</db_name><db_host>{me}:3308</db_host></config></boinc>");
    let c = Config::from_str_at(&text, Path::new("config.xml"), Path::new("/p"), &me).unwrap();
    assert_eq!((c.db.host.as_str(), c.db.port), ("localhost", Some(3308)));
}

#[test]
fn project_dir_setting_moves_derived_paths() {
    let dir = project_with(
        "<boinc><config><db_name>x</db_name><project_dir>elsewhere</project_dir></config></boinc>",
    );
    let c = Config::load(dir.path()).unwrap();
    assert_eq!(c.project_dir, dir.path().join("elsewhere"));
    assert_eq!(c.upload_dir, dir.path().join("elsewhere/upload"));
}

#[test]
fn loading_through_the_located_project_directory() {
    let dir = tempfile::tempdir().unwrap();
    std::fs::copy(data("minimal.xml"), dir.path().join("config.xml")).unwrap();
    let tmp = dir.path().join("tmp_host");
    std::fs::create_dir(&tmp).unwrap();
    let project = ProjectDir::locate_from(None, None, &tmp).unwrap();
    let c = Config::load(project.root()).unwrap();
    assert_eq!(c.project_dir, dir.path().canonicalize().unwrap());
}

/// Every malformed file and the exact message it produces.
#[test]
fn malformed_files_are_rejected_with_file_line_and_column() {
    let cases: &[(&str, &str)] = &[
        (
            "mismatched_end_tag.xml",
            "mismatched_end_tag.xml:3:15: malformed XML: </db_nam> does not close <db_name>",
        ),
        (
            "unclosed_element.xml",
            "unclosed_element.xml:4:1: malformed XML: end of file inside <config> (opened at line 2, column 3)",
        ),
        (
            "unclosed_tag.xml",
            "unclosed_tag.xml:3:15: malformed XML: closing tag </db_name has no `>`",
        ),
        (
            "unmatched_end_tag.xml",
            "unmatched_end_tag.xml:6:1: malformed XML: </boinc> closes an element that was never opened",
        ),
        (
            "wrong_root.xml",
            "wrong_root.xml:1:1: the root element is <project>, expected <boinc>",
        ),
        (
            "no_config.xml",
            "no_config.xml:1:1: <boinc> has no <config> element",
        ),
        (
            "missing_db_name.xml",
            "missing_db_name.xml: <db_name> is missing from <config>",
        ),
        (
            "bad_number.xml",
            "bad_number.xml:4:5: <max_wus_to_send>: \"many\" is not a non-negative integer",
        ),
        (
            "bad_boolean.xml",
            "bad_boolean.xml:4:5: <send_result_abort>: \"yes\" is not a boolean (0 or 1, or <flag/>)",
        ),
        (
            "negative_fanout.xml",
            "negative_fanout.xml:4:5: <uldl_dir_fanout>: \"-1024\" is not a non-negative integer",
        ),
        (
            "bad_period.xml",
            "bad_period.xml:6:7: <period>: \"fortnightly\" is not a period such as `30 min`, `1 hour`, `1 day` or `5`",
        ),
        (
            "task_without_period.xml",
            "task_without_period.xml:4:5: <task> \"update_stats\" without a <period>",
        ),
        (
            "daemon_without_cmd.xml",
            "daemon_without_cmd.xml:4:5: <daemon> without a <cmd>",
        ),
        (
            "unknown_entity.xml",
            "unknown_entity.xml:4:19: malformed XML: unknown entity &eacute;",
        ),
        (
            "bad_db_host.xml",
            "bad_db_host.xml:4:5: <db_host>: \"db.example.org:mysql\" is not a host name, optionally followed by :port",
        ),
        (
            "not_utf8.xml",
            "not_utf8.xml:4:19: malformed XML: the file is not valid UTF-8",
        ),
        (
            "two_roots.xml",
            "two_roots.xml:2:1: a second root element <boinc> after the first one ended",
        ),
        (
            "text_after_root.xml",
            "text_after_root.xml:2:1: text outside the root element",
        ),
        (
            "empty.xml",
            "empty.xml:3:1: no root element (the file is empty)",
        ),
        (
            "bad_attribute.xml",
            "bad_attribute.xml:3:16: malformed XML: bad attribute in <db_name>: attribute value must be enclosed in `\"` or `'`",
        ),
    ];
    let files = std::fs::read_dir(data("malformed")).unwrap().count();
    assert_eq!(files, cases.len(), "every malformed file has a case");

    for (file, expected) in cases {
        let dir = tempfile::tempdir().unwrap();
        std::fs::copy(data("malformed").join(file), dir.path().join("config.xml")).unwrap();
        let err = Config::load(dir.path()).unwrap_err();
        let message = err.to_string();
        let shown = message.replace(&format!("{}/config.xml", dir.path().display()), file);
        assert_eq!(shown, *expected, "{file}");
        // The path in the error is the file that was read.
        match &err {
            ConfigError::Malformed { path, .. }
            | ConfigError::Structure { path, .. }
            | ConfigError::InvalidValue { path, .. }
            | ConfigError::Missing { path, .. }
            | ConfigError::Io { path, .. } => assert_eq!(path, &dir.path().join("config.xml")),
        }
    }
}

#[test]
fn malformed_aux_file_names_the_aux_file() {
    let dir = tempfile::tempdir().unwrap();
    std::fs::copy(data("minimal.xml"), dir.path().join("config.xml")).unwrap();
    std::fs::write(
        dir.path().join("config_aux.xml"),
        "<config>\n  <max_jobs_in_progress>\n    <app><cpu_limit><jobs>x</jobs></cpu_limit></app>\n  </max_jobs_in_progress>\n</config>\n",
    )
    .unwrap();
    let e = Config::load(dir.path()).unwrap_err().to_string();
    let shown = e.replace(&dir.path().display().to_string(), "P");
    assert_eq!(
        shown,
        "P/config_aux.xml:3:5: <app> limit without an <app_name>"
    );

    std::fs::write(dir.path().join("config_aux.xml"), "<boinc/>").unwrap();
    let e = Config::load(dir.path()).unwrap_err().to_string();
    let shown = e.replace(&dir.path().display().to_string(), "P");
    assert_eq!(
        shown,
        "P/config_aux.xml:1:1: the root element is <boinc>, expected <config>"
    );
}

#[test]
fn missing_file_is_an_io_error_naming_it() {
    let dir = tempfile::tempdir().unwrap();
    let e = Config::load(dir.path()).unwrap_err();
    assert!(matches!(e, ConfigError::Io { .. }));
    let shown = e
        .to_string()
        .replace(&dir.path().display().to_string(), "P");
    assert_eq!(
        shown,
        "P/config.xml: cannot read: No such file or directory (os error 2)"
    );
}

mod known_options {
    //! Every option the C++ server reads is honoured or named at start-up
    //! (`rboinc_core::config::known`).
    use super::*;
    use rboinc_core::config::known::{KNOWN_OPTIONS, OptionAudit, Support};

    #[test]
    fn the_stock_config_sets_nothing_unimplemented() {
        let dir = tempfile::tempdir().unwrap();
        let root = dir.path().canonicalize().unwrap();
        let stock = repo().join("fixtures/stock-server/make_project/config.xml");
        std::fs::write(root.join("config.xml"), stock_config_text(&stock, &root)).unwrap();
        let audit = OptionAudit::of(Config::load(&root).unwrap().options());
        assert_eq!(audit.not_implemented, Vec::<&str>::new());
        let names: Vec<&str> = audit.not_applicable.iter().map(|(n, _)| *n).collect();
        assert_eq!(names, ["shmem_key", "sched_debug_level", "fuh_debug_level"]);
    }

    #[test]
    fn a_config_with_every_option_names_each_unimplemented_one_once() {
        let mut body = String::new();
        for (name, _) in KNOWN_OPTIONS {
            let value = match *name {
                "master_url" | "download_url" | "upload_url" => "http://127.0.0.1/x/".to_string(),
                "db_name" | "db_user" | "db_host" | "replica_db_host" => "x".to_string(),
                "download_dir" | "upload_dir" | "key_dir" | "project_dir" => "/tmp".to_string(),
                "uldl_dir_fanout" | "shmem_work_items" | "max_wus_to_send" => "10".to_string(),
                "long_name" => "X".to_string(),
                "max_jobs_in_progress" => continue,
                _ => "0".to_string(),
            };
            body.push_str(&format!("    <{name}>{value}</{name}>\n"));
            // A repeated option is still named once.
            if *name == "ban_os" {
                body.push_str("    <ban_os>y</ban_os>\n");
            }
        }
        let dir = project_with(&format!(
            "<boinc>\n<config>\n{body}</config>\n<daemons/>\n</boinc>\n"
        ));
        let config = Config::load(dir.path()).unwrap();
        let audit = OptionAudit::of(config.options());
        let expected: Vec<&str> = KNOWN_OPTIONS
            .iter()
            .filter(|(_, s)| *s == Support::NotImplemented)
            .map(|(n, _)| *n)
            .collect();
        assert_eq!(audit.not_implemented, expected);
        // Passwords are kept apart from the other options (never logged), so the replica's
        // does not appear.
        let applicable: Vec<&str> = KNOWN_OPTIONS
            .iter()
            .filter(|(n, s)| matches!(s, Support::NotApplicable(_)) && *n != "replica_db_passwd")
            .map(|(n, _)| *n)
            .collect();
        let named: Vec<&str> = audit.not_applicable.iter().map(|(n, _)| *n).collect();
        assert_eq!(named, applicable);
    }

    /// Every option the table calls honoured is read by name somewhere in the server's code
    /// (not only written by make_project): the table cannot claim what the code does not do.
    #[test]
    fn every_honoured_option_is_read_by_the_code() {
        let mut sources = String::new();
        for dir in ["core/src", "scheduler/src", "daemons/src", "tools/src"] {
            collect(&repo().join(dir), &mut sources);
        }
        for (name, support) in KNOWN_OPTIONS {
            if *support == Support::Honoured {
                assert!(
                    sources.contains(&format!("\"{name}\"")),
                    "{name} is marked honoured but no code reads it"
                );
            }
        }
    }

    fn collect(dir: &Path, out: &mut String) {
        for entry in std::fs::read_dir(dir).unwrap() {
            let path = entry.unwrap().path();
            if path.is_dir() {
                collect(&path, out);
            } else if path.extension().is_some_and(|e| e == "rs")
                && !path.ends_with("config/known.rs")
                && !path.ends_with("make_project/config_xml.rs")
            {
                out.push_str(&std::fs::read_to_string(&path).unwrap());
            }
        }
    }
}
