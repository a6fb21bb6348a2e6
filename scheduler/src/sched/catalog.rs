//! Platforms, apps and app versions: which builds exist, cached in memory.
//!
//! These three tables are tiny and change only when a version is published, so every scheduler
//! process keeps a copy (the C++ feeder keeps one in shared memory) and re-reads it every few
//! seconds, or at once when `reread_db` changes (stock `update_versions` touches it). Publishing
//! version 1.4 after 1.3 therefore makes new work go out with 1.4 within seconds, with no client
//! reset: the client gets a new `<app_version>` whose files have new names.
//!
//! As BOINC's feeder loads them: for each app, platform and plan class, only the newest
//! non-deprecated version is offered — unless the app has a `min_version`, then every version
//! from it on is kept, the older ones marked [`VersionEntry::superseded`] (sent only for jobs
//! pinned to their number). A version whose plan class the project does not define
//! (`plan_class_spec.xml`, or BOINC's named classes without one) is never offered. The
//! catalog also carries the plan class definitions in force, the types the project has
//! versions for, and the spread of host speeds that caps a host's claimed speed
//! ([`PerfInfo`]). Which version a host gets is [`super::versions`]'s business.

use std::collections::{HashMap, HashSet};
use std::fmt::Write as _;
use std::path::PathBuf;
use std::sync::{Arc, Mutex, RwLock};
use std::time::{Duration, Instant, SystemTime};

use rboinc_core::db::app::AppRow;
use rboinc_core::db::app_version::AppVersionRow;
use rboinc_core::db::{self, AppId, AppVersionId, PlatformId};
use rboinc_core::xml::escape;
use sqlx::mysql::MySqlConnection;

use super::coprocs::ProcType;
pub use super::perf::PerfInfo;
use crate::plan_class::{HostUsage, PlanClassFile, PlanClasses};

/// How long a loaded catalog is used before it is read again.
pub const REFRESH: Duration = Duration::from_secs(5);
/// How long the host speed percentiles are used before they are computed again (they are
/// also computed again when `reread_db` changes, as BOINC's feeder does).
const PERF_REFRESH: Duration = Duration::from_secs(3600);

/// The platform name of clients that bring their own app versions (`app_info.xml`).
pub const ANONYMOUS_PLATFORM: &str = "anonymous";

/// One app version, ready to be put in replies.
#[derive(Debug, Clone, PartialEq)]
pub struct VersionEntry {
    pub id: AppVersionId,
    pub appid: AppId,
    pub version_num: i32,
    pub platformid: PlatformId,
    pub platform: String,
    pub plan_class: String,
    /// A newer version of the same app, platform and plan class exists.
    pub superseded: bool,
    /// Only for users who allow beta work.
    pub beta: bool,
    /// Client versions (`major*10000 + minor*100 + release`) it may go to; 0: no bound.
    pub min_core_version: u32,
    pub max_core_version: u32,
    /// Credit statistics: samples and average of peak FLOP count per FLOP.
    pub pfc_n: f64,
    pub pfc_avg: f64,
    /// `xml_doc` up to (not including) `</app_version>`: the version's `<file_info>`s and
    /// the start of its `<app_version>` element, which the reply completes per host.
    head: String,
}

/// BOINC writes NVIDIA's type as `CUDA` for clients older than 7.0.
const CUDA_NAME_BEFORE: u32 = 70_000;

impl VersionEntry {
    /// The `<file_info>`s and `<app_version>` element for a host that runs it with `usage`
    /// (BOINC's `APP_VERSION::write`): platform, plan class, CPUs, speed, command line, GPU.
    pub fn reply_xml(&self, usage: &HostUsage, client_version: u32) -> String {
        let mut xml = String::with_capacity(self.head.len() + 300);
        xml.push_str(&self.head);
        let _ = writeln!(xml, "    <platform>{}</platform>", escape(&self.platform));
        if !self.plan_class.is_empty() {
            let _ = writeln!(
                xml,
                "    <plan_class>{}</plan_class>",
                escape(&self.plan_class)
            );
        }
        let _ = writeln!(
            xml,
            "    <avg_ncpus>{:.6}</avg_ncpus>\n    <flops>{:.6}</flops>",
            usage.avg_ncpus, usage.projected_flops
        );
        if !usage.cmdline.is_empty() {
            let _ = writeln!(xml, "    <cmdline>{}</cmdline>", escape(&usage.cmdline));
        }
        if usage.proc_type != ProcType::Cpu {
            let name = if usage.proc_type == ProcType::Nvidia && client_version < CUDA_NAME_BEFORE {
                "CUDA"
            } else {
                usage.proc_type.xml_name()
            };
            let _ = writeln!(
                xml,
                "    <coproc>\n        <type>{name}</type>\n        <count>{:.6}</count>\n    </coproc>",
                usage.gpu_usage
            );
        }
        if usage.gpu_ram != 0.0 {
            let _ = writeln!(xml, "    <gpu_ram>{:.6}</gpu_ram>", usage.gpu_ram);
        }
        xml.push_str("</app_version>\n");
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

    /// The name users read.
    pub fn friendly_name(&self) -> &str {
        if self.row.user_friendly_name.is_empty() {
            &self.row.name
        } else {
            &self.row.user_friendly_name
        }
    }
}

/// A snapshot of the three tables, with the plan classes and host speeds of the moment.
#[derive(Debug, Default)]
pub struct Catalog {
    platforms: HashMap<String, PlatformId>,
    platform_labels: Vec<(String, String)>,
    apps: HashMap<AppId, Arc<AppEntry>>,
    apps_by_name: HashMap<String, AppId>,
    /// Versions offered per (app, platform), in id order (BOINC's shared-memory order).
    versions: HashMap<(AppId, PlatformId), Vec<Arc<VersionEntry>>>,
    /// Every non-deprecated version by id, for reports and pinned workunits.
    by_id: HashMap<AppVersionId, Arc<VersionEntry>>,
    /// Versions whose plan class the project does not define (never offered).
    pub undefined_plan_class: Vec<(AppVersionId, String)>,
    /// Processor types the project has versions for (by plan class name, BOINC's rule).
    pub have_apps: [bool; 5],
    pub plan_classes: Arc<PlanClasses>,
    pub perf: PerfInfo,
}

impl Catalog {
    /// Reads the tables (three queries).
    pub async fn load(
        conn: &mut MySqlConnection,
        plan_classes: Arc<PlanClasses>,
        perf: PerfInfo,
    ) -> Result<Catalog, sqlx::Error> {
        let platforms = db::platform::active(&mut *conn).await?;
        let apps = db::app::all(&mut *conn).await?;
        let versions = db::app_version::active(&mut *conn).await?;
        let mut c = Self::from_rows(
            platforms
                .into_iter()
                .map(|p| (p.id, p.name, p.user_friendly_name))
                .collect(),
            apps,
            versions,
            plan_classes,
        );
        c.perf = perf;
        Ok(c)
    }

    /// Builds a catalog from rows (`platforms` as id, name, user-friendly name).
    pub fn from_rows(
        platforms: Vec<(PlatformId, String, String)>,
        apps: Vec<AppRow>,
        mut versions: Vec<AppVersionRow>,
        plan_classes: Arc<PlanClasses>,
    ) -> Catalog {
        let mut c = Catalog {
            plan_classes,
            ..Default::default()
        };
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
        // The newest version_num per (app, platform, plan class).
        let mut newest: HashMap<(AppId, PlatformId, String), i32> = HashMap::new();
        for v in &versions {
            let n = newest
                .entry((v.appid, v.platformid, v.plan_class.clone()))
                .or_insert(v.version_num);
            *n = (*n).max(v.version_num);
        }
        versions.sort_by_key(|v| v.id);
        let core = |v: i32| -> u32 {
            let v = v.max(0) as u32;
            if v != 0 && v < 10_000 { v * 100 } else { v }
        };
        for v in versions {
            let Some(platform) = names.get(&v.platformid) else {
                continue; // deprecated platform
            };
            let Some(end) = v.xml_doc.find("</app_version>") else {
                tracing::error!(app_version_id = %v.id, "app version xml_doc has no </app_version>; not offered");
                continue;
            };
            if !v.plan_class.is_empty() && !c.plan_classes.defines(&v.plan_class) {
                c.undefined_plan_class.push((v.id, v.plan_class.clone()));
                continue;
            }
            let superseded = newest[&(v.appid, v.platformid, v.plan_class.clone())] > v.version_num;
            let entry = Arc::new(VersionEntry {
                id: v.id,
                appid: v.appid,
                version_num: v.version_num,
                platformid: v.platformid,
                platform: platform.clone(),
                plan_class: v.plan_class.clone(),
                superseded,
                beta: v.beta != 0,
                min_core_version: core(v.min_core_version),
                max_core_version: core(v.max_core_version),
                pfc_n: v.pfc_n,
                pfc_avg: v.pfc_avg,
                head: v.xml_doc[..end].to_string(),
            });
            c.by_id.insert(v.id, Arc::clone(&entry));
            let Some(app) = c.apps.get(&v.appid) else {
                continue;
            };
            let min_version = app.row.min_version;
            let offered = if min_version == 0 {
                !superseded
            } else {
                v.version_num >= min_version
            };
            if offered {
                c.have_apps[ProcType::of_plan_class_name(&v.plan_class).index()] = true;
                c.versions
                    .entry((v.appid, v.platformid))
                    .or_default()
                    .push(entry);
            }
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

    /// The versions offered for `app` on `platform`, in id order.
    pub fn versions_for(&self, app: AppId, platform: PlatformId) -> &[Arc<VersionEntry>] {
        self.versions
            .get(&(app, platform))
            .map_or(&[], Vec::as_slice)
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
    plan_classes: PlanClassFile,
    /// The host speed percentiles, when they were computed, and `reread_db`'s time then.
    perf: Mutex<(PerfInfo, Option<Instant>, Option<SystemTime>)>,
    /// Versions already reported for an undefined plan class (reported once per process).
    reported: Mutex<HashSet<AppVersionId>>,
}

#[derive(Debug)]
struct Checked {
    loaded_at: Option<Instant>,
    reread_mtime: Option<SystemTime>,
    reread_checked_at: Option<Instant>,
}

impl CatalogCache {
    /// A cache that reads `plan_classes` again as it changes.
    pub fn new(reread_db: PathBuf, refresh: Duration, plan_classes: PlanClassFile) -> Self {
        CatalogCache {
            plan_classes,
            perf: Mutex::new((PerfInfo::default(), None, None)),
            reported: Mutex::new(HashSet::new()),
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
        let perf = self.perf(conn, reread_mtime).await?;
        let fresh = Catalog::load(conn, self.plan_classes.current(), perf).await?;
        self.report_undefined(&fresh);
        let fresh = Arc::new(fresh);
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

    /// The host speed percentiles: computed again after an hour, or when `reread_db` changed.
    async fn perf(
        &self,
        conn: &mut MySqlConnection,
        reread_mtime: Option<SystemTime>,
    ) -> Result<PerfInfo, sqlx::Error> {
        {
            let p = self.perf.lock().unwrap_or_else(|e| e.into_inner());
            if p.1.is_some_and(|t| t.elapsed() < PERF_REFRESH) && p.2 == reread_mtime {
                return Ok(p.0);
            }
        }
        let fresh = PerfInfo::load(conn).await?;
        *self.perf.lock().unwrap_or_else(|e| e.into_inner()) =
            (fresh, Some(Instant::now()), reread_mtime);
        Ok(fresh)
    }

    fn report_undefined(&self, c: &Catalog) {
        let mut reported = self.reported.lock().unwrap_or_else(|e| e.into_inner());
        for (id, plan_class) in &c.undefined_plan_class {
            if reported.insert(*id) {
                tracing::error!(
                    app_version_id = %id, plan_class,
                    "the project does not define this plan class (plan_class_spec.xml, or BOINC's \
                     named classes without one); the version is never sent"
                );
            }
        }
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

    fn catalog(apps: Vec<AppRow>, versions: Vec<AppVersionRow>) -> Catalog {
        Catalog::from_rows(
            vec![
                (PlatformId(1), "x86_64-pc-linux-gnu".into(), "Linux".into()),
                (PlatformId(2), "i686-pc-linux-gnu".into(), "Linux 32".into()),
            ],
            apps,
            versions,
            Arc::new(PlanClasses::BuiltIn),
        )
    }

    fn offered(c: &Catalog, app: i64, platform: i64) -> Vec<(i32, String, bool)> {
        c.versions_for(AppId(app), PlatformId(platform))
            .iter()
            .map(|v| (v.version_num, v.plan_class.clone(), v.superseded))
            .collect()
    }

    #[test]
    fn the_newest_version_of_each_plan_class_is_offered() {
        let c = catalog(
            vec![app(1, 0, 0), app(2, 0, 1)],
            vec![
                version(10, 1, 1, 103, ""),
                version(11, 1, 1, 104, ""),
                version(12, 1, 1, 105, "mt"),
                version(13, 1, 2, 200, ""),
                version(14, 2, 1, 100, ""),
                version(15, 1, 1, 106, "mt_typo"),
                version(16, 1, 1, 101, "cuda"),
            ],
        );
        assert_eq!(
            offered(&c, 1, 1),
            [
                (104, String::new(), false),
                (105, "mt".into(), false),
                (101, "cuda".into(), false)
            ]
        );
        assert_eq!(offered(&c, 1, 2), [(200, String::new(), false)]);
        assert!(c.version(AppVersionId(10)).unwrap().superseded);
        assert_eq!(
            c.undefined_plan_class,
            [(AppVersionId(15), "mt_typo".to_string())],
            "not a class BOINC knows by name"
        );
        assert_eq!(c.have_apps, [true, true, false, false, false]);
        assert!(c.version(AppVersionId(12)).unwrap().is_multithread());
        assert_eq!(c.active_app_ids(), vec![AppId(1)]);
        assert_eq!(c.platforms_with_versions().len(), 2);
    }

    #[test]
    fn with_min_version_older_versions_stay_for_pinned_jobs() {
        let c = catalog(
            vec![app(1, 104, 0)],
            vec![
                version(10, 1, 1, 103, ""),
                version(11, 1, 1, 104, ""),
                version(12, 1, 1, 105, ""),
            ],
        );
        assert_eq!(
            offered(&c, 1, 1),
            [(104, String::new(), true), (105, String::new(), false)]
        );
    }

    #[test]
    fn reply_xml_completes_the_app_version_as_boinc_writes_it() {
        let c = catalog(vec![app(1, 0, 0)], vec![version(12, 1, 1, 105, "cuda")]);
        let v = c.version(AppVersionId(12)).unwrap();
        let usage = HostUsage {
            proc_type: ProcType::Nvidia,
            gpu_usage: 1.0,
            gpu_ram: 268_435_456.0,
            avg_ncpus: 0.895_588,
            projected_flops: 32_686_764_723.253_292,
            cmdline: "--device x".into(),
            ..Default::default()
        };
        let xml = v.reply_xml(&usage, 72005);
        assert!(xml.starts_with("<file_info>\n    <name>a_105</name>"));
        assert!(
            xml.ends_with(
                "    <version_num>105</version_num>\n    <platform>x86_64-pc-linux-gnu</platform>\n    \
                 <plan_class>cuda</plan_class>\n    <avg_ncpus>0.895588</avg_ncpus>\n    \
                 <flops>32686764723.253292</flops>\n    <cmdline>--device x</cmdline>\n    \
                 <coproc>\n        <type>NVIDIA</type>\n        <count>1.000000</count>\n    \
                 </coproc>\n    <gpu_ram>268435456.000000</gpu_ram>\n</app_version>\n"
            ),
            "{xml}"
        );
        assert!(v.reply_xml(&usage, 61_204).contains("<type>CUDA</type>"));
        let plain = v.reply_xml(&HostUsage::sequential(2e9), 72005);
        assert!(plain.ends_with(
            "<avg_ncpus>1.000000</avg_ncpus>\n    <flops>2000000000.000000</flops>\n</app_version>\n"
        ));
    }
}
