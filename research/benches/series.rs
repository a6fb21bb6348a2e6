//! `series submit` throughput: 10,000 rounds on fresh MariaDB databases, every workunit created
//! at once and as used (a cushion created, the `work_generator` making the rest), in the same
//! table as `tools/benches/work.rs` (`create_work --stdin` and the stock C++ create_work).
//! Each figure is the median of a few runs (the machine is shared, so single runs vary by up
//! to 2×); the best run is shown too.
//!
//! Run: `cargo bench -p rboinc-research --bench series`. The projects live under `$TMPDIR`
//! (default `/tmp`), so `TMPDIR=/dev/shm cargo bench ...` shows the same work on a file system
//! whose file creation is cheap.

#[path = "../../tools/benches/common/mod.rs"]
mod common;

use std::time::Instant;

use common::{N, RUNS, count, load_average, project, row, runs};
use rboinc_core::test_support::TestDb;
use rboinc_research::{SeriesParams, SubmitOptions, generator, submit};

#[tokio::main]
async fn main() {
    rboinc_core::telemetry::init_for_tests();
    let tmp = tempfile::tempdir().unwrap();
    let load_before = load_average();

    // series submit of N rounds, every workunit created at once (cushion N): N job files
    // staged, the dataset bundled once, N workunits.
    let db2 = TestDb::empty().await;
    let root2 = tmp.path().join("sr");
    let p2 = project(&db2, &root2, "sr").await;
    let pool2 = p2.connect().await.unwrap();
    let mut o = SubmitOptions::original(
        std::path::PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../app/data/mnist-10k"),
        N,
    );
    o.params = SeriesParams::default();
    o.base_seed = Some(1);
    let mut all = Vec::new();
    for run in 0..RUNS {
        o.name = Some(format!("all_{run}"));
        // The cushion counts the earlier runs' unsent workunits too.
        o.cushion = N * (run + 1);
        let t = Instant::now();
        let s = submit(&p2, &pool2, &o).await.unwrap();
        all.push(t.elapsed().as_secs_f64());
        assert_eq!(s.created, N);
    }
    assert_eq!(
        count(db2.pool(), "SELECT COUNT(*) FROM workunit").await,
        N * RUNS
    );

    // series submit as used: the rounds queued, a cushion of workunits created (the
    // work_generator daemon creates the rest as hosts take work).
    let db3 = TestDb::empty().await;
    let root3 = tmp.path().join("sq");
    let p3 = project(&db3, &root3, "sq").await;
    let pool3 = p3.connect().await.unwrap();
    let mut queued = Vec::new();
    for run in 0..RUNS {
        o.name = Some(format!("queued_{run}"));
        o.cushion = generator::DEFAULT_CUSHION;
        let t = Instant::now();
        let s = submit(&p3, &pool3, &o).await.unwrap();
        queued.push(t.elapsed().as_secs_f64());
        // The cushion counts waiting workunits of all series, so only the first run creates.
        assert_eq!(
            s.created,
            if run == 0 {
                generator::DEFAULT_CUSHION
            } else {
                0
            }
        );
    }

    println!(
        "load average {load_before} before, {} after; projects under {}\n",
        load_average(),
        tmp.path().display()
    );
    common::header();
    row(
        "`series submit`, every workunit created (job files staged + synced, one transaction)",
        N,
        &all,
        "—",
    );
    row(
        "`series submit` as used: rounds queued + a cushion of 100 workunits",
        N,
        &queued,
        "—",
    );
    println!(
        "\nruns in order (s): series submit, every workunit {}; series submit as used {}",
        runs(&all),
        runs(&queued)
    );
}
