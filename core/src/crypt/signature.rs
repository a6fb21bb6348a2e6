//! BOINC's signature primitive and its text form.
//!
//! BOINC never signs a binary digest. It signs the 32 ASCII characters of the lowercase hex MD5 of
//! the data, with RSA PKCS#1 v1.5 type-1 padding and *no* DigestInfo prefix:
//! `EM = 00 01 FF..FF 00 || md5_hex`, `S = EM^d mod n`, written as hex text ending in `.`.
//! The padding is deterministic, so the same key and data always give the same bytes, which is
//! how our output can be compared byte for byte with BOINC's `sign_executable` / `crypt_prog`.
//!
//! The RSA arithmetic itself is libcrypto's (see `native`). Signing and file hashing are CPU-bound: async callers wrap them in `spawn_blocking`.

use std::fmt;
use std::path::Path;

use super::key::{PrivateKey, PublicKey};
use super::{CryptError, hex_text};
use crate::md5file::{self, Md5Hex};

/// A signature: exactly as many bytes as the signing key's modulus.
#[derive(Clone, PartialEq, Eq)]
pub struct Signature(Vec<u8>);

/// What is wrong with signature text.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum SignatureFormatError {
    #[error("the signature text is empty")]
    Empty,
    #[error("the signature text must end with a line holding \".\"")]
    MissingTerminator,
    #[error("offset {offset}: {found:?} is not a hex digit")]
    BadHex { offset: usize, found: char },
    #[error("the signature has an odd number of hex digits")]
    OddLength,
}

impl Signature {
    pub fn from_bytes(bytes: Vec<u8>) -> Self {
        Signature(bytes)
    }

    pub fn as_bytes(&self) -> &[u8] {
        &self.0
    }

    /// The text form: hex lines of 64 characters, then `.` and a newline (262 bytes for a
    /// 1024-bit key). This is what `sign_executable` prints and what goes inside
    /// `<file_signature>` and `<xml_signature>`.
    pub fn to_text(&self) -> String {
        hex_text::encode(&self.0)
    }

    /// Parses signature text. Whitespace around and between the hex lines is ignored (clients echo
    /// signatures re-indented or stripped), but the text must end in `.`: a truncated signature is
    /// refused here rather than failing later as a mismatch.
    pub fn from_text(text: &str) -> Result<Self, SignatureFormatError> {
        let trimmed = text.trim_ascii();
        if trimmed.is_empty() {
            return Err(SignatureFormatError::Empty);
        }
        let body = trimmed
            .strip_suffix('.')
            .ok_or(SignatureFormatError::MissingTerminator)?;
        let start = text.len() - text.trim_ascii_start().len();
        let mut bytes = Vec::with_capacity(body.len() / 2);
        let mut high: Option<u8> = None;
        for (i, c) in body.char_indices() {
            if c.is_ascii_whitespace() {
                continue;
            }
            let Some(v) = c.to_digit(16) else {
                return Err(SignatureFormatError::BadHex {
                    offset: start + i,
                    found: c,
                });
            };
            let v = v as u8;
            match high.take() {
                None => high = Some(v),
                Some(h) => bytes.push(h << 4 | v),
            }
        }
        if high.is_some() {
            return Err(SignatureFormatError::OddLength);
        }
        if bytes.is_empty() {
            return Err(SignatureFormatError::Empty);
        }
        Ok(Signature(bytes))
    }
}

impl fmt::Display for Signature {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.to_text())
    }
}

impl fmt::Debug for Signature {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let hex = hex::encode(&self.0[..self.0.len().min(8)]);
        write!(f, "Signature({} bytes, {hex}…)", self.0.len())
    }
}

impl PrivateKey {
    /// The primitive: signs the 32 ASCII bytes of an MD5 hex string.
    pub fn sign_md5(&self, md5: &Md5Hex) -> Result<Signature, CryptError> {
        self.native()
            .sign(md5.as_bytes())
            .map(Signature)
            .map_err(CryptError::Native)
    }

    /// Signs data held in memory (BOINC's `generate_signature` / `crypt_prog -sign_string`).
    pub fn sign_bytes(&self, data: &[u8]) -> Result<Signature, CryptError> {
        self.sign_md5(&Md5Hex::of_bytes(data))
    }

    /// Signs a file's content, streaming it through MD5 (BOINC's `sign_executable`): the text of
    /// the result goes into an app version's `<file_signature>`.
    pub fn sign_file(&self, path: &Path) -> Result<Signature, CryptError> {
        let info = md5file::md5_file(path)?;
        self.sign_md5(&info.md5)
    }
}

impl PublicKey {
    /// Checks a signature over an MD5 hex string. `Err(CryptError::BadSignature)` when it does not
    /// match, `Err(CryptError::SignatureLength)` when it cannot be from this key at all.
    pub fn verify_md5(&self, md5: &Md5Hex, signature: &Signature) -> Result<(), CryptError> {
        let expected = self.signature_len();
        if signature.0.len() != expected {
            return Err(CryptError::SignatureLength {
                expected,
                found: signature.0.len(),
            });
        }
        self.native()
            .verify(md5.as_bytes(), &signature.0)
            .map_err(|_| CryptError::BadSignature)
    }

    /// Checks a signature over data held in memory.
    pub fn verify_bytes(&self, data: &[u8], signature: &Signature) -> Result<(), CryptError> {
        self.verify_md5(&Md5Hex::of_bytes(data), signature)
    }

    /// Checks a signature over a file's content.
    pub fn verify_file(&self, path: &Path, signature: &Signature) -> Result<(), CryptError> {
        let info = md5file::md5_file(path)?;
        self.verify_md5(&info.md5, signature)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn text_parsing_tolerates_whitespace_but_wants_the_dot() {
        let sig = Signature::from_bytes(vec![0xde, 0xad, 0xbe, 0xef]);
        assert_eq!(sig.to_text(), "deadbeef\n.\n");
        assert_eq!(Signature::from_text("deadbeef\n.\n").unwrap(), sig);
        assert_eq!(
            Signature::from_text("\n   dead\r\n  BEEF\n  .").unwrap(),
            sig
        );
        assert_eq!(
            Signature::from_text("deadbeef\n"),
            Err(SignatureFormatError::MissingTerminator)
        );
        assert_eq!(
            Signature::from_text("  \n"),
            Err(SignatureFormatError::Empty)
        );
        assert_eq!(Signature::from_text("."), Err(SignatureFormatError::Empty));
        assert_eq!(
            Signature::from_text("deadbee\n."),
            Err(SignatureFormatError::OddLength)
        );
        assert_eq!(
            Signature::from_text("  dexdbeef\n."),
            Err(SignatureFormatError::BadHex {
                offset: 4,
                found: 'x'
            })
        );
    }
}
