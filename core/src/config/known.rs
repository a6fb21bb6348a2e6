//! Every option the C++ server reads from `config.xml` (BOINC's `sched_config.cpp`), and what
//! this server does with it — so that none is silently ignored.
//!
//! Each option is one of:
//! - [`Support::Honoured`]: read and acted on as BOINC does (`config/README.md` says where);
//! - [`Support::NotApplicable`]: meaningful only for a part of the C++ server this one does not
//!   have (the shared-memory feeder, FastCGI, BOINC's web code); named at start-up at INFO
//!   level with the reason;
//! - [`Support::NotImplemented`]: a behaviour this server does not have; named at start-up in
//!   one WARN line, since the project asked for something it will not get.
//!
//! A test checks that every option marked honoured is read somewhere in the code, and that the
//! stock `make_project` config.xml triggers no warning.

use super::options::Options;

/// What this server does with a C++ option.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Support {
    Honoured,
    NotApplicable(&'static str),
    NotImplemented,
}

use Support::{Honoured, NotApplicable, NotImplemented};

const NO_FEEDER: &str = "no shared-memory feeder: the scheduler caches jobs itself";
const DEBUG_FLAG: &str = "a C++ log category: detail comes with -d 4 or RUST_LOG";
const LOG_LEVEL: &str = "the level comes from the scheduler's -d flag in <daemons>";
const NO_ERROR_RATE: &str = "BOINC's scheduler parses it but no longer reads it: reliability counts \
     consecutive valid results since the host error rate was dropped";
const WEB_CODE: &str = "read by BOINC's web code and tools, not by the daemons";

/// The options BOINC's `SCHED_CONFIG::parse` reads, with this server's support, by name.
pub const KNOWN_OPTIONS: &[(&str, Support)] = &[
    ("ban_cpu", NotImplemented),
    ("ban_os", NotImplemented),
    ("batch_accel", NotImplemented),
    ("cache_md5_info", Honoured),
    ("credit_by_app", Honoured),
    ("daily_result_quota", Honoured),
    ("db_host", Honoured),
    ("db_name", Honoured),
    ("db_passwd", Honoured),
    ("db_user", Honoured),
    ("debug_assignment", NotApplicable(DEBUG_FLAG)),
    ("debug_client_files", NotApplicable(DEBUG_FLAG)),
    ("debug_credit", NotApplicable(DEBUG_FLAG)),
    ("debug_edf_sim_detail", NotApplicable(DEBUG_FLAG)),
    ("debug_edf_sim_workload", NotApplicable(DEBUG_FLAG)),
    ("debug_fcgi", NotApplicable(DEBUG_FLAG)),
    ("debug_handle_results", NotApplicable(DEBUG_FLAG)),
    ("debug_keyword", NotApplicable(DEBUG_FLAG)),
    ("debug_locality", NotApplicable(DEBUG_FLAG)),
    ("debug_locality_lite", NotApplicable(DEBUG_FLAG)),
    ("debug_prefs", NotApplicable(DEBUG_FLAG)),
    ("debug_quota", NotApplicable(DEBUG_FLAG)),
    ("debug_req_reply_dir", NotImplemented),
    ("debug_request_details", NotApplicable(DEBUG_FLAG)),
    ("debug_request_headers", NotApplicable(DEBUG_FLAG)),
    ("debug_resend", NotApplicable(DEBUG_FLAG)),
    ("debug_send", NotApplicable(DEBUG_FLAG)),
    ("debug_send_job", NotApplicable(DEBUG_FLAG)),
    ("debug_send_scan", NotApplicable(DEBUG_FLAG)),
    ("debug_user_messages", NotApplicable(DEBUG_FLAG)),
    ("debug_vda", NotApplicable(DEBUG_FLAG)),
    ("debug_version_select", NotApplicable(DEBUG_FLAG)),
    ("default_disk_min_free_gb", Honoured),
    ("delete_delay_hours", Honoured),
    ("distinct_beta_apps", NotImplemented),
    ("dont_generate_upload_certificates", Honoured),
    ("dont_search_host_for_user", NotImplemented),
    ("dont_send_jobs", Honoured),
    ("dont_store_success_stderr", Honoured),
    ("download_dir", Honoured),
    ("download_url", Honoured),
    ("enable_assignment", NotImplemented),
    ("enable_assignment_multi", NotImplemented),
    ("enable_vda", NotImplemented),
    ("ended", NotImplemented),
    ("estimate_flops_from_hav_pfc", Honoured),
    ("feeder_query_size", NotApplicable(NO_FEEDER)),
    ("file_deletion_strategy", NotImplemented),
    ("fuh_debug_level", NotApplicable(LOG_LEVEL)),
    ("fuh_set_completed_permission", NotImplemented),
    ("fuh_set_initial_permission", NotImplemented),
    ("gpu_multiplier", Honoured),
    ("grace_period_hours", Honoured),
    ("homogeneous_redundancy", Honoured),
    ("hr_allocate_slots", NotApplicable(NO_FEEDER)),
    ("hr_class_static", Honoured),
    ("httpd_user", NotImplemented),
    ("ignore_delay_bound", NotImplemented),
    ("ignore_upload_certificates", Honoured),
    ("job_size_matching", NotImplemented),
    ("key_dir", Honoured),
    ("keyword_sched", NotImplemented),
    ("locality_scheduler_fraction", NotImplemented),
    ("locality_scheduling", NotImplemented),
    ("locality_scheduling_send_timeout", NotImplemented),
    ("locality_scheduling_sorted_order", NotImplemented),
    ("locality_scheduling_sticky_file", NotImplemented),
    ("locality_scheduling_wait_period", NotImplemented),
    ("locality_scheduling_workunit_file", NotImplemented),
    ("long_name", Honoured),
    ("maintenance_delay", Honoured),
    ("master_url", Honoured),
    ("max_download_urls_per_file", NotImplemented),
    ("max_jobs_in_progress", Honoured),
    ("max_ncpus", Honoured),
    ("max_results_accepted", NotImplemented),
    ("max_wus_in_progress", Honoured),
    ("max_wus_in_progress_gpu", Honoured),
    ("max_wus_to_send", Honoured),
    ("min_core_client_upgrade_deadline", NotImplemented),
    ("min_core_client_version", Honoured),
    ("min_core_client_version_announced", NotImplemented),
    ("min_sendwork_interval", Honoured),
    ("msg_to_host", NotImplemented),
    ("next_rpc_delay", Honoured),
    ("no_amd_k6", NotImplemented),
    ("non_cpu_intensive", Honoured),
    ("nowork_skip", NotImplemented),
    ("one_result_per_host_per_wu", Honoured),
    ("one_result_per_user_per_wu", Honoured),
    ("prefer_primary_platform", Honoured),
    ("project_dir", Honoured),
    ("reliable_max_avg_turnaround", Honoured),
    ("reliable_max_error_rate", NotApplicable(NO_ERROR_RATE)),
    ("reliable_on_priority", Honoured),
    ("reliable_priority_on_over", Honoured),
    ("reliable_priority_on_over_except_error", Honoured),
    ("reliable_reduced_delay_bound", Honoured),
    ("replace_download_url_by_timezone", NotImplemented),
    ("replica_db_host", NotApplicable(WEB_CODE)),
    ("replica_db_name", NotApplicable(WEB_CODE)),
    ("replica_db_passwd", NotApplicable(WEB_CODE)),
    ("replica_db_user", NotApplicable(WEB_CODE)),
    ("report_grace_period", Honoured),
    ("report_max", Honoured),
    ("request_time_stats_log", NotImplemented),
    ("resend_lost_results", Honoured),
    ("rte_no_stats", Honoured),
    ("sched_debug_level", NotApplicable(LOG_LEVEL)),
    (
        "sched_lockfile_dir",
        NotApplicable("only the locality scheduler serializes on it"),
    ),
    ("sched_old", NotImplemented),
    (
        "scheduler_log_buffer",
        NotApplicable("no FastCGI log buffer: logs go to stderr"),
    ),
    ("send_result_abort", Honoured),
    ("shmem_key", NotApplicable(NO_FEEDER)),
    ("shmem_work_items", Honoured),
    ("size_classes", NotImplemented),
    ("strict_memory_bound", NotImplemented),
    ("symstore", NotImplemented),
    ("uldl_dir_fanout", Honoured),
    ("upload_dir", Honoured),
    ("upload_url", Honoured),
    ("user_country", NotImplemented),
    ("user_filter", NotImplemented),
    ("user_url", NotImplemented),
    ("vda_host_timeout", NotImplemented),
    ("verify_files_on_app_start", NotImplemented),
    ("version_select_random_factor", Honoured),
    ("workload_sim", NotImplemented),
];

/// What this server does with a C++ option, if it is one.
pub fn support(name: &str) -> Option<Support> {
    KNOWN_OPTIONS
        .binary_search_by(|(n, _)| n.cmp(&name))
        .ok()
        .map(|i| KNOWN_OPTIONS[i].1)
}

/// The C++ options a config sets that this server does not act on, each named once.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct OptionAudit {
    pub not_implemented: Vec<&'static str>,
    /// With the reason each does not apply.
    pub not_applicable: Vec<(&'static str, &'static str)>,
}

impl OptionAudit {
    pub fn of(options: &Options) -> OptionAudit {
        let mut audit = OptionAudit::default();
        for name in options.names() {
            let Ok(i) = KNOWN_OPTIONS.binary_search_by(|(n, _)| n.cmp(&name)) else {
                continue;
            };
            let (known, support) = KNOWN_OPTIONS[i];
            match support {
                NotImplemented if !audit.not_implemented.contains(&known) => {
                    audit.not_implemented.push(known);
                }
                NotApplicable(why) if !audit.not_applicable.iter().any(|(n, _)| *n == known) => {
                    audit.not_applicable.push((known, why));
                }
                _ => {}
            }
        }
        audit
    }

    /// Logs the audit: one WARN naming what is not implemented, one INFO per option that does
    /// not apply.
    pub fn log(&self) {
        if !self.not_implemented.is_empty() {
            tracing::warn!(
                options = %self.not_implemented.join(", "),
                "config.xml sets options this server does not implement; they have no effect"
            );
        }
        for (name, why) in &self.not_applicable {
            tracing::info!(
                option = name,
                reason = why,
                "config.xml option not needed here"
            );
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_table_is_sorted_and_unique() {
        for pair in KNOWN_OPTIONS.windows(2) {
            assert!(pair[0].0 < pair[1].0, "{} before {}", pair[0].0, pair[1].0);
        }
        assert_eq!(support("send_result_abort"), Some(Honoured));
        assert_eq!(support("locality_scheduling"), Some(NotImplemented));
        assert_eq!(support("no_such_option"), None);
    }
}
