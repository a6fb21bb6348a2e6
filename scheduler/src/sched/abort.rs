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
//!
//! The lookup costs no round trip of its own on a returning client's RPC: [`held_column`] folds
//! it into the statement that reads the host record (the first of the RPC), and
//! [`send_aborts`] judges from that. Reading the rows at the start of the RPC instead of at its
//! end changes no verdict: the tasks a client lists are the ones it is not reporting, so
//! nothing the RPC writes touches them. Other RPCs (a new or re-found host record) look the
//! tasks up with a query of their own.

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
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Held {
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

/// The host's results among `held` that are in progress or timed out, by name.
pub type HeldRows = HashMap<String, Held>;

/// The `WHERE` part of BOINC's in-progress lookup for the tasks a host holds, with
/// `host_column` naming the host id: 3 + `n_held` placeholders (the states, then the names).
fn held_filter(host_column: &str, n_held: usize) -> String {
    let names = vec!["?"; n_held].join(",");
    format!(
        "r.hostid = {host_column} AND (r.server_state = ? OR (r.server_state = ? AND r.outcome = ?)) \
         AND r.name IN ({names})"
    )
}

/// A subquery for the host statement's select list that folds the rows of the tasks in
/// `held` into one text column named `held_states` (read back by [`held_rows`]); bind its
/// values with [`bind_held`]. Each row is `error_mask assimilate_state server_state outcome
/// name`, rows separated by newlines (a result name holds neither).
pub fn held_column(n_held: usize) -> String {
    format!(
        "(SELECT GROUP_CONCAT(CONCAT_WS(' ', w.error_mask, w.assimilate_state, r.server_state, \
         r.outcome, r.name) SEPARATOR '\\n') FROM result r JOIN workunit w ON w.id = r.workunitid \
         WHERE {}) AS held_states",
        held_filter("h.id", n_held)
    )
}

/// Binds the values of [`held_column`] (or of the standalone lookup after its host id).
pub fn bind_held<'q>(
    mut q: sqlx::query::Query<'q, sqlx::MySql, sqlx::mysql::MySqlArguments>,
    held: &'q [OtherResult],
) -> sqlx::query::Query<'q, sqlx::MySql, sqlx::mysql::MySqlArguments> {
    q = q
        .bind(ServerState::InProgress)
        .bind(ServerState::Over)
        .bind(Outcome::NoReply);
    for o in held {
        q = q.bind(o.name.as_str());
    }
    q
}

/// Reads the `held_states` column of [`held_column`] (a row that does not parse is left out,
/// which makes its task "not found": the same as a row the database did not return).
pub fn held_rows(text: Option<&[u8]>) -> HeldRows {
    let text = text.map(String::from_utf8_lossy).unwrap_or_default();
    let mut rows = HeldRows::new();
    for line in text.split('\n').filter(|l| !l.is_empty()) {
        let mut parts = line.splitn(5, ' ');
        let mut int = || parts.next().and_then(|v| v.parse::<i32>().ok());
        let (Some(error_mask), Some(assimilate_state), Some(server_state), Some(outcome)) =
            (int(), int(), int(), int())
        else {
            continue;
        };
        if let Some(name) = parts.next() {
            let held = Held {
                error_mask,
                assimilate_state,
                server_state,
                outcome,
            };
            rows.insert(name.to_string(), held);
        }
    }
    rows
}

/// Looks the tasks in `held` up with a query of their own (when the host statement did not).
async fn lookup(
    conn: &mut MySqlConnection,
    host: HostId,
    held: &[OtherResult],
) -> Result<HeldRows, sqlx::Error> {
    let sql = format!(
        "SELECT r.name, w.error_mask, w.assimilate_state, r.server_state, r.outcome \
         FROM result r JOIN workunit w ON w.id = r.workunitid WHERE {}",
        held_filter("?", held.len())
    );
    let q = bind_held(sqlx::query(sqlx::AssertSqlSafe(sql)).bind(host), held);
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
    Ok(found)
}

/// The verdict for each task in `held`, in its order, judged from `prefetched` (the rows the
/// host statement folded in) or else from a lookup of their own.
pub async fn verdicts(
    conn: &mut MySqlConnection,
    host: HostId,
    held: &[OtherResult],
    prefetched: Option<HeldRows>,
) -> Result<Vec<(String, Verdict)>, sqlx::Error> {
    if held.is_empty() {
        return Ok(Vec::new());
    }
    let found = match prefetched {
        Some(rows) => rows,
        None => lookup(conn, host, held).await?,
    };
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

/// Puts the aborts for the tasks in `held` into `reply` (judged from `prefetched` if the host
/// statement read their rows). Returns how many tasks were told to
/// abort (outright or if not started).
pub async fn send_aborts(
    conn: &mut MySqlConnection,
    host: HostId,
    held: &[OtherResult],
    prefetched: Option<HeldRows>,
    reply: &mut SchedReply,
) -> Result<usize, sqlx::Error> {
    let mut n = 0;
    for (name, verdict) in verdicts(conn, host, held, prefetched).await? {
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

    #[test]
    fn folded_rows_are_read_back_by_name() {
        let text = b"0 0 4 0 r_1_0\n64 0 4 0 with space_0\n0 2 5 4 r_3_1\nx 0 4 0 bad_0\n0 0 4";
        let rows = held_rows(Some(text));
        assert_eq!(
            rows.len(),
            3,
            "the malformed entries are left out: {rows:?}"
        );
        assert_eq!(rows["r_1_0"].server_state, 4);
        assert_eq!(rows["with space_0"].error_mask, 64);
        assert_eq!(
            rows["r_3_1"].verdict(),
            Verdict::AbortIfNotStarted(AbortReason::Assimilated)
        );
        assert!(held_rows(None).is_empty());
    }

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
