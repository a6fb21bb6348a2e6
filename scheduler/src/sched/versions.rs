//! Choosing versions: which build of an app a host gets for a job, and how it will run it.
//!
//! BOINC's `get_app_version` (sched_version.cpp), rule for rule. For a host on a platform the
//! project knows, every version of the job's app for the host's platforms (primary and
//! alternate) is a candidate ([`super::catalog`] offers the newest of each plan class); a
//! candidate is out if it is superseded (unless the job is pinned to its number), beta for a
//! user who does not allow beta work, of a plan class the host fails (or, for a client without
//! plan-class support, not a one-CPU one), of a processor type the user's preferences exclude
//! or the request does not ask for, at a jobs-in-progress limit, or outside its
//! `min_core_version`/`max_core_version`. Among the rest the fastest projected one wins: the
//! plan class's speed, blended with the host's measured speed for the version as samples come
//! in (`host_app_version`), times a random factor ([`VersionSelect::random_factor`]: BOINC's
//! default 1 draws it from N(1, 1/samples), floored at 0.1; 0 makes the choice deterministic).
//! The winner's speed for run-time estimates (and `<flops>`) is BOINC's `estimate_flops`: the
//! host's measured speed, the version's average, or with no statistics the CPU speed × (CPUs
//! + 10 × GPUs).
//!
//! The choice is remembered per app for the rest of a work-sending pass (BOINC's memo), and
//! made again when its processor type is no longer wanted or at its limit. An app with
//! `homogeneous_app_version` sends a workunit whose first replica went out with a version
//! only with that version (and never to the anonymous platform).
//!
//! A client on the anonymous platform runs only the versions it declared in `app_info.xml`
//! (CPU, multithread or GPU ones): the fastest it claims among those the request needs, with
//! run-time estimates scaled by its measured speed.

use std::collections::HashMap;
use std::sync::Arc;

use rand::Rng;
use rboinc_core::db::host_app_version::HostAppVersionRow;
use rboinc_core::db::{AppId, AppVersionId, PlatformId};
use rboinc_core::state::{AnonymousPlatform, generalized_app_version_id};

use super::catalog::{AppEntry, Catalog, VersionEntry};
use super::coprocs::ProcType;
use super::quota::HostQuotas;
use super::request::{ClientAppVersion, SchedRequest};
use super::send::plan::WorkPlan;
use crate::plan_class::HostUsage;
use crate::plan_class::host::{HostFacts, NoWorkNotes};
use crate::plan_class::usage::DEFAULT_FLOPS;
use crate::settings::VersionSelect;

/// Host samples above which measured elapsed times set the speed (`MIN_HOST_SAMPLES`).
const MIN_HOST_SAMPLES: f64 = 10.0;
/// Version samples above which the version's average sets the speed (`MIN_VERSION_SAMPLES`).
const MIN_VERSION_SAMPLES: f64 = 100.0;
/// A measured speed is believed up to this many times the projected one (`ET_RATIO_LIMIT`).
const ET_RATIO_LIMIT: f64 = 250.0;
/// A GPU instance counts as this many CPUs in a speed estimate without statistics.
const GPU_CPU_RATIO: f64 = 10.0;

/// How the host gets app versions.
#[derive(Debug, Clone)]
pub enum Versions<'a> {
    /// From the project, for these platforms (primary first).
    Project(Vec<PlatformId>),
    /// From the client's own `app_info.xml`.
    Anonymous(&'a [ClientAppVersion]),
}

impl<'a> Versions<'a> {
    /// The versions a request may get: its declared ones on the anonymous platform, else the
    /// project's for its platforms; `None` if the project supports none of its platforms.
    pub fn for_request(req: &'a SchedRequest, catalog: &Catalog) -> Option<Versions<'a>> {
        if req.is_anonymous_platform() {
            return Some(Versions::Anonymous(&req.client_app_versions));
        }
        let platforms: Vec<_> = std::iter::once(&req.platform_name)
            .chain(&req.alt_platforms)
            .filter_map(|p| catalog.platform_id(p))
            .collect();
        if platforms.is_empty() {
            None
        } else {
            Some(Versions::Project(platforms))
        }
    }
}

/// A build: the project's version, or one the client declared.
#[derive(Debug, Clone)]
pub enum Build<'a> {
    Project(Arc<VersionEntry>),
    Client(&'a ClientAppVersion),
}

/// The build a job will run with on this host, and how.
#[derive(Debug, Clone)]
pub struct Chosen<'a> {
    pub build: Build<'a>,
    /// Its usage; `projected_flops` is the speed run times are estimated with (`<flops>`).
    pub usage: HostUsage,
    /// Anonymous platform: the job's FLOP counts are sent multiplied by this, so the client's
    /// own speed figure yields the server's run-time estimate.
    pub fpops_scale: f64,
}

impl Chosen<'_> {
    /// `result.app_version_id`: the version's id, or BOINC's negative code for an
    /// anonymous-platform version of this processor type.
    pub fn app_version_id(&self) -> i64 {
        match &self.build {
            Build::Project(v) => v.id.get(),
            Build::Client(_) => anonymous_code(self.usage.proc_type) as i64,
        }
    }

    /// The reply's `<platform>`, `<version_num>` and `<plan_class>` for a job run with it.
    pub fn identity(&self) -> (&str, i32, &str) {
        match &self.build {
            Build::Project(v) => (v.platform.as_str(), v.version_num, v.plan_class.as_str()),
            Build::Client(c) => (c.platform.as_str(), c.version_num, c.plan_class.as_str()),
        }
    }
}

fn anonymous_code(pt: ProcType) -> AnonymousPlatform {
    match pt {
        ProcType::Cpu => AnonymousPlatform::Cpu,
        ProcType::Nvidia => AnonymousPlatform::Nvidia,
        ProcType::Amd => AnonymousPlatform::Ati,
        ProcType::Intel => AnonymousPlatform::IntelGpu,
        ProcType::Apple => AnonymousPlatform::AppleGpu,
    }
}

/// What the choice needs to know of a job.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct JobNeeds {
    pub appid: AppId,
    pub rsc_memory_bound: f64,
    /// 0, or the only version number that may run it.
    pub app_version_num: i32,
    /// The version its replicas are committed to (homogeneous app version), 0 if none yet.
    pub app_version_id: i64,
}

/// The remembered choice for an app.
#[derive(Debug, Clone)]
struct Memo {
    needs_64b: bool,
    best: Option<(Arc<VersionEntry>, HostUsage)>,
}

/// One RPC's version choices (see the module docs).
#[derive(Debug)]
pub struct Chooser<'a, R> {
    versions: Versions<'a>,
    catalog: &'a Catalog,
    facts: HostFacts<'a>,
    select: &'a VersionSelect,
    /// The host's statistics per (generalized) app version id.
    havs: HashMap<i64, HostAppVersionRow>,
    rng: R,
    memo: HashMap<AppId, Vec<Memo>>,
    /// Plan class answers per version, for this RPC.
    usages: HashMap<AppVersionId, Option<HostUsage>>,
    /// Messages for the user if no work is sent.
    pub notes: NoWorkNotes,
    /// The host's daily quotas: versions at their quota are not used.
    pub quotas: HostQuotas,
}

impl<'a, R: Rng> Chooser<'a, R> {
    pub fn new(
        versions: Versions<'a>,
        catalog: &'a Catalog,
        facts: HostFacts<'a>,
        select: &'a VersionSelect,
        havs: Vec<HostAppVersionRow>,
        quotas: HostQuotas,
        rng: R,
    ) -> Self {
        Chooser {
            versions,
            catalog,
            facts,
            select,
            havs: havs.into_iter().map(|h| (h.app_version_id, h)).collect(),
            rng,
            memo: HashMap::new(),
            usages: HashMap::new(),
            notes: NoWorkNotes::default(),
            quotas,
        }
    }

    /// Whether the version `gavid` used as `usage` has reached the host's daily quota: its
    /// per-processor quota times the processors of its type (BOINC's `daily_quota_exceeded`).
    fn over_quota(&mut self, gavid: i64, usage: &HostUsage) -> bool {
        let scale = match usage.proc_type {
            ProcType::Cpu => f64::from(self.facts.req.host.p_ncpus.max(1)),
            pt => {
                let count = self
                    .facts
                    .req
                    .coprocs
                    .named(pt)
                    .map_or(1, |c| c.count.max(1));
                f64::from(count) * self.quotas.gpu_multiplier.max(1) as f64
            }
        };
        self.quotas.exceeded(gavid, scale)
    }

    pub fn versions(&self) -> &Versions<'a> {
        &self.versions
    }

    pub fn facts(&self) -> &HostFacts<'a> {
        &self.facts
    }

    /// Forgets the remembered choices (at the end of a work-sending pass).
    pub fn end_pass(&mut self) {
        self.memo.clear();
    }

    /// The build for a job, if the host has one the request wants. `check_req`: only
    /// versions of processor types the request still asks for (false for resent jobs).
    pub fn choose(
        &mut self,
        job: &JobNeeds,
        plan: &WorkPlan,
        check_req: bool,
    ) -> Option<Chosen<'a>> {
        let catalog = self.catalog;
        let app = catalog.app(job.appid)?;
        if app.row.deprecated != 0 {
            return None;
        }
        let wanted = |pt: ProcType| !check_req || !plan.rsc_spec_request || plan.need_proc_type(pt);
        if app.row.homogeneous_app_version != 0 {
            if matches!(self.versions, Versions::Anonymous(_)) {
                return None;
            }
            if job.app_version_id != 0 {
                return self.committed(job.app_version_id, plan);
            }
        }
        let needs_64b = job.rsc_memory_bound > max_32b_address_space(&self.facts.req.platform_name);
        if let Versions::Anonymous(list) = self.versions {
            return self.anonymous(app, list, needs_64b, plan, check_req);
        }
        // The remembered choice, unless its type is no longer wanted, at its limit or at the
        // host's daily quota.
        let remembered = self.memo.get(&job.appid).and_then(|memos| {
            let i = memos.iter().position(|m| m.needs_64b == needs_64b)?;
            Some((i, memos[i].best.clone()))
        });
        if let Some((i, best)) = remembered {
            let (v, usage) = best?;
            let pt = usage.proc_type;
            if plan.limit_reached(&app.row.name, pt)
                || !wanted(pt)
                || self.over_quota(v.id.get(), &usage)
            {
                if let Some(memos) = self.memo.get_mut(&job.appid) {
                    memos.remove(i);
                }
            } else if job.app_version_num == 0 || v.version_num == job.app_version_num {
                return Some(Chosen {
                    build: Build::Project(v),
                    usage,
                    fpops_scale: 1.0,
                });
            } else {
                // A pinned job: search again, keep the memo for the others.
                return self
                    .search(app, job, needs_64b, plan, check_req)
                    .map(|(v, usage)| Chosen {
                        build: Build::Project(v),
                        usage,
                        fpops_scale: 1.0,
                    });
            }
        }
        let best = self.search(app, job, needs_64b, plan, check_req);
        self.memo.entry(job.appid).or_default().push(Memo {
            needs_64b,
            best: best.clone(),
        });
        best.map(|(v, usage)| Chosen {
            build: Build::Project(v),
            usage,
            fpops_scale: 1.0,
        })
    }

    /// The plan class answer for a version (once per RPC).
    fn usage_of(&mut self, v: &VersionEntry) -> Option<HostUsage> {
        if v.plan_class.is_empty() {
            return Some(HostUsage::sequential(self.facts.req.host.p_fpops));
        }
        if let Some(u) = self.usages.get(&v.id) {
            return u.clone();
        }
        let classes = Arc::clone(&self.catalog.plan_classes);
        let mut usage = classes.check(&v.plan_class, &self.facts, &mut self.notes, &mut self.rng);
        // A client that does not know plan classes runs only one-CPU versions.
        if !self.facts.req.client_cap_plan_class
            && usage.as_ref().is_some_and(|u| !u.is_sequential())
        {
            usage = None;
        }
        self.usages.insert(v.id, usage.clone());
        usage
    }

    /// BOINC's `check_homogeneous_app_version`: the version the workunit is committed to, if
    /// this host can run it and the request wants its type.
    fn committed(&mut self, id: i64, plan: &WorkPlan) -> Option<Chosen<'a>> {
        let v = Arc::clone(self.catalog.version(AppVersionId(id))?);
        let Versions::Project(platforms) = &self.versions else {
            return None;
        };
        if !platforms.contains(&v.platformid) {
            return None;
        }
        let usage = if v.plan_class.is_empty() {
            HostUsage::sequential(self.facts.capped_fpops)
        } else {
            self.usage_of(&v)?
        };
        if plan.rsc_spec_request && !plan.need_proc_type(usage.proc_type) {
            return None;
        }
        Some(Chosen {
            build: Build::Project(v),
            usage,
            fpops_scale: 1.0,
        })
    }

    /// The fastest usable project version (module docs), with its run-time speed.
    fn search(
        &mut self,
        app: &AppEntry,
        job: &JobNeeds,
        needs_64b: bool,
        plan: &WorkPlan,
        check_req: bool,
    ) -> Option<(Arc<VersionEntry>, HostUsage)> {
        let Versions::Project(platforms) = &self.versions else {
            return None;
        };
        let platforms = platforms.clone();
        let catalog = self.catalog;
        let mut best: Option<(Arc<VersionEntry>, HostUsage)> = None;
        for p in platforms {
            let mut found_feasible = false;
            for v in catalog.versions_for(app.row.id, p) {
                if needs_64b && !v.platform.contains("64") {
                    break;
                }
                if job.app_version_num != 0 {
                    if v.version_num != job.app_version_num {
                        continue;
                    }
                } else if v.superseded {
                    continue;
                }
                if v.beta && !self.facts.prefs.allow_beta_work {
                    continue;
                }
                let Some(mut usage) = self.usage_of(v) else {
                    continue;
                };
                let pt = usage.proc_type;
                if self.facts.prefs.dont_use[pt.index()]
                    || self.over_quota(v.id.get(), &usage)
                    || plan.limit_reached(&app.row.name, pt)
                    || (check_req && plan.rsc_spec_request && !plan.need_proc_type(pt))
                {
                    continue;
                }
                let client = self.facts.req.core_client_version();
                if client < v.min_core_version
                    || (v.max_core_version != 0 && client > v.max_core_version)
                {
                    continue;
                }
                found_feasible = true;
                let mut n = 1.0;
                if let Some(hav) = self.havs.get(&v.id.get()).cloned() {
                    n = hav.pfc_n.max(1.0).floor();
                    let projected = usage.projected_flops;
                    let estimated = self.estimate_flops(&usage, v);
                    usage.projected_flops = (estimated * (n - 1.0) + projected) / n;
                    // A version that keeps failing on this host is nearly never chosen.
                    if hav.pfc_n == 0.0
                        && hav.max_jobs_per_day == 1
                        && hav.consecutive_valid == 0
                        && self.rng.r#gen::<f64>() > 0.01
                    {
                        usage.projected_flops *= 0.01;
                    }
                }
                let mut r = 1.0;
                if self.select.random_factor != 0.0 {
                    r += self.select.random_factor * normal(&mut self.rng) / n;
                    if r <= 0.1 {
                        r = 0.1;
                    }
                }
                let best_flops = best.as_ref().map_or(0.0, |(_, u)| u.projected_flops);
                if r * usage.projected_flops > best_flops {
                    usage.projected_flops *= r;
                    best = Some((Arc::clone(v), usage));
                }
            }
            if self.select.prefer_primary_platform && found_feasible {
                break;
            }
        }
        let (v, mut usage) = best?;
        usage.projected_flops = self.estimate_flops(&usage, &v);
        Some((v, usage))
    }

    /// BOINC's `estimate_flops`: the speed run times are estimated with.
    fn estimate_flops(&self, usage: &HostUsage, v: &VersionEntry) -> f64 {
        let hav = self.havs.get(&v.id.get());
        if !self.select.rte_no_stats {
            if let Some(h) = hav.filter(|h| h.et_n > MIN_HOST_SAMPLES) {
                let measured = if self.select.estimate_flops_from_hav_pfc {
                    usage.peak_flops / (h.pfc_avg + 1e-18)
                } else if h.et_avg > 0.0 {
                    1.0 / h.et_avg
                } else {
                    f64::INFINITY
                };
                return measured.min(ET_RATIO_LIMIT * usage.projected_flops);
            }
            if v.pfc_n > MIN_VERSION_SAMPLES && v.pfc_avg > 0.0 {
                return usage.peak_flops / v.pfc_avg;
            }
        }
        let p_fpops = self.facts.req.host.p_fpops;
        let cpu = if p_fpops > 0.0 {
            p_fpops
        } else {
            DEFAULT_FLOPS
        };
        cpu * (usage.avg_ncpus + GPU_CPU_RATIO * usage.gpu_usage)
    }

    /// BOINC's `get_app_version_anonymous`.
    fn anonymous(
        &mut self,
        app: &AppEntry,
        list: &'a [ClientAppVersion],
        needs_64b: bool,
        plan: &WorkPlan,
        check_req: bool,
    ) -> Option<Chosen<'a>> {
        let mut found = false;
        let mut best: Option<Chosen<'a>> = None;
        for c in list {
            if c.app_name != app.row.name {
                continue;
            }
            if (needs_64b && !c.platform.contains("64")) || c.version_num < app.row.min_version {
                continue;
            }
            found = true;
            let (usage, scale) = self.anonymous_usage(app, c);
            if check_req && plan.rsc_spec_request && !plan.need_proc_type(usage.proc_type) {
                continue;
            }
            let gavid = generalized_app_version_id(
                anonymous_code(usage.proc_type) as i64,
                app.row.id.get(),
            );
            if self.over_quota(gavid, &usage) {
                continue;
            }
            if best
                .as_ref()
                .is_none_or(|b| usage.projected_flops > b.usage.projected_flops)
            {
                best = Some(Chosen {
                    build: Build::Client(c),
                    usage,
                    fpops_scale: scale,
                });
            }
        }
        if !found {
            self.notes.add(&format!(
                "Your app_info.xml file doesn't have a usable version of {}.",
                app.friendly_name()
            ));
        }
        best
    }

    /// A declared version's usage, and the scale of its jobs' FLOP counts
    /// (BOINC's `estimate_flops_anon_platform`).
    fn anonymous_usage(&self, app: &AppEntry, c: &ClientAppVersion) -> (HostUsage, f64) {
        let req = self.facts.req;
        let mut usage = HostUsage {
            avg_ncpus: c.avg_ncpus,
            projected_flops: c.flops.unwrap_or(0.0),
            ..HostUsage::default()
        };
        if let Some((kind, count)) = &c.coproc
            && let Some(pt) = ProcType::from_coproc_type(kind)
        {
            usage.proc_type = pt;
            usage.gpu_usage = *count;
            usage.peak_flops = count * req.coprocs.named(pt).map_or(0.0, |cp| cp.peak_flops);
        }
        if usage.projected_flops == 0.0 {
            usage.projected_flops = if req.host.p_fpops > 0.0 {
                req.host.p_fpops
            } else {
                DEFAULT_FLOPS
            };
        }
        let mut scale = 1.0;
        let gavid = app.row.id.get() * 1_000_000 - anonymous_code(usage.proc_type) as i64;
        if let Some(h) = self.havs.get(&gavid)
            && h.et_n > MIN_HOST_SAMPLES
            && h.et_avg > 0.0
        {
            let measured = (1.0 / h.et_avg).min(ET_RATIO_LIMIT * usage.projected_flops);
            scale = usage.projected_flops / measured;
            usage.projected_flops = measured;
        }
        (usage, scale)
    }
}

/// A job needs a 64-bit version if its memory bound exceeds what a 32-bit process of the
/// host's primary platform can address (BOINC's `max_32b_address_space`).
fn max_32b_address_space(platform: &str) -> f64 {
    const GIB: f64 = 1_073_741_824.0;
    let p = platform.to_ascii_lowercase();
    if p.contains("windows") {
        2.0 * GIB
    } else if p.contains("linux") {
        3.0 * GIB
    } else if p.contains("darwin") || p.contains("solaris") {
        4.0 * GIB
    } else {
        2.0 * GIB
    }
}

/// A standard normal deviate (Box–Muller, as BOINC's `rand_normal`).
fn normal(rng: &mut impl Rng) -> f64 {
    let u1: f64 = rng.r#gen::<f64>().max(f64::MIN_POSITIVE);
    let u2: f64 = rng.r#gen();
    (-2.0 * u1.ln()).sqrt() * (2.0 * std::f64::consts::PI * u2).cos()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::plan_class::PlanClasses;
    use crate::sched::project_prefs::ProjectPrefs;
    use rand::SeedableRng;
    use rand::rngs::StdRng;
    use rboinc_core::config::Config;
    use rboinc_core::db::app::AppRow;
    use rboinc_core::db::app_version::AppVersionRow;

    fn row(id: i64, num: i32, plan: &str) -> AppVersionRow {
        AppVersionRow {
            id: AppVersionId(id),
            appid: AppId(1),
            version_num: num,
            platformid: PlatformId(1),
            plan_class: plan.into(),
            xml_doc: "<app_version>\n</app_version>\n".into(),
            ..Default::default()
        }
    }

    fn catalog(versions: Vec<AppVersionRow>) -> Catalog {
        Catalog::from_rows(
            vec![(PlatformId(1), "x86_64-pc-linux-gnu".into(), "Linux".into())],
            vec![AppRow {
                id: AppId(1),
                name: "mnist".into(),
                ..Default::default()
            }],
            versions,
            Arc::new(PlanClasses::BuiltIn),
        )
    }

    fn request(ncpus: i32) -> SchedRequest {
        let mut r = SchedRequest::parse(
            b"<scheduler_request><core_client_major_version>7</core_client_major_version>\
              <core_client_minor_version>20</core_client_minor_version><core_client_release>5\
              </core_client_release><client_cap_plan_class>1</client_cap_plan_class>\
              <platform_name>x86_64-pc-linux-gnu</platform_name><work_req_seconds>100\
              </work_req_seconds><cpu_req_secs>100</cpu_req_secs></scheduler_request>",
        )
        .unwrap();
        r.host.p_ncpus = ncpus;
        r.host.p_fpops = 2e9;
        r
    }

    fn sched() -> rboinc_core::config::SchedConfig {
        Config::from_str_at(
            "<boinc><config><db_name>x</db_name></config></boinc>",
            std::path::Path::new("/p/config.xml"),
            std::path::Path::new("/p"),
            "h",
        )
        .unwrap()
        .sched
    }

    struct Setup {
        catalog: Catalog,
        req: SchedRequest,
        prefs: ProjectPrefs,
        select: VersionSelect,
    }

    impl Setup {
        fn choose(&self, job: JobNeeds, seed: u64) -> Option<(i64, HostUsage)> {
            let plan = WorkPlan::new(&self.req, &sched(), 0, 0, self.catalog.have_apps);
            let facts = HostFacts {
                req: &self.req,
                user_id: 1,
                prefs: &self.prefs,
                effective_ncpus: plan.effective_ncpus,
                usable_ram: 1e10,
                capped_fpops: self.catalog.perf.cap(self.req.host.p_fpops),
            };
            let versions = Versions::for_request(&self.req, &self.catalog).unwrap();
            let mut chooser = Chooser::new(
                versions,
                &self.catalog,
                facts,
                &self.select,
                vec![],
                HostQuotas::default(),
                StdRng::seed_from_u64(seed),
            );
            chooser
                .choose(&job, &plan, true)
                .map(|c| (c.app_version_id(), c.usage))
        }
    }

    fn job() -> JobNeeds {
        JobNeeds {
            appid: AppId(1),
            rsc_memory_bound: 1e8,
            app_version_num: 0,
            app_version_id: 0,
        }
    }

    fn setup(versions: Vec<AppVersionRow>, ncpus: i32) -> Setup {
        Setup {
            catalog: catalog(versions),
            req: request(ncpus),
            prefs: ProjectPrefs::default(),
            select: VersionSelect {
                random_factor: 0.0,
                ..Default::default()
            },
        }
    }

    #[test]
    fn the_fastest_projected_version_wins_and_flops_come_from_estimate_flops() {
        // mt projects 0.99 × 4 CPUs × 2e9; the plain version 2e9.
        let s = setup(vec![row(10, 100, ""), row(11, 100, "mt")], 4);
        let (id, usage) = s.choose(job(), 1).unwrap();
        assert_eq!(id, 11);
        assert_eq!(usage.avg_ncpus, 4.0);
        assert_eq!(usage.cmdline, "--nthreads 4");
        assert_eq!(
            usage.projected_flops,
            2e9 * 4.0,
            "no statistics: p_fpops × CPUs"
        );
        // On one CPU BOINC's mt class refuses; the plain version runs.
        let s = setup(vec![row(10, 100, ""), row(11, 100, "mt")], 1);
        assert_eq!(s.choose(job(), 1).unwrap().0, 10);
    }

    #[test]
    fn gates_beta_core_versions_and_pins() {
        let mut beta = row(11, 101, "nci");
        beta.beta = 1;
        let mut s = setup(vec![row(10, 100, ""), beta], 2);
        assert_eq!(
            s.choose(job(), 1).unwrap().0,
            10,
            "beta only for beta users"
        );
        s.prefs.allow_beta_work = true;
        assert_eq!(s.choose(job(), 1).unwrap().0, 11);
        // As in BOINC, a newer beta version of the same plan class hides the older one from
        // everybody else.
        let mut beta = row(11, 101, "");
        beta.beta = 1;
        let s = setup(vec![row(10, 100, ""), beta], 2);
        assert!(s.choose(job(), 1).is_none());

        let mut newer_client = row(10, 100, "");
        newer_client.min_core_version = 80000;
        let mut older_client = row(11, 100, "nci");
        older_client.max_core_version = 720; // × 100: 7.20.0, below 7.20.5
        let s = setup(vec![newer_client, older_client], 2);
        assert!(s.choose(job(), 1).is_none());

        let s = setup(vec![row(10, 100, ""), row(11, 101, "")], 2);
        let pinned = JobNeeds {
            app_version_num: 100,
            ..job()
        };
        assert_eq!(s.choose(job(), 1).unwrap().0, 11);
        assert_eq!(
            s.choose(pinned, 1),
            None,
            "100 is superseded and min_version is 0"
        );
    }

    #[test]
    fn the_random_factor_is_boincs_and_seeded_choices_repeat() {
        let mut s = setup(vec![row(10, 100, ""), row(11, 100, "mt")], 2);
        s.select.random_factor = 1.0;
        let picks: Vec<i64> = (0..200)
            .map(|seed| s.choose(job(), seed).unwrap().0)
            .collect();
        let plain = picks.iter().filter(|&&id| id == 10).count();
        // mt projects 1.98× the plain version; with r ~ N(1, 1) each, the plain one still
        // wins a good share of the time, as in BOINC.
        assert!((20..100).contains(&plain), "{plain}");
        let again: Vec<i64> = (0..200)
            .map(|seed| s.choose(job(), seed).unwrap().0)
            .collect();
        assert_eq!(picks, again, "the same seed makes the same choice");
    }

    #[test]
    fn a_job_too_big_for_32_bits_needs_a_64_bit_platform() {
        let s = setup(vec![row(10, 100, "")], 2);
        let big = JobNeeds {
            rsc_memory_bound: 4e9,
            ..job()
        };
        assert_eq!(s.choose(big, 1).unwrap().0, 10, "x86_64 is 64-bit");
        assert_eq!(
            max_32b_address_space("windows_intelx86"),
            2.0 * 1_073_741_824.0
        );
    }
}
