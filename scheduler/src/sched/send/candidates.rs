//! Which jobs: the candidates of the job cache this host can take.
//!
//! A candidate suits the host if it has an app version for it (one for its platforms — or, on
//! the anonymous platform, one it declared), the host has the memory the job needs, the host
//! can finish it before its deadline, and no other job of the same workunit is in this reply.
//! With `one_result_per_host_per_wu` / `one_result_per_user_per_wu`, it must also be of a
//! workunit the host (user) has no result of yet — so a reissued replica never goes back to the
//! host that failed it, and the replicas of a quorum run on different hosts. That rule is
//! checked by the claim itself ([`Replicas`]), which needs no extra query; when a claim is
//! refused, [`held_by_host`] tells whether this rule or another process was the reason.
//!
//! The checks that need no database are here, so feasibility rules (disk, deadlines under the
//! host's load), user preferences and per-host limits land next to them.

use std::collections::HashSet;

use rboinc_core::config::SchedConfig;
use rboinc_core::db::WorkunitId;
use sqlx::mysql::MySqlConnection;

use super::context::{HostView, SendContext};
use crate::sched::claim::{self, Replicas};
use crate::sched::job::{Candidate, JobWorkunit};
use crate::sched::versions::Chosen;

/// The replica rule of the project's settings, for this host.
pub fn replicas(sched: &SchedConfig, host: &HostView) -> Replicas {
    if sched.one_result_per_user_per_wu {
        Replicas::OnePerUser(host.userid)
    } else if sched.one_result_per_host_per_wu {
        Replicas::OnePerHost(host.id)
    } else {
        Replicas::Anywhere
    }
}

impl SendContext<'_> {
    /// Estimated run time of `wu` on this host with `chosen`.
    pub fn estimate(&self, wu: &JobWorkunit, chosen: &Chosen<'_>) -> f64 {
        wu.rsc_fpops_est / chosen.flops(self.host.p_fpops)
    }

    /// Whether `c` suits this host (the checks that need no database). `in_reply` holds the
    /// workunits already in the reply.
    pub fn suits(&self, c: &Candidate, in_reply: &HashSet<WorkunitId>) -> bool {
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

/// After a refused claim under a replica rule: whether the host (user) already has a result of
/// the candidate's workunit (keep the job for other hosts) rather than another process having
/// taken it (forget it).
pub async fn held_by_host(
    conn: &mut MySqlConnection,
    c: &Candidate,
    host: &HostView,
    replicas: Replicas,
) -> Result<bool, sqlx::Error> {
    let held = claim::workunits_already_held(
        conn,
        &[c.wu.id],
        host.id,
        host.userid,
        matches!(replicas, Replicas::OnePerUser(_)),
    )
    .await?;
    Ok(held.contains(&c.wu.id))
}
