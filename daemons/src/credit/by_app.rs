//! Per-app credit (`<credit_by_app>`): BOINC's `credit_user` and `credit_team` rows, one per
//! (user, app) and (team, app), with the number of credited jobs, the total and the recent
//! average.
//!
//! As BOINC's `grant_credit_by_app`, a grant goes to the *result's* `userid` and `teamid`
//! (team 0 included: credit of users in no team is kept too), and a missing row is created
//! with its average time set to now. BOINC looks each row up and writes it back per result;
//! here the batch's rows are read once with locks, grants chain in memory in the same order,
//! and one `INSERT … ON DUPLICATE KEY UPDATE` per table writes them, totals and job counts as
//! increments.
//!
//! The tables come with BOINC's `schema.sql` (a database made by stock `make_project` has
//! them); rboinc's migrations create only its own `rb_` tables, so [`tables_exist`] lets the
//! validator refuse to start with `<credit_by_app>` on a database without them.

use std::collections::BTreeMap;
use std::fmt::Write as _;

use rboinc_core::state::CREDIT_HALF_LIFE;
use sqlx::MySqlConnection;

use super::average::decay_average;

/// (user or team id, app id).
pub type AppKey = (i64, i64);

#[derive(Debug, Clone, Copy, PartialEq)]
struct Entry {
    njobs: i64,
    granted: f64,
    expavg: f64,
    expavg_time: f64,
}

/// The `credit_user` and `credit_team` rows of a batch, with the grants so far.
#[derive(Debug, Default)]
pub struct AppCreditLedger {
    users: BTreeMap<AppKey, Entry>,
    teams: BTreeMap<AppKey, Entry>,
}

/// Whether the database has both tables.
pub async fn tables_exist(conn: &mut MySqlConnection) -> Result<bool, sqlx::Error> {
    let n: i64 = sqlx::query_scalar(
        "SELECT COUNT(*) FROM information_schema.tables \
         WHERE table_schema = DATABASE() AND table_name IN ('credit_user', 'credit_team')",
    )
    .fetch_one(conn)
    .await?;
    Ok(n == 2)
}

impl AppCreditLedger {
    /// Reads (and locks, `FOR UPDATE` in the caller's transaction) the rows of `users` and
    /// `teams`; missing ones start empty when first granted.
    pub async fn load(
        conn: &mut MySqlConnection,
        users: impl IntoIterator<Item = AppKey>,
        teams: impl IntoIterator<Item = AppKey>,
    ) -> Result<Self, sqlx::Error> {
        let mut ledger = AppCreditLedger::default();
        for (table, column, keys, map) in [
            ("credit_user", "userid", collect(users), &mut ledger.users),
            ("credit_team", "teamid", collect(teams), &mut ledger.teams),
        ] {
            if keys.is_empty() {
                continue;
            }
            let mut list = String::new();
            for (i, (id, app)) in keys.iter().enumerate() {
                if i > 0 {
                    list.push(',');
                }
                write!(list, "({id},{app})").expect("writing to a String");
            }
            let sql = format!(
                "SELECT {column}, appid, expavg, expavg_time FROM {table} \
                 WHERE credit_type = 0 AND ({column}, appid) IN ({list}) \
                 ORDER BY {column}, appid FOR UPDATE"
            );
            let rows: Vec<(i64, i64, f64, f64)> = sqlx::query_as(sqlx::AssertSqlSafe(sql))
                .fetch_all(&mut *conn)
                .await?;
            for (id, app, expavg, expavg_time) in rows {
                map.insert(
                    (id, app),
                    Entry {
                        njobs: 0,
                        granted: 0.0,
                        expavg,
                        expavg_time,
                    },
                );
            }
        }
        Ok(ledger)
    }

    /// Grants `credit` for work started at `start_time` to the (user, app) and (team, app)
    /// rows.
    pub fn grant(&mut self, user: AppKey, team: AppKey, start_time: f64, credit: f64, now: f64) {
        for (map, key) in [(&mut self.users, user), (&mut self.teams, team)] {
            let e = map.entry(key).or_insert(Entry {
                njobs: 0,
                granted: 0.0,
                expavg: 0.0,
                expavg_time: now,
            });
            decay_average(
                now,
                start_time,
                credit,
                CREDIT_HALF_LIFE,
                &mut e.expavg,
                &mut e.expavg_time,
            );
            e.granted += credit;
            e.njobs += 1;
        }
    }

    /// Writes the granted rows (creating missing ones) on `conn`, in the caller's transaction.
    pub async fn write(&self, conn: &mut MySqlConnection) -> Result<(), sqlx::Error> {
        for (table, column, map) in [
            ("credit_user", "userid", &self.users),
            ("credit_team", "teamid", &self.teams),
        ] {
            let granted: Vec<_> = map.iter().filter(|(_, e)| e.njobs > 0).collect();
            if granted.is_empty() {
                continue;
            }
            let mut q = sqlx::QueryBuilder::<sqlx::MySql>::new(format!(
                "INSERT INTO {table} ({column}, appid, njobs, total, expavg, expavg_time, credit_type) "
            ));
            q.push_values(granted, |mut v, ((id, app), e)| {
                v.push_bind(*id)
                    .push_bind(*app)
                    .push_bind(e.njobs)
                    .push_bind(e.granted)
                    .push_bind(e.expavg)
                    .push_bind(e.expavg_time)
                    .push_bind(0);
            });
            q.push(
                " ON DUPLICATE KEY UPDATE njobs = njobs + VALUES(njobs), total = total + VALUES(total), \
                 expavg = VALUES(expavg), expavg_time = VALUES(expavg_time)",
            );
            q.build().execute(&mut *conn).await?;
        }
        Ok(())
    }
}

fn collect(keys: impl IntoIterator<Item = AppKey>) -> Vec<AppKey> {
    let mut v: Vec<AppKey> = keys.into_iter().collect();
    v.sort();
    v.dedup();
    v
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn grants_chain_per_user_and_team_and_count_jobs() {
        let mut l = AppCreditLedger::default();
        let now = 1e9;
        l.grant((1, 1), (0, 1), now - 3600.0, 10.0, now);
        l.grant((1, 1), (0, 1), now - 3600.0, 5.0, now);
        l.grant((2, 1), (0, 1), now - 3600.0, 1.0, now);
        let u1 = l.users[&(1, 1)];
        assert_eq!((u1.njobs, u1.granted), (2, 15.0));
        let t0 = l.teams[&(0, 1)];
        assert_eq!((t0.njobs, t0.granted), (3, 16.0));
        // A new row starts with its average time at now: BOINC's first-grant branch.
        let ln2 = std::f64::consts::LN_2;
        let first = ln2 * 10.0 * 86400.0 / CREDIT_HALF_LIFE;
        assert!(u1.expavg > first, "{} vs {first}", u1.expavg);
        assert_eq!(u1.expavg_time, now);
    }
}
