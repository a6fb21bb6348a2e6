//! `sample_bitwise_validator`: the validator in bitwise mode, under the name stock BOINC
//! `config.xml` files use (`sample_bitwise_validator -d 3 --app NAME`).

use rboinc_daemons::validator::cli::{self, ModeChoice};

fn main() -> std::process::ExitCode {
    cli::main("sample_bitwise_validator", Some(ModeChoice::Bitwise))
}
