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

pub use super::credit_policy::CreditPolicy;
use super::credit_policy::{decide_credit, job_size};
use super::judge::{Decision, Judgement};
use super::load::{Job, ValidatorWorkunit};
use crate::credit::by_app::AppCreditLedger;
use crate::credit::hav::{self, HavKey};
use crate::credit::{AppCredit, AppVersions, CreditLedger, assign_credit_set};

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
    /// Per-app credit (`<credit_by_app>`; empty otherwise).
    pub by_app: AppCreditLedger,
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
pub struct Context {
    pub policy: CreditPolicy,
    pub app: AppFacts,
    pub daily_result_quota: i32,
    /// Unix time (with fractions, as BOINC's `dtime()`) for credit averages.
    pub now: f64,
    /// `<credit_by_app>`: also grant per-app credit to the result's user and team.
    pub credit_by_app: bool,
}

fn hav_key(r: &ResultRow) -> HavKey {
    (
        r.hostid,
        generalized_app_version_id(r.app_version_id.get(), r.appid.get()),
    )
}

/// Whether a result may take part in a quorum (BOINC's "viable" results).
pub fn is_viable(r: &ResultRow) -> bool {
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

/// The `host_app_version` rows [`handle_job`] uses: those of the late results when the job has
/// a canonical result, else those of the viable results.
pub fn hav_keys(job: &Job) -> Vec<HavKey> {
    if job.wu.canonical_resultid.get() != 0 {
        job.results
            .iter()
            .filter(|r| is_late(r))
            .map(hav_key)
            .collect()
    } else {
        job.results
            .iter()
            .filter(|r| is_viable(r))
            .map(hav_key)
            .collect()
    }
}

impl BatchState {
    /// Takes the statistics rows of `results` out of the batch (for `assign_credit_set`).
    pub(super) fn take_havs(&mut self, results: &[ResultRow]) -> Vec<Option<HostAppVersionRow>> {
        results
            .iter()
            .map(|r| self.havs.get(&hav_key(r)).cloned())
            .collect()
    }

    /// Puts rows taken by [`BatchState::take_havs`] back (the last one of a key wins, as in
    /// BOINC where each result had its own copy).
    pub(super) fn put_havs(&mut self, results: &[ResultRow], rows: Vec<Option<HostAppVersionRow>>) {
        for (r, row) in results.iter().zip(rows) {
            if let Some(row) = row {
                self.havs.insert(hav_key(r), row);
            }
        }
    }

    /// BOINC's `is_valid`: the host's turnaround, quota and reliability; `credited_job`.
    fn record_valid(&mut self, cx: &Context, wu: &ValidatorWorkunit, r: &ResultRow) {
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

    fn record_invalid(&mut self, cx: &Context, r: &ResultRow) {
        if let Some(row) = self.havs.get_mut(&hav_key(r)) {
            hav::record_invalid(row, cx.daily_result_quota);
        }
    }

    fn grant(&mut self, cx: &Context, wu: WorkunitId, r: &ResultRow, credit: f64) {
        if let Err(e) = self
            .ledger
            .grant(r.hostid, f64::from(r.sent_time), credit, cx.now)
        {
            tracing::error!(wu_id = %wu, result_id = %r.id, error = %e, "credit not granted to everyone");
        }
        if cx.credit_by_app {
            let app = r.appid.get();
            self.by_app.grant(
                (r.userid.get(), app),
                (r.teamid.get(), app),
                f64::from(r.sent_time),
                credit,
                cx.now,
            );
        }
    }
}

/// Decides job `job` (see the module docs) from what the plug-in said about it (`judgement`,
/// see `judge`), recording its changes in `state`.
#[tracing::instrument(skip_all, fields(wu_id = %job.wu.id))]
pub fn handle_job(
    cx: &Context,
    versions: &mut AppVersions,
    state: &mut BatchState,
    job: &Job,
    judgement: &Judgement,
) {
    let wu = &job.wu;
    for r in job
        .results
        .iter()
        .filter(|r| judgement.punished.contains(&r.id))
    {
        tracing::info!(wu_id = %wu.id, result_id = %r.id, host_id = %r.hostid, "punishing host: one job a day for this app version");
        state.punished.push((r.hostid, r.app_version_id.get()));
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
        handle_late_results(cx, versions, state, job, &judgement.decision, &mut write);
    } else {
        handle_new_results(cx, versions, state, job, &judgement.decision, &mut write);
    }
    state.workunits.push(write);
}

/// Case A: the job has a canonical result; check the late ones against it.
fn handle_late_results(
    cx: &Context,
    versions: &mut AppVersions,
    state: &mut BatchState,
    job: &Job,
    decision: &Decision,
    write: &mut WorkunitWrite,
) {
    let wu = &job.wu;
    let canonical = job.results.iter().find(|r| r.id == wu.canonical_resultid);
    let (Some(canonical), Decision::Late { checked, retry }) = (canonical, decision) else {
        if canonical.is_none() || matches!(decision, Decision::CanonicalMissing) {
            // BOINC returns here leaving need_validate set, and then finds the job again on
            // every scan for ever. The flag is cleared instead; the transitioner raises it
            // again if a new result comes back.
            tracing::error!(wu_id = %wu.id, canonical = %wu.canonical_resultid, "canonical result not found");
        }
        return;
    };
    for checked in checked {
        let mut r = checked.clone();
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
    if *retry {
        // A result could not be read or compared now: look again within 6 hours.
        write.transition = Transition::Delayed;
    }
}

/// Case B: no canonical result yet.
fn handle_new_results(
    cx: &Context,
    versions: &mut AppVersions,
    state: &mut BatchState,
    job: &Job,
    decision: &Decision,
    write: &mut WorkunitWrite,
) {
    let wu = &job.wu;
    let Decision::Set {
        viable,
        outcome: found,
        unread,
    } = decision
    else {
        tracing::debug!(wu_id = %wu.id, quorum = wu.min_quorum, "not enough results yet");
        return;
    };
    let (mut viable, found) = (viable.clone(), *found);
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
        // when the transitioner flags the job; see the module docs. After a comparison that
        // could not be made now, no successful result is touched.
        if unread.contains(&r.id) || (found.compare_retry && r.outcome == Outcome::Success) {
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

#[cfg(test)]
mod tests {
    use super::*;
    use crate::validator::judge::{JudgeSettings, judge_job};
    use crate::validator::plugin::{
        CompareError, Init, InitError, Outputs, Plugin, PluginHandle, Verdict,
    };
    use crate::validator::test_rows::result;
    use rboinc_core::hier::Hierarchy;

    /// What each result's outputs read as, by result id (absent: "not read").
    type Inits = HashMap<ResultId, Result<&'static str, InitError>>;

    /// A plug-in reading each result's word from a table; words agree when equal.
    struct Table(Inits);

    impl Plugin for Table {
        type Data = &'static str;
        fn name(&self) -> &str {
            "table"
        }
        fn init_result(&self, o: &Outputs<'_>) -> Result<Init<&'static str>, InitError> {
            self.0
                .get(&o.result.id)
                .cloned()
                .unwrap_or(Err(InitError::Transient("not in the table".into())))
                .map(Init::new)
        }
        fn compare_results(
            &self,
            _: &ResultRow,
            a: &&'static str,
            _: &ResultRow,
            b: &&'static str,
        ) -> Result<Verdict, CompareError> {
            Ok(if a == b {
                Verdict::Match
            } else {
                Verdict::Differ(crate::validator::plugin::Difference {
                    file: "out".into(),
                    field: "word".into(),
                    left: a.to_string(),
                    right: b.to_string(),
                })
            })
        }
    }

    fn wu(min_quorum: i32) -> ValidatorWorkunit {
        ValidatorWorkunit {
            id: WorkunitId(1),
            name: "wu".into(),
            canonical_resultid: ResultId(0),
            canonical_credit: 5.0,
            min_quorum,
            assimilate_state: AssimilateState::Init as i32,
            transition_time: 0,
            opaque: 0.0,
            batch: 0.into(),
            target_nresults: min_quorum,
            max_success_results: 6,
            error_mask: 0,
            rsc_fpops_est: 1e12,
            rsc_fpops_bound: 1e13,
        }
    }

    /// The output read for a result.
    fn output(word: &'static str) -> Result<&'static str, InitError> {
        Ok(word)
    }

    /// Runs [`handle_job`] with `--credit_from_wu` (the job's credit is 5) on `results`, whose
    /// outputs are `inits`; every result's host exists.
    fn decide(wu: ValidatorWorkunit, results: Vec<ResultRow>, inits: Inits) -> BatchState {
        let hosts: Vec<HostId> = results.iter().map(|r| r.hostid).collect();
        let mut state = BatchState {
            ledger: CreditLedger::with_hosts(&hosts),
            ..BatchState::default()
        };
        let cx = Context {
            policy: CreditPolicy {
                from_wu: true,
                ..CreditPolicy::default()
            },
            app: AppFacts {
                target_nresults: 0,
                credit: AppCredit {
                    min_avg_pfc: 1.0,
                    host_scale_check: false,
                },
            },
            daily_result_quota: 100,
            now: 100_000.0,
            credit_by_app: false,
        };
        let job = Job { wu, results };
        let plugin = PluginHandle::new(Table(inits));
        let upload = Hierarchy::new(std::path::Path::new("/nonexistent"), 16);
        let settings = JudgeSettings {
            plugin: &plugin,
            upload: &upload,
            check_punitive: false,
            app_target_nresults: 0,
        };
        let judgement = judge_job(settings, &job);
        handle_job(
            &cx,
            &mut AppVersions::default(),
            &mut state,
            &job,
            &judgement,
        );
        state
    }

    fn states(state: &BatchState) -> Vec<(i64, ValidateState, Outcome)> {
        state
            .results
            .iter()
            .map(|(id, w)| (id.get(), w.validate_state, w.outcome))
            .collect()
    }

    #[test]
    fn two_agreeing_results_make_the_first_canonical_and_both_valid() {
        let mut unsent = result(3);
        unsent.server_state = ServerState::Unsent;
        unsent.outcome = Outcome::Init;
        let inits = Inits::from([(ResultId(1), output("a")), (ResultId(2), output("a"))]);
        let state = decide(wu(2), vec![result(1), result(2), unsent], inits);
        assert_eq!(
            states(&state),
            [
                (1, ValidateState::Valid, Outcome::Success),
                (2, ValidateState::Valid, Outcome::Success),
                // The unsent replica is not needed any more.
                (3, ValidateState::Init, Outcome::DidntNeed),
            ]
        );
        assert_eq!(state.results[&ResultId(3)].server_state, ServerState::Over);
        assert_eq!(state.results[&ResultId(1)].granted_credit, 5.0);
        assert_eq!(state.ledger.host_total_credit(HostId(2)), Some(5.0));
        let w = state.workunits[0];
        assert_eq!(w.canonical, Some((ResultId(1), 5.0)));
        assert_eq!(w.transition, Transition::Never);
        assert_eq!(w.assimilate_state, Some(AssimilateState::Ready as i32));
    }

    #[test]
    fn disagreeing_results_are_inconclusive_and_ask_for_one_more() {
        let inits = Inits::from([(ResultId(1), output("a")), (ResultId(2), output("b"))]);
        let state = decide(wu(2), vec![result(1), result(2)], inits);
        assert_eq!(
            states(&state),
            [
                (1, ValidateState::Inconclusive, Outcome::Success),
                (2, ValidateState::Inconclusive, Outcome::Success),
            ]
        );
        let w = state.workunits[0];
        assert_eq!(w.canonical, None);
        assert_eq!(w.target_nresults, Some(3));
        assert_eq!(w.transition, Transition::Immediate);
        assert_eq!(w.error_mask, None);
        assert_eq!(state.ledger.host_total_credit(HostId(1)), Some(0.0));
    }

    #[test]
    fn too_few_successes_change_nothing_but_the_flag() {
        let mut failed = result(2);
        failed.outcome = Outcome::ClientError;
        let inits = Inits::from([(ResultId(1), output("a"))]);
        let state = decide(wu(2), vec![result(1), failed], inits);
        assert!(state.results.is_empty());
        let w = state.workunits[0];
        assert_eq!((w.canonical, w.target_nresults), (None, None));
        assert_eq!(w.transition, Transition::NoChange);
    }

    #[test]
    fn too_many_successes_without_consensus_fail_the_job() {
        let mut job = wu(2);
        job.max_success_results = 2;
        job.target_nresults = 3;
        let inits = Inits::from([
            (ResultId(1), output("a")),
            (ResultId(2), output("b")),
            (ResultId(3), output("c")),
        ]);
        let state = decide(job, vec![result(1), result(2), result(3)], inits);
        let w = state.workunits[0];
        assert_eq!(
            w.error_mask,
            Some(ErrorMask::TOO_MANY_SUCCESS_RESULTS.bits())
        );
        assert_eq!(w.target_nresults, Some(4));
        assert_eq!(w.transition, Transition::Immediate);
    }

    #[test]
    fn an_unreadable_result_is_a_validate_error_and_the_others_still_agree() {
        let inits = Inits::from([
            (
                ResultId(1),
                Err(InitError::Permanent("not valid JSON".into())),
            ),
            (ResultId(2), output("a")),
            (ResultId(3), output("a")),
        ]);
        let state = decide(wu(2), vec![result(1), result(2), result(3)], inits);
        assert_eq!(
            states(&state),
            [
                (1, ValidateState::Invalid, Outcome::ValidateError),
                (2, ValidateState::Valid, Outcome::Success),
                (3, ValidateState::Valid, Outcome::Success),
            ]
        );
        assert_eq!(state.workunits[0].canonical, Some((ResultId(2), 5.0)));
        assert_eq!(state.ledger.host_total_credit(HostId(1)), Some(0.0));
    }

    #[test]
    fn a_transient_read_error_leaves_the_result_alone_and_retries_later() {
        let inits = Inits::from([
            (ResultId(1), output("a")),
            (
                ResultId(2),
                Err(InitError::Transient("upload dir gone".into())),
            ),
        ]);
        let state = decide(wu(2), vec![result(1), result(2)], inits);
        assert!(!state.results.contains_key(&ResultId(2)), "left INIT");
        let w = state.workunits[0];
        assert_eq!(w.canonical, None);
        assert_eq!(w.transition, Transition::Delayed);
        assert_eq!(
            w.target_nresults, None,
            "no extra replica for a storage problem"
        );
    }

    #[test]
    fn a_late_result_gets_the_canonical_credit_if_it_agrees() {
        let mut job = wu(2);
        job.canonical_resultid = ResultId(1);
        let mut canonical = result(1);
        canonical.validate_state = ValidateState::Valid;
        canonical.granted_credit = 7.0;
        let mut done = result(2);
        done.validate_state = ValidateState::Valid;
        let inits = Inits::from([
            (ResultId(1), output("a")),
            (ResultId(3), output("a")),
            (ResultId(4), output("z")),
        ]);
        let state = decide(job, vec![canonical, done, result(3), result(4)], inits);
        assert_eq!(
            states(&state),
            [
                (3, ValidateState::Valid, Outcome::Success),
                (4, ValidateState::Invalid, Outcome::Success),
            ]
        );
        assert_eq!(state.results[&ResultId(3)].granted_credit, 7.0);
        assert_eq!(state.ledger.host_total_credit(HostId(3)), Some(7.0));
        assert_eq!(state.ledger.host_total_credit(HostId(4)), Some(0.0));
        let w = state.workunits[0];
        assert_eq!((w.canonical, w.transition), (None, Transition::Immediate));
    }

    #[test]
    fn a_missing_canonical_result_only_clears_the_flag() {
        let mut job = wu(2);
        job.canonical_resultid = ResultId(9);
        let inits = Inits::from([(ResultId(1), output("a"))]);
        let state = decide(job, vec![result(1)], inits);
        assert!(state.results.is_empty());
        assert_eq!(state.workunits[0].transition, Transition::NoChange);
    }

    #[test]
    fn statistics_rows_are_read_even_below_quorum() {
        let job = Job {
            wu: wu(2),
            results: vec![result(1)],
        };
        assert_eq!(hav_keys(&job).len(), 1);
    }
}
