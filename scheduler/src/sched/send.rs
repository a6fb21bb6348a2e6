//! Sending work: which jobs a host gets, how many, and what the reply says about each.
//!
//! How much: BOINC's work request. A client asks for `cpu_req_secs` seconds of work and
//! `cpu_req_instances` idle CPUs; each job sent counts its estimated run time
//! (`rsc_fpops_est` / the host's speed) against the first and one CPU against the second, and
//! jobs are sent while either is positive, up to `max_wus_to_send` per CPU and the
//! `max_jobs_in_progress` limits. The client's first RPC asks for one second: it gets one job.
//!
//! Which: candidates from the [`JobCache`], filtered for the host (an app version for one of its
//! platforms — or, on the anonymous platform, one it declared; enough memory; a deadline it can
//! meet; not a second job of a workunit already in this reply), then, with
//! `one_result_per_host_per_wu` / `one_result_per_user_per_wu`, without workunits the host
//! (user) already has a result of — so a reissued replica never goes back to the host that
//! failed it, and the replicas of a quorum run on different hosts. Each survivor is claimed in
//! the database ([`jobs::claim`]) before it is added to the reply.
//!
//! What: the app, the app version (its files carry their code signatures), the workunit with
//! its `<rsc_*>` bounds, name and app name inserted, and the result with its name, workunit
//! name, deadline, platform and version, and `<report_immediately/>` so the client reports it
//! the moment its files are uploaded.

use std::collections::HashSet;
use std::fmt::Write as _;
use std::sync::Arc;

use rboinc_core::config::SchedConfig;
use rboinc_core::db::{AppId, HostId, PlatformId, ResultId, UserId, WorkunitId};
use rboinc_core::state::AnonymousPlatform;
use rboinc_core::xml::escape;
use sqlx::mysql::MySqlConnection;

use super::catalog::{Catalog, VersionEntry};
use super::jobs::{self, Candidate, Claim, JobCache, JobWorkunit, Replicas};
use super::reply::SchedReply;
use super::request::{ClientAppVersion, SchedRequest};
use crate::metrics::Metrics;

/// Speed assumed for a host that reports none (BOINC's default benchmark result).
const DEFAULT_FLOPS: f64 = 1e9;

/// The host as work sending sees it.
#[derive(Debug, Clone, PartialEq)]
pub struct HostView {
    pub id: HostId,
    pub userid: UserId,
    /// Peak speed of one CPU.
    pub p_fpops: f64,
    pub m_nbytes: f64,
}

/// How the host gets app versions.
#[derive(Debug, Clone)]
pub enum Versions<'a> {
    /// From the project, for these platforms (primary first).
    Project(Vec<PlatformId>),
    /// From the client's own `app_info.xml`.
    Anonymous(&'a [ClientAppVersion]),
}

/// The build a job will run with on this host.
#[derive(Debug, Clone)]
pub enum Chosen<'a> {
    Project(Arc<VersionEntry>),
    Client(&'a ClientAppVersion),
}

impl Chosen<'_> {
    /// `result.app_version_id`: the version's id, or BOINC's negative code for anonymous CPU
    /// versions.
    pub fn app_version_id(&self) -> i64 {
        match self {
            Chosen::Project(v) => v.id.get(),
            Chosen::Client(_) => AnonymousPlatform::Cpu as i64,
        }
    }

    /// Projected speed of the build on the host.
    pub fn flops(&self, host: &HostView) -> f64 {
        let cpu = if host.p_fpops > 0.0 {
            host.p_fpops
        } else {
            DEFAULT_FLOPS
        };
        match self {
            Chosen::Project(_) => cpu,
            Chosen::Client(c) => c.flops.unwrap_or(cpu * c.avg_ncpus),
        }
    }
}

impl<'a> Versions<'a> {
    /// The build to use for a job of `app` (with the job's version pin), if the host has one.
    pub fn choose(&self, catalog: &Catalog, app: AppId, required_num: i32) -> Option<Chosen<'a>> {
        match self {
            Versions::Project(platforms) => catalog
                .best_version(app, platforms, required_num)
                .map(|v| Chosen::Project(Arc::clone(v))),
            Versions::Anonymous(list) => {
                let entry = catalog.app(app)?;
                if entry.row.deprecated != 0 {
                    return None;
                }
                let min_version = entry.row.min_version;
                list.iter()
                    .filter(|c| {
                        c.app_name == entry.row.name
                            && c.coproc.is_none()
                            && (required_num == 0 || c.version_num == required_num)
                            && c.version_num >= min_version
                    })
                    .max_by(|a, b| {
                        a.flops
                            .unwrap_or(0.0)
                            .total_cmp(&b.flops.unwrap_or(0.0))
                            .then(a.version_num.cmp(&b.version_num))
                    })
                    .map(Chosen::Client)
            }
        }
    }
}

/// BOINC's work request, counted down as jobs are added.
#[derive(Debug, Clone, PartialEq)]
pub struct WorkPlan {
    pub req_secs: f64,
    pub req_instances: f64,
    /// Old clients' single figure (used when `req_secs` is 0).
    pub seconds_to_fill: f64,
    pub max_jobs: usize,
    pub jobs_sent: usize,
    /// Jobs the host already has plus those sent now, against `max_jobs_in_progress`.
    pub in_progress: usize,
    pub in_progress_limit: Option<usize>,
}

impl WorkPlan {
    pub fn new(req: &SchedRequest, sched: &SchedConfig) -> Self {
        const MAX_REQ_SECS: f64 = 28.0 * 86_400.0;
        let clamp = |x: f64| x.clamp(0.0, MAX_REQ_SECS);
        let mut ncpus = i64::from(req.host.p_ncpus.max(1));
        if req.max_ncpus_pct > 0.0 && req.max_ncpus_pct < 100.0 {
            ncpus = ((ncpus as f64 * req.max_ncpus_pct) / 100.0) as i64;
        }
        let ncpus = ncpus.min(i64::from(sched.max_ncpus.max(1))).max(1) as usize;
        let max_jobs = match sched.max_wus_to_send {
            0 => usize::MAX,
            n => n as usize * ncpus,
        };
        let limit = &sched.max_jobs_in_progress.project;
        let in_progress_limit = [limit.total, limit.cpu]
            .into_iter()
            .flatten()
            .map(|l| l.jobs as usize * if l.per_proc { ncpus } else { 1 })
            .min();
        WorkPlan {
            req_secs: clamp(req.cpu_req_secs),
            req_instances: req.cpu_req_instances.max(0.0),
            seconds_to_fill: clamp(req.work_req_seconds),
            max_jobs,
            jobs_sent: 0,
            in_progress: req.other_results.as_ref().map_or(0, Vec::len),
            in_progress_limit,
        }
    }

    /// Whether another job is wanted.
    pub fn needed(&self) -> bool {
        if self.jobs_sent >= self.max_jobs {
            return false;
        }
        if self
            .in_progress_limit
            .is_some_and(|l| self.in_progress >= l)
        {
            return false;
        }
        if self.req_secs > 0.0 || self.req_instances > 0.0 {
            return true;
        }
        self.req_secs == 0.0 && self.req_instances == 0.0 && self.seconds_to_fill > 0.0
    }

    /// Counts a job of `est_secs` estimated run time.
    pub fn add_job(&mut self, est_secs: f64) {
        if self.req_secs > 0.0 || self.req_instances > 0.0 {
            self.req_secs -= est_secs;
            self.req_instances -= 1.0;
        } else {
            self.seconds_to_fill -= est_secs;
        }
        self.jobs_sent += 1;
        self.in_progress += 1;
    }
}

/// Everything work sending needs about this RPC.
#[derive(Debug)]
pub struct SendContext<'a> {
    pub jobs: &'a JobCache,
    pub catalog: &'a Catalog,
    pub sched: &'a SchedConfig,
    pub metrics: &'a Metrics,
    pub host: HostView,
    pub versions: Versions<'a>,
    pub now: i64,
}

/// The reply pieces of one job, built before it is claimed (so a job whose stored XML is
/// broken is never marked sent).
#[derive(Debug, Clone)]
pub struct JobXml {
    pub app: Option<String>,
    pub app_version: Option<(i64, String)>,
    pub workunit: String,
    pub result: String,
}

/// A job's stored XML is not what BOINC's tools write.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum JobXmlError {
    #[error("workunit {0} xml_doc has no <workunit> element")]
    Workunit(String),
    #[error("result {0} xml_doc_in has no <result> element")]
    Result(String),
}

/// Inserts `text` right after the first `tag` (plus its newline, if any).
fn insert_after_open(doc: &str, tag: &str, text: &str) -> Option<String> {
    let at = doc.find(tag)? + tag.len();
    let at = if doc[at..].starts_with('\n') {
        at + 1
    } else {
        at
    };
    let mut out = String::with_capacity(doc.len() + text.len());
    out.push_str(&doc[..at]);
    out.push_str(text);
    out.push_str(&doc[at..]);
    Some(out)
}

/// Builds the reply pieces for sending result `name` (with `xml_doc_in`) of `wu`.
pub fn job_xml(
    catalog: &Catalog,
    wu: &JobWorkunit,
    name: &str,
    xml_doc_in: &str,
    chosen: &Chosen<'_>,
    flops: f64,
    client_deadline: i64,
) -> Result<JobXml, JobXmlError> {
    let app = catalog.app(wu.appid);
    let app_name = app.map_or("", |a| a.row.name.as_str());
    let mut tags = String::with_capacity(256);
    let _ = write!(
        tags,
        "    <rsc_fpops_est>{:.6}</rsc_fpops_est>\n    <rsc_fpops_bound>{:.6}</rsc_fpops_bound>\n    \
         <rsc_memory_bound>{:.6}</rsc_memory_bound>\n    <rsc_disk_bound>{:.6}</rsc_disk_bound>\n    \
         <name>{}</name>\n    <app_name>{}</app_name>\n",
        wu.rsc_fpops_est,
        wu.rsc_fpops_bound,
        wu.rsc_memory_bound,
        wu.rsc_disk_bound,
        escape(&wu.name),
        escape(app_name),
    );
    if !wu.keywords.trim().is_empty() {
        let _ = writeln!(
            tags,
            "    <job_keyword_ids>{}</job_keyword_ids>",
            escape(&wu.keywords)
        );
    }
    let workunit = insert_after_open(&wu.xml_doc, "<workunit>", &tags)
        .ok_or_else(|| JobXmlError::Workunit(wu.name.clone()))?;

    let head = format!(
        "<report_deadline>{client_deadline}</report_deadline>\n<wu_name>{}</wu_name>\n<name>{}</name>\n",
        escape(&wu.name),
        escape(name)
    );
    let with_names = insert_after_open(xml_doc_in, "<result>", &head)
        .ok_or_else(|| JobXmlError::Result(name.to_string()))?;
    let end = with_names
        .rfind("</result>")
        .ok_or_else(|| JobXmlError::Result(name.to_string()))?;
    let mut result = String::with_capacity(with_names.len() + 200);
    result.push_str(&with_names[..end]);
    result.push('\n');
    let (platform, version_num, plan_class) = match chosen {
        Chosen::Project(v) => (v.platform.as_str(), v.version_num, v.plan_class.as_str()),
        Chosen::Client(c) => (c.platform.as_str(), c.version_num, c.plan_class.as_str()),
    };
    let _ = write!(
        result,
        "    <platform>{}</platform>\n    <version_num>{version_num}</version_num>\n    \
         <plan_class>{}</plan_class>\n",
        escape(platform),
        escape(plan_class)
    );
    if !with_names[..end].contains("<report_immediately") {
        result.push_str("    <report_immediately/>\n");
    }
    result.push_str("</result>\n");

    let (app_xml, version_xml) = match chosen {
        Chosen::Project(v) => (
            app.map(|a| a.reply_xml()),
            Some((v.id.get(), v.reply_xml(flops))),
        ),
        // Anonymous-platform clients have their own app and version.
        Chosen::Client(_) => (None, None),
    };
    Ok(JobXml {
        app: app_xml,
        app_version: version_xml,
        workunit,
        result,
    })
}

/// Puts a claimed job's pieces into the reply.
pub fn add_to_reply(reply: &mut SchedReply, wu: &JobWorkunit, xml: JobXml) {
    if let Some(app) = xml.app {
        reply.add_app(wu.appid.get(), || app);
    }
    if let Some((id, v)) = xml.app_version {
        reply.add_app_version(id, || v);
    }
    reply.add_workunit(wu.id.get(), || xml.workunit);
    reply.add_result(xml.result);
}

/// What [`send_work`] did.
#[derive(Debug, Default, Clone, PartialEq)]
pub struct SendStats {
    pub sent: usize,
    /// Candidates lost to another scheduler process.
    pub collisions: usize,
    /// The job list had nothing this host could use.
    pub no_jobs_available: bool,
}

impl SendContext<'_> {
    fn estimate(&self, wu: &JobWorkunit, chosen: &Chosen<'_>) -> f64 {
        wu.rsc_fpops_est / chosen.flops(&self.host)
    }

    /// Whether `c` suits this host (the checks that need no database).
    fn suits(&self, c: &Candidate, in_reply: &HashSet<WorkunitId>) -> bool {
        if in_reply.contains(&c.wu.id) {
            return false;
        }
        let Some(chosen) = self
            .versions
            .choose(self.catalog, c.wu.appid, c.wu.app_version_num)
        else {
            return false;
        };
        if self.host.m_nbytes > 0.0 && c.wu.rsc_memory_bound > self.host.m_nbytes {
            return false;
        }
        self.estimate(&c.wu, &chosen) <= f64::from(c.wu.delay_bound.max(1))
    }
}

/// Sends new work while the plan wants it, claiming in `conn` (the RPC's transaction: the
/// claims take effect when it commits). `in_reply` holds the workunits already in the reply
/// (resent jobs).
pub async fn send_work(
    ctx: &SendContext<'_>,
    conn: &mut MySqlConnection,
    plan: &mut WorkPlan,
    reply: &mut SchedReply,
    in_reply: &mut HashSet<WorkunitId>,
) -> Result<SendStats, sqlx::Error> {
    let mut stats = SendStats::default();
    let replicas = if ctx.sched.one_result_per_user_per_wu {
        Replicas::OnePerUser(ctx.host.userid)
    } else if ctx.sched.one_result_per_host_per_wu {
        Replicas::OnePerHost(ctx.host.id)
    } else {
        Replicas::Anywhere
    };
    let active_apps = ctx.catalog.active_app_ids();
    if ctx.jobs.is_old() && ctx.jobs.should_refill() {
        ctx.jobs.refill(&mut *conn, &active_apps).await?;
    }
    let mut refilled = false;
    // Candidates this host cannot take (it has a result of their workunit): skipped for the
    // rest of this RPC, left in the list for other hosts.
    let mut rejected: HashSet<ResultId> = HashSet::new();
    // Candidates are taken out of the shared list until this RPC is done with them: take few
    // at a time (most RPCs want one or two jobs), more while the request still wants work.
    let mut batch = 1;
    while plan.needed() {
        let want = (plan.max_jobs - plan.jobs_sent).clamp(1, batch);
        batch = (batch * 2).min(8);
        let taken = ctx.jobs.take(want, |c| {
            !rejected.contains(&c.result_id) && ctx.suits(c, in_reply)
        });
        if taken.is_empty() {
            if !refilled && ctx.jobs.should_refill() {
                ctx.jobs.refill(&mut *conn, &active_apps).await?;
                refilled = true;
                continue;
            }
            stats.no_jobs_available = stats.sent == 0;
            break;
        }
        let mut iter = taken.into_iter();
        while let Some(c) = iter.next() {
            if !plan.needed() || in_reply.contains(&c.wu.id) {
                ctx.jobs.put_back(std::iter::once(c).chain(iter).collect());
                break;
            }
            let outcome = match claim_and_add(ctx, &mut *conn, &c, replicas, reply).await {
                Ok(Sent::Lost) if replicas != Replicas::Anywhere => {
                    // Refused: is it this host's replica rule (keep the job for other
                    // hosts) or another process (forget it)?
                    jobs::workunits_already_held(
                        &mut *conn,
                        &[c.wu.id],
                        ctx.host.id,
                        ctx.host.userid,
                        matches!(replicas, Replicas::OnePerUser(_)),
                    )
                    .await
                    .map(|held| {
                        if held.contains(&c.wu.id) {
                            Sent::Held
                        } else {
                            Sent::Lost
                        }
                    })
                }
                other => other,
            };
            match outcome {
                Ok(Sent::Yes(est)) => {
                    plan.add_job(est);
                    in_reply.insert(c.wu.id);
                    stats.sent += 1;
                    ctx.jobs.claimed(&c);
                }
                Ok(Sent::Held) => {
                    rejected.insert(c.result_id);
                    ctx.jobs.put_back(vec![c]);
                }
                Ok(Sent::Lost) => {
                    stats.collisions += 1;
                    ctx.metrics.claim_collision();
                    ctx.jobs.release(&[c]);
                }
                Ok(Sent::Unusable) => ctx.jobs.release(&[c]),
                Err(e) => {
                    ctx.jobs.release(&[c]);
                    ctx.jobs.put_back(iter.collect());
                    return Err(e);
                }
            }
        }
    }
    Ok(stats)
}

/// What became of one candidate.
#[derive(Debug, Clone, Copy, PartialEq)]
enum Sent {
    /// Claimed and in the reply, with its estimated run time.
    Yes(f64),
    /// Not claimed: sent or being sent elsewhere, or its workunit failed.
    Lost,
    /// Not claimed: the host (user) already has a result of its workunit.
    Held,
    /// No version for this host, or stored XML that cannot be sent.
    Unusable,
}

/// Claims one candidate and adds it to the reply.
async fn claim_and_add(
    ctx: &SendContext<'_>,
    conn: &mut MySqlConnection,
    c: &Candidate,
    replicas: Replicas,
    reply: &mut SchedReply,
) -> Result<Sent, sqlx::Error> {
    let Some(chosen) = ctx
        .versions
        .choose(ctx.catalog, c.wu.appid, c.wu.app_version_num)
    else {
        return Ok(Sent::Unusable);
    };
    let flops = chosen.flops(&ctx.host);
    let client_deadline = ctx.now + i64::from(c.wu.delay_bound);
    let xml = match job_xml(
        ctx.catalog,
        &c.wu,
        &c.name,
        &c.xml_doc_in,
        &chosen,
        flops,
        client_deadline,
    ) {
        Ok(xml) => xml,
        Err(e) => {
            tracing::error!(result_id = %c.result_id, wu_id = %c.wu.id, error = %e, "job not sendable");
            return Ok(Sent::Unusable);
        }
    };
    let claim = Claim {
        result_id: c.result_id,
        hostid: ctx.host.id,
        userid: ctx.host.userid,
        sent_time: ctx.now,
        db_deadline: client_deadline + ctx.sched.report_grace_period.as_secs() as i64,
        flops_estimate: flops,
        app_version_id: chosen.app_version_id(),
    };
    if !jobs::claim(&mut *conn, &claim, replicas).await? {
        tracing::debug!(result_id = %c.result_id, "job not claimed");
        return Ok(Sent::Lost);
    }
    tracing::debug!(result_id = %c.result_id, wu_id = %c.wu.id, hostid = %ctx.host.id, "job sent");
    add_to_reply(reply, &c.wu, xml);
    Ok(Sent::Yes(c.wu.rsc_fpops_est / flops))
}

#[cfg(test)]
mod tests {
    use super::*;
    use rboinc_core::config::{Config, JobLimit, ResourceLimit};

    fn sched(extra: &str) -> SchedConfig {
        let text = format!("<boinc><config><db_name>x</db_name>{extra}</config></boinc>");
        Config::from_str_at(
            &text,
            std::path::Path::new("/p/config.xml"),
            std::path::Path::new("/p"),
            "h",
        )
        .unwrap()
        .sched
    }

    fn request(secs: f64, instances: f64, ncpus: i32) -> SchedRequest {
        let mut r = SchedRequest {
            cpu_req_secs: secs,
            work_req_seconds: secs,
            cpu_req_instances: instances,
            ..Default::default()
        };
        r.host.p_ncpus = ncpus;
        r
    }

    #[test]
    fn the_first_rpc_gets_one_job() {
        let mut plan = WorkPlan::new(&request(1.0, 0.0, 2), &sched(""));
        assert!(plan.needed());
        plan.add_job(1000.0);
        assert!(!plan.needed());
    }

    #[test]
    fn a_full_request_is_capped_per_cpu() {
        let mut plan = WorkPlan::new(
            &request(103_680.0, 2.0, 2),
            &sched("<max_wus_to_send>3</max_wus_to_send>"),
        );
        assert_eq!(plan.max_jobs, 6);
        let mut n = 0;
        while plan.needed() {
            plan.add_job(10.0);
            n += 1;
        }
        assert_eq!(n, 6);
        // No work asked: none sent.
        assert!(!WorkPlan::new(&request(0.0, 0.0, 2), &sched("")).needed());
    }

    #[test]
    fn idle_cpus_alone_ask_for_work() {
        let mut plan = WorkPlan::new(&request(1.0, 2.0, 4), &sched(""));
        plan.add_job(5000.0);
        assert!(plan.needed(), "one CPU still idle");
        plan.add_job(5000.0);
        assert!(!plan.needed());
    }

    #[test]
    fn in_progress_limits_count_what_the_host_has() {
        let mut s = sched("");
        s.max_jobs_in_progress.project = JobLimit {
            cpu: Some(ResourceLimit {
                jobs: 1,
                per_proc: true,
            }),
            ..Default::default()
        };
        let mut req = request(1e5, 2.0, 2);
        req.other_results = Some(vec![Default::default()]);
        let mut plan = WorkPlan::new(&req, &s);
        assert_eq!(plan.in_progress_limit, Some(2));
        assert!(plan.needed());
        plan.add_job(1.0);
        assert!(!plan.needed());
    }

    #[test]
    fn job_xml_inserts_boincs_tags() {
        let catalog = Catalog::from_rows(
            vec![(PlatformId(1), "x86_64-pc-linux-gnu".into(), "Linux".into())],
            vec![rboinc_core::db::app::AppRow {
                id: AppId(1),
                name: "mnist".into(),
                user_friendly_name: "MNIST".into(),
                ..Default::default()
            }],
            vec![rboinc_core::db::app_version::AppVersionRow {
                id: rboinc_core::db::AppVersionId(5),
                appid: AppId(1),
                version_num: 104,
                platformid: PlatformId(1),
                xml_doc: "<file_info>\n<name>mnist_1.04</name>\n</file_info>\n<app_version>\n<app_name>mnist</app_name>\n<version_num>104</version_num>\n</app_version>\n".into(),
                ..Default::default()
            }],
        );
        let wu = JobWorkunit {
            id: WorkunitId(9),
            appid: AppId(1),
            name: "wu_9".into(),
            xml_doc: "<file_info>\n<name>in</name>\n</file_info>\n<workunit>\n<file_ref>\n<file_name>in</file_name>\n</file_ref>\n</workunit>".into(),
            rsc_fpops_est: 1e12,
            rsc_fpops_bound: 1e14,
            rsc_memory_bound: 1e8,
            rsc_disk_bound: 1e9,
            delay_bound: 3600,
            app_version_num: 0,
            keywords: String::new(),
        };
        let versions = Versions::Project(vec![PlatformId(1)]);
        let chosen = versions.choose(&catalog, AppId(1), 0).unwrap();
        let xml = job_xml(
            &catalog,
            &wu,
            "wu_9_0",
            "<file_info>\n<name>wu_9_0_r0</name>\n</file_info>\n<result>\n<file_ref>\n<file_name>wu_9_0_r0</file_name>\n</file_ref>\n</result>\n",
            &chosen,
            1e9,
            1_700_000_000,
        )
        .unwrap();
        assert!(xml.workunit.starts_with("<file_info>\n<name>in</name>\n</file_info>\n<workunit>\n    <rsc_fpops_est>1000000000000.000000</rsc_fpops_est>\n"));
        assert!(
            xml.workunit
                .contains("    <name>wu_9</name>\n    <app_name>mnist</app_name>\n<file_ref>")
        );
        assert!(xml.result.contains("<result>\n<report_deadline>1700000000</report_deadline>\n<wu_name>wu_9</wu_name>\n<name>wu_9_0</name>\n<file_ref>"));
        assert!(xml.result.ends_with("    <platform>x86_64-pc-linux-gnu</platform>\n    <version_num>104</version_num>\n    <plan_class></plan_class>\n    <report_immediately/>\n</result>\n"));
        assert_eq!(xml.app_version.as_ref().unwrap().0, 5);
        assert!(
            xml.app
                .unwrap()
                .contains("<user_friendly_name>MNIST</user_friendly_name>")
        );

        let broken = job_xml(&catalog, &wu, "r", "<nothing/>", &chosen, 1e9, 0).unwrap_err();
        assert_eq!(broken, JobXmlError::Result("r".into()));
    }

    #[test]
    fn anonymous_platform_uses_the_clients_declared_version() {
        let catalog = Catalog::from_rows(
            vec![],
            vec![rboinc_core::db::app::AppRow {
                id: AppId(1),
                name: "mnist".into(),
                ..Default::default()
            }],
            vec![],
        );
        let declared = vec![
            ClientAppVersion {
                app_name: "mnist".into(),
                version_num: 103,
                platform: "x86_64-pc-linux-gnu".into(),
                avg_ncpus: 1.0,
                ..Default::default()
            },
            ClientAppVersion {
                app_name: "other".into(),
                version_num: 900,
                avg_ncpus: 1.0,
                ..Default::default()
            },
        ];
        let versions = Versions::Anonymous(&declared);
        let chosen = versions.choose(&catalog, AppId(1), 0).unwrap();
        assert_eq!(chosen.app_version_id(), -2);
        let host = HostView {
            id: HostId(1),
            userid: UserId(1),
            p_fpops: 3e9,
            m_nbytes: 0.0,
        };
        assert_eq!(chosen.flops(&host), 3e9);
        assert!(versions.choose(&catalog, AppId(1), 104).is_none());
    }
}
