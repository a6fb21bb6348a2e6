//! The apps and platforms `apps/` has versions for, made rows before anything is scanned.
//!
//! A version directory `apps/<app>/<version>/<platform>[__<class>]/` can only be registered
//! if its app and platform are rows. A project made by BOINC's `make_project` has neither:
//! BOINC's `xadd` adds what `project.xml` lists. So, first: every app and platform that has a
//! version directory but no row is looked up in `project.xml` and added as `xadd` would (in one
//! transaction, so all or none); one that `project.xml` does not list either is an error naming
//! the fix, found before anything is written. (Passing such a directory over, as before, made
//! `update_versions` print "no new app versions" and exit 0 while publishing nothing.)

use std::collections::BTreeSet;
use std::path::Path;

use rboinc_core::db::{self, app, platform};

use super::scan::list_dir;
use super::{UpdateError, parse_version};
use crate::project::Project;
use crate::xadd::{self, Outcome, ProjectXml};

/// The app and platform names of every version directory under `app_dir`.
fn names_in_use(app_dir: &Path) -> Result<(BTreeSet<String>, BTreeSet<String>), UpdateError> {
    let (mut apps, mut platforms) = (BTreeSet::new(), BTreeSet::new());
    if !app_dir.is_dir() {
        return Ok((apps, platforms));
    }
    for a in list_dir(app_dir)? {
        if !app_dir.join(&a).is_dir() {
            continue;
        }
        for v in list_dir(&app_dir.join(&a))? {
            if parse_version(&v).is_none() || !app_dir.join(&a).join(&v).is_dir() {
                continue;
            }
            for p in list_dir(&app_dir.join(&a).join(&v))? {
                if !app_dir.join(&a).join(&v).join(&p).is_dir() {
                    continue;
                }
                let plat = p.split_once("__").map_or(p.as_str(), |(x, _)| x);
                platforms.insert(plat.to_string());
                apps.insert(a.clone());
            }
        }
    }
    Ok((apps, platforms))
}

/// Adds the apps and platforms that version directories need and `project.xml` lists; fails
/// (writing nothing) if one is listed nowhere. Returns what was added.
pub async fn ensure(project: &Project, pool: &db::Pool) -> Result<Vec<Outcome>, UpdateError> {
    let (apps, platforms) = names_in_use(&project.config.app_dir)?;
    let known_apps: BTreeSet<String> = app::all(pool).await?.into_iter().map(|a| a.name).collect();
    let known_platforms: BTreeSet<String> = platform::active(pool)
        .await?
        .into_iter()
        .map(|p| p.name)
        .collect();
    let missing_apps: Vec<&String> = apps.difference(&known_apps).collect();
    let missing_platforms: Vec<&String> = platforms.difference(&known_platforms).collect();
    if missing_apps.is_empty() && missing_platforms.is_empty() {
        return Ok(Vec::new());
    }
    let listed =
        ProjectXml::load(project.root()).map_err(|e| UpdateError::ProjectXml(e.to_string()))?;
    let unlisted_apps: Vec<String> = missing_apps
        .iter()
        .filter(|a| listed.app(a).is_none())
        .map(|a| a.to_string())
        .collect();
    if !unlisted_apps.is_empty() {
        return Err(UpdateError::NotListed {
            kind: "app",
            names: unlisted_apps,
        });
    }
    let unlisted_platforms: Vec<String> = missing_platforms
        .iter()
        .filter(|p| listed.platform(p).is_none())
        .map(|p| p.to_string())
        .collect();
    if !unlisted_platforms.is_empty() {
        return Err(UpdateError::NotListed {
            kind: "platform",
            names: unlisted_platforms,
        });
    }
    let now = rboinc_core::clock::now_i32();
    let mut tx = pool.begin().await?;
    let mut out = Vec::new();
    for p in missing_platforms {
        let entry = listed.platform(p).expect("checked above");
        let (_, change) = xadd::add_platform(&mut tx, entry, now).await?;
        out.push(Outcome {
            kind: "platform",
            name: p.clone(),
            change,
        });
    }
    for a in missing_apps {
        let entry = listed.app(a).expect("checked above");
        let (_, change) = xadd::add_app(&mut tx, entry, now).await?;
        out.push(Outcome {
            kind: "app",
            name: a.clone(),
            change,
        });
    }
    tx.commit().await?;
    Ok(out)
}
