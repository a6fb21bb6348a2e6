//! The database's side of the ops page and `/metrics`: job counts, series (and their rounds
//! that wait for a host without a replica, [`rboinc_core::db::replicas`]), hosts, queues.
//!
//! A sweep's series also has a line per configuration (its rounds' `config` and `params`),
//! named the way `series status` names them ([`rboinc_core::sweep`]).
//!
//! Read-only, a handful of grouped queries that the BOINC schema's indexes serve
//! (`res_app_state`, `wu_val`, `wu_assim`); the ops page asks for a full picture, `/metrics`
//! only for the queue sizes ([`super::queues`]), which are cheap enough to scrape every few
//! seconds. States are
//! grouped the way an operator reads them (what is waiting, running, done, failed), from the
//! numeric BOINC states in [`rboinc_core::state`].
//!
//! The SQL is assembled with `format!` from those enums' integer values and the fixed limits
//! below, never from request data (which is why `AssertSqlSafe` is sound here); the one
//! variable input, the time, is bound.

use std::collections::BTreeMap;

use rboinc_core::db::Pool;
use rboinc_core::db::replicas::{self, BlockedRound, ReplicaRule};
use rboinc_core::state::{AssimilateState, Outcome, ServerState, ValidateState};
use rboinc_core::sweep::{self, SweepPoint};
use sqlx::AssertSqlSafe;

/// Workunits of one app, by where they are.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct WorkunitCounts {
    pub total: i64,
    /// No canonical result and no error yet.
    pub in_progress: i64,
    /// Flagged for the validator.
    pub need_validate: i64,
    /// Waiting for the assimilator.
    pub assimilate_ready: i64,
    /// Assimilated without error.
    pub assimilated: i64,
    /// `error_mask` set (too many errors, cancelled, …).
    pub errored: i64,
}

/// Results of one app, by state and outcome. The columns add up to `total`.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ResultCounts {
    pub total: i64,
    pub inactive: i64,
    pub unsent: i64,
    pub in_progress: i64,
    /// Reported successfully, not validated yet (or inconclusive).
    pub pending_validation: i64,
    pub valid: i64,
    /// Invalid, or too late to count.
    pub invalid: i64,
    pub client_error: i64,
    /// Timed out (`NO_REPLY`).
    pub no_reply: i64,
    pub didnt_need: i64,
    pub validate_error: i64,
    /// Any other finished state (could not send, detached, not checked).
    pub other: i64,
}

/// One app's line.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct AppCounts {
    pub appid: i64,
    pub name: String,
    pub deprecated: bool,
    pub workunits: WorkunitCounts,
    pub results: ResultCounts,
}

/// One `rb_series` row with its rounds' progress.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct SeriesProgress {
    pub id: i64,
    pub name: String,
    pub app: String,
    pub cancelled: bool,
    pub rounds: i64,
    pub create_time: i64,
    /// Rounds turned into workunits so far.
    pub created: i64,
    /// Rounds cancelled before they got a workunit.
    pub cancelled_rounds: i64,
    /// Rounds whose workunit has a canonical (validated) result.
    pub validated: i64,
    /// Rounds whose workunit was assimilated without error.
    pub assimilated: i64,
    /// Rounds whose workunit failed (`error_mask`).
    pub failed: i64,
    /// Results of the series being computed now.
    pub results_in_progress: i64,
    /// A sweep's configurations (`rb_series_round.config`), in order; empty for a series of
    /// one configuration.
    pub configs: Vec<ConfigProgress>,
}

/// One configuration of a sweep: its rounds' progress, counted as the series' are.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ConfigProgress {
    /// 0-based, as `rb_series_round.config`; shown 1-based, as `series status` does.
    pub config: i64,
    /// The swept values (`lr=0.05 batch=256`, [`rboinc_core::sweep::label`]), or `?` if the
    /// rounds' parameters cannot be read.
    pub label: String,
    pub rounds: i64,
    pub created: i64,
    pub cancelled_rounds: i64,
    pub validated: i64,
    pub assimilated: i64,
    pub failed: i64,
    pub results_in_progress: i64,
}

impl ConfigProgress {
    /// Rounds that will not change any more.
    pub fn finished(&self) -> i64 {
        self.assimilated + self.failed + self.cancelled_rounds
    }

    /// As [`SeriesProgress::state`], within a series that is `cancelled` or not.
    pub fn state(&self, cancelled: bool) -> &'static str {
        progress_state(cancelled, self.finished(), self.rounds, self.failed)
    }
}

fn progress_state(cancelled: bool, finished: i64, rounds: i64, failed: i64) -> &'static str {
    if cancelled {
        "cancelled"
    } else if finished < rounds {
        "running"
    } else if failed > 0 {
        "complete with failures"
    } else {
        "complete"
    }
}

impl SeriesProgress {
    /// Rounds that will not change any more.
    pub fn finished(&self) -> i64 {
        self.assimilated + self.failed + self.cancelled_rounds
    }

    /// `running`, `complete`, `complete with failures` or `cancelled`.
    pub fn state(&self) -> &'static str {
        progress_state(self.cancelled, self.finished(), self.rounds, self.failed)
    }
}

/// One host's line.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct HostLine {
    pub id: i64,
    pub user: String,
    pub domain_name: String,
    pub os_name: String,
    pub p_model: String,
    pub ncpus: i64,
    pub create_time: i64,
    /// Last scheduler RPC (Unix seconds; 0 = never).
    pub rpc_time: i64,
    pub last_ip_addr: String,
    pub results_in_progress: i64,
    pub expavg_credit: f64,
}

/// How many hosts there are and how many were heard from lately.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct HostTotals {
    pub total: i64,
    pub last_hour: i64,
    pub last_day: i64,
}

/// A host none of whose recently reported results was good.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ErrorHost {
    pub id: i64,
    pub domain_name: String,
    pub user: String,
    /// Results reported in the window: all of them errors.
    pub results: i64,
    /// Of those: client errors, validate errors, invalid.
    pub client_error: i64,
    pub validate_error: i64,
    pub invalid: i64,
    /// The newest report (Unix seconds).
    pub last_received: i64,
}

/// The ops page's database figures.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Snapshot {
    pub apps: Vec<AppCounts>,
    /// `None` if the series tables are missing (a stock BOINC database).
    pub series: Option<Vec<SeriesProgress>>,
    pub hosts: Vec<HostLine>,
    pub host_totals: HostTotals,
    /// Hosts that returned only errors in the last [`ERROR_HOST_WINDOW`] seconds.
    pub error_hosts: Vec<ErrorHost>,
    /// Series rounds whose unsent replica no host asking for work may take (the replica rule
    /// with it, for the message).
    pub blocked: Vec<BlockedRound>,
    pub replica_rule: Option<ReplicaRule>,
}

/// How far back a host's reports are judged (seconds).
pub const ERROR_HOST_WINDOW: i64 = 7 * 86_400;
/// Error-only hosts listed, most results first.
pub const ERROR_HOST_LIMIT: i64 = 20;

/// Hosts whose results reported in the window were all errors (a client error, a validate
/// error, or a result judged invalid), with at least one such result. Timed-out results are not
/// reports and do not count either way.
pub async fn error_hosts(pool: &Pool, now: i64) -> Result<Vec<ErrorHost>, sqlx::Error> {
    let over = ServerState::Over as i32;
    let success = Outcome::Success as i32;
    let client_error = Outcome::ClientError as i32;
    let validate_error = Outcome::ValidateError as i32;
    let invalid = ValidateState::Invalid as i32;
    let sql = format!(
        "SELECT CAST(h.id AS SIGNED), COALESCE(h.domain_name, ''), COALESCE(u.name, ''), \
         CAST(COUNT(*) AS SIGNED), {ce}, {ve}, {inv}, CAST(MAX(r.received_time) AS SIGNED) \
         FROM result r JOIN host h ON h.id = r.hostid LEFT JOIN user u ON u.id = h.userid \
         WHERE r.server_state = {over} AND r.received_time >= ? \
         AND r.outcome IN ({success}, {client_error}, {validate_error}) \
         GROUP BY h.id \
         HAVING {ce} + {ve} + {inv} = COUNT(*) \
         ORDER BY COUNT(*) DESC, h.id LIMIT {ERROR_HOST_LIMIT}",
        ce = sum(&format!("r.outcome = {client_error}")),
        ve = sum(&format!("r.outcome = {validate_error}")),
        inv = sum(&format!(
            "r.outcome = {success} AND r.validate_state = {invalid}"
        )),
    );
    type Row = (i64, String, String, i64, i64, i64, i64, i64);
    let rows: Vec<Row> = sqlx::query_as(AssertSqlSafe(sql))
        .bind(now - ERROR_HOST_WINDOW)
        .fetch_all(pool)
        .await?;
    Ok(rows
        .into_iter()
        .map(|r| ErrorHost {
            id: r.0,
            domain_name: r.1,
            user: r.2,
            results: r.3,
            client_error: r.4,
            validate_error: r.5,
            invalid: r.6,
            last_received: r.7,
        })
        .collect())
}

/// Hosts listed on the page, most recently heard from first.
pub const HOST_LIMIT: i64 = 50;
/// Series listed on the page, newest first.
pub const SERIES_LIMIT: i64 = 20;

pub(super) fn sum(condition: &str) -> String {
    format!("CAST(COALESCE(SUM({condition}), 0) AS SIGNED)")
}

pub(super) async fn app_names(pool: &Pool) -> Result<Vec<(i64, String, bool)>, sqlx::Error> {
    let rows: Vec<(i64, String, i64)> = sqlx::query_as(
        "SELECT CAST(id AS SIGNED), name, CAST(deprecated AS SIGNED) FROM app ORDER BY id",
    )
    .fetch_all(pool)
    .await?;
    Ok(rows.into_iter().map(|(id, n, d)| (id, n, d != 0)).collect())
}

async fn workunit_counts(pool: &Pool) -> Result<BTreeMap<i64, WorkunitCounts>, sqlx::Error> {
    let ready = AssimilateState::Ready as i32;
    let done = AssimilateState::Done as i32;
    let sql = format!(
        "SELECT CAST(appid AS SIGNED), CAST(COUNT(*) AS SIGNED), {}, {}, {}, {}, {} \
         FROM workunit GROUP BY appid",
        sum("canonical_resultid = 0 AND error_mask = 0"),
        sum("need_validate <> 0"),
        sum(&format!("assimilate_state = {ready}")),
        sum(&format!("assimilate_state = {done} AND error_mask = 0")),
        sum("error_mask <> 0"),
    );
    let rows: Vec<(i64, i64, i64, i64, i64, i64, i64)> =
        sqlx::query_as(AssertSqlSafe(sql)).fetch_all(pool).await?;
    Ok(rows
        .into_iter()
        .map(|(app, total, in_progress, nv, ar, assim, err)| {
            (
                app,
                WorkunitCounts {
                    total,
                    in_progress,
                    need_validate: nv,
                    assimilate_ready: ar,
                    assimilated: assim,
                    errored: err,
                },
            )
        })
        .collect())
}

async fn result_counts(pool: &Pool) -> Result<BTreeMap<i64, ResultCounts>, sqlx::Error> {
    let over = ServerState::Over as i32;
    let success = Outcome::Success as i32;
    let over_with =
        |outcome: Outcome| format!("server_state = {over} AND outcome = {}", outcome as i32);
    let sql = format!(
        "SELECT CAST(appid AS SIGNED), CAST(COUNT(*) AS SIGNED), {}, {}, {}, {}, {}, {}, {}, {}, {}, {} \
         FROM result GROUP BY appid",
        sum(&format!("server_state = {}", ServerState::Inactive as i32)),
        sum(&format!("server_state = {}", ServerState::Unsent as i32)),
        sum(&format!(
            "server_state = {}",
            ServerState::InProgress as i32
        )),
        sum(&format!(
            "server_state = {over} AND outcome = {success} AND validate_state IN ({}, {})",
            ValidateState::Init as i32,
            ValidateState::Inconclusive as i32
        )),
        sum(&format!(
            "server_state = {over} AND outcome = {success} AND validate_state = {}",
            ValidateState::Valid as i32
        )),
        sum(&format!(
            "server_state = {over} AND outcome = {success} AND validate_state IN ({}, {})",
            ValidateState::Invalid as i32,
            ValidateState::TooLate as i32
        )),
        sum(&over_with(Outcome::ClientError)),
        sum(&over_with(Outcome::NoReply)),
        sum(&over_with(Outcome::DidntNeed)),
        sum(&over_with(Outcome::ValidateError)),
    );
    type Row = (i64, i64, i64, i64, i64, i64, i64, i64, i64, i64, i64, i64);
    let rows: Vec<Row> = sqlx::query_as(AssertSqlSafe(sql)).fetch_all(pool).await?;
    Ok(rows
        .into_iter()
        .map(|r| {
            let mut c = ResultCounts {
                total: r.1,
                inactive: r.2,
                unsent: r.3,
                in_progress: r.4,
                pending_validation: r.5,
                valid: r.6,
                invalid: r.7,
                client_error: r.8,
                no_reply: r.9,
                didnt_need: r.10,
                validate_error: r.11,
                other: 0,
            };
            c.other = c.total
                - (c.inactive
                    + c.unsent
                    + c.in_progress
                    + c.pending_validation
                    + c.valid
                    + c.invalid
                    + c.client_error
                    + c.no_reply
                    + c.didnt_need
                    + c.validate_error);
            (r.0, c)
        })
        .collect())
}

/// Job counts for every app (apps without jobs included).
pub async fn apps(pool: &Pool) -> Result<Vec<AppCounts>, sqlx::Error> {
    let (names, mut wus, mut results) =
        tokio::try_join!(app_names(pool), workunit_counts(pool), result_counts(pool))?;
    Ok(names
        .into_iter()
        .map(|(appid, name, deprecated)| AppCounts {
            appid,
            name,
            deprecated,
            workunits: wus.remove(&appid).unwrap_or_default(),
            results: results.remove(&appid).unwrap_or_default(),
        })
        .collect())
}

/// The newest series and their progress; `None` if the series tables do not exist.
pub async fn series(pool: &Pool) -> Result<Option<Vec<SeriesProgress>>, sqlx::Error> {
    let done = AssimilateState::Done as i32;
    let in_progress = ServerState::InProgress as i32;
    let sql = format!(
        "SELECT CAST(s.id AS SIGNED), s.name, COALESCE(a.name, ''), CAST(s.state AS SIGNED), \
         CAST(s.rounds AS SIGNED), CAST(s.create_time AS SIGNED), \
         {created}, {cancelled}, {validated}, {assimilated}, {failed}, \
         CAST((SELECT COUNT(*) FROM rb_series_round r2 JOIN result x ON x.workunitid = r2.workunit_id \
               WHERE r2.series_id = s.id AND r2.workunit_id <> 0 AND x.server_state = {in_progress}) AS SIGNED) \
         FROM rb_series s \
         LEFT JOIN app a ON a.id = s.appid \
         LEFT JOIN rb_series_round r ON r.series_id = s.id \
         LEFT JOIN workunit w ON w.id = r.workunit_id AND r.workunit_id <> 0 \
         GROUP BY s.id ORDER BY s.id DESC LIMIT {SERIES_LIMIT}",
        created = sum("r.state = 1"),
        cancelled = sum("r.state = 2"),
        validated = sum("w.canonical_resultid <> 0"),
        assimilated = sum(&format!("w.assimilate_state = {done} AND w.error_mask = 0")),
        failed = sum("w.error_mask <> 0"),
    );
    type Row = (
        i64,
        String,
        String,
        i64,
        i64,
        i64,
        i64,
        i64,
        i64,
        i64,
        i64,
        i64,
    );
    let rows: Vec<Row> = match sqlx::query_as(AssertSqlSafe(sql)).fetch_all(pool).await {
        Ok(rows) => rows,
        // ER_NO_SUCH_TABLE: a database without our migrations 0002/0003.
        Err(sqlx::Error::Database(e)) if e.code().as_deref() == Some("42S02") => return Ok(None),
        Err(e) => return Err(e),
    };
    Ok(Some(
        rows.into_iter()
            .map(|r| SeriesProgress {
                id: r.0,
                name: r.1,
                app: r.2,
                cancelled: r.3 == 1,
                rounds: r.4,
                create_time: r.5,
                created: r.6,
                cancelled_rounds: r.7,
                validated: r.8,
                assimilated: r.9,
                failed: r.10,
                results_in_progress: r.11,
                configs: Vec::new(),
            })
            .collect(),
    ))
}

/// [`series`] with each sweep's configurations filled in.
pub async fn series_with_configs(pool: &Pool) -> Result<Option<Vec<SeriesProgress>>, sqlx::Error> {
    let Some(mut list) = series(pool).await? else {
        return Ok(None);
    };
    let mut configs = configs(pool, &list.iter().map(|s| s.id).collect::<Vec<_>>()).await?;
    for s in &mut list {
        s.configs = configs.remove(&s.id).unwrap_or_default();
    }
    Ok(Some(list))
}

/// The configurations of the sweeps among `series` (ids), by series; a series of one
/// configuration has none. A database without the `config` column (before migration 0004) has
/// no sweeps.
pub async fn configs(
    pool: &Pool,
    series: &[i64],
) -> Result<BTreeMap<i64, Vec<ConfigProgress>>, sqlx::Error> {
    if series.is_empty() {
        return Ok(BTreeMap::new());
    }
    let done = AssimilateState::Done as i32;
    let in_progress = ServerState::InProgress as i32;
    let ids: Vec<String> = series.iter().map(i64::to_string).collect();
    // The ids are integers read from the database, not request data.
    let sql = format!(
        "SELECT CAST(r.series_id AS SIGNED), CAST(r.config AS SIGNED),          CAST(COALESCE(MIN(r.params), MIN(s.params)) AS CHAR), CAST(COUNT(*) AS SIGNED),          {created}, {cancelled}, {validated}, {assimilated}, {failed},          CAST(COALESCE(SUM((SELECT COUNT(*) FROM result x WHERE x.workunitid = r.workunit_id                AND r.workunit_id <> 0 AND x.server_state = {in_progress})), 0) AS SIGNED)          FROM rb_series_round r          JOIN rb_series s ON s.id = r.series_id          LEFT JOIN workunit w ON w.id = r.workunit_id AND r.workunit_id <> 0          WHERE r.series_id IN ({ids})          GROUP BY r.series_id, r.config ORDER BY r.series_id, r.config",
        created = sum("r.state = 1"),
        cancelled = sum("r.state = 2"),
        validated = sum("w.canonical_resultid <> 0"),
        assimilated = sum(&format!("w.assimilate_state = {done} AND w.error_mask = 0")),
        failed = sum("w.error_mask <> 0"),
        ids = ids.join(","),
    );
    type Row = (i64, i64, String, i64, i64, i64, i64, i64, i64, i64);
    let rows: Vec<Row> = match sqlx::query_as(AssertSqlSafe(sql)).fetch_all(pool).await {
        Ok(rows) => rows,
        // ER_BAD_FIELD_ERROR: rb_series_round without migration 0004's `config`.
        Err(sqlx::Error::Database(e)) if e.code().as_deref() == Some("42S22") => {
            return Ok(BTreeMap::new());
        }
        Err(e) => return Err(e),
    };
    let mut by_series: BTreeMap<i64, Vec<(String, ConfigProgress)>> = BTreeMap::new();
    for r in rows {
        by_series.entry(r.0).or_default().push((
            r.2,
            ConfigProgress {
                config: r.1,
                label: String::new(),
                rounds: r.3,
                created: r.4,
                cancelled_rounds: r.5,
                validated: r.6,
                assimilated: r.7,
                failed: r.8,
                results_in_progress: r.9,
            },
        ));
    }
    Ok(by_series
        .into_iter()
        .filter(|(_, list)| list.len() > 1)
        .map(|(id, list)| (id, labelled(list)))
        .collect())
}

/// Names each configuration from its parameters' JSON, among its series' configurations.
fn labelled(list: Vec<(String, ConfigProgress)>) -> Vec<ConfigProgress> {
    let points: Vec<Option<SweepPoint>> = list
        .iter()
        .map(|(params, _)| serde_json::from_str(params).ok())
        .collect();
    let known: Vec<SweepPoint> = points.iter().flatten().copied().collect();
    list.into_iter()
        .zip(points)
        .map(|((_, mut c), point)| {
            c.label = match point {
                Some(p) => sweep::label(&p, &known),
                None => "?".to_string(),
            };
            c
        })
        .collect()
}

/// The hosts heard from most recently, and the totals.
pub async fn hosts(pool: &Pool, now: i64) -> Result<(Vec<HostLine>, HostTotals), sqlx::Error> {
    let in_progress = ServerState::InProgress as i32;
    let list_sql = format!(
        "SELECT CAST(h.id AS SIGNED), COALESCE(u.name, ''), COALESCE(h.domain_name, ''), \
         COALESCE(h.os_name, ''), COALESCE(h.p_model, ''), CAST(h.p_ncpus AS SIGNED), \
         CAST(h.create_time AS SIGNED), CAST(h.rpc_time AS SIGNED), COALESCE(h.last_ip_addr, ''), \
         CAST((SELECT COUNT(*) FROM result x WHERE x.hostid = h.id AND x.server_state = {in_progress}) AS SIGNED), \
         h.expavg_credit \
         FROM host h LEFT JOIN user u ON u.id = h.userid \
         ORDER BY h.rpc_time DESC, h.id DESC LIMIT {HOST_LIMIT}"
    );
    let totals_sql = format!(
        "SELECT CAST(COUNT(*) AS SIGNED), {}, {} FROM host",
        sum("rpc_time >= ?"),
        sum("rpc_time >= ?")
    );
    type Row = (
        i64,
        String,
        String,
        String,
        String,
        i64,
        i64,
        i64,
        String,
        i64,
        f64,
    );
    let list = sqlx::query_as::<_, Row>(AssertSqlSafe(list_sql)).fetch_all(pool);
    let totals = sqlx::query_as::<_, (i64, i64, i64)>(AssertSqlSafe(totals_sql))
        .bind(now - 3600)
        .bind(now - 86_400)
        .fetch_one(pool);
    let (rows, (total, last_hour, last_day)) = tokio::try_join!(list, totals)?;
    let lines = rows
        .into_iter()
        .map(|r| HostLine {
            id: r.0,
            user: r.1,
            domain_name: r.2,
            os_name: r.3,
            p_model: r.4,
            ncpus: r.5,
            create_time: r.6,
            rpc_time: r.7,
            last_ip_addr: r.8,
            results_in_progress: r.9,
            expavg_credit: r.10,
        })
        .collect();
    Ok((
        lines,
        HostTotals {
            total,
            last_hour,
            last_day,
        },
    ))
}

/// Everything the ops page shows from the database; `rule` is the scheduler's replica rule
/// (which rounds may wait for a host without a replica).
pub async fn snapshot(pool: &Pool, now: i64, rule: ReplicaRule) -> Result<Snapshot, sqlx::Error> {
    let now32 = i32::try_from(now).unwrap_or(i32::MAX);
    let (apps, series, (hosts, host_totals), error_hosts, blocked) = tokio::try_join!(
        apps(pool),
        series_with_configs(pool),
        hosts(pool, now),
        error_hosts(pool, now),
        replicas::blocked_rounds(pool, None, rule, now32)
    )?;
    Ok(Snapshot {
        apps,
        series,
        hosts,
        host_totals,
        error_hosts,
        blocked,
        replica_rule: Some(rule),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn series_states() {
        let mut s = SeriesProgress {
            rounds: 3,
            assimilated: 2,
            ..Default::default()
        };
        assert_eq!(s.state(), "running");
        s.failed = 1;
        assert_eq!(s.state(), "complete with failures");
        s.failed = 0;
        s.cancelled_rounds = 1;
        assert_eq!(s.state(), "complete");
        s.cancelled = true;
        assert_eq!(s.state(), "cancelled");
    }
}
