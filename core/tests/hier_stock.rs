//! hier against the stock `dir_hier_path()` / `dir_hier_url()` (all 140 rows of
//! `fixtures/stock-server/dir_hier/`), the stock `tools/dir_hier_path` program and create_work's
//! staging, plus property tests that no name can lead a path out of its root.

use std::fs;
use std::os::unix::ffi::OsStrExt;
use std::path::{Component, Path, PathBuf};

use proptest::prelude::*;
use rboinc_core::hier::{self, HierError, NameProblem};
use rboinc_core::md5file::Md5Hex;

fn fixtures() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../fixtures/stock-server")
}

/// Rows of a TSV file as raw byte fields (names may not be UTF-8), header skipped.
fn tsv_rows(path: &Path) -> Vec<Vec<Vec<u8>>> {
    let bytes = fs::read(path).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
    bytes
        .split(|&b| b == b'\n')
        .skip(1)
        .filter(|line| !line.is_empty())
        .map(|line| line.split(|&b| b == b'\t').map(<[u8]>::to_vec).collect())
        .collect()
}

fn utf8(b: &[u8]) -> &str {
    std::str::from_utf8(b).unwrap()
}

#[test]
fn all_140_stock_rows_match() {
    let rows = tsv_rows(&fixtures().join("dir_hier/dir_hier.tsv"));
    assert_eq!(rows.len(), 140);
    let root = Path::new("/var/boinc/project/download");
    let url_base = "http://127.0.0.1:8080/project/download";
    for row in &rows {
        let [raw_name, name_hex, md5, fanout, rel_dir, path, url] = &row[..] else {
            panic!("bad row {row:?}");
        };
        let name = hex::decode(name_hex).unwrap();
        assert_eq!(&name, raw_name, "filename and filename_hex disagree");
        let fanout: u32 = utf8(fanout).parse().unwrap();
        let label = format!("{} @ {fanout}", String::from_utf8_lossy(&name));

        assert_eq!(Md5Hex::of_bytes(&name).as_str(), utf8(md5), "{label}");
        assert_eq!(
            hier::hash_dir(&name, fanout).unwrap_or_default(),
            utf8(rel_dir),
            "{label}"
        );
        let ours = hier::dir_hier_path(root, &name[..], fanout).unwrap();
        assert_eq!(ours.as_os_str().as_bytes(), &path[..], "{label}");
        let ours = hier::dir_hier_url_bytes(url_base.as_bytes(), &name, fanout).unwrap();
        assert_eq!(ours, *url, "{label}");
        if let Ok(name) = std::str::from_utf8(&name) {
            assert_eq!(
                hier::dir_hier_url(url_base, name, fanout)
                    .unwrap()
                    .as_bytes(),
                &url[..],
                "{label}"
            );
        }
    }
}

#[test]
fn stock_dir_hier_path_tool_output_matches() {
    let rows = tsv_rows(&fixtures().join("dir_hier/tool_crosscheck.tsv"));
    assert_eq!(rows.len(), 140);
    for row in &rows {
        let [fanout, name, stdout] = &row[..] else {
            panic!("bad row {row:?}")
        };
        let fanout: u32 = utf8(fanout).parse().unwrap();
        let ours = hier::dir_hier_path(Path::new("DOWNLOAD_DIR"), &name[..], fanout).unwrap();
        assert_eq!(
            ours.as_os_str().as_bytes(),
            &stdout[..],
            "{}",
            String::from_utf8_lossy(name)
        );
    }
}

#[test]
fn create_work_staging_locations_match() {
    // `uldl_dir_fanout` 1024 in the project the create_work fixtures come from.
    let rows = tsv_rows(&fixtures().join("create_work/staged_paths.tsv"));
    assert_eq!(rows.len(), 6);
    for row in &rows {
        let (name, rel_path) = (utf8(&row[0]), utf8(&row[1]));
        assert_eq!(
            hier::dir_hier_path(Path::new("download"), name, 1024).unwrap(),
            Path::new(rel_path)
        );
    }
}

#[test]
fn create_makes_only_the_fanout_directory() {
    let tmp = tempfile::tempdir().unwrap();
    let root = tmp.path().join("download");
    fs::create_dir(&root).unwrap();
    let path = hier::create_dir_hier_path(&root, "input.txt", 1024).unwrap();
    assert_eq!(path, root.join("347/input.txt"));
    assert!(root.join("347").is_dir());
    assert!(
        !path.exists(),
        "only the directory is created, not the file"
    );
    // Again: the directory already exists, which is fine.
    assert_eq!(
        hier::create_dir_hier_path(&root, "input.txt", 1024).unwrap(),
        path
    );
    // Fanout 0 creates nothing.
    assert_eq!(
        hier::create_dir_hier_path(&root, "x", 0).unwrap(),
        root.join("x")
    );
    assert_eq!(fs::read_dir(&root).unwrap().count(), 1);

    // A missing root is an error naming the directory, and nothing is created.
    let missing = tmp.path().join("no_such_root");
    let err = hier::create_dir_hier_path(&missing, "input.txt", 1024).unwrap_err();
    assert!(
        matches!(&err, HierError::CreateDir { path, .. } if *path == missing.join("347")),
        "{err:?}"
    );
    assert!(!missing.exists());

    // A file where the fan-out directory should be is an error too.
    fs::write(root.join("61"), b"").unwrap();
    assert!(matches!(
        hier::create_dir_hier_path(&root, "x", 1024),
        Err(HierError::CreateDir { .. })
    ));

    // A refused name creates nothing.
    let before = fs::read_dir(&root).unwrap().count();
    let err = hier::create_dir_hier_path(&root, "../../etc/passwd", 1024).unwrap_err();
    assert_eq!(
        err.to_string(),
        "refusing file name \"../../etc/passwd\": it contains \"..\""
    );
    assert_eq!(fs::read_dir(&root).unwrap().count(), before);
}

#[test]
fn url_and_path_refuse_the_same_names() {
    for bad in ["", ".", "..", "a/b", "/abs", "a\0b", "x..y", "tab\there"] {
        assert!(
            hier::dir_hier_url("http://h/d", bad, 1024).is_err(),
            "{bad:?}"
        );
        assert!(
            hier::dir_hier_path(Path::new("/r"), bad, 1024).is_err(),
            "{bad:?}"
        );
        assert!(
            hier::dir_hier_path(Path::new("/r"), bad, 0).is_err(),
            "{bad:?}"
        );
    }
    match hier::check_file_name(b"a\0b") {
        Err(HierError::BadName {
            problem: NameProblem::Nul,
            ..
        }) => {}
        other => panic!("{other:?}"),
    }
}

proptest! {
    #[test]
    fn hash_dir_is_always_within_the_fanout(name in proptest::collection::vec(any::<u8>(), 0..64), fanout in 1u32..) {
        let dir = hier::hash_dir(&name, fanout).unwrap();
        let value = u32::from_str_radix(&dir, 16).unwrap();
        prop_assert!(value < fanout);
        prop_assert_eq!(format!("{value:x}"), dir, "lowercase hex, no padding");
    }

    #[test]
    fn paths_never_leave_the_root(
        name in proptest::collection::vec(any::<u8>(), 0..300),
        fanout in prop_oneof![Just(0u32), 1u32..5000, any::<u32>()],
    ) {
        let root = Path::new("/srv/project/upload");
        match hier::dir_hier_path(root, &name[..], fanout) {
            Ok(path) => {
                let rest: Vec<Component> = path.strip_prefix(root).unwrap().components().collect();
                let expected_len = if fanout == 0 { 1 } else { 2 };
                prop_assert_eq!(rest.len(), expected_len);
                prop_assert!(rest.iter().all(|c| matches!(c, Component::Normal(_))));
                prop_assert_eq!(rest.last().unwrap().as_os_str().as_bytes(), &name[..]);
                // The name bytes reach the file system unchanged: nothing was normalised away.
                prop_assert!(!name.is_empty() && !name.contains(&b'/') && !name.contains(&0));
                prop_assert!(!name.windows(2).any(|w| w == b".."));
            }
            Err(HierError::BadName { .. }) => {
                let harmless = !name.is_empty()
                    && name.len() <= hier::MAX_NAME_LEN
                    && name != b"."
                    && !name.windows(2).any(|w| w == b"..")
                    && !name.iter().any(|b| *b == b'/' || b.is_ascii_control());
                prop_assert!(!harmless, "refused a harmless name {:?}", name);
            }
            Err(e) => prop_assert!(false, "unexpected error {e}"),
        }
    }

    #[test]
    fn path_tricks_are_always_refused(
        prefix in "[a-z]{0,5}",
        trick in prop_oneof![Just("/"), Just(".."), Just("\0"), Just("../"), Just("/.."), Just("\n")],
        suffix in "[a-z]{0,5}",
    ) {
        let name = format!("{prefix}{trick}{suffix}");
        prop_assert!(hier::dir_hier_path(Path::new("/r"), name.as_str(), 1024).is_err());
        prop_assert!(hier::dir_hier_url("http://h/d", &name, 1024).is_err());
    }
}
