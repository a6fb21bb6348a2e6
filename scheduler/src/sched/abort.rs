//! Result aborts (`<send_result_abort>`): tasks a client still holds that the server no longer
//! wants.
//!
//! A client lists every task it holds and is not reporting in `<other_results>`. With
//! `send_result_abort` set, each of them is looked up among this host's results that are in
//! progress or timed out (BOINC's `send_result_abort` and its `DB_IN_PROGRESS_RESULT` query),
//! and sorted by BOINC's rules:
//!
//! | the task | reply | reason logged |
//! |---|---|---|
//! | not this host's result in progress or timed out (unknown, reported, another host's) | `<result_abort>` | result not in database |
//! | its workunit was cancelled (`error_mask` has `CANCELLED`) | `<result_abort>` | workunit cancelled |
//! | its workunit is already assimilated | `<result_abort_if_not_started>` | workunit assimilated |
//! | it timed out (`OVER`, outcome `NO_REPLY`) | `<result_abort_if_not_started>` | result timed out |
//! | otherwise | nothing: let it run | |
//!
//! An outright abort also gets the low-priority message "Result NAME is no longer usable".
//! Nothing is written here: the client aborts the task and reports it with exit status
//! `EXIT_ABORTED_BY_PROJECT`, which the report handling records (without the quota penalty a
//! failure costs). A database error skips the aborts of this RPC (BOINC sends none then
//! either) — the next RPC lists the same tasks again.

use std::collections::HashMap;

use rboinc_core::db::HostId;
use rboinc_core::state::{AssimilateState, ErrorMask, Outcome, ServerState};
use sqlx::Row;
use sqlx::mysql::MySqlConnection;

use super::reply::{Priority, SchedReply};
use super::request::OtherResult;

/// Why a task is aborted (BOINC's `ABORT_REASON_*`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum AbortReason {
    NotFound,
    WorkunitCancelled,
    Assimilated,
    TimedOut,
}

impl AbortReason {
    pub fn as_str(self) -> &'static str {
        match self {
            AbortReason::NotFound => "result not in database",
            AbortReason::WorkunitCancelled => "workunit cancelled",
            AbortReason::Assimilated => "workunit assimilated",
            AbortReason::TimedOut => "result timed out",
        }
    }
}

/// What to tell the client about one task it holds.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Verdict {
    /// Abort it, running or not.
    Abort(AbortReason),
    /// Abort it unless it has started.
    AbortIfNotStarted(AbortReason),
    Keep,
}

/// The columns BOINC's abort check reads for one of the host's results.
#[derive(Debug, Clone, Copy)]
struct Held {
    error_mask: i32,
    assimilate_state: i32,
    server_state: i32,
    outcome: i32,
}

impl Held {
    fn verdict(self) -> Verdict {
        if ErrorMask(self.error_mask).contains(ErrorMask::CANCELLED) {
            Verdict::Abort(AbortReason::WorkunitCancelled)
        } else if self.assimilate_state == AssimilateState::Done as i32 {
            Verdict::AbortIfNotStarted(AbortReason::Assimilated)
        } else if self.server_state == ServerState::Over as i32
            && self.outcome == Outcome::NoReply as i32
        {
            Verdict::AbortIfNotStarted(AbortReason::TimedOut)
        } else {
            Verdict::Keep
        }
    }
}

/// The verdict for each task in `held`, in its order.
pub async fn verdicts(
    conn: &mut MySqlConnection,
    host: HostId,
    held: &[OtherResult],
) -> Result<Vec<(String, Verdict)>, sqlx::Error> {
    if held.is_empty() {
        return Ok(Vec::new());
    }
    let placeholders = vec!["?"; held.len()].join(",");
    let sql = format!(
        "SELECT r.name, w.error_mask, w.assimilate_state, r.server_state, r.outcome \
         FROM result r JOIN workunit w ON w.id = r.workunitid \
         WHERE r.hostid = ? AND (r.server_state = ? OR (r.server_state = ? AND r.outcome = ?)) \
         AND r.name IN ({placeholders})"
    );
    let mut q = sqlx::query(sqlx::AssertSqlSafe(sql))
        .bind(host)
        .bind(ServerState::InProgress)
        .bind(ServerState::Over)
        .bind(Outcome::NoReply);
    for o in held {
        q = q.bind(&o.name);
    }
    let mut found = HashMap::new();
    for row in q.fetch_all(&mut *conn).await? {
        let name: String = row.try_get("name")?;
        let h = Held {
            error_mask: row.try_get("error_mask")?,
            assimilate_state: row.try_get("assimilate_state")?,
            server_state: row.try_get("server_state")?,
            outcome: row.try_get("outcome")?,
        };
        found.insert(name, h);
    }
    Ok(held
        .iter()
        .map(|o| {
            let v = found
                .get(&o.name)
                .map_or(Verdict::Abort(AbortReason::NotFound), |h| h.verdict());
            (o.name.clone(), v)
        })
        .collect())
}

/// Puts the aborts for the tasks in `held` into `reply`. Returns how many tasks were told to
/// abort (outright or if not started).
pub async fn send_aborts(
    conn: &mut MySqlConnection,
    host: HostId,
    held: &[OtherResult],
    reply: &mut SchedReply,
) -> Result<usize, sqlx::Error> {
    let mut n = 0;
    for (name, verdict) in verdicts(conn, host, held).await? {
        match verdict {
            Verdict::Abort(reason) => {
                tracing::info!(host_id = %host, result = %name, reason = reason.as_str(), "result abort sent");
                reply.message(Priority::Low, format!("Result {name} is no longer usable"));
                reply.result_aborts.push(name);
                n += 1;
            }
            Verdict::AbortIfNotStarted(reason) => {
                tracing::info!(host_id = %host, result = %name, reason = reason.as_str(), "result abort-if-not-started sent");
                reply.result_aborts_if_not_started.push(name);
                n += 1;
            }
            Verdict::Keep => {}
        }
    }
    Ok(n)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn held(
        error_mask: i32,
        assimilate: AssimilateState,
        state: ServerState,
        outcome: Outcome,
    ) -> Held {
        Held {
            error_mask,
            assimilate_state: assimilate as i32,
            server_state: state as i32,
            outcome: outcome as i32,
        }
    }

    #[test]
    fn boinc_rules_in_their_order() {
        use AbortReason::*;
        let running = held(
            0,
            AssimilateState::Init,
            ServerState::InProgress,
            Outcome::Init,
        );
        assert_eq!(running.verdict(), Verdict::Keep);
        // A cancelled workunit wins over everything else.
        let cancelled = held(
            ErrorMask::CANCELLED.bits(),
            AssimilateState::Done,
            ServerState::Over,
            Outcome::NoReply,
        );
        assert_eq!(cancelled.verdict(), Verdict::Abort(WorkunitCancelled));
        let assimilated = held(
            0,
            AssimilateState::Done,
            ServerState::InProgress,
            Outcome::Init,
        );
        assert_eq!(
            assimilated.verdict(),
            Verdict::AbortIfNotStarted(Assimilated)
        );
        let timed_out = held(
            0,
            AssimilateState::Init,
            ServerState::Over,
            Outcome::NoReply,
        );
        assert_eq!(timed_out.verdict(), Verdict::AbortIfNotStarted(TimedOut));
        // Other error bits alone do not abort (BOINC checks only CANCELLED).
        let errored = held(
            ErrorMask::TOO_MANY_ERROR_RESULTS.bits(),
            AssimilateState::Ready,
            ServerState::InProgress,
            Outcome::Init,
        );
        assert_eq!(errored.verdict(), Verdict::Keep);
    }
}
