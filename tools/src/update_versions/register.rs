//! Publishing the planned versions: every file staged flat into `download/` (immutable: a name
//! already there must hold the same bytes), then every `app_version` row inserted in one
//! transaction, then `reread_db` touched so running daemons see the new versions.

use std::path::Path;

use rboinc_core::db::{self, AppVersionId, app_version};
use rboinc_core::md5file;

use super::{PlannedVersion, UpdateError, io, plan};
use crate::project::Project;
use rboinc_core::clock::now_i32;

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
    /// Apps and platforms added from `project.xml` first (as `xadd` would).
    pub added_from_project_xml: Vec<crate::xadd::Outcome>,
}

/// Registers every new version (see the module docs) and touches `reread_db`.
pub async fn run(project: &Project, pool: &db::Pool) -> Result<UpdateReport, UpdateError> {
    let added = super::catalog::ensure(project, pool).await?;
    let (planned, mut report) = plan(project, pool).await?;
    report.added_from_project_xml = added;
    if planned.is_empty() {
        return Ok(report);
    }
    // Stage every file (flat, immutable), then insert every row in one transaction.
    stage_files(&project.config.download_dir, &planned)?;
    let now = now_i32();
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

/// Copies each file not yet in `download_dir` there under its own name: written to a private
/// temporary name and hard-linked into place, so a name is never seen half-written and a file
/// staged meanwhile by someone else is checked, not overwritten.
fn stage_files(download_dir: &Path, planned: &[PlannedVersion]) -> Result<(), UpdateError> {
    for pv in planned {
        for f in &pv.files {
            let staged = download_dir.join(&f.name);
            if !staged.is_file() {
                let tmp = download_dir.join(format!(".{}.{}.tmp", f.name, std::process::id()));
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
    Ok(())
}
