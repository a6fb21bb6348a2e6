//! Which jobs: the candidates of the job cache this host can take, and with which version.
//!
//! A candidate suits the host if no other job of its workunit is in this reply, its app is not
//! a beta app the user refuses, the host can run a version of it the request wants
//! ([`crate::sched::versions`]; a plan class may also exclude some workunits), its app is one
//! the user selected (or others are allowed now: [`crate::sched::project_prefs`]), the host is
//! reliable for that version if the job's priority asks for it
//! ([`crate::sched::reliability`]), the host has the memory and disk the job needs, and it can
//! finish before its deadline behind the work it has queued — the shortened deadline of a job
//! for reliable hosts if it can, else the workunit's.
//!
//! Homogeneous redundancy: a workunit already committed to a host class (`hr_class`) suits only
//! hosts of that class, and a host whose class is unknown gets no work of an HR app. The first
//! replica commits the workunit in its claim ([`crate::sched::claim`]), which also checks that
//! no other process committed it differently meanwhile; when a claim is refused,
//! [`refusal`] tells whether the workunit was committed elsewhere (keep the job for hosts of
//! that class), the host's replica rule (`one_result_per_host_per_wu` /
//! `one_result_per_user_per_wu`) was the reason (keep it for others), or another process took
//! it (forget it).

use std::collections::HashSet;
use std::sync::Arc;

use rboinc_core::config::SchedConfig;
use rboinc_core::db::WorkunitId;
use rboinc_core::state::generalized_app_version_id;
use sqlx::mysql::MySqlConnection;

use super::context::{HostView, SendContext};
use super::plan::WorkPlan;
use crate::sched::catalog::AppEntry;
use crate::sched::claim::{self, Replicas};
use crate::sched::hr::app_hr_type;
use crate::sched::job::{Candidate, JobWorkunit};
use crate::sched::versions::{Build, Chosen, JobNeeds};

/// Message when workunits of HR apps are committed to other host classes.
pub const HR_COMMITTED: &str = "Tasks are committed to other platforms";

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

/// How a job's workunit is committed by its first send.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct Commit {
    /// The host's class, if the app uses homogeneous redundancy.
    pub hr_class: Option<i32>,
    /// The chosen version, if the app uses a homogeneous app version.
    pub app_version_id: Option<i64>,
}

impl JobWorkunit {
    pub fn needs(&self) -> JobNeeds {
        JobNeeds {
            appid: self.appid,
            rsc_memory_bound: self.rsc_memory_bound,
            app_version_num: self.app_version_num,
            app_version_id: self.app_version_id,
        }
    }
}

impl SendContext<'_> {
    /// The app's HR type for this project (0: none).
    pub fn hr_type(&self, app: &AppEntry) -> i32 {
        app_hr_type(
            app.row.homogeneous_redundancy,
            self.sched.homogeneous_redundancy,
        )
    }

    /// Whether the host gets no HR work at all: every app uses HR and the host's class is
    /// unknown for each (BOINC then says the host's type is not supported).
    pub fn hr_rejects_host(&self) -> bool {
        let ids = self.catalog.active_app_ids();
        !ids.is_empty()
            && ids.iter().all(|id| {
                self.catalog.app(*id).is_some_and(|a| {
                    let t = self.hr_type(a);
                    t != 0 && self.kind.is_unknown(t)
                })
            })
    }

    /// What the first send of a job of `app` with `chosen` commits its workunit to.
    pub fn commit(&self, app: &AppEntry, chosen: &Chosen<'_>) -> Commit {
        let t = self.hr_type(app);
        Commit {
            hr_class: (t != 0).then(|| self.kind.class(t)),
            app_version_id: match &chosen.build {
                Build::Project(v) if app.row.homogeneous_app_version != 0 => Some(v.id.get()),
                _ => None,
            },
        }
    }

    /// Estimated run time of `wu` on this host with `chosen` (BOINC's `estimate_duration`).
    pub fn estimate(&self, wu: &JobWorkunit, chosen: &Chosen<'_>) -> f64 {
        let fpops = if wu.rsc_fpops_est > 0.0 {
            wu.rsc_fpops_est
        } else {
            1e12
        };
        fpops / chosen.usage.projected_flops / self.available_frac(chosen.usage.proc_type)
    }

    /// The version a candidate would be sent with and the delay bound it gets, if it suits
    /// this host (the checks that need no database; see the module docs). `in_reply` holds the
    /// workunits already in the reply.
    pub fn suits<'c>(
        &'c self,
        c: &Candidate,
        in_reply: &HashSet<WorkunitId>,
        plan: &WorkPlan,
    ) -> Option<(Chosen<'c>, i32)> {
        if in_reply.contains(&c.wu.id) {
            return None;
        }
        let app = self.catalog.app(c.wu.appid)?;
        if app.row.beta != 0 && !self.prefs.allow_beta_work {
            return None;
        }
        let t = self.hr_type(app);
        if t != 0 {
            if self.kind.is_unknown(t) {
                return None;
            }
            if c.wu.hr_class != 0 && c.wu.hr_class != self.kind.class(t) {
                self.chooser().notes.add(HR_COMMITTED);
                return None;
            }
        }
        let chosen = self.chooser().choose(&c.wu.needs(), plan, true)?;
        // After the version choice, as BOINC does, so only runnable jobs count as work.
        if !self.selection().allows(c.wu.appid.get()) {
            return None;
        }
        if app.row.beta == 0
            && self.trust.needs_reliable(c.priority)
            && !self.trust.reliable(generalized_app_version_id(
                chosen.app_version_id(),
                c.wu.appid.get(),
            ))
        {
            return None;
        }
        if let Build::Project(v) = &chosen.build
            && self
                .catalog
                .plan_classes
                .workunit_excluded(&v.plan_class, c.wu.id.get(), c.wu.batch)
        {
            return None;
        }
        if c.wu.rsc_memory_bound > self.host.usable_ram {
            const MEGA: f64 = 1048576.0;
            self.chooser().notes.add(&format!(
                "{} needs {:.2} MB RAM but only {:.2} MB is available for use.",
                app.friendly_name(),
                c.wu.rsc_memory_bound / MEGA,
                self.host.usable_ram / MEGA
            ));
            return None;
        }
        if c.wu.rsc_disk_bound > plan.disk_available {
            self.chooser().notes.add(&super::disk::shortage_message(
                app.friendly_name(),
                c.wu.rsc_disk_bound,
                plan.disk_available,
            ));
            return None;
        }
        let est = self.estimate(&c.wu, &chosen);
        let pt = chosen.usage.proc_type;
        let (opt, pess) = self.trust.delay_bounds(c.priority, c.wu.delay_bound, est);
        let bound = if plan.meets_deadline(pt, est, opt) {
            opt
        } else if opt != pess && plan.meets_deadline(pt, est, pess) {
            pess
        } else {
            return None;
        };
        Some((chosen, bound as i32))
    }
}

/// Why a claim was refused.
#[derive(Debug, Clone, PartialEq)]
pub enum Refusal {
    /// The workunit is now committed to another host class (`true`) or version: the job
    /// stays for other hosts, with the workunit as it now is.
    Committed(Arc<JobWorkunit>, bool),
    /// The host (user) already has a result of the workunit: the job stays for other hosts.
    Held,
    /// Another process sent it, or its workunit failed: forget it.
    Lost,
}

/// After a refused claim: why (see the module docs). Costs a query only for HR and
/// homogeneous-app-version apps and under a replica rule.
pub async fn refusal(
    conn: &mut MySqlConnection,
    c: &Candidate,
    host: &HostView,
    replicas: Replicas,
    commit: Commit,
) -> Result<Refusal, sqlx::Error> {
    if commit.hr_class.is_some() || commit.app_version_id.is_some() {
        let now: Option<(i32, i32)> =
            sqlx::query_as("SELECT hr_class, app_version_id FROM workunit WHERE id = ?")
                .bind(c.wu.id)
                .fetch_optional(&mut *conn)
                .await?;
        if let Some((hr_class, app_version_id)) = now {
            let hr_differs = commit
                .hr_class
                .is_some_and(|h| hr_class != 0 && hr_class != h);
            let version_differs = commit
                .app_version_id
                .is_some_and(|v| app_version_id != 0 && i64::from(app_version_id) != v);
            if hr_differs || version_differs {
                let mut wu = (*c.wu).clone();
                wu.hr_class = hr_class;
                wu.app_version_id = app_version_id.into();
                return Ok(Refusal::Committed(Arc::new(wu), hr_differs));
            }
        }
    }
    if replicas != Replicas::Anywhere {
        let held = claim::workunits_already_held(
            conn,
            &[c.wu.id],
            host.id,
            host.userid,
            matches!(replicas, Replicas::OnePerUser(_)),
        )
        .await?;
        if held.contains(&c.wu.id) {
            return Ok(Refusal::Held);
        }
    }
    Ok(Refusal::Lost)
}
