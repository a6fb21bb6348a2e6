//! The transitioner's state machine for one workunit, as a pure function.
//!
//! [`plan`] looks at a workunit and its results at time `now` and decides everything BOINC's
//! `handle_wu` decides (`transitioner.md` §4, confirmed by the oracle scenarios 01–14): which
//! results time out, whether the validator or the assimilator must look at the job, whether it
//! has failed (and which error bits), how many new results to create and with which names and
//! priority, which files may be deleted, and when to look at the job again. It touches nothing:
//! the caller writes the [`Plan`] (see `apply`), which keeps the rules testable without a
//! database and lets a whole batch be written in a few statements.
//!
//! Where BOINC writes a result row twice in one pass (marked TOO_LATE, then READY for deletion),
//! the plan holds one change from the state as read to the final state.

use rboinc_core::db::{HostId, ResultId, WorkunitId};
use rboinc_core::state::{
    AssimilateState, EXIT_ABORTED_VIA_GUI, ErrorMask, FileDeleteState, Outcome, ServerState,
    TRANSITION_TIME_NEVER, TransitionerFlags, ValidateState, generalized_app_version_id,
};

use super::load::WorkunitGroup;

/// Project settings the state machine uses (from config.xml).
#[derive(Debug, Clone, Copy, PartialEq, Default)]
pub struct Rules {
    /// `<delete_delay_hours>` in seconds: how long files stay after the last result came back.
    pub delete_delay_secs: f64,
    /// `<reliable_priority_on_over>`: priority bump of replacement results.
    pub reliable_priority_on_over: i32,
    /// `<reliable_priority_on_over_except_error>`: the bump when no result failed.
    pub reliable_priority_on_over_except_error: i32,
    /// `<hr_class_static>`: never un-commit a job from its homogeneous-redundancy class.
    pub hr_class_static: bool,
}

/// The four state columns the transitioner writes on a result.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct ReplicaState {
    pub server_state: i32,
    pub outcome: i32,
    pub validate_state: i32,
    pub file_delete_state: i32,
}

/// A result row to change from `before` (as read) to `after`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ReplicaChange {
    pub id: ResultId,
    pub before: ReplicaState,
    pub after: ReplicaState,
}

/// A result that timed out: its host's statistics take a penalty.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Timeout {
    pub result_id: ResultId,
    pub host: HostId,
    /// Generalized app version id (the `host_app_version` key).
    pub gen_avid: i64,
}

/// Results to create.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct NewReplicas {
    pub count: u32,
    /// The first new result is `<wu name>_<first_suffix>`, the next `+1`, ...
    pub first_suffix: i64,
    pub priority: i32,
    /// UNSENT, or INACTIVE for jobs with a size class.
    pub server_state: ServerState,
}

/// The workunit columns to write; `None` = unchanged (not written).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct WorkunitChange {
    pub need_validate: Option<i32>,
    pub error_mask: Option<i32>,
    pub assimilate_state: Option<i32>,
    pub file_delete_state: Option<i32>,
    pub hr_class: Option<i32>,
    pub app_version_id: Option<i64>,
    /// (value read, new value): written only if the row still holds the value read, otherwise
    /// set to now so the next pass looks again (another process changed the job meanwhile).
    pub transition_time: Option<(i32, i32)>,
}

impl WorkunitChange {
    pub fn is_empty(&self) -> bool {
        *self == WorkunitChange::default()
    }
}

/// How the results of a job stand (for logs).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct Counts {
    pub total: u32,
    pub unsent: u32,
    pub in_progress: u32,
    pub over: u32,
    pub success: u32,
    pub errors: u32,
    pub couldnt_send: u32,
    pub no_reply: u32,
    pub didnt_need: u32,
}

/// Everything [`plan`] decided about one workunit.
#[derive(Debug, Clone, PartialEq)]
pub struct Plan {
    pub wu_id: WorkunitId,
    pub changes: Vec<ReplicaChange>,
    pub timeouts: Vec<Timeout>,
    pub new_replicas: Option<NewReplicas>,
    pub wu: WorkunitChange,
    pub counts: Counts,
    /// The error mask after this pass (for logs).
    pub error_mask: ErrorMask,
}

fn state(r: &super::load::ReplicaRow) -> ReplicaState {
    ReplicaState {
        server_state: r.server_state,
        outcome: r.outcome,
        validate_state: r.validate_state,
        file_delete_state: r.file_delete_state,
    }
}

/// C's `atoi`: optional whitespace and sign, then digits; anything else ends the number.
fn c_atoi(text: &str) -> i64 {
    let s = text.trim_start_matches([' ', '\t', '\n', '\r', '\x0b', '\x0c']);
    let (negative, digits) = match s.as_bytes().first() {
        Some(b'-') => (true, &s[1..]),
        Some(b'+') => (false, &s[1..]),
        _ => (false, s),
    };
    let mut n: i64 = 0;
    for b in digits.bytes().take_while(u8::is_ascii_digit) {
        n = n.saturating_mul(10).saturating_add(i64::from(b - b'0'));
    }
    let n = n.min(i64::from(i32::MAX));
    if negative { -n } else { n }
}

/// The number after the last `_` of a result name (0 if none), as BOINC numbers results.
pub fn result_suffix(name: &str) -> i64 {
    name.rfind('_').map_or(0, |i| c_atoi(&name[i + 1..]))
}

const SERVER_INACTIVE: i32 = ServerState::Inactive as i32;
const SERVER_UNSENT: i32 = ServerState::Unsent as i32;
const SERVER_IN_PROGRESS: i32 = ServerState::InProgress as i32;
const SERVER_OVER: i32 = ServerState::Over as i32;
const OUTCOME_SUCCESS: i32 = Outcome::Success as i32;
const OUTCOME_COULDNT_SEND: i32 = Outcome::CouldntSend as i32;
const OUTCOME_CLIENT_ERROR: i32 = Outcome::ClientError as i32;
const OUTCOME_NO_REPLY: i32 = Outcome::NoReply as i32;
const OUTCOME_DIDNT_NEED: i32 = Outcome::DidntNeed as i32;
const OUTCOME_VALIDATE_ERROR: i32 = Outcome::ValidateError as i32;
const OUTCOME_CLIENT_DETACHED: i32 = Outcome::ClientDetached as i32;
const VALIDATE_INIT: i32 = ValidateState::Init as i32;
const VALIDATE_INVALID: i32 = ValidateState::Invalid as i32;
const VALIDATE_INCONCLUSIVE: i32 = ValidateState::Inconclusive as i32;
const VALIDATE_NO_CHECK: i32 = ValidateState::NoCheck as i32;
const VALIDATE_TOO_LATE: i32 = ValidateState::TooLate as i32;
const DELETE_INIT: i32 = FileDeleteState::Init as i32;
const DELETE_READY: i32 = FileDeleteState::Ready as i32;
const DELETE_DONE: i32 = FileDeleteState::Done as i32;
const ASSIMILATE_INIT: i32 = AssimilateState::Init as i32;
const ASSIMILATE_READY: i32 = AssimilateState::Ready as i32;
const ASSIMILATE_DONE: i32 = AssimilateState::Done as i32;

/// Decides what happens to `group` at time `now` (see the module docs).
pub fn plan(group: &WorkunitGroup, now: i32, rules: Rules) -> Plan {
    let wu = &group.wu;
    let mut states: Vec<ReplicaState> = group.results.iter().map(state).collect();
    let mut c = Counts::default();
    let mut timeouts = Vec::new();
    let mut have_new_result_to_validate = false;
    let mut max_suffix: i64 = -1;

    let canonical = if wu.canonical_resultid.get() != 0 {
        let found = group
            .results
            .iter()
            .position(|r| r.id == wu.canonical_resultid);
        if found.is_none() {
            tracing::error!(wu_id = %wu.id, canonical = %wu.canonical_resultid, "canonical result not found");
        }
        found
    } else {
        None
    };
    let canonical_files_deleted =
        canonical.is_some_and(|i| states[i].file_delete_state == DELETE_DONE);

    for (r, s) in group.results.iter().zip(states.iter_mut()) {
        c.total += 1;
        max_suffix = max_suffix.max(result_suffix(&r.name));
        match s.server_state {
            SERVER_INACTIVE | SERVER_UNSENT => c.unsent += 1,
            SERVER_IN_PROGRESS => {
                if r.report_deadline < now {
                    tracing::debug!(
                        wu_id = %wu.id,
                        result_id = %r.id,
                        deadline = r.report_deadline,
                        "result timed out: IN_PROGRESS => OVER/NO_REPLY"
                    );
                    s.server_state = SERVER_OVER;
                    s.outcome = OUTCOME_NO_REPLY;
                    timeouts.push(Timeout {
                        result_id: r.id,
                        host: r.hostid,
                        gen_avid: generalized_app_version_id(
                            r.app_version_id.get(),
                            wu.appid.get(),
                        ),
                    });
                    c.over += 1;
                    c.no_reply += 1;
                } else {
                    c.in_progress += 1;
                }
            }
            SERVER_OVER => {
                c.over += 1;
                match s.outcome {
                    OUTCOME_COULDNT_SEND => c.couldnt_send += 1,
                    OUTCOME_SUCCESS => {
                        if s.validate_state == VALIDATE_INIT {
                            if canonical_files_deleted {
                                s.validate_state = VALIDATE_TOO_LATE;
                            } else {
                                have_new_result_to_validate = true;
                            }
                        }
                        if s.validate_state != VALIDATE_INVALID {
                            c.success += 1;
                        }
                    }
                    OUTCOME_CLIENT_ERROR => {
                        if r.exit_status == EXIT_ABORTED_VIA_GUI {
                            c.no_reply += 1;
                        } else {
                            c.errors += 1;
                        }
                    }
                    OUTCOME_VALIDATE_ERROR => c.errors += 1,
                    OUTCOME_CLIENT_DETACHED | OUTCOME_NO_REPLY => c.no_reply += 1,
                    OUTCOME_DIDNT_NEED => c.didnt_need += 1,
                    _ => {}
                }
            }
            _ => {}
        }
    }

    let mut need_validate = wu.need_validate;
    if have_new_result_to_validate && c.success as i64 >= i64::from(wu.min_quorum) {
        need_validate = 1;
    }
    let mut error_mask = ErrorMask(wu.error_mask);
    if c.couldnt_send > 0 {
        error_mask |= ErrorMask::COULDNT_SEND_RESULT;
    }
    let (mut hr_class, mut app_version_id) = (wu.hr_class, wu.app_version_id.get());
    if c.errors > 0
        && c.success == 0
        && c.in_progress == 0
        && c.no_reply == 0
        && !rules.hr_class_static
    {
        hr_class = 0;
        app_version_id = 0;
    }
    if i64::from(c.errors) > i64::from(wu.max_error_results) {
        error_mask |= ErrorMask::TOO_MANY_ERROR_RESULTS;
    }
    let mut needed = i64::from(wu.target_nresults)
        - i64::from(c.unsent)
        - i64::from(c.in_progress)
        - i64::from(c.success);
    needed = needed.max(0);
    let allowed = i64::from(wu.max_total_results) - i64::from(c.total);
    let too_many = allowed < 0 || (allowed == 0 && needed > 0);
    if allowed > 0 {
        needed = needed.min(allowed);
    }
    if too_many {
        error_mask |= ErrorMask::TOO_MANY_TOTAL_RESULTS;
    }

    let mut assimilate_state = wu.assimilate_state;
    let mut new_replicas = None;
    if !error_mask.is_empty() {
        for s in &mut states {
            match s.server_state {
                SERVER_INACTIVE | SERVER_UNSENT => {
                    s.server_state = SERVER_OVER;
                    s.outcome = OUTCOME_DIDNT_NEED;
                }
                SERVER_OVER
                    if s.outcome == OUTCOME_SUCCESS
                        && matches!(s.validate_state, VALIDATE_INIT | VALIDATE_INCONCLUSIVE) =>
                {
                    s.validate_state = VALIDATE_NO_CHECK;
                }
                _ => {}
            }
        }
        if assimilate_state == ASSIMILATE_INIT {
            assimilate_state = ASSIMILATE_READY;
        }
    } else if wu.canonical_resultid.get() == 0
        && wu.transitioner_flags != TransitionerFlags::TransitionNoNewResults as i32
        && needed > 0
    {
        let mut bump = 0;
        if c.over > 0 && rules.reliable_priority_on_over != 0 {
            bump = rules.reliable_priority_on_over;
        } else if c.over > 0 && c.errors == 0 && rules.reliable_priority_on_over_except_error != 0 {
            bump = rules.reliable_priority_on_over_except_error;
        }
        new_replicas = Some(NewReplicas {
            count: u32::try_from(needed).unwrap_or(u32::MAX),
            first_suffix: max_suffix + 1,
            priority: wu.priority.saturating_add(bump),
            server_state: if wu.size_class < 0 {
                ServerState::Unsent
            } else {
                ServerState::Inactive
            },
        });
    }

    // "All over" scan over the results as they now stand (new ones are not included).
    let mut all_over_and_validated = true;
    let mut all_over_and_ready_to_assimilate = true;
    let mut most_recently_returned: f64 = 0.0;
    for (r, s) in group.results.iter().zip(&states) {
        if s.server_state == SERVER_OVER {
            most_recently_returned = most_recently_returned.max(f64::from(r.received_time));
            if s.outcome == OUTCOME_SUCCESS {
                if s.validate_state == VALIDATE_INIT {
                    all_over_and_validated = false;
                    all_over_and_ready_to_assimilate = false;
                }
            } else if s.outcome == OUTCOME_NO_REPLY && now < r.report_deadline {
                all_over_and_validated = false;
            }
        } else {
            all_over_and_validated = false;
            all_over_and_ready_to_assimilate = false;
        }
    }

    if all_over_and_ready_to_assimilate
        && assimilate_state == ASSIMILATE_INIT
        && !group.results.is_empty()
        && wu.canonical_resultid.get() > 0
    {
        assimilate_state = ASSIMILATE_READY;
    }

    let mut file_delete_state = wu.file_delete_state;
    let mut deferred_file_delete_time: Option<f64> = None;
    if assimilate_state == ASSIMILATE_DONE {
        let delete_after = most_recently_returned + rules.delete_delay_secs;
        if f64::from(now) >= delete_after {
            if all_over_and_validated && file_delete_state == DELETE_INIT {
                file_delete_state = DELETE_READY;
            }
            for (i, s) in states.iter_mut().enumerate() {
                if Some(i) == canonical && !all_over_and_validated {
                    continue;
                }
                let delete = match s.outcome {
                    OUTCOME_CLIENT_ERROR => true,
                    OUTCOME_SUCCESS => s.validate_state != VALIDATE_INIT,
                    _ => false,
                };
                if delete && s.file_delete_state == DELETE_INIT {
                    s.file_delete_state = DELETE_READY;
                }
            }
        } else {
            deferred_file_delete_time = Some(delete_after);
        }
    }

    let now64 = i64::from(now);
    let mut next: i64 = if wu.canonical_resultid.get() != 0 || !error_mask.is_empty() {
        i64::from(TRANSITION_TIME_NEVER)
    } else {
        let long_delay = (1.5 * f64::from(wu.delay_bound)) as i64;
        now64 + long_delay.max(10 * 86400)
    };
    for (r, s) in group.results.iter().zip(&states) {
        if s.server_state == SERVER_IN_PROGRESS {
            next = next.min(i64::from(r.report_deadline));
        }
    }
    if let Some(t) = deferred_file_delete_time
        && t < next as f64
    {
        next = t as i64;
    }
    if next < now64 {
        next = now64 + (2 * (now64 - next)).clamp(60, 86400);
    }
    let next = next.min(i64::from(i32::MAX)) as i32;

    let changes = group
        .results
        .iter()
        .zip(&states)
        .filter(|(r, s)| state(r) != **s)
        .map(|(r, s)| ReplicaChange {
            id: r.id,
            before: state(r),
            after: *s,
        })
        .collect();
    let changed = |old: i32, new: i32| (old != new).then_some(new);
    let wu_change = WorkunitChange {
        need_validate: changed(wu.need_validate, need_validate),
        error_mask: changed(wu.error_mask, error_mask.bits()),
        assimilate_state: changed(wu.assimilate_state, assimilate_state),
        file_delete_state: changed(wu.file_delete_state, file_delete_state),
        hr_class: changed(wu.hr_class, hr_class),
        app_version_id: (wu.app_version_id.get() != app_version_id).then_some(app_version_id),
        transition_time: (wu.transition_time != next).then_some((wu.transition_time, next)),
    };
    Plan {
        wu_id: wu.id,
        changes,
        timeouts,
        new_replicas,
        wu: wu_change,
        counts: c,
        error_mask,
    }
}

#[cfg(test)]
mod tests {
    use super::super::load::{DueWorkunit, ReplicaRow};
    use super::*;
    use rboinc_core::db::{AppId, AppVersionId};

    const NOW: i32 = 1_800_000_000;

    fn wu() -> DueWorkunit {
        DueWorkunit {
            id: WorkunitId(1),
            name: "t".into(),
            appid: AppId(1),
            min_quorum: 2,
            need_validate: 0,
            canonical_resultid: ResultId(0),
            transition_time: NOW - 10,
            delay_bound: 86400,
            error_mask: 0,
            max_error_results: 3,
            max_total_results: 6,
            file_delete_state: 0,
            assimilate_state: 0,
            target_nresults: 2,
            result_template_file: "templates/out".into(),
            priority: 0,
            hr_class: 0,
            batch: 0.into(),
            app_version_id: AppVersionId(0),
            transitioner_flags: 0,
            size_class: -1,
        }
    }

    fn replica(id: i64, server_state: ServerState, outcome: Outcome) -> ReplicaRow {
        ReplicaRow {
            id: ResultId(id),
            workunitid: WorkunitId(1),
            name: format!("t_{}", id - 1),
            report_deadline: NOW + 79200,
            server_state: server_state as i32,
            outcome: outcome as i32,
            validate_state: 0,
            file_delete_state: 0,
            sent_time: NOW - 7200,
            hostid: HostId(id),
            received_time: if server_state == ServerState::Over {
                NOW - 600
            } else {
                0
            },
            app_version_id: AppVersionId(1),
            exit_status: 0,
        }
    }

    fn run(wu: DueWorkunit, results: Vec<ReplicaRow>) -> Plan {
        plan(&WorkunitGroup { wu, results }, NOW, Rules::default())
    }

    #[test]
    fn a_fresh_job_gets_target_nresults_results() {
        let p = run(wu(), vec![]);
        assert_eq!(
            p.new_replicas,
            Some(NewReplicas {
                count: 2,
                first_suffix: 0,
                priority: 0,
                server_state: ServerState::Unsent
            })
        );
        assert_eq!(p.wu.transition_time, Some((NOW - 10, NOW + 864_000)));
    }

    #[test]
    fn a_long_delay_bound_pushes_the_safety_net() {
        let mut w = wu();
        w.delay_bound = 1_000_000;
        let p = run(w, vec![]);
        assert_eq!(p.wu.transition_time.unwrap().1, NOW + 1_500_000);
    }

    #[test]
    fn timeout_replacement_and_priority_bump() {
        let mut late = replica(2, ServerState::InProgress, Outcome::Init);
        late.report_deadline = NOW - 100;
        let rules = Rules {
            reliable_priority_on_over: 10,
            ..Rules::default()
        };
        let group = WorkunitGroup {
            wu: wu(),
            results: vec![replica(1, ServerState::Over, Outcome::Success), late],
        };
        let p = plan(&group, NOW, rules);
        assert_eq!(p.timeouts.len(), 1);
        assert_eq!(p.changes.len(), 1);
        assert_eq!(p.changes[0].after.outcome, Outcome::NoReply as i32);
        let new = p.new_replicas.unwrap();
        assert_eq!((new.count, new.first_suffix, new.priority), (1, 2, 10));
    }

    #[test]
    fn too_many_errors_end_the_job() {
        let mut w = wu();
        w.max_error_results = 1;
        w.hr_class = 3;
        let p = run(
            w,
            vec![
                replica(1, ServerState::Over, Outcome::ClientError),
                replica(2, ServerState::Over, Outcome::ClientError),
                replica(3, ServerState::Unsent, Outcome::Init),
                replica(4, ServerState::Inactive, Outcome::Init),
            ],
        );
        assert_eq!(p.error_mask, ErrorMask::TOO_MANY_ERROR_RESULTS);
        assert_eq!(p.changes.len(), 2);
        assert!(p.changes.iter().all(|c| c.after.outcome == 5));
        assert_eq!(p.wu.hr_class, Some(0));
        assert_eq!(p.wu.assimilate_state, Some(1));
        assert_eq!(p.wu.transition_time.unwrap().1, TRANSITION_TIME_NEVER);
        assert!(p.new_replicas.is_none());
    }

    #[test]
    fn aborted_via_gui_is_no_reply_not_an_error() {
        let mut w = wu();
        w.max_error_results = 0;
        let mut aborted = replica(1, ServerState::Over, Outcome::ClientError);
        aborted.exit_status = EXIT_ABORTED_VIA_GUI;
        let p = run(w, vec![aborted]);
        assert_eq!(p.counts.errors, 0);
        assert_eq!(p.counts.no_reply, 1);
        assert!(p.error_mask.is_empty());
    }

    #[test]
    fn suffixes() {
        assert_eq!(result_suffix("wu_3"), 3);
        assert_eq!(result_suffix("a_b_12x"), 12);
        assert_eq!(result_suffix("nounderscore"), 0);
        assert_eq!(result_suffix("wu_"), 0);
        assert_eq!(result_suffix("wu_-4"), -4);
    }

    #[test]
    fn late_success_after_canonical_files_are_deleted_is_too_late() {
        let mut w = wu();
        w.canonical_resultid = ResultId(1);
        w.assimilate_state = ASSIMILATE_DONE;
        w.file_delete_state = DELETE_DONE;
        let mut canonical = replica(1, ServerState::Over, Outcome::Success);
        canonical.validate_state = 1;
        canonical.file_delete_state = DELETE_DONE;
        let p = run(
            w,
            vec![canonical, replica(2, ServerState::Over, Outcome::Success)],
        );
        assert_eq!(p.wu.need_validate, None);
        assert_eq!(p.changes.len(), 1);
        // TOO_LATE, then (assimilated, all over) READY for deletion: one write.
        assert_eq!(p.changes[0].after.validate_state, VALIDATE_TOO_LATE);
        assert_eq!(p.changes[0].after.file_delete_state, DELETE_READY);
    }

    #[test]
    fn a_deadline_this_second_is_not_yet_a_timeout() {
        let mut r = replica(1, ServerState::InProgress, Outcome::Init);
        r.report_deadline = NOW; // overdue only when strictly before now
        let p = run(wu(), vec![r]);
        assert!(p.timeouts.is_empty());
        assert_eq!(p.wu.transition_time.unwrap().1, NOW);
    }
}
