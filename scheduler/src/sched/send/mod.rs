//! Sending work: how many jobs a host gets ([`plan`]), which ones ([`candidates`]), and what
//! the reply says about each ([`job_xml`](mod@job_xml)).
//!
//! [`send_work`] takes candidates that suit the host out of the process's job cache a few at a
//! time, claims each in the RPC's transaction ([`crate::sched::claim`]) and adds the claimed
//! ones to the reply, until the plan is satisfied or the cache has nothing more for this host.
//! A candidate is only ever in one request's hands: what it cannot use goes back to the list
//! for other hosts, and what another process sent first is forgotten. What sending needs to
//! know of the RPC is its [`context`].

pub mod candidates;
pub mod context;
pub mod job_xml;
pub mod plan;

use std::collections::HashSet;

use rboinc_core::db::{ResultId, WorkunitId};
use sqlx::mysql::MySqlConnection;

use crate::sched::claim::{self, Claim, Replicas};
use crate::sched::job::Candidate;
use crate::sched::reply::SchedReply;
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
    let replicas = candidates::replicas(ctx.sched, &ctx.host);
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
                    candidates::held_by_host(&mut *conn, &c, &ctx.host, replicas)
                        .await
                        .map(|held| if held { Sent::Held } else { Sent::Lost })
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
    tracing::Span::current().record("sent", stats.sent);
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
    replicas: Replicas,
    reply: &mut SchedReply,
) -> Result<Sent, sqlx::Error> {
    let Some(chosen) = ctx
        .versions
        .choose(ctx.catalog, c.wu.appid, c.wu.app_version_num)
    else {
        return Ok(Sent::Unusable);
    };
    let flops = chosen.flops(ctx.host.p_fpops);
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
    if !claim::claim(&mut *conn, &claim, replicas).await? {
        tracing::debug!(result_id = %c.result_id, "job not claimed");
        return Ok(Sent::Lost);
    }
    tracing::debug!(result_id = %c.result_id, wu_id = %c.wu.id, host_id = %ctx.host.id, "job sent");
    add_to_reply(reply, &c.wu, xml);
    Ok(Sent::Yes(c.wu.rsc_fpops_est / flops))
}
