//! How much work to send: BOINC's work request, counted down as jobs are added.
//!
//! A client asks for `cpu_req_secs` seconds of work and `cpu_req_instances` idle CPUs; each job
//! sent counts its estimated run time (`rsc_fpops_est` / the host's speed) against the first and
//! one CPU against the second, and jobs are sent while either is positive, up to
//! `max_wus_to_send` per CPU and the `max_jobs_in_progress` limits. The client's first RPC asks
//! for one second: it gets one job. (Old clients send a single `work_req_seconds`.)

use rboinc_core::config::SchedConfig;

use crate::sched::request::SchedRequest;

/// BOINC's work request, counted down as jobs are added.
#[derive(Debug, Clone, PartialEq)]
pub struct WorkPlan {
    pub req_secs: f64,
    pub req_instances: f64,
    /// Old clients' single figure (used when `req_secs` is 0).
    pub seconds_to_fill: f64,
    pub max_jobs: usize,
    pub jobs_sent: usize,
    /// Jobs the host already has plus those sent now, against `max_jobs_in_progress`.
    pub in_progress: usize,
    pub in_progress_limit: Option<usize>,
}

impl WorkPlan {
    pub fn new(req: &SchedRequest, sched: &SchedConfig) -> Self {
        const MAX_REQ_SECS: f64 = 28.0 * 86_400.0;
        let clamp = |x: f64| x.clamp(0.0, MAX_REQ_SECS);
        let mut ncpus = i64::from(req.host.p_ncpus.max(1));
        if req.max_ncpus_pct > 0.0 && req.max_ncpus_pct < 100.0 {
            ncpus = ((ncpus as f64 * req.max_ncpus_pct) / 100.0) as i64;
        }
        let ncpus = ncpus.min(i64::from(sched.max_ncpus.max(1))).max(1) as usize;
        let max_jobs = match sched.max_wus_to_send {
            0 => usize::MAX,
            n => n as usize * ncpus,
        };
        let limit = &sched.max_jobs_in_progress.project;
        let in_progress_limit = [limit.total, limit.cpu]
            .into_iter()
            .flatten()
            .map(|l| l.jobs as usize * if l.per_proc { ncpus } else { 1 })
            .min();
        WorkPlan {
            req_secs: clamp(req.cpu_req_secs),
            req_instances: req.cpu_req_instances.max(0.0),
            seconds_to_fill: clamp(req.work_req_seconds),
            max_jobs,
            jobs_sent: 0,
            in_progress: req.other_results.as_ref().map_or(0, Vec::len),
            in_progress_limit,
        }
    }

    /// Whether another job is wanted.
    pub fn needed(&self) -> bool {
        if self.jobs_sent >= self.max_jobs {
            return false;
        }
        if self
            .in_progress_limit
            .is_some_and(|l| self.in_progress >= l)
        {
            return false;
        }
        if self.req_secs > 0.0 || self.req_instances > 0.0 {
            return true;
        }
        self.req_secs == 0.0 && self.req_instances == 0.0 && self.seconds_to_fill > 0.0
    }

    /// Counts a job of `est_secs` estimated run time.
    pub fn add_job(&mut self, est_secs: f64) {
        if self.req_secs > 0.0 || self.req_instances > 0.0 {
            self.req_secs -= est_secs;
            self.req_instances -= 1.0;
        } else {
            self.seconds_to_fill -= est_secs;
        }
        self.jobs_sent += 1;
        self.in_progress += 1;
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use rboinc_core::config::{Config, JobLimit, ResourceLimit};

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

    fn request(secs: f64, instances: f64, ncpus: i32) -> SchedRequest {
        let mut r = SchedRequest {
            cpu_req_secs: secs,
            work_req_seconds: secs,
            cpu_req_instances: instances,
            ..Default::default()
        };
        r.host.p_ncpus = ncpus;
        r
    }

    #[test]
    fn the_first_rpc_gets_one_job() {
        let mut plan = WorkPlan::new(&request(1.0, 0.0, 2), &sched(""));
        assert!(plan.needed());
        plan.add_job(1000.0);
        assert!(!plan.needed());
    }

    #[test]
    fn a_full_request_is_capped_per_cpu() {
        let mut plan = WorkPlan::new(
            &request(103_680.0, 2.0, 2),
            &sched("<max_wus_to_send>3</max_wus_to_send>"),
        );
        assert_eq!(plan.max_jobs, 6);
        let mut n = 0;
        while plan.needed() {
            plan.add_job(10.0);
            n += 1;
        }
        assert_eq!(n, 6);
        // No work asked: none sent.
        assert!(!WorkPlan::new(&request(0.0, 0.0, 2), &sched("")).needed());
    }

    #[test]
    fn idle_cpus_alone_ask_for_work() {
        let mut plan = WorkPlan::new(&request(1.0, 2.0, 4), &sched(""));
        plan.add_job(5000.0);
        assert!(plan.needed(), "one CPU still idle");
        plan.add_job(5000.0);
        assert!(!plan.needed());
    }

    #[test]
    fn in_progress_limits_count_what_the_host_has() {
        let mut s = sched("");
        s.max_jobs_in_progress.project = JobLimit {
            cpu: Some(ResourceLimit {
                jobs: 1,
                per_proc: true,
            }),
            ..Default::default()
        };
        let mut req = request(1e5, 2.0, 2);
        req.other_results = Some(vec![Default::default()]);
        let mut plan = WorkPlan::new(&req, &s);
        assert_eq!(plan.in_progress_limit, Some(2));
        assert!(plan.needed());
        plan.add_job(1.0);
        assert!(!plan.needed());
    }
}
