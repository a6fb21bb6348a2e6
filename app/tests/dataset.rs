//! The loaders on real files: the shipped IDX digits, NumPy-written `.npz` files, bundles, and
//! damaged copies of each.

mod common;

use std::io::Write;
use std::process::Command;

use mnist_app::dataset::{self, DatasetError, Format, PIXELS, bundle};

#[test]
fn shipped_dataset_loads_with_the_documented_counts() {
    let ds = dataset::load(&common::mnist_10k()).unwrap();
    assert_eq!(ds.format, Format::IdxDir);
    assert_eq!(ds.train.len(), 10_000);
    assert!(ds.test.is_none());
    let mut counts = [0usize; 10];
    for &l in &ds.train.labels {
        counts[usize::from(l)] += 1;
    }
    // The class counts stated in app/data/mnist-10k/README.md.
    assert_eq!(
        counts,
        [1001, 1127, 991, 1032, 980, 863, 1014, 1070, 944, 978]
    );
    assert_eq!(ds.sha256.len(), 64);
}

#[test]
fn numpy_npz_files_match_the_idx_rows() {
    let idx = dataset::load(&common::mnist_10k()).unwrap();
    let rows = |a: usize, b: usize| {
        (
            idx.train.images[a * PIXELS..b * PIXELS].to_vec(),
            idx.train.labels[a..b].to_vec(),
        )
    };

    // np.savez_compressed, (n, 28, 28) images, int64 train labels, with a test split.
    let npz = dataset::load(&common::data("mnist-tiny.npz")).unwrap();
    assert_eq!(npz.format, Format::Npz);
    assert_eq!(
        (npz.train.images.clone(), npz.train.labels.clone()),
        rows(0, 100)
    );
    let test = npz.test.as_ref().unwrap();
    assert_eq!((test.images.clone(), test.labels.clone()), rows(100, 120));

    // np.savez (stored), (n, 784) images, no test split.
    let stored = dataset::load(&common::data("mnist-tiny-stored-notest.npz")).unwrap();
    assert_eq!(
        (stored.train.images.clone(), stored.train.labels.clone()),
        rows(0, 30)
    );
    assert!(stored.test.is_none());
}

#[test]
fn bundle_of_a_directory_and_of_an_npz_round_trip() {
    let dir = tempfile::tempdir().unwrap();
    let out = dir.path().join("mnist10k.bundle");
    let info = bundle::write(&common::mnist_10k(), &out).unwrap();
    let idx = dataset::load(&common::mnist_10k()).unwrap();
    assert_eq!(info.dataset_sha256, idx.sha256);
    assert_eq!((info.train_rows, info.test_rows), (10_000, 0));
    let back = dataset::load(&out).unwrap();
    assert_eq!(back.format, Format::Bundle);
    assert_eq!(back.train, idx.train);
    assert_eq!(back.sha256, idx.sha256);
    // Compressed like the shipped files, not inflated to the raw 7.8 MB.
    assert!(info.nbytes < 2_500_000, "{}", info.nbytes);

    let npz_out = dir.path().join("tiny.bundle");
    let info = bundle::write(&common::data("mnist-tiny.npz"), &npz_out).unwrap();
    let npz = dataset::load(&common::data("mnist-tiny.npz")).unwrap();
    assert_eq!(info.dataset_sha256, npz.sha256);
    assert_eq!((info.train_rows, info.test_rows), (100, 20));
    let back = dataset::load(&npz_out).unwrap();
    assert_eq!(back.test, npz.test);
}

#[test]
fn pack_dataset_command_writes_the_same_bundle() {
    let dir = tempfile::tempdir().unwrap();
    let out = dir.path().join("ds.bundle");
    let run = Command::new(common::bin())
        .args(["pack-dataset", "--dataset"])
        .arg(common::mnist_10k())
        .arg("--out")
        .arg(&out)
        .output()
        .unwrap();
    common::assert_ok(&run);
    let stdout = String::from_utf8_lossy(&run.stdout);
    let idx = dataset::load(&common::mnist_10k()).unwrap();
    assert!(stdout.contains(&idx.sha256), "{stdout}");
    assert!(stdout.contains("10000 train rows"), "{stdout}");
    let library = bundle::encode(&idx).unwrap();
    assert_eq!(
        std::fs::read(&out).unwrap(),
        library,
        "CLI and library agree byte for byte"
    );

    let bad = Command::new(common::bin())
        .args(["pack-dataset", "--dataset"])
        .arg(dir.path().join("missing"))
        .arg("--out")
        .arg(dir.path().join("x.bundle"))
        .output()
        .unwrap();
    assert_eq!(bad.status.code(), Some(4));
    assert!(!dir.path().join("x.bundle").exists(), "no partial output");
}

/// Copies the shipped dataset into a temp dir, letting `damage` alter one file.
fn damaged_copy(name: &str, damage: impl Fn(Vec<u8>) -> Vec<u8>) -> tempfile::TempDir {
    let dir = tempfile::tempdir().unwrap();
    for entry in std::fs::read_dir(common::mnist_10k()).unwrap() {
        let entry = entry.unwrap();
        let file = entry.file_name().into_string().unwrap();
        if !file.ends_with(".gz") {
            continue;
        }
        let bytes = std::fs::read(entry.path()).unwrap();
        let bytes = if file == name { damage(bytes) } else { bytes };
        std::fs::write(dir.path().join(file), bytes).unwrap();
    }
    dir
}

#[test]
fn truncated_gzip_file_is_reported_with_its_name() {
    let dir = damaged_copy("train-images-idx3-ubyte.gz", |mut b| {
        b.truncate(b.len() / 2);
        b
    });
    let e = dataset::load(dir.path()).unwrap_err();
    assert!(
        matches!(
            e,
            DatasetError::Gzip { .. } | DatasetError::Truncated { .. }
        ),
        "{e}"
    );
    assert!(e.to_string().contains("train-images-idx3-ubyte.gz"), "{e}");
}

#[test]
fn corrupt_gzip_file_is_reported() {
    let dir = damaged_copy("train-labels-idx1-ubyte.gz", |mut b| {
        let n = b.len();
        for x in &mut b[n / 2..n / 2 + 16] {
            *x ^= 0x5a;
        }
        b
    });
    let e = dataset::load(dir.path()).unwrap_err();
    assert!(e.to_string().contains("train-labels-idx1-ubyte.gz"), "{e}");
}

#[test]
fn mismatched_images_and_labels_are_reported() {
    // Labels for 9,999 rows next to 10,000 images.
    let dir = damaged_copy("train-labels-idx1-ubyte.gz", |b| {
        let mut raw = Vec::new();
        std::io::Read::read_to_end(&mut flate2::read::GzDecoder::new(&b[..]), &mut raw).unwrap();
        raw[4..8].copy_from_slice(&9999u32.to_be_bytes());
        raw.pop();
        let mut e = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::fast());
        e.write_all(&raw).unwrap();
        e.finish().unwrap()
    });
    let e = dataset::load(dir.path()).unwrap_err();
    assert!(
        matches!(
            e,
            DatasetError::CountMismatch {
                images: 10_000,
                labels: 9_999,
                ..
            }
        ),
        "{e}"
    );
}

#[test]
fn damaged_npz_and_bundle_are_reported() {
    let dir = tempfile::tempdir().unwrap();
    let npz = std::fs::read(common::data("mnist-tiny.npz")).unwrap();
    let cut = dir.path().join("cut.npz");
    std::fs::write(&cut, &npz[..npz.len() - 200]).unwrap();
    let e = dataset::load(&cut).unwrap_err();
    assert!(matches!(e, DatasetError::Npz { .. }), "{e}");
    assert!(e.to_string().contains("cut.npz"), "{e}");

    let out = dir.path().join("b");
    bundle::write(&common::data("mnist-tiny.npz"), &out).unwrap();
    let bytes = std::fs::read(&out).unwrap();
    std::fs::write(&out, &bytes[..bytes.len() - 1000]).unwrap();
    let e = dataset::load(&out).unwrap_err();
    assert!(e.to_string().contains("checksum mismatch"), "{e}");
}

#[test]
fn npz_with_wrong_arrays_is_reported() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("bad.npz");
    let write = |entries: &[(&str, Vec<u8>)]| {
        let mut zip = zip::ZipWriter::new(std::fs::File::create(&path).unwrap());
        for (name, data) in entries {
            zip.start_file(*name, zip::write::SimpleFileOptions::default())
                .unwrap();
            zip.write_all(data).unwrap();
        }
        zip.finish().unwrap();
    };
    let npy = |descr: &str, shape: &str, data: &[u8]| {
        let header =
            format!("{{'descr': '{descr}', 'fortran_order': False, 'shape': {shape}, }}\n");
        let mut v = b"\x93NUMPY\x01\x00".to_vec();
        v.extend((header.len() as u16).to_le_bytes());
        v.extend(header.as_bytes());
        v.extend(data);
        v
    };
    let images = npy("|u1", "(2, 28, 28)", &[0; 2 * PIXELS]);

    write(&[("x_train.npy", images.clone())]);
    let e = dataset::load(&path).unwrap_err();
    assert!(e.to_string().contains("y_train.npy"), "{e}");

    write(&[
        ("x_train.npy", images.clone()),
        ("y_train.npy", npy("|u1", "(3,)", &[1, 2, 3])),
    ]);
    let e = dataset::load(&path).unwrap_err();
    assert!(
        matches!(
            e,
            DatasetError::CountMismatch {
                images: 2,
                labels: 3,
                ..
            }
        ),
        "{e}"
    );

    write(&[
        ("x_train.npy", images.clone()),
        ("y_train.npy", npy("<f8", "(2,)", &[0; 16])),
    ]);
    let e = dataset::load(&path).unwrap_err();
    assert!(e.to_string().contains("dtype <f8"), "{e}");

    write(&[
        ("x_train.npy", images.clone()),
        ("y_train.npy", npy("<i2", "(2,)", &[1, 0, 12, 0])),
    ]);
    let e = dataset::load(&path).unwrap_err();
    assert!(e.to_string().contains("label 12 at row 1"), "{e}");

    write(&[
        ("x_train.npy", npy("|u1", "(2, 28, 28)", &[0; PIXELS])),
        ("y_train.npy", npy("|u1", "(2,)", &[1, 2])),
    ]);
    let e = dataset::load(&path).unwrap_err();
    assert!(matches!(e, DatasetError::Truncated { .. }), "{e}");

    write(&[
        ("x_train.npy", npy("|u1", "(2, 27, 29)", &[0; 2 * 27 * 29])),
        ("y_train.npy", npy("|u1", "(2,)", &[1, 2])),
    ]);
    let e = dataset::load(&path).unwrap_err();
    assert!(matches!(e, DatasetError::WrongShape { .. }), "{e}");

    write(&[
        ("x_train.npy", images),
        (
            "y_train.npy",
            npy(
                "<i8",
                "(2,)",
                &[3, 0, 0, 0, 0, 0, 0, 0, 9, 0, 0, 0, 0, 0, 0, 0],
            ),
        ),
    ]);
    let ds = dataset::load(&path).unwrap();
    assert_eq!(ds.train.labels, vec![3, 9]);
}
