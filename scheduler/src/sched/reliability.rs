//! Adaptive replication and reliable hosts: what the host's record with each app version
//! (`host_app_version`) says about trusting its results, as BOINC's scheduler decides it
//! (`get_reliability_version`, `set_trust` in sched_send.cpp).
//!
//! Per (host, generalized app version), once per RPC:
//!
//! - **reliable** unless, with `reliable_max_avg_turnaround` set and more than 10 turnaround
//!   samples, the average turnaround exceeds it (× 1.8 on platforms other than Windows, Linux
//!   and Intel Macs); or fewer than 10 consecutive valid results; or, with a
//!   `daily_result_quota`, a daily quota below it (the host has failed lately). Results with
//!   priority ≥ `reliable_on_priority` go only to a version the host is reliable for (beta
//!   apps excepted), and are sent with the delay bound shortened by
//!   `reliable_reduced_delay_bound` ([`Trust::delay_bounds`], BOINC's
//!   `get_delay_bound_range`).
//! - **trusted** (may run a job alone) with at least 10 consecutive valid results, and then
//!   only with probability 1 − 1/`consecutive_valid`, so even a good host's results keep
//!   being checked now and then. A job of an app with `target_nresults` > 1 whose workunit was
//!   created with one replica is replicated when it goes to a host not trusted for its
//!   version: the workunit's `target_nresults` and `min_quorum` become the app's, and the
//!   transitioner creates the other replicas ([`replicate`]).
//!
//! A version the host has no row for is neither. `reliable_max_error_rate` is not read: BOINC
//! replaced the host error rate with the count of consecutive valid results.

use std::collections::HashMap;

use rand::Rng;
use rboinc_core::config::SchedConfig;
use rboinc_core::db::WorkunitId;
use rboinc_core::db::host_app_version::HostAppVersionRow;
use sqlx::mysql::MySqlConnection;

/// Consecutive valid results from which a host may be reliable (`CONS_VALID_RELIABLE`).
pub const CONS_VALID_RELIABLE: i32 = 10;
/// Consecutive valid results from which a host may run jobs alone (`CONS_VALID_UNREPLICATED`).
pub const CONS_VALID_UNREPLICATED: i32 = 10;
/// Turnaround samples above which the average counts (`MIN_HOST_SAMPLES`).
const MIN_HOST_SAMPLES: f64 = 10.0;

/// What the host's record with one version says right now (after this RPC's reports).
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Record {
    pub turnaround_n: f64,
    pub turnaround_avg: f64,
    pub consecutive_valid: i32,
    pub max_jobs_per_day: i32,
}

impl Record {
    /// The row's figures, with the quota columns as they now are.
    pub fn of(row: &HostAppVersionRow, max_jobs_per_day: i32, consecutive_valid: i32) -> Record {
        Record {
            turnaround_n: row.turnaround_n,
            turnaround_avg: row.turnaround_avg,
            consecutive_valid,
            max_jobs_per_day,
        }
    }
}

/// The turnaround limit's multiplier for a host: 1 on Windows, Linux and Intel Macs, 1.8
/// elsewhere.
pub fn turnaround_multiplier(os_name: &str, p_vendor: &str) -> f64 {
    let fast = os_name.contains("Windows")
        || os_name.contains("Linux")
        || (os_name.contains("Darwin") && !p_vendor.contains("Power Macintosh"));
    if fast { 1.0 } else { 1.8 }
}

/// BOINC's `get_reliability_version`.
pub fn is_reliable(r: &Record, sched: &SchedConfig, multiplier: f64) -> bool {
    let limit = f64::from(sched.reliable_max_avg_turnaround);
    if sched.reliable_max_avg_turnaround != 0
        && r.turnaround_n > MIN_HOST_SAMPLES
        && r.turnaround_avg > limit * multiplier
    {
        return false;
    }
    if r.consecutive_valid < CONS_VALID_RELIABLE {
        return false;
    }
    let quota = i64::from(sched.daily_result_quota);
    !(quota != 0 && i64::from(r.max_jobs_per_day) < quota)
}

/// BOINC's `set_trust`; `draw` is uniform in [0, 1).
pub fn is_trusted(consecutive_valid: i32, draw: f64) -> bool {
    consecutive_valid >= CONS_VALID_UNREPLICATED && draw > 1.0 / f64::from(consecutive_valid)
}

/// One RPC's verdicts, by generalized app version id.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Trust {
    /// (reliable, trusted).
    verdicts: HashMap<i64, (bool, bool)>,
    reliable_on_priority: i32,
    reliable_reduced_delay_bound: f64,
}

impl Trust {
    /// The verdicts for the host's versions, drawing each trust once.
    pub fn decide(
        records: impl IntoIterator<Item = (i64, Record)>,
        sched: &SchedConfig,
        multiplier: f64,
        rng: &mut impl Rng,
    ) -> Trust {
        let verdicts = records
            .into_iter()
            .map(|(gavid, r)| {
                let reliable = is_reliable(&r, sched, multiplier);
                let trusted = is_trusted(r.consecutive_valid, rng.r#gen::<f64>());
                tracing::trace!(gavid, reliable, trusted, "host app version standing");
                (gavid, (reliable, trusted))
            })
            .collect();
        Trust {
            verdicts,
            reliable_on_priority: sched.reliable_on_priority,
            reliable_reduced_delay_bound: sched.reliable_reduced_delay_bound,
        }
    }

    pub fn reliable(&self, gavid: i64) -> bool {
        self.verdicts.get(&gavid).is_some_and(|v| v.0)
    }

    pub fn trusted(&self, gavid: i64) -> bool {
        self.verdicts.get(&gavid).is_some_and(|v| v.1)
    }

    /// Whether a result of this priority goes only to reliable hosts (BOINC's
    /// `need_reliable`).
    pub fn needs_reliable(&self, priority: i32) -> bool {
        self.reliable_on_priority != 0 && priority >= self.reliable_on_priority
    }

    /// The delay bounds to try for a new job, the shorter first (BOINC's
    /// `get_delay_bound_range` for an unsent result): the workunit's, or for a job that needs
    /// a reliable host its share `reliable_reduced_delay_bound`, raised to twice the estimated
    /// run time when that lies between the two.
    pub fn delay_bounds(&self, priority: i32, delay_bound: i32, est_secs: f64) -> (f64, f64) {
        let full = f64::from(delay_bound);
        let frac = self.reliable_reduced_delay_bound;
        if !self.needs_reliable(priority) || frac <= 0.01 {
            return (full, full);
        }
        let mut opt = full * frac;
        let twice = est_secs * 2.0;
        if twice > opt && twice < full && twice < full * frac * 2.0 {
            opt = twice;
        }
        (opt, full)
    }
}

/// Makes a single-replica workunit of an app with `target_nresults` = `n` > 1 replicated, as
/// BOINC does when such a job goes to a host not trusted for its version; the transitioner,
/// woken by `transition_time`, creates the other replicas. False if the workunit was no
/// longer single.
pub async fn replicate(
    conn: &mut MySqlConnection,
    wu_id: WorkunitId,
    n: i32,
    now: i64,
) -> Result<bool, sqlx::Error> {
    let done = sqlx::query(
        "UPDATE workunit SET target_nresults = ?, min_quorum = ?, transition_time = ? \
         WHERE id = ? AND target_nresults = 1",
    )
    .bind(n)
    .bind(n)
    .bind(now)
    .bind(wu_id)
    .execute(conn)
    .await?;
    Ok(done.rows_affected() > 0)
}

#[cfg(test)]
mod tests {
    use super::*;
    use rboinc_core::config::Config;

    fn sched(extra: &str) -> SchedConfig {
        let text = format!("<boinc><config><db_name>x</db_name>{extra}</config></boinc>");
        Config::from_str_at(
            &text,
            std::path::Path::new("/p/config.xml"),
            std::path::Path::new("/p"),
            "h",
        )
        .unwrap()
        .sched
    }

    fn record(consecutive_valid: i32) -> Record {
        Record {
            turnaround_n: 20.0,
            turnaround_avg: 5000.0,
            consecutive_valid,
            max_jobs_per_day: 100,
        }
    }

    #[test]
    fn reliable_takes_ten_valid_results_a_full_quota_and_a_quick_turnaround() {
        let s = sched(
            "<daily_result_quota>100</daily_result_quota>\
             <reliable_max_avg_turnaround>4000</reliable_max_avg_turnaround>",
        );
        assert!(!is_reliable(&record(10), &s, 1.0), "5000 s > 4000 s");
        assert!(is_reliable(&record(10), &s, 1.8), "5000 s < 4000 × 1.8 s");
        let few = Record {
            turnaround_n: 10.0,
            ..record(10)
        };
        assert!(
            is_reliable(&few, &s, 1.0),
            "10 samples are not enough to judge"
        );
        assert!(!is_reliable(&record(9), &s, 1.8));
        let penalised = Record {
            max_jobs_per_day: 99,
            ..record(50)
        };
        assert!(!is_reliable(&penalised, &s, 1.8));
        assert!(
            is_reliable(&penalised, &sched(""), 1.0),
            "no quota configured"
        );
        assert_eq!(turnaround_multiplier("Linux Debian", "AuthenticAMD"), 1.0);
        assert_eq!(turnaround_multiplier("Darwin", "Power Macintosh"), 1.8);
        assert_eq!(turnaround_multiplier("FreeBSD", "x"), 1.8);
    }

    #[test]
    fn trust_is_drawn_with_probability_one_minus_one_over_consecutive_valid() {
        assert!(!is_trusted(9, 0.999));
        assert!(!is_trusted(10, 0.1), "0.1 is not above 1/10");
        assert!(is_trusted(10, 0.11));
        assert!(is_trusted(1000, 0.002));
    }

    #[test]
    fn reliable_jobs_get_the_reduced_delay_bound_or_twice_their_run_time() {
        let s = sched(
            "<reliable_on_priority>5</reliable_on_priority>\
             <reliable_reduced_delay_bound>0.5</reliable_reduced_delay_bound>",
        );
        let t = Trust::decide(Vec::new(), &s, 1.0, &mut rand::thread_rng());
        assert!(!t.needs_reliable(4));
        assert_eq!(t.delay_bounds(4, 1000, 10.0), (1000.0, 1000.0));
        assert_eq!(t.delay_bounds(5, 1000, 10.0), (500.0, 1000.0));
        assert_eq!(t.delay_bounds(5, 1000, 300.0), (600.0, 1000.0), "2 × 300 s");
        assert_eq!(t.delay_bounds(5, 1000, 200.0), (500.0, 1000.0));
        assert_eq!(
            t.delay_bounds(5, 1000, 600.0),
            (500.0, 1000.0),
            "1200 s ≥ 1000 s"
        );
        let off = Trust::decide(Vec::new(), &sched(""), 1.0, &mut rand::thread_rng());
        assert!(!off.needs_reliable(i32::MAX));
    }
}
