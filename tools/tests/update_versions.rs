//! update_versions on a real project and database: signing, staging, rows, immutability.

mod common;

use rboinc_core::crypt::{PublicKey, Signature};
use rboinc_core::db::{app, app_version};
use rboinc_core::md5file;
use rboinc_core::xml;
use rboinc_tools::update_versions::{self, UpdateError};

fn fake_app(dir: &std::path::Path, name: &str, body: &str) -> std::path::PathBuf {
    let p = dir.join(name);
    std::fs::write(&p, body).unwrap();
    p
}

#[tokio::test]
async fn registers_signs_and_refuses_to_change_files() {
    let p = common::project("uv").await;
    let root = p.root().to_path_buf();
    let scratch = tempfile::tempdir().unwrap();
    let bin13 = fake_app(scratch.path(), "mnist13", "#!/bin/sh\necho 1.3\n");
    let app_dir = root.join("apps");

    let dir =
        update_versions::add_app_binary(&app_dir, "mnist", "1.3", "x86_64-pc-linux-gnu", &bin13)
            .unwrap();
    assert_eq!(dir, app_dir.join("mnist/1.3/x86_64-pc-linux-gnu"));
    // Laying out the same file again is harmless; other content under the same version is not.
    update_versions::add_app_binary(&app_dir, "mnist", "1.3", "x86_64-pc-linux-gnu", &bin13)
        .unwrap();
    let other = fake_app(scratch.path(), "other", "#!/bin/sh\necho other\n");
    assert!(
        update_versions::add_app_binary(&app_dir, "mnist", "1.3", "x86_64-pc-linux-gnu", &other)
            .is_err()
    );

    let report = update_versions::run(&p.project, p.pool()).await.unwrap();
    assert_eq!(report.registered.len(), 1, "{report:?}");
    let r = &report.registered[0];
    assert_eq!((r.app.as_str(), r.version_num), ("mnist", 103));
    assert_eq!(r.files, ["mnist_1.3_x86_64-pc-linux-gnu"]);
    assert!(root.join("reread_db").exists(), "reread_db touched");

    // The row, its XML, the staged file and a signature that verifies with the public key.
    let row = app_version::by_id(p.pool(), r.id).await.unwrap().unwrap();
    let mnist = app::by_name(p.pool(), "mnist").await.unwrap().unwrap();
    assert_eq!(row.appid, mnist.id);
    let staged = root.join("download/mnist_1.3_x86_64-pc-linux-gnu");
    assert_eq!(
        std::fs::read(&staged).unwrap(),
        std::fs::read(&bin13).unwrap()
    );
    let doc = &row.xml_doc;
    assert!(
        doc.contains("<url>http://127.0.0.1:8080/uv/download/mnist_1.3_x86_64-pc-linux-gnu</url>"),
        "{doc}"
    );
    assert!(doc.contains("<executable/>"));
    assert!(doc.contains("<main_program/>"));
    assert!(doc.contains("<api_version>7.20.0</api_version>"));
    assert!(doc.contains("<version_num>103</version_num>"));
    let info = md5file::md5_file(&staged).unwrap();
    assert_eq!(xml::text(doc, "md5_cksum").unwrap(), info.md5.as_str());
    assert_eq!(xml::parse::<u64>(doc, "nbytes").unwrap(), info.nbytes);
    let sig = Signature::from_text(xml::raw_element(doc, "file_signature").unwrap()).unwrap();
    let key = PublicKey::read_file(&root.join("keys/code_sign_public")).unwrap();
    key.verify_md5(&info.md5, &sig).unwrap();
    key.verify_file(&staged, &sig).unwrap();

    // Nothing new: nothing registered.
    let again = update_versions::run(&p.project, p.pool()).await.unwrap();
    assert!(again.registered.is_empty());
    assert!(
        again
            .skipped
            .iter()
            .any(|s| s.contains("already registered")),
        "{:?}",
        again.skipped
    );

    // 1.4 gets its own file name and row.
    let bin14 = fake_app(scratch.path(), "mnist14", "#!/bin/sh\necho 1.4\n");
    update_versions::add_app_binary(&app_dir, "mnist", "1.4", "x86_64-pc-linux-gnu", &bin14)
        .unwrap();
    let r14 = update_versions::run(&p.project, p.pool()).await.unwrap();
    assert_eq!(r14.registered[0].files, ["mnist_1.4_x86_64-pc-linux-gnu"]);
    assert_eq!(
        app_version::for_app(p.pool(), mnist.id)
            .await
            .unwrap()
            .len(),
        2
    );

    // A version whose file would replace a staged file with other bytes: nothing happens.
    let v = app_dir.join("mnist/1.5/x86_64-pc-linux-gnu");
    std::fs::create_dir_all(&v).unwrap();
    std::fs::write(v.join("mnist_1.4_x86_64-pc-linux-gnu"), "changed").unwrap();
    let e = update_versions::run(&p.project, p.pool())
        .await
        .unwrap_err();
    assert!(matches!(e, UpdateError::Immutable { .. }), "{e}");
    assert!(e.to_string().contains("immutable"));
    assert_eq!(
        app_version::for_app(p.pool(), mnist.id)
            .await
            .unwrap()
            .len(),
        2
    );
    assert_eq!(
        std::fs::read(root.join("download/mnist_1.4_x86_64-pc-linux-gnu")).unwrap(),
        std::fs::read(&bin14).unwrap()
    );
}

#[tokio::test]
async fn offline_signatures_and_missing_main_program() {
    let p = common::project("uv2").await;
    let root = p.root().to_path_buf();
    // Two files, a version.xml naming the main program, and a .sig made offline.
    let v = root.join("apps/mnist/2.0/x86_64-pc-linux-gnu");
    std::fs::create_dir_all(&v).unwrap();
    std::fs::write(v.join("mnist_2.0_main"), "main").unwrap();
    std::fs::write(v.join("mnist_2.0_lib"), "lib").unwrap();
    let key =
        rboinc_core::crypt::PrivateKey::read_file(&root.join("keys/code_sign_private")).unwrap();
    std::fs::write(
        v.join("mnist_2.0_lib.sig"),
        key.sign_bytes(b"lib").unwrap().to_text(),
    )
    .unwrap();
    // No main program marked: refused with a message, nothing inserted.
    let e = update_versions::run(&p.project, p.pool())
        .await
        .unwrap_err();
    assert!(e.to_string().contains("main_program"), "{e}");
    assert_eq!(common::count(p.pool(), "app_version").await, 0);
    std::fs::write(
        v.join("version.xml"),
        "<version>\n<file><physical_name>mnist_2.0_main</physical_name><main_program/></file>\n\
         <file><physical_name>mnist_2.0_lib</physical_name><logical_name>lib.so</logical_name><copy_file/></file>\n\
         <api_version>7.20.0</api_version>\n</version>\n",
    )
    .unwrap();
    // Without the private key, the unsigned file cannot be registered.
    std::fs::rename(
        root.join("keys/code_sign_private"),
        root.join("keys/offline"),
    )
    .unwrap();
    let e = update_versions::run(&p.project, p.pool())
        .await
        .unwrap_err();
    assert!(
        matches!(e, UpdateError::NoSignature { ref name, .. } if name == "mnist_2.0_main"),
        "{e}"
    );
    std::fs::write(
        v.join("mnist_2.0_main.sig"),
        key.sign_bytes(b"main").unwrap().to_text(),
    )
    .unwrap();
    let r = update_versions::run(&p.project, p.pool()).await.unwrap();
    assert_eq!(r.registered[0].files, ["mnist_2.0_main", "mnist_2.0_lib"]);
    let doc = app_version::by_id(p.pool(), r.registered[0].id)
        .await
        .unwrap()
        .unwrap()
        .xml_doc;
    assert!(
        doc.contains("<open_name>lib.so</open_name>\n        <copy_file/>"),
        "{doc}"
    );
}

#[tokio::test]
async fn an_app_or_platform_missing_from_the_database_comes_from_project_xml_or_is_refused() {
    let p = common::project("uvx").await;
    let root = p.root().to_path_buf();
    let scratch = tempfile::tempdir().unwrap();
    let bin = fake_app(scratch.path(), "other10", "#!/bin/sh\necho other\n");
    let app_dir = root.join("apps");
    update_versions::add_app_binary(&app_dir, "other", "1.0", "x86_64-pc-linux-gnu", &bin).unwrap();
    let versions_before = common::count(p.pool(), "app_version").await;

    // Not a row, not in project.xml: refused by name, nothing written.
    let e = update_versions::run(&p.project, p.pool())
        .await
        .unwrap_err();
    assert!(
        matches!(&e, UpdateError::NotListed { kind: "app", names } if names == &["other"]),
        "{e}"
    );
    assert!(e.to_string().contains("bin/xadd"), "names the fix: {e}");
    assert!(app::by_name(p.pool(), "other").await.unwrap().is_none());
    assert_eq!(
        common::count(p.pool(), "app_version").await,
        versions_before
    );
    assert!(!root.join("download/other_1.0_x86_64-pc-linux-gnu").exists());

    // Listed in project.xml: the row is made as xadd would, then the version registered.
    let xml = std::fs::read_to_string(root.join("project.xml")).unwrap();
    std::fs::write(
        root.join("project.xml"),
        xml.replace(
            "</boinc>",
            "    <app>\n        <name>other</name>\n        <user_friendly_name>Other app</user_friendly_name>\n    </app>\n</boinc>",
        ),
    )
    .unwrap();
    let report = update_versions::run(&p.project, p.pool()).await.unwrap();
    assert_eq!(
        report
            .added_from_project_xml
            .iter()
            .map(ToString::to_string)
            .collect::<Vec<_>>(),
        ["added app other"]
    );
    assert_eq!(report.registered.len(), 1, "{report:?}");
    let row = app::by_name(p.pool(), "other").await.unwrap().unwrap();
    assert_eq!(row.user_friendly_name, "Other app");

    // A platform nobody lists is refused the same way.
    update_versions::add_app_binary(&app_dir, "other", "1.1", "sparc-sun-solaris", &bin).unwrap();
    let e = update_versions::run(&p.project, p.pool())
        .await
        .unwrap_err();
    assert!(
        matches!(&e, UpdateError::NotListed { kind: "platform", names } if names == &["sparc-sun-solaris"]),
        "{e}"
    );
}

#[tokio::test]
async fn xadd_adds_the_stock_project_xml_and_updates_names() {
    use rboinc_tools::xadd::{self, Change, ProjectXml};
    let p = common::project("xadd").await;
    let stock = std::fs::read_to_string(
        common::fixtures().join("stock-server/make_project/test_app_variant/project.xml"),
    )
    .unwrap();
    let doc = ProjectXml::parse(&stock).unwrap();
    let first = xadd::apply(p.pool(), &doc, 1).await.unwrap();
    let added = first.iter().filter(|o| o.change == Change::Added).count();
    // Every listed platform but the one make_project made, and example_app.
    assert_eq!(added, doc.platforms.len() - 1 + 1, "{first:?}");
    assert!(
        app::by_name(p.pool(), "example_app")
            .await
            .unwrap()
            .is_some()
    );
    let again = xadd::apply(p.pool(), &doc, 2).await.unwrap();
    assert!(
        again.iter().all(|o| o.change == Change::Unchanged),
        "{again:?}"
    );
    let renamed =
        ProjectXml::parse(&stock.replace("Example Application", "Example App 2")).unwrap();
    let third = xadd::apply(p.pool(), &renamed, 3).await.unwrap();
    assert_eq!(
        third
            .iter()
            .filter(|o| o.change == Change::Updated("user_friendly_name"))
            .count(),
        1
    );
    let row = app::by_name(p.pool(), "example_app")
        .await
        .unwrap()
        .unwrap();
    assert_eq!(row.user_friendly_name, "Example App 2");
}

#[tokio::test]
async fn the_command_exits_non_zero_naming_xadd_when_an_app_is_listed_nowhere() {
    let p = common::project("uvcli").await;
    let scratch = tempfile::tempdir().unwrap();
    let bin = fake_app(scratch.path(), "nolist", "#!/bin/sh\necho x\n");
    let out = std::process::Command::new(env!("CARGO_BIN_EXE_update_versions"))
        .arg("--project-dir")
        .arg(p.root())
        .arg("--add-app-binary")
        .arg(&bin)
        .args(["--app", "nolist", "--version", "1.0"])
        .output()
        .unwrap();
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(1), "{stderr}");
    assert!(
        stderr.contains("app nolist") && stderr.contains("bin/xadd"),
        "{stderr}"
    );
    assert!(
        !String::from_utf8_lossy(&out.stdout).contains("no new app versions"),
        "no silent success"
    );
}
