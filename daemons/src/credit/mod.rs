//! Credit and per-host statistics, shared by the transitioner and the validator.
//!
//! Volunteers and statistics sites read credit, so "drop-in" means the same numbers as BOINC's
//! validator, to the last bit where the oracle checks them. The parts:
//! - [`average`]: BOINC's running averages (statistics) and decaying recent-credit averages.
//! - [`hav`]: `host_app_version` rows: lookup (with inheritance from an older version), the
//!   quota and reliability bookkeeping on timeouts, valid and invalid results.
//! - [`pfc`]: claimed peak FLOP counts, the pegged average that turns them into a job's credit,
//!   and the app version statistics they feed.
//! - [`ledger`]: granting credit to hosts, users and teams for a batch of results.
//! - [`by_app`]: per-app credit of users and teams (`<credit_by_app>`).

pub mod average;
pub mod by_app;
pub mod hav;
pub mod ledger;
pub mod pfc;

pub use ledger::{CreditLedger, GrantError};
pub use pfc::{AppCredit, AppVersions, JobSize, PfcMode, assign_credit_set, low_average};
