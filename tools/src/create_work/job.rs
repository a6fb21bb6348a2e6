//! A job's parameters (`workunit` columns), with BOINC's defaults and checks.

use rboinc_core::template::input::TemplateParams;

/// The parameters `create_work` stores in a workunit row. Defaults are BOINC's `JOB_DESC`.
#[derive(Debug, Clone, PartialEq)]
pub struct JobDesc {
    pub rsc_fpops_est: f64,
    pub rsc_fpops_bound: f64,
    pub rsc_memory_bound: f64,
    pub rsc_disk_bound: f64,
    pub rsc_bandwidth_bound: f64,
    pub delay_bound: i32,
    pub min_quorum: i32,
    pub target_nresults: i32,
    pub max_error_results: i32,
    pub max_total_results: i32,
    pub max_success_results: i32,
    pub batch: i64,
    pub priority: i32,
    /// `--credit`: stored in `canonical_credit`.
    pub canonical_credit: f64,
    pub size_class: i32,
    pub keywords: String,
    pub app_version_num: i32,
    pub opaque: f64,
}

impl Default for JobDesc {
    fn default() -> Self {
        JobDesc {
            rsc_fpops_est: 3600e9,
            rsc_fpops_bound: 86400e9,
            rsc_memory_bound: 5e8,
            rsc_disk_bound: 1e9,
            rsc_bandwidth_bound: 0.0,
            delay_bound: 7 * 86400,
            min_quorum: 1,
            target_nresults: 1,
            max_error_results: 1,
            max_total_results: 1,
            max_success_results: 1,
            batch: 0,
            priority: 0,
            canonical_credit: 0.0,
            size_class: -1,
            keywords: String::new(),
            app_version_num: 0,
            opaque: 0.0,
        }
    }
}

/// Explicit settings that win over the template (series submissions use these; BOINC's
/// `create_work` command line instead loses to the template, see [`JobDesc::apply_template`]).
#[derive(Debug, Clone, Default, PartialEq)]
pub struct JobOverrides {
    pub rsc_fpops_est: Option<f64>,
    pub rsc_fpops_bound: Option<f64>,
    pub delay_bound: Option<i32>,
    pub min_quorum: Option<i32>,
    pub target_nresults: Option<i32>,
    pub max_error_results: Option<i32>,
    pub max_total_results: Option<i32>,
    pub max_success_results: Option<i32>,
    pub priority: Option<i32>,
    pub batch: Option<i64>,
}

impl JobDesc {
    /// Takes every value the template sets (BOINC reads the template after the command line,
    /// so template values win over command-line ones).
    pub fn apply_template(&mut self, t: &TemplateParams) {
        macro_rules! take {
            ($($f:ident),*) => {$( if let Some(v) = t.$f { self.$f = v; } )*};
        }
        take!(
            rsc_fpops_est,
            rsc_fpops_bound,
            rsc_memory_bound,
            rsc_disk_bound,
            rsc_bandwidth_bound,
            batch,
            delay_bound,
            min_quorum,
            target_nresults,
            max_error_results,
            max_total_results,
            max_success_results,
            size_class
        );
    }

    /// Applies explicit overrides.
    pub fn apply_overrides(&mut self, o: &JobOverrides) {
        macro_rules! take {
            ($($f:ident),*) => {$( if let Some(v) = o.$f { self.$f = v; } )*};
        }
        take!(
            rsc_fpops_est,
            rsc_fpops_bound,
            delay_bound,
            min_quorum,
            target_nresults,
            max_error_results,
            max_total_results,
            max_success_results,
            priority,
            batch
        );
    }

    /// BOINC's adjustment after parsing: the success and total limits are raised to
    /// `target_nresults` when below it.
    pub fn raise_limits(&mut self) {
        if self.target_nresults > self.max_success_results {
            self.max_success_results = self.target_nresults;
        }
        if self.target_nresults > self.max_total_results {
            self.max_total_results = self.target_nresults;
        }
    }

    /// BOINC's checks (`create_work2`), plus a quorum no larger than the target and a
    /// positive delay bound, which BOINC leaves to fail later.
    pub fn check(&self) -> Result<(), String> {
        let positive = [
            ("rsc_fpops_est", self.rsc_fpops_est),
            ("rsc_fpops_bound", self.rsc_fpops_bound),
            ("rsc_disk_bound", self.rsc_disk_bound),
        ];
        for (name, v) in positive {
            if !(v.is_finite() && v > 0.0) {
                return Err(format!("{name} must be positive (got {v})"));
            }
        }
        let counts = [
            ("target_nresults", self.target_nresults),
            ("max_error_results", self.max_error_results),
            ("max_total_results", self.max_total_results),
            ("max_success_results", self.max_success_results),
            ("min_quorum", self.min_quorum),
            ("delay_bound", self.delay_bound),
        ];
        for (name, v) in counts {
            if v <= 0 {
                return Err(format!("{name} must be at least 1 (got {v})"));
            }
        }
        if self.max_success_results > self.max_total_results {
            return Err(format!(
                "max_success_results ({}) exceeds max_total_results ({})",
                self.max_success_results, self.max_total_results
            ));
        }
        if self.max_error_results > self.max_total_results {
            return Err(format!(
                "max_error_results ({}) exceeds max_total_results ({})",
                self.max_error_results, self.max_total_results
            ));
        }
        if self.target_nresults > self.max_success_results {
            return Err(format!(
                "target_nresults ({}) exceeds max_success_results ({})",
                self.target_nresults, self.max_success_results
            ));
        }
        if self.min_quorum > self.target_nresults {
            return Err(format!(
                "min_quorum ({}) exceeds target_nresults ({}): the quorum could never be reached",
                self.min_quorum, self.target_nresults
            ));
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn template_then_limits_as_boinc() {
        let mut d = JobDesc::default();
        d.apply_template(&TemplateParams {
            min_quorum: Some(2),
            target_nresults: Some(2),
            ..Default::default()
        });
        d.raise_limits();
        // The stock fixture's row: max_error 1, max_total and max_success raised to 2.
        assert_eq!(
            (
                d.max_error_results,
                d.max_total_results,
                d.max_success_results
            ),
            (1, 2, 2)
        );
        d.check().unwrap();
        d.min_quorum = 3;
        assert!(d.check().unwrap_err().contains("min_quorum"));
    }
}
