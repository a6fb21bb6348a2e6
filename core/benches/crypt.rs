//! Throughput of the signing, hashing and hierarchy code that the transitioner (one upload
//! signature per output file), the upload handler (one verification per upload), update_versions
//! and create_work (MD5 of every staged file) run. Prints a table; no assertions.
//!
//! Run: `cargo bench -p rboinc-core --bench crypt`
//! Peer figures for the same operations in C++ come from OpenSSL, which BOINC's `crypt.cpp` calls:
//! `openssl speed -seconds 3 rsa1024 md5` on the same machine.

use std::hint::black_box;
use std::io::Write;
use std::path::Path;
use std::time::{Duration, Instant};

use rboinc_core::crypt::{self, PrivateKey};
use rboinc_core::{hier, md5file};

/// Runs `f` repeatedly for about `budget`, returns operations per second.
fn rate(budget: Duration, mut f: impl FnMut()) -> f64 {
    f(); // warm up
    let start = Instant::now();
    let mut n = 0u64;
    while start.elapsed() < budget {
        f();
        n += 1;
    }
    n as f64 / start.elapsed().as_secs_f64()
}

fn main() {
    let budget = Duration::from_secs(2);
    let fixtures = Path::new(env!("CARGO_MANIFEST_DIR")).join("../fixtures/stock-server/signing");
    let key = PrivateKey::read_file(&fixtures.join("keys/upload_private")).expect("fixture key");
    let public = key.public_key();
    let template =
        std::fs::read_to_string(fixtures.join("upload_auth/processed_without_signatures.xml"))
            .expect("fixture template");
    let signed_text = crypt::upload_signed_text("wu_1_0_r12345_0", 5e6).expect("finite");
    let sig = key.sign_bytes(signed_text.as_bytes()).expect("sign");
    let sig_text = sig.to_text();

    let tmp = tempfile::tempdir().expect("tempdir");
    let big = tmp.path().join("input.bin");
    let mib = 64;
    {
        let mut f = std::fs::File::create(&big).expect("create");
        let block: Vec<u8> = (0..1024 * 1024).map(|i| (i * 7 + 3) as u8).collect();
        for _ in 0..mib {
            f.write_all(&block).expect("write");
        }
    }

    println!("| operation | ours | unit |");
    println!("|---|---:|---|");
    let r = rate(budget, || {
        black_box(crypt::sign_upload(&key, "wu_1_0_r12345_0", 5e6).expect("sign"));
    });
    println!("| sign one upload authorization (RSA-1024 private op) | {r:.0} | signatures/s |");
    let r = rate(budget, || {
        black_box(crypt::add_upload_signatures(&template, &key).expect("sign"));
    });
    println!("| add_upload_signatures, 3-output result template | {r:.0} | results/s |");
    let r = rate(budget, || {
        black_box(
            crypt::verify_upload(&public, "wu_1_0_r12345_0", "5000000", &sig_text).expect("verify"),
        );
    });
    println!("| verify one upload authorization (public op + parse) | {r:.0} | verifications/s |");
    let start = Instant::now();
    let info = md5file::md5_file(&big).expect("md5");
    let secs = start.elapsed().as_secs_f64();
    black_box(info);
    println!(
        "| md5_file, {mib} MiB file (page cache warm) | {:.0} | MiB/s |",
        mib as f64 / secs
    );
    let r = rate(budget, || {
        black_box(hier::dir_hier_path(tmp.path(), "wu_1_0_r12345_0", 1024).expect("path"));
    });
    println!("| dir_hier_path, fanout 1024 | {r:.0} | paths/s |");
    let start = Instant::now();
    let n = 3;
    for _ in 0..n {
        black_box(PrivateKey::generate().expect("generate"));
    }
    println!(
        "| generate a 1024-bit key | {:.0} | ms per key (mean of {n}) |",
        start.elapsed().as_secs_f64() * 1000.0 / f64::from(n)
    );
}
