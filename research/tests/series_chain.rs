//! Chained series on a real project and database: the work generator's staging of each
//! generation from the previous one's canonical state, the local twin, stop/resume and cancel.
//! The "hosts" here run the real trainer on the workunit's staged input files and leave their
//! outputs where uploads go; the database rows a validator would write are set directly.

#[path = "../../tools/tests/common/mod.rs"]
mod common;

use std::path::{Path, PathBuf};

use rboinc_core::db::workunit;
use rboinc_core::xml;
use rboinc_research::generations::{self, CHAIN_RUNNING, CHAIN_STOPPED, ChainOptions};
use rboinc_research::local::Runner;
use rboinc_research::{SeriesParams, SubmitOptions, cancel, report, store, submit};
use rboinc_tools::create_work::WorkCreator;
use rboinc_tools::stage::Stager;
use sha2::Digest;

fn chain_options(name: &str, g: u32) -> SubmitOptions {
    let dataset = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../app/data/mnist-10k");
    let mut o = SubmitOptions::original(dataset, g as usize);
    o.name = Some(name.into());
    o.base_seed = Some(11);
    o.params = SeriesParams {
        sample_count: 400,
        train_epochs: 1,
        batch_size: 50,
        learning_rate: 0.1,
        val_count: Some(150),
        ..SeriesParams::default()
    };
    o.chain = Some(ChainOptions {
        generations: g,
        epochs_per_generation: 1,
        shards: 1,
    });
    o
}

/// Runs workunit `wu_name` as a host would (the trainer on its staged inputs), puts the
/// outputs in the upload hierarchy, and makes that result the canonical one.
async fn compute_and_validate(p: &common::TestProject, wu_name: &str) -> (Vec<u8>, Vec<u8>) {
    let wu = workunit::by_name(p.pool(), wu_name).await.unwrap().unwrap();
    let stager = Stager::from_config(&p.config()).unwrap();
    let inputs: Vec<PathBuf> = xml::raw_elements(&wu.xml_doc, "file_info")
        .into_iter()
        .map(|fi| stager.lookup_path(&xml::text(fi, "name").unwrap()).unwrap())
        .collect();
    let upload = p.config().upload_hier();
    let result_name = format!("{wu_name}_0");
    let (metrics_name, state_name) = (format!("{result_name}_0"), format!("{result_name}_1"));
    let metrics = upload.path(&metrics_name).unwrap();
    let state = upload.path(&state_name).unwrap();
    std::fs::create_dir_all(metrics.parent().unwrap()).unwrap();
    std::fs::create_dir_all(state.parent().unwrap()).unwrap();
    let control = mnist_app::boinc::control::Control::inert();
    let ctx = mnist_app::run::Context {
        control: &control,
        mode: mnist_app::host::Mode::Standalone,
        base_cpu: None,
        boinc: None,
    };
    let dir = tempfile::tempdir().unwrap();
    // The times a scheduler and a client report would give: sent, reported, run time.
    let sent = rboinc_core::clock::now_i32();
    let started = std::time::Instant::now();
    let paths = mnist_app::run::Paths {
        job: inputs[0].clone(),
        dataset: inputs[1].clone(),
        metrics: metrics.clone(),
        weights: dir.path().join("w.npy"),
        start_state: inputs
            .get(2)
            .cloned()
            .unwrap_or_else(|| dir.path().join("none")),
        state: state.clone(),
        checkpoint: None,
    };
    mnist_app::run::run(&paths, &ctx).unwrap();
    let elapsed = started.elapsed().as_secs_f64();
    let received = rboinc_core::clock::now_i32();
    let xml_doc_in = format!(
        "<file_info><name>{metrics_name}</name></file_info><file_info><name>{state_name}</name></file_info>\
         <result><file_ref><file_name>{metrics_name}</file_name><open_name>metrics.json</open_name></file_ref>\
         <file_ref><file_name>{state_name}</file_name><open_name>state.bin</open_name></file_ref></result>"
    );
    sqlx::query(
        "INSERT INTO result (create_time, workunitid, server_state, outcome, client_state, hostid, userid, \
         report_deadline, sent_time, received_time, name, cpu_time, xml_doc_in, xml_doc_out, stderr_out, batch, \
         file_delete_state, validate_state, claimed_credit, granted_credit, opaque, random, app_version_num, appid, \
         exit_status, teamid, priority, mod_time, elapsed_time, flops_estimate, app_version_id, runtime_outlier, \
         size_class, peak_working_set_size, peak_swap_size, peak_disk_usage) \
         SELECT 1, w.id, 5, 1, 0, 1, 0, 0, ?, ?, ?, ?, ?, '', '', w.batch, 0, 1, 0, 0, 0, 0, 0, \
         w.appid, 0, 0, 0, NOW(), ?, 0, 0, 0, -1, 0, 0, 0 FROM workunit w WHERE w.id = ?",
    )
    .bind(sent)
    .bind(received)
    .bind(&result_name)
    .bind(elapsed)
    .bind(&xml_doc_in)
    .bind(elapsed)
    .bind(wu.id)
    .execute(p.pool())
    .await
    .unwrap();
    sqlx::query(
        "UPDATE workunit w JOIN result x ON x.workunitid = w.id AND x.name = ? \
         SET w.canonical_resultid = x.id WHERE w.id = ?",
    )
    .bind(&result_name)
    .bind(wu.id)
    .execute(p.pool())
    .await
    .unwrap();
    (
        std::fs::read(&metrics).unwrap(),
        std::fs::read(&state).unwrap(),
    )
}

fn without_host(bytes: &[u8]) -> serde_json::Value {
    let v: serde_json::Value = serde_json::from_slice(bytes).unwrap();
    mnist_app::metrics::deterministic_part(&v)
}

fn input_names(xml_doc: &str) -> Vec<String> {
    xml::raw_elements(xml_doc, "file_info")
        .into_iter()
        .map(|fi| xml::text(fi, "name").unwrap())
        .collect()
}

#[tokio::test]
async fn each_generation_starts_from_the_previous_canonical_state_and_equals_the_local_chain() {
    let p = common::project("chn").await;
    let o = chain_options("c1", 3);
    let s = submit(&p.project, p.pool(), &o).await.unwrap();
    assert_eq!(s.created, 1, "only generation 1 is created at submission");
    let rounds = store::rounds(p.pool(), s.series.id).await.unwrap();
    let states: Vec<i32> = rounds.iter().map(|r| r.state).collect();
    assert_eq!(
        states,
        [
            store::ROUND_CREATED,
            store::ROUND_QUEUED,
            store::ROUND_QUEUED
        ]
    );
    assert!(
        rounds.iter().all(|r| r.seed == rounds[0].seed),
        "one model, one seed"
    );
    let wu1 = workunit::by_name(p.pool(), "c1_1").await.unwrap().unwrap();
    assert_eq!(wu1.result_template_file, generations::templates::CHAIN_OUT);
    assert_eq!(input_names(&wu1.xml_doc).len(), 2);
    assert!(p.root().join(generations::templates::CHAIN_OUT).is_file());

    let mut creator = WorkCreator::new(p.pool(), p.config(), "mnist")
        .await
        .unwrap();
    // The cushion generator leaves a chain's rounds alone, and nothing is due yet.
    let topped = rboinc_research::generator::top_up(p.pool(), &mut creator, 100)
        .await
        .unwrap();
    assert!(topped.workunits.is_empty());
    let a = generations::advance(p.pool(), &mut creator, &p.config())
        .await
        .unwrap();
    assert!(a.created.is_empty() && a.stopped.is_empty());
    assert_eq!(a.waiting, 1);

    let stager = Stager::from_config(&p.config()).unwrap();
    let mut distributed = Vec::new();
    for g in 1..=3 {
        let (metrics, state) = compute_and_validate(&p, &format!("c1_{g}")).await;
        distributed.push((metrics, state.clone()));
        let a = generations::advance(p.pool(), &mut creator, &p.config())
            .await
            .unwrap();
        assert!(a.stopped.is_empty() && a.failed.is_empty(), "{a:?}");
        if g == 3 {
            assert!(a.created.is_empty(), "the chain is complete");
            assert_eq!(a.waiting, 0);
            break;
        }
        assert_eq!(a.created.len(), 1, "{a:?}");
        assert_eq!(a.created[0].1, g + 1);
        // Generation g + 1 takes generation g's state, staged under its content hash.
        let next = workunit::by_name(p.pool(), &format!("c1_{}", g + 1))
            .await
            .unwrap()
            .unwrap();
        let names = input_names(&next.xml_doc);
        let expected = generations::state_file_name(&hex::encode(sha2::Sha256::digest(&state)));
        assert_eq!(names.len(), 3);
        assert_eq!(names[2], expected);
        assert_eq!(
            std::fs::read(stager.lookup_path(&expected).unwrap()).unwrap(),
            state
        );
        let job: serde_json::Value =
            serde_json::from_slice(&std::fs::read(stager.lookup_path(&names[0]).unwrap()).unwrap())
                .unwrap();
        assert_eq!(job["train_epochs"], g + 1);
        assert_eq!(job["start_from_state"], true);
        let c = generations::chain(p.pool(), s.series.id)
            .await
            .unwrap()
            .unwrap();
        assert_eq!(
            (c.state_round, c.state_file.as_str()),
            (g, expected.as_str())
        );
        // A second pass creates nothing more.
        let again = generations::advance(p.pool(), &mut creator, &p.config())
            .await
            .unwrap();
        assert!(again.created.is_empty());
    }

    // Each generation's time, split at first sent, last reported, validated and next created.
    let times = report::generations::round_times(p.pool(), s.series.id)
        .await
        .unwrap();
    assert!(times.iter().all(|r| r.validated > 0), "{times:?}");
    let splits = report::generations::splits(&times, 1);
    assert_eq!(splits.len(), 3);
    for (i, x) in splits.iter().enumerate() {
        let parts: Vec<i64> = [x.waiting_for_hosts_s, x.with_hosts_s, x.validating_s]
            .iter()
            .map(|p| p.expect("every part is known"))
            .collect();
        assert_eq!(x.preparing_next_s.is_some(), i < 2, "{x:?}");
        let preparing = x.preparing_next_s.unwrap_or(0);
        assert!(parts.iter().all(|&p| p >= 0) && preparing >= 0, "{x:?}");
        assert_eq!(
            parts.iter().sum::<i64>() + preparing,
            x.total_s.unwrap(),
            "{x:?}"
        );
        assert_eq!(x.replicas, 1, "{x:?}");
        let computing = x.computing_s.unwrap();
        assert!(
            computing > 0.0 && computing <= x.with_hosts_s.unwrap() as f64 + 1.0,
            "{x:?}"
        );
    }
    let written = report::write(&p.project, p.pool(), &s.series)
        .await
        .unwrap();
    assert_eq!(written.generations.as_ref().unwrap().splits, splits);
    let summary = std::fs::read_to_string(&written.summary).unwrap();
    assert!(summary.contains("## Time per generation (s)"), "{summary}");
    assert!(summary.contains("\n| all | "), "{summary}");
    assert!(
        !summary.contains("per shard"),
        "a chain of one shard has no shard table"
    );

    // The local twin: the same chain here, generation for generation bit-identical.
    let report = tempfile::tempdir().unwrap();
    let dataset = stager.lookup_path(&s.series.dataset_file).unwrap();
    let runs = generations::local::run(
        &Runner::InProcess,
        &dataset,
        &o.params,
        rounds[0].seed,
        3,
        1,
        report.path(),
        |_| {},
    )
    .unwrap();
    assert_eq!(runs.len(), 3);
    for (run, (metrics, state)) in runs.iter().zip(&distributed) {
        let local = std::fs::read(&run.metrics).unwrap();
        assert_eq!(
            without_host(&local),
            without_host(metrics),
            "generation {}",
            run.round
        );
        let local_state = std::fs::read(run.metrics.with_file_name("state.bin")).unwrap();
        assert_eq!(&local_state, state, "generation {}", run.round);
    }
    // And one uninterrupted run of 3 epochs ends where the chain ends.
    let straight = SeriesParams {
        train_epochs: 3,
        ..o.params.clone()
    };
    let dir = report.path().join("straight");
    let one = generations::local::run(
        &Runner::InProcess,
        &dataset,
        &straight,
        rounds[0].seed,
        1,
        1,
        &dir,
        |_| {},
    )
    .unwrap();
    let mut a = without_host(&std::fs::read(&one[0].metrics).unwrap());
    let mut b = without_host(&distributed[2].0);
    a.as_object_mut().unwrap().remove("job");
    b.as_object_mut().unwrap().remove("job");
    assert_eq!(a, b);
    assert_eq!(a["history"].as_array().unwrap().len(), 3);
}

async fn fail(p: &common::TestProject, wu_name: &str) {
    sqlx::query("UPDATE workunit SET error_mask = 1 WHERE name = ?")
        .bind(wu_name)
        .execute(p.pool())
        .await
        .unwrap();
}

#[tokio::test]
async fn a_failed_generation_stops_the_chain_until_resumed_and_cancel_stops_it_all() {
    let p = common::project("chf").await;
    let s = submit(&p.project, p.pool(), &chain_options("c2", 3))
        .await
        .unwrap()
        .series;
    let mut creator = WorkCreator::new(p.pool(), p.config(), "mnist")
        .await
        .unwrap();
    compute_and_validate(&p, "c2_1").await;
    let a = generations::advance(p.pool(), &mut creator, &p.config())
        .await
        .unwrap();
    assert_eq!(a.created.len(), 1);
    fail(&p, "c2_2").await;
    let a = generations::advance(p.pool(), &mut creator, &p.config())
        .await
        .unwrap();
    assert_eq!(a.stopped.len(), 1);
    assert!(
        a.stopped[0]
            .1
            .contains("generation 2 (workunit c2_2) failed for good"),
        "{a:?}"
    );
    let c = generations::chain(p.pool(), s.id).await.unwrap().unwrap();
    assert_eq!(c.state, CHAIN_STOPPED);
    assert!(c.stop_reason.contains("c2_2"));
    // Stopped: nothing happens until resumed.
    let a = generations::advance(p.pool(), &mut creator, &p.config())
        .await
        .unwrap();
    assert!(a.created.is_empty() && a.stopped.is_empty() && a.waiting == 0);

    let r = generations::resume(p.pool(), &s).await.unwrap();
    let (g, name) = r.requeued[0].clone();
    assert_eq!(r.requeued.len(), 1);
    assert_eq!(g, 2);
    assert!(name.starts_with("c2_2_resumed_"), "{name}");
    assert!(
        generations::resume(p.pool(), &s).await.is_err(),
        "running, not stopped"
    );
    let c = generations::chain(p.pool(), s.id).await.unwrap().unwrap();
    assert_eq!((c.state, c.stop_reason.as_str()), (CHAIN_RUNNING, ""));
    // Generation 2 again, from the state staged for it the first time (the upload may be gone).
    let old = workunit::by_name(p.pool(), "c2_2").await.unwrap().unwrap();
    let upload = p.config().upload_hier();
    std::fs::remove_file(upload.path("c2_1_0_1").unwrap()).unwrap();
    let a = generations::advance(p.pool(), &mut creator, &p.config())
        .await
        .unwrap();
    assert_eq!(a.created.len(), 1, "{a:?}");
    let again = workunit::by_name(p.pool(), &name).await.unwrap().unwrap();
    assert_eq!(input_names(&again.xml_doc)[2], input_names(&old.xml_doc)[2]);

    // Cancel: the queued generation is dropped, the running one cancelled; nothing follows.
    let done = cancel::cancel(p.pool(), &s).await.unwrap();
    assert_eq!((done.rounds_dropped, done.workunits_cancelled), (1, 1));
    compute_and_validate(&p, &name).await;
    let a = generations::advance(p.pool(), &mut creator, &p.config())
        .await
        .unwrap();
    assert!(a.created.is_empty() && a.waiting == 0);
    assert!(generations::resume(p.pool(), &s).await.is_err());
}

/// Federated averaging: two shards per generation; generation 2 starts from the two shards'
/// states averaged, and the local twin (same shards, same combination) equals every round.
#[tokio::test]
async fn federated_generations_start_from_the_shards_average_and_equal_the_local_twin() {
    let p = common::project("chd").await;
    let mut o = chain_options("c4", 2);
    o.rounds = 4;
    o.chain = Some(ChainOptions {
        generations: 2,
        epochs_per_generation: 1,
        shards: 2,
    });
    let s = submit(&p.project, p.pool(), &o).await.unwrap();
    assert_eq!(s.created, 2, "generation 1: both shards");
    let mut creator = WorkCreator::new(p.pool(), p.config(), "mnist")
        .await
        .unwrap();
    let stager = Stager::from_config(&p.config()).unwrap();
    let mut distributed = Vec::new();
    distributed.push(compute_and_validate(&p, "c4_1").await);
    let a = generations::advance(p.pool(), &mut creator, &p.config())
        .await
        .unwrap();
    assert!(a.created.is_empty(), "one shard validated is not enough");
    assert_eq!(a.waiting, 1);
    // Its state is kept at once: the assimilator and file deleter may remove the upload
    // before the other shard is validated.
    assert!(stager.lookup_path("c4_1_state.bin").unwrap().is_file());
    std::fs::remove_file(p.config().upload_hier().path("c4_1_0_1").unwrap()).unwrap();
    distributed.push(compute_and_validate(&p, "c4_2").await);
    let a = generations::advance(p.pool(), &mut creator, &p.config())
        .await
        .unwrap();
    assert_eq!(a.created.len(), 2, "{a:?}");
    // The shards' kept copies went into the staged average: removed once it is created.
    for kept in ["c4_1_state.bin", "c4_2_state.bin"] {
        assert!(!stager.lookup_path(kept).unwrap().exists(), "{kept}");
    }
    let (w3, w4) = (
        workunit::by_name(p.pool(), "c4_3").await.unwrap().unwrap(),
        workunit::by_name(p.pool(), "c4_4").await.unwrap().unwrap(),
    );
    let start = input_names(&w3.xml_doc)[2].clone();
    assert_eq!(
        input_names(&w4.xml_doc)[2],
        start,
        "both shards start from one state"
    );
    let job: serde_json::Value = serde_json::from_slice(
        &std::fs::read(stager.lookup_path(&input_names(&w4.xml_doc)[0]).unwrap()).unwrap(),
    )
    .unwrap();
    assert_eq!(
        (job["shard_index"].clone(), job["shard_count"].clone()),
        (1.into(), 2.into())
    );
    distributed.push(compute_and_validate(&p, "c4_3").await);
    let a = generations::advance(p.pool(), &mut creator, &p.config())
        .await
        .unwrap();
    assert_eq!(a.waiting, 1);
    assert!(
        !stager.lookup_path("c4_3_state.bin").unwrap().exists(),
        "the last generation's states are no one's input: not kept"
    );
    distributed.push(compute_and_validate(&p, "c4_4").await);
    let a = generations::advance(p.pool(), &mut creator, &p.config())
        .await
        .unwrap();
    assert!(
        a.created.is_empty() && a.waiting == 0 && a.stopped.is_empty(),
        "{a:?}"
    );

    let report = tempfile::tempdir().unwrap();
    let dataset = stager.lookup_path(&s.series.dataset_file).unwrap();
    let seed = store::rounds(p.pool(), s.series.id).await.unwrap()[0].seed;
    let runs = generations::local::run(
        &Runner::InProcess,
        &dataset,
        &o.params,
        seed,
        2,
        2,
        report.path(),
        |_| {},
    )
    .unwrap();
    assert_eq!(runs.len(), 4);
    for (run, (metrics, state)) in runs.iter().zip(&distributed) {
        assert_eq!(
            without_host(&std::fs::read(&run.metrics).unwrap()),
            without_host(metrics),
            "round {}",
            run.round
        );
        assert_eq!(
            &std::fs::read(run.metrics.with_file_name("state.bin")).unwrap(),
            state
        );
    }
    let local_start = std::fs::read(report.path().join("local/generation_1_state.bin")).unwrap();
    assert_eq!(
        std::fs::read(stager.lookup_path(&start).unwrap()).unwrap(),
        local_start,
        "the server's average is the local one, bit for bit"
    );
    // The shards trained on different rows, so the average is neither shard's model.
    assert_ne!(local_start, distributed[0].1);
    assert_ne!(local_start, distributed[1].1);
}

/// What BOINC does after a workunit is assimilated and its results are over: its files may go.
async fn assimilated(p: &common::TestProject, wu_name: &str) {
    sqlx::query("UPDATE workunit SET assimilate_state = 2, file_delete_state = 1 WHERE name = ?")
        .bind(wu_name)
        .execute(p.pool())
        .await
        .unwrap();
}

/// One pass of the real file deleter over the project's READY rows.
async fn delete_files(p: &common::TestProject) {
    use rboinc_daemons::file_deleter::{FileDeleter, FileDeleterOptions, queue::Selection};
    let config = p.config();
    let options = FileDeleterOptions {
        upload: config.upload_hier(),
        download: config.download_hier(),
        cache_md5_info: false,
        selection: Selection::default(),
        outputs: true,
        inputs: true,
        preserve_result_files: false,
        preserve_wu_files: false,
        update_db: true,
        retry_errors: false,
        results_per_query: 100,
        wus_per_query: 100,
        threads: 1,
        error_retry_interval: std::time::Duration::from_secs(3600),
        single_batch: false,
    };
    let stop = rboinc_core::daemon::Shutdown::new(None);
    FileDeleter::new(p.pool().clone(), options)
        .pass(&stop)
        .await
        .unwrap();
}

/// Generation g's staged state (generation g + 1's input) is kept while g + 1 may still be
/// created again (`series resume`), and goes by the normal file deletion once every workunit
/// of g + 1 is validated — also when that workunit's files were deleted before.
#[tokio::test]
async fn a_start_state_goes_to_the_file_deleter_once_the_next_generation_is_validated() {
    let p = common::project("chr").await;
    let s = submit(&p.project, p.pool(), &chain_options("c5", 3))
        .await
        .unwrap()
        .series;
    let mut creator = WorkCreator::new(p.pool(), p.config(), "mnist")
        .await
        .unwrap();
    let stager = Stager::from_config(&p.config()).unwrap();
    let start_of = async |wu: &str| {
        let doc = workunit::by_name(p.pool(), wu)
            .await
            .unwrap()
            .unwrap()
            .xml_doc;
        input_names(&doc)[2].clone()
    };
    compute_and_validate(&p, "c5_1").await;
    generations::advance(p.pool(), &mut creator, &p.config())
        .await
        .unwrap();
    let state1 = start_of("c5_2").await;
    let path1 = stager.lookup_path(&state1).unwrap();
    // Generation 2 fails for good and is assimilated: its start state stays for the resume.
    fail(&p, "c5_2").await;
    let a = generations::advance(p.pool(), &mut creator, &p.config())
        .await
        .unwrap();
    assert_eq!(a.stopped.len(), 1);
    assimilated(&p, "c5_2").await;
    delete_files(&p).await;
    assert!(
        !stager.lookup_path("c5_2_job.json").unwrap().exists(),
        "the file deleter did take c5_2's other files"
    );
    assert!(path1.is_file(), "kept for series resume");
    let resumed = generations::resume(p.pool(), &s).await.unwrap().requeued[0]
        .1
        .clone();
    generations::advance(p.pool(), &mut creator, &p.config())
        .await
        .unwrap();
    assert_eq!(start_of(&resumed).await, state1);

    compute_and_validate(&p, &resumed).await;
    let a = generations::advance(p.pool(), &mut creator, &p.config())
        .await
        .unwrap();
    assert_eq!(a.created.len(), 1, "{a:?}");
    let state2 = start_of("c5_3").await;
    let path2 = stager.lookup_path(&state2).unwrap();
    delete_files(&p).await;
    assert!(path1.is_file(), "not before its workunit is assimilated");
    assimilated(&p, &resumed).await;
    delete_files(&p).await;
    assert!(
        !path1.exists(),
        "generation 1's state went with the resumed generation 2"
    );
    assert!(path2.is_file(), "generation 3 is not validated yet");
    let dataset = stager.lookup_path(&s.dataset_file).unwrap();
    assert!(dataset.is_file(), "the dataset keeps its <no_delete/>");

    // The last generation, assimilated and its files deleted before the work generator saw
    // it validated: the state stays, then goes once the work generator hands it over.
    compute_and_validate(&p, "c5_3").await;
    assimilated(&p, "c5_3").await;
    delete_files(&p).await;
    assert!(path2.is_file());
    generations::advance(p.pool(), &mut creator, &p.config())
        .await
        .unwrap();
    let wu3 = workunit::by_name(p.pool(), "c5_3").await.unwrap().unwrap();
    // A second hand-over changes nothing.
    assert_eq!(
        generations::release::start_state(p.pool(), &[wu3.id.0], &state2)
            .await
            .unwrap(),
        0
    );
    delete_files(&p).await;
    assert!(!path2.exists());
    assert!(dataset.is_file());
}

#[tokio::test]
async fn chain_options_are_checked() {
    let p = common::project("chk").await;
    let mut o = chain_options("c3", 2);
    o.rounds = 3;
    let e = submit(&p.project, p.pool(), &o)
        .await
        .unwrap_err()
        .to_string();
    assert!(e.contains("needs 2 rounds"), "{e}");
    let mut o = chain_options("c3", 2);
    o.seeds = Some(vec![1, 2]);
    let e = submit(&p.project, p.pool(), &o)
        .await
        .unwrap_err()
        .to_string();
    assert!(e.contains("one seed"), "{e}");
    let _ = Path::new("");
}
