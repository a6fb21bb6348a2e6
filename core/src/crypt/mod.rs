//! BOINC's keys and signatures, byte-compatible with the stock tools and clients.
//!
//! Two key pairs matter to a project. The *code-signing* key vouches for every application file:
//! clients refuse to run a file whose `<file_signature>` does not verify with the
//! `<code_sign_key>` they trust. The *upload* key signs each output file's name and size limit
//! (`<xml_signature>`) so the upload handler only accepts files the project asked for.
//! Both use one primitive: RSA PKCS#1 v1.5 type-1 padding over the ASCII hex MD5 of the data, with
//! no DigestInfo. Everything here is deterministic, so it is tested byte for byte against
//! signatures made by BOINC's own `crypt_prog`, `sign_executable` and transitioner, and against
//! OpenSSL as an independent implementation.
//!
//! Map:
//! - [`key`]: [`PublicKey`] / [`PrivateKey`], BOINC's key file text, key generation.
//! - [`signature`]: [`Signature`], its text form, `sign_*` / `verify_*` on the key types.
//! - [`upload`]: upload authorization: the signed text, inserting `<xml_signature>` into a result
//!   template, checking an upload.
//! - [`rotation`]: the code-signing key a scheduler sends, and rotating it.
//! - `hex_text`: the hex block encoding shared by keys and signatures.
//! - `native`: the RSA operations themselves, through the system's libcrypto (as BOINC's).
//!
//! RSA and hashing are CPU-bound and synchronous. Keys are `Clone + Send + Sync`, so async callers
//! move a clone (or an `Arc`) into `tokio::task::spawn_blocking`.

mod hex_text;
pub mod key;
mod native;
pub mod rotation;
pub mod signature;
pub mod upload;

use std::io;
use std::path::PathBuf;

pub use hex_text::HexTextError;
pub use key::{KEY_BITS, KeyFormatError, PrivateKey, PublicKey, generate_key_files};
pub use rotation::{
    CodeSignKeys, CodeSignReply, RotationSignatures, sign_key_rotation, write_rotation_files,
};
pub use signature::{Signature, SignatureFormatError};
pub use upload::{
    TemplateError, add_upload_signatures, parse_c_double, sign_upload, upload_signed_text,
    verify_upload,
};

use crate::md5file::Md5FileError;

/// Errors of the crypt module.
#[derive(Debug, thiserror::Error)]
pub enum CryptError {
    #[error("cannot read {path}")]
    Read {
        path: PathBuf,
        #[source]
        source: io::Error,
    },
    #[error("cannot write {path}")]
    Write {
        path: PathBuf,
        #[source]
        source: io::Error,
    },
    #[error("{path} already exists; refusing to overwrite it")]
    Exists { path: PathBuf },
    #[error("bad key file {path}")]
    KeyFile {
        path: PathBuf,
        #[source]
        source: KeyFormatError,
    },
    #[error("bad key")]
    Key(#[from] KeyFormatError),
    #[error("bad signature text")]
    SignatureText(#[from] SignatureFormatError),
    #[error("signature is {found} bytes, but the key makes {expected}-byte signatures")]
    SignatureLength { expected: usize, found: usize },
    #[error("signature does not match")]
    BadSignature,
    #[error("max_nbytes {text:?} is not a finite non-negative number")]
    BadMaxNbytes { text: String },
    #[error("cannot sign the result template")]
    Template(#[from] TemplateError),
    #[error("key rotation file {path} does not check out")]
    Rotation {
        path: PathBuf,
        #[source]
        source: Box<CryptError>,
    },
    #[error("cannot hash the file to sign or verify")]
    Md5(#[from] Md5FileError),
    #[error("RSA operation failed")]
    Rsa(#[source] rsa::Error),
    #[error("RSA operation failed in libcrypto")]
    Native(#[source] openssl::error::ErrorStack),
}
