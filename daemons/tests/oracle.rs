//! The daemon oracle: every scenario the real C++ daemons were run on must leave the same database
//! and file state when run through our daemons (see `fixtures/daemon-oracle/README.md`).
//!
//! One test per scenario, so a failure names the rule that broke. Each test makes its own database
//! and project directory, so they run in parallel. The validator scenarios also run with the other
//! comparison modes (metrics, tolerance, script_validator with `cmp`): on the oracle's plain
//! output files they must decide exactly as BOINC's sample validators.

mod oracle_support;

macro_rules! scenarios {
    ($($(#[$attr:meta])* $test:ident => $dir:literal,)*) => {
        $(
            $(#[$attr])*
            #[tokio::test]
            async fn $test() {
                oracle_support::run_scenario($dir).await;
            }
        )*
    };
}

scenarios! {
    s01_trans_fresh_wu => "01_trans_fresh_wu",
    s02_trans_timeout_replacement => "02_trans_timeout_replacement",
    s03_trans_need_validate => "03_trans_need_validate",
    s04_trans_max_error_results => "04_trans_max_error_results",
    s06_trans_max_total_results => "06_trans_max_total_results",
    s07_trans_total_cap_and_suffix => "07_trans_total_cap_and_suffix",
    s08_trans_file_delete_ready => "08_trans_file_delete_ready",
    s09_trans_delete_delay => "09_trans_delete_delay",
    s12_trans_deferred_assimilation => "12_trans_deferred_assimilation",
    s13_trans_size_class_priority_batch => "13_trans_size_class_priority_batch",
    s14_trans_flags_no_new_results => "14_trans_flags_no_new_results",
    s15_val_bitwise_agree => "15_val_bitwise_agree",
    s16_val_bitwise_disagree => "16_val_bitwise_disagree",
    s17_val_bitwise_two_of_three => "17_val_bitwise_two_of_three",
    s18_val_missing_output => "18_val_missing_output",
    s20_val_trivial_quorum1_credit_from_wu => "20_val_trivial_quorum1_credit_from_wu",
    s22_assim_dummy => "22_assim_dummy",
    s23_assim_script_default_args => "23_assim_script_default_args",
    s24_assim_script_explicit_tokens => "24_assim_script_explicit_tokens",
    s25_assim_script_error_mask => "25_assim_script_error_mask",
    s26_assim_no_canonical => "26_assim_no_canonical",
    s27_assim_script_fails => "27_assim_script_fails",
    s28_fd_delete_files => "28_fd_delete_files",
    s29_fd_missing_files => "29_fd_missing_files",
    s31_purge_archive => "31_purge_archive",
    s32_purge_min_age_no_archive => "32_purge_min_age_no_archive",
    s33_val_credit_flops_1e9 => "33_val_credit_flops_1e9",
    s34_val_credit_sanity_fallback => "34_val_credit_sanity_fallback",
    s35_val_missing_host_row => "35_val_missing_host_row",
}

macro_rules! scenarios_as {
    ($($test:ident => ($dir:literal, $program:expr),)*) => {
        $(
            #[tokio::test]
            async fn $test() {
                let program = $program.to_string();
                oracle_support::run_scenario_as($dir, Some(program.as_str())).await;
            }
        )*
    };
}

fn tolerance() -> String {
    let file = oracle_support::workspace_root().join("config/validator_tolerances.json");
    format!("validator --mode tolerance --tolerances {}", file.display())
}

const METRICS: &str = "validator --mode metrics";
const SCRIPT: &str = "script_validator --compare_script '/usr/bin/cmp files files2'";

scenarios_as! {
    s15_metrics => ("15_val_bitwise_agree", METRICS),
    s16_metrics => ("16_val_bitwise_disagree", METRICS),
    s17_metrics => ("17_val_bitwise_two_of_three", METRICS),
    s18_metrics => ("18_val_missing_output", METRICS),
    s33_metrics => ("33_val_credit_flops_1e9", METRICS),
    s34_metrics => ("34_val_credit_sanity_fallback", METRICS),
    s35_metrics => ("35_val_missing_host_row", METRICS),
    s15_tolerance => ("15_val_bitwise_agree", tolerance()),
    s16_tolerance => ("16_val_bitwise_disagree", tolerance()),
    s17_tolerance => ("17_val_bitwise_two_of_three", tolerance()),
    s18_tolerance => ("18_val_missing_output", tolerance()),
    s15_script => ("15_val_bitwise_agree", SCRIPT),
    s16_script => ("16_val_bitwise_disagree", SCRIPT),
    s17_script => ("17_val_bitwise_two_of_three", SCRIPT),
    s18_script => ("18_val_missing_output", SCRIPT),
    s33_script => ("33_val_credit_flops_1e9", SCRIPT),
    s20_validator_trivial => ("20_val_trivial_quorum1_credit_from_wu", "validator --mode trivial"),
}
