//! Workunit creation throughput: `create_work --stdin` (the real binary) and `series submit`
//! of 10,000 rounds, on a fresh MariaDB database, next to the stock C++ create_work measured
//! on the same kind of machine. Run: `cargo bench -p rboinc-tools --bench work`.

use std::io::Write;
use std::process::{Command, Stdio};
use std::time::Instant;

use rboinc_core::config::Secret;
use rboinc_core::test_support::TestDb;
use rboinc_tools::make_project::{self, BinSource, MakeProjectOptions};
use rboinc_tools::project::Project;
use rboinc_tools::series::{self, SeriesParams, SubmitOptions};
use rboinc_tools::stage::Stager;

const N: usize = 10_000;

async fn project(db: &TestDb, root: &std::path::Path, short: &str) -> Project {
    let s = db.db_settings();
    make_project::create(&MakeProjectOptions {
        short_name: short.into(),
        long_name: None,
        project_root: root.to_path_buf(),
        url_base: "http://127.0.0.1:8080/".into(),
        db_host: format!("{}:{}", s.host, s.port.unwrap_or(3306)),
        db_name: Some(s.name.clone()),
        db_user: s.user.clone(),
        db_passwd: Secret::new(s.password.expose()),
        project_host: None,
        submitter_email: "bench@example.org".into(),
        submitter_name: "bench".into(),
        bin: BinSource::None,
    })
    .await
    .expect("make_project");
    Project::open(Some(root)).expect("open")
}

#[tokio::main]
async fn main() {
    let tmp = tempfile::tempdir().unwrap();

    // create_work --stdin: N jobs, each a staged job file plus the shared dataset file.
    let db = TestDb::empty().await;
    let root = tmp.path().join("cw");
    let p = project(&db, &root, "cw").await;
    let stager = Stager::from_config(&p.config).unwrap();
    stager
        .stage_bytes("dataset.bin", &vec![7u8; 1 << 20])
        .unwrap();
    let mut input = String::new();
    for i in 0..N {
        let name = format!("job_{i}.json");
        stager
            .stage_bytes(&name, format!("{{\"seed\": {i}}}").as_bytes())
            .unwrap();
        input.push_str(&format!("--wu_name wu_{i} {name} dataset.bin\n"));
    }
    let t = Instant::now();
    let mut child = Command::new(env!("CARGO_BIN_EXE_create_work"))
        .args(["--appname", "mnist", "--stdin", "--config_dir"])
        .arg(&root)
        .stdin(Stdio::piped())
        .stdout(Stdio::null())
        .spawn()
        .unwrap();
    child
        .stdin
        .take()
        .unwrap()
        .write_all(input.as_bytes())
        .unwrap();
    assert!(child.wait().unwrap().success());
    let cw = t.elapsed().as_secs_f64();
    let rows: i64 = sqlx::query_scalar("SELECT COUNT(*) FROM workunit")
        .fetch_one(db.pool())
        .await
        .unwrap();
    assert_eq!(rows as usize, N);

    // series submit of N rounds, all created at once (cushion N): staging N job files,
    // the dataset bundle, and N workunits.
    let db2 = TestDb::empty().await;
    let root2 = tmp.path().join("sr");
    let p2 = project(&db2, &root2, "sr").await;
    let pool2 = p2.connect().await.unwrap();
    let mut o = SubmitOptions::original(
        std::path::PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../app/data/mnist-10k"),
        N,
    );
    o.params = SeriesParams::default();
    o.cushion = N;
    o.base_seed = Some(1);
    let t = Instant::now();
    let s = series::submit(&p2, &pool2, &o).await.unwrap();
    let sub = t.elapsed().as_secs_f64();
    assert_eq!(s.created, N);

    // Queueing only (cushion 0): what `series submit` costs before the generator runs.
    let mut o3 = o.clone();
    o3.name = Some("queued_only".into());
    o3.cushion = 0;
    let t = Instant::now();
    series::submit(&p2, &pool2, &o3).await.unwrap();
    let queued = t.elapsed().as_secs_f64();

    println!(
        "| operation ({N} workunits) | ours: seconds | ours: WU/s | C++ create_work | ratio to C++ bulk |"
    );
    println!("|---|---:|---:|---:|---:|");
    let row = |what: &str, secs: f64| {
        let rate = N as f64 / secs;
        println!(
            "| {what} | {secs:.2} | {rate:.0} | 5,583 WU/s (`--stdin`), 95 WU/s (one process per WU) | {:.1}× |",
            rate / 5583.0
        );
    };
    row(
        "`create_work --stdin` (binary, staged inputs, one transaction)",
        cw,
    );
    row(
        "`series submit` creating every workunit (job files staged, dataset bundled)",
        sub,
    );
    row(
        "`series submit` queueing rounds only (generator creates them later)",
        queued,
    );
}
