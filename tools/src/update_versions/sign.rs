//! One file of a version checked, hashed and signed: a regular file with a name fit for the
//! download directory, signed with `keys/code_sign_private` (or its `NAME.sig` used, for
//! projects that sign offline), and refused if `download/` already holds different bytes under
//! its name (clients cache files by name, so staged files are immutable).

use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};

use rboinc_core::crypt::{PrivateKey, Signature};
use rboinc_core::md5file::{self, Md5Info};

use super::version_xml::FileDesc;
use super::{UpdateError, io};

/// One file of a version, checked and signed.
#[derive(Debug, Clone)]
pub struct VersionFile {
    pub name: String,
    pub src: PathBuf,
    pub open_name: Option<String>,
    pub main_program: bool,
    pub copy_file: bool,
    pub executable: bool,
    pub md5: Md5Info,
    pub signature: Signature,
    pub url: String,
}

/// How files are signed and where they will be served from.
#[derive(Debug)]
pub struct PlanKeys<'a> {
    /// The code-signing key, if the project has it online.
    pub key: Option<&'a PrivateKey>,
    pub key_path: &'a Path,
    /// `<download_url>` without a trailing `/`.
    pub download_url: &'a str,
    pub download_dir: &'a Path,
}

/// Checks and signs the file `d` describes in the version directory `dir`.
pub fn version_file(
    dir: &Path,
    d: FileDesc,
    keys: &PlanKeys<'_>,
) -> Result<VersionFile, UpdateError> {
    let verr = |message: String| UpdateError::Version {
        dir: dir.to_path_buf(),
        message,
    };
    crate::stage::check_input_name(&d.physical_name).map_err(|e| verr(e.to_string()))?;
    let src = dir.join(&d.physical_name);
    let meta = std::fs::metadata(&src).map_err(io(&src))?;
    if !meta.is_file() {
        return Err(verr(format!("{} is not a regular file", d.physical_name)));
    }
    let md5 = md5file::md5_file(&src)?;
    let sig_path = dir.join(format!("{}.sig", d.physical_name));
    let signature = if sig_path.is_file() {
        let text = std::fs::read_to_string(&sig_path).map_err(io(&sig_path))?;
        Signature::from_text(&text).map_err(|e| verr(format!("{}: {e}", sig_path.display())))?
    } else {
        let key = keys.key.ok_or_else(|| UpdateError::NoSignature {
            dir: dir.to_path_buf(),
            name: d.physical_name.clone(),
            key: keys.key_path.to_path_buf(),
        })?;
        key.sign_md5(&md5.md5)?
    };
    let staged = keys.download_dir.join(&d.physical_name);
    if staged.is_file() && md5file::md5_file(&staged)? != md5 {
        return Err(UpdateError::Immutable { src, staged });
    }
    Ok(VersionFile {
        url: format!("{}/{}", keys.download_url, d.physical_name),
        executable: meta.permissions().mode() & 0o100 != 0,
        name: d.physical_name,
        src,
        open_name: d.logical_name,
        main_program: d.main_program,
        copy_file: d.copy_file,
        md5,
        signature,
    })
}
