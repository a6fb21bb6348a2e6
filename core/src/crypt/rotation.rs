//! The code-signing key a scheduler hands to clients, and rotating it.
//!
//! A client trusts the first `<code_sign_key>` it gets and checks every app file against it
//! forever after. To change the key, the project signs the new public key with the *old* private
//! key and keeps, in `key_dir`, numbered sets of files:
//!
//! * `old_key_N` — a retired public key (as its key file);
//! * `signature_N` — signature over the new key file text, newline included (pre-7.0 clients);
//! * `signature_stripped_N` — signature over the new key text without surrounding whitespace, which
//!   is what 7.0+ clients check, sent as `<code_sign_key_signature>`.
//!
//! A client whose stored key matches `old_key_N` gets the new key plus the matching signature; a
//! client with an unknown key gets no work (its user must re-attach).

use std::fs;
use std::io;
use std::path::Path;

use super::CryptError;
use super::key::{PrivateKey, PublicKey, write_new_file};
use super::signature::Signature;

/// File name of the current code-signing public key in `key_dir`.
pub const CODE_SIGN_PUBLIC: &str = "code_sign_public";

/// First client major version that checks the stripped-key signature.
const STRIPPED_SIGNATURE_SINCE: u32 = 7;

/// The two signatures that vouch for a new code-signing key.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RotationSignatures {
    /// Over the key file text including its final newline (`signature_N`).
    pub file: Signature,
    /// Over the key text with surrounding whitespace removed (`signature_stripped_N`).
    pub stripped: Signature,
}

/// Signs `new_key` with the retiring private key. Run it where the old private key lives
/// (ideally offline); CPU-bound.
pub fn sign_key_rotation(
    old_private: &PrivateKey,
    new_key: &PublicKey,
) -> Result<RotationSignatures, CryptError> {
    let text = new_key.to_text();
    Ok(RotationSignatures {
        file: old_private.sign_bytes(text.as_bytes())?,
        stripped: old_private.sign_bytes(text.trim_ascii().as_bytes())?,
    })
}

/// Writes `old_key_N`, `signature_N` and `signature_stripped_N` into `key_dir`. None of them may
/// exist; on failure the files written so far are removed again.
pub fn write_rotation_files(
    key_dir: &Path,
    index: u32,
    old_key: &PublicKey,
    signatures: &RotationSignatures,
) -> Result<(), CryptError> {
    let files = [
        (format!("old_key_{index}"), old_key.to_text(), 0o644),
        (
            format!("signature_{index}"),
            signatures.file.to_text(),
            0o644,
        ),
        (
            format!("signature_stripped_{index}"),
            signatures.stripped.to_text(),
            0o644,
        ),
    ];
    let mut written = Vec::new();
    for (name, text, mode) in files {
        let path = key_dir.join(name);
        if let Err(e) = write_new_file(&path, text.as_bytes(), mode) {
            for p in written {
                let _ = fs::remove_file(p);
            }
            return Err(e);
        }
        written.push(path);
    }
    Ok(())
}

/// One retired key and the signatures that lead from it to the current key.
#[derive(Debug, Clone)]
struct OldKey {
    /// Whitespace-stripped key text, compared with what clients send.
    text: String,
    /// Signature text for pre-7.0 clients, if the project has one.
    signature: Option<String>,
    /// Signature text for 7.0+ clients, if the project has one.
    signature_stripped: Option<String>,
}

/// The scheduler's view of code-signing keys: the current public key and the rotation chain,
/// loaded once at start-up (the C++ scheduler reads them per request; the files rarely change).
#[derive(Debug, Clone)]
pub struct CodeSignKeys {
    key: PublicKey,
    /// Whitespace-stripped text of `code_sign_public`, as sent in `<code_sign_key>`.
    text: String,
    old: Vec<OldKey>,
}

/// What to put in a scheduler reply about the code-signing key.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum CodeSignReply<'a> {
    /// The client already has the current key: send nothing.
    UpToDate,
    /// Send the key (and, when rotating, the signature that proves it).
    Send {
        key: &'a str,
        signature: Option<&'a str>,
    },
    /// The client holds a key we cannot vouch for: send no work; the user must re-attach.
    UnknownKey,
}

impl CodeSignKeys {
    /// Reads `code_sign_public` and every `old_key_N` (N = 0, 1, ... up to the first gap) from
    /// `key_dir`. Each old key and each signature file must parse, and each signature present must
    /// verify against its old key, so a broken rotation is found at start-up rather than by
    /// clients rejecting the key.
    pub fn load(key_dir: &Path) -> Result<Self, CryptError> {
        let (key, text) = read_public_key(&key_dir.join(CODE_SIGN_PUBLIC))?;
        let mut old = Vec::new();
        for i in 0.. {
            let old_path = key_dir.join(format!("old_key_{i}"));
            if !old_path.exists() {
                break;
            }
            let (old_key, old_text) = read_public_key(&old_path)?;
            let signature = read_optional(&key_dir.join(format!("signature_{i}")))?;
            let signature_stripped =
                read_optional(&key_dir.join(format!("signature_stripped_{i}")))?;
            for (sig_text, signed, file) in [
                (&signature, text.as_str(), format!("signature_{i}")),
                (
                    &signature_stripped,
                    text.trim_ascii(),
                    format!("signature_stripped_{i}"),
                ),
            ] {
                if let Some(sig_text) = sig_text {
                    let check = Signature::from_text(sig_text)
                        .map_err(CryptError::from)
                        .and_then(|sig| old_key.verify_bytes(signed.as_bytes(), &sig));
                    check.map_err(|source| CryptError::Rotation {
                        path: key_dir.join(file),
                        source: Box::new(source),
                    })?;
                }
            }
            old.push(OldKey {
                text: old_text.trim_ascii().to_owned(),
                signature,
                signature_stripped,
            });
        }
        Ok(CodeSignKeys {
            text: text.trim_ascii().to_owned(),
            key,
            old,
        })
    }

    /// The current public key.
    pub fn key(&self) -> &PublicKey {
        &self.key
    }

    /// The current key's text as sent to clients (no surrounding whitespace).
    pub fn key_text(&self) -> &str {
        &self.text
    }

    /// Number of retired keys that clients can be moved on from.
    pub fn old_key_count(&self) -> usize {
        self.old.len()
    }

    /// Decides what to send to a client that presented `client_key` (the content of the request's
    /// `<code_sign_key>`, empty if absent) and runs major version `client_major`.
    pub fn reply_for(&self, client_key: &str, client_major: u32) -> CodeSignReply<'_> {
        let client_key = client_key.trim_ascii();
        if client_key.is_empty() {
            return CodeSignReply::Send {
                key: &self.text,
                signature: None,
            };
        }
        if client_key == self.text {
            return CodeSignReply::UpToDate;
        }
        let Some(old) = self.old.iter().find(|o| o.text == client_key) else {
            return CodeSignReply::UnknownKey;
        };
        let signature = if client_major < STRIPPED_SIGNATURE_SINCE {
            old.signature.as_deref()
        } else {
            old.signature_stripped.as_deref()
        };
        match signature {
            Some(signature) => CodeSignReply::Send {
                key: &self.text,
                signature: Some(signature),
            },
            None => CodeSignReply::UnknownKey,
        }
    }
}

impl CodeSignReply<'_> {
    /// The scheduler reply elements, laid out as the C++ scheduler writes them.
    pub fn to_xml(&self) -> String {
        let CodeSignReply::Send { key, signature } = self else {
            return String::new();
        };
        let mut xml = format!("<code_sign_key>\n{key}\n</code_sign_key>\n");
        if let Some(sig) = signature {
            xml.push_str("<code_sign_key_signature>\n");
            xml.push_str(sig);
            xml.push_str("</code_sign_key_signature>\n");
        }
        xml
    }
}

/// A public key file's parsed key and its text as written. Clients compare key texts as strings,
/// so the scheduler sends and compares the file's own bytes, not a re-rendering.
fn read_public_key(path: &Path) -> Result<(PublicKey, String), CryptError> {
    let text = fs::read_to_string(path).map_err(|source| CryptError::Read {
        path: path.to_owned(),
        source,
    })?;
    let key = PublicKey::from_text(&text).map_err(|source| CryptError::KeyFile {
        path: path.to_owned(),
        source,
    })?;
    Ok((key, text))
}

fn read_optional(path: &Path) -> Result<Option<String>, CryptError> {
    match fs::read_to_string(path) {
        Ok(text) => Ok(Some(text)),
        Err(e) if e.kind() == io::ErrorKind::NotFound => Ok(None),
        Err(source) => Err(CryptError::Read {
            path: path.to_owned(),
            source,
        }),
    }
}
