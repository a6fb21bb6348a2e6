//! The server's part between two generations of a chained series: from generation g's
//! canonical result being chosen (the validator's write) to generation g + 1's workunit being
//! in the database, in milliseconds.
//!
//! The `work_generator` pass ([`WorkGenerator::pass`]) runs in a loop like the daemon's (sleep
//! the sleep interval after an idle pass) on a fresh project and database, in two modes:
//! - **rboinc**: as the daemon runs it, the chain poll window equal to the sleep interval
//!   (a chain waiting for validation is looked at every 100 ms);
//! - **C++ analogue**: the same pass polled once per sleep interval, which is how a C++ work
//!   generator (BOINC's `sample_work_generator` loop of count, create, `daemon_sleep`) notices
//!   new work.
//!
//! Both use the `work_generator`'s default sleep interval (2 s). The bench plays the hosts and
//! the validator: it waits for generation g's workunit and a "compute time" spread over the
//! sleep interval, puts a state file where the upload goes,
//! inserts the canonical result and notes the time; the bench then polls the database every
//! 2 ms for generation g + 1's workunit (so figures include up to 2 ms of that polling).
//! After that the transitioner creates the workunit's results on its next pass, as for any
//! workunit, in both modes alike; that part is not measured here.
//!
//! Run: `cargo bench -p rboinc-research --bench generations`.

#[path = "../../tools/benches/common/mod.rs"]
mod common;

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

use rboinc_core::daemon::stats::DaemonStats;
use rboinc_core::daemon::{ModSlice, PassOutcome, PassTally};
use rboinc_core::test_support::TestDb;
use rboinc_research::generations::ChainOptions;
use rboinc_research::generator::daemon::WorkGenerator;
use rboinc_research::{SeriesParams, SubmitOptions, submit};

/// Transitions measured per mode.
const TRANSITIONS: usize = 10;
const SLEEP: Duration = Duration::from_secs(2);

#[tokio::main]
async fn main() {
    rboinc_core::telemetry::init_for_tests();
    let tmp = tempfile::tempdir().unwrap();
    println!("load average before: {}", common::load_average());
    println!(
        "| mode (sleep interval {} s, {TRANSITIONS} transitions) | median ms | mean ms | max ms |",
        SLEEP.as_secs()
    );
    println!("|---|---:|---:|---:|");
    for (label, window) in [
        (
            "rboinc work_generator (chain poll window = sleep interval)",
            SLEEP,
        ),
        (
            "C++ analogue: polled once per sleep interval",
            Duration::ZERO,
        ),
    ] {
        let ms = measure(tmp.path(), label, window).await;
        let mut sorted = ms.clone();
        sorted.sort_by(f64::total_cmp);
        let mean = ms.iter().sum::<f64>() / ms.len() as f64;
        println!(
            "| {label} | {:.0} | {:.0} | {:.0} |",
            sorted[sorted.len() / 2],
            mean,
            sorted[sorted.len() - 1]
        );
        eprintln!(
            "{label}: {}",
            ms.iter()
                .map(|m| format!("{m:.0}"))
                .collect::<Vec<_>>()
                .join(", ")
        );
    }
    println!("load average after: {}", common::load_average());
}

/// Runs a chain of TRANSITIONS + 1 generations and returns each transition's milliseconds.
async fn measure(tmp: &std::path::Path, label: &str, window: Duration) -> Vec<f64> {
    let short = if window.is_zero() { "gp" } else { "gw" };
    let db = TestDb::empty().await;
    let root = tmp.join(short);
    let project = common::project(&db, &root, short).await;
    let pool = project.connect().await.unwrap();
    let mut o = SubmitOptions::original(
        std::path::PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../app/data/mnist-10k"),
        TRANSITIONS + 1,
    );
    o.name = Some(short.into());
    o.base_seed = Some(3);
    o.params = SeriesParams {
        sample_count: 500,
        train_epochs: 1,
        ..SeriesParams::default()
    };
    o.chain = Some(ChainOptions {
        generations: (TRANSITIONS + 1) as u32,
        epochs_per_generation: 1,
        shards: 1,
    });
    submit(&project, &pool, &o).await.unwrap();

    // The daemon's loop.
    let stop = Arc::new(AtomicBool::new(false));
    let mut generator =
        WorkGenerator::new(pool.clone(), project.config.clone(), "mnist".into(), 100)
            .with_chain_poll(window);
    let tally = PassTally::new(
        tmp,
        DaemonStats::new("work_generator", Some("mnist"), ModSlice::ALL, 0),
    )
    .counting_only();
    let stopping = stop.clone();
    let daemon = tokio::spawn(async move {
        while !stopping.load(Ordering::Relaxed) {
            if generator.pass(&tally, None).await.unwrap() == PassOutcome::Idle {
                tokio::time::sleep(SLEEP).await;
            }
        }
    });

    let upload = project.config.upload_hier();
    let mut ms = Vec::with_capacity(TRANSITIONS);
    for g in 1..=TRANSITIONS {
        let wu = format!("{short}_{g}");
        let wu_id = wait_for_workunit(&pool, &wu).await;
        // The hosts' time: spread over the sleep interval (golden-ratio steps), so validations
        // fall at every phase of the generator's loop, as real ones do.
        tokio::time::sleep(SLEEP.mul_f64((g as f64 * 0.618_034).fract())).await;
        // The host's upload and the validator's write.
        let (result, state) = (format!("{wu}_0"), format!("{wu}_0_1"));
        let path = upload.path(&state).unwrap();
        std::fs::create_dir_all(path.parent().unwrap()).unwrap();
        std::fs::write(&path, format!("state of generation {g}")).unwrap();
        let xml = format!(
            "<file_info><name>{state}</name></file_info><result><file_ref><file_name>{state}</file_name>\
             <open_name>state.bin</open_name></file_ref></result>"
        );
        sqlx::query(
            "INSERT INTO result (create_time, workunitid, server_state, outcome, client_state, hostid, userid, \
             report_deadline, sent_time, received_time, name, cpu_time, xml_doc_in, xml_doc_out, stderr_out, batch, \
             file_delete_state, validate_state, claimed_credit, granted_credit, opaque, random, app_version_num, appid, \
             exit_status, teamid, priority, mod_time, elapsed_time, flops_estimate, app_version_id, runtime_outlier, \
             size_class, peak_working_set_size, peak_swap_size, peak_disk_usage) \
             SELECT 1, w.id, 5, 1, 0, 1, 0, 0, 0, 0, ?, 0, ?, '', '', w.batch, 0, 1, 0, 0, 0, 0, 0, \
             w.appid, 0, 0, 0, NOW(), 0, 0, 0, 0, -1, 0, 0, 0 FROM workunit w WHERE w.id = ?",
        )
        .bind(&result)
        .bind(&xml)
        .bind(wu_id)
        .execute(&pool)
        .await
        .unwrap();
        let validated = Instant::now();
        sqlx::query(
            "UPDATE workunit w JOIN result x ON x.workunitid = w.id AND x.name = ? \
             SET w.canonical_resultid = x.id WHERE w.id = ?",
        )
        .bind(&result)
        .bind(wu_id)
        .execute(&pool)
        .await
        .unwrap();
        wait_for_workunit(&pool, &format!("{short}_{}", g + 1)).await;
        ms.push(validated.elapsed().as_secs_f64() * 1000.0);
    }
    stop.store(true, Ordering::Relaxed);
    daemon.await.unwrap();
    eprintln!("{label}: done");
    ms
}

async fn wait_for_workunit(pool: &sqlx::MySqlPool, name: &str) -> i64 {
    let deadline = Instant::now() + Duration::from_secs(60);
    loop {
        let id: Option<i64> =
            sqlx::query_scalar("SELECT CAST(id AS SIGNED) FROM workunit WHERE name = ?")
                .bind(name)
                .fetch_optional(pool)
                .await
                .unwrap();
        if let Some(id) = id {
            return id;
        }
        assert!(Instant::now() < deadline, "no workunit {name} after 60 s");
        tokio::time::sleep(Duration::from_millis(2)).await;
    }
}
