//! The daily job quota per host and app version (`daily_result_quota`), kept in
//! `host_app_version` as BOINC's scheduler keeps it.
//!
//! Each (host, generalized app version) row carries `max_jobs_per_day` and `n_jobs_today`:
//!
//! - at the start of an RPC a row with no quota yet gets `daily_result_quota`, and a row whose
//!   host last asked on an earlier day starts the day at zero jobs (BOINC's `update_quota`;
//!   BOINC compares the server's local day of the year, we compare UTC days);
//! - a version is not used while `n_jobs_today` has reached the quota scaled by the host's
//!   CPUs (or GPUs × `gpu_multiplier` for GPU versions); a quota of 1 is not scaled (BOINC's
//!   `scaled_max_jobs_per_day`);
//! - each job sent counts one (a resent lost job does not); a row is created on first use;
//! - a successful report doubles the row's quota up to `daily_result_quota`, a failed one (not
//!   aborted by the project) lowers it to one less than the smaller of the two, at least 1, and
//!   resets `consecutive_valid` (BOINC's `got_good_result` / `got_bad_result`); the validator
//!   restores it further on valid results;
//! - an RPC that sent nothing because of the quota says "This computer has finished a daily
//!   quota of N tasks".
//!
//! With `daily_result_quota` 0 nothing is limited. Only the three columns the scheduler owns
//! (`max_jobs_per_day`, `n_jobs_today`, `consecutive_valid`) are written, in the RPC's
//! transaction, and only for rows that changed; the statistics columns stay the validator's.
//! `host.max_results_day = -1` still bans a host outright (see the authentication step).

use std::collections::HashMap;

use rboinc_core::db::HostId;
use rboinc_core::db::host_app_version::HostAppVersionRow;
use sqlx::mysql::MySqlConnection;

const SECONDS_PER_DAY: i64 = 86_400;

/// The quota columns of one row, as loaded and as now.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
struct Counts {
    max_jobs_per_day: i32,
    n_jobs_today: i32,
    consecutive_valid: i32,
}

impl From<&HostAppVersionRow> for Counts {
    fn from(r: &HostAppVersionRow) -> Self {
        Counts {
            max_jobs_per_day: r.max_jobs_per_day,
            n_jobs_today: r.n_jobs_today,
            consecutive_valid: r.consecutive_valid,
        }
    }
}

/// One RPC's view of the host's quotas.
#[derive(Debug, Default)]
pub struct HostQuotas {
    host: HostId,
    daily_result_quota: i32,
    /// `<gpu_multiplier>`: a GPU version's quota counts each GPU this many times (0 or 1: once).
    pub gpu_multiplier: i64,
    /// By generalized app version id: (as loaded, or `None` for a new row; now).
    rows: HashMap<i64, (Option<Counts>, Counts)>,
    /// The quota of a version found exhausted in this RPC, for the reply's message.
    pub exhausted: Option<i32>,
}

impl HostQuotas {
    /// The host's rows at the start of an RPC at `now`; `last_rpc` is the host's previous RPC
    /// time.
    pub fn start(
        host: HostId,
        rows: &[HostAppVersionRow],
        daily_result_quota: u32,
        last_rpc: i64,
        now: i64,
    ) -> HostQuotas {
        let daily_result_quota = i32::try_from(daily_result_quota).unwrap_or(i32::MAX);
        let new_day = last_rpc.div_euclid(SECONDS_PER_DAY) != now.div_euclid(SECONDS_PER_DAY);
        let rows = rows
            .iter()
            .map(|r| {
                let loaded = Counts::from(r);
                let mut now = loaded;
                if daily_result_quota > 0 && now.max_jobs_per_day == 0 {
                    now.max_jobs_per_day = daily_result_quota;
                }
                if new_day {
                    now.n_jobs_today = 0;
                }
                (r.app_version_id, (Some(loaded), now))
            })
            .collect();
        HostQuotas {
            host,
            daily_result_quota,
            gpu_multiplier: 0,
            rows,
            exhausted: None,
        }
    }

    /// Whether version `gavid` has used its quota today; `scale` is the number of processors
    /// of its type (times `gpu_multiplier` for GPUs).
    pub fn exceeded(&mut self, gavid: i64, scale: f64) -> bool {
        if self.daily_result_quota == 0 {
            return false;
        }
        let Some((_, c)) = self.rows.get(&gavid) else {
            return false;
        };
        let n = c.max_jobs_per_day;
        let limit = if n == 1 {
            1
        } else {
            (f64::from(n) * scale.max(1.0)).min(f64::from(i32::MAX)) as i32
        };
        if c.n_jobs_today >= limit {
            self.exhausted = Some(n);
            return true;
        }
        false
    }

    /// A new job of version `gavid` was sent.
    pub fn job_sent(&mut self, gavid: i64) {
        let quota = self.daily_result_quota;
        let (_, c) = self.rows.entry(gavid).or_insert((
            None,
            Counts {
                max_jobs_per_day: quota,
                n_jobs_today: 0,
                consecutive_valid: 0,
            },
        ));
        c.n_jobs_today = c.n_jobs_today.saturating_add(1);
    }

    /// A result of version `gavid` was reported successful.
    pub fn good_result(&mut self, gavid: i64) {
        let quota = self.daily_result_quota;
        if let Some((_, c)) = self.rows.get_mut(&gavid)
            && c.max_jobs_per_day < quota
        {
            c.max_jobs_per_day = c.max_jobs_per_day.saturating_mul(2).min(quota);
        }
    }

    /// A result of version `gavid` was reported failed (not aborted by the project).
    pub fn bad_result(&mut self, gavid: i64) {
        let quota = self.daily_result_quota;
        if let Some((_, c)) = self.rows.get_mut(&gavid) {
            c.max_jobs_per_day = (c.max_jobs_per_day.min(quota) - 1).max(1);
            c.consecutive_valid = 0;
        }
    }

    /// `(max_jobs_per_day, consecutive_valid)` of version `gavid` as they now are.
    pub fn current(&self, gavid: i64) -> Option<(i32, i32)> {
        self.rows
            .get(&gavid)
            .map(|(_, c)| (c.max_jobs_per_day, c.consecutive_valid))
    }

    /// Whether any row differs from what was loaded.
    pub fn changed(&self) -> bool {
        self.rows
            .values()
            .any(|(loaded, now)| *loaded != Some(*now))
    }

    /// Writes the rows that changed: the quota columns of existing rows, whole new rows.
    pub async fn write(&self, conn: &mut MySqlConnection) -> Result<(), sqlx::Error> {
        for (gavid, (loaded, now)) in &self.rows {
            if *loaded == Some(*now) {
                continue;
            }
            sqlx::query(
                "INSERT INTO host_app_version (host_id, app_version_id, pfc_n, pfc_avg, et_n, \
                 et_avg, et_var, et_q, max_jobs_per_day, n_jobs_today, turnaround_n, \
                 turnaround_avg, turnaround_var, turnaround_q, consecutive_valid) \
                 VALUES (?, ?, 0, 0, 0, 0, 0, 0, ?, ?, 0, 0, 0, 0, ?) \
                 ON DUPLICATE KEY UPDATE max_jobs_per_day = VALUES(max_jobs_per_day), \
                 n_jobs_today = VALUES(n_jobs_today), consecutive_valid = VALUES(consecutive_valid)",
            )
            .bind(self.host)
            .bind(gavid)
            .bind(now.max_jobs_per_day)
            .bind(now.n_jobs_today)
            .bind(now.consecutive_valid)
            .execute(&mut *conn)
            .await?;
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn row(gavid: i64, max: i32, today: i32) -> HostAppVersionRow {
        HostAppVersionRow {
            app_version_id: gavid,
            max_jobs_per_day: max,
            n_jobs_today: today,
            consecutive_valid: 3,
            ..Default::default()
        }
    }

    const DAY: i64 = 86_400;

    #[test]
    fn a_new_row_gets_the_configured_quota_and_a_new_day_starts_at_zero() {
        let q = HostQuotas::start(HostId(1), &[row(7, 0, 5)], 100, 10 * DAY + 5, 10 * DAY + 50);
        assert_eq!(q.rows[&7].1.max_jobs_per_day, 100);
        assert_eq!(q.rows[&7].1.n_jobs_today, 5, "same day");
        let q = HostQuotas::start(HostId(1), &[row(7, 40, 5)], 100, 10 * DAY - 5, 10 * DAY + 5);
        assert_eq!(
            q.rows[&7].1,
            Counts {
                max_jobs_per_day: 40,
                n_jobs_today: 0,
                consecutive_valid: 3
            }
        );
        assert!(q.changed());
    }

    #[test]
    fn the_quota_scales_with_processors_except_a_quota_of_one() {
        let mut q = HostQuotas::start(HostId(1), &[row(7, 3, 5), row(8, 1, 1)], 100, DAY, DAY);
        assert!(!q.exceeded(7, 2.0), "5 < 3 × 2");
        q.job_sent(7);
        assert!(q.exceeded(7, 2.0), "6 = 3 × 2");
        assert_eq!(q.exhausted, Some(3));
        assert!(q.exceeded(8, 16.0), "a quota of 1 is 1 whatever the CPUs");
        assert!(!q.exceeded(9, 1.0), "no row, no limit");
        // Without a configured quota nothing is limited.
        let mut free = HostQuotas::start(HostId(1), &[row(7, 3, 50)], 0, DAY, DAY);
        assert!(!free.exceeded(7, 1.0));
    }

    #[test]
    fn errors_lower_and_successes_double_the_quota_as_boinc_does() {
        let mut q = HostQuotas::start(HostId(1), &[row(7, 100, 0)], 100, DAY, DAY);
        q.bad_result(7);
        assert_eq!(q.rows[&7].1.max_jobs_per_day, 99);
        assert_eq!(q.rows[&7].1.consecutive_valid, 0);
        for _ in 0..200 {
            q.bad_result(7);
        }
        assert_eq!(q.rows[&7].1.max_jobs_per_day, 1, "never below 1");
        q.good_result(7);
        q.good_result(7);
        assert_eq!(q.rows[&7].1.max_jobs_per_day, 4);
        for _ in 0..10 {
            q.good_result(7);
        }
        assert_eq!(
            q.rows[&7].1.max_jobs_per_day, 100,
            "capped by daily_result_quota"
        );
        // A quota above the configured one (the configuration was lowered) drops to it - 1.
        let mut q = HostQuotas::start(HostId(1), &[row(7, 500, 0)], 100, DAY, DAY);
        q.bad_result(7);
        assert_eq!(q.rows[&7].1.max_jobs_per_day, 99);
    }

    #[test]
    fn a_first_job_creates_the_row() {
        let mut q = HostQuotas::start(HostId(1), &[], 100, DAY, DAY);
        assert!(!q.changed());
        q.job_sent(42);
        q.job_sent(42);
        assert_eq!(
            q.rows[&42],
            (
                None,
                Counts {
                    max_jobs_per_day: 100,
                    n_jobs_today: 2,
                    consecutive_valid: 0
                }
            )
        );
        assert!(q.changed());
    }
}
