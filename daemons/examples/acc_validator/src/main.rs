//! `acc_validator`: the validator daemon with this project's comparison. The daemon (BOINC's
//! flags, quorum, credit, database) is rboinc's; only the comparison is ours.

fn main() -> std::process::ExitCode {
    rboinc_daemons::validator::run_with_args(
        "acc_validator",
        acc_validator_example::AccuracyCheck::from_args,
    )
}
