//! The transitioner's one INFO line per workunit it changes.
//!
//! A job passes through the transitioner many times (each report wakes it); most visits only
//! move its `transition_time`. A visit that changes something an operator follows — results
//! created, results timed out or no longer needed, the job handed to the validator or the
//! assimilator, the job failed, files released for deletion — leaves one line,
//! `workunit transitioned`, with `wu_id`, `app` and `changes` (a short list, written only if
//! the line is). The counts per state are a DEBUG line (`-d 4`).

use std::fmt;

use rboinc_core::state::{AssimilateState, FileDeleteState, Outcome};

use super::plan::Plan;

/// Whether `plan` changes something the line reports.
pub fn is_notable(plan: &Plan) -> bool {
    Changes(plan).parts().next().is_some()
}

/// Writes the line for `plan` (call only if [`is_notable`]).
pub fn emit(plan: &Plan, app: &str) {
    tracing::info!(
        wu_id = %plan.wu_id,
        app = %app,
        changes = %Changes(plan),
        "workunit transitioned"
    );
}

/// `created 2 results, 1 timed out, ready to validate`.
struct Changes<'a>(&'a Plan);

enum Part {
    Created(u32),
    TimedOut(usize),
    NotNeeded(usize),
    ReadyToValidate,
    ReadyToAssimilate,
    Failed(rboinc_core::state::ErrorMask),
    InputsDeletable,
    OutputsDeletable(usize),
}

impl Changes<'_> {
    fn parts(&self) -> impl Iterator<Item = Part> + '_ {
        let p = self.0;
        let became =
            |f: fn(&super::plan::ReplicaChange) -> bool| p.changes.iter().filter(|c| f(c)).count();
        let not_needed = became(|c| {
            c.after.outcome == Outcome::DidntNeed as i32 && c.before.outcome != c.after.outcome
        });
        let outputs = became(|c| {
            c.after.file_delete_state == FileDeleteState::Ready as i32
                && c.before.file_delete_state != c.after.file_delete_state
        });
        let parts = [
            p.new_replicas.map(|n| Part::Created(n.count)),
            (!p.timeouts.is_empty()).then_some(Part::TimedOut(p.timeouts.len())),
            (not_needed > 0).then_some(Part::NotNeeded(not_needed)),
            (p.wu.need_validate == Some(1)).then_some(Part::ReadyToValidate),
            (p.wu.assimilate_state == Some(AssimilateState::Ready as i32))
                .then_some(Part::ReadyToAssimilate),
            p.wu.error_mask.map(|_| Part::Failed(p.error_mask)),
            (p.wu.file_delete_state == Some(FileDeleteState::Ready as i32))
                .then_some(Part::InputsDeletable),
            (outputs > 0).then_some(Part::OutputsDeletable(outputs)),
        ];
        parts.into_iter().flatten()
    }
}

impl fmt::Display for Changes<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        for (i, part) in self.parts().enumerate() {
            if i > 0 {
                f.write_str(", ")?;
            }
            match part {
                Part::Created(n) => write!(f, "created {n} results")?,
                Part::TimedOut(n) => write!(f, "{n} timed out")?,
                Part::NotNeeded(n) => write!(f, "{n} no longer needed")?,
                Part::ReadyToValidate => f.write_str("ready to validate")?,
                Part::ReadyToAssimilate => f.write_str("ready to assimilate")?,
                Part::Failed(mask) => write!(f, "failed ({mask})")?,
                Part::InputsDeletable => f.write_str("input files deletable")?,
                Part::OutputsDeletable(n) => write!(f, "output files of {n} results deletable")?,
            }
        }
        Ok(())
    }
}
