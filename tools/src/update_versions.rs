//! `update_versions`: registers app versions laid out as BOINC lays them out.
//!
//! For every `apps/<app>/<version>/<platform>[__<plan_class>]/` whose app and platform are in
//! the database and which is not registered yet, every file in the directory (except
//! `version.xml` and `*.sig`) is signed with `keys/code_sign_private` (or its `NAME.sig` is
//! used, for projects that sign offline), staged flat into `download/` under its own name, and
//! described in a new `app_version` row; then `reread_db` is touched.
//!
//! All versions found are checked first (files, signatures, main program, and that no staged
//! file with the same name holds different bytes: files are immutable, since clients cache them
//! by name) and only then staged and inserted, in one transaction — a mistake in one directory
//! registers nothing. Because the scheduler sends each host the newest version, publishing 1.4
//! after 1.3 moves new work to 1.4; the version's files must have new names, which
//! [`add_app_binary`] ensures by naming the file `<app>_<version>_<platform>`.

use std::collections::HashMap;
use std::path::{Path, PathBuf};

use rboinc_core::crypt::{self, PrivateKey, Signature};
use rboinc_core::db::{self, AppId, AppVersionId, PlatformId, app, app_version, platform};
use rboinc_core::md5file::{self, Md5Info};
use rboinc_core::xml;

use crate::project::{Project, unix_now};

/// The `api_version` written for apps added with [`add_app_binary`]: the mnist app speaks the
/// 7.x client protocol (shared memory through `boinc_mmap_file`).
pub const DEFAULT_API_VERSION: &str = "7.20.0";

/// Why nothing was registered.
#[derive(Debug, thiserror::Error)]
pub enum UpdateError {
    #[error("{}: {message}", dir.display())]
    Version { dir: PathBuf, message: String },
    #[error(
        "{}: no .sig file for {name}, and no code-signing key at {}",
        dir.display(), key.display()
    )]
    NoSignature {
        dir: PathBuf,
        name: String,
        key: PathBuf,
    },
    #[error(
        "files {} and {} differ: staged files are immutable; give the new file a new name (e.g. a new version number in its name)",
        src.display(), staged.display()
    )]
    Immutable { src: PathBuf, staged: PathBuf },
    #[error("unknown app {app:?}; the project's apps are: {known}")]
    UnknownApp { app: String, known: String },
    #[error("unknown platform {0:?}")]
    UnknownPlatform(String),
    #[error("{0:?} is not a version number (use MAJOR or MAJOR.MINOR, e.g. 1.4)")]
    BadVersion(String),
    #[error("{}: {source}", path.display())]
    Io {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
    #[error(transparent)]
    Crypt(#[from] crypt::CryptError),
    #[error(transparent)]
    Md5(#[from] md5file::Md5FileError),
    #[error("database error: {0}")]
    Sql(#[from] sqlx::Error),
    #[error("config.xml has no <download_url>")]
    NoDownloadUrl,
}

fn io(path: &Path) -> impl FnOnce(std::io::Error) -> UpdateError + '_ {
    move |source| UpdateError::Io {
        path: path.to_path_buf(),
        source,
    }
}

/// `MAJOR.MINOR` → `MAJOR * 100 + MINOR` (and `N` → `N`), as BOINC reads version directory names.
pub fn parse_version(v: &str) -> Option<i32> {
    let mut parts = v.split('.');
    let major: i32 = parts.next()?.parse().ok()?;
    if major < 0 {
        return None;
    }
    // BOINC's rule: a bare number is the version number itself ("7" is 7, not 7.00).
    let Some(minor) = parts.next() else {
        return Some(major);
    };
    let minor: i32 = minor.parse().ok()?;
    if parts.next().is_some() || !(0..100).contains(&minor) {
        return None;
    }
    major.checked_mul(100)?.checked_add(minor)
}

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

/// One version ready to register.
#[derive(Debug, Clone)]
pub struct PlannedVersion {
    pub dir: PathBuf,
    pub app: String,
    pub appid: AppId,
    pub version_num: i32,
    pub platform: String,
    pub platformid: PlatformId,
    pub plan_class: String,
    pub api_version: String,
    pub beta: bool,
    pub files: Vec<VersionFile>,
    /// `<dont_throttle/>`, `<needs_network/>`, `<is_wrapper/>`, `<file_prefix>`.
    pub flags_xml: String,
}

impl PlannedVersion {
    /// The `app_version.xml_doc` BOINC's update_versions writes (plus `<md5_cksum>`).
    pub fn xml_doc(&self) -> String {
        let mut s = String::new();
        for f in &self.files {
            s.push_str("<file_info>\n");
            s.push_str(&format!("    <name>{}</name>\n", xml::escape(&f.name)));
            s.push_str(&format!("    <url>{}</url>\n", xml::escape(&f.url)));
            if f.executable || f.main_program {
                s.push_str("    <executable/>\n");
            }
            s.push_str("    <file_signature>\n");
            s.push_str(&f.signature.to_text());
            s.push_str("    </file_signature>\n");
            s.push_str(&format!("    <nbytes>{}</nbytes>\n", f.md5.nbytes));
            s.push_str(&format!("    <md5_cksum>{}</md5_cksum>\n", f.md5.md5));
            s.push_str("</file_info>\n");
        }
        s.push_str("<app_version>\n");
        s.push_str(&format!(
            "    <app_name>{}</app_name>\n",
            xml::escape(&self.app)
        ));
        s.push_str(&format!(
            "    <version_num>{}</version_num>\n",
            self.version_num
        ));
        s.push_str(&format!(
            "    <api_version>{}</api_version>\n",
            xml::escape(&self.api_version)
        ));
        for f in &self.files {
            s.push_str("    <file_ref>\n");
            s.push_str(&format!(
                "        <file_name>{}</file_name>\n",
                xml::escape(&f.name)
            ));
            if let Some(open) = &f.open_name {
                s.push_str(&format!(
                    "        <open_name>{}</open_name>\n",
                    xml::escape(open)
                ));
            }
            if f.copy_file {
                s.push_str("        <copy_file/>\n");
            }
            if f.main_program {
                s.push_str("        <main_program/>\n");
            }
            s.push_str("    </file_ref>\n");
        }
        s.push_str(&self.flags_xml);
        s.push_str("</app_version>\n");
        s
    }
}

/// A registered version.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Registered {
    pub id: AppVersionId,
    pub app: String,
    pub version_num: i32,
    pub platform: String,
    pub plan_class: String,
    pub files: Vec<String>,
}

/// What a run did.
#[derive(Debug, Clone, Default)]
pub struct UpdateReport {
    pub registered: Vec<Registered>,
    /// Directories passed over, with the reason (not an app, already registered, ...).
    pub skipped: Vec<String>,
    /// Things worth a warning (e.g. no API version found).
    pub warnings: Vec<String>,
}

/// What `version.xml` says about one file.
#[derive(Debug, Clone, Default)]
struct FileDesc {
    physical_name: String,
    logical_name: Option<String>,
    main_program: bool,
    copy_file: bool,
}

fn list_dir(dir: &Path) -> Result<Vec<String>, UpdateError> {
    let mut names: Vec<String> = std::fs::read_dir(dir)
        .map_err(io(dir))?
        .filter_map(|e| e.ok())
        .filter_map(|e| e.file_name().into_string().ok())
        .filter(|n| !n.starts_with('.'))
        .collect();
    names.sort();
    Ok(names)
}

/// Finds every version directory not yet registered and checks it (nothing is written).
pub async fn plan(
    project: &Project,
    pool: &db::Pool,
) -> Result<(Vec<PlannedVersion>, UpdateReport), UpdateError> {
    let apps: HashMap<String, AppId> = app::all(pool)
        .await?
        .into_iter()
        .map(|a| (a.name, a.id))
        .collect();
    let platforms: HashMap<String, PlatformId> = platform::active(pool)
        .await?
        .into_iter()
        .map(|p| (p.name, p.id))
        .collect();
    let mut report = UpdateReport::default();
    let mut candidates = Vec::new();
    let app_dir = project.config.app_dir.clone();
    if !app_dir.is_dir() {
        report
            .skipped
            .push(format!("{}: no such directory", app_dir.display()));
        return Ok((Vec::new(), report));
    }
    for a in list_dir(&app_dir)? {
        let Some(&appid) = apps.get(&a) else {
            report.skipped.push(format!("apps/{a}: {a} is not an app"));
            continue;
        };
        for v in list_dir(&app_dir.join(&a))? {
            let Some(version_num) = parse_version(&v) else {
                report
                    .skipped
                    .push(format!("apps/{a}/{v}: not a version number"));
                continue;
            };
            for p in list_dir(&app_dir.join(&a).join(&v))? {
                let dir = app_dir.join(&a).join(&v).join(&p);
                if !dir.is_dir() {
                    continue;
                }
                let (plat, plan_class) = match p.split_once("__") {
                    Some((x, y)) => (x.to_string(), y.to_string()),
                    None => (p.clone(), String::new()),
                };
                let Some(&platformid) = platforms.get(&plat) else {
                    report
                        .skipped
                        .push(format!("apps/{a}/{v}/{p}: {plat} is not a platform"));
                    continue;
                };
                if app_version::by_key(pool, appid, platformid, version_num, &plan_class)
                    .await?
                    .is_some()
                {
                    report
                        .skipped
                        .push(format!("apps/{a}/{v}/{p}: already registered"));
                    continue;
                }
                candidates.push((
                    dir,
                    a.clone(),
                    appid,
                    version_num,
                    plat,
                    platformid,
                    plan_class,
                ));
            }
        }
    }
    let config = project.config.clone();
    let download_url = config
        .download_url
        .clone()
        .ok_or(UpdateError::NoDownloadUrl)?;
    let key_path = config.key_dir.join("code_sign_private");
    let download_dir = config.download_dir.clone();
    // Hashing and signing are CPU work: off the executor.
    let planned = tokio::task::spawn_blocking(move || {
        let key = if key_path.is_file() {
            Some(PrivateKey::read_file(&key_path)?)
        } else {
            None
        };
        let mut out = Vec::new();
        let mut warnings = Vec::new();
        for (dir, a, appid, version_num, plat, platformid, plan_class) in candidates {
            let pv = plan_one(
                &dir,
                PlanKeys {
                    key: key.as_ref(),
                    key_path: &key_path,
                    download_url: download_url.trim_end_matches('/'),
                    download_dir: &download_dir,
                },
                (a, appid, version_num, plat, platformid, plan_class),
            )?;
            if pv.api_version.is_empty() {
                warnings.push(format!(
                    "{}: no API version (set <api_version> in version.xml; apps using the 7.x client protocol need one)",
                    dir.display()
                ));
            }
            out.push(pv);
        }
        Ok::<_, UpdateError>((out, warnings))
    })
    .await
    .expect("planning does not panic")?;
    report.warnings.extend(planned.1);
    Ok((planned.0, report))
}

struct PlanKeys<'a> {
    key: Option<&'a PrivateKey>,
    key_path: &'a Path,
    download_url: &'a str,
    download_dir: &'a Path,
}

fn plan_one(
    dir: &Path,
    keys: PlanKeys<'_>,
    (app, appid, version_num, platform, platformid, plan_class): (
        String,
        AppId,
        i32,
        String,
        PlatformId,
        String,
    ),
) -> Result<PlannedVersion, UpdateError> {
    let verr = |message: String| UpdateError::Version {
        dir: dir.to_path_buf(),
        message,
    };
    let vfile = dir.join("version.xml");
    let mut descs: Vec<FileDesc> = Vec::new();
    let mut api_version = String::new();
    let mut beta = false;
    let mut flags_xml = String::new();
    if vfile.is_file() {
        let text = std::fs::read_to_string(&vfile).map_err(io(&vfile))?;
        let Some(body) = xml::raw_element(&text, "version") else {
            return Err(verr("version.xml has no <version> element".into()));
        };
        for f in xml::raw_elements(body, "file") {
            let physical_name = xml::text(f, "physical_name")
                .filter(|n| !n.is_empty())
                .ok_or_else(|| verr("a <file> in version.xml has no <physical_name>".into()))?;
            if xml::flag(f, "gzip") {
                return Err(verr(format!(
                    "{physical_name}: <gzip/> is not supported; serve the file uncompressed"
                )));
            }
            if xml::raw_element(f, "url").is_some() {
                return Err(verr(format!(
                    "{physical_name}: <url> in version.xml is not supported; files are served from this project"
                )));
            }
            descs.push(FileDesc {
                physical_name,
                logical_name: xml::text(f, "logical_name").filter(|n| !n.is_empty()),
                main_program: xml::flag(f, "main_program"),
                copy_file: xml::flag(f, "copy_file"),
            });
        }
        // Version-level settings live outside the <file> elements.
        let mut outside = body.to_string();
        for f in xml::raw_elements(body, "file") {
            outside = outside.replacen(f, "", 1);
        }
        api_version = xml::text(&outside, "api_version").unwrap_or_default();
        beta = xml::flag(&outside, "beta");
        for flag in ["dont_throttle", "needs_network", "is_wrapper"] {
            if xml::flag(&outside, flag) {
                flags_xml.push_str(&format!("    <{flag}/>\n"));
            }
        }
        if let Some(prefix) = xml::text(&outside, "file_prefix") {
            flags_xml.push_str(&format!(
                "    <file_prefix>{}</file_prefix>\n",
                xml::escape(&prefix)
            ));
        }
    }
    let mut names: Vec<String> = list_dir(dir)?
        .into_iter()
        .filter(|n| n != "version.xml" && !n.ends_with(".sig"))
        .collect();
    // Files listed in version.xml come first, in its order.
    let mut ordered: Vec<FileDesc> = Vec::new();
    for d in &descs {
        if !names.contains(&d.physical_name) {
            return Err(verr(format!(
                "{} is listed in version.xml but not present",
                d.physical_name
            )));
        }
        ordered.push(d.clone());
    }
    names.retain(|n| !descs.iter().any(|d| &d.physical_name == n));
    ordered.extend(names.into_iter().map(|n| FileDesc {
        physical_name: n,
        ..FileDesc::default()
    }));
    if ordered.is_empty() {
        return Err(verr("no files".into()));
    }
    if ordered.len() == 1 {
        ordered[0].main_program = true;
    }
    match ordered.iter().filter(|d| d.main_program).count() {
        1 => {}
        0 => {
            return Err(verr(
                "no file is marked <main_program/> in version.xml".into(),
            ));
        }
        n => {
            return Err(verr(format!(
                "{n} files are marked <main_program/>; exactly one must be"
            )));
        }
    }
    let mut files = Vec::new();
    for d in ordered {
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
        use std::os::unix::fs::PermissionsExt;
        if d.main_program && api_version.is_empty() {
            api_version = find_api_version(&src).unwrap_or_default();
        }
        files.push(VersionFile {
            url: format!("{}/{}", keys.download_url, d.physical_name),
            executable: meta.permissions().mode() & 0o100 != 0,
            name: d.physical_name,
            src,
            open_name: d.logical_name,
            main_program: d.main_program,
            copy_file: d.copy_file,
            md5,
            signature,
        });
    }
    Ok(PlannedVersion {
        dir: dir.to_path_buf(),
        app,
        appid,
        version_num,
        platform,
        platformid,
        plan_class,
        api_version,
        beta,
        files,
        flags_xml,
    })
}

/// The `API_VERSION_x.y.z` string BOINC's API library embeds in an app, if any.
fn find_api_version(path: &Path) -> Option<String> {
    let bytes = std::fs::read(path).ok()?;
    let tag = b"API_VERSION_";
    let at = bytes.windows(tag.len()).position(|w| w == tag)? + tag.len();
    let v: String = bytes[at..]
        .iter()
        .take_while(|b| b.is_ascii_digit() || **b == b'.')
        .map(|&b| b as char)
        .collect();
    (!v.is_empty()).then_some(v)
}

/// Registers every new version (see the module docs) and touches `reread_db`.
pub async fn run(project: &Project, pool: &db::Pool) -> Result<UpdateReport, UpdateError> {
    let (planned, mut report) = plan(project, pool).await?;
    if planned.is_empty() {
        return Ok(report);
    }
    // Stage every file (flat, immutable), then insert every row in one transaction.
    for pv in &planned {
        for f in &pv.files {
            let staged = project.config.download_dir.join(&f.name);
            if !staged.is_file() {
                let tmp = project.config.download_dir.join(format!(
                    ".{}.{}.tmp",
                    f.name,
                    std::process::id()
                ));
                std::fs::copy(&f.src, &tmp).map_err(io(&tmp))?;
                if let Err(e) = std::fs::hard_link(&tmp, &staged) {
                    let _ = std::fs::remove_file(&tmp);
                    if e.kind() != std::io::ErrorKind::AlreadyExists {
                        return Err(io(&staged)(e));
                    }
                    if md5file::md5_file(&staged)? != f.md5 {
                        return Err(UpdateError::Immutable {
                            src: f.src.clone(),
                            staged,
                        });
                    }
                } else {
                    let _ = std::fs::remove_file(&tmp);
                }
            }
        }
    }
    let now = unix_now();
    let mut tx = pool.begin().await?;
    for pv in &planned {
        let xml_doc = pv.xml_doc();
        let id = app_version::insert(
            &mut *tx,
            &app_version::NewAppVersion {
                create_time: now,
                appid: pv.appid,
                version_num: pv.version_num,
                platformid: pv.platformid,
                plan_class: &pv.plan_class,
                xml_doc: &xml_doc,
                min_core_version: 0,
                max_core_version: 0,
                beta: pv.beta,
            },
        )
        .await?;
        report.registered.push(Registered {
            id,
            app: pv.app.clone(),
            version_num: pv.version_num,
            platform: pv.platform.clone(),
            plan_class: pv.plan_class.clone(),
            files: pv.files.iter().map(|f| f.name.clone()).collect(),
        });
    }
    tx.commit().await?;
    project
        .dir
        .request_reread_db()
        .map_err(io(&project.dir.reread_db_path()))?;
    Ok(report)
}

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
    use std::os::unix::fs::PermissionsExt;
    std::fs::set_permissions(&target, std::fs::Permissions::from_mode(0o755))
        .map_err(io(&target))?;
    std::fs::write(dir.join("version.xml"), version_xml).map_err(io(&dir))?;
    Ok(dir)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn version_numbers() {
        assert_eq!(parse_version("1.4"), Some(104));
        assert_eq!(parse_version("1.04"), Some(104));
        assert_eq!(parse_version("1.40"), Some(140));
        assert_eq!(parse_version("7"), Some(7));
        for bad in ["", "x", "1.x", "1.2.3", "-1", "1.100"] {
            assert_eq!(parse_version(bad), None, "{bad:?}");
        }
    }
}
