//! Granting credit to hosts, their owners and the owners' teams (BOINC's `grant_credit`), for a
//! whole batch of results at once.
//!
//! The C++ validator reads the user (and team) row for every granted result and writes it back
//! at once. Here the batch's hosts, users and teams are read in three queries, grants accumulate
//! in memory (in the same order, so a host credited twice in one batch gets the same numbers),
//! and [`CreditLedger::queue_writes`] turns the changes into three bulk updates. Totals are
//! written as increments (`total_credit = total_credit + x`), so concurrent grants by another
//! validator add up; the recent averages are written as values, as BOINC does.

use std::collections::HashMap;

use rboinc_core::db::{HostId, TeamId, UserId};
use rboinc_core::state::CREDIT_HALF_LIFE;
use sqlx::MySqlConnection;

use super::average::decay_average;
use crate::bulk::{Assign, BulkUpdate, id_list};

/// The credit columns of a host, user or team.
#[derive(Debug, Clone, Copy, PartialEq, Default)]
struct Totals {
    total_credit: f64,
    expavg_credit: f64,
    expavg_time: f64,
}

#[derive(Debug, Clone, sqlx::FromRow)]
struct HostCreditRow {
    id: HostId,
    userid: UserId,
    avg_turnaround: f64,
    total_credit: f64,
    expavg_credit: f64,
    expavg_time: f64,
}

#[derive(Debug, Clone)]
struct HostEntry {
    userid: UserId,
    read: (f64, Totals),
    now: (f64, Totals),
}

#[derive(Debug, Clone, sqlx::FromRow)]
struct AccountRow {
    id: i64,
    teamid: i64,
    expavg_credit: f64,
    expavg_time: f64,
}

#[derive(Debug, Clone)]
struct AccountEntry {
    teamid: TeamId,
    granted: f64,
    expavg_credit: f64,
    expavg_time: f64,
    touched: bool,
}

/// Why a grant reached only part of the chain host → user → team.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub enum GrantError {
    #[error("host {0} not found")]
    NoHost(HostId),
    #[error("user {0} (owner of the host) not found")]
    NoUser(UserId),
    #[error("team {0} (of the host's owner) not found")]
    NoTeam(TeamId),
}

/// Hosts, users and teams of one batch, with the credit granted to them so far.
#[derive(Debug, Default)]
pub struct CreditLedger {
    hosts: HashMap<HostId, HostEntry>,
    users: HashMap<UserId, AccountEntry>,
    teams: HashMap<TeamId, AccountEntry>,
}

impl CreditLedger {
    /// Reads the hosts `ids` (missing ones stay missing), their owners and the owners' teams;
    /// with `lock`, `FOR UPDATE` (in the caller's transaction), hosts, then users, then teams,
    /// each in id order, so two writers never wait for each other in a cycle.
    pub async fn load(
        conn: &mut MySqlConnection,
        ids: impl IntoIterator<Item = HostId>,
        lock: bool,
    ) -> Result<Self, sqlx::Error> {
        let suffix = if lock { " ORDER BY id FOR UPDATE" } else { "" };
        let mut ids: Vec<i64> = ids.into_iter().map(HostId::get).collect();
        ids.sort();
        ids.dedup();
        let mut ledger = CreditLedger::default();
        if ids.is_empty() {
            return Ok(ledger);
        }
        let sql = format!(
            "SELECT id, userid, avg_turnaround, total_credit, expavg_credit, expavg_time \
             FROM host WHERE id IN ({}){suffix}",
            id_list(ids)
        );
        let hosts: Vec<HostCreditRow> = sqlx::query_as(sqlx::AssertSqlSafe(sql))
            .fetch_all(&mut *conn)
            .await?;
        for h in hosts {
            let totals = Totals {
                total_credit: h.total_credit,
                expavg_credit: h.expavg_credit,
                expavg_time: h.expavg_time,
            };
            ledger.hosts.insert(
                h.id,
                HostEntry {
                    userid: h.userid,
                    read: (h.avg_turnaround, totals),
                    now: (h.avg_turnaround, totals),
                },
            );
        }
        let user_ids: Vec<i64> = ledger.hosts.values().map(|h| h.userid.get()).collect();
        for u in read_accounts(conn, "user", "teamid", user_ids, suffix).await? {
            ledger.users.insert(UserId(u.id), account(&u));
        }
        let team_ids: Vec<i64> = ledger
            .users
            .values()
            .map(|u| u.teamid.get())
            .filter(|t| *t != 0)
            .collect();
        for t in read_accounts(conn, "team", "0", team_ids, suffix).await? {
            ledger.teams.insert(TeamId(t.id), account(&t));
        }
        Ok(ledger)
    }

    /// Whether the host exists.
    pub fn has_host(&self, host: HostId) -> bool {
        self.hosts.contains_key(&host)
    }

    /// The owner of a host.
    pub fn host_owner(&self, host: HostId) -> Option<UserId> {
        self.hosts.get(&host).map(|h| h.userid)
    }

    /// Adds a turnaround sample (seconds from sending to reporting) to the host's average: the
    /// first sample as it is, then 0.7 × old + 0.3 × new.
    pub fn record_turnaround(&mut self, host: HostId, turnaround: f64) {
        if let Some(h) = self.hosts.get_mut(&host) {
            let old = h.now.0;
            h.now.0 = if old == 0.0 {
                turnaround
            } else {
                0.7 * old + 0.3 * turnaround
            };
        }
    }

    /// Grants `credit` for work started at `start_time` to the host, its owner and the owner's
    /// team. As in BOINC, a missing user or team stops the chain there (what was granted stays).
    pub fn grant(
        &mut self,
        host: HostId,
        start_time: f64,
        credit: f64,
        now: f64,
    ) -> Result<(), GrantError> {
        let h = self.hosts.get_mut(&host).ok_or(GrantError::NoHost(host))?;
        let t = &mut h.now.1;
        decay_average(
            now,
            start_time,
            credit,
            CREDIT_HALF_LIFE,
            &mut t.expavg_credit,
            &mut t.expavg_time,
        );
        t.total_credit += credit;
        let userid = h.userid;
        let user = self
            .users
            .get_mut(&userid)
            .ok_or(GrantError::NoUser(userid))?;
        user.credit(start_time, credit, now);
        let teamid = user.teamid;
        if teamid.get() != 0 {
            self.teams
                .get_mut(&teamid)
                .ok_or(GrantError::NoTeam(teamid))?
                .credit(start_time, credit, now);
        }
        Ok(())
    }

    /// Queues the changed columns: hosts as BOINC's `update_diff_validator` (only what
    /// changed), users and teams that were granted anything.
    pub fn queue_writes(
        &self,
        hosts: &mut BulkUpdate,
        users: &mut BulkUpdate,
        teams: &mut BulkUpdate,
    ) {
        for (id, h) in &self.hosts {
            let key = [id.get()];
            let ((turn0, t0), (turn1, t1)) = (h.read, h.now);
            if turn1 != turn0 {
                hosts.set(&key, "avg_turnaround", Assign::Set(turn1.into()));
            }
            if t1.total_credit != t0.total_credit {
                let delta = t1.total_credit - t0.total_credit;
                hosts.set(&key, "total_credit", Assign::Add(delta.into()));
            }
            if t1.expavg_credit != t0.expavg_credit {
                hosts.set(&key, "expavg_credit", Assign::Set(t1.expavg_credit.into()));
            }
            if t1.expavg_time != t0.expavg_time {
                hosts.set(&key, "expavg_time", Assign::Set(t1.expavg_time.into()));
            }
        }
        for (id, u) in &self.users {
            u.queue(id.get(), users);
        }
        for (id, t) in &self.teams {
            t.queue(id.get(), teams);
        }
    }

    /// Empty bulk updates for [`CreditLedger::queue_writes`].
    pub fn bulk_updates() -> (BulkUpdate, BulkUpdate, BulkUpdate) {
        (
            BulkUpdate::new("host", &["id"]),
            BulkUpdate::new("user", &["id"]),
            BulkUpdate::new("team", &["id"]),
        )
    }
}

#[cfg(test)]
impl CreditLedger {
    /// A ledger holding `hosts`, each owned by the user with the same id, in no team (for unit
    /// tests of the code that grants credit).
    pub(crate) fn with_hosts(hosts: &[HostId]) -> Self {
        let mut l = CreditLedger::default();
        for &h in hosts {
            let userid = UserId(h.get());
            l.hosts.insert(
                h,
                HostEntry {
                    userid,
                    read: (0.0, Totals::default()),
                    now: (0.0, Totals::default()),
                },
            );
            l.users.insert(
                userid,
                AccountEntry {
                    teamid: TeamId(0),
                    granted: 0.0,
                    expavg_credit: 0.0,
                    expavg_time: 0.0,
                    touched: false,
                },
            );
        }
        l
    }

    /// The total credit of a host so far.
    pub(crate) fn host_total_credit(&self, host: HostId) -> Option<f64> {
        self.hosts.get(&host).map(|h| h.now.1.total_credit)
    }
}

impl AccountEntry {
    fn credit(&mut self, start_time: f64, credit: f64, now: f64) {
        decay_average(
            now,
            start_time,
            credit,
            CREDIT_HALF_LIFE,
            &mut self.expavg_credit,
            &mut self.expavg_time,
        );
        self.granted += credit;
        self.touched = true;
    }

    fn queue(&self, id: i64, update: &mut BulkUpdate) {
        if !self.touched {
            return;
        }
        update.set(&[id], "total_credit", Assign::Add(self.granted.into()));
        update.set(
            &[id],
            "expavg_credit",
            Assign::Set(self.expavg_credit.into()),
        );
        update.set(&[id], "expavg_time", Assign::Set(self.expavg_time.into()));
    }
}

fn account(row: &AccountRow) -> AccountEntry {
    AccountEntry {
        teamid: TeamId(row.teamid),
        granted: 0.0,
        expavg_credit: row.expavg_credit,
        expavg_time: row.expavg_time,
        touched: false,
    }
}

async fn read_accounts(
    conn: &mut MySqlConnection,
    table: &str,
    teamid_column: &str,
    mut ids: Vec<i64>,
    suffix: &str,
) -> Result<Vec<AccountRow>, sqlx::Error> {
    ids.sort();
    ids.dedup();
    if ids.is_empty() {
        return Ok(Vec::new());
    }
    let sql = format!(
        "SELECT id, CAST({teamid_column} AS SIGNED) AS teamid, expavg_credit, expavg_time \
         FROM `{table}` WHERE id IN ({}){suffix}",
        id_list(ids)
    );
    sqlx::query_as(sqlx::AssertSqlSafe(sql))
        .fetch_all(&mut *conn)
        .await
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ledger() -> CreditLedger {
        let mut l = CreditLedger::default();
        l.hosts.insert(
            HostId(1),
            HostEntry {
                userid: UserId(10),
                read: (0.0, Totals::default()),
                now: (0.0, Totals::default()),
            },
        );
        l.users.insert(
            UserId(10),
            AccountEntry {
                teamid: TeamId(5),
                granted: 0.0,
                expavg_credit: 0.0,
                expavg_time: 0.0,
                touched: false,
            },
        );
        l
    }

    #[test]
    fn a_grant_reaches_host_and_user_and_stops_at_a_missing_team() {
        let mut l = ledger();
        let e = l.grant(HostId(1), 1000.0, 2.0, 1000.0 + 86400.0);
        assert_eq!(e, Err(GrantError::NoTeam(TeamId(5))));
        let (mut h, mut u, mut t) = CreditLedger::bulk_updates();
        l.queue_writes(&mut h, &mut u, &mut t);
        assert_eq!((h.len(), u.len(), t.len()), (1, 1, 0));
        let host = &l.hosts[&HostId(1)].now.1;
        assert_eq!(host.total_credit, 2.0);
        assert_eq!(host.expavg_credit, 2.0, "2 credits in one day");
    }

    #[test]
    fn turnaround_average() {
        let mut l = ledger();
        l.record_turnaround(HostId(1), 100.0);
        l.record_turnaround(HostId(1), 200.0);
        assert!((l.hosts[&HostId(1)].now.0 - 130.0).abs() < 1e-9);
        assert_eq!(
            l.grant(HostId(2), 0.0, 1.0, 1.0),
            Err(GrantError::NoHost(HostId(2)))
        );
    }
}
