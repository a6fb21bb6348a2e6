//! The executable served to volunteers: built static by `app/build-static.sh`, free of dynamic
//! dependencies, and giving byte-identical results natively and on an emulated CPU without
//! AVX, AVX2 or FMA (`qemu-x86_64 -cpu Nehalem`).

mod common;

use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::OnceLock;

/// Builds the static binary once per test process (an up-to-date build is a no-op).
fn static_binary() -> &'static Path {
    static BIN: OnceLock<PathBuf> = OnceLock::new();
    BIN.get_or_init(|| {
        let out = Command::new("bash")
            .arg(common::crate_dir().join("build-static.sh"))
            .output()
            .expect("run app/build-static.sh");
        assert!(
            out.status.success(),
            "build-static.sh failed:\n{}",
            String::from_utf8_lossy(&out.stderr)
        );
        let stdout = String::from_utf8(out.stdout).unwrap();
        let path = PathBuf::from(stdout.lines().last().expect("a path").trim());
        assert!(path.is_file(), "{}", path.display());
        path
    })
}

/// What an ELF file asks of the dynamic loader.
#[derive(Debug, PartialEq)]
struct Dynamic {
    interpreter: Option<String>,
    needed: usize,
}

/// Reads the program headers of a little-endian ELF64 file: the `PT_INTERP` path, and the
/// number of `DT_NEEDED` entries in `PT_DYNAMIC`.
fn elf_dynamic(path: &Path) -> Dynamic {
    let b = std::fs::read(path).unwrap();
    assert_eq!(&b[..4], b"\x7fELF", "not ELF");
    assert_eq!(b[4], 2, "not ELF64");
    assert_eq!(b[5], 1, "not little-endian");
    let u16_at = |o: usize| u16::from_le_bytes(b[o..o + 2].try_into().unwrap()) as usize;
    let u32_at = |o: usize| u32::from_le_bytes(b[o..o + 4].try_into().unwrap());
    let u64_at = |o: usize| u64::from_le_bytes(b[o..o + 8].try_into().unwrap()) as usize;
    let (phoff, phentsize, phnum) = (u64_at(0x20), u16_at(0x36), u16_at(0x38));
    let mut dynamic = Dynamic {
        interpreter: None,
        needed: 0,
    };
    for i in 0..phnum {
        let ph = phoff + i * phentsize;
        let (offset, size) = (u64_at(ph + 8), u64_at(ph + 0x20));
        match u32_at(ph) {
            3 => {
                let text = &b[offset..offset + size];
                let text = text.split(|c| *c == 0).next().unwrap();
                dynamic.interpreter = Some(String::from_utf8_lossy(text).into_owned());
            }
            2 => {
                for entry in b[offset..offset + size].chunks_exact(16) {
                    match u64::from_le_bytes(entry[..8].try_into().unwrap()) {
                        0 => break,
                        1 => dynamic.needed += 1,
                        _ => {}
                    }
                }
            }
            _ => {}
        }
    }
    dynamic
}

#[test]
fn served_binary_has_no_dynamic_dependencies() {
    // The reader sees the dependencies of the ordinary (dynamic) test build...
    let dev = elf_dynamic(&common::bin());
    assert!(dev.interpreter.is_some() && dev.needed > 0, "{dev:?}");
    // ...and none in the static one.
    assert_eq!(
        elf_dynamic(static_binary()),
        Dynamic {
            interpreter: None,
            needed: 0
        }
    );
    let version = Command::new(static_binary())
        .arg("--version")
        .output()
        .unwrap();
    assert!(String::from_utf8_lossy(&version.stdout).starts_with("mnist "));
}

fn run(prefix: &[&str], job: &Path, out: &Path, weights: &Path) {
    let (program, args) = match prefix.split_first() {
        Some((p, rest)) => (PathBuf::from(p), rest.to_vec()),
        None => (static_binary().to_path_buf(), Vec::new()),
    };
    let mut cmd = Command::new(program);
    cmd.args(args);
    if !prefix.is_empty() {
        cmd.arg(static_binary());
    }
    let output = cmd
        .arg("--job")
        .arg(job)
        .arg("--dataset")
        .arg(common::mnist_10k())
        .arg("--out")
        .arg(out)
        .arg("--weights-out")
        .arg(weights)
        .output()
        .unwrap_or_else(|e| panic!("cannot run {prefix:?}: {e}"));
    common::assert_ok(&output);
}

/// The static binary natively and under an emulated Nehalem (SSE4.2, no AVX/AVX2/FMA), on a
/// clean job (sparse path) and a noisy one (dense path, libm log/sin/cos), byte for byte; and
/// the ordinary test build agrees too.
#[test]
fn native_and_emulated_nehalem_results_are_byte_identical() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    let jobs = [
        (
            "clean",
            r#"{"seed": 625989, "sample_count": 2000, "train_epochs": 3, "batch_size": 64,
                "learning_rate": 0.05, "export_weights": true}"#,
        ),
        (
            "noisy",
            r#"{"seed": 962826, "sample_count": 300, "train_epochs": 2, "batch_size": 32,
                "learning_rate": 0.1, "noise_std": 0.2, "val_count": 500, "export_weights": true}"#,
        ),
    ];
    for (name, text) in jobs {
        let job = common::write_job(d, &format!("{name}.json"), text);
        let path = |tag: &str, ext: &str| d.join(format!("{name}-{tag}.{ext}"));
        run(&[], &job, &path("native", "json"), &path("native", "npy"));
        run(
            &["qemu-x86_64", "-cpu", "Nehalem"],
            &job,
            &path("nehalem", "json"),
            &path("nehalem", "npy"),
        );
        common::assert_ok(&common::run_standalone(
            &job,
            &common::mnist_10k(),
            &path("dev", "json"),
            &["--weights-out", path("dev", "npy").to_str().unwrap()],
        ));

        let emulated = common::host(&path("nehalem", "json"));
        let features: Vec<&str> = emulated["cpu_features"]
            .as_array()
            .unwrap()
            .iter()
            .map(|f| f.as_str().unwrap())
            .collect();
        assert!(features.contains(&"sse4.2"), "{features:?}");
        assert!(
            !features.iter().any(|f| ["avx", "avx2", "fma"].contains(f)),
            "the emulated CPU must lack AVX/FMA: {features:?}"
        );
        eprintln!(
            "{name}: native cpu_features {}",
            common::host(&path("native", "json"))["cpu_features"]
        );

        let reference = common::bytes_before_host(&path("native", "json"));
        assert_eq!(
            reference,
            common::bytes_before_host(&path("nehalem", "json")),
            "{name}"
        );
        assert_eq!(
            reference,
            common::bytes_before_host(&path("dev", "json")),
            "{name}"
        );
        let weights = std::fs::read(path("native", "npy")).unwrap();
        assert_eq!(
            weights,
            std::fs::read(path("nehalem", "npy")).unwrap(),
            "{name}"
        );
        assert_eq!(
            weights,
            std::fs::read(path("dev", "npy")).unwrap(),
            "{name}"
        );
    }
}
