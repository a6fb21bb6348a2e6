//! `series export` on a real project and database: the validated weights of each round with its
//! model card, weights that reproduce the accuracy the round reported, and the report's
//! ensemble section.

#[path = "../../tools/tests/common/mod.rs"]
mod common;

use std::path::PathBuf;

use mnist_app::evaluate;
use rboinc_core::db::{HostId, host};
use rboinc_research::local::{self, Runner};
use rboinc_research::{SeriesParams, SubmitOptions, export, report, store, submit};

fn mnist_10k() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../app/data/mnist-10k")
}

#[tokio::test]
async fn exported_weights_reproduce_the_reported_accuracy() {
    let p = common::project("exp").await;
    let mut o = SubmitOptions::original(mnist_10k(), 3);
    o.name = Some("ex".into());
    o.base_seed = Some(11);
    o.params = SeriesParams {
        sample_count: 500,
        train_epochs: 2,
        batch_size: 50,
        learning_rate: 0.1,
        val_count: Some(300),
        export_weights: true,
        ..SeriesParams::default()
    };
    o.cushion = 10;
    let row = submit(&p.project, p.pool(), &o).await.unwrap().series;
    let stager = rboinc_tools::stage::Stager::from_config(&p.config()).unwrap();
    let dataset = stager.path_of(&row.dataset_file).unwrap();
    let rounds = store::rounds(p.pool(), row.id).await.unwrap();
    let jobs: Vec<(i32, u64, SeriesParams)> = rounds
        .iter()
        .map(|r| (r.round, r.seed, r.params_of(&row).unwrap()))
        .collect();
    // Rounds 1 and 2 validated by two hosts and assimilated (outputs filed where the
    // assimilator files them, computed independently here); round 3 not finished.
    let ran = tempfile::tempdir().unwrap();
    let runs =
        local::run_each(&Runner::InProcess, &dataset, &jobs[..2], ran.path(), |_| {}).unwrap();
    let mut hosts = Vec::new();
    for (i, name) in ["volunteer-a", "volunteer-b"].into_iter().enumerate() {
        hosts.push(
            host::insert(
                p.pool(),
                &host::HostRow {
                    id: HostId(21 + i as i64),
                    userid: p.report.submitter_id,
                    domain_name: name.into(),
                    ..Default::default()
                },
            )
            .await
            .unwrap(),
        );
    }
    for (r, run) in rounds.iter().zip(&runs) {
        let target = p.root().join("results/mnist").join(&r.wu_name);
        std::fs::create_dir_all(&target).unwrap();
        std::fs::copy(&run.metrics, target.join("metrics.json")).unwrap();
        std::fs::copy(
            run.metrics.with_file_name("weights.npy"),
            target.join("weights.npy"),
        )
        .unwrap();
        for (k, h) in hosts.iter().enumerate() {
            sqlx::query(
                "INSERT INTO result (create_time, workunitid, server_state, outcome, client_state, hostid, userid, \
                 report_deadline, sent_time, received_time, name, cpu_time, xml_doc_in, xml_doc_out, stderr_out, batch, \
                 file_delete_state, validate_state, claimed_credit, granted_credit, opaque, random, app_version_num, appid, \
                 exit_status, teamid, priority, mod_time, elapsed_time, flops_estimate, app_version_id, runtime_outlier, \
                 size_class, peak_working_set_size, peak_swap_size, peak_disk_usage) \
                 SELECT 1, w.id, 5, 1, 0, ?, 0, 0, 0, 0, ?, 0, '', '', '', w.batch, 0, 1, 0, 0, 0, 0, 0, \
                 w.appid, 0, 0, 0, NOW(), 0, 0, 0, 0, -1, 0, 0, 0 FROM workunit w WHERE w.id = ?",
            )
            .bind(h)
            .bind(format!("{}_{k}", r.wu_name))
            .bind(r.workunit_id)
            .execute(p.pool())
            .await
            .unwrap();
        }
        sqlx::query(
            "UPDATE workunit w SET w.assimilate_state = 2, w.canonical_resultid = \
             (SELECT MIN(x.id) FROM result x WHERE x.workunitid = w.id) WHERE w.id = ?",
        )
        .bind(r.workunit_id)
        .execute(p.pool())
        .await
        .unwrap();
    }

    let out = tempfile::tempdir().unwrap();
    let e = export::export(&p.project, p.pool(), &row, out.path())
        .await
        .unwrap();
    assert_eq!(e.written, [1, 2]);
    assert_eq!(e.skipped.len(), 1);
    assert!(
        e.skipped[0].1.contains("not assimilated"),
        "{:?}",
        e.skipped
    );
    let ds = mnist_app::dataset::load(&dataset).unwrap();
    for (i, r) in rounds[..2].iter().enumerate() {
        let card: serde_json::Value = serde_json::from_slice(
            &std::fs::read(out.path().join(format!("round_{}.json", r.round))).unwrap(),
        )
        .unwrap();
        assert_eq!(card["seed"], r.seed);
        assert_eq!(card["dataset"]["sha256"], row.dataset_sha256);
        assert_eq!(card["parameters"]["learning_rate"], 0.1);
        let agreed: Vec<&str> = card["validated_by"]
            .as_array()
            .unwrap()
            .iter()
            .map(|h| h["name"].as_str().unwrap())
            .collect();
        assert_eq!(agreed, ["volunteer-a", "volunteer-b"]);
        // The exported weights score exactly what the round reported, on its validation rows.
        let job = mnist_app::job::Job::parse(
            &std::fs::read_to_string(out.path().join(format!("round_{}_job.json", r.round)))
                .unwrap(),
        )
        .unwrap();
        let model =
            evaluate::load_weights(&out.path().join(format!("round_{}.npy", r.round))).unwrap();
        let ev = evaluate::evaluate(&model, &evaluate::rows(&ds, Some(&job)).unwrap());
        // (serde_json's float parsing may be one ulp off the written shortest form; the
        // counts are exact.)
        let reported = card["metrics"]["val_acc"].as_f64().unwrap();
        assert_eq!(ev.rows, 300);
        assert_eq!(
            ev.correct as f64,
            (reported * 300.0).round(),
            "round {}",
            i + 1
        );
        assert!((ev.accuracy() - reported).abs() <= 1e-15, "round {}", i + 1);
        let loss = card["metrics"]["val_loss"].as_f64().unwrap();
        assert!(
            (ev.loss - loss).abs() <= 1e-14 * loss,
            "{} vs {loss}",
            ev.loss
        );
    }

    // The report scores both models and their ensemble on the same rows.
    let r = report::write(&p.project, p.pool(), &row).await.unwrap();
    let ens = r.ensemble.as_ref().expect("an ensemble section");
    assert_eq!(ens.singles.len(), 2);
    assert_eq!(ens.all.rows, 10_000);
    let md = std::fs::read_to_string(&r.summary).unwrap();
    assert!(md.contains("## Ensemble of the rounds' models"), "{md}");
    assert!(
        md.contains("all 10000 training rows (the dataset has no test split)"),
        "{md}"
    );
    assert!(
        md.contains(&format!(
            "| **ensemble of all 2 models** | **{:.4}** |",
            ens.all.accuracy()
        )),
        "{md}"
    );
}
