//! `sample_trivial_validator`: the validator in trivial mode (every successful result agrees),
//! under the name stock BOINC `config.xml` files use.

use rboinc_daemons::validator::cli::{self, ModeChoice};

fn main() -> std::process::ExitCode {
    cli::main("sample_trivial_validator", Some(ModeChoice::Trivial))
}
