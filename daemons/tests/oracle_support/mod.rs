//! Runs one daemon-oracle scenario against our binaries.
//!
//! The oracle (`fixtures/daemon-oracle/`) recorded what the real C++ daemons leave in the database
//! and on disk for 29 small scenarios. This module replays a scenario exactly as the oracle's README
//! prescribes — fresh migrated database, project directory from the oracle's config template, the
//! scenario's files, `setup.sql` loaded right before the daemon starts, the daemon run from
//! `<project>/tmp_oracle` with the command line of `run.txt` — and then uses the oracle's own
//! normalising dump and comparison tools, so our state is judged by the same code that produced the
//! expected files.

use std::fs;
use std::path::{Path, PathBuf};
use std::process::Command;

use rboinc_core::test_support::TestDb;

#[path = "../built/mod.rs"]
mod built;
pub use built::{binary, workspace_root};

fn oracle_dir() -> PathBuf {
    workspace_root().join("fixtures/daemon-oracle")
}

/// The result template every oracle workunit names (`templates/mnist_out`).
const MNIST_OUT_TEMPLATE: &str = "<output_template>
    <file_info>
        <name><OUTFILE_0/></name>
        <generated_locally/>
        <upload_when_present/>
        <max_nbytes>5000000</max_nbytes>
        <url><UPLOAD_URL/></url>
    </file_info>
    <result>
        <file_ref>
            <file_name><OUTFILE_0/></file_name>
            <open_name>out</open_name>
        </file_ref>
    </result>
</output_template>
";

/// Replays `scenario` (a directory name under `scenarios/`) and panics with the differences if our
/// daemon's final state is not the oracle's.
pub async fn run_scenario(scenario: &str) {
    run_scenario_as(scenario, None).await
}

/// [`run_scenario`] with another program in place of `run.txt`'s first word (`program` is a
/// command line of its own, e.g. `validator --mode metrics`; `run.txt`'s arguments follow): the
/// oracle's expected state, reached by another comparison mode that must decide the same.
pub async fn run_scenario_as(scenario: &str, program: Option<&str>) {
    let sdir = oracle_dir().join("scenarios").join(scenario);
    assert!(sdir.is_dir(), "no scenario {}", sdir.display());
    let db = TestDb::new().await;
    let project = tempfile::tempdir().expect("temp project dir");
    let project = project.path().canonicalize().unwrap();
    let work = tempfile::tempdir().expect("temp output dir");

    write_project(&project, &sdir, &db);

    let mut run_line = fs::read_to_string(sdir.join("run.txt")).unwrap();
    if let Some(program) = program {
        let rest = run_line.trim().split_once(' ').map_or("", |(_, r)| r);
        run_line = format!("{program} {rest}");
    }
    let words = shell_words(run_line.trim());
    let (program, args) = words.split_first().expect("run.txt names a daemon");

    // setup.sql's times are relative to load time: load it right before starting the daemon.
    let setup = fs::read_to_string(sdir.join("setup.sql")).unwrap();
    sqlx::raw_sql(sqlx::AssertSqlSafe(setup))
        .execute(db.pool())
        .await
        .unwrap_or_else(|e| panic!("{scenario}: loading setup.sql failed: {e}"));

    let t0 = rboinc_core::clock::now_i64() as u64;
    let output = Command::new(binary(program))
        .args(args)
        .current_dir(project.join("tmp_oracle"))
        .env_remove("BOINC_PROJECT_DIR")
        .output()
        .unwrap_or_else(|e| panic!("{scenario}: cannot run {program}: {e}"));
    let log = String::from_utf8_lossy(&output.stderr).into_owned();
    if std::env::var_os("TEST_LOG").is_some() {
        eprintln!("--- {program} stderr ---\n{log}");
    }
    let expected_exit: i32 = fs::read_to_string(sdir.join("expected_exit_code.txt"))
        .unwrap()
        .trim()
        .parse()
        .unwrap();
    let exit = output.status.code().unwrap_or(-1);

    // The oracle's own dump + normalisation, then its comparison.
    let out = work.path().join("actual");
    let settings = db.db_settings();
    let mut mysql_opts = format!("-u{} -h{}", settings.user, mysql_cli_host(&settings.host));
    if let Some(port) = settings.port {
        mysql_opts.push_str(&format!(" -P{port}"));
    }
    if !settings.password.is_empty() {
        mysql_opts.push_str(&format!(" -p{}", settings.password.expose()));
    }
    let dump = Command::new("python3")
        .arg(oracle_dir().join("oracle_tools/normalise_dump.py"))
        .arg(db.name())
        .arg(t0.to_string())
        .arg(&sdir)
        .arg(&project)
        .arg(&out)
        .env("MYSQL_OPTS", &mysql_opts)
        .output()
        .expect("python3 runs the oracle's normalise_dump.py");
    assert!(
        dump.status.success(),
        "{scenario}: normalise_dump.py failed: {}",
        String::from_utf8_lossy(&dump.stderr)
    );
    fs::write(out.join("expected_exit_code.txt"), format!("{exit}\n")).unwrap();
    let compare = Command::new("python3")
        .arg(oracle_dir().join("oracle_tools/compare.py"))
        .arg(expected_dir(&sdir, work.path()))
        .arg(&out)
        .output()
        .expect("python3 runs the oracle's compare.py");
    let report = String::from_utf8_lossy(&compare.stdout);
    assert!(
        compare.status.success() && exit == expected_exit,
        "{scenario}: our `{}` differs from the C++ daemon (exit {exit}, expected {expected_exit}):\n{report}\n--- daemon log ---\n{log}",
        run_line.trim()
    );
}

/// The expected files to compare with: the scenario's own, except where the oracle records a
/// C++ regression next to the intended behaviour (`intended_script_args.txt`, scenario 24:
/// explicit `--script` words). Our daemon does what BOINC documents, so there we expect that.
fn expected_dir(sdir: &Path, work: &Path) -> PathBuf {
    let intended = sdir.join("intended_script_args.txt");
    if !intended.exists() {
        return sdir.to_path_buf();
    }
    let dir = work.join("expected");
    fs::create_dir_all(&dir).unwrap();
    for entry in fs::read_dir(sdir).unwrap() {
        let entry = entry.unwrap();
        let name = entry.file_name();
        if name.to_string_lossy().starts_with("expected_") && entry.file_type().unwrap().is_file() {
            fs::copy(entry.path(), dir.join(&name)).unwrap();
        }
    }
    fs::copy(&intended, dir.join("expected_script_args.txt")).unwrap();
    dir
}

/// The mariadb CLI treats `localhost` as "the Unix socket"; our tests talk TCP.
fn mysql_cli_host(host: &str) -> &str {
    if host == "localhost" {
        "127.0.0.1"
    } else {
        host
    }
}

/// Lays out the project directory the oracle's scenarios assume (see its README).
fn write_project(project: &Path, sdir: &Path, db: &TestDb) {
    for d in [
        "upload",
        "download",
        "archives",
        "keys",
        "templates",
        "tmp_oracle",
        "bin",
    ] {
        fs::create_dir_all(project.join(d)).unwrap();
    }
    let template =
        fs::read_to_string(oracle_dir().join("oracle_tools/config.xml.template")).unwrap();
    let extra = fs::read_to_string(sdir.join("config_extra.xml")).unwrap_or_default();
    let settings = db.db_settings();
    let mut config = template
        .replace("@DB@", db.name())
        .replace("@EXTRA@", &extra)
        .replace("PROJECT", project.to_str().unwrap())
        .replace(
            "<db_host>localhost</db_host>",
            &format!(
                "<db_host>{}{}</db_host>",
                settings.host,
                settings.port.map(|p| format!(":{p}")).unwrap_or_default()
            ),
        )
        .replace(
            "<db_user>root</db_user>",
            &format!("<db_user>{}</db_user>", settings.user),
        );
    if !settings.password.is_empty() {
        config = config.replace(
            "<db_passwd></db_passwd>",
            &format!("<db_passwd>{}</db_passwd>", settings.password.expose()),
        );
    }
    fs::write(project.join("config.xml"), config).unwrap();
    fs::write(project.join("templates/mnist_out"), MNIST_OUT_TEMPLATE).unwrap();
    let keys = workspace_root().join("fixtures/stock-server/signing/keys");
    for k in ["upload_private", "upload_public"] {
        fs::copy(keys.join(k), project.join("keys").join(k)).unwrap();
    }
    let files = sdir.join("files");
    if files.is_dir() {
        copy_tree(&files, project);
    }
}

/// Copies a directory tree, keeping permission bits (scripts must stay executable).
fn copy_tree(from: &Path, to: &Path) {
    for entry in fs::read_dir(from).unwrap() {
        let entry = entry.unwrap();
        let target = to.join(entry.file_name());
        if entry.file_type().unwrap().is_dir() {
            fs::create_dir_all(&target).unwrap();
            copy_tree(&entry.path(), &target);
        } else {
            fs::copy(entry.path(), &target).unwrap();
        }
    }
}

/// Splits a command line the way a POSIX shell would for the simple quoting run.txt uses.
fn shell_words(line: &str) -> Vec<String> {
    let mut words = Vec::new();
    let mut current = String::new();
    let mut in_word = false;
    let mut quote: Option<char> = None;
    for c in line.chars() {
        match (quote, c) {
            (Some(q), c) if c == q => quote = None,
            (Some(_), c) => current.push(c),
            (None, '"' | '\'') => {
                quote = Some(c);
                in_word = true;
            }
            (None, c) if c.is_whitespace() => {
                if in_word {
                    words.push(std::mem::take(&mut current));
                    in_word = false;
                }
            }
            (None, c) => {
                current.push(c);
                in_word = true;
            }
        }
    }
    if in_word {
        words.push(current);
    }
    words
}

#[test]
fn shell_words_keeps_quoted_scripts_together() {
    assert_eq!(
        shell_words(r#"script_assimilator --app mnist --script "argv.sh wu_name files2" -d 3"#),
        [
            "script_assimilator",
            "--app",
            "mnist",
            "--script",
            "argv.sh wu_name files2",
            "-d",
            "3"
        ]
    );
}
