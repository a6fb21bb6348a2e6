//! `script_validator`: the validator with the project's scripts as the comparison
//! (`--init_script "NAME [WORD…]"`, `--compare_script "NAME [WORD…]"`, as BOINC's
//! `script_validator`); see `rboinc_daemons::validator::modes::script`.

fn main() -> std::process::ExitCode {
    rboinc_daemons::validator::cli::script_main("script_validator")
}
