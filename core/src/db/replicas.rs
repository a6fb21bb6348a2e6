//! Series rounds whose next replica can go nowhere: every host that asks for work already
//! holds one.
//!
//! With `one_result_per_host_per_wu` (or `one_result_per_user_per_wu`) the scheduler never
//! sends a workunit twice to one host (user). When a replica times out or fails and the
//! transitioner makes another, that new replica stays unsent for as long as only hosts that
//! already hold one ask — with two hosts and a quorum of two, until a third host attaches. The
//! series would wait silently; `series status`/`wait` and the ops page say so instead, from the
//! database alone: an unsent result of the round's workunit, and every host that contacted the
//! scheduler in the last [`RECENT_RPC_SECS`] already holding a result of it. (Here, in the
//! core, because both the `series` tool and the scheduler's ops page ask.)

use sqlx::Row;

use crate::config::SchedConfig;

/// Hosts that contacted the scheduler within this long count as the ones asking for work
/// (an hour: clients of a busy project ask every few minutes, an idle one at least hourly).
pub const RECENT_RPC_SECS: i32 = 3600;

/// Which replica rule the scheduler applies, as `config.xml` sets it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ReplicaRule {
    /// Neither rule: a host may get a second replica, so nothing blocks.
    None,
    /// `one_result_per_host_per_wu`.
    PerHost,
    /// `one_result_per_user_per_wu` (BOINC checks it first when both are set).
    PerUser,
}

impl ReplicaRule {
    /// The rule of these scheduler settings.
    pub fn of(sched: &SchedConfig) -> ReplicaRule {
        if sched.one_result_per_user_per_wu {
            ReplicaRule::PerUser
        } else if sched.one_result_per_host_per_wu {
            ReplicaRule::PerHost
        } else {
            ReplicaRule::None
        }
    }

    /// The `config.xml` option behind the rule.
    pub fn setting(self) -> &'static str {
        match self {
            ReplicaRule::PerUser => "one_result_per_user_per_wu",
            _ => "one_result_per_host_per_wu",
        }
    }
}

/// A round whose unsent replica no recent host may take.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct BlockedRound {
    pub series_id: i64,
    pub series: String,
    pub round: i32,
    pub workunit_id: i64,
    pub wu_name: String,
    /// The hosts that asked recently (all holding a replica, or their owners one).
    pub hosts: i64,
}

impl BlockedRound {
    /// What `series status` and `series wait` print.
    pub fn message(&self, rule: ReplicaRule) -> String {
        let who = match rule {
            ReplicaRule::PerUser => "another account's host",
            _ => "another host",
        };
        format!(
            "round {} waits for a host without a replica of it: the {} host(s) that asked for work in the last hour already hold one and {} keeps a second from them; attach {who}, or wait for one",
            self.round,
            self.hosts,
            rule.setting()
        )
    }
}

/// The unfinished rounds (of series `series_id`, or of every series) whose unsent replica
/// every recently seen host is barred from, at time `now`; by series, then round. A database
/// without the series tables has none.
pub async fn blocked_rounds(
    ex: impl sqlx::MySqlExecutor<'_>,
    series_id: Option<i64>,
    rule: ReplicaRule,
    now: i32,
) -> Result<Vec<BlockedRound>, sqlx::Error> {
    // Per workunit, only its own few results are looked at (and the hosts they name): the
    // recently seen hosts (or their owners) holding one are counted and compared with all of
    // them, counted once for the whole query.
    let (holding, asking) = match rule {
        ReplicaRule::None => return Ok(Vec::new()),
        ReplicaRule::PerHost => (
            "SELECT COUNT(DISTINCT x.hostid) FROM result x JOIN host h ON h.id = x.hostid \
             WHERE x.workunitid = w.id AND h.rpc_time >= ?",
            "SELECT COUNT(*) FROM host WHERE rpc_time >= ?",
        ),
        ReplicaRule::PerUser => (
            "SELECT COUNT(DISTINCT x.userid) FROM result x WHERE x.workunitid = w.id \
             AND EXISTS (SELECT 1 FROM host h WHERE h.userid = x.userid AND h.rpc_time >= ?)",
            "SELECT COUNT(DISTINCT userid) FROM host WHERE rpc_time >= ?",
        ),
    };
    let which = if series_id.is_some() {
        "r.series_id = ?"
    } else {
        "? IS NULL"
    };
    let sql = format!(
        "SELECT CAST(r.series_id AS SIGNED) AS series_id, s.name AS series, r.round, \
         CAST(w.id AS SIGNED) AS workunit_id, w.name AS wu_name, \
         ({holding}) AS holding, ({asking}) AS asking, \
         (SELECT COUNT(*) FROM host WHERE rpc_time >= ?) AS hosts \
         FROM rb_series_round r JOIN rb_series s ON s.id = r.series_id \
         JOIN workunit w ON w.id = r.workunit_id \
         WHERE {which} AND w.error_mask = 0 AND w.canonical_resultid = 0 \
         AND EXISTS (SELECT 1 FROM result u WHERE u.workunitid = w.id AND u.server_state = 2) \
         HAVING holding > 0 AND holding = asking ORDER BY r.series_id, r.round"
    );
    let since = now - RECENT_RPC_SECS;
    let rows = match sqlx::query(sqlx::AssertSqlSafe(sql))
        .bind(since)
        .bind(since)
        .bind(since)
        .bind(series_id)
        .fetch_all(ex)
        .await
    {
        Ok(rows) => rows,
        // ER_NO_SUCH_TABLE: a database without the series tables (stock BOINC's).
        Err(sqlx::Error::Database(e)) if e.code().as_deref() == Some("42S02") => {
            return Ok(Vec::new());
        }
        Err(e) => return Err(e),
    };
    rows.iter()
        .map(|r| {
            Ok(BlockedRound {
                series_id: r.try_get("series_id")?,
                series: r.try_get("series")?,
                round: r.try_get("round")?,
                workunit_id: r.try_get("workunit_id")?,
                wu_name: r.try_get("wu_name")?,
                hosts: r.try_get("hosts")?,
            })
        })
        .collect()
}
