//! The built-in comparisons, each an implementation of [`super::plugin::Plugin`]:
//!
//! | mode | agrees when | BOINC |
//! |---|---|---|
//! | [`bitwise`] | every output file is byte-for-byte the same | `sample_bitwise_validator` |
//! | [`metrics`] (`Metrics`) | the metrics documents' deterministic fields are equal | — |
//! | [`metrics`] (`Tolerance`) | numbers within per-field [`tolerance`]s | — |
//! | [`trivial`] | always | `sample_trivial_validator` |
//! | [`script`] | the project's scripts say so | `script_validator` |

pub mod bitwise;
pub mod json_diff;
pub mod metrics;
pub mod script;
pub mod tolerance;
pub mod trivial;

#[cfg(test)]
pub(crate) mod test_files;

pub use bitwise::Bitwise;
pub use metrics::{Metrics, Tolerance};
pub use script::Scripts;
pub use trivial::Trivial;
