//! `acc_assimilator`: the assimilator daemon with this project's handler (see `filer`).

fn main() -> std::process::ExitCode {
    rboinc_daemons::assimilator::plugin::run_with_args("acc_assimilator", |args| {
        args.warn_unused(&args.args);
        Ok(acc_validator_example::AccuracyFiler {
            dir: args.project_root.join("results").join(&args.app),
        })
    })
}
