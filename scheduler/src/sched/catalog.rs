//! Platforms, apps and app versions: which build a client gets, cached in memory.
//!
//! These three tables are tiny and change only when a version is published, so every scheduler
//! process keeps a copy (the C++ feeder keeps one in shared memory) and re-reads it every few
//! seconds, or at once when `reread_db` changes (stock `update_versions` touches it). Publishing
//! version 1.4 after 1.3 therefore makes new work go out with 1.4 within seconds, with no client
//! reset: the client gets a new `<app_version>` whose files have new names.
//!
//! The version sent for a job is the highest `version_num` among the app's non-deprecated
//! versions for the client's platforms (its primary platform first, then its alternate ones),
//! honouring the app's `min_version` and the job's `app_version_num` pin. Versions with a plan
//! class (GPU, multithread builds) are not offered: this server sends plain CPU work.

use std::collections::HashMap;
use std::fmt::Write as _;
use std::path::PathBuf;
use std::sync::{Arc, Mutex, RwLock};
use std::time::{Duration, Instant, SystemTime};

use rboinc_core::db::app::AppRow;
use rboinc_core::db::app_version::AppVersionRow;
use rboinc_core::db::{self, AppId, AppVersionId, PlatformId};
use rboinc_core::xml::escape;
use sqlx::mysql::MySqlConnection;

/// How long a loaded catalog is used before it is read again.
pub const REFRESH: Duration = Duration::from_secs(5);

/// The platform name of clients that bring their own app versions (`app_info.xml`).
pub const ANONYMOUS_PLATFORM: &str = "anonymous";

/// One app version, ready to be put in replies.
#[derive(Debug, Clone, PartialEq)]
pub struct VersionEntry {
    pub id: AppVersionId,
    pub appid: AppId,
    pub version_num: i32,
    pub platform: String,
    pub plan_class: String,
    /// `xml_doc` up to (not including) `</app_version>`: the version's `<file_info>`s and
    /// the start of its `<app_version>` element, which the reply completes per host.
    head: String,
}

impl VersionEntry {
    /// The `<file_info>`s and `<app_version>` element for a host whose CPU does `flops`.
    pub fn reply_xml(&self, flops: f64) -> String {
        let mut xml = String::with_capacity(self.head.len() + 200);
        xml.push_str(&self.head);
        let _ = writeln!(xml, "    <platform>{}</platform>", escape(&self.platform));
        if !self.plan_class.is_empty() {
            let _ = writeln!(
                xml,
                "    <plan_class>{}</plan_class>",
                escape(&self.plan_class)
            );
        }
        let _ = write!(
            xml,
            "    <avg_ncpus>1.000000</avg_ncpus>\n    <flops>{flops:.6}</flops>\n</app_version>\n"
        );
        xml
    }

    /// Multithreaded builds may report more CPU than elapsed time.
    pub fn is_multithread(&self) -> bool {
        self.plan_class.contains("mt")
    }
}

/// One app.
#[derive(Debug, Clone, PartialEq)]
pub struct AppEntry {
    pub row: AppRow,
}

impl AppEntry {
    /// The `<app>` element (BOINC's layout).
    pub fn reply_xml(&self) -> String {
        let a = &self.row;
        let friendly = if a.user_friendly_name.is_empty() {
            &a.name
        } else {
            &a.user_friendly_name
        };
        format!(
            "<app>\n    <name>{}</name>\n    <user_friendly_name>{}</user_friendly_name>\n    \
             <non_cpu_intensive>{}</non_cpu_intensive>\n    \
             <fraction_done_exact>{}</fraction_done_exact>\n</app>\n",
            escape(&a.name),
            escape(friendly),
            i32::from(a.non_cpu_intensive != 0),
            i32::from(a.fraction_done_exact != 0),
        )
    }
}

/// A snapshot of the three tables.
#[derive(Debug, Default)]
pub struct Catalog {
    platforms: HashMap<String, PlatformId>,
    platform_labels: Vec<(String, String)>,
    apps: HashMap<AppId, Arc<AppEntry>>,
    apps_by_name: HashMap<String, AppId>,
    /// Non-deprecated plain versions per (app, platform), highest `version_num` first.
    versions: HashMap<(AppId, PlatformId), Vec<Arc<VersionEntry>>>,
    /// Every non-deprecated version by id (plan classes included), for reports.
    by_id: HashMap<AppVersionId, Arc<VersionEntry>>,
}

impl Catalog {
    /// Reads the tables (three queries).
    pub async fn load(conn: &mut MySqlConnection) -> Result<Catalog, sqlx::Error> {
        let platforms = db::platform::active(&mut *conn).await?;
        let apps = db::app::all(&mut *conn).await?;
        let versions = db::app_version::active(&mut *conn).await?;
        Ok(Self::from_rows(
            platforms
                .into_iter()
                .map(|p| (p.id, p.name, p.user_friendly_name))
                .collect(),
            apps,
            versions,
        ))
    }

    /// Builds a catalog from rows (`platforms` as id, name, user-friendly name).
    pub fn from_rows(
        platforms: Vec<(PlatformId, String, String)>,
        apps: Vec<AppRow>,
        versions: Vec<AppVersionRow>,
    ) -> Catalog {
        let mut c = Catalog::default();
        let mut names = HashMap::new();
        for (id, name, label) in platforms {
            names.insert(id, name.clone());
            c.platforms.insert(name.clone(), id);
            c.platform_labels.push((name, label));
        }
        for app in apps {
            c.apps_by_name.insert(app.name.clone(), app.id);
            c.apps.insert(app.id, Arc::new(AppEntry { row: app }));
        }
        for v in versions {
            let Some(platform) = names.get(&v.platformid) else {
                continue; // deprecated platform
            };
            let Some(end) = v.xml_doc.find("</app_version>") else {
                tracing::error!(app_version_id = %v.id, "app version xml_doc has no </app_version>; not offered");
                continue;
            };
            let entry = Arc::new(VersionEntry {
                id: v.id,
                appid: v.appid,
                version_num: v.version_num,
                platform: platform.clone(),
                plan_class: v.plan_class.clone(),
                head: v.xml_doc[..end].to_string(),
            });
            c.by_id.insert(v.id, Arc::clone(&entry));
            if v.plan_class.is_empty() {
                c.versions
                    .entry((v.appid, v.platformid))
                    .or_default()
                    .push(entry);
            }
        }
        for list in c.versions.values_mut() {
            list.sort_by_key(|v| std::cmp::Reverse(v.version_num));
        }
        c
    }

    pub fn platform_id(&self, name: &str) -> Option<PlatformId> {
        self.platforms.get(name).copied()
    }

    pub fn app(&self, id: AppId) -> Option<&Arc<AppEntry>> {
        self.apps.get(&id)
    }

    pub fn app_by_name(&self, name: &str) -> Option<&Arc<AppEntry>> {
        self.apps_by_name.get(name).and_then(|id| self.apps.get(id))
    }

    /// Apps not deprecated (whose jobs may be sent), by id.
    pub fn active_app_ids(&self) -> Vec<AppId> {
        let mut ids: Vec<AppId> = self
            .apps
            .values()
            .filter(|a| a.row.deprecated == 0)
            .map(|a| a.row.id)
            .collect();
        ids.sort_unstable();
        ids
    }

    pub fn version(&self, id: AppVersionId) -> Option<&Arc<VersionEntry>> {
        self.by_id.get(&id)
    }

    /// The version to send for a job of `app` (see the module docs); `required_num` is the
    /// job's `app_version_num` (0 = any).
    pub fn best_version(
        &self,
        app: AppId,
        platforms: &[PlatformId],
        required_num: i32,
    ) -> Option<&Arc<VersionEntry>> {
        let entry = self.apps.get(&app)?;
        if entry.row.deprecated != 0 {
            return None;
        }
        let min_version = entry.row.min_version;
        platforms.iter().find_map(|p| {
            self.versions.get(&(app, *p))?.iter().find(|v| {
                (required_num == 0 || v.version_num == required_num)
                    && (min_version == 0 || v.version_num >= min_version)
            })
        })
    }

    /// Platforms that have a version of a non-deprecated app, with their user-friendly names
    /// (for `get_project_config.php`).
    pub fn platforms_with_versions(&self) -> Vec<(String, String)> {
        self.platform_labels
            .iter()
            .filter(|(name, _)| {
                let id = self.platforms[name];
                self.versions.iter().any(|((app, p), list)| {
                    *p == id
                        && !list.is_empty()
                        && self.apps.get(app).is_some_and(|a| a.row.deprecated == 0)
                })
            })
            .cloned()
            .collect()
    }
}

/// The shared, self-refreshing catalog.
#[derive(Debug)]
pub struct CatalogCache {
    current: RwLock<Option<Arc<Catalog>>>,
    checked: Mutex<Checked>,
    reload: tokio::sync::Mutex<()>,
    reread_db: PathBuf,
    refresh: Duration,
}

#[derive(Debug)]
struct Checked {
    loaded_at: Option<Instant>,
    reread_mtime: Option<SystemTime>,
    reread_checked_at: Option<Instant>,
}

impl CatalogCache {
    pub fn new(reread_db: PathBuf, refresh: Duration) -> Self {
        CatalogCache {
            current: RwLock::new(None),
            checked: Mutex::new(Checked {
                loaded_at: None,
                reread_mtime: None,
                reread_checked_at: None,
            }),
            reload: tokio::sync::Mutex::new(()),
            reread_db,
            refresh,
        }
    }

    fn snapshot(&self) -> Option<Arc<Catalog>> {
        self.current
            .read()
            .unwrap_or_else(|e| e.into_inner())
            .clone()
    }

    /// Whether the copy is old, or `reread_db` changed (looked at once a second).
    fn stale(&self) -> bool {
        let mut c = self.checked.lock().unwrap_or_else(|e| e.into_inner());
        let now = Instant::now();
        if c.loaded_at
            .is_none_or(|t| now.duration_since(t) >= self.refresh)
        {
            return true;
        }
        if c.reread_checked_at
            .is_none_or(|t| now.duration_since(t) >= Duration::from_secs(1))
        {
            c.reread_checked_at = Some(now);
            let mtime = std::fs::metadata(&self.reread_db)
                .and_then(|m| m.modified())
                .ok();
            if mtime.is_some() && mtime != c.reread_mtime {
                return true;
            }
        }
        false
    }

    /// The current catalog, reloaded first if it is stale. Only one request reloads; the
    /// others keep using the previous copy meanwhile (or wait, before the first load). Reads
    /// through the caller's connection (a request never waits for a second one).
    pub async fn get(&self, conn: &mut MySqlConnection) -> Result<Arc<Catalog>, sqlx::Error> {
        let current = self.snapshot();
        if let Some(c) = &current
            && !self.stale()
        {
            return Ok(Arc::clone(c));
        }
        let _guard = match (&current, self.reload.try_lock()) {
            (_, Ok(guard)) => guard,
            (Some(c), Err(_)) => return Ok(Arc::clone(c)),
            (None, Err(_)) => self.reload.lock().await,
        };
        // Someone else may have loaded it while we waited for the lock.
        if let Some(c) = self.snapshot()
            && current.as_ref().is_none_or(|old| !Arc::ptr_eq(old, &c))
        {
            return Ok(c);
        }
        let reread_mtime = std::fs::metadata(&self.reread_db)
            .and_then(|m| m.modified())
            .ok();
        let fresh = Arc::new(Catalog::load(conn).await?);
        *self.current.write().unwrap_or_else(|e| e.into_inner()) = Some(Arc::clone(&fresh));
        let mut c = self.checked.lock().unwrap_or_else(|e| e.into_inner());
        c.loaded_at = Some(Instant::now());
        c.reread_mtime = reread_mtime;
        c.reread_checked_at = Some(Instant::now());
        tracing::debug!(
            apps = fresh.apps.len(),
            versions = fresh.by_id.len(),
            "app version catalog loaded"
        );
        Ok(fresh)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn version(id: i64, app: i64, platform: i64, num: i32, plan: &str) -> AppVersionRow {
        AppVersionRow {
            id: AppVersionId(id),
            appid: AppId(app),
            version_num: num,
            platformid: PlatformId(platform),
            plan_class: plan.into(),
            xml_doc: format!(
                "<file_info>\n    <name>a_{num}</name>\n</file_info>\n<app_version>\n    \
                 <app_name>a</app_name>\n    <version_num>{num}</version_num>\n</app_version>\n"
            ),
            ..Default::default()
        }
    }

    fn app(id: i64, min_version: i32, deprecated: i32) -> AppRow {
        AppRow {
            id: AppId(id),
            name: format!("app{id}"),
            min_version,
            deprecated,
            ..Default::default()
        }
    }

    fn catalog() -> Catalog {
        Catalog::from_rows(
            vec![
                (PlatformId(1), "x86_64-pc-linux-gnu".into(), "Linux".into()),
                (PlatformId(2), "i686-pc-linux-gnu".into(), "Linux 32".into()),
            ],
            vec![app(1, 0, 0), app(2, 0, 1), app(3, 0, 0)],
            vec![
                version(10, 1, 1, 103, ""),
                version(11, 1, 1, 104, ""),
                version(12, 1, 1, 105, "mt"),
                version(13, 1, 2, 200, ""),
                version(14, 2, 1, 100, ""),
            ],
        )
    }

    #[test]
    fn newest_plain_version_for_the_primary_platform_wins() {
        let c = catalog();
        let v = c
            .best_version(AppId(1), &[PlatformId(1), PlatformId(2)], 0)
            .unwrap();
        assert_eq!(
            v.version_num, 104,
            "1.05 has a plan class; 2.00 is an alternate platform's"
        );
        let v = c
            .best_version(AppId(1), &[PlatformId(2), PlatformId(1)], 0)
            .unwrap();
        assert_eq!(v.version_num, 200);
        // A pinned version number.
        let v = c.best_version(AppId(1), &[PlatformId(1)], 103).unwrap();
        assert_eq!(v.id, AppVersionId(10));
        assert!(c.best_version(AppId(1), &[PlatformId(1)], 999).is_none());
        // Deprecated apps and apps without versions get nothing.
        assert!(c.best_version(AppId(2), &[PlatformId(1)], 0).is_none());
        assert!(c.best_version(AppId(3), &[PlatformId(1)], 0).is_none());
        assert!(c.version(AppVersionId(12)).unwrap().is_multithread());
        assert_eq!(c.active_app_ids(), vec![AppId(1), AppId(3)]);
    }

    #[test]
    fn min_version_is_honoured() {
        let c = Catalog::from_rows(
            vec![(PlatformId(1), "p".into(), "P".into())],
            vec![app(1, 105, 0)],
            vec![version(10, 1, 1, 104, "")],
        );
        assert!(c.best_version(AppId(1), &[PlatformId(1)], 0).is_none());
    }

    #[test]
    fn reply_xml_completes_the_app_version() {
        let c = catalog();
        let v = c.best_version(AppId(1), &[PlatformId(1)], 0).unwrap();
        let xml = v.reply_xml(2e9);
        assert!(xml.starts_with("<file_info>\n    <name>a_104</name>"));
        assert!(xml.ends_with(
            "    <version_num>104</version_num>\n    <platform>x86_64-pc-linux-gnu</platform>\n    \
             <avg_ncpus>1.000000</avg_ncpus>\n    <flops>2000000000.000000</flops>\n</app_version>\n"
        ));
        assert_eq!(c.platforms_with_versions().len(), 2);
    }
}
