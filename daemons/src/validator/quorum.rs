//! Finding consensus among a job's results (BOINC's `check_set` and `check_pair` of
//! `validate_util2`), with the comparison left to the [`PluginHandle`].
//!
//! A strict majority of the quorum must agree: `min_quorum / 2 + 1` results (1 of 1, 2 of 2,
//! 2 of 3, 3 of 4, …). The first result, in order, that agrees with enough others becomes the
//! canonical result; every result that agrees with it is VALID, the others INVALID. A result
//! whose outputs cannot be read is VALIDATE_ERROR (permanent) or left for a retry (transient).
//! Suspicious results (see [`super::plugin::Init`]) are compared like the others, but one alone
//! never counts toward the quorum, and under adaptive replication they raise the quorum to the
//! app's `target_nresults` for this decision, so another replica is sent.
//!
//! Each disagreeing pair is logged once, at INFO, as `results disagree` with the fields
//! `wu_id`, `result_a`, `result_b`, `host_a`, `host_b` and `detail` (the file, the field and
//! both values, or the first differing byte); the ops page reads this line.

use std::collections::HashMap;

use rboinc_core::db::result::ResultRow;
use rboinc_core::db::{ResultId, WorkunitId};
use rboinc_core::state::{Outcome, ValidateState};

use super::plugin::{CompareError, InitError, PluginHandle, ReadResult, Verdict};

/// What reading each result's outputs gave, by result id.
pub type Reads = HashMap<ResultId, Result<ReadResult, InitError>>;

/// The answer of [`check_set`].
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct SetOutcome {
    pub canonical: Option<ResultId>,
    /// Some result could not be read for a transient reason: look again later.
    pub retry: bool,
    /// A comparison failed for a transient reason: nothing was concluded, look again later.
    pub compare_retry: bool,
}

fn read_of(reads: &Reads, id: ResultId) -> Result<&ReadResult, InitError> {
    match reads.get(&id) {
        Some(Ok(d)) => Ok(d),
        Some(Err(e)) => Err(e.clone()),
        None => Err(InitError::Transient("outputs were not read".into())),
    }
}

/// Logs a disagreement in the form the ops page reads.
pub fn log_disagreement(
    wu: WorkunitId,
    a: &ResultRow,
    b: &ResultRow,
    detail: &dyn std::fmt::Display,
) {
    tracing::info!(
        wu_id = %wu,
        result_a = %a.id,
        result_b = %b.id,
        host_a = %a.hostid,
        host_b = %b.hostid,
        detail = %detail,
        "results disagree"
    );
}

/// The answer of one comparison: `Ok(true)` for a match.
fn agree(
    plugin: &PluginHandle,
    wu: WorkunitId,
    a: (&ResultRow, &ReadResult),
    b: (&ResultRow, &ReadResult),
    log: bool,
) -> Result<bool, CompareError> {
    match plugin.compare_results(a, b)? {
        Verdict::Match => Ok(true),
        Verdict::Differ(d) => {
            if log {
                log_disagreement(wu, a.0, b.0, &d);
            }
            Ok(false)
        }
    }
}

/// Sets `runtime_outlier` on a result its plug-in marked.
fn mark(r: &mut ResultRow, read: &ReadResult) {
    if read.runtime_outlier {
        r.runtime_outlier = 1;
    }
}

/// Looks for consensus among `results` (the job's viable results), setting their
/// `validate_state` (VALID/INVALID when a canonical result is found), `runtime_outlier` (when
/// the plug-in says so) and, for unreadable ones, `outcome = VALIDATE_ERROR`.
/// `app_target_nresults` is the app's (adaptive replication when above the job's quorum).
pub fn check_set(
    plugin: &PluginHandle,
    wu: WorkunitId,
    results: &mut [ResultRow],
    reads: &Reads,
    min_quorum: i32,
    app_target_nresults: i32,
) -> SetOutcome {
    let mut outcome = SetOutcome::default();
    let mut usable: Vec<Option<&ReadResult>> = Vec::with_capacity(results.len());
    let (mut good, mut suspicious) = (0, 0);
    for r in results.iter_mut() {
        match read_of(reads, r.id) {
            Ok(d) => {
                mark(r, d);
                if d.suspicious {
                    tracing::info!(wu_id = %wu, result_id = %r.id, "result is suspicious");
                    suspicious += 1;
                } else {
                    good += 1;
                }
                usable.push(Some(d));
            }
            Err(InitError::Transient(why)) => {
                tracing::warn!(wu_id = %wu, result_id = %r.id, error = %why, "cannot read the result's outputs now; will retry");
                outcome.retry = true;
                usable.push(None);
            }
            Err(e) => {
                tracing::info!(wu_id = %wu, result_id = %r.id, error = %e, "result outputs unusable: VALIDATE_ERROR");
                r.outcome = Outcome::ValidateError;
                r.validate_state = ValidateState::Invalid;
                usable.push(None);
            }
        }
    }
    // One suspicious result alone is not a quorum; with others to compare it to, it counts.
    if suspicious > 1 || good > 0 {
        good += suspicious;
    }
    let mut min_quorum = min_quorum;
    if suspicious > 0 && min_quorum < app_target_nresults.abs() {
        tracing::info!(wu_id = %wu, quorum = app_target_nresults.abs(), "suspicious result: raising the quorum");
        min_quorum = app_target_nresults.abs();
    }
    if good < min_quorum {
        return outcome;
    }
    let min_valid = min_quorum / 2 + 1;
    let n = results.len();
    for i in 0..n {
        let Some(di) = usable[i] else { continue };
        let mut matches = vec![false; n];
        matches[i] = true;
        let mut agreeing = 1;
        for j in 0..n {
            if j == i {
                continue;
            }
            let Some(dj) = usable[j] else { continue };
            // Each pair is logged once, from the lower index.
            match agree(plugin, wu, (&results[i], di), (&results[j], dj), i < j) {
                Ok(true) => {
                    agreeing += 1;
                    matches[j] = true;
                }
                Ok(false) => {}
                Err(CompareError::Transient(why)) => {
                    tracing::warn!(wu_id = %wu, result_a = %results[i].id, result_b = %results[j].id, error = %why, "cannot compare the results now; will retry");
                    outcome.compare_retry = true;
                    outcome.retry = true;
                    return outcome;
                }
                Err(CompareError::Failed(why)) => {
                    tracing::warn!(wu_id = %wu, result_a = %results[i].id, result_b = %results[j].id, error = %why, "comparison failed; counted as no match");
                }
            }
        }
        if agreeing >= min_valid {
            for j in 0..n {
                if usable[j].is_some() {
                    results[j].validate_state = if matches[j] {
                        ValidateState::Valid
                    } else {
                        ValidateState::Invalid
                    };
                }
            }
            outcome.canonical = Some(results[i].id);
            break;
        }
    }
    outcome
}

/// Checks a late result against the canonical one, setting its `validate_state` (or
/// `outcome = VALIDATE_ERROR`). Returns true if it must be retried later.
pub fn check_pair(
    plugin: &PluginHandle,
    wu: WorkunitId,
    new: &mut ResultRow,
    canonical: &ResultRow,
    reads: &Reads,
) -> bool {
    let mine = match read_of(reads, new.id) {
        Ok(d) => d,
        Err(InitError::Transient(why)) => {
            tracing::warn!(wu_id = %wu, result_id = %new.id, error = %why, "cannot read the result's outputs now; will retry");
            return true;
        }
        Err(e) => {
            tracing::info!(wu_id = %wu, result_id = %new.id, error = %e, "result outputs unusable: VALIDATE_ERROR");
            new.outcome = Outcome::ValidateError;
            new.validate_state = ValidateState::Invalid;
            return false;
        }
    };
    mark(new, mine);
    let theirs = match read_of(reads, canonical.id) {
        Ok(d) => d,
        Err(InitError::Transient(why)) => {
            tracing::warn!(wu_id = %wu, result_id = %canonical.id, error = %why, "cannot read the canonical result's outputs now; will retry");
            return true;
        }
        Err(e) => {
            tracing::warn!(wu_id = %wu, result_id = %new.id, canonical = %canonical.id, error = %e, "canonical outputs unusable: late result marked VALIDATE_ERROR");
            new.outcome = Outcome::ValidateError;
            new.validate_state = ValidateState::Invalid;
            return false;
        }
    };
    new.validate_state = match agree(plugin, wu, (new, mine), (canonical, theirs), true) {
        Ok(true) => ValidateState::Valid,
        Ok(false) => ValidateState::Invalid,
        Err(CompareError::Transient(why)) => {
            tracing::warn!(wu_id = %wu, result_a = %new.id, result_b = %canonical.id, error = %why, "cannot compare the results now; will retry");
            return true;
        }
        Err(CompareError::Failed(why)) => {
            tracing::warn!(wu_id = %wu, result_a = %new.id, result_b = %canonical.id, error = %why, "comparison with the canonical result failed: INVALID");
            ValidateState::Invalid
        }
    };
    false
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::validator::plugin::{Init, Outputs, Plugin};

    /// A plug-in comparing each result's one string.
    struct Words;

    impl Plugin for Words {
        type Data = &'static str;
        fn name(&self) -> &str {
            "words"
        }
        fn init_result(&self, _: &Outputs<'_>) -> Result<Init<&'static str>, InitError> {
            unreachable!("tests hand in their reads")
        }
        fn compare_results(
            &self,
            _: &ResultRow,
            a: &&'static str,
            _: &ResultRow,
            b: &&'static str,
        ) -> Result<Verdict, CompareError> {
            match (*a, *b) {
                ("flaky", _) | (_, "flaky") => Err(CompareError::Transient("busy".into())),
                ("broken", _) | (_, "broken") => Err(CompareError::Failed("crashed".into())),
                _ if a == b => Ok(Verdict::Match),
                _ => Ok(Verdict::Differ(crate::validator::plugin::Difference {
                    file: "out".into(),
                    field: "word".into(),
                    left: a.to_string(),
                    right: b.to_string(),
                })),
            }
        }
    }

    fn row(id: i64) -> ResultRow {
        crate::validator::test_rows::result(id)
    }

    fn ok(word: &'static str) -> Result<ReadResult, InitError> {
        Ok(Init::new(Box::new(word) as Box<dyn std::any::Any + Send>))
    }

    fn suspicious(word: &'static str) -> Result<ReadResult, InitError> {
        ok(word).map(Init::mark_suspicious)
    }

    fn plugin() -> PluginHandle {
        PluginHandle::new(Words)
    }

    fn reads(list: Vec<(i64, Result<ReadResult, InitError>)>) -> Reads {
        list.into_iter().map(|(id, r)| (ResultId(id), r)).collect()
    }

    #[test]
    fn two_of_three_picks_the_first_result_with_a_majority() {
        // Oracle scenario 17: "wrong", "right", "right" -> canonical is the second.
        let mut rs = vec![row(1), row(2), row(3)];
        let reads = reads(vec![(1, ok("wrong")), (2, ok("right")), (3, ok("right"))]);
        let o = check_set(&plugin(), WorkunitId(1), &mut rs, &reads, 2, 2);
        assert_eq!(o.canonical, Some(ResultId(2)));
        let states: Vec<_> = rs.iter().map(|r| r.validate_state).collect();
        assert_eq!(
            states,
            [
                ValidateState::Invalid,
                ValidateState::Valid,
                ValidateState::Valid
            ]
        );
    }

    #[test]
    fn disagreement_leaves_states_alone() {
        let mut rs = vec![row(1), row(2)];
        let reads = reads(vec![(1, ok("A")), (2, ok("B"))]);
        let o = check_set(&plugin(), WorkunitId(1), &mut rs, &reads, 2, 2);
        assert_eq!(o, SetOutcome::default());
        assert!(rs.iter().all(|r| r.validate_state == ValidateState::Init));
    }

    #[test]
    fn unreadable_results_are_validate_errors_or_retries() {
        let mut rs = vec![row(1), row(2), row(3)];
        let reads = reads(vec![
            (1, Err(InitError::Permanent("missing".into()))),
            (2, Err(InitError::Transient("EIO".into()))),
            (3, ok("x")),
        ]);
        let o = check_set(&plugin(), WorkunitId(1), &mut rs, &reads, 2, 2);
        assert_eq!((o.canonical, o.retry, o.compare_retry), (None, true, false));
        assert_eq!(rs[0].outcome, Outcome::ValidateError);
        assert_eq!(rs[0].validate_state, ValidateState::Invalid);
        assert_eq!(
            rs[1].outcome,
            Outcome::Success,
            "a transient error changes nothing"
        );
    }

    #[test]
    fn a_transient_comparison_concludes_nothing_and_a_failed_one_is_no_match() {
        let mut rs = vec![row(1), row(2)];
        let flaky = reads(vec![(1, ok("flaky")), (2, ok("x"))]);
        let o = check_set(&plugin(), WorkunitId(1), &mut rs, &flaky, 2, 2);
        assert_eq!((o.canonical, o.retry, o.compare_retry), (None, true, true));
        let broken = reads(vec![(1, ok("broken")), (2, ok("x")), (3, ok("x"))]);
        let mut rs = vec![row(1), row(2), row(3)];
        let o = check_set(&plugin(), WorkunitId(1), &mut rs, &broken, 2, 2);
        assert_eq!(o.canonical, Some(ResultId(2)));
        assert_eq!(rs[0].validate_state, ValidateState::Invalid);
    }

    #[test]
    fn a_lone_suspicious_result_is_no_quorum_and_raises_it_under_adaptive_replication() {
        // Quorum 1 (adaptive replication, app target 2): a suspicious result alone decides
        // nothing.
        let mut rs = vec![row(1)];
        let one = reads(vec![(1, suspicious("x"))]);
        assert_eq!(
            check_set(&plugin(), WorkunitId(1), &mut rs, &one, 1, 2).canonical,
            None
        );
        // A good result alone does.
        let good = reads(vec![(1, ok("x"))]);
        assert_eq!(
            check_set(&plugin(), WorkunitId(1), &mut rs, &good, 1, 2).canonical,
            Some(ResultId(1))
        );
        // With a second result the quorum is 2 of 2: they must agree.
        let mut rs = vec![row(1), row(2)];
        let pair = reads(vec![(1, suspicious("x")), (2, ok("y"))]);
        assert_eq!(
            check_set(&plugin(), WorkunitId(1), &mut rs, &pair, 1, 2).canonical,
            None
        );
        let pair = reads(vec![(1, suspicious("x")), (2, ok("x"))]);
        assert_eq!(
            check_set(&plugin(), WorkunitId(1), &mut rs, &pair, 1, 2).canonical,
            Some(ResultId(1))
        );
    }

    #[test]
    fn runtime_outliers_are_marked() {
        let mut rs = vec![row(1), row(2)];
        let reads = reads(vec![
            (1, ok("x").map(Init::mark_runtime_outlier)),
            (2, ok("x")),
        ]);
        check_set(&plugin(), WorkunitId(1), &mut rs, &reads, 2, 2);
        assert_eq!((rs[0].runtime_outlier, rs[1].runtime_outlier), (1, 0));
    }

    #[test]
    fn quorum_of_one() {
        let mut rs = vec![row(1)];
        let reads = reads(vec![(1, ok("x"))]);
        let o = check_set(&plugin(), WorkunitId(1), &mut rs, &reads, 1, 0);
        assert_eq!(o.canonical, Some(ResultId(1)));
    }

    #[test]
    fn pairs() {
        let canonical = row(1);
        let reads = reads(vec![
            (1, ok("x")),
            (2, ok("x")),
            (3, ok("y")),
            (5, ok("broken")),
            (6, ok("flaky")),
        ]);
        let p = plugin();
        let mut late = row(2);
        assert!(!check_pair(
            &p,
            WorkunitId(1),
            &mut late,
            &canonical,
            &reads
        ));
        assert_eq!(late.validate_state, ValidateState::Valid);
        let mut wrong = row(3);
        check_pair(&p, WorkunitId(1), &mut wrong, &canonical, &reads);
        assert_eq!(wrong.validate_state, ValidateState::Invalid);
        let mut unread = row(4);
        assert!(check_pair(
            &p,
            WorkunitId(1),
            &mut unread,
            &canonical,
            &reads
        ));
        let mut broken = row(5);
        assert!(!check_pair(
            &p,
            WorkunitId(1),
            &mut broken,
            &canonical,
            &reads
        ));
        assert_eq!(broken.validate_state, ValidateState::Invalid);
        let mut flaky = row(6);
        assert!(check_pair(
            &p,
            WorkunitId(1),
            &mut flaky,
            &canonical,
            &reads
        ));
        assert_eq!(flaky.validate_state, ValidateState::Init);
    }
}
