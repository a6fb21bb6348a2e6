//! What the validator decides for one job (BOINC's `handle_wu`), on in-memory state.
//!
//! Two cases (`validator.md` §4, oracle scenarios 15–20 and 33–35):
//! - **no canonical result yet**: if enough results succeeded, look for consensus
//!   (`quorum::check_set`); with one, compute the credit, mark results VALID/INVALID, grant
//!   credit and hand the job to the assimilator; without one, mark the results INCONCLUSIVE and
//!   ask for another result (raise `target_nresults`) or fail the job when too many succeeded;
//! - **a canonical result exists** (a late result came back): compare it with the canonical
//!   result and grant it the canonical result's credit if it agrees.
//!
//! One deliberate difference: when some outputs cannot be read for a transient reason (the
//! upload file system is gone, a file cannot be read now), BOINC's validator still marks the
//! other results INCONCLUSIVE and, with no consensus, raises `target_nresults`, so a storage
//! problem costs an extra replica and the unread results are never retried. Here unread
//! results stay INIT and nothing is concluded from the missing comparison: the job waits (at
//! most 6 hours), the transitioner sees the INIT results and flags it again, and the comparison
//! is made once the files can be read, as BOINC's code comment intends ("arrange to try again
//! later").
//!
//! Everything the job changes goes into the batch's [`BatchState`]: result and workunit writes,
//! `host_app_version` rows, the credit ledger and app version statistics. Several jobs of one
//! batch may share hosts, users and statistics rows; their changes chain in memory in job order,
//! as BOINC's one-at-a-time updates would, and are written once (see `write`).

use std::collections::{BTreeMap, HashMap};

use rboinc_core::db::host_app_version::HostAppVersionRow;
use rboinc_core::db::result::ResultRow;
use rboinc_core::db::{HostId, ResultId, UserId, WorkunitId};
use rboinc_core::state::{
    AssimilateState, ErrorMask, Outcome, ServerState, ValidateState, generalized_app_version_id,
};

use super::compare::{InitError, Mode};
use super::load::{Job, ValidatorWorkunit};
use super::quorum::{Inits, check_pair, check_set};
use crate::credit::hav::{self, HavKey};
use crate::credit::pfc::AVG_CPU_FPOPS;
use crate::credit::{
    AppCredit, AppVersions, CreditLedger, JobSize, assign_credit_set, low_average,
};
use rboinc_core::state::COBBLESTONE_SCALE;

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

/// The app facts the validator uses.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct AppFacts {
    /// `app.target_nresults` (adaptive replication).
    pub target_nresults: i32,
    pub credit: AppCredit,
}

/// When the transitioner should look at the job next.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Transition {
    /// Leave `transition_time` as it is.
    NoChange,
    /// Now (something changed the transitioner must see).
    Immediate,
    /// At the latest in 6 hours (a transient error: try again then).
    Delayed,
    /// Never (a canonical result was found; the assimilator takes over).
    Never,
}

/// The result columns the validator writes.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct ResultWrite {
    pub validate_state: ValidateState,
    pub granted_credit: f64,
    pub server_state: ServerState,
    pub outcome: Outcome,
    pub opaque: f64,
    pub runtime_outlier: i32,
}

impl ResultWrite {
    fn of(r: &ResultRow) -> Self {
        ResultWrite {
            validate_state: r.validate_state,
            granted_credit: r.granted_credit,
            server_state: r.server_state,
            outcome: r.outcome,
            opaque: r.opaque,
            runtime_outlier: r.runtime_outlier,
        }
    }
}

/// The workunit columns the validator writes (besides `need_validate = 0`); `None` = unchanged.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct WorkunitWrite {
    pub id: WorkunitId,
    pub error_mask: Option<i32>,
    pub assimilate_state: Option<i32>,
    pub target_nresults: Option<i32>,
    /// The canonical result and the job's credit.
    pub canonical: Option<(ResultId, f64)>,
    pub transition: Transition,
}

/// Everything a batch changes, to be written in one transaction.
#[derive(Debug, Default)]
pub struct BatchState {
    pub ledger: CreditLedger,
    /// `host_app_version` rows as read, and as changed.
    pub havs_read: HashMap<HavKey, HostAppVersionRow>,
    pub havs: HashMap<HavKey, HostAppVersionRow>,
    pub results: BTreeMap<ResultId, ResultWrite>,
    pub workunits: Vec<WorkunitWrite>,
    pub credited_jobs: Vec<(UserId, i64)>,
    /// `--check_punitive`: (host, app version id) rows to throttle to one job a day.
    pub punished: Vec<(HostId, i64)>,
}

/// The fixed inputs of a batch.
#[derive(Debug)]
pub struct Context<'a> {
    pub policy: CreditPolicy,
    pub app: AppFacts,
    pub daily_result_quota: i32,
    /// Unix time (with fractions, as BOINC's `dtime()`) for credit averages.
    pub now: f64,
    pub mode: &'a Mode,
    pub inits: &'a Inits,
}

fn hav_key(r: &ResultRow) -> HavKey {
    (
        r.hostid,
        generalized_app_version_id(r.app_version_id.get(), r.appid.get()),
    )
}

fn is_viable(r: &ResultRow) -> bool {
    r.server_state == ServerState::Over
        && r.outcome == Outcome::Success
        && r.validate_state != ValidateState::Invalid
}

/// Whether a result of an existing canonical job must be checked against the canonical one.
pub fn is_late(r: &ResultRow) -> bool {
    r.server_state == ServerState::Over
        && r.outcome == Outcome::Success
        && matches!(
            r.validate_state,
            ValidateState::Init | ValidateState::Inconclusive
        )
}

/// The results whose outputs [`handle_job`] will read, and the `host_app_version` rows it uses.
pub fn needs(job: &Job, policy: &CreditPolicy) -> (Vec<ResultId>, Vec<HavKey>) {
    let mut read = Vec::new();
    let mut havs = Vec::new();
    if policy.check_punitive {
        read.extend(
            job.results
                .iter()
                .filter(|r| {
                    r.server_state == ServerState::Over && r.outcome == Outcome::ClientError
                })
                .map(|r| r.id),
        );
    }
    if job.wu.canonical_resultid.get() != 0 {
        let late: Vec<&ResultRow> = job.results.iter().filter(|r| is_late(r)).collect();
        if !late.is_empty() {
            read.push(job.wu.canonical_resultid);
            read.extend(late.iter().map(|r| r.id));
            havs.extend(late.iter().map(|r| hav_key(r)));
        }
    } else {
        let viable: Vec<&ResultRow> = job.results.iter().filter(|r| is_viable(r)).collect();
        havs.extend(viable.iter().map(|r| hav_key(r)));
        if viable.len() as i64 >= i64::from(job.wu.min_quorum) {
            read.extend(viable.iter().map(|r| r.id));
        }
    }
    (read, havs)
}

impl BatchState {
    /// Takes the statistics rows of `results` out of the batch (for `assign_credit_set`).
    fn take_havs(&mut self, results: &[ResultRow]) -> Vec<Option<HostAppVersionRow>> {
        results
            .iter()
            .map(|r| self.havs.get(&hav_key(r)).cloned())
            .collect()
    }

    /// Puts rows taken by [`BatchState::take_havs`] back (the last one of a key wins, as in
    /// BOINC where each result had its own copy).
    fn put_havs(&mut self, results: &[ResultRow], rows: Vec<Option<HostAppVersionRow>>) {
        for (r, row) in results.iter().zip(rows) {
            if let Some(row) = row {
                self.havs.insert(hav_key(r), row);
            }
        }
    }

    /// BOINC's `is_valid`: the host's turnaround, quota and reliability; `credited_job`.
    fn record_valid(&mut self, cx: &Context<'_>, wu: &ValidatorWorkunit, r: &ResultRow) {
        self.ledger
            .record_turnaround(r.hostid, f64::from(r.received_time - r.sent_time));
        let unreplicated = wu.target_nresults == 1 && cx.app.target_nresults > 1;
        if let Some(row) = self.havs.get_mut(&hav_key(r)) {
            hav::record_valid(row, !unreplicated);
        }
        if cx.policy.update_credited_job
            && let Some(owner) = self.ledger.host_owner(r.hostid)
        {
            self.credited_jobs.push((owner, wu.opaque as i64));
        }
    }

    fn record_invalid(&mut self, cx: &Context<'_>, r: &ResultRow) {
        if let Some(row) = self.havs.get_mut(&hav_key(r)) {
            hav::record_invalid(row, cx.daily_result_quota);
        }
    }

    fn grant(&mut self, cx: &Context<'_>, wu: WorkunitId, r: &ResultRow, credit: f64) {
        if let Err(e) = self
            .ledger
            .grant(r.hostid, f64::from(r.sent_time), credit, cx.now)
        {
            tracing::error!(wu_id = %wu, result_id = %r.id, error = %e, "credit not granted to everyone");
        }
    }
}

/// Decides job `job` (see the module docs), recording its changes in `state`.
pub fn handle_job(cx: &Context<'_>, versions: &mut AppVersions, state: &mut BatchState, job: &Job) {
    let wu = &job.wu;
    if cx.policy.check_punitive {
        for r in &job.results {
            if r.server_state == ServerState::Over
                && r.outcome == Outcome::ClientError
                && matches!(cx.inits.get(&r.id), Some(Err(InitError::LongTermFail)))
            {
                tracing::info!(wu_id = %wu.id, result_id = %r.id, host_id = %r.hostid, "punishing host: one job a day for this app version");
                state.punished.push((r.hostid, r.app_version_id.get()));
            }
        }
    }
    let mut write = WorkunitWrite {
        id: wu.id,
        error_mask: None,
        assimilate_state: None,
        target_nresults: None,
        canonical: None,
        transition: Transition::NoChange,
    };
    if wu.canonical_resultid.get() != 0 {
        handle_late_results(cx, versions, state, job, &mut write);
    } else {
        handle_new_results(cx, versions, state, job, &mut write);
    }
    state.workunits.push(write);
}

fn job_size(wu: &ValidatorWorkunit) -> JobSize {
    JobSize {
        rsc_fpops_est: wu.rsc_fpops_est,
        rsc_fpops_bound: wu.rsc_fpops_bound,
    }
}

/// Case A: the job has a canonical result; check the late ones against it.
fn handle_late_results(
    cx: &Context<'_>,
    versions: &mut AppVersions,
    state: &mut BatchState,
    job: &Job,
    write: &mut WorkunitWrite,
) {
    let wu = &job.wu;
    let Some(canonical) = job.results.iter().find(|r| r.id == wu.canonical_resultid) else {
        // BOINC returns here leaving need_validate set, and then finds the job again on every
        // scan for ever. The flag is cleared instead; the transitioner raises it again if a
        // new result comes back.
        tracing::error!(wu_id = %wu.id, canonical = %wu.canonical_resultid, "canonical result not found");
        return;
    };
    for original in job.results.iter().filter(|r| is_late(r)) {
        let mut r = original.clone();
        if check_pair(wu.id, &mut r, canonical, cx.inits, cx.mode) {
            write.transition = Transition::Delayed;
            return;
        }
        let mut update = r.outcome == Outcome::ValidateError;
        write.transition = Transition::Immediate;
        if !state.ledger.has_host(r.hostid) {
            tracing::error!(wu_id = %wu.id, result_id = %r.id, host_id = %r.hostid, "host not found; result left as it is");
            continue;
        }
        match r.validate_state {
            ValidateState::Valid => {
                update = true;
                state.record_valid(cx, wu, &r);
                // Statistics only: the credit is the canonical result's.
                let mut one = [r.clone()];
                let mut havs = state.take_havs(&one);
                assign_credit_set(
                    job_size(wu),
                    cx.app.credit,
                    &mut one,
                    &mut havs,
                    versions,
                    cx.policy.max_granted_credit,
                );
                state.put_havs(&one, havs);
                if !cx.policy.none {
                    r.granted_credit = canonical.granted_credit;
                    state.grant(cx, wu.id, &r, r.granted_credit);
                    tracing::info!(wu_id = %wu.id, result_id = %r.id, host_id = %r.hostid, credit = r.granted_credit, "late result valid");
                }
            }
            ValidateState::Invalid => {
                update = true;
                state.record_invalid(cx, &r);
                tracing::info!(wu_id = %wu.id, result_id = %r.id, host_id = %r.hostid, "late result invalid");
            }
            _ => {}
        }
        if update {
            state.results.insert(r.id, ResultWrite::of(&r));
        }
    }
}

/// The job's credit once a canonical result is found, by the policy's rule.
fn decide_credit(
    cx: &Context<'_>,
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

/// Case B: no canonical result yet.
fn handle_new_results(
    cx: &Context<'_>,
    versions: &mut AppVersions,
    state: &mut BatchState,
    job: &Job,
    write: &mut WorkunitWrite,
) {
    let wu = &job.wu;
    let mut viable: Vec<ResultRow> = job
        .results
        .iter()
        .filter(|r| is_viable(r))
        .cloned()
        .collect();
    if (viable.len() as i64) < i64::from(wu.min_quorum) {
        tracing::debug!(wu_id = %wu.id, viable = viable.len(), quorum = wu.min_quorum, "not enough results yet");
        return;
    }
    let found = check_set(wu.id, &mut viable, cx.inits, wu.min_quorum, cx.mode);
    if found.retry {
        write.transition = Transition::Delayed;
    }
    let credit = match found.canonical {
        Some(canonical) => decide_credit(cx, versions, state, wu, &mut viable, canonical),
        None => 0.0,
    };
    let mut n_viable = 0;
    for r in &mut viable {
        // A result that could not be read now is left as it is (INIT), to be looked at again
        // when the transitioner flags the job; see the module docs.
        if found.retry
            && matches!(
                cx.inits.get(&r.id),
                Some(Err(InitError::Transient(_))) | None
            )
        {
            continue;
        }
        let mut update = false;
        if r.outcome != Outcome::Success || r.validate_state == ValidateState::Invalid {
            write.transition = Transition::Immediate;
            update = true;
        } else {
            n_viable += 1;
        }
        if matches!(
            r.validate_state,
            ValidateState::Valid | ValidateState::Invalid
        ) && !state.ledger.has_host(r.hostid)
        {
            tracing::error!(wu_id = %wu.id, result_id = %r.id, host_id = %r.hostid, "host not found; result left as it is");
            continue;
        }
        match r.validate_state {
            ValidateState::Valid => {
                update = true;
                state.record_valid(cx, wu, r);
                if !cx.policy.none {
                    r.granted_credit = credit;
                    state.grant(cx, wu.id, r, credit);
                    tracing::info!(wu_id = %wu.id, result_id = %r.id, host_id = %r.hostid, credit, "valid");
                }
            }
            ValidateState::Invalid => {
                update = true;
                state.record_invalid(cx, r);
                tracing::info!(wu_id = %wu.id, result_id = %r.id, host_id = %r.hostid, "invalid");
            }
            ValidateState::Init => {
                r.validate_state = ValidateState::Inconclusive;
                update = true;
                tracing::info!(wu_id = %wu.id, result_id = %r.id, host_id = %r.hostid, "inconclusive");
            }
            _ => {}
        }
        if update {
            state.results.insert(r.id, ResultWrite::of(r));
        }
    }
    match found.canonical {
        Some(canonical) => {
            write.transition = Transition::Never;
            write.canonical = Some((canonical, credit));
            if wu.assimilate_state != AssimilateState::Ready as i32 {
                write.assimilate_state = Some(AssimilateState::Ready as i32);
            }
            for r in job
                .results
                .iter()
                .filter(|r| r.server_state == ServerState::Unsent)
            {
                let mut w = ResultWrite::of(r);
                w.server_state = ServerState::Over;
                w.outcome = Outcome::DidntNeed;
                state.results.insert(r.id, w);
            }
            tracing::info!(wu_id = %wu.id, canonical = %canonical, credit, "canonical result found");
        }
        None if found.retry => {
            tracing::info!(wu_id = %wu.id, "some outputs could not be read now; trying again later");
        }
        None => {
            let mut mask = ErrorMask(wu.error_mask);
            if n_viable > wu.max_success_results {
                mask |= ErrorMask::TOO_MANY_SUCCESS_RESULTS;
                write.transition = Transition::Immediate;
                tracing::info!(wu_id = %wu.id, n_viable, "too many successful results without consensus");
            }
            if mask.bits() != wu.error_mask {
                write.error_mask = Some(mask.bits());
            }
            if n_viable >= wu.target_nresults {
                write.target_nresults = Some(n_viable + 1);
                write.transition = Transition::Immediate;
            }
        }
    }
}
