//! `start`: starts the project's daemons (BOINC's bin/start). See `rboinc_tools::daemons_ctl`.

use std::process::ExitCode;

use rboinc_tools::daemons_ctl::cli::{self, Action};

fn main() -> ExitCode {
    cli::main(Action::Enable, "start")
}
