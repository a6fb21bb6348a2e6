//! `trivial`: every successful result agrees (BOINC's `sample_trivial_validator`). A failed
//! result (client error) is a long-term failure, so `--check_punitive` limits its host to one
//! job a day for the app version.

use rboinc_core::db::result::ResultRow;
use rboinc_core::state::Outcome;

use crate::validator::plugin::{CompareError, Init, InitError, Outputs, Plugin, Verdict};

/// The `trivial` mode.
#[derive(Debug, Clone, Copy, Default)]
pub struct Trivial;

impl Plugin for Trivial {
    type Data = ();

    fn name(&self) -> &str {
        "trivial"
    }

    fn init_result(&self, outputs: &Outputs<'_>) -> Result<Init<()>, InitError> {
        if outputs.result.outcome == Outcome::ClientError {
            Err(InitError::LongTermFail)
        } else {
            Ok(Init::new(()))
        }
    }

    fn compare_results(
        &self,
        _a: &ResultRow,
        _: &(),
        _b: &ResultRow,
        _: &(),
    ) -> Result<Verdict, CompareError> {
        Ok(Verdict::Match)
    }
}
