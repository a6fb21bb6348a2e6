//! Walking `apps/<app>/<version>/<platform>[__<plan_class>]/` for versions to register: the
//! directories whose app and platform are in the database and which are not registered yet.
//! Everything else is passed over with the reason, for `--verbose`.

use std::collections::HashMap;
use std::path::{Path, PathBuf};

use rboinc_core::db::{self, AppId, PlatformId, app, app_version, platform};

use super::{UpdateError, UpdateReport, io};

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

/// A version directory not registered yet, with its database ids.
#[derive(Debug, Clone)]
pub struct Candidate {
    pub dir: PathBuf,
    pub app: String,
    pub appid: AppId,
    pub version_num: i32,
    pub platform: String,
    pub platformid: PlatformId,
    pub plan_class: String,
}

/// A directory's entries (hidden ones left out), sorted by name.
pub(super) fn list_dir(dir: &Path) -> Result<Vec<String>, UpdateError> {
    let mut names: Vec<String> = std::fs::read_dir(dir)
        .map_err(io(dir))?
        .filter_map(|e| e.ok())
        .filter_map(|e| e.file_name().into_string().ok())
        .filter(|n| !n.starts_with('.'))
        .collect();
    names.sort();
    Ok(names)
}

/// Every version directory under `app_dir` not registered yet (`None` if there is no such
/// directory); what was passed over goes to `report.skipped`.
pub async fn candidates(
    app_dir: &Path,
    pool: &db::Pool,
    report: &mut UpdateReport,
) -> Result<Option<Vec<Candidate>>, UpdateError> {
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
    let mut candidates = Vec::new();
    if !app_dir.is_dir() {
        report
            .skipped
            .push(format!("{}: no such directory", app_dir.display()));
        return Ok(None);
    }
    for a in list_dir(app_dir)? {
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
                candidates.push(Candidate {
                    dir,
                    app: a.clone(),
                    appid,
                    version_num,
                    platform: plat,
                    platformid,
                    plan_class,
                });
            }
        }
    }
    Ok(Some(candidates))
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
