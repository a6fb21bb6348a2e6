//! Sending work: how many jobs a host gets ([`plan`]), which ones and with which version
//! ([`candidates`]), and what the reply says about each ([`job_xml`](mod@job_xml)).
//!
//! [`send_work`] runs one pass per processor type the request asks work for, GPUs first (Apple,
//! Intel, AMD, NVIDIA, then the CPU), as BOINC's score-based scheduler does: during a pass only
//! that type's request counts, so a GPU version fills the GPU request and a CPU or multithread
//! version the CPU one. In each pass it takes candidates that suit the host out of the
//! process's job cache a few at a time, claims each in the RPC's transaction
//! ([`crate::sched::claim`]) and adds the claimed ones to the reply, until the pass's type is
//! satisfied or the cache has nothing more for this host. A candidate is only ever in one
//! request's hands: what it cannot use goes back to the list for other hosts, and what another
//! process sent first is forgotten. What sending needs to know of the RPC is its [`context`].
//!
//! When the user selected apps and allows others (`<allow_non_preferred_apps>`), the passes
//! run again for the other apps' jobs if the selected apps' jobs left the request unfilled:
//! BOINC's score-based scheduler ranks a job of an app not selected one point lower.
//!
//! A job of an app with `target_nresults` > 1 whose workunit has one replica, sent to a host
//! not trusted for its version, makes the workunit replicated ([`crate::sched::reliability`]).

pub mod candidates;
pub mod context;
pub mod disk;
pub mod job_xml;
pub mod plan;

use std::collections::HashSet;
use std::sync::Arc;

use rboinc_core::db::{ResultId, WorkunitId};
use rboinc_core::state::generalized_app_version_id;
use sqlx::mysql::MySqlConnection;

use crate::sched::claim::{self, Claim, Replicas};
use crate::sched::coprocs::ProcType;
use crate::sched::job::Candidate;
use crate::sched::reliability;
use crate::sched::reply::SchedReply;
use crate::sched::rpc_log::SentJob;
use crate::sched::versions::Chosen;
use candidates::{Commit, Refusal};
pub use context::{HostView, SendContext};
use job_xml::{add_to_reply, job_xml};
pub use plan::WorkPlan;

/// What [`send_work`] did.
#[derive(Debug, Default, Clone, PartialEq)]
pub struct SendStats {
    pub sent: usize,
    /// Candidates lost to another scheduler process.
    pub collisions: usize,
    /// The job list had nothing this host could use.
    pub no_jobs_available: bool,
    /// Every app uses homogeneous redundancy and the host's class is unknown.
    pub hr_rejected: bool,
}

/// Sends new work while the plan wants it, claiming in `conn` (the RPC's transaction: the
/// claims take effect when it commits). `in_reply` holds the workunits already in the reply
/// (resent jobs).
#[tracing::instrument(level = "debug", skip_all, fields(sent))]
pub async fn send_work(
    ctx: &SendContext<'_>,
    conn: &mut MySqlConnection,
    plan: &mut WorkPlan,
    reply: &mut SchedReply,
    in_reply: &mut HashSet<WorkunitId>,
) -> Result<SendStats, sqlx::Error> {
    let mut stats = SendStats::default();
    if ctx.hr_rejects_host() {
        stats.hr_rejected = true;
        return Ok(stats);
    }
    let active_apps = ctx.catalog.active_app_ids();
    if ctx.jobs.is_old() && ctx.jobs.should_refill() {
        ctx.jobs.refill(&mut *conn, &active_apps).await?;
    }
    let mut refilled = false;
    let mut found_none = false;
    loop {
        for pt in ProcType::ALL.into_iter().rev() {
            if !plan.need_proc_type(pt) {
                continue;
            }
            plan.only(pt);
            let pass = send_pass(ctx, conn, plan, reply, in_reply, &mut stats, &mut refilled).await;
            plan.restore();
            ctx.chooser().end_pass();
            found_none |= pass?;
        }
        // The selected apps had too little: other apps' jobs, if the user allows them.
        let mut selection = ctx.selection();
        if !selection.may_open() || !plan.needed() {
            break;
        }
        tracing::debug!("sending jobs of apps the user did not select");
        selection.others_now = true;
    }
    stats.no_jobs_available = found_none && stats.sent == 0;
    tracing::Span::current().record("sent", stats.sent);
    Ok(stats)
}

/// One pass; true if the job list had nothing more for this host.
async fn send_pass(
    ctx: &SendContext<'_>,
    conn: &mut MySqlConnection,
    plan: &mut WorkPlan,
    reply: &mut SchedReply,
    in_reply: &mut HashSet<WorkunitId>,
    stats: &mut SendStats,
    refilled: &mut bool,
) -> Result<bool, sqlx::Error> {
    let replicas = candidates::replicas(ctx.sched, &ctx.host);
    // Candidates this host cannot take (it has a result of their workunit, or the workunit is
    // committed elsewhere): skipped for the rest of this RPC, left in the list for others.
    let mut rejected: HashSet<ResultId> = HashSet::new();
    // Candidates are taken out of the shared list until this RPC is done with them: take few
    // at a time (most RPCs want one or two jobs), more while the request still wants work.
    let mut batch = 1;
    while plan.needed() {
        let want = (plan.max_jobs - plan.jobs_sent).clamp(1, batch);
        batch = (batch * 2).min(8);
        let taken = {
            let plan: &WorkPlan = plan;
            ctx.jobs.take(want, |c| {
                !rejected.contains(&c.result_id) && ctx.suits(c, in_reply, plan).is_some()
            })
        };
        if taken.is_empty() {
            if !*refilled && ctx.jobs.should_refill() {
                ctx.jobs
                    .refill(&mut *conn, &ctx.catalog.active_app_ids())
                    .await?;
                *refilled = true;
                continue;
            }
            return Ok(true);
        }
        let mut iter = taken.into_iter();
        while let Some(c) = iter.next() {
            let chosen = if in_reply.contains(&c.wu.id) || !plan.needed() {
                None
            } else {
                ctx.suits(&c, in_reply, plan)
            };
            let Some((chosen, delay_bound)) = chosen else {
                // No longer wanted, or no longer suitable (the request changed as jobs were
                // added): back to the list.
                if !plan.needed() {
                    ctx.jobs.put_back(std::iter::once(c).chain(iter).collect());
                    break;
                }
                rejected.insert(c.result_id);
                ctx.jobs.put_back(vec![c]);
                continue;
            };
            let outcome =
                claim_and_add(ctx, &mut *conn, &c, (&chosen, delay_bound), replicas, reply).await;
            let outcome = match outcome {
                Ok(Sent::Refused(commit)) => {
                    candidates::refusal(&mut *conn, &c, &ctx.host, replicas, commit)
                        .await
                        .map(Sent::Why)
                }
                other => other,
            };
            match outcome {
                Ok(Sent::Yes(est)) => {
                    let app = ctx
                        .catalog
                        .app(c.wu.appid)
                        .map_or("", |a| a.row.name.as_str());
                    let u = &chosen.usage;
                    plan.add_job(app, u.proc_type, u.avg_ncpus, u.gpu_usage, est);
                    plan.disk_available -= c.wu.rsc_disk_bound;
                    ctx.chooser().quotas.job_sent(generalized_app_version_id(
                        chosen.app_version_id(),
                        c.wu.appid.get(),
                    ));
                    in_reply.insert(c.wu.id);
                    stats.sent += 1;
                    ctx.jobs.claimed(&c);
                }
                Ok(Sent::Why(Refusal::Held)) => {
                    rejected.insert(c.result_id);
                    ctx.jobs.put_back(vec![c]);
                }
                Ok(Sent::Why(Refusal::Committed(wu, other_class))) => {
                    if other_class {
                        ctx.chooser().notes.add(candidates::HR_COMMITTED);
                    }
                    rejected.insert(c.result_id);
                    let mut fresh = (*c).clone();
                    fresh.wu = wu;
                    ctx.jobs.release(std::slice::from_ref(&c));
                    ctx.jobs.put_back(vec![Arc::new(fresh)]);
                }
                Ok(Sent::Why(Refusal::Lost)) => {
                    stats.collisions += 1;
                    ctx.metrics.claim_collision();
                    ctx.jobs.release(&[c]);
                }
                Ok(Sent::Unusable) => ctx.jobs.release(&[c]),
                Ok(Sent::Refused(_)) => unreachable!("refusals are explained above"),
                Err(e) => {
                    ctx.jobs.release(&[c]);
                    ctx.jobs.put_back(iter.collect());
                    return Err(e);
                }
            }
        }
    }
    Ok(false)
}

/// What became of one candidate.
#[derive(Debug, Clone, PartialEq)]
enum Sent {
    /// Claimed and in the reply, with its estimated run time.
    Yes(f64),
    /// Not claimed, and nothing was written (the reason is not known yet).
    Refused(Commit),
    /// Not claimed, for this reason.
    Why(Refusal),
    /// Stored XML that cannot be sent.
    Unusable,
}

/// Claims one candidate, sent with `chosen` and a deadline `delay_bound` from now, and adds it
/// to the reply.
#[tracing::instrument(
    level = "debug",
    skip_all,
    fields(
        result_id = %c.result_id,
        wu_id = %c.wu.id,
        app = ctx.catalog.app(c.wu.appid).map_or("", |a| a.row.name.as_str()),
    )
)]
async fn claim_and_add(
    ctx: &SendContext<'_>,
    conn: &mut MySqlConnection,
    c: &Candidate,
    (chosen, delay_bound): (&Chosen<'_>, i32),
    replicas: Replicas,
    reply: &mut SchedReply,
) -> Result<Sent, sqlx::Error> {
    let Some(app) = ctx.catalog.app(c.wu.appid) else {
        return Ok(Sent::Unusable);
    };
    let client_deadline = ctx.now + i64::from(delay_bound);
    let xml = match job_xml(
        ctx.catalog,
        &c.wu,
        &c.name,
        &c.xml_doc_in,
        chosen,
        ctx.client_version,
        client_deadline,
    ) {
        Ok(xml) => xml,
        Err(e) => {
            tracing::error!(result_id = %c.result_id, wu_id = %c.wu.id, error = %e, "job not sendable");
            return Ok(Sent::Unusable);
        }
    };
    let commit = ctx.commit(app, chosen);
    let claim = Claim {
        result_id: c.result_id,
        hostid: ctx.host.id,
        userid: ctx.host.userid,
        sent_time: ctx.now,
        db_deadline: client_deadline + ctx.sched.report_grace_period.as_secs() as i64,
        flops_estimate: chosen.usage.peak_flops,
        app_version_id: chosen.app_version_id(),
        hr_class: commit.hr_class,
        commit_version: commit.app_version_id,
    };
    if !claim::claim(&mut *conn, &claim, replicas).await? {
        tracing::debug!(result_id = %c.result_id, "job not claimed");
        return Ok(Sent::Refused(commit));
    }
    tracing::debug!(result_id = %c.result_id, wu_id = %c.wu.id, host_id = %ctx.host.id, "job sent");
    let gavid = generalized_app_version_id(chosen.app_version_id(), c.wu.appid.get());
    if c.wu.target_nresults == 1 && app.row.target_nresults > 1 {
        if ctx.trust.trusted(gavid) {
            tracing::debug!(wu_id = %c.wu.id, "trusted app version: not replicating");
        } else if reliability::replicate(&mut *conn, c.wu.id, app.row.target_nresults, ctx.now)
            .await?
        {
            tracing::debug!(wu_id = %c.wu.id, "sent to an untrusted host: replicating");
        }
    }
    add_to_reply(reply, &c.wu, xml);
    let (_, version_num, plan_class) = chosen.identity();
    reply.sent_jobs.push(SentJob {
        result_id: c.result_id,
        wu_id: c.wu.id,
        app: app.row.name.clone(),
        version_num,
        plan_class: plan_class.to_string(),
        resent: false,
    });
    Ok(Sent::Yes(ctx.estimate(&c.wu, chosen)))
}
