//! A version put together before anything is written: its files in `version.xml`'s order (then
//! the rest), exactly one main program, every file checked and signed. [`plan`] does this for
//! every new version directory, so a mistake in one registers nothing.

use std::path::{Path, PathBuf};

use rboinc_core::crypt::PrivateKey;
use rboinc_core::db::{self, AppId, PlatformId};

use super::scan::{self, Candidate};
use super::sign::{self, PlanKeys, VersionFile};
use super::version_xml::{self, FileDesc};
use super::{UpdateError, UpdateReport, plan_class};
use crate::project::Project;

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

/// Finds every version directory not yet registered and checks it (nothing is written).
pub async fn plan(
    project: &Project,
    pool: &db::Pool,
) -> Result<(Vec<PlannedVersion>, UpdateReport), UpdateError> {
    let mut report = UpdateReport::default();
    let app_dir = project.config.app_dir.clone();
    let Some(candidates) = scan::candidates(&app_dir, pool, &mut report).await? else {
        return Ok((Vec::new(), report));
    };
    let classes = plan_class::ProjectClasses::load(project.dir.root())
        .map_err(|e| UpdateError::PlanClasses(e.to_string()))?;
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
        for c in candidates {
            let dir = c.dir.clone();
            let pv = plan_one(
                c,
                &classes,
                &PlanKeys {
                    key: key.as_ref(),
                    key_path: &key_path,
                    download_url: download_url.trim_end_matches('/'),
                    download_dir: &download_dir,
                },
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

/// One version directory, checked and signed.
fn plan_one(
    c: Candidate,
    classes: &plan_class::ProjectClasses,
    keys: &PlanKeys<'_>,
) -> Result<PlannedVersion, UpdateError> {
    let dir = c.dir.as_path();
    let v = version_xml::read(dir)?;
    plan_class::check(classes, &c.plan_class, &v.declared).map_err(|message| {
        UpdateError::Version {
            dir: dir.to_path_buf(),
            message,
        }
    })?;
    let mut api_version = v.api_version;
    let mut files = Vec::new();
    for d in ordered_files(dir, &v.files)? {
        let f = sign::version_file(dir, d, keys)?;
        if f.main_program && api_version.is_empty() {
            api_version = version_xml::find_api_version(&f.src).unwrap_or_default();
        }
        files.push(f);
    }
    Ok(PlannedVersion {
        dir: c.dir,
        app: c.app,
        appid: c.appid,
        version_num: c.version_num,
        platform: c.platform,
        platformid: c.platformid,
        plan_class: c.plan_class,
        api_version,
        beta: v.beta,
        files,
        flags_xml: v.flags_xml,
    })
}

/// The version's files: those `version.xml` lists first, in its order, then the others in the
/// directory (`version.xml` and `*.sig` aside); exactly one is the main program (a lone file
/// is).
fn ordered_files(dir: &Path, descs: &[FileDesc]) -> Result<Vec<FileDesc>, UpdateError> {
    let verr = |message: String| UpdateError::Version {
        dir: dir.to_path_buf(),
        message,
    };
    let mut names: Vec<String> = scan::list_dir(dir)?
        .into_iter()
        .filter(|n| n != "version.xml" && !n.ends_with(".sig"))
        .collect();
    let mut ordered: Vec<FileDesc> = Vec::new();
    for d in descs {
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
    Ok(ordered)
}
