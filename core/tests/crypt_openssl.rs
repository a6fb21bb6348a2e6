//! crypt against an independent implementation: the `openssl` command line tool. Our signatures
//! must RSA-recover (PKCS#1 v1.5 type 1, no digest) to the MD5 hex text under OpenSSL, OpenSSL's
//! raw signatures must verify with us and equal ours bit for bit, and our key parsing must agree
//! with OpenSSL's view of the stock keys. A mistake in the scheme cannot hide on both sides.
//!
//! Needs `openssl` on PATH (the CI script installs the Debian package).

use std::fs;
use std::io::Write;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};

use rboinc_core::crypt::{PrivateKey, PublicKey, Signature};
use rboinc_core::md5file::Md5Hex;
use rsa::pkcs1::{DecodeRsaPrivateKey, EncodeRsaPrivateKey, EncodeRsaPublicKey};
use rsa::pkcs8::LineEnding;

fn signing_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../fixtures/stock-server/signing")
}

/// Runs `openssl ARGS` with `stdin`, returns stdout; panics with stderr on failure.
fn openssl(args: &[&str], stdin: &[u8]) -> Vec<u8> {
    let mut child = Command::new("openssl")
        .args(args)
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("the `openssl` command is needed for this test (Debian package `openssl`)");
    child.stdin.take().unwrap().write_all(stdin).unwrap();
    let out = child.wait_with_output().unwrap();
    assert!(
        out.status.success(),
        "openssl {args:?} failed: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    out.stdout
}

/// What OpenSSL recovers from `sig` with the public key in `pem_path`.
fn openssl_recover(pem_path: &Path, sig: &Signature) -> Vec<u8> {
    let pem = pem_path.to_str().unwrap();
    openssl(
        &[
            "pkeyutl",
            "-verifyrecover",
            "-pubin",
            "-inkey",
            pem,
            "-pkeyopt",
            "rsa_padding_mode:pkcs1",
        ],
        sig.as_bytes(),
    )
}

/// OpenSSL's raw PKCS#1 v1.5 signature (no digest, no DigestInfo) over `message`.
fn openssl_sign(pem_path: &Path, message: &[u8]) -> Signature {
    let pem = pem_path.to_str().unwrap();
    Signature::from_bytes(openssl(
        &[
            "pkeyutl",
            "-sign",
            "-inkey",
            pem,
            "-pkeyopt",
            "rsa_padding_mode:pkcs1",
        ],
        message,
    ))
}

#[test]
fn openssl_recovers_md5_hex_from_our_signatures_with_stock_keys() {
    let dir = signing_dir();
    let key = PrivateKey::read_file(&dir.join("keys/code_sign_private")).unwrap();
    for file in [
        "empty.dat",
        "one_byte.dat",
        "text.txt",
        "random_100k.bin",
        "crlf.txt",
    ] {
        let path = dir.join("files").join(file);
        let sig = key.sign_file(&path).unwrap();
        let md5 = Md5Hex::of_bytes(&fs::read(&path).unwrap());
        let recovered = openssl_recover(&dir.join("keys_pem/code_sign_public.pem"), &sig);
        assert_eq!(recovered, md5.as_bytes(), "{file}");
    }
    let upload = PrivateKey::read_file(&dir.join("keys/upload_private")).unwrap();
    let signed = fs::read(dir.join("upload_auth/out1.signed_string.txt")).unwrap();
    let sig = upload.sign_bytes(&signed).unwrap();
    let recovered = openssl_recover(&dir.join("keys_pem/upload_public.pem"), &sig);
    assert_eq!(recovered, Md5Hex::of_bytes(&signed).as_bytes());
}

#[test]
fn our_view_of_stock_keys_equals_openssls() {
    // keys_pem/ holds the stock keys converted by BOINC's own crypt_prog. DER is canonical, so if
    // we read every field of the BOINC hex files correctly, our PKCS#1 PEM is identical.
    let dir = signing_dir();
    for name in ["code_sign", "upload", "code_sign_new"] {
        let key = PrivateKey::read_file(&dir.join(format!("keys/{name}_private"))).unwrap();
        let public = PublicKey::read_file(&dir.join(format!("keys/{name}_public"))).unwrap();
        let want_priv =
            fs::read_to_string(dir.join(format!("keys_pem/{name}_private.pem"))).unwrap();
        let want_pub = fs::read_to_string(dir.join(format!("keys_pem/{name}_public.pem"))).unwrap();
        assert_eq!(
            key.rsa().to_pkcs1_pem(LineEnding::LF).unwrap().as_str(),
            want_priv,
            "{name}"
        );
        assert_eq!(
            public.rsa().to_pkcs1_pem(LineEnding::LF).unwrap(),
            want_pub,
            "{name}"
        );
    }
}

#[test]
fn generated_key_signs_compatibly_with_openssl_both_ways() {
    let tmp = tempfile::tempdir().unwrap();
    let key = PrivateKey::generate().unwrap();
    let priv_pem = tmp.path().join("priv.pem");
    let pub_pem = tmp.path().join("pub.pem");
    fs::write(
        &priv_pem,
        key.rsa().to_pkcs1_pem(LineEnding::LF).unwrap().as_bytes(),
    )
    .unwrap();
    fs::write(
        &pub_pem,
        key.public_key().rsa().to_pkcs1_pem(LineEnding::LF).unwrap(),
    )
    .unwrap();

    // OpenSSL checks the key's internal consistency (primes, CRT values).
    let check = openssl(
        &["rsa", "-check", "-noout", "-in", priv_pem.to_str().unwrap()],
        b"",
    );
    assert_eq!(String::from_utf8_lossy(&check).trim(), "RSA key ok");
    let text = String::from_utf8(openssl(
        &["rsa", "-text", "-noout", "-in", priv_pem.to_str().unwrap()],
        b"",
    ))
    .unwrap();
    assert!(text.contains("Private-Key: (1024 bit, 2 primes)"), "{text}");
    assert!(text.contains("publicExponent: 65537 (0x10001)"), "{text}");

    // We sign, OpenSSL recovers the MD5 hex.
    let data = b"<name>wu_1_0_r12345_0</name><max_nbytes>5000000</max_nbytes>";
    let ours = key.sign_bytes(data).unwrap();
    let md5 = Md5Hex::of_bytes(data);
    assert_eq!(openssl_recover(&pub_pem, &ours), md5.as_bytes());

    // OpenSSL signs the MD5 hex; we verify it, and the bytes are ours exactly (the scheme is
    // deterministic).
    let theirs = openssl_sign(&priv_pem, md5.as_bytes());
    key.public_key().verify_bytes(data, &theirs).unwrap();
    assert_eq!(theirs, ours);

    // A tampered OpenSSL signature fails with us too.
    let mut bytes = theirs.as_bytes().to_vec();
    bytes[64] ^= 1;
    assert!(
        key.public_key()
            .verify_bytes(data, &Signature::from_bytes(bytes))
            .is_err()
    );
}

#[test]
fn openssl_generated_key_works_in_boinc_format() {
    // A key OpenSSL made, converted into BOINC's format (as `crypt_prog -convkey o2b` would),
    // written, read back and used.
    let tmp = tempfile::tempdir().unwrap();
    let pem = String::from_utf8(openssl(&["genrsa", "-traditional", "1024"], b"")).unwrap();
    let pem_path = tmp.path().join("k.pem");
    fs::write(&pem_path, &pem).unwrap();
    let rsa_key = rsa::RsaPrivateKey::from_pkcs1_pem(&pem).unwrap();
    let key = PrivateKey::from_rsa(rsa_key).unwrap();
    let boinc_path = tmp.path().join("code_sign_private");
    key.write_file(&boinc_path).unwrap();
    let back = PrivateKey::read_file(&boinc_path).unwrap();
    assert_eq!(
        back.rsa().to_pkcs1_pem(LineEnding::LF).unwrap().as_str(),
        pem
    );

    let file = signing_dir().join("files/random_100k.bin");
    let ours = back.sign_file(&file).unwrap();
    let md5 = Md5Hex::of_bytes(&fs::read(&file).unwrap());
    assert_eq!(openssl_sign(&pem_path, md5.as_bytes()), ours);
}
