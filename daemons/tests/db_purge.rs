//! db_purge on MariaDB, beyond the oracle: batches and archive rotation, `--max`, compressed
//! archives, `--mod` rules, and a SIGKILL in the middle of a pass.

mod finished_jobs;

use std::collections::BTreeSet;
use std::fs;
use std::io::Read;
use std::path::{Path, PathBuf};
use std::time::Duration;

use finished_jobs::{Project, Stage};

async fn count(p: &Project, table: &str) -> i64 {
    let sql = format!("SELECT COUNT(*) FROM {table}");
    sqlx::query_scalar(sqlx::AssertSqlSafe(sql))
        .fetch_one(p.pool())
        .await
        .unwrap()
}

fn archive_files(p: &Project) -> Vec<PathBuf> {
    let mut files = Vec::new();
    let mut dirs = vec![p.root.join("archives")];
    while let Some(d) = dirs.pop() {
        for e in fs::read_dir(&d).into_iter().flatten() {
            let path = e.unwrap().path();
            if path.is_dir() {
                dirs.push(path);
            } else {
                files.push(path);
            }
        }
    }
    files.sort();
    files
}

fn read_text(path: &Path) -> String {
    let bytes = fs::read(path).unwrap();
    if path.extension().is_some_and(|e| e == "gz") {
        let mut s = String::new();
        flate2::read::GzDecoder::new(&bytes[..])
            .read_to_string(&mut s)
            .unwrap();
        s
    } else {
        String::from_utf8(bytes).unwrap()
    }
}

/// The ids listed in every index file named `<prefix>_*`.
fn indexed_ids(p: &Project, prefix: &str) -> Vec<i64> {
    let mut ids: Vec<i64> = archive_files(p)
        .iter()
        .filter(|f| f.file_name().unwrap().to_string_lossy().starts_with(prefix))
        .flat_map(|f| {
            read_text(f)
                .lines()
                .map(|l| l.split_whitespace().next().unwrap().parse().unwrap())
                .collect::<Vec<i64>>()
        })
        .collect();
    ids.sort_unstable();
    ids
}

#[tokio::test]
async fn batches_rotation_and_complete_archives() {
    let p = Project::new().await;
    p.load(1, 9, Stage::Purge).await;
    p.run(
        "db_purge",
        &["--drain", "--batch_size", "4", "--max_wu_per_file", "5"],
    );
    assert_eq!(count(&p, "workunit").await, 0);
    assert_eq!(count(&p, "result").await, 0);
    // 9 workunits, 5 per set: two sets of four files, with different times.
    let files = archive_files(&p);
    assert_eq!(files.len(), 8, "{files:?}");
    let times: BTreeSet<String> = files
        .iter()
        .map(|f| {
            let name = f.file_name().unwrap().to_string_lossy().into_owned();
            name.rsplit('_').next().unwrap().to_string()
        })
        .collect();
    assert_eq!(times.len(), 2, "{times:?}");
    assert_eq!(indexed_ids(&p, "wu_index"), (1..=9).collect::<Vec<_>>());
    assert_eq!(
        indexed_ids(&p, "result_index"),
        (1..=18).collect::<Vec<_>>()
    );
    for f in files
        .iter()
        .filter(|f| f.to_string_lossy().contains("_archive_"))
    {
        let text = read_text(f);
        assert!(text.starts_with("<archive>\n") && text.ends_with("</archive>\n"));
    }
}

#[tokio::test]
async fn max_gzip_daily_dir_and_nodelete() {
    let p = Project::new().await;
    p.load(1, 6, Stage::Purge).await;
    sqlx::query("UPDATE workunit SET name = 'w2_nodelete' WHERE id = 2")
        .execute(p.pool())
        .await
        .unwrap();
    p.run(
        "db_purge",
        &["--gzip", "--daily_dir", "--max", "3", "--sleep", "1"],
    );
    // --max 3 without --one_pass: purges three workunits (skipping the nodelete one), then exits.
    let left: Vec<i64> = sqlx::query_scalar("SELECT id FROM workunit ORDER BY id")
        .fetch_all(p.pool())
        .await
        .unwrap();
    assert_eq!(left, [2, 5, 6]);
    let files = archive_files(&p);
    assert_eq!(files.len(), 4);
    assert!(
        files
            .iter()
            .all(|f| f.to_string_lossy().ends_with(".xml.gz"))
    );
    let day = files[0]
        .parent()
        .unwrap()
        .file_name()
        .unwrap()
        .to_string_lossy();
    assert!(
        day.len() == 10 && day.chars().filter(|&c| c == '_').count() == 2,
        "{day}"
    );
    assert_eq!(indexed_ids(&p, "wu_index"), [1, 3, 4]);
    let wu_archive = files
        .iter()
        .find(|f| f.to_string_lossy().contains("wu_archive"))
        .unwrap();
    let text = read_text(wu_archive);
    assert!(text.contains("  <name>w3</name>\n"), "{text}");
    assert!(text.contains("  <rsc_fpops_est>1.000000000000000e+12</rsc_fpops_est>\n"));
}

#[tokio::test]
async fn mod_needs_no_archive_and_splits_the_work() {
    let p = Project::new().await;
    p.load(1, 6, Stage::Purge).await;
    let out = p.run_any("db_purge", &["--drain", "--mod", "2", "0"]);
    assert_eq!(out.status.code(), Some(1));
    assert!(String::from_utf8_lossy(&out.stderr).contains("--mod needs --no_archive"));
    p.run("db_purge", &["--drain", "--no_archive", "--mod", "2", "0"]);
    let left: Vec<i64> = sqlx::query_scalar("SELECT id FROM workunit ORDER BY id")
        .fetch_all(p.pool())
        .await
        .unwrap();
    assert_eq!(left, [1, 3, 5]);
    let results_left: Vec<i64> = sqlx::query_scalar("SELECT workunitid FROM result ORDER BY id")
        .fetch_all(p.pool())
        .await
        .unwrap();
    assert_eq!(results_left, [1, 1, 3, 3, 5, 5]);
    assert!(archive_files(&p).is_empty());
}

#[tokio::test]
async fn dont_delete_archives_only() {
    let p = Project::new().await;
    p.load(1, 3, Stage::Purge).await;
    p.run("db_purge", &["--drain", "--dont_delete"]);
    assert_eq!(count(&p, "workunit").await, 3);
    assert_eq!(indexed_ids(&p, "wu_index"), [1, 2, 3]);
}

#[tokio::test]
async fn sigkill_mid_pass_then_restart_equals_an_uninterrupted_run() {
    const N: u64 = 600;
    let killed = Project::new().await;
    let clean = Project::new().await;
    for p in [&killed, &clean] {
        p.load(1, N, Stage::Purge).await;
    }
    let args = ["--batch_size", "5"];
    let mut child = killed.spawn("db_purge", &args);
    let started = finished_jobs::wait_until(Duration::from_secs(60), async || {
        count(&killed, "workunit").await <= (N - N / 100) as i64
    })
    .await;
    child.kill().unwrap();
    child.wait().unwrap();
    assert!(started, "the daemon made no progress");
    let left_at_kill = count(&killed, "workunit").await;
    eprintln!("killed with {left_at_kill} of {N} workunits left");
    assert!(left_at_kill > 0, "the pass ended before the kill");

    let mut one_pass = args.to_vec();
    one_pass.push("--drain");
    killed.run("db_purge", &one_pass);
    clean.run("db_purge", &one_pass);
    for p in [&killed, &clean] {
        assert_eq!(count(p, "workunit").await, 0);
        assert_eq!(count(p, "result").await, 0);
    }
    // Every purged row is archived (a row archived just before the kill may be there twice).
    let ids = |p: &Project, prefix| {
        let mut v = indexed_ids(p, prefix);
        v.dedup();
        v
    };
    assert_eq!(ids(&killed, "wu_index"), ids(&clean, "wu_index"));
    assert_eq!(ids(&killed, "result_index"), ids(&clean, "result_index"));
    assert_eq!(ids(&clean, "wu_index").len(), N as usize);
}

#[tokio::test]
async fn one_pass_purges_one_batch_as_the_cpp_db_purge() {
    let p = Project::new().await;
    p.load(1, 9, Stage::Purge).await;
    p.run(
        "db_purge",
        &["--one_pass", "--batch_size", "4", "--no_archive"],
    );
    assert_eq!(count(&p, "workunit").await, 5, "one query's four workunits");
    p.run(
        "db_purge",
        &["--drain", "--batch_size", "4", "--no_archive"],
    );
    assert_eq!(count(&p, "workunit").await, 0, "--drain: everything due");
}
