//! md5file against the stock fixtures: digests of real files, both `.md5` cache formats the stock
//! tools write, and the cache rules create_work follows (trust a fresh file, drop a stale one,
//! never overwrite).

use std::fs::{self, File};
use std::io::Write;
use std::path::{Path, PathBuf};
use std::time::{Duration, SystemTime};

use rboinc_core::md5file::{self, Md5CacheFormatError, Md5FileError, Md5Hex, Md5Info};

fn fixtures() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../fixtures/stock-server")
}

fn info(md5: &str, nbytes: u64) -> Md5Info {
    Md5Info {
        md5: Md5Hex::parse(md5).unwrap(),
        nbytes,
    }
}

/// Sets a file's modification time to `secs` seconds from now (negative: in the past).
fn set_mtime(path: &Path, secs: i64) {
    let now = SystemTime::now();
    let t = if secs >= 0 {
        now + Duration::from_secs(secs as u64)
    } else {
        now - Duration::from_secs((-secs) as u64)
    };
    File::options()
        .write(true)
        .open(path)
        .unwrap()
        .set_modified(t)
        .unwrap();
}

#[test]
fn digests_of_stock_files() {
    let tsv = fs::read_to_string(fixtures().join("signing/file_signatures.tsv")).unwrap();
    for line in tsv.lines().skip(1) {
        let cols: Vec<&str> = line.split('\t').collect();
        let got = md5file::md5_file(&fixtures().join("signing").join(cols[0])).unwrap();
        assert_eq!(got, info(cols[2], cols[1].parse().unwrap()), "{}", cols[0]);
    }
}

#[test]
fn both_stock_cache_formats_parse_and_ours_matches_create_work() {
    // staged_paths.tsv: stage_file_native writes an integer size; create_work writes %.15e.
    let tsv = fs::read_to_string(fixtures().join("create_work/staged_paths.tsv")).unwrap();
    let mut rows = 0;
    for line in tsv.lines().skip(1) {
        let cols: Vec<&str> = line.split('\t').collect();
        let content = cols[3].replace("\\n", "\n");
        let input = fixtures().join("create_work/input_files").join(cols[0]);
        let actual = md5file::md5_file(&input).unwrap();
        assert_eq!(
            md5file::parse_cache(&content).unwrap(),
            actual,
            "{}",
            cols[0]
        );
        rows += 1;
    }
    assert_eq!(rows, 6);

    let stock = fs::read_to_string(
        fixtures().join("create_work/extra_md5_written_by_create_work/fx_in_nomd5.txt.md5"),
    )
    .unwrap();
    assert_eq!(
        stock,
        "0eb18caa9e15a8a7b9a832a3ea5e472e 2.900000000000000e+01\n"
    );
    let input =
        md5file::md5_file(&fixtures().join("create_work/input_files/fx_in_nomd5.txt")).unwrap();
    assert_eq!(md5file::format_cache(&input), stock);
    assert_eq!(
        md5file::format_cache(&info("905a2f0c7c85c70d43b2ee4ff5bbeb65", 102400)),
        "905a2f0c7c85c70d43b2ee4ff5bbeb65 1.024000000000000e+05\n"
    );
}

#[test]
fn malformed_cache_files_are_refused_with_reasons() {
    let md5 = "0eb18caa9e15a8a7b9a832a3ea5e472e";
    let cases = [
        (format!("{md5} 29"), Md5CacheFormatError::NotOneLine),
        (format!("{md5} 29\n\n"), Md5CacheFormatError::NotOneLine),
        (format!("{md5} 29\r\n"), Md5CacheFormatError::NotOneLine),
        (
            format!("{md5}\n"),
            Md5CacheFormatError::BadFields(md5.to_owned()),
        ),
        (
            format!("{md5} 29 extra\n"),
            Md5CacheFormatError::BadFields(format!("{md5} 29 extra")),
        ),
        (
            "0EB18CAA9E15A8A7B9A832A3EA5E472E 29\n".to_owned(),
            Md5CacheFormatError::BadMd5("0EB18CAA9E15A8A7B9A832A3EA5E472E".to_owned()),
        ),
        (
            format!("{md5} -1\n"),
            Md5CacheFormatError::BadNbytes("-1".to_owned()),
        ),
        (
            format!("{md5} 2.95e+01\n"),
            Md5CacheFormatError::BadNbytes("2.95e+01".to_owned()),
        ),
        (
            format!("{md5} lots\n"),
            Md5CacheFormatError::BadNbytes("lots".to_owned()),
        ),
    ];
    for (text, want) in cases {
        assert_eq!(md5file::parse_cache(&text), Err(want), "{text:?}");
    }
}

#[test]
fn cache_write_read_and_refresh() {
    let tmp = tempfile::tempdir().unwrap();
    let data = tmp.path().join("in.txt");
    fs::write(&data, b"staged input\n").unwrap();
    let real = md5file::md5_file(&data).unwrap();
    let cache = md5file::cache_path(&data);
    assert_eq!(cache, tmp.path().join("in.txt.md5"));

    assert_eq!(md5file::read_cache(&data).unwrap(), None);
    // Without the cache option nothing is written.
    assert_eq!(md5file::md5_cached(&data, false).unwrap(), real);
    assert!(!cache.exists());
    // With it, the digest is computed and cached in create_work's format.
    assert_eq!(md5file::md5_cached(&data, true).unwrap(), real);
    assert_eq!(
        fs::read_to_string(&cache).unwrap(),
        md5file::format_cache(&real)
    );
    assert_eq!(md5file::read_cache(&data).unwrap(), Some(real.clone()));

    // A fresh cache file is trusted as it stands (that is its purpose), and never overwritten.
    let planted = info("00000000000000000000000000000000", 7);
    fs::write(&cache, "00000000000000000000000000000000 7\n").unwrap();
    assert_eq!(md5file::md5_cached(&data, true).unwrap(), planted);
    assert!(!md5file::write_cache(&data, &real).unwrap());
    assert_eq!(
        fs::read_to_string(&cache).unwrap(),
        "00000000000000000000000000000000 7\n"
    );

    // Once the data file is newer than its cache, the cache is dropped and rebuilt.
    set_mtime(&cache, -60);
    assert_eq!(md5file::read_cache(&data).unwrap(), None);
    assert_eq!(md5file::md5_cached(&data, true).unwrap(), real);
    assert_eq!(
        fs::read_to_string(&cache).unwrap(),
        md5file::format_cache(&real)
    );
}

#[test]
fn bad_cache_file_is_reported_and_then_worked_around() {
    let tmp = tempfile::tempdir().unwrap();
    let data = tmp.path().join("in.txt");
    fs::write(&data, b"abc").unwrap();
    let cache = md5file::cache_path(&data);
    fs::write(&cache, "garbage\n").unwrap();
    let err = md5file::read_cache(&data).unwrap_err();
    assert_eq!(
        err.to_string(),
        format!(
            "bad MD5 cache file {}; remove it and stage the file again",
            cache.display()
        )
    );
    assert!(matches!(
        err,
        Md5FileError::BadCache {
            source: Md5CacheFormatError::BadFields(_),
            ..
        }
    ));
    // create_work's path hashes the file instead and leaves the bad file for the operator.
    assert_eq!(
        md5file::md5_cached(&data, true).unwrap(),
        md5file::md5_file(&data).unwrap()
    );
    assert_eq!(fs::read_to_string(&cache).unwrap(), "garbage\n");
}

#[test]
fn missing_files_name_the_path() {
    let tmp = tempfile::tempdir().unwrap();
    let missing = tmp.path().join("missing.dat");
    let err = md5file::md5_file(&missing).unwrap_err();
    assert_eq!(
        err.to_string(),
        format!("cannot read {}", missing.display())
    );
    assert!(md5file::md5_cached(&missing, true).is_err());
    assert!(!md5file::cache_path(&missing).exists());
}

#[test]
fn gzip_variant_skips_the_header_but_counts_it() {
    let tmp = tempfile::tempdir().unwrap();
    let payload = b"deflate stream bytes stand-in";
    let mut file = File::create(tmp.path().join("out.gz")).unwrap();
    // ID1 ID2 CM FLG MTIME(4) XFL OS: the header fields that differ between otherwise equal files.
    file.write_all(&[0x1f, 0x8b, 0x08, 0x00, 0x12, 0x34, 0x56, 0x78, 0x00, 0x03])
        .unwrap();
    file.write_all(payload).unwrap();
    drop(file);
    let got = md5file::md5_gzip_file(&tmp.path().join("out.gz")).unwrap();
    assert_eq!(got.md5, Md5Hex::of_bytes(payload));
    assert_eq!(got.nbytes, 10 + payload.len() as u64);

    fs::write(tmp.path().join("plain"), b"not gzip at all, long enough").unwrap();
    assert!(matches!(
        md5file::md5_gzip_file(&tmp.path().join("plain")),
        Err(Md5FileError::NotGzip { .. })
    ));
    fs::write(tmp.path().join("short"), [0x1f, 0x8b, 0x08]).unwrap();
    assert!(matches!(
        md5file::md5_gzip_file(&tmp.path().join("short")),
        Err(Md5FileError::NotGzip { .. })
    ));
}
