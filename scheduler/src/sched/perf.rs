//! The spread of host speeds the project has seen, which caps what a host may claim (BOINC's
//! `PERF_INFO`, computed by its feeder): plan classes compute speeds from the capped figure,
//! so one host reporting an absurd benchmark cannot make every version look fastest there.

use sqlx::mysql::MySqlConnection;

/// The spread of host speeds (BOINC's `PERF_INFO`): a host's claimed CPU speed is capped at
/// 1.1 × the 95th percentile, and one that reports none is taken at the median.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct PerfInfo {
    pub p50: f64,
    pub p95: f64,
}

impl Default for PerfInfo {
    /// BOINC's values for a project with fewer than 10 hosts.
    fn default() -> Self {
        PerfInfo {
            p50: 3.3e9,
            p95: 3.3e9,
        }
    }
}

impl PerfInfo {
    /// BOINC's `capped_host_fpops`.
    pub fn cap(&self, p_fpops: f64) -> f64 {
        if p_fpops <= 0.0 {
            self.p50
        } else {
            p_fpops.min(self.p95 * 1.1)
        }
    }

    /// BOINC's `PERF_INFO::get_from_db`: percentiles of the speeds of hosts with recent credit.
    pub async fn load(conn: &mut MySqlConnection) -> Result<PerfInfo, sqlx::Error> {
        let mut p = PerfInfo::default();
        let hosts: i64 = sqlx::query_scalar("SELECT COUNT(*) FROM host")
            .fetch_one(&mut *conn)
            .await?;
        if hosts < 10 {
            return Ok(p);
        }
        let credited: i64 =
            sqlx::query_scalar("SELECT COUNT(*) FROM host WHERE expavg_credit > 10")
                .fetch_one(&mut *conn)
                .await?;
        if credited == 0 {
            return Ok(p);
        }
        for (pct, slot) in [(50.0, &mut p.p50), (95.0, &mut p.p95)] {
            let offset = (credited as f64 * pct / 100.0) as i64;
            let v: Option<f64> = sqlx::query_scalar(
                "SELECT p_fpops FROM host WHERE expavg_credit > 10 ORDER BY p_fpops LIMIT ?, 1",
            )
            .bind(offset)
            .fetch_optional(&mut *conn)
            .await?;
            if let Some(v) = v {
                *slot = v;
            }
        }
        Ok(p)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn host_speeds_are_capped_by_the_projects_spread() {
        let p = PerfInfo::default();
        assert_eq!(p.cap(0.0), 3.3e9);
        assert_eq!(p.cap(1e9), 1e9);
        assert_eq!(p.cap(1e12), 3.3e9 * 1.1);
    }
}
