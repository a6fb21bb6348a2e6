//! The claim: one atomic `UPDATE` that makes an unsent result this host's, or fails at once.
//!
//! A request takes candidates out of the [`super::job_cache`]; then, in the RPC's transaction,
//! it claims each with one conditional `UPDATE` that never waits for a lock ([`claim`]):
//!
//! ```sql
//! SET STATEMENT innodb_lock_wait_timeout = 0 FOR
//! UPDATE result r JOIN workunit w ON w.id = r.workunitid
//!        LEFT JOIN result h ON h.workunitid = r.workunitid AND h.hostid = ?  -- one per host
//!    SET r.server_state = IN_PROGRESS, r.hostid = …, …, w.transition_time = LEAST(…),
//!        w.hr_class = …, w.app_version_id = …                   -- HR / homogeneous version
//!  WHERE r.id = ? AND r.server_state = UNSENT AND w.error_mask = 0 AND h.id IS NULL
//!    AND w.hr_class IN (0, ?) AND w.app_version_id IN (0, ?)    -- (when the app uses them)
//! ```
//!
//! The database decides: the claim only matches an unsent row of a workunit that has not
//! failed (and, with `one_result_per_host_per_wu` / `one_result_per_user_per_wu`, of which the
//! host or user has no result yet: BOINC's separate `count(*)` check, in the same statement);
//! a row can be changed by one transaction at a time; and a row another transaction holds (a
//! concurrent scheduler claiming the same job, the transitioner busy with its workunit) makes
//! the claim fail at once (MariaDB's per-statement lock timeout of 0, "NOWAIT") instead of
//! waiting, so two schedulers never wait for each other over jobs and cannot deadlock. Several
//! scheduler processes on one database therefore never send one result twice, whatever their
//! caches hold.
//!
//! Homogeneous redundancy and homogeneous app version ride on the same statement, as BOINC's
//! `update_wu_on_send` does with a conditional `UPDATE workunit`: the first replica sent
//! commits the workunit to the host's class (`hr_class`) and the chosen version
//! (`app_version_id`), and a later one is claimed only if its host and version match what is
//! committed. Two processes sending two replicas of one workunit to hosts of different
//! classes cannot both succeed: the second claim either waits for no lock and fails, or sees
//! the committed class and matches nothing. The result and its workunit change in the same statement, so the workunit's
//! `transition_time` (which makes the transitioner notice a missed deadline) can never lag
//! behind a sent result. One statement per job sent: where an earlier version read, locked
//! (`FOR UPDATE SKIP LOCKED`) and then updated, the claim is now a third of the round trips.

use std::collections::HashSet;
use std::sync::LazyLock;

use rboinc_core::db::{HostId, ResultId, UserId, WorkunitId, found_rows};
use rboinc_core::state::ServerState;
use sqlx::mysql::{MySqlConnection, MySqlExecutor};

/// What a claim writes (BOINC's `mark_as_sent` plus the workunit's transition time).
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Claim {
    pub result_id: ResultId,
    pub hostid: HostId,
    pub userid: UserId,
    pub sent_time: i64,
    /// Deadline stored in the database: send time + delay bound + grace period. The workunit's
    /// `transition_time` is lowered to it.
    pub db_deadline: i64,
    pub flops_estimate: f64,
    /// The chosen version's id, or BOINC's negative anonymous-platform code.
    pub app_version_id: i64,
    /// HR: the host's class the workunit must be (or become) committed to.
    pub hr_class: Option<i32>,
    /// Homogeneous app version: the version the workunit must be (or become) committed to.
    pub commit_version: Option<i64>,
}

/// BOINC's replica placement rules: whose results of the same workunit rule a job out.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Replicas {
    /// Any host may get several results of a workunit.
    Anywhere,
    /// `one_result_per_host_per_wu`: not if this host already has one.
    OnePerHost(HostId),
    /// `one_result_per_user_per_wu`: not if any host of this user already has one.
    OnePerUser(UserId),
}

/// Claims an unsent result for a host (see the module docs). `Ok(false)`: not claimed, and
/// nothing was written — another process sent it or is sending it right now, its workunit
/// failed meanwhile, or `replicas` rules it out for this host ([`workunits_already_held`]
/// tells which). Never waits for a row lock.
pub async fn claim(
    conn: &mut MySqlConnection,
    c: &Claim,
    replicas: Replicas,
) -> Result<bool, sqlx::Error> {
    // Three fixed texts, so each is prepared once per connection.
    const SET: &str = "SET r.server_state = ?, r.hostid = ?, r.userid = ?, r.sent_time = ?, \
         r.report_deadline = ?, r.flops_estimate = ?, r.app_version_id = ?, \
         w.transition_time = IF(w.transition_time < ?, w.transition_time, ?), \
         w.hr_class = IF(? = 0, w.hr_class, ?), w.app_version_id = IF(? = 0, w.app_version_id, ?) \
         WHERE r.id = ? AND r.server_state = ? AND w.error_mask = 0 \
         AND (? = 0 OR w.hr_class IN (0, ?)) AND (? = 0 OR w.app_version_id IN (0, ?))";
    const HEAD: &str = "SET STATEMENT innodb_lock_wait_timeout = 0 FOR \
         UPDATE result r JOIN workunit w ON w.id = r.workunitid";
    static ANYWHERE: LazyLock<String> = LazyLock::new(|| format!("{HEAD} {SET}"));
    static PER_HOST: LazyLock<String> = LazyLock::new(|| {
        format!(
            "{HEAD} LEFT JOIN result h ON h.workunitid = r.workunitid AND h.hostid = ? \
             {SET} AND h.id IS NULL"
        )
    });
    static PER_USER: LazyLock<String> = LazyLock::new(|| {
        format!(
            "{HEAD} LEFT JOIN result h ON h.workunitid = r.workunitid AND h.userid = ? \
             {SET} AND h.id IS NULL"
        )
    });
    let (sql, holder): (&'static str, Option<i64>) = match replicas {
        Replicas::Anywhere => (ANYWHERE.as_str(), None),
        Replicas::OnePerHost(h) => (PER_HOST.as_str(), Some(h.get())),
        Replicas::OnePerUser(u) => (PER_USER.as_str(), Some(u.get())),
    };
    let hr = c.hr_class.unwrap_or(0);
    let version = c.commit_version.unwrap_or(0);
    let mut q = sqlx::query(sql);
    if let Some(holder) = holder {
        q = q.bind(holder);
    }
    let done = q
        .bind(ServerState::InProgress)
        .bind(c.hostid)
        .bind(c.userid)
        .bind(c.sent_time)
        .bind(c.db_deadline)
        .bind(c.flops_estimate)
        .bind(c.app_version_id)
        .bind(c.db_deadline)
        .bind(c.db_deadline)
        .bind(hr)
        .bind(hr)
        .bind(version)
        .bind(version)
        .bind(c.result_id)
        .bind(ServerState::Unsent)
        .bind(hr)
        .bind(hr)
        .bind(version)
        .bind(version)
        .execute(&mut *conn)
        .await;
    match done {
        // Rows matched across both tables: the result and its workunit, or nothing.
        Ok(done) => Ok(found_rows::matched(&done) > 0),
        Err(e) if is_lock_timeout(&e) => {
            // InnoDB undid the statement only, unless the server runs with
            // innodb_rollback_on_timeout: then the caller's whole transaction is gone, and the
            // RPC must fail (and be retried) rather than go on outside a transaction.
            let rolled_back: i64 =
                sqlx::query_scalar("SELECT CAST(@@innodb_rollback_on_timeout AS SIGNED)")
                    .fetch_one(&mut *conn)
                    .await?;
            if rolled_back != 0 {
                return Err(e);
            }
            tracing::debug!(result_id = %c.result_id, "job locked by another transaction");
            Ok(false)
        }
        Err(e) => Err(e),
    }
}

/// MySQL's lock wait timeout (1205), which a lock timeout of 0 raises at once.
fn is_lock_timeout(e: &sqlx::Error) -> bool {
    e.as_database_error()
        .and_then(|d| d.try_downcast_ref::<sqlx::mysql::MySqlDatabaseError>())
        .is_some_and(|m| m.number() == 1205)
}

/// Gives a lost result a new send time and deadline for the same host (a resend). `Ok(false)`
/// if it is no longer in progress on that host.
pub async fn reclaim(ex: impl MySqlExecutor<'_>, c: &Claim) -> Result<bool, sqlx::Error> {
    let done = sqlx::query(
        "UPDATE result r JOIN workunit w ON w.id = r.workunitid \
         SET r.sent_time = ?, r.report_deadline = ?, r.flops_estimate = ?, r.app_version_id = ?, \
         w.transition_time = IF(w.transition_time < ?, w.transition_time, ?) \
         WHERE r.id = ? AND r.server_state = ? AND r.hostid = ?",
    )
    .bind(c.sent_time)
    .bind(c.db_deadline)
    .bind(c.flops_estimate)
    .bind(c.app_version_id)
    .bind(c.db_deadline)
    .bind(c.db_deadline)
    .bind(c.result_id)
    .bind(ServerState::InProgress)
    .bind(c.hostid)
    .execute(ex)
    .await?;
    Ok(found_rows::matched(&done) > 0)
}

/// Which of `wus` already have a result sent to this host (or, with `by_user`, to any host of
/// this user): BOINC's `one_result_per_host_per_wu` / `one_result_per_user_per_wu` check, for
/// a whole batch of candidates in one query (a plain read: only this host's own requests could
/// change the answer, and a client sends one request at a time). [`claim`] checks the same in
/// its statement; this tells a refused claim's reason.
pub async fn workunits_already_held(
    ex: impl MySqlExecutor<'_>,
    wus: &[WorkunitId],
    host: HostId,
    user: UserId,
    by_user: bool,
) -> Result<HashSet<WorkunitId>, sqlx::Error> {
    if wus.is_empty() {
        return Ok(HashSet::new());
    }
    let placeholders = vec!["?"; wus.len()].join(",");
    let column = if by_user { "userid" } else { "hostid" };
    let sql = format!(
        "SELECT DISTINCT workunitid FROM result WHERE workunitid IN ({placeholders}) AND {column} = ?"
    );
    let mut q = sqlx::query_scalar::<_, WorkunitId>(sqlx::AssertSqlSafe(sql));
    for w in wus {
        q = q.bind(*w);
    }
    q = if by_user {
        q.bind(user.get())
    } else {
        q.bind(host.get())
    };
    Ok(q.fetch_all(ex).await?.into_iter().collect())
}
