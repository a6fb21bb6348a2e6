//! A project full of finished jobs, for the assimilator, file_deleter and db_purge tests and
//! their benchmark: a fresh migrated database with the daemon oracle's base rows (app `mnist`
//! = id 1, users and hosts 1–3), a project directory with `config.xml`, bulk loads of
//! workunits with two results each in the state one of these daemons picks up (with their
//! files on disk), and a snapshot of everything those daemons change, to compare runs.
#![allow(dead_code)] // each test binary uses a different part

use std::collections::BTreeMap;
use std::fmt::Write as _;
use std::fs;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Output, Stdio};
use std::time::Duration;

use rboinc_core::hier;
use rboinc_core::test_support::TestDb;
use sqlx::MySqlPool;

#[path = "../built/mod.rs"]
mod built;
pub use built::{binary, workspace_root};

pub const FANOUT: u32 = 1024;

/// In which state [`Project::load`] leaves the jobs.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Stage {
    /// `assimilate_state = READY`, canonical result = the first result (files uploaded); every
    /// `failed_every`-th workunit instead failed (no canonical result, error_mask 2).
    Assimilate { failed_every: Option<u64> },
    /// Workunit and both results `file_delete_state = READY`; files on disk: the input with
    /// its `.md5`, one output per result (4 files per workunit).
    DeleteFiles,
    /// Everything done (`file_delete_state = DONE`), files gone: db_purge's turn.
    Purge,
}

/// A test project: database and directory (both removed on drop).
#[derive(Debug)]
pub struct Project {
    pub db: TestDb,
    _dir: tempfile::TempDir,
    pub root: PathBuf,
}

impl Project {
    pub async fn new() -> Project {
        let db = TestDb::new().await;
        let dir = tempfile::tempdir().unwrap();
        let root = dir.path().canonicalize().unwrap();
        for d in ["upload", "download", "bin", "tmp_test"] {
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
        let config = format!(
            "<boinc>\n  <config>\n    <db_name>{}</db_name>\n    <db_host>{host}</db_host>\n    \
             <db_user>{}</db_user>\n    <db_passwd>{password}</db_passwd>\n    \
             <project_dir>{}</project_dir>\n    <uldl_dir_fanout>{FANOUT}</uldl_dir_fanout>\n    \
             <cache_md5_info>1</cache_md5_info>\n  </config>\n</boinc>\n",
            db.name(),
            s.user,
            root.display(),
        );
        fs::write(root.join("config.xml"), config).unwrap();
        let project = Project {
            db,
            _dir: dir,
            root,
        };
        project.base_rows().await;
        project
    }

    pub fn pool(&self) -> &MySqlPool {
        self.db.pool()
    }

    /// The oracle's base rows: platform 1, app 1 `mnist`, app version 1, users/hosts 1–3.
    async fn base_rows(&self) {
        let setup = fs::read_to_string(
            workspace_root().join("fixtures/daemon-oracle/scenarios/22_assim_dummy/setup.sql"),
        )
        .unwrap();
        let base = &setup[..setup.find("INSERT INTO workunit").unwrap()];
        sqlx::raw_sql(sqlx::AssertSqlSafe(base.to_string()))
            .execute(self.pool())
            .await
            .unwrap();
    }

    /// Puts `script` into the project's `bin/` as an executable file.
    pub fn install_script(&self, name: &str, script: &str) {
        use std::os::unix::fs::PermissionsExt;
        let path = self.root.join("bin").join(name);
        fs::write(&path, script).unwrap();
        fs::set_permissions(&path, fs::Permissions::from_mode(0o755)).unwrap();
    }

    /// The shipped `config/assimilate_metrics.sh`, installed in `bin/`.
    pub fn install_shipped_script(&self) {
        let text =
            fs::read_to_string(workspace_root().join("config/assimilate_metrics.sh")).unwrap();
        self.install_script("assimilate_metrics.sh", &text);
    }

    /// A command for one of our daemons, run from `<project>/tmp_test` as `bin/start` would.
    pub fn command(&self, name: &str, args: &[&str]) -> Command {
        let mut c = Command::new(binary(name));
        c.args(args)
            .current_dir(self.root.join("tmp_test"))
            .env_remove("BOINC_PROJECT_DIR")
            .env_remove("RUST_LOG")
            .stdin(Stdio::null());
        c
    }

    /// Runs a daemon to its end and returns its output (stderr holds the log).
    pub fn run_any(&self, name: &str, args: &[&str]) -> Output {
        let out = self.command(name, args).output().unwrap();
        if std::env::var_os("TEST_LOG").is_some() {
            eprintln!(
                "--- {name} {args:?} ---\n{}",
                String::from_utf8_lossy(&out.stderr)
            );
        }
        out
    }

    /// Runs a daemon to its end; panics with its log unless it exits 0.
    pub fn run(&self, name: &str, args: &[&str]) -> Output {
        let out = self.run_any(name, args);
        assert!(
            out.status.success(),
            "{name} {args:?} failed: {:?}\n{}",
            out.status,
            String::from_utf8_lossy(&out.stderr)
        );
        out
    }

    /// Starts a daemon without waiting (its log is discarded).
    pub fn spawn(&self, name: &str, args: &[&str]) -> Child {
        self.command(name, args)
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .unwrap()
    }

    /// Loads workunits `first..first + n` (ids and names `w<id>`) with results `2id-1` and `2id`
    /// (`w<id>_0`, `w<id>_1`) at `stage`, writing their files.
    pub async fn load(&self, first: u64, n: u64, stage: Stage) {
        const ROWS_PER_STATEMENT: u64 = 500;
        let mut start = first;
        while start < first + n {
            let end = (start + ROWS_PER_STATEMENT).min(first + n);
            self.load_chunk(start, end, stage).await;
            start = end;
        }
        let root = self.root.clone();
        tokio::task::spawn_blocking(move || write_files(&root, first, n, stage))
            .await
            .unwrap();
    }

    async fn load_chunk(&self, from: u64, to: u64, stage: Stage) {
        let mut wus = String::from(
            "INSERT INTO workunit (id, create_time, appid, name, xml_doc, batch, rsc_fpops_est, \
             rsc_fpops_bound, rsc_memory_bound, rsc_disk_bound, need_validate, canonical_resultid, \
             canonical_credit, transition_time, delay_bound, error_mask, file_delete_state, \
             assimilate_state, hr_class, opaque, min_quorum, target_nresults, max_error_results, \
             max_total_results, max_success_results, result_template_file, priority, \
             rsc_bandwidth_bound, fileset_id, app_version_id, transitioner_flags, size_class, \
             keywords, app_version_num) VALUES ",
        );
        let mut results = String::from(
            "INSERT INTO result (id, create_time, workunitid, server_state, outcome, client_state, \
             hostid, userid, report_deadline, sent_time, received_time, name, cpu_time, xml_doc_in, \
             xml_doc_out, stderr_out, batch, file_delete_state, validate_state, claimed_credit, \
             granted_credit, opaque, random, app_version_num, appid, exit_status, teamid, priority, \
             elapsed_time, flops_estimate, app_version_id, runtime_outlier, size_class, \
             peak_working_set_size, peak_swap_size, peak_disk_usage) VALUES ",
        );
        for id in from..to {
            let failed =
                matches!(stage, Stage::Assimilate { failed_every: Some(k) } if id % k == 0);
            let (canonical, error_mask) = if failed { (0, 2) } else { (2 * id - 1, 0) };
            let (wu_fds, assim) = match stage {
                Stage::Assimilate { .. } => (0, 1),
                Stage::DeleteFiles => (1, 2),
                Stage::Purge => (2, 2),
            };
            if id > from {
                wus.push(',');
                results.push(',');
            }
            write!(
                wus,
                "({id}, 1000, 1, 'w{id}', '{}', {batch}, 1e12, 1e14, 1e8, 1e8, 0, {canonical}, 0, \
                 2147483647, 86400, {error_mask}, {wu_fds}, {assim}, 0, 0, 2, 2, 3, 6, 4, \
                 'templates/mnist_out', 0, 0, 0, 0, 0, -1, '', 0)",
                wu_xml_doc(id),
                batch = id % 3,
            )
            .unwrap();
            for (k, rid) in [(0, 2 * id - 1), (1, 2 * id)] {
                let (outcome, validate, fds) = match stage {
                    Stage::Assimilate { .. } if failed => (3, 0, 0),
                    Stage::Assimilate { .. } => (1, 1, 0),
                    Stage::DeleteFiles => (1, 1, 1),
                    Stage::Purge => (1, 1, 2),
                };
                if k == 1 {
                    results.push(',');
                }
                write!(
                    results,
                    "({rid}, 1000, {id}, 5, {outcome}, 5, {host}, {host}, 2000, 1100, 1500, \
                     'w{id}_{k}', 100, '{}', '', '', {batch}, {fds}, {validate}, 0, 0, 0, {random}, \
                     100, 1, 0, 0, 0, {elapsed}, 2e9, 1, 0, -1, 0, 0, 0)",
                    result_xml_doc_in(id, k, rid),
                    host = k + 1,
                    batch = id % 3,
                    random = 1000 + rid,
                    elapsed = 100.0 + id as f64 / 8.0,
                )
                .unwrap();
            }
        }
        for sql in [wus, results] {
            sqlx::raw_sql(sqlx::AssertSqlSafe(sql))
                .execute(self.pool())
                .await
                .unwrap();
        }
    }

    /// How many workunits have `column = value`.
    pub async fn count_wus(&self, column: &str, value: i64) -> i64 {
        let sql = format!("SELECT COUNT(*) FROM workunit WHERE {column} = ?");
        sqlx::query_scalar(sqlx::AssertSqlSafe(sql))
            .bind(value)
            .fetch_one(self.pool())
            .await
            .unwrap()
    }

    /// Everything these daemons change, normalised for comparing two runs: the state columns
    /// of every workunit and result (`transition_time` only as "NEVER" or "set", since it
    /// holds the time of the run) and every file under upload/, download/ and results/ with
    /// its content.
    pub async fn snapshot(&self) -> Snapshot {
        let wus: Vec<(i64, String, i32, i32, i32, i32, i32)> = sqlx::query_as(
            "SELECT id, name, error_mask, file_delete_state, assimilate_state, canonical_resultid, \
             transition_time FROM workunit ORDER BY id",
        )
        .fetch_all(self.pool())
        .await
        .unwrap();
        let results: Vec<(i64, i64, i32, i32, i32)> = sqlx::query_as(
            "SELECT id, workunitid, server_state, outcome, file_delete_state FROM result ORDER BY id",
        )
        .fetch_all(self.pool())
        .await
        .unwrap();
        let mut rows: Vec<String> = wus
            .into_iter()
            .map(|(id, name, em, fds, assim, canon, tt)| {
                let tt = if tt == i32::MAX { "NEVER" } else { "set" };
                format!("wu {id} {name} em={em} fds={fds} assim={assim} canon={canon} tt={tt}")
            })
            .collect();
        rows.extend(results.into_iter().map(|(id, wu, ss, outcome, fds)| {
            format!("result {id} wu={wu} ss={ss} outcome={outcome} fds={fds}")
        }));
        let mut files = BTreeMap::new();
        for top in ["upload", "download", "results"] {
            collect_files(&self.root, &self.root.join(top), &mut files);
        }
        Snapshot { rows, files }
    }
}

/// What [`Project::snapshot`] captures.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Snapshot {
    pub rows: Vec<String>,
    /// Path relative to the project → content.
    pub files: BTreeMap<String, Vec<u8>>,
}

fn collect_files(root: &Path, dir: &Path, out: &mut BTreeMap<String, Vec<u8>>) {
    let Ok(entries) = fs::read_dir(dir) else {
        return;
    };
    for entry in entries {
        let path = entry.unwrap().path();
        if path.is_dir() {
            collect_files(root, &path, out);
        } else {
            let rel = path.strip_prefix(root).unwrap().display().to_string();
            out.insert(rel, fs::read(&path).unwrap());
        }
    }
}

/// The workunit's input file name.
pub fn input_name(id: u64) -> String {
    format!("w{id}_in")
}

/// The output file name of result `rid` (result `k` of workunit `id`).
pub fn output_name(id: u64, k: u64, rid: u64) -> String {
    format!("w{id}_{k}_r{}_0", 100_000 + rid)
}

/// The metrics an output file holds (distinct per file, so copies can be told apart).
pub fn metrics_json(id: u64, k: u64) -> String {
    format!(
        "{{\"wu\":{id},\"replica\":{k},\"val_acc\":0.{:04}}}\n",
        (id * 37 + k) % 10_000
    )
}

fn wu_xml_doc(id: u64) -> String {
    let n = input_name(id);
    format!(
        "<file_info>\n    <name>{n}</name>\n    <url>http://127.0.0.1/test/download/{n}</url>\n    \
         <md5_cksum>00000000000000000000000000000000</md5_cksum>\n    <nbytes>16</nbytes>\n\
         </file_info>\n<workunit>\n    <file_ref>\n        <file_name>{n}</file_name>\n        \
         <open_name>job.json</open_name>\n    </file_ref>\n</workunit>\n"
    )
}

fn result_xml_doc_in(id: u64, k: u64, rid: u64) -> String {
    let n = output_name(id, k, rid);
    format!(
        "<file_info>\n    <name>{n}</name>\n    <generated_locally/>\n    <upload_when_present/>\n    \
         <max_nbytes>5000000</max_nbytes>\n    <url>http://127.0.0.1/test_cgi/file_upload_handler</url>\n\
         </file_info>\n<result>\n    <file_ref>\n        <file_name>{n}</file_name>\n        \
         <open_name>metrics.json</open_name>\n    </file_ref>\n</result>"
    )
}

fn write_files(root: &Path, first: u64, n: u64, stage: Stage) {
    let upload = root.join("upload");
    let download = root.join("download");
    for id in first..first + n {
        match stage {
            Stage::Assimilate { failed_every } => {
                if failed_every.is_some_and(|k| id % k == 0) {
                    continue;
                }
                for k in 0..2 {
                    let name = output_name(id, k, 2 * id - 1 + k);
                    let p = hier::create_dir_hier_path(&upload, &name, FANOUT).unwrap();
                    fs::write(p, metrics_json(id, k)).unwrap();
                }
            }
            Stage::DeleteFiles => {
                let p = hier::create_dir_hier_path(&download, &input_name(id), FANOUT).unwrap();
                fs::write(&p, b"{\"seed\":1}\n").unwrap();
                fs::write(format!("{}.md5", p.display()), b"0123456789abcdef 11\n").unwrap();
                for k in 0..2 {
                    let name = output_name(id, k, 2 * id - 1 + k);
                    let p = hier::create_dir_hier_path(&upload, &name, FANOUT).unwrap();
                    fs::write(p, metrics_json(id, k)).unwrap();
                }
            }
            Stage::Purge => {}
        }
    }
}

/// Polls `check` every 2 ms until it returns true or `timeout` passes.
pub async fn wait_until(timeout: Duration, mut check: impl AsyncFnMut() -> bool) -> bool {
    let deadline = tokio::time::Instant::now() + timeout;
    while tokio::time::Instant::now() < deadline {
        if check().await {
            return true;
        }
        tokio::time::sleep(Duration::from_millis(2)).await;
    }
    false
}
