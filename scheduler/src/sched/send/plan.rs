//! How much work to send: BOINC's work request per processor type, counted down as jobs are
//! added (BOINC's `send_work_setup`, `work_needed` and `add_result_to_reply`).
//!
//! A 7.x client asks, for the CPU and for each GPU type it has, for seconds of work
//! (`req_secs`) and idle instances (`req_instances`); old clients send a single
//! `work_req_seconds`. A request is "resource-specific" as soon as one type asks for seconds;
//! then a type is wanted while it asks for seconds or instances. A job counts against the
//! type of the version it is sent with: a CPU version takes its run time × `avg_ncpus` seconds
//! and `avg_ncpus` instances (a multithread job fills several idle CPUs), a GPU version its run
//! time × `gpu_usage` GPU seconds and `gpu_usage` instances (its CPU share is not counted).
//! Generic coprocessors (`<coproc>` from `cc_config.xml`) never make a request of their own.
//!
//! Limits: `max_wus_to_send` × (usable CPUs + `gpu_multiplier` × GPUs) jobs per RPC, and the
//! `max_jobs_in_progress` limits per processor type (project-wide and per app), counted from
//! the jobs the client still holds plus those sent now. Work sending runs one pass per type,
//! GPUs first ([`WorkPlan::only`]), as BOINC's score-based scheduler does.

use rboinc_core::config::{JobLimit, SchedConfig};

use crate::sched::coprocs::ProcType;
use crate::sched::request::SchedRequest;

const MAX_REQ_SECS: f64 = 28.0 * 86_400.0;
/// GPU instances of one type counted at most (BOINC's `MAX_GPUS`).
const MAX_GPUS: i64 = 64;

/// One `max_jobs_in_progress` limit with its count.
#[derive(Debug, Clone, PartialEq, Default)]
struct Counted {
    /// Jobs allowed per processor type (index by `ProcType`), and in all.
    limits: [Option<usize>; 5],
    total_limit: Option<usize>,
    n: [usize; 5],
    total: usize,
}

impl Counted {
    fn new(limit: &JobLimit, instances: &[i64; 5]) -> Counted {
        let scaled = |l: Option<rboinc_core::config::ResourceLimit>, n: i64| {
            l.filter(|l| l.jobs > 0)
                .map(|l| l.jobs as usize * if l.per_proc { n.max(0) as usize } else { 1 })
        };
        let mut c = Counted {
            total_limit: scaled(limit.total, 1),
            ..Default::default()
        };
        for (i, n) in instances.iter().enumerate() {
            c.limits[i] = scaled(if i == 0 { limit.cpu } else { limit.gpu }, *n);
        }
        c
    }

    fn exceeded(&self, pt: ProcType) -> bool {
        self.total_limit.is_some_and(|l| self.total >= l)
            || self.limits[pt.index()].is_some_and(|l| self.n[pt.index()] >= l)
    }

    fn register(&mut self, pt: ProcType) {
        self.total += 1;
        self.n[pt.index()] += 1;
    }
}

/// BOINC's work request, counted down as jobs are added.
#[derive(Debug, Clone, PartialEq)]
pub struct WorkPlan {
    /// Seconds of work asked for, per processor type.
    pub req_secs: [f64; 5],
    /// Idle instances to fill, per processor type.
    pub req_instances: [f64; 5],
    /// Seconds until each type's queued work drains (0: no deadline check).
    pub estimated_delay: [f64; 5],
    /// Old clients' single figure (used when no type asks for seconds).
    pub seconds_to_fill: f64,
    /// Some type asks for seconds: count per type.
    pub rsc_spec_request: bool,
    /// Types the project (or, on the anonymous platform, the client) has versions for.
    pub have_apps: [bool; 5],
    /// Usable CPUs (BOINC's `effective_ncpus`).
    pub effective_ncpus: i64,
    /// Instances of each type.
    pub instances: [i64; 5],
    pub max_jobs: usize,
    pub jobs_sent: usize,
    /// `<max_jobs>` of the user's project preferences (0: none), against all jobs in progress.
    pub user_max_jobs: usize,
    /// Bytes of disk the jobs still to send may take (see [`super::disk`]); infinite until set.
    pub disk_available: f64,
    project_limits: Counted,
    app_limits: Vec<(String, Counted)>,
    /// The CPUs the host reports (the queue delay spreads over them).
    p_ncpus: f64,
    /// The pass's type and the requests of the other types, put aside during it.
    saved: Option<(ProcType, [f64; 5], [f64; 5])>,
}

impl WorkPlan {
    /// The plan for a request. `max_cpus` is the user's `<max_cpus>` preference (0: none);
    /// `have_apps` the types with versions; `app_of` names the app of a version the client
    /// lists (for per-app limits).
    pub fn new(
        req: &SchedRequest,
        sched: &SchedConfig,
        gpu_multiplier: i64,
        max_cpus: i64,
        have_apps: [bool; 5],
    ) -> Self {
        let clamp = |x: f64| x.clamp(0.0, MAX_REQ_SECS);
        let mut ncpus = i64::from(req.host.p_ncpus);
        if req.max_ncpus_pct > 0.0 && req.max_ncpus_pct < 100.0 {
            ncpus = ((ncpus as f64 * req.max_ncpus_pct) / 100.0) as i64;
        }
        ncpus = ncpus.min(i64::from(sched.max_ncpus)).clamp(1, 4096);
        if max_cpus > 0 {
            ncpus = ncpus.min(max_cpus);
        }
        let mut instances = [0i64; 5];
        instances[0] = ncpus;
        let mut req_secs = [0.0; 5];
        let mut req_instances = [0.0; 5];
        let mut estimated_delay = [0.0; 5];
        req_secs[0] = clamp(req.cpu_req_secs);
        req_instances[0] = req.cpu_req_instances;
        estimated_delay[0] = req.cpu_estimated_delay.max(0.0);
        for c in &req.coprocs.list {
            if let Some(pt) = c.proc_type() {
                instances[pt.index()] = i64::from(c.count).min(MAX_GPUS);
            }
        }
        for pt in &ProcType::ALL[1..] {
            if let Some(c) = req.coprocs.named(*pt) {
                let i = pt.index();
                req_secs[i] = clamp(c.req_secs);
                req_instances[i] = c.req_instances;
                estimated_delay[i] = if c.estimated_delay < 0.0 {
                    req.cpu_estimated_delay
                } else {
                    c.estimated_delay
                }
                .max(0.0);
            }
        }
        let ngpus: i64 = instances[1..].iter().sum();
        let mut mult = ncpus + gpu_multiplier * ngpus;
        if sched.non_cpu_intensive {
            mult = 1;
            instances[0] = 1;
        }
        let max_jobs = match sched.max_wus_to_send {
            0 => usize::MAX,
            n => n as usize * mult.max(1) as usize,
        };
        let limits = &sched.max_jobs_in_progress;
        let mut plan = WorkPlan {
            rsc_spec_request: req_secs.iter().any(|&s| s != 0.0),
            req_secs,
            req_instances,
            estimated_delay,
            seconds_to_fill: clamp(req.work_req_seconds),
            have_apps,
            effective_ncpus: ncpus,
            instances,
            max_jobs,
            jobs_sent: 0,
            user_max_jobs: 0,
            disk_available: f64::INFINITY,
            p_ncpus: f64::from(req.host.p_ncpus.max(1)),
            project_limits: Counted::new(&limits.project, &instances),
            app_limits: limits
                .apps
                .iter()
                .map(|a| (a.app_name.clone(), Counted::new(&a.limit, &instances)))
                .collect(),
            saved: None,
        };
        // The jobs the client holds count against the limits, under the type of their version.
        for o in req.other_results.iter().flatten() {
            let cav = usize::try_from(o.app_version)
                .ok()
                .and_then(|i| req.client_app_versions.get(i));
            let (app, pt) = match cav {
                Some(c) => (
                    Some(c.app_name.as_str()),
                    c.coproc
                        .as_ref()
                        .and_then(|(t, _)| ProcType::from_coproc_type(t))
                        .unwrap_or(ProcType::Cpu),
                ),
                None => (None, ProcType::of_plan_class_name(&o.plan_class)),
            };
            plan.register(app, pt);
        }
        plan
    }

    fn register(&mut self, app: Option<&str>, pt: ProcType) {
        self.project_limits.register(pt);
        if let Some(app) = app {
            for (name, c) in &mut self.app_limits {
                if name == app {
                    c.register(pt);
                }
            }
        }
    }

    /// Whether `app`'s jobs of type `pt` are at a `max_jobs_in_progress` limit.
    pub fn limit_reached(&self, app: &str, pt: ProcType) -> bool {
        self.project_limits.exceeded(pt)
            || self
                .app_limits
                .iter()
                .any(|(name, c)| name == app && c.exceeded(pt))
    }

    /// Whether the request still wants jobs of type `pt` (BOINC's `need_proc_type`).
    pub fn need_proc_type(&self, pt: ProcType) -> bool {
        let i = pt.index();
        if self.rsc_spec_request {
            self.req_secs[i] > 0.0 || self.req_instances[i] > 0.0
        } else {
            self.seconds_to_fill > 0.0
        }
    }

    /// Whether another job is wanted at all (BOINC's `work_needed`).
    pub fn needed(&mut self) -> bool {
        let total = self.project_limits.total;
        if self.user_max_jobs > 0 && total >= self.user_max_jobs {
            return false;
        }
        let mut some_type_allowed = false;
        for pt in ProcType::ALL {
            if !self.have_apps[pt.index()] {
                continue;
            }
            if self.project_limits.exceeded(pt) {
                self.req_secs[pt.index()] = 0.0;
                self.req_instances[pt.index()] = 0.0;
            } else {
                some_type_allowed = true;
            }
        }
        if !some_type_allowed || self.jobs_sent >= self.max_jobs {
            return false;
        }
        if self.rsc_spec_request {
            ProcType::ALL
                .iter()
                .any(|&pt| self.need_proc_type(pt) && self.have_apps[pt.index()])
        } else {
            self.seconds_to_fill > 0.0
        }
    }

    /// Starts a pass for type `pt` alone: the other types' requests are put aside.
    pub fn only(&mut self, pt: ProcType) {
        self.restore();
        self.saved = Some((pt, self.req_secs, self.req_instances));
        for other in ProcType::ALL {
            if other != pt {
                self.req_secs[other.index()] = 0.0;
                self.req_instances[other.index()] = 0.0;
            }
        }
    }

    /// Ends a one-type pass: the other types' requests come back.
    pub fn restore(&mut self) {
        if let Some((pt, secs, instances)) = self.saved.take() {
            for other in ProcType::ALL {
                let i = other.index();
                if other != pt {
                    self.req_secs[i] += secs[i];
                    self.req_instances[i] += instances[i];
                }
            }
        }
    }

    /// Whether a job of `est_secs` on type `pt` can finish within `delay_bound` behind the
    /// queued work (BOINC's crude deadline check; none when nothing is queued).
    pub fn meets_deadline(&self, pt: ProcType, est_secs: f64, delay_bound: f64) -> bool {
        let delay = self.estimated_delay[pt.index()];
        delay == 0.0 || delay + est_secs <= delay_bound
    }

    /// Counts a job of `app` sent with a version of type `pt` using `ncpus` CPUs or `ngpus`
    /// GPU instances, running `est_secs`.
    pub fn add_job(&mut self, app: &str, pt: ProcType, ncpus: f64, ngpus: f64, est_secs: f64) {
        let i = pt.index();
        let usage = if pt == ProcType::Cpu { ncpus } else { ngpus };
        if self.rsc_spec_request {
            self.req_secs[i] -= est_secs * usage;
            self.req_instances[i] -= usage;
        } else {
            self.seconds_to_fill -= est_secs;
        }
        let n = if pt == ProcType::Cpu {
            self.p_ncpus
        } else {
            self.instances[i].max(1) as f64
        };
        self.estimated_delay[i] += est_secs * usage / n;
        self.jobs_sent += 1;
        self.register(Some(app), pt);
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::sched::coprocs::Coprocs;
    use rboinc_core::config::{Config, ResourceLimit};

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

    const CPU_ONLY: [bool; 5] = [true, false, false, false, false];

    fn plan(req: &SchedRequest, s: &SchedConfig) -> WorkPlan {
        WorkPlan::new(req, s, 0, 0, CPU_ONLY)
    }

    #[test]
    fn the_first_rpc_gets_one_job() {
        let mut plan = plan(&request(1.0, 0.0, 2), &sched(""));
        assert!(plan.needed());
        plan.add_job("a", ProcType::Cpu, 1.0, 0.0, 1000.0);
        assert!(!plan.needed());
    }

    #[test]
    fn a_full_request_is_capped_per_cpu() {
        let s = sched("<max_wus_to_send>3</max_wus_to_send>");
        let mut plan = plan(&request(103_680.0, 2.0, 2), &s);
        assert_eq!(plan.max_jobs, 6);
        let mut n = 0;
        while plan.needed() {
            plan.add_job("a", ProcType::Cpu, 1.0, 0.0, 10.0);
            n += 1;
        }
        assert_eq!(n, 6);
        assert!(!WorkPlan::new(&request(0.0, 0.0, 2), &s, 0, 0, CPU_ONLY).needed());
    }

    #[test]
    fn a_multithread_job_fills_as_many_idle_cpus_as_it_uses() {
        let mut plan = plan(&request(100.0, 4.0, 4), &sched(""));
        plan.add_job("a", ProcType::Cpu, 4.0, 0.0, 10.0);
        assert_eq!(plan.req_instances[0], 0.0);
        assert_eq!(plan.req_secs[0], 60.0, "run time × CPUs");
        assert!(plan.needed(), "seconds are still asked for");
        plan.add_job("a", ProcType::Cpu, 4.0, 0.0, 20.0);
        assert!(!plan.needed());
    }

    #[test]
    fn gpu_requests_are_counted_per_type_and_passes_put_others_aside() {
        let mut req = request(0.0, 0.0, 2);
        req.coprocs = Coprocs {
            list: vec![nvidia(2, 500.0, 1.0)],
        };
        let mut plan = WorkPlan::new(&req, &sched(""), 0, 0, [true, true, false, false, false]);
        assert!(plan.rsc_spec_request);
        assert!(!plan.need_proc_type(ProcType::Cpu));
        assert!(plan.need_proc_type(ProcType::Nvidia));
        assert_eq!(
            plan.max_jobs,
            10 * 2,
            "GPUs add jobs only with gpu_multiplier"
        );
        plan.only(ProcType::Cpu);
        assert!(!plan.needed());
        plan.only(ProcType::Nvidia);
        plan.add_job("a", ProcType::Nvidia, 0.2, 1.0, 400.0);
        assert_eq!(plan.req_secs[1], 100.0);
        assert_eq!(plan.req_instances[1], 0.0);
        assert!(
            plan.need_proc_type(ProcType::Nvidia),
            "100 GPU seconds still asked for"
        );
        plan.add_job("a", ProcType::Nvidia, 0.2, 1.0, 400.0);
        assert!(!plan.need_proc_type(ProcType::Nvidia));
        plan.restore();
        assert!(!plan.needed());
        let with_multiplier = WorkPlan::new(&req, &sched(""), 2, 0, CPU_ONLY);
        assert_eq!(with_multiplier.max_jobs, 10 * (2 + 2 * 2));
    }

    fn nvidia(count: i32, req_secs: f64, req_instances: f64) -> crate::sched::coprocs::Coproc {
        let text = format!(
            "<coprocs><coproc_cuda><count>{count}</count><req_secs>{req_secs}</req_secs>\
             <req_instances>{req_instances}</req_instances></coproc_cuda></coprocs>"
        );
        let e = crate::sched::elements::Children::new(&text)
            .next()
            .unwrap()
            .unwrap();
        crate::sched::coprocs::parse::parse_coprocs(&e)
            .unwrap()
            .list
            .remove(0)
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
        let mut plan = plan(&req, &s);
        assert!(plan.needed());
        plan.add_job("a", ProcType::Cpu, 1.0, 0.0, 1.0);
        assert!(!plan.needed());
        assert!(plan.limit_reached("a", ProcType::Cpu));
    }

    #[test]
    fn the_deadline_check_counts_queued_work() {
        let mut req = request(100.0, 1.0, 1);
        req.cpu_estimated_delay = 3000.0;
        let plan = plan(&req, &sched(""));
        assert!(plan.meets_deadline(ProcType::Cpu, 500.0, 3600.0));
        assert!(!plan.meets_deadline(ProcType::Cpu, 700.0, 3600.0));
    }
}
