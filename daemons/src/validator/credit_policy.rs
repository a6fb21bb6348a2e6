//! How much credit a job's valid results get: the C++ validator's credit flags.
//!
//! By default the credit is CreditNew's (`crate::credit::assign_credit_set`: each valid
//! result's claimed FLOPs, normalised and averaged); `--credit_from_wu`, `--credit_from_runtime`,
//! `--post_assigned_credit` and `--no_credit` replace it, and `--max_granted_credit` caps it.
//! The statistics CreditNew keeps are updated in every case except `--credit_from_runtime`,
//! as in BOINC.

use rboinc_core::db::ResultId;
use rboinc_core::db::result::ResultRow;
use rboinc_core::state::COBBLESTONE_SCALE;

use super::handle::{BatchState, Context};
use super::load::ValidatorWorkunit;
use crate::credit::pfc::AVG_CPU_FPOPS;
use crate::credit::{AppVersions, JobSize, assign_credit_set, low_average};

/// How credit is decided and granted (the C++ validator's flags).
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct CreditPolicy {
    /// `--credit_from_wu`: the job's `canonical_credit` (set by `create_work --credit`).
    pub from_wu: bool,
    /// `--credit_from_runtime`: elapsed time × FLOPS estimate.
    pub from_runtime: bool,
    /// `--post_assigned_credit`: the canonical result's `claimed_credit`.
    pub post_assigned: bool,
    /// `--no_credit`: grant nothing.
    pub none: bool,
    /// `--update_credited_job`: record (user, job) pairs in `credited_job`.
    pub update_credited_job: bool,
    /// `--max_granted_credit` (0 = no cap).
    pub max_granted_credit: f64,
    /// `--check_punitive`.
    pub check_punitive: bool,
}

impl Default for CreditPolicy {
    fn default() -> Self {
        CreditPolicy {
            from_wu: false,
            from_runtime: false,
            post_assigned: false,
            none: false,
            update_credited_job: false,
            max_granted_credit: 200.0 * 1000.0 * 365.0,
            check_punitive: false,
        }
    }
}

pub(super) fn job_size(wu: &ValidatorWorkunit) -> JobSize {
    JobSize {
        rsc_fpops_est: wu.rsc_fpops_est,
        rsc_fpops_bound: wu.rsc_fpops_bound,
    }
}

/// The job's credit once a canonical result is found, by the policy's rule.
pub(super) fn decide_credit(
    cx: &Context,
    versions: &mut AppVersions,
    state: &mut BatchState,
    wu: &ValidatorWorkunit,
    viable: &mut [ResultRow],
    canonical: ResultId,
) -> f64 {
    let mut credit = 0.0;
    if !cx.policy.from_runtime {
        let mut havs = state.take_havs(viable);
        credit = assign_credit_set(
            job_size(wu),
            cx.app.credit,
            viable,
            &mut havs,
            versions,
            cx.policy.max_granted_credit,
        );
        state.put_havs(viable, havs);
    }
    if cx.policy.from_wu {
        credit = wu.canonical_credit;
        if credit == 0.0 {
            tracing::warn!(wu_id = %wu.id, "--credit_from_wu, but the workunit has no credit");
        }
    } else if cx.policy.from_runtime {
        let claims: Vec<f64> = viable
            .iter()
            .filter_map(|r| {
                let flops = if r.flops_estimate == 1e9 {
                    AVG_CPU_FPOPS
                } else {
                    r.flops_estimate
                };
                let mut pfc = flops * r.elapsed_time;
                if pfc > wu.rsc_fpops_bound * 2.0 {
                    pfc = wu.rsc_fpops_bound;
                }
                let c = pfc * COBBLESTONE_SCALE;
                if c <= 0.0 || c > cx.policy.max_granted_credit {
                    tracing::warn!(wu_id = %wu.id, result_id = %r.id, credit = c, "runtime credit out of range");
                    None
                } else {
                    Some(c)
                }
            })
            .collect();
        credit = if claims.is_empty() {
            tracing::warn!(wu_id = %wu.id, "no result has a usable runtime credit");
            0.0
        } else {
            low_average(&claims)
        };
    } else if cx.policy.post_assigned {
        credit = viable
            .iter()
            .find(|r| r.id == canonical)
            .map_or(0.0, |r| r.claimed_credit);
        if credit == 0.0 {
            tracing::warn!(wu_id = %wu.id, "--post_assigned_credit, but the canonical result claims none");
        }
    } else if cx.policy.none {
        credit = 0.0;
    }
    if cx.policy.max_granted_credit != 0.0 && credit > cx.policy.max_granted_credit {
        credit = cx.policy.max_granted_credit;
    }
    credit
}
