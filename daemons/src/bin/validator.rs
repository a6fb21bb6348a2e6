//! `validator`: BOINC's generic validator with a choice of comparison (`--mode bitwise`,
//! `--mode metrics`, `--mode tolerance --tolerances FILE`, `--mode trivial`); see
//! `rboinc_daemons::validator`. Accepts the C++ validator's flags.

use rboinc_daemons::validator::cli::{self, ModeChoice};

fn main() -> std::process::ExitCode {
    cli::main("validator", None::<ModeChoice>)
}
