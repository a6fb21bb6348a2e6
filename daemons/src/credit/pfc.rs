//! Credit from "peak FLOP counts" (BOINC's credit system, "CreditNew").
//!
//! When a job gets a canonical result, each valid result *claims* a peak FLOP count (PFC):
//! elapsed time × the FLOPS the scheduler estimated for the device. [`claimed_pfc`] scales the
//! claim by the app version's `pfc_scale` (versions that are inefficient on their hardware claim
//! less) and, once there are enough statistics, by a per-host factor. [`assign_credit_set`]
//! combines the claims of one job into one credit value, a "pegged average" that weights claims
//! by their closeness to the job's own estimate (`rsc_fpops_est × app.min_avg_pfc`), so one
//! inflated claim cannot drag the result.
//!
//! Two facts from running the real validator (fixtures/daemon-oracle, SUMMARY.md) that its
//! written description omits: with fresh statistics the raw claims are used (the workunit
//! estimate is only the anchor), and a reported `flops_estimate` of exactly 1e9 (what a client
//! sends when its benchmarks failed) is replaced by 4.3e9 and the result flagged
//! `runtime_outlier`, which keeps it out of the statistics and is written to the result row.
//!
//! Side effects, as in BOINC: the host's `host_app_version` statistics (`pfc`, `et`,
//! `turnaround`) take a sample per result, and the app version's `pfc` average and recent credit
//! get samples that [`AppVersions::write_samples`] adds in the batch's transaction.

use std::collections::HashMap;

use rboinc_core::db::host_app_version::HostAppVersionRow;
use rboinc_core::db::result::ResultRow;
use rboinc_core::state::{COBBLESTONE_SCALE, CREDIT_HALF_LIFE, ValidateState};
use sqlx::MySqlConnection;

use super::average::{AV_AVERAGE, HAV_AVERAGE, RunningAverage, decay_average};
use super::hav;
use crate::bulk::id_list;

/// FLOPS assumed for a device whose estimate is missing or is the benchmark-failure value 1e9.
pub const AVG_CPU_FPOPS: f64 = 4.3e9;
/// The CPU speed a client reports when its benchmarks have not run (BOINC's client default).
pub const BENCHMARK_DEFAULT_FPOPS: f64 = 1e9;
/// Host scaling needs this many PFC samples of the host.
pub const MIN_HOST_SAMPLES: f64 = 10.0;
/// Host scaling needs this many PFC samples of the app version.
pub const MIN_VERSION_SAMPLES: f64 = 100.0;
/// With `app.host_scale_check`, host scaling needs this many consecutive valid results.
pub const CONS_VALID_HOST_SCALE: i32 = 10;

/// How much a PFC value can be trusted.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum PfcMode {
    /// Claimed PFC scaled by both the version and the host.
    Normal,
    /// Scaled only partly (fresh statistics, anonymous platform), still this job's size.
    Approx,
    /// The job's estimate; the host has no statistics row at all.
    WuEstimate,
    /// Above `max_granted_credit`: ignored in the average.
    Invalid,
}

/// The job facts credit uses.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct JobSize {
    pub rsc_fpops_est: f64,
    pub rsc_fpops_bound: f64,
}

/// The app facts credit uses.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct AppCredit {
    pub min_avg_pfc: f64,
    pub host_scale_check: bool,
}

impl AppCredit {
    /// The PFC of a job when nothing else is known: `rsc_fpops_est × min_avg_pfc`.
    pub fn estimated_pfc(&self, job: JobSize) -> f64 {
        if self.min_avg_pfc != 0.0 {
            job.rsc_fpops_est * self.min_avg_pfc
        } else {
            job.rsc_fpops_est
        }
    }
}

/// An app version's credit statistics, with the samples of this pass not yet written.
#[derive(Debug, Clone, PartialEq, sqlx::FromRow)]
pub struct AppVersionStats {
    pub id: i64,
    pub pfc_n: f64,
    pub pfc_avg: f64,
    pub pfc_scale: f64,
    pub expavg_credit: f64,
    pub expavg_time: f64,
    #[sqlx(skip)]
    pub pfc_samples: Vec<f64>,
    /// (credit, result sent_time)
    #[sqlx(skip)]
    pub credit_samples: Vec<(f64, f64)>,
}

/// The app versions a pass has seen (BOINC's `app_versions` vector of the validator).
#[derive(Debug, Default)]
pub struct AppVersions {
    known: HashMap<i64, Option<AppVersionStats>>,
}

const AV_COLUMNS: &str = "id, pfc_n, pfc_avg, pfc_scale, expavg_credit, expavg_time";

impl AppVersions {
    /// Reads the versions among `ids` not read yet (negative ids are anonymous-platform
    /// versions, which have no row).
    pub async fn load(
        &mut self,
        conn: &mut MySqlConnection,
        ids: impl IntoIterator<Item = i64>,
    ) -> Result<(), sqlx::Error> {
        let mut missing: Vec<i64> = ids
            .into_iter()
            .filter(|id| *id > 0 && !self.known.contains_key(id))
            .collect();
        missing.sort();
        missing.dedup();
        if missing.is_empty() {
            return Ok(());
        }
        let sql = format!(
            "SELECT {AV_COLUMNS} FROM app_version WHERE id IN ({})",
            id_list(missing.iter().copied())
        );
        let rows: Vec<AppVersionStats> = sqlx::query_as(sqlx::AssertSqlSafe(sql))
            .fetch_all(&mut *conn)
            .await?;
        for id in missing {
            self.known.insert(id, None);
        }
        for row in rows {
            self.known.insert(row.id, Some(row));
        }
        Ok(())
    }

    /// A version read by [`AppVersions::load`]; `None` if it does not exist (or was not loaded).
    pub fn get_mut(&mut self, id: i64) -> Option<&mut AppVersionStats> {
        self.known.get_mut(&id).and_then(Option::as_mut)
    }

    pub fn get(&self, id: i64) -> Option<&AppVersionStats> {
        self.known.get(&id).and_then(Option::as_ref)
    }

    /// Whether any version has samples waiting for [`AppVersions::write_samples`].
    pub fn has_samples(&self) -> bool {
        self.known
            .values()
            .flatten()
            .any(|av| !av.pfc_samples.is_empty() || !av.credit_samples.is_empty())
    }

    /// Adds the queued samples to the versions' rows, inside the caller's transaction (the
    /// batch's), so statistics are written exactly when the credit they come from is.
    ///
    /// The rows are locked and re-read first: the feeder rewrites `pfc_scale` and other
    /// validators add samples concurrently, and BOINC's own write (an optimistic update retried
    /// up to ten times, done only when a scan finds nothing, so never in a `--one_pass` run that
    /// did work) can lose samples. Call [`AppVersions::samples_written`] after the commit.
    pub async fn write_samples(
        &self,
        conn: &mut MySqlConnection,
        now: f64,
    ) -> Result<(), sqlx::Error> {
        let mut pending: Vec<&AppVersionStats> = self
            .known
            .values()
            .flatten()
            .filter(|av| !av.pfc_samples.is_empty() || !av.credit_samples.is_empty())
            .collect();
        if pending.is_empty() {
            return Ok(());
        }
        pending.sort_by_key(|av| av.id);
        let sql = format!(
            "SELECT {AV_COLUMNS} FROM app_version WHERE id IN ({}) ORDER BY id FOR UPDATE",
            id_list(pending.iter().map(|av| av.id))
        );
        let current: Vec<AppVersionStats> = sqlx::query_as(sqlx::AssertSqlSafe(sql))
            .fetch_all(&mut *conn)
            .await?;
        for mut row in current {
            let Some(av) = pending.iter().find(|av| av.id == row.id) else {
                continue;
            };
            for x in &av.pfc_samples {
                RunningAverage {
                    n: &mut row.pfc_n,
                    avg: &mut row.pfc_avg,
                }
                .update(*x, AV_AVERAGE);
            }
            for (credit, sent) in &av.credit_samples {
                decay_average(
                    now,
                    *sent,
                    *credit,
                    CREDIT_HALF_LIFE,
                    &mut row.expavg_credit,
                    &mut row.expavg_time,
                );
            }
            let values = [row.pfc_n, row.pfc_avg, row.expavg_credit, row.expavg_time];
            if values.iter().any(|v| !v.is_finite()) {
                tracing::error!(
                    app_version_id = row.id,
                    "app version statistics are not finite; not written"
                );
                continue;
            }
            sqlx::query(
                "UPDATE app_version SET pfc_n = ?, pfc_avg = ?, expavg_credit = ?, expavg_time = ? \
                 WHERE id = ?",
            )
            .bind(row.pfc_n)
            .bind(row.pfc_avg)
            .bind(row.expavg_credit)
            .bind(row.expavg_time)
            .bind(row.id)
            .execute(&mut *conn)
            .await?;
        }
        Ok(())
    }

    /// Drops the queued samples (the batch they came from was not written).
    pub fn discard_samples(&mut self) {
        for av in self.known.values_mut().flatten() {
            av.pfc_samples.clear();
            av.credit_samples.clear();
        }
    }

    /// Forgets the samples [`AppVersions::write_samples`] wrote (after the commit), and the
    /// cached rows, so the next batch reads fresh statistics and `pfc_scale`.
    pub fn samples_written(&mut self) {
        self.known.clear();
    }
}

/// A result's claimed PFC could not be computed (its app version does not exist).
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
#[error("result {result_id}: app version {app_version_id} not found")]
pub struct NoAppVersion {
    pub result_id: i64,
    pub app_version_id: i64,
}

fn is_pfc_sane(x: f64) -> bool {
    (1e-4..=1e4).contains(&x)
}

/// The PFC a valid result claims, and how far to trust it; updates the host's statistics row
/// (`hav`, `None` if the host has none) and queues app version samples. May change the result in
/// memory: `elapsed_time` (from `cpu_time` if missing), `flops_estimate` and `runtime_outlier`
/// (bad FLOPS estimates); the caller writes `runtime_outlier` back.
pub fn claimed_pfc(
    r: &mut ResultRow,
    job: JobSize,
    app: AppCredit,
    versions: &mut AppVersions,
    hav: Option<&mut HostAppVersionRow>,
) -> Result<(f64, PfcMode), NoAppVersion> {
    let mut mode = PfcMode::Approx;
    let Some(hav) = hav else {
        return Ok((app.estimated_pfc(job), PfcMode::WuEstimate));
    };
    if r.elapsed_time < 1e-6 {
        r.elapsed_time = r.cpu_time;
    }
    if r.flops_estimate <= 0.0 {
        // Only a scheduler bug (or a hand-edited row) leaves it there: ours never sends a job
        // without a positive estimate.
        tracing::warn!(
            result_id = %r.id,
            flops_estimate = r.flops_estimate,
            "result has a non-positive flops_estimate; assuming the average CPU speed and not counting it in statistics"
        );
        r.flops_estimate = AVG_CPU_FPOPS;
        r.runtime_outlier = 1;
    } else if r.flops_estimate == BENCHMARK_DEFAULT_FPOPS {
        // A client that has not run (or skipped) its CPU benchmarks reports this speed, and
        // the scheduler sends it back as the job's estimate. BOINC's validator logs it as a
        // warning for every such result; it is a normal state of a volunteer's host that no
        // project operator can change, so it is a debug line here. The substitution is BOINC's.
        tracing::debug!(
            result_id = %r.id,
            "flops_estimate is the clients' benchmark default; assuming the average CPU speed and not counting it in statistics"
        );
        r.flops_estimate = AVG_CPU_FPOPS;
        r.runtime_outlier = 1;
    }
    let outlier = r.runtime_outlier != 0;
    let raw_pfc = r.elapsed_time * r.flops_estimate;
    let avid = r.app_version_id.get();
    let pfc;
    let mut version: Option<&mut AppVersionStats> = None;
    if avid < 0 {
        // Anonymous platform: only the host's own history can scale the claim.
        let mut scale = hav.pfc_n >= MIN_HOST_SAMPLES && hav.pfc_avg > 0.0;
        if scale && app.host_scale_check && hav.consecutive_valid < CONS_VALID_HOST_SCALE {
            scale = false;
        }
        pfc = if scale {
            raw_pfc * (app.min_avg_pfc / hav.pfc_avg)
        } else {
            app.estimated_pfc(job)
        };
    } else {
        let av = versions.get_mut(avid).ok_or(NoAppVersion {
            result_id: r.id.get(),
            app_version_id: avid,
        })?;
        let mut scale = !(app.host_scale_check && hav.consecutive_valid < CONS_VALID_HOST_SCALE);
        scale = scale && hav.pfc_n >= MIN_HOST_SAMPLES && hav.pfc_avg != 0.0;
        scale = scale && av.pfc_n >= MIN_VERSION_SAMPLES;
        scale = scale && hav.pfc_avg > 0.0;
        let host_scale = if scale {
            (av.pfc_avg / hav.pfc_avg).min(10.0)
        } else {
            0.0
        };
        let mut x = raw_pfc;
        if av.pfc_scale != 0.0 {
            x *= av.pfc_scale;
            if host_scale != 0.0 {
                x *= host_scale;
                mode = PfcMode::Normal;
            }
        } else if host_scale != 0.0 {
            x *= host_scale;
        }
        pfc = x;
        let ratio = raw_pfc / job.rsc_fpops_est;
        if !outlier && is_pfc_sane(ratio) {
            av.pfc_samples.push(ratio);
        }
        version = Some(av);
    }
    if !outlier {
        let ratio = raw_pfc / job.rsc_fpops_est;
        if is_pfc_sane(ratio) {
            hav::pfc(hav).update(ratio, HAV_AVERAGE);
        } else {
            tracing::warn!(
                result_id = %r.id,
                ratio,
                "claimed FLOPs / rsc_fpops_est is implausible; check the job's rsc_fpops_est"
            );
        }
        hav::et(hav).update(r.elapsed_time / job.rsc_fpops_est, HAV_AVERAGE);
        hav::turnaround(hav).update(f64::from(r.received_time - r.sent_time), HAV_AVERAGE);
    }
    if let Some(av) = version {
        av.credit_samples
            .push((pfc * COBBLESTONE_SCALE, f64::from(r.sent_time)));
    }
    Ok((pfc, mode))
}

/// The credit for a job's valid results (BOINC's `assign_credit_set`): each VALID result's
/// claimed PFC, capped at `rsc_fpops_bound` and at `max_granted_credit` (0 = no cap), combined
/// by the pegged average. `havs[i]` is the statistics row of `results[i]`'s host, if any.
pub fn assign_credit_set(
    job: JobSize,
    app: AppCredit,
    results: &mut [ResultRow],
    havs: &mut [Option<HostAppVersionRow>],
    versions: &mut AppVersions,
    max_granted_credit: f64,
) -> f64 {
    let mut normal = Vec::new();
    let mut approx = Vec::new();
    for (r, hav) in results.iter_mut().zip(havs.iter_mut()) {
        if r.validate_state != ValidateState::Valid {
            continue;
        }
        let (mut pfc, mut mode) = match claimed_pfc(r, job, app, versions, hav.as_mut()) {
            Ok(claim) => claim,
            Err(e) => {
                tracing::error!(error = %e, "result left out of the credit average");
                continue;
            }
        };
        if pfc > job.rsc_fpops_bound {
            pfc = job.rsc_fpops_bound;
        }
        if max_granted_credit != 0.0 && pfc * COBBLESTONE_SCALE > max_granted_credit {
            tracing::warn!(
                result_id = %r.id,
                credit = pfc * COBBLESTONE_SCALE,
                "claimed credit above max_granted_credit"
            );
            pfc = max_granted_credit / COBBLESTONE_SCALE;
            mode = PfcMode::Invalid;
        }
        match mode {
            PfcMode::Normal => normal.push(pfc),
            PfcMode::Invalid => {}
            PfcMode::Approx | PfcMode::WuEstimate => approx.push(pfc),
        }
    }
    let anchor = app.estimated_pfc(job);
    let pfc = match normal.len() {
        0 | 1 => {
            // A single normal claim counts twice as much as an approximate one.
            if let [x] = normal[..] {
                approx.push(x);
                approx.push(x);
            }
            if approx.is_empty() {
                anchor
            } else {
                pegged_average(&approx, anchor)
            }
        }
        _ => pegged_average(&normal, anchor),
    };
    pfc * COBBLESTONE_SCALE
}

/// Mean of `v` weighted by closeness to `anchor` (`1 / (0.1·anchor + |anchor − x|)`); a single
/// value is returned as it is.
pub fn pegged_average(v: &[f64], anchor: f64) -> f64 {
    if let [x] = v {
        return *x;
    }
    let (mut weights, mut sum) = (0.0, 0.0);
    for x in v {
        let w = 1.0 / (0.1 * anchor + (anchor - x).abs());
        weights += w;
        sum += w * x;
    }
    sum / weights
}

/// Mean of `v` where each value is weighted by the sum of the others (large outliers count
/// less); used by `--credit_from_runtime`.
pub fn low_average(v: &[f64]) -> f64 {
    if let [x] = v {
        return *x;
    }
    let sum: f64 = v.iter().sum();
    let total: f64 = v.iter().map(|x| x * (sum - x)).sum();
    total / ((v.len() as f64 - 1.0) * sum)
}

#[cfg(test)]
mod tests {
    use super::*;
    use rboinc_core::db::{AppVersionId, HostId, ResultId};
    use rboinc_core::state::{Outcome, ServerState};

    fn result(id: i64, elapsed: f64, flops: f64) -> ResultRow {
        ResultRow {
            id: ResultId(id),
            create_time: 0,
            workunitid: 1.into(),
            server_state: ServerState::Over,
            outcome: Outcome::Success,
            client_state: rboinc_core::state::ClientState::FilesUploaded,
            hostid: HostId(id),
            userid: id.into(),
            report_deadline: 0,
            sent_time: 1000,
            received_time: 7600,
            name: format!("r{id}"),
            cpu_time: elapsed,
            xml_doc_in: String::new(),
            xml_doc_out: String::new(),
            stderr_out: String::new(),
            batch: 0.into(),
            file_delete_state: rboinc_core::state::FileDeleteState::Init,
            validate_state: ValidateState::Valid,
            claimed_credit: 0.0,
            granted_credit: 0.0,
            opaque: 0.0,
            random: 0,
            app_version_num: 100,
            appid: 1.into(),
            exit_status: 0,
            teamid: 0.into(),
            priority: 0,
            elapsed_time: elapsed,
            flops_estimate: flops,
            app_version_id: AppVersionId(1),
            runtime_outlier: 0,
            size_class: -1,
            peak_working_set_size: 0.0,
            peak_swap_size: 0.0,
            peak_disk_usage: 0.0,
        }
    }

    fn versions() -> AppVersions {
        let mut v = AppVersions::default();
        v.known.insert(
            1,
            Some(AppVersionStats {
                id: 1,
                pfc_n: 0.0,
                pfc_avg: 0.0,
                pfc_scale: 1.0,
                expavg_credit: 0.0,
                expavg_time: 0.0,
                pfc_samples: vec![],
                credit_samples: vec![],
            }),
        );
        v
    }

    const APP: AppCredit = AppCredit {
        min_avg_pfc: 1.0,
        host_scale_check: false,
    };

    fn run(job: JobSize, results: &mut [ResultRow]) -> (f64, Vec<Option<HostAppVersionRow>>) {
        let mut havs: Vec<_> = results
            .iter()
            .map(|r| Some(HostAppVersionRow::zero(r.hostid, 1)))
            .collect();
        let credit = assign_credit_set(job, APP, results, &mut havs, &mut versions(), 73e6);
        (credit, havs)
    }

    #[test]
    fn fresh_statistics_use_the_raw_claims_pegged_to_the_estimate() {
        // Oracle scenario 15.
        let job = JobSize {
            rsc_fpops_est: 1e12,
            rsc_fpops_bound: 1e14,
        };
        let mut rs = [result(1, 100.0, 2e9), result(2, 200.0, 2e9)];
        rs[1].received_time = 7900;
        let (credit, havs) = run(job, &mut rs);
        assert!((credit - 0.7233796296).abs() < 1e-9, "{credit}");
        let h0 = havs[0].as_ref().unwrap();
        assert_eq!((h0.pfc_n, h0.pfc_avg, h0.et_avg), (1.0, 0.2, 1e-10));
        assert_eq!((h0.turnaround_n, h0.turnaround_avg), (1.0, 6600.0));
        assert_eq!(havs[1].as_ref().unwrap().pfc_avg, 0.4);
    }

    #[test]
    fn benchmark_failure_flops_are_replaced_and_flagged() {
        // Oracle scenario 33.
        let job = JobSize {
            rsc_fpops_est: 1e12,
            rsc_fpops_bound: 1e14,
        };
        let mut rs = [result(1, 100.0, 1e9), result(2, 100.0, 1e9)];
        let (credit, havs) = run(job, &mut rs);
        assert!((credit - 0.9953703704).abs() < 1e-9, "{credit}");
        assert!(rs.iter().all(|r| r.runtime_outlier == 1));
        let h = havs[0].as_ref().unwrap();
        assert_eq!((h.pfc_n, h.et_n, h.turnaround_n), (0.0, 0.0, 0.0));
    }

    #[test]
    fn claims_are_capped_at_the_bound_while_statistics_take_the_raw_ratio() {
        // Oracle scenario 34.
        let job = JobSize {
            rsc_fpops_est: 1e12,
            rsc_fpops_bound: 1e14,
        };
        let mut rs = [result(1, 1e6, 2e9), result(2, 1e6, 2e9)];
        let (credit, havs) = run(job, &mut rs);
        assert!((credit - 231.4814815).abs() < 1e-6, "{credit}");
        assert_eq!(havs[0].as_ref().unwrap().pfc_avg, 2000.0);
    }

    #[test]
    fn without_a_host_row_the_job_estimate_is_claimed() {
        let job = JobSize {
            rsc_fpops_est: 1e12,
            rsc_fpops_bound: 1e14,
        };
        let mut rs = [result(1, 100.0, 2e9)];
        let credit = assign_credit_set(job, APP, &mut rs, &mut [None], &mut versions(), 0.0);
        assert!((credit - 1e12 * COBBLESTONE_SCALE).abs() < 1e-12);
    }

    #[test]
    fn max_granted_credit_caps_and_excludes() {
        let job = JobSize {
            rsc_fpops_est: 1e12,
            rsc_fpops_bound: 1e20,
        };
        let mut rs = [result(1, 1e9, 2e9)];
        let mut havs = vec![Some(HostAppVersionRow::zero(HostId(1), 1))];
        let credit = assign_credit_set(job, APP, &mut rs, &mut havs, &mut versions(), 100.0);
        // The only claim was invalid: the job estimate is used.
        assert!((credit - 1e12 * COBBLESTONE_SCALE).abs() < 1e-12);
    }

    #[test]
    fn averages() {
        assert_eq!(pegged_average(&[5.0], 100.0), 5.0);
        assert!((pegged_average(&[10.0, 10.0], 1.0) - 10.0).abs() < 1e-12);
        assert_eq!(low_average(&[4.0]), 4.0);
        // weights 8 and 2: (2*8 + 8*2) / (1 * 10) = 3.2
        assert!((low_average(&[2.0, 8.0]) - 3.2).abs() < 1e-12);
    }

    #[test]
    fn version_samples_are_queued() {
        let job = JobSize {
            rsc_fpops_est: 1e12,
            rsc_fpops_bound: 1e14,
        };
        let mut v = versions();
        let mut rs = [result(1, 100.0, 2e9)];
        let mut havs = vec![Some(HostAppVersionRow::zero(HostId(1), 1))];
        assign_credit_set(job, APP, &mut rs, &mut havs, &mut v, 0.0);
        let av = v.get(1).unwrap();
        assert_eq!(av.pfc_samples, [0.2]);
        assert_eq!(av.credit_samples.len(), 1);
        assert!(v.has_samples());
    }
}
