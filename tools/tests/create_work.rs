//! create_work on a real project: the stock fixture reproduced byte for byte, the shipped mnist
//! templates, template mistakes that write nothing, and the real binary's --stdin mode.

mod common;

use std::io::Write;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};

use rboinc_core::db::{app, workunit};
use rboinc_core::hier;
use rboinc_core::xml;
use rboinc_tools::create_work::{
    self, CreateWorkError, InputArg, JobDesc, JobOverrides, WorkCreator, WorkSpec,
};
use rboinc_tools::stage::Stager;

fn spec(name: &str, app: &str, inputs: Vec<InputArg>) -> WorkSpec {
    WorkSpec {
        name: name.into(),
        wu_template: PathBuf::from(format!("templates/{app}_in")),
        result_template: format!("templates/{app}_out"),
        inputs,
        command_line: Some(String::new()),
        desc: JobDesc::default(),
        overrides: JobOverrides::default(),
        additional_xml: String::new(),
    }
}

fn names(v: &[&str]) -> Vec<InputArg> {
    v.iter().map(|n| InputArg::Name(n.to_string())).collect()
}

/// A project laid out like the stock fixture's (`stockproj`, app `fxapp`, its templates and
/// staged inputs).
async fn stock_like() -> common::TestProject {
    let p = common::project("stockproj").await;
    let fx = common::fixtures().join("stock-server/create_work");
    for t in ["fxapp_in", "fxapp_out"] {
        std::fs::copy(
            fx.join("templates").join(t),
            p.root().join("templates").join(t),
        )
        .unwrap();
    }
    app::insert(
        p.pool(),
        &app::NewApp {
            create_time: 1,
            name: "fxapp",
            user_friendly_name: "Fixture App",
        },
    )
    .await
    .unwrap();
    let stager = Stager::from_config(&p.config()).unwrap();
    for f in [
        "fx_in_0.txt",
        "fx_in_1.txt",
        "fx_in_2.txt",
        "fx_shared_sticky.dat",
    ] {
        let bytes = std::fs::read(fx.join("input_files").join(f)).unwrap();
        stager.stage_bytes(f, &bytes).unwrap();
    }
    p
}

#[tokio::test]
async fn reproduces_the_stock_workunits() {
    let p = stock_like().await;
    let fx = common::fixtures().join("stock-server/create_work");
    let mut c = WorkCreator::new(p.pool(), p.config(), "fxapp")
        .await
        .unwrap();
    let mut prepared = Vec::new();
    for n in 0..3 {
        let s = spec(
            &format!("fx_wu_{n}"),
            "fxapp",
            names(&[&format!("fx_in_{n}.txt"), "fx_shared_sticky.dat"]),
        );
        prepared.push(c.prepare(&s).unwrap());
    }
    let mut conn = p.pool().acquire().await.unwrap();
    let ids = create_work::insert(&mut conn, &prepared, 1_700_000_000)
        .await
        .unwrap();
    assert_eq!(ids.len(), 3);

    // Staged where stock BOINC staged them (staged_paths.tsv).
    let staged = std::fs::read_to_string(fx.join("staged_paths.tsv")).unwrap();
    for line in staged.lines().skip(1).take(4) {
        let cols: Vec<&str> = line.split('\t').collect();
        assert!(p.root().join(cols[1]).is_file(), "{}", cols[1]);
        assert_eq!(
            hier::dir_hier_path(&p.root().join("download"), cols[0], 1024).unwrap(),
            p.root().join(cols[1])
        );
    }

    // Rows and xml_doc as the stock create_work wrote them (workunit.tsv), placeholders aside.
    let tsv = std::fs::read_to_string(fx.join("workunit.tsv")).unwrap();
    let header: Vec<&str> = tsv.lines().next().unwrap().split('\t').collect();
    for (n, (line, id)) in tsv.lines().skip(1).zip(&ids).enumerate() {
        let want: Vec<&str> = line.split('\t').collect();
        let col = |name: &str| want[header.iter().position(|h| *h == name).unwrap()];
        let row = workunit::by_id(p.pool(), *id).await.unwrap().unwrap();
        let doc =
            std::fs::read_to_string(fx.join(format!("workunit_xml_doc/fx_wu_{n}.xml_doc.txt")))
                .unwrap();
        assert_eq!(row.xml_doc, doc, "fx_wu_{n}: xml_doc differs from stock");
        assert_eq!(row.name, col("name"));
        assert_eq!(
            row.rsc_fpops_est,
            col("rsc_fpops_est").parse::<f64>().unwrap()
        );
        assert_eq!(
            row.rsc_fpops_bound,
            col("rsc_fpops_bound").parse::<f64>().unwrap()
        );
        assert_eq!(
            row.rsc_memory_bound,
            col("rsc_memory_bound").parse::<f64>().unwrap()
        );
        assert_eq!(
            row.rsc_disk_bound,
            col("rsc_disk_bound").parse::<f64>().unwrap()
        );
        assert_eq!(row.delay_bound.to_string(), col("delay_bound"));
        assert_eq!(row.min_quorum.to_string(), col("min_quorum"));
        assert_eq!(row.target_nresults.to_string(), col("target_nresults"));
        assert_eq!(row.max_error_results.to_string(), col("max_error_results"));
        assert_eq!(row.max_total_results.to_string(), col("max_total_results"));
        assert_eq!(
            row.max_success_results.to_string(),
            col("max_success_results")
        );
        assert_eq!(row.result_template_file, col("result_template_file"));
        assert_eq!(row.size_class.to_string(), col("size_class"));
        assert_eq!(row.batch.0.to_string(), col("batch"));
        assert_eq!(
            row.transition_time, 1_700_000_000,
            "transition_time = create time"
        );
        assert_eq!(row.create_time, 1_700_000_000);
    }
    // Cached MD5 files are trusted, not rewritten (stage_file_native's integer format stays).
    let md5 = std::fs::read_to_string(p.root().join("download/a6/fx_in_0.txt.md5")).unwrap();
    assert!(md5.starts_with("152cccc2e195969963081cb3a50b3477 "));
}

#[tokio::test]
async fn writes_the_md5_file_like_create_work() {
    let p = stock_like().await;
    let fx = common::fixtures().join("stock-server/create_work");
    // Put a file into the hierarchy by hand, with no .md5 (the fixture's "extra" case).
    let path =
        hier::create_dir_hier_path(&p.root().join("download"), "fx_in_nomd5.txt", 1024).unwrap();
    std::fs::copy(fx.join("input_files/fx_in_nomd5.txt"), &path).unwrap();
    let mut c = WorkCreator::new(p.pool(), p.config(), "fxapp")
        .await
        .unwrap();
    let w = c
        .prepare(&spec(
            "fx_wu_nomd5",
            "fxapp",
            names(&["fx_in_nomd5.txt", "fx_shared_sticky.dat"]),
        ))
        .unwrap();
    let want = std::fs::read_to_string(
        fx.join("extra_md5_written_by_create_work/fx_wu_nomd5.xml_doc.txt"),
    )
    .unwrap();
    assert_eq!(w.xml_doc, want);
    assert_eq!(
        std::fs::read_to_string(format!("{}.md5", path.display())).unwrap(),
        std::fs::read_to_string(fx.join("extra_md5_written_by_create_work/fx_in_nomd5.txt.md5"))
            .unwrap()
    );
}

#[tokio::test]
async fn mnist_templates_stage_inputs_where_hier_says() {
    let p = common::project("mnistcw").await;
    let scratch = tempfile::tempdir().unwrap();
    let job = scratch.path().join("job_1.json");
    std::fs::write(&job, r#"{"seed": 1, "sample_count": 10, "train_epochs": 1, "batch_size": 5, "learning_rate": 0.1}"#).unwrap();
    let ds = scratch.path().join("mnist_dataset_test.bin");
    std::fs::write(&ds, b"not really a dataset").unwrap();
    let mut c = WorkCreator::new(p.pool(), p.config(), "mnist")
        .await
        .unwrap();
    let mut s = spec(
        "mnist_wu_1",
        "mnist",
        vec![InputArg::Path(job.clone()), InputArg::Path(ds.clone())],
    );
    s.command_line = None;
    let w = c.prepare(&s).unwrap();
    let download = p.root().join("download");
    for (name, src) in [("job_1.json", &job), ("mnist_dataset_test.bin", &ds)] {
        let staged = hier::dir_hier_path(&download, name, 1024).unwrap();
        assert_eq!(std::fs::read(&staged).unwrap(), std::fs::read(src).unwrap());
        assert!(Path::new(&format!("{}.md5", staged.display())).is_file());
        let url = hier::dir_hier_url("http://127.0.0.1:8080/mnistcw/download", name, 1024).unwrap();
        assert!(
            w.xml_doc.contains(&format!("<url>{url}</url>")),
            "{}",
            w.xml_doc
        );
    }
    // The dataset is sticky (and kept by the file deleter); open names are the team's.
    let infos = xml::raw_elements(&w.xml_doc, "file_info");
    assert!(!infos[0].contains("<sticky/>"));
    assert!(infos[1].contains("<sticky/>") && infos[1].contains("<no_delete/>"));
    assert!(w.xml_doc.contains("<open_name>job.json</open_name>"));
    assert!(w.xml_doc.contains("<open_name>dataset</open_name>"));
    assert!(
        !w.xml_doc.contains("<command_line>"),
        "no command line from a generator"
    );
    assert_eq!((w.desc.min_quorum, w.desc.target_nresults), (2, 2));
    // Explicit overrides beat the template.
    s.name = "mnist_wu_2".into();
    s.overrides.min_quorum = Some(3);
    s.overrides.target_nresults = Some(3);
    let w2 = c.prepare(&s).unwrap();
    assert_eq!((w2.desc.min_quorum, w2.desc.target_nresults), (3, 3));
}

/// Regression: the original experiment's template produced `.../download/download/...` URLs.
#[tokio::test]
async fn never_download_download() {
    let p = common::project("ddl").await;
    let job = p.root().join("download/job_9.json");
    std::fs::write(&job, "{}").unwrap();
    let ds = p.root().join("download/ds_9.bin");
    std::fs::write(&ds, "x").unwrap();
    let mut c = WorkCreator::new(p.pool(), p.config(), "mnist")
        .await
        .unwrap();
    // Given as paths under download/, and as bare names found at the top of download/.
    for (n, inputs) in [
        (
            "a",
            vec![
                InputArg::from_arg(&job.display().to_string()),
                InputArg::from_arg(&ds.display().to_string()),
            ],
        ),
        (
            "b",
            vec![
                InputArg::from_arg("job_9.json"),
                InputArg::from_arg("ds_9.bin"),
            ],
        ),
    ] {
        let w = c.prepare(&spec(n, "mnist", inputs)).unwrap();
        assert!(!w.xml_doc.contains("download/download"), "{}", w.xml_doc);
        for u in xml::raw_elements(&w.xml_doc, "url") {
            let rest = u
                .strip_prefix("http://127.0.0.1:8080/ddl/download/")
                .unwrap();
            assert_eq!(
                rest.matches('/').count(),
                1,
                "{u}: one fan-out directory, then the name"
            );
        }
    }
    // A name with a path part inside the download tree is refused, not turned into a URL.
    let e = c
        .prepare(&spec(
            "c",
            "mnist",
            vec![
                InputArg::Name("download/job_9.json".into()),
                InputArg::from_arg("ds_9.bin"),
            ],
        ))
        .unwrap_err();
    assert!(e.to_string().contains("'/'"), "{e}");
}

#[tokio::test]
async fn template_mistakes_name_the_line_and_write_nothing() {
    let p = common::project("broken").await;
    let scratch = tempfile::tempdir().unwrap();
    let f = scratch.path().join("in_1.txt");
    std::fs::write(&f, "x").unwrap();
    let t = p.root().join("templates/broken_in");
    let mut c = WorkCreator::new(p.pool(), p.config(), "mnist")
        .await
        .unwrap();
    let cases = [
        (
            "<input_template>\n  <file_info/>\n  <workunit>\n    <file_ref>\n      <file_name>x</file_name>\n    </file_ref>\n  </workunit>\n</input_template>\n",
            "broken_in:4:5: <file_ref> needs an <open_name>",
        ),
        (
            "<input_template>\n  <file_info/>\n  <workunit>\n    <file_ref><open_name>a</open_name></file_ref>\n    <delay_bound>soon</delay_bound>\n  </workunit>\n</input_template>\n",
            "broken_in:5:5: <delay_bound>: \"soon\" is not an integer",
        ),
        (
            "<input_template>\n  <file_info/>\n  <workunit>\n    <file_ref><open_name>a</open_name></file_ref>\n  </workunit>\n</input_tmplate>\n",
            "broken_in:6:1: malformed XML",
        ),
    ];
    for (i, (text, want)) in cases.iter().enumerate() {
        std::fs::write(&t, text).unwrap();
        let mut c2 = WorkCreator::new(p.pool(), p.config(), "mnist")
            .await
            .unwrap();
        let mut s = spec(
            &format!("bad_{i}"),
            "mnist",
            vec![InputArg::Path(f.clone())],
        );
        s.wu_template = PathBuf::from("templates/broken_in");
        let e = c2.prepare(&s).unwrap_err().to_string();
        assert!(e.contains(want), "got {e}\nwant {want}");
    }
    // Wrong number of inputs, unknown app, missing result template, missing input file.
    let e = c
        .prepare(&spec("x", "mnist", vec![InputArg::Path(f.clone())]))
        .unwrap_err();
    assert!(
        matches!(
            e,
            CreateWorkError::InputCount {
                given: 1,
                needed: 2,
                ..
            }
        ),
        "{e}"
    );
    let e = WorkCreator::new(p.pool(), p.config(), "mnsit")
        .await
        .unwrap_err();
    assert_eq!(
        e.to_string(),
        "unknown app \"mnsit\"; the project's apps are: mnist (add it to the database first)"
    );
    let mut s = spec("y", "mnist", names(&["nope_1", "nope_2"]));
    s.result_template = "templates/none_out".into();
    assert!(
        c.prepare(&s)
            .unwrap_err()
            .to_string()
            .contains("result template")
    );
    let e = c
        .prepare(&spec("z", "mnist", names(&["nope_1", "nope_2"])))
        .unwrap_err()
        .to_string();
    assert!(
        e.contains("templates/mnist_in:2: input file 0") && e.contains("is not staged"),
        "{e}"
    );
    assert_eq!(common::count(p.pool(), "workunit").await, 0);
}

#[tokio::test]
async fn stdin_bulk_mode_of_the_real_binary() {
    let p = stock_like().await;
    let run = |input: &str, extra: &[&str]| {
        let mut child = Command::new(env!("CARGO_BIN_EXE_create_work"))
            .args(["--appname", "fxapp", "--wu_name", "bulk", "--stdin"])
            .args(extra)
            .arg("--config_dir")
            .arg(p.root())
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .unwrap();
        child
            .stdin
            .take()
            .unwrap()
            .write_all(input.as_bytes())
            .unwrap();
        child.wait_with_output().unwrap()
    };
    // One bad line: nothing is created.
    let out = run(
        "fx_in_0.txt fx_shared_sticky.dat\nmissing.txt fx_shared_sticky.dat\n",
        &[],
    );
    assert!(!out.status.success());
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(
        err.contains("stdin line 2") && err.contains("nothing was created"),
        "{err}"
    );
    assert_eq!(common::count(p.pool(), "workunit").await, 0);
    // With --continue_on_error the good lines go in.
    let out = run(
        "fx_in_0.txt fx_shared_sticky.dat\nmissing.txt fx_shared_sticky.dat\n",
        &["--continue_on_error"],
    );
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert_eq!(common::count(p.pool(), "workunit").await, 1);
    // Per-line names and command lines; default names are <wu_name>_<line index>.
    let out = run(
        "--wu_name named fx_in_1.txt fx_shared_sticky.dat\nfx_in_2.txt fx_shared_sticky.dat\n",
        &["--wu_template", "templates/fxapp_in", "--priority", "5"],
    );
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert_eq!(
        String::from_utf8_lossy(&out.stdout).trim(),
        "created 2 workunits"
    );
    let named = workunit::by_name(p.pool(), "named").await.unwrap().unwrap();
    assert_eq!(named.priority, 5);
    assert!(
        workunit::by_name(p.pool(), "bulk_1")
            .await
            .unwrap()
            .is_some()
    );
    // Duplicate names are refused whole.
    let out = run("--wu_name named fx_in_1.txt fx_shared_sticky.dat\n", &[]);
    assert!(!out.status.success());
    assert!(String::from_utf8_lossy(&out.stderr).contains("already exists"));
    assert_eq!(common::count(p.pool(), "workunit").await, 3);
    // A bad line after more lines than one inserted chunk: the chunks already inserted in
    // the transaction are rolled back, so still nothing is created.
    let mut input = String::new();
    for i in 0..2100 {
        input.push_str(&format!(
            "--wu_name many_{i} fx_in_0.txt fx_shared_sticky.dat\n"
        ));
    }
    input.push_str("--wu_name many_bad missing.txt fx_shared_sticky.dat\n");
    let out = run(&input, &[]);
    assert!(!out.status.success());
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(
        err.contains("stdin line 2101") && err.contains("nothing was created"),
        "{err}"
    );
    assert_eq!(common::count(p.pool(), "workunit").await, 3);
}

/// Many workunits in one call: several INSERT statements, and every returned id is the row
/// of the workunit at that position.
#[tokio::test]
async fn ids_follow_the_workunits_across_statements() {
    let p = stock_like().await;
    let mut c = WorkCreator::new(p.pool(), p.config(), "fxapp")
        .await
        .unwrap();
    let prepared: Vec<_> = (0..2500)
        .map(|i| {
            c.prepare(&spec(
                &format!("ids_{i}"),
                "fxapp",
                names(&["fx_in_1.txt", "fx_shared_sticky.dat"]),
            ))
            .unwrap()
        })
        .collect();
    assert!(create_work::rows_per_statement(&prepared) < prepared.len());
    let mut tx = p.pool().begin().await.unwrap();
    let ids = create_work::insert(&mut tx, &prepared, 1_700_000_000)
        .await
        .unwrap();
    tx.commit().await.unwrap();
    let rows: Vec<(i64, String)> = sqlx::query_as("SELECT id, name FROM workunit")
        .fetch_all(p.pool())
        .await
        .unwrap();
    let by_id: std::collections::HashMap<i64, String> = rows.into_iter().collect();
    assert_eq!(by_id.len(), 2500);
    for (i, id) in ids.iter().enumerate() {
        assert_eq!(by_id[&id.0], format!("ids_{i}"));
    }
}
