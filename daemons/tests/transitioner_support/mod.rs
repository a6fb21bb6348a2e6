//! A project for transitioner and validator tests (and the daemon benchmark): a fresh migrated
//! database, a project directory with config.xml, the mnist result template and upload keys,
//! the oracle's base rows (platform, app `mnist`, app version 1, users and hosts 1–3), and
//! quick bulk inserts of workunits and results.
#![allow(dead_code)] // each test binary uses a different part

use std::fmt::Write as _;
use std::fs;
use std::path::PathBuf;
use std::process::{Child, Command, Output, Stdio};

use rboinc_core::test_support::TestDb;
use sqlx::MySqlPool;

#[path = "../built/mod.rs"]
mod built;
pub use built::{binary, workspace_root};

pub fn now() -> i64 {
    rboinc_core::clock::now_i64()
}

/// The result template every test workunit uses (the oracle's `templates/mnist_out`).
pub const OUT_TEMPLATE: &str = "<output_template>
    <file_info>
        <name><OUTFILE_0/></name>
        <generated_locally/>
        <upload_when_present/>
        <max_nbytes>5000000</max_nbytes>
        <url><UPLOAD_URL/></url>
    </file_info>
    <result>
        <file_ref>
            <file_name><OUTFILE_0/></file_name>
            <open_name>metrics.json</open_name>
        </file_ref>
    </result>
</output_template>
";

pub const UPLOAD_URL: &str = "http://127.0.0.1/test_cgi/file_upload_handler";

/// A test project: database and directory.
#[derive(Debug)]
pub struct Project {
    pub db: TestDb,
    dir: tempfile::TempDir,
    pub root: PathBuf,
}

impl Project {
    /// A project whose config.xml holds `extra` inside `<config>`; by default results are
    /// created without upload certificates (pass `signed = true` to sign them).
    pub async fn new(extra: &str, signed: bool) -> Project {
        let db = TestDb::new().await;
        let dir = tempfile::tempdir().unwrap();
        let root = dir.path().canonicalize().unwrap();
        for d in ["upload", "download", "keys", "templates", "log", "tmp"] {
            fs::create_dir_all(root.join(d)).unwrap();
        }
        let s = db.db_settings();
        let host = match s.port {
            Some(p) => format!("{}:{p}", s.host),
            None => s.host.clone(),
        };
        let password = if s.password.is_empty() {
            String::new()
        } else {
            s.password.expose().to_string()
        };
        let no_certs = if signed {
            ""
        } else {
            "<dont_generate_upload_certificates>1</dont_generate_upload_certificates>"
        };
        let config = format!(
            "<boinc>\n  <config>\n    <long_name>test</long_name>\n    <db_name>{}</db_name>\n    \
             <db_host>{host}</db_host>\n    <db_user>{}</db_user>\n    <db_passwd>{password}</db_passwd>\n    \
             <project_dir>{}</project_dir>\n    <upload_url>{UPLOAD_URL}</upload_url>\n    \
             <uldl_dir_fanout>1024</uldl_dir_fanout>\n    <daily_result_quota>100</daily_result_quota>\n    \
             {no_certs}\n    {extra}\n  </config>\n</boinc>\n",
            db.name(),
            s.user,
            root.display(),
        );
        fs::write(root.join("config.xml"), config).unwrap();
        fs::write(root.join("templates/mnist_out"), OUT_TEMPLATE).unwrap();
        let keys = workspace_root().join("fixtures/stock-server/signing/keys");
        for k in ["upload_private", "upload_public"] {
            fs::copy(keys.join(k), root.join("keys").join(k)).unwrap();
        }
        let project = Project { db, dir, root };
        project.base_rows().await;
        project
    }

    pub fn pool(&self) -> &MySqlPool {
        self.db.pool()
    }

    /// The oracle's base rows: platform 1, app 1 `mnist`, app version 1, users/hosts 1-3.
    async fn base_rows(&self) {
        let setup = fs::read_to_string(
            workspace_root().join("fixtures/daemon-oracle/scenarios/01_trans_fresh_wu/setup.sql"),
        )
        .unwrap();
        let base = &setup[..setup.find("INSERT INTO workunit").unwrap()];
        sqlx::raw_sql(sqlx::AssertSqlSafe(base.to_string()))
            .execute(self.pool())
            .await
            .unwrap();
    }

    /// Adds users and hosts `from..to` (host i belongs to user i).
    pub async fn add_hosts(&self, from: i64, to: i64) {
        let mut users = String::from(
            "INSERT INTO user (id, create_time, email_addr, name, authenticator, country, postal_code, \
             total_credit, expavg_credit, expavg_time, global_prefs, project_prefs, teamid, venue, url, \
             send_email, show_hosts, posts, seti_id, seti_nresults, seti_last_result_time, seti_total_cpu, \
             signature, has_profile, cross_project_id, passwd_hash, email_validated, donated) VALUES ",
        );
        let mut hosts = String::from(
            "INSERT INTO host (id, create_time, userid, rpc_seqno, rpc_time, total_credit, expavg_credit, \
             expavg_time, timezone, domain_name, serialnum, last_ip_addr, nsame_ip_addr, on_frac, \
             connected_frac, active_frac, cpu_efficiency, duration_correction_factor, p_ncpus, p_vendor, \
             p_model, p_fpops, p_iops, p_membw, os_name, os_version, m_nbytes, m_cache, m_swap, d_total, \
             d_free, d_boinc_used_total, d_boinc_used_project, d_boinc_max, n_bwup, n_bwdown, \
             credit_per_cpu_sec, venue, nresults_today, avg_turnaround, host_cpid, external_ip_addr, \
             max_results_day, error_rate, product_name, gpu_active_frac, p_ngpus, p_gpu_fpops, misc) VALUES ",
        );
        for i in from..to {
            if i > from {
                users.push(',');
                hosts.push(',');
            }
            write!(
                users,
                "({i}, 1, 'u{i}@example.com', 'user{i}', 'auth{i}', '', '', 0, 0, 0, '', '', 0, '', '', \
                 0, 0, 0, 0, 0, 0, 0, '', 0, 'x{i}', 'x', 0, 0)"
            )
            .unwrap();
            write!(
                hosts,
                "({i}, 1, {i}, 1, 1, 0, 0, 0, 0, 'host{i}', '', '127.0.0.1', 0, 1, 1, 1, 1, 1, 4, '', '', \
                 1e9, 1e9, 1e9, 'Linux', '6', 8e9, 1e6, 1e9, 1e11, 5e10, 0, 0, 0, 0, 0, 0, '', 0, 0, \
                 'cpid{i}', '', 0, 0, '', 0, 0, 0, '')"
            )
            .unwrap();
        }
        for sql in [users, hosts] {
            sqlx::raw_sql(sqlx::AssertSqlSafe(sql))
                .execute(self.pool())
                .await
                .unwrap();
        }
    }

    /// A command for one of our daemons, run in this project.
    pub fn command(&self, name: &str, args: &[&str]) -> Command {
        let mut c = Command::new(binary(name));
        c.args(args)
            .arg("--project-dir")
            .arg(&self.root)
            .env_remove("BOINC_PROJECT_DIR")
            .env_remove("RUST_LOG");
        c
    }

    /// Runs a daemon to its end; panics with its log if it fails.
    pub fn run(&self, name: &str, args: &[&str]) -> Output {
        let out = self.command(name, args).output().unwrap();
        let log = String::from_utf8_lossy(&out.stderr);
        if std::env::var_os("TEST_LOG").is_some() {
            eprintln!("--- {name} {args:?} ---\n{log}");
        }
        assert!(
            out.status.success(),
            "{name} {args:?} failed: {:?}\n{log}",
            out.status
        );
        out
    }

    pub fn spawn(&self, name: &str, args: &[&str]) -> Child {
        self.command(name, args)
            .stdout(Stdio::null())
            .stderr(Stdio::piped())
            .spawn()
            .unwrap()
    }

    /// Where an output file lives in the upload hierarchy (creating its directory).
    pub fn upload_path(&self, name: &str) -> PathBuf {
        rboinc_core::hier::create_dir_hier_path(&self.root.join("upload"), name, 1024).unwrap()
    }
}

/// A workunit to insert (every column BOINC needs, with the oracle's values by default).
#[derive(Debug, Clone)]
pub struct WuSpec {
    pub id: i64,
    pub name: String,
    pub transition_time: i64,
    pub need_validate: i32,
    pub canonical_resultid: i64,
    pub canonical_credit: f64,
    pub assimilate_state: i32,
    pub file_delete_state: i32,
    pub min_quorum: i32,
    pub target_nresults: i32,
    pub max_error_results: i32,
    pub max_total_results: i32,
    pub max_success_results: i32,
    pub opaque: f64,
    pub rsc_fpops_est: f64,
    pub rsc_fpops_bound: f64,
}

impl WuSpec {
    /// A fresh job (no results yet, due 10 s ago), quorum 2.
    pub fn fresh(id: i64, name: &str) -> WuSpec {
        WuSpec {
            id,
            name: name.to_string(),
            transition_time: now() - 10,
            need_validate: 0,
            canonical_resultid: 0,
            canonical_credit: 0.0,
            assimilate_state: 0,
            file_delete_state: 0,
            min_quorum: 2,
            target_nresults: 2,
            max_error_results: 3,
            max_total_results: 6,
            max_success_results: 4,
            opaque: 0.0,
            rsc_fpops_est: 1e12,
            rsc_fpops_bound: 1e14,
        }
    }
}

/// Inserts workunits (multi-row, in chunks).
pub async fn insert_workunits(pool: &MySqlPool, specs: &[WuSpec]) {
    for chunk in specs.chunks(2000) {
        let mut sql = String::from(
            "INSERT INTO workunit (id, create_time, appid, name, xml_doc, batch, rsc_fpops_est, \
             rsc_fpops_bound, rsc_memory_bound, rsc_disk_bound, need_validate, canonical_resultid, \
             canonical_credit, transition_time, delay_bound, error_mask, file_delete_state, \
             assimilate_state, hr_class, opaque, min_quorum, target_nresults, max_error_results, \
             max_total_results, max_success_results, result_template_file, priority, \
             rsc_bandwidth_bound, fileset_id, app_version_id, transitioner_flags, size_class, keywords, \
             app_version_num) VALUES ",
        );
        for (i, w) in chunk.iter().enumerate() {
            if i > 0 {
                sql.push(',');
            }
            write!(
                sql,
                "({}, {}, 1, '{}', '', 0, {:e}, {:e}, 1e8, 1e8, {}, {}, {:e}, {}, 86400, 0, {}, {}, 0, {:e}, \
                 {}, {}, {}, {}, {}, 'templates/mnist_out', 0, 0, 0, 0, 0, -1, '', 0)",
                w.id,
                now() - 90000,
                w.name,
                w.rsc_fpops_est,
                w.rsc_fpops_bound,
                w.need_validate,
                w.canonical_resultid,
                w.canonical_credit,
                w.transition_time,
                w.file_delete_state,
                w.assimilate_state,
                w.opaque,
                w.min_quorum,
                w.target_nresults,
                w.max_error_results,
                w.max_total_results,
                w.max_success_results,
            )
            .unwrap();
        }
        sqlx::raw_sql(sqlx::AssertSqlSafe(sql))
            .execute(pool)
            .await
            .unwrap();
    }
}

/// A result to insert: a returned success by default.
#[derive(Debug, Clone)]
pub struct ResultSpec {
    pub id: i64,
    pub wu_id: i64,
    pub name: String,
    pub server_state: i32,
    pub outcome: i32,
    pub validate_state: i32,
    pub hostid: i64,
    pub report_deadline: i64,
    pub sent_time: i64,
    pub received_time: i64,
    pub elapsed_time: f64,
    pub flops_estimate: f64,
    /// The output file name (`<file_name>` in xml_doc_in).
    pub output: String,
}

impl ResultSpec {
    /// Result `id`, the `n`th of workunit `wu_id` (named `<wu_name>_<n>`), returned by `host`.
    pub fn returned(id: i64, wu_id: i64, wu_name: &str, n: i64, host: i64) -> ResultSpec {
        let name = format!("{wu_name}_{n}");
        ResultSpec {
            id,
            wu_id,
            output: format!("{name}_r{}_0", 100_000 + id),
            name,
            server_state: 5,
            outcome: 1,
            validate_state: 0,
            hostid: host,
            report_deadline: now() + 79200,
            sent_time: now() - 7200,
            received_time: now() - 600,
            elapsed_time: 100.0,
            flops_estimate: 2e9,
        }
    }

    pub fn xml_doc_in(&self) -> String {
        OUT_TEMPLATE
            .replace("<OUTFILE_0/>", &self.output)
            .replace("<UPLOAD_URL/>", UPLOAD_URL)
            .replace("<output_template>", "")
            .replace("</output_template>", "")
            .trim()
            .to_string()
    }
}

/// Inserts results (multi-row, in chunks).
pub async fn insert_results(pool: &MySqlPool, specs: &[ResultSpec]) {
    for chunk in specs.chunks(1000) {
        let mut q = sqlx::QueryBuilder::<sqlx::MySql>::new(
            "INSERT INTO result (id, create_time, workunitid, server_state, outcome, client_state, hostid, \
             userid, report_deadline, sent_time, received_time, name, cpu_time, xml_doc_in, xml_doc_out, \
             stderr_out, batch, file_delete_state, validate_state, claimed_credit, granted_credit, opaque, \
             random, app_version_num, appid, exit_status, teamid, priority, elapsed_time, flops_estimate, \
             app_version_id, runtime_outlier, size_class, peak_working_set_size, peak_swap_size, \
             peak_disk_usage) ",
        );
        q.push_values(chunk, |mut v, r| {
            v.push_bind(r.id)
                .push_bind(now() - 90000)
                .push_bind(r.wu_id)
                .push_bind(r.server_state)
                .push_bind(r.outcome)
                .push(if r.outcome == 1 { "5" } else { "0" })
                .push_bind(r.hostid)
                .push_bind(r.hostid)
                .push_bind(r.report_deadline)
                .push_bind(r.sent_time)
                .push_bind(r.received_time)
                .push_bind(r.name.clone())
                .push_bind(r.elapsed_time)
                .push_bind(r.xml_doc_in())
                .push("'', '', 0, 0")
                .push_bind(r.validate_state)
                .push("0, 0, 0")
                .push_bind(1000 + r.id)
                .push("100, 1, 0, 0, 0")
                .push_bind(r.elapsed_time)
                .push_bind(r.flops_estimate)
                .push("1, 0, -1, 0, 0, 0");
        });
        q.build().execute(pool).await.unwrap();
    }
}

/// A metrics.json like the mnist app writes, with the given validation accuracy and a `host`
/// object that differs per run.
pub fn metrics_json(val_acc: f64, host_seed: u64) -> String {
    format!(
        "{{\n  \"schema\": \"mnist-app/metrics/1\",\n  \"app_version\": \"0.1.0\",\n  \
         \"job\": {{\"seed\": 7, \"train_epochs\": 2}},\n  \"train_acc\": 0.91,\n  \"train_loss\": 0.31,\n  \
         \"val_acc\": {val_acc},\n  \"val_loss\": 0.35,\n  \"history\": [\n    \
         {{\"epoch\": 1, \"train_loss\": 0.5, \"train_acc\": 0.85, \"val_loss\": 0.45, \"val_acc\": 0.84}},\n    \
         {{\"epoch\": 2, \"train_loss\": 0.31, \"train_acc\": 0.91, \"val_loss\": 0.35, \"val_acc\": {val_acc}}}\n  ],\n  \
         \"weights\": {{\"sha256\": \"ab\", \"dtype\": \"<f8\", \"shape\": [785, 10], \"exported\": false}},\n  \
         \"host\": {{\"runtime_s\": {}.5, \"cpu_model\": \"cpu{host_seed}\"}}\n}}\n",
        10 + host_seed
    )
}

/// Every row of `table` as text, ordered by `order`, for whole-table comparisons.
pub async fn dump(pool: &MySqlPool, columns: &str, table: &str, order: &str) -> Vec<Vec<String>> {
    use sqlx::Row;
    let sql = format!("SELECT CONCAT_WS('|', {columns}) AS line FROM {table} ORDER BY {order}");
    sqlx::query(sqlx::AssertSqlSafe(sql))
        .fetch_all(pool)
        .await
        .unwrap()
        .into_iter()
        .map(|row| {
            row.get::<String, _>("line")
                .split('|')
                .map(str::to_string)
                .collect()
        })
        .collect()
}
