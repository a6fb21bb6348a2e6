//! crypt against what the stock BOINC 8.3.0 tools produced (`fixtures/stock-server/signing/` and
//! the signed create_work variant): keys round-trip byte for byte and every stock signature is
//! reproduced byte for byte.

use std::fs;
use std::path::{Path, PathBuf};

use rboinc_core::crypt::{
    self, CodeSignKeys, CodeSignReply, CryptError, KeyFormatError, PrivateKey, PublicKey,
    Signature, TemplateError,
};
use rboinc_core::md5file;

fn signing_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../fixtures/stock-server/signing")
}

fn fixture(rel: &str) -> PathBuf {
    signing_dir().join(rel)
}

fn read(rel: &str) -> String {
    let path = fixture(rel);
    fs::read_to_string(&path).unwrap_or_else(|e| panic!("{}: {e}", path.display()))
}

fn private(name: &str) -> PrivateKey {
    PrivateKey::read_file(&fixture(&format!("keys/{name}"))).unwrap()
}

fn public(name: &str) -> PublicKey {
    PublicKey::read_file(&fixture(&format!("keys/{name}"))).unwrap()
}

/// The error and its causes on one line, the way a binary would log it.
fn chain(e: &dyn std::error::Error) -> String {
    let mut out = e.to_string();
    let mut source = e.source();
    while let Some(s) = source {
        out.push_str(": ");
        out.push_str(&s.to_string());
        source = s.source();
    }
    out
}

const PAIRS: [(&str, &str); 3] = [
    ("code_sign_private", "code_sign_public"),
    ("upload_private", "upload_public"),
    ("code_sign_new_private", "code_sign_new_public"),
];

#[test]
fn stock_key_files_round_trip_byte_identical() {
    for (priv_name, pub_name) in PAIRS {
        let priv_text = read(&format!("keys/{priv_name}"));
        let pub_text = read(&format!("keys/{pub_name}"));
        let key = PrivateKey::from_text(&priv_text).unwrap();
        let public = PublicKey::from_text(&pub_text).unwrap();
        assert_eq!(key.to_text().as_str(), priv_text, "{priv_name}");
        assert_eq!(public.to_text(), pub_text, "{pub_name}");
        assert_eq!(key.public_key(), public, "{priv_name} vs {pub_name}");
        assert_eq!(key.bits(), 1024);
        assert_eq!(public.signature_len(), 128);
    }
}

#[test]
fn written_key_files_are_byte_identical_and_never_overwritten() {
    let dir = tempfile::tempdir().unwrap();
    let key = private("upload_private");
    let priv_path = dir.path().join("upload_private");
    let pub_path = dir.path().join("upload_public");
    key.write_file(&priv_path).unwrap();
    key.public_key().write_file(&pub_path).unwrap();
    assert_eq!(
        fs::read_to_string(&priv_path).unwrap(),
        read("keys/upload_private")
    );
    assert_eq!(
        fs::read_to_string(&pub_path).unwrap(),
        read("keys/upload_public")
    );

    use std::os::unix::fs::PermissionsExt;
    let mode = |p: &Path| fs::metadata(p).unwrap().permissions().mode() & 0o777;
    assert_eq!(
        mode(&priv_path),
        0o600,
        "private key must not be world-readable"
    );
    assert_eq!(mode(&pub_path) & 0o600, 0o600);

    // A second write refuses, and the existing key is untouched.
    let other = private("code_sign_private");
    let err = other.write_file(&priv_path).unwrap_err();
    assert!(matches!(err, CryptError::Exists { .. }), "{err:?}");
    assert_eq!(
        fs::read_to_string(&priv_path).unwrap(),
        read("keys/upload_private")
    );
}

#[test]
fn private_key_debug_shows_no_secret() {
    let text = read("keys/upload_private");
    let key = PrivateKey::from_text(&text).unwrap();
    let debug = format!("{key:?}");
    assert!(
        debug.starts_with("PrivateKey { bits: 1024, modulus: \"a8ba858c84e7…\""),
        "{debug}"
    );
    // Lines 10.. of the file hold d, p, q and the CRT values; none may show up, even in part.
    for line in text.lines().skip(9).filter(|l| l.len() == 64) {
        for part in line.as_bytes().chunks(8) {
            let part = std::str::from_utf8(part).unwrap();
            assert!(!debug.contains(part), "{debug} leaks {part}");
        }
    }
}

#[test]
fn malformed_key_files_give_clear_errors() {
    let public_text = read("keys/upload_public");
    let private_text = read("keys/upload_private");
    let crlf = public_text.replace('\n', "\r\n");
    let no_dot = public_text.replace(".\n", "");
    let short = {
        let mut lines: Vec<&str> = public_text.lines().collect();
        lines.remove(3);
        lines.join("\n") + "\n"
    };
    let bad_hex = public_text.replacen("a8ba858c", "a8ba85xc", 1);
    let odd = public_text.replacen("a8ba858c", "a8ba858", 1);
    let wrong_bits = public_text.replacen("1024\n", "1023\n", 1);
    let trailing = format!("{public_text}junk\n");
    let bits_word = public_text.replacen("1024\n", "1024 bits\n", 1);

    let cases: Vec<(&str, String, &str)> = vec![
        ("empty", String::new(), "the key text is empty"),
        (
            "crlf",
            crlf,
            "line 1 ends in CR: the file has CRLF line endings; BOINC needs plain LF",
        ),
        (
            "no terminator",
            no_dot,
            "no line holding only \".\" ends the hex data",
        ),
        (
            "short",
            short,
            "a public key holds 256 bytes, this one has 224",
        ),
        (
            "bad hex",
            bad_hex,
            "line 2, column 7: 'x' is not a hex digit",
        ),
        ("odd", odd, "line 2 has an odd number of hex digits"),
        (
            "bits",
            wrong_bits,
            "line 1 says 1023 bits but the modulus has 1024 bits",
        ),
        (
            "trailing",
            trailing,
            "line 11: unexpected text after the \".\" that ends the hex data",
        ),
        (
            "bits word",
            bits_word,
            "line 1 must be the key size in decimal digits, found \"1024 bits\"",
        ),
        (
            "too big",
            public_text.replacen("1024\n", "2048\n", 1),
            "key size 2048 bits is outside 1..=1024",
        ),
        (
            "private as public",
            private_text.clone(),
            "a public key holds 256 bytes, this one has 704",
        ),
    ];
    for (what, text, want) in cases {
        let err = PublicKey::from_text(&text).unwrap_err();
        assert_eq!(err.to_string(), want, "{what}");
    }
    // CRLF on later lines (only the first line fixed) is still caught, with its line number.
    let late_crlf = public_text
        .replacen("\n", "\r\n", 3)
        .replacen("1024\r\n", "1024\n", 1);
    assert_eq!(
        PublicKey::from_text(&late_crlf).unwrap_err().to_string(),
        "line 2 ends in CR: the file has CRLF line endings; BOINC needs plain LF"
    );
    assert_eq!(
        PrivateKey::from_text(&public_text).unwrap_err().to_string(),
        "a private key holds 704 bytes, this one has 256"
    );

    // Flip the last digit of the coefficient (line 22): the layout is fine, the numbers are not.
    let mut lines: Vec<String> = private_text.lines().map(str::to_owned).collect();
    let last = lines[22].pop().unwrap();
    lines[22].push(if last == '0' { '1' } else { '0' });
    let tampered = lines.join("\n") + "\n";
    assert_eq!(
        PrivateKey::from_text(&tampered).unwrap_err(),
        KeyFormatError::CrtMismatch {
            field: "q^-1 mod p"
        }
    );
    // A wrong private exponent is not a key at all.
    let tampered_d =
        private_text.replacen(&private_text.lines().nth(9).unwrap()[..8], "00000001", 1);
    assert!(matches!(
        PrivateKey::from_text(&tampered_d),
        Err(KeyFormatError::Invalid(_))
    ));

    // Errors from files name the file.
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("upload_public");
    fs::write(&path, public_text.replace('\n', "\r\n")).unwrap();
    let err = PublicKey::read_file(&path).unwrap_err();
    assert_eq!(
        chain(&err),
        format!(
            "bad key file {}: line 1 ends in CR: the file has CRLF line endings; BOINC needs plain LF",
            path.display()
        )
    );
    let missing = dir.path().join("nope");
    assert!(
        chain(&PublicKey::read_file(&missing).unwrap_err())
            .starts_with(&format!("cannot read {}", missing.display()))
    );
}

#[test]
fn stock_file_signatures_reproduced_byte_for_byte() {
    let key = private("code_sign_private");
    let public = public("code_sign_public");
    let tsv = read("file_signatures.tsv");
    let mut rows = 0;
    for line in tsv.lines().skip(1) {
        let cols: Vec<&str> = line.split('\t').collect();
        let (file, size, md5, sig_file) = (cols[0], cols[1], cols[2], cols[4]);
        let path = fixture(file);
        let info = md5file::md5_file(&path).unwrap();
        assert_eq!(info.md5.as_str(), md5, "{file}");
        assert_eq!(info.nbytes.to_string(), size, "{file}");

        let expected = read(sig_file);
        let ours = key.sign_file(&path).unwrap();
        assert_eq!(ours.to_text(), expected, "{file}");
        assert_eq!(ours.to_text().len(), 262);
        assert_eq!(key.sign_bytes(&fs::read(&path).unwrap()).unwrap(), ours);

        let stock = Signature::from_text(&expected).unwrap();
        public.verify_file(&path, &stock).unwrap();
        rows += 1;
    }
    assert_eq!(rows, 5);
}

#[test]
fn wrong_file_wrong_key_and_truncated_signatures_are_rejected() {
    let public = public("code_sign_public");
    let text_sig = Signature::from_text(&read("file_signatures/text.txt.sig")).unwrap();
    let err = public
        .verify_file(&fixture("files/crlf.txt"), &text_sig)
        .unwrap_err();
    assert!(matches!(err, CryptError::BadSignature), "{err:?}");
    let err = self::public("upload_public")
        .verify_file(&fixture("files/text.txt"), &text_sig)
        .unwrap_err();
    assert!(matches!(err, CryptError::BadSignature), "{err:?}");

    let truncated = Signature::from_bytes(text_sig.as_bytes()[1..].to_vec());
    let err = public
        .verify_file(&fixture("files/text.txt"), &truncated)
        .unwrap_err();
    assert_eq!(
        err.to_string(),
        "signature is 127 bytes, but the key makes 128-byte signatures"
    );

    let err = public
        .verify_file(&fixture("files/no_such_file"), &text_sig)
        .unwrap_err();
    assert!(chain(&err).contains("no_such_file"), "{}", chain(&err));
}

/// Name and template `max_nbytes` text of the three outputs in `result_template_3out.xml`.
const OUTPUTS: [(&str, &str); 3] = [
    ("fx_sig_wu_0_r1234567890_0", "5000000"),
    ("fx_sig_wu_0_r1234567890_1", "1e9"),
    ("fx_sig_wu_0_r1234567890_2", "12345.6"),
];

#[test]
fn stock_upload_signed_strings_and_signatures_reproduced() {
    let key = private("upload_private");
    for (n, (name, max_text)) in OUTPUTS.iter().enumerate() {
        let signed = read(&format!("upload_auth/out{n}.signed_string.txt"));
        let max = crypt::parse_c_double(max_text).unwrap();
        assert_eq!(
            crypt::upload_signed_text(name, max).unwrap(),
            signed,
            "out{n}"
        );
        let sig = crypt::sign_upload(&key, name, max).unwrap();
        assert_eq!(
            sig.to_text(),
            read(&format!("upload_auth/out{n}.xml_signature")),
            "out{n}"
        );
        assert_eq!(key.sign_bytes(signed.as_bytes()).unwrap(), sig);
    }
}

#[test]
fn add_upload_signatures_reproduces_the_stock_transitioner_output() {
    let key = private("upload_private");
    let without = read("upload_auth/processed_without_signatures.xml");
    let with = read("upload_auth/processed_with_signatures.xml");
    assert_eq!(crypt::add_upload_signatures(&without, &key).unwrap(), with);

    // The transitioner signs before stripping <output_template>; the result is the same.
    let mut template = read("upload_auth/result_template_3out.xml");
    for n in 0..3 {
        template = template.replace(
            &format!("<OUTFILE_{n}/>"),
            &format!("fx_sig_wu_0_r1234567890_{n}"),
        );
    }
    template = template.replace(
        "<UPLOAD_URL/>",
        "http://127.0.0.1:8080/stockproj_cgi/file_upload_handler",
    );
    let signed = crypt::add_upload_signatures(&template, &key).unwrap();
    let stripped = signed
        .replacen("<output_template>", "", 1)
        .replacen("</output_template>", "", 1)
        .trim_ascii()
        .to_owned();
    assert_eq!(stripped, with);
}

#[test]
fn add_upload_signatures_refuses_incomplete_file_infos() {
    let key = private("upload_private");
    let cases = [
        (
            "<file_info>\n<name>a</name>\n",
            TemplateError::UnclosedFileInfo { index: 0 },
        ),
        (
            "<file_info>\n<name>a</name><max_nbytes>1</max_nbytes>\n</file_info>\n<file_info>\n<max_nbytes>5</max_nbytes>\n</file_info>",
            TemplateError::MissingName { index: 1 },
        ),
        (
            "<file_info>\n<name>a</name>\n</file_info>",
            TemplateError::MissingMaxNbytes { index: 0 },
        ),
        (
            "<file_info>\n<name>a</name><max_nbytes>lots</max_nbytes>\n</file_info>",
            TemplateError::MissingMaxNbytes { index: 0 },
        ),
    ];
    for (xml, want) in cases {
        match crypt::add_upload_signatures(xml, &key) {
            Err(CryptError::Template(got)) => assert_eq!(got, want, "{xml}"),
            other => panic!("{xml}: {other:?}"),
        }
    }
    // `<file_info>` not followed by a newline is not signed, exactly as in BOINC.
    let same_line = "<file_info><name>a</name><max_nbytes>1</max_nbytes></file_info>";
    assert_eq!(
        crypt::add_upload_signatures(same_line, &key).unwrap(),
        same_line
    );
}

#[test]
fn verify_upload_accepts_stock_signatures_and_rejects_tampering() {
    let key = public("upload_public");
    for (n, (name, max_text)) in OUTPUTS.iter().enumerate() {
        let sig_text = read(&format!("upload_auth/out{n}.xml_signature"));
        let max = crypt::verify_upload(&key, name, max_text, &sig_text).unwrap();
        assert_eq!(max, crypt::parse_c_double(max_text).unwrap());
        // The client echoes the signature stripped: no newline before </xml_signature>.
        crypt::verify_upload(&key, name, max_text, sig_text.trim_ascii()).unwrap();
    }
    let sig0 = read("upload_auth/out0.xml_signature");
    let sig1 = read("upload_auth/out1.xml_signature");
    let (name0, _) = OUTPUTS[0];
    let rejected = [
        (
            "other name",
            crypt::verify_upload(&key, "fx_sig_wu_0_r1234567890_9", "5000000", &sig0),
        ),
        (
            "larger limit",
            crypt::verify_upload(&key, name0, "5000001", &sig0),
        ),
        (
            "other file's signature",
            crypt::verify_upload(&key, name0, "5000000", &sig1),
        ),
        (
            "wrong key",
            crypt::verify_upload(&public("code_sign_public"), name0, "5000000", &sig0),
        ),
    ];
    for (what, result) in rejected {
        assert!(
            matches!(result, Err(CryptError::BadSignature)),
            "{what}: {result:?}"
        );
    }
    let err = crypt::verify_upload(&key, name0, "5000000", "").unwrap_err();
    assert_eq!(
        chain(&err),
        "bad signature text: the signature text is empty"
    );
    let err = crypt::verify_upload(&key, name0, "", &sig0).unwrap_err();
    assert_eq!(
        err.to_string(),
        "max_nbytes \"\" is not a finite non-negative number"
    );
    let err = crypt::verify_upload(&key, name0, "-1", &sig0).unwrap_err();
    assert!(matches!(err, CryptError::BadMaxNbytes { .. }), "{err:?}");
    let err = crypt::verify_upload(&key, name0, "5000000", &sig0[..100]).unwrap_err();
    assert_eq!(
        chain(&err),
        "bad signature text: the signature text must end with a line holding \".\""
    );
}

/// The `<file_info>`s of a result's xml_doc_in: (name, max_nbytes text, xml_signature body).
fn signed_file_infos(doc: &str) -> Vec<(String, String, String)> {
    let between = |s: &str, open: &str, close: &str| {
        let start = s.find(open).unwrap() + open.len();
        s[start..start + s[start..].find(close).unwrap()].to_owned()
    };
    doc.split("<file_info>\n")
        .skip(1)
        .map(|fi| {
            (
                between(fi, "<name>", "</name>"),
                between(fi, "<max_nbytes>", "</max_nbytes>"),
                between(fi, "<xml_signature>\n", "</xml_signature>"),
            )
        })
        .collect()
}

#[test]
fn stock_transitioner_results_verify_and_are_reproduced() {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("../fixtures/stock-server/create_work/signed_variant");
    let public = PublicKey::read_file(&dir.join("keys/upload_public")).unwrap();
    let key = PrivateKey::read_file(&dir.join("keys/upload_private")).unwrap();
    let mut checked = 0;
    for entry in fs::read_dir(dir.join("result_xml_doc_in")).unwrap() {
        let path = entry.unwrap().path();
        let doc = fs::read_to_string(&path).unwrap();
        let infos = signed_file_infos(&doc);
        assert!(!infos.is_empty(), "{}", path.display());
        let mut unsigned = doc.clone();
        for (name, max_text, sig) in &infos {
            crypt::verify_upload(&public, name, max_text, sig).unwrap();
            unsigned = unsigned.replacen(
                &format!("    <xml_signature>\n{sig}</xml_signature>\n"),
                "    ",
                1,
            );
            checked += 1;
        }
        assert!(!unsigned.contains("xml_signature"));
        assert_eq!(
            crypt::add_upload_signatures(&unsigned, &key).unwrap(),
            doc,
            "{}",
            path.display()
        );
    }
    assert_eq!(checked, 2);
}

#[test]
fn stock_key_rotation_signatures_reproduced() {
    let old = private("code_sign_private");
    let new = public("code_sign_new_public");
    let sigs = crypt::sign_key_rotation(&old, &new).unwrap();
    assert_eq!(sigs.file.to_text(), read("key_rotation/signature_0"));
    assert_eq!(
        sigs.stripped.to_text(),
        read("key_rotation/signature_stripped_0")
    );
    assert_eq!(
        new.to_text().trim_ascii(),
        read("key_rotation/new_key_stripped.txt")
    );
    assert_eq!(
        read("key_rotation/old_key_0"),
        read("keys/code_sign_public")
    );
    let old_public = old.public_key();
    old_public
        .verify_bytes(
            read("key_rotation/new_key_stripped.txt").as_bytes(),
            &sigs.stripped,
        )
        .unwrap();
    old_public
        .verify_file(&fixture("keys/code_sign_new_public"), &sigs.file)
        .unwrap();
}

/// A key_dir as a project has it after rotating from the old code-signing key to the new one.
fn rotated_key_dir() -> tempfile::TempDir {
    let dir = tempfile::tempdir().unwrap();
    fs::copy(
        fixture("keys/code_sign_new_public"),
        dir.path().join("code_sign_public"),
    )
    .unwrap();
    for f in ["old_key_0", "signature_0", "signature_stripped_0"] {
        fs::copy(fixture(&format!("key_rotation/{f}")), dir.path().join(f)).unwrap();
    }
    dir
}

#[test]
fn scheduler_reply_for_a_rotated_key_matches_the_stock_fragment() {
    let dir = rotated_key_dir();
    let keys = CodeSignKeys::load(dir.path()).unwrap();
    assert_eq!(keys.old_key_count(), 1);
    let old_text = read("keys/code_sign_public");
    let new_text = read("key_rotation/new_key_stripped.txt");
    assert_eq!(keys.key_text(), new_text);

    let reply = keys.reply_for(&format!("\n{old_text}\n"), 7);
    assert_eq!(
        reply.to_xml(),
        read("key_rotation/scheduler_reply_fragment.xml")
    );
    assert_eq!(
        keys.reply_for(&old_text, 6),
        CodeSignReply::Send {
            key: &new_text,
            signature: Some(&read("key_rotation/signature_0"))
        }
    );
    assert_eq!(
        keys.reply_for("", 7),
        CodeSignReply::Send {
            key: &new_text,
            signature: None
        }
    );
    assert_eq!(
        keys.reply_for("", 7).to_xml(),
        format!("<code_sign_key>\n{new_text}\n</code_sign_key>\n")
    );
    assert_eq!(keys.reply_for(&new_text, 7), CodeSignReply::UpToDate);
    assert_eq!(
        keys.reply_for(&read("keys/upload_public"), 7),
        CodeSignReply::UnknownKey
    );
    assert_eq!(keys.reply_for(&read("keys/upload_public"), 7).to_xml(), "");

    // Without the 7.0+ signature file, such a client cannot be moved on.
    fs::remove_file(dir.path().join("signature_stripped_0")).unwrap();
    let keys = CodeSignKeys::load(dir.path()).unwrap();
    assert_eq!(keys.reply_for(&old_text, 7), CodeSignReply::UnknownKey);
    assert!(matches!(
        keys.reply_for(&old_text, 6),
        CodeSignReply::Send {
            signature: Some(_),
            ..
        }
    ));
}

#[test]
fn broken_rotation_files_are_found_at_load() {
    let dir = rotated_key_dir();
    // A signature that is valid hex but signs the wrong thing.
    fs::copy(
        fixture("key_rotation/signature_0"),
        dir.path().join("signature_stripped_0"),
    )
    .unwrap();
    let err = CodeSignKeys::load(dir.path()).unwrap_err();
    let path = dir.path().join("signature_stripped_0");
    assert_eq!(
        chain(&err),
        format!(
            "key rotation file {} does not check out: signature does not match",
            path.display()
        )
    );

    let dir = rotated_key_dir();
    fs::write(dir.path().join("old_key_0"), "1024\nzz\n.\n").unwrap();
    let err = CodeSignKeys::load(dir.path()).unwrap_err();
    assert!(matches!(err, CryptError::KeyFile { .. }), "{err:?}");

    let empty = tempfile::tempdir().unwrap();
    let err = CodeSignKeys::load(empty.path()).unwrap_err();
    assert!(chain(&err).contains("code_sign_public"), "{}", chain(&err));
}

#[test]
fn rotation_files_written_by_us_load_and_verify() {
    let dir = tempfile::tempdir().unwrap();
    let old = private("code_sign_private");
    let new = public("code_sign_new_public");
    new.write_file(&dir.path().join("code_sign_public"))
        .unwrap();
    let sigs = crypt::sign_key_rotation(&old, &new).unwrap();
    crypt::write_rotation_files(dir.path(), 0, &old.public_key(), &sigs).unwrap();
    for f in ["old_key_0", "signature_0", "signature_stripped_0"] {
        assert_eq!(
            fs::read_to_string(dir.path().join(f)).unwrap(),
            read(&format!("key_rotation/{f}")),
            "{f}"
        );
    }
    let keys = CodeSignKeys::load(dir.path()).unwrap();
    assert!(matches!(
        keys.reply_for(&read("keys/code_sign_public"), 7),
        CodeSignReply::Send {
            signature: Some(_),
            ..
        }
    ));
    // Index 0 is taken: nothing is overwritten and nothing half-written stays behind.
    let err = crypt::write_rotation_files(dir.path(), 0, &old.public_key(), &sigs).unwrap_err();
    assert!(matches!(err, CryptError::Exists { .. }), "{err:?}");
}

#[test]
fn generated_keys_have_boinc_shape_and_sign() {
    let key = PrivateKey::generate().unwrap();
    assert_eq!(key.bits(), 1024);
    let text = key.to_text();
    assert!(text.starts_with("1024\n"));
    assert_eq!(text.lines().count(), 1 + 22 + 1);
    let public = key.public_key();
    let pub_text = public.to_text();
    assert_eq!(pub_text.lines().count(), 1 + 8 + 1);
    assert!(
        pub_text.ends_with("0000000000000000000000000000000000000000000000000000000000010001\n.\n")
    );
    assert_eq!(PrivateKey::from_text(&text).unwrap().to_text(), text);
    assert_eq!(PublicKey::from_text(&pub_text).unwrap(), public);

    let sig = key.sign_bytes(b"hello").unwrap();
    public.verify_bytes(b"hello", &sig).unwrap();
    assert!(public.verify_bytes(b"hellO", &sig).is_err());

    let dir = tempfile::tempdir().unwrap();
    let (p, q) = (dir.path().join("priv"), dir.path().join("pub"));
    let made = crypt::generate_key_files(&p, &q).unwrap();
    assert_eq!(
        PrivateKey::read_file(&p).unwrap().public_key(),
        PublicKey::read_file(&q).unwrap()
    );
    assert_eq!(made.public_key(), PublicKey::read_file(&q).unwrap());
    // Existing files are never replaced.
    assert!(matches!(
        crypt::generate_key_files(&p, &dir.path().join("pub2")),
        Err(CryptError::Exists { .. })
    ));
    assert!(!dir.path().join("pub2").exists());
}
