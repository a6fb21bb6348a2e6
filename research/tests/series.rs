//! series submit / work generation / cancel / local / report on a real project and database.

#[path = "../../tools/tests/common/mod.rs"]
mod common;

use std::path::PathBuf;

use rboinc_core::db::{batch, workunit};
use rboinc_core::xml;
use rboinc_research::local::{self, Runner};
use rboinc_research::{
    SeriesParams, SubmitOptions, cancel, generator, params, progress, report, store, submit,
};
use rboinc_tools::create_work::WorkCreator;

fn mnist_10k() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../app/data/mnist-10k")
}

fn small(rounds: usize) -> SubmitOptions {
    let mut o = SubmitOptions::original(mnist_10k(), rounds);
    o.params = SeriesParams {
        sample_count: 500,
        train_epochs: 2,
        batch_size: 50,
        learning_rate: 0.1,
        val_count: Some(200),
        ..SeriesParams::default()
    };
    o
}

/// Marks every unsent/new workunit of the app as sent (a result IN_PROGRESS), as if hosts took them.
async fn send_all(pool: &sqlx::MySqlPool) {
    sqlx::query(
        "INSERT INTO result (create_time, workunitid, server_state, outcome, client_state, hostid, userid, \
         report_deadline, sent_time, received_time, name, cpu_time, xml_doc_in, xml_doc_out, stderr_out, batch, \
         file_delete_state, validate_state, claimed_credit, granted_credit, opaque, random, app_version_num, appid, \
         exit_status, teamid, priority, mod_time, elapsed_time, flops_estimate, app_version_id, runtime_outlier, \
         size_class, peak_working_set_size, peak_swap_size, peak_disk_usage) \
         SELECT 1, w.id, 4, 0, 0, 0, 0, 0, 0, 0, CONCAT(w.name, '_0'), 0, '', '', '', w.batch, 0, 0, 0, 0, 0, 0, 0, \
         w.appid, 0, 0, 0, NOW(), 0, 0, 0, 0, -1, 0, 0, 0 FROM workunit w \
         WHERE NOT EXISTS (SELECT 1 FROM result x WHERE x.workunitid = w.id)",
    )
    .execute(pool)
    .await
    .unwrap();
}

#[tokio::test]
async fn submit_queues_rounds_and_the_generator_keeps_a_cushion() {
    let p = common::project("ser").await;
    let mut o = small(7);
    o.name = Some("s1".into());
    o.base_seed = Some(42);
    o.cushion = 3;
    let s = submit(&p.project, p.pool(), &o).await.unwrap();
    assert_eq!(s.created, 3, "only a cushion's worth of workunits at once");
    let row = s.series;
    assert_eq!(row.rounds, 7);
    let b = batch::by_id(p.pool(), row.batch_id).await.unwrap().unwrap();
    assert_eq!((b.name.as_str(), b.njobs), ("s1", 7));
    let rounds = store::rounds(p.pool(), row.id).await.unwrap();
    assert_eq!(rounds.len(), 7);
    let seeds: Vec<u64> = rounds.iter().map(|r| r.seed).collect();
    assert_eq!(seeds, params::seeds_from_base(42, 7));
    assert_eq!(
        rounds
            .iter()
            .filter(|r| r.state == store::ROUND_CREATED)
            .count(),
        3
    );

    // A round's workunit: the job file holds the round's job; the dataset is sticky and
    // content-addressed; quorum and batch as asked.
    let wu = workunit::by_name(p.pool(), "s1_1").await.unwrap().unwrap();
    assert_eq!((wu.min_quorum, wu.target_nresults), (2, 2));
    assert_eq!(wu.batch, row.batch_id);
    let infos = xml::raw_elements(&wu.xml_doc, "file_info");
    assert_eq!(xml::text(infos[0], "name").unwrap(), "s1_1_job.json");
    let ds_name = xml::text(infos[1], "name").unwrap();
    assert!(
        ds_name.starts_with("mnist_dataset_") && infos[1].contains("<sticky/>"),
        "{ds_name}"
    );
    assert_eq!(ds_name, row.dataset_file);
    let stager = rboinc_tools::stage::Stager::from_config(&p.config()).unwrap();
    let job = std::fs::read_to_string(stager.path_of("s1_1_job.json").unwrap()).unwrap();
    assert_eq!(job, o.params.job(seeds[0]).canonical_json());

    // Nothing sent yet: the generator adds nothing. Once hosts took them, it tops up.
    let mut c = WorkCreator::new(p.pool(), p.config(), "mnist")
        .await
        .unwrap();
    assert_eq!(generator::waiting(p.pool(), c.app().id).await.unwrap(), 3);
    assert_eq!(
        generator::waiting_up_to(p.pool(), c.app().id, 2)
            .await
            .unwrap(),
        2,
        "counted no further than the cushion"
    );
    assert_eq!(
        generator::top_up(p.pool(), &mut c, 3)
            .await
            .unwrap()
            .workunits
            .len(),
        0
    );
    send_all(p.pool()).await;
    assert_eq!(generator::waiting(p.pool(), c.app().id).await.unwrap(), 0);
    assert_eq!(
        generator::top_up(p.pool(), &mut c, 3)
            .await
            .unwrap()
            .workunits
            .len(),
        3
    );

    let st = progress::rounds(p.pool(), &row).await.unwrap();
    let t = progress::Totals::of(&st);
    assert_eq!((t.queued, t.unsent, t.in_progress), (1, 3, 3), "{t:?}");
    assert!(progress::render(&row, &st, 10.0, &[]).contains("in progress"));

    // Cancel: the queued round is dropped, created workunits are cancelled.
    let done = cancel::cancel(p.pool(), &row).await.unwrap();
    assert_eq!((done.rounds_dropped, done.workunits_cancelled), (1, 6));
    let wu = workunit::by_name(p.pool(), "s1_1").await.unwrap().unwrap();
    assert!(
        wu.error_mask
            .contains(rboinc_core::state::ErrorMask::CANCELLED)
    );
    assert!(progress::Totals::of(&progress::rounds(p.pool(), &row).await.unwrap()).all_finished());
    assert_eq!(
        generator::top_up(p.pool(), &mut c, 100)
            .await
            .unwrap()
            .workunits
            .len(),
        0
    );
}

/// A round whose job file cannot be staged (its name holds other bytes) stays queued; the
/// other rounds of the pass are created, and their files are in place.
#[tokio::test]
async fn a_round_that_cannot_stage_stays_queued() {
    let p = common::project("ser3").await;
    let stager = rboinc_tools::stage::Stager::from_config(&p.config()).unwrap();
    stager
        .stage_bytes("s3_2_job.json", b"not this round's job")
        .unwrap();
    let mut o = small(4);
    o.name = Some("s3".into());
    o.base_seed = Some(7);
    o.cushion = 10;
    let s = submit(&p.project, p.pool(), &o).await.unwrap();
    assert_eq!(s.created, 3);
    let rounds = store::rounds(p.pool(), s.series.id).await.unwrap();
    let states: Vec<i32> = rounds.iter().map(|r| r.state).collect();
    assert_eq!(
        states,
        [
            store::ROUND_CREATED,
            store::ROUND_QUEUED,
            store::ROUND_CREATED,
            store::ROUND_CREATED
        ]
    );
    for r in &rounds {
        if r.state != store::ROUND_CREATED {
            assert_eq!(r.workunit_id.0, 0);
            continue;
        }
        let wu = workunit::by_id(p.pool(), r.workunit_id)
            .await
            .unwrap()
            .unwrap();
        assert_eq!(wu.name, r.wu_name);
        let job =
            std::fs::read_to_string(stager.path_of(&format!("{}_job.json", r.wu_name)).unwrap())
                .unwrap();
        assert_eq!(job, o.params.job(r.seed).canonical_json());
        assert!(
            wu.xml_doc
                .contains(&rboinc_core::md5file::Md5Hex::of_bytes(job.as_bytes()).to_string())
        );
    }
    assert_eq!(common::count(p.pool(), "workunit").await, 3);
}

/// `series submit` creates its first workunits in its own transaction, the generator the
/// later ones: the rows and the XML must be the same either way (only the round's job file
/// differs).
#[tokio::test]
async fn submit_and_the_generator_make_the_same_workunits() {
    let p = common::project("ser5").await;
    let mut o = small(4);
    o.name = Some("s5".into());
    o.base_seed = Some(5);
    o.cushion = 2;
    let s = submit(&p.project, p.pool(), &o).await.unwrap();
    assert_eq!(s.created, 2);
    send_all(p.pool()).await;
    let mut c = WorkCreator::new(p.pool(), p.config(), "mnist")
        .await
        .unwrap();
    let made = generator::top_up(p.pool(), &mut c, 2).await.unwrap();
    assert_eq!(made.workunits.len(), 2);
    let stager = rboinc_tools::stage::Stager::from_config(&p.config()).unwrap();
    let rounds = store::rounds(p.pool(), s.series.id).await.unwrap();
    let job_file = |round: usize| {
        let name = format!("s5_{round}_job.json");
        let bytes = std::fs::read(stager.path_of(&name).unwrap()).unwrap();
        assert_eq!(
            bytes,
            o.params
                .job(rounds[round - 1].seed)
                .canonical_json()
                .into_bytes()
        );
        let md5 = rboinc_core::md5file::Md5Hex::of_bytes(&bytes).to_string();
        (name, md5, bytes.len())
    };
    // Each workunit with its round's job file replaced by a placeholder.
    let mut seen = Vec::new();
    for round in 1..=4 {
        let r = &rounds[round - 1];
        assert_eq!(r.state, store::ROUND_CREATED, "round {round}");
        let mut wu = workunit::by_id(p.pool(), r.workunit_id)
            .await
            .unwrap()
            .unwrap();
        assert_eq!(wu.name, format!("s5_{round}"));
        let (name, md5, nbytes) = job_file(round);
        for (what, with) in [
            (stager.url_of(&name).unwrap(), "URL".to_string()),
            (name, "JOB".to_string()),
            (md5, "MD5".to_string()),
            (
                format!("<nbytes>{nbytes}</nbytes>"),
                "<nbytes>N</nbytes>".to_string(),
            ),
        ] {
            assert!(wu.xml_doc.contains(&what), "{what} in {}", wu.xml_doc);
            wu.xml_doc = wu.xml_doc.replace(&what, &with);
        }
        (wu.id, wu.name, wu.create_time, wu.transition_time) = Default::default();
        seen.push(wu);
    }
    assert_eq!(seen[0], seen[1]);
    assert_eq!(
        seen[0], seen[2],
        "submit's workunit differs from the generator's"
    );
    assert_eq!(seen[2], seen[3]);
}

/// A submission that fails after staging leaves nothing: no batch, series or round row, no
/// workunit, and none of the job files it put in place — but a file that was already there
/// stays.
#[tokio::test]
async fn a_failed_submission_leaves_nothing() {
    let p = common::project("ser6").await;
    let mut o = small(4);
    o.name = Some("s6".into());
    o.base_seed = Some(6);
    o.cushion = 10;
    let stager = rboinc_tools::stage::Stager::from_config(&p.config()).unwrap();
    let seeds = params::seeds_from_base(6, 4);
    let before = o.params.job(seeds[1]).canonical_json();
    stager
        .stage_bytes("s6_2_job.json", before.as_bytes())
        .unwrap();
    // A workunit already named like round 3: its insert fails.
    let mut c = WorkCreator::new(p.pool(), p.config(), "mnist")
        .await
        .unwrap();
    stager.stage_bytes("other_job.json", b"{}").unwrap();
    let dataset = stager.stage_bytes("other_data.bin", b"data").unwrap();
    let spec = rboinc_tools::create_work::WorkSpec {
        name: "s6_3".into(),
        wu_template: generator::WU_TEMPLATE.into(),
        result_template: generator::RESULT_TEMPLATE.into(),
        inputs: vec![
            rboinc_tools::create_work::InputArg::Name("other_job.json".into()),
            rboinc_tools::create_work::InputArg::Staged(dataset),
        ],
        command_line: None,
        desc: Default::default(),
        overrides: Default::default(),
        additional_xml: String::new(),
    };
    let w = c.prepare(&spec).unwrap();
    let mut conn = p.pool().acquire().await.unwrap();
    rboinc_tools::create_work::insert(&mut conn, &[w], 1)
        .await
        .unwrap();
    drop(conn);

    let e = submit(&p.project, p.pool(), &o)
        .await
        .unwrap_err()
        .to_string();
    assert!(e.contains("\"s6_3\" already exists"), "{e}");
    for table in ["rb_series", "rb_series_round", "batch"] {
        assert_eq!(common::count(p.pool(), table).await, 0, "{table}");
    }
    assert_eq!(common::count(p.pool(), "workunit").await, 1);
    for round in [1, 3, 4] {
        let path = stager.lookup_path(&format!("s6_{round}_job.json")).unwrap();
        assert!(!path.exists(), "{} left behind", path.display());
    }
    let kept = stager.lookup_path("s6_2_job.json").unwrap();
    assert_eq!(std::fs::read_to_string(kept).unwrap(), before);

    // Once the name is free, the series can be submitted again.
    sqlx::query("DELETE FROM workunit WHERE name = 's6_3'")
        .execute(p.pool())
        .await
        .unwrap();
    let s = submit(&p.project, p.pool(), &o).await.unwrap();
    assert_eq!(s.created, 4);
}

#[tokio::test]
async fn submit_mistakes_say_what_to_do() {
    let p = common::project("ser2").await;
    let mut o = small(2);
    o.dataset = PathBuf::from("/nonexistent/mnist");
    let e = submit(&p.project, p.pool(), &o)
        .await
        .unwrap_err()
        .to_string();
    assert!(e.contains("not found: give --dataset PATH"), "{e}");
    let mut o = small(2);
    o.params.sample_count = 20_000;
    let e = submit(&p.project, p.pool(), &o)
        .await
        .unwrap_err()
        .to_string();
    assert!(
        e.contains("does not fit the dataset's 10000 training rows"),
        "{e}"
    );
    let mut o = small(2);
    o.params.learning_rate = 0.0;
    let e = submit(&p.project, p.pool(), &o)
        .await
        .unwrap_err()
        .to_string();
    assert!(e.contains("learning_rate"), "{e}");
    let mut o = small(2);
    o.app = "mnsit".into();
    let e = submit(&p.project, p.pool(), &o)
        .await
        .unwrap_err()
        .to_string();
    assert!(e.contains("unknown app \"mnsit\""), "{e}");
    let mut o = small(2);
    o.seeds = Some(vec![1]);
    assert!(
        submit(&p.project, p.pool(), &o)
            .await
            .unwrap_err()
            .to_string()
            .contains("1 seeds given for 2 rounds")
    );
    assert_eq!(common::count(p.pool(), "rb_series").await, 0);
    assert_eq!(common::count(p.pool(), "workunit").await, 0);
}

/// The original experiment through `series local` (in-process) lands in the app's band, and
/// `series report` on assimilated results writes the markdown and both plots.
#[tokio::test]
async fn local_band_and_report() {
    let p = common::project("rep").await;
    let mut o = SubmitOptions::original(mnist_10k(), 5);
    o.name = Some("orig".into());
    o.seeds = Some(vec![714562, 910552, 625989, 962826, 103343]);
    let s = submit(&p.project, p.pool(), &o).await.unwrap();
    assert_eq!(s.created, 5);
    let row = s.series;
    let dir = report::report_dir(&p.project, &row);
    let stager = rboinc_tools::stage::Stager::from_config(&p.config()).unwrap();
    let dataset = stager.path_of(&row.dataset_file).unwrap();
    let rounds: Vec<(i32, u64)> = store::rounds(p.pool(), row.id)
        .await
        .unwrap()
        .iter()
        .map(|r| (r.round, r.seed))
        .collect();
    let runs = local::run(
        &Runner::InProcess,
        &dataset,
        &o.params,
        &rounds,
        &dir,
        |_| {},
    )
    .unwrap();
    let accs: Vec<f64> = runs
        .iter()
        .map(|r| {
            let v: serde_json::Value =
                serde_json::from_slice(&std::fs::read(&r.metrics).unwrap()).unwrap();
            v["val_acc"].as_f64().unwrap()
        })
        .collect();
    let mean = accs.iter().sum::<f64>() / accs.len() as f64;
    assert!(
        (0.85..=0.90).contains(&mean),
        "mean val_acc {mean} ({accs:?})"
    );

    // "Distributed" results: an independent second run of each job filed where the assimilator
    // files them, with a host and canonical result per round; round 3 tampered with.
    let other = tempfile::tempdir().unwrap();
    let runs2 = local::run(
        &Runner::InProcess,
        &dataset,
        &o.params,
        &rounds,
        other.path(),
        |_| {},
    )
    .unwrap();
    let host = rboinc_core::db::host::insert(
        p.pool(),
        &rboinc_core::db::host::HostRow {
            id: rboinc_core::db::HostId(7),
            userid: p.report.submitter_id,
            domain_name: "volunteer-a".into(),
            ..Default::default()
        },
    )
    .await
    .unwrap();
    send_all(p.pool()).await;
    for (r, run) in rounds.iter().zip(&runs2) {
        let wu_name = format!("orig_{}", r.0);
        let target = p.root().join("results/mnist").join(&wu_name);
        std::fs::create_dir_all(&target).unwrap();
        let mut text = std::fs::read_to_string(&run.metrics).unwrap();
        if r.0 == 3 {
            let v: serde_json::Value = serde_json::from_str(&text).unwrap();
            let acc = v["val_acc"].to_string();
            text = text.replacen(&format!("\"val_acc\": {acc}"), "\"val_acc\": 0.5", 1);
        }
        std::fs::write(target.join("metrics.json"), text).unwrap();
        sqlx::query("UPDATE result x JOIN workunit w ON w.id = x.workunitid SET x.hostid = ?, x.server_state = 5, x.outcome = 1, x.validate_state = 1, w.canonical_resultid = x.id, w.assimilate_state = 2 WHERE w.name = ?")
            .bind(host)
            .bind(&wu_name)
            .execute(p.pool())
            .await
            .unwrap();
    }
    let r = report::write(&p.project, p.pool(), &row).await.unwrap();
    assert_eq!(r.identical_counts(), (4, 1, 0));
    let md = std::fs::read_to_string(&r.summary).unwrap();
    assert!(
        md.contains(&format!(
            "| 1 | 714562 | assimilated | host {host} (volunteer-a) |"
        )),
        "{md}"
    );
    assert!(md.contains("- round 1: distributed and local metrics are bit-identical"));
    assert!(
        md.contains("- round 3: distributed and local metrics DIFFER (first difference: val_acc:"),
        "{md}"
    );
    assert!(md.contains("| val_acc | "));
    assert!(md.contains("± "));
    // The pictures: their size, and each series' colour where it belongs.
    use report::plot::{BAND_ALPHA, BLUE, GREEN, ORANGE, RED};
    let band = |c: plotters::style::RGBColor| {
        let mix = |x: u8| (255.0 * (1.0 - BAND_ALPHA) + f64::from(x) * BAND_ALPHA).round() as u8;
        [mix(c.0), mix(c.1), mix(c.2)]
    };
    let curves = Picture::read(&r.curves);
    assert_eq!((curves.width, curves.height), (1400, 560));
    curves.assert_drawn();
    // Both panels have their lines; the bands (which may hide each other) are there.
    for half in [0..700, 700..1400] {
        for (what, rgb) in [
            ("validation line", [BLUE.0, BLUE.1, BLUE.2]),
            ("training line", [ORANGE.0, ORANGE.1, ORANGE.2]),
            ("local crosses", [GREEN.0, GREEN.1, GREEN.2]),
        ] {
            let n = curves.count(half.clone(), rgb);
            assert!(n >= 200, "curves, x {half:?}: {what}: {n} pixels");
        }
    }
    for (what, rgb) in [
        ("validation band", band(BLUE)),
        ("training band", band(ORANGE)),
    ] {
        let n = curves.count(0..1400, rgb);
        assert!(n >= 500, "curves: {what}: {n} pixels");
    }
    let finals = Picture::read(&r.final_val_acc);
    assert_eq!((finals.width, finals.height), (900, 540));
    finals.assert_drawn();
    for (what, rgb, at_least) in [
        ("distributed dots", [BLUE.0, BLUE.1, BLUE.2], 500),
        ("local rings", [GREEN.0, GREEN.1, GREEN.2], 300),
        ("the tampered round's bar", [RED.0, RED.1, RED.2], 30),
    ] {
        let n = finals.count(0..900, rgb);
        assert!(n >= at_least, "final_val_acc: {what}: {n} pixels");
    }
}

/// A decoded PNG, as RGB.
struct Picture {
    width: usize,
    height: usize,
    rgb: Vec<[u8; 3]>,
}

impl Picture {
    fn read(path: &std::path::Path) -> Picture {
        let decoder =
            png::Decoder::new(std::io::BufReader::new(std::fs::File::open(path).unwrap()));
        let mut reader = decoder.read_info().unwrap();
        let mut buf = vec![0; reader.output_buffer_size()];
        let info = reader.next_frame(&mut buf).unwrap();
        let step = info.color_type.samples();
        assert!(step >= 3, "{}: {:?}", path.display(), info.color_type);
        Picture {
            width: info.width as usize,
            height: info.height as usize,
            rgb: buf[..info.buffer_size()]
                .chunks(step)
                .map(|c| [c[0], c[1], c[2]])
                .collect(),
        }
    }

    /// Pixels within 3 of `rgb` in every channel, in the columns `xs`.
    fn count(&self, xs: std::ops::Range<usize>, rgb: [u8; 3]) -> usize {
        (0..self.height)
            .flat_map(|y| xs.clone().map(move |x| (x, y)))
            .filter(|&(x, y)| {
                let p = self.rgb[y * self.width + x];
                p.iter().zip(rgb).all(|(a, b)| a.abs_diff(b) <= 3)
            })
            .count()
    }

    /// Mostly background, but with text, lines and fills in many colours.
    fn assert_drawn(&self) {
        let total = self.rgb.len();
        let white = self.rgb.iter().filter(|p| **p == [255, 255, 255]).count();
        assert!(white < total * 97 / 100, "almost blank");
        assert!(white > total / 2, "mostly background expected");
        let colours: std::collections::HashSet<[u8; 3]> = self.rgb.iter().copied().collect();
        assert!(colours.len() > 20, "{} colours", colours.len());
    }
}
