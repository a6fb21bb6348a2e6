//! `stop`: stops the project's daemons (BOINC's bin/stop). The three binaries are one program that
//! acts by the name it is called by, as BOINC's script does; see `rboinc_tools::daemons_ctl::cli`.

use std::process::ExitCode;

fn main() -> ExitCode {
    rboinc_tools::daemons_ctl::cli::main()
}
