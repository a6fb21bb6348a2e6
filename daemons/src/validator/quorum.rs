//! Finding consensus among a job's results (BOINC's `check_set` and `check_pair`).
//!
//! A strict majority of the quorum must agree: `min_quorum / 2 + 1` results (1 of 1, 2 of 2,
//! 2 of 3, 3 of 4, …). The first result, in order, that agrees with enough others becomes the
//! canonical result; every result that agrees with it is VALID, the others INVALID. A result
//! whose outputs cannot be read is VALIDATE_ERROR (permanent) or left for a retry (transient).
//! Outputs are read before this runs (in parallel, see `Mode::init_result`), so these functions
//! only decide.

use std::collections::HashMap;

use rboinc_core::db::result::ResultRow;
use rboinc_core::db::{ResultId, WorkunitId};
use rboinc_core::state::{Outcome, ValidateState};

use super::compare::{Comparison, InitError, Mode, ResultData};

/// What reading each result's outputs gave, by result id.
pub type Inits = HashMap<ResultId, Result<ResultData, InitError>>;

/// The answer of [`check_set`].
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct SetOutcome {
    pub canonical: Option<ResultId>,
    /// Some result could not be read for a transient reason: look again later.
    pub retry: bool,
}

fn init_of(inits: &Inits, id: ResultId) -> Result<&ResultData, InitError> {
    match inits.get(&id) {
        Some(Ok(d)) => Ok(d),
        Some(Err(e)) => Err(e.clone()),
        None => Err(InitError::Transient("outputs were not read".into())),
    }
}

fn agree(
    mode: &Mode,
    wu: WorkunitId,
    a: (&ResultRow, &ResultData),
    b: (&ResultRow, &ResultData),
    log: bool,
) -> bool {
    match mode.compare(a.1, b.1) {
        Comparison::Match => true,
        Comparison::Differ(d) => {
            if log {
                tracing::info!(
                    wu_id = %wu,
                    result_id = %a.0.id,
                    other_result_id = %b.0.id,
                    file = %d.file,
                    field = %d.field,
                    value = %d.left,
                    other_value = %d.right,
                    "results disagree"
                );
            }
            false
        }
    }
}

/// Looks for consensus among `results` (the job's viable results), setting their
/// `validate_state` (VALID/INVALID when a canonical result is found) and, for unreadable ones,
/// `outcome = VALIDATE_ERROR`.
pub fn check_set(
    wu: WorkunitId,
    results: &mut [ResultRow],
    inits: &Inits,
    min_quorum: i32,
    mode: &Mode,
) -> SetOutcome {
    let mut outcome = SetOutcome::default();
    let min_valid = min_quorum / 2 + 1;
    let mut usable: Vec<Option<&ResultData>> = Vec::with_capacity(results.len());
    for r in results.iter_mut() {
        match init_of(inits, r.id) {
            Ok(d) => usable.push(Some(d)),
            Err(InitError::Transient(why)) => {
                tracing::warn!(wu_id = %wu, result_id = %r.id, error = %why, "cannot read the result's outputs now; will retry");
                outcome.retry = true;
                usable.push(None);
            }
            Err(e) => {
                tracing::warn!(wu_id = %wu, result_id = %r.id, error = %e, "result outputs unusable: VALIDATE_ERROR");
                r.outcome = Outcome::ValidateError;
                r.validate_state = ValidateState::Invalid;
                usable.push(None);
            }
        }
    }
    let good = usable.iter().flatten().count();
    if (good as i64) < i64::from(min_quorum) {
        return outcome;
    }
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
            if agree(mode, wu, (&results[i], di), (&results[j], dj), i < j) {
                agreeing += 1;
                matches[j] = true;
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
    wu: WorkunitId,
    new: &mut ResultRow,
    canonical: &ResultRow,
    inits: &Inits,
    mode: &Mode,
) -> bool {
    let mine = match init_of(inits, new.id) {
        Ok(d) => d,
        Err(InitError::Transient(why)) => {
            tracing::warn!(wu_id = %wu, result_id = %new.id, error = %why, "cannot read the result's outputs now; will retry");
            return true;
        }
        Err(e) => {
            tracing::warn!(wu_id = %wu, result_id = %new.id, error = %e, "result outputs unusable: VALIDATE_ERROR");
            new.outcome = Outcome::ValidateError;
            new.validate_state = ValidateState::Invalid;
            return false;
        }
    };
    let theirs = match init_of(inits, canonical.id) {
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
    new.validate_state = if agree(mode, wu, (new, mine), (canonical, theirs), true) {
        ValidateState::Valid
    } else {
        ValidateState::Invalid
    };
    false
}

#[cfg(test)]
mod tests {
    use super::super::compare::FileData;
    use super::*;
    use rboinc_core::md5file::Md5Hex;

    fn row(id: i64) -> ResultRow {
        crate::validator::test_rows::result(id)
    }

    fn data(bytes: &str) -> Result<ResultData, InitError> {
        Ok(ResultData {
            files: vec![(
                "out".into(),
                FileData::Bytes(Md5Hex::of_bytes(bytes.as_bytes())),
            )],
        })
    }

    const BITWISE: Mode = Mode::Bitwise { is_gzip: false };

    #[test]
    fn two_of_three_picks_the_first_result_with_a_majority() {
        // Oracle scenario 17: "wrong", "right", "right" -> canonical is the second.
        let mut rs = vec![row(1), row(2), row(3)];
        let inits: Inits = [
            (ResultId(1), data("wrong")),
            (ResultId(2), data("right")),
            (ResultId(3), data("right")),
        ]
        .into_iter()
        .collect();
        let o = check_set(WorkunitId(1), &mut rs, &inits, 2, &BITWISE);
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
        let inits: Inits = [(ResultId(1), data("A")), (ResultId(2), data("B"))]
            .into_iter()
            .collect();
        let o = check_set(WorkunitId(1), &mut rs, &inits, 2, &BITWISE);
        assert_eq!(o, SetOutcome::default());
        assert!(rs.iter().all(|r| r.validate_state == ValidateState::Init));
    }

    #[test]
    fn unreadable_results_are_validate_errors_or_retries() {
        let mut rs = vec![row(1), row(2), row(3)];
        let inits: Inits = [
            (ResultId(1), Err(InitError::Permanent("missing".into()))),
            (ResultId(2), Err(InitError::Transient("EIO".into()))),
            (ResultId(3), data("x")),
        ]
        .into_iter()
        .collect();
        let o = check_set(WorkunitId(1), &mut rs, &inits, 2, &BITWISE);
        assert_eq!(
            o,
            SetOutcome {
                canonical: None,
                retry: true
            }
        );
        assert_eq!(rs[0].outcome, Outcome::ValidateError);
        assert_eq!(rs[0].validate_state, ValidateState::Invalid);
        assert_eq!(
            rs[1].outcome,
            Outcome::Success,
            "a transient error changes nothing"
        );
    }

    #[test]
    fn quorum_of_one() {
        let mut rs = vec![row(1)];
        let inits: Inits = [(ResultId(1), data("x"))].into_iter().collect();
        let o = check_set(WorkunitId(1), &mut rs, &inits, 1, &BITWISE);
        assert_eq!(o.canonical, Some(ResultId(1)));
    }

    #[test]
    fn pairs() {
        let canonical = row(1);
        let inits: Inits = [
            (ResultId(1), data("x")),
            (ResultId(2), data("x")),
            (ResultId(3), data("y")),
        ]
        .into_iter()
        .collect();
        let mut late = row(2);
        assert!(!check_pair(
            WorkunitId(1),
            &mut late,
            &canonical,
            &inits,
            &BITWISE
        ));
        assert_eq!(late.validate_state, ValidateState::Valid);
        let mut wrong = row(3);
        check_pair(WorkunitId(1), &mut wrong, &canonical, &inits, &BITWISE);
        assert_eq!(wrong.validate_state, ValidateState::Invalid);
        let mut unread = row(4);
        assert!(check_pair(
            WorkunitId(1),
            &mut unread,
            &canonical,
            &inits,
            &BITWISE
        ));
    }
}
