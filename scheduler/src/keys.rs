//! The project's signing keys, loaded once at start-up: the code-signing public key that
//! scheduler replies carry, and the upload public key that checks upload authorizations.
//!
//! A missing key is a start-up error rather than a failure per request: clients refuse
//! unsigned apps, and an upload handler that cannot check signatures must not accept files.

use std::sync::Arc;

use rboinc_core::crypt::{CodeSignKeys, CryptError, PublicKey};

use crate::settings::ServerSettings;

/// A key file is unusable.
#[derive(Debug, thiserror::Error)]
pub enum KeyError {
    #[error("cannot load the code-signing key (clients refuse unsigned apps): {0}")]
    CodeSign(#[source] CryptError),
    #[error(
        "cannot load the upload public key, needed to check upload authorizations \
         (set <ignore_upload_certificates> to accept unsigned uploads): {0}"
    )]
    Upload(#[source] CryptError),
}

/// The keys handlers use; cheap to clone.
#[derive(Debug, Clone)]
pub struct Keys {
    pub code_sign: Arc<CodeSignKeys>,
    /// `None` when upload certificates are ignored.
    pub upload: Option<Arc<PublicKey>>,
}

impl Keys {
    /// Reads the keys from the project's key directory.
    pub fn load(settings: &ServerSettings) -> Result<Keys, KeyError> {
        let code_sign = CodeSignKeys::load(&settings.key_dir).map_err(KeyError::CodeSign)?;
        let upload = if settings.sched.ignore_upload_certificates {
            None
        } else {
            let path = settings.key_dir.join("upload_public");
            Some(Arc::new(
                PublicKey::read_file(&path).map_err(KeyError::Upload)?,
            ))
        };
        Ok(Keys {
            code_sign: Arc::new(code_sign),
            upload,
        })
    }
}
