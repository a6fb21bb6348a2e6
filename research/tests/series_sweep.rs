//! Sweeps on a real project and database: the grid × seeds as one series, every mistake
//! refused before anything is written, the generator making the later configurations' rounds
//! with their own parameters, status per configuration and the report grouped by it.

#[path = "../../tools/tests/common/mod.rs"]
mod common;

use std::path::PathBuf;

use rboinc_research::local::{self, Runner};
use rboinc_research::sweep::Grid;
use rboinc_research::{
    SeriesParams, SubmitOptions, generator, params, progress, report, store, submit,
};
use rboinc_tools::create_work::WorkCreator;

fn mnist_10k() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../app/data/mnist-10k")
}

/// 2 learning rates × 2 batch sizes × `seeds` seeds, small jobs.
fn sweep(name: &str, seeds: usize) -> SubmitOptions {
    let mut o = SubmitOptions::original(mnist_10k(), seeds);
    o.name = Some(name.into());
    o.base_seed = Some(7);
    o.params = SeriesParams {
        sample_count: 300,
        train_epochs: 2,
        batch_size: 50,
        learning_rate: 0.05,
        val_count: Some(200),
        ..SeriesParams::default()
    };
    o.grid = Grid {
        learning_rate: vec![0.05, 0.5],
        batch_size: vec![30, 100],
        ..Grid::default()
    };
    o.max_jobs = 100;
    o
}

fn job_of(p: &common::TestProject, wu: &str) -> serde_json::Value {
    let stager = rboinc_tools::stage::Stager::from_config(&p.config()).unwrap();
    let path = stager.path_of(&format!("{wu}_job.json")).unwrap();
    serde_json::from_slice(&std::fs::read(path).unwrap()).unwrap()
}

#[tokio::test]
async fn a_sweep_is_one_series_of_grid_times_seeds_and_the_generator_keeps_each_config() {
    let p = common::project("swp").await;
    let mut o = sweep("sw", 2);
    o.cushion = 3;
    let s = submit(&p.project, p.pool(), &o).await.unwrap();
    assert_eq!((s.configs, s.created, s.series.rounds), (4, 3, 8));
    let rounds = store::rounds(p.pool(), s.series.id).await.unwrap();
    let seeds = params::seeds_from_base(7, 2);
    // Configuration by configuration, the same seeds in each.
    let got: Vec<(i32, i32, u64)> = rounds.iter().map(|r| (r.round, r.config, r.seed)).collect();
    let want: Vec<(i32, i32, u64)> = (0..8)
        .map(|i| (i + 1, i / 2, seeds[(i % 2) as usize]))
        .collect();
    assert_eq!(got, want);
    let configs = store::configs(p.pool(), &s.series).await.unwrap();
    let pairs: Vec<(f64, u64)> = configs
        .iter()
        .map(|c| (c.learning_rate, c.batch_size))
        .collect();
    assert_eq!(pairs, [(0.05, 30), (0.05, 100), (0.5, 30), (0.5, 100)]);
    assert_eq!(
        store::labels(&configs),
        [
            "lr=0.05 batch=30",
            "lr=0.05 batch=100",
            "lr=0.5 batch=30",
            "lr=0.5 batch=100"
        ]
    );
    // The rounds created at submit time carry their configuration's job.
    let j = job_of(&p, "sw_3");
    assert_eq!(
        (j["learning_rate"].as_f64(), j["batch_size"].as_u64()),
        (Some(0.05), Some(100))
    );
    assert_eq!(j["seed"].as_u64(), Some(seeds[0]));

    // The generator makes the rest, each with its own configuration's parameters.
    sqlx::query("UPDATE workunit SET canonical_resultid = 1")
        .execute(p.pool())
        .await
        .unwrap();
    let mut c = WorkCreator::new(p.pool(), p.config(), "mnist")
        .await
        .unwrap();
    let made = generator::top_up(p.pool(), &mut c, 10).await.unwrap();
    assert_eq!(made.workunits.len(), 5, "{:?}", made.failed);
    for (wu, lr, batch, seed) in [
        ("sw_4", 0.05, 100, seeds[1]),
        ("sw_7", 0.5, 100, seeds[0]),
        ("sw_8", 0.5, 100, seeds[1]),
    ] {
        let j = job_of(&p, wu);
        assert_eq!(j["learning_rate"].as_f64(), Some(lr), "{wu}");
        assert_eq!(j["batch_size"].as_u64(), Some(batch), "{wu}");
        assert_eq!(j["seed"].as_u64(), Some(seed), "{wu}");
        assert_eq!(j["sample_count"].as_u64(), Some(300), "{wu}");
    }

    // Status per configuration.
    let st = progress::rounds(p.pool(), &s.series).await.unwrap();
    let by = progress::by_config(&st);
    assert_eq!(by.len(), 4);
    assert!(by.iter().all(|(_, rs)| rs.len() == 2));
    let text = progress::render(&s.series, &st, 5.0, &store::labels(&configs));
    assert!(text.contains("lr=0.5 batch=100"), "{text}");
    assert!(text.contains("config"), "{text}");
}

#[tokio::test]
async fn a_bad_sweep_is_refused_before_anything_is_queued() {
    let p = common::project("swp2").await;
    // Values the app refuses, a value twice, and more jobs than the limit: all said at once.
    let mut o = sweep("bad", 3);
    o.grid.learning_rate = vec![-0.1, 0.05, 0.05];
    o.grid.batch_size = vec![0, 50];
    o.max_jobs = 10;
    let e = submit(&p.project, p.pool(), &o)
        .await
        .unwrap_err()
        .to_string();
    for part in [
        "--learning-rate: 0.05 is listed twice",
        "`learning_rate` is invalid: got -0.1",
        "`batch_size` is invalid: got 0",
        "6 configurations × 3 seeds = 18 jobs, more than --max-jobs 10; raise --max-jobs",
    ] {
        assert!(e.contains(part), "{part:?} not in {e}");
    }
    // A grid over the limit alone; raising the limit is enough.
    let mut o = sweep("big", 3);
    o.max_jobs = 11;
    let e = submit(&p.project, p.pool(), &o)
        .await
        .unwrap_err()
        .to_string();
    assert!(e.contains("4 configurations × 3 seeds = 12 jobs"), "{e}");
    // More samples than the dataset has, in one configuration: found after the dataset is
    // read, inside the transaction, which leaves nothing.
    let mut o = sweep("big", 3);
    o.grid.sample_count = vec![300, 12_000];
    let e = submit(&p.project, p.pool(), &o)
        .await
        .unwrap_err()
        .to_string();
    assert!(
        e.contains("--sample-count 12000 does not fit the dataset's 10000 training rows"),
        "{e}"
    );
    for table in ["rb_series", "rb_series_round", "batch", "workunit"] {
        assert_eq!(common::count(p.pool(), table).await, 0, "{table}");
    }
    let mut o = sweep("big", 3);
    o.max_jobs = 12;
    assert_eq!(
        submit(&p.project, p.pool(), &o)
            .await
            .unwrap()
            .series
            .rounds,
        12
    );
}

/// The report of a sweep: a table per configuration with n, the best named, and the two
/// per-configuration pictures (distributed results stood in for by independent local runs).
#[tokio::test]
async fn the_report_groups_a_sweep_by_configuration() {
    let p = common::project("swp3").await;
    let mut o = sweep("rep", 2);
    o.grid.batch_size = Vec::new();
    o.cushion = 10;
    let s = submit(&p.project, p.pool(), &o).await.unwrap();
    let row = s.series;
    let stager = rboinc_tools::stage::Stager::from_config(&p.config()).unwrap();
    let dataset = stager.path_of(&row.dataset_file).unwrap();
    let jobs: Vec<(i32, u64, SeriesParams)> = store::rounds(p.pool(), row.id)
        .await
        .unwrap()
        .iter()
        .map(|r| (r.round, r.seed, r.params_of(&row).unwrap()))
        .collect();
    let other = tempfile::tempdir().unwrap();
    let runs = local::run_each(&Runner::InProcess, &dataset, &jobs, other.path(), |_| {}).unwrap();
    for (j, run) in jobs.iter().zip(&runs) {
        let wu = format!("rep_{}", j.0);
        let target = p.root().join("results/mnist").join(&wu);
        std::fs::create_dir_all(&target).unwrap();
        std::fs::copy(&run.metrics, target.join("metrics.json")).unwrap();
    }
    let r = report::write(&p.project, p.pool(), &row).await.unwrap();
    assert_eq!(r.configs.len(), 2);
    let acc = |i: usize| {
        let xs: Vec<f64> = jobs
            .iter()
            .zip(&runs)
            .filter(|(j, _)| j.2.learning_rate == [0.05, 0.5][i])
            .map(|(_, run)| {
                let v: serde_json::Value =
                    serde_json::from_slice(&std::fs::read(&run.metrics).unwrap()).unwrap();
                v["val_acc"].as_f64().unwrap()
            })
            .collect();
        report::mean_std(&xs).unwrap()
    };
    let (a, b) = (acc(0), acc(1));
    for (i, (m, _)) in [a, b].iter().enumerate() {
        assert_eq!(r.configs[i].n, 2);
        assert_eq!(
            r.configs[i].stat("val_acc").unwrap().0.to_bits(),
            m.to_bits()
        );
    }
    let best = if b.0 > a.0 {
        (2, "lr=0.5", b)
    } else {
        (1, "lr=0.05", a)
    };
    let md = std::fs::read_to_string(&r.summary).unwrap();
    assert!(
        md.contains(&format!(
            "**Best: configuration {} ({}), final validation accuracy {:.4} ± {:.4} over 2 seeds.**",
            best.0, best.1, best.2.0, best.2.1
        )),
        "{md}"
    );
    assert!(md.contains("| 1 | lr=0.05 | 2 of 2 | "), "{md}");
    assert!(md.contains("| round | config | seed |"), "{md}");
    for png in ["config_val_acc.png", "config_curves.png"] {
        let bytes = std::fs::read(r.dir.join(png)).unwrap();
        assert!(bytes.starts_with(b"\x89PNG"), "{png}");
        assert!(bytes.len() > 10_000, "{png}: {} bytes", bytes.len());
    }
}
