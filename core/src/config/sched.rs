//! Typed scheduler and daemon settings from `<config>`, with BOINC's defaults.
//!
//! Named after BOINC's `SCHED_CONFIG`, which holds the same settings for the
//! scheduler and every daemon. Field names are the element names, so
//! `grep max_wus_to_send` finds both. Settings without a field here are
//! still readable through [`super::Options`].

use std::path::Path;
use std::time::Duration;

use super::document::Element;
use super::error::ConfigError;
use super::options::{Options, parse_c_int};

const NON_NEGATIVE: &str = "a non-negative integer";
const INTEGER: &str = "an integer";

/// Scheduler, feeder, transitioner, validator and file-handling settings.
#[derive(Debug, Clone, PartialEq)]
pub struct SchedConfig {
    // --- sending work (scheduler) ---
    /// Never send two instances of a workunit to the same user.
    pub one_result_per_user_per_wu: bool,
    /// Same per host (BOINC checks it only if the per-user rule is off).
    pub one_result_per_host_per_wu: bool,
    /// Base number of jobs per scheduler reply (default 10).
    pub max_wus_to_send: u32,
    /// Limits on jobs in progress per host: `max_wus_in_progress(_gpu)`,
    /// refined by `<max_jobs_in_progress>` in `config_aux.xml`.
    pub max_jobs_in_progress: JobLimits,
    /// Minimum time between two work-sending RPCs of a host (default 0).
    pub min_sendwork_interval: Duration,
    /// Added to the report deadline stored in the database (not to the one
    /// sent to the client). From `report_grace_period` (seconds) or
    /// `grace_period_hours`.
    pub report_grace_period: Duration,
    pub resend_lost_results: bool,
    /// Tell clients to abort jobs of cancelled or finished workunits.
    pub send_result_abort: bool,
    /// Ask clients to come back after this long; `None` if unset or 0.
    pub next_rpc_delay: Option<Duration>,
    /// Oldest client accepted, as `major*10000 + minor*100 + release`
    /// (values below 10000 are multiplied by 100, as BOINC does) (default 0).
    pub min_core_client_version: u32,
    /// Most results handled per RPC; `None` = no limit.
    pub report_max: Option<u32>,
    /// Per-CPU daily job quota base (default 0 = no quota).
    pub daily_result_quota: u32,
    /// Cap on the CPU count used to scale quotas (default 64).
    pub max_ncpus: u32,
    pub dont_send_jobs: bool,
    pub non_cpu_intensive: bool,
    pub msg_to_host: bool,
    pub enable_assignment: bool,
    pub enable_assignment_multi: bool,
    pub dont_store_success_stderr: bool,
    /// Read by the web code and by our account RPCs.
    pub disable_account_creation: bool,
    pub disable_account_creation_rpc: bool,
    /// Scheduler log level in BOINC's numbering (1..4) (default 3).
    pub sched_debug_level: i32,
    /// Upload handler log level (default 3).
    pub fuh_debug_level: i32,
    /// Seconds clients should wait when the project is down (default 3600).
    pub maintenance_delay: Duration,
    /// Results with at least this priority go only to hosts reliable for the version they
    /// would run (0: off) (BOINC's `need_reliable`).
    pub reliable_on_priority: i32,
    /// A host whose average turnaround for a version exceeds this many seconds (× 1.8 on
    /// platforms other than Windows, Linux and Intel Macs) is not reliable for it (0: no
    /// limit).
    pub reliable_max_avg_turnaround: i32,
    /// The delay bound sent with a `reliable_on_priority` job is the workunit's times this
    /// (applies above 0.01).
    pub reliable_reduced_delay_bound: f64,

    // --- files ---
    /// The transitioner does not sign output file descriptions.
    pub dont_generate_upload_certificates: bool,
    /// The upload handler does not check upload signatures.
    pub ignore_upload_certificates: bool,
    /// Keep `<file>.md5` next to staged input files.
    pub cache_md5_info: bool,
    /// Delay file deletion after the last result report
    /// (`delete_delay_hours`) (default 0).
    pub delete_delay: Duration,

    // --- redundancy, validation, credit (transitioner, validator) ---
    pub reliable_priority_on_over: i32,
    pub reliable_priority_on_over_except_error: i32,
    /// The transitioner never resets a workunit's `hr_class`.
    pub hr_class_static: bool,
    /// Global homogeneous-redundancy type (0 = per app).
    pub homogeneous_redundancy: i32,
    pub hr_allocate_slots: bool,
    /// The validator keeps per-app credit in `credit_user`/`credit_team`.
    pub credit_by_app: bool,

    // --- feeder ---
    /// Job-cache slots (default 100).
    pub shmem_work_items: u32,
    /// Rows read per enumeration (default 2 × `shmem_work_items`).
    pub feeder_query_size: u32,
}

/// In-progress job limits per host (BOINC's `JOB_LIMITS`).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct JobLimits {
    pub project: JobLimit,
    pub apps: Vec<AppJobLimit>,
}

/// Limits for the whole project or one app.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct JobLimit {
    pub total: Option<ResourceLimit>,
    pub cpu: Option<ResourceLimit>,
    /// Applies to every GPU type.
    pub gpu: Option<ResourceLimit>,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AppJobLimit {
    pub app_name: String,
    pub limit: JobLimit,
}

/// `jobs` in progress, multiplied by the processor count if `per_proc`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ResourceLimit {
    pub jobs: u32,
    pub per_proc: bool,
}

fn secs_from_hours(hours: f64) -> Duration {
    Duration::from_secs_f64((hours * 3600.0).max(0.0))
}

fn secs(x: f64) -> Duration {
    Duration::from_secs_f64(x.max(0.0))
}

impl SchedConfig {
    pub(crate) fn from_options(o: &Options) -> Result<Self, ConfigError> {
        let flag = |name: &str| o.bool(name).map(|v| v.unwrap_or(false));
        let uint = |name: &str, default: u32| {
            o.typed::<u32>(name, NON_NEGATIVE)
                .map(|v| v.unwrap_or(default))
        };
        let int =
            |name: &str, default: i32| o.typed::<i32>(name, INTEGER).map(|v| v.unwrap_or(default));

        // BOINC reads whichever of the two comes last; grace_period_hours is
        // the documented one, so it wins if both are present.
        let report_grace_period = match o.float("grace_period_hours")? {
            Some(h) => secs_from_hours(h),
            None => Duration::from_secs(u64::from(uint("report_grace_period", 0)?)),
        };

        let mut min_core_client_version = uint("min_core_client_version", 0)?;
        if min_core_client_version != 0 && min_core_client_version < 10_000 {
            min_core_client_version *= 100;
        }

        let mut max_jobs_in_progress = JobLimits::default();
        if let Some(n) = o.typed::<u32>("max_wus_in_progress", NON_NEGATIVE)? {
            max_jobs_in_progress.project.cpu = Some(ResourceLimit {
                jobs: n,
                per_proc: true,
            });
        }
        if let Some(n) = o.typed::<u32>("max_wus_in_progress_gpu", NON_NEGATIVE)? {
            max_jobs_in_progress.project.gpu = Some(ResourceLimit {
                jobs: n,
                per_proc: true,
            });
        }

        let shmem_work_items = match uint("shmem_work_items", 0)? {
            0 => 100,
            n => n,
        };
        let feeder_query_size = match uint("feeder_query_size", 0)? {
            0 => shmem_work_items.saturating_mul(2),
            n => n,
        };

        Ok(SchedConfig {
            one_result_per_user_per_wu: flag("one_result_per_user_per_wu")?,
            one_result_per_host_per_wu: flag("one_result_per_host_per_wu")?,
            max_wus_to_send: uint("max_wus_to_send", 10)?,
            max_jobs_in_progress,
            min_sendwork_interval: Duration::from_secs(u64::from(uint(
                "min_sendwork_interval",
                0,
            )?)),
            report_grace_period,
            resend_lost_results: flag("resend_lost_results")?,
            send_result_abort: flag("send_result_abort")?,
            next_rpc_delay: o.float("next_rpc_delay")?.filter(|&x| x > 0.0).map(secs),
            min_core_client_version,
            report_max: o
                .typed::<u32>("report_max", NON_NEGATIVE)?
                .filter(|&n| n > 0),
            daily_result_quota: uint("daily_result_quota", 0)?,
            max_ncpus: uint("max_ncpus", 64)?,
            dont_send_jobs: flag("dont_send_jobs")?,
            non_cpu_intensive: flag("non_cpu_intensive")?,
            msg_to_host: flag("msg_to_host")?,
            enable_assignment: flag("enable_assignment")?,
            enable_assignment_multi: flag("enable_assignment_multi")?,
            dont_store_success_stderr: flag("dont_store_success_stderr")?,
            disable_account_creation: flag("disable_account_creation")?,
            disable_account_creation_rpc: flag("disable_account_creation_rpc")?,
            sched_debug_level: int("sched_debug_level", 3)?,
            fuh_debug_level: int("fuh_debug_level", 3)?,
            maintenance_delay: secs(o.float("maintenance_delay")?.unwrap_or(3600.0)),
            reliable_on_priority: int("reliable_on_priority", 0)?,
            reliable_max_avg_turnaround: int("reliable_max_avg_turnaround", 0)?,
            reliable_reduced_delay_bound: o.float("reliable_reduced_delay_bound")?.unwrap_or(0.0),
            dont_generate_upload_certificates: flag("dont_generate_upload_certificates")?,
            ignore_upload_certificates: flag("ignore_upload_certificates")?,
            cache_md5_info: flag("cache_md5_info")?,
            delete_delay: o
                .float("delete_delay_hours")?
                .map_or(Duration::ZERO, secs_from_hours),
            reliable_priority_on_over: int("reliable_priority_on_over", 0)?,
            reliable_priority_on_over_except_error: int(
                "reliable_priority_on_over_except_error",
                0,
            )?,
            hr_class_static: flag("hr_class_static")?,
            homogeneous_redundancy: int("homogeneous_redundancy", 0)?,
            hr_allocate_slots: flag("hr_allocate_slots")?,
            credit_by_app: flag("credit_by_app")?,
            shmem_work_items,
            feeder_query_size,
        })
    }
}

impl JobLimits {
    /// Applies `<max_jobs_in_progress>` from `config_aux.xml`: each limit it
    /// states replaces the one from `config.xml`.
    pub(crate) fn merge_aux(&mut self, path: &Path, element: &Element) -> Result<(), ConfigError> {
        if let Some(project) = element.child("project") {
            self.project.merge(path, project)?;
        }
        for app in element.children_named("app") {
            let name = app.child("app_name").map(|e| e.value()).unwrap_or("");
            if name.is_empty() {
                return Err(ConfigError::Structure {
                    path: path.to_path_buf(),
                    at: app.at,
                    message: "<app> limit without an <app_name>".into(),
                });
            }
            let mut limit = JobLimit::default();
            limit.merge(path, app)?;
            self.apps.push(AppJobLimit {
                app_name: name.to_string(),
                limit,
            });
        }
        Ok(())
    }

    /// The limits for `app`, if the project set any for it.
    pub fn for_app(&self, app: &str) -> Option<&JobLimit> {
        self.apps
            .iter()
            .find(|a| a.app_name == app)
            .map(|a| &a.limit)
    }
}

impl JobLimit {
    fn merge(&mut self, path: &Path, element: &Element) -> Result<(), ConfigError> {
        for (name, slot) in [
            ("total_limit", &mut self.total),
            ("cpu_limit", &mut self.cpu),
            ("gpu_limit", &mut self.gpu),
        ] {
            if let Some(e) = element.child(name) {
                *slot = Some(ResourceLimit::parse(path, e)?);
            }
        }
        Ok(())
    }
}

impl ResourceLimit {
    fn parse(path: &Path, element: &Element) -> Result<Self, ConfigError> {
        let jobs = match element.child("jobs") {
            None => 0,
            Some(j) if j.value().is_empty() => 0,
            Some(j) => parse_c_int(j.value())
                .and_then(|n| u32::try_from(n).ok())
                .ok_or_else(|| ConfigError::InvalidValue {
                    path: path.to_path_buf(),
                    at: j.at,
                    element: "jobs".into(),
                    value: j.value().to_string(),
                    expected: NON_NEGATIVE,
                })?,
        };
        let per_proc = match element.child("per_proc") {
            None => false,
            Some(p) if p.self_closing => true,
            Some(p) => parse_c_int(p.value()).is_some_and(|n| n != 0),
        };
        Ok(ResourceLimit { jobs, per_proc })
    }
}
