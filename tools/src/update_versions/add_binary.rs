//! `update_versions --add-app-binary`: a single executable laid out as a new version directory,
//! under a file name no other version uses, ready for [`super::run`].

use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};

use rboinc_core::md5file;

use super::{UpdateError, io, parse_version};

/// The `api_version` written for apps added with [`add_app_binary`]: the mnist app speaks the
/// 7.x client protocol (shared memory through `boinc_mmap_file`).
pub const DEFAULT_API_VERSION: &str = "7.20.0";

/// Lays out `apps/<app>/<version>/<platform>/` for a single-file app: the executable copied as
/// `<app>_<version>_<platform>` (a name no other version uses) and a `version.xml` marking it
/// the main program with [`DEFAULT_API_VERSION`]. Returns the directory. An existing directory
/// holding the same file is accepted (re-running is harmless); different content is refused.
pub fn add_app_binary(
    app_dir: &Path,
    app: &str,
    version: &str,
    platform: &str,
    binary: &Path,
) -> Result<PathBuf, UpdateError> {
    if parse_version(version).is_none() {
        return Err(UpdateError::BadVersion(version.to_string()));
    }
    for part in [app, version, platform] {
        crate::stage::check_input_name(part).map_err(|e| UpdateError::Version {
            dir: app_dir.to_path_buf(),
            message: e.to_string(),
        })?;
    }
    let dir = app_dir.join(app).join(version).join(platform);
    let name = format!("{app}_{version}_{platform}");
    let target = dir.join(&name);
    let version_xml = format!(
        "<version>\n    <file>\n        <physical_name>{name}</physical_name>\n        <main_program/>\n    </file>\n    \
         <api_version>{DEFAULT_API_VERSION}</api_version>\n</version>\n"
    );
    let src_md5 = md5file::md5_file(binary)?;
    if dir.exists() {
        let same = target.is_file()
            && md5file::md5_file(&target)? == src_md5
            && std::fs::read_to_string(dir.join("version.xml"))
                .ok()
                .as_deref()
                == Some(version_xml.as_str());
        if !same {
            return Err(UpdateError::Version {
                dir,
                message: "already exists with other content; app versions are immutable, use a new version number".into(),
            });
        }
        return Ok(dir);
    }
    std::fs::create_dir_all(&dir).map_err(io(&dir))?;
    std::fs::copy(binary, &target).map_err(io(&target))?;
    std::fs::set_permissions(&target, std::fs::Permissions::from_mode(0o755))
        .map_err(io(&target))?;
    std::fs::write(dir.join("version.xml"), version_xml).map_err(io(&dir))?;
    Ok(dir)
}
